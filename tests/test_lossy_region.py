"""Constant regions of the lossy mode (SPEC 6.6) with the shipped weights: the encoder
uses one where it pays, the region decodes exactly, ``regions=False`` turns it off, and
broken region records raise clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("safetensors")

import mic  # noqa: E402
from mic.io import read_image  # noqa: E402
from mic.lossy import (  # noqa: E402
    REGION, XFORM_NONE, XFORM_REGION, XFORM_YCC_REGION, TileFields,
)
from mic.models.weights import REGISTRY_FILE  # noqa: E402
from mic_test_helpers import cli_xforms_with_and_without, load_forge, tile_payloads  # noqa: E402,E501

if not REGISTRY_FILE.is_file():
    pytest.skip("no shipped weights in this checkout", allow_module_level=True)

DATA = Path(__file__).parent / "data"
forge = load_forge()


def mr_with_bars(pedestal: int = 300, bar: int = 32) -> np.ndarray:
    """The test MR slice on a pedestal between black bars (as a resized MR is stored)."""
    a, _ = read_image(DATA / "mr_brain_u16.png")
    out = np.zeros((a.shape[0], a.shape[1] + 2 * bar), np.uint16)
    out[:, bar:-bar] = a + pedestal
    return out


def layout(tile: bytes) -> int:
    """The tile's xform without the table-bias flag (SPEC 6.1)."""
    return tile[0] & 3


def sse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sum((a.astype(np.float64) - b.astype(np.float64)) ** 2))


@pytest.mark.parametrize("quality", [1, 5])
def test_bars_are_coded_as_a_region_and_decode_exactly(quality):
    img = mr_with_bars()
    with_r = mic.encode(img, effort=7, quality=quality)
    without = mic.encode(img, effort=7, quality=quality, regions=False)
    assert layout(tile_payloads(with_r)[0]) == XFORM_REGION
    assert layout(tile_payloads(without)[0]) == XFORM_NONE
    out = mic.decode(with_r)
    assert (out[:, :32] == 0).all() and (out[:, -32:] == 0).all()
    # the encoder's choice: lower rate + lambda * distortion than without the region
    lam = mic.lossy.load_model("wavelet-context").config["lambdas"][quality] * 255.0 ** 2 / 4095.0 ** 2
    j_with = 8 * len(with_r) + lam * sse(out, img)
    j_without = 8 * len(without) + lam * sse(mic.decode(without), img)
    assert j_with < j_without


@pytest.mark.parametrize("quality", [2, 6])
def test_rule_takes_the_exact_bar_where_the_smooth_one_leaves_a_strip(quality):
    """Effort 3's region rule: a thin line of another value inside a black bar leaves a
    6-pixel strip of 0 beside the image, which the smoothest opening (radius 6) drops;
    its exact shape costs little more, so the rule takes it (region_rule_exact_ratio 3)
    and fills the strip too: fewer bytes, and the whole bar decodes exactly."""
    img = mr_with_bars(pedestal=1800, bar=64)
    img[:, 57] = 5
    smooth = mic.encode(img, quality=quality, options=mic.EncoderOptions(
        region_rule_exact_ratio=0))
    exact = mic.encode(img, quality=quality)  # the default ratio, 3
    assert layout(tile_payloads(smooth)[0]) == layout(tile_payloads(exact)[0]) == XFORM_REGION
    out_s, out_e = mic.decode(smooth), mic.decode(exact)
    assert (out_e[:, 58:64] == 0).all() and (out_e[:, :57] == 0).all()
    assert not (out_s[:, 58:64] == 0).all()  # the strip is coded, ringing and all
    assert len(exact) < len(smooth)
    assert sse(out_e, img) <= 1.5 * sse(out_s, img)


@pytest.mark.parametrize("quality", [2, 6])
def test_effort_4_search_weighs_the_rule_candidate(quality):
    """Effort 4's region search (the smoothest candidate alone) codes the rule's candidate
    against the plain coding: the exact bar where the rule takes it, so the search never
    gives up the strip the rule fills (on the train sample the smoothest alone cost a lung
    CT 10 %)."""
    img = mr_with_bars(pedestal=1800, bar=64)
    img[:, 57] = 5
    e4 = mic.encode(img, quality=quality, effort=4, model="wavelet-context-fast",
                    restore_search=False)
    e3 = mic.encode(img, quality=quality)
    assert layout(tile_payloads(e4)[0]) == XFORM_REGION
    assert e4 == e3  # here the search keeps what the rule takes
    out = mic.decode(e4)
    assert (out[:, 58:64] == 0).all() and (out[:, :57] == 0).all()


