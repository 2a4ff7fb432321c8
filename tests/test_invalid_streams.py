"""Invalid and hostile .mic streams: each must raise the specific MicError subclass, fast,
without a large allocation, and never return wrong pixels.

Container-level cases forge streams with ``formats/forge.py`` (every CRC recomputed
unless the test is about the CRC), so each stream is wrong for exactly one reason.
Coder-level cases start from real ``mic.encode`` output.
"""

from __future__ import annotations

import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest

import mic
from mic.bitstream import (
    HEADER_SIZE,
    TAG_END,
    TAG_TILE,
    read_stream,
    unpack_header,
)
from mic.bitstream.schema import HEADER_BODY_SIZE, PREFIX_SIZE
from mic.codec import MAX_DIMENSION
from mic_test_helpers import load_forge, paused_gc  # noqa: E402

forge = load_forge()

#: CPU seconds one rejection may take, and bytes it may allocate (numpy allocations included).
TIME_LIMIT_S = 1.0
ALLOC_LIMIT = 32 << 20


def expect(exc: type[BaseException], data, fn=None, *, exact: bool = False, **kw):
    """Run ``fn(data, **kw)`` (default ``mic.decode``); it must raise ``exc`` quickly and
    without allocating much.  ``exact`` demands that class and not a subclass."""
    fn = fn or mic.decode
    tracemalloc.start()
    t0 = time.process_time()
    try:
        with pytest.raises(exc) as info, paused_gc():
            fn(data, **kw)
    finally:
        elapsed = time.process_time() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    if exact:
        assert type(info.value) is exc, f"{type(info.value).__name__}: {info.value}"
    assert isinstance(info.value, mic.MicError)
    assert str(info.value), "error without a message"
    assert elapsed < TIME_LIMIT_S, f"took {elapsed:.2f} s CPU"
    assert peak < ALLOC_LIMIT, f"allocated {peak >> 20} MiB"
    return info.value


def decode_or_error(data, want: np.ndarray):
    """Decoding damaged bytes may fail with a MicError or give back exactly the original."""
    try:
        got = mic.decode(data)
    except mic.MicError:
        return False
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got, want), "corrupt stream decoded to different pixels"
    return True


def forged(h=None, segs=None, **kw) -> bytes:
    h = h or forge.small_header()
    if segs is None:
        segs = [forge.tile(0, 0, b"\x00" * 4)]
    return forge.forge_stream(h, segs, **kw)


# ============================================================================ container level
# (no coder needed: every error here is raised before any tile is decoded)
def test_empty_input_is_not_a_stream():
    expect(mic.MicFormatError, b"")
    expect(mic.MicFormatError, b"", mic.info)


@pytest.mark.parametrize("data", [
    b"\x89PNG\r\n\x1a\n" + b"\x00" * 60,
    b"DICM" + b"\x00" * 200,
    b"not a mic stream at all, just some text",
    bytes(range(256)),
    b"\x00" * 100,
])
def test_foreign_bytes_are_bad_magic(data):
    e = expect(mic.MicFormatError, data, exact=True)
    assert "magic" in str(e)


@pytest.mark.parametrize("i", range(8))
def test_each_magic_byte_matters(i):
    data = bytearray(forged())
    data[i] ^= 0x20
    expect(mic.MicFormatError, bytes(data), exact=True)
    expect(mic.MicFormatError, bytes(data), mic.info, exact=True)


def test_text_mode_damage_is_caught_by_the_magic():
    data = forged()
    expect(mic.MicFormatError, data.replace(b"\r\n", b"\n"), exact=True)
    expect(mic.MicFormatError, data.replace(b"\n", b"\r\n"), exact=True)


