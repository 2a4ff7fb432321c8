"""Encoder only: the half-resolution plane a conv tile codes under xform flag 32 (SPEC.md
6.10), chosen so that the decoder's fixed upsampling (:func:`mic.lossy.upsample.upsample2`)
comes back as close as it can to the full plane: the least-squares solution of
``upsample2(s) = x``, by conjugate gradients from the 2 x 2 means.

>>> x = np.add.outer(np.arange(6.0), np.arange(5.0)) ** 1.5
>>> s = downsample2(x)
>>> s.shape
(3, 3)
>>> bool(np.abs(upsample2(s, 6, 5) - x).max() < np.abs(upsample2(box_means(x), 6, 5) - x).max())
True
"""

from __future__ import annotations

import numpy as np

from .upsample import TAPS_EVEN, TAPS_ODD, half_size, upsample2

#: conjugate-gradient iterations of :func:`downsample2` (on 512 x 512 crops of train
#: radiographs the plane upsampled comes back 0.4-0.6 dB closer than the 2 x 2 means' after
#: 2, within 0.01 dB of 8 iterations', in 20 ms)
LS_ITERATIONS = 2


def box_means(x: np.ndarray) -> np.ndarray:
    """The 2 x 2 means of ``x`` (a last odd row or column repeated)."""
    x = np.asarray(x, np.float64)
    h, w = x.shape
    if h % 2:
        x = np.concatenate([x, x[-1:]], axis=0)
    if w % 2:
        x = np.concatenate([x, x[:, -1:]], axis=1)
    return (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2]) / 4


def _up_rows_adjoint(e: np.ndarray, m: int) -> np.ndarray:
    """The adjoint of upsampling ``m`` rows to ``e.shape[0]`` rows."""
    n = e.shape[0]
    if n < 2 * m:
        e = np.concatenate([e, np.zeros((2 * m - n,) + e.shape[1:])])
    ev, od = e[0::2], e[1::2]
    g = np.zeros((m + 4,) + e.shape[1:])
    for k, t in enumerate(TAPS_EVEN):
        g[k:k + m] += t * ev
    for k, t in enumerate(TAPS_ODD):
        g[k + 1:k + 1 + m] += t * od
    g *= 1.0 / 128.0
    s = g[2:m + 2].copy()
    s[0] += g[0] + g[1]
    s[-1] += g[m + 2] + g[m + 3]
    return s


def _adjoint(e: np.ndarray, hm: int, wm: int) -> np.ndarray:
    return _up_rows_adjoint(_up_rows_adjoint(e.T, wm).T, hm)


def downsample2(x: np.ndarray, iterations: int = LS_ITERATIONS) -> np.ndarray:
    """The half-resolution plane ``s`` minimising ``|upsample2(s) - x|^2`` (``x``: a float
    plane; ``iterations`` of conjugate gradients on the normal equations from the 2 x 2
    means)."""
    x = np.asarray(x, np.float64)
    h, w = x.shape
    hm, wm = half_size(h), half_size(w)
    s = box_means(x)
    r = _adjoint(x - upsample2(s, h, w), hm, wm)
    p = r.copy()
    rr = float(np.sum(r * r))
    for _ in range(iterations):
        if rr <= 1e-30:
            break
        ap = _adjoint(upsample2(p, h, w), hm, wm)
        alpha = rr / float(np.sum(p * ap))
        s += alpha * p
        r -= alpha * ap
        rr_new = float(np.sum(r * r))
        p = r + (rr_new / rr) * p
        rr = rr_new
    return s


__all__ = ["LS_ITERATIONS", "box_means", "downsample2"]
