"""Numba kernels of the fast lossless plane (plane kind 3 of model id 3, SPEC.md 5.6).

Per pixel (raster order) one fused loop

1. predicts ``(2 MED + W + N + 2) >> 2`` (MED: the median edge detector of LOCO-I / JPEG-LS)
   plus a bias learnt in one of 365 contexts of quantised local gradients (JPEG-LS's
   ``A``/``B``/``C``/``N`` counters, signs merged; the correction keeps the mean error in
   ``(-1/2, 1/2]``);
2. folds the residual to ``u >= 0`` within the plane's bounds and splits it into a token and
   raw extra bits exactly as model 1 does (SPEC 5.4 steps 4-5);
3. codes the token with static rANS: one of ``N_CLASS`` classes, chosen by the context's mean
   absolute residual ``A / N`` and the residuals of ``W`` and ``N`` in half-octave steps,
   names one of the plane's frequency tables.  Flat areas cost far less than a bit a pixel
   without a run mode.

The encoder runs :func:`fast_tokens` (tokens, classes, extra bits), fits the tables and
rANS-codes the tokens backwards (:func:`rans_encode`); the decoder runs :func:`fast_decode`,
which interleaves rANS decoding with the same prediction.  Integer and deterministic; the
hot paths are written without data-dependent branches (``math.frexp`` gives bit lengths;
the rANS renormalisation's mask passes through :func:`mic.lossless.kernels_opaque.opaque`,
without which the compiler made it a mispredicted branch).  The contexts' counters, the
slot tables and the packed symbol rows are indexed as flat arrays with constant strides:
the loop then keeps no array shapes in registers, which it has too few of (effort 1's
decode 0.94-0.95 of the time it took with two-dimensional indexing).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit

from .kernels_fast_lms import (  # the filters (SPEC 5.8), used here and re-exported
    LMS2_SETS, LMS2_TAPS, LMS_TAPS, check_weights, inter_base, lms_finish, lms_learn,
    lms_predict, lms_state, med_p0,
)
from .kernels_opaque import opaque


N_TOKENS = 68  # model 1's token alphabet (SPEC 5.4 step 5)
N_CLASS = 24  # token classes; each names one of the plane's tables
PREC = 11  # rANS probability precision: a table's frequencies sum to 2**PREC
M_TOT = 1 << PREC
RANS_L = 1 << 15  # the rANS state lives in [RANS_L, 2**31); 16-bit words
N_CTX = 365  # quantised-gradient contexts, signs merged: (9*9*9 + 1) // 2
N_STATE = 5  # a context's counters A, B, C, N, K: entries 5q .. 5q + 4 of the flat state
RESET = 64  # halve A, B, N when N reaches this (JPEG-LS)
MIN_C = -128
MAX_C = 127
U = np.uint64  # array indexes known non-negative: no wraparound code

# status codes (as in .kernels)
OK = 0
ERR_WORDS = 1  # ran past the words or the extra bits
ERR_RANGE = 2  # a decoded value outside the plane's range
ERR_FINAL = 4  # the rANS state did not end where the encoder started it
ERR_TABLE = 5  # a table that does not sum to 2**PREC, or a class map beyond the tables


@njit(cache=True, nogil=True)
def thresholds(maxval):
    """(T1, T2, T3) of the gradient quantiser for a plane of span ``maxval`` (JPEG-LS's
    defaults for ``MAXVAL`` = ``maxval``, NEAR = 0)."""
    if maxval >= 128:
        f = (min(maxval, 4095) + 128) >> 8
        return f + 2, 4 * f + 3, 17 * f + 4
    f = 256 // (maxval + 1)
    t1 = max(2, 3 // f)
    t2 = max(t1, 7 // f)
    return t1, t2, max(t2, 21 // f)


@njit(cache=True, nogil=True)
def _qlut(t1, t2, t3):
    """Quantiser table over ``d`` in ``[-t3, t3]`` (index ``d + t3``) -> -4..4."""
    lut = np.empty(2 * t3 + 1, np.int64)
    for i in range(2 * t3 + 1):
        d = i - t3
        a = d if d >= 0 else -d
        q = 0 if a == 0 else (1 if a < t1 else (2 if a < t2 else (3 if a < t3 else 4)))
        lut[i] = q if d >= 0 else -q
    return lut


@njit(cache=True, nogil=True, inline="always")
def _bitlen(v):
    """Bit length of ``0 <= v < 2**32`` (0 for 0), by a branch-free binary search."""
    e = np.int64(0)
    s = np.int64(v >= 65536) << 4
    v >>= s
    e += s
    s = np.int64(v >= 256) << 3
    v >>= s
    e += s
    s = np.int64(v >= 16) << 2
    v >>= s
    e += s
    s = np.int64(v >= 4) << 1
    v >>= s
    e += s
    s = np.int64(v >= 2)
    v >>= s
    return e + s + np.int64(v >= 1)


T_CAP = 3072  # t >= T_CAP is class N_CLASS - 1
MAX_BANDS = 8  # model id 18 (SPEC 5.11): a kind-5/6 plane's tables in up to 8 bands
NO_REF = np.zeros((1, 1), np.int32)  # not an inter plane (model id 25, SPEC 5.15)


@njit(cache=True, nogil=True)
def class_tables():
    """(R, CL): ``R[n] = 2**32 // n`` for the context counts ``1 <= n <= RESET``, and the
    class of every ``t`` in ``0..T_CAP``: with ``L`` the bit length of ``t``, ``L`` when
    ``L <= 1``, else ``2L - 2 + (bit L-2 of t)``, capped at ``N_CLASS - 1``."""
    R = np.zeros(RESET + 1, np.int64)
    for n in range(1, RESET + 1):
        R[n] = (np.int64(1) << 32) // n
    CL = np.empty(T_CAP + 1, np.int64)
    for t in range(T_CAP + 1):
        e = _bitlen(t)
        c = (2 * e - 2 + ((t >> (e - 2)) & 1)) if e >= 2 else e
        CL[t] = min(c, N_CLASS - 1)
    return R, CL


@njit(cache=True, nogil=True, inline="always")
def _class_t(kq, ew, en):
    """The index into :func:`class_tables`' ``CL`` of a pixel: ``K + 8 (eW + eN)`` (``K``
    about 16 times the context's mean |residual|), at most ``T_CAP``."""
    return U(min(kq + ((ew + en) << 3), np.int64(T_CAP)))


