"""The lossy encoder's estimates and searches (rate-distortion helpers): ideal bits of
values under the frozen tables, the mean predictors' fit (SPEC 6.4), the table biases'
choice (SPEC 6.4), the hyper-latent record's choice (SPEC 6.9) and the subband-bits
estimate behind ``zopt``.  Encoder only.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np

from ..bitstream.varint import zigzag_array
from ..models.wavelet import NBANDS
from ..quant.kernels import int_vector
from .model import LoadedModel
from .passes import Planes
from .syntax import BIAS_MAX, DQ_ONE, DQ_UNIT, NPASS_BIAS, PRED_ONE, ZOFF_MAX


@nb.njit(cache=True, nogil=True, inline="always")
def _value_cost(v, L, base, cost):  # pragma: no cover - numba
    """(bits of value ``v``'s symbol under the table at ``cost[base:]`` of half-width
    ``L``, the escape symbol beyond it; -1 inside the table, else the ``k - 1`` extra bits
    of its escape code, ``k`` the bit length of the zigzagged value, SPEC 6.3)."""
    if -L <= v <= L:
        return cost[base + v + L], -1
    z = 2 * v if v >= 0 else -2 * v - 1
    k = 0
    while z > 0:
        z >>= 1
        k += 1
    return cost[base + 2 * L + 1], max(k - 1, 0)


@nb.njit(cache=True, nogil=True)
def _symbol_costs(q, tab, half, offsets, cost, out):  # pragma: no cover - numba
    """``out[i]`` = the ideal bits of value ``q[i]``'s symbol under table ``tab[i]`` (the
    escape symbol beyond the table); returns (escapes, the sum of their extra bits)."""
    n_esc = 0
    extra = 0
    for i in range(q.size):
        t = tab[i]
        c, x = _value_cost(np.int64(q[i]), half[t], offsets[t], cost)
        out[i] = c
        if x >= 0:
            n_esc += 1
            extra += x
    return n_esc, extra


def coded_bits(q: np.ndarray, tab: np.ndarray, bank) -> float:  # noqa: ANN001 - ModelBank
    """Ideal bits of the integer values ``q``, element i under table ``tab[i]`` of
    ``bank``: the symbols (escape symbol included) and the escape coding.  The symbols'
    costs come from one Numba pass (no GIL held) and are summed by NumPy, as
    :func:`mic.entropy.information_bits` sums them; the escapes as
    :func:`mic.entropy.escape_bits` counts them."""
    q1 = np.ascontiguousarray(q, np.int32).reshape(-1)
    tab1 = int_vector(tab)
    costs = np.empty(q1.size)
    n_esc, extra = _symbol_costs(q1, tab1, bank.half64, bank.cost_offsets,
                                 bank.information_costs, costs)
    esc_bits = float(np.log2(33.0) * n_esc + extra) if n_esc else 0.0
    return float(np.sum(costs)) + esc_bits


def bits_each(q: np.ndarray, tab: np.ndarray, tables) -> np.ndarray:  # noqa: ANN001
    """Bits of each value ``q`` (int64) under its own table ``tab`` of ``tables`` (a
    TableSet): its symbol, and beyond the table the escape symbol plus its escape code
    (SPEC 6.3: the bit length k of zigzag(q) as Uniform(33), then k - 1 bits; frexp's
    exponent is that bit length, exactly, for these integers)."""
    from ..entropy import FREQ_BITS

    half = tables.half[tab].astype(np.int64)
    inside = np.abs(q) <= half
    sym = np.where(inside, q + half, 2 * half + 1)
    bits = FREQ_BITS - np.log2(tables.flat[tables.offsets[tab] + sym].astype(np.float64))
    if not inside.all():
        k = np.frexp(zigzag_array(q[~inside], np.uint32).astype(np.float64))[1]
        bits[~inside] += np.log2(33.0) + np.maximum(k - 1, 0)
    return bits


def _value_bits_under(v: np.ndarray, tables, t: int) -> np.ndarray:  # noqa: ANN001 - TableSet
    """Bits of each value ``v`` (int64) under table ``t`` of ``tables``: its symbol, and
    for a value beyond the table the escape symbol plus its escape code."""
    return bits_each(v, np.full(v.shape, t, np.int64), tables)


def table_costs(res: np.ndarray, tables) -> np.ndarray:  # noqa: ANN001 - TableSet
    """Bits of the values ``res`` under each table of ``tables`` (escapes included): the
    (tables, values) matrix of :func:`_value_bits_under`'s bits in one pass, each row
    summed as that function's result would be."""
    from ..entropy import FREQ_BITS

    res = np.asarray(res, np.int64).reshape(-1)
    half = tables.half.astype(np.int64)[:, None]
    inside = np.abs(res)[None, :] <= half
    sym = np.where(inside, res[None, :] + half, 2 * half + 1)
    bits = FREQ_BITS - np.log2(tables.flat[tables.offsets[:len(tables.half), None] + sym]
                               .astype(np.float64))
    if not inside.all():
        out = ~inside
        k = np.frexp(zigzag_array(res, np.uint32).astype(np.float64))[1]
        esc = np.log2(33.0) + np.maximum(k - 1, 0)
        bits[out] += np.broadcast_to(esc, bits.shape)[out]
    return bits.sum(axis=1)