def test_truncated_at_every_byte_and_every_field_boundary():
    data = forged(forge.stack_header(2, tile_rows=2),
                  [forge.tile(f, t, bytes(range(5 + f + t))) for f in range(2) for t in range(2)]
                  + [(b"note", b"optional")])
    read_stream(data)  # the whole stream is fine
    boundaries = {off for _, off, _ in forge.field_offsets()} | {HEADER_SIZE}
    for sp in forge.spans(data):
        boundaries |= {sp.start, sp.length_field, sp.payload_start, sp.payload_end, sp.end}
    boundaries.discard(len(data))
    boundaries.discard(0)
    assert len(boundaries) > 30
    for n in range(1, len(data)):
        fn = expect if n in boundaries else _quick_expect
        fn(mic.MicTruncatedError, data[:n], read_stream)
    for n in sorted(boundaries):
        expect(mic.MicTruncatedError, data[:n])
        expect(mic.MicTruncatedError, data[:n], mic.info)


def _quick_expect(exc, data, fn):
    with pytest.raises(exc):
        fn(data)


def test_truncated_inside_each_segment_of_a_real_layout():
    data = forged(forge.small_header(rows=7, cols=7, tile_rows=3, tile_cols=3),
                  [forge.tile(0, t, b"abcdefgh"[: t % 8]) for t in range(9)])
    for sp in forge.spans(data):
        for n in (sp.start + 1, sp.start + 5, (sp.payload_start + sp.payload_end) // 2,
                  sp.payload_end, sp.end - 1):
            if n < len(data):
                expect(mic.MicTruncatedError, data[:n])


def test_missing_mend_is_truncation():
    expect(mic.MicTruncatedError, forged(end=False))


def test_header_bit_flips_are_checksum_errors():
    data = forged()
    offs = {name: (off, size) for name, off, size in forge.field_offsets()}
    body_start, crc_off = PREFIX_SIZE, offs["header_crc"][0]
    for pos in list(range(body_start, crc_off + 4)) + [offs["version_minor"][0]]:
        for bit in (0, 3, 7):
            b = bytearray(data)
            b[pos] ^= 1 << bit
            expect(mic.MicChecksumError, bytes(b), exact=True)


def test_body_length_flips_are_format_errors():
    data = forged()
    for pos in (10, 11):
        for bit in range(8):
            b = bytearray(data)
            b[pos] ^= 1 << bit
            expect(mic.MicFormatError, bytes(b))


@pytest.mark.parametrize("major", [0, 3, 9, 255])
def test_other_major_versions_are_refused(major):
    data = forged(major=major)
    e = expect(mic.MicVersionError, data, exact=True)
    assert str(major) in str(e)
    expect(mic.MicVersionError, data, mic.info, exact=True)
    # even when the rest of the header is from the future too
    expect(mic.MicVersionError, forged(major=major, minor=7, extra=b"\x00" * 100))


def test_future_major_version_is_refused_before_the_crc():
    # A v3 header may be laid out differently: the version decides before anything else.
    expect(mic.MicVersionError, forged(major=3, crc=0), exact=True)


def test_newer_minor_version_with_extra_header_bytes_parses():
    data = forged(minor=200, extra=b"\xff" * 500)
    assert read_stream(data).header.version_minor == 200
    assert mic.info(data).version == f"1.200"


def test_short_header_body_is_refused():
    for n in (0, 1, HEADER_BODY_SIZE - 1):
        h = forge.forge_header(forge.small_header(), body_len=n)  # CRC over all written bytes
        expect(mic.MicFormatError, h + forge.segment(TAG_END, b""))


def test_header_body_length_beyond_the_data_is_truncation():
    data = forged(body_len=0xFFFF)
    expect(mic.MicTruncatedError, data)


@pytest.mark.parametrize("tag", [b"ZZZZ", b"Tile", b"TILF", b"LMDX", b"Mend", b"X\x21\x21\x21"])
def test_unknown_critical_segment_is_unsupported(tag):
    segs = [forge.tile(0, 0, b"\x00" * 4), (tag, b"whatever")]
    expect(mic.MicUnsupportedError, forged(segs=segs), exact=True)
    expect(mic.MicUnsupportedError, forged(segs=segs[::-1]), read_stream, exact=True)
    expect(mic.MicUnsupportedError, forged(segs=segs), mic.info, exact=True)


