"""Lossless model id 20 (SPEC 5.12): model 18 whose plane kinds 5 and 6 may code their low
samples (``(W + N + 1) >> 1`` below the plane's low class count) as values under tables of
their own.  The default and its switch, refusals, round trips, the encoder's in-place
recoding against a pass made with the low classes, forced low class counts decoded by mic
and the reference decoder (hypothesis), and the conformance vectors under
formats/lossless20/."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mic_test_helpers import (
    LOSSLESS_IMAGES,
    check_invalid_vector,
    check_lossless_vector,
    data_image,
    load_reference_decoder,
    model20_pass,
    random_image,
    vector_set,
)

import mic
from mic.io import read_image
from mic.lossless import encoder_bands as EB
from mic.lossless import kernels_fast as KF
from mic.lossless import kernels_fast_enc as KE
from mic.lossless import kernels_low_enc as KL
from mic.lossless.syntax import model16_priors

VEC, VECTORS, EXPECTED = vector_set("lossless20")
IMAGES = LOSSLESS_IMAGES
_img = data_image


def test_model_20_and_low_false_keeps_18():
    """Model id 22 (SPEC 5.13, tests/test_lossless_compact.py) is the default; without its
    packed tables the stream is model 20."""
    ct = _img("ct_abdomen_u16.png")
    blob = mic.encode(ct, compact_tables=False)
    info = mic.info(blob)
    assert info.model_id == 20 and info.model == "lossless-fast-nlms-low"
    assert "5.12" in info.model_description
    assert mic.info(mic.encode(ct, low=False)).model_id == 18
    assert mic.info(mic.encode(ct, low=True)).model_id == 22
    assert mic.info(mic.encode(ct, low=True, compact_tables=False)).model_id == 20
    assert mic.info(mic.encode(ct, bands=False)).model_id == 16  # low classes need bands
    assert mic.info(mic.encode(ct, effort=4, compact_tables=False)).model_id == 20
    assert mic.info(mic.encode(ct, effort=1)).model_id == 3
    assert mic.info(mic.encode(ct, max_error=2)).model_id == 23  # SPEC 7.9, 7.10 (test_near_low)
    vol = np.stack([ct[:64, :64], ct[2:66, :64]])
    blob = mic.encode(vol, volume_group=2, compact_tables=False)
    assert mic.info(blob).model_id == 20 and np.array_equal(mic.decode(blob), vol)


@pytest.mark.parametrize("bad", [{"low": 1}, {"low": "yes"},
                                 {"low": True, "bands": False},
                                 {"low": True, "priors": False},
                                 {"low": True, "effort": 1},
                                 {"low": True, "fast_nlms": False},
                                 {"low": True, "max_error": 2, "effort": 1},
                                 {"low": True, "quality": 3}])
def test_bad_choices_are_refused(bad):
    with pytest.raises(mic.MicInputError):
        mic.encode(np.arange(256, dtype=np.uint8).reshape(16, 16), **bad)


@pytest.mark.parametrize("name", IMAGES)
def test_round_trip_and_never_much_larger_than_model_18(name):
    """The encoder keeps no low classes unless its estimate says they code smaller; the
    estimate is close enough that they never cost more than a fraction of a per cent."""
    a = _img(name)
    b20, b18 = mic.encode(a, compact_tables=False), mic.encode(a, low=False)
    assert np.array_equal(mic.decode(b20), a)
    assert len(b20) <= len(b18) * 1.002 + 8


def test_the_bundled_ct_codes_smaller_with_low_classes():
    """Its air, stored near 0 with clipped noise, is what the low classes are for."""
    ct = read_image(Path(mic.__file__).parent / "data" / "ct_abdomen.png")[0]
    b20, b18 = mic.encode(ct, compact_tables=False), mic.encode(ct, low=False)
    assert len(b20) < 0.96 * len(b18)
    assert np.array_equal(mic.decode(b20), ct)


def test_low_proxy_and_choice_on_count_data():
    """Poisson counts (NM, PET): zeros and small counts make low classes pay; a plane with
    no value below N_CLASS is never given any (the pass is not even weighed)."""
    rng = np.random.default_rng(5)
    lam = np.clip(np.add.outer(np.arange(96), np.arange(96)) / 40.0, 0.05, None)
    counts = rng.poisson(lam).astype(np.uint16)
    b20, b18 = mic.encode(counts, compact_tables=False), mic.encode(counts, low=False)
    assert len(b20) < len(b18) and np.array_equal(mic.decode(b20), counts)
    high = (1000 + np.arange(96 * 96) * 2000 // (96 * 96)).reshape(96, 96).astype(np.uint16)
    high[0, 0] = 0  # one sample at the minimum: too few below N_CLASS to weigh
    with mock.patch.object(KL, "low_stats", side_effect=AssertionError("weighed")):
        assert np.array_equal(mic.decode(mic.encode(high)), high)


def _choose_low_ref(x):
    """Model id 20's low class count weighed as SPEC 5.12's encoder notes describe it, in
    plain numpy: for each tried count, the candidates below it leave their band's counts
    and code their values' tokens in low classes; the count whose section costs plus extra
    bits fall most below none wins.  Returns (the choice, the pass's arguments)."""
    from mic.lossless import kernels_fit as KFIT

    run = model20_pass(x)
    counts, tokens, classes, cand, nc = run.counts, run.tokens, run.classes, run.cand, run.nc
    lowbase, nf, builtin, hist = run.lowbase, run.nf, run.builtin, run.hist
    _, _, TOK, NB = KF.encode_constants()
    band = (EB.choose_bands(hist[:lowbase], run.edges, builtin)[1] if nf > 1
            else np.zeros(1, np.int64))
    args = (counts, tokens, classes, hist[:lowbase], band, builtin, x.reshape(-1), cand, nc)
    if int(counts[:KF.N_CLASS].sum()) < max(EB.LOW_MIN_SAMPLES, x.size >> 8) \
            or nc < EB.LOW_MIN_SAMPLES:
        return 0, args
    k = cand[:nc] & 0xFFFFFFFF
    lam = cand[:nc] >> 32
    tx = TOK[x.reshape(-1)[k]]
    tu = tokens[k]
    nb = int(band.max()) + 1
    brow = band[classes[k] // KF.N_CLASS] * KF.N_CLASS + classes[k] % KF.N_CLASS
    per = hist[:lowbase].reshape(nf, KF.N_CLASS, KF.N_TOKENS)
    hb = np.stack([per[band == b].sum(axis=0) for b in range(nb)])
    best, best_d = 0, 0.0
    base = {}
    for nl in EB.LOW_CHOICES:
        sel = lam < nl
        low = np.zeros((KF.N_CLASS, KF.N_TOKENS), np.int64)
        np.add.at(low, (lam[sel], tx[sel]), 1)
        if not low.any():
            continue
        sub = np.zeros((nb * KF.N_CLASS, KF.N_TOKENS), np.int64)
        np.add.at(sub, (brow[sel], tu[sel]), 1)
        sub = sub.reshape(nb, KF.N_CLASS, KF.N_TOKENS)
        d = float((NB[tx[sel]].astype(np.int64) - NB[tu[sel]]).sum())
        d += KFIT.section_cost(low, builtin)
        for b in range(nb):
            if sub[b].any():
                if b not in base:
                    base[b] = KFIT.section_cost(hb[b], builtin)
                d += KFIT.section_cost(hb[b] - sub[b], builtin) - base[b]
        if d < best_d:
            best, best_d = nl, d
    return best, args


@pytest.mark.parametrize("name", ["ct_abdomen_u16.png", "mr_brain_u16.png", "cr_chest_u8.png",
                                  "ct_lung_i16.npy", "counts"])
def test_the_low_class_choice_is_its_plain_weighing(name):
    """choose_low (low_stats' grouped counts, weigh_low compiled) chooses what the plain
    weighing chooses, on real images and on Poisson counts."""
    if name == "counts":
        rng = np.random.default_rng(7)
        x = rng.poisson(np.clip(np.add.outer(np.arange(128), np.arange(96)) / 50.0, 0.05,
                                None)).astype(np.int32)
    else:
        a = _img(name).astype(np.int32)
        x = a - a.min()
    want, args = _choose_low_ref(x)
    assert EB.choose_low(*args) == want


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(8, 48), w=st.integers(8, 48), nl=st.integers(1, 24),
       seed=st.integers(0, 2**31 - 1))
def test_recoding_in_place_equals_a_pass_with_the_low_classes(h, w, nl, seed):
    """apply_low turns a pass without low classes into exactly the tokens, classes, counts
    and extra bits of fast_tokens_low run with ``nl`` (the prediction does not depend on
    them), which is what lets the encoder weigh them after one pass; the pass lists its
    candidates (the samples a low class count could make low) as SPEC 5.12 defines them."""
    rng = np.random.default_rng(seed)
    x = np.minimum(rng.poisson(3.0, (h, w)) * rng.integers(1, 4, (h, w)), 200).astype(np.int32)
    maxval = max(int(x.max()), 1)
    n = x.size
    R, CL, TOK, NB = KF.encode_constants()
    a0, b0, _ = model16_priors()
    fine = np.zeros(maxval + 1, np.uint8)

    def run(level):
        tokens, classes = np.empty(n, np.uint8), np.empty(n, np.uint16)
        hist = np.zeros((2 * KF.N_CLASS, KF.N_TOKENS), np.int64)
        uout, cand = np.empty(n, np.int32), np.empty(n, np.int64)
        nc = KE.fast_tokens_low(x, maxval, tokens, classes, hist, R, CL, TOK, NB, a0.copy(),
                                b0.copy(), fine, level, KF.N_CLASS, uout, cand)
        bits = np.zeros(2 * n + 16, np.uint8)
        nbytes = KL.pack_bits(tokens, uout, NB, bits)
        return tokens, classes, bits[:nbytes], hist, uout, cand[:nc]

    want = run(nl)
    tokens, classes, _, hist, uout, cand = run(0)
    # the candidates: every sample whose (W + N + 1) >> 1 (SPEC 5.6's neighbours) is below
    # N_CLASS, in raster order, with that level
    pad = np.pad(x.astype(np.int64), ((1, 0), (1, 0)), mode="edge")
    level = (pad[1:, :-1] + pad[:-1, 1:] + 1) >> 1
    level[0] = np.r_[(maxval + 1) >> 1, x[0, :-1]]
    level[1:, 0] = x[:-1, 0]
    ks = np.flatnonzero(level.ravel() < KF.N_CLASS)
    assert np.array_equal(cand, ks | (level.ravel()[ks] << 32))
    KL.apply_low(x.reshape(-1), nl, KF.N_CLASS, tokens, classes, uout, hist, TOK, cand,
                 len(cand))
    bits = np.zeros(2 * n + 16, np.uint8)
    nbytes = KL.pack_bits(tokens, uout, NB, bits)
    for got, ref in zip((tokens, classes, bits[:nbytes], hist, uout), want):
        assert np.array_equal(got, ref)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(20, 72), w=st.integers(20, 72), bits=st.sampled_from([8, 12, 16]),
       signed=st.booleans(), smooth=st.booleans(), nl=st.integers(1, 24),
       floor=st.booleans(), seed=st.integers(0, 2**31 - 1), compact=st.booleans())
