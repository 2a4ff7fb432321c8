"""The CDF 9/7 wavelet (JPEG 2000's irreversible transform) by lifting, in NumPy/Numba.

The lossy mode's linear analysis/synthesis pair: ``levels`` dyadic levels of the 2-D
separable CDF 9/7 lifting scheme with whole-sample symmetric extension, the same filter
bank as JPEG 2000 Part 1.  Sides must be multiples of ``2**levels``.  Lifting is exactly
invertible up to float rounding (about 1e-12 here), whatever learned gains are applied
to the subbands afterwards, so quality never saturates at high rates.

Subband layout: ``(ll, bands)`` with ``bands[l] = (lh, hl, hh)`` for level ``l+1``
(``bands[0]`` is the finest, at half resolution); ``lh`` is low-pass along columns...
precisely: ``lh`` = high-pass along rows (vertical detail), ``hl`` = high-pass along
columns, ``hh`` = both.  The torch twin (:func:`mic.train.wcm.dwt`) computes the same.

>>> import numpy as np
>>> x = np.random.default_rng(0).random((64, 96))
>>> ll, bands = dwt97(x, 3)
>>> ll.shape, [b[0].shape for b in bands]
((8, 12), [(32, 48), (16, 24), (8, 12)])
>>> bool(np.abs(idwt97(ll, bands) - x).max() < 1e-10)
True
"""

from __future__ import annotations

import numba as nb
import numpy as np

#: lifting constants of the CDF 9/7 filter bank (Daubechies & Sweldens 1998)
ALPHA = -1.586134342059924
BETA = -0.052980118572961
GAMMA = 0.882911075530934
DELTA = 0.443506852043971
KAPPA = 1.230174104914001

#: the lossy models' wavelet: levels, subbands (0 = LL, then 1 + 3*l + o with l = 0 the
#: finest level and o = LH, HL, HH) and the alignment of a padded plane (the hyper-latents'
#: stride); one definition for the runtime (mic.lossy) and training (mic.train)
LEVELS = 5
NBANDS = 1 + 3 * LEVELS
ALIGN = 64


@nb.njit(cache=True, nogil=True)
def _predict(d, s, c):  # pragma: no cover - numba
    """d_k += c (s_k + s_k+1), with s_n = s_n-1 (symmetric extension)."""
    n = s.size
    for k in range(n):
        d[k] += c * (s[k] + (s[k + 1] if k + 1 < n else s[k]))


@nb.njit(cache=True, nogil=True)
def _update(s, d, c):  # pragma: no cover - numba
    """s_k += c (d_k-1 + d_k), with d_-1 = d_0."""
    for k in range(s.size):
        s[k] += c * ((d[k - 1] if k > 0 else d[k]) + d[k])


@nb.njit(cache=True, nogil=True, inline="always")
def _predict_cols(d, s, c):  # pragma: no cover - numba
    """:func:`_predict` down every column of the (n, w) arrays, a row at a time."""
    n = s.shape[0]
    for k in range(n):
        kp = k + 1 if k + 1 < n else k
        for j in range(s.shape[1]):
            d[k, j] += c * (s[k, j] + s[kp, j])


@nb.njit(cache=True, nogil=True, inline="always")
def _update_cols(s, d, c):  # pragma: no cover - numba
    """:func:`_update` down every column of the (n, w) arrays, a row at a time."""
    for k in range(s.shape[0]):
        km = k - 1 if k > 0 else k
        for j in range(s.shape[1]):
            s[k, j] += c * (d[km, j] + d[k, j])


@nb.njit(cache=True, nogil=True)
def _fwd_rows(x, lo, hi):  # pragma: no cover - numba
    """Lift every row of x (R, 2n) into lo (R, n) and hi (R, n)."""
    for i in range(x.shape[0]):
        s, d = lo[i], hi[i]
        s[:] = x[i, 0::2]
        d[:] = x[i, 1::2]
        _predict(d, s, ALPHA)
        _update(s, d, BETA)
        _predict(d, s, GAMMA)
        _update(s, d, DELTA)
        s /= KAPPA
        d *= KAPPA


@nb.njit(cache=True, nogil=True)
def _inv_rows(lo, hi, x):  # pragma: no cover - numba
    s = np.empty(lo.shape[1])
    d = np.empty(hi.shape[1])
    for i in range(lo.shape[0]):
        for k in range(s.size):
            s[k] = lo[i, k] * KAPPA
        for k in range(d.size):
            d[k] = hi[i, k] / KAPPA
        _update(s, d, -DELTA)
        _predict(d, s, -GAMMA)
        _update(s, d, -BETA)
        _predict(d, s, -ALPHA)
        x[i, 0::2] = s
        x[i, 1::2] = d