@nb.njit(cache=True, nogil=True)
def _normal_sums(pairs, u):  # pragma: no cover - numba
    """(a'a [0,0], [0,1], [1,1], a'u [0], [1]) of the float64 columns ``a`` of ``pairs``:
    the two-weight fit's normal equations in one pass (a'a: integer sums, exact in any
    order)."""
    g00 = g01 = g11 = r0 = r1 = 0.0
    for n in range(u.size):
        a0 = float(pairs[n, 0])
        a1 = float(pairs[n, 1])
        g00 += a0 * a0
        g01 += a0 * a1
        g11 += a1 * a1
        r0 += a0 * u[n]
        r1 += a1 * u[n]
    return g00, g01, g11, r0, r1


@nb.njit(cache=True, nogil=True)
def _predicted_costs(u, pairs, w0, w1, one, tab, half, offsets, cost, out0, out1
                     ):  # pragma: no cover - numba
    """:func:`_symbol_costs` of ``rint(u)`` into ``out0`` and of ``rint(u - mu)``, ``mu =
    (pairs @ (w0, w1)) / one``, into ``out1`` (the same operations as the NumPy
    expressions), in one pass; returns both (escapes, extra bits)."""
    e0 = x0 = e1 = x1 = 0
    for i in range(u.size):
        t = tab[i]
        mu = (pairs[i, 0] * w0 + pairs[i, 1] * w1) / one
        c, x = _value_cost(np.int64(np.rint(u[i])), half[t], offsets[t], cost)
        out0[i] = c
        if x >= 0:
            e0 += 1
            x0 += x
        c, x = _value_cost(np.int64(np.rint(u[i] - mu)), half[t], offsets[t], cost)
        out1[i] = c
        if x >= 0:
            e1 += 1
            x1 += x
    return e0, x0, e1, x1


def fit_predictor(pairs: np.ndarray, u: np.ndarray, tab: np.ndarray, bank  # noqa: ANN001
                  ) -> np.ndarray | None:
    """The mean-predictor weights (int64 (2,), in 1 / PRED_ONE) of a non-anchor pass whose
    values in symbol units are ``u``, from the anchor sums ``pairs`` (see
    :func:`mic.lossy.passes.anchor_pairs`): least squares, rounded and clipped to the
    record's range; or None where coding ``round(u - mu)`` under the pass's tables ``tab``
    of ``bank`` would not save more information than the weights cost (14 bits).  The sums
    and the per-symbol bits come from Numba passes (no GIL held); the bits are summed as
    :func:`coded_bits` sums them."""
    pairs = np.ascontiguousarray(pairs, np.int64)
    u = np.ascontiguousarray(u, np.float64).reshape(-1)
    if u.size < 2:
        return None
    g00, g01, g11, r0, r1 = _normal_sums(pairs, u)
    if g00 == 0.0 and g11 == 0.0:  # every anchor sum zero
        return None
    # two unknowns: the normal equations in closed form (about ten times faster than an
    # SVD, and the same rounded weights: 3,000 random fits with correlated columns agreed),
    # the SVD where they are near singular
    det = g00 * g11 - g01 * g01
    if det > 1e-9 * g00 * g11:
        c = np.array([(r0 * g11 - g01 * r1) / det, (g00 * r1 - g01 * r0) / det])
    else:
        c, *_ = np.linalg.lstsq(pairs.astype(np.float64), u, rcond=None)
    weights = np.clip(np.rint(c * PRED_ONE), -PRED_ONE, PRED_ONE - 1).astype(np.int64)
    if not weights.any():
        return None
    out0 = np.empty(u.size)
    out1 = np.empty(u.size)
    e0, x0, e1, x1 = _predicted_costs(
        u, pairs, int(weights[0]), int(weights[1]), float(PRED_ONE),
        int_vector(tab), bank.half64, bank.cost_offsets,
        bank.information_costs, out0, out1)
    plain = float(np.sum(out0)) + (float(np.log2(33.0) * e0 + x0) if e0 else 0.0)
    predicted = float(np.sum(out1)) + (float(np.log2(33.0) * e1 + x1) if e1 else 0.0)
    return weights if plain - predicted > 14.0 else None


