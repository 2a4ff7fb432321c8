"""Lossless model id 16 (SPEC 5.10): model 15 with fixed priors in plane kinds 5 and 6 (the
NLMS filters start from fixed weights; a class may use its built-in token table).  Round
trips, the encoder's table choice, the choice switch, and the conformance vectors under
formats/lossless16/."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mic
from mic.io import read_image
from mic.lossless import kernels_fit as KFIT
from mic.lossless import kernels_tables as KT
from mic.lossless.syntax import model16_priors
from mic_test_helpers import (
    check_invalid_vector, check_lossless_vector, load_reference_decoder, random_image,
    token_bits)

DATA = Path(__file__).parent / "data"
VEC = Path(__file__).resolve().parents[1] / "formats" / "lossless16"
VECTORS = json.loads((VEC / "vectors.json").read_text())["vectors"]
EXPECTED = json.loads((VEC / "invalid" / "expected.json").read_text())


def test_the_priors_are_well_formed():
    a0, b0, builtin = model16_priors()
    assert a0.shape == (12,) and b0.shape == (4, 8) and builtin.shape == (24, 68)
    assert (np.abs(a0) <= 1 << 20).all() and (np.abs(b0) <= 1 << 20).all()
    assert (builtin.sum(axis=1) == 2048).all() and (builtin >= 0).all()
    for row in builtin:  # every token up to the last codable one has a slot
        last = np.flatnonzero(row)[-1]
        assert (row[:last + 1] > 0).all()
    with pytest.raises(ValueError):  # read-only: a caller copies before coding
        a0[0] = 1


def test_default_is_model_22_bands_false_16_and_priors_false_14_and_15():
    ct = read_image(DATA / "ct_abdomen_u16.png")[0][:64, :64]
    assert mic.info(mic.encode(ct)).model_id == 22  # SPEC 5.11-5.13 (test_lossless_compact)
    assert mic.info(mic.encode(ct, bands=False)).model_id == 16
    assert mic.info(mic.encode(ct, priors=False)).model_id == 14
    rgb = read_image(DATA / "us_breast_rgb.png")[0]
    assert mic.info(mic.encode(rgb, priors=False)).model_id == 15
    assert mic.info(mic.encode(rgb, bands=False)).model_id == 16
    assert mic.info(mic.encode(ct, effort=1)).model_id == 3
    assert mic.info(mic.encode(ct, fast_nlms=False)).model_id == 13
    assert mic.info(mic.encode(ct, max_error=2)).model_id == 23
    assert mic.info(mic.encode(ct, max_error=2, fast_nlms=False)).model_id == 12


@pytest.mark.parametrize("bad", [{"priors": 1}, {"priors": "yes"},
                                 {"priors": True, "effort": 1},
                                 {"priors": True, "nlms": False},
                                 {"priors": True, "fast_nlms": False},
                                 {"priors": True, "max_error": 2},
                                 {"priors": True, "quality": 3}])
def test_bad_choices_are_refused(bad):
    with pytest.raises(mic.MicInputError):
        mic.encode(np.arange(256, dtype=np.uint8).reshape(16, 16), **bad)


@pytest.mark.parametrize("name,box", [("mr_brain_u16.png", (40, 72, 40, 72)),
                                      ("cr_chest_u8.png", (40, 72, 40, 72)),
                                      ("us_breast_u8.png", (20, 116, 100, 196))])
def test_small_crops_code_smaller(name, box):
    """Small planes are where the priors pay: the own tables cost a few per cent there."""
    y0, y1, x0, x1 = box
    a = np.ascontiguousarray(read_image(DATA / name)[0][y0:y1, x0:x1])
    with_priors, without = mic.encode(a, bands=False), mic.encode(a, priors=False)
    assert np.array_equal(mic.decode(with_priors), a)
    assert len(with_priors) < len(without)


def test_the_table_choice_only_names_tables_that_can_code():
    """A class moves to its built-in table only where every token it codes has a slot
    there, and only where that costs fewer bits; a class the built-in table cannot code
    keeps a table of its own."""
    rng = np.random.default_rng(5)
    _, _, builtin = model16_priors()
    for _ in range(30):
        hist = np.zeros((24, 68), np.int64)
        for c in rng.choice(24, rng.integers(1, 24), replace=False):
            n = rng.integers(1, 4000)
            top = rng.integers(2, 68)
            hist[c, :top] = rng.multinomial(n, rng.dirichlet(np.ones(top)))
        tabmap, freq = KFIT.fit_tables(hist)
        smap, sfreq = KFIT.assign_builtin(hist, tabmap, freq, builtin)
        full_map, full = KT.with_builtin(smap, sfreq, builtin)
        used = hist > 0
        for c in range(24):
            assert not (used[c] & (full[full_map[c]] == 0)).any()
        # never more bits than the fitted tables with their bytes
        own = token_bits(hist, freq[tabmap]).sum() + 8 * sum(KFIT.table_bytes(f) for f in freq)
        new = (token_bits(hist, full[full_map]).sum()
               + 8 * sum(KFIT.table_bytes(f) for f in sfreq))
        assert new <= own + 1e-6


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(1, 40), w=st.integers(1, 40), bits=st.sampled_from([1, 8, 12, 16]),
       signed=st.booleans(), rgb=st.booleans(), effort=st.sampled_from([3, 4]),
       smooth=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_round_trip_property(h, w, bits, signed, rgb, effort, smooth, seed):
    """Any small image decodes exactly with mic and the reference decoder."""
    a = random_image(h, w, bits, signed, rgb, smooth, seed)
    blob = mic.encode(a, effort=effort, bits_stored=bits, bands=False)
    assert mic.info(blob).model_id == 16
    assert np.array_equal(mic.decode(blob), a)
    if h * w <= 120:
        assert np.array_equal(load_reference_decoder().decode(blob), a)


@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_decodes_exactly_with_mic_and_the_reference(v):
    check_lossless_vector(VEC, v, 16)


def test_vectors_cover_the_cases():
    forms = {p[1] for v in VECTORS for p in v["planes"]}
    kinds = {p[0] for v in VECTORS for p in v["planes"]}
    assert {"builtin", "mixed", "own"} <= forms and {5, 6} <= kinds
    assert {"uint8", "uint16"} <= {v["dtype"] for v in VECTORS}
    assert any(len(v["shape"]) == 3 for v in VECTORS)
    assert {p.stem for p in (VEC / "invalid").glob("*.mic")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_vector_raises_its_error(name):
    check_invalid_vector(VEC, name, EXPECTED[name])


def test_spec_lists_the_shipped_weights():
    """SPEC 5.10 prints the filters' starting weights: they are the data file's."""
    import re

    text = (Path(__file__).resolve().parents[1] / "SPEC.md").read_text(encoding="utf-8")
    sec = text[text.index("### 5.10 Priors"):text.index("## 6. Lossy mode")]
    a0, b0, _ = model16_priors()
    vals = re.findall(r"\(([^()]*)\)", sec[sec.index("LMS_A0 = ("):sec.index("These integers")])
    flat = [[int(v.strip().replace("−", "-")) for v in g.split(",")] for g in vals]
    assert flat[0] == a0.tolist() and flat[1:] == b0.tolist()
