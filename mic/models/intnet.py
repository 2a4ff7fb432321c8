"""Integer hyper-synthesis: the part of the model both sides must agree on bit for bit.

The float hyper-synthesis ``h_s`` (transposed convs + ReLU) is frozen at export
(:func:`mic.train.export.freeze_hyper_synthesis`) into an integer network in the spirit of
Balle et al. 2019 ("Integer networks for data compression with latent-variable models"):

* weights ``w_int = round(w * 2**W_l)`` with ``|w_int| <= 2**15``;
* activations are fixed-point integers with ``A`` fractional bits, clamped to
  ``[0, 2**ACT_BITS]`` by the ReLU;
* biases are integers in the accumulator's unit ``2**(W_l + A_in)``;
* rescaling between layers is ``floor(acc * 2**-k)`` (a power of two).

**Why it is exact on every machine.**  Every input (decoded ``z``, clamped to
``|z| <= 2**15``), weight, bias and activation is an integer, and every product is at
most ``2**15 * 2**ACT_BITS = 2**37`` in magnitude; a sum has at most ``MAX_TERMS``
(< ``2**14``) terms, so every partial sum is an integer below ``2**51 < 2**53``.  IEEE-754
float64 represents all of them exactly, so each addition and multiplication in a BLAS
matrix product (in any order, blocked, vectorised, with or without FMA) returns the exact
integer result.  Multiplying by a power of two and ``floor`` are exact too.  Hence the
outputs — the means (exact dyadic rationals) and the scale indexes (integer comparisons
against stored integer thresholds) — are identical on every IEEE-754 machine.  The check
``assert_exact_bounds`` enforces the bound at export; ``tests/test_models_intnet.py``
recomputes the network with pure Python integers and compares.

The same layers serve the conv ``cnn``'s other integer networks (SPEC 6.12,
:mod:`mic.models.conv_meanscale`), whose inputs are not hyper-latents: its context conv
reads decoded anchors clamped to ``+-CTX_CLAMP`` (``2**15``, the same bound as ``Z_CLAMP``
but a different quantity), and its entropy-parameter network reads ReLU features up to
``2**ACT_BITS``, which must not be clamped to ``Z_CLAMP`` (``__call__(..., clamp=None)``,
:meth:`IntHyperSynthesis.pointwise`); their bounds are checked with those input maxima
(``assert_exact_bounds(in_max=...)``).

>>> import numpy as np
>>> x = np.arange(4, dtype=np.float64).reshape(1, 2, 2)
>>> w = np.ones((1, 1, 3, 3))
>>> conv2d_exact(x, w, np.zeros(1), stride=1, pad=1)[0].tolist()
[[6.0, 6.0], [6.0, 6.0]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

WEIGHT_BITS = 15  # |w_int| <= 2**15
ACT_FRAC = 10  # fractional bits of hidden activations
ACT_BITS = 22  # hidden activations clamp to [0, 2**22]
Z_CLAMP = 1 << 15  # |z| fed to the network is clamped to this
MAX_TERMS = 1 << 14


def conv2d_exact(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int
                 | tuple[int, int, int, int]) -> np.ndarray:
    """Correlation of x (C, H, W) with w (O, C, k, k) + b, in float64: one matrix product
    per kernel tap, summed.  Exact when all values are integers within the module bounds.
    """
    if isinstance(pad, int):
        pad = (pad, pad, pad, pad)
    t, bo, le, ri = pad
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (t, bo), (le, ri)))
    o, c, k, _ = w.shape
    ho = (xp.shape[1] - k) // stride + 1
    wo = (xp.shape[2] - k) // stride + 1
    w64 = np.asarray(w, np.float64)
    out = np.zeros((ho * wo, o), np.float64)
    for a in range(k):
        for bb in range(k):
            xs = xp[:, a:a + (ho - 1) * stride + 1:stride, bb:bb + (wo - 1) * stride + 1:stride]
            out += xs.reshape(c, -1).T @ w64[:, :, a, bb].T
    return out.T.reshape(o, ho, wo) + np.asarray(b, np.float64).reshape(-1, 1, 1)


def transposed_matrix(w_t: np.ndarray) -> np.ndarray:
    """The (C_out * k * k, C_in) float64 matrix of transposed-conv weights ``w_t`` (C_in,
    C_out, k, k) that :func:`conv_transpose2d_exact` multiplies by."""
    c, o, k, _ = w_t.shape
    return np.ascontiguousarray(np.asarray(w_t, np.float64).transpose(1, 2, 3, 0)).reshape(
        o * k * k, c)


def conv_transpose2d_exact(x: np.ndarray, w_t: np.ndarray, b: np.ndarray, stride: int,
                           pad: int, out_pad: int, wm: np.ndarray | None = None) -> np.ndarray:
    """torch ``conv_transpose2d`` semantics (w_t: (C_in, C_out, k, k)) in float64, scatter
    form: one matrix product for all taps (``wm``: :func:`transposed_matrix` of ``w_t`` if
    the caller keeps it), then the shifted adds in one kernel.  Exact like
    :func:`conv2d_exact` (integer sums in any order)."""
    from .kernels import scatter_taps

    c, h, wd = x.shape
    _, o, k, _ = w_t.shape
    s = stride
    if wm is None:
        wm = transposed_matrix(w_t)
    prod = wm @ np.ascontiguousarray(x, np.float64).reshape(c, h * wd)
    canvas = np.zeros((o, (h - 1) * s + k + out_pad, (wd - 1) * s + k + out_pad), np.float64)
    scatter_taps(prod.reshape(o, k, k, h, wd), s, canvas)
    ho = (h - 1) * s - 2 * pad + k + out_pad
    wo = (wd - 1) * s - 2 * pad + k + out_pad
    return canvas[:, pad:pad + ho, pad:pad + wo] + np.asarray(b, np.float64).reshape(-1, 1, 1)


@dataclass
class IntLayer:
    """One frozen layer: integer weights/bias, the shift after it, and its geometry."""

    weight: np.ndarray  # int32; conv: (O, C, k, k); transposed: (C, O, k, k)
    bias: np.ndarray  # int64, unit 2**(w_bits + in_frac)
    transposed: bool
    stride: int
    shift: int  # acc * 2**-shift -> next activation (ignored for the last layer)
    relu: bool

    def float_weight(self, matrix: bool = False) -> np.ndarray:
        """The weights as float64 (exact), or for a transposed layer with ``matrix`` its
        :func:`transposed_matrix`; converted once per layer (layers are frozen)."""
        key = "_wm" if matrix else "_wf"
        v = self.__dict__.get(key)
        if v is None:
            v = transposed_matrix(self.weight) if matrix else self.weight.astype(np.float64)
            self.__dict__[key] = v
        return v


class IntHyperSynthesis:
    """A frozen integer network of (transposed) convolutions and ReLUs: the
    hyper-synthesis ``hs`` (and, for ``cnn``, the context conv ``ctx`` and the entropy
    parameters ``ep``); ``__call__(z) -> output`` (the last layer's accumulator, unit
    ``2**-out_frac``, or with a final ReLU its ``ACT_FRAC`` activations)."""

    def __init__(self, layers: list[IntLayer], out_frac: int) -> None:
        self.layers = layers
        self.out_frac = out_frac  # output accumulator unit is 2**-out_frac

    def __call__(self, z: np.ndarray, scale: int = 1, clamp: int | None = Z_CLAMP
                 ) -> np.ndarray:
        """z: integer-valued (C, H, W) -> integer-valued float64 output (O, H', W').
        The input is ``clamp(z, +-clamp) * scale`` (``scale`` an integer, e.g. the
        quality's hyper-latent factor K, for a network frozen with ``in_frac`` bits;
        ``clamp=None``: not clamped, for inputs already bounded, such as activations)."""
        a = np.asarray(z, dtype=np.float64)
        if clamp is not None:
            a = np.clip(a, -clamp, clamp)
        a = a * float(int(scale))
        for ly in self.layers:
            w = ly.float_weight()
            b = ly.bias.astype(np.float64)
            k = w.shape[2]
            if ly.transposed:
                acc = conv_transpose2d_exact(a, w, b, ly.stride, k // 2, ly.stride - 1,
                                             ly.float_weight(matrix=True))
            else:
                acc = conv2d_exact(a, w, b, ly.stride, k // 2)
            a = self.layer_out(ly, acc)
        return a

    # -- (de)serialisation into flat tensors ------------------------------------------
    def to_tensors(self, prefix: str = "hs") -> dict[str, np.ndarray]:
        d: dict[str, np.ndarray] = {f"{prefix}.out_frac": np.array([self.out_frac], np.int64)}
        for i, ly in enumerate(self.layers):
            d[f"{prefix}.{i}.weight"] = ly.weight.astype(np.int32)
            d[f"{prefix}.{i}.bias"] = ly.bias.astype(np.int64)
            d[f"{prefix}.{i}.meta"] = np.array(
                [int(ly.transposed), ly.stride, ly.shift, int(ly.relu)], np.int64)
        return d

    @classmethod
    def from_tensors(cls, t: dict[str, np.ndarray], prefix: str = "hs") -> "IntHyperSynthesis":
        layers = []
        i = 0
        while f"{prefix}.{i}.weight" in t:
            tr, st, sh, rl = (int(v) for v in t[f"{prefix}.{i}.meta"])
            layers.append(IntLayer(np.asarray(t[f"{prefix}.{i}.weight"]),
                                   np.asarray(t[f"{prefix}.{i}.bias"]), bool(tr), st, sh, bool(rl)))
            i += 1
        return cls(layers, int(t[f"{prefix}.out_frac"][0]))

    def assert_exact_bounds(self, in_scale: int = 1, in_max: int | None = None) -> None:
        """Check the float64-exactness bound of the module docstring for every layer
        (inputs up to ``in_max``, by default ``Z_CLAMP * in_scale``): every accumulator
        (its bias included) is below ``2**53`` in magnitude."""
        in_max = Z_CLAMP * int(in_scale) if in_max is None else int(in_max)
        for ly in self.layers:
            w = ly.weight.astype(np.int64)
            if np.abs(w).max() > 1 << WEIGHT_BITS:
                raise ValueError("integer weight above 2**15")
            k = w.shape[2]
            cin = w.shape[0] if ly.transposed else w.shape[1]
            terms = cin * k * k + 1
            if terms > MAX_TERMS:
                raise ValueError(f"{terms} terms per output exceed {MAX_TERMS}")
            bound = terms * (1 << WEIGHT_BITS) * in_max + int(np.abs(ly.bias).max())
            if bound >= 1 << 53:
                raise ValueError(f"accumulator bound {bound} not below 2**53")
            in_max = 1 << ACT_BITS

    def acc_bound(self, in_max: int) -> int:
        """A bound on the magnitude of the last layer's accumulator for inputs up to
        ``in_max`` (hidden activations up to ``2**ACT_BITS``)."""
        ly = self.layers[-1]
        w = np.abs(ly.weight.astype(np.int64))
        taps = w.sum(axis=(0, 2, 3)) if ly.transposed else w.sum(axis=(1, 2, 3))
        a_max = int(in_max) if len(self.layers) == 1 else 1 << ACT_BITS
        return int(taps.max()) * a_max + int(np.abs(ly.bias).max())

    def pointwise(self, a: np.ndarray) -> np.ndarray:
        """The network on rows of features, for a network of 1x1 convolutions only:
        ``a`` (N, C) integer-valued -> (N, O) integer-valued float64, the same as
        ``__call__(a.T[:, :, None], clamp=None)`` (one exact BLAS product per layer)."""
        for ly in self.layers:
            if ly.transposed or ly.weight.shape[2:] != (1, 1):
                raise ValueError("pointwise() runs 1x1 convolutions only")
            w = ly.float_weight()[:, :, 0, 0].T
            a = self.layer_out(ly, np.asarray(a, np.float64) @ w + ly.bias.astype(np.float64))
        return a

    @staticmethod
    def layer_out(ly: IntLayer, acc: np.ndarray) -> np.ndarray:
        """A layer's output from its accumulator: with a ReLU ``clamp(floor(acc *
        2**-shift), 0, 2**ACT_BITS)``, else the accumulator itself (exact)."""
        if not ly.relu:
            return acc
        return np.clip(np.floor(acc * 2.0 ** -ly.shift), 0, 1 << ACT_BITS)


# ----------------------------------------------------------------------------- context MLP
@dataclass
class IntMLP:
    """Frozen per-coefficient MLP of the wavelet models' context model (1x1 layers).

    Inputs are integer features with ``ACT_FRAC`` fractional bits; layer ``i`` computes
    ``acc = a @ weight[i] + bias[i]`` exactly (float64, bounded like the convolutions
    above), hidden layers output ``clamp(floor(acc * 2**-shift[i]), 0, 2**ACT_BITS)``; the
    first layer's bias depends on (quality, band, pass) (``bias1``); the last layer's
    accumulator (unit ``2**-out_frac``) is the log-scale.
    """

    weights: list[np.ndarray]  # int32, (in, out)
    biases: list[np.ndarray]  # int64; biases[0] is (Q, bands, passes, hidden)
    shifts: list[int]
    out_frac: int

    def __call__(self, feats: np.ndarray, q: int, band: int, anchor_pass: int) -> np.ndarray:
        """feats (N, in) integer-valued float64 -> log-scale accumulators (N,) float64."""
        a = np.asarray(feats, np.float64)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            bias = b[q, band, anchor_pass] if i == 0 else b
            acc = a @ w.astype(np.float64) + bias.astype(np.float64)
            if i + 1 < len(self.weights):
                a = np.clip(np.floor(acc * 2.0 ** -self.shifts[i]), 0, 1 << ACT_BITS)
            else:
                a = acc
        return a[:, 0]

    def float_weights(self) -> dict[str, Any]:
        """The three-layer MLP's weights as the fused kernel reads them (float64 holding
        the integers exactly; layer 2 transposed), converted once per model."""
        f = self.__dict__.get("_float_weights")
        if f is None:
            w = self.weights
            f = {"w1": w[0].astype(np.float64), "b1": self.biases[0].astype(np.float64),
                 "w2t": np.ascontiguousarray(w[1].T, np.float64),
                 "b2": self.biases[1].astype(np.float64),
                 "w3": np.ascontiguousarray(w[2][:, 0], np.float64),
                 "b3": float(self.biases[2][0])}
            self.__dict__["_float_weights"] = f
        return f

    def to_tensors(self, prefix: str = "ctx") -> dict[str, np.ndarray]:
        d: dict[str, np.ndarray] = {f"{prefix}.out_frac": np.array([self.out_frac], np.int64),
                                    f"{prefix}.shifts": np.array(self.shifts, np.int64)}
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            # C order: safetensors writes the buffer as it lies in memory
            d[f"{prefix}.{i}.weight"] = np.ascontiguousarray(w, np.int32)
            d[f"{prefix}.{i}.bias"] = np.ascontiguousarray(b, np.int64)
        return d

    @classmethod
    def from_tensors(cls, t: dict[str, np.ndarray], prefix: str = "ctx") -> "IntMLP":
        ws, bs = [], []
        i = 0
        while f"{prefix}.{i}.weight" in t:
            ws.append(np.asarray(t[f"{prefix}.{i}.weight"]))
            bs.append(np.asarray(t[f"{prefix}.{i}.bias"]))
            i += 1
        return cls(ws, bs, [int(v) for v in t[f"{prefix}.shifts"]], int(t[f"{prefix}.out_frac"][0]))

    def assert_exact_bounds(self, in_max: int) -> None:
        """Every accumulator below 2**53 for inputs ``|f| <= in_max``."""
        for w, b in zip(self.weights, self.biases):
            w64 = np.abs(w.astype(np.int64))
            if w64.max() > 1 << WEIGHT_BITS:
                raise ValueError("integer weight above 2**15")
            bound = int(w64.sum(axis=0).max()) * in_max + int(np.abs(b).max())
            if bound >= 1 << 53:
                raise ValueError(f"accumulator bound {bound} not below 2**53")
            in_max = 1 << ACT_BITS


def _mlp_kernel():  # loaded lazily so that importing this module stays cheap
    from .kernels import mlp_kernel

    return mlp_kernel


_KERNEL = None


def hyper_layer1(mlp: IntMLP, hyper: np.ndarray, n_ctx: int = 8) -> np.ndarray:
    """The first layer's hyper part per cell, ``hyper @ w1[:nh]`` (C, h1), without the
    per-pass bias: the same for every pass of a plane (exact integers in float64)."""
    w1 = mlp.float_weights()["w1"]
    return np.asarray(hyper, np.float64) @ w1[:w1.shape[0] - n_ctx]


def _layer1_parts(mlp: IntMLP, hyper: np.ndarray | None, n_ctx: int, q: int, band: int,
                  anchor_pass: int, hyper_w1: np.ndarray | None = None
                  ) -> tuple[dict[str, Any], np.ndarray, np.ndarray, int]:
    """(float weights, the first layer's hyper part per cell (C, h1; one zero row without
    hyper features), the pass's layer-1 bias (h1,), hyper width): what the fused kernels
    add up, the bias in the kernel (no (C, h1) sum per pass); ``hyper_w1``:
    :func:`hyper_layer1` of ``hyper`` if the caller has it already."""
    if len(mlp.weights) != 3:
        raise ValueError("the fused kernel runs three-layer context MLPs")
    f = mlp.float_weights()
    nh = f["w1"].shape[0] - n_ctx
    bias = f["b1"][q, band, anchor_pass]
    if hyper is None or nh == 0:
        return f, np.zeros((1, bias.size)), bias, nh
    hw = hyper_w1 if hyper_w1 is not None else hyper_layer1(mlp, hyper, n_ctx)
    return f, hw, bias, nh


def band_scale_index(mlp: IntMLP, hyper: np.ndarray, w16: int, shift: int, q: int, band: int,
                     anchor_pass: int, thresholds: np.ndarray, ii: np.ndarray, jj: np.ndarray,
                     planes: tuple[np.ndarray, ...], flags: int, fix: float,
                     hyper_w1: np.ndarray | None = None) -> np.ndarray:
    """:func:`mlp_scale_index` of a detail band's pass whose 8 context features (and hyper
    cells) the kernel computes itself from ``planes`` = (parent, parent box, sibling 0, its
    box, sibling 1, its box, neighbours' logmag) as ``mic.lossy.passes`` defines them:
    the same indexes without the (N, 8) feature array (one pass over the positions);
    ``hyper_w1``: :func:`hyper_layer1` of ``hyper``, computed once per plane by the caller."""
    from .kernels import band_mlp_kernel

    f, hw, bias, nh = _layer1_parts(mlp, hyper, 8, q, band, anchor_pass, hyper_w1)
    out = np.empty(ii.size, np.int32)
    band_mlp_kernel(ii, jj, *planes, flags, fix, shift, w16, hw, bias, f["w1"][nh:],
                    f["w2t"], f["b2"], f["w3"], f["b3"], mlp.shifts[0], mlp.shifts[1],
                    np.ascontiguousarray(thresholds, np.int64), out)
    return out


def mlp_scale_index(mlp: IntMLP, hyper: np.ndarray | None, cells: np.ndarray, ctx: np.ndarray,
                    q: int, band: int, anchor_pass: int, thresholds: np.ndarray) -> np.ndarray:
    """Scale indexes of one pass, fused (Numba): ``hyper`` (C, nh) integer hyper features
    per hyper cell (or None), ``cells`` (N,) the cell of each position, ``ctx`` (N, k)
    integer context features (ACT_FRAC fixed point).  Same result as ``scale_index(mlp(
    concat(hyper[cells], ctx)))`` — every partial sum is an integer below 2**53."""
    global _KERNEL
    if _KERNEL is None:
        _KERNEL = _mlp_kernel()
    f, hw, bias, nh = _layer1_parts(mlp, hyper, ctx.shape[1], q, band, anchor_pass)
    if hyper is None or nh == 0:
        cells = np.zeros(ctx.shape[0], np.int64)
    out = np.empty(ctx.shape[0], np.int32)
    _KERNEL(np.ascontiguousarray(ctx, np.float64), np.ascontiguousarray(cells, np.int64),
            np.ascontiguousarray(hw), bias, np.ascontiguousarray(f["w1"][nh:]), f["w2t"],
            f["b2"], f["w3"], f["b3"], mlp.shifts[0], mlp.shifts[1],
            np.ascontiguousarray(thresholds, np.int64), out)
    return out
