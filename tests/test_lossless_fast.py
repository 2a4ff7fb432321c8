"""The fast lossless coder (model id 3, plane kind 3, SPEC.md 5.6): ``mic.encode(a, effort=1)``
and ``effort=2``, decoded by the one lossless decoder; round trips on the committed images and
on edge shapes, a property test on random arrays, and corrupt or truncated fast streams that
must raise a :class:`MicError` subclass, never crash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mic
from mic.errors import MicError, MicFormatError, MicInputError
from mic.lossless.syntax import FAST_MODEL_ID, MODEL_ID, PLANE_FAST, PLANE_FAST_PALETTE
from mic_test_helpers import load_forge, tile_payloads

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def _images() -> list[tuple[str, np.ndarray]]:
    from PIL import Image

    out = []
    for p in sorted(DATA.glob("*.png")) + [ROOT / "mic" / "data" / "ct_abdomen.png"]:
        with Image.open(p) as im:
            out.append((p.name, np.asarray(im)))
    out.append(("ct_lung_i16.npy", np.load(DATA / "ct_lung_i16.npy")))
    return out


IMAGES = _images()


@pytest.mark.parametrize("effort", [1, 2])
@pytest.mark.parametrize("name,a", IMAGES, ids=[n for n, _ in IMAGES])
def test_round_trip_real_images(name: str, a: np.ndarray, effort: int) -> None:
    blob = mic.encode(a, effort=effort)
    info = mic.info(blob)
    assert info.model_id == FAST_MODEL_ID and info.model == "lossless-fast"
    out = mic.decode(blob)
    assert out.dtype == a.dtype and out.shape == a.shape
    assert np.array_equal(out, a)
    # not far from the default coder (the fast one trades a few per cent for speed)
    assert len(blob) < 1.15 * len(mic.encode(a)) + 300


def test_default_effort_is_not_the_fast_coder() -> None:
    a = IMAGES[0][1]
    for effort in (None, 3):  # model id 20 (SPEC 5.12: 18 with low classes; test_lossless_low)
        assert mic.info(mic.encode(a, effort=effort)).model_id == 22
        assert mic.info(mic.encode(a, effort=effort, nlms=False)).model_id == MODEL_ID
    # near-lossless ignores the lossless effort choice
    b = mic.encode(a, max_error=2, effort=1)
    assert mic.info(b).max_error == 2 and mic.info(b).model_id != FAST_MODEL_ID


def test_ct_smaller_than_jpegls() -> None:
    ic = pytest.importorskip("imagecodecs")
    a = dict(IMAGES)["ct_abdomen.png"]
    assert len(mic.encode(a, effort=1)) < len(ic.jpegls_encode(a))


EDGE = [
    np.zeros((1, 1), np.uint16),
    np.array([[5]], np.int8),
    np.array([[0, 65535], [65535, 0]], np.uint16),
    np.full((5, 6), 7, np.uint16),
    np.full((4, 4, 3), 200, np.uint8),
    np.tile(np.arange(300, dtype=np.uint16), (10, 1)),
]


@pytest.mark.parametrize("a", EDGE, ids=[f"{a.shape}-{a.dtype}" for a in EDGE])
def test_edge_cases(a: np.ndarray) -> None:
    for effort in (1, 2):
        assert np.array_equal(mic.decode(mic.encode(a, effort=effort)), a)


@pytest.mark.parametrize("shape", [(1, 17), (17, 1), (1, 1, 3), (2, 1, 3), (3, 9, 11)])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16])
def test_random_shapes_and_dtypes(shape: tuple[int, ...], dtype: type) -> None:
    info = np.iinfo(dtype)
    rng = np.random.default_rng(sum(shape))
    a = rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)
    if len(shape) == 3 and shape[2] == 3 and np.dtype(dtype).kind == "i":
        a = a.view(np.uint8 if dtype == np.int8 else np.uint16)  # RGB is unsigned
    assert np.array_equal(mic.decode(mic.encode(a, effort=1)), a)


def test_rgb_effort_2_never_larger() -> None:
    a = dict(IMAGES)["us_breast_rgb.png"]
    assert len(mic.encode(a, effort=2)) <= len(mic.encode(a, effort=1))


def test_palette_planes() -> None:
    rng = np.random.default_rng(9)
    levels = np.array([0, 130, 900, 2047, 4095, 60000], np.uint16)
    a = levels[rng.integers(0, 6, (50, 70))]
    blob = mic.encode(a, effort=2)
    assert tile_payloads(blob)[0][1] == PLANE_FAST_PALETTE
    assert np.array_equal(mic.decode(blob), a)
    e1 = mic.encode(a, effort=1)  # effort 1 takes the palette of a sparse plane at once
    assert tile_payloads(e1)[0][1] == PLANE_FAST_PALETTE and np.array_equal(mic.decode(e1), a)
    assert len(blob) <= len(e1)
    # palette planes inside an RGB image
    rgb = np.stack([a % 251, a % 7, a % 13], axis=-1).astype(np.uint8)
    assert np.array_equal(mic.decode(mic.encode(rgb, effort=2)), rgb)


def test_bits_stored_and_frames() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 1024, (3, 20, 24)).astype(np.uint16)
    blob = mic.encode(a, effort=1, bits_stored=10, tile=16)
    assert np.array_equal(mic.decode(blob), a)
    assert np.array_equal(mic.decode(mic.encode(a, effort=1, threads=2)), a)


def test_volume_group_needs_default_effort() -> None:
    a = np.zeros((3, 8, 8), np.uint16)
    with pytest.raises(MicInputError, match="volume"):
        mic.encode(a, effort=1, volume_group=2)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(st.sampled_from([np.uint8, np.int16, np.uint16]),
                  hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=24)))
def test_property_round_trip(a: np.ndarray) -> None:
    assert np.array_equal(mic.decode(mic.encode(a, effort=1)), a)


# ----------------------------------------------------------------------------- bad streams
def _stream(version: int = 2) -> bytes:
    rng = np.random.default_rng(5)
    a = (np.add.outer(np.arange(40), np.arange(48)) * 20 + rng.integers(0, 30, (40, 48)))
    return mic.encode(a.astype(np.uint16), effort=1, stream_version=version)


def test_truncated_streams_raise_mic_errors() -> None:
    blob = _stream()
    for n in list(range(0, len(blob), 7)) + [len(blob) - 1]:
        with pytest.raises(MicError):
            mic.decode(blob[:n])


def test_corrupt_tile_bytes_raise_mic_errors() -> None:
    forge = load_forge()
    blob = _stream()
    span = next(s for s in forge.spans(blob) if s.tag == b"TILE")
    rng = np.random.default_rng(11)
    for pos in range(span.mode_start, span.payload_end):
        for val in (0x00, 0xFF, int(rng.integers(0, 256))):
            b = bytearray(blob)
            if b[pos] == val:
                continue
            b[pos] = val
            try:
                out = mic.decode(forge.refresh_crc(b, span))
            except MicError:
                continue
            assert out.shape == (40, 48)  # a change the stream survives (e.g. padding bits)


def test_fast_plane_refused_under_model_1() -> None:
    forge = load_forge()
    blob = _stream(version=1)
    assert tile_payloads(blob)[0][1] == PLANE_FAST
    with pytest.raises(MicFormatError, match="kind"):
        mic.decode(forge.set_header_fields(blob, model_id=MODEL_ID))


def test_unknown_lossless_model_id_is_unsupported() -> None:
    from mic.errors import MicUnsupportedError

    forge = load_forge()
    with pytest.raises(MicUnsupportedError):
        mic.decode(forge.set_header_fields(_stream(version=1), model_id=9))


@pytest.mark.parametrize("name", ["cr_chest_u8.png", "us_breast_rgb.png", "mr_brain_u16.png",
                                  "us_breast_u8.png"])
def test_effort_4_keeps_the_smaller_coder_per_plane(name):
    """Effort 4 and up: every plane coded by every coder (model id 14, or 13 with
    ``fast_nlms=False``, or 3 without the NLMS filters), never larger than any one's stream
    by more than the header's difference, and exact."""
    from mic.io import read_image

    a, _ = read_image(Path(__file__).parent / "data" / name)
    mixed, default, fast = (mic.encode(a, effort=e) for e in (4, 3, 2))
    m13 = mic.encode(a, effort=3, fast_nlms=False)
    assert mic.info(mixed).model_id == 22  # model 14 with xform 5, priors, bands, low, packed
    assert np.array_equal(mic.decode(mixed), a)
    assert len(mixed) <= min(len(default), len(fast), len(m13)) + 8
    mixed = mic.encode(a, effort=4, fast_nlms=False)
    assert mic.info(mixed).model_id == 13 and np.array_equal(mic.decode(mixed), a)
    assert len(mixed) <= min(len(m13), len(fast)) + 8
    mixed, default = (mic.encode(a, effort=e, nlms=False) for e in (4, 3))
    assert mic.info(mixed).model_id == 3
    assert np.array_equal(mic.decode(mixed), a)
    assert len(mixed) <= min(len(default), len(fast)) + 8


