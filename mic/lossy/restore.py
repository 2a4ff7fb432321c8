"""The restoration filter of a lossy tile (SPEC.md 6.7): encoder fit, decoder apply.

After a tile is decoded, the decoder may run a small signalled Wiener-like filter over
its samples, in integers: per sample channel, a symmetric diamond filter (5 x 5 or
7 x 7 taps) on the differences of each neighbour pair to the centre, optionally clipped
(which keeps edges sharp), with up to four coefficient sets chosen per pixel by a local
activity class (a box sum of the absolute Laplacian).  The encoder fits the
coefficients by least squares against the original, weighs each option's gain in
squared error against its bits (rate + lambda * distortion) and sends the filter only
where it pays; it removes part of the wavelet quantiser's blur and ringing.
Constant-region pixels (SPEC 6.6) are never changed.

Everything is integer arithmetic, so the filter adds no cross-machine difference.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x = np.cumsum(rng.integers(-3, 4, (64, 64)), 1).astype(np.int64) + 500
>>> blur = (x + np.roll(x, 1, 1) + np.roll(x, -1, 1)) // 3
>>> rec, filt = fit_filters(blur[:, :, None], x[:, :, None], None, [10], 50.0, (0, 4095))
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
#: benches/option_gain.py restore: the quartiles gave -1.7 %; side by side on 18 sources
#: these were up to 0.9 % better on 16 and 0.1 % worse on 2)
CLASS_QUANTILES = (0.5, 0.8, 0.95)
#: record head: byte count u16
HEAD = struct.Struct("<H")
_OFF = np.array(TAPS, np.int64)


@dataclass
class ChannelFilter:
    """One sample channel's filter: taps (6 or 12), clip code, activity thresholds
    (increasing), and per class its coefficients or None (class left as decoded)."""

    taps: int
    clip: int
    thresholds: list[int]
    coefs: list[np.ndarray | None]


# ----------------------------------------------------------------------------- kernels
@nb.njit(cache=True)
def _cl(v: int, c: int) -> int:  # pragma: no cover - numba
    return min(max(v, -c), c)


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
    rows = np.empty((h, w), np.int64)
    for i in range(h):
        for j in range(w):
            s = 0
            for d in range(-2, 3):
                s += lap[min(max(i + d, 0), h - 1), j]
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


def _classes(act: np.ndarray, thresholds: list[int]) -> np.ndarray:
    return np.searchsorted(np.asarray(thresholds, np.int64), act, side="right").astype(np.int64)


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


def pack_record(filters: list[ChannelFilter | None]) -> bytes:
    """The record of a tile's channel filters (None: channel unfiltered)."""
    bw = _BitWriter()
    for cf in filters:
        bw.u(cf is not None, 1)
        if cf is None:
            continue
        bw.u(N_TAPS.index(cf.taps), 1)
        bw.u(cf.clip, 2)
        bw.ue(len(cf.thresholds))
        prev = -1
        for t in cf.thresholds:
            bw.ue(t - prev - 1)
            prev = t
        for c in cf.coefs:
            bw.u(c is not None, 1)
            if c is not None:
                for v in c:
                    bw.se(int(v))
    body = bw.getvalue()
    return HEAD.pack(len(body)) + body


