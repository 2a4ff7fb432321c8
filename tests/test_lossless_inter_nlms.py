"""Lossless model id 25 (SPEC 5.15): volume tiles of xform 7, a kind-5 plane whose NLMS
filters take the previous frame's prediction P5; the encoder's choice among xforms 0, 4 and
7, the ``inter_nlms`` option, the conformance vectors under formats/volume25/ and streams a
decoder must refuse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mic_test_helpers import (
    check_invalid_vector,
    check_lossless_vector,
    load_reference_decoder,
    tile_payloads,
    vector_set,
)

import mic
from mic.errors import MicFormatError, MicInputError

ROOT = Path(__file__).resolve().parents[1]
VOL, VECTORS, EXPECTED = vector_set("volume25")
DATA = ROOT / "tests" / "data"


def _xforms(stream: bytes) -> list[int]:
    return [p[0] for p in tile_payloads(stream)]


def _thin_ct(frames: int = 5, noise: int = 2) -> np.ndarray:
    """Close 'slices' of the committed CT: one crop, a slow ramp a frame and noise of
    ``noise`` (what thin slices of a series look like to the predictor)."""
    from PIL import Image

    with Image.open(DATA / "ct_abdomen_u16.png") as im:
        ct = np.asarray(im).astype(np.int32)
    rng = np.random.default_rng(25)
    ramp = np.add.outer(np.arange(64), np.arange(72)) // 12
    out = [ct[150:214, 160:232] + f * ramp + rng.integers(-noise, noise + 1, (64, 72))
           for f in range(frames)]
    return np.clip(np.stack(out), 0, 4095).astype(np.uint16)


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("noise", [2, 8])
def test_close_slices_take_xform_7_and_decode_exactly(noise: int) -> None:
    vol = _thin_ct(noise=noise)
    blob = mic.encode(vol, volume_group=8)
    assert mic.info(blob).model_id == 25 and mic.info(blob).model == "lossless-fast-nlms-inter"
    assert 7 in _xforms(blob)
    assert np.array_equal(mic.decode(blob), vol)
    assert np.array_equal(load_reference_decoder().decode(blob), vol)
    old = mic.encode(vol, volume_group=8, inter_nlms=False)
    assert mic.info(old).model_id == 22 and 7 not in _xforms(old)
    assert np.array_equal(mic.decode(old), vol)
    per = len(mic.encode(vol))
    assert len(blob) < min(len(old), per)  # old: at most per + its LVOL segment
    print(f"noise {noise}: model 25 {len(blob)}, model 22 {len(old)}, per frame {per}")


def test_region_frames_and_threads_give_the_same_samples() -> None:
    vol = _thin_ct(frames=6)
    blob = mic.encode(vol, volume_group=3, tile=32)
    assert 7 in _xforms(blob)
    full = mic.decode(blob)
    assert np.array_equal(full, vol)
    assert np.array_equal(mic.decode(blob, threads=2), vol)
    assert np.array_equal(mic.decode(blob, region=(10, 40, 20, 50)), vol[:, 10:40, 20:50])


def test_a_tile_per_choice_never_larger_than_model_22() -> None:
    """The encoder keeps, per tile, the smallest of xforms 0, 4 and 7: a series whose
    frames are unrelated codes as model 22's volume does (no xform 7, model id 22)."""
    rng = np.random.default_rng(3)
    vol = rng.integers(0, 4096, (3, 40, 48)).astype(np.uint16)
    for kw in ({}, {"effort": 4}):  # effort 4 codes every tile each way (no inter rule)
        blob = mic.encode(vol, volume_group=3, **kw)
        assert len(blob) <= len(mic.encode(vol, volume_group=3, inter_nlms=False, **kw))
        assert np.array_equal(mic.decode(blob), vol)
        if not kw:  # the default's rule: the previous frame predicts nothing here
            assert set(_xforms(blob)) == {0}