#: hyper-latent values (after the offset) whose bits under every latents' table are kept
#: in a lookup (the encoder's record choice); rarer ones are costed directly
ZBITS_SPAN = 64


def _value_bits(lm: LoadedModel) -> np.ndarray:
    """(S, 2 ZBITS_SPAN + 1): bits of each value -ZBITS_SPAN..ZBITS_SPAN under each table
    of the latents' bank, escapes included."""
    got = lm.derived.get("zbits")
    if got is None:  # (two threads may both compute it: the same array)
        tables = lm.ybank.tables
        v = np.arange(-ZBITS_SPAN, ZBITS_SPAN + 1)
        got = lm.derived.setdefault("zbits", np.stack(
            [_value_bits_under(v, tables, t) for t in range(len(tables.half))]))
    return got


def _z_channel_side_bits(lm: LoadedModel) -> float:
    """Bits of a used channel's offset and table in the record (SPEC 6.9), once per model."""
    got = lm.derived.get("zside")
    if got is None:
        got = lm.derived.setdefault("zside", float(np.log2(2 * ZOFF_MAX + 1)
                                                   + np.log2(len(lm.ybank.tables.half))))
    return got


def z_record_bits(rec: np.ndarray, lm: LoadedModel) -> float:
    """Bits of the record ``rec``: ``any``, and if set the ``use`` bits and the used
    channels' offsets and tables."""
    k = int(rec[:, 0].sum())
    return 1.0 + (0.0 if not k else rec.shape[0] + k * _z_channel_side_bits(lm))


def z_channel_choice(v: np.ndarray, c: int, lm: LoadedModel) -> tuple[float, float, int, int]:
    """(bits under its learned prior, least bits about an offset under a latents' table
    with the offset and table in the record, that offset, that table) of the values ``v``
    (int64) of hyper-latent channel ``c``: the offset is tried at the median and one
    either side (:func:`_z_offset_choices`; a channel too spread for the lookup keeps its
    prior: inf)."""
    v = np.asarray(v, np.int64).reshape(1, -1)
    base = coded_bits(v, np.full(v.size, c, np.int32), lm.zbank)
    best, offs, tabs = np.empty(1), np.empty(1, np.int64), np.empty(1, np.int64)
    _z_offset_choices(v, np.array([int(np.median(v))]), _value_bits(lm), ZBITS_SPAN, ZOFF_MAX,
                      _z_channel_side_bits(lm), best, offs, tabs)
    return base, float(best[0]), int(offs[0]), int(tabs[0])


def z_channel_choices(zq: np.ndarray, lm: LoadedModel) -> list[tuple[float, float, int, int]]:
    """:func:`z_channel_choice` of every channel of ``zq`` (n, ...), the same numbers: the
    bits under the learned priors and the medians of all channels at once (each row
    summed as one channel's array would be), the offsets channel by channel."""
    z = zq.reshape(zq.shape[0], -1).astype(np.int64)
    t = lm.zbank.tables
    n = z.shape[0]
    half = t.half[:n].astype(np.int64)[:, None]
    inside = np.abs(z) <= half
    sym = np.where(inside, z + half, 2 * half + 1)
    info = lm.zbank.information_costs[t.offsets[:n, None] + sym].sum(axis=1)  # coded_bits'
    esc_k = np.frexp(zigzag_array(z, np.uint32).astype(np.float64))[1]
    n_esc = (~inside).sum(axis=1)
    esc_extra = np.where(inside, 0, np.maximum(esc_k - 1, 0)).sum(axis=1)
    meds = np.median(z, axis=1).astype(np.int64)  # int(): towards zero
    best = np.empty(n)
    offs = np.empty(n, np.int64)
    tabs = np.empty(n, np.int64)
    _z_offset_choices(z, meds, _value_bits(lm), ZBITS_SPAN, ZOFF_MAX,
                      _z_channel_side_bits(lm), best, offs, tabs)
    out = []
    for c in range(n):
        base = float(info[c]) + (float(np.log2(33.0) * int(n_esc[c]) + int(esc_extra[c]))
                                 if n_esc[c] else 0.0)
        out.append((base, float(best[c]), int(offs[c]), int(tabs[c])))
    return out


