"""Numba kernels of the runtime models, at module level so that Numba's on-disk cache
finds them in every new process (a kernel built inside a function, closing over another
kernel, was compiled again by each process: about 1.5 s before the first encode or decode).
Imported on first use by :mod:`mic.models.logmag` and :mod:`mic.models.intnet`, so that
importing those stays cheap."""

from __future__ import annotations

import numba as nb
import numpy as np

from ..quant.kernels import count_le, count_le_from


@nb.njit(cache=True, nogil=True)
def logmag_kernel(v, lut, thr, max_abs, out):  # pragma: no cover - numba
    """``out[i]`` = the logmag of ``v[i]``: ``lut`` below its size, else the count of the
    thresholds ``thr`` at most ``min(|v|, max_abs) + 1``."""
    n = lut.size
    for i in range(v.size):
        a = abs(v[i])
        if a < n:
            out[i] = lut[a]
        else:
            out[i] = count_le(thr, min(a, max_abs) + 1)


# fastmath only reassociates and contracts sums of integers below 2**53 (exact in any
# order, with or without FMA; see mic.models.intnet), which lets LLVM vectorise the dot
# products; nothing here divides or calls an approximated function.
@nb.njit(cache=True, nogil=True, inline="always", fastmath={"reassoc", "contract", "nsz"})
def _mlp_index(f, c, hpre, b1, w1c, w2t, b2, w3, b3, m1, m2, thr, t0, rstep, a1):  # pragma: no cover
    """The table index of the context features ``f`` (1-D) in hyper cell ``c``: layer 1
    from the cell's precomputed hyper part ``hpre[c]`` plus the bias ``b1`` plus ``f @
    w1c`` (zero features skipped), floor / clamp after the shifts ``m1``, ``m2``, then the
    thresholds ``thr`` (searched from the guess of :func:`_thr_spacing`'s ``t0``,
    ``rstep``); ``a1`` is scratch of the first layer's width.  Integers below 2**53
    throughout: the same sums in any order."""
    h1 = hpre.shape[1]
    cap = float(1 << 22)
    for jh in range(h1):
        a1[jh] = hpre[c, jh] + b1[jh]
    for k in range(f.size):
        fk = f[k]
        if fk != 0.0:
            for jh in range(h1):
                a1[jh] += fk * w1c[k, jh]
    for jh in range(h1):  # hidden layer 1: floor, clamp to [0, cap]
        a1[jh] = min(max(np.floor(a1[jh] * m1), 0.0), cap)
    acc3 = b3
    for jo in range(w2t.shape[0]):  # layer 2 as dot products over the rows of w2t
        acc = b2[jo]
        for k in range(h1):
            acc += a1[k] * w2t[jo, k]
        acc3 += min(max(np.floor(acc * m2), 0.0), cap) * w3[jo]
    return count_le_from(thr, acc3, t0, rstep)


@nb.njit(cache=True, nogil=True, inline="always")
def _thr_spacing(thr):  # pragma: no cover - numba
    """(first threshold, 1 / mean spacing) of the sorted ``thr``: the start of
    :func:`count_le_from`'s walk (any values give the exact count; these make it short)."""
    n = thr.size
    if n < 2 or thr[n - 1] <= thr[0]:
        return (float(thr[0]) if n else 0.0), 0.0
    return float(thr[0]), (n - 1) / float(thr[n - 1] - thr[0])


@nb.njit(cache=True, nogil=True, inline="always")
def _all_zero(f):  # pragma: no cover - numba
    for k in range(f.size):
        if f[k] != 0.0:
            return False
    return True


@nb.njit(cache=True, nogil=True, fastmath={"reassoc", "contract", "nsz"})
def mlp_kernel(ctx, cell, hpre, b1, w1c, w2t, b2, w3, b3, sh1, sh2, thr, out):  # pragma: no cover
    """``out[n]`` = the table index of the context features ``ctx[n]`` in hyper cell
    ``cell[n]`` (:func:`_mlp_index`: ``hpre`` the hyper part of layer 1 per cell, ``b1``
    the pass's layer-1 bias)."""
    m1 = 2.0 ** -sh1
    m2 = 2.0 ** -sh2
    t0, rstep = _thr_spacing(thr)
    a1 = np.empty(hpre.shape[1])
    memo = np.full(hpre.shape[0], -1, np.int64)  # result at a zero context, per cell
    for n in range(ctx.shape[0]):
        c = cell[n]
        zero_ctx = _all_zero(ctx[n])
        if zero_ctx and memo[c] >= 0:
            out[n] = memo[c]
            continue
        idx = _mlp_index(ctx[n], c, hpre, b1, w1c, w2t, b2, w3, b3, m1, m2, thr, t0, rstep, a1)
        out[n] = idx
        if zero_ctx:
            memo[c] = idx


