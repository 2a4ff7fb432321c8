"""The fast lossless plane's encoder (plane kind 3 of model id 3, SPEC.md 5.6): one
(h, w) plane -> its payload, for ``mic.encode(a, effort=1)`` and ``effort=2``.

1. subtract the plane's minimum (a constant plane is kind 0);
2. :func:`mic.lossless.kernels_fast_enc.fast_tokens` predicts every pixel and gives its
   token, its class and the raw extra bits in one pass;
3. the classes' token counts become the plane's frequency tables (neighbouring classes
   share a table where a table would cost more than it saves);
4. the tokens are rANS-coded backwards, so the decoder reads them forwards.
"""

from __future__ import annotations

import threading

import numpy as np

from ..bitstream.varint import pack_uvarints
from . import kernels_fast as KF
from . import kernels_fast_enc as KE
from . import kernels_fit as KFIT
from . import kernels_low_enc as KL
from . import kernels_tables as KT
from .encoder import offer_palette
from .syntax import (
    PLANE_CONST, PLANE_FAST, PLANE_FAST_LMS, PLANE_FAST_LMS_PALETTE, PLANE_FAST_PALETTE,
    model16_priors, plane_head, reference_plane,
)


def encode_plane_fast(plane: np.ndarray, palette: int = 1, lms: bool = False,
                      prior: bool = False, bands: bool = False, low: bool = False,
                      compact: bool = False, ref: np.ndarray | None = None) -> bytes:
    """One (h, w) int32 plane -> its payload (SPEC 5.6: kind 0, 3 or 4; ``lms``: SPEC 5.8,
    kind 0, 5 or 6, the prediction corrected by two NLMS filters).  Where the
    plane's histogram is sparse (:func:`mic.lossless.encoder.offer_palette`: at most half
    its range occurs, or its core range is sparse), ``palette`` 1 codes the indices into the
    values that do (kind 4 or 6), 2 codes both ways and keeps the smaller, 0 never uses one.
    ``prior`` (with ``lms``; model id 16, SPEC 5.10): the filters start from the fixed
    weights, and classes may use their built-in tables; ``bands`` (with ``prior``; model id
    18, SPEC 5.11): the tables split into bands of the sample above; ``low`` (with
    ``bands``; model id 20, SPEC 5.12): low samples coded as values under tables of their own;
    ``compact`` (with ``low``; model id 22, SPEC 5.13): the table sections bit-packed;
    ``ref`` (model id 25, SPEC 5.15): the previous frame's co-located samples, whose
    prediction of each sample the filters take: model 22's plane of kind 0 or 5, whatever
    the other arguments say (no palette).

    >>> import numpy as np
    >>> encode_plane_fast(np.full((2, 3), 7, np.int32))
    b'\\x00\\x0e'
    >>> encode_plane_fast(np.array([[0, 1], [1, 0]], np.int32))[:1]
    b'\\x03'
    >>> encode_plane_fast(np.array([[0, 90], [90, 0]], np.int32))[:1]
    b'\\x04'
    >>> encode_plane_fast(np.array([[0, 1], [1, 0]], np.int32), lms=True)[:1]
    b'\\x05'
    """
    lo = int(plane.min())
    hi = int(plane.max())
    if lo == hi:
        return plane_head(PLANE_CONST, lo)
    x = plane - np.int32(lo) if lo else np.ascontiguousarray(plane)
    maxval = hi - lo
    if ref is not None:  # model id 25 (SPEC 5.15): an inter tile's plane
        return plane_head(PLANE_FAST_LMS, lo, maxval) + _body(
            x, maxval, True, True, bands=True, low=True, compact=True,
            ref=reference_plane(ref, lo, maxval))
    counts = KE.value_counts(x, maxval) if palette and maxval >= 3 else None
    kind, kind_pal = (PLANE_FAST_LMS, PLANE_FAST_LMS_PALETTE) if lms else (PLANE_FAST,
                                                                          PLANE_FAST_PALETTE)
    if counts is None or not offer_palette(counts):
        # dense: no palette
        return plane_head(kind, lo, maxval) + _body(x, maxval, lms, prior, bands=bands,
                                                    counts=counts, low=low, compact=compact)
    import zstandard

    flags = (counts > 0).astype(np.uint8)
    n_used = int(np.count_nonzero(flags))
    idx = KE.palette_indices(x, flags)
    zb = zstandard.ZstdCompressor(level=19 if palette > 1 else 3).compress(
        np.packbits(flags).tobytes())
    pal = b"".join((plane_head(kind_pal, lo, n_used - 1),
                    pack_uvarints(maxval, len(zb)), zb,
                    _body(idx, n_used - 1, lms, prior, bands=bands, counts=counts[flags > 0],
                          low=low, compact=compact)))
    if palette < 2:
        return pal
    plain = plane_head(kind, lo, maxval) + _body(x, maxval, lms, prior, bands=bands,
                                                 counts=counts, low=low, compact=compact)
    return pal if len(pal) < len(plain) else plain