@nb.njit(cache=True, nogil=True)
def _inv_cols(lo, hi, x):  # pragma: no cover - numba
    """:func:`_inv_rows` down the columns: ``lo`` (n, w) and ``hi`` (n, w) into the even
    and odd rows of ``x`` (2n, w).  Each element gets the same operations in the same
    order as the row version on the transposed arrays (so the same float results),
    a whole row of columns at a time instead of through two transposed copies."""
    n, w = lo.shape
    s = lo * KAPPA
    d = hi / KAPPA
    _update_cols(s, d, -DELTA)
    _predict_cols(d, s, -GAMMA)
    _update_cols(s, d, -BETA)
    _predict_cols(d, s, -ALPHA)
    for k in range(n):
        for j in range(w):
            x[2 * k, j] = s[k, j]
            x[2 * k + 1, j] = d[k, j]


def _fwd1(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r, w = x.shape
    lo = np.empty((r, w // 2))
    hi = np.empty((r, w // 2))
    _fwd_rows(np.ascontiguousarray(x, np.float64), lo, hi)
    return lo, hi


def _inv1(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    r, n = lo.shape
    x = np.empty((r, 2 * n))
    _inv_rows(np.ascontiguousarray(lo, np.float64), np.ascontiguousarray(hi, np.float64), x)
    return x


def dwt97_level(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One 2-D level: ``x`` (2h, 2w) -> (ll, lh, hl, hh), each (h, w)."""
    lo, hi = _fwd1(x)  # along each row (horizontal filtering)
    ll_t, lh_t = _fwd1(lo.T)
    hl_t, hh_t = _fwd1(hi.T)
    return ll_t.T, lh_t.T, hl_t.T, hh_t.T


def _inv_vertical(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``_inv1(lo.T, hi.T).T`` (the same floats), without the transposes."""
    r, w = lo.shape
    x = np.empty((2 * r, w))
    _inv_cols(np.ascontiguousarray(lo, np.float64), np.ascontiguousarray(hi, np.float64), x)
    return x


def idwt97_level(ll: np.ndarray, lh: np.ndarray, hl: np.ndarray, hh: np.ndarray) -> np.ndarray:
    return _inv1(_inv_vertical(ll, lh), _inv_vertical(hl, hh))


def dwt97(x: np.ndarray, levels: int) -> tuple[np.ndarray, list[tuple[np.ndarray, ...]]]:
    """``levels`` 2-D levels of ``x`` (sides multiples of ``2**levels``)."""
    if x.ndim != 2 or x.shape[0] % (1 << levels) or x.shape[1] % (1 << levels):
        raise ValueError(f"dwt97 needs a 2-D array with sides multiple of {1 << levels}")
    ll = np.asarray(x, np.float64)
    bands = []
    for _ in range(levels):
        ll, lh, hl, hh = dwt97_level(ll)
        bands.append((lh, hl, hh))
    return ll, bands


def idwt97(ll: np.ndarray, bands: list[tuple[np.ndarray, ...]]) -> np.ndarray:
    """Inverse of :func:`dwt97`."""
    for lh, hl, hh in reversed(bands):
        ll = idwt97_level(ll, lh, hl, hh)
    return ll


def synthesis_norms(levels: int) -> tuple[float, list[list[float]]]:
    """L2 norm of the synthesis basis function of each subband (LL, then per level
    ``[lh, hl, hh]``): multiplying a subband by its norm makes unit quantisation error
    there cost unit squared error in the image (the 9/7 is nearly orthogonal)."""
    side = 1 << (levels + 3)
    c = side >> (levels + 1)

    def norm(lvl: int, o: int) -> float:
        ll = np.zeros((side >> levels, side >> levels))
        bands = [tuple(np.zeros((side >> (l + 1), side >> (l + 1))) for _ in range(3))
                 for l in range(levels)]
        if lvl < 0:
            ll[c, c] = 1.0
        else:
            bands[lvl][o][side >> (lvl + 2), side >> (lvl + 2)] = 1.0
        return float(np.sqrt((idwt97(ll, bands) ** 2).sum()))

    return norm(-1, 0), [[norm(l, o) for o in range(3)] for l in range(levels)]
