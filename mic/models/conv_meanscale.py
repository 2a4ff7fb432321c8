"""The exact integer entropy path of the conv ``cnn`` (SPEC 6.12): a mean-scale
hyperprior with a parallel checkerboard context (He et al. 2021), frozen to the integer
networks of :mod:`mic.models.intnet`.  NumPy only; the encoder and the decoder both run it,
so that both derive the same means and tables from the same decoded integers.

Per coded plane with hyper-latents ``z`` (nz, h/4, w/4) and latents (M, h, w):

* ``hf = hs(clamp(z, +-2**15) * zk[q])``: the integer hyper-synthesis, ending in a ReLU:
  M hyper features per latent position, ``ACT_FRAC`` fixed point;
* **anchors** (latent positions ``(i + j)`` even) take their (mean, table) from
  ``ep(hf, 0)``: the entropy-parameter network (three 1x1 convolutions) on the hyper
  features and a zero context;
* the decoded anchors ``a = clamp(sym * 2**MEAN_FRAC + mean_int, +-CTX_CLAMP)`` (exact
  integers: ``y_hat * 2**MEAN_FRAC``), zero at the non-anchors, go through ``ctx`` (a 5x5
  convolution, zero padding 2, + ReLU), evaluated only at the **non-anchors**, which take
  their (mean, table) from ``ep(hf, ctx)``;
* ``ep``'s last layer is linear; of its ``2M`` accumulators (unit ``2**-out_frac``) the
  first ``M`` give the means, rounded to the ``2**-MEAN_FRAC`` grid by
  :func:`round_means`, the next ``M`` are log-scales, counted against the thresholds to
  give the Gaussian table index (as the ``vae``'s).

Every accumulator is an integer below ``2**53`` (:meth:`IntMeanScale.check`), so float64
BLAS products compute it exactly in any order: the same means and tables everywhere.

>>> import numpy as np
>>> round_means(np.array([-12.0, -4.0, 3.0, 4.0, 12.0]), out_frac=MEAN_FRAC + 3).tolist()
[-1, 0, 0, 1, 2]
>>> anchor_mask(2, 3).astype(int).tolist()
[[1, 0, 1], [0, 1, 0]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .intnet import ACT_BITS, IntHyperSynthesis

#: fractional bits of the means: ``y_hat * 2**MEAN_FRAC`` is an integer
#: (``mic.train.conv_models.MEAN_FRAC``)
MEAN_FRAC = 3
#: the context convolution's inputs are clamped to ``+-CTX_CLAMP``
#: (``mic.train.conv_models.CTX_CLAMP``)
CTX_CLAMP = 1 << 15


def round_means(acc: np.ndarray, out_frac: int) -> np.ndarray:
    """The means' rounding rule: accumulators (unit ``2**-out_frac``) -> integer means in
    units of ``2**-MEAN_FRAC``, ``floor((acc + 2**(k-1)) * 2**-k)`` with ``k = out_frac -
    MEAN_FRAC >= 1`` (round half up).  Exact in float64 while ``|acc| + 2**(k-1) <
    2**53`` (:meth:`IntMeanScale.check`)."""
    k = int(out_frac) - MEAN_FRAC
    if k < 1:
        raise ValueError(f"ep's output has {out_frac} fractional bits, fewer than "
                         f"MEAN_FRAC + 1 = {MEAN_FRAC + 1}")
    return np.floor((np.asarray(acc, np.float64) + 2.0 ** (k - 1)) * 2.0 ** -k).astype(np.int64)


def anchor_mask(h: int, w: int) -> np.ndarray:
    """(h, w) bool: the anchors, latent positions with ``(i + j)`` even."""
    return (np.add.outer(np.arange(h), np.arange(w)) % 2) == 0


@dataclass
class IntMeanScale:
    """The frozen ``hs``, ``ctx``, ``ep`` of a ``cnn`` weights file, with its thresholds
    (on ``ep``'s log-scale accumulators) and ``zk`` (per quality)."""

    hs: IntHyperSynthesis
    ctx: IntHyperSynthesis
    ep: IntHyperSynthesis
    thresholds: np.ndarray  # (S - 1,) int64
    zk: np.ndarray  # (Q,) int64

    @classmethod
    def from_tensors(cls, t: dict[str, np.ndarray]) -> "IntMeanScale":
        ms = cls(IntHyperSynthesis.from_tensors(t, "hs"), IntHyperSynthesis.from_tensors(t, "ctx"),
                 IntHyperSynthesis.from_tensors(t, "ep"),
                 np.asarray(t["thresholds"], np.int64), np.asarray(t["zk"], np.int64))
        ms.check()
        return ms

    @property
    def m(self) -> int:
        """Latent channels."""
        return int(self.ctx.layers[0].weight.shape[0])

    def check(self) -> None:
        """The shapes the path assumes and the exactness bounds (``ValueError``): ``hs``
        on inputs up to ``2**15 * max(zk)``, ``ctx`` up to ``CTX_CLAMP``, ``ep`` up to
        ``2**ACT_BITS`` (hyper and context features are ReLU outputs); and the means'
        rounding ``|acc| + 2**(k-1) < 2**53``."""
        m = self.m
        hs_l, ctx_l, ep_l = self.hs.layers, self.ctx.layers, self.ep.layers
        ok = (hs_l[-1].relu and len(ctx_l) == 1 and ctx_l[0].relu and not ep_l[-1].relu
              and ctx_l[0].weight.shape == (m, m, 5, 5) and not ctx_l[0].transposed
              and ep_l[0].weight.shape[1] == 2 * m and ep_l[-1].weight.shape[0] == 2 * m
              and (hs_l[-1].weight.shape[1] if hs_l[-1].transposed
                   else hs_l[-1].weight.shape[0]) == m
              and all(ly.weight.shape[2:] == (1, 1) and not ly.transposed for ly in ep_l))
        if not ok:
            raise ValueError("cnn weights: hs, ctx, ep do not have the shapes of SPEC 6.12")
        self.hs.assert_exact_bounds(int(self.zk.max()))
        self.ctx.assert_exact_bounds(in_max=CTX_CLAMP)
        self.ep.assert_exact_bounds(in_max=1 << ACT_BITS)
        k = self.ep.out_frac - MEAN_FRAC
        if k < 1 or self.ep.acc_bound(1 << ACT_BITS) + (1 << (k - 1)) >= 1 << 53:
            raise ValueError("cnn weights: the means' rounding is not exact in float64")

    def ctx_taps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, cols of the 12 taps of a 5x5 window centred on a non-anchor that fall
        on anchors, ``(a + b)`` odd; ctx's weights at them (12 M, M) float64, (tap, c)
        order), built once."""
        got = self.__dict__.get("_ctx_taps")
        if got is None:
            da, db = np.nonzero((np.add.outer(np.arange(5), np.arange(5)) % 2) == 1)
            w = self.ctx.layers[0].weight[:, :, da, db]  # (O, C, 12)
            wt = np.ascontiguousarray(w.transpose(2, 1, 0).reshape(-1, w.shape[0]), np.float64)
            got = self.__dict__["_ctx_taps"] = (da, db, wt)
        return got

    def plane(self, zq: np.ndarray, quality: int) -> "CheckerboardPlane":
        """The per-plane state, from the decoded hyper-latents ``zq`` (nz, h/4, w/4)."""
        return CheckerboardPlane(self, zq, quality)


class CheckerboardPlane:
    """One plane's integer path: :meth:`anchor_params`, then (given the anchors' symbols)
    :meth:`nonanchor_params`; :meth:`assemble` puts both passes back in (M, h, w).
    Symbol arrays of a pass are (M, N): channel-major, positions in C order of (h, w)
    restricted to that pass; flattened, this is the coding order of SPEC 6.12."""

    def __init__(self, ms: IntMeanScale, zq: np.ndarray, quality: int) -> None:
        self.ms = ms
        hf = ms.hs(np.asarray(zq, np.float64), int(ms.zk[quality]))  # (M, h, w)
        m, self.h, self.w = hf.shape
        mask = anchor_mask(self.h, self.w)
        self.anchors = np.flatnonzero(mask)
        self.others = np.flatnonzero(~mask)
        l0 = ms.ep.layers[0]
        w1 = l0.weight[:, :, 0, 0].T.astype(np.float64)  # (2M, ne)
        self.w1_ctx = np.ascontiguousarray(w1[m:])
        # the hyper part of ep's first layer, shared by both passes: (h*w, ne)
        self.h1 = hf.reshape(m, -1).T @ w1[:m] + l0.bias.astype(np.float64)
        self.rest = IntHyperSynthesis(ms.ep.layers[1:], ms.ep.out_frac)
        self.mean_a: np.ndarray | None = None

    def _ep(self, acc1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ep's first-layer accumulators (N, ne) -> (means (M, N) int64 in units of
        2**-MEAN_FRAC, table indexes (M, N) int32)."""
        from ..quant import scale_index

        m = self.ms.m
        out = self.rest.pointwise(IntHyperSynthesis.layer_out(self.ms.ep.layers[0], acc1))
        mean = round_means(out[:, :m], self.ms.ep.out_frac).T
        tab = scale_index(np.ascontiguousarray(out[:, m:].T), self.ms.thresholds)
        return np.ascontiguousarray(mean), tab

    def anchor_params(self) -> tuple[np.ndarray, np.ndarray]:
        """(means, tables) of the anchors: ``ep(hf, 0)``."""
        mean, tab = self._ep(self.h1[self.anchors])
        self.mean_a = mean
        return mean, tab

    def context(self, sym_a: np.ndarray) -> np.ndarray:
        """The ctx features (N_other, M) at the non-anchors from the anchors' symbols (M,
        N_anchor): the 5x5 conv reads only the 12 taps of a non-anchor's window that are
        anchors (the other 13 read zeros, which add nothing)."""
        m, h, w = self.ms.m, self.h, self.w
        ly = self.ms.ctx.layers[0]
        da, db, wt = self.ms.ctx_taps()
        a = np.clip(np.asarray(sym_a, np.float64) * float(1 << MEAN_FRAC) + self.mean_a,
                    -CTX_CLAMP, CTX_CLAMP)
        xp = np.zeros(((h + 4) * (w + 4), m), np.float64)  # zero padding 2, (position, c)
        ia, ja = np.divmod(self.anchors, w)
        xp[(ia + 2) * (w + 4) + ja + 2] = a.T
        io, jo = np.divmod(self.others, w)
        idx = (io[:, None] + da[None]) * (w + 4) + jo[:, None] + db[None]  # (N, 12)
        x = xp[idx].reshape(idx.shape[0], -1)  # (N, 12 * M), (tap, c) order
        return IntHyperSynthesis.layer_out(ly, x @ wt + ly.bias.astype(np.float64))

    def nonanchor_params(self, sym_a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(means, tables) of the non-anchors: ``ep(hf, ctx(decoded anchors))``."""
        if self.mean_a is None:
            raise ValueError("anchor_params() comes first")
        acc1 = self.h1[self.others] + self.context(sym_a) @ self.w1_ctx
        return self._ep(acc1)

    def assemble(self, a: np.ndarray, o: np.ndarray) -> np.ndarray:
        """The two passes' (M, N) arrays back in one (M, h, w) array."""
        out = np.empty((a.shape[0], self.h * self.w), np.result_type(a, o))
        out[:, self.anchors] = a
        out[:, self.others] = o
        return out.reshape(-1, self.h, self.w)


__all__ = ["CTX_CLAMP", "CheckerboardPlane", "IntMeanScale", "MEAN_FRAC", "anchor_mask",
           "round_means"]