@njit(cache=True, nogil=True)
def token_tables():
    """(TOK, NB, TOP): the token of every ``u < 2**17`` (SPEC 5.4 step 5), and per token its
    extra-bit count and the value of its leading bits (``u = TOP << NB | extra``)."""
    TOK = np.empty(1 << 17, np.uint8)
    for u in range(1 << 17):
        e = _bitlen(u)
        TOK[u] = u if u < 16 else 16 + 4 * (e - 5) + ((u >> (e - 3)) & 3)
    NB = np.zeros(N_TOKENS, np.int64)
    TOP = np.zeros(N_TOKENS, np.int64)
    for tok in range(N_TOKENS):
        if tok < 16:
            TOP[tok] = tok
        else:
            NB[tok] = ((tok - 16) >> 2) + 2
            TOP[tok] = 4 | ((tok - 16) & 3)
    return TOK, NB, TOP


@lru_cache(maxsize=1)
def decode_constants():
    """(R, CL, NB, TOP) of :func:`class_tables` and :func:`token_tables`, built once."""
    R, CL = class_tables()
    _, NB, TOP = token_tables()
    return R, CL, NB, TOP


@lru_cache(maxsize=1)
def encode_constants():
    """(R, CL, TOK, NB) of :func:`class_tables` and :func:`token_tables`, built once; ``CL``
    as uint8 (3 KB of the level-1 cache instead of 24, beside the token pass's counts)."""
    R, CL = class_tables()
    TOK, NB, _ = token_tables()
    return R, CL.astype(np.uint8), TOK, NB


