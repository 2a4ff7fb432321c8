"""The learned convolutional analysis ``g_a`` in NumPy (float32, BLAS), no torch.

Mirrors ``g_a`` of :mod:`mic.train.conv_models`: four 5x5 convolutions of stride 2
(torch semantics: zero padding 2) with GDN after the first three.  Activations are kept
channel-last, ``(H, W, C)``, so that every step is a matrix product over channels:

* a convolution of stride 2 is 25 products ``(H/2 * W/2, C_in) @ (C_in, C_out)``, one per
  kernel tap, over the strided view of the padded input; for one input channel (the first
  layer) one product ``(H/2 * W/2, 25) @ (25, C_out)`` of the gathered taps instead;
* GDN is ``x / sqrt(beta + (x*x) @ gamma.T)``.

Only the encoder runs it (its output is rounded to the transmitted symbols), so its float
rounding never has to match anything on the decoder's side.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> w = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
>>> conv5s2(rng.standard_normal((8, 6, 3)).astype(np.float32), w, np.zeros(4, np.float32)).shape
(4, 3, 4)
"""

from __future__ import annotations

import numpy as np


def conv5s2(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(H, W, C_in) float32 (H, W even) -> (H/2, W/2, C_out): torch ``conv2d(stride=2,
    padding=2)`` with ``w`` (C_out, C_in, 5, 5)."""
    h, wd, c = x.shape
    o = w.shape[0]
    ho, wo = (h + 1) // 2, (wd + 1) // 2
    xp = np.pad(x, ((2, 2), (2, 2), (0, 0)))
    if c == 1:  # gather the 25 taps: one product
        cols = np.empty((ho, wo, 25), np.float32)
        for ky in range(5):
            for kx in range(5):
                cols[:, :, 5 * ky + kx] = xp[ky:ky + 2 * ho:2, kx:kx + 2 * wo:2, 0]
        out = cols.reshape(ho * wo, 25) @ np.ascontiguousarray(w.reshape(o, 25).T)
        out += b
        return out.reshape(ho, wo, o)
    out = np.empty((ho * wo, o), np.float32)
    out[:] = b
    for ky in range(5):
        for kx in range(5):
            s = np.ascontiguousarray(xp[ky:ky + 2 * ho:2, kx:kx + 2 * wo:2]).reshape(ho * wo, c)
            out += s @ np.ascontiguousarray(w[:, :, ky, kx].T)
    return out.reshape(ho, wo, o)


def gdn(x: np.ndarray, beta: np.ndarray, gamma_t: np.ndarray) -> np.ndarray:
    """GDN on (H, W, C): ``x / sqrt(beta + (x*x) @ gamma.T)`` (``gamma_t`` = gamma.T)."""
    h, w, c = x.shape
    v = x.reshape(h * w, c)
    n = (v * v) @ gamma_t
    n += beta
    np.sqrt(n, out=n)
    return (v / n).reshape(h, w, c)


class ConvAnalysis:
    """``g_a`` and the per-quality latent gains from the tensors of a conv model's weights
    file (``g_a.{i}.weight``/``bias`` of the convolutions, ``g_a.{i}.beta``/``gamma`` of
    the GDNs, ``log_gain`` (Q, M)); weights stored in float16 are computed in float32."""

    def __init__(self, t: dict[str, np.ndarray], prefix: str = "g_a") -> None:
        self.log_gain = np.asarray(t["log_gain"], np.float32)
        self.layers: list[tuple[str, tuple[np.ndarray, np.ndarray]]] = []
        i = 0
        while f"{prefix}.{i}.weight" in t or f"{prefix}.{i}.beta" in t:
            if f"{prefix}.{i}.weight" in t:
                self.layers.append(("conv", (np.asarray(t[f"{prefix}.{i}.weight"], np.float32),
                                             np.asarray(t[f"{prefix}.{i}.bias"], np.float32))))
            else:
                g = np.asarray(t[f"{prefix}.{i}.gamma"], np.float32)
                self.layers.append(("gdn", (np.asarray(t[f"{prefix}.{i}.beta"], np.float32),
                                            np.ascontiguousarray(g.T))))
            i += 1

    def __call__(self, x: np.ndarray, q: int) -> np.ndarray:
        """Image in [0, 1] units (H, W), sides multiples of 16 -> gained latents ``y_s``
        (M, H/16, W/16) float32: ``g_a(x - 1/2) * exp(log_gain[q])``."""
        a = (np.asarray(x, np.float32) - np.float32(0.5))[:, :, None]
        for kind, (p0, p1) in self.layers:
            a = conv5s2(a, p0, p1) if kind == "conv" else gdn(a, p0, p1)
        a = a * np.exp(self.log_gain[q])
        return np.ascontiguousarray(a.transpose(2, 0, 1))


__all__ = ["ConvAnalysis", "conv5s2", "gdn"]
