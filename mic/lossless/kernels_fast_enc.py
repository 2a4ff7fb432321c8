"""Encoder-only Numba kernels of the fast lossless plane (SPEC.md 5.6): tokens and classes
of every sample, the value counts and palette indices, and the backwards rANS pass.  The
frequency tables are fitted in :mod:`mic.lossless.kernels_fit`.  The decoder never imports
this module.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .kernels_fast import (
    LMS2_SETS, LMS2_TAPS, LMS_TAPS, M_TOT, N_CLASS, N_STATE, N_TOKENS, NO_REF, PREC, RANS_L, U,
    _class_t, _context, _init, _predict, _qlut, _update, _update_near, check_weights,
    inter_base, lms_finish, lms_learn, lms_predict, lms_state, med_p0, near_quantise,
    near_reciprocal, thresholds,
)


NOQ = np.zeros((1, 1), np.int16)  # no context_pass arrays (the passes that do not take them)
NOP = np.zeros((1, 1), np.int32)


@njit(cache=True, nogil=True)
def context_pass(img, maxval, qa, pa):
    """The part of a lossless kind-3 token pass (SPEC 5.6 steps 1-3) that needs no
    context state, for every sample off the plane's first row and first and last columns:
    ``qa`` (int16, as ``img``) the signed context ``(Q(NE - N) 9 + Q(N - NW)) 9 + Q(NW -
    W)``, ``pa`` (int32) ``(2 MED + W + N + 2) >> 2``.  Every input is known before the
    sequential pass starts, so this loop has no dependence from one sample to the next and
    the compiler vectorises it; :func:`fast_tokens_pre` then reads them.  ``Q`` is SPEC 5.6
    step 2's quantiser written as comparisons (``(|d| > 0) + (|d| >= T1) + (|d| >= T2) +
    (|d| >= T3)``, signed): the same values as the table the other passes use, since
    ``2 <= T1 <= T2 <= T3``."""
    if qa.shape != img.shape or pa.shape != img.shape:  # written below without bounds checks
        raise ValueError("context_pass: qa and pa must have the plane's shape")
    h, w = img.shape
    t1, t2, t3 = thresholds(maxval)
    for y in range(1, h):
        row = img[y]
        up = img[y - 1]
        qo = qa[y]
        po = pa[y]
        for x in range(1, w - 1):
            w_ = np.int32(row[x - 1])
            n_ = np.int32(up[x])
            nw = np.int32(up[x - 1])
            ne = np.int32(up[x + 1])
            d1 = ne - n_
            d2 = n_ - nw
            d3 = nw - w_
            a1 = abs(d1)
            a2 = abs(d2)
            a3 = abs(d3)
            q1 = np.int32(a1 > 0) + np.int32(a1 >= t1) + np.int32(a1 >= t2) + np.int32(a1 >= t3)
            q2 = np.int32(a2 > 0) + np.int32(a2 >= t1) + np.int32(a2 >= t2) + np.int32(a2 >= t3)
            q3 = np.int32(a3 > 0) + np.int32(a3 >= t1) + np.int32(a3 >= t2) + np.int32(a3 >= t3)
            q1 = q1 if d1 >= 0 else -q1
            q2 = q2 if d2 >= 0 else -q2
            q3 = q3 if d3 >= 0 else -q3
            qo[x] = np.int16((q1 * 9 + q2) * 9 + q3)
            po[x] = med_p0(w_, n_, nw)[1]


@njit(cache=True, nogil=True)
def fast_tokens_pre(img, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, qa, pa):
    """:func:`fast_tokens` of a lossless kind-3 plane (effort 1) whose contexts and MED
    predictions :func:`context_pass` has filled into ``qa`` and ``pa`` (the same tokens,
    classes, bits and counts; effort-1 encode 0.90-0.92 of its time).  A dispatcher of its own."""
    if qa.shape != img.shape or pa.shape != img.shape:
        raise ValueError("fast_tokens_pre: qa and pa must have the plane's shape")
    la = np.zeros(LMS_TAPS, np.int64)
    lb = np.zeros((LMS2_SETS, LMS2_TAPS), np.int64)
    nob = np.zeros(1, np.uint8)
    noc = np.zeros(1, np.int64)
    return _fast_tokens(img, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, False, la, lb,
                        0, False, nob, False, 0, 0, nob, noc, True, True, qa, pa, False, NO_REF)[0]


@njit(cache=True, nogil=True)
def fast_tokens(img, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, lms=False, la=None,
                lb=None):
    """Encoder: the token (``tokens``, uint8) and class (``classes``, uint8) of every pixel
    of the (h, w) int32 plane ``img`` (values in ``[0, maxval]``) and its extra bits packed
    MSB first into ``bits`` (zeroed, at least 2 bytes a pixel + 16).  Returns the number of
    bytes of ``bits`` used; ``hist`` (N_CLASS, N_TOKENS) int64 receives the counts.  ``R, CL``
    and ``TOK, NB`` come from :func:`class_tables` and :func:`token_tables`.  ``lms``: the
    prediction of plane kind 5 (SPEC 5.8), else kind 3's (the two compiled apart); ``la``
    (12,) and ``lb`` (4, 8) int64: the filters' weights, where they start (zeros when not
    given; model id 16's prior, SPEC 5.10) and where they end (:func:`fast_tokens_near`
    for near-lossless planes)."""
    if la is None or lb is None:
        la = np.zeros(LMS_TAPS, np.int64)
        lb = np.zeros((LMS2_SETS, LMS2_TAPS), np.int64)
    nob = np.zeros(1, np.uint8)
    noc = np.zeros(1, np.int64)
    if lms:
        return _fast_tokens(img, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, True,
                            la, lb, 0, False, nob, False, 0, 0, nob, noc, True, False, NOQ,
                            NOP, False, NO_REF)[0]
    return _fast_tokens(img, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, False, la, lb,
                        0, False, nob, False, 0, 0, nob, noc, True, False, NOQ, NOP,
                        False, NO_REF)[0]


@njit(cache=True, nogil=True)
def fast_tokens_banded(img, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, la, lb, fine):
    """:func:`fast_tokens` of a kind-5 plane whose classes the encoder will split into bands
    (model id 18, SPEC 5.11): ``fine`` (uint8, ``maxval + 1``) gives each value its fine bin
    ``f`` (a band is a run of them), a sample's that of the sample above it (row 0: bin 0);
    ``classes`` (uint16) receives
    ``f * N_CLASS + class`` and ``hist`` is (fine bins * N_CLASS, N_TOKENS).  A dispatcher of
    its own, so that the other planes do not compile it."""
    return _fast_tokens(img, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, True, la, lb,
                        0, True, fine, False, 0, 0, fine, np.zeros(1, np.int64), True, False,
                        NOQ, NOP, False, NO_REF)[0]


@njit(cache=True, nogil=True)
def fast_tokens_low(img, maxval, tokens, classes, hist, R, CL, TOK, NB, la, lb, fine, nl,
                    lowbase, uout, cand):
    """:func:`fast_tokens_banded` of a kind-5 plane of model id 20 (SPEC 5.12): a sample
    whose ``L = (W + N + 1) >> 1`` is below ``nl`` codes its value (not its folded residual)
    in row ``lowbase + L`` of ``classes`` and ``hist`` (``lowbase`` = fine bins *
    N_CLASS; ``hist`` has N_CLASS rows more); ``uout`` (int32) receives every sample's coded
    number (the folded residual or the value) and ``cand`` (int64, a slot a sample) the
    samples with ``L`` below N_CLASS, each as ``k | L << 32`` (``k`` its index in raster
    order), which the low class count is weighed and recoded with
    (:mod:`mic.lossless.kernels_low_enc`).  No extra bits are packed: the encoder packs
    them once the low classes are settled (:func:`mic.lossless.kernels_low_enc.pack_bits`).
    Returns how many samples ``cand`` holds.  A dispatcher of its own."""
    nob = np.zeros(1, np.uint8)
    return _fast_tokens(img, maxval, tokens, classes, nob, hist, R, CL, TOK, NB, True, la, lb,
                        0, True, fine, True, np.int64(nl), np.int64(lowbase), uout, cand,
                        False, False, NOQ, NOP, False, NO_REF)[1]


@njit(cache=True, nogil=True)
def fast_tokens_inter(img, maxval, tokens, classes, hist, R, CL, TOK, NB, la, lb, fine, nl,
                      lowbase, uout, cand, ref):
    """:func:`fast_tokens_low` of the kind-5 plane of an inter tile (xform 7, model id 25,
    SPEC 5.15): the filters take the previous frame's prediction of each sample (from
    ``ref``, the reference: int32, the plane's shape, values in ``[0, maxval]``) in place
    of two taps.  A dispatcher of its own."""
    if ref.shape != img.shape:
        raise ValueError("fast_tokens_inter: ref must have the plane's shape")
    nob = np.zeros(1, np.uint8)
    return _fast_tokens(img, maxval, tokens, classes, nob, hist, R, CL, TOK, NB, True, la, lb,
                        0, True, fine, True, np.int64(nl), np.int64(lowbase), uout, cand,
                        False, False, NOQ, NOP, True, ref)[1]


@njit(cache=True, nogil=True)
def fast_tokens_near_low(img, maxval, near, tokens, classes, bits, hist, R, CL, TOK, NB, la, lb,
                         fine, nl, lowbase, uout, cand):
    """:func:`fast_tokens_low` of a near-lossless plane of model id 21 (SPEC 7.9): a low
    sample (``(W + N + 1) >> 1`` of the reconstruction below ``nl``) codes ``q = (v + k) //
    (2k + 1)`` in its low class and is reconstructed as ``min(q (2k + 1), maxval)``; ``img``
    receives the reconstruction, ``bits`` the packed extra bits.  Returns (bytes of
    ``bits`` used, samples in ``cand``).  A dispatcher of its own."""
    return _fast_tokens(img, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, True, la, lb,
                        np.int64(near), True, fine, True, np.int64(nl), np.int64(lowbase), uout,
                        cand, True, False, NOQ, NOP, False, NO_REF)


@njit(cache=True, nogil=True)
def fast_tokens_near_banded(img, maxval, near, tokens, classes, bits, hist, R, CL, TOK, NB, la,
                            lb, fine):
    """:func:`fast_tokens_banded` of a near-lossless plane (model id 19, SPEC 7.8): the fine
    bin of the reconstruction above.  A dispatcher of its own: the lossless one passes the
    literal 0, which lets the compiler drop the near-lossless steps (as
    :func:`mic.lossless.kernels_fast.fast_decode_banded` does)."""
    return _fast_tokens(img, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, True, la, lb,
                        np.int64(near), True, fine, False, 0, 0, fine, np.zeros(1, np.int64),
                        True, False, NOQ, NOP, False, NO_REF)[0]


@njit(cache=True, nogil=True)
def fast_tokens_near(img, maxval, near, tokens, classes, bits, hist, R, CL, TOK, NB, lms=False,
                     la=None, lb=None):
    """:func:`fast_tokens` of a near-lossless plane of maximum error ``near`` (model id 17,
    SPEC 7.7): ``img`` is overwritten with its reconstruction, which the decoder will
    produce.  A dispatcher of its own, so that the lossless encoder does not compile these
    cases."""
    if la is None or lb is None:
        la = np.zeros(LMS_TAPS, np.int64)
        lb = np.zeros((LMS2_SETS, LMS2_TAPS), np.int64)
    nob = np.zeros(1, np.uint8)
    noc = np.zeros(1, np.int64)
    if lms:
        return _fast_tokens(img, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, True,
                            la, lb, np.int64(near), False, nob, False, 0, 0, nob, noc, True,
                            False, NOQ, NOP, False, NO_REF)[0]
    return _fast_tokens(img, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, False, la, lb,
                        np.int64(near), False, nob, False, 0, 0, nob, noc, True, False, NOQ,
                        NOP, False, NO_REF)[0]


@njit(cache=True, nogil=True, inline="always")
def _fast_tokens(img, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, lms, la, lb, near,
                 banded, fine, low, nl, lowbase, uout, cand, pack, pre, qa, pa, inter,
                 ref):
    check_weights(la, lb)
    h, w = img.shape
    delta = 2 * near + 1  # near-lossless (SPEC 7.7): residuals quantised to this step
    rcp = near_reciprocal(delta)  # x // delta = (x * rcp) >> 40 for the x here
    t1, t2, t3 = thresholds(maxval)
    lut = _qlut(t1, t2, t3)
    S = _init(maxval)
    if hist.shape[1] != N_TOKENS:  # indexed flat below, without bounds checks
        raise ValueError("fast_tokens: hist must have N_TOKENS columns")
    hist1 = hist.reshape(-1)  # the counts, flat (a constant stride)
    half = np.int64((maxval + 1) >> 1)
    eabs = np.zeros(w + 1, np.int64)
    _, _, lz, lz2, lres = lms_state(w)  # the filters' taps (SPEC 5.8); weights la, lb
    p0 = p1 = dot1 = nrm1 = dot2 = nrm2 = np.int64(0)
    ls = g1 = g2 = np.int64(0)  # the weight set, the steps the next prediction makes
    acc = np.int64(0)
    cnt = np.int64(0)
    pos = 0
    k = 0
    nc = 0  # samples in cand (low)
    for y in range(h):
        row = img[U(y)]
        up = img[U(y - 1)] if y > 0 else row
        ew = np.int64(0)
        # the neighbours slide along the row (SPEC 5.6 edges): W, N, NW, NE
        if y == 0:
            w_ = half
            n_ = half
            ne = half
        else:
            n_ = np.int64(up[0])
            w_ = n_
            ne = np.int64(up[U(1)]) if w > 1 else n_
        nw = w_
        for x in range(w):
            if y == 0:
                n_ = w_
                nw = w_
                ne = w_
            if pre and y > 0 and x > 0 and x + 1 < w:  # context and MED from context_pass
                qq = np.int64(qa[U(y), U(x)])
                sign = np.int64(1) if qq >= 0 else np.int64(-1)
                q = qq if qq >= 0 else -qq
                uq = U(q)
                p = min(max(np.int64(pa[U(y), U(x)]) + S[uq * U(N_STATE) + U(2)] * sign,
                            np.int64(0)), np.int64(maxval))
            else:
                q, sign = _context(w_, n_, nw, ne, t3, lut)
                uq = U(q)
                if lms:
                    ext = np.int64(0)
                    if inter:  # model id 25 (SPEC 5.15): the reference's prediction
                        ext = inter_base(ref, y, x, w_, n_, nw, half, maxval)
                    p, p0, p1, dot1, nrm1, dot2, nrm2, ls = lms_predict(
                        img, y, x, w, w_, n_, nw, ne, maxval, S[uq * U(N_STATE) + U(2)] * sign,
                        la, lb, lz, lz2, lres, g1, g2, ls, inter, ext)
                else:
                    p = _predict(w_, n_, nw, S[uq * U(N_STATE) + U(2)], sign, maxval)
            v = np.int64(row[U(x)])
            qv = np.int64(0)
            lw = (w_ + n_ + 1) >> 1 if low else np.int64(0)  # SPEC 5.12's level
            islow = low and lw < nl
            if near:  # quantise (SPEC 7.4 step 3) and reconstruct where the decoder will
                m = min(((p + near) * rcp) >> 40, ((maxval - p + near) * rcp) >> 40)
                if islow:  # model id 21 (SPEC 7.9): a low sample's value on the grid of 2k + 1
                    qv = ((v + near) * rcp) >> 40
                    v = min(qv * delta, np.int64(maxval))
                dd = near_quantise(v - p, near, rcp)
                if not islow:
                    v = min(max(p + dd * delta, np.int64(0)), np.int64(maxval))
                row[U(x)] = v
                dd = dd if sign > 0 else -dd
            else:
                m = min(p, maxval - p)
                dd = (v - p) if sign > 0 else (p - v)
            ad = dd if dd >= 0 else -dd
            c = U(CL[_class_t(S[uq * U(N_STATE) + U(4)], ew, eabs[U(x)])])
            if banded and y > 0:  # model id 18: the fine bin of the sample above (SPEC 5.11's
                c += U(fine[U(up[U(x)])]) * U(N_CLASS)  # bands join them; row 0: bin 0)
            # fold (SPEC 5.4 step 4) and tokenise (step 5)
            u = (dd << 1) ^ (dd >> 63)
            u = u if ad <= m else m + ad
            if low:  # model id 20 (SPEC 5.12): a low sample codes its value in its low class
                if islow:
                    c = U(lowbase + lw)
                    u = qv if near else v
                uout[k] = u
                cand[U(nc)] = k | (lw << 32)  # kept (counted) where L < N_CLASS
                nc += lw < N_CLASS
            classes[k] = c
            tok = U(TOK[U(u)])
            nb = NB[tok]
            tokens[k] = tok
            hist1[c * U(N_TOKENS) + tok] += 1
            if pack:
                acc = (acc << nb) | (u & ((np.int64(1) << nb) - 1))
                cnt += nb
            if pack and cnt >= 32:
                cnt -= 32
                word = acc >> cnt
                bits[U(pos)] = (word >> 24) & 0xFF
                bits[U(pos + 1)] = (word >> 16) & 0xFF
                bits[U(pos + 2)] = (word >> 8) & 0xFF
                bits[U(pos + 3)] = word & 0xFF
                pos += 4
                acc &= (np.int64(1) << cnt) - 1
            if near:
                _update_near(S, q, dd, (v - p) if sign > 0 else (p - v), R)
            else:
                _update(S, q, dd, R)
            if lms:
                g1, g2, ls = lms_learn(y, x, v, p, p0, p1, dot1, nrm1, dot2, nrm2, ls, lres)
            ew = ad
            eabs[U(x)] = ad
            k += 1
            w_ = v
            if y > 0:
                nw = n_
                n_ = ne
                ne = np.int64(up[U(x + 2)]) if x + 2 < w else n_
    if lms:
        lms_finish(la, lb, lz, lz2, g1, g2, ls)
    while cnt > 0:  # flush, zero padded to a byte
        take = min(cnt, np.int64(8))
        bits[pos] = ((acc >> (cnt - take)) << (8 - take)) & 0xFF
        cnt -= take
        acc &= (np.int64(1) << cnt) - 1
        pos += 1
    return pos, nc


@njit(cache=True, nogil=True)
def rans_encode(tokens, classes, tabmap, freq, cum, out):
    """rANS-code ``tokens`` (each with the table ``tabmap[classes[k]]``) backwards; the
    16-bit words go into ``out`` (at least ``len(tokens) + 2`` long) in the order the decoder
    reads them.  Returns the number of words.  ``x // f`` is Alverson's exact reciprocal
    division (exact for ``x < 2**31``, which the state range keeps)."""
    n = tokens.shape[0]
    cap = out.shape[0]
    j = cap  # words fill ``out`` from its end, then move to the front
    x = np.int64(RANS_L)
    nt = freq.shape[0]
    # per table and token: f << (31 - PREC) (the renormalisation bound), cum, M_TOT - f,
    # the reciprocal and its shift (x // f == (x * m) >> s, with m = 2^31, s = 31 for f = 1);
    # per table, not per class: the classes of a banded plane (model id 18, SPEC 5.11) share
    # a few tables, and a table per class would not stay in the cache
    RT = np.zeros((nt, N_TOKENS, 5), np.int64)
    for t in range(nt):
        for s in range(N_TOKENS):
            f = freq[t, s]
            RT[t, s, 0] = f << (31 - PREC)
            RT[t, s, 1] = cum[t, s]
            RT[t, s, 2] = M_TOT - f
            RT[t, s, 3] = np.int64(1) << 31
            RT[t, s, 4] = 31
            if f > 1:
                sh = 0
                while (1 << sh) < f:
                    sh += 1
                RT[t, s, 3] = ((np.int64(1) << (sh + 31)) + f - 1) // f
                RT[t, s, 4] = 31 + sh
    for c in range(tabmap.shape[0]):  # (the loop below indexes without bounds checks)
        if tabmap[c] < 0 or tabmap[c] >= nt:
            raise ValueError("rans_encode: a class maps to no table")
    for k in range(n - 1, -1, -1):
        t = U(tabmap[U(classes[k])])
        s = U(tokens[k])
        need = np.int64(x >= RT[t, s, 0])
        out[j - 1] = x & 0xFFFF
        j -= need
        x >>= 16 * need
        x += RT[t, s, 1] + ((x * RT[t, s, 3]) >> RT[t, s, 4]) * RT[t, s, 2]
    j -= 1
    out[j] = x & 0xFFFF
    j -= 1
    out[j] = x >> 16
    nw = cap - j
    out[:nw] = out[j:].copy()
    return nw


@njit(cache=True, nogil=True)
def value_counts(x, maxval):
    """How often each of the values ``0..maxval`` occurs in the (h, w) plane ``x`` (int64;
    the palette test)."""
    counts = np.zeros(maxval + 1, np.int64)
    h, w = x.shape
    for y in range(h):
        for i in range(w):
            counts[U(x[y, i])] += 1
    return counts


@njit(cache=True, nogil=True)
def palette_indices(x, flags):
    """The (h, w) int32 index of every value of ``x`` among the values ``flags`` marks."""
    lut = np.empty(flags.shape[0], np.int32)
    k = -1
    for v in range(flags.shape[0]):
        k += flags[v]
        lut[v] = k
    h, w = x.shape
    out = np.empty((h, w), np.int32)
    for y in range(h):
        for i in range(w):
            out[y, i] = lut[U(x[y, i])]
    return out
