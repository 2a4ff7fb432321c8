"""The float parts of the lossy models in plain NumPy (no torch at coding time).

* :class:`HyperAnalysis` — the encoder-only ``h_a`` (its output ``z`` is rounded and
  transmitted, so its float rounding never has to match anything);
* :class:`PostFilter` — the decoder's learned post-filter (its float output is rounded
  to samples; like the inverse wavelet it is the only step that may differ across
  machines, by a unit in rare samples).

Both mirror the torch modules of :mod:`mic.train.wcm` (same tensor names).

>>> import numpy as np
>>> x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
>>> w = np.ones((1, 1, 3, 3), np.float32)
>>> float(conv2d(x, w, np.zeros(1, np.float32), stride=1, pad=1)[0, 1, 1])
45.0
"""

from __future__ import annotations

import numpy as np


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0,
           mode: str = "constant") -> np.ndarray:
    """torch ``conv2d`` semantics, (C, H, W) -> (O, H', W'), float32, one matrix product
    per kernel tap; ``mode`` = "constant" (zeros) or "edge" (replicate) padding."""
    x = np.asarray(x, np.float32)
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)), mode=mode)
    o, c, k, _ = w.shape
    ho = (x.shape[1] - k) // stride + 1
    wo = (x.shape[2] - k) // stride + 1
    out = np.zeros((ho * wo, o), np.float32)
    for a in range(k):
        for bb in range(k):
            xs = x[:, a:a + (ho - 1) * stride + 1:stride, bb:bb + (wo - 1) * stride + 1:stride]
            out += xs.reshape(c, -1).T @ w[:, :, a, bb].T
    out += b.reshape(1, -1)
    return np.ascontiguousarray(out.T.reshape(o, ho, wo))


def _get(t: dict[str, np.ndarray], name: str) -> np.ndarray:
    return np.asarray(t[name], np.float32)


class HyperAnalysis:
    """``h_a``: conv3x3 s1, LeakyReLU(0.1), conv5x5 s2, LeakyReLU(0.1), conv5x5 s2."""

    def __init__(self, t: dict[str, np.ndarray], prefix: str = "h_a") -> None:
        self.layers = [(_get(t, f"{prefix}.{i}.weight"), _get(t, f"{prefix}.{i}.bias"))
                       for i in (0, 2, 4)]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        (w0, b0), (w1, b1), (w2, b2) = self.layers
        h = conv2d(x, w0, b0, 1, 1)
        h = np.where(h > 0, h, 0.1 * h)
        h = conv2d(h, w1, b1, 2, 2)
        h = np.where(h > 0, h, 0.1 * h)
        return conv2d(h, w2, b2, 2, 2)


class PostFilter:
    """``x + R(x, q) / s``: see :class:`mic.train.wcm.PostFilter`."""

    def __init__(self, t: dict[str, np.ndarray], prefix: str = "post") -> None:
        self.c = [(_get(t, f"{prefix}.c{i}.weight"), _get(t, f"{prefix}.c{i}.bias"))
                  for i in (1, 2, 3)]
        self.qbias = _get(t, f"{prefix}.qbias")
        self.qout = _get(t, f"{prefix}.qout")

    def __call__(self, x: np.ndarray, q: int, s: float) -> np.ndarray:
        """x (H, W) float in [0, 1] units -> filtered (H, W) float64."""
        if self.qout[q] == 0:
            return x
        (w1, b1), (w2, b2), (w3, b3) = self.c
        u = ((x - 0.5) * s).astype(np.float32)[None]
        h = np.maximum(conv2d(u, w1, b1 + self.qbias[q], 1, 1, "edge"), 0)
        h = np.maximum(conv2d(h, w2, b2, 1, 1, "edge"), 0)
        r = conv2d(h, w3, b3, 1, 1, "edge")[0] * self.qout[q]
        return x + r.astype(np.float64) / s