@nb.njit(cache=True, nogil=True, inline="always")
def _mirror(i, n):  # pragma: no cover - numba
    """(i - 1, i + 1) mirrored at the borders of 0..n-1 (SPEC 6.4)."""
    lo = i - 1 if i > 0 else (1 if n > 1 else 0)
    hi = i + 1 if i + 1 < n else (n - 2 if n > 1 else 0)
    return lo, hi


@nb.njit(cache=True, nogil=True, fastmath={"reassoc", "contract", "nsz"})
def band_mlp_kernel(ii, jj, p, pb, s0, s0b, s1, s1b, lma, flags, fix, shift, w16,
                    hpre, b1, w1c, w2t, b2, w3, b3, sh1, sh2, thr, out):  # pragma: no cover
    """:func:`mlp_kernel` of a detail band's pass with its context features computed on the
    fly: the same features as ``mic.lossy.passes._band_ctx`` (flags 1 parent, 2 sibling 0,
    4 sibling 1, 8 neighbours) and the same cell as ``Planes.cells`` (``shift`` = 4 - level;
    below 0 the finer hyper grid), so the same indexes, without the (N, 8) feature and
    cell arrays; ``hpre`` is the plane's hyper part of layer 1 per cell, ``b1`` the pass's
    layer-1 bias (added here, not summed into a copy of ``hpre`` per pass)."""
    m1 = 2.0 ** -sh1
    m2 = 2.0 ** -sh2
    t0, rstep = _thr_spacing(thr)
    a1 = np.empty(hpre.shape[1])
    f = np.zeros(8)
    memo = np.full(hpre.shape[0], -1, np.int64)  # result at a zero context, per cell
    h, w = lma.shape
    for n in range(ii.size):
        i, j = ii[n], jj[n]
        c = ((i >> shift) * w16 + (j >> shift)) if shift >= 0 else ((2 * i) * w16 + 2 * j)
        if flags & 1:
            f[0] = p[i >> 1, j >> 1] * fix
            f[1] = pb[i >> 1, j >> 1] * fix
        if flags & 2:
            f[2] = s0[i, j] * fix
            f[3] = s0b[i, j] * fix
        if flags & 4:
            f[4] = s1[i, j] * fix
            f[5] = s1b[i, j] * fix
        if flags & 8:
            iu, idn = _mirror(i, h)
            jl, jr = _mirror(j, w)
            a, b, cc, d = lma[iu, j], lma[idn, j], lma[i, jl], lma[i, jr]
            f[6] = (a + b + cc + d) * fix
            f[7] = max(max(a, b), max(cc, d)) * fix
        zero_ctx = _all_zero(f)
        if zero_ctx and memo[c] >= 0:
            out[n] = memo[c]
            continue
        idx = _mlp_index(f, c, hpre, b1, w1c, w2t, b2, w3, b3, m1, m2, thr, t0, rstep, a1)
        out[n] = idx
        if zero_ctx:
            memo[c] = idx


@nb.njit(cache=True, nogil=True)
def anchor_pairs_kernel(out, ii, jj, res):  # pragma: no cover - numba
    """``res[n]`` = (left + right, upper + lower) anchors of the non-anchor ``(ii[n],
    jj[n])`` of the band ``out``, mirrored at the borders (:func:`_mirror`)."""
    h, w = out.shape
    for n in range(ii.size):
        i, j = ii[n], jj[n]
        iu, idn = _mirror(i, h)
        jl, jr = _mirror(j, w)
        res[n, 0] = out[i, jl] + out[i, jr]
        res[n, 1] = out[iu, j] + out[idn, j]


@nb.njit(cache=True, nogil=True)
def anchor_means_kernel(out, ii, jj, w0, w1, res):  # pragma: no cover - numba
    """``res[n]`` = :func:`anchor_pairs_kernel`'s pair of position n times the weights
    ``(w0, w1)``: the mean predictor's means (1 / PRED_ONE) without the pairs."""
    h, w = out.shape
    for n in range(ii.size):
        i, j = ii[n], jj[n]
        iu, idn = _mirror(i, h)
        jl, jr = _mirror(j, w)
        res[n] = (out[i, jl] + out[i, jr]) * w0 + (out[iu, j] + out[idn, j]) * w1


