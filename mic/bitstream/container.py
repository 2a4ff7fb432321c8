"""Segments of a .mic stream: writing, reading and checking them.

A stream is ``header`` then segments, each::

    tag      4 bytes ASCII   first letter upper case = critical, lower case = optional
    length   u32 LE (v1)     payload length in bytes; v2: an unsigned LEB128 varint
    payload  length bytes
    crc32    u32 LE          CRC-32 of tag + length + payload

and ends with the empty critical segment ``MEND``.  Bytes after ``MEND`` are
ignored (DICOM pads fragments to an even length).  Unknown optional segments are
skipped; unknown critical segments are refused.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from ..errors import (
    MicChecksumError, MicFormatError, MicInputError, MicTruncatedError, MicUnsupportedError,
)
from .schema import VERSION_MAJOR, Header, pack_header, unpack_header
from .varint import U32_MAX, pack_uvarint, read_uvarint

SEG_HEAD_FMT = "<4sI"
SEG_HEAD_SIZE = struct.calcsize(SEG_HEAD_FMT)

TAG_TILE = b"TILE"  # one coded (frame, tile): frame, tile index (v1 u32, v2 varints), mode payload
TAG_END = b"MEND"
TAG_TILE_PREFIX = struct.Struct("<II")

#: Critical tags a v1 decoder understands; modes may add their own via ``KNOWN_CRITICAL``.
KNOWN_CRITICAL: set[bytes] = {TAG_TILE, TAG_END, b"LMDL", b"LMDS", b"NEAR", b"LVOL"}


@dataclass
class Segment:
    tag: bytes
    payload: bytes | memoryview

    @property
    def critical(self) -> bool:
        return 65 <= self.tag[0] <= 90  # 'A'..'Z'


@dataclass
class Stream:
    """A parsed stream: the header, the tiles by (frame, tile index), other segments."""

    header: Header
    tiles: dict[tuple[int, int], memoryview] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)
    size: int = 0  # bytes up to and including MEND

    def segment(self, tag: bytes) -> memoryview | None:
        for s in self.segments:
            if s.tag == tag:
                return memoryview(s.payload)
        return None


def pack_segment(tag: bytes, payload: bytes | bytearray | memoryview,
                 major: int = VERSION_MAJOR) -> bytes:
    """One segment in the framing of stream version ``major`` (1 or 2)."""
    if len(tag) != 4 or not all(32 < b < 127 for b in tag) or not chr(tag[0]).isalpha():
        raise ValueError(f"segment tag must be 4 printable ASCII bytes starting with a letter, "
                         f"got {tag!r}")
    head = struct.pack(SEG_HEAD_FMT, tag, len(payload)) if major == 1 else \
        tag + pack_uvarint(len(payload))
    crc = zlib.crc32(payload, zlib.crc32(head))
    return b"".join((head, bytes(payload), struct.pack("<I", crc)))


def tile_prefix(frame: int, index: int, major: int = VERSION_MAJOR) -> bytes:
    """The (frame, tile index) that starts a TILE payload: two u32 (v1) or varints (v2)."""
    return TAG_TILE_PREFIX.pack(frame, index) if major == 1 else \
        pack_uvarint(frame) + pack_uvarint(index)


def pack_tile(frame: int, index: int, payload: bytes, major: int = VERSION_MAJOR) -> bytes:
    return pack_segment(TAG_TILE, tile_prefix(frame, index, major) + payload, major)


def write_stream(header: Header, segments: list[tuple[bytes, bytes]]) -> bytes:
    """Header, the given (tag, payload) segments in order, then MEND, in the layout of
    ``header.version_major``."""
    major = header.version_major
    parts = [pack_header(header)]
    parts.extend(pack_segment(t, p, major) for t, p in segments)
    parts.append(pack_segment(TAG_END, b"", major))
    return b"".join(parts)


def read_stream(data: bytes | bytearray | memoryview) -> Stream:
    """Parse and CRC-check every segment; validate the tile set against the header."""
    try:
        mv = memoryview(data)
    except TypeError:
        raise MicInputError(
            f"a .mic stream is bytes-like (bytes, bytearray, memoryview), not {type(data).__name__}"
        ) from None
    if mv.ndim != 1 or mv.itemsize != 1:
        mv = mv.cast("B")
    header, pos = unpack_header(mv)
    v1 = header.version_major == 1
    st = Stream(header=header)
    n = len(mv)
    ended = False
    while pos < n:
        if n - pos < (SEG_HEAD_SIZE if v1 else 5):
            raise MicTruncatedError(f"stream truncated inside a segment header at byte {pos}")
        tag = bytes(mv[pos:pos + 4])
        if not all(32 < b < 127 for b in tag) or not chr(tag[0]).isalpha():
            raise MicFormatError(f"invalid segment tag {tag!r} at byte {pos}")
        if v1:
            (length,) = struct.unpack_from("<I", mv, pos + 4)
            start = pos + SEG_HEAD_SIZE
        else:
            try:
                length, start = read_uvarint(mv, pos + 4, f"segment {tag.decode()} length",
                                             U32_MAX)
            except MicTruncatedError:
                raise MicTruncatedError(
                    f"stream truncated inside a segment header at byte {pos}") from None
        end = start + length
        if end + 4 > n:
            raise MicTruncatedError(
                f"segment {tag.decode()} at byte {pos} announces {length} bytes, "
                f"only {max(0, n - start - 4)} remain"
            )
        (crc,) = struct.unpack_from("<I", mv, end)
        if zlib.crc32(mv[pos:end]) != crc:
            raise MicChecksumError(f"segment {tag.decode()} at byte {pos}: CRC-32 mismatch")
        payload = mv[start:end]
        pos = end + 4
        if tag == TAG_END:
            if length:
                raise MicFormatError("MEND segment must be empty")
            ended = True
            break
        seg = Segment(tag, payload)
        if tag == TAG_TILE:
            if v1:
                if length < TAG_TILE_PREFIX.size:
                    raise MicFormatError("TILE segment shorter than its frame/tile prefix")
                key = TAG_TILE_PREFIX.unpack_from(payload, 0)
                at = TAG_TILE_PREFIX.size
            else:
                try:
                    fr, at = read_uvarint(payload, 0, "TILE frame", U32_MAX)
                    ti, at = read_uvarint(payload, at, "TILE tile index", U32_MAX)
                except MicTruncatedError:
                    raise MicFormatError("TILE segment shorter than its frame/tile prefix") from None
                key = (fr, ti)
            if key in st.tiles:
                raise MicFormatError(f"duplicate TILE segment for frame {key[0]}, tile {key[1]}")
            st.tiles[key] = payload[at:]
        elif seg.critical and tag not in KNOWN_CRITICAL:
            raise MicUnsupportedError(f"unknown critical segment {tag.decode()!r}")
        else:
            st.segments.append(seg)
    if not ended:
        raise MicTruncatedError("stream truncated: no MEND segment")
    st.size = pos
    th, tw = header.tiles_per_frame
    want = header.frames * th * tw
    if len(st.tiles) != want or any(
        not (0 <= f < header.frames and 0 <= t < th * tw) for f, t in st.tiles
    ):
        raise MicFormatError(
            f"stream has {len(st.tiles)} TILE segments; the header needs {want} "
            f"({header.frames} frames x {th * tw} tiles), each exactly once"
        )
    return st


def iter_tiles(header: Header):
    """Yield (tile index, row0, row1, col0, col1) for one frame, in index order."""
    th, tw = header.tile_shape
    ny, nx = header.tiles_per_frame
    for ty in range(ny):
        for tx in range(nx):
            r0, c0 = ty * th, tx * tw
            yield ty * nx + tx, r0, min(r0 + th, header.rows), c0, min(c0 + tw, header.cols)