def test_unknown_optional_segments_are_skipped_by_the_container():
    segs = [(b"aaaa", b""), forge.tile(0, 0, b"\x00" * 4), (b"zZZZ", b"x" * 1000),
            (b"tIME", b"2026")]
    st = read_stream(forged(segs=segs))
    assert [s.tag for s in st.segments] == [b"aaaa", b"zZZZ", b"tIME"]
    assert list(st.tiles) == [(0, 0)]


@pytest.mark.parametrize("tag", [b"TI\x00E", b"\x00\x00\x00\x00", b"ab c", b"\xff\xfe\xfd\xfc",
                                 b"ab\x7fd"])
def test_unprintable_segment_tags_are_format_errors(tag):
    head = struct.pack("<4sI", tag, 0)
    seg = head + struct.pack("<I", zlib.crc32(head))
    data = forge.forge_header(forge.small_header()) + seg + forge.segment(TAG_END, b"")
    expect(mic.MicFormatError, data, exact=True)


def test_non_empty_mend_is_a_format_error():
    data = forge.forge_header(forge.small_header()) + forge.segment(*forge.tile(0, 0)) \
        + forge.segment(TAG_END, b"x")
    expect(mic.MicFormatError, data, exact=True)


# ---------------------------------------------------------------------------- lying lengths
@pytest.mark.parametrize("length", [40, 100, 2**16, 2**31, 2**32 - 1])
def test_segment_length_beyond_the_end_is_truncation(length):
    b = bytearray(forged())
    sp = forge.spans(bytes(b))[0]
    struct.pack_into("<I", b, sp.length_field, length)
    expect(mic.MicTruncatedError, bytes(b), exact=True)
    if length >= 2**16:  # still beyond the end with some padding after MEND
        expect(mic.MicTruncatedError, bytes(b) + b"\x00" * 64, exact=True)


def test_segment_length_too_short_is_caught():
    # the CRC is computed over the bytes the short length covers: the next "segment" is garbage
    payload = struct.pack("<II", 0, 0) + b"\x00\x01\x02\x03" * 8
    h = forge.forge_header(forge.small_header())
    for n in (0, 4, 8, 9, 20, 35):
        seg = forge.segment(TAG_TILE, payload[:n])[:-4 - 0]  # header + first n bytes
        seg = seg + struct.pack("<I", zlib.crc32(seg)) + payload[n:]
        expect(mic.MicFormatError, h + seg + forge.segment(TAG_END, b""))


def test_segment_length_changed_without_crc_fix_is_a_checksum_error():
    b = bytearray(forged(segs=[forge.tile(0, 0, b"\x00" * 40)]))
    sp = forge.spans(bytes(b))[0]
    struct.pack_into("<I", b, sp.length_field, 20)
    expect(mic.MicChecksumError, bytes(b), exact=True)


def test_many_empty_segments_are_handled_in_linear_time():
    """20,000 empty segments parse within the time limit, and in at most 8 times the time of
    5,000 (linear: 4 times; a parse quadratic in the count would take 16).  Timed with the
    garbage collector paused, best of three: in a full test session's heap one collection
    during the parse once took a second by itself."""
    def parse(n: int) -> tuple[float, int]:
        data = forged(segs=[(b"note", b"")] * n + [forge.tile(0, 0, b"\x00" * 4)])
        best, count = float("inf"), 0
        for _ in range(3):
            t0 = time.process_time()
            count = len(read_stream(data).segments)
            best = min(best, time.process_time() - t0)
        return best, count

    with paused_gc():
        (small, _), (big, count) = parse(5000), parse(20000)
    assert count == 20000
    assert big < TIME_LIMIT_S
    assert big < 8 * small + 0.02, (small, big)


# ---------------------------------------------------------------------------- tile set
def test_missing_tile_segments():
    h = forge.small_header(rows=8, cols=8, tile_rows=4, tile_cols=4)  # 4 tiles
    all_tiles = [forge.tile(0, t, b"\x00") for t in range(4)]
    for drop in range(4):
        expect(mic.MicFormatError, forged(h, all_tiles[:drop] + all_tiles[drop + 1:]), exact=True)
    expect(mic.MicFormatError, forged(h, []), exact=True)
    expect(mic.MicFormatError, forged(forge.small_header(), []), mic.info, exact=True)


