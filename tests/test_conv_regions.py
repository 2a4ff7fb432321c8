"""Constant regions of the conv models' tiles (SPEC 6.10, xform flag 16; 6.6's region
record and shape): the encoder's rule, exact region pixels through every conv model, grey,
RGB and frames, the ``regions`` option, and the decoder's refusals of forged records."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import mic
from mic.entropy.shape import encode_shape
from mic.lossy.conv_syntax import CONST_BITS, CONV_REGIONS, ConvFields
from mic.lossy.enc_conv import REGION_SHAPE_BITS, conv_region
from mic.lossy.enc_options import EncoderOptions
from mic.lossy.syntax import pack_region_record, read_region_record
from mic_test_helpers import conv_with_payload, load_forge

DATA = Path(__file__).parent / "data"


def _ct() -> np.ndarray:
    return np.asarray(Image.open(DATA / "ct_abdomen_u16.png"))


def _barred(a: np.ndarray, side: int, value: int = 0) -> np.ndarray:
    """A real image between two bars of one value, as MR series are padded."""
    bar = np.full((a.shape[0], side) + a.shape[2:], value, a.dtype)
    return np.concatenate([bar, a, bar], axis=1)


def _first_plane(blob: bytes) -> tuple[int, int, int, int, int, int, int]:
    """(xform flags, lo, bits, payload start, offset of the first plane's region record, offset
    after it, payload end) of the first tile of a grey conv stream."""
    forge = load_forge()
    sp = next(s for s in forge.spans(blob) if s.tag == b"TILE")
    f = ConvFields(blob[8])
    flags, off = f.read_xform(blob, sp.mode_start)
    lo, bits, at = f.read_norm(blob, off)
    end = at
    if flags & CONV_REGIONS and bits != CONST_BITS:
        _, _, end = read_region_record(blob, at, 1, 1, 1, (-2**31, 2**31), False)
    return flags, lo, bits, sp.mode_start, at, end, sp.payload_end


# ----------------------------------------------------------------------------- encoder
def test_region_rule():
    rng = np.random.default_rng(0)
    o = EncoderOptions()
    p = rng.integers(100, 200, (256, 256))
    p[:, :64] = 0  # a bar
    v, m, shape = conv_region(p, o)
    assert (v, int(m.sum())) == (0, 256 * 64) and shape == encode_shape(m)
    assert 8 * len(shape) <= REGION_SHAPE_BITS * m.sum()
    # a value scattered over a noisy background: its shape would cost more than it saves
    assert conv_region(rng.integers(0, 3, (256, 256)), o) is None
    assert conv_region(rng.integers(0, 1000, (256, 256)), o) is None  # no frequent value
    q = p.copy()
    q[:, :4] = 0  # a strip of 1.6 %: below region_rule_fraction
    q[:, 4:64] = rng.integers(100, 200, (256, 60))
    assert conv_region(q, o) is None


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("model", ["ae", "vae", "cnn", "gan"])
def test_bars_decode_exactly(model):
    a = _barred(_ct()[:, 32:224], 96)
    blob = mic.encode(a, model=model, quality=3)
    flags, *_ = _first_plane(blob)
    assert flags & CONV_REGIONS
    d = mic.decode(blob)
    assert (d[:, :96] == 0).all() and (d[:, -96:] == 0).all()
    plain = mic.encode(a, model=model, quality=3, regions=False)
    assert not _first_plane(plain)[0] & CONV_REGIONS
    assert mic.encode(a, model=model, quality=3, effort=2) == plain  # regions from effort 3
    assert len(blob) < len(plain)  # the step edges cost the model more than the shape
    err = [float(np.mean((x.astype(float) - a) ** 2)) for x in (d, mic.decode(plain))]
    assert err[0] < err[1]


def test_region_search_keeps_the_cheaper_coding():
    """From effort 4 (``region_search``) a tile with a region is coded both ways and the one
    of lower rate + lambda * distortion kept: the stream is one of the two."""
    from mic.lossy.model import load_model

    a = _barred(_ct()[:, 32:224], 96)  # one tile: stream sizes differ as the payloads do
    norm = float((1 << int(a.max() - a.min()).bit_length()) - 1)
    for q in (0, 5):
        lam = load_model("cnn").config["lambdas"][q]
        both = [mic.encode(a, model="cnn", quality=q),
                mic.encode(a, model="cnn", quality=q, regions=False)]
        cost = [8 * len(b) + lam * 255 ** 2 * float(np.sum(((mic.decode(b).astype(float) - a)
                                                            / norm) ** 2)) for b in both]
        assert mic.encode(a, model="cnn", quality=q, effort=4, half_search=False) == \
            both[int(np.argmin(cost))]  # (half_search, also at effort 4: test_conv_half.py)
        assert mic.encode(a, model="cnn", quality=q, region_search=True) in both
    plain = _ct()  # no region: one coding, the same stream at every effort from 3
    assert mic.encode(plain, model="ae", quality=2, effort=4, half_search=False) == \
        mic.encode(plain, model="ae", quality=2)


def test_regions_in_rgb_colour_planes_and_frames():
    rgb = np.asarray(Image.open(DATA / "us_breast_rgb.png"))[:, 64:192]
    a = _barred(rgb, 80, 0)
    d = mic.decode(mic.encode(a, model="cnn", quality=4))
    assert (d[:, :80] == 0).all() and (d[:, -80:] == 0).all()
    frames = np.stack([_barred(_ct()[:, 64:192], 96, 4000), _barred(_ct()[:, 0:128], 96, 7)])
    d = mic.decode(mic.encode(frames, model="vae", quality=2, tile=256))
    assert (d[0, :, :96] == 4000).all() and (d[1, :, -96:] == 7).all()


def test_images_without_regions_are_coded_as_before():
    ct = _ct()
    for model in ("ae", "cnn"):
        assert mic.encode(ct, model=model, quality=2) == \
            mic.encode(ct, model=model, quality=2, regions=False)


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 3), st.sampled_from(["ae", "cnn"]))
def test_every_region_pixel_decodes_exactly(seed, n, model):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1024, (320, 384))
    a = (np.cumsum(np.cumsum(a, 0), 1) // 40000).astype(np.uint16)  # smooth, no flat region
    values = rng.choice(1024, n, replace=False)
    for v in values:  # rectangles of one value; the last drawn stays whole
        y, x = rng.integers(0, 160), rng.integers(0, 200)
        a[y:y + rng.integers(120, 160), x:x + rng.integers(120, 180)] = v
    region = conv_region(a.astype(np.int64), EncoderOptions())
    assert region is not None
    v, m, _ = region
    d = mic.decode(mic.encode(a, model=model, quality=int(rng.integers(0, 8))))
    assert (d[m] == v).all()


# ----------------------------------------------------------------------------- invalid
def test_forged_region_records_are_refused():
    blob = mic.encode(_barred(_ct()[:, 64:192], 96), model="cnn", quality=1)
    flags, lo, bits, start, at, end, stop = _first_plane(blob)
    assert flags & CONV_REGIONS
    head, rest = blob[start:at], blob[end:stop]
    rows, cols = 256, 320
    bar = np.zeros((rows, cols), bool)
    bar[:, :96] = True

    def with_record(record: bytes) -> bytes:
        return conv_with_payload(blob, head + record + rest)

    d = mic.decode(with_record(pack_region_record([5], encode_shape(bar))))
    assert (d[:, :96] == 5).all()
    d = mic.decode(with_record(pack_region_record([0], bytes(4))))  # no region: the fill shows
    ref = mic.decode(blob)
    assert not (d[:, :96] == 0).all() and (d[ref != 0] == ref[ref != 0]).all()
    cases = [
        (pack_region_record([70000], encode_shape(bar)), mic.MicFormatError, "outside"),
        (pack_region_record([-1], encode_shape(bar)), mic.MicFormatError, "outside"),
        (pack_region_record([3], bytes(4)), mic.MicFormatError, "without a shape"),
        (pack_region_record([3], struct.pack("<I", 0xFFFFFFFF)), mic.MicFormatError,
         "whole-tile"),
        (pack_region_record([3], encode_shape(bar)[:-4]), mic.MicError, None),
        (pack_region_record([3], encode_shape(bar[:, :300])), mic.MicError, None),
        (pack_region_record([3], struct.pack("<I", 1 << 20) + bytes(64)), mic.MicTruncatedError,
         None),
    ]
    for record, error, match in cases:
        with pytest.raises(error, match=match):
            mic.decode(with_record(record))



def test_signed_samples_keep_a_negative_region_value():
    lung = np.load(DATA / "ct_lung_i16.npy")  # int16 CT, -2000 outside the scan
    a = _barred(lung, 96, -2000)
    blob = mic.encode(a, model="cnn", quality=3)
    assert _first_plane(blob)[0] & CONV_REGIONS
    d = mic.decode(blob)
    assert d.dtype == np.int16 and (d[:, :96] == -2000).all() and (d[:, -96:] == -2000).all()
    assert len(blob) < len(mic.encode(a, model="cnn", quality=3, regions=False))