def test_effort_4_volumes_are_model_20_14_or_1():
    vol = (np.arange(3 * 40 * 50).reshape(3, 40, 50) % 997).astype(np.uint16)
    blob = mic.encode(vol, effort=4, volume_group=3)
    assert mic.info(blob).model_id == 22 and np.array_equal(mic.decode(blob), vol)
    blob = mic.encode(vol, effort=4, volume_group=3, priors=False)
    assert mic.info(blob).model_id == 14 and np.array_equal(mic.decode(blob), vol)
    for opts in ({"nlms": False}, {"fast_nlms": False}):  # model 3 and 13 have no volumes
        blob = mic.encode(vol, effort=4, volume_group=3, **opts)
        assert mic.info(blob).model_id == 1 and np.array_equal(mic.decode(blob), vol)


def _lut_spread_plane() -> np.ndarray:
    """A plane whose core values use every other value (a lookup table spread them) while
    rare tail values fill more than half of its whole range."""
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[0:256, 0:320]  # above SMALL_FRAME: effort 3 is model 14 alone
    smooth = np.clip(200 + 150 * np.sin(yy / 40.0) * np.cos(xx / 55.0)
                     + rng.normal(0, 6, (256, 320)), 0, 400).astype(np.int64)
    a = 2 * smooth  # even values 0..800 only
    tail = rng.random((256, 320)) < 0.02
    a[tail] = rng.integers(801, 1300, int(tail.sum()))
    return a.astype(np.uint16)