def test_duplicate_tile_segments():
    h = forge.stack_header(2)
    tiles = [forge.tile(0, 0, b"a"), forge.tile(1, 0, b"b")]
    e = expect(mic.MicFormatError, forged(h, tiles + [forge.tile(1, 0, b"c")]), exact=True)
    assert "duplicate" in str(e)
    expect(mic.MicFormatError, forged(h, tiles + tiles), exact=True)


@pytest.mark.parametrize("key", [(1, 0), (0, 1), (2**32 - 1, 0), (0, 2**32 - 1)])
def test_tiles_outside_the_frame_grid(key):
    # right count, wrong key
    expect(mic.MicFormatError, forged(segs=[forge.tile(*key, b"\x00")]), exact=True)
    # extra tile beside the right one
    expect(mic.MicFormatError, forged(segs=[forge.tile(0, 0), forge.tile(*key)]), exact=True)


@pytest.mark.parametrize("n", [0, 1, 7])
def test_tile_segment_shorter_than_its_prefix(n):
    e = expect(mic.MicFormatError, forged(segs=[(TAG_TILE, b"\x00" * n)]), exact=True)
    assert "TILE" in str(e)


# ---------------------------------------------------------------------------- limits
@pytest.mark.parametrize("fields", [
    {"rows": 2**31, "cols": 2**31},
    {"rows": 2**32 - 1, "cols": 2**32 - 1},
    {"rows": 2**31, "cols": 1},
    {"rows": 1, "cols": 2**31},
    {"rows": MAX_DIMENSION + 1, "cols": 1},
    {"rows": 1, "cols": MAX_DIMENSION + 1},
    {"rows": 2**15, "cols": 2**15, "frames": 2, "layout": 1},  # 2**31 samples > default max_pixels
    {"rows": 2**20, "cols": 2**20},
    {"frames": 2**32 - 1, "rows": 2**16, "cols": 2**16, "layout": 1},
    {"frames": 2**32 - 1, "layout": 1},
])
def test_absurd_dimensions_are_refused_before_allocating(fields):
    h = forge.small_header(**fields)
    # one tile per frame needs `frames` TILE segments: give a stream that has them when small
    frames = h.frames if h.frames <= 4 else 1
    data = forged(h, [forge.tile(f, 0) for f in range(frames)])
    e = expect((mic.MicLimitError, mic.MicFormatError), data)
    if frames == h.frames:
        assert isinstance(e, mic.MicLimitError), repr(e)


def test_absurd_tile_grid_is_refused_without_enumerating_it():
    h = forge.small_header(rows=2**20, cols=2**20, tile_rows=1, tile_cols=1)  # 2**40 tiles
    expect(mic.MicFormatError, forged(h, [forge.tile(0, 0)]), exact=True)
    expect(mic.MicFormatError, forged(h, [forge.tile(0, 0)]), mic.info, exact=True)


def test_max_pixels_is_checked_before_decoding():
    h = forge.small_header(rows=100, cols=100)
    data = forged(h, [forge.tile(0, 0, b"junk")])
    e = expect(mic.MicLimitError, data, max_pixels=9999, exact=True)
    assert "max_pixels" in str(e)
    expect(mic.MicLimitError, data, max_pixels=0, exact=True)
    rgb = forge.small_header(rows=10, cols=10, layout=2, samples=3, photometric=2)
    expect(mic.MicLimitError, forged(rgb, [forge.tile(0, 0)]), max_pixels=299, exact=True)


# ---------------------------------------------------------------------------- ids
@pytest.mark.parametrize("mode", [3, 7, 255])
def test_unknown_mode_is_a_format_error(mode):
    expect(mic.MicFormatError, forged(forge.small_header(mode=mode)), exact=True)


