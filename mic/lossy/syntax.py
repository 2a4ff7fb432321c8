"""The syntax of a lossy stream (SPEC.md 6, 6.1): the model segments, a tile's fields and
xform flags, and the records both sides read and write in one layout.  Shared by the
encoder and the decoder; imports nothing of either.

>>> TileFields(2).read_xform(TileFields(2).pack_xform(XFORM_DQ | XFORM_MEANS), 0)
(80, 1)
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from ..bitstream.varint import U32_MAX, pack_uvarint, read_uvarint, unzigzag, zigzag
from ..errors import MicFormatError, MicTruncatedError
from ..models.wavelet import NBANDS

TAG_LMDL = b"LMDL"
#: model_id u16, weights sha256 (32 bytes), table id u32, number of qualities u8
LMDL = struct.Struct("<H32sIB")
#: the short model segment (SPEC 6): as LMDL with the first 8 bytes of the weights sha256
TAG_LMDS = b"LMDS"
LMDS = struct.Struct("<H8sIB")
#: tile: colour transform u8 (0 none, 1 orthonormal RGB -> Y C1 C2)
TILE_HEAD = struct.Struct("<B")
#: per normalisation group: lo i32, bits u8
NORM = struct.Struct("<iB")
#: per coded plane: LL mean i32, symbols CRC-32 u32, number of 32-bit words u32
PLANE = struct.Struct("<iII")
XFORM_NONE, XFORM_YCC, XFORM_REGION, XFORM_YCC_REGION = 0, 1, 2, 3
#: xform flag: every plane's words start with its table biases (SPEC 6.4)
XFORM_BIAS = 4
#: xform flag: a restoration filter record follows the last plane (SPEC 6.7)
XFORM_RESTORE = 8
#: xform flag: each detail band's non-anchor pass is preceded by its mean-predictor
#: record, and its values are coded about the predicted means (SPEC 6.4)
XFORM_MEANS = 16
#: a mean predictor's two weights (horizontal, vertical pair of anchors) are integers in
#: [-PRED_ONE, PRED_ONE - 1], in units of 1 / PRED_ONE
PRED_ONE = 64
#: xform flag (only beside XFORM_BIAS): the table biases are per pass, not per band
XFORM_PASS_BIAS = 32
#: tile flag: the detail bands are coded with the dependent quantiser (SPEC 6.8)
XFORM_DQ = 64
#: the dependent quantiser's levels are in units of 1 / DQ_ONE of a symbol ...
DQ_ONE = 128
#: ... and its half step is DQ_UNIT of them (the quantisers' step: 2 * DQ_UNIT / DQ_ONE)
DQ_UNIT = 80
#: tile flag (hyperprior models): each plane's hyper-latents start with a record that may code a
#: channel about an offset under a table of the latents' bank (SPEC 6.9)
XFORM_ZTAB = 128
#: largest magnitude of a hyper-latent channel's offset
ZOFF_MAX = 15
#: tile flag (stream version 2, only beside XFORM_RESTORE): the restoration record's
#: channels may split their activity classes by direction (SPEC 6.7)
XFORM_RESTORE_DIR = 256
#: tile flag (stream version 2, never beside XFORM_BIAS): each pass coded with the
#: context model's tables (every pass but the LL anchors) is preceded by its own table
#: bias, chosen by the encoder after it has quantised the pass (SPEC 6.4)
XFORM_INLINE_BIAS = 512
#: the flags a tile's xform may carry beside its colour transform
XFORM_FLAGS = XFORM_BIAS | XFORM_RESTORE | XFORM_MEANS | XFORM_PASS_BIAS | XFORM_DQ | \
    XFORM_ZTAB | XFORM_RESTORE_DIR | XFORM_INLINE_BIAS
#: table biases lie in [-BIAS_MAX, BIAS_MAX], one per band
BIAS_MAX = 7
#: a plane's constant-region record (xform 2): the value, then a shape stream
REGION = struct.Struct("<i")
#: a plane's symbols CRC-32 in a v2 plane head (between its varints)
CRC32 = struct.Struct("<I")


def _fixed(st: struct.Struct, buf: Any, off: int, what: str) -> tuple[tuple, int]:
    """The fields of ``st`` at ``buf[off:]`` and the offset after them;
    :class:`MicTruncatedError` ``what`` when the buffer is shorter."""
    if len(buf) - off < st.size:
        raise MicTruncatedError(what)
    return st.unpack_from(buf, off), off + st.size


class TileFields:
    """The fixed-size fields of a lossy tile payload (SPEC 6.1) in one stream version, one
    place for the encoder and the decoder: the xform, each ``norm`` (lo, bits) and each
    plane's head (LL mean, symbols CRC-32, number of words).  Version 1: ``u8``, ``i32 u8``
    and ``i32 u32 u32``; version 2: a varint xform, ``lo`` and the LL mean as zigzag varints,
    ``bits`` a u8, the CRC a u32 and the word count a varint.

    >>> f = TileFields(2)
    >>> f.pack_norm(-1024, 12) + f.pack_plane(3, 0xDEADBEEF, 300)
    b'\\xff\\x0f\\x0c\\x06\\xef\\xbe\\xad\\xde\\xac\\x02'
    >>> f.read_norm(f.pack_norm(-1024, 12), 0), f.read_xform(f.pack_xform(196), 0)
    ((-1024, 12, 3), (196, 2))
    """

    def __init__(self, major: int) -> None:
        self.v2 = major >= 2

    def pack_xform(self, xform: int) -> bytes:
        return pack_uvarint(xform) if self.v2 else TILE_HEAD.pack(xform)

    def read_xform(self, buf: Any, off: int) -> tuple[int, int]:
        if not self.v2:
            (xform,), off = _fixed(TILE_HEAD, buf, off,
                                   "lossy tile payload truncated before its header")
            return xform, off
        return read_uvarint(buf, off, "lossy tile xform", U32_MAX)

    def pack_norm(self, lo: int, bits: int) -> bytes:
        return pack_uvarint(zigzag(lo)) + bytes((bits,)) if self.v2 else NORM.pack(lo, bits)

    def read_norm(self, buf: Any, off: int) -> tuple[int, int, int]:
        """(lo, bits, offset after them)."""
        what = "lossy tile payload truncated in a normalisation header"
        if not self.v2:
            (lo, bits), off = _fixed(NORM, buf, off, what)
            return lo, bits, off
        try:
            u, off = read_uvarint(buf, off, "lossy normalisation lo", U32_MAX)
        except MicTruncatedError:
            raise MicTruncatedError(what) from None
        if off >= len(buf):
            raise MicTruncatedError(what)
        return unzigzag(u), buf[off], off + 1

    def pack_plane(self, ll_mean: int, crc: int, n_words: int) -> bytes:
        if not self.v2:
            return PLANE.pack(ll_mean, crc, n_words)
        return pack_uvarint(zigzag(ll_mean)) + CRC32.pack(crc) + pack_uvarint(n_words)

    def read_plane(self, buf: Any, off: int) -> tuple[int, int, int, int]:
        """(LL mean, symbols CRC-32, number of words, offset after them)."""
        what = "lossy tile payload truncated in a plane header"
        if not self.v2:
            (ll_mean, crc, nw), off = _fixed(PLANE, buf, off, what)
            return ll_mean, crc, nw, off
        try:
            u, off = read_uvarint(buf, off, "lossy plane LL mean", U32_MAX)
            (crc,), off = _fixed(CRC32, buf, off, what)
            nw, off = read_uvarint(buf, off, "lossy plane word count", U32_MAX)
        except MicTruncatedError:
            raise MicTruncatedError(what) from None
        return unzigzag(u), crc, nw, off


#: a region record's word count meaning "the whole tile holds the value; no plane follows"
WHOLE_TILE = 0xFFFFFFFF

#: per-pass table biases: band 0's non-anchors, each detail band's anchors (entries 1..15)
#: and non-anchors (entries 16..30)
NPASS_BIAS = 2 * NBANDS - 1


def model_segment(model_id: int, sha256: bytes, table_id: int, n_qualities: int,
                  long: bool = False) -> tuple[bytes, bytes]:
    """(tag, payload) of the model segment: ``LMDS`` (the first 8 bytes of the weights
    sha256) or, ``long``, ``LMDL`` (all 32)."""
    if long:
        return TAG_LMDL, LMDL.pack(model_id, sha256, table_id, n_qualities)
    return TAG_LMDS, LMDS.pack(model_id, sha256[:8], table_id, n_qualities)


def read_model_segment(segments: Any) -> tuple[str, int, bytes, int, int]:
    """(tag, model id, weights sha256 or its 8-byte prefix, table id, number of qualities)
    of a stream's one model segment among ``segments``; :class:`MicFormatError` for none
    or several, :class:`MicTruncatedError` for a short one."""
    found = [s for s in segments if s.tag in (TAG_LMDL, TAG_LMDS)]
    if len(found) != 1:
        raise MicFormatError(f"lossy stream with {len(found)} model segments (LMDL or "
                             f"LMDS), needs exactly one")
    tag, seg = found[0].tag.decode(), memoryview(found[0].payload)
    form = LMDL if tag == "LMDL" else LMDS
    if len(seg) < form.size:
        raise MicTruncatedError(f"{tag} segment has {len(seg)} bytes, needs {form.size}")
    mid, sha, table_id, nq = form.unpack_from(seg, 0)
    return tag, mid, sha, table_id, nq


def pack_region_record(values: list[int] | tuple[int, ...], shape: bytes) -> bytes:
    """A region record (SPEC 6.6): the values, then a shape stream (or its bare word count)."""
    return b"".join(REGION.pack(v) for v in values) + shape


def read_region_record(buf: Any, off: int, rows: int, cols: int, k: int,
                       value_range: tuple[int, int], decode: bool
                       ) -> tuple[tuple[int, ...] | None, Any, int]:
    """A constant-region record of ``k`` values at ``buf[off]`` (SPEC 6.6; the conv tiles'
    xform flag 16, 6.10): ``(values, where, offset after it)``, ``values`` None for no
    region; ``where`` is True for a whole-tile region (word count :data:`WHOLE_TILE`), else
    the decoded rows x cols mask (``decode``) or None (the shape's words only checked
    against the bound of SPEC 4.1).  The values must lie in ``value_range``."""
    from ..entropy.bounds import check_words
    from ..entropy.shape import HEAD, decode_shape_at, shape_min_bits

    if len(buf) - off < k * REGION.size + HEAD.size:
        raise MicTruncatedError("lossy tile payload truncated in a region record")
    values = tuple(REGION.unpack_from(buf, off + REGION.size * c)[0] for c in range(k))
    off += k * REGION.size
    (nw,) = HEAD.unpack_from(buf, off)
    if nw == 0:
        if any(values):
            raise MicFormatError(f"lossy region record without a shape has values {values}")
        return None, None, off + HEAD.size
    lo, hi = value_range
    if not all(lo <= v <= hi for v in values):
        raise MicFormatError(f"lossy region value(s) {values} outside the sample range "
                             f"[{lo}, {hi}]")
    if nw == WHOLE_TILE:
        return values, True, off + HEAD.size
    if decode:
        mask, off = decode_shape_at(buf, off, rows, cols)
        return values, mask, off
    off += HEAD.size
    if len(buf) - off < 4 * nw:
        raise MicTruncatedError(f"shape stream truncated: {nw} words announced")
    check_words(nw, shape_min_bits(rows), "shape stream")
    return values, None, off + 4 * nw


def z_record_values(rec: np.ndarray) -> np.ndarray:
    """A hyper-latent record's values in coding order (SPEC 6.9): ``any``, then (if any)
    every channel's ``use`` and the used channels' offsets and tables; ``rec`` holds a
    row ``(use, offset, table)`` per channel."""
    if not rec[:, 0].any():
        return np.zeros(1, np.int64)
    used = rec[rec[:, 0] == 1]
    return np.concatenate([[1], rec[:, 0], used[:, 1], used[:, 2]]).astype(np.int64)


__all__ = [
    "TAG_LMDL", "LMDL", "TAG_LMDS", "LMDS", "TILE_HEAD", "NORM", "PLANE", "XFORM_NONE",
    "XFORM_YCC", "XFORM_REGION", "XFORM_YCC_REGION", "XFORM_BIAS", "XFORM_RESTORE",
    "XFORM_MEANS", "PRED_ONE", "XFORM_PASS_BIAS", "XFORM_DQ", "DQ_ONE", "DQ_UNIT", "XFORM_ZTAB", "XFORM_INLINE_BIAS",
    "ZOFF_MAX", "XFORM_RESTORE_DIR", "XFORM_FLAGS", "BIAS_MAX", "REGION", "CRC32", "TileFields",
    "WHOLE_TILE", "NPASS_BIAS", "model_segment", "read_model_segment", "pack_region_record",
    "read_region_record",
    "z_record_values",
]