def test_rule_skips_a_region_whose_edge_is_fainter_than_the_coding_error():
    """A field of view padded with 0 beside air at 26 (12-bit): at a low quality the
    edge costs the wavelet less than the region's shape, and the rule codes the plane
    plainly (region_rule_contrast); at a high one, or with the test off, it takes it."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:256, :256]
    img = (26 + rng.integers(0, 3, (256, 256)) + 800 * ((yy - 128) ** 2 + (xx - 128) ** 2
                                                        < 70 ** 2)).astype(np.uint16)
    img[(yy - 128) ** 2 + (xx - 128) ** 2 > 120 ** 2] = 0
    img[0, 0] = 4095  # a 12-bit span
    low = mic.encode(img, quality=1)
    assert layout(tile_payloads(low)[0]) == XFORM_NONE
    off = mic.encode(img, quality=1, options=mic.EncoderOptions(region_rule_contrast=0))
    assert layout(tile_payloads(off)[0]) == XFORM_REGION
    assert len(low) < len(off)
    high = mic.encode(img, quality=11)
    assert layout(tile_payloads(high)[0]) == XFORM_REGION
    assert (mic.decode(high)[img == 0] == 0).all()


def test_rule_keeps_the_smoothest_candidates_value():
    """The exact-shape test weighs the exact region *of the smoothest candidate's value*:
    a frequent level of the anatomy whose exact pixels cover more than the black bars
    (here 128 in 3 x 3 blocks over half the image, as an MR reduced to 8 bits has) is
    never a region by rule; its scattered shape would cost more than the whole plane."""
    from mic.lossy.enc_region import constant_regions, rule_candidate

    rng = np.random.default_rng(5)
    img = np.zeros((256, 256), np.uint8)
    inner = rng.integers(110, 135, (256 // 3 + 1, 256 // 3 + 1)).astype(np.uint8)
    inner[rng.random(inner.shape) < 0.55] = 128
    img[:, 24:232] = np.kron(inner, np.ones((3, 3), np.uint8))[:256, 24:232]
    assert constant_regions(img, (1,))[0][0] == (128,)  # the exact opening prefers 128
    (values, m, _), = rule_candidate(img[:, :, None], 3.0)
    assert values == (0,) and (m == (img == 0)).all()


def test_region_in_some_tiles_frames_and_signed_data():
    img = mr_with_bars().astype(np.int32) - 2000  # signed, the bars at -2000
    img = np.clip(img, -2048, 2047).astype(np.int16)
    stack = np.stack([img, img[::-1]])
    blob = mic.encode(stack, effort=7, quality=4, tile=128)
    kinds = [layout(t) for t in tile_payloads(blob)]
    assert XFORM_REGION in kinds
    out = mic.decode(blob)
    assert out.dtype == np.int16 and out.shape == stack.shape
    bars = stack == -2000
    # tiles decide alone (those where the region does not pay code it lossily)
    assert np.mean(out[bars] == -2000) > 0.5
    # a region decodes alone too
    assert (mic.decode(blob, region=(0, 64, 0, 64)) == out[:, :64, :64]).all()


def test_images_without_a_constant_region_are_unchanged():
    a, _ = read_image(DATA / "cr_chest_u8.png")
    blob = mic.encode(a, effort=7, quality=3)
    assert all(layout(t) == XFORM_NONE for t in tile_payloads(blob))
    assert blob == mic.encode(a, effort=7, quality=3, regions=False)


def _forge_region(blob: bytes, edit) -> bytes:  # noqa: ANN001
    sp = next(s for s in forge.spans(blob) if s.tag == b"TILE")
    b = bytearray(blob)
    f = TileFields(blob[8])
    p = blob[sp.mode_start:sp.payload_end]
    at = sp.mode_start + f.read_norm(p, f.read_xform(p, 0)[1])[2]  # the first region record
    edit(b, at)
    return forge.refresh_crc(b, sp)


def test_broken_region_records_raise_clear_errors():
    blob = mic.encode(mr_with_bars(), effort=7, quality=4)
    assert layout(tile_payloads(blob)[0]) == XFORM_REGION

    def value(v):
        return lambda b, at: b.__setitem__(slice(at, at + 4), REGION.pack(v))

    with pytest.raises(mic.MicFormatError, match="outside the sample range"):
        mic.decode(_forge_region(blob, value(70000)))
    with pytest.raises(mic.MicFormatError, match="outside the sample range"):
        mic.decode(_forge_region(blob, value(-1)))

    def no_shape_with_value(b, at):
        b[at:at + 4] = REGION.pack(5)
        b[at + 4:at + 8] = (0).to_bytes(4, "little")

    with pytest.raises(mic.MicFormatError, match="without a shape"):
        mic.decode(_forge_region(blob, no_shape_with_value))

    def huge_count(b, at):
        b[at + 4:at + 8] = (10 ** 9).to_bytes(4, "little")

    with pytest.raises(mic.MicTruncatedError):
        mic.decode(_forge_region(blob, huge_count))

    def flip_shape(b, at):
        b[at + 8] ^= 0xFF

    with pytest.raises(mic.MicError):
        mic.decode(_forge_region(blob, flip_shape))


def test_colour_layout_in_a_grey_tile_is_refused():
    blob = mic.encode(mr_with_bars(), effort=7, quality=2)

    sp = next(s for s in forge.spans(blob) if s.tag == b"TILE")
    assert blob[sp.mode_start] & 3 == XFORM_REGION  # a one-byte xform (under 128)

    def rgb_layout(b, at):
        b[sp.mode_start] = (b[sp.mode_start] & ~3) | XFORM_YCC_REGION

    with pytest.raises(mic.MicFormatError, match="without 3 samples"):
        mic.decode(_forge_region(blob, rgb_layout))


def test_cli_no_regions(tmp_path):
    from PIL import Image

    src = tmp_path / "mr.png"
    Image.fromarray(mr_with_bars()).save(src)
    on, off = cli_xforms_with_and_without(tmp_path, src, 3, "--no-regions")
    assert on & 3 == XFORM_REGION
    assert off & 3 == XFORM_NONE


def _region_masks(blob: bytes, rows: int, cols: int) -> list[tuple[int, np.ndarray]]:
    """(value, mask) of every region record of a one-tile grey stream."""
    from mic.entropy.shape import decode_shape_at

    p = memoryview(tile_payloads(blob)[0])
    f = TileFields(blob[8])
    xform, at = f.read_xform(p, 0)
    if xform & 3 != XFORM_REGION:
        return []
    at = f.read_norm(p, at)[2]
    (value,) = REGION.unpack_from(p, at)
    mask, _ = decode_shape_at(p, at + REGION.size, rows, cols)
    return [(value, mask)]


@settings(max_examples=25, deadline=None)
@given(st.integers(24, 96), st.integers(24, 96), st.integers(0, 2 ** 32 - 1),
       st.integers(0, 11))
def test_regions_are_subsets_of_their_value_and_decode_exactly(h, w, seed, quality):
    rng = np.random.default_rng(seed)
    v = int(rng.integers(0, 4096))
    img = np.full((h, w), v, np.uint16)
    r0, c0 = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
    r1, c1 = int(rng.integers(r0 + 4, h + 1)), int(rng.integers(c0 + 4, w + 1))
    yy, xx = np.mgrid[r0:r1, c0:c1]
    img[r0:r1, c0:c1] = np.clip(2000 + 900 * np.sin(yy / 7.0) * np.cos(xx / 5.0)
                                + rng.normal(0, 40, yy.shape), 0, 4095).astype(np.uint16)
    blob = mic.encode(img, effort=7, quality=quality, bits_stored=12)
    out = mic.decode(blob)
    assert out.shape == img.shape and out.dtype == img.dtype
    for value, mask in _region_masks(blob, h, w):
        assert value == v and (img[mask] == v).all() and (out[mask] == v).all()


def test_constant_tiles_cost_a_record_and_decode_exactly():
    img = mr_with_bars()  # the left 32-column bar is a column of whole 32 x 32 tiles
    blob = mic.encode(img, effort=7, quality=4, tile=32)
    out = mic.decode(blob)
    assert (out[:, :32] == 0).all()
    f = TileFields(blob[8])
    sizes = [len(t) for t in tile_payloads(blob)]
    record = len(f.pack_xform(XFORM_REGION)) + len(f.pack_norm(0, 1)) + 8  # value 0, u32 flag
    whole = [t for t in tile_payloads(blob) if len(t) == record]
    assert len(whole) >= img.shape[0] // 32  # every tile row of the left bar
    assert min(sizes) == record
    flat = np.full((70, 90, 3), (10, 200, 30), np.uint8)
    assert (mic.decode(mic.encode(flat, effort=7, quality=2)) == flat).all()
    assert len(tile_payloads(mic.encode(flat, effort=7, quality=2))[0]) == 1 + sum(
        len(f.pack_norm(v, 1)) for v in (10, 200, 30)) + 16
    for version in (1, 2):  # v1: fixed-width xform u8 and norms (lo i32, bits u8)
        g = TileFields(version)
        assert len(tile_payloads(mic.encode(flat, effort=7, quality=2, stream_version=version))[0]) == \
            len(g.pack_xform(XFORM_YCC_REGION)) + sum(len(g.pack_norm(v, 1)) for v in (10, 200, 30)) + 16
    assert len(TileFields(1).pack_norm(10, 1)) == 5
    signed = np.full((40, 40), -1234, np.int16)
    assert (mic.decode(mic.encode(signed, effort=7, quality=0)) == -1234).all()


def test_whole_tile_record_with_a_bad_value_is_refused():
    blob = mic.encode(np.full((64, 64), 100, np.uint16), effort=7, quality=3, bits_stored=12)

    def value(b, at):
        b[at:at + 4] = REGION.pack(5000)  # beyond 12 bits

    with pytest.raises(mic.MicFormatError, match="outside the sample range"):
        mic.decode(_forge_region(blob, value))