def test_the_default_tries_the_inter_ways_where_the_rule_says(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Below effort 4 a tile is coded from the previous frame only where
    ``inter_worth_trying`` says so (encoder_inter); from effort 4 always.  Spies on the
    rule and on the inter plane coders count what was asked and coded."""
    from mic.lossless import encoder as LE
    from mic.lossless import encoder_fast

    said: list[bool] = []
    coded: list[str] = []
    rule, fast, inter = LE.inter_worth_trying, encoder_fast.encode_plane_fast, \
        LE.encode_plane_inter

    def spy_rule(plane: np.ndarray, ref: np.ndarray) -> bool:
        said.append(rule(plane, ref))
        return said[-1]

    def spy_fast(plane: np.ndarray, *a: object, **k: object) -> bytes:
        if k.get("ref") is not None:
            coded.append("xform 7")
        return fast(plane, *a, **k)

    def spy_inter(plane: np.ndarray, ref: np.ndarray) -> bytes:
        coded.append("xform 4")
        return inter(plane, ref)

    monkeypatch.setattr(LE, "inter_worth_trying", spy_rule)
    monkeypatch.setattr(encoder_fast, "encode_plane_fast", spy_fast)
    monkeypatch.setattr(LE, "encode_plane_inter", spy_inter)
    rng = np.random.default_rng(4)
    unrelated = rng.integers(0, 4096, (4, 40, 48)).astype(np.uint16)
    thin = _thin_ct(4)
    for vol, want in ((unrelated, False), (thin, True)):
        said.clear()
        coded.clear()
        blob = mic.encode(vol, volume_group=4)
        assert said == [want] * 3 and np.array_equal(mic.decode(blob), vol)
        assert coded == (["xform 7", "xform 4"] * 3 if want else [])
        said.clear()
        coded.clear()
        mic.encode(vol, volume_group=4, effort=4)
        assert said == [] and coded == ["xform 7", "xform 4"] * 3


def test_the_inter_rule() -> None:
    from mic.lossless.encoder_inter import inter_worth_trying

    thin = _thin_ct(2).astype(np.int32)
    rng = np.random.default_rng(5)
    assert inter_worth_trying(thin[1], thin[0])
    assert not inter_worth_trying(thin[1], rng.permutation(thin[0]))  # rows shuffled
    assert inter_worth_trying(thin[1, :1], thin[0, :1])  # one row: nothing to measure
    flat = np.full((8, 8), 7, np.int32)
    assert inter_worth_trying(flat, flat) and not inter_worth_trying(flat, thin[0, :8, :8])
    with pytest.raises(ValueError, match="plane"):
        inter_worth_trying(thin[1], thin[0, :-1])


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), frames=st.integers(2, 4), h=st.integers(1, 20),
       w=st.integers(4, 20), signed=st.booleans(), noise=st.integers(0, 40))
def test_property_volumes_round_trip(seed: int, frames: int, h: int, w: int, signed: bool,
                                     noise: int) -> None:
    rng = np.random.default_rng(seed)
    base = rng.integers(-2000 if signed else 0, 2000, (h, w))
    vol = np.stack([base + rng.integers(-noise, noise + 1, (h, w)) for _ in range(frames)])
    vol = vol.astype(np.int16 if signed else np.uint16)
    for kw in ({}, {"inter_nlms": False}):
        blob = mic.encode(vol, volume_group=frames, **kw)
        assert np.array_equal(mic.decode(blob), vol)
        if 7 in _xforms(blob):
            assert np.array_equal(load_reference_decoder().decode(blob), vol)


# ----------------------------------------------------------------------------- options
@pytest.mark.parametrize("kw, what", [
    ({"inter_nlms": "yes"}, "inter_nlms must be"),
    ({"inter_nlms": True, "compact_tables": False}, "model id 25"),
    ({"inter_nlms": True, "max_error": 1}, "model id 25"),
])
def test_bad_options(kw: dict, what: str) -> None:
    with pytest.raises(MicInputError, match=what):
        mic.encode(_thin_ct(frames=2), **kw)


def test_inter_nlms_without_a_volume_changes_nothing() -> None:
    a = _thin_ct(frames=1)[0]
    assert mic.encode(a, inter_nlms=True) == mic.encode(a)


# ----------------------------------------------------------------------------- vectors
@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v["name"])
def test_vector_decodes(v: dict) -> None:
    """mic and the reference decoder (written from SPEC.md alone, 5.15 included) decode
    it exactly; its tiles' xforms are as recorded; today's encoder makes the same bytes."""
    check_lossless_vector(VOL, v, 25)
    blob = (VOL / v["stream"]).read_bytes()
    assert _xforms(blob) == v["xforms"] and 7 in v["xforms"]
    if v["name"] != "constant_inter_tile":  # the one forged vector
        opts = {k: (tuple(x) if isinstance(x, list) else x)
                for k, x in v["encode_options"].items()}
        assert mic.encode(np.load(VOL / v["source"]), **opts) == blob


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_vector_refused_by_both_decoders(name: str) -> None:
    check_invalid_vector(VOL, name, EXPECTED[name])


@pytest.mark.parametrize("name, match", [
    ("xform7_on_group_start", "first frame of a group"),
    ("xform7_plane_kind6", "plane kind 6 in an inter tile of xform 7"),
    ("model25_read_as_22", "colour transform 7 invalid here"),
])
def test_invalid_vectors_say_why(name: str, match: str) -> None:
    with pytest.raises(MicFormatError, match=match):
        mic.decode((VOL / "invalid" / (name + ".mic")).read_bytes())

