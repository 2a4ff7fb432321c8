"""Stream version 2 (SPEC.md sections 1-4): varint header fields, segment lengths and TILE
numbers.  The v1 layout keeps its own tests (test_bitstream.py, test_invalid_streams.py,
whose bit-flip sweep runs on both versions); these check what version 2 changes and that
nothing else changes with it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mic
from mic.bitstream import TAG_END, TAG_TILE, Header, read_stream, unpack_header, write_stream
from mic.bitstream.schema import HEADER_FIELDS, HEADER_SIZE, pack_header
from mic.bitstream.varint import pack_uvarint, read_uvarint
from mic.lossy import TileFields
from mic_test_helpers import load_forge

forge = load_forge()


def expect(exc, data, fn=mic.decode, exact=True):
    with pytest.raises(mic.MicError) as info:
        fn(data)
    assert (type(info.value) is exc) if exact else isinstance(info.value, exc), info.value
    return info.value


# ----------------------------------------------------------------------------- varints
@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**64 - 1))
def test_varint_round_trip_and_shortest_form(v):
    b = pack_uvarint(v)
    assert read_uvarint(b + b"\x99", 0, "x", 2**64 - 1) == (v, len(b))
    assert len(b) == max(1, -(-v.bit_length() // 7))
    assert b == forge.uvarint(v)  # mic's writer and the forger (written apart) agree


@pytest.mark.parametrize("raw", [b"\x80\x00", b"\x81\x00", b"\xff\x80\x00", b"\x80\x80\x80\x00"])
def test_overlong_varints_are_refused(raw):
    with pytest.raises(mic.MicFormatError, match="over-long"):
        read_uvarint(raw, 0, "x", 2**32 - 1)


def test_varint_limits_and_truncation():
    assert read_uvarint(pack_uvarint(255), 0, "x", 255) == (255, 2)
    with pytest.raises(mic.MicFormatError, match="exceeds 255"):
        read_uvarint(pack_uvarint(256), 0, "x", 255)
    with pytest.raises(mic.MicFormatError):  # a runaway continuation is cut off early
        read_uvarint(b"\xff" * 20, 0, "x", 2**32 - 1)
    for raw in (b"", b"\x80", b"\xff\xff"):
        with pytest.raises(mic.MicTruncatedError):
            read_uvarint(raw, 0, "x", 2**32 - 1)
    with pytest.raises(mic.MicTruncatedError):  # the end given, not the buffer's
        read_uvarint(b"\x80\x01", 0, "x", 2**32 - 1, end=1)
    with pytest.raises(ValueError):
        pack_uvarint(-1)


# ----------------------------------------------------------------------------- header
def _header(**kw) -> Header:
    return forge.small_header(version_major=2, **kw)


def test_v2_header_layout():
    h = _header(rows=300, cols=7, flags=1, sample_crc32=0xDEADBEEF, model_id=0x1234)
    b = pack_header(h)
    body = b"".join(forge.uvarint(getattr(h, n)) for n, _, _ in HEADER_FIELDS)
    assert b == forge.forge_header_v2(h)
    assert b[:10] == mic.bitstream.MAGIC + b"\x02\x00" and b[10] == len(body)
    assert b[11:11 + len(body)] == body and len(b) == 11 + len(body) + 4 < HEADER_SIZE
    assert unpack_header(b) == (h, len(b))


def test_v2_header_field_out_of_its_range_is_refused():
    with pytest.raises(mic.MicFormatError, match="bits_stored"):
        pack_header(_header(bits_stored=256))
    with pytest.raises(mic.MicFormatError):
        pack_header(_header(rows=2**32))
    h = _header()
    for name, raw, exc in (("bits_allocated", forge.uvarint(256 + 16), mic.MicFormatError),
                           ("model_id", forge.uvarint(2**16), mic.MicFormatError),
                           ("rows", b"\x84\x00", mic.MicFormatError)):  # over-long 4
        data = forge.forge_header_v2(h, body=forge.header_body_v2(h, {name: raw}))
        e = expect(exc, data + forge.segment_v2(TAG_END, b""), read_stream)
        assert name in str(e)


def test_v2_body_cut_inside_a_field_and_extra_fields():
    h = _header()
    body = forge.header_body_v2(h)
    end = forge.segment_v2(TAG_END, b"")
    for n in range(len(body)):
        expect(mic.MicFormatError, forge.forge_header_v2(h, body=body[:n]) + end, read_stream)
    # a later minor version appends fields: read and skipped
    data = forge.forge_header_v2(h, minor=5, extra=b"\x01\x80\x01future") + \
        forge.segment_v2(*forge.tile(0, 0, b"")) + end
    st_ = read_stream(data)
    assert st_.header.version_minor == 5 and st_.header.rows == h.rows
    assert mic.info(data).version == "2.5"


def test_major_versions_3_and_0_are_refused_before_the_crc():
    h = _header()
    for major in (0, 3, 255):
        b = bytearray(forge.forge_header_v2(h) + forge.segment_v2(TAG_END, b""))
        b[8] = major
        e = expect(mic.MicVersionError, bytes(b))
        assert "1.x and 2.x" in str(e)


# ----------------------------------------------------------------------------- segments
def test_v2_segments_and_tile_numbers():
    h = forge.stack_header(3, tile_rows=2, version_major=2)  # 4 rows -> 2 tiles a frame
    segs = [(TAG_TILE, forge.uvarint(f) + forge.uvarint(t) + bytes([f, t]))
            for t in range(2) for f in range(3)] + [(b"note", b"x" * 300)]
    data = write_stream(h, segs)
    assert data == forge.forge_header_v2(h) + b"".join(
        forge.segment_v2(tag, p) for tag, p in segs) + forge.segment_v2(TAG_END, b"")
    st_ = read_stream(data)
    assert sorted(st_.tiles) == [(f, t) for f in range(3) for t in range(2)]
    assert bytes(st_.tiles[(2, 1)]) == b"\x02\x01"
    assert bytes(st_.segment(b"note")) == b"x" * 300
    # big frame and tile numbers take more varint bytes, and must still match the grid
    big = write_stream(forge.small_header(version_major=2, tile_rows=1, tile_cols=1, rows=200,
                                          cols=200), [(TAG_TILE, forge.uvarint(0)
                                                       + forge.uvarint(39999))])
    expect(mic.MicFormatError, big, read_stream)  # 40000 tiles announced, one present


def test_truncated_v2_stream_at_every_byte():
    h = forge.stack_header(2, tile_rows=2, version_major=2)
    data = write_stream(h, [(TAG_TILE, forge.uvarint(f) + forge.uvarint(t) + bytes(200 * t))
                            for f in range(2) for t in range(2)] + [(b"note", b"optional")])
    read_stream(data)
    for n in range(1, len(data)):
        expect(mic.MicTruncatedError, data[:n], read_stream)
    expect(mic.MicTruncatedError, data[:len(data) - 1])


def test_v2_tile_prefix_errors():
    h = _header()
    end = forge.segment_v2(TAG_END, b"")
    for payload in (b"", b"\x00", b"\x80", b"\x00\x80"):
        data = forge.forge_header_v2(h) + forge.segment_v2(TAG_TILE, payload) + end
        expect(mic.MicFormatError, data, read_stream)
    data = forge.forge_header_v2(h) + forge.segment_v2(TAG_TILE, b"\x80\x00\x00") + end
    e = expect(mic.MicFormatError, data, read_stream)
    assert "TILE" in str(e)


# ----------------------------------------------------------------------------- real streams
@pytest.fixture(scope="module")
def image() -> np.ndarray:
    rng = np.random.default_rng(1)
    base = np.add.outer(np.arange(12), np.arange(11)) * 37
    return (base + rng.integers(0, 9, base.shape)).astype(np.uint16)


def test_lossless_v1_and_v2_carry_the_same_tiles(image):
    v1, v2 = (mic.encode(image, stream_version=k, tile=(5, 4)) for k in (1, 2))
    assert v2[8] == 2 and v1[8] == 1 and len(v2) < len(v1)
    s1, s2 = read_stream(v1), read_stream(v2)
    assert {k: bytes(v) for k, v in s1.tiles.items()} == {k: bytes(v) for k, v in s2.tiles.items()}
    assert np.array_equal(mic.decode(v1), image) and np.array_equal(mic.decode(v2), image)
    i1, i2 = mic.info(v1), mic.info(v2)
    assert (i1.version, i2.version) == ("1.0", "2.0")
    assert i2.compressed_size == len(v2) and i1.sample_crc32 == i2.sample_crc32
    assert mic.encode(image) == mic.encode(image, stream_version=2)


@pytest.mark.parametrize("bad", [0, 3, True, "2", None, 2.0])
def test_stream_version_argument_is_checked(image, bad):
    with pytest.raises(mic.MicInputError, match="stream_version"):
        mic.encode(image, stream_version=bad)


def test_lossy_v1_and_v2_decode_to_the_same_pixels():
    """With the v2-only tools off (restoration directions, inline table biases), the two
    versions code the same tile (same fields, same words), only the fields' bytes differ."""
    pytest.importorskip("safetensors")
    from pathlib import Path

    from mic.io import read_image

    a, _ = read_image(Path(__file__).parent / "data" / "ct_abdomen_u16.png")
    a = a[128:256, 128:320]
    no_dirs = mic.EncoderOptions(restore_directions=False, inline_biases=False)
    v1, v2 = (mic.encode(a, quality=2, stream_version=k, options=no_dirs) for k in (1, 2))
    assert np.array_equal(mic.decode(v1), mic.decode(v2))
    t1, t2 = (forge.spans(v)[-2] for v in (v1, v2))  # the TILE before MEND
    assert t1.tag == t2.tag == TAG_TILE
    p1, p2 = v1[t1.mode_start:t1.payload_end], v2[t2.mode_start:t2.payload_end]
    # the same fields and the same range-coder words, only written more compactly in v2
    heads = []
    for f, p in ((TileFields(1), p1), (TileFields(2), p2)):
        xform, off = f.read_xform(p, 0)
        lo, bits, off = f.read_norm(p, off)
        ll, crc, nw, off = f.read_plane(p, off)
        heads.append(((xform, lo, bits, ll, crc, nw), p[off:]))
    assert heads[0] == heads[1]
    assert len(p1) - len(p2) >= 5 and len(v1) - len(v2) >= 35