def test_sparse_core_histogram_takes_a_palette() -> None:
    """More than half of the range used, but under 70 % of the core (SPEC 5.6's note on
    effort 1): every coder offers the palette, and a palette is what codes smallest."""
    from mic.lossless.encoder import core_used, offer_palette
    from mic.lossless.syntax import PLANE_FAST_LMS_PALETTE, PLANE_PALETTE

    a = _lut_spread_plane()
    counts = np.bincount((a - a.min()).ravel())
    assert 2 * np.count_nonzero(counts) > counts.size and core_used(counts) < 0.7
    assert offer_palette(counts)
    for effort, kind, opts in ((1, PLANE_FAST_PALETTE, {}), (2, PLANE_FAST_PALETTE, {}),
                               (3, PLANE_FAST_LMS_PALETTE, {}),
                               (3, PLANE_PALETTE, {"fast_nlms": False})):
        blob = mic.encode(a, effort=effort, **opts)
        assert tile_payloads(blob)[0][1] == kind, effort
        assert np.array_equal(mic.decode(blob), a)
    # too few samples per value of the range: values missing by chance, no palette offered
    small = a[:24, :24]
    c = np.bincount((small - small.min()).ravel())
    assert small.size < 16 * c.size and (2 * np.count_nonzero(c) <= c.size or not offer_palette(c))


