"""The syntax of a tile of a learned convolutional-transform model (SPEC.md 6.10), shared
by its encoder (:mod:`mic.lossy.enc_conv`) and decoder (:mod:`mic.lossy.dec_conv`).

A conv tile reuses the lossy container (header, model segment, tiles, CRCs, SPEC 6) and
the wavelet tiles' ``xform`` and ``norm`` fields (:class:`~mic.lossy.syntax.TileFields`);
its coded planes have their own head: the symbols' CRC-32 and the number of words.

>>> f = ConvFields(2)
>>> f.pack_cplane(0xDEADBEEF, 300)
b'\\xef\\xbe\\xad\\xde\\xac\\x02'
>>> f.read_cplane(f.pack_cplane(7, 3), 0)
(7, 3, 5)
>>> ConvFields(1).read_cplane(ConvFields(1).pack_cplane(7, 3), 0)
(7, 3, 8)
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from ..bitstream.varint import U32_MAX, pack_uvarint, read_uvarint
from ..errors import MicTruncatedError
from .syntax import TileFields

#: conv tile xform 0: every sample plane coded alone (grey, or R, G, B)
CONV_XFORM_PLANES = 0
#: conv tile xform 1 (S = 3; SPEC 6.10): the integer planes ``P0 = R + 2G + B``,
#: ``P1 = 2(R - B)``, ``P2 = 2G - R - B``, each normalised and coded as an xform-0 plane
#: (the models were trained on planes in [0, 1], which the orthonormal Y, C1, C2 of the
#: wavelet tiles would leave: these are integers, normalised by their own norm records,
#: and their inverse's columns have squared norms 3/16, 1/8, 3/16, close to balanced).
#: Grey pixels (R = G = B) give P1 = P2 = 0: a grey image stored as RGB codes one plane.
#: Other values are a MicFormatError.
CONV_XFORM_COLOUR = 1
#: conv tile xform flag (SPEC 6.10): every coded plane's norm record is followed by a
#: constant-region record of one value (SPEC 6.6's, no whole-tile form)
CONV_REGIONS = 16
#: conv tile xform flag (SPEC 6.10): every coded plane is coded at half resolution
#: (``ceil(rows / 2) x ceil(cols / 2)``) and upsampled by :func:`mic.lossy.upsample.upsample2`
CONV_HALF = 32
#: conv tile xform flag (SPEC 6.10): after the planes, one lossless plane a sample (model id
#: 16's plane syntax) whose non-zero values set samples exactly (text and graphics)
CONV_EXACT = 64


def colour_forward(t: np.ndarray) -> np.ndarray:
    """(h, w, 3) integer R, G, B -> (h, w, 3) int64 ``P0, P1, P2`` (xform 1).

    >>> colour_forward(np.array([[[10, 20, 30], [7, 7, 7]]])).tolist()
    [[[80, -40, 0], [28, 0, 0]]]
    """
    r, g, b = (t[..., i].astype(np.int64) for i in range(3))
    return np.stack([r + 2 * g + b, 2 * (r - b), 2 * g - r - b], axis=-1)


def colour_inverse(p: np.ndarray) -> np.ndarray:
    """(h, w, 3) float64 ``P0, P1, P2`` -> (h, w, 3) float64 R, G, B (xform 1; exact
    inverse of :func:`colour_forward`, before rounding):
    ``G = (P0 + P2) / 4``, ``R = (P0 - P2 + P1) / 4``, ``B = (P0 - P2 - P1) / 4``.

    >>> colour_inverse(colour_forward(np.array([[[10, 20, 30]]])).astype(float)).tolist()
    [[[10.0, 20.0, 30.0]]]
    """
    p0, p1, p2 = (p[..., i] for i in range(3))
    return np.stack([(p0 - p2 + p1) / 4, (p0 + p2) / 4, (p0 - p2 - p1) / 4], axis=-1)
#: a norm record with these bits is a constant plane of value ``lo``: no coded plane follows
CONST_BITS = 0
#: v1 coded-plane head: symbols CRC-32 u32, number of words u32
CPLANE_V1 = struct.Struct("<II")
_CRC = struct.Struct("<I")


class ConvFields(TileFields):
    """The fixed-size fields of a conv tile in one stream version: the wavelet tiles'
    ``xform`` and ``norm`` (:class:`~mic.lossy.syntax.TileFields`), and a coded plane's
    head: ``symbols_crc32`` (u32) and ``n_words`` (v1 a u32, v2 a varint)."""

    def pack_cplane(self, crc: int, n_words: int) -> bytes:
        """The head of a coded plane."""
        if not self.v2:
            return CPLANE_V1.pack(crc, n_words)
        return _CRC.pack(crc) + pack_uvarint(n_words)

    def read_cplane(self, buf: Any, off: int) -> tuple[int, int, int]:
        """(symbols CRC-32, number of words, offset after them)."""
        what = "conv tile payload truncated in a plane header"
        if len(buf) - off < (CPLANE_V1.size if not self.v2 else _CRC.size):
            raise MicTruncatedError(what)
        if not self.v2:
            crc, nw = CPLANE_V1.unpack_from(buf, off)
            return crc, nw, off + CPLANE_V1.size
        (crc,) = _CRC.unpack_from(buf, off)
        try:
            nw, off = read_uvarint(buf, off + _CRC.size, "conv plane word count", U32_MAX)
        except MicTruncatedError:
            raise MicTruncatedError(what) from None
        return crc, nw, off


__all__ = ["CONV_EXACT", "CONV_HALF", "CONV_REGIONS", "CONV_XFORM_COLOUR", "CONV_XFORM_PLANES", "CONST_BITS", "CPLANE_V1",
           "ConvFields", "colour_forward", "colour_inverse"]