def test_tile_fields_round_trip_and_errors():
    import doctest

    import mic.bitstream.varint
    import mic.lossy
    import mic.lossy.syntax

    for mod in (mic.bitstream.varint, mic.lossy, mic.lossy.syntax):  # their examples
        res = doctest.testmod(mod)
        assert res.failed == 0 and res.attempted > 0
    f1, f2 = TileFields(1), TileFields(2)
    for lo in (0, 1, -1, 63, -64, 64, -1024, 2**31 - 1, -2**31):
        for f in (f1, f2):
            b = f.pack_norm(lo, 12)
            assert f.read_norm(b + b"\x00", 0) == (lo, 12, len(b))
            b = f.pack_plane(lo, 0xFFFFFFFF, 2**20)
            assert f.read_plane(b, 0) == (lo, 0xFFFFFFFF, 2**20, len(b))
    assert len(f2.pack_norm(0, 12)) == 2 and len(f2.pack_plane(-3, 7, 100)) == 6
    for cut in range(1, 6):  # truncated v2 norms and plane heads name what was cut
        with pytest.raises(mic.MicTruncatedError, match="normalisation"):
            f2.read_norm(f2.pack_norm(-2**31, 12)[:cut], 0)
        with pytest.raises(mic.MicTruncatedError, match="plane header"):
            f2.read_plane(f2.pack_plane(-2**31, 1, 2**30)[:cut], 0)
    with pytest.raises(mic.MicFormatError, match="over-long"):
        f2.read_xform(b"\x84\x00", 0)