def test_near_lossless_mode_with_an_unknown_model_is_unsupported():
    """Mode 2 is implemented with model id 2 (SPEC 7); over model id 0 it is refused as an
    unknown model, as the committed vector ``reserved_near_lossless_mode`` (model id 1) is."""
    expect(mic.MicUnsupportedError, forged(forge.small_header(mode=2)), exact=True)
    i = mic.info(forged(forge.small_header(mode=2)))
    assert i.mode == "near-lossless" and i.model == "unknown(0)" and i.max_error is None


@pytest.mark.parametrize("coder", [0, 2, 99, 255])
def test_unknown_coder_is_unsupported(coder):
    expect(mic.MicUnsupportedError, forged(forge.small_header(coder_id=coder)), exact=True)


# ============================================================================ real streams
@pytest.fixture(scope="module")
def small_image() -> np.ndarray:
    rng = np.random.default_rng(1)
    base = np.add.outer(np.arange(12), np.arange(11)) * 37
    return (base + rng.integers(0, 9, base.shape)).astype(np.uint16)


@pytest.fixture(scope="module")
def small_stream(small_image) -> bytes:
    """A version-1 stream (this module forges the v1 layout; tests/test_stream_v2.py has v2)."""
    data = mic.encode(small_image, stream_version=1)
    assert np.array_equal(mic.decode(data), small_image)
    return data


@pytest.fixture(scope="module")
def tiled_stack() -> tuple[np.ndarray, bytes]:
    rng = np.random.default_rng(2)
    img = rng.integers(-300, 300, (2, 9, 10)).astype(np.int16)
    data = mic.encode(img, tile=(4, 6), stream_version=1)
    assert np.array_equal(mic.decode(data), img)
    return img, data


def test_real_stream_truncated_anywhere(small_stream):
    for n in range(1, len(small_stream)):
        _quick_expect(mic.MicTruncatedError, small_stream[:n], mic.decode)


def test_trailing_padding_is_tolerated(small_stream, small_image):
    for pad in (b"\x00", b"\x00" * 3, b"\xff" * 1000, small_stream):
        got = mic.decode(small_stream + pad)
        assert np.array_equal(got, small_image)
    assert np.array_equal(mic.decode(bytearray(small_stream) + b"\x00"), small_image)


def test_unknown_optional_segment_is_skipped_when_decoding(small_stream, small_image):
    sp = forge.spans(small_stream)
    extra = forge.segment(b"zUNK", b"\x00\x01" * 50) + forge.segment(b"note", b"")
    at_start = small_stream[:sp[0].start] + extra + small_stream[sp[0].start:]
    before_end = small_stream[:sp[-1].start] + extra + small_stream[sp[-1].start:]
    for data in (at_start, before_end):
        assert np.array_equal(mic.decode(data), small_image)
        assert mic.info(data).compressed_size == len(data)


def test_unknown_critical_segment_in_a_real_stream(small_stream):
    sp = forge.spans(small_stream)
    data = small_stream[:sp[-1].start] + forge.segment(b"QQQQ", b"") + small_stream[sp[-1].start:]
    expect(mic.MicUnsupportedError, data, exact=True)


def test_newer_minor_version_of_a_real_stream_decodes(small_stream, small_image):
    h, pos = unpack_header(small_stream)
    data = forge.forge_header(h, minor=h.version_minor + 1, extra=b"\x42" * 17) \
        + small_stream[pos:]
    assert np.array_equal(mic.decode(data), small_image)
    assert mic.info(data).version == f"1.{h.version_minor + 1}"


def test_future_major_version_of_a_real_stream(small_stream):
    h, pos = unpack_header(small_stream)
    expect(mic.MicVersionError, forge.forge_header(h, major=3) + small_stream[pos:],
           exact=True)


def test_max_pixels_on_a_real_stream(small_stream, small_image):
    n = small_image.size
    assert np.array_equal(mic.decode(small_stream, max_pixels=n), small_image)
    expect(mic.MicLimitError, small_stream, max_pixels=n - 1, exact=True)
    expect(mic.MicLimitError, small_stream, mic.verify, max_pixels=1, exact=True)


