"""Numba kernels of the restoration fit (:mod:`mic.lossy.enc_restore`), encoder only: the
least-squares solve of each class's coefficients with their cost, and the greedy merge of a
directional channel's classes into shared filters.  They run without the GIL, so the fits
of a frame's tiles run side by side on threads (``mic.encode(..., threads=N)``); in NumPy
the many small solves held the GIL for about half of a two-thread encode's wall time.

>>> import numpy as np
>>> g = np.array([[[4.0, 1.0], [1.0, 3.0]]])
>>> b = np.array([[1.0, 2.0]])
>>> qc, cost, se = solve_sets(g, b, 1.0)
>>> qc.tolist(), int(se[0])  # round(128 * [1/11, 7/11]); two signed Exp-Golomb codes
([[12, 81]], 24)
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .restore import COEF_MAX, SHIFT


@nb.njit(cache=True, nogil=True, inline="always")
def _bitlen(v: int) -> int:  # pragma: no cover - numba
    n = 0
    while v > 0:
        v >>= 1
        n += 1
    return n


@nb.njit(cache=True, nogil=True, inline="always")
def ue_bits(v: int) -> int:  # pragma: no cover - numba
    """Bits of ``v >= 0`` as an order-0 Exp-Golomb code."""
    return 2 * _bitlen(v + 1) - 1


@nb.njit(cache=True, nogil=True)
def _lu_solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # pragma: no cover - numba
    """``a x = b`` by Gaussian elimination with partial pivoting (``a``, ``b`` are
    overwritten)."""
    t = b.size
    for k in range(t):
        p, m = k, abs(a[k, k])
        for i in range(k + 1, t):
            if abs(a[i, k]) > m:
                p, m = i, abs(a[i, k])
        if p != k:
            for j in range(t):
                a[k, j], a[p, j] = a[p, j], a[k, j]
            b[k], b[p] = b[p], b[k]
        piv = a[k, k]
        for i in range(k + 1, t):
            f = a[i, k] / piv
            if f != 0.0:
                for j in range(k + 1, t):
                    a[i, j] -= f * a[k, j]
                b[i] -= f * b[k]
    x = np.empty(t)
    for i in range(t - 1, -1, -1):
        s = b[i]
        for j in range(i + 1, t):
            s -= a[i, j] * x[j]
        x[i] = s / a[i, i]
    return x


@nb.njit(cache=True, nogil=True)
def solve_set(g: np.ndarray, b: np.ndarray, lam: float, qc: np.ndarray
              ) -> tuple[float, int]:  # pragma: no cover - numba
    """One class's normal equations ``g`` (T, T), ``b`` (T,), regularised by 1e-9 of
    their trace: the rounded coefficients into ``qc`` (units of 2^-SHIFT, within
    +-COEF_MAX), and (coefficient bits - ``lam`` * squared error they remove, their bits);
    the cost is infinite where every coefficient rounds to 0."""
    t = b.size
    tr = 0.0
    for i in range(t):
        tr += g[i, i]
    reg = 1e-9 * tr + 1e-12
    a = g.copy()
    for i in range(t):
        a[i, i] += reg
    sol = _lu_solve(a, b.copy())
    se, nonzero = 0, False
    c = np.empty(t)
    for i in range(t):
        q = min(max(np.rint(sol[i] * (1 << SHIFT)), -COEF_MAX), COEF_MAX)
        v = np.int64(q)
        qc[i] = v
        nonzero |= v != 0
        se += ue_bits(2 * v - 1 if v > 0 else -2 * v)
        c[i] = v / float(1 << SHIFT)
    lin, quad = 0.0, 0.0
    for i in range(t):
        lin += c[i] * b[i]
        row = 0.0
        for j in range(t):
            row += g[i, j] * c[j]
        quad += c[i] * row
    if not nonzero:
        return np.inf, se
    return se - lam * (2.0 * lin - quad), se


@nb.njit(cache=True, nogil=True)
def solve_sets(gg: np.ndarray, bb: np.ndarray, lam: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - numba
    """:func:`solve_set` of each of the stacked equations (n, T, T), (n, T): the rounded
    coefficients (n, T), the costs (n,) and the coefficient bits (n,)."""
    n, t = bb.shape
    qc = np.zeros((n, t), np.int64)
    cost = np.empty(n)
    se = np.zeros(n, np.int64)
    for k in range(n):
        cost[k], se[k] = solve_set(gg[k], bb[k], lam, qc[k])
    return qc, cost, se


@nb.njit(cache=True, nogil=True)
def merge_sets(gg: np.ndarray, bb: np.ndarray, lam: float, head: int
               ) -> tuple[bool, float, np.ndarray, np.ndarray]:  # pragma: no cover - numba
    """The greedy merge of :func:`mic.lossy.enc_restore._merged_filter`: ``n`` classes'
    equations (n, T, T), (n, T), ``head`` the channel's record bits before its shared
    filters.  Sets start one per class; each step merges the pair whose merged filter
    costs least (pairs solved once, again only when one of them merges) until one set is
    left; every point is costed as its record (distinct filters once, each class's index)
    plus the coefficient costs.  Returns (whether any point pays, its cost, each class's
    set at that point or -1 where the class is off, the sets' coefficients then)."""
    n, t = bb.shape
    gg, bb = gg.copy(), bb.copy()
    qc, cost, se = solve_sets(gg, bb, lam)
    pq = np.zeros((n, n, t), np.int64)  # the merged pair (i < j): coefficients, cost, bits
    pc = np.zeros((n, n))
    ps = np.zeros((n, n), np.int64)
    tg = np.empty((t, t))
    tb = np.empty(t)

    def pair(i: int, j: int) -> None:
        for u in range(t):
            tb[u] = bb[i, u] + bb[j, u]
            for v in range(t):
                tg[u, v] = gg[i, u, v] + gg[j, u, v]
        pc[i, j], ps[i, j] = solve_set(tg, tb, lam, pq[i, j])

    for i in range(n):
        for j in range(i + 1, n):
            pair(i, j)
    owner = np.arange(n)  # each class's set (sets are 0..m-1, in order of their first class)
    best_owner = np.full(n, -1)
    best_q = np.zeros((n, t), np.int64)
    best_j, found, m = 0.0, False, n
    while True:
        non, rest, nbank, bank_bits = 0, 0.0, 0, 0
        for k in range(m):
            if cost[k] >= 0:
                continue
            non += 1
            rest += cost[k] - se[k]
            dup = False  # an equal filter earlier is sent once
            for k2 in range(k):
                if cost[k2] < 0:
                    same = True
                    for u in range(t):
                        if qc[k2, u] != qc[k, u]:
                            same = False
                            break
                    if same:
                        dup = True
                        break
            if not dup:
                nbank += 1
                bank_bits += se[k]
        if non:
            j = head + ue_bits(nbank - 1) + n * _bitlen(nbank) + bank_bits + rest
            if j < best_j:
                best_j, found = j, True
                for cl in range(n):
                    best_owner[cl] = owner[cl] if cost[owner[cl]] < 0 else -1
                best_q[:m] = qc[:m]
        if m == 1:
            break
        a, c, low = 0, 1, np.inf  # the first least delta in row-major pair order
        for i in range(m):
            for j2 in range(i + 1, m):
                d = min(pc[i, j2], 0.0) - min(cost[i], 0.0) - min(cost[j2], 0.0)
                if d < low:
                    a, c, low = i, j2, d
        gg[a] += gg[c]
        bb[a] += bb[c]
        qc[a], cost[a], se[a] = pq[a, c], pc[a, c], ps[a, c]
        for cl in range(n):
            if owner[cl] == c:
                owner[cl] = a
            elif owner[cl] > c:
                owner[cl] -= 1
        for k in range(c, m - 1):  # set c leaves; the later sets move down one
            gg[k], bb[k], qc[k] = gg[k + 1], bb[k + 1], qc[k + 1]
            cost[k], se[k] = cost[k + 1], se[k + 1]
        for i in range(m):  # ... and so do their pairs (each moves to a lower or equal place)
            if i == c:
                continue
            for j2 in range(m):
                if j2 != c:
                    ni, nj = i - (i > c), j2 - (j2 > c)
                    pq[ni, nj], pc[ni, nj], ps[ni, nj] = pq[i, j2], pc[i, j2], ps[i, j2]
        m -= 1
        for x in range(m):  # the pairs with the merged set: solved again
            if x != a:
                pair(min(x, a), max(x, a))
    return found, best_j, best_owner, best_q


__all__ = ["merge_sets", "solve_set", "solve_sets", "ue_bits"]
