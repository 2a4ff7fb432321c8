"""The kernels.  Each ``name`` (numba) has a plain NumPy ``name_np`` twin computing the
same thing; tests check they agree.

Symbol layout for a table with half-width ``L``: value ``v`` in ``[-L, L]`` is symbol
``v + L``; anything else is the escape symbol ``2L + 1`` and its value goes to the
escape list (coded separately, see SPEC.md section 6).
"""

from __future__ import annotations

import numba as nb
import numpy as np

#: symbols are clamped to this magnitude before coding (int32 safe, escape values < 2**31)
Q_CLAMP = (1 << 30) - 1


@nb.njit(cache=True, nogil=True)
def _quantize(y, mu, out):  # pragma: no cover - numba
    for i in range(y.size):
        v = np.rint(np.float64(y[i]) - mu[i])
        if v > Q_CLAMP:
            v = Q_CLAMP
        elif v < -Q_CLAMP:
            v = -Q_CLAMP
        elif not (v == v):  # NaN
            v = 0.0
        out[i] = np.int32(v)


def quantize_residual(y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """``rint(y - mu)`` as int32 (half to even), clamped to ±Q_CLAMP, NaN -> 0."""
    y1 = np.ascontiguousarray(y).reshape(-1)
    m1 = np.ascontiguousarray(mu, dtype=np.float64).reshape(-1)
    out = np.empty(y1.size, np.int32)
    _quantize(y1, m1, out)
    return out.reshape(np.shape(y))


def quantize_residual_np(y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    v = np.rint(np.asarray(y, np.float64) - np.asarray(mu, np.float64))
    v = np.nan_to_num(v, nan=0.0, posinf=Q_CLAMP, neginf=-Q_CLAMP)
    return np.clip(v, -Q_CLAMP, Q_CLAMP).astype(np.int32)


@nb.njit(cache=True, nogil=True)
def count_le(thr, a):  # pragma: no cover - numba
    """Number of entries of the sorted ``thr`` that are <= ``a`` (binary search)."""
    lo, hi = 0, thr.size
    while lo < hi:
        mid = (lo + hi) >> 1
        if thr[mid] <= a:
            lo = mid + 1
        else:
            hi = mid
    return lo


@nb.njit(cache=True, nogil=True, inline="always")
def count_le_from(thr, a, t0, rstep):  # pragma: no cover - numba
    """:func:`count_le` started at the guess ``(a - t0) * rstep + 1`` and walked to the
    exact count: the same result for any sorted ``thr``, in one or two comparisons where
    the thresholds are (nearly) evenly spaced from ``t0`` by ``1 / rstep``, as the scale
    tables' are (a binary search over 95 of them mispredicts most of its 7 branches)."""
    n = thr.size
    x = (a - t0) * rstep
    g = 0
    if x >= n:
        g = n
    elif x >= 0.0:
        g = int(x) + 1
    while g < n and thr[g] <= a:
        g += 1
    while g > 0 and thr[g - 1] > a:
        g -= 1
    return g


@nb.njit(cache=True, nogil=True)
def _scale_index(acc, thr, out):  # pragma: no cover - numba
    n = thr.size
    t0 = float(thr[0]) if n else 0.0
    rstep = (n - 1) / float(thr[n - 1] - thr[0]) if n > 1 and thr[n - 1] > thr[0] else 0.0
    for i in range(acc.size):
        out[i] = count_le_from(thr, acc[i], t0, rstep)


def scale_index(acc: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Number of (sorted int64) ``thresholds`` <= each integer ``acc`` -> int32 index.

    ``acc`` holds integer-valued float64 (exact) or int64 values.
    """
    a = np.ascontiguousarray(acc).reshape(-1).astype(np.int64)
    out = np.empty(a.size, np.int32)
    _scale_index(a, np.ascontiguousarray(thresholds, np.int64), out)
    return out.reshape(np.shape(acc))


def scale_index_np(acc: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    a = np.asarray(acc).astype(np.int64)
    return np.searchsorted(np.asarray(thresholds, np.int64), a, side="right").astype(np.int32)


@nb.njit(cache=True, nogil=True)
def _split(q, tab, half, sym):  # pragma: no cover - numba
    n_esc = 0
    for i in range(q.size):
        L = half[tab[i]]
        v = q[i]
        if -L <= v <= L:
            sym[i] = v + L
        else:
            sym[i] = 2 * L + 1
            n_esc += 1
    esc = np.empty(n_esc, np.int32)
    j = 0
    for i in range(q.size):
        L = half[tab[i]]
        if sym[i] == 2 * L + 1:
            esc[j] = q[i]
            j += 1
    return esc


def split_escapes(q: np.ndarray, tab: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map values to symbols of their table (``tab`` per element, ``half`` per table)."""
    q1 = np.ascontiguousarray(q, np.int32).reshape(-1)
    t1 = np.ascontiguousarray(tab, np.int32).reshape(-1)
    sym = np.empty(q1.size, np.int32)
    esc = _split(q1, t1, np.ascontiguousarray(half, np.int32), sym)
    return sym.reshape(np.shape(q)), esc


def split_escapes_np(q: np.ndarray, tab: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q = np.asarray(q, np.int64)
    L = np.asarray(half, np.int64)[np.asarray(tab)]
    inside = np.abs(q) <= L
    sym = np.where(inside, q + L, 2 * L + 1).astype(np.int32)
    return sym, q[~inside].reshape(-1).astype(np.int32)


@nb.njit(cache=True, nogil=True)
def _merge(sym, tab, half, esc, out):  # pragma: no cover - numba
    j = 0
    for i in range(sym.size):
        L = half[tab[i]]
        s = sym[i]
        if s == 2 * L + 1:
            if j >= esc.size:
                return -1
            out[i] = esc[j]
            j += 1
        else:
            out[i] = s - L
    return j


def merge_escapes(sym: np.ndarray, tab: np.ndarray, half: np.ndarray,
                  esc: np.ndarray) -> np.ndarray:
    """Inverse of :func:`split_escapes`; ``ValueError`` if escapes and list disagree."""
    s1 = np.ascontiguousarray(sym, np.int32).reshape(-1)
    out = np.empty(s1.size, np.int32)
    used = _merge(s1, np.ascontiguousarray(tab, np.int32).reshape(-1),
                  np.ascontiguousarray(half, np.int32), np.ascontiguousarray(esc, np.int32), out)
    if used != len(esc):
        raise ValueError("escape count does not match the escape list")
    return out.reshape(np.shape(sym))


def merge_escapes_np(sym: np.ndarray, tab: np.ndarray, half: np.ndarray,
                     esc: np.ndarray) -> np.ndarray:
    sym = np.asarray(sym, np.int64)
    L = np.asarray(half, np.int64)[np.asarray(tab)]
    is_esc = sym == 2 * L + 1
    if int(is_esc.sum()) != len(esc):
        raise ValueError("escape count does not match the escape list")
    out = sym - L
    out[is_esc] = esc
    return out.astype(np.int32)


@nb.njit(cache=True, nogil=True)
def _rdoq(y, mu, tab, half, offsets, flat, lam, out):  # pragma: no cover - numba
    for i in range(y.size):
        v = np.float64(y[i]) - mu[i]
        q0 = np.rint(v)
        if q0 > Q_CLAMP:
            q0 = Q_CLAMP
        elif q0 < -Q_CLAMP:
            q0 = -Q_CLAMP
        elif not (q0 == q0):
            q0 = 0.0
        if q0 == 0.0:
            out[i] = 0
            continue
        t = tab[i]
        L = half[t]
        base = offsets[t]
        best = q0
        best_cost = 0.0
        for step in range(2):
            q = q0 if step == 0 else q0 - (1.0 if q0 > 0 else -1.0)
            a = int(q)
            if -L <= a <= L:
                bits = 20.0 - np.log2(np.float64(flat[base + a + L]))
            else:
                bits = 52.0 - np.log2(np.float64(flat[base + 2 * L + 1]))
            cost = lam * (v - q) * (v - q) + bits
            if step == 0 or cost < best_cost:
                best, best_cost = q, cost
        out[i] = np.int32(best)


def quantize_rdo(y: np.ndarray, mu: np.ndarray, tab: np.ndarray, tables, lam: float) -> np.ndarray:  # noqa: ANN001
    """Rate-distortion optimised rounding (encoder only): ``round(y - mu)`` or one step
    towards zero, whichever costs less ``lam * error^2 + bits`` under the element's frozen
    table (escapes: 32 bits more).  ``tables`` is a :class:`~mic.entropy.TableSet`;
    ``lam`` the Lagrangian in squared units of ``y``.  Any result decodes: the decoder
    does not know which rounding was used."""
    y1 = np.ascontiguousarray(y).reshape(-1)
    m1 = np.ascontiguousarray(mu, dtype=np.float64).reshape(-1)
    out = np.empty(y1.size, np.int32)
    _rdoq(y1, m1, np.ascontiguousarray(tab, np.int32).reshape(-1),
          np.ascontiguousarray(tables.half, np.int64), np.ascontiguousarray(tables.offsets, np.int64),
          np.ascontiguousarray(tables.flat, np.int64), float(lam), out)
    return out.reshape(np.shape(y))


# ----------------------------------------------------------------------------- dependent quantisation
#: next state of the dependent quantiser (SPEC 6.8): ``DQ_NEXT[state][k & 1]``; states 0
#: and 1 use the even quantiser Q0, states 2 and 3 the odd one Q1
DQ_NEXT = np.array([[0, 2], [2, 0], [1, 3], [3, 1]], np.int64)


@nb.njit(cache=True, nogil=True)
def _dq_levels(k, nxt, out):  # pragma: no cover - numba
    st = 0
    for i in range(k.size):
        v = np.int64(k[i])
        if st >= 2 and v != 0:
            out[i] = 2 * v - (1 if v > 0 else -1)
        else:
            out[i] = 2 * v
        st = nxt[st, v & 1]


def dq_levels(k: np.ndarray) -> np.ndarray:
    """Reconstruction levels, in half steps of the dependent quantiser, of one pass of
    symbols ``k`` (the state starts at 0): ``2k`` in states 0 and 1, ``2k - sign(k)`` in
    states 2 and 3; the state moves by ``DQ_NEXT[state][k & 1]``.

    >>> dq_levels(np.array([1, 1, 2, -1, 0, 3])).tolist()
    [2, 1, 3, -1, 0, 5]
    """
    k1 = np.ascontiguousarray(k, np.int64).reshape(-1)
    out = np.empty(k1.size, np.int64)
    _dq_levels(k1, DQ_NEXT, out)
    return out


def dq_levels_np(k: np.ndarray) -> np.ndarray:
    out, st = [], 0
    for v in np.asarray(k, np.int64).reshape(-1).tolist():
        out.append(2 * v - (int(np.sign(v)) if st >= 2 else 0))
        st = int(DQ_NEXT[st, v & 1])
    return np.array(out, np.int64)


@nb.njit(cache=True, nogil=True)
def _dq_cost_tables(half, offsets, flat, cost, esc):  # pragma: no cover - numba
    """Each symbol's bits ``20 - log2(f)`` (``cost``, aligned with ``flat``) and each
    table's escape bits ``52 - log2(f_escape)`` (``esc``): what the trellis adds per
    candidate, computed once per table set instead of per candidate."""
    for i in range(flat.size):
        cost[i] = 20.0 - np.log2(np.float64(flat[i]))
    for t in range(half.size):
        esc[t] = 52.0 - np.log2(np.float64(flat[offsets[t] + 2 * half[t] + 1]))


def _dq_tables(tables) -> tuple[np.ndarray, ...]:  # noqa: ANN001
    """(half, offsets, cost, escape cost) of a table set for :func:`_dq_trellis`, made on
    first use and kept on the (frozen) table set."""
    got = tables.__dict__.get("_dq_cost")
    if got is None:
        half = np.ascontiguousarray(tables.half, np.int64)
        offsets = np.ascontiguousarray(tables.offsets, np.int64)
        flat = np.ascontiguousarray(tables.flat, np.int64)
        cost, esc = np.empty(flat.size), np.empty(half.size)
        _dq_cost_tables(half, offsets, flat, cost, esc)
        got = tables.__dict__["_dq_cost"] = (half, offsets, cost, esc)
    return got


@nb.njit(cache=True, nogil=True)
def _dq_trellis(y, mu, tab, half, offsets, bits, esc, lam, unit, nxt, out):  # pragma: no cover
    n = y.size
    back = np.empty((n, 4), np.int8)
    pick = np.empty((n, 4), np.int64)
    cost = np.full(4, np.inf)
    cost[0] = 0.0
    new = np.empty(4)
    cand = np.empty(3, np.int64)
    for i in range(n):
        v = np.float64(y[i]) - mu[i]
        if not (v == v):
            v = 0.0
        x = v / unit  # in half steps
        if x > 2.0 * Q_CLAMP:
            x = 2.0 * Q_CLAMP
        elif x < -2.0 * Q_CLAMP:
            x = -2.0 * Q_CLAMP
        t = tab[i]
        lt = half[t]
        ot = offsets[t] + lt
        new[:] = np.inf
        for st in range(4):
            if cost[st] == np.inf:
                continue
            if st < 2:
                k0 = np.int64(np.floor(x / 2.0))
                cand[0], cand[1], cand[2] = 0, k0, k0 + 1
            elif x >= 0:
                k0 = np.int64(np.floor((x + 1.0) / 2.0))
                cand[0], cand[1], cand[2] = 0, k0, k0 + 1
            else:
                k0 = -np.int64(np.floor((1.0 - x) / 2.0))
                cand[0], cand[1], cand[2] = 0, k0, k0 - 1
            for c in range(3):
                k = cand[c]
                if k > Q_CLAMP or k < -Q_CLAMP:
                    continue
                lev = 2 * k
                if st >= 2 and k != 0:
                    lev -= 1 if k > 0 else -1
                e = v - lev * unit
                j = cost[st] + lam * e * e + (bits[ot + k] if -lt <= k <= lt else esc[t])
                ns = nxt[st, k & 1]
                if j < new[ns]:
                    new[ns] = j
                    back[i, ns] = st
                    pick[i, ns] = k
        cost[:] = new
    st = 0
    for s in range(1, 4):
        if cost[s] < cost[st]:
            st = s
    for i in range(n - 1, -1, -1):
        out[i] = np.int32(pick[i, st])
        st = back[i, st]


def quantize_dq(y: np.ndarray, mu: np.ndarray, tab: np.ndarray, tables, lam: float,  # noqa: ANN001
                unit: float) -> np.ndarray:
    """Dependent quantisation of one pass (encoder only, SPEC 6.8): the symbols ``k``
    whose levels (:func:`dq_levels`, times ``unit`` in units of ``y``, plus ``mu``) cost the
    least ``lam * error^2 + bits`` over the whole pass (a 4-state Viterbi search; bits
    from each element's frozen table, escapes 32 more)."""
    y1 = np.ascontiguousarray(y, np.float64).reshape(-1)
    m1 = np.ascontiguousarray(mu, dtype=np.float64).reshape(-1)
    out = np.empty(y1.size, np.int32)
    if y1.size:
        _dq_trellis(y1, m1, np.ascontiguousarray(tab, np.int32).reshape(-1),
                    *_dq_tables(tables), float(lam), float(unit), DQ_NEXT, out)
    return out.reshape(np.shape(y))


@nb.njit(cache=True, nogil=True)
def _dq_place(k, mu, unit, mu_scale, one, shift, ii, jj, nxt, out, fine):  # pragma: no cover - numba
    """``shift`` = log2(one) when ``one`` is a power of two (then the divisions are shifts
    and a multiplication by the exact 1/one: the same results), else -1."""
    st = 0
    half = one // 2
    inv = 1.0 / one
    for n in range(k.size):
        v = np.int64(k[n])
        # the level: 2v, towards zero by one in states 2 and 3 (without a branch)
        lev = 2 * v - (np.int64(v > 0) - np.int64(v < 0)) * np.int64(st >= 2)
        st = nxt[st, v & 1]
        x = lev * unit + mu_scale * mu[n]
        i = np.uint64(ii[n])  # positions are in range by construction
        j = np.uint64(jj[n])
        if shift >= 0:
            s = x >> 63  # 0 or -1: sign(x) * ((|x| + half) >> shift), without a branch
            r = ((((x ^ s) - s) + half) >> shift ^ s) - s
            fine[i, j] = x * inv
        else:
            r = (x + half) // one if x >= 0 else -((-x + half) // one)
            fine[i, j] = x / one
        out[i, j] = r


def dq_place(k: np.ndarray, mu: np.ndarray, unit: int, mu_scale: int, one: int,
             ii: np.ndarray, jj: np.ndarray, out: np.ndarray, fine: np.ndarray) -> None:
    """Decoder side of one dependent-quantiser pass, in place: the values
    ``x = dq_levels(k) * unit + mu_scale * mu`` (in 1/``one``) go to ``fine[ii, jj] = x / one``
    and their integers ``sign(x) * ((|x| + one/2) // one)`` to ``out[ii, jj]``."""
    _dq_place(int_vector(k),
              np.ascontiguousarray(mu, np.int64).reshape(-1), int(unit), int(mu_scale), int(one),
              int(one).bit_length() - 1 if int(one) > 0 and int(one) & (int(one) - 1) == 0 else -1,
              np.ascontiguousarray(ii, np.int64), np.ascontiguousarray(jj, np.int64), DQ_NEXT,
              out, fine)


def int_vector(a: np.ndarray) -> np.ndarray:
    """``a`` as a contiguous 1-D int32 or int64 array, without a copy where it is one (the
    kernels take either; other dtypes become int64)."""
    a = np.ascontiguousarray(a).reshape(-1)
    return a if a.dtype in (np.int32, np.int64) else a.astype(np.int64)


@nb.njit(cache=True, nogil=True)
def _bias_bits(q, tab, half, offsets, costs, dmax, out):  # pragma: no cover - numba
    """``out[d + dmax]`` += ideal bits of the values ``q`` under the tables
    ``clip(tab + d)`` for d in -dmax..dmax: the symbol, and beyond the table the escape
    symbol, ``log2(33)`` and the escape's bits below its leading one (SPEC 6.3)."""
    n_tab = half.size
    zeros = np.zeros(n_tab, np.int64)
    lg33 = np.log2(33.0)
    for i in range(q.size):
        v = np.int64(q[i])
        t = tab[i]
        if v == 0:
            zeros[t] += 1
            continue
        av = v if v >= 0 else -v
        zz = 2 * v if v >= 0 else -2 * v - 1
        k = 0
        while zz > 0:
            zz >>= 1
            k += 1
        for d in range(-dmax, dmax + 1):
            u = min(max(t + d, 0), n_tab - 1)
            L = half[u]
            if av <= L:
                out[d + dmax] += costs[offsets[u] + v + L]
            else:
                out[d + dmax] += costs[offsets[u] + 2 * L + 1] + lg33 + max(k - 1, 0)
    for t in range(n_tab):
        if zeros[t]:
            for d in range(-dmax, dmax + 1):
                u = min(max(t + d, 0), n_tab - 1)
                out[d + dmax] += zeros[t] * costs[offsets[u] + half[u]]


def bias_bits(q: np.ndarray, tab: np.ndarray, bank, dmax: int) -> np.ndarray:  # noqa: ANN001
    """(2 dmax + 1,) float64: ideal bits of the integer values ``q`` under the tables
    ``clip(tab + d)`` of ``bank`` (a ModelBank) for each bias d in -dmax..dmax."""
    out = np.zeros(2 * dmax + 1, np.float64)
    _bias_bits(int_vector(q), int_vector(tab), bank.half64,
               bank.cost_offsets, bank.costs, dmax, out)
    return out