@pytest.mark.parametrize("version", [1, 2])
def test_every_single_bit_flip_is_caught_or_harmless(small_image, version):
    """Flip each bit of a whole stream (either version): a MicError of the class its place
    calls for, or the exact pixels, never anything else."""
    data = mic.encode(small_image, stream_version=version)
    body_start = PREFIX_SIZE if version == 1 else forge.uvarint_at(data, 10)[1]
    _, first_seg = unpack_header(data)
    caught = 0
    for pos in range(len(data)):
        for bit in range(8):
            b = bytearray(data)
            b[pos] ^= 1 << bit
            try:
                got = mic.decode(bytes(b))
            except mic.MicError as e:
                caught += 1
                if pos < 8:
                    assert type(e) is mic.MicFormatError
                elif pos == 8:
                    assert type(e) is mic.MicVersionError
                elif pos == 9 or body_start <= pos < first_seg:  # minor, body, header CRC
                    assert type(e) is mic.MicChecksumError, (pos, bit, e)
                elif pos >= first_seg or version == 2:  # segments; v2: the body length
                    assert isinstance(e, mic.MicFormatError), (pos, bit, e)
                continue
            # only bytes outside everything the CRCs cover may change harmlessly: none here
            assert np.array_equal(got, small_image)
            raise AssertionError(f"bit {bit} of byte {pos} flipped and nothing noticed")
    assert caught == 8 * len(data)


def test_byte_damage_sweep_on_a_tiled_stack(tiled_stack):
    _, data = tiled_stack
    for pos in range(len(data)):
        for mask in (0x01, 0x80, 0xFF):
            b = bytearray(data)
            b[pos] ^= mask
            with pytest.raises(mic.MicError):
                mic.decode(bytes(b))


def test_sample_crc_mismatch_is_a_checksum_error(small_stream):
    h, _ = unpack_header(small_stream)
    assert h.flags & 1
    bad = forge.set_header_fields(small_stream, sample_crc32=h.sample_crc32 ^ 1)
    e = expect(mic.MicChecksumError, bad, exact=True)
    assert "CRC" in str(e)


def test_header_rewrites_of_a_real_stream(small_stream):
    # each rewrite leaves a self-consistent header that does not fit the coded tile
    cases = [
        ({"coder_id": 200}, mic.MicUnsupportedError),
        ({"mode": 2}, mic.MicUnsupportedError),
        ({"rows": 2**31}, mic.MicLimitError),
        ({"tile_rows": 1}, mic.MicFormatError),  # now needs 12 tiles
    ]
    for fields, exc in cases:
        expect(exc, forge.set_header_fields(small_stream, **fields), exact=True)


def test_shape_changes_with_the_same_tiles_are_errors(small_stream, small_image):
    # Same tile payload, other geometry/dtype: the coder or the sample CRC must object.
    def check(data: bytes, fields: dict) -> None:
        if fields in ({"photometric": 1}, {"bits_stored": 16}):
            # these only change the meaning or the declared range, not the samples
            assert decode_or_error(data, small_image), fields
        elif "rows" in fields or "cols" in fields or "bits_allocated" in fields:
            with pytest.raises(mic.MicError):
                mic.decode(data)
        elif "signed" in fields:
            # same bytes read as int16: these values fit both, so the sample CRC agrees
            try:
                got = mic.decode(data)
            except mic.MicError:
                pass
            else:
                assert got.dtype == np.int16 and np.array_equal(got, small_image)
        else:
            decode_or_error(data, small_image)

    r, c = small_image.shape
    for fields in ({"rows": r - 1}, {"cols": c + 1}, {"rows": c, "cols": r},
                   {"bits_stored": 16}, {"bits_stored": 9}, {"signed": 1},
                   {"bits_allocated": 8, "bits_stored": 8}, {"photometric": 1}):
        data = forge.set_header_fields(small_stream, **fields)
        with paused_gc():
            t0 = time.process_time()
            check(data, fields)
            elapsed = time.process_time() - t0
        assert elapsed < TIME_LIMIT_S


