"""Exact samples in conv tiles (SPEC 6.10, xform flag 64): lossless planes after the planes
whose non-zero values set samples exactly (a screen's text and graphics).  The decoder's
rule recomputed, the encoder's choice through the conv models (grey, RGB colour planes,
16 bits, frames), the options and efforts, the gate, and forged planes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mic
from mic.lossless.encoder_fast import encode_plane_fast
from mic.lossless.syntax import PLANE_CONST, plane_head
from mic.lossy.conv_syntax import CONV_EXACT, ConvFields
from mic.lossy.enc_conv import EXACT_GATE, thin_fraction
from mic_test_helpers import conv_with_payload, load_formats_module, tile_payloads, tile_xforms

DATA = Path(__file__).parent / "data"


def screen(colour: int | tuple = 255, rgb: bool = False) -> np.ndarray:
    """A real ultrasound crop under a black band of glyph-like strokes and a marker (the
    conformance vectors' screen, ``formats/make_conv_vectors._screen``)."""
    a = np.asarray(Image.open(DATA / ("us_breast_rgb.png" if rgb else "us_breast_u8.png")))
    return load_formats_module("make_conv_vectors.py")._screen(a[100:164, 120:216], colour)


def test_thin_fraction_finds_strokes_not_edges():
    a = np.zeros((64, 64), np.int64)
    a[:, 32:] = 4095  # a straight step edge of full contrast: not thin
    assert thin_fraction(a, 4095) == 0.0
    a[10, :] = 2000  # a line 1 wide across both sides
    assert thin_fraction(a, 4095) > 0.01
    assert thin_fraction(np.zeros((4, 4)), 255) == 0.0
    assert thin_fraction(screen(), 255) > EXACT_GATE


@pytest.mark.parametrize("model,quality", [("cnn", 3), ("vae", 4), ("ae", 5), ("gan", 3)])
def test_text_decodes_exactly_where_it_pays(model, quality):
    a = screen()
    blob = mic.encode(a, quality=quality, model=model)
    plain = mic.encode(a, quality=quality, model=model, exact_samples=False)
    assert all(f & CONV_EXACT for f in tile_xforms(blob)) and not any(
        f & CONV_EXACT for f in tile_xforms(plain))
    d, dp = mic.decode(blob), mic.decode(plain)
    strokes = a == 255
    assert np.abs(dp[strokes].astype(int) - 255).max() > 60  # the transform blurs them
    assert np.abs(d.astype(int) - a).max() < np.abs(dp.astype(int) - a).max()
    err = lambda x: np.mean((x.astype(float) - a) ** 2)  # noqa: E731
    assert err(d) < 0.7 * err(dp)
    assert mic.info(blob).model == model


def test_decoder_rule_recomputed():
    """The samples equal the tile decoded without the flag and its planes, then every
    sample whose plane value c > 0 set to c - 1 + the sample range's low end (SPEC 6.10)."""
    from mic.lossless.decoder import decode_coded
    from mic.lossless.syntax import parse_plane

    a = screen()
    blob = mic.encode(a, quality=3, model="cnn")
    plain = mic.encode(a, quality=3, model="cnn", exact_samples=False)
    (full,), (body,) = tile_payloads(blob), tile_payloads(plain)
    f = ConvFields(blob[8])
    _, off = f.read_xform(full, 0)
    _, poff = f.read_xform(body, 0)
    end = off + len(body) - poff
    assert full[off:end] == body[poff:]  # the plain tile's planes, then the exact planes
    exact = full[end:]
    ph = parse_plane(memoryview(exact), 0, *a.shape, 3)
    c = decode_coded(memoryview(exact), ph, *a.shape)
    want = mic.decode(plain).astype(np.int64)
    want[c > 0] = c[c > 0] - 1
    assert np.array_equal(mic.decode(blob), want)
    assert np.array_equal(mic.decode(blob)[c > 0], a[c > 0])


def test_rgb_sixteen_bits_and_frames():
    rgb = screen((255, 255, 0), rgb=True)
    blob = mic.encode(rgb, quality=5, model="vae")
    assert all(f & CONV_EXACT for f in tile_xforms(blob)) and mic.decode(blob).shape == rgb.shape
    ct = (screen().astype(np.uint16) * 16)  # 12 bits stored
    b16 = mic.encode(ct, quality=3, model="cnn", bits_stored=12)
    d = mic.decode(b16)
    assert all(f & CONV_EXACT for f in tile_xforms(b16)) and d.dtype == np.uint16
    assert (d <= 4095).all()
    frames = np.stack([screen(), screen()[::-1].copy()])
    bf = mic.encode(frames, quality=3, model="cnn")
    assert np.array_equal(mic.decode(bf)[0], mic.decode(mic.encode(screen(), quality=3,
                                                                     model="cnn")))


def test_options_efforts_and_the_gate():
    a = screen()
    assert not any(f & CONV_EXACT for f in tile_xforms(mic.encode(a, quality=3, model="cnn",
                                                               effort=2)))
    assert any(f & CONV_EXACT for f in tile_xforms(mic.encode(a, quality=3, model="cnn",
                                                           effort=2, exact_samples=True)))
    ct = np.asarray(Image.open(DATA / "ct_abdomen_u16.png"))[64:192, 64:192]
    assert thin_fraction(ct, 4095) < EXACT_GATE  # no strokes: never decoded twice
    assert not any(f & CONV_EXACT for f in tile_xforms(mic.encode(ct, quality=3, model="cnn")))
    with pytest.raises(mic.MicInputError):
        mic.encode(a, quality=3, model="wavelet-hyperprior", exact_samples=True)


def _forged(extra: bytes) -> bytes:
    a = screen()
    plain = mic.encode(a, quality=3, model="cnn", exact_samples=False)
    (payload,) = tile_payloads(plain)
    f = ConvFields(plain[8])
    flags, off = f.read_xform(payload, 0)
    return conv_with_payload(plain, f.pack_xform(flags | CONV_EXACT) + payload[off:] + extra)


def test_constant_exact_planes():
    a = screen()
    plain = mic.decode(mic.encode(a, quality=3, model="cnn", exact_samples=False))
    assert np.array_equal(mic.decode(_forged(plane_head(PLANE_CONST, 0))), plain)
    assert (mic.decode(_forged(plane_head(PLANE_CONST, 8))) == 7).all()
    assert (mic.decode(_forged(plane_head(PLANE_CONST, 256))) == 255).all()


@pytest.mark.parametrize("extra,what", [
    (plane_head(PLANE_CONST, 257), "beyond the sample range"),
    (plane_head(PLANE_CONST, -1), "negative"),
    (b"", "missing"),
    (plane_head(PLANE_CONST, 0) + b"\x00", "trailing byte"),
])
def test_forged_exact_planes_are_refused(extra, what):
    with pytest.raises(mic.MicFormatError):
        mic.decode(_forged(extra))


def test_a_coded_plane_with_a_value_beyond_the_range_is_refused():
    c = np.zeros(screen().shape, np.int32)
    c[5, 5] = 300  # 300 - 1 > 255
    with pytest.raises(mic.MicFormatError):
        mic.decode(_forged(encode_plane_fast(c, 2, lms=True, prior=True)))