def _screen() -> np.ndarray:
    """A 512 x 512 8-bit 'screen': graphics of three grey levels on black in the top half,
    a speckle region below (as ultrasound stores its frames)."""
    rng = np.random.default_rng(3)
    a = np.zeros((512, 512), np.uint8)
    yy, xx = np.mgrid[0:512, 0:512]
    disc = (yy - 390) ** 2 + (xx - 300) ** 2 < 115 ** 2
    a[disc] = np.clip(rng.gamma(2.0, 30.0, int(disc.sum())), 0, 254).astype(np.uint8)
    for _ in range(300):
        y, x = rng.integers(5, 240), rng.integers(5, 500)
        a[y:y + rng.integers(2, 9), x:x + rng.integers(1, 3)] = rng.choice([128, 200, 255])
    return a


def test_default_effort_tries_small_tiles_on_screens() -> None:
    """Efforts 3-4 consider a screen (8-bit, at least half of it one value) whole and in
    128 and 64 tiles, and code the one the fast coder (effort 1) codes smallest; other
    images stay whole at those efforts."""
    from mic.lossless.encoder import is_screen

    a = _screen()
    assert is_screen(a, 8)
    sides = (512, 128, 64)
    first = min(sides, key=lambda t: len(mic.encode(a, effort=1, tile=t)))
    for effort in (None, 4):
        got = mic.encode(a, effort=effort)
        assert got == mic.encode(a, effort=effort, tile=first)
        assert mic.info(got).tile_shape != (512, 512)
        assert np.array_equal(mic.decode(got), a)
    busy = (a.astype(np.uint16) * 16 + 7).astype(np.uint16)  # 12-bit: not a screen
    assert not is_screen(busy, 12)
    assert mic.info(mic.encode(busy)).tile_shape == (512, 512)
    speckle = np.random.default_rng(5).gamma(2.0, 30.0, (512, 512)).clip(0, 255).astype(np.uint8)
    assert not is_screen(speckle, 8) and mic.info(mic.encode(speckle)).tile_shape == (512, 512)
    assert mic.info(mic.encode(a, effort=2)).tile_shape == (512, 512)  # the fast coder


def test_effort_7_also_tries_128_and_64_tiles() -> None:
    """Effort 7 (max) codes an image given no tile size whole and in tiles of 256, 128 and
    64, keeping the smallest stream (the first of equals); it decodes exactly."""
    from mic.lossless.encoder import TILING_SIDES

    a = _screen()
    assert TILING_SIDES[7] == (256, 128, 64) and TILING_SIDES[5] == (256,)
    e7 = mic.encode(a, effort=7)
    each = [mic.encode(a, effort=7, tile=t) for t in (512, 256, 128, 64)]
    assert e7 == min(each, key=len) and len(e7) <= len(mic.encode(a, effort=5))
    assert np.array_equal(mic.decode(e7), a)


def test_effort_5_also_tries_tiles_and_keeps_the_smaller() -> None:
    """From effort 5 a lossless image given no tile size is also coded in 256 x 256 tiles
    (each with its own palette and coder choice): the graphics half takes a palette of its
    own, so the tiled stream wins; effort 4 never tiles; an explicit tile is kept."""
    from mic.lossless.encoder import TILING_SIDE

    a = _screen()
    e4, e5 = mic.encode(a, effort=4, tile=512), mic.encode(a, effort=5)
    assert mic.info(e5).tile_shape == (TILING_SIDE, TILING_SIDE) and len(e5) < len(e4)
    assert np.array_equal(mic.decode(e5), a)
    assert mic.info(mic.encode(a, effort=7, tile=512)).tile_shape == (512, 512)
    smooth = np.add.outer(np.arange(300), np.arange(300)).astype(np.uint16)  # tiles lose
    assert mic.info(mic.encode(smooth, effort=5)).tile_shape == (300, 300)