@njit(cache=True, nogil=True, inline="always")
def _neighbours(img, y, x, w, half):
    """``W``, ``N``, ``NW``, ``NE`` of (y, x) with the edge rules of SPEC 5.6."""
    if y == 0:
        w_ = np.int64(img[0, U(x - 1)]) if x > 0 else half
        return w_, w_, w_, w_
    n_ = np.int64(img[U(y - 1), U(x)])
    if x > 0:
        w_ = np.int64(img[U(y), U(x - 1)])
        nw = np.int64(img[U(y - 1), U(x - 1)])
    else:
        w_ = n_
        nw = n_
    ne = np.int64(img[U(y - 1), U(x + 1)]) if x + 1 < w else n_
    return w_, n_, nw, ne


@njit(cache=True, nogil=True, inline="always")
def _context(w_, n_, nw, ne, t3, lut):
    """(context 0..364, sign +-1) of the quantised gradients ``NE-N``, ``N-NW``, ``NW-W``."""
    d1 = min(max(ne - n_, -t3), t3)
    d2 = min(max(n_ - nw, -t3), t3)
    d3 = min(max(nw - w_, -t3), t3)
    q = (lut[U(d1 + t3)] * 9 + lut[U(d2 + t3)]) * 9 + lut[U(d3 + t3)]
    return (q, np.int64(1)) if q >= 0 else (-q, np.int64(-1))


@njit(cache=True, nogil=True, inline="always")
def _predict(w_, n_, nw, cq, sign, maxval):
    """``(2 MED + W + N + 2) >> 2`` plus the context's bias, clamped to [0, maxval]."""
    p = med_p0(w_, n_, nw)[1] + cq * sign
    return min(max(p, np.int64(0)), np.int64(maxval))


@njit(cache=True, nogil=True, inline="always")
def _update(S, q, dd, R):
    """Context ``q``'s counters (``S[5q:5q + 5]`` = A, B, C, N, K) after the sign-merged
    residual ``dd``: JPEG-LS's update, with the mean error kept in ``(-1/2, 1/2]``, then
    ``K = (16 A R[N]) >> 32`` (:func:`_update_near` with the same ``dd`` for both)."""
    _update_near(S, q, dd, dd, R)


@njit(cache=True, nogil=True, inline="always")
def near_reciprocal(delta):
    """``M`` with ``(a * M) >> 40 == a // delta`` for every ``0 <= a < 2**20`` (``delta <
    2**17``: ``a * delta < 2**40``, so the error ``a / 2**40`` of ``M / 2**40`` against
    ``1 / delta`` never reaches the next multiple; ``a * M < 2**61``): a near-lossless
    plane's three divisions a sample as multiplications."""
    return (np.int64(1) << 40) // delta + 1


@njit(cache=True, nogil=True, inline="always")
def near_quantise(e, near, rcp):
    """SPEC 7.4 step 3's quantised residual ``sign(e) ((|e| + near) // (2 near + 1))`` of the
    error ``e``, with ``rcp`` :func:`near_reciprocal`'s ``M`` for ``2 near + 1``."""
    return ((e + near) * rcp) >> 40 if e >= 0 else -(((near - e) * rcp) >> 40)


@njit(cache=True, nogil=True, inline="always")
def _update_near(S, q, dd, drec, R):
    """:func:`_update` of a near-lossless plane (model id 17, SPEC 7.7): ``A`` (and so
    ``K``) gathers the quantised residual ``dd``, the bias ``B`` the reconstruction's error
    ``drec`` (sign-merged; a multiple of ``2 k + 1`` but where clamped), as JPEG-LS NEAR
    does; with ``dd == drec`` (k = 0) it is :func:`_update`."""
    o = U(q) * U(N_STATE)
    a = S[o] + (dd if dd >= 0 else -dd)
    b = S[o + U(1)] + drec
    n = S[o + U(3)]
    if n == RESET:
        a >>= 1
        b >>= 1
        n >>= 1
    n += 1
    dec = np.int64(2 * b <= -n)
    inc = np.int64(2 * b > n)
    b += (dec - inc) * n
    S[o + U(2)] = min(max(S[o + U(2)] + inc - dec, MIN_C), MAX_C)
    S[o] = a
    S[o + U(1)] = min(max(b, 1 - n), n)
    S[o + U(3)] = n
    S[o + U(4)] = ((a << 4) * R[U(n)]) >> 32

