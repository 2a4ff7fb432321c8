"""Forge .mic streams byte by byte, for invalid-stream tests and vectors.

``mic.bitstream.pack_header`` always writes the current version and a correct
CRC.  Tests of the reader need headers it would never write: another major or
minor version, extra body bytes, a wrong body length, a wrong CRC, absurd
dimensions.  This module builds them straight from
``mic.bitstream.schema.HEADER_FIELDS`` (so it follows the schema) and
recomputes every CRC unless told otherwise, so that each forged stream fails
for the one reason a test names and not because of a stale checksum.

It is a plain module (no package): ``tests/`` load it by path and
``formats/make_vectors.py`` imports it from its own folder.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, replace
from typing import Any

from mic.bitstream.container import SEG_HEAD_FMT, SEG_HEAD_SIZE, TAG_END, TAG_TILE, TAG_TILE_PREFIX
from mic.bitstream.schema import (
    HEADER_FIELDS,
    LAYOUT_FRC,
    LAYOUT_RC,
    MAGIC,
    MODE_LOSSLESS,
    PHOTOMETRIC_MONOCHROME2,
    PREFIX_FMT,
    PREFIX_SIZE,
    VERSION_MAJOR,
    VERSION_MINOR,
    Header,
)

BODY_FMT = "<" + "".join(code for _, code, _ in HEADER_FIELDS)
BODY_SIZE = struct.calcsize(BODY_FMT)


def header_body(h: Header) -> bytes:
    """The header body for ``h``'s fields, packed exactly as the schema says (no range checks
    beyond struct's)."""
    return struct.pack(BODY_FMT, *(getattr(h, name) for name, _, _ in HEADER_FIELDS))


def forge_header(
    h: Header,
    *,
    major: int = 1,
    minor: int = VERSION_MINOR,
    extra: bytes = b"",
    magic: bytes = MAGIC,
    body_len: int | None = None,
    crc: int | None = None,
) -> bytes:
    """A header with any version, trailing body bytes, body length or CRC.

    ``body_len`` defaults to the real length of body + ``extra``; ``crc`` defaults to the
    correct CRC-32 of everything before it (so only what the caller changes is wrong).
    """
    body = header_body(h) + extra
    n = len(body) if body_len is None else body_len
    prefix = struct.pack(PREFIX_FMT, magic, major, minor, n)
    c = zlib.crc32(prefix + body) if crc is None else crc
    return prefix + body + struct.pack("<I", c & 0xFFFFFFFF)


def header_body_v2(h: Header, raw: dict[str, bytes] | None = None) -> bytes:
    """A version-2 header body: each field as a LEB128 varint (:func:`uvarint`), in schema
    order; ``raw`` gives the exact bytes of chosen fields (over-long or oversized forms)."""
    raw = raw or {}
    return b"".join(raw[name] if name in raw else uvarint(getattr(h, name))
                    for name, _, _ in HEADER_FIELDS)


def forge_header_v2(h: Header, *, minor: int = VERSION_MINOR, body: bytes | None = None,
                    extra: bytes = b"", body_len: int | None = None,
                    crc: int | None = None) -> bytes:
    """A version-2 header: magic, major 2, minor, body length (varint), body, CRC-32 (the
    correct one unless ``crc`` is given)."""
    b = (header_body_v2(h) if body is None else body) + extra
    prefix = MAGIC + bytes((2, minor)) + uvarint(len(b) if body_len is None else body_len)
    c = zlib.crc32(prefix + b) if crc is None else crc
    return prefix + b + struct.pack("<I", c & 0xFFFFFFFF)


def segment_v2(tag: bytes, payload: bytes, *, length: bytes | None = None,
               crc: int | None = None) -> bytes:
    """One version-2 segment; ``length`` may give the raw bytes of its length field (the CRC
    still covers what is written)."""
    head = tag + (uvarint(len(payload)) if length is None else length)
    c = zlib.crc32(payload, zlib.crc32(head)) if crc is None else crc
    return head + payload + struct.pack("<I", c & 0xFFFFFFFF)


def segment(tag: bytes, payload: bytes, *, length: int | None = None,
            crc: int | None = None) -> bytes:
    """One segment; ``length`` may lie (the CRC is still computed over what is written)."""
    n = len(payload) if length is None else length
    head = struct.pack(SEG_HEAD_FMT, tag, n)
    c = zlib.crc32(payload, zlib.crc32(head)) if crc is None else crc
    return head + payload + struct.pack("<I", c & 0xFFFFFFFF)


def segment_like(stream: bytes, tag: bytes, payload: bytes) -> bytes:
    """A segment framed as the version of ``stream`` (its byte 8) says."""
    return (segment if stream[8] == 1 else segment_v2)(tag, payload)


def tile(frame: int, index: int, payload: bytes = b"") -> tuple[bytes, bytes]:
    """A (tag, payload) pair for a TILE segment."""
    return TAG_TILE, TAG_TILE_PREFIX.pack(frame, index) + payload