def _body(x: np.ndarray, maxval: int, lms: bool = False, prior: bool = False,
          near: int = 0, bands: bool = False, counts: np.ndarray | None = None,
          low: bool = False, compact: bool = False, ref: np.ndarray | None = None) -> bytes:
    """Tables, word and byte counts, words and extra bytes of values ``x`` in [0, maxval]
    (``near`` > 0: near-lossless, SPEC 7.7; ``x`` is overwritten with its reconstruction;
    ``bands`` (with ``lms`` and ``prior``): model id 18's banded tables, SPEC 5.11, or with
    ``near`` 19's, SPEC 7.8; ``counts``: how often each value occurs, where the caller has
    them; ``low``, with ``bands``: model id 20's low classes, SPEC 5.12, or with ``near``
    21's, SPEC 7.9; ``compact``, with ``low``: model id 22's compact table sections, SPEC
    5.13, or with ``near`` 23's, SPEC 7.10; ``ref``, with ``low`` (lossless): the reference
    of an inter plane, model id 25, SPEC 5.15)."""
    h, w = x.shape
    n = h * w
    tokens = _scratch("tokens", n, np.uint8)
    bits = _scratch("bits", 2 * n + 16, np.uint8)  # the packers write whole bytes, in order
    R, CL, TOK, NB = KF.encode_constants()
    prior = prior and lms
    la = lb = None
    if prior:
        a0, b0, builtin = model16_priors()
        la, lb = a0.copy(), b0.copy()
    if bands and prior:
        if low and near:
            return _body_near_low(x, maxval, tokens, bits, la, lb, builtin, near, counts,
                                  compact)
        if low:
            return _body_low(x, maxval, tokens, bits, la, lb, builtin, counts, compact, ref)
        return _body_banded(x, maxval, tokens, bits, la, lb, builtin, near, counts)
    classes = _scratch("classes8", n, np.uint8)
    hist = np.zeros((KF.N_CLASS, KF.N_TOKENS), np.int64)
    if near:  # model id 17 (SPEC 7.7)
        nbytes = KE.fast_tokens_near(x, maxval, near, tokens, classes, bits, hist, R, CL, TOK,
                                     NB, lms, la, lb)
    elif lms:
        nbytes = KE.fast_tokens(x, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, lms, la,
                                lb)
    else:  # kind 3 (effort 1): the contexts and MED predictions in a vectorised pass first
        qa = _scratch("context_q", n, np.int16).reshape(h, w)
        pa = _scratch("context_p", n, np.int32).reshape(h, w)
        KE.context_pass(x, maxval, qa, pa)
        nbytes = KE.fast_tokens_pre(x, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, qa,
                                    pa)
    tabmap, freq = KFIT.fit_tables(hist)
    if prior:
        tabmap, freq = KFIT.assign_builtin(hist, tabmap, freq, builtin)
    tb = np.empty(1 + KF.N_CLASS + freq.shape[0] * (1 + 2 * KF.N_TOKENS), np.uint8)
    ntb = KFIT.write_tables(tabmap, freq, tb)
    if prior:
        tabmap, freq = KT.with_builtin(tabmap, freq, builtin)
    return _coded(tb[:ntb].tobytes(), tokens, classes, tabmap, freq, bits, nbytes)