@njit(cache=True, nogil=True)
def _init(maxval):
    """The contexts' counters at the start of a plane (SPEC 5.6 step 3), flat: context
    ``q``'s A, B, C, N, K at ``N_STATE q + 0 .. 4`` (one dimension, so that the passes index
    them with a constant stride and keep no shape in a register)."""
    S = np.zeros(N_CTX * N_STATE, np.int64)
    a0 = max(2, (maxval + 1 + 32) >> 6)
    for q in range(N_CTX):
        S[q * N_STATE] = a0
        S[q * N_STATE + 3] = 1
        S[q * N_STATE + 4] = a0 << 4
    return S


@njit(cache=True, nogil=True)
def fast_decode(img, maxval, tabmap, freq, cum, sym, words, nwords, bits, nbytes, R, CL, nbt,
                top, lms=False, la=None, lb=None):
    """Decoder: reconstruct the (h, w) int32 plane ``img`` from the rANS ``words`` (uint16,
    ``nwords`` of them, padded with at least one more) and the extra ``bits`` (uint8,
    ``nbytes`` of them, padded with at least 4 more); ``R, CL`` from :func:`class_tables`,
    ``nbt, top`` from :func:`token_tables`; ``lms``: plane kind 5's prediction (SPEC 5.8),
    else kind 3's (the two compiled apart); ``la`` (12,) and ``lb`` (4, 8) int64: the filters'
    weights, where they start (zeros when not given; model id 16's prior, SPEC 5.10) and
    where they end (:func:`fast_decode_near` for near-lossless planes,
    :func:`fast_decode_banded` for planes with bands).  Returns a status."""
    if la is None or lb is None:
        la = np.zeros(LMS_TAPS, np.int64)
        lb = np.zeros((LMS2_SETS, LMS2_TAPS), np.int64)
    nob = np.zeros(MAX_BANDS - 1, np.int64)
    if lms:
        return _fast_decode(img, maxval, tabmap, freq, cum, sym, words, nwords, bits, nbytes,
                            R, CL, nbt, top, True, la, lb, 0, False, nob, False, 0, False, NO_REF)
    return _fast_decode(img, maxval, tabmap, freq, cum, sym, words, nwords, bits, nbytes,
                        R, CL, nbt, top, False, la, lb, 0, False, nob, False, 0, False, NO_REF)


@njit(cache=True, nogil=True)
def fast_decode_banded(img, maxval, tabmap, freq, cum, sym, words, nwords, bits, nbytes, R, CL,
                       nbt, top, la, lb, th):
    """:func:`fast_decode` of a lossless kind-5/6 plane with bands (model id 18, SPEC 5.11).
    ``th``: the band thresholds (:data:`MAX_BANDS` - 1 of them, the unused ones above
    ``maxval``; a sample's band is that of the sample above it, 0 on row 0), ``tabmap``
    holding ``N_CLASS`` entries a band.  A dispatcher of its own, compiling one case: the
    default's first decode compiles no other; its ``near`` is the literal 0, which lets the
    compiler drop the near-lossless steps (with ``near`` a run-time 0 it decoded 6 % slower:
    :func:`fast_decode_near_banded` is that case)."""
    return _fast_decode(img, maxval, tabmap, freq, cum, sym, words, nwords, bits, nbytes,
                        R, CL, nbt, top, True, la, lb, 0, True, th, False, 0, False, NO_REF)


@njit(cache=True, nogil=True)
def fast_decode_low(img, maxval, tabmap, freq, cum, sym, words, nwords, bits, nbytes, R, CL,
                    nbt, top, la, lb, th, nl):
    """:func:`fast_decode_banded` of a lossless kind-5/6 plane of model id 20 (SPEC 5.12):
    a sample whose ``(W + N + 1) >> 1`` is below ``nl`` (0..N_CLASS) is a low sample, coded
    as its value under the table of low class ``(W + N + 1) >> 1``, entry ``bands * N_CLASS +
    class`` of ``tabmap`` (the low section after the bands').  A dispatcher of its own."""
    return _fast_decode(img, maxval, tabmap, freq, cum, sym, words, nwords, bits, nbytes,
                        R, CL, nbt, top, True, la, lb, 0, True, th, True, np.int64(nl),
                        False, NO_REF)


