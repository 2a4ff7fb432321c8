"""The restoration filter of a lossy tile (SPEC.md 6.7): encoder fit, decoder apply.

After a tile is decoded, the decoder may run a small signalled Wiener-like filter over
its samples, in integers: per sample channel, a symmetric diamond filter (5 x 5 or
7 x 7 taps) on the differences of each neighbour pair to the centre, optionally clipped
(which keeps edges sharp), with up to four coefficient sets chosen per pixel by a local
activity class (a box sum of the absolute Laplacian) and, in streams of version 2, each
activity class optionally split in five by the local direction (box sums of the
horizontal, vertical and diagonal second differences: none, two orientations, two
diagonals), so a filter can smooth along an edge and not across it.  The encoder fits the
coefficients by least squares against the original, weighs each option's gain in
squared error against its bits (rate + lambda * distortion) and sends the filter only
where it pays; it removes part of the wavelet quantiser's blur and ringing.
Constant-region pixels (SPEC 6.6) are never changed.

Everything is integer arithmetic, so the filter adds no cross-machine difference.

>>> import numpy as np
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

import struct
from dataclasses import dataclass

import numba as nb
import numpy as np

from ..errors import MicFormatError, MicTruncatedError

#: the neighbour pairs (di, dj) and (-di, -dj): the 7 x 7 diamond (|di| + |dj| <= 3) ...
TAPS = ((0, 1), (0, 2), (1, 0), (2, 0), (1, 1), (1, -1),
        (0, 3), (3, 0), (2, 1), (2, -1), (1, 2), (1, -2))
#: ... whose first 6 pairs are the 5 x 5 diamond (|di| + |dj| <= 2)
N_TAPS = (6, 12)
#: clip code k (1..3) clips each difference to +-2^max(0, bits - CLIP_SHIFT[k])
CLIP_SHIFT = (0, 6, 4, 2)
#: coefficients are in units of 2^-SHIFT
SHIFT = 7
#: a coefficient's magnitude limit (the decoder refuses larger)
COEF_MAX = 1023
#: the most activity classes of one channel
MAX_CLASSES = 4
#: the encoder's activity classes split at these quantiles of the tile's activity (train,
#: research/option_gain.py restore: the quartiles gave -1.7 %; side by side on 18 sources
#: these were up to 0.9 % better on 16 and 0.1 % worse on 2)
CLASS_QUANTILES = (0.5, 0.8, 0.95)
#: record head: byte count u16
HEAD = struct.Struct("<H")
#: direction classes of a channel with directions (SPEC 6.7): none, horizontal, vertical
#: and the two diagonals
N_DIRS = 5
_OFF = np.array(TAPS, np.int64)


@dataclass
class ChannelFilter:
    """One sample channel's filter: taps (6 or 12), clip code, activity thresholds
    (increasing), and per class its coefficients or None (class left as decoded)."""

    taps: int
    clip: int
    thresholds: list[int]
    coefs: list[np.ndarray | None]
    #: 1, or N_DIRS: each activity class split by direction, class = activity * 5 + direction
    dirs: int = 1


# ----------------------------------------------------------------------------- kernels
@nb.njit(cache=True)
def _cl(v: int, c: int) -> int:  # pragma: no cover - numba
    return min(max(v, -c), c)


@nb.njit(cache=True)
def _box5(a: np.ndarray) -> np.ndarray:  # pragma: no cover - numba
    """5 x 5 box sums with edge replication."""
    h, w = a.shape
    rows = np.empty((h, w), np.int64)
    for i in range(h):
        for j in range(w):
            s = 0
            for d in range(-2, 3):
                s += a[min(max(i + d, 0), h - 1), j]
            rows[i, j] = s
    out = np.empty((h, w), np.int64)
    for i in range(h):
        for j in range(w):
            s = 0
            for d in range(-2, 3):
                s += rows[i, min(max(j + d, 0), w - 1)]
            out[i, j] = s
    return out


@nb.njit(cache=True)
def _activity(x: np.ndarray) -> np.ndarray:  # pragma: no cover - numba
    """5 x 5 box sum of |4 x - up - down - left - right| (edge replication)."""
    h, w = x.shape
    lap = np.empty((h, w), np.int64)
    for i in range(h):
        iu, idn = max(i - 1, 0), min(i + 1, h - 1)
        for j in range(w):
            jl, jr = max(j - 1, 0), min(j + 1, w - 1)
            lap[i, j] = abs(4 * x[i, j] - x[iu, j] - x[idn, j] - x[i, jl] - x[i, jr])
    return _box5(lap)


@nb.njit(cache=True)
def _directions(x: np.ndarray) -> np.ndarray:  # pragma: no cover - numba
    """Direction class 0..4 of each pixel (SPEC 6.7) from 5 x 5 box sums of the absolute
    second differences across columns (gh), rows (gv) and the two diagonals."""
    h, w = x.shape
    d = np.empty((4, h, w), np.int64)
    for i in range(h):
        iu, idn = max(i - 1, 0), min(i + 1, h - 1)
        for j in range(w):
            jl, jr = max(j - 1, 0), min(j + 1, w - 1)
            c2 = 2 * x[i, j]
            d[0, i, j] = abs(c2 - x[i, jl] - x[i, jr])
            d[1, i, j] = abs(c2 - x[iu, j] - x[idn, j])
            d[2, i, j] = abs(c2 - x[iu, jl] - x[idn, jr])
            d[3, i, j] = abs(c2 - x[iu, jr] - x[idn, jl])
    gh, gv, g1, g2 = _box5(d[0]), _box5(d[1]), _box5(d[2]), _box5(d[3])
    out = np.zeros((h, w), np.int64)
    for i in range(h):
        for j in range(w):
            a, b, c, e = gh[i, j], gv[i, j], g1[i, j], g2[i, j]
            hv_hi, hv_lo = max(a, b), min(a, b)
            d_hi, d_lo = max(c, e), min(c, e)
            if hv_hi * d_lo >= d_hi * hv_lo:  # the orientations' ratio is the larger
                if a > 2 * b:
                    out[i, j] = 1
                elif b > 2 * a:
                    out[i, j] = 2
            elif c > 2 * e:
                out[i, j] = 3
            elif e > 2 * c:
                out[i, j] = 4
    return out


@nb.njit(cache=True)
def _features(x: np.ndarray, i: int, j: int, clip: int, f: np.ndarray) -> None:  # pragma: no cover
    h, w = x.shape
    c0 = x[i, j]
    for k in range(_OFF.shape[0]):
        di, dj = _OFF[k, 0], _OFF[k, 1]
        a = x[min(max(i + di, 0), h - 1), min(max(j + dj, 0), w - 1)] - c0
        b = x[min(max(i - di, 0), h - 1), min(max(j - dj, 0), w - 1)] - c0
        f[k] = _cl(a, clip) + _cl(b, clip)


@nb.njit(cache=True)
def _gram(x: np.ndarray, target: np.ndarray, cls: np.ndarray, keep: np.ndarray, clip: int,
          ncls: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - numba
    """Per class: sum of f f^T and of f * (target - x) over the pixels not in ``keep``."""
    h, w = x.shape
    g = np.zeros((ncls, 12, 12))
    b = np.zeros((ncls, 12))
    f = np.empty(12, np.int64)
    for i in range(h):
        for j in range(w):
            if keep[i, j]:
                continue
            _features(x, i, j, clip, f)
            c = cls[i, j]
            r = float(target[i, j] - x[i, j])
            for p in range(12):
                fp = float(f[p])
                b[c, p] += fp * r
                for q in range(p, 12):
                    g[c, p, q] += fp * float(f[q])
    for c in range(ncls):
        for p in range(12):
            for q in range(p):
                g[c, p, q] = g[c, q, p]
    return g, b


@nb.njit(cache=True)
def _apply(x: np.ndarray, cls: np.ndarray, keep: np.ndarray, coefs: np.ndarray,
           on: np.ndarray, clip: int, lo: int, hi: int) -> np.ndarray:  # pragma: no cover
    h, w = x.shape
    out = x.copy()
    f = np.empty(12, np.int64)
    half = 1 << (SHIFT - 1)
    for i in range(h):
        for j in range(w):
            c = cls[i, j]
            if keep[i, j] or not on[c]:
                continue
            _features(x, i, j, clip, f)
            s = 0
            for k in range(12):
                s += coefs[c, k] * f[k]
            v = x[i, j] + ((s + half) >> SHIFT)
            out[i, j] = min(max(v, lo), hi)
    return out


def _classes(act: np.ndarray, thresholds: list[int], dirs: np.ndarray | None = None
             ) -> np.ndarray:
    """Each pixel's class: its activity class, times N_DIRS plus its direction class when
    ``dirs`` (:func:`_directions`) is given."""
    a = np.searchsorted(np.asarray(thresholds, np.int64), act, side="right").astype(np.int64)
    return a if dirs is None else a * N_DIRS + dirs


def _clip_value(code: int, bits: int) -> int:
    return (1 << 62) if code == 0 else 1 << max(0, bits - CLIP_SHIFT[code])


# ----------------------------------------------------------------------------- bits
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


class _BitReader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u(self, n: int) -> int:
        v = 0
        for _ in range(n):
            if self.pos >= 8 * len(self.data):
                raise MicFormatError("lossy restoration filter record ends inside a field")
            v = (v << 1) | (self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1
            self.pos += 1
        return v

    def ue(self) -> int:
        n = 0
        while self.u(1) == 0:
            n += 1
            if n > 31:
                raise MicFormatError("lossy restoration filter record: Exp-Golomb code too long")
        return ((1 << n) | self.u(n)) - 1

    def se(self) -> int:
        u = self.ue()
        return (u + 1) // 2 if u & 1 else -(u // 2)


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


def parse_record(buf: bytes | memoryview, samples: int, off: int = 0, directional: bool = False
                 ) -> tuple[list[ChannelFilter | None], int]:
    """Inverse of :func:`pack_record` at ``off``: (filters, offset after the record)."""
    if len(buf) - off < HEAD.size:
        raise MicTruncatedError("lossy tile payload truncated in a restoration filter record")
    (n,) = HEAD.unpack_from(buf, off)
    off += HEAD.size
    if len(buf) - off < n:
        raise MicTruncatedError("lossy tile payload truncated in a restoration filter record")
    br = _BitReader(bytes(buf[off:off + n]))
    out: list[ChannelFilter | None] = []
    for _ in range(samples):
        if not br.u(1):
            out.append(None)
            continue
        taps = N_TAPS[br.u(1)]
        clip = br.u(2)
        dirs = N_DIRS if directional and br.u(1) else 1
        nthr = br.ue()
        if nthr >= MAX_CLASSES:
            raise MicFormatError(f"lossy restoration filter with {nthr + 1} classes "
                                 f"(at most {MAX_CLASSES})")
        thr, prev = [], -1
        for _ in range(nthr):
            prev = prev + 1 + br.ue()
            thr.append(prev)
        def coef_set() -> np.ndarray:
            c = np.array([br.se() for _ in range(taps)], np.int64)
            if np.abs(c).max() > COEF_MAX:
                raise MicFormatError(f"lossy restoration coefficient beyond +-{COEF_MAX}")
            return c

        coefs: list[np.ndarray | None] = []
        if dirs > 1:
            n_cls = (nthr + 1) * dirs
            nfilt = br.ue() + 1
            if nfilt > n_cls:
                raise MicFormatError(f"lossy restoration filter with {nfilt} shared filters "
                                     f"for {n_cls} classes")
            nb = nfilt.bit_length()
            index = [br.u(nb) for _ in range(n_cls)]
            if max(index) > nfilt:
                raise MicFormatError(f"lossy restoration class index {max(index)} beyond "
                                     f"{nfilt} filters")
            bank = [coef_set() for _ in range(nfilt)]
            if set(index) - {nfilt} != set(range(nfilt)):
                raise MicFormatError("lossy restoration filter with an unused shared filter")
            coefs = [None if k == nfilt else bank[k] for k in index]
        else:
            for _ in range(nthr + 1):
                coefs.append(coef_set() if br.u(1) else None)
        if all(c is None for c in coefs):
            raise MicFormatError("lossy restoration filter with every class off")
        out.append(ChannelFilter(taps, clip, thr, coefs, dirs))
    if (br.pos + 7) // 8 != n or any(br.u(1) for _ in range(-br.pos % 8)):
        raise MicFormatError("lossy restoration filter record has trailing bits")
    return out, off + n


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


# ----------------------------------------------------------------------------- apply
def _apply_channel(x: np.ndarray, cf: ChannelFilter, keep: np.ndarray, bits: int,
                   rng: tuple[int, int], act: np.ndarray | None = None,
                   dirs: np.ndarray | None = None) -> np.ndarray:
    """``act``, ``dirs``: ``_activity(x)``, ``_directions(x)`` if the caller has them."""
    if cf.dirs > 1 and dirs is None:
        dirs = _directions(x)
    cls = _classes(_activity(x) if act is None else act, cf.thresholds,
                   dirs if cf.dirs > 1 else None)
    coefs = np.zeros((len(cf.coefs), 12), np.int64)
    on = np.zeros(len(cf.coefs), np.bool_)
    for k, c in enumerate(cf.coefs):
        if c is not None:
            coefs[k, :cf.taps] = c
            on[k] = True
    return _apply(x, cls, keep, coefs, on, _clip_value(cf.clip, bits), rng[0], rng[1])


def _keep(keep: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """The unchanged pixels as (h, w, S) booleans from None, (h, w) or (h, w, S)."""
    if keep is None:
        return np.zeros(shape, np.bool_)
    k = np.asarray(keep, np.bool_)
    return np.broadcast_to(k[:, :, None] if k.ndim == 2 else k, shape)


def apply_filters(samples: np.ndarray, filters: list[ChannelFilter | None],
                  keep: np.ndarray | None, bits: list[int], rng: tuple[int, int]) -> np.ndarray:
    """Filter a decoded tile's samples (h, w, S); ``keep``: pixels left unchanged (the
    constant region; (h, w), (h, w, S) or None); ``bits``: each channel's normalisation
    bits; ``rng``: the sample range."""
    x = np.asarray(samples, np.int64)
    k = _keep(keep, x.shape)
    out = x.copy()
    for c, cf in enumerate(filters):
        if cf is not None:
            out[:, :, c] = _apply_channel(np.ascontiguousarray(x[:, :, c]), cf,
                                          np.ascontiguousarray(k[:, :, c]), bits[c], rng)
    return out


# ----------------------------------------------------------------------------- fit
def _se_bits_array(q: np.ndarray) -> np.ndarray:
    """:func:`_se_bits` of every integer in ``q`` (any shape)."""
    u = np.where(q > 0, 2 * q - 1, -2 * q) + 1
    return 2 * np.floor(np.log2(u)).astype(np.int64) + 1


def _solve_sets(gg: np.ndarray, bb: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """For stacked normal equations (n, T, T), (n, T): the rounded coefficients (n, T) and
    each set's cost (coefficient bits - lam * squared error removed; >= 0 means a set is
    better off)."""
    t = gg.shape[1]
    reg = 1e-9 * np.trace(gg, axis1=1, axis2=2)[:, None, None] * np.eye(t) + 1e-12 * np.eye(t)
    sol = np.linalg.solve(gg + reg, bb[:, :, None])[:, :, 0]
    qc = np.clip(np.rint(sol * (1 << SHIFT)), -COEF_MAX, COEF_MAX).astype(np.int64)
    c = qc / float(1 << SHIFT)
    dsse = 2.0 * np.einsum("nt,nt->n", c, bb) - np.einsum("nt,ntu,nu->n", c, gg, c)
    cost = _se_bits_array(qc).sum(1) - lam * dsse
    cost[~qc.any(1)] = np.inf
    return qc, cost


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
    lam * squared error removed, the filter) at the best point of the merge sequence."""
    n = len(members)
    gg, bb = _stacked(g, b, members, taps)
    sets = [[k] for k in range(n)]
    qc, cost = _solve_sets(gg, bb, lam)
    best: tuple[float, ChannelFilter | None] = (0.0, None)
    while True:
        on = [k for k in range(len(sets)) if cost[k] < 0]
        if on:
            coefs: list[np.ndarray | None] = [None] * n
            for k in on:
                for cl in sets[k]:
                    coefs[cl] = qc[k]
            cf = ChannelFilter(taps, clip, thr, coefs, N_DIRS)
            # cost = coefficient bits - lam * removed: the record's bits - lam * removed
            j = _bits(cf) + float(sum(cost[k] - _se_bits_array(qc[k]).sum() for k in on))
            if j < best[0]:
                best = (j, cf)
        if len(sets) == 1:
            return best
        ii, jj = np.triu_indices(len(sets), 1)
        mq, mc = _solve_sets(gg[ii] + gg[jj], bb[ii] + bb[jj], lam)
        delta = np.minimum(mc, 0) - np.minimum(cost[ii], 0) - np.minimum(cost[jj], 0)
        k = int(np.argmin(delta))
        a, c = int(ii[k]), int(jj[k])
        sets[a] = sets[a] + sets[c]
        gg[a], bb[a], qc[a], cost[a] = gg[a] + gg[c], bb[a] + bb[c], mq[k], mc[k]
        keep = np.arange(len(sets)) != c
        del sets[c]
        gg, bb, qc, cost = gg[keep], bb[keep], qc[keep], cost[keep]


