"""Sample ranges and the sample checksum (SPEC.md section 3: ``bits_stored``, ``signed``,
``sample_crc32``), shared by the codec front end and the mode coders.

>>> sample_range(12, False), sample_range(16, True), bits_used(-5, 1000, True)
((0, 4095), (-32768, 32767), 11)
"""

from __future__ import annotations

import zlib

import numpy as np


def sample_range(bits_stored: int, signed: bool) -> tuple[int, int]:
    """Smallest and largest value representable in ``bits_stored`` bits."""
    if signed:
        return -(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1
    return 0, (1 << bits_stored) - 1


def bits_used(lo: int, hi: int, signed: bool) -> int:
    """The fewest bits that hold every value in [lo, hi] (sign bit included when signed)."""
    if signed:
        b = 2
        while not (-(1 << (b - 1)) <= lo and hi <= (1 << (b - 1)) - 1):
            b += 1
        return b
    return max(1, int(hi).bit_length())


def samples_crc32(arr: np.ndarray) -> int:
    """CRC-32 of ``arr``'s samples in C order, little-endian (the header's sample checksum)."""
    le = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
    return zlib.crc32(le.data)


# ----------------------------------------------------------------------------- CRC algebra
#: CRC-32 (ISO-HDLC, as zlib) reflected polynomial
_POLY = 0xEDB88320


def _multmodp(a: int, b: int) -> int:
    """a * b modulo the CRC polynomial (reflected bit order, as zlib's ``multmodp``)."""
    m = 1 << 31
    p = 0
    while True:
        if a & m:
            p ^= b
            if (a & (m - 1)) == 0:
                break
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1
    return p


def _x8n(n: int) -> int:
    """x**(8 n) modulo the polynomial: the operator that moves a CRC past ``n`` bytes."""
    p = 1 << 31  # x**0
    sq = 1 << 30  # x**1
    for _ in range(3):  # x**8: one byte
        sq = _multmodp(sq, sq)
    while n:
        if n & 1:
            p = _multmodp(sq, p)
        n >>= 1
        sq = _multmodp(sq, sq)
    return p


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-32 of ``A + B`` from ``crc32(A)``, ``crc32(B)`` and ``len(B)`` (zlib's
    ``crc32_combine``), without the bytes.

    >>> crc32_combine(zlib.crc32(b"abc"), zlib.crc32(b"defg"), 4) == zlib.crc32(b"abcdefg")
    True
    """
    return _multmodp(_x8n(len2), crc1) ^ crc2


def crc32_power(part_crc: int, part_len: int, n: int) -> int:
    """CRC-32 of ``n`` copies of a part whose CRC-32 is ``part_crc`` and length ``part_len``
    bytes, in O(log n) steps (the copies are never built)."""
    if n <= 0:
        return 0
    op = _x8n(part_len)  # shift operator of the part doubled k times
    acc = None
    while n:
        if n & 1:
            acc = part_crc if acc is None else _multmodp(op, acc) ^ part_crc
        n >>= 1
        if n:
            part_crc = _multmodp(op, part_crc) ^ part_crc
            op = _multmodp(op, op)
    return acc  # type: ignore[return-value]


def crc32_repeat(block: bytes, n: int, crc: int = 0) -> int:
    """CRC-32 of ``block * n`` continuing ``crc`` (as ``zlib.crc32(block * n, crc)``), in
    O(log n) steps without building it.

    >>> crc32_repeat(b"\\x01\\x02", 1000, 7) == zlib.crc32(b"\\x01\\x02" * 1000, 7)
    True
    """
    if n <= 0 or not block:
        return crc
    return crc32_combine(crc, crc32_power(zlib.crc32(block), len(block), n), len(block) * n)


__all__ = ["sample_range", "bits_used", "samples_crc32", "crc32_combine", "crc32_power",
           "crc32_repeat"]