@njit(cache=True, nogil=True)
def fast_decode_inter(img, maxval, tabmap, freq, cum, sym, words, nwords, bits, nbytes, R, CL,
                      nbt, top, la, lb, th, nl, ref):
    """:func:`fast_decode_low` of the kind-5 plane of an inter tile (xform 7, model id 25,
    SPEC 5.15): the filters take the previous frame's prediction of each sample
    (:func:`inter_base` of ``ref``, the reference: int32, the plane's shape, values in
    ``[0, maxval]``) in place of two taps; ``nl`` 0 where the plane has no low classes.
    A dispatcher of its own."""
    if ref.shape != img.shape:
        raise ValueError("fast_decode_inter: ref must have the plane's shape")
    return _fast_decode(img, maxval, tabmap, freq, cum, sym, words, nwords, bits, nbytes,
                        R, CL, nbt, top, True, la, lb, 0, True, th, True, np.int64(nl), True,
                        ref)


@njit(cache=True, nogil=True)
def fast_decode_near_low(img, maxval, tabmap, freq, cum, sym, words, nwords, bits, nbytes, R,
                         CL, nbt, top, la, lb, th, near, nl):
    """:func:`fast_decode_low` of a near-lossless plane of maximum error ``near`` (model id
    21, SPEC 7.9): a low sample's token is ``q``, its reconstruction ``min(q (2k + 1),
    maxval)``.  A dispatcher of its own."""
    return _fast_decode(img, maxval, tabmap, freq, cum, sym, words, nwords, bits, nbytes,
                        R, CL, nbt, top, True, la, lb, np.int64(near), True, th, True,
                        np.int64(nl), False, NO_REF)


@njit(cache=True, nogil=True)
def fast_decode_near_banded(img, maxval, tabmap, freq, cum, sym, words, nwords, bits, nbytes,
                            R, CL, nbt, top, la, lb, th, near):
    """:func:`fast_decode_banded` of a near-lossless plane of maximum error ``near`` (model
    id 19, SPEC 7.8): ``img`` receives the reconstruction.  A dispatcher of its own."""
    return _fast_decode(img, maxval, tabmap, freq, cum, sym, words, nwords, bits, nbytes,
                        R, CL, nbt, top, True, la, lb, np.int64(near), True, th, False, 0,
                        False, NO_REF)


@njit(cache=True, nogil=True)
def fast_decode_near(img, maxval, tabmap, freq, cum, sym, words, nwords, bits, nbytes, R, CL,
                     nbt, top, near, lms=False, la=None, lb=None):
    """:func:`fast_decode` of a near-lossless plane of maximum error ``near`` (model id 17,
    SPEC 7.7): ``img`` receives the reconstruction.  A dispatcher of its own, so that the
    lossless decoder does not compile these cases."""
    if la is None or lb is None:
        la = np.zeros(LMS_TAPS, np.int64)
        lb = np.zeros((LMS2_SETS, LMS2_TAPS), np.int64)
    nob = np.zeros(MAX_BANDS - 1, np.int64)
    if lms:
        return _fast_decode(img, maxval, tabmap, freq, cum, sym, words, nwords, bits, nbytes,
                            R, CL, nbt, top, True, la, lb, np.int64(near), False, nob, False, 0,
                            False, NO_REF)
    return _fast_decode(img, maxval, tabmap, freq, cum, sym, words, nwords, bits, nbytes,
                        R, CL, nbt, top, False, la, lb, np.int64(near), False, nob, False, 0,
                        False, NO_REF)


