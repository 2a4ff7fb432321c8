"""The one declaration of the .mic header.

``HEADER_FIELDS`` is the single source of truth: :func:`pack_header`,
:func:`unpack_header` and :data:`HEADER_SIZE` are all derived from it, so the
writer and the reader cannot drift apart.  SPEC.md section 3 lists the same
table for humans.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, fields as dc_fields
from typing import Any

from ..errors import MicChecksumError, MicFormatError, MicTruncatedError, MicVersionError
from .varint import U8_MAX, U16_MAX, U32_MAX, pack_uvarint, read_uvarint

#: 8 bytes: a non-ASCII first byte, the letters, CR LF, SUB, LF (catches text-mode damage, like PNG).
MAGIC = b"\x8bMIC\r\n\x1a\n"
#: the major version the encoder writes by default: 2, the compact layout (varint fields)
VERSION_MAJOR = 2
VERSION_MINOR = 0
#: the major versions this decoder reads (1: fixed-width fields; 2: the same fields as
#: unsigned LEB128 varints, SPEC.md sections 1 and 3)
MAJORS = (1, 2)

# Enumerations (values are permanent: never renumber, only append).
MODE_LOSSLESS = 0
MODE_LOSSY = 1
MODE_NEAR_LOSSLESS = 2  # max error k in the NEAR segment (SPEC 7)
MODE_NAMES = {MODE_LOSSLESS: "lossless", MODE_LOSSY: "lossy", MODE_NEAR_LOSSLESS: "near-lossless"}

CODER_RANGE32 = 1  # constriction queue RangeEncoder/RangeDecoder, 32-bit words, little-endian
CODER_NAMES = {CODER_RANGE32: "constriction-range32"}

PHOTOMETRIC_MONOCHROME2 = 0
PHOTOMETRIC_MONOCHROME1 = 1
PHOTOMETRIC_RGB = 2
PHOTOMETRIC_NAMES = {
    PHOTOMETRIC_MONOCHROME2: "MONOCHROME2",
    PHOTOMETRIC_MONOCHROME1: "MONOCHROME1",
    PHOTOMETRIC_RGB: "RGB",
}

# How the caller's array maps onto (frames, rows, cols, samples).
LAYOUT_RC = 0  # (rows, cols)
LAYOUT_FRC = 1  # (frames, rows, cols)
LAYOUT_RCS = 2  # (rows, cols, samples)
LAYOUT_FRCS = 3  # (frames, rows, cols, samples)
LAYOUT_NAMES = {LAYOUT_RC: "rows,cols", LAYOUT_FRC: "frames,rows,cols",
                LAYOUT_RCS: "rows,cols,samples", LAYOUT_FRCS: "frames,rows,cols,samples"}

#: (name, struct code, description).  Little-endian, no padding.
HEADER_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("mode", "B", "0 lossless, 1 lossy, 2 near-lossless"),
    ("model_id", "H", "permanent id of the lossless coder variant or lossy model"),
    ("coder_id", "B", "entropy coder id (1 = constriction range coder, 32-bit words)"),
    ("bits_allocated", "B", "8 or 16: the sample container size"),
    ("signed", "B", "0 unsigned, 1 two's-complement signed"),
    ("bits_stored", "B", "1..bits_allocated: significant bits (sign bit included when signed)"),
    ("photometric", "B", "0 MONOCHROME2, 1 MONOCHROME1, 2 RGB"),
    ("layout", "B", "0 (R,C), 1 (F,R,C), 2 (R,C,S), 3 (F,R,C,S)"),
    ("samples", "B", "samples per pixel: 1 or 3"),
    ("frames", "I", "number of frames, >= 1"),
    ("rows", "I", "rows per frame, >= 1"),
    ("cols", "I", "columns per frame, >= 1"),
    ("tile_rows", "I", "tile height; 0 = one tile per frame"),
    ("tile_cols", "I", "tile width; 0 = one tile per frame"),
    ("quality", "B", "lossy quality index (0 for lossless)"),
    ("flags", "H", "bit 0: sample_crc32 is set and checked; bit 1: generative decoder (6.13); "
     "other bits reserved (write 0, ignore)"),
    ("sample_crc32", "I", "CRC-32 of the decoded samples (C order, little-endian); 0 for lossy"),
)

_BODY_FMT = "<" + "".join(code for _, code, _ in HEADER_FIELDS)
#: v1: the fixed body size, the prefix (magic + major + minor + body length u16) and the
#: whole header (prefix + body + header CRC-32)
HEADER_BODY_SIZE = struct.calcsize(_BODY_FMT)
PREFIX_FMT = "<8sBBH"
PREFIX_SIZE = struct.calcsize(PREFIX_FMT)
HEADER_SIZE = PREFIX_SIZE + HEADER_BODY_SIZE + 4
#: v2: each field's largest value (its v1 type's range)
FIELD_MAX = {name: {"B": U8_MAX, "H": U16_MAX, "I": U32_MAX}[code] for name, code, _ in HEADER_FIELDS}


@dataclass
class Header:
    """The decoded .mic header (one field per entry of :data:`HEADER_FIELDS`)."""

    mode: int
    model_id: int
    coder_id: int
    bits_allocated: int
    signed: int
    bits_stored: int
    photometric: int
    layout: int
    samples: int
    frames: int
    rows: int
    cols: int
    tile_rows: int = 0
    tile_cols: int = 0
    quality: int = 0
    flags: int = 0
    sample_crc32: int = 0
    version_major: int = VERSION_MAJOR
    version_minor: int = VERSION_MINOR

    # -- derived -----------------------------------------------------------------
    @property
    def dtype_str(self) -> str:
        return ("i" if self.signed else "u") + str(self.bits_allocated // 8)

    @property
    def shape(self) -> tuple[int, ...]:
        f, r, c, s = self.frames, self.rows, self.cols, self.samples
        return {LAYOUT_RC: (r, c), LAYOUT_FRC: (f, r, c), LAYOUT_RCS: (r, c, s),
                LAYOUT_FRCS: (f, r, c, s)}[self.layout]

    @property
    def n_samples(self) -> int:
        return self.frames * self.rows * self.cols * self.samples

    @property
    def tile_shape(self) -> tuple[int, int]:
        th = self.tile_rows or self.rows
        tw = self.tile_cols or self.cols
        return min(th, self.rows), min(tw, self.cols)

    @property
    def tiles_per_frame(self) -> tuple[int, int]:
        th, tw = self.tile_shape
        return -(-self.rows // th), -(-self.cols // tw)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dc_fields(self)}


def pack_header(h: Header) -> bytes:
    """Serialise ``h`` (magic, version, body, CRC) exactly as SPEC.md sections 1 and 3 say,
    in the layout of ``h.version_major`` (1 or 2; minor version 0)."""
    values = [getattr(h, name) for name, _, _ in HEADER_FIELDS]
    if h.version_major == 1:
        try:
            body = struct.pack(_BODY_FMT, *values)
        except struct.error as exc:  # a field out of its range is a programming error upstream
            raise MicFormatError(f"header field out of range: {exc}") from None
        prefix = struct.pack(PREFIX_FMT, MAGIC, 1, VERSION_MINOR, len(body))
    elif h.version_major == 2:
        for (name, _, _), v in zip(HEADER_FIELDS, values):
            if not 0 <= int(v) <= FIELD_MAX[name]:
                raise MicFormatError(f"header field out of range: {name}={v}")
        body = b"".join(pack_uvarint(v) for v in values)
        prefix = MAGIC + bytes((2, VERSION_MINOR)) + pack_uvarint(len(body))
    else:
        raise MicFormatError(f"cannot write .mic major version {h.version_major}; "
                             f"this encoder writes {' or '.join(map(str, MAJORS))}")
    return prefix + body + struct.pack("<I", zlib.crc32(prefix + body))


def unpack_header(buf: bytes | memoryview) -> tuple[Header, int]:
    """Parse and validate the header; return it and the offset of the first segment."""
    mv = memoryview(buf)
    if len(mv) < 8 or bytes(mv[:8]) != MAGIC:
        if len(mv) < 8 and bytes(mv[: len(mv)]) == MAGIC[: len(mv)] and len(mv) > 0:
            raise MicTruncatedError(f"stream truncated inside the magic ({len(mv)} of 8 bytes)")
        raise MicFormatError("not a .mic stream: bad magic bytes")
    if len(mv) < 10:
        raise MicTruncatedError("stream truncated inside the version/length prefix")
    major, minor = mv[8], mv[9]
    if major not in MAJORS:
        raise MicVersionError(
            f"unsupported .mic major version {major}.{minor}; this decoder reads "
            + " and ".join(f"{m}.x" for m in MAJORS))
    if major == 1:
        if len(mv) < PREFIX_SIZE:
            raise MicTruncatedError("stream truncated inside the version/length prefix")
        (body_len,) = struct.unpack_from("<H", mv, 10)
        if body_len < HEADER_BODY_SIZE:
            raise MicFormatError(
                f"header body length {body_len} < {HEADER_BODY_SIZE} required by v1")
        start = PREFIX_SIZE
    else:
        try:
            body_len, start = read_uvarint(mv, 10, "header body length", U16_MAX)
        except MicTruncatedError:
            raise MicTruncatedError("stream truncated inside the version/length prefix") from None
    end = start + body_len
    if len(mv) < end + 4:
        raise MicTruncatedError("stream truncated inside the header")
    (crc,) = struct.unpack_from("<I", mv, end)
    if zlib.crc32(mv[:end]) != crc:
        raise MicChecksumError("header CRC-32 mismatch: the header is corrupt")
    # Later minor versions may append fields: read ours, skip the rest.
    if major == 1:
        values = struct.unpack_from(_BODY_FMT, mv, PREFIX_SIZE)
    else:
        values, pos = [], start
        for name, _, _ in HEADER_FIELDS:
            try:
                v, pos = read_uvarint(mv, pos, f"header field {name}", FIELD_MAX[name], end)
            except MicTruncatedError:
                raise MicFormatError(
                    f"header body of {body_len} bytes ends inside field {name} "
                    "(v2 needs every v2.0 field)") from None
            values.append(v)
    h = Header(**dict(zip((n for n, _, _ in HEADER_FIELDS), values)),
               version_major=major, version_minor=minor)
    validate_header(h)
    return h, end + 4


def validate_header(h: Header) -> None:
    """Reject internally inconsistent headers with a :class:`MicFormatError`."""
    def bad(msg: str) -> None:
        raise MicFormatError(f"invalid header: {msg}")

    if h.mode not in MODE_NAMES:
        bad(f"unknown mode {h.mode}")
    if h.bits_allocated not in (8, 16):
        bad(f"bits_allocated {h.bits_allocated} not 8 or 16")
    if h.signed not in (0, 1):
        bad(f"signed flag {h.signed} not 0 or 1")
    if not 1 <= h.bits_stored <= h.bits_allocated:
        bad(f"bits_stored {h.bits_stored} not in 1..{h.bits_allocated}")
    if h.signed and h.bits_stored < 2:
        bad("signed data need bits_stored >= 2")
    if h.photometric not in PHOTOMETRIC_NAMES:
        bad(f"unknown photometric interpretation {h.photometric}")
    if h.layout not in LAYOUT_NAMES:
        bad(f"unknown layout {h.layout}")
    if h.samples not in (1, 3):
        bad(f"samples per pixel {h.samples} not 1 or 3")
    if (h.photometric == PHOTOMETRIC_RGB) != (h.samples == 3):
        bad("RGB needs 3 samples per pixel and monochrome needs 1")
    if h.layout in (LAYOUT_RC, LAYOUT_FRC) and h.samples != 1:
        bad("layout without a samples axis but samples != 1")
    if h.layout in (LAYOUT_RC, LAYOUT_RCS) and h.frames != 1:
        bad("layout without a frames axis but frames != 1")
    for name in ("frames", "rows", "cols"):
        if getattr(h, name) < 1:
            bad(f"{name} must be >= 1")


def read_prefix_version(buf: bytes) -> tuple[int, int] | None:
    """Return (major, minor) if ``buf`` starts with the magic, else None (no validation)."""
    if len(buf) >= PREFIX_SIZE and buf[:8] == MAGIC:
        return buf[8], buf[9]
    return None


__all__ = [
    "MAGIC", "VERSION_MAJOR", "VERSION_MINOR", "HEADER_FIELDS", "HEADER_SIZE", "Header",
    "pack_header", "unpack_header", "validate_header", "MicVersionError",
]
