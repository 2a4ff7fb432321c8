"""Lossless model id 13 (SPEC.md 5.7: model 3's planes with kinds 1 and 2 predicted by model
12's two integer NLMS filters at k = 0), what ``mic.encode(a, fast_nlms=False)`` writes from
effort 3 (the default before model id 14): bit-exact round trips, the ``nlms`` choice,
refusals, a property test.  Its conformance vectors, formats/lossless13/, are checked in
test_conformance_nlms.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mic
from mic.bitstream import unpack_header
from mic.io import read_image
from mic_test_helpers import load_forge, load_reference_decoder, random_image, tile_payloads

DATA = Path(__file__).parent / "data"
NAMES = ("ct_abdomen_u16.png", "ct_lung_i16.npy", "cr_chest_u8.png", "mr_brain_u16.png",
         "us_breast_rgb.png", "us_breast_u8.png")


def _model(blob: bytes) -> int:
    return unpack_header(blob)[0].model_id


@pytest.mark.parametrize("name", NAMES)
def test_test_images_round_trip_exactly(name):
    a = np.ascontiguousarray(read_image(DATA / name)[0])
    blob = mic.encode(a, fast_nlms=False)
    assert _model(blob) == 13 and mic.encode(a, effort=3, fast_nlms=False) == blob
    out = mic.decode(blob)
    assert out.dtype == a.dtype and np.array_equal(out, a)
    mixed = mic.encode(a, effort=4, fast_nlms=False)  # each plane: NLMS or fast, the smaller
    assert _model(mixed) == 13 and np.array_equal(mic.decode(mixed), a)
    assert len(mixed) <= len(blob)
    m1 = mic.encode(a, nlms=False)
    assert _model(m1) == 1 and np.array_equal(mic.decode(m1), a)


def test_model_13_is_smaller_than_model_1_on_the_ct():
    ct = read_image(DATA / "ct_abdomen_u16.png")[0]
    assert len(mic.encode(ct, fast_nlms=False)) < len(mic.encode(ct, nlms=False))


def test_the_nlms_choice():
    a = read_image(DATA / "ct_abdomen_u16.png")[0][:64, :64]
    assert _model(mic.encode(a, effort=4, nlms=False)) == 3  # mixed without the filters
    assert _model(mic.encode(a, effort=7, fast_nlms=False)) == 13
    assert _model(mic.encode(a, effort=1)) == 3 and _model(mic.encode(a, effort=2)) == 3
    assert _model(mic.encode(a, max_error=2, nlms=False, fast_nlms=False)) == 2
    assert _model(mic.encode(a, max_error=2, effort=1, nlms=True, fast_nlms=False)) == 12
    # model id 17 (SPEC 7.7): kinds 3-4 without the filters; 23 (7.10): 5-6 with them
    for opts, kinds, mid in (({"nlms": False}, (3, 4), 17),
                             ({"effort": 1, "nlms": True}, (5, 6), 23)):
        blob = mic.encode(a, max_error=2, **opts)
        assert _model(blob) == mid and tile_payloads(blob)[0][1] in kinds
    vol = np.stack([a, a + 1, a + 2])
    blob = mic.encode(vol, volume_group=3, fast_nlms=False)  # model 13 has no volumes
    assert _model(blob) == 1 and np.array_equal(mic.decode(blob), vol)
    assert _model(mic.encode(vol, volume_group=3, nlms=True)) == 22  # SPEC 5.8-5.13's volumes
    for bad in ({"effort": 1, "nlms": True}, {"volume_group": 3, "nlms": True, "fast_nlms": False},
                {"nlms": 1}, {"nlms": "yes"}):
        with pytest.raises(mic.MicInputError):
            mic.encode(vol if "volume_group" in bad else a, **bad)
    with pytest.raises(mic.MicInputError):
        mic.encode(a, quality=4, nlms=True)
    i = mic.info(mic.encode(a, fast_nlms=False))
    assert i.model_id == 13 and i.model == "lossless-nlms" and "NLMS" in i.model_description


def test_model_13_planes_of_kind_3_need_model_3_or_13():
    """A model-13 stream with a fast plane relabelled model id 1 is refused (kind 3 is not a
    model-1 kind, SPEC 5.6)."""
    forge = load_forge()
    a = read_image(DATA / "cr_chest_u8.png")[0][128:176, 100:164]
    blob = mic.encode(a, effort=4, stream_version=1, fast_nlms=False)
    assert _model(blob) == 13
    with pytest.raises(mic.MicFormatError):
        mic.decode(forge.set_header_fields(blob, model_id=1))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(1, 24), w=st.integers(1, 24), bits=st.sampled_from([1, 8, 12, 16]),
       signed=st.booleans(), rgb=st.booleans(), effort=st.sampled_from([3, 4]),
       smooth=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_round_trip_property(h, w, bits, signed, rgb, effort, smooth, seed):
    """Any small plane (noise or a ramp, any sample format, RGB or not) decodes exactly,
    and the reference decoder agrees with mic."""
    a = random_image(h, w, bits, signed, rgb, smooth, seed)
    blob = mic.encode(a, effort=effort, bits_stored=bits, fast_nlms=False)
    assert _model(blob) == 13
    out = mic.decode(blob)
    assert out.dtype == a.dtype and np.array_equal(out, a)
    if h * w <= 64:
        assert np.array_equal(load_reference_decoder().decode(blob), a)
