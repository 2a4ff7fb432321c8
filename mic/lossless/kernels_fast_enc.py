"""Encoder-only Numba kernels of the fast lossless plane (SPEC.md 5.6): tokens and classes,
the frequency tables (fitted, classes merged where a table costs more than it saves,
serialised) and the backwards rANS pass.  The decoder never imports this module.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .kernels_fast import (
    LMS2_SETS, LMS2_TAPS, LMS_TAPS, M_TOT, N_CLASS, N_TOKENS, PREC, RANS_L, U,
    _class_t, _context, _init, _predict, _qlut, _update, _update_near, check_weights,
    lms_finish, lms_learn, lms_predict, lms_state, near_quantise, near_reciprocal, thresholds,
)
from .kernels_tables import BUILTIN


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
                            la, lb, 0, False, nob, False, 0, 0, nob, noc, True)[0]
    return _fast_tokens(img, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, False, la, lb,
                        0, False, nob, False, 0, 0, nob, noc, True)[0]


@njit(cache=True, nogil=True)
def fast_tokens_banded(img, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, la, lb, fine):
    """:func:`fast_tokens` of a kind-5 plane whose classes the encoder will split into bands
    (model id 18, SPEC 5.11): ``fine`` (uint8, ``maxval + 1``) gives each value its fine bin
    ``f`` (a band is a run of them), a sample's that of the sample above it (row 0: bin 0);
    ``classes`` (uint16) receives
    ``f * N_CLASS + class`` and ``hist`` is (fine bins * N_CLASS, N_TOKENS).  A dispatcher of
    its own, so that the other planes do not compile it."""
    return _fast_tokens(img, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, True, la, lb,
                        0, True, fine, False, 0, 0, fine, np.zeros(1, np.int64), True)[0]


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
                        False)[1]


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
                        cand, True)


@njit(cache=True, nogil=True)
def fast_tokens_near_banded(img, maxval, near, tokens, classes, bits, hist, R, CL, TOK, NB, la,
                            lb, fine):
    """:func:`fast_tokens_banded` of a near-lossless plane (model id 19, SPEC 7.8): the fine
    bin of the reconstruction above.  A dispatcher of its own: the lossless one passes the
    literal 0, which lets the compiler drop the near-lossless steps (as
    :func:`mic.lossless.kernels_fast.fast_decode_banded` does)."""
    return _fast_tokens(img, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, True, la, lb,
                        np.int64(near), True, fine, False, 0, 0, fine, np.zeros(1, np.int64),
                        True)[0]


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
                            la, lb, np.int64(near), False, nob, False, 0, 0, nob, noc, True)[0]
    return _fast_tokens(img, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, False, la, lb,
                        np.int64(near), False, nob, False, 0, 0, nob, noc, True)[0]


@njit(cache=True, nogil=True, inline="always")
def _fast_tokens(img, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, lms, la, lb, near,
                 banded, fine, low, nl, lowbase, uout, cand, pack):
    check_weights(la, lb)
    h, w = img.shape
    delta = 2 * near + 1  # near-lossless (SPEC 7.7): residuals quantised to this step
    rcp = near_reciprocal(delta)  # x // delta = (x * rcp) >> 40 for the x here
    t1, t2, t3 = thresholds(maxval)
    lut = _qlut(t1, t2, t3)
    S = _init(maxval)
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
            q, sign = _context(w_, n_, nw, ne, t3, lut)
            uq = U(q)
            if lms:
                p, p0, p1, dot1, nrm1, dot2, nrm2, ls = lms_predict(
                    img, y, x, w, w_, n_, nw, ne, maxval, S[uq, 2] * sign, la, lb, lz, lz2, lres,
                    g1, g2, ls)
            else:
                p = _predict(w_, n_, nw, S[uq, 2], sign, maxval)
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
            c = U(CL[_class_t(S[uq, 4], ew, eabs[U(x)])])
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
            hist[c, tok] += 1
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
    ncl = tabmap.shape[0]  # N_CLASS, or N_CLASS a band (model id 18, SPEC 5.11)
    # per class and token: f << (31 - PREC) (the renormalisation bound), cum, M_TOT - f,
    # the reciprocal and its shift (x // f == (x * m) >> s, with m = 2^31, s = 31 for f = 1)
    RT = np.zeros((ncl, N_TOKENS, 5), np.int64)
    for c in range(ncl):
        t = tabmap[c]
        for s in range(N_TOKENS):
            f = freq[t, s]
            RT[c, s, 0] = f << (31 - PREC)
            RT[c, s, 1] = cum[t, s]
            RT[c, s, 2] = M_TOT - f
            RT[c, s, 3] = np.int64(1) << 31
            RT[c, s, 4] = 31
            if f > 1:
                sh = 0
                while (1 << sh) < f:
                    sh += 1
                RT[c, s, 3] = ((np.int64(1) << (sh + 31)) + f - 1) // f
                RT[c, s, 4] = 31 + sh
    for k in range(n - 1, -1, -1):
        c = U(classes[k])
        s = U(tokens[k])
        need = np.int64(x >= RT[c, s, 0])
        out[j - 1] = x & 0xFFFF
        j -= need
        x >>= 16 * need
        x += RT[c, s, 1] + ((x * RT[c, s, 3]) >> RT[c, s, 4]) * RT[c, s, 2]
    j -= 1
    out[j] = x & 0xFFFF
    j -= 1
    out[j] = x >> 16
    nw = cap - j
    out[:nw] = out[j:].copy()
    return nw


@njit(cache=True, nogil=True)
def _vlen(v):
    n = 1
    while v >= 128:
        v >>= 7
        n += 1
    return n


@njit(cache=True, nogil=True)
def _normalise(cnt):
    """Frequencies summing to 2**PREC, each used symbol at least 1, in proportion to ``cnt``."""
    f = np.empty(N_TOKENS, np.int64)
    _normalise_into(cnt, f)
    return f


@njit(cache=True, nogil=True)
def _normalise_into(cnt, f):
    """:func:`_normalise` of ``cnt`` into ``f`` (N_TOKENS int64).  Each used symbol's
    frequency is ``max(1, (cnt M_TOT + n // 2) // n)``, the floor taken of the division in
    float64: exact, since the numerator is below 2^53 and a quotient that is not an integer
    lies at least 1 / n from one, more than the division's rounding error (at most 2^-42
    for a quotient up to M_TOT) while ``n`` < 2^40.  Then the largest frequency (the first of equals) takes what the sum lacks; where
    it is over, the frequencies above 1 give it back, largest first: the largest alone
    where it is unique and can (the first that any order of the sort puts first)."""
    n = np.int64(0)
    for s in range(N_TOKENS):
        n += cnt[s]
    dn = np.float64(n)
    exact = n >= np.int64(1) << 40  # (never for a plane's counts) the integer division
    half = n >> 1
    tot = np.int64(0)
    top = np.int64(0)  # the largest frequency, its first symbol, and whether it is tied
    b = 0
    tied = False
    for s in range(N_TOKENS):
        c = cnt[s]
        if exact:
            q = (c * M_TOT + half) // n
        else:
            q = np.int64(np.floor(np.float64(c * M_TOT + half) / dn))
        v = max(np.int64(1), q) * (c > 0)
        f[s] = v
        tot += v
        tied = (v == top) or (tied and v < top)
        b = s if v > top else b
        top = max(top, v)
    diff = M_TOT - tot
    if diff > 0 or (diff < 0 and not tied and top - 1 >= -diff):
        f[b] += diff
        diff = 0
    while diff < 0:
        # take from the symbols above 1, largest first
        for s in np.argsort(-f):
            take = min(-diff, f[s] - 1)
            f[s] -= take
            diff += take
            if diff == 0:
                break


@njit(cache=True, nogil=True)
def table_bytes(f):
    """Bytes of one serialised table ``f`` (:func:`write_tables`: its length, then a varint
    a frequency up to the last non-zero one)."""
    last = 0
    for s in range(f.shape[0]):
        if f[s] > 0:
            last = s + 1
    tb = 1
    for s in range(last):
        tb += _vlen(f[s])
    return tb


#: log2(f) of the frequencies 0..M_TOT (index 0 unused), as libm's scalar log2 gives them
#: (math.log2, the value np.log2 of an int64 has in a compiled kernel; numpy's own
#: vectorised log2 differs from it in the last place for some), which :func:`_cost` looks up
_LOG2 = np.array([0.0] + [math.log2(f) for f in range(1, M_TOT + 1)])


@njit(cache=True, nogil=True)
def _cost(cnt, f):
    """Bits of the tokens counted in ``cnt`` under their normalised table plus the table
    (``f``: N_TOKENS int64 of scratch, left holding the table).  The bits are summed over
    the used symbols in order (a zero count would add 0.0, which changes no sum); the
    table's bytes as :func:`table_bytes` counts them."""
    _normalise_into(cnt, f)  # (non-zero exactly where cnt is)
    bits = 0.0
    tb = 1
    last = 0
    for s in range(N_TOKENS):  # the varint bytes up to each symbol, kept at the last used
        v = f[s]
        tb += 1 + (v >= 128) + (v >= 1 << 14) + (v >= 1 << 21)  # (f <= M_TOT < 2^28)
        last = tb if v > 0 else last
        bits += cnt[s] * (PREC - _LOG2[v])
    return bits + 8.0 * (last if last else 1)


@njit(cache=True, nogil=True)
def _pair_gain(gcnt, gcost, i, m, f):
    """Bits saved by merging groups ``i`` and ``i + 1`` into one table (``m``, ``f``:
    N_TOKENS int64 of scratch)."""
    tot = 0
    for s in range(N_TOKENS):
        m[s] = gcnt[i, s] + gcnt[i + 1, s]
        tot += m[s]
    merged = _cost(m, f) if tot > 0 else 8.0
    return gcost[i] + gcost[i + 1] - merged


@njit(cache=True, nogil=True)
def fit_tables(hist):
    """(tabmap (N_CLASS,) int64, freq (nt, N_TOKENS) int64): used classes grouped into runs
    of neighbouring classes, adjacent runs merged while that makes the plane smaller (each
    table costs its bytes), one normalised table a run; unused classes map to a neighbour."""
    used = np.zeros(N_CLASS, np.int64)
    nu = 0
    for c in range(N_CLASS):
        if hist[c].sum() > 0:
            used[nu] = c
            nu += 1
    if nu == 0:  # an empty plane cannot happen; keep the syntax valid anyway
        used[0] = 0
        nu = 1
    # groups: start index (into used) of each run; counts per group
    gcnt = np.zeros((nu, N_TOKENS), np.int64)
    for i in range(nu):
        gcnt[i] = hist[used[i]]
    gstart = np.arange(nu)
    ng = nu
    gcost = np.empty(nu)
    m = np.empty(N_TOKENS, np.int64)  # scratch of _cost and _pair_gain
    f = np.empty(N_TOKENS, np.int64)
    for i in range(ng):
        gcost[i] = _cost(gcnt[i], f) if gcnt[i].sum() > 0 else 8.0
    # the gain of merging groups i and i + 1, kept up to date: a merge changes only the
    # gains beside it (the same sums as recomputing them all, so the same merges)
    pgain = np.zeros(max(nu, 1))
    for i in range(ng - 1):
        pgain[i] = _pair_gain(gcnt, gcost, i, m, f)
    while ng > 1:
        best = 0.0
        bi = -1
        for i in range(ng - 1):
            if pgain[i] > best:
                best = pgain[i]
                bi = i
        if bi < 0:
            break
        gcnt[bi] += gcnt[bi + 1]
        gcost[bi] = gcost[bi] + gcost[bi + 1] - best
        for i in range(bi + 1, ng - 1):
            gcnt[i] = gcnt[i + 1]
            gcost[i] = gcost[i + 1]
            gstart[i] = gstart[i + 1]
            pgain[i] = pgain[i + 1]
        ng -= 1
        if bi > 0:
            pgain[bi - 1] = _pair_gain(gcnt, gcost, bi - 1, m, f)
        if bi < ng - 1:
            pgain[bi] = _pair_gain(gcnt, gcost, bi, m, f)
    tabmap = np.zeros(N_CLASS, np.int64)
    g = 0
    for c in range(N_CLASS):
        while g + 1 < ng and used[gstart[g + 1]] <= c:
            g += 1
        tabmap[c] = g
    freq = np.zeros((ng, N_TOKENS), np.int64)
    for i in range(ng):
        if gcnt[i].sum() > 0:
            freq[i] = _normalise(gcnt[i])
        else:
            freq[i, 0] = M_TOT
    return tabmap, freq


@njit(cache=True, nogil=True)
def write_tables(tabmap, freq, out):
    """Serialise ``nt`` (u8), the class map (N_CLASS u8) and each table (u8 ``n``, then ``n``
    varint frequencies) into ``out``; returns the bytes written.  ``nt`` = 0 (model id 16's
    tables all built in, SPEC 5.10) is the one byte alone."""
    nt = freq.shape[0]
    out[0] = nt
    if nt == 0:  # model id 16 (SPEC 5.10): every class its built-in table, no class map
        return 1
    for c in range(N_CLASS):
        out[1 + c] = tabmap[c]
    pos = 1 + N_CLASS
    for t in range(nt):
        last = 0
        for s in range(N_TOKENS):
            if freq[t, s] > 0:
                last = s + 1
        out[pos] = last
        pos += 1
        for s in range(last):
            v = freq[t, s]
            while v >= 128:
                out[pos] = (v & 127) | 128
                v >>= 7
                pos += 1
            out[pos] = v
            pos += 1
    return pos


def _bits(hist, f):
    """Bits of each class's tokens ``hist`` (N_CLASS, N_TOKENS) under the tables ``f`` (one
    a class, same shape); inf where a counted token has frequency 0."""
    with np.errstate(divide="ignore"):
        cost = PREC - np.log2(f.astype(np.float64))
    cost = np.where(hist > 0, cost, 0.0)
    return np.where(hist > 0, hist * cost, 0.0).sum(axis=1)


def assign_builtin(hist, tabmap, freq, builtin):
    """Model id 16 (SPEC 5.10): the fitted tables (``tabmap``, ``freq`` of
    :func:`fit_tables`) with classes moved to their built-in tables (``builtin``, (N_CLASS,
    N_TOKENS)) where that codes them in fewer bits, and each table dropped whose classes
    all cost less under theirs than they cost under it plus its bytes; tables renumbered.
    A class whose tokens include one its built-in table cannot code never moves.  Returns
    (tabmap with ``BUILTIN`` entries, freq of the tables kept)."""
    own = _bits(hist, freq[tabmap])
    bi = _bits(hist, builtin)
    counts = hist.sum(axis=1)
    out = np.full(N_CLASS, BUILTIN, np.int64)
    kept = []
    for t in range(freq.shape[0]):
        cls = np.flatnonzero((tabmap == t) & (counts > 0))
        keep = 8.0 * table_bytes(freq[t]) + np.minimum(own[cls], bi[cls]).sum()
        if len(cls) and keep < bi[cls].sum():
            out[cls] = np.where(own[cls] <= bi[cls], len(kept), BUILTIN)
            kept.append(freq[t])
    if kept:
        out[counts == 0] = 0  # unused classes: a kept table (they code nothing)
    return out, (np.array(kept, np.int64) if kept else np.zeros((0, N_TOKENS), np.int64))


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


@njit(cache=True, nogil=True)
def section_cost(hist, builtin):
    """About the bits of a kind-5/6 plane's tokens counted in ``hist`` (N_CLASS, N_TOKENS)
    and of their table section (model id 16, SPEC 5.10): :func:`fit_tables`' tables, each
    replaced by its classes' built-in tables where those code them in fewer bits (what
    :func:`assign_builtin` decides per class, here per table).  Model id 18 (SPEC 5.11)
    compares band splits with it."""
    tabmap, freq = fit_tables(hist)
    total = 8.0
    own_any = False
    f = np.empty(N_TOKENS, np.int64)  # scratch of _cost
    for g in range(freq.shape[0]):
        cnt = np.zeros(N_TOKENS, np.int64)
        bi = 0.0
        ok = True
        for c in range(N_CLASS):
            if tabmap[c] != g:
                continue
            for s in range(N_TOKENS):
                k = hist[c, s]
                if k > 0:
                    cnt[s] += k
                    if builtin[c, s] > 0:
                        bi += k * (PREC - _LOG2[builtin[c, s]])
                    else:
                        ok = False
        if cnt.sum() == 0:
            continue
        own = _cost(cnt, f)
        if ok and bi <= own:
            total += bi
        else:
            total += own
            own_any = True
    if own_any:
        total += 8.0 * N_CLASS
    return total


@njit(cache=True, nogil=True)
def split_cost(per, nb, builtin):
    """:func:`section_cost` summed over the ``nb`` bands of equal runs of the fine bins'
    counts ``per`` (nf, N_CLASS, N_TOKENS) that model id 18's encoder tries (band ``b``
    starts at bin ``(b * nf) // nb``; runs that would be empty are skipped), plus the band
    count and about 3 bytes a threshold.  Returns (bits, bands made)."""
    nf = per.shape[0]
    total = 8.0
    made = 0
    start = 0
    for b in range(nb):
        end = ((b + 1) * nf) // nb
        if end <= start:
            continue
        h = np.zeros((N_CLASS, N_TOKENS), np.int64)
        for f in range(start, end):
            h += per[f]
        total += section_cost(h, builtin)
        made += 1
        start = end
    return total + 24.0 * (made - 1), made