def _coded(tables: bytes, tokens: np.ndarray, classes: np.ndarray, tabmap: np.ndarray,
           freq: np.ndarray, bits: np.ndarray, nbytes: int) -> bytes:
    """The table section, then the rANS words of ``tokens`` (each class's table
    ``tabmap[class]`` of ``freq``) with their counts, then the extra bytes."""
    _, cum, _ = KT.build_decode_tables(freq)
    words = _scratch("words", tokens.size + 2, np.uint16)
    nw = KE.rans_encode(tokens, classes, tabmap, freq, cum, words)
    return b"".join((tables, pack_uvarints(nw, nbytes), words[:nw].astype("<u2").tobytes(),
                     bits[:nbytes].tobytes()))


def _body_banded(x: np.ndarray, maxval: int, tokens: np.ndarray, bits: np.ndarray,
                 la: np.ndarray, lb: np.ndarray, builtin: np.ndarray, near: int = 0,
                 counts: np.ndarray | None = None) -> bytes:
    """:func:`_body` of a kind-5/6 plane of model id 18 (SPEC 5.11) or, ``near`` > 0, 19
    (SPEC 7.8): the tokens counted per fine bin of the sample above, the bands chosen, each
    band's tables (:mod:`.encoder_bands`); a plane too small or too flat for bins is one
    band."""
    from . import encoder_bands as EB

    R, CL, TOK, NB = KF.encode_constants()
    n = tokens.size
    edges = np.zeros(0, np.int64)
    if n >= EB.BAND_MIN_SAMPLES:
        fine, edges = EB.fine_bins(x, maxval, counts)
    nf = len(edges) + 1
    if nf == 1:  # one band: the plain pass, model 16's (17's) tables after the count
        classes = np.empty(n, np.uint8)
        hist = np.zeros((KF.N_CLASS, KF.N_TOKENS), np.int64)
        if near:
            nbytes = KE.fast_tokens_near(x, maxval, near, tokens, classes, bits, hist, R, CL,
                                         TOK, NB, True, la, lb)
        else:
            nbytes = KE.fast_tokens(x, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, True,
                                    la, lb)
        thresholds, band = [], np.zeros(1, np.int64)
    else:
        classes = _scratch("classes16", n, np.uint16)
        hist = np.zeros((nf * KF.N_CLASS, KF.N_TOKENS), np.int64)
        if near:  # model id 19 (SPEC 7.8): the bands of the reconstruction above
            nbytes = KE.fast_tokens_near_banded(x, maxval, near, tokens, classes, bits, hist, R,
                                                CL, TOK, NB, la, lb, fine)
        else:
            nbytes = KE.fast_tokens_banded(x, maxval, tokens, classes, bits, hist, R, CL, TOK,
                                           NB, la, lb, fine)
        thresholds, band = EB.choose_bands(hist, edges, builtin)
    tables, fine_map, freq = EB.banded_tables(hist, band, thresholds, builtin)
    return _coded(tables, tokens, classes, fine_map, freq, bits, nbytes)