@nb.njit(cache=True, nogil=True)
def _z_offset_choices(z, meds, zbits, span, zoff_max, side, best, offs, tabs
                      ):  # pragma: no cover - numba
    """For every row of ``z`` (n, L) int64 with median ``meds``, into ``best``, ``offs``,
    ``tabs``: the least bits about an offset under a latents' table with the offset and
    table in the record (``side`` bits), that offset, that table.  The offset is tried at
    the median and one either side; the bits of each value (``zbits``, :func:`_value_bits`)
    are summed value by value for every table, and the first cheapest table is kept; a
    row too spread for the lookup keeps inf.  No GIL held."""
    n, size = z.shape
    n_tab = zbits.shape[0]
    counts = np.zeros(2 * span + 1, np.int64)
    costs = np.empty(n_tab)
    for c in range(n):
        lo = z[c, 0]
        hi = z[c, 0]
        for i in range(size):
            lo = min(lo, z[c, i])
            hi = max(hi, z[c, i])
        b, bm, bt = np.inf, 0, 0
        for m in range(max(-zoff_max, meds[c] - 1), min(zoff_max, meds[c] + 1) + 1):
            if max(abs(lo - m), abs(hi - m)) > span:
                continue  # a channel this spread keeps its own table
            counts[:] = 0
            for i in range(size):
                counts[z[c, i] - m + span] += 1
            costs[:] = 0.0
            for v in range(2 * span + 1):
                k = counts[v]
                if k:
                    for t in range(n_tab):
                        costs[t] += zbits[t, v] * k
            t = 0
            for j in range(1, n_tab):
                if costs[j] < costs[t]:
                    t = j
            if costs[t] + side < b:
                b, bm, bt = costs[t] + side, m, t
        best[c] = b
        offs[c] = bm
        tabs[c] = bt


def z_record_from(choices: list[tuple[float, float, int, int]], lm: LoadedModel
                  ) -> tuple[np.ndarray, float]:
    """The record and its net saving in bits from the channels' :func:`z_channel_choice`."""
    rec = np.zeros((len(choices), 3), np.int64)
    saved = 0.0
    for c, (base, cost, m, t) in enumerate(choices):
        if cost < base:
            rec[c] = (1, m, t)
            saved += base - cost
    return rec, saved - z_record_bits(rec, lm)


def choose_z_tables(zq: np.ndarray, lm: LoadedModel) -> tuple[np.ndarray, float]:
    """The encoder's hyper-latent record (SPEC 6.9) and the ideal bits it saves net of its
    own: (n, 3) int64 rows ``(use, m, t)``; a channel is coded as ``z - m`` under the
    latents' table ``t`` (``use`` = 1) where that saves more bits than the offset and
    table cost (:func:`z_channel_choice`)."""
    return z_record_from(z_channel_choices(zq, lm), lm)


def best_biases(record: list, lm: LoadedModel, per_pass: bool = False
                ) -> tuple[np.ndarray, float]:
    """Per band (``per_pass``: per pass, NPASS_BIAS entries), the table bias in
    [-BIAS_MAX, BIAS_MAX] that codes the recorded symbols (band, q, table; a detail band's
    anchors before its non-anchors) in the fewest ideal bits, and the bits that saves net
    of coding the biases."""
    from ..entropy.shape import small_bits

    bias = np.zeros(NPASS_BIAS if per_pass else NBANDS, np.int64)
    saved = 0.0
    n_tab = len(lm.ybank)
    by_key: dict[int, list] = {}
    passes: dict[int, int] = {}
    for band, q, tab in record:
        n = passes[band] = passes.get(band, 0) + 1
        key = NBANDS - 1 + band if (per_pass and band > 0 and n % 2 == 0) else band
        by_key.setdefault(key, []).append((q, tab))
    for key, parts in by_key.items():
        q = np.concatenate([p[0] for p in parts]).astype(np.int32)
        tab = np.concatenate([p[1] for p in parts]).astype(np.int32)
        costs = [coded_bits(q, np.clip(tab + d, 0, n_tab - 1).astype(np.int32), lm.ybank)
                 for d in range(-BIAS_MAX, BIAS_MAX + 1)]
        k = int(np.argmin(costs))
        bias[key] = k - BIAS_MAX
        saved += costs[BIAS_MAX] - costs[k]
    return bias, saved - small_bits(bias)