@nb.njit(cache=True, nogil=True)
def scatter_taps(prod, s, canvas):  # pragma: no cover - numba
    """``canvas[:, a + s*i, b + s*j] += prod[:, a, b, i, j]`` for every tap (a, b): the
    shifted adds of a transposed convolution in scatter form (exact integer sums)."""
    o, k, _, h, w = prod.shape
    for c in range(o):
        for a in range(k):
            for b in range(k):
                for i in range(h):
                    r = a + s * i
                    for j in range(w):
                        canvas[c, r, b + s * j] += prod[c, a, b, i, j]


@nb.njit(cache=True, nogil=True)
def box3_kernel(a, out):  # pragma: no cover - numba
    """``out`` = the sum of each 3x3 neighbourhood of the int64 plane ``a``, edges
    replicated: three rows summed, then three columns of those sums (exact integers)."""
    h, w = a.shape
    rows = np.empty(w, np.int64)
    for i in range(h):
        u = a[max(i - 1, 0)]
        m = a[i]
        d = a[min(i + 1, h - 1)]
        for j in range(w):
            rows[j] = u[j] + m[j] + d[j]
        for j in range(w):
            out[i, j] = rows[max(j - 1, 0)] + rows[j] + rows[min(j + 1, w - 1)]


@nb.njit(cache=True, nogil=True)
def ll_pred_kernel(v, i, ll_mean, out):  # pragma: no cover - numba
    """The LL anchors' means of row ``i`` (columns ``i % 2, i % 2 + 2, ...``, SPEC 6.4):
    the floored rounded mean of the decoded diagonal neighbours in row ``i - 1`` that lie
    inside the band, else the anchor of row ``i - 2``, else ``ll_mean``."""
    w = v.shape[1]
    n = 0
    for j in range(i % 2, w, 2):
        if i == 0:
            out[n] = ll_mean
        else:
            s = 0
            c = 0
            if j - 1 >= 0:
                s += v[i - 1, j - 1]
                c += 1
            if j + 1 < w:
                s += v[i - 1, j + 1]
                c += 1
            if c > 0:
                out[n] = (s + c // 2) // c
            else:
                out[n] = v[i - 2, j] if i >= 2 else ll_mean
        n += 1


@nb.njit(cache=True, nogil=True)
def scatter_kernel(out, ii, jj, v):  # pragma: no cover - numba
    """``out[ii[n], jj[n]] = v[n]`` (NumPy's fancy-index assignment, without its
    per-element overhead; the positions are in range by construction)."""
    for n in range(v.size):
        out[ii[n], jj[n]] = v[n]


@nb.njit(cache=True, nogil=True)
def gather_kernel(x, ii, jj, out):  # pragma: no cover - numba
    """``out[n] = x[ii[n], jj[n]]`` (NumPy's fancy-index read, without the GIL)."""
    for n in range(out.size):
        out[n] = x[ii[n], jj[n]]


@nb.njit(cache=True, nogil=True)
def scaled_kernel(x, s, out):  # pragma: no cover - numba
    """``out = x.astype(float64) * s`` of a 2-D array (the same IEEE products), no GIL."""
    h, w = x.shape
    for i in range(h):
        for j in range(w):
            out[i, j] = np.float64(x[i, j]) * s


@nb.njit(cache=True, nogil=True)
def any_nonzero(x):  # pragma: no cover - numba
    """``x.any()`` of a 2-D array, without the GIL."""
    h, w = x.shape
    for i in range(h):
        for j in range(w):
            if x[i, j] != 0:
                return True
    return False


@nb.njit(cache=True, nogil=True)
def to_samples_kernel(x, scale, lo, rmin, rmax, out):  # pragma: no cover - numba
    """``out = clip(rint(x * scale + lo), rmin, rmax)`` as int32, in one pass (the same
    IEEE operations as the NumPy expression: no contraction into a fused multiply-add)."""
    h, w = x.shape
    for i in range(h):
        for j in range(w):
            v = np.rint(x[i, j] * scale + lo)
            out[i, j] = np.int32(min(max(v, rmin), rmax))
