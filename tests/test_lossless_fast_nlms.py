"""Lossless model id 14 (SPEC.md 5.8: plane kinds 5 and 6, the fast coder's planes with the
prediction corrected by two integer NLMS filters), what ``mic.encode`` writes from effort 3
(the default): bit-exact round trips on the test images, the choices, refusals, edge shapes
and a property test.  Its conformance vectors, formats/lossless14/, are checked in
test_conformance_nlms.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mic_test_helpers import tile_payloads

import mic
from mic.bitstream import unpack_header
from mic.io import read_image
from mic.lossless.encoder_fast import encode_plane_fast
from mic.lossless.decoder import decode_coded
from mic.lossless.syntax import PLANE_FAST, PLANE_FAST_LMS, parse_plane
from mic_test_helpers import load_forge, load_reference_decoder, random_image

DATA = Path(__file__).parent / "data"
NAMES = ("ct_abdomen_u16.png", "ct_lung_i16.npy", "cr_chest_u8.png", "mr_brain_u16.png",
         "us_breast_rgb.png", "us_breast_u8.png")


def _model(blob: bytes) -> int:
    return unpack_header(blob)[0].model_id


@pytest.mark.parametrize("name", NAMES)
def test_test_images_round_trip_exactly(name):
    a = np.ascontiguousarray(read_image(DATA / name)[0])
    blob = mic.encode(a, priors=False)  # (the default is model 16: test_lossless_priors.py)
    rgb = a.ndim == 3  # RGB: model id 15 where a tile keeps xform 5 (SPEC 5.9)
    assert _model(blob) == (15 if rgb else 14) and mic.encode(a, effort=3, priors=False) == blob
    out = mic.decode(blob)
    assert out.dtype == a.dtype and np.array_equal(out, a)
    mixed = mic.encode(a, effort=4, priors=False)  # each plane: the smallest of two coders
    assert _model(mixed) == (15 if rgb else 14) and np.array_equal(mic.decode(mixed), a)
    assert len(mixed) <= len(blob)


def _first_kinds(stream: bytes) -> set[int]:
    """The kinds of every one-sample TILE's plane (SPEC 5.2), after its xform byte."""
    return {p[1] for p in tile_payloads(stream)}


def test_model_1s_coder_is_the_third_coder_at_effort_7_only():
    """Beside the NLMS coder, model 13's kinds 1-2 are coded only at effort 7
    (MIXED_MODEL1_EFFORT_MIN); efforts 4-6 and the default's small frames code the NLMS and
    fast coders; without the NLMS coder (fast_nlms=False) effort 4 keeps model 13's planes."""
    a = np.ascontiguousarray(read_image(DATA / "mr_brain_u16.png")[0][100:164, 80:144])
    e7 = mic.encode(a, tile=16, effort=7, bands=False)  # formats/lossless16/mr_tiled
    assert 1 in _first_kinds(e7)
    for kw in ({}, {"effort": 4}, {"effort": 6}):
        other = mic.encode(a, tile=16, bands=False, **kw)
        assert _first_kinds(other) <= {0, 3, 4, 5, 6} and len(e7) < len(other)
        assert np.array_equal(mic.decode(other), a)
    assert _first_kinds(mic.encode(a, tile=16, effort=4, fast_nlms=False)) & {1, 2}
    assert np.array_equal(mic.decode(e7), a)


def test_model_14_is_smaller_than_model_13_and_the_fast_coder_on_the_ct():
    ct = read_image(DATA / "ct_abdomen_u16.png")[0]
    b14 = len(mic.encode(ct))
    assert b14 < len(mic.encode(ct, fast_nlms=False)) and b14 < len(mic.encode(ct, effort=1))


def test_the_choices():
    a = read_image(DATA / "ct_abdomen_u16.png")[0][:64, :64]
    assert _model(mic.encode(a, nlms=True)) == 22 and _model(mic.encode(a, fast_nlms=True)) == 22
    assert _model(mic.encode(a, effort=7)) == 22  # 14 with priors, bands, low, packed (5.10-5.13)
    assert _model(mic.encode(a, fast_nlms=True, priors=False)) == 14
    assert _model(mic.encode(a, fast_nlms=False)) == 13
    assert _model(mic.encode(a, nlms=False)) == 1 and _model(mic.encode(a, effort=1)) == 3
    assert _model(mic.encode(a, max_error=2)) == 23  # near-lossless: kind 5 quantised (7.9, 7.10)
    assert _model(mic.encode(a, max_error=2, fast_nlms=True)) == 23
    assert _model(mic.encode(a, max_error=2, bands=False)) == 17  # (7.7)
    assert _model(mic.encode(a, max_error=2, fast_nlms=False)) == 12
    for bad in ({"fast_nlms": 1}, {"fast_nlms": "yes"}, {"effort": 1, "fast_nlms": True},
                {"nlms": False, "fast_nlms": True},
                {"max_error": 2, "fast_nlms": True, "nlms": False}):
        with pytest.raises(mic.MicInputError):
            mic.encode(a, **bad)
    vol = np.stack([a, a + 1])  # a volume (SPEC 5.5) of model id 14
    blob = mic.encode(vol, volume_group=2, fast_nlms=True, priors=False)
    assert _model(blob) == 14 and np.array_equal(mic.decode(blob), vol)
    assert blob == mic.encode(vol, volume_group=2, priors=False)
    with pytest.raises(mic.MicInputError):
        mic.encode(a, quality=4, fast_nlms=True)
    i = mic.info(mic.encode(a, priors=False))
    assert i.model_id == 14 and i.model == "lossless-fast-nlms" and "NLMS" in i.model_description


