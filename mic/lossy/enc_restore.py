"""The restoration filter of a lossy tile (SPEC.md 6.7), encoder side: the fit and the
record's writer (the decoder's side, the record's reader and the filter itself, is
:mod:`mic.lossy.restore`).

The encoder fits the coefficients by least squares against the original, weighs each
option's gain in squared error against its bits (rate + lambda * distortion) and sends
the filter only where it pays; it removes part of the wavelet quantiser's blur and
ringing.

>>> import numpy as np
>>> from mic.lossy.restore import apply_filters, parse_record
>>> rng = np.random.default_rng(0)
>>> x = np.cumsum(rng.integers(-3, 4, (64, 64)), 1).astype(np.int64) + 500
>>> blur = (x + np.roll(x, 1, 1) + np.roll(x, -1, 1)) // 3
>>> rec, filt, _ = fit_filters(blur[:, :, None], x[:, :, None], None, [10], 50.0, (0, 4095))
>>> int(np.sum((filt - x[:, :, None]) ** 2)) < int(np.sum((blur - x) ** 2))
True
>>> out = apply_filters(blur[:, :, None], parse_record(rec, 1)[0], None, [10], (0, 4095))
>>> bool((out == filt).all())
True
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .enc_restore_kernels import merge_sets, solve_sets
from .restore import (
    CLIP_SHIFT, HEAD, N_DIRS, N_TAPS, ChannelFilter, activity,
    apply_channel, clip_value, direction_classes, keep_mask, pad_edges, pixel_classes,
)

#: the encoder's activity classes split at these quantiles of the tile's activity (train,
#: research/option_gain.py restore: the quartiles gave -1.7 %; side by side on 18 sources
#: these were up to 0.9 % better on 16 and 0.1 % worse on 2)
CLASS_QUANTILES = (0.5, 0.8, 0.95)


@nb.njit(cache=True, nogil=True, inline="always")
def _outer(g: np.ndarray, b: np.ndarray, f: np.ndarray, r: float) -> None:  # pragma: no cover
    for t in range(12):  # the upper triangle only (:func:`gram` mirrors it at the end)
        ft = f[t]
        b[t] += ft * r
        row = g[t]
        for q in range(t, 12):
            row[q] += ft * f[q]


@nb.njit(cache=True, nogil=True)
def gram(x: np.ndarray, target: np.ndarray, cls: np.ndarray, keep: np.ndarray,
         clips: np.ndarray, ncls: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """For each clip value of the ascending ``clips`` and each class: the sums of f f^T and
    of f * (target - x) over the pixels not in ``keep``, f the pixel's 12 pair features
    (SPEC 6.7's TAPS, each difference clipped).  A pixel whose differences all lie within
    a clip has the same features under it and every larger clip: those share one outer
    product (``u``, summed over the levels at the end); only the clips that cut a
    pixel's differences take their own (``c``).  Integer features, so the float sums are
    those of one outer product per clip while they stay below 2^53."""
    h, w = x.shape
    nc = clips.size
    p = pad_edges(x, 3, np.int64)
    u = np.zeros((nc, ncls, 12, 12))
    ub = np.zeros((nc, ncls, 12))
    c = np.zeros((nc, ncls, 12, 12))
    cb = np.zeros((nc, ncls, 12))
    da = np.empty(12, np.int64)  # the differences to (i + di, j + dj) ...
    db = np.empty(12, np.int64)  # ... and to (i - di, j - dj), in TAPS order
    f = np.empty(12)
    for i in range(h):
        r = i + 3
        for j in range(w):
            if keep[i, j]:
                continue
            s = j + 3
            c0 = p[r, s]
            da[0], db[0] = p[r, s + 1] - c0, p[r, s - 1] - c0
            da[1], db[1] = p[r, s + 2] - c0, p[r, s - 2] - c0
            da[2], db[2] = p[r + 1, s] - c0, p[r - 1, s] - c0
            da[3], db[3] = p[r + 2, s] - c0, p[r - 2, s] - c0
            da[4], db[4] = p[r + 1, s + 1] - c0, p[r - 1, s - 1] - c0
            da[5], db[5] = p[r + 1, s - 1] - c0, p[r - 1, s + 1] - c0
            da[6], db[6] = p[r, s + 3] - c0, p[r, s - 3] - c0
            da[7], db[7] = p[r + 3, s] - c0, p[r - 3, s] - c0
            da[8], db[8] = p[r + 2, s + 1] - c0, p[r - 2, s - 1] - c0
            da[9], db[9] = p[r + 2, s - 1] - c0, p[r - 2, s + 1] - c0
            da[10], db[10] = p[r + 1, s + 2] - c0, p[r - 1, s - 2] - c0
            da[11], db[11] = p[r + 1, s - 2] - c0, p[r - 1, s + 2] - c0
            m = 0
            for t in range(12):
                m = max(m, abs(da[t]), abs(db[t]))
            lv = 0  # the clips from lv on leave this pixel's differences as they are
            while lv < nc and clips[lv] < m:
                lv += 1
            k = cls[i, j]
            res = float(target[i, j] - x[i, j])
            for n in range(lv):
                cl = clips[n]
                for t in range(12):
                    f[t] = float(min(max(da[t], -cl), cl) + min(max(db[t], -cl), cl))
                _outer(c[n, k], cb[n, k], f, res)
            if lv < nc:
                for t in range(12):
                    f[t] = float(da[t] + db[t])
                _outer(u[lv, k], ub[lv, k], f, res)
    for n in range(1, nc):
        u[n] += u[n - 1]
        ub[n] += ub[n - 1]
    g = u + c
    for n in range(nc):  # the lower triangle: f_q f_t is f_t f_q, so the same sums
        for k in range(ncls):
            gk = g[n, k]
            for t in range(12):
                for q in range(t):
                    gk[t, q] = gk[q, t]
    return g, ub + cb


class _BitWriter:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, v: int, n: int) -> None:
        self.bits.extend((v >> (n - 1 - k)) & 1 for k in range(n))

    def ue(self, v: int) -> None:  # Exp-Golomb, order 0
        n = (v + 1).bit_length()
        self.u(0, n - 1)
        self.u(v + 1, n)

    def se(self, v: int) -> None:
        self.ue(2 * v - 1 if v > 0 else -2 * v)

    def getvalue(self) -> bytes:
        b = self.bits + [0] * (-len(self.bits) % 8)
        return bytes(int("".join(map(str, b[k:k + 8])), 2) for k in range(0, len(b), 8))


def _ue_bits(v: int) -> int:
    return 2 * (v + 1).bit_length() - 1


def _se_bits(v: int) -> int:
    return _ue_bits(2 * v - 1 if v > 0 else -2 * v)


def uses_directions(filters: list[ChannelFilter | None]) -> bool:
    """Whether a record of ``filters`` needs the direction syntax (tile flag 256)."""
    return any(cf is not None and cf.dirs > 1 for cf in filters)


def pack_record(filters: list[ChannelFilter | None], directional: bool = False) -> bytes:
    """The record of a tile's channel filters (None: channel unfiltered); ``directional``
    (tiles with the direction flag): each filtered channel says whether its classes are
    split by direction."""
    if not directional and uses_directions(filters):
        raise ValueError("direction classes need the directional record")
    bw = _BitWriter()
    for cf in filters:
        bw.u(cf is not None, 1)
        if cf is None:
            continue
        bw.u(N_TAPS.index(cf.taps), 1)
        bw.u(cf.clip, 2)
        if directional:
            bw.u(cf.dirs > 1, 1)
        bw.ue(len(cf.thresholds))
        prev = -1
        for t in cf.thresholds:
            bw.ue(t - prev - 1)
            prev = t
        if cf.dirs > 1:  # shared filters: their count, each class's index, the filters
            bank, index = _shared(cf.coefs)
            bw.ue(len(bank) - 1)
            nb = len(bank).bit_length()
            for k in index:
                bw.u(len(bank) if k < 0 else k, nb)
            for c in bank:
                for v in c:
                    bw.se(int(v))
            continue
        for c in cf.coefs:
            bw.u(c is not None, 1)
            if c is not None:
                for v in c:
                    bw.se(int(v))
    body = bw.getvalue()
    return HEAD.pack(len(body)) + body


def _shared(coefs: list[np.ndarray | None]) -> tuple[list[np.ndarray], list[int]]:
    """The distinct coefficient sets of a directional channel in order of first use, and
    each class's index among them (-1: off)."""
    bank: list[np.ndarray] = []
    index = []
    for c in coefs:
        if c is None:
            index.append(-1)
            continue
        k = next((n for n, e in enumerate(bank) if np.array_equal(e, c)), len(bank))
        if k == len(bank):
            bank.append(c)
        index.append(k)
    return bank, index


def _bits(cf: ChannelFilter) -> int:
    """Bits of one channel's part of a record (the direction bit, when the record has
    it, not included)."""
    n = 4 + _ue_bits(len(cf.thresholds))
    prev = -1
    for t in cf.thresholds:
        n += _ue_bits(t - prev - 1)
        prev = t
    if cf.dirs > 1:
        bank, index = _shared(cf.coefs)
        return n + _ue_bits(len(bank) - 1) + len(index) * len(bank).bit_length() + \
            sum(_se_bits(int(v)) for c in bank for v in c)
    return n + sum(1 + (0 if c is None else sum(_se_bits(int(v)) for v in c))
                   for c in cf.coefs)


def _stacked(g: np.ndarray, b: np.ndarray, members: list[list[int]], taps: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """The normal equations of each coded class (the sum of its fine Gram classes
    ``members``), cut to ``taps`` taps: (n, taps, taps), (n, taps)."""
    return (np.stack([g[m].sum(0)[:taps, :taps] for m in members]),
            np.stack([b[m].sum(0)[:taps] for m in members]))


def _merged_filter(g: np.ndarray, b: np.ndarray, members: list[list[int]], taps: int,
                   lam: float, thr: list[int], clip: int) -> tuple[float, ChannelFilter | None]:
    """A directional channel's classes (each a list of fine Gram indices) greedily merged
    into shared filters (the pair whose merge costs least, as in VVC's ALF): (rate -
    lam * squared error removed, the filter) at the best point of the merge sequence
    (:func:`mic.lossy.enc_restore_kernels.merge_sets`: each pair's merged solution is
    solved once and kept until one of its sets merges; a point's record bits are counted
    from the sets' coefficient bits, equal sets sharing one filter as :func:`_shared`
    writes them)."""
    head = 4 + _ue_bits(len(thr))  # the channel's bits before its shared filters
    prev = -1
    for t in thr:
        head += _ue_bits(t - prev - 1)
        prev = t
    found, best_j, owner, q = merge_sets(*_stacked(g, b, members, taps), lam, head)
    if not found:
        return 0.0, None
    coefs = [None if s < 0 else q[s].copy() for s in owner]
    return float(best_j), ChannelFilter(taps, clip, thr, coefs, N_DIRS)


def _fit_channel(x: np.ndarray, target: np.ndarray, keep: np.ndarray, bits: int, lam: float,
                 rng: tuple[int, int], directions: bool = False, search: bool = True
                 ) -> tuple[ChannelFilter | None, np.ndarray]:
    """Best filter of one channel by estimated rate + ``lam`` * squared error, checked by
    applying it: (filter or None, filtered channel).  ``directions``: also try each
    activity grouping split by direction (one Gram pass serves both: its classes are the
    finest, activity x direction).  ``search`` (the ``restore_search`` tool): the
    directional filters' greedy merges under every clip code; off, under the clip code
    whose filters without directions fit best (the merges are most of the fit's time)."""
    act = activity(x)
    free = act[~keep]
    if free.size < 256:
        return None, x
    qs = np.unique(np.quantile(free, CLASS_QUANTILES, method="lower").astype(np.int64))
    fine = [int(t) for t in qs]
    nd = N_DIRS if directions else 1
    dmap = direction_classes(x) if directions else None
    cls = pixel_classes(act, fine, dmap)
    nf = len(fine) + 1
    groupings = [[list(range(nf))]]  # one class
    if nf == 4:
        groupings.append([[0, 1], [2, 3]])
    if nf > 1:
        groupings.append([[c] for c in range(nf)])
    best: tuple[float, ChannelFilter | None] = (0.0, None)
    clips = np.array([clip_value(k, bits) for k in range(len(CLIP_SHIFT))], np.int64)
    order = np.argsort(clips, kind="stable")  # one Gram pass for every clip code
    gs, bs = gram(x, target, cls, keep, clips[order], nf * nd)

    def members(groups: list[list[int]], dirs: int) -> list[list[int]]:
        # the fine Gram classes (activity * nd + direction) of each coded class, in the
        # decoder's order: activity class, then direction
        if dirs == 1:
            return [[a * nd + d for a in grp for d in range(nd)] for grp in groups]
        return [[a * nd + d for a in grp] for grp in groups for d in range(nd)]

    def merged(clip: int, groups: list[list[int]], thr: list[int]) -> None:
        nonlocal best
        level = int(np.flatnonzero(order == clip)[0])
        for taps in N_TAPS:  # shared filters, merged greedily
            j, cf = _merged_filter(gs[level], bs[level], members(groups, N_DIRS), taps, lam,
                                   thr, clip)
            if cf is not None and j < best[0]:
                best = (j, cf)

    best_clip: tuple[float, int] = (np.inf, 0)  # without directions: (cost, clip code)
    for clip in range(len(CLIP_SHIFT)):
        level = int(np.flatnonzero(order == clip)[0])
        g, b = gs[level], bs[level]
        for dirs in ((1, N_DIRS) if directions and search else (1,)):
            for groups in groupings:
                thr = [fine[grp[0] - 1] for grp in groups[1:]]
                if dirs > 1:
                    merged(clip, groups, thr)
                    continue
                for taps in N_TAPS:  # a set per class, kept where it pays
                    qc, cost, se = solve_sets(*_stacked(g, b, members(groups, 1), taps), lam)
                    on = np.flatnonzero(cost < 0)
                    if not on.size:
                        continue
                    coefs: list[np.ndarray | None] = [None] * len(groups)
                    for k in on:
                        coefs[k] = qc[k]
                    cf = ChannelFilter(taps, clip, thr, coefs, dirs)
                    # cost = coefficient bits - lam * removed, as in _merged_filter
                    j = _bits(cf) + float(sum(cost[k] - se[k] for k in on))
                    best_clip = min(best_clip, (j, clip))
                    if j < best[0]:
                        best = (j, cf)
    if directions and not search:  # the merges under the plain fit's clip code alone
        for groups in groupings:
            merged(best_clip[1], groups, [fine[grp[0] - 1] for grp in groups[1:]])
    cf = best[1]
    if cf is None:
        return None, x
    y = apply_channel(x, cf, keep, bits, rng, act, dmap)
    t = target.astype(np.float64)
    dsse = float(np.sum((x - t) ** 2) - np.sum((y - t) ** 2))
    if lam * dsse <= _bits(cf) + 8:  # the check, record head's share included
        return None, x
    return cf, y


def fit_filters(rec: np.ndarray, target: np.ndarray, keep: np.ndarray | None, bits: list[int],
                lam: float, rng: tuple[int, int], directions: bool = False,
                search: bool = True) -> tuple[bytes | None, np.ndarray, bool]:
    """Fit a tile's restoration filters: ``rec`` the decoded samples (h, w, S), ``target``
    the original, ``keep`` the constant-region pixels or None, ``bits`` each channel's
    normalisation bits, ``lam`` the Lagrangian per squared sample unit; ``directions``
    (stream version 2) lets channels split their classes by direction; ``search``: see
    :func:`_fit_channel`.  Returns (record
    or None if no channel gains, filtered samples, whether the record is directional: the
    tile then carries flag 256)."""
    x = np.asarray(rec, np.int64)
    k = keep_mask(keep, x.shape)
    out = x.copy()
    filters: list[ChannelFilter | None] = []
    for c in range(x.shape[2]):
        cf, y = _fit_channel(np.ascontiguousarray(x[:, :, c]),
                             np.ascontiguousarray(target[:, :, c], np.int64),
                             np.ascontiguousarray(k[:, :, c]), bits[c], lam, rng, directions,
                             search)
        filters.append(cf)
        out[:, :, c] = y
    if all(cf is None for cf in filters):
        return None, x, False
    directional = uses_directions(filters)
    return pack_record(filters, directional), out, directional


__all__ = ["CLASS_QUANTILES", "fit_filters", "gram", "pack_record", "uses_directions"]
