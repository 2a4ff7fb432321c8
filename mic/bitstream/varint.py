"""Unsigned LEB128 integers (the compact fields of stream version 2, SPEC.md section 1).

Seven bits per byte, least significant group first, the high bit set on every byte but
the last.  Only the shortest form is valid (a last byte of 0 after other bytes is an
over-long encoding and refused), so every value has exactly one encoding and a stream
has exactly one byte form.

>>> pack_uvarint(0), pack_uvarint(300)
(b'\\x00', b'\\xac\\x02')
>>> read_uvarint(b"\\xac\\x02", 0, "example", 0xFFFF)
(300, 2)
"""

from __future__ import annotations

from ..errors import MicFormatError, MicTruncatedError

U8_MAX, U16_MAX, U32_MAX = 0xFF, 0xFFFF, 0xFFFF_FFFF


def pack_uvarint(value: int) -> bytes:
    """The LEB128 bytes of ``value`` (0 <= value < 2**64)."""
    v = int(value)
    if v < 0 or v >> 64:
        raise ValueError(f"varint value out of range: {value}")
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_uvarint(buf: bytes | bytearray | memoryview, pos: int, what: str, limit: int,
                 end: int | None = None) -> tuple[int, int]:
    """The value at ``buf[pos:]`` and the position after it.

    :class:`MicTruncatedError` when the bytes end (at ``end``, default ``len(buf)``) inside
    the value, :class:`MicFormatError` for an over-long encoding or a value above ``limit``;
    both name ``what``."""
    stop = len(buf) if end is None else end
    value = shift = 0
    p = pos
    while True:
        if p >= stop:
            raise MicTruncatedError(f"{what}: truncated inside a varint at byte {pos}")
        b = buf[p]
        p += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
        if value > limit or shift > 63:
            raise MicFormatError(f"{what}: varint at byte {pos} exceeds {limit}")
    if b == 0 and p - pos > 1:
        raise MicFormatError(f"{what}: over-long varint at byte {pos}")
    if value > limit:
        raise MicFormatError(f"{what}: value {value} exceeds {limit}")
    return value, p