@njit(cache=True, nogil=True, inline="always")
def _fast_decode(img, maxval, tabmap, freq, cum, sym, words, nwords, bits, nbytes, R, CL, nbt,
                 top, lms, la, lb, near, banded, th, low, nl, inter, ref):
    check_weights(la, lb)
    h, w = img.shape
    # model id 20 (SPEC 5.12): the low section's N_CLASS entries follow the bands' (nl > 0)
    nband = tabmap.shape[0] // N_CLASS - (1 if low and nl > 0 else 0) if banded else 1
    TLOW = np.zeros(N_CLASS, np.uint16)  # low class -> table
    if low:
        for i in range(min(nl, N_CLASS)):
            TLOW[i] = tabmap[nband * N_CLASS + i]
    th0, th1, th2, th3, th4, th5, th6 = th[0], th[1], th[2], th[3], th[4], th[5], th[6]
    delta = 2 * near + 1  # near-lossless (SPEC 7.7): residuals quantised to this step
    rcp = near_reciprocal(delta)
    t1, t2, t3 = thresholds(maxval)
    lut = _qlut(t1, t2, t3)
    S = _init(maxval)
    half = np.int64((maxval + 1) >> 1)
    eabs = np.zeros(w + 1, np.int64)
    _, _, lz, lz2, lres = lms_state(w)  # the filters' taps (SPEC 5.8); weights la, lb
    p0 = p1 = dot1 = nrm1 = dot2 = nrm2 = np.int64(0)
    ls = g1 = g2 = np.int64(0)  # the weight set, the steps the next prediction makes
    nt = freq.shape[0]
    # one load a symbol: its f, cum, extra bits; flat, as the slot table (constant strides)
    PK = np.zeros(nt * N_TOKENS, np.uint32)
    if sym.shape[0] != nt or sym.shape[1] != M_TOT:  # indexed flat below, unchecked
        raise ValueError("fast_decode: a slot table of M_TOT entries per table")
    sym1 = sym.reshape(-1)
    for i in range(nt):
        for j in range(N_TOKENS):
            if freq[i, j] > 0:
                PK[i * N_TOKENS + j] = ((freq[i, j] - 1) | (cum[i, j] << 12) | (nbt[j] << 24)
                            | (top[j] << 28))
    TL = np.empty(nband * (T_CAP + 1), np.uint16)  # band * (T_CAP + 1) + t -> table
    for b in range(nband):
        for i in range(T_CAP + 1):
            TL[b * (T_CAP + 1) + i] = tabmap[b * N_CLASS + CL[i]]
    brow = np.zeros(w, np.int64)  # model id 18: the band of each sample above, times T_CAP + 1
    if words.shape[0] <= nwords or bits.shape[0] < nbytes + 4:  # a caller's mistake
        raise ValueError("fast_decode: the words must be padded by one, the bytes by four")
    if nwords < 2:
        return ERR_WORDS
    x = (np.int64(words[0]) << 16) | np.int64(words[1])
    wp = 2
    bp = np.int64(0)  # bit position in ``bits``
    nbits = 8 * np.int64(nbytes)
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
        if banded and y > 0:  # model id 18 (SPEC 5.11): the band of the sample above
            for i in range(w):
                a = np.int64(up[U(i)])
                brow[U(i)] = ((a >= th0) + (a >= th1) + (a >= th2) + (a >= th3) + (a >= th4)
                              + (a >= th5) + (a >= th6)) * (T_CAP + 1)
        for xx in range(w):
            if y == 0:
                n_ = w_
                nw = w_
                ne = w_
            q, sign = _context(w_, n_, nw, ne, t3, lut)
            uq = U(q)
            if lms:
                ext = np.int64(0)
                if inter:  # model id 25 (SPEC 5.15): the reference's prediction
                    ext = inter_base(ref, y, xx, w_, n_, nw, half, maxval)
                p, p0, p1, dot1, nrm1, dot2, nrm2, ls = lms_predict(
                    img, y, xx, w, w_, n_, nw, ne, maxval, S[uq * U(N_STATE) + U(2)] * sign, la,
                    lb, lz, lz2, lres, g1, g2, ls, inter, ext)
            else:
                p = _predict(w_, n_, nw, S[uq * U(N_STATE) + U(2)], sign, maxval)
            if near:  # (p + near) // delta and (maxval - p + near) // delta
                mlo = ((p + near) * rcp) >> 40
                mhi = ((maxval - p + near) * rcp) >> 40
            else:
                mlo = p
                mhi = maxval - p
            m = min(mlo, mhi)
            t = _class_t(S[uq * U(N_STATE) + U(4)], ew, eabs[U(xx)])
            t = U(TL[(U(brow[U(xx)]) + t) if banded else t])
            islow = False
            if low:  # model id 20 (SPEC 5.12): a low sample's table is its low class's
                lw = (w_ + n_ + 1) >> 1
                islow = lw < nl
                if islow:
                    t = U(TLOW[U(lw)])
            slot = x & (M_TOT - 1)
            tok = U(sym1[t * U(M_TOT) + U(slot)])
            e = np.int64(PK[t * U(N_TOKENS) + tok])  # f - 1 | cum << 12 | nb << 24 | top << 28
            x = ((e & 0xFFF) + 1) * (x >> PREC) + slot - ((e >> 12) & 0xFFF)
            # renormalise without a branch (taken about once in four symbols, unpredictably):
            # the mask is opaque, so that the compiler keeps it an ``and`` (kernels_opaque);
            # ``words[wp]`` is read every time (the words are padded by one)
            mask = opaque(-np.int64(x < RANS_L))
            x = (x << (mask & 16)) | (np.int64(words[U(wp)]) & mask)
            wp -= mask
            nb = (e >> 24) & 15
            b = U(bp >> 3)
            word = ((np.int64(bits[b]) << 24) | (np.int64(bits[b + U(1)]) << 16)
                    | (np.int64(bits[b + U(2)]) << 8) | np.int64(bits[b + U(3)]))
            extra = ((word << (bp & 7)) & 0xFFFFFFFF) >> (32 - nb)
            bp += nb
            if wp > nwords or bp > nbits:
                return ERR_WORDS
            u = ((e >> 28) << nb) | extra
            # unfold: interleaved within +-m, beyond it the wider side's sign
            dz = (u >> 1) ^ -(u & 1)
            wide = (u - m) * (sign if mlo < mhi else -sign)
            dd = dz if u <= 2 * m else wide
            if near:  # the quantised residual's bounds (SPEC 7.7), then the reconstruction
                if low and islow:  # model id 21 (SPEC 7.9): the value's grid index
                    if u * delta > maxval + near:
                        return ERR_RANGE
                    v = min(u * delta, np.int64(maxval))
                    dd = near_quantise(v - p, near, rcp)
                    dd = dd if sign > 0 else -dd
                else:
                    if dd > (mhi if sign > 0 else mlo) or -dd > (mlo if sign > 0 else mhi):
                        return ERR_RANGE
                    v = min(max(p + (dd if sign > 0 else -dd) * delta, np.int64(0)),
                            np.int64(maxval))
                _update_near(S, q, dd, (v - p) if sign > 0 else (p - v), R)
            else:
                if low and islow:  # the token is the value itself (SPEC 5.12)
                    v = u
                    dd = (v - p) if sign > 0 else (p - v)
                else:
                    v = p + (dd if sign > 0 else -dd)
                if v < 0 or v > maxval:
                    return ERR_RANGE
                _update(S, q, dd, R)
            row[U(xx)] = v
            if lms:
                g1, g2, ls = lms_learn(y, xx, v, p, p0, p1, dot1, nrm1, dot2, nrm2, ls, lres)
            ad = dd if dd >= 0 else -dd
            ew = ad
            eabs[U(xx)] = ad
            # slide: the next pixel's W, NW, N, NE
            w_ = v
            if y > 0:
                nw = n_
                n_ = ne
                ne = np.int64(up[U(xx + 2)]) if xx + 2 < w else n_
    if lms:
        lms_finish(la, lb, lz, lz2, g1, g2, ls)
    if x != RANS_L or wp != nwords:
        return ERR_FINAL
    return OK