def _body_low(x: np.ndarray, maxval: int, tokens: np.ndarray, bits: np.ndarray,
              la: np.ndarray, lb: np.ndarray, builtin: np.ndarray,
              counts: np.ndarray | None = None, compact: bool = False,
              ref: np.ndarray | None = None) -> bytes:
    """:func:`_body_banded` of a lossless kind-5/6 plane of model id 20 (SPEC 5.12; with
    ``compact`` 22's, SPEC 5.13, its table sections bit-packed): the
    bands as model 18 chooses them, then how many low classes
    (:func:`mic.lossless.encoder_bands.choose_low`); where some pay, the pass's low samples
    are recoded in them (:func:`mic.lossless.kernels_low_enc.apply_low`); ``ref``: the
    reference of an inter plane, which the filters take (model id 25, SPEC 5.15)."""
    from . import encoder_bands as EB

    R, CL, TOK, NB = KF.encode_constants()
    n = tokens.size
    counts, fine, edges = _low_bins(x, maxval, counts)
    nf = len(edges) + 1
    lowbase = nf * KF.N_CLASS
    classes = _scratch("classes16", n, np.uint16)
    hist = np.zeros((lowbase + KF.N_CLASS, KF.N_TOKENS), np.int64)
    uout = _scratch("uout", n, np.int32)
    cand = _scratch("cand", n, np.int64)
    if ref is None:
        nc = KE.fast_tokens_low(x, maxval, tokens, classes, hist, R, CL, TOK, NB, la, lb, fine,
                                0, lowbase, uout, cand)
    else:
        nc = KE.fast_tokens_inter(x, maxval, tokens, classes, hist, R, CL, TOK, NB, la, lb,
                                  fine, 0, lowbase, uout, cand, ref)
    if nf > 1:
        thresholds, band = EB.choose_bands(hist[:lowbase], edges, builtin)
    else:
        thresholds, band = [], np.zeros(1, np.int64)
    flat = x.reshape(-1)
    nl = EB.choose_low(counts, tokens, classes, hist[:lowbase], band, builtin, flat, cand, nc)
    if nl:
        KL.apply_low(flat, nl, lowbase, tokens, classes, uout, hist, TOK, cand, nc)
    nbytes = KL.pack_bits(tokens, uout, NB, bits)
    tables, fine_map, freq = EB.banded_tables(hist[:lowbase], band, thresholds, builtin,
                                              hist[lowbase:] if nl else None, nl, compact)
    return _coded(tables, tokens, classes, fine_map, freq, bits, nbytes)


def _body_near_low(x: np.ndarray, maxval: int, tokens: np.ndarray, bits: np.ndarray,
                   la: np.ndarray, lb: np.ndarray, builtin: np.ndarray, near: int,
                   counts: np.ndarray | None = None, compact: bool = False) -> bytes:
    """:func:`_body_low` of a near-lossless kind-5/6 plane of model id 21 (SPEC 7.9; with
    ``compact`` 23's, SPEC 7.10, its table sections bit-packed): a low
    sample's reconstruction changes with its coding, and with it every prediction after it,
    so the low class count is weighed (:func:`mic.lossless.encoder_bands.choose_low`) on a
    pass without low classes before the plane is coded with it: for a plane of at least
    :data:`NEAR_LOW_SAMPLE_MIN` samples a pass over a quarter of its rows
    (:func:`mic.lossless.encoder_near._rows_sample`), then one pass over the plane; a smaller
    plane is coded both ways, the smaller kept.  ``x`` is overwritten with the
    reconstruction of the coding kept."""
    from . import encoder_bands as EB
    from .encoder_near import _rows_sample

    R, CL, TOK, NB = KF.encode_constants()
    n = tokens.size
    counts, fine, edges = _low_bins(x, maxval, counts)
    nf = len(edges) + 1
    lowbase = nf * KF.N_CLASS

    cand = _scratch("cand", n, np.int64)  # the candidates of the latest pass (kernels_low_enc)

    def token_pass(img: np.ndarray, nl: int, toks: np.ndarray, out_bits: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, int, list[int], np.ndarray, int]:
        """Code ``img`` (overwritten with its reconstruction) with ``nl``: (classes, counts,
        extra bytes, band thresholds, bands of the fine bins, candidates in ``cand``)."""
        classes = _scratch("classes16", img.size, np.uint16)
        hist = np.zeros((lowbase + KF.N_CLASS, KF.N_TOKENS), np.int64)
        nbytes, nc = KE.fast_tokens_near_low(img, maxval, near, toks, classes, out_bits, hist,
                                             R, CL, TOK, NB, la.copy(), lb.copy(), fine, nl,
                                             lowbase, _scratch("uout", img.size, np.int32),
                                             cand)
        if nf > 1:
            thresholds, band = EB.choose_bands(hist[:lowbase], edges, builtin)
        else:
            thresholds, band = [], np.zeros(1, np.int64)
        return classes, hist, nbytes, thresholds, band, nc

    def coded(nl: int, img: np.ndarray
              ) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray, int]:
        """(payload, classes, counts, bands of the fine bins, candidates) of ``img`` coded
        with ``nl``."""
        classes, hist, nbytes, thresholds, band, nc = token_pass(img, nl, tokens, bits)
        tables, fine_map, freq = EB.banded_tables(hist[:lowbase], band, thresholds, builtin,
                                                  hist[lowbase:] if nl else None, nl, compact)
        return (_coded(tables, tokens, classes, fine_map, freq, bits, nbytes), classes, hist,
                band, nc)

    values = x.copy()
    if n >= NEAR_LOW_SAMPLE_MIN:  # weighed on a quarter of the rows, then one pass
        part = _rows_sample(values)
        img = part.copy()
        toks = np.empty(img.size, np.uint8)
        classes, hist, _, _, band, nc = token_pass(img, 0, toks,
                                                   np.zeros(2 * img.size + 16, np.uint8))
        nl = EB.choose_low(KE.value_counts(part, maxval), toks, classes, hist[:lowbase], band,
                           builtin, part.reshape(-1), cand, nc, near)
        return coded(nl, x)[0]
    # a smaller plane is weighed on its own pass without low classes, which is kept unless
    # the pass with them codes smaller (the estimate is not exact)
    payload, classes, hist, band, nc = coded(0, x)
    nl = EB.choose_low(counts, tokens, classes, hist[:lowbase], band, builtin,
                       values.reshape(-1), cand, nc, near)
    if nl:
        img = values.copy()
        second = coded(nl, img)[0]
        if len(second) < len(payload):
            payload = second
            x[...] = img
    return payload