def forge_stream(h: Header, segments: list[tuple[bytes, bytes]], *, end: bool = True,
                 trailer: bytes = b"", **header_kw) -> bytes:
    """Header (see :func:`forge_header` for ``header_kw``), segments, MEND, trailing bytes."""
    parts = [forge_header(h, **header_kw)]
    parts.extend(segment(t, p) for t, p in segments)
    if end:
        parts.append(segment(TAG_END, b""))
    parts.append(trailer)
    return b"".join(parts)


def small_header(**kw) -> Header:
    """A valid 1-frame 4x5 uint16 MONOCHROME2 header of major version 1 (the layout this
    module forges), fields overridable."""
    base = Header(mode=MODE_LOSSLESS, model_id=0, coder_id=1, bits_allocated=16, signed=0,
                  bits_stored=12, photometric=PHOTOMETRIC_MONOCHROME2, layout=LAYOUT_RC,
                  samples=1, frames=1, rows=4, cols=5, version_major=1)
    return replace(base, **kw)


def stack_header(frames: int, **kw) -> Header:
    return small_header(layout=LAYOUT_FRC, frames=frames, **kw)


@dataclass(frozen=True)
class SegmentSpan:
    """Where one segment lies in a stream: [start, end) covers tag..crc inclusive."""

    tag: bytes
    start: int
    payload_start: int
    payload_end: int
    #: where a TILE's mode payload starts, after its frame and tile index (8 bytes in v1,
    #: two varints in v2); ``payload_start`` for other segments
    mode_start: int = -1

    @property
    def end(self) -> int:
        return self.payload_end + 4

    @property
    def length_field(self) -> int:
        return self.start + 4


def uvarint_at(b: bytes, pos: int) -> tuple[int, int]:
    """A well-formed LEB128 value at ``b[pos:]`` and the position after it."""
    v = shift = 0
    while True:
        c = b[pos]
        pos += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, pos


def uvarint(v: int) -> bytes:
    """The LEB128 bytes of ``v`` (written here, not taken from mic, for v2 forgeries)."""
    out = bytearray()
    while True:
        out.append((v & 0x7F) | (0x80 if v >> 7 else 0))
        v >>= 7
        if not v:
            return bytes(out)


def header_end(stream: bytes) -> int:
    """Offset of the first segment (trusts the body length; for well-formed streams of
    either major version)."""
    if stream[8] == 1:
        (body_len,) = struct.unpack_from("<H", stream, 10)
        return PREFIX_SIZE + body_len + 4
    body_len, pos = uvarint_at(stream, 10)
    return pos + body_len + 4


def spans(stream: bytes) -> list[SegmentSpan]:
    """The segments of a well-formed stream (either major version), up to and including
    MEND; ``length_field`` is where the length starts (a u32 in v1, a varint in v2)."""
    out = []
    v1 = stream[8] == 1
    pos = header_end(stream)
    while pos + (SEG_HEAD_SIZE if v1 else 5) <= len(stream):
        tag = bytes(stream[pos:pos + 4])
        if v1:
            (n,) = struct.unpack_from("<I", stream, pos + 4)
            start = pos + SEG_HEAD_SIZE
        else:
            n, start = uvarint_at(stream, pos + 4)
        mode = start
        if tag == TAG_TILE:
            mode = start + 8 if v1 else uvarint_at(stream, uvarint_at(stream, start)[1])[1]
        out.append(SegmentSpan(tag, pos, start, start + n, mode))
        pos = start + n + 4
        if tag == TAG_END:
            break
    return out


def refresh_crc(stream: bytes | bytearray, span: SegmentSpan) -> bytes:
    """Recompute one segment's CRC after its bytes were edited in place (length unchanged)."""
    b = bytearray(stream)
    struct.pack_into("<I", b, span.payload_end, zlib.crc32(bytes(b[span.start:span.payload_end])))
    return bytes(b)


def edit_segment(stream: bytes, span: SegmentSpan, at: int, value: bytes | int) -> bytes:
    """``stream`` with ``value`` (bytes, or one byte's value) written at ``at``, inside the
    segment ``span``, whose CRC is then recomputed (length unchanged)."""
    b = bytearray(stream)
    data = bytes((value,)) if isinstance(value, int) else value
    b[at:at + len(data)] = data
    return refresh_crc(b, span)


