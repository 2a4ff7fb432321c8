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


__all__ = ["sample_range", "bits_used", "samples_crc32"]
