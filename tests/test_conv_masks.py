"""Constant-region masks of the conv models' tiles (SPEC 6.10, xform flag 16): the encoder's
rule and fill, exact masked pixels through every conv model, grey, RGB and frames, the
option, and the decoder's refusals of forged mask records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mic
from mic.bitstream.varint import pack_uvarint
from mic.lossy.conv_syntax import CONST_BITS, CONV_MASKS, ConvFields, pack_masks, read_masks
from mic.lossy.enc_conv_masks import constant_regions, fill_masked, opening, pack_mask
from mic_test_helpers import conv_with_payload, load_forge
from PIL import Image

DATA = Path(__file__).parent / "data"


def _ct() -> np.ndarray:
    return np.asarray(Image.open(DATA / "ct_abdomen_u16.png"))


def _barred(a: np.ndarray, side: int, value: int = 0) -> np.ndarray:
    """A real image between two bars of one value, as MR series are padded."""
    bar = np.full((a.shape[0], side) + a.shape[2:], value, a.dtype)
    return np.concatenate([bar, a, bar], axis=1)


def _tile(blob: bytes) -> tuple[int, list[tuple[int, int, int, list]]]:
    """(xform flags, [(lo, bits, payload offset of its norm record, masks)]) of the first
    tile of a grey conv stream."""
    forge = load_forge()
    sp = next(s for s in forge.spans(blob) if s.tag == b"TILE")
    f = ConvFields(blob[8])
    flags, off = f.read_xform(blob, sp.mode_start)
    lo, bits, off2 = f.read_norm(blob, off)
    masks: list = []
    if flags & CONV_MASKS and bits != CONST_BITS:
        masks, _ = read_masks(blob, off2, lo)
    return flags, [(lo, bits, off, masks)]


# ----------------------------------------------------------------------------- encoder
def test_opening_keeps_solid_regions_only():
    m = np.zeros((40, 40), bool)
    m[5:25, 3:30] = True
    m[30, :] = True  # a line: no 4 x 4 square
    m[35:37, 35:37] = True  # a 2 x 2 speck
    o = opening(m)
    assert o[5:25, 3:30].all() and o.sum() == 20 * 27
    assert opening(np.ones((3, 3), bool)).sum() == 0  # smaller than the square


def _opening_reference(m: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros_like(m)
    for i in range(m.shape[0] - k + 1):
        for j in range(m.shape[1] - k + 1):
            if m[i:i + k, j:j + k].all():
                out[i:i + k, j:j + k] = True
    return out


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 30), st.integers(1, 30), st.floats(0.4, 0.98), st.integers(1, 17),
       st.integers(0, 2**32 - 1))
def test_opening_matches_its_definition(h, w, density, k, seed):
    m = np.random.default_rng(seed).random((h, w)) < density
    assert np.array_equal(opening(m, k), _opening_reference(m, k))


def test_constant_regions_rule():
    rng = np.random.default_rng(0)
    p = rng.integers(100, 200, (256, 256))
    p[:, :64] = 0  # a bar
    p[160:, 80:] = 4095  # a saturated corner
    got = constant_regions(p, 3)
    assert [(v, int(m.sum())) for v, m, _ in got] == [(4095, 96 * 176), (0, 16384)]
    for v, m, coded in got:
        assert (p[m] == v).all() and coded == pack_mask(m)
    # a value scattered over a noisy background: its mask would cost more than it saves
    noisy = rng.integers(0, 3, (256, 256))
    assert constant_regions(noisy, 3) == []
    assert constant_regions(np.zeros((64, 64), int), 3) == []  # below 0.02 bits a pixel
    assert len(constant_regions(p, 1)) == 1


def test_fill_is_smooth_and_keeps_known_pixels():
    ct = _ct().astype(np.float64)
    unknown = np.zeros(ct.shape, bool)
    unknown[40:120, 60:200] = True
    f = fill_masked(ct, unknown)
    assert np.array_equal(f[~unknown], ct[~unknown])
    known = ct[~unknown]
    assert known.min() <= f[unknown].min() and f[unknown].max() <= known.max()
    # smooth: much smaller steps between neighbours inside the hole than in the image
    inner = f[41:119, 61:199]
    assert np.abs(np.diff(inner, axis=1)).mean() < 0.5 * np.abs(np.diff(ct, axis=1)).mean()
    assert np.array_equal(fill_masked(ct, np.ones(ct.shape, bool)), ct)  # nothing known


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("model", ["ae", "vae", "cnn", "gan"])
def test_bars_decode_exactly(model):
    a = _barred(_ct()[:, 32:224], 96)
    blob = mic.encode(a, model=model, quality=3)
    flags, planes = _tile(blob)
    assert flags & CONV_MASKS and [v for v, _, _ in planes[0][3]] == [0]
    d = mic.decode(blob)
    assert (d[:, :96] == 0).all() and (d[:, -96:] == 0).all()
    plain = mic.encode(a, model=model, quality=3, conv_masks=False)
    assert not _tile(plain)[0] & CONV_MASKS
    dp = mic.decode(plain)
    assert len(blob) < len(plain)  # the step edges cost the model more than the mask
    mse = [float(np.mean((x.astype(float) - a) ** 2)) for x in (d, dp)]
    assert mse[0] < mse[1]


def test_masks_in_rgb_colour_planes_and_frames():
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
            mic.encode(ct, model=model, quality=2, conv_masks=False)


def test_conv_masks_option_is_refused_by_the_wavelet_models():
    with pytest.raises(mic.MicInputError, match="conv_masks=False applies to the conv"):
        mic.encode(_ct(), quality=3, conv_masks=False)
    mic.encode(_ct()[:64, :64], quality=3, conv_masks=True)  # the default: accepted


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 3), st.sampled_from(["ae", "cnn"]))
def test_every_masked_pixel_decodes_exactly(seed, n, model):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1024, (320, 384))
    a = (np.cumsum(np.cumsum(a, 0), 1) // 40000).astype(np.uint16)  # smooth, no flat region
    values = rng.choice(1024, n, replace=False)
    for v in values:  # rectangles of one value; the last drawn stays whole
        y, x = rng.integers(0, 160), rng.integers(0, 200)
        a[y:y + rng.integers(120, 160), x:x + rng.integers(120, 180)] = v
    regions = constant_regions(a.astype(np.int64), 3)
    assert regions
    d = mic.decode(mic.encode(a, model=model, quality=int(rng.integers(0, 8))))
    for v, m, _ in regions:
        assert (d[m] == v).all()


# ----------------------------------------------------------------------------- invalid
def _masked_stream() -> tuple[bytes, bytes, bytes, int, int]:
    """A cnn stream with one mask: (stream, payload head = flags + norm, rest after the
    mask record, lo, bits)."""
    blob = mic.encode(_barred(_ct()[:, 64:192], 96), model="cnn", quality=1)
    forge = load_forge()
    sp = next(s for s in forge.spans(blob) if s.tag == b"TILE")
    f = ConvFields(blob[8])
    flags, off = f.read_xform(blob, sp.mode_start)
    lo, bits, off = f.read_norm(blob, off)
    masks, end = read_masks(blob, off, lo)
    assert flags & CONV_MASKS and len(masks) == 1
    return blob, blob[sp.mode_start:off], blob[end:sp.payload_end], lo, bits


def test_forged_mask_records_are_refused():
    blob, head, rest, lo, bits = _masked_stream()
    rows, cols = 256, 320
    good = pack_mask(np.zeros((rows, cols), bool))

    def with_masks(record: bytes) -> bytes:
        return conv_with_payload(blob, head + record + rest)

    assert mic.decode(with_masks(pack_masks(lo, [(lo, good)]))).shape == (rows, cols)
    cases = [
        (pack_masks(lo, [(lo, good)] * 4), mic.MicFormatError, "4 masks"),
        (pack_masks(lo, [(lo + (1 << bits), good)]), mic.MicFormatError, "mask value"),
        (pack_masks(lo, [(lo, good[:-2])]), mic.MicFormatError, "mask"),
        (pack_masks(lo, [(lo, b"not a zstd frame")]), mic.MicFormatError, "zstd"),
        (pack_masks(lo, [(lo, pack_mask(np.zeros((rows, cols - 8), bool)))]),
         mic.MicFormatError, "size"),
        (pack_masks(lo, [(lo, pack_mask(np.zeros((rows * cols + 3,), bool)))]),
         mic.MicFormatError, "mask claims"),
        (pack_uvarint(1) + pack_uvarint(0) + pack_uvarint(len(good) + 50) + good,
         mic.MicError, None),
    ]
    for record, error, match in cases:
        with pytest.raises(error, match=match):
            mic.decode(with_masks(record))


def test_a_set_padding_bit_is_refused():
    """Each mask row is padded to a whole byte with zero bits (SPEC 6.10)."""
    import zstandard

    a = _barred(_ct()[:100, 64:193], 96)  # 100 x 321: 7 padding bits a row
    blob = mic.encode(a, model="cnn", quality=1)
    forge = load_forge()
    sp = next(s for s in forge.spans(blob) if s.tag == b"TILE")
    f = ConvFields(blob[8])
    flags, off = f.read_xform(blob, sp.mode_start)
    assert flags & CONV_MASKS
    lo, _, off = f.read_norm(blob, off)
    masks, end = read_masks(blob, off, lo)
    assert [v for v, _, _ in masks] == [0]
    d = mic.decode(blob)
    assert (d[:, :96] == 0).all() and (d[:, -96:] == 0).all()
    rows = np.zeros((100, 328), bool)
    rows[7, 325] = True  # past the row's 321 bits

    def frame(m: np.ndarray) -> bytes:
        return zstandard.ZstdCompressor().compress(np.packbits(m, axis=1).tobytes())

    head, rest = blob[sp.mode_start:off], blob[end:sp.payload_end]
    assert mic.decode(conv_with_payload(
        blob, head + pack_masks(lo, [(lo, frame(rows[:, :321]))]) + rest)).shape == a.shape
    with pytest.raises(mic.MicFormatError, match="padding bit"):
        mic.decode(conv_with_payload(blob, head + pack_masks(lo, [(lo, frame(rows))]) + rest))