class SubbandBits:
    """The encoder's estimate of a plane's subband bits under the tables that given
    hyper-latents select (``zopt``): the values rounded plainly (detail bands at the
    dependent quantiser's mean level spacing when it is on), so they and their context
    features do not depend on the hyper-latents and are computed once; a trial recomputes
    the hyper features and the table indexes only of the positions whose hyper-feature
    cell changed (the LL anchors, whose table does not depend on them, are left out)."""

    def __init__(self, lm: LoadedModel, qual: int, dq: bool, ys: list[np.ndarray], hp: int,
                 wp: int, zq: np.ndarray) -> None:
        """``dq``: the detail bands are coded with the dependent quantiser."""
        self.lm, self.q, self.zk = lm, qual, int(lm.zk[qual])
        self.h16 = lm.hs(zq.astype(np.float64), self.zk)
        shrink = np.exp(lm.log_shrink_of(qual))
        spacing = 2.0 * DQ_UNIT / DQ_ONE if dq else 1.0
        passes: list[list] = []

        class _Recorder(Planes):
            fused_features = False  # the features are kept for the trials

            def _scales(self, level, ii, jj, ctx, band, anchor):  # noqa: ANN001, ANN202
                tab = super()._scales(level, ii, jj, ctx, band, anchor)
                passes.append([self.cells(level, ii, jj), np.array(ctx), band,
                               0 if anchor else 1, tab])
                return tab

        def coder(yv: np.ndarray, mu: np.ndarray, tab: np.ndarray, band: int) -> np.ndarray:
            if band < 0:
                return np.rint(yv - mu).astype(np.int64)
            step = float(shrink[band]) * (spacing if band >= 1 else 1.0)
            q = np.rint(yv / step - mu).astype(np.int64)
            passes[-1].append(q)
            return q

        _Recorder(lm, qual, hp, wp).run(coder, int(np.rint(ys[0].mean())), self.h16, ys,
                                        lambda res: 0)
        #: per pass, fixed: (cells, context features, band, pass, values); current:
        #: the table indexes and each value's bits under them
        self.passes = [(cells, ctx, band, npass, q) for cells, ctx, band, npass, _, q in passes]
        self.tabs = [tab for *_, tab, _ in passes]
        self.bits = [bits_each(q, tab, lm.ybank.tables) for *_, tab, q in passes]
        self.total = float(sum(b.sum() for b in self.bits))

    def trial(self, zq: np.ndarray) -> tuple[float, Any]:
        """(estimated subband bits under the tables of ``zq``, the change to keep it)."""
        from ..models.intnet import mlp_scale_index

        lm = self.lm
        h16 = lm.hs(zq.astype(np.float64), self.zk)
        moved = (h16 != self.h16).any(axis=0).reshape(-1)
        total, news = self.total, []
        if moved.any():
            hyper = np.ascontiguousarray(h16.reshape(h16.shape[0], -1).T)
            for k, (cells, ctx, band, npass, q) in enumerate(self.passes):
                m = moved[cells]
                if m.any():
                    tab = mlp_scale_index(lm.mlp, hyper, cells[m], ctx[m], self.q, band,
                                          npass, lm.thresholds)
                    b = bits_each(q[m], tab, lm.ybank.tables)
                    total += float(b.sum() - self.bits[k][m].sum())
                    news.append((k, m, tab, b))
        return total, (h16, total, news)

    def keep(self, change: Any) -> None:
        """Make a trial's hyper-latents the current ones."""
        self.h16, self.total, news = change
        for k, m, tab, b in news:
            self.tabs[k][m] = tab
            self.bits[k][m] = b


__all__ = ["SubbandBits", "best_biases", "bits_each", "choose_z_tables", "coded_bits",
           "fit_predictor", "table_costs", "z_channel_choice", "z_channel_choices", "z_record_bits",
           "z_record_from"]