def test_unknown_lossless_model_id(small_stream):
    h, _ = unpack_header(small_stream)
    data = forge.set_header_fields(small_stream, model_id=(h.model_id + 999) & 0xFFFF)
    expect(mic.MicUnsupportedError, data, exact=True)


# ---------------------------------------------------------------------------- coder payloads
def _tile_spans(data: bytes):
    return [sp for sp in forge.spans(data) if sp.tag == TAG_TILE]


def test_payload_bit_flips_with_fixed_crc_end_in_a_mic_error(small_stream, small_image):
    """Damage inside the coder's payload that the segment CRC does not see (it was fixed up):
    the coder's own checks or the sample CRC-32 must catch it; no crash, hang or garbage."""
    (sp,) = _tile_spans(small_stream)
    start = sp.payload_start + 8  # after the frame/tile prefix
    t_max = 0.0
    for pos in range(start, sp.payload_end):
        for bit in range(8):
            b = bytearray(small_stream)
            b[pos] ^= 1 << bit
            data = forge.refresh_crc(b, sp)
            with paused_gc():
                t0 = time.process_time()
                decode_or_error(data, small_image)
                t_max = max(t_max, time.process_time() - t0)
    assert t_max < TIME_LIMIT_S


def test_payload_damage_without_the_sample_crc_never_crashes(small_stream, small_image):
    """With the sample CRC switched off (flag cleared), damaged payloads may decode to other
    pixels, but only to a well-formed array within bits_stored, or to a MicError."""
    h, _ = unpack_header(small_stream)
    base = forge.set_header_fields(small_stream, flags=h.flags & ~1, sample_crc32=0)
    assert np.array_equal(mic.decode(base), small_image)
    (sp,) = _tile_spans(base)
    lo, hi = 0, (1 << h.bits_stored) - 1
    rng = np.random.default_rng(5)
    for _ in range(300):
        b = bytearray(base)
        for pos in rng.integers(sp.payload_start + 8, sp.payload_end, rng.integers(1, 4)):
            b[pos] = rng.integers(0, 256)
        data = forge.refresh_crc(b, sp)
        t0 = time.process_time()
        try:
            with paused_gc():
                got = mic.decode(data)
        except mic.MicError:
            continue
        finally:
            assert time.process_time() - t0 < TIME_LIMIT_S
        assert got.shape == small_image.shape and got.dtype == small_image.dtype
        assert lo <= got.min() and got.max() <= hi


def _with_tile_payload(data: bytes, sp, payload: bytes) -> bytes:
    seg = forge.segment(TAG_TILE, bytes(data[sp.payload_start:sp.payload_start + 8]) + payload)
    return data[:sp.start] + seg + data[sp.end:]


def test_truncated_or_replaced_payloads_with_valid_crc(small_stream, small_image):
    (sp,) = _tile_spans(small_stream)
    payload = small_stream[sp.payload_start + 8:sp.payload_end]
    variants = [payload[:n] for n in range(len(payload))]
    variants += [b"\x00" * len(payload), b"\xff" * len(payload), b"\xff" * 4096,
                 bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8))]
    for p in variants:
        data = _with_tile_payload(small_stream, sp, p)
        with paused_gc():
            t0 = time.process_time()
            decode_or_error(data, small_image)
            elapsed = time.process_time() - t0
        assert elapsed < TIME_LIMIT_S


def test_tiny_payload_claiming_a_big_image_fails_fast(small_stream):
    """A few-byte tile whose header claims 1024 x 1024 samples (within max_pixels) must not
    hang: it ends in a MicError (coder check or sample CRC) within a few seconds."""
    (sp,) = _tile_spans(small_stream)
    for payload in (b"", b"\x00" * 16, bytes(small_stream[sp.payload_start + 8:sp.payload_end])):
        data = forge.set_header_fields(_with_tile_payload(small_stream, sp, payload),
                                       rows=1024, cols=1024)
        t0 = time.perf_counter()
        with pytest.raises(mic.MicError):
            mic.decode(data)
        assert time.perf_counter() - t0 < 10


