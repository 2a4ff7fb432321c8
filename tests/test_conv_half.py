"""Half-resolution conv tiles (SPEC 6.10, xform flag 32): the decoder's fixed upsampling,
the encoder's least-squares half plane, the choice by rate + lambda * distortion through
every conv model (grey, RGB colour planes, regions, odd sizes, frames), the options and
efforts, and forged flags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import mic
from mic.lossy.conv_syntax import CONV_HALF, CONV_REGIONS, ConvFields
from mic.lossy.enc_downsample import _adjoint, box_means, downsample2
from mic.lossy.upsample import half_size, upsample2
from mic_test_helpers import load_forge

DATA = Path(__file__).parent / "data"


def _oversampled(n: int = 64, at: tuple[int, int] = (100, 100)) -> np.ndarray:
    """A crop of the real chest radiograph upsampled 2x: a detector finer than its content,
    as the large radiographs are (``2n x 2n``, uint8)."""
    cr = np.asarray(Image.open(DATA / "cr_chest_u8.png")).astype(np.float64)
    crop = cr[at[0]:at[0] + n, at[1]:at[1] + n]
    return np.clip(np.rint(upsample2(crop, 2 * n, 2 * n)), 0, 255).astype(np.uint8)


def _tile_flags(blob: bytes) -> list[int]:
    forge = load_forge()
    f = ConvFields(blob[8])
    return [f.read_xform(blob, sp.mode_start)[0] for sp in forge.spans(blob) if sp.tag == b"TILE"]


def _psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    return 10 * np.log10(peak ** 2 / np.mean((a.astype(float) - b.astype(float)) ** 2))


# ----------------------------------------------------------------------------- resampling
def test_upsample_keeps_constants_and_ramps():
    assert np.allclose(upsample2(np.full((3, 4), 0.25), 6, 7), 0.25)
    s = np.add.outer(np.arange(8.0), 2 * np.arange(9.0))  # a ramp in half-sample units
    u = upsample2(s, 16, 18)
    full = np.add.outer(np.arange(16) / 2 - 0.25, np.arange(18) - 0.5)  # at full centres
    assert np.allclose(u[4:-4, 4:-4], full[4:-4, 4:-4])  # cubic: exact on ramps inside
    with pytest.raises(ValueError):
        upsample2(np.zeros((3, 3)), 7, 6)
    assert upsample2(np.ones((1, 1)), 1, 2).shape == (1, 2)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**31 - 1))
def test_downsample_adjoint_and_least_squares(h, w, seed):
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(half_size(h), half_size(w)))
    e = rng.normal(size=(h, w))
    assert np.isclose(np.sum(upsample2(s, h, w) * e), np.sum(s * _adjoint(e, *s.shape)))
    x = np.cumsum(rng.normal(size=(h, w)), 1)
    ls = np.sum((upsample2(downsample2(x), h, w) - x) ** 2)
    assert ls <= np.sum((upsample2(box_means(x), h, w) - x) ** 2) + 1e-9


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("model", ["ae", "vae", "cnn", "gan"])
def test_half_resolution_round_trip(model):
    a = _oversampled()
    blob = mic.encode(a, model=model, quality=0, effort=4)
    assert _tile_flags(blob) == [CONV_HALF]
    plain = mic.encode(a, model=model, quality=0, half_search=False, effort=4)
    assert _tile_flags(plain) == [0]
    assert len(blob) < len(plain)
    d = mic.decode(blob)
    assert d.shape == a.shape and d.dtype == a.dtype
    assert _psnr(a, d) > 30
    assert mic.decode(mic.encode(a, model=model, quality=0, half_res=False)) is not None


def test_half_decoder_is_the_spec_upsampling_of_the_coded_plane():
    """The decoded samples are SPEC 6.10's: the plane decoded at half size, clamped,
    upsampled by Keys' cubic, clamped, scaled, rounded."""
    from mic.bitstream import read_stream
    from mic.lossy.dec_conv import ConvTileDecoder

    a = _oversampled()[:127, :125]  # odd sizes: 64 x 63 half planes
    blob = mic.encode(a, model="cnn", quality=0, effort=4)
    assert _tile_flags(blob) == [CONV_HALF]
    st = read_stream(blob)
    dec = ConvTileDecoder(st.header, st)
    buf = memoryview(st.tiles[(0, 0)])
    xform, ((lo, bits, (crc, start, nw), _),) = dec._layout(buf, 127, 125)
    assert xform == CONV_HALF
    x = dec.decode_plane(buf, start, nw, crc, 64, 63)
    assert x.shape == (64, 63)
    v = np.clip(upsample2(x, 127, 125), 0, 1) * ((1 << bits) - 1) + lo
    assert (np.clip(np.rint(v), 0, 255) == mic.decode(blob)).all()


