"""The restoration filter of a lossy tile (SPEC.md 6.7), decoder side: its record and
how a decoder applies it (the encoder's fit is :mod:`mic.lossy.enc_restore`).

After a tile is decoded, the decoder may run a small signalled Wiener-like filter over
its samples, in integers: per sample channel, a symmetric diamond filter (5 x 5 or
7 x 7 taps) on the differences of each neighbour pair to the centre, optionally clipped
(which keeps edges sharp), with up to four coefficient sets chosen per pixel by a local
activity class (a box sum of the absolute Laplacian) and, in streams of version 2, each
activity class optionally split in five by the local direction (box sums of the
horizontal, vertical and diagonal second differences: none, two orientations, two
diagonals), so a filter can smooth along an edge and not across it.  Constant-region
pixels (SPEC 6.6) are never changed.

Everything is integer arithmetic, so the filter adds no cross-machine difference.

>>> import numpy as np
>>> x = np.arange(64, dtype=np.int64).reshape(8, 8) % 5 * 100
>>> f = ChannelFilter(6, 0, [], [np.array([16, 0, 16, 0, 0, 0])])
>>> out = apply_filters(x[:, :, None], [f], None, [10], (0, 1023))
>>> bool(np.abs(out[:, :, 0] - x).sum() > 0), bool((out[:, :, 0] >= 0).all())
(True, True)
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
#: record head: byte count u16
HEAD = struct.Struct("<H")
#: direction classes of a channel with directions (SPEC 6.7): none, horizontal, vertical
#: and the two diagonals
N_DIRS = 5


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


@nb.njit(cache=True, nogil=True)
def _cl(v: int, c: int) -> int:  # pragma: no cover - numba
    return min(max(v, -c), c)


@nb.njit(cache=True, nogil=True)
def pad_edges(x: np.ndarray, r: int, dtype: type) -> np.ndarray:  # pragma: no cover - numba
    """``x`` with ``r`` rows and columns of edge replication on every side, as ``dtype``:
    ``p[i + r, j + r]`` = ``x[clamp(i), clamp(j)]``, the clamped reads SPEC 6.7 defines."""
    h, w = x.shape
    p = np.empty((h + 2 * r, w + 2 * r), dtype)
    for i in range(h + 2 * r):
        src = x[min(max(i - r, 0), h - 1)]
        row = p[i]
        for j in range(r):
            row[j] = src[0]
            row[w + r + j] = src[w - 1]
        for j in range(w):
            row[j + r] = src[j]
    return p


@nb.njit(cache=True, nogil=True)
def _box5(a: np.ndarray) -> np.ndarray:  # pragma: no cover - numba
    """5 x 5 box sums with edge replication: five rows summed, then five columns of
    those sums (exact integers)."""
    h, w = a.shape
    rows = np.empty(w + 4, np.int64)
    out = np.empty((h, w), np.int64)
    for i in range(h):
        r0, r1, r2 = a[max(i - 2, 0)], a[max(i - 1, 0)], a[i]
        r3, r4 = a[min(i + 1, h - 1)], a[min(i + 2, h - 1)]
        for j in range(w):
            rows[j + 2] = r0[j] + r1[j] + r2[j] + r3[j] + r4[j]
        rows[0] = rows[1] = rows[2]
        rows[w + 2] = rows[w + 3] = rows[w + 1]
        o = out[i]
        for j in range(w):
            o[j] = rows[j] + rows[j + 1] + rows[j + 2] + rows[j + 3] + rows[j + 4]
    return out


@nb.njit(cache=True, nogil=True)
def activity(x: np.ndarray) -> np.ndarray:  # pragma: no cover - numba
    """5 x 5 box sum of |4 x - up - down - left - right| (edge replication)."""
    h, w = x.shape
    p = pad_edges(x, 1, np.int64)
    lap = np.empty((h, w), np.int64)
    for i in range(h):
        u, m, d, o = p[i], p[i + 1], p[i + 2], lap[i]
        for j in range(w):
            o[j] = abs(4 * m[j + 1] - u[j + 1] - d[j + 1] - m[j] - m[j + 2])
    return _box5(lap)


@nb.njit(cache=True, nogil=True, inline="always")
def _second_differences(p, r, w, ring):  # pragma: no cover - numba
    """Row ``r`` of the absolute second differences (across columns, rows and the two
    diagonals) of the plane padded by one (:func:`pad_edges`), into ``ring[0..3]``."""
    u, m, dn = p[r], p[r + 1], p[r + 2]
    o0, o1, o2, o3 = ring[0], ring[1], ring[2], ring[3]
    for j in range(w):
        c2 = 2 * m[j + 1]
        o0[j] = abs(c2 - m[j] - m[j + 2])
        o1[j] = abs(c2 - u[j + 1] - dn[j + 1])
        o2[j] = abs(c2 - u[j] - dn[j + 2])
        o3[j] = abs(c2 - u[j + 2] - dn[j])


@nb.njit(cache=True, nogil=True)
def direction_classes(x: np.ndarray) -> np.ndarray:  # pragma: no cover - numba
    """Direction class 0..4 of each pixel (SPEC 6.7) from 5 x 5 box sums of the absolute
    second differences across columns (gh), rows (gv) and the two diagonals: row by row,
    the differences of the 5 rows of a window kept in a ring (each row computed once,
    rows beyond the plane replicated), no full-size plane but the output."""
    h, w = x.shape
    out = np.empty((h, w), np.int64)
    if h == 0 or w == 0:
        return out
    p = pad_edges(x, 1, np.int64)
    ring = np.empty((5, 4, w), np.int64)  # ring[r % 5]: the differences of row r
    col = np.empty((4, w + 4), np.int64)  # the window's column sums, edge replicated
    have = -1  # the last row computed into the ring
    for i in range(h):
        while have < min(i + 2, h - 1):
            have += 1
            _second_differences(p, have, w, ring[have % 5])
        r0, r1 = ring[max(i - 2, 0) % 5], ring[max(i - 1, 0) % 5]
        r2, r3, r4 = ring[i % 5], ring[min(i + 1, h - 1) % 5], ring[min(i + 2, h - 1) % 5]
        for d in range(4):
            cd, a0, a1, a2, a3, a4 = col[d], r0[d], r1[d], r2[d], r3[d], r4[d]
            for j in range(w):
                cd[j + 2] = a0[j] + a1[j] + a2[j] + a3[j] + a4[j]
            cd[0] = cd[1] = cd[2]
            cd[w + 2] = cd[w + 3] = cd[w + 1]
        c0, c1, c2, c3, o = col[0], col[1], col[2], col[3], out[i]
        for j in range(w):  # branch-free: the classes follow the image, not a pattern
            a = c0[j] + c0[j + 1] + c0[j + 2] + c0[j + 3] + c0[j + 4]
            b = c1[j] + c1[j + 1] + c1[j + 2] + c1[j + 3] + c1[j + 4]
            c = c2[j] + c2[j + 1] + c2[j + 2] + c2[j + 3] + c2[j + 4]
            e = c3[j] + c3[j + 1] + c3[j + 2] + c3[j + 3] + c3[j + 4]
            # the orientations' ratio is the larger: 1 or 2 where one dominates, else 0;
            # otherwise the diagonals' 3 or 4 (sums of absolute values: a > 2b and
            # b > 2a never hold together)
            hv = max(a, b) * min(c, e) >= max(c, e) * min(a, b)
            o[j] = ((a > 2 * b) + 2 * (b > 2 * a)) if hv else (3 * (c > 2 * e) + 4 * (e > 2 * c))
    return out


@nb.njit(cache=True, nogil=True, inline="always")
def _tap(acc, ck, ra, rb, c0, oa, ob, clip, w):  # pragma: no cover - numba
    """``acc[j] += ck[j] * (clip(ra[j + oa] - c0[j]) + clip(rb[j + ob] - c0[j]))``: one
    neighbour pair of a row (``ra``, ``rb`` padded rows, ``oa``, ``ob`` their column
    offsets)."""
    for j in range(w):
        cc = c0[j]
        a = min(max(ra[j + oa] - cc, -clip), clip)
        b = min(max(rb[j + ob] - cc, -clip), clip)
        acc[j] += ck[j] * (a + b)


@nb.njit(cache=True, nogil=True)
def _apply(x: np.ndarray, p: np.ndarray, cls: np.ndarray, keep: np.ndarray,
           coefs: np.ndarray, on: np.ndarray, clip: int, lo: int, hi: int
           ) -> np.ndarray:  # pragma: no cover - numba
    """The filter of every pixel of ``x`` not kept and of a class that is on: ``p`` is
    ``x`` padded by 3 (:func:`pad_edges`), of the accumulator's type (int32 where every sum
    fits, :func:`apply_channel`); one row at a time, tap by tap (TAPS, unrolled)."""
    h, w = x.shape
    out = x.copy()
    half = 1 << (SHIFT - 1)
    acc = np.empty(w, p.dtype)
    cf = np.empty((12, w), p.dtype)
    ct = np.ascontiguousarray(coefs.astype(p.dtype).T)  # (12, classes)
    cl = min(clip, 1 << 30)
    for i in range(h):
        r = i + 3
        ci = cls[i]
        for k in range(12):  # each tap's coefficient per pixel (a gather per tap)
            ck, fk = ct[k], cf[k]
            for j in range(w):
                fk[j] = ck[ci[j]]
        c0 = p[r, 3:w + 3]
        acc[:] = 0
        _tap(acc, cf[0], p[r], p[r], c0, 4, 2, cl, w)  # (0, 1)
        _tap(acc, cf[1], p[r], p[r], c0, 5, 1, cl, w)  # (0, 2)
        _tap(acc, cf[2], p[r + 1], p[r - 1], c0, 3, 3, cl, w)  # (1, 0)
        _tap(acc, cf[3], p[r + 2], p[r - 2], c0, 3, 3, cl, w)  # (2, 0)
        _tap(acc, cf[4], p[r + 1], p[r - 1], c0, 4, 2, cl, w)  # (1, 1)
        _tap(acc, cf[5], p[r + 1], p[r - 1], c0, 2, 4, cl, w)  # (1, -1)
        _tap(acc, cf[6], p[r], p[r], c0, 6, 0, cl, w)  # (0, 3)
        _tap(acc, cf[7], p[r + 3], p[r - 3], c0, 3, 3, cl, w)  # (3, 0)
        _tap(acc, cf[8], p[r + 2], p[r - 2], c0, 4, 2, cl, w)  # (2, 1)
        _tap(acc, cf[9], p[r + 2], p[r - 2], c0, 2, 4, cl, w)  # (2, -1)
        _tap(acc, cf[10], p[r + 1], p[r - 1], c0, 5, 1, cl, w)  # (1, 2)
        _tap(acc, cf[11], p[r + 1], p[r - 1], c0, 1, 5, cl, w)  # (1, -2)
        xi, oi, ki = x[i], out[i], keep[i]
        for j in range(w):
            if ki[j] or not on[ci[j]]:
                continue
            v = xi[j] + ((np.int64(acc[j]) + half) >> SHIFT)
            oi[j] = min(max(v, lo), hi)
    return out


@nb.njit(cache=True, nogil=True)
def _classes(act: np.ndarray, thr: np.ndarray, dirs: np.ndarray, ndirs: int
             ) -> np.ndarray:  # pragma: no cover - numba
    h, w = act.shape
    out = np.empty((h, w), np.int64)
    for i in range(h):
        for j in range(w):
            v = act[i, j]
            c = 0
            for t in range(thr.size):
                c += thr[t] <= v
            out[i, j] = c * ndirs + (dirs[i, j] if ndirs > 1 else 0)
    return out


def pixel_classes(act: np.ndarray, thresholds: list[int], dirs: np.ndarray | None = None
             ) -> np.ndarray:
    """Each pixel's class: its activity class (the number of ``thresholds`` at most its
    activity), times N_DIRS plus its direction class when ``dirs``
    (:func:`direction_classes`) is given."""
    thr = np.asarray(thresholds, np.int64)
    if dirs is None:
        return _classes(act, thr, act, 1)
    return _classes(act, thr, dirs, N_DIRS)


def clip_value(code: int, bits: int) -> int:
    return (1 << 62) if code == 0 else 1 << max(0, bits - CLIP_SHIFT[code])


class _BitReader:
    """MSB-first bits of ``data``, read from one big integer (no per-bit loop)."""

    def __init__(self, data: bytes) -> None:
        self.nbits = 8 * len(data)
        self.value = int.from_bytes(data, "big")
        self.pos = 0

    def u(self, n: int) -> int:
        if self.pos + n > self.nbits:
            raise MicFormatError("lossy restoration filter record ends inside a field")
        self.pos += n
        return (self.value >> (self.nbits - self.pos)) & ((1 << n) - 1)

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


def apply_channel(x: np.ndarray, cf: ChannelFilter, keep: np.ndarray, bits: int,
                   rng: tuple[int, int], act: np.ndarray | None = None,
                   dirs: np.ndarray | None = None) -> np.ndarray:
    """``act``, ``dirs``: ``activity(x)``, ``direction_classes(x)`` if the caller has them."""
    if cf.dirs > 1 and dirs is None:
        dirs = direction_classes(x)
    cls = pixel_classes(activity(x) if act is None else act, cf.thresholds,
                   dirs if cf.dirs > 1 else None)
    coefs = np.zeros((len(cf.coefs), 12), np.int64)
    on = np.zeros(len(cf.coefs), np.bool_)
    for k, c in enumerate(cf.coefs):
        if c is not None:
            coefs[k, :cf.taps] = c
            on[k] = True
    # int32 sums are exact while the samples span at most 2^16 values (12 taps * COEF_MAX
    # * 2 * 65535 < 2^31); wider spans sum in int64
    span = int(x.max()) - int(x.min()) if x.size else 0
    p = pad_edges(x, 3, np.int32 if span <= 0xFFFF else np.int64)
    return _apply(x, p, cls, keep, coefs, on, clip_value(cf.clip, bits), rng[0], rng[1])


def keep_mask(keep: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
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
    k = keep_mask(keep, x.shape)
    out = x.copy()
    for c, cf in enumerate(filters):
        if cf is not None:
            out[:, :, c] = apply_channel(np.ascontiguousarray(x[:, :, c]), cf,
                                          np.ascontiguousarray(k[:, :, c]), bits[c], rng)
    return out


__all__ = ["ChannelFilter", "N_DIRS", "N_TAPS", "activity", "apply_channel", "apply_filters",
           "clip_value", "direction_classes", "keep_mask", "pad_edges", "parse_record",
           "pixel_classes"]