def test_a_screen_at_the_default_effort_is_coded_as_effort_4_codes_it():
    a = np.zeros((96, 130), np.uint8)  # mostly one value, text-like marks
    a[10:20, 5:60] = 200
    a[40:90, 70:120] = np.arange(50, dtype=np.uint8)[:, None] * 3
    assert mic.encode(a) == mic.encode(a, effort=4)
    assert np.array_equal(mic.decode(mic.encode(a)), a)


@pytest.mark.parametrize("shape", [(1, 1), (1, 2), (2, 1), (1, 37), (29, 1), (2, 2), (3, 5),
                                   (7, 3)])
def test_kind_5_edges(shape):
    """Every neighbour rule of SPEC 5.8 step 1 (row 0, x < 3, the last two columns) on
    planes too small to have an interior; kind 5 itself, without a palette."""
    rng = np.random.default_rng(sum(shape))
    for maxval in (1, 255, 4095, (1 << 17) - 2):
        x = rng.integers(0, maxval + 1, shape).astype(np.int32)
        x.flat[0], x.flat[-1] = 0, maxval
        if x.min() == x.max():
            continue
        b = encode_plane_fast(x, 0, lms=True)
        ph = parse_plane(memoryview(b), 0, *shape, fast=2)
        assert ph.kind == PLANE_FAST_LMS
        assert np.array_equal(decode_coded(memoryview(b), ph, *shape), x)


def test_kinds_5_and_6_need_model_14():
    """Plane kind 5 relabelled as kind 3 under model 14 decodes wrongly (the checksum says
    so); a model-14 stream relabelled model id 13 or 3 is refused (kind 5 is not theirs),
    relabelled 16 it decodes with other starting weights to other samples (SPEC 5.10)."""
    forge = load_forge()
    a = read_image(DATA / "ct_abdomen_u16.png")[0][100:164, 90:154]
    blob = mic.encode(a, stream_version=1, fast_nlms=True, priors=False)
    for mid in (1, 3, 13):
        with pytest.raises(mic.MicFormatError):
            mic.decode(forge.set_header_fields(blob, model_id=mid))
    with pytest.raises(mic.MicError):
        mic.decode(forge.set_header_fields(blob, model_id=16))
    with pytest.raises(mic.MicUnsupportedError):
        mic.decode(forge.set_header_fields(blob, model_id=17))
    assert np.array_equal(mic.decode(forge.set_header_fields(blob, model_id=15)), a)
    b = encode_plane_fast(a.astype(np.int32), 0, lms=True)
    assert b[0] == PLANE_FAST_LMS
    ph = parse_plane(memoryview(bytes((PLANE_FAST,)) + b[1:]), 0, *a.shape, fast=1)
    with pytest.raises(mic.MicFormatError):  # kind 5 under model 3 or 13
        parse_plane(memoryview(b), 0, *a.shape, fast=1)
    try:
        wrong = decode_coded(memoryview(bytes((PLANE_FAST,)) + b[1:]), ph, *a.shape)
    except mic.MicFormatError:
        return
    assert not np.array_equal(wrong, a)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(1, 24), w=st.integers(1, 24), bits=st.sampled_from([1, 8, 12, 16]),
       signed=st.booleans(), rgb=st.booleans(), effort=st.sampled_from([3, 4]),
       smooth=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_round_trip_property(h, w, bits, signed, rgb, effort, smooth, seed):
    """Any small plane (noise or a ramp, any sample format, RGB or not) decodes exactly,
    and the reference decoder agrees with mic."""
    a = random_image(h, w, bits, signed, rgb, smooth, seed)
    blob = mic.encode(a, effort=effort, bits_stored=bits, colour_diff=False, priors=False)
    assert _model(blob) == 14  # (with xform 5, model 15: test_lossless_cdiff.py)
    out = mic.decode(blob)
    assert out.dtype == a.dtype and np.array_equal(out, a)
    if h * w <= 64:
        assert np.array_equal(load_reference_decoder().decode(blob), a)
