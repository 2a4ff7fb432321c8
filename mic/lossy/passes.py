"""What the encoder and the decoder of a lossy plane do alike (SPEC.md 6.1-6.4, 6.9): the
pass schedule with its context features and scale indexes (:class:`Planes`), the
reconstruction of a decoded plane (inverse gains, inverse wavelet, post-filter), the
colour transform and the samples of a decoded plane, and the tables of a plane's
hyper-latent channels.

>>> checker(2, 3).astype(int).tolist()
[[1, 0, 1], [0, 1, 0]]
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from ..models.intnet import band_scale_index, hyper_layer1
from ..models.kernels import (
    anchor_means_kernel, anchor_pairs_kernel, any_nonzero, box3_kernel, gather_kernel,
    scaled_kernel, scatter_kernel,
)
from ..models.logmag import logmag
from ..models.wavelet import LEVELS, NBANDS
from ..quant.kernels import dq_place, int_vector
from .model import LoadedModel
from .syntax import DQ_ONE, PRED_ONE

#: fractional bits of the context features and activations (SPEC 6.4)
ACT_FRAC = 10
#: orthonormal colour transform (rows: Y, C1, C2) and the offsets centring C1, C2
YCC = np.array([[1, 1, 1], [1, 0, -1], [1, -2, 1]], np.float64) / \
    np.sqrt([3.0, 2.0, 6.0])[:, None]
YCC_OFFSET = np.array([0.0, 0.5, 0.5])


# ----------------------------------------------------------------------------- features
def _logmag(v: np.ndarray) -> np.ndarray:
    return logmag(v, np.int64)


def _box(v: np.ndarray) -> np.ndarray:
    """Sum over each 3x3 neighbourhood, edges replicated (int64)."""
    a = np.ascontiguousarray(v, np.int64)
    out = np.empty_like(a)
    box3_kernel(a, out)
    return out


def _scatter(out: np.ndarray, ii: np.ndarray, jj: np.ndarray, v: np.ndarray) -> None:
    """``out[ii, jj] = v`` (int64 plane, int64 positions) in one kernel."""
    scatter_kernel(out, ii, jj, int_vector(v))


def _gather(x: np.ndarray, ii: np.ndarray, jj: np.ndarray) -> np.ndarray:
    """``x[ii, jj]`` (float64 plane, int64 positions) in one kernel."""
    out = np.empty(ii.size, np.float64)
    gather_kernel(np.asarray(x, np.float64), ii, jj, out)
    return out


def _scaled(x: np.ndarray, s: float) -> np.ndarray:
    """``x.astype(np.float64) * s`` (a 2-D band) in one kernel."""
    out = np.empty(x.shape, np.float64)
    scaled_kernel(x, s, out)
    return out


def _nb4(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    p = np.pad(v, 1, mode="reflect")
    return p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]


def checker(h: int, w: int) -> np.ndarray:
    """True at anchors ((i + j) even)."""
    return (np.add.outer(np.arange(h), np.arange(w)) % 2) == 0


class Planes:
    """The pass structure shared by the encoder and the decoder of one plane.

    ``run(coder, ys)`` visits the passes in coding order; for each it computes the
    integer features of the pass's positions from what is decoded so far, the scale
    indexes and means, and lets ``coder(ys_pass, mu, tab, band) -> q`` code (encoder:
    quantise and encode; decoder: decode) the symbols.  Returns the decoded subbands (band
    order, int64); the coders keep the symbols' CRC.
    """

    #: compute a detail pass's context features inside the scale kernel (False: through
    #: :meth:`_scales`, for subclasses that record the features)
    fused_features = True

    def __init__(self, lm: LoadedModel, quality: int, hp: int, wp: int,
                 bias: np.ndarray | None = None) -> None:
        self.lm, self.q = lm, quality
        self.bias = bias
        self.shapes = [(hp >> LEVELS, wp >> LEVELS)] + [
            (hp >> (lv + 1), wp >> (lv + 1)) for lv in range(LEVELS) for _ in range(3)]

    def _positions(self, h: int, w: int, parity: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of the anchors (parity 0) or non-anchors of an h x w band, C order."""
        return _band_positions(h, w, parity)

    def cells(self, level: int, ii: np.ndarray, jj: np.ndarray) -> np.ndarray:
        """The hyper-feature cell (flat index) that each position (ii, jj) of a band of
        wavelet level ``level`` reads (SPEC 6.4)."""
        w16 = self.h16.shape[2]
        s = 4 - level
        return ((ii >> s) * w16 + (jj >> s)) if s >= 0 else ((2 * ii) * w16 + 2 * jj)

    def _scales(self, level: int, ii: np.ndarray, jj: np.ndarray, ctx: np.ndarray,
                band: int, anchor: bool) -> np.ndarray:
        """Scale indexes at positions (ii, jj) of a band of wavelet level ``level`` with
        context features ``ctx`` (N, 8) (already in ACT_FRAC fixed point)."""
        from ..models.intnet import mlp_scale_index

        lm = self.lm
        hyper = cells = None
        if self.h16 is not None:
            hyper = self.hyper
            cells = self.cells(level, ii, jj)
        tab = mlp_scale_index(lm.mlp, hyper, cells if cells is not None else np.zeros(0),
                              ctx, self.q, band, 0 if anchor else 1, lm.thresholds)
        return self._biased(tab, band, anchor)

    def _band_scales(self, level: int, ii: np.ndarray, jj: np.ndarray,
                     planes: tuple[np.ndarray, ...], flags: int, band: int, anchor: bool
                     ) -> np.ndarray:
        """:meth:`_scales` of a detail band's pass with the context features of ``planes``
        (:func:`_band_ctx`'s inputs): models with hyper features compute features, cells
        and scales in one kernel (:func:`mic.models.intnet.band_scale_index`, the same
        indexes), the others (and subclasses that set ``fused_features = False`` to see
        the features in :meth:`_scales`) through the feature array."""
        if self.h16 is None or not self.fused_features:
            return self._scales(level, ii, jj, _band_ctx(ii, jj, *planes, flags), band, anchor)
        lm = self.lm
        if self._hyper_w1 is None:  # the first layer's hyper part: once per plane
            self._hyper_w1 = hyper_layer1(lm.mlp, self.hyper)
        tab = band_scale_index(lm.mlp, self.hyper, self.h16.shape[2], 4 - level, self.q, band,
                               0 if anchor else 1, lm.thresholds, ii, jj, planes, flags, _FIX,
                               self._hyper_w1)
        return self._biased(tab, band, anchor)

    def _biased(self, tab: np.ndarray, band: int, anchor: bool) -> np.ndarray:
        """The scale indexes ``tab`` of a pass with the plane's table bias of its band (or
        pass) added, clamped to the tables (SPEC 6.4)."""
        if self.bias is not None:
            lm = self.lm
            k = band if (anchor or band == 0 or self.bias.size == NBANDS) else NBANDS - 1 + band
            if self.bias[k]:
                tab = np.clip(tab + int(self.bias[k]), 0, len(lm.ybank) - 1).astype(np.int32)
        return tab

    def run(self, coder, ll_mean: int, h16: np.ndarray | None,  # noqa: ANN001
            ys: list[np.ndarray] | None = None, ll_table=None,  # noqa: ANN001
            predictor=None, dq_unit: int = 0) -> list[np.ndarray]:  # noqa: ANN001
        """``ll_table(residuals or None) -> table index`` codes the LL anchors' table (the
        encoder chooses it from the residuals, the decoder reads it).  ``predictor(band,
        pairs, y or None, tab) -> weights or None`` (only for tiles with XFORM_MEANS)
        codes each detail band's mean-predictor record before its non-anchor pass: the
        encoder fits and chooses it from the pass's values ``y``, the decoder reads it;
        a band whose anchors are all zero has no record (nothing to predict from).
        The means are passed to ``coder`` in symbol units (a detail pass's as None when
        ``ys`` is None: the decoder's coder only reads symbols); a band coded with a predictor
        is returned as float64 (its non-anchors ``q + mu``), the others as int64.
        ``dq_unit`` (tiles with XFORM_DQ: DQ_UNIT) decodes every detail symbol as a level
        of the dependent quantiser (SPEC 6.8); those bands are float64 too."""

        ctx = self.lm.uses_context
        self.h16 = h16
        self.hyper = None if h16 is None else np.ascontiguousarray(h16.reshape(h16.shape[0], -1).T)
        self._hyper_w1: np.ndarray | None = None
        yhat: list[np.ndarray] = [None] * NBANDS  # type: ignore[list-item]

        # LL band: anchors row by row, each predicted from the previous row's anchors,
        # all with one table chosen by the encoder (SPEC 6.4)
        h, w = self.shapes[0]
        anc = checker(h, w)
        y = ys[0] if ys is not None else None
        out = np.zeros((h, w), np.int64)
        if y is not None:  # encoder: the anchors are round(y) whatever the means (integers)
            target = np.rint(y).astype(np.int64)
            res = np.concatenate([target[i, i % 2::2] - _ll_pred(target, i, ll_mean)
                                  for i in range(h)])
            t_ll = ll_table(res)
        else:
            t_ll = ll_table(None)
        for i in range(h):
            js = np.arange(i % 2, w, 2)
            if js.size:
                mu_i = _ll_pred(out, i, ll_mean)
                tab = np.full(js.size, t_ll, np.int32)
                out[i, js] = coder(y[i, js] if y is not None else None, mu_i, tab, -1) + mu_i
        ii, jj = self._positions(h, w, 1)
        u, d, lf, r = _nb4(np.where(anc, out, 0))
        u, d, lf, r = u[ii, jj], d[ii, jj], lf[ii, jj], r[ii, jj]
        mu = (u + d + lf + r + 2) // 4  # every kind: the mean of the 4 decoded anchors
        feats = np.zeros((ii.size, 8), np.float64)
        if ctx:
            rng = np.maximum(np.maximum(u, d), np.maximum(lf, r)) - \
                np.minimum(np.minimum(u, d), np.minimum(lf, r))
            feats[:, 6] = _logmag(rng) * _FIX
            feats[:, 7] = _logmag(np.abs(u - d) + np.abs(lf - r)) * _FIX
        tab = self._scales(LEVELS, ii, jj, feats, 0, False)
        out[ii, jj] = coder(y[ii, jj] if y is not None else None, mu, tab, 0) + mu
        yhat[0] = out
        # detail bands, coarse to fine
        empty = np.zeros((1, 1), np.int64)
        lm_prev: list[np.ndarray] | None = None
        box_here: list[np.ndarray] = []  # _box of lm_here[0], lm_here[1]: each box once
        for lv in range(LEVELS - 1, -1, -1):
            lm_here: list[np.ndarray] = []
            box_here = []
            for o in range(3):
                b = 1 + 3 * lv + o
                h, w = self.shapes[b]
                y = ys[b] if ys is not None else None
                flags = 0
                p = pb = s0 = s0b = s1 = s1b = empty
                if ctx:
                    if lm_prev is not None:
                        p, pb, flags = lm_prev[o], _box(lm_prev[o]), flags | 1
                    if o >= 1:
                        if not box_here:
                            box_here.append(_box(lm_here[0]))
                        s0, s0b, flags = lm_here[0], box_here[0], flags | 2
                    if o >= 2:
                        box_here.append(_box(lm_here[1]))
                        s1, s1b, flags = lm_here[1], box_here[1], flags | 4
                out = np.zeros((h, w), np.int64)
                fine = None
                for parity in (0, 1):
                    ii, jj = self._positions(h, w, parity)
                    lma = _logmag(out) if (ctx and parity == 1) else empty
                    fl = flags | (8 if (ctx and parity == 1) else 0)
                    tab = self._band_scales(lv + 1, ii, jj, (p, pb, s0, s0b, s1, s1b, lma),
                                            fl, b, parity == 0)
                    yp = _gather(y, ii, jj) if y is not None else None
                    weights = None
                    if predictor is not None and parity == 1 and any_nonzero(out):
                        # (all-zero anchors: no record); the encoder fits from the pairs
                        pairs = anchor_pairs(out, ii, jj) if y is not None else None
                        weights = predictor(b, pairs, yp, tab)
                    if weights is None and not dq_unit:
                        _scatter(out, ii, jj, coder(yp, np.zeros(ii.size, np.int64), tab, b))
                        continue
                    mu = np.zeros(ii.size, np.int64) if weights is None else \
                        anchor_means(out, ii, jj, weights)  # 1 / PRED_ONE
                    # (the decoder's coder needs no means: it only reads symbols)
                    mu_sym = None if y is None else \
                        (np.zeros(ii.size) if weights is None else mu / PRED_ONE)
                    k = coder(yp, mu_sym, tab, b)
                    if fine is None:  # (before the anchors' pass the band is all zeros)
                        fine = np.zeros(out.shape) if parity == 0 else out.astype(np.float64)
                    if dq_unit:  # values in 1 / DQ_ONE (SPEC 6.8)
                        dq_place(k, mu, dq_unit, DQ_ONE // PRED_ONE, DQ_ONE, ii, jj, out, fine)
                        continue
                    v = k.astype(np.int64) * PRED_ONE + mu
                    out[ii, jj] = np.sign(v) * ((np.abs(v) + PRED_ONE // 2) // PRED_ONE)
                    fine[ii, jj] = v / PRED_ONE
                yhat[b] = out if fine is None else fine
                lm_here.append(_logmag(out) if ctx else out)
            lm_prev = lm_here
        return yhat


#: the band positions kept, at most this many bytes, least recently used dropped first (the
#: shapes come from the streams' tile sizes: an unbounded cache would grow with whatever a
#: decoder is fed); 64 MB hold every band of about three 2048 x 2048 tile shapes
POSITIONS_CACHE_BYTES = 64 << 20
_positions_cache: OrderedDict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = \
    OrderedDict()
_positions_bytes = 0
_positions_lock = threading.Lock()


def _band_positions(h: int, w: int, parity: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the anchors (parity 0) or non-anchors of an h x w band, C order;
    shared between calls (never written), from a small LRU cache."""
    global _positions_bytes
    key = (h, w, parity)
    with _positions_lock:
        got = _positions_cache.get(key)
        if got is not None:
            _positions_cache.move_to_end(key)
            return got
    ii, jj = np.nonzero(checker(h, w) == (parity == 0))
    got = (ii.astype(np.int64), jj.astype(np.int64))
    size = got[0].nbytes + got[1].nbytes
    if size > POSITIONS_CACHE_BYTES // 4:
        return got
    with _positions_lock:
        if key not in _positions_cache:
            _positions_cache[key] = got
            _positions_bytes += size
            while _positions_bytes > POSITIONS_CACHE_BYTES:
                _, (a, b) = _positions_cache.popitem(last=False)
                _positions_bytes -= a.nbytes + b.nbytes
    return got


def positions_cache_bytes() -> int:
    """Bytes the positions cache holds now."""
    return _positions_bytes


def anchor_pairs(out: np.ndarray, ii: np.ndarray, jj: np.ndarray) -> np.ndarray:
    """(N, 2) int64: for the non-anchors (ii, jj) of a band whose anchors ``out`` holds,
    the sums of the left + right and of the upper + lower anchors (mirrored at the
    borders, where the mirror of a non-anchor's neighbour is again an anchor)."""
    res = np.empty((ii.size, 2), np.int64)
    anchor_pairs_kernel(np.ascontiguousarray(out, np.int64), ii, jj, res)
    return res


def anchor_means(out: np.ndarray, ii: np.ndarray, jj: np.ndarray, weights: np.ndarray
                 ) -> np.ndarray:
    """(N,) int64: ``anchor_pairs(out, ii, jj) @ weights``, the mean predictor's means in
    1 / PRED_ONE, in one pass without the pairs."""
    res = np.empty(ii.size, np.int64)
    anchor_means_kernel(np.ascontiguousarray(out, np.int64), ii, jj, int(weights[0]),
                        int(weights[1]), res)
    return res


_FIX = float(1 << (ACT_FRAC - 4))  # logmag (4 fractional bits) -> ACT_FRAC fixed point
_ctx_kernel = None


def _band_ctx(ii: np.ndarray, jj: np.ndarray, p: np.ndarray, pb: np.ndarray, s0: np.ndarray,
              s0b: np.ndarray, s1: np.ndarray, s1b: np.ndarray, lma: np.ndarray,
              flags: int) -> np.ndarray:
    """Context features c_1..c_8 (SPEC 6.4) of a detail band at positions (ii, jj), in
    ACT_FRAC fixed point: flags 1 parent (p, pb at half resolution), 2 sibling 0, 4 sibling
    1, 8 neighbours (logmag of the decoded anchors ``lma``, mirrored at the borders)."""
    global _ctx_kernel
    if _ctx_kernel is None:
        import numba as nb

        @nb.njit(cache=True, nogil=True)
        def k(ii, jj, p, pb, s0, s0b, s1, s1b, lma, flags, fix, out):  # pragma: no cover
            h, w = lma.shape
            for n in range(ii.size):
                i, j = ii[n], jj[n]
                if flags & 1:
                    out[n, 0] = p[i >> 1, j >> 1] * fix
                    out[n, 1] = pb[i >> 1, j >> 1] * fix
                if flags & 2:
                    out[n, 2] = s0[i, j] * fix
                    out[n, 3] = s0b[i, j] * fix
                if flags & 4:
                    out[n, 4] = s1[i, j] * fix
                    out[n, 5] = s1b[i, j] * fix
                if flags & 8:
                    iu = i - 1 if i > 0 else (1 if h > 1 else 0)
                    idn = i + 1 if i + 1 < h else (h - 2 if h > 1 else 0)
                    jl = j - 1 if j > 0 else (1 if w > 1 else 0)
                    jr = j + 1 if j + 1 < w else (w - 2 if w > 1 else 0)
                    a, b, c, d = lma[iu, j], lma[idn, j], lma[i, jl], lma[i, jr]
                    out[n, 6] = (a + b + c + d) * fix
                    out[n, 7] = max(max(a, b), max(c, d)) * fix

        _ctx_kernel = k
    out = np.zeros((ii.size, 8), np.float64)
    _ctx_kernel(ii, jj, p, pb, s0, s0b, s1, s1b, lma, flags, _FIX, out)
    return out


def _ll_pred(v: np.ndarray, i: int, ll_mean: int) -> np.ndarray:
    """Prediction of the LL anchors of row ``i`` (columns ``i % 2, i % 2 + 2, ...``) from
    the decoded anchors of row ``i - 1`` (its diagonal neighbours), else of row ``i - 2``,
    else ``ll_mean``: the rounded-down mean of the available ones."""
    from ..models.kernels import ll_pred_kernel

    out = np.empty((v.shape[1] - i % 2 + 1) // 2, np.int64)
    ll_pred_kernel(np.ascontiguousarray(v, np.int64), i, ll_mean, out)
    return out


def reconstruct(lm: LoadedModel, quality: int, yhat: list[np.ndarray]) -> np.ndarray:
    """Decoded subbands -> float plane in normalised units (padded size)."""
    from ..models.wavelet import idwt97

    inv = np.exp(-lm.log_gain[quality] + lm.log_shrink_of(quality))
    sc = [_scaled(yhat[b], float(inv[b] / lm.norms[b])) for b in range(NBANDS)]
    bands = [tuple(sc[1 + 3 * lv + o] for o in range(3)) for lv in range(LEVELS)]
    x = idwt97(sc[0], bands) + 0.5
    if lm.post is not None:
        x = lm.post(x, quality, lm.step_scale(quality))
    return x


def z_channels(rec: np.ndarray | None, lm: LoadedModel, n: int) -> list[tuple[Any, int, int]]:
    """(bank, table, offset) of each hyper-latent channel: its own factorized table, or
    the record's table of the latents' bank about its offset."""
    return [(lm.ybank, int(rec[c, 2]), int(rec[c, 1])) if rec is not None and rec[c, 0]
            else (lm.zbank, c, 0) for c in range(n)]


def to_samples(x: np.ndarray, scale: float, lo: int, rng: tuple[int, int]) -> np.ndarray:
    """A decoded float plane -> int32 samples clipped to the header's range ``rng``:
    ``clip(rint(x * scale + lo))``, in one Numba pass."""
    from ..models.kernels import to_samples_kernel

    x = np.asarray(x, np.float64)
    out = np.empty(x.shape, np.int32)
    to_samples_kernel(x, float(scale), float(lo), float(rng[0]), float(rng[1]), out)
    return out


def rgb_to_samples(ycc: np.ndarray, scale: float, lo: list[int],
                 rng: tuple[int, int]) -> np.ndarray:
    """Decoded Y, C1, C2 float planes (h, w, 3) -> int32 R, G, B samples (SPEC 6.1)."""
    rgb = (ycc - YCC_OFFSET) @ YCC  # YCC is orthonormal: its inverse is its transpose
    return np.stack([to_samples(rgb[:, :, c], scale, lo[c], rng) for c in range(3)], -1)


__all__ = ["ACT_FRAC", "YCC", "YCC_OFFSET", "Planes", "anchor_pairs", "checker", "reconstruct",
           "rgb_to_samples", "to_samples", "z_channels"]
