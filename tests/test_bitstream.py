"""The .mic container (SPEC.md sections 1-4) on its own: header schema, segments, tiles.

These tests forge streams with hand-made TILE payloads, so they exercise the
container without any coder: ``read_stream`` and ``mic.info`` never look inside
a tile.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mic
from mic.bitstream import (
    HEADER_FIELDS,
    HEADER_SIZE,
    LAYOUT_FRC,
    LAYOUT_FRCS,
    LAYOUT_RC,
    LAYOUT_RCS,
    MAGIC,
    MODE_LOSSLESS,
    PHOTOMETRIC_MONOCHROME1,
    PHOTOMETRIC_RGB,
    TAG_END,
    TAG_TILE,
    VERSION_MINOR,
    Header,
    iter_tiles,
    pack_header,
    pack_segment,
    read_stream,
    unpack_header,
    write_stream,
)
from mic.bitstream.container import KNOWN_CRITICAL, Segment, pack_tile
from mic.bitstream.schema import HEADER_BODY_SIZE, PREFIX_SIZE, validate_header
from mic_test_helpers import load_forge  # noqa: E402

forge = load_forge()


# ----------------------------------------------------------------------------- header
def test_header_sizes_follow_the_schema():
    body = struct.calcsize("<" + "".join(c for _, c, _ in HEADER_FIELDS))
    assert HEADER_BODY_SIZE == body == 37
    assert PREFIX_SIZE == 12
    assert HEADER_SIZE == 12 + 37 + 4
    assert len(MAGIC) == 8 and MAGIC == b"\x8bMIC\r\n\x1a\n"


def test_header_field_names_match_the_dataclass():
    names = [n for n, _, _ in HEADER_FIELDS]
    assert len(set(names)) == len(names)
    h = forge.small_header()
    for n in names:
        assert hasattr(h, n)


def test_pack_header_layout_is_byte_exact():
    h = forge.small_header(rows=300, cols=7, frames=1, flags=1, sample_crc32=0xDEADBEEF,
                           model_id=0x1234)
    b = pack_header(h)
    assert len(b) == HEADER_SIZE
    assert b[:8] == MAGIC
    assert b[8] == 1 and b[9] == VERSION_MINOR
    assert struct.unpack_from("<H", b, 10)[0] == HEADER_BODY_SIZE
    assert struct.unpack_from("<I", b, HEADER_SIZE - 4)[0] == zlib.crc32(b[:-4])
    # every field at the offset the schema gives it
    for name, off, size in forge.field_offsets()[4:-1]:
        code = {1: "B", 2: "H", 4: "I"}[size]
        assert struct.unpack_from("<" + code, b, off)[0] == getattr(h, name), name
    assert b == forge.forge_header(h)


@settings(max_examples=60, deadline=None)
@given(
    layout=st.sampled_from([LAYOUT_RC, LAYOUT_FRC, LAYOUT_RCS, LAYOUT_FRCS]),
    signed=st.booleans(),
    bits_allocated=st.sampled_from([8, 16]),
    data=st.data(),
)
def test_header_round_trip(layout, signed, bits_allocated, data):
    major = data.draw(st.sampled_from([1, 2]))
    rgb = layout in (LAYOUT_RCS, LAYOUT_FRCS) and data.draw(st.booleans())
    samples = 3 if rgb else 1
    if layout in (LAYOUT_RCS, LAYOUT_FRCS) and not rgb:
        samples = 1
    h = Header(
        mode=data.draw(st.sampled_from([0, 1, 2])),
        model_id=data.draw(st.integers(0, 0xFFFF)),
        coder_id=data.draw(st.integers(0, 255)),
        bits_allocated=bits_allocated,
        signed=int(signed),
        bits_stored=data.draw(st.integers(2 if signed else 1, bits_allocated)),
        photometric=PHOTOMETRIC_RGB if rgb else data.draw(st.sampled_from([0, 1])),
        layout=layout,
        samples=samples,
        frames=data.draw(st.integers(1, 2**32 - 1)) if layout in (LAYOUT_FRC, LAYOUT_FRCS) else 1,
        rows=data.draw(st.integers(1, 2**32 - 1)),
        cols=data.draw(st.integers(1, 2**32 - 1)),
        tile_rows=data.draw(st.integers(0, 2**32 - 1)),
        tile_cols=data.draw(st.integers(0, 2**32 - 1)),
        quality=data.draw(st.integers(0, 255)),
        flags=data.draw(st.integers(0, 0xFFFF)),
        sample_crc32=data.draw(st.integers(0, 2**32 - 1)),
        version_major=major,
    )
    b = pack_header(h)
    h2, pos = unpack_header(b + b"tail")
    assert pos == (HEADER_SIZE if major == 1 else len(b))
    assert h2 == h


def test_pack_header_refuses_out_of_range_fields():
    with pytest.raises(mic.MicFormatError):
        pack_header(forge.small_header(rows=2**32))
    with pytest.raises(mic.MicFormatError):
        pack_header(forge.small_header(bits_stored=-1))


def test_header_derived_properties():
    h = forge.small_header(rows=10, cols=7, tile_rows=4, tile_cols=3)
    assert h.shape == (10, 7) and h.dtype_str == "u2" and h.n_samples == 70
    assert h.tile_shape == (4, 3) and h.tiles_per_frame == (3, 3)
    h = replace(h, tile_rows=0, tile_cols=100)
    assert h.tile_shape == (10, 7) and h.tiles_per_frame == (1, 1)
    h = forge.stack_header(5, signed=1, bits_allocated=8, bits_stored=8)
    assert h.shape == (5, 4, 5) and h.dtype_str == "i1"
    h = forge.small_header(layout=LAYOUT_RCS, samples=3, photometric=PHOTOMETRIC_RGB)
    assert h.shape == (4, 5, 3) and h.n_samples == 60
    h = forge.small_header(layout=LAYOUT_FRCS, samples=3, photometric=PHOTOMETRIC_RGB, frames=2)
    assert h.shape == (2, 4, 5, 3)


@pytest.mark.parametrize(
    "fields",
    [
        {"mode": 3}, {"mode": 255},
        {"bits_allocated": 12}, {"bits_allocated": 0}, {"bits_allocated": 32},
        {"signed": 2},
        {"bits_stored": 0}, {"bits_stored": 17},
        {"bits_allocated": 8, "bits_stored": 9},
        {"signed": 1, "bits_stored": 1},
        {"photometric": 3},
        {"layout": 4},
        {"samples": 2}, {"samples": 0}, {"samples": 4},
        {"samples": 3},  # monochrome with 3 samples
        {"photometric": PHOTOMETRIC_RGB},  # RGB with 1 sample
        {"layout": LAYOUT_RC, "samples": 3, "photometric": PHOTOMETRIC_RGB},
        {"layout": LAYOUT_FRC, "samples": 3, "photometric": PHOTOMETRIC_RGB, "frames": 2},
        {"layout": LAYOUT_RC, "frames": 2},
        {"layout": LAYOUT_RCS, "frames": 2},
        {"rows": 0}, {"cols": 0},
        {"layout": LAYOUT_FRC, "frames": 0},
    ],
)
def test_validate_header_rules(fields):
    h = forge.small_header(**fields)
    with pytest.raises(mic.MicFormatError):
        validate_header(h)
    with pytest.raises(mic.MicFormatError):
        unpack_header(forge.forge_header(h))


@pytest.mark.parametrize(
    "fields",
    [
        {}, {"bits_allocated": 8, "bits_stored": 1}, {"bits_stored": 16},
        {"signed": 1, "bits_stored": 2}, {"photometric": PHOTOMETRIC_MONOCHROME1},
        {"layout": LAYOUT_RCS, "samples": 1},  # (R, C, 1) is a legal layout
        {"layout": LAYOUT_RCS, "samples": 3, "photometric": PHOTOMETRIC_RGB},
        {"layout": LAYOUT_FRCS, "samples": 3, "photometric": PHOTOMETRIC_RGB, "frames": 9},
        {"mode": 2}, {"rows": 2**32 - 1, "cols": 2**32 - 1},
    ],
)
def test_validate_header_accepts(fields):
    validate_header(forge.small_header(**fields))


# ----------------------------------------------------------------------------- segments
def test_pack_segment_layout():
    seg = pack_segment(b"abcd", b"xyz", 1)
    assert seg[:4] == b"abcd"
    assert struct.unpack_from("<I", seg, 4)[0] == 3
    assert seg[8:11] == b"xyz"
    assert struct.unpack_from("<I", seg, 11)[0] == zlib.crc32(seg[:11])
    assert len(pack_segment(TAG_END, b"", 1)) == 12
    assert seg == forge.segment(b"abcd", b"xyz")


@pytest.mark.parametrize("tag", [b"abc", b"abcde", b"ab d", b"ab\x00d", b"ab\x7fd", b"\xffabc"])
def test_pack_segment_refuses_bad_tags(tag):
    with pytest.raises(ValueError):
        pack_segment(tag, b"")


def test_segment_criticality():
    assert Segment(b"TILE", b"").critical
    assert Segment(b"Zzzz", b"").critical
    assert not Segment(b"tEXT", b"").critical
    assert not Segment(b"aBCD", b"").critical
    assert {TAG_TILE, TAG_END} <= KNOWN_CRITICAL


def test_write_and_read_stream():
    h = forge.small_header(rows=9, cols=10, tile_rows=4, tile_cols=4)  # 3 x 3 tiles
    tiles = [(TAG_TILE, struct.pack("<II", 0, i) + bytes([i]) * i) for i in range(9)]
    optional = [(b"note", b"hello"), (b"xtra", b"")]
    segs = [tiles[4], optional[0]] + tiles[:4] + tiles[5:] + [optional[1]]  # any order
    data = write_stream(h, segs)
    st_ = read_stream(data)
    assert st_.header == h
    assert st_.size == len(data)
    assert sorted(st_.tiles) == [(0, i) for i in range(9)]
    for i in range(9):
        assert bytes(st_.tiles[(0, i)]) == bytes([i]) * i
    assert [s.tag for s in st_.segments] == [b"note", b"xtra"]
    assert bytes(st_.segment(b"note")) == b"hello"
    assert bytes(st_.segment(b"xtra")) == b""
    assert st_.segment(b"nope") is None
    # same result from every buffer type
    for buf in (bytearray(data), memoryview(data), np.frombuffer(data, np.uint8)):
        assert read_stream(buf).header == h


def test_pack_tile_matches_forge():
    assert pack_tile(3, 7, b"pay", 1) == forge.segment(*forge.tile(3, 7, b"pay"))


def test_stream_size_excludes_padding():
    h = forge.small_header()
    data = write_stream(h, [forge.tile(0, 0, b"x")])
    for pad in (b"\x00", b"\x00" * 7, b"garbage that is not a segment", MAGIC):
        st_ = read_stream(data + pad)
        assert st_.size == len(data)
        assert mic.info(data + pad).compressed_size == len(data)


def test_multi_frame_tiles_keyed_by_frame():
    h = forge.stack_header(3, tile_rows=2)  # 4 rows -> 2 tiles per frame
    segs = [forge.tile(f, t, bytes([f, t])) for t in range(2) for f in range(3)]
    st_ = read_stream(write_stream(h, segs))
    assert sorted(st_.tiles) == [(f, t) for f in range(3) for t in range(2)]
    assert bytes(st_.tiles[(2, 1)]) == b"\x02\x01"


# ----------------------------------------------------------------------------- tiles
@settings(max_examples=80, deadline=None)
@given(rows=st.integers(1, 70), cols=st.integers(1, 70),
       th=st.integers(0, 80), tw=st.integers(0, 80))
def test_iter_tiles_partitions_the_frame(rows, cols, th, tw):
    h = forge.small_header(rows=rows, cols=cols, tile_rows=th, tile_cols=tw)
    cover = np.zeros((rows, cols), np.int32)
    idxs = []
    for idx, r0, r1, c0, c1 in iter_tiles(h):
        assert 0 <= r0 < r1 <= rows and 0 <= c0 < c1 <= cols
        cover[r0:r1, c0:c1] += 1
        idxs.append(idx)
    assert (cover == 1).all()
    ny, nx = h.tiles_per_frame
    assert idxs == list(range(ny * nx))


# ----------------------------------------------------------------------------- info / check
def test_info_on_a_forged_stream():
    h = forge.stack_header(2, rows=6, cols=5, tile_rows=3, bits_stored=10, model_id=7,
                           flags=1, sample_crc32=1234, photometric=PHOTOMETRIC_MONOCHROME1)
    segs = [forge.tile(f, t) for f in range(2) for t in range(2)]
    data = write_stream(h, segs)
    i = mic.info(data)
    assert i.version == f"1.{VERSION_MINOR}"
    assert i.mode == "lossless" and i.model_id == 7 and i.coder == "constriction-range32"
    assert i.dtype == "uint16" and i.bits_stored == 10 and not i.signed
    assert i.photometric == "MONOCHROME1"
    assert i.shape == (2, 6, 5) and (i.frames, i.rows, i.cols) == (2, 6, 5)
    assert i.samples_per_pixel == 1
    assert i.tile_shape == (3, 5) and i.tiles == 4
    assert i.quality is None and i.sample_crc32 == 1234
    assert i.compressed_size == len(data)
    assert i.raw_size == 2 * 6 * 5 * 2
    assert i.ratio == pytest.approx(i.raw_size / len(data))
    assert i.bits_per_pixel == pytest.approx(8 * len(data) / 60)


def test_info_reports_unknown_coder_without_failing():
    data = write_stream(forge.small_header(coder_id=77), [forge.tile(0, 0)])
    assert mic.info(data).coder == "unknown(77)"
    assert mic.info(write_stream(forge.small_header(flags=0), [forge.tile(0, 0)])).sample_crc32 \
        is None


def test_check_is_a_magic_test_only():
    assert mic.check(MAGIC)
    assert mic.check(MAGIC + b"anything")
    assert not mic.check(b"")
    assert not mic.check(MAGIC[:7])
    assert not mic.check(b"\x89PNG\r\n\x1a\n")
    assert mic.check(memoryview(write_stream(forge.small_header(), [forge.tile(0, 0)])))


def test_newer_minor_version_with_longer_header_is_read():
    h = forge.small_header(rows=3, cols=3)
    extra = b"future fields \x00\x01\x02"
    data = forge.forge_stream(h, [forge.tile(0, 0, b"p")], minor=VERSION_MINOR + 3, extra=extra)
    st_ = read_stream(data)
    assert st_.header.version_minor == VERSION_MINOR + 3
    assert st_.header.rows == 3 and bytes(st_.tiles[(0, 0)]) == b"p"
    assert mic.info(data).version == f"1.{VERSION_MINOR + 3}"


def test_mode_and_layout_constants_are_permanent():
    # Values written into streams must never be renumbered (SPEC.md section 3).
    assert (MODE_LOSSLESS, LAYOUT_RC, LAYOUT_FRC, LAYOUT_RCS, LAYOUT_FRCS) == (0, 0, 1, 2, 3)
    assert (PHOTOMETRIC_MONOCHROME1, PHOTOMETRIC_RGB) == (1, 2)
    assert TAG_TILE == b"TILE" and TAG_END == b"MEND"


@settings(max_examples=60, deadline=None)
@given(
    frames=st.integers(1, 3), rows=st.integers(1, 9), cols=st.integers(1, 9),
    th=st.integers(0, 9), tw=st.integers(0, 9),
    optional=st.lists(st.tuples(
        st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=1).map(str.encode)
        .flatmap(lambda a: st.lists(st.integers(33, 126), min_size=3, max_size=3)
                 .map(lambda b: a + bytes(b))),
        st.binary(max_size=40)), max_size=5),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_streams_round_trip_through_the_container(frames, rows, cols, th, tw,
                                                         optional, seed):
    h = forge.stack_header(frames, rows=rows, cols=cols, tile_rows=th, tile_cols=tw)
    ny, nx = h.tiles_per_frame
    rng = np.random.default_rng(seed)
    payloads = {(f, t): rng.bytes(int(rng.integers(0, 20)))
                for f in range(frames) for t in range(ny * nx)}
    segs = [forge.tile(f, t, p) for (f, t), p in payloads.items()] + list(optional)
    order = rng.permutation(len(segs))
    data = write_stream(h, [segs[i] for i in order])
    st_ = read_stream(data + rng.bytes(int(rng.integers(0, 5))))
    assert st_.header == h and st_.size == len(data)
    assert {k: bytes(v) for k, v in st_.tiles.items()} == payloads
    assert sorted((s.tag, bytes(s.payload)) for s in st_.segments) == sorted(optional)
    # any proper prefix is a truncation, never a silent success
    for n in rng.integers(1, len(data), 8):
        with pytest.raises(mic.MicTruncatedError):
            read_stream(data[:n])


def test_region_decode_rgb_and_errors():
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (33, 45, 3), dtype=np.uint8)
    blob = mic.encode(rgb, tile=16)
    assert np.array_equal(mic.decode(blob, region=(3, 20, 16, 32)), rgb[3:20, 16:32])
    for bad in ((0, 0, 0, 5), (0, 34, 0, 5), (5, 2, 0, 5), (-1, 3, 0, 5), (1, 2, 3), "abcd"):
        with pytest.raises(mic.MicInputError):
            mic.decode(blob, region=bad)
