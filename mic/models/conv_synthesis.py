"""The learned convolutional synthesis ``g_s`` in NumPy (float32, BLAS), no torch.

Mirrors ``g_s`` of :mod:`mic.train.conv_models`: four 5x5 transposed convolutions of
stride 2 (torch semantics: padding 2, output padding 1) with inverse GDN between them.
Activations are kept channel-last, ``(H, W, C)``, so that every step is a matrix product
over channels:

* a transposed convolution of stride 2 is four phases (output rows/cols even or odd);
  phase ``(py, px)`` is a correlation of the input with 3 or 2 kernel taps per axis (25
  taps over the four phases), one ``(H*W, C_in) @ (C_in, C_out)`` product per tap;
* for few output channels (the last layer) one product ``(H*W, C_in) @ (C_in, 25*C_out)``
  and 25 shifted adds at the output resolution are cheaper;
* IGDN is ``x * sqrt(beta + (x*x) @ gamma.T)``.

The output is a float image in [0, 1] units, clamped (the codec rounds it to samples;
like the inverse wavelet it is the only step that may differ across machines).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> w = rng.standard_normal((3, 2, 5, 5)).astype(np.float32)
>>> deconv5s2(rng.standard_normal((4, 6, 3)).astype(np.float32), prepare_deconv(w),
...           np.zeros(2, np.float32)).shape
(8, 12, 2)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: kernel index and input offset of each tap, per output parity (stride 2, k 5, pad 2):
#: out[2m + p] = sum over (k, d) of x[m + d] * w[k]
_TAPS = {0: ((0, 1), (2, 0), (4, -1)), 1: ((1, 1), (3, 0))}


@dataclass
class Deconv:
    """A 5x5 stride-2 transposed convolution, prepared for :func:`deconv5s2`."""

    cin: int
    cout: int
    phases: dict[tuple[int, int], tuple[list[tuple[int, int]], np.ndarray]]  # offsets, (T, C, O)
    full: np.ndarray  # (C_in, 25 * C_out), taps (ky, kx) major, for the scatter form


def prepare_deconv(w: np.ndarray) -> Deconv:
    """``w``: torch ``ConvTranspose2d`` weight (C_in, C_out, 5, 5)."""
    w = np.asarray(w, np.float32)
    cin, cout = w.shape[:2]
    phases = {}
    for py in (0, 1):
        for px in (0, 1):
            offs, mats = [], []
            for ky, dy in _TAPS[py]:
                for kx, dx in _TAPS[px]:
                    offs.append((dy, dx))
                    mats.append(w[:, :, ky, kx])
            phases[py, px] = (offs, np.ascontiguousarray(np.stack(mats)))
    full = np.ascontiguousarray(w.transpose(0, 2, 3, 1).reshape(cin, 25 * cout))
    return Deconv(cin, cout, phases, full)


def deconv5s2(x: np.ndarray, d: Deconv, b: np.ndarray) -> np.ndarray:
    """(H, W, C_in) float32 -> (2H, 2W, C_out): torch ``conv_transpose2d(stride=2,
    padding=2, output_padding=1)``."""
    h, w, c = x.shape
    o = d.cout
    if o <= 4:  # scatter form: one product, 25 shifted adds of (H, W, O)
        p = (x.reshape(h * w, c) @ d.full).reshape(h, w, 5, 5, o)
        out = np.zeros((2 * h + 4, 2 * w + 4, o), np.float32)
        for ky in range(5):
            for kx in range(5):
                out[ky:ky + 2 * h:2, kx:kx + 2 * w:2] += p[:, :, ky, kx]
        return out[2:2 + 2 * h, 2:2 + 2 * w] + b
    xp = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    out = np.empty((h, 2, w, 2, o), np.float32)
    acc = np.empty((h * w, o), np.float32)
    for (py, px), (offs, mats) in d.phases.items():
        acc[:] = b
        for (dy, dx), m in zip(offs, mats):
            s = np.ascontiguousarray(xp[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]).reshape(h * w, c)
            acc += s @ m
        out[:, py, :, px] = acc.reshape(h, w, o)
    return out.reshape(2 * h, 2 * w, o)


def igdn(x: np.ndarray, beta: np.ndarray, gamma_t: np.ndarray) -> np.ndarray:
    """Inverse GDN on (H, W, C): ``x * sqrt(beta + (x*x) @ gamma.T)`` (``gamma_t`` = gamma.T)."""
    h, w, c = x.shape
    v = x.reshape(h * w, c)
    n = (v * v) @ gamma_t
    n += beta
    np.sqrt(n, out=n)
    n *= v
    return n.reshape(h, w, c)


class ConvSynthesis:
    """``g_s`` from the float32 tensors of ``ConvCodecModel.synthesis_tensors()``
    (``g_s.{i}.weight``/``bias`` of the transposed convs, ``g_s.{i}.beta``/``gamma`` of
    the IGDNs, ``log_igain`` (Q, M))."""

    def __init__(self, t: dict[str, np.ndarray], prefix: str = "g_s") -> None:
        self.log_igain = np.asarray(t["log_igain"], np.float32)
        self.layers: list[tuple[str, tuple]] = []
        i = 0
        while f"{prefix}.{i}.weight" in t or f"{prefix}.{i}.beta" in t:
            if f"{prefix}.{i}.weight" in t:
                self.layers.append(("deconv", (prepare_deconv(t[f"{prefix}.{i}.weight"]),
                                               np.asarray(t[f"{prefix}.{i}.bias"], np.float32))))
            else:
                g = np.asarray(t[f"{prefix}.{i}.gamma"], np.float32)
                self.layers.append(("igdn", (np.asarray(t[f"{prefix}.{i}.beta"], np.float32),
                                             np.ascontiguousarray(g.T))))
            i += 1

    def __call__(self, y_hat: np.ndarray, q: int, clamp: bool = True) -> np.ndarray:
        """Dequantised gained latents (M, h, w) -> image (16h, 16w) float32 in [0, 1].

        The products run on one BLAS thread (:func:`mic.parallel.one_blas_thread`): a
        float32 product's rounding may depend on how many threads share it, and the
        samples of one machine must not depend on its BLAS settings (OpenBLAS on a 2-core
        machine gave other samples with ``OPENBLAS_NUM_THREADS=1`` than with 2)."""
        from ..parallel import one_blas_thread

        a = np.ascontiguousarray(np.asarray(y_hat, np.float32).transpose(1, 2, 0))
        a = a * np.exp(self.log_igain[q])
        with one_blas_thread():
            for kind, args in self.layers:
                a = deconv5s2(a, *args) if kind == "deconv" else igdn(a, *args)
        x = a[:, :, 0] + np.float32(0.5)
        return np.clip(x, 0.0, 1.0) if clamp else x
