"""Property tests of the lossless round trip over dtypes, shapes, bit depths and value ranges."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import mic
from mic.codec import bits_used, sample_range, samples_crc32

DTYPES = [np.uint8, np.uint16, np.int8, np.int16]
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

side = st.one_of(st.integers(1, 4), st.integers(1, 40), st.sampled_from([1, 2, 3, 17, 31, 64]))


@st.composite
def images(draw, *, layouts=("rc", "frc", "rcs", "frcs"), max_frames=3):
    """An array, the bits_stored to pass (or None), and the photometric to pass (or None)."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    signed = dtype.kind == "i"
    bits_alloc = 8 * dtype.itemsize
    layout = draw(st.sampled_from(layouts))
    r, c = draw(side), draw(side)
    f = draw(st.integers(1, max_frames))
    shape = {"rc": (r, c), "frc": (f, r, c), "rcs": (r, c, 3), "frcs": (f, r, c, 3)}[layout]
    bits = draw(st.integers(2 if signed else 1, bits_alloc))
    lo, hi = sample_range(bits, signed)
    kind = draw(st.sampled_from(["const", "noise", "ramp", "sparse", "edges", "extremes"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = int(np.prod(shape))
    if kind == "const":
        a = np.full(shape, draw(st.integers(lo, hi)), np.int64)
    elif kind == "noise":
        a = rng.integers(lo, hi, n, endpoint=True).reshape(shape)
    elif kind == "ramp":
        g = np.add.outer(np.arange(shape[-2 if layout in ("rc", "frc") else -3]),
                         np.arange(shape[-1 if layout in ("rc", "frc") else -2]))
        g = np.broadcast_to(g if layout in ("rc", "frc") else g[..., None], shape)
        step = draw(st.integers(1, max(1, (hi - lo) // 8)))
        a = lo + (g * step + rng.integers(0, 3, shape)) % (hi - lo + 1)
    elif kind == "sparse":
        k = draw(st.integers(1, 12))
        levels = rng.integers(lo, hi, k, endpoint=True)
        a = levels[rng.integers(0, k, n)].reshape(shape)
    elif kind == "edges":
        a = np.where(rng.random(shape) < 0.5, lo, hi)
        a[..., : max(1, shape[-1] // 2)] = (lo + hi) // 2
    else:  # extremes of the range next to small noise
        a = np.clip(rng.integers(-3, 4, shape) + draw(st.sampled_from([lo, hi])), lo, hi)
    arr = np.ascontiguousarray(a, dtype=dtype)
    explicit_bits = draw(st.sampled_from([None, bits]))
    photometric = None
    if layout == "frc" and c == 3:
        photometric = "MONOCHROME2"  # otherwise (F, R, 3) reads as RGB
    elif layout in ("rc", "frc") and draw(st.booleans()):
        photometric = draw(st.sampled_from(["MONOCHROME1", "MONOCHROME2"]))
    return arr, explicit_bits, photometric


tiles = st.one_of(st.none(), st.integers(1, 24), st.tuples(st.integers(1, 24), st.integers(1, 24)))


def check_round_trip(arr, bits, photometric, tile=None):
    blob = mic.encode(arr, bits_stored=bits, photometric=photometric, tile=tile)
    assert isinstance(blob, bytes)
    out = mic.decode(blob)
    assert out.dtype == arr.dtype and out.shape == arr.shape
    assert np.array_equal(out, arr)
    i = mic.info(blob)
    signed = arr.dtype.kind == "i"
    lo, hi = int(arr.min()), int(arr.max())
    assert i.version == "2.0" and i.mode == "lossless" and i.quality is None
    assert i.dtype == str(arr.dtype) and i.signed == signed
    assert i.shape == arr.shape
    assert i.bits_stored == (bits if bits is not None else bits_used(lo, hi, signed))
    rgb = arr.ndim == 4 or (arr.ndim == 3 and arr.shape[-1] == 3 and photometric is None)
    assert i.samples_per_pixel == (3 if rgb else 1)
    assert i.photometric == ("RGB" if rgb else (photometric or "MONOCHROME2"))
    f = arr.shape[0] if (arr.ndim == 4 or (arr.ndim == 3 and not rgb)) else 1
    r, c = (arr.shape[1:3] if arr.ndim == 4 else arr.shape[-3:-1] if rgb else arr.shape[-2:])
    assert (i.frames, i.rows, i.cols) == (f, r, c)
    if tile is None:
        assert i.tile_shape == (r, c) and i.tiles == f
    else:
        th, tw = (tile, tile) if isinstance(tile, int) else tile
        assert i.tile_shape == (min(th, r), min(tw, c))
        assert i.tiles == f * -(-r // min(th, r)) * -(-c // min(tw, c))
    assert i.sample_crc32 == samples_crc32(arr)
    assert i.compressed_size == len(blob)
    assert mic.check(blob)
    assert mic.verify(blob) == i
    assert mic.decode(blob + b"\x00").tobytes() == arr.tobytes()  # DICOM-style pad
    return blob


@SETTINGS
@given(images())
def test_round_trip(img):
    check_round_trip(*img)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(images(), tiles)
def test_round_trip_tiled(img, tile):
    check_round_trip(*img, tile=tile)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(images(layouts=("rc",)))
def test_encoding_is_deterministic(img):
    arr, bits, pm = img
    assert mic.encode(arr, bits_stored=bits, photometric=pm) == \
        mic.encode(arr.copy(), bits_stored=bits, photometric=pm)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(images(layouts=("rc", "frc")), st.data())
def test_non_contiguous_and_byte_swapped_inputs(img, data):
    arr, bits, pm = img
    view = data.draw(st.sampled_from(["reversed", "fortran", "big-endian", "strided"]))
    if view == "reversed":
        src = arr[..., ::-1]
    elif view == "fortran":
        src = np.asfortranarray(arr)
    elif view == "big-endian":
        src = arr.astype(arr.dtype.newbyteorder(">"))
    else:
        big = np.zeros(arr.shape[:-1] + (2 * arr.shape[-1],), arr.dtype)
        big[..., ::2] = arr
        src = big[..., ::2]
    out = mic.decode(mic.encode(src, bits_stored=bits, photometric=pm))
    assert out.shape == src.shape and out.dtype.kind == src.dtype.kind
    assert out.dtype.itemsize == src.dtype.itemsize
    assert np.array_equal(out, src)


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(DTYPES), st.data())
def test_bits_stored_too_small_is_refused(dtype, data):
    dtype = np.dtype(dtype)
    signed = dtype.kind == "i"
    bits_alloc = 8 * dtype.itemsize
    need = data.draw(st.integers(3 if signed else 2, bits_alloc))
    lo, hi = sample_range(need, signed)
    v = data.draw(st.sampled_from([hi, lo] if signed else [hi]))
    assume(bits_used(min(v, 0), max(v, 0), signed) == need)
    arr = np.zeros((3, 4), dtype)
    arr[1, 2] = v
    too_small = data.draw(st.integers(2 if signed else 1, need - 1))
    with pytest.raises(mic.MicInputError) as e:
        mic.encode(arr, bits_stored=too_small)
    assert str(too_small) in str(e.value)
    assert np.array_equal(mic.decode(mic.encode(arr, bits_stored=need)), arr)


@pytest.mark.parametrize("dtype,bits", [
    (np.uint8, 0), (np.uint8, 9), (np.uint16, 17), (np.uint16, -1),
    (np.int8, 1), (np.int16, 1), (np.int16, 0), (np.int8, 9),
])
def test_bits_stored_outside_the_dtype_is_refused(dtype, bits):
    with pytest.raises(mic.MicInputError):
        mic.encode(np.zeros((2, 2), dtype), bits_stored=bits)


@pytest.mark.parametrize("arr", [
    np.zeros((4, 4), np.float32), np.zeros((4, 4), np.float64), np.zeros((4, 4), np.float16),
    np.zeros((4, 4), np.int32), np.zeros((4, 4), np.uint32), np.zeros((4, 4), np.int64),
    np.zeros((4, 4), np.uint64), np.zeros((4, 4), bool), np.zeros((4, 4), np.complex64),
    np.array([["a", "b"]]), np.zeros((2, 2), object),
    [[1, 2], [3, 4]],  # a list becomes int64
], ids=lambda a: str(getattr(a, "dtype", type(a).__name__)))
def test_unsupported_dtypes_are_input_errors(arr):
    with pytest.raises(mic.MicInputError) as e:
        mic.encode(arr)
    assert "dtype" in str(e.value)


@pytest.mark.parametrize("shape", [(), (5,), (2, 2, 2, 2, 2), (0, 4), (4, 0), (0, 3, 3),
                                   (2, 3, 4, 4), (3, 3, 3, 2)])
def test_unsupported_shapes_are_input_errors(shape):
    with pytest.raises(mic.MicInputError):
        mic.encode(np.zeros(shape, np.uint16))


@pytest.mark.parametrize("kw", [
    {"photometric": "YBR_FULL"}, {"photometric": "RGB"},  # RGB on 1 sample
    {"tile": 0}, {"tile": (0, 4)}, {"tile": (4, -1)}, {"tile": "big"}, {"tile": (1, 2, 3)},
    {"quality": 1.5}, {"quality": "high"}, {"no_such_option": 1},
])
def test_bad_options_are_input_errors(kw):
    with pytest.raises(mic.MicInputError):
        mic.encode(np.zeros((4, 4), np.uint16), **kw)


def test_single_sample_axis_is_kept():
    arr = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4, 1)
    blob = mic.encode(arr)
    assert mic.info(blob).shape == (2, 3, 4, 1) and mic.info(blob).samples_per_pixel == 1
    assert np.array_equal(mic.decode(blob), arr)


def test_rgb_photometric_on_monochrome_frames_is_refused():
    with pytest.raises(mic.MicInputError):
        mic.encode(np.zeros((2, 4, 4), np.uint8), photometric="RGB")
    # and the reverse: (R, C, 3) forced to monochrome is a 3-frame stack
    arr = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    blob = mic.encode(arr, photometric="MONOCHROME2")
    assert mic.info(blob).frames == 4 and mic.info(blob).samples_per_pixel == 1
    assert np.array_equal(mic.decode(blob), arr)


@pytest.mark.parametrize("dtype", DTYPES)
def test_full_range_and_single_pixels(dtype):
    info = np.iinfo(dtype)
    for arr in (np.array([[info.min]], dtype), np.array([[info.max]], dtype),
                np.array([[info.min, info.max]], dtype), np.array([[info.max], [info.min]], dtype),
                np.array([info.min, 0, info.max] * 7, dtype).reshape(3, 7)):
        blob = mic.encode(arr)
        assert np.array_equal(mic.decode(blob), arr)
        assert mic.info(blob).bits_stored == bits_used(int(arr.min()), int(arr.max()),
                                                       info.min < 0)


def test_decode_into_out():
    arr = np.arange(60, dtype=np.int16).reshape(3, 4, 5) - 30
    blob = mic.encode(arr)
    out = np.empty_like(arr)
    res = mic.decode(blob, out=out)
    assert res is out and np.array_equal(out, arr)
    with pytest.raises(mic.MicInputError):
        mic.decode(blob, out=np.empty((3, 4, 5), np.uint16))
    with pytest.raises(mic.MicInputError):
        mic.decode(blob, out=np.empty((3, 20), np.int16))


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 3), st.data())
def test_region_decode_equals_the_crop_of_a_full_decode(rows, cols, frames, data):
    rng = np.random.default_rng(rows * 100 + cols)
    a = rng.integers(0, 4096, (frames, rows, cols), dtype=np.uint16)
    tile = data.draw(st.sampled_from([None, 7, (5, 16)]))
    blob = mic.encode(a, tile=tile, photometric="MONOCHROME2")
    assert mic.info(blob).shape == a.shape
    r0 = data.draw(st.integers(0, rows - 1))
    r1 = data.draw(st.integers(r0 + 1, rows))
    c0 = data.draw(st.integers(0, cols - 1))
    c1 = data.draw(st.integers(c0 + 1, cols))
    out = mic.decode(blob, region=(r0, r1, c0, c1))
    assert out.dtype == a.dtype and np.array_equal(out, a[:, r0:r1, c0:c1])