def parse_record(buf: bytes | memoryview, samples: int, off: int = 0
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
        nthr = br.ue()
        if nthr >= MAX_CLASSES:
            raise MicFormatError(f"lossy restoration filter with {nthr + 1} classes "
                                 f"(at most {MAX_CLASSES})")
        thr, prev = [], -1
        for _ in range(nthr):
            prev = prev + 1 + br.ue()
            thr.append(prev)
        coefs: list[np.ndarray | None] = []
        for _ in range(nthr + 1):
            if br.u(1):
                c = np.array([br.se() for _ in range(taps)], np.int64)
                if np.abs(c).max() > COEF_MAX:
                    raise MicFormatError(f"lossy restoration coefficient beyond +-{COEF_MAX}")
                coefs.append(c)
            else:
                coefs.append(None)
        if all(c is None for c in coefs):
            raise MicFormatError("lossy restoration filter with every class off")
        out.append(ChannelFilter(taps, clip, thr, coefs))
    if (br.pos + 7) // 8 != n or any(br.u(1) for _ in range(-br.pos % 8)):
        raise MicFormatError("lossy restoration filter record has trailing bits")
    return out, off + n


def _bits(cf: ChannelFilter) -> int:
    """Bits of one channel's part of a record."""
    n = 4 + _ue_bits(len(cf.thresholds))
    prev = -1
    for t in cf.thresholds:
        n += _ue_bits(t - prev - 1)
        prev = t
    return n + sum(1 + (0 if c is None else sum(_se_bits(int(v)) for v in c))
                   for c in cf.coefs)


# ----------------------------------------------------------------------------- apply
def _apply_channel(x: np.ndarray, cf: ChannelFilter, keep: np.ndarray, bits: int,
                   rng: tuple[int, int], act: np.ndarray | None = None) -> np.ndarray:
    """``act``: ``_activity(x)`` if the caller has it already."""
    cls = _classes(_activity(x) if act is None else act, cf.thresholds)
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
def _fit_channel(x: np.ndarray, target: np.ndarray, keep: np.ndarray, bits: int, lam: float,
                 rng: tuple[int, int]) -> tuple[ChannelFilter | None, np.ndarray]:
    """Best filter of one channel by estimated rate + ``lam`` * squared error, checked by
    applying it: (filter or None, filtered channel)."""
    act = _activity(x)
    free = act[~keep]
    if free.size < 256:
        return None, x
    qs = np.unique(np.quantile(free, CLASS_QUANTILES, method="lower").astype(np.int64))
    fine = [int(t) for t in qs]
    cls = _classes(act, fine)
    nf = len(fine) + 1
    groupings = [[list(range(nf))]]  # one class
    if nf == 4:
        groupings.append([[0, 1], [2, 3]])
    if nf > 1:
        groupings.append([[c] for c in range(nf)])
    best: tuple[float, ChannelFilter | None] = (0.0, None)
    for clip in range(len(CLIP_SHIFT)):
        g, b = _gram(x, target, cls, keep, _clip_value(clip, bits), nf)
        for groups in groupings:
            thr = [fine[grp[0] - 1] for grp in groups[1:]]
            for taps in N_TAPS:
                coefs: list[np.ndarray | None] = []
                gain = 0.0
                for grp in groups:
                    gg = g[grp].sum(0)[:taps, :taps]
                    bb = b[grp].sum(0)[:taps]
                    try:
                        sol = np.linalg.solve(gg + 1e-9 * np.trace(gg) * np.eye(taps), bb)
                    except np.linalg.LinAlgError:
                        coefs.append(None)
                        continue
                    qc = np.clip(np.rint(sol * (1 << SHIFT)), -COEF_MAX, COEF_MAX).astype(np.int64)
                    c = qc / float(1 << SHIFT)
                    dsse = 2.0 * c @ bb - c @ gg @ c  # squared error removed
                    cost = sum(_se_bits(int(v)) for v in qc)
                    if lam * dsse > cost and qc.any():
                        coefs.append(qc)
                        gain += lam * dsse
                    else:
                        coefs.append(None)
                if all(c is None for c in coefs):
                    continue
                cf = ChannelFilter(taps, clip, thr, coefs)
                j = _bits(cf) - gain
                if j < best[0]:
                    best = (j, cf)
    cf = best[1]
    if cf is None:
        return None, x
    y = _apply_channel(x, cf, keep, bits, rng, act)
    t = target.astype(np.float64)
    dsse = float(np.sum((x - t) ** 2) - np.sum((y - t) ** 2))
    if lam * dsse <= _bits(cf) + 8:  # the check, record head's share included
        return None, x
    return cf, y


def fit_filters(rec: np.ndarray, target: np.ndarray, keep: np.ndarray | None, bits: list[int],
                lam: float, rng: tuple[int, int]) -> tuple[bytes | None, np.ndarray]:
    """Fit a tile's restoration filters: ``rec`` the decoded samples (h, w, S), ``target``
    the original, ``keep`` the constant-region pixels or None, ``bits`` each channel's
    normalisation bits, ``lam`` the Lagrangian per squared sample unit.  Returns (record
    or None if no channel gains, filtered samples)."""
    x = np.asarray(rec, np.int64)
    k = _keep(keep, x.shape)
    out = x.copy()
    filters: list[ChannelFilter | None] = []
    for c in range(x.shape[2]):
        cf, y = _fit_channel(np.ascontiguousarray(x[:, :, c]),
                             np.ascontiguousarray(target[:, :, c], np.int64),
                             np.ascontiguousarray(k[:, :, c]), bits[c], lam, rng)
        filters.append(cf)
        out[:, :, c] = y
    if all(cf is None for cf in filters):
        return None, x
    return pack_record(filters), out