def test_lossy_v2_tile_field_beyond_int32_is_refused():
    pytest.importorskip("safetensors")
    a = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 5) % 4096
    blob = mic.encode(a, quality=1, regions=False, restore=False)
    sp = forge.spans(blob)[-2]
    p = bytes(blob[sp.payload_start:sp.mode_start])  # frame, tile
    f = TileFields(2)
    xform, off = f.read_xform(blob[sp.mode_start:sp.payload_end], 0)
    body = bytes(blob[sp.mode_start:sp.payload_end])
    _, bits, end = f.read_norm(body, off)
    bad = body[:off] + pack_uvarint(2**32 - 2) + bytes((bits,)) + body[end:]  # lo = 2**31 - 1 ok
    assert np.array_equal(mic.decode(blob[:sp.start] + forge.segment_v2(TAG_TILE, p + bad)
                                     + blob[sp.end:]).shape, a.shape)
    bad = body[:off] + pack_uvarint(2**32) + bytes((bits,)) + body[end:]  # beyond u32
    with pytest.raises(mic.MicFormatError):
        mic.decode(blob[:sp.start] + forge.segment_v2(TAG_TILE, p + bad) + blob[sp.end:])


def test_damaged_v2_lossy_tile_fields_end_in_a_mic_error():
    """Bytes of a v2 lossy tile's compact fields (xform, norm, plane head) overwritten, the
    segment CRC fixed up: a MicError or a well-formed array, never another exception."""
    pytest.importorskip("safetensors")
    a = ((np.add.outer(np.arange(64), np.arange(48)) * 37) % 4096).astype(np.uint16)
    blob = mic.encode(a, quality=4)
    sp = forge.spans(blob)[-2]
    assert sp.tag == TAG_TILE
    rng = np.random.default_rng(7)
    errors = 0
    for pos in range(sp.mode_start, min(sp.mode_start + 16, sp.payload_end)):
        for v in {0x00, 0x7F, 0x80, 0xFF, *rng.integers(0, 256, 4).tolist()}:
            b = bytearray(blob)
            if b[pos] == v:
                continue
            b[pos] = v
            try:
                out = mic.decode(forge.refresh_crc(b, sp))
            except mic.MicError:
                errors += 1
                continue
            assert out.shape == a.shape and out.dtype == a.dtype
    assert errors > 50
