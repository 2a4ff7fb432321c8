"""The conv tiles' half-resolution planes (SPEC.md 6.10, xform flag 32): the fixed 2x
upsampling the decoder applies, shared by the decoder (:mod:`mic.lossy.dec_conv`) and the
encoder (:mod:`mic.lossy.enc_conv`; its least-squares inverse, from the adjoint of these
taps, is :mod:`mic.lossy.enc_downsample`).

A plane of ``rows x cols`` samples coded at half resolution is a ``ceil(rows / 2) x
ceil(cols / 2)`` plane whose sample ``j`` stands for full-resolution samples ``2j`` and
``2j + 1`` (its centre halfway between them).  Upsampling is separable, rows first, then
columns, with Keys' cubic (a = -1/2) at the quarter-sample offsets, in 1/128:

    out[2j]     = (-3 s[j-2] + 29 s[j-1] + 111 s[j] -  9 s[j+1]) / 128
    out[2j + 1] = (-9 s[j-1] + 111 s[j] + 29 s[j+1] -  3 s[j+2]) / 128

``s`` extended by repeating its first and last samples; a last output beyond the full
size (odd ``rows`` or ``cols``) is dropped.

>>> s = np.array([[0.0, 1.0], [2.0, 3.0]])
>>> upsample2(s, 3, 4).round(4).tolist()
[[-0.2109, 0.0625, 0.6562, 0.9297], [0.3359, 0.6094, 1.2031, 1.4766], [1.5234, 1.7969, 2.3906, 2.6641]]
"""

from __future__ import annotations

import numpy as np

#: the two phases' taps, in 1/128 (even outputs: s[j-2..j+1]; odd: s[j-1..j+2])
TAPS_EVEN = (-3, 29, 111, -9)
TAPS_ODD = (-9, 111, 29, -3)


def half_size(n: int) -> int:
    """The half-resolution length of a full-resolution length ``n``."""
    return (n + 1) // 2


def _up_rows(s: np.ndarray, n: int) -> np.ndarray:
    m = s.shape[0]
    p = np.concatenate([s[:1], s[:1], s, s[-1:], s[-1:]])
    out = np.empty((2 * m,) + s.shape[1:], np.float64)
    out[0::2] = sum(t * p[k:k + m] for k, t in enumerate(TAPS_EVEN))
    out[1::2] = sum(t * p[k + 1:k + 1 + m] for k, t in enumerate(TAPS_ODD))
    out *= 1.0 / 128.0
    return out[:n]


def upsample2(s: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """A half-resolution plane ``s`` (``half_size(rows) x half_size(cols)``) -> the
    ``rows x cols`` float64 plane (rows first, then columns; unclamped)."""
    s = np.asarray(s, np.float64)
    if s.shape != (half_size(rows), half_size(cols)):
        raise ValueError(f"half plane {s.shape} does not match {rows} x {cols}")
    return _up_rows(_up_rows(s, rows).T, cols).T


__all__ = ["TAPS_EVEN", "TAPS_ODD", "half_size", "upsample2"]