def _fit_channel(x: np.ndarray, target: np.ndarray, keep: np.ndarray, bits: int, lam: float,
                 rng: tuple[int, int], directions: bool = False
                 ) -> tuple[ChannelFilter | None, np.ndarray]:
    """Best filter of one channel by estimated rate + ``lam`` * squared error, checked by
    applying it: (filter or None, filtered channel).  ``directions``: also try each
    activity grouping split by direction (one Gram pass serves both: its classes are the
    finest, activity x direction)."""
    act = _activity(x)
    free = act[~keep]
    if free.size < 256:
        return None, x
    qs = np.unique(np.quantile(free, CLASS_QUANTILES, method="lower").astype(np.int64))
    fine = [int(t) for t in qs]
    nd = N_DIRS if directions else 1
    dmap = _directions(x) if directions else None
    cls = _classes(act, fine, dmap)
    nf = len(fine) + 1
    groupings = [[list(range(nf))]]  # one class
    if nf == 4:
        groupings.append([[0, 1], [2, 3]])
    if nf > 1:
        groupings.append([[c] for c in range(nf)])
    best: tuple[float, ChannelFilter | None] = (0.0, None)
    for clip in range(len(CLIP_SHIFT)):
        g, b = _gram(x, target, cls, keep, _clip_value(clip, bits), nf * nd)
        for dirs in ((1, N_DIRS) if directions else (1,)):
            for groups in groupings:
                thr = [fine[grp[0] - 1] for grp in groups[1:]]
                # the fine Gram classes (activity * nd + direction) of each coded class, in
                # the decoder's order: activity class, then direction
                members = ([[a * nd + d for a in grp for d in range(nd)] for grp in groups]
                           if dirs == 1 else
                           [[a * nd + d for a in grp] for grp in groups for d in range(nd)])
                if dirs > 1:  # shared filters, merged greedily
                    for taps in N_TAPS:
                        j, cf = _merged_filter(g, b, members, taps, lam, thr, clip)
                        if cf is not None and j < best[0]:
                            best = (j, cf)
                    continue
                for taps in N_TAPS:  # a set per class, kept where it pays
                    qc, cost = _solve_sets(*_stacked(g, b, members, taps), lam)
                    on = np.flatnonzero(cost < 0)
                    if not on.size:
                        continue
                    coefs: list[np.ndarray | None] = [None] * len(members)
                    for k in on:
                        coefs[k] = qc[k]
                    cf = ChannelFilter(taps, clip, thr, coefs, dirs)
                    # cost = coefficient bits - lam * removed, as in _merged_filter
                    j = _bits(cf) + float(sum(cost[k] - _se_bits_array(qc[k]).sum() for k in on))
                    if j < best[0]:
                        best = (j, cf)
    cf = best[1]
    if cf is None:
        return None, x
    y = _apply_channel(x, cf, keep, bits, rng, act, dmap)
    t = target.astype(np.float64)
    dsse = float(np.sum((x - t) ** 2) - np.sum((y - t) ** 2))
    if lam * dsse <= _bits(cf) + 8:  # the check, record head's share included
        return None, x
    return cf, y


