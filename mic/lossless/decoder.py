"""The lossless predictive coder's decoder (model ids 1, 3 and 13, SPEC.md section 5) and
its near-lossless twin (mode 2, model ids 2 and 12, SPEC section 7: the same planes with the
residuals quantised; model 12 corrects the prediction with two NLMS filters, SPEC 7.6, and
model 13 does the same in lossless planes, SPEC 5.7): tile payloads back to samples, each
tile decoded straight into the output (SPEC 4.1 bounds its work).

>>> import numpy as np, mic
>>> from mic.lossless.decoder import LosslessTileDecoder
>>> a = np.arange(12, dtype=np.uint16).reshape(3, 4)
>>> bool((mic.decode(mic.encode(a)) == a).all())
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..bitstream import MODE_NEAR_LOSSLESS, Header
from ..bitstream.samples import sample_range
from ..entropy.bounds import MeteredDecoder
from ..errors import MicFormatError, MicUnsupportedError
from . import kernels as K
from . import kernels_classes as KC
from .syntax import (
    CHUNK, FAST_KINDS, FAST_LMS_BANDS_MODEL_ID, FAST_LMS_CDIFF_MODEL_ID,
    FAST_LMS_COMPACT_MODEL_ID, FAST_LMS_LOW_MODEL_ID, FAST_LMS_MODEL_ID,
    FAST_LMS_INTER_MODEL_ID, FAST_LMS_PRIOR_MODEL_ID, FAST_LMS_WRAP_MODEL_ID,
    FAST_MODEL_ID, LMS_MODEL_ID, MODEL_ID, NEAR_FAST_BANDS_MODEL_ID, NEAR_FAST_COMPACT_MODEL_ID,
    NEAR_FAST_LOW_MODEL_ID, NEAR_FAST_MODEL_ID,
    NEAR_LMS_MODEL_ID, NEAR_MODEL_ID,
    PALETTE_KINDS, PLANE_CODED, PLANE_CONST, PLANE_FAST_LMS, TAG_NEAR, TAG_VOL,
    XFORM_CDIFF, XFORM_GDIFF, XFORM_INTER, XFORM_INTER_FAST, XFORM_NONE, XFORM_RCT, XFORM_WRAP,
    PlaneHead, guarded,
    model16_priors, parse_plane, read_group, read_near, read_tree, read_wraps, reference_plane,
    token_cdfs, token_costs, unwrap_channel,
)


def decode_fast(buf: memoryview, ph: PlaneHead, h: int, w: int, near: int = 0,
                ref: np.ndarray | None = None) -> np.ndarray:
    """The (h, w) int32 coded values of the fast plane ``ph`` (kinds 3 and 4, SPEC 5.6;
    5 and 6, SPEC 5.8; ``near`` > 0: their near-lossless reconstruction, SPEC 7.7; ``ref``:
    the reference of an inter tile's kind-5 plane, model id 25, SPEC 5.15).
    Its working set is the plane, its words and extra bytes (each copied with a little
    padding) and its tables."""
    from . import kernels_fast as KF
    from . import kernels_tables as KT

    tabmap, freq = ph.tables
    status, cum, sym = KT.build_decode_tables(freq)
    if status != KF.OK:
        raise MicFormatError("fast lossless plane: a table does not sum to 2048")
    words = np.zeros(ph.nwords + 1, np.uint16)
    words[:-1] = np.frombuffer(buf, "<u2", count=ph.nwords, offset=ph.words_at)
    at = ph.words_at + 2 * ph.nwords
    bits = np.zeros(ph.nbits + 4, np.uint8)
    bits[:-4] = np.frombuffer(buf, np.uint8, count=ph.nbits, offset=at)
    x = np.empty((h, w), np.int32)
    R, CL, nbt, top = KF.decode_constants()
    la = lb = None
    if ph.prior:  # model id 16 (SPEC 5.10): the filters start from the fixed weights
        a0, b0, _ = model16_priors()
        la, lb = a0.copy(), b0.copy()
    lms = ph.kind >= PLANE_FAST_LMS
    if ref is not None:  # model id 25 (SPEC 5.15): an inter tile's kind-5 plane
        assert la is not None and lb is not None and ph.bands is not None
        status = KF.fast_decode_inter(x, ph.maxval, tabmap, freq, cum, sym, words, ph.nwords,
                                      bits, ph.nbits, R, CL, nbt, top, la, lb, ph.bands, ph.low,
                                      ref)
    elif ph.bands is not None and near and ph.low:  # model id 21 (SPEC 7.9): low classes
        assert la is not None and lb is not None
        status = KF.fast_decode_near_low(x, ph.maxval, tabmap, freq, cum, sym, words,
                                         ph.nwords, bits, ph.nbits, R, CL, nbt, top, la, lb,
                                         ph.bands, near, ph.low)
    elif ph.bands is not None and near:  # model id 19 (SPEC 7.8): kinds 5 and 6
        assert la is not None and lb is not None  # their planes have model 16's priors
        status = KF.fast_decode_near_banded(x, ph.maxval, tabmap, freq, cum, sym, words,
                                            ph.nwords, bits, ph.nbits, R, CL, nbt, top, la, lb,
                                            ph.bands, near)
    elif ph.bands is not None and ph.low:  # model id 20 (SPEC 5.12): with low classes
        assert la is not None and lb is not None
        status = KF.fast_decode_low(x, ph.maxval, tabmap, freq, cum, sym, words, ph.nwords,
                                    bits, ph.nbits, R, CL, nbt, top, la, lb, ph.bands, ph.low)
    elif ph.bands is not None:  # model id 18 (SPEC 5.11): kinds 5 and 6
        assert la is not None and lb is not None
        status = KF.fast_decode_banded(x, ph.maxval, tabmap, freq, cum, sym, words, ph.nwords,
                                       bits, ph.nbits, R, CL, nbt, top, la, lb, ph.bands)
    elif near:  # model id 17 (SPEC 7.7)
        status = KF.fast_decode_near(x, ph.maxval, tabmap, freq, cum, sym, words, ph.nwords,
                                     bits, ph.nbits, R, CL, nbt, top, near, lms, la, lb)
    else:
        status = KF.fast_decode(x, ph.maxval, tabmap, freq, cum, sym, words, ph.nwords, bits,
                                ph.nbits, R, CL, nbt, top, lms, la, lb)
    if status != KF.OK:
        raise MicFormatError(f"fast lossless plane: corrupt coded data (status {status})")
    return x


def _palette(buf: memoryview, ph: PlaneHead) -> np.ndarray:
    """The sorted values (int32) of a palette plane's bitmap (kinds 2 and 4, SPEC 5.2), checked."""
    import zstandard

    frame = bytes(buf[ph.zstart:ph.zend])
    limit = (ph.span + 8) // 8
    try:
        declared = zstandard.frame_content_size(frame)
        if declared > limit:  # -1 = not declared; never trust a larger claim
            raise MicFormatError(f"lossless plane: palette claims {declared} bytes > {limit}")
        bitmap = zstandard.ZstdDecompressor().decompress(frame, max_output_size=limit)
    except zstandard.ZstdError as exc:
        raise MicFormatError(f"lossless plane: corrupt palette ({exc})") from None
    used = np.unpackbits(np.frombuffer(bitmap, np.uint8))[: ph.span + 1].astype(bool)
    if len(used) != ph.span + 1 or int(used.sum()) != ph.maxval + 1:
        raise MicFormatError("lossless plane: palette does not match its size")
    lut = np.flatnonzero(used).astype(np.int32)
    return lut


def _finish(x: np.ndarray, lut: np.ndarray | None, lo: int) -> np.ndarray:
    """Indices through the palette ``lut`` (in place, a band of rows at a time), plus ``lo``."""
    if lut is not None:
        h, w = x.shape
        step = max(1, (1 << 20) // max(w, 1))
        for r in range(0, h, step):
            x[r:r + step] = lut[x[r:r + step]]
    x += lo
    return x


def decode_coded(buf: memoryview, ph: PlaneHead, h: int, w: int, near: int = 0,
                 ref: np.ndarray | None = None, lms: bool = False) -> np.ndarray:
    """The (h, w) int32 samples of the coded or palette plane ``ph`` (offset added), or with
    ``near`` > 0 its near-lossless reconstruction (SPEC 7).  Its working set is two int32
    planes (tokens, samples) and its words; the range decoder is metered (SPEC 4.1), so
    words that run out or are garbage fail within the first class of tokens that exceeds
    them."""
    lut = _palette(buf, ph) if ph.kind in PALETTE_KINDS else None
    if lut is not None and near:  # SPEC 7.2: a palette's indices carry k' = k // (largest gap)
        near //= int(np.diff(lut).max())
    if ph.kind in FAST_KINDS:
        return _finish(decode_fast(buf, ph, h, w, near), lut, ph.lo)
    pos = ph.words_at
    words = np.frombuffer(buf, dtype="<u4", count=ph.nwords, offset=pos).astype(np.uint32)
    pos += 4 * ph.nwords
    bits = np.frombuffer(buf, dtype=np.uint8, count=ph.nbits, offset=pos).copy()
    models, delta_model = token_cdfs()
    tok_cost, cls_cost, _, _ = token_costs()
    nk = len(models)
    bs = 1 << ph.blog
    bx = -(-w // bs)
    nblocks = bx * -(-h // bs)
    dec = guarded(MeteredDecoder, words, "lossless plane")
    sym = np.empty(nblocks, np.int32)
    for a in range(0, nblocks, CHUNK):  # metered a chunk at a time
        part = sym[a:a + CHUNK]
        part[:] = guarded(dec.decode, delta_model, part.size)
        dec.charge(float(cls_cost[part].sum()))
    status, classes = KC.class_map_from_symbols(sym, bx, nk)
    if status != K.OK:
        raise MicFormatError("lossless plane: corrupt class map")
    del sym
    counts = KC.class_counts(classes, h, w, bs, nk)
    grouped = np.empty(h * w, np.int32)
    off = 0
    for k, n in enumerate(counts):
        for a in range(off, off + int(n), CHUNK):  # metered a chunk at a time
            part = grouped[a:min(a + CHUNK, off + int(n))]
            part[:] = guarded(dec.decode, models[k], part.size)
            dec.charge(float(tok_cost[k][part].sum()))
        off += int(n)
    tokens = KC.scatter_by_class(grouped, counts, classes, h, w, bs)
    x = grouped.reshape(h, w)  # the grouped tokens are spent: their buffer takes the samples
    del grouped
    if ref is None:
        status, used_bits = K.code_plane_near(x, ph.maxval, near, True, tokens, bits, lms)
    else:  # an inter plane (SPEC 5.5): kind 1, lossless
        from .kernels_volume import code_plane_inter

        status, used_bits = code_plane_inter(x, reference_plane(ref, ph.lo, ph.maxval),
                                             ph.maxval, True, tokens, bits)
    if status != K.OK:
        raise MicFormatError(f"lossless plane: corrupt coded data (status {status})")
    del tokens
    return _finish(x, lut, ph.lo)


def decode_plane(buf: memoryview, pos: int, h: int, w: int, near: int = 0,
                 lms: bool = False) -> tuple[np.ndarray, int]:
    """One (h, w) int32 plane at ``buf[pos:]`` (``near`` > 0: a mode-2 plane; ``lms``: of
    model id 12) and the position after it."""
    ph = parse_plane(buf, pos, h, w)
    if ph.kind == PLANE_CONST:
        return np.full((h, w), ph.lo, np.int32), ph.end
    return decode_coded(buf, ph, h, w, near, lms=lms), ph.end


# ----------------------------------------------------------------------------- tiles
def _undo_tree(v: list[Any], tree: Any, lo: int = 0, bits: int = 0) -> list[Any]:
    """The planes ``v`` of an xform-5 or xform-6 tile (SPEC 5.9, 5.14; arrays, or ints for
    constant planes) -> its R, G, B channels; ``tree``: (order, refs) or, xform 6, (order,
    refs, the bases of planes 1 and 2), with ``lo`` and ``bits`` the smallest sample and
    ``bits_stored``.

    >>> _undo_tree([7, -2, 5], ((1, 0, 2), (-1, 0, 1)))
    [5, 7, 10]
    >>> _undo_tree([7, 0, 5], ((1, 0, 2), (-1, 0, 1), (-1, None)), 0, 3)
    [6, 7, 11]
    """
    order, refs = tree[0], tree[1]
    bases = tree[2] if len(tree) > 2 else (None, None)
    out = [0, 0, 0]
    for k, c in enumerate(order):
        if refs[k] < 0:
            out[c] = v[k]
        elif k and bases[k - 1] is not None:
            out[c] = unwrap_channel(v[k], bases[k - 1], out[order[refs[k]]], lo, bits)
        else:
            out[c] = v[k] + out[order[refs[k]]]
    return out


class LosslessTileDecoder:
    """Decodes tiles written by :class:`LosslessTileEncoder`: mode 0 (lossless) or mode 2
    (near-lossless, whose maximum error ``near`` the stream's ``NEAR`` segment gives)."""

    def __init__(self, header: Header, stream: Any) -> None:
        near_mode = header.mode == MODE_NEAR_LOSSLESS
        want = (NEAR_MODEL_ID, NEAR_LMS_MODEL_ID, NEAR_FAST_MODEL_ID,
                NEAR_FAST_BANDS_MODEL_ID, NEAR_FAST_LOW_MODEL_ID,
                NEAR_FAST_COMPACT_MODEL_ID) if near_mode else (
            MODEL_ID, FAST_MODEL_ID, LMS_MODEL_ID, FAST_LMS_MODEL_ID, FAST_LMS_CDIFF_MODEL_ID,
            FAST_LMS_PRIOR_MODEL_ID, FAST_LMS_BANDS_MODEL_ID, FAST_LMS_LOW_MODEL_ID,
            FAST_LMS_COMPACT_MODEL_ID, FAST_LMS_WRAP_MODEL_ID, FAST_LMS_INTER_MODEL_ID)
        what = "near-lossless" if near_mode else "lossless"
        if header.model_id not in want:
            raise MicUnsupportedError(
                f"unknown {what} model id {header.model_id} (this build knows "
                f"{', '.join(map(str, want))})"
            )
        #: model ids 3 and 13 (SPEC 5.6, 5.7): plane kinds 3 and 4 allowed (1), without
        #: volumes; model id 14 (SPEC 5.8) also kinds 5 and 6 (2), with volumes; model id 15
        #: (SPEC 5.9) is model 14 with xform 5; model id 16 (3) model 15 with the priors of
        #: SPEC 5.10 in kinds 5 and 6
        #: (3 too for model id 17, SPEC 7.7, whose near-lossless planes are of kinds 0-6);
        #: model id 18 (4): model 16 with SPEC 5.11's bands in kinds 5 and 6 (4 too for
        #: model id 19, SPEC 7.8: model 17's near-lossless planes with those bands); model
        #: id 20 (5): model 18 with SPEC 5.12's low classes in kinds 5 and 6 (5 too for model
        #: id 21, SPEC 7.9: model 19's near-lossless planes with low classes); model id 22
        #: (6): model 20 with SPEC 5.13's bit-packed table sections (6 too for model id 23,
        #: SPEC 7.10: model 21's near-lossless planes with them); model id 24 (6): model 22
        #: with xform 6 (SPEC 5.14); model id 25 (6): model 22 with xform 7 (SPEC 5.15)
        self.fast = {FAST_MODEL_ID: 1, LMS_MODEL_ID: 1, FAST_LMS_MODEL_ID: 2,
                     FAST_LMS_CDIFF_MODEL_ID: 2, FAST_LMS_PRIOR_MODEL_ID: 3,
                     NEAR_FAST_MODEL_ID: 3, FAST_LMS_BANDS_MODEL_ID: 4,
                     NEAR_FAST_BANDS_MODEL_ID: 4, FAST_LMS_LOW_MODEL_ID: 5,
                     NEAR_FAST_LOW_MODEL_ID: 5, FAST_LMS_COMPACT_MODEL_ID: 6,
                     NEAR_FAST_COMPACT_MODEL_ID: 6, FAST_LMS_WRAP_MODEL_ID: 6,
                     FAST_LMS_INTER_MODEL_ID: 6}.get(
                         header.model_id, 0)
        self.cdiff = header.model_id in (FAST_LMS_CDIFF_MODEL_ID, FAST_LMS_PRIOR_MODEL_ID,
                                         FAST_LMS_BANDS_MODEL_ID, FAST_LMS_LOW_MODEL_ID,
                                         FAST_LMS_COMPACT_MODEL_ID, FAST_LMS_WRAP_MODEL_ID,
                                         FAST_LMS_INTER_MODEL_ID)
        #: model id 24 (SPEC 5.14): xform 5's trees may also wrap their differences (xform 6)
        self.wrap = header.model_id == FAST_LMS_WRAP_MODEL_ID
        #: model id 25 (SPEC 5.15): a volume's tiles may also be inter ones of xform 7
        self.inter_fast = header.model_id == FAST_LMS_INTER_MODEL_ID
        #: model id 12 (SPEC 7.6): near-lossless planes add the NLMS predictor; model ids 13
        #: and 14 (SPEC 5.7, 5.8): so do lossless kind-1 and kind-2 planes
        self.lms = header.model_id in (NEAR_LMS_MODEL_ID, NEAR_FAST_MODEL_ID,
                                       NEAR_FAST_BANDS_MODEL_ID, NEAR_FAST_LOW_MODEL_ID,
                                       NEAR_FAST_COMPACT_MODEL_ID,
                                       LMS_MODEL_ID,
                                       FAST_LMS_MODEL_ID,
                                       FAST_LMS_CDIFF_MODEL_ID, FAST_LMS_PRIOR_MODEL_ID,
                                       FAST_LMS_BANDS_MODEL_ID, FAST_LMS_LOW_MODEL_ID,
                                       FAST_LMS_COMPACT_MODEL_ID, FAST_LMS_WRAP_MODEL_ID,
                                       FAST_LMS_INTER_MODEL_ID)
        self.header = header
        self.sample_range = sample_range(header.bits_stored, bool(header.signed))
        segs = [s for s in getattr(stream, "segments", ()) if s.tag == TAG_NEAR]
        if near_mode:
            if not header.flags & 1:  # SPEC 7.5: mode 2 always carries the sample CRC-32
                raise MicFormatError("near-lossless stream without its sample CRC-32 (flags bit 0)")
            if len(segs) > 1:
                raise MicFormatError("near-lossless stream with more than one NEAR segment")
            self.near = read_near(segs[0].payload if segs else None, header.bits_stored)
        else:
            if segs:
                raise MicFormatError("NEAR segment in a stream that is not near-lossless")
            self.near = 0
        vol = [s for s in getattr(stream, "segments", ()) if s.tag == TAG_VOL]
        self.group = 0  # SPEC 5.5: frames per group of a volume; 0 = every frame independent
        if vol:
            if near_mode or len(vol) > 1 or header.samples != 1 or self.fast == 1:
                # not 3 or 13 (SPEC 5.6, 5.7)
                raise MicFormatError("LVOL segment: only one, in a lossless one-sample stream "
                                     "of model id 1, 14, 15, 16, 18, 20, 22, 24 or 25")
            self.group = read_group(vol[0].payload)

    @staticmethod
    def is_inter(payload: memoryview) -> bool:
        """Whether a tile depends on the previous frame's co-located tile (SPEC 5.5, 5.15)."""
        return len(payload) > 0 and payload[0] in (XFORM_INTER, XFORM_INTER_FAST)

    def _parse(self, payload: memoryview, rows: int,
               cols: int) -> tuple[int, list[PlaneHead], Any]:
        """The tile's xform, its planes' heads and (xform 5) its channel order and references
        (SPEC 5.9; otherwise None)."""
        buf = memoryview(payload)
        if len(buf) < 1:
            raise MicFormatError("empty lossless tile")
        xform = buf[0]
        pos = 1
        s = self.header.samples
        colour = XFORM_GDIFF if self.near else XFORM_RCT
        fast = xform == XFORM_INTER_FAST and self.inter_fast
        if self.group and (xform == XFORM_INTER or fast):  # SPEC 5.5, 5.15: one plane
            kind = buf[pos] if pos < len(buf) else PLANE_CONST  # (parse_plane: truncated)
            if kind not in (PLANE_CONST, PLANE_FAST_LMS if fast else PLANE_CODED):
                raise MicFormatError(f"lossless tile: plane kind {kind} in an inter tile of "
                                     f"xform {xform} ({'0 or 5' if fast else '0 or 1'} allowed)")
            ph = parse_plane(buf, pos, rows, cols, self.fast if fast else 0)
            if ph.end != len(buf):
                raise MicFormatError(f"lossless tile: {len(buf) - ph.end} unexpected trailing "
                                     "bytes")
            return xform, [ph], None
        tree: Any = None
        if (xform == XFORM_CDIFF and self.cdiff or xform == XFORM_WRAP and self.wrap) and s == 3:
            if len(buf) < 2:  # SPEC 5.9: a tree byte follows
                raise MicFormatError(f"lossless tile: xform {xform} without its tree byte")
            tree = read_tree(buf[1])
            pos = 2
            if xform == XFORM_WRAP:  # SPEC 5.14: then the wrap fields of planes 1 and 2
                bases, pos = read_wraps(buf, pos, tree[1], self.header.bits_stored)
                tree = (tree[0], tree[1], bases)
        elif xform not in (XFORM_NONE, colour) or (xform == colour and s != 3):
            raise MicFormatError(f"lossless tile: colour transform {xform} invalid here")
        heads = []
        for _ in range(s):
            ph = parse_plane(buf, pos, rows, cols, self.fast)
            heads.append(ph)
            pos = ph.end
        if pos != len(buf):
            raise MicFormatError(f"lossless tile: {len(buf) - pos} unexpected trailing bytes")
        return xform, heads, tree

    def _check_wrapped(self, heads: list[PlaneHead], tree: Any) -> None:
        """SPEC 5.14: a wrapped plane's values lie in ``0 .. 2**bits_stored - 1`` (its
        head's offset and span say so before it is decoded)."""
        if len(tree) < 3:
            return
        top = (1 << self.header.bits_stored) - 1
        for k in (1, 2):
            ph = heads[k]
            span = (0 if ph.kind == PLANE_CONST else
                    ph.span if ph.kind in PALETTE_KINDS else ph.maxval)
            if tree[2][k - 1] is not None and (ph.lo < 0 or ph.lo + span > top):
                raise MicFormatError(f"lossless tile: xform 6 plane {k} outside 0..{top}")

    def _check_range(self, x: Any) -> None:
        lo, hi = self.sample_range
        if np.size(x) and (int(np.min(x)) < lo or int(np.max(x)) > hi):
            raise MicFormatError(
                f"lossless tile decodes outside the {self.header.bits_stored}-bit sample range: "
                "corrupt stream")

    def check_tile(self, payload: memoryview, rows: int, cols: int) -> tuple[int, ...] | None:
        """Check a tile without decoding it (SPEC 4.1): its planes' fields, that each coded
        plane's words can hold its symbols, no trailing bytes.  Returns the samples of a
        tile whose planes are all constant (then it is that value everywhere), else None."""
        xform, heads, tree = self._parse(payload, rows, cols)
        if any(ph.kind != PLANE_CONST for ph in heads):
            return None
        v = [ph.lo for ph in heads]
        if tree is not None:
            self._check_wrapped(heads, tree)
            v = _undo_tree(v, tree, self.sample_range[0], self.header.bits_stored)
        elif xform == XFORM_RCT:
            g = v[0] - ((v[1] + v[2]) >> 2)
            v = [v[1] + g, g, v[2] + g]
        elif xform == XFORM_GDIFF:
            self._check_range(np.array(v[:1]))
            lo, hi = self.sample_range
            g = v[0]
            v = [min(max(v[1] + g, lo), hi), g, min(max(v[2] + g, lo), hi)]
        self._check_range(np.array(v))
        return tuple(v)

    def decode_into(self, payload: memoryview, rows: int, cols: int, out: np.ndarray,
                    ref: np.ndarray | None = None) -> None:
        """Decode a tile into ``out`` ((rows, cols, samples) of the stream's dtype, e.g. a
        view of the output): constant planes are written straight into it, each coded plane
        goes through one int32 plane (three for the colour transform), no stacked copy.
        ``ref``: the previous frame's decoded co-located tile (rows, cols, 1), which an
        inter tile (SPEC 5.5, 5.15) needs."""
        buf = memoryview(payload)
        xform, heads, tree = self._parse(buf, rows, cols)
        near = self.near
        if xform in (XFORM_INTER, XFORM_INTER_FAST):  # SPEC 5.5, 5.15: one plane
            ph = heads[0]
            if ph.kind == PLANE_CONST:
                self._check_range(np.array([ph.lo]))
                out[:, :, 0] = ph.lo
                return
            if ref is None:
                raise MicFormatError("inter tile without the previous frame's tile")
            r = np.asarray(ref)[:, :, 0]
            if xform == XFORM_INTER:
                x = decode_coded(buf, ph, rows, cols, 0, r)
            else:  # SPEC 5.15: kind 5, its filters given the reference's P5
                x = _finish(decode_fast(buf, ph, rows, cols, 0,
                                        reference_plane(r, ph.lo, ph.maxval)), None, ph.lo)
            self._check_range(x)
            out[:, :, 0] = x
            return
        if xform == XFORM_NONE:
            for c, ph in enumerate(heads):
                if ph.kind == PLANE_CONST:
                    self._check_range(np.array([ph.lo]))
                    out[:, :, c] = ph.lo
                else:
                    x = decode_coded(buf, ph, rows, cols, near, lms=self.lms)
                    self._check_range(x)
                    out[:, :, c] = x
                    del x
            return
        if tree is not None:  # SPEC 5.9: channels less channels decoded before them
            self._check_wrapped(heads, tree)
            planes = [ph.lo if ph.kind == PLANE_CONST else
                      decode_coded(buf, ph, rows, cols, lms=True) for ph in heads]
            for c, x in enumerate(_undo_tree(planes, tree, self.sample_range[0],
                                             self.header.bits_stored)):  # arrays, or ints
                self._check_range(x)
                out[:, :, c] = x
            return
        if xform == XFORM_GDIFF:  # SPEC 7.3: G near-lossless, then the exact R - G and B - G
            g = heads[0].lo if heads[0].kind == PLANE_CONST else \
                decode_coded(buf, heads[0], rows, cols, near, lms=self.lms)
            self._check_range(np.asarray(g))
            out[:, :, 1] = g
            lo, hi = self.sample_range
            for c, ph in ((0, heads[1]), (2, heads[2])):
                d = ph.lo if ph.kind == PLANE_CONST else decode_coded(buf, ph, rows, cols)
                d = d + g
                out[:, :, c] = np.clip(d, lo, hi)
                del d
            return
        # xform 1 (SPEC 5.1): Y, U, V (arrays, or plain ints for constant planes) -> R, G, B
        y, u, v = (ph.lo if ph.kind == PLANE_CONST else
                   decode_coded(buf, ph, rows, cols, lms=self.lms) for ph in heads)
        t = u + v
        t >>= 2
        if isinstance(y, np.ndarray):
            y -= t  # G, in Y's buffer
            g = y
        else:
            g = y - t
        del t
        for c, a in ((1, g), (0, u), (2, v)):
            if c != 1:
                if isinstance(a, np.ndarray):
                    a += g  # R = U + G, B = V + G, in U's and V's buffers
                else:
                    a = a + g
            self._check_range(a)
            out[:, :, c] = a

    def work_samples(self, rows: int, cols: int) -> int:
        """Samples of the int32 planes a rows x cols tile is decoded through."""
        return rows * cols * self.header.samples

    def decode_tile(self, payload: memoryview, rows: int, cols: int) -> np.ndarray:
        """The tile as a (rows, cols, samples) int32 array."""
        out = np.empty((rows, cols, self.header.samples), np.int32)
        self.decode_into(payload, rows, cols, out)
        return out