def test_half_resolution_with_regions_colour_and_frames():
    a = _oversampled()
    barred = np.concatenate([np.zeros((128, 64), np.uint8), a], axis=1)
    blob = mic.encode(barred, model="cnn", quality=0, effort=4)
    assert _tile_flags(blob) == [CONV_HALF | CONV_REGIONS]
    assert (mic.decode(blob)[:, :64] == 0).all()  # the region is written at full size
    rgb = np.stack([a, a // 2 + 60, 255 - a], axis=-1)
    blob = mic.encode(rgb, model="ae", quality=0, effort=4)
    assert _tile_flags(blob) == [1 | CONV_HALF]  # xform 1, the colour planes
    assert _psnr(rgb, mic.decode(blob)) > 28
    frames = np.stack([a, a[::-1]])
    blob = mic.encode(frames, model="vae", quality=0, effort=4)
    assert _tile_flags(blob) == [CONV_HALF, CONV_HALF]
    assert mic.decode(blob).shape == frames.shape


def test_effort_three_tries_half_resolution_only_in_large_images():
    a = _oversampled()
    assert mic.encode(a, model="cnn", quality=0) == \
        mic.encode(a, model="cnn", quality=0, half_res=False)  # under 1024 on a side
    cr = np.asarray(Image.open(DATA / "cr_chest_u8.png")).astype(np.float64)  # 320 x 320
    big = np.clip(np.rint(upsample2(upsample2(cr, 640, 640), 1280, 1280)[:1024, 128:1152]),
                  0, 255).astype(np.uint8)  # the radiograph sampled 4x finer, 1024 x 1024
    blob = mic.encode(big, model="cnn", quality=0)
    flags = _tile_flags(blob)
    assert len(flags) == 4 and any(f & CONV_HALF for f in flags)
    assert mic.encode(big, model="cnn", quality=0, effort=2) == \
        mic.encode(big, model="cnn", quality=0, half_res=False)  # half_res from effort 3
    assert _psnr(big, mic.decode(blob)) > 30


def test_half_resolution_options_are_refused_by_the_wavelet_models():
    a = _oversampled()
    for kw in ({"half_res": True}, {"half_search": False}):
        with pytest.raises(mic.MicInputError, match="conv models"):
            mic.encode(a, quality=3, **kw)


# ----------------------------------------------------------------------------- invalid
def test_forged_half_flags_are_refused():
    forge = load_forge()
    a = _oversampled()
    for blob in (mic.encode(a, model="cnn", quality=3, half_res=False),
                 mic.encode(a, model="cnn", quality=0, effort=4)):
        sp = next(s for s in forge.spans(blob) if s.tag == b"TILE")
        flags = _tile_flags(blob)[0]
        for new, error in ((flags ^ CONV_HALF, mic.MicError), (flags | 64, mic.MicFormatError)):
            f = ConvFields(blob[8])
            _, off = f.read_xform(blob, sp.mode_start)
            payload = f.pack_xform(new) + blob[off:sp.payload_end]
            forged = blob[:sp.start] + forge.segment_like(
                blob, b"TILE", blob[sp.payload_start:sp.mode_start] + payload) + blob[sp.end:]
            with pytest.raises(error):
                mic.decode(forged)
