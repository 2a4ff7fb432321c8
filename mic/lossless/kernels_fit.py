"""Encoder-only Numba kernels that fit a fast lossless plane's frequency tables (SPEC.md
5.6, 5.10, 5.11): each table normalised to 2^PREC, classes merged into tables while a
table costs more than it saves (:func:`fit_tables`), classes moved to their built-in tables
where those code them in fewer bits (:func:`assign_builtin`), the table section written
(:func:`write_tables`), and the estimates model id 18's and 20's encoders weigh bands and
low classes with (:func:`section_cost`, :func:`split_cost`).  The decoder never imports
this module.

Every choice here decides bytes of the stream, so a faster form must make the same
choices: ``tests/test_lossless_table_cost.py`` holds the normalisation, the cost and the
built-in assignment to their plain definitions.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .kernels_fast import M_TOT, N_CLASS, N_TOKENS, PREC
from .kernels_tables import BUILTIN


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
    idx = np.empty(N_TOKENS, np.int64)
    nz, n = _used(cnt, f, idx, N_TOKENS)
    _normalise_used(cnt, f, idx, nz, n, N_TOKENS)
    return f


@njit(cache=True, nogil=True)
def _used(cnt, f, idx, hi):
    """Zeros ``f`` below ``hi``, lists the symbols below ``hi`` that ``cnt`` uses into
    ``idx`` (increasing) and returns (how many, their total count)."""
    nz = 0
    n = np.int64(0)
    for s in range(hi):
        c = cnt[s]
        f[s] = 0
        idx[nz] = s
        nz += c > 0
        n += c
    return nz, n


@njit(cache=True, nogil=True)
def _normalise_used(cnt, f, idx, nz, n, hi):
    """:func:`_normalise` of ``cnt`` into ``f`` (N_TOKENS int64, zero below ``hi``), whose
    ``nz`` used symbols (of total count ``n``, none from ``hi`` on) :func:`_used` listed in
    ``idx``.  Each used symbol's frequency is ``max(1, (cnt M_TOT + n // 2) // n)``, the
    floor taken of the division in float64: exact, since the numerator is below 2^53 and a
    quotient that is not an integer lies at least 1 / n from one, more than the division's
    rounding error (at most 2^-42 for a quotient up to M_TOT) while ``n`` < 2^40.  Then the
    largest frequency (the first of equals) takes what the sum lacks; where it is over, the
    frequencies above 1 give it back, largest first: the largest alone where it is unique
    and can (the first that any order of the sort puts first)."""
    dn = np.float64(n)
    exact = n >= np.int64(1) << 40  # (never for a plane's counts) the integer division
    half = n >> 1
    tot = np.int64(0)
    top = np.int64(0)  # the largest frequency, its first symbol, and whether it is tied
    b = 0
    tied = False
    for k in range(nz):
        s = idx[k]
        c = cnt[s]
        if exact:
            q = (c * M_TOT + half) // n
        else:
            q = np.int64(np.floor(np.float64(c * M_TOT + half) / dn))
        v = max(np.int64(1), q)
        f[s] = v
        tot += v
        tied = (v == top) or (tied and v < top)
        b = s if v > top else b
        top = max(top, v)
    diff = M_TOT - tot
    if diff > 0 or (diff < 0 and not tied and top - 1 >= -diff):
        f[b] += diff
        diff = 0
    if diff < 0:
        f[hi:] = 0
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
def _cost(cnt, f, idx, hi):
    """Bits of the tokens counted in ``cnt`` (none from symbol ``hi`` on) under their
    normalised table plus the table (``f``, ``idx``: N_TOKENS int64 of scratch).  The bits
    are summed over the used symbols in order; the table's bytes as :func:`table_bytes`
    counts them (a byte a frequency up to the last used one, and one more for each from
    128 on)."""
    nz, n = _used(cnt, f, idx, hi)
    if nz == 0:  # an empty group: the 8 bits the fitting charges it
        return 8.0
    _normalise_used(cnt, f, idx, nz, n, hi)
    bits = 0.0
    tb = 2 + idx[nz - 1]
    for k in range(nz):
        s = idx[k]
        v = f[s]
        tb += (v >= 128) + (v >= 1 << 14) + (v >= 1 << 21)  # (f <= M_TOT < 2^28)
        bits += cnt[s] * (PREC - _LOG2[v])
    return bits + 8.0 * tb


@njit(cache=True, nogil=True)
def _pair_gain(gcnt, gcost, i, m, f, idx, hi):
    """Bits saved by merging groups ``i`` and ``i + 1`` into one table (``m``, ``f``,
    ``idx``: N_TOKENS int64 of scratch; no symbol from ``hi`` on used)."""
    for s in range(hi):
        m[s] = gcnt[i, s] + gcnt[i + 1, s]
    return gcost[i] + gcost[i + 1] - _cost(m, f, idx, hi)


@njit(cache=True, nogil=True)
def fit_tables(hist):
    """(tabmap (N_CLASS,) int64, freq (nt, N_TOKENS) int64): used classes grouped into runs
    of neighbouring classes, adjacent runs merged while that makes the plane smaller (each
    table costs its bytes), one normalised table a run; unused classes map to a neighbour."""
    used = np.zeros(N_CLASS, np.int64)
    nu = 0
    hi = 1  # past the last symbol any class uses (the costs' loops stop there)
    for c in range(N_CLASS):
        any_c = False
        for s in range(N_TOKENS):
            if hist[c, s] > 0:
                any_c = True
                hi = max(hi, s + 1)
        if any_c:
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
    idx = np.empty(N_TOKENS, np.int64)
    for i in range(ng):
        gcost[i] = _cost(gcnt[i], f, idx, hi)
    # the gain of merging groups i and i + 1, kept up to date: a merge changes only the
    # gains beside it (the same sums as recomputing them all, so the same merges)
    pgain = np.zeros(max(nu, 1))
    for i in range(ng - 1):
        pgain[i] = _pair_gain(gcnt, gcost, i, m, f, idx, hi)
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
            pgain[bi - 1] = _pair_gain(gcnt, gcost, bi - 1, m, f, idx, hi)
        if bi < ng - 1:
            pgain[bi] = _pair_gain(gcnt, gcost, bi, m, f, idx, hi)
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


#: log2(f) of the frequencies 0..M_TOT as numpy's vectorised log2 gives them (-inf at 0),
#: which :func:`assign_builtin` has always weighed with (they differ from libm's in the last
#: place for some f)
with np.errstate(divide="ignore"):
    _NPLOG2 = np.log2(np.arange(M_TOT + 1, dtype=np.float64))


@njit(cache=True, nogil=True)
def assign_builtin(hist, tabmap, freq, builtin):
    """Model id 16 (SPEC 5.10): the fitted tables (``tabmap``, ``freq`` of
    :func:`fit_tables`) with classes moved to their built-in tables (``builtin``, (N_CLASS,
    N_TOKENS)) where that codes them in fewer bits, and each table dropped whose classes
    all cost less under theirs than they cost under it plus its bytes; tables renumbered.
    A class whose tokens include one its built-in table cannot code never moves (its bits
    under it are infinite).  Returns (tabmap with ``BUILTIN`` entries, freq of the tables
    kept).  A class's bits are summed over its tokens in order, a table's over its classes
    in order."""
    own = np.zeros(N_CLASS)
    bi = np.zeros(N_CLASS)
    counts = np.zeros(N_CLASS, np.int64)
    for c in range(N_CLASS):
        t = tabmap[c]
        for s in range(N_TOKENS):
            k = hist[c, s]
            if k > 0:
                own[c] += k * (PREC - _NPLOG2[freq[t, s]])
                bi[c] += k * (PREC - _NPLOG2[builtin[c, s]])
                counts[c] += k
    out = np.full(N_CLASS, BUILTIN, np.int64)
    kept = np.zeros(freq.shape, np.int64)
    nk = 0
    for t in range(freq.shape[0]):
        least = 0.0  # the classes' bits under the better of the two tables
        under_bi = 0.0  # ... all under their built-in tables
        used = False
        for c in range(N_CLASS):
            if tabmap[c] == t and counts[c] > 0:
                least += min(own[c], bi[c])
                under_bi += bi[c]
                used = True
        if used and 8.0 * table_bytes(freq[t]) + least < under_bi:
            for c in range(N_CLASS):
                if tabmap[c] == t and counts[c] > 0:
                    out[c] = nk if own[c] <= bi[c] else BUILTIN
            kept[nk] = freq[t]
            nk += 1
    if nk:
        for c in range(N_CLASS):
            if counts[c] == 0:
                out[c] = 0  # unused classes: a kept table (they code nothing)
    return out, kept[:nk].copy()


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
    idx = np.empty(N_TOKENS, np.int64)
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
        own = _cost(cnt, f, idx, N_TOKENS)
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
