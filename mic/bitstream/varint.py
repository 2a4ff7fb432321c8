"""Unsigned LEB128 integers and the zigzag map of signed integers: the one home of both.

LEB128 (the compact fields of stream version 2, SPEC.md section 1; the lossless plane
fields, SPEC 5.2): seven bits per byte, least significant group first, the high bit set
on every byte but the last.  In the container and the lossy tile fields only the
shortest form is valid (a last byte of 0 after other bytes is an over-long encoding and
refused), so every value has exactly one encoding and a stream has exactly one byte
form; the lossless plane fields (at most 5 bytes) predate that rule and
:func:`read_uvarint` reads them with ``shortest=False``.

Zigzag (SPEC 5.2 ``zz``, 6.1, 6.3): 0, -1, 1, -2, ... -> 0, 1, 2, 3, ...; :func:`zigzag`
and :func:`unzigzag` for Python integers, :func:`zigzag_array` and
:func:`unzigzag_array` for NumPy arrays.

>>> pack_uvarint(0), pack_uvarint(300), pack_uvarints(1, 300)
(b'\\x00', b'\\xac\\x02', b'\\x01\\xac\\x02')
>>> read_uvarint(b"\\xac\\x02", 0, "example", 0xFFFF)
(300, 2)
>>> [zigzag(v) for v in (0, -1, 1, -2)], [unzigzag(u) for u in (0, 1, 2, 3)]
([0, 1, 2, 3], [0, -1, 1, -2])
>>> zigzag_array([0, -1, 1, -2]).tolist(), unzigzag_array([0, 1, 2, 3]).tolist()
([0, 1, 2, 3], [0, -1, 1, -2])
"""

from __future__ import annotations

from typing import Any

import numpy as np

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


def pack_uvarints(*values: int) -> bytes:
    """The LEB128 bytes of each of ``values``, one after the other."""
    return b"".join(pack_uvarint(v) for v in values)


def read_uvarint(buf: bytes | bytearray | memoryview, pos: int, what: str, limit: int,
                 end: int | None = None, *, max_bytes: int | None = None,
                 shortest: bool = True) -> tuple[int, int]:
    """The value at ``buf[pos:]`` and the position after it.

    :class:`MicTruncatedError` when the bytes end (at ``end``, default ``len(buf)``) inside
    the value, :class:`MicFormatError` for an over-long encoding (unless ``shortest`` is
    False), a value above ``limit`` or more than ``max_bytes`` bytes; all name ``what``."""
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
        if max_bytes is not None and p - pos >= max_bytes:
            raise MicFormatError(f"{what}: varint at byte {pos} longer than {max_bytes} bytes")
        shift += 7
        if value > limit or shift > 63:
            raise MicFormatError(f"{what}: varint at byte {pos} exceeds {limit}")
    if shortest and b == 0 and p - pos > 1:
        raise MicFormatError(f"{what}: over-long varint at byte {pos}")
    if value > limit:
        raise MicFormatError(f"{what}: value {value} exceeds {limit}")
    return value, p


def zigzag(v: int) -> int:
    """Signed -> unsigned: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ..."""
    return 2 * v if v >= 0 else -2 * v - 1


def unzigzag(u: int) -> int:
    """Inverse of :func:`zigzag` (``u >= 0``)."""
    return (u >> 1) ^ -(u & 1)


def zigzag_array(v: Any, dtype: Any = np.int64) -> np.ndarray:
    """:func:`zigzag` of every element of ``v`` (computed in int64), as ``dtype`` (the
    escape coder takes uint32)."""
    v = np.asarray(v, np.int64)
    return np.where(v >= 0, 2 * v, -2 * v - 1).astype(dtype, copy=False)


def unzigzag_array(u: Any, dtype: Any = np.int64) -> np.ndarray:
    """:func:`unzigzag` of every element of ``u`` (>= 0; computed in int64), as ``dtype``."""
    u = np.asarray(u, np.int64)
    return ((u >> 1) ^ -(u & 1)).astype(dtype, copy=False)
