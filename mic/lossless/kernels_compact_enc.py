"""Encoder-only Numba kernel that writes model id 22's compact table section (SPEC.md 5.13):
the class map and the plane's own tables of a model-16 section (SPEC 5.10) packed in bits,
each table at the precision that codes its tokens and itself in the fewest bits
(:func:`write_compact`).  The decoder's parser is
:func:`mic.lossless.kernels_tables.read_compact`; the decoder never imports this module.

A frequency is written as its bit length (a change from the symbol before: ``0`` the same,
``10`` one less, ``110`` one more, ``111`` and four bits) and its ``min(P, e - 1)`` bits
below the leading one; the first symbol of the largest bit length takes what the others
leave of ``2**PREC``.  At ``P = PREC`` every table is exact; a lower ``P`` rounds each
frequency to the middle of its bucket, which costs a few bits of tokens and saves more of
table on small planes (SPEC 5.13 gives the figures).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .kernels_fast import M_TOT, N_CLASS, N_TOKENS, PREC, _bitlen
from .kernels_fit import _LOG2
from .kernels_tables import (
    BUILTIN,
    COMPACT_N_BITS,
    COMPACT_P_BITS,
    COMPACT_P_MAX,
    compact_value,
)


@njit(cache=True, nogil=True)
def _put(out, bp, v, n):
    """Write the ``n`` low bits of ``v`` MSB first at bit ``bp`` of ``out`` (zeroed);
    returns the bit position after them."""
    for i in range(n - 1, -1, -1):
        if (v >> i) & 1:
            out[bp >> 3] |= np.uint8(1 << (7 - (bp & 7)))
        bp += 1
    return bp


@njit(cache=True, nogil=True)
def _ecode(d):
    """(code, its bits) of a bit length's change ``d`` from the symbol before (SPEC 5.13):
    ``0`` the same, ``10`` one less, ``110`` one more, else ``111`` (the bit length itself
    follows in 4 more bits, counted here)."""
    if d == 0:
        return 0, 1
    if d == -1:
        return 2, 2
    if d == 1:
        return 6, 3
    return 7, 7


@njit(cache=True, nogil=True)
def _quantise(f, es, n, o, p, q):
    """Fill ``q`` with table ``f``'s frequencies at precision ``p`` (the first ``n`` symbols;
    symbol ``o`` takes the rest); returns that rest (< 1: not a valid table)."""
    rest = np.int64(M_TOT)
    for s in range(n):
        if s == o:
            continue
        e = es[s]
        k = min(p, max(e - 1, 0))
        v = f[s]
        if e >= 2:
            sh = e - 1 - k
            v = compact_value(e, k, (v >> sh) - (np.int64(1) << k))
        q[s] = v
        rest -= v
    q[o] = rest
    return rest


@njit(cache=True, nogil=True)
def write_compact(tabmap, freq, cnt, out, log2):
    """Write the compact section (SPEC 5.13) of ``tabmap`` (N_CLASS entries, a table index or
    ``BUILTIN``) and the own tables ``freq`` (nt, N_TOKENS; each sums to 2**PREC), whose
    tokens are counted in ``cnt`` (nt, N_TOKENS), into ``out`` (uint8, zeroed, long enough).
    Each table's precision is the one (the lowest of equals) whose table bits plus its
    tokens' bits are fewest.  Returns (bytes written, the tables as quantised: what the
    token coder must use)."""
    nt = freq.shape[0]
    out[0] = nt
    qfreq = freq.copy()
    if nt == 0:
        return 1, qfreq
    bp = 8
    w = _bitlen(nt)
    prev = np.int64(-1)
    for c in range(N_CLASS):
        v = np.int64(nt) if tabmap[c] == BUILTIN else np.int64(tabmap[c])
        if c > 0:
            bp = _put(out, bp, np.int64(v != prev), 1)
        if c == 0 or v != prev:
            bp = _put(out, bp, v, w)
        prev = v
    es = np.zeros(N_TOKENS, np.int64)
    q = np.zeros(N_TOKENS, np.int64)
    for t in range(nt):
        f = freq[t]
        n = 0
        for s in range(N_TOKENS):
            if f[s] > 0:
                n = s + 1
        o = 0
        base = COMPACT_N_BITS + COMPACT_P_BITS
        e0 = np.int64(0)
        for s in range(n):
            es[s] = _bitlen(f[s])
            if es[s] > es[o]:
                o = s
            base += _ecode(es[s] - e0)[1]
            e0 = es[s]
        best = -1.0
        bestp = COMPACT_P_MAX
        for p in range(COMPACT_P_MAX + 1):
            if _quantise(f, es, n, o, p, q) < 1:
                continue
            bits = np.float64(base)
            for s in range(n):
                if s != o:
                    bits += min(p, max(es[s] - 1, 0))
                if cnt[t, s] > 0:
                    bits += cnt[t, s] * (PREC - log2[q[s]])
            if best < 0 or bits < best:
                best = bits
                bestp = p
        _quantise(f, es, n, o, bestp, q)
        bp = _put(out, bp, np.int64(n), COMPACT_N_BITS)
        bp = _put(out, bp, np.int64(bestp), COMPACT_P_BITS)
        e0 = 0
        for s in range(n):
            code, nb = _ecode(es[s] - e0)
            if nb == 7:  # 111, then the bit length itself
                bp = _put(out, _put(out, bp, code, 3), es[s], 4)
            else:
                bp = _put(out, bp, code, nb)
            e0 = es[s]
        for s in range(n):
            if s == o:
                continue
            k = min(bestp, max(es[s] - 1, 0))
            if k > 0:
                sh = es[s] - 1 - k
                bp = _put(out, bp, (q[s] >> sh) - (np.int64(1) << k), k)
        for s in range(N_TOKENS):
            qfreq[t, s] = q[s] if s < n else 0
    return (bp + 7) >> 3, qfreq


def compact_section(tabmap: np.ndarray, freq: np.ndarray, hist: np.ndarray
                    ) -> tuple[bytes, np.ndarray]:
    """(section bytes, quantised own tables) of a model-16 section's ``tabmap`` and own
    ``freq`` (from :func:`mic.lossless.kernels_fit.assign_builtin`) over the class counts
    ``hist`` (N_CLASS, N_TOKENS), written as model id 22's compact section (SPEC 5.13)."""
    nt = freq.shape[0]
    cnt = np.zeros((max(nt, 1), N_TOKENS), np.int64)
    for c in range(N_CLASS):
        if tabmap[c] != BUILTIN and nt:
            cnt[tabmap[c]] += hist[c]
    out = np.zeros(2 + N_CLASS + nt * (2 + 4 * N_TOKENS), np.uint8)
    nb, qfreq = write_compact(np.asarray(tabmap, np.int64), np.asarray(freq, np.int64),
                              cnt, out, _LOG2)
    return out[:nb].tobytes(), qfreq