def fit_filters(rec: np.ndarray, target: np.ndarray, keep: np.ndarray | None, bits: list[int],
                lam: float, rng: tuple[int, int], directions: bool = False
                ) -> tuple[bytes | None, np.ndarray, bool]:
    """Fit a tile's restoration filters: ``rec`` the decoded samples (h, w, S), ``target``
    the original, ``keep`` the constant-region pixels or None, ``bits`` each channel's
    normalisation bits, ``lam`` the Lagrangian per squared sample unit; ``directions``
    (stream version 2) lets channels split their classes by direction.  Returns (record
    or None if no channel gains, filtered samples, whether the record is directional: the
    tile then carries flag 256)."""
    x = np.asarray(rec, np.int64)
    k = _keep(keep, x.shape)
    out = x.copy()
    filters: list[ChannelFilter | None] = []
    for c in range(x.shape[2]):
        cf, y = _fit_channel(np.ascontiguousarray(x[:, :, c]),
                             np.ascontiguousarray(target[:, :, c], np.int64),
                             np.ascontiguousarray(k[:, :, c]), bits[c], lam, rng, directions)
        filters.append(cf)
        out[:, :, c] = y
    if all(cf is None for cf in filters):
        return None, x, False
    directional = uses_directions(filters)
    return pack_record(filters, directional), out, directional