def test_swapped_tiles_are_caught(tiled_stack):
    _, data = tiled_stack
    tiles = _tile_spans(data)
    a, b = tiles[0], tiles[1]
    pa = bytearray(data[a.payload_start:a.payload_end])
    pb = bytearray(data[b.payload_start:b.payload_end])
    pa[:8], pb[:8] = pb[:8], pa[:8]  # exchange the (frame, tile) keys
    swapped = data[:a.start] + forge.segment(TAG_TILE, bytes(pa)) + data[a.end:b.start] \
        + forge.segment(TAG_TILE, bytes(pb)) + data[b.end:]
    with pytest.raises(mic.MicError):
        mic.decode(swapped)


def test_tile_order_in_the_stream_is_free(tiled_stack):
    img, data = tiled_stack
    tiles = _tile_spans(data)
    head = data[:tiles[0].start]
    rest = data[tiles[-1].end:]
    body = b"".join(data[sp.start:sp.end] for sp in reversed(tiles))
    assert np.array_equal(mic.decode(head + body + rest), img)


def test_no_hang_or_crash_on_random_garbage_after_a_valid_header(small_stream):
    _, pos = unpack_header(small_stream)
    rng = np.random.default_rng(11)
    head = small_stream[:pos]
    for n in (1, 11, 12, 13, 64, 1000):
        tail = bytes(rng.integers(0, 256, n, dtype=np.uint8))
        expect(mic.MicFormatError, head + tail)


def _zstd_frame_len(buf: bytes, i: int) -> int:
    """Length of the zstd frame starting at ``buf[i]`` (walks the block headers)."""
    fhd = buf[i + 4]
    single = bool(fhd & 0x20)
    fcs_len = {0: 1 if single else 0, 1: 2, 2: 4, 3: 8}[fhd >> 6]
    pos = i + 5 + (0 if single else 1) + {0: 0, 1: 1, 2: 2, 3: 4}[fhd & 3] + fcs_len
    while True:
        bh = int.from_bytes(buf[pos:pos + 3], "little")
        last, btype, size = bh & 1, (bh >> 1) & 3, bh >> 3
        pos += 3 + (1 if btype == 1 else size)
        if last:
            break
    return pos + (4 if fhd & 4 else 0) - i


def _zstd_frame_claiming(data: bytes, content_size: int) -> bytes:
    """Replace the first zstd frame inside the stream's tile (the lossless palette bitmap) by
    a frame of the same length that declares ``content_size`` decompressed bytes and holds
    one raw block; only the segment CRC is fixed up, so only the claim is wrong."""
    import zstandard

    magic = b"\x28\xb5\x2f\xfd"
    (sp,) = _tile_spans(data)
    i = data.find(magic, sp.payload_start, sp.payload_end)
    assert i > 0, "no zstd frame in this stream"
    n = _zstd_frame_len(data, i)
    assert zstandard.get_frame_parameters(data[i:i + n]).content_size > 0
    raw = n - 16  # magic 4 + descriptor 1 + content size 8 + block header 3
    assert raw >= 0, f"zstd frame of {n} bytes is too short to rewrite"
    frame = magic + bytes([0xE0]) + struct.pack("<Q", content_size) \
        + ((raw << 3) | 1).to_bytes(3, "little") + b"\x00" * raw
    assert zstandard.get_frame_parameters(frame).content_size == content_size
    b = bytearray(data)
    b[i:i + n] = frame
    return forge.refresh_crc(b, sp)


@pytest.mark.parametrize("claim", [2**30, 2**40])
def test_palette_zstd_frame_claiming_a_huge_size(claim):
    rng = np.random.default_rng(4)
    levels = np.sort(rng.choice(4096, 300, replace=False)).astype(np.uint16)  # sparse: palette
    img = levels[rng.integers(0, 300, (24, 24))]
    data = mic.encode(img)
    bad = _zstd_frame_claiming(data, claim)
    read_stream(bad)  # the container is fine
    expect(mic.MicFormatError, bad)