def test_forced_low_counts_decode_with_mic_and_the_reference(h, w, bits, signed, smooth, nl,
                                                             floor, seed, compact):
    """Whatever low class count the encoder writes (here drawn at random, not chosen),
    mic and the reference decoder (SPEC 5.12 in plain Python; ``compact``: model id 22's
    packed sections, 5.13) decode the plane; ``floor`` clips the image at a level so that
    many samples sit at its minimum."""
    a = random_image(h, w, bits, signed, False, smooth, seed)
    if floor:
        a = np.maximum(a, np.percentile(a, 40).astype(a.dtype))
    with mock.patch.object(EB, "choose_low", lambda *args: nl):
        blob = mic.encode(a, bits_stored=bits, effort=3, fast_nlms=True,
                          compact_tables=compact)
    assert mic.info(blob).model_id == (22 if compact else 20)
    assert np.array_equal(mic.decode(blob), a)
    assert np.array_equal(load_reference_decoder().decode(blob), a)


@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_decodes_exactly_with_mic_and_the_reference(v):
    check_lossless_vector(VEC, v, 20)


def test_vectors_cover_the_cases():
    lows = {p[2] for v in VECTORS for p in v["planes"] if p[2] is not None}
    bands = {p[1] for v in VECTORS for p in v["planes"] if p[2]}
    assert {0, 1, 8, 24} <= lows and {1, 2} <= bands
    assert {"uint8", "uint16", "int16"} <= {v["dtype"] for v in VECTORS}
    assert any(len(v["shape"]) == 3 and v["shape"][-1] == 3 for v in VECTORS)  # RGB
    assert any("volume_group" in v["encode_options"] for v in VECTORS)
    assert any("tile" in v["encode_options"] for v in VECTORS)
    assert {p.stem for p in (VEC / "invalid").glob("*.mic")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_vector_raises_its_error(name):
    check_invalid_vector(VEC, name, EXPECTED[name])


def test_default_codes_a_large_sparse_plane_through_its_palette_only():
    """Effort 3 codes a sparse plane of more than SMALL_FRAME samples through its palette
    alone (DEFAULT_PALETTE: both ways saved 0.0006 % on the train split for twice the time),
    and smaller planes, whose palette can cost more than it saves, both ways; effort 4 codes
    every sparse plane both ways.  Every stream decodes exactly."""
    from mic.lossless import encoder as LE
    from mic.lossless import encoder_fast as EF

    rng = np.random.default_rng(11)
    big = (7 * np.add.outer(np.arange(300), np.arange(300)) // 3
           + 7 * rng.integers(0, 3, (300, 300))).astype(np.uint16)  # every 7th value
    small = big[:200, :200].copy()
    assert big.size > LE.SMALL_FRAME >= small.size
    seen = []
    real = EF.encode_plane_fast

    def spy(plane, palette=1, *args, **kw):
        seen.append((plane.size, palette))
        return real(plane, palette, *args, **kw)

    with mock.patch.object(EF, "encode_plane_fast", spy):
        for a, kw, want in ((big, {}, 1), (small, {"fast_nlms": True}, 2),
                            (big, {"effort": 4}, 2)):
            seen.clear()
            blob = mic.encode(a, **kw)
            assert np.array_equal(mic.decode(blob), a)
            assert (a.size, want) in seen, (kw, seen)