#: near-lossless planes of at least this many samples weigh their low class count on a
#: quarter of their rows (model id 21); smaller ones are coded with and without
NEAR_LOW_SAMPLE_MIN = 1 << 16


def _low_bins(x: np.ndarray, maxval: int, counts: np.ndarray | None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(value counts, fine bin of each value, bin edges) of a plane of model id 20 or 21:
    :func:`mic.lossless.encoder_bands.fine_bins`, or one bin (all zeros, no edges) for a
    plane too small for bands."""
    from . import encoder_bands as EB

    if counts is None:
        counts = KE.value_counts(x, maxval)
    if x.size < EB.BAND_MIN_SAMPLES:
        return counts, np.zeros(maxval + 1, np.uint8), np.zeros(0, np.int64)
    fine, edges = EB.fine_bins(x, maxval, counts)
    return counts, fine, edges


class _Scratch(threading.local):
    """Each thread's scratch arrays, kept from one plane to the next: the token pass's
    tokens, classes, numbers, candidates and extra bits and the rANS words, 19 bytes a
    sample.  Arrays of several MB allocated afresh every plane went back to the system
    when freed, and the next plane's first writes to them page-faulted: 786 faults a 512²
    plane on the 2-core VM, 14.5 ms an encode against 13.0 without them (the best of three
    means of ten in one process; ``benches/results/2026-12-07-encode``).  Arrays over
    :data:`SCRATCH_KEEP_BYTES` are not kept."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}


#: scratch arrays up to this size are kept for the thread's next plane (at most six of
#: them, so 24 MB a thread; a 512² plane's largest is 2 MB)
SCRATCH_KEEP_BYTES = 4 << 20
_SCRATCH = _Scratch()


def _scratch(name: str, size: int, dtype: type, zero: bool = False) -> np.ndarray:
    """A 1-d array of ``size`` elements of ``dtype`` (zeros if ``zero``, else undefined):
    the calling thread's array ``name`` where it is small enough to keep, else a new one.
    Each name has one use live at a time: the caller is done with the array before it
    asks for the name again."""
    if size * np.dtype(dtype).itemsize > SCRATCH_KEEP_BYTES:
        return np.zeros(size, dtype) if zero else np.empty(size, dtype)
    arr = _SCRATCH.arrays.get(name)
    if arr is None or arr.size < size or arr.dtype != dtype:
        arr = _SCRATCH.arrays[name] = np.empty(max(size, 1024), dtype)
    out = arr[:size]
    if zero:
        out.fill(0)
    return out
