"""Lossless model id 18 (SPEC 5.11): model 16 whose plane kinds 5 and 6 split their token
tables into bands of the sample above (the default until model id 20; ``low=False`` writes
it since).  The switches, the encoder's bins and
band choice, forced band splits decoded by mic and the reference decoder (hypothesis), and
the conformance vectors under formats/lossless18/."""

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
    random_image,
    vector_set,
)

import mic
from mic.io import read_image
from mic.lossless import encoder_bands as EB
from mic.lossless import kernels_fast as KF
from mic.lossless.syntax import model16_priors

VEC, VECTORS, EXPECTED = vector_set("lossless18")
IMAGES = LOSSLESS_IMAGES
_img = data_image


def test_low_false_is_model_18_and_bands_false_keeps_16():
    ct = _img("ct_abdomen_u16.png")
    blob = mic.encode(ct, low=False)
    assert mic.info(blob).model_id == 18 and mic.info(blob).model == "lossless-fast-nlms-bands"
    assert mic.info(mic.encode(ct, bands=False)).model_id == 16
    assert mic.info(mic.encode(ct, bands=True, low=False)).model_id == 18
    assert mic.info(mic.encode(ct, effort=4, low=False)).model_id == 18
    assert mic.info(mic.encode(ct, priors=False)).model_id == 14
    assert mic.info(mic.encode(ct, effort=1)).model_id == 3  # no bands in the fast coder
    assert mic.info(mic.encode(ct, max_error=2, low=False)).model_id == 19  # SPEC 7.8
    assert mic.info(mic.encode(ct, max_error=2, effort=1)).model_id == 17  # no filters
    vol = np.stack([ct[:64, :64], ct[2:66, :64]])
    blob = mic.encode(vol, volume_group=2, low=False)
    assert mic.info(blob).model_id == 18 and np.array_equal(mic.decode(blob), vol)


@pytest.mark.parametrize("bad", [{"bands": 1}, {"bands": "yes"},
                                 {"bands": True, "priors": False},
                                 {"bands": True, "effort": 1},
                                 {"bands": True, "nlms": False},
                                 {"bands": True, "fast_nlms": False},
                                 {"bands": True, "max_error": 2, "effort": 1},
                                 {"bands": True, "quality": 3}])
def test_bad_choices_are_refused(bad):
    with pytest.raises(mic.MicInputError):
        mic.encode(np.arange(256, dtype=np.uint8).reshape(16, 16), **bad)


@pytest.mark.parametrize("name", IMAGES)
def test_round_trip_and_never_much_larger_than_model_16(name):
    """The encoder keeps one band unless its estimate says more code smaller; the estimate
    is close enough that a split never costs more than a fraction of a per cent."""
    a = _img(name)
    b18, b16 = mic.encode(a, low=False), mic.encode(a, bands=False)
    assert np.array_equal(mic.decode(b18), a)
    assert len(b18) <= len(b16) * 1.002 + 4


def test_the_bundled_ct_codes_smaller_with_bands():
    ct = read_image(Path(mic.__file__).parent / "data" / "ct_abdomen.png")[0]
    assert len(mic.encode(ct, low=False)) < len(mic.encode(ct, bands=False))


@settings(max_examples=30, deadline=None)
@given(maxval=st.integers(1, 70000), n=st.integers(1, 3000), seed=st.integers(0, 2**31 - 1))
def test_fine_bins(maxval, n, seed):
    """Edges increase within 1..maxval, each value's bin counts the edges at or below it,
    and no bin but a single value's holds much more than its share."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, maxval + 1, (1, n)).astype(np.int32)
    x[0, 0] = maxval
    fine, edges = EB.fine_bins(x, maxval)
    assert len(edges) < EB.FINE_BINS and fine.shape == (maxval + 1,)
    assert (np.diff(edges) > 0).all() and (edges >= 1).all() and (edges <= maxval).all()
    v = rng.integers(0, maxval + 1, 50)
    assert (fine[v] == np.searchsorted(edges, v, side="right")).all()
    counts = np.bincount(fine[x[0]], minlength=len(edges) + 1)
    for b, c in enumerate(counts):
        lo = edges[b - 1] if b else 0
        hi = edges[b] if b < len(edges) else maxval + 1
        if hi - lo > 1:  # a bin of several values stays near n / 16 (plus one value's count)
            assert c <= n / EB.FINE_BINS + np.bincount(x[0]).max() + 1


def test_choose_bands_gives_runs_of_bins_and_its_thresholds():
    rng = np.random.default_rng(3)
    _, _, builtin = model16_priors()
    for nf in (1, 2, 5, 16):
        edges = np.sort(rng.choice(np.arange(1, 5000), nf - 1, replace=False))
        hist = np.zeros((nf * KF.N_CLASS, KF.N_TOKENS), np.int64)
        for f in range(nf):  # bins of different spread: bands pay where they differ
            for c in range(KF.N_CLASS):
                hist[f * KF.N_CLASS + c, :f + 2] = rng.integers(0, 500, f + 2)
        th, band = EB.choose_bands(hist, edges, builtin)
        assert len(band) == nf and band[0] == 0 and (np.diff(band) >= 0).all()
        assert (np.diff(band) <= 1).all() and len(th) == band[-1] <= 7
        assert th == [int(edges[f - 1]) for f in range(1, nf) if band[f] != band[f - 1]]
        assert len(th) + 1 in EB.BAND_CHOICES


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(64, 80), w=st.integers(64, 80), bits=st.sampled_from([8, 12, 16]),
       signed=st.booleans(), smooth=st.booleans(), sparse=st.booleans(),
       split=st.lists(st.integers(1, 15), max_size=7, unique=True),
       seed=st.integers(0, 2**31 - 1))
def test_forced_band_splits_decode_with_mic_and_the_reference(h, w, bits, signed, smooth,
                                                              sparse, split, seed):
    """Whatever runs of fine bins the encoder makes bands (here drawn at random, not
    chosen), mic and the reference decoder (SPEC 5.11 in plain Python) decode the plane."""
    a = random_image(h, w, bits, signed, False, smooth, seed)
    if sparse:  # every third value: a palette plane (kind 6)
        lo = -(1 << (bits - 1)) if signed else 0
        b = a.astype(np.int64)
        a = (b - (b - lo) % 3).astype(a.dtype)

    def forced(hist, edges, builtin):
        return EB.split_at(edges, sorted({0, *(s for s in split if s <= len(edges))}))

    with mock.patch.object(EB, "choose_bands", forced):
        blob = mic.encode(a, bits_stored=bits, effort=3, fast_nlms=True, low=False)
    assert mic.info(blob).model_id == 18
    assert np.array_equal(mic.decode(blob), a)
    assert np.array_equal(load_reference_decoder().decode(blob), a)


@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_decodes_exactly_with_mic_and_the_reference(v):
    check_lossless_vector(VEC, v, 18)


def test_vectors_cover_the_cases():
    bands = {p[1] for v in VECTORS for p in v["planes"]}
    kinds = {p[0] for v in VECTORS for p in v["planes"]}
    assert {1, 2, 4, 8} <= bands and 5 in kinds
    assert {"uint8", "uint16", "int16"} <= {v["dtype"] for v in VECTORS}
    assert any(len(v["shape"]) == 3 and v["shape"][-1] == 3 for v in VECTORS)  # RGB
    assert any("volume_group" in v["encode_options"] for v in VECTORS)
    assert any("tile" in v["encode_options"] for v in VECTORS)
    assert {p.stem for p in (VEC / "invalid").glob("*.mic")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_vector_raises_its_error(name):
    check_invalid_vector(VEC, name, EXPECTED[name])