def fast_planes(stream: bytes, fast: int) -> list[tuple[SegmentSpan, int, Any, int | None]]:
    """Every plane of every tile of a lossless stream whose planes ``mic``'s
    ``parse_plane(..., fast)`` reads: (its TILE span, its kind, its plane head, where its
    table section starts for kinds 5 and 6, else None).  Tiles of xform 5 have a tree byte
    first, those of xform 6 a tree byte and two wrap fields; those of xform 4 (a volume's
    inter tiles) one plane."""
    import mic
    from mic.lossless.syntax import _read_uv, parse_plane

    info = mic.info(stream)
    rows, cols = info.tile_shape
    out = []
    for sp in spans(stream):
        if sp.tag != TAG_TILE:
            continue
        buf = memoryview(stream)[:sp.payload_end]
        xform = stream[sp.mode_start]
        pos = sp.mode_start + (2 if xform in (5, 6) else 1)
        if xform == 6:
            pos = _read_uv(buf, _read_uv(buf, pos)[1])[1]
        for _ in range(1 if xform == 4 else info.samples_per_pixel):
            ph = parse_plane(buf, pos, min(rows, 1 << 16), min(cols, 1 << 16), fast)
            kind, at = int(stream[pos]), None
            if kind in (5, 6):  # kind, offset, maxval [, span, zlen, palette], tables
                _, at = _read_uv(buf, pos + 1)
                _, at = _read_uv(buf, at)
                if kind == 6:
                    _, at = _read_uv(buf, at)
                    z, at = _read_uv(buf, at)
                    at += z
            out.append((sp, kind, ph, at))
            pos = ph.end
    return out


def refresh_header_crc(stream: bytes | bytearray) -> bytes:
    """Recompute the header CRC after the header bytes were edited in place."""
    b = bytearray(stream)
    end = header_end(b) - 4
    struct.pack_into("<I", b, end, zlib.crc32(bytes(b[:end])))
    return bytes(b)


def set_header_fields(stream: bytes, **fields: int) -> bytes:
    """Rewrite header body fields of a real stream in place and fix the header CRC."""
    b = bytearray(stream)
    off = PREFIX_SIZE
    for name, code, _ in HEADER_FIELDS:
        if name in fields:
            struct.pack_into("<" + code, b, off, fields.pop(name))
        off += struct.calcsize("<" + code)
    if fields:
        raise KeyError(f"no such header fields: {sorted(fields)}")
    return refresh_header_crc(b)


def flip_header_flags(stream: bytes, bits: int) -> bytes:
    """A real stream of either major version with header ``flags`` bits ``bits`` flipped,
    the header re-serialised (its CRC recomputed) and the rest kept byte for byte."""
    from mic.bitstream.schema import pack_header, unpack_header

    h, end = unpack_header(stream)
    return pack_header(replace(h, flags=h.flags ^ bits)) + bytes(stream[end:])


def field_offsets() -> list[tuple[str, int, int]]:
    """(name, offset in the stream, size) of every header field, prefix and CRC included."""
    out = [("magic", 0, 8), ("version_major", 8, 1), ("version_minor", 9, 1), ("body_len", 10, 2)]
    off = PREFIX_SIZE
    for name, code, _ in HEADER_FIELDS:
        size = struct.calcsize("<" + code)
        out.append((name, off, size))
        off += size
    out.append(("header_crc", off, 4))
    return out


def regrid(stream: bytes, payload: bytes | list[bytes] | None = None, **fields: int) -> bytes:
    """A stream (either major version) whose header says ``fields`` (e.g. ``rows``,
    ``cols``, ``frames``, ``tile_rows``, ``tile_cols``) and holds one ``TILE`` for every
    (frame, tile) of that grid, each carrying the mode payload of the source's tiles in
    turn (the first tile's, the second's, ... and round again), its other segments kept:
    a forged header of any size over tile data made for a small image.  Every CRC is
    correct, so the stream fails only where the tile data do not fit the header.
    ``payload``: the tiles carry these mode-payload bytes instead (a list: in turn)."""
    from mic.bitstream.schema import unpack_header

    h, pos = unpack_header(stream)
    h2 = replace(h, **fields)
    sp = spans(stream)
    tiles = [bytes(stream[s.mode_start:s.payload_end]) for s in sp if s.tag == TAG_TILE]
    if payload is not None:
        tiles = [bytes(payload)] if isinstance(payload, (bytes, bytearray)) else \
            [bytes(p) for p in payload]
    other = [(s.tag, bytes(stream[s.payload_start:s.payload_end])) for s in sp
             if s.tag not in (TAG_TILE, TAG_END)]
    v1 = h.version_major == 1
    head = forge_header(h2, minor=h.version_minor) if v1 else \
        forge_header_v2(h2, minor=h.version_minor)
    seg = segment if v1 else segment_v2
    ny, nx = h2.tiles_per_frame
    parts = [head] + [seg(t, p) for t, p in other]
    k = 0
    for f in range(h2.frames):
        for t in range(ny * nx):
            prefix = TAG_TILE_PREFIX.pack(f, t) if v1 else uvarint(f) + uvarint(t)
            parts.append(seg(TAG_TILE, prefix + tiles[k % len(tiles)]))
            k += 1
    parts.append(seg(TAG_END, b""))
    return b"".join(parts)
