"""Exact-constant regions of a lossy plane, encoder side (SPEC.md 6.6; the decoder reads
the record in :mod:`mic.lossy.dec_tile`).

Medical images often hold large areas of one exact value: the padding outside a CT
field of view, the black bars of a resized MR, the outside of an ultrasound sector or
of an X-ray collimator.  Their sharp, straight borders are costly for a wavelet coder at
low rates and ring into the anatomy.  The encoder may send such a region as a shape
(:mod:`mic.entropy.shape`) and a value; it then codes the plane with the region filled
smoothly from its surroundings, and the decoder writes the value back into the region
exactly.  Which pixels are sent is the encoder's choice (any subset of the pixels that
hold the value); the decoder only obeys the shape.

>>> import numpy as np
>>> a = np.full((64, 64), 7, np.int32); a[16:48, 20:44] = 900 + np.arange(24)
>>> [(v, int(m.sum()) == 64 * 64 - 32 * 24) for v, m in constant_regions(a)]
[((7,), True)]
>>> v, m = constant_regions(a)[0]
>>> f = fill_region(a.astype(float), m)
>>> bool(f[~m].tolist() == a[~m].tolist()), bool(900 <= f[m].min() and f[m].max() <= 923)
(True, True)
"""

from __future__ import annotations

from collections.abc import Callable

import numba as nb
import numpy as np

#: a region is worth trying only if it covers at least this fraction of the plane
MIN_FRACTION = 0.01
#: the openings the encoder tries: exact borders, then smoother, cheaper shapes
RADII = (1, 3, 6)
#: how many of the most frequent values are weighed as the region's value
VALUES_TRIED = 3


@nb.njit(cache=True, nogil=True)
def _morph(m, erode):  # pragma: no cover - numba
    """AND (``erode``) or OR of each 3 x 3 neighbourhood of the 0/1 uint8 plane ``m``,
    edges replicated: along the rows, then along the columns (the same result, separable;
    bitwise on bytes, which vectorises)."""
    h, w = m.shape
    rows = np.empty((h, w), np.uint8)
    for i in range(h):
        r, o = m[i], rows[i]
        if w == 1:
            o[0] = r[0]
            continue
        if erode:
            o[0] = r[0] & r[1]
            o[w - 1] = r[w - 2] & r[w - 1]
            for j in range(1, w - 1):
                o[j] = r[j - 1] & r[j] & r[j + 1]
        else:
            o[0] = r[0] | r[1]
            o[w - 1] = r[w - 2] | r[w - 1]
            for j in range(1, w - 1):
                o[j] = r[j - 1] | r[j] | r[j + 1]
    out = np.empty((h, w), np.uint8)
    for i in range(h):
        u, c, d, o = rows[max(i - 1, 0)], rows[i], rows[min(i + 1, h - 1)], out[i]
        if erode:
            for j in range(w):
                o[j] = u[j] & c[j] & d[j]
        else:
            for j in range(w):
                o[j] = u[j] | c[j] | d[j]
    return out


@nb.njit(cache=True, nogil=True)
def _opening(m, radius):  # pragma: no cover - numba
    e = m
    for _ in range(radius):
        e = _morph(e, True)
    for _ in range(radius):
        e = _morph(e, False)
    return e & m


def opening(m: np.ndarray, radius: int = 1) -> np.ndarray:
    """Morphological opening by a (2 radius + 1)-pixel square: drops specks, thin lines
    and ragged borders narrower than that; the result is a subset of ``m`` (edges
    replicated; one Numba kernel, no GIL held)."""
    return _opening(np.ascontiguousarray(m, np.bool_).view(np.uint8), int(radius)).view(np.bool_)


def value_counts(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(flat, return_counts=True)`` of one plane's int64 values: by counting
    where their span allows (no sort), else by ``np.unique``."""
    lo, hi = int(flat.min()), int(flat.max())
    if hi - lo > 1 << 22:
        return np.unique(flat, return_counts=True)
    counts = np.bincount(flat - lo)
    vals = np.flatnonzero(counts)
    return vals + lo, counts[vals]


def constant_regions(t: np.ndarray, radii: tuple[int, ...] = RADII
                     ) -> list[tuple[tuple[int, ...], np.ndarray]]:
    """Candidate regions of a tile's planes ``t`` ((h, w) or (h, w, k)): of the
    :data:`VALUES_TRIED` most frequent values (k-tuples: every plane at once), the one whose
    pixels cover most once opened, and those pixels opened by :func:`opening` with each
    radius, without repeats; a candidate must cover at least
    :data:`MIN_FRACTION` of the tile and not all of it."""
    t = np.asarray(t)
    t3 = t[:, :, None] if t.ndim == 2 else t
    k = t3.shape[2]
    flat = t3.reshape(-1, k).astype(np.int64)
    if k == 1:
        vals, counts = value_counts(flat[:, 0])
        vals = vals[:, None]
    else:
        vals, counts = np.unique(flat, axis=0, return_counts=True)
    # of the few most frequent values, the one whose pixels cover most once opened
    best = None
    for i in np.argsort(-counts, kind="stable")[:VALUES_TRIED]:
        if best is not None and counts[i] <= best[0]:
            break  # cannot cover more than it has pixels
        equal_i = (t3[:, :, 0] == vals[i, 0].astype(t3.dtype) if k == 1 else
                   np.all(t3 == vals[i].astype(t3.dtype), axis=2))
        opened = opening(equal_i, radii[0])
        n = int(opened.sum())
        if best is None or n > best[0]:
            best = (n, tuple(int(v) for v in vals[i]), equal_i, opened)
    _, values, equal, first = best
    out: list[tuple[tuple[int, ...], np.ndarray]] = []
    for radius in radii:
        m = first if radius == radii[0] else opening(equal, radius)
        n = int(m.sum())
        if n < MIN_FRACTION * m.size or n == m.size or any((m == o).all() for _, o in out):
            continue
        out.append((values, m))
    return out


def _box3(x: np.ndarray) -> np.ndarray:
    """3 x 3 mean with edge replication (separable)."""
    p = np.pad(x, 1, mode="edge")
    r = p[:, :-2] + p[:, 1:-1] + p[:, 2:]
    return (r[:-2] + r[1:-1] + r[2:]) / 9.0


def fill_region(x: np.ndarray, m: np.ndarray, smooth: int = 32) -> np.ndarray:
    """``x`` with the pixels under ``m`` replaced by a smooth extension of the others:
    mask-weighted averages on a pyramid ("push-pull"), upsampled and box-smoothed level
    by level, then ``smooth`` relaxation sweeps (each filled pixel takes its 3 x 3 mean).
    Known pixels are unchanged; filled values stay within the known values' range."""
    x = np.asarray(x, np.float64)
    if not m.any():
        return x.copy()
    if m.all():
        return np.zeros_like(x)
    f = _push_pull(np.where(m, 0.0, x), (~m).astype(np.float64))
    f = np.where(m, f, x)
    ii, jj = np.nonzero(m)
    return _relax(f, ii.astype(np.int64), jj.astype(np.int64), smooth)


@nb.njit(cache=True, nogil=True)
def _relax(f, ii, jj, sweeps):  # pragma: no cover - numba
    """``sweeps`` Jacobi sweeps: each listed pixel takes the mean of its 3 x 3
    neighbourhood (edge replication); the other pixels stay."""
    h, w = f.shape
    g = f.copy()
    for _ in range(sweeps):
        for k in range(ii.size):
            i, j = ii[k], jj[k]
            acc = 0.0
            for di in range(-1, 2):
                r = min(max(i + di, 0), h - 1)
                for dj in range(-1, 2):
                    acc += f[r, min(max(j + dj, 0), w - 1)]
            g[i, j] = acc / 9.0
        for k in range(ii.size):
            f[ii[k], jj[k]] = g[ii[k], jj[k]]
    return f


def _push_pull(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted values ``v`` (zero where ``w`` = 0) -> every pixel's estimate."""
    h, wd = v.shape
    if h <= 2 or wd <= 2:
        mean = v.sum() / max(w.sum(), 1e-12)
        return np.where(w > 0, v / np.maximum(w, 1e-12), mean)
    ph, pw = h % 2, wd % 2
    vp = np.pad(v, ((0, ph), (0, pw)))
    wp = np.pad(w, ((0, ph), (0, pw)))
    vs = vp.reshape(vp.shape[0] // 2, 2, vp.shape[1] // 2, 2).sum((1, 3))
    ws = wp.reshape(wp.shape[0] // 2, 2, wp.shape[1] // 2, 2).sum((1, 3))
    coarse = _push_pull(vs, ws)
    up = _box3(np.repeat(np.repeat(coarse, 2, 0), 2, 1)[:h, :wd])
    return np.where(w > 0, v / np.maximum(w, 1e-12), up)


def edge_contrast(t: np.ndarray, values: tuple[int, ...], m: np.ndarray) -> float:
    """The median step from a region's value to the pixels just outside it (their largest
    difference over the planes of ``t`` (h, w, k)): the edge the region spares the
    wavelet.

    >>> t = np.zeros((8, 8, 1), np.int32); t[:, 4:] = 30
    >>> edge_contrast(t, (0,), t[:, :, 0] == 0)
    30.0
    """
    out = np.zeros_like(m)
    out[1:] |= m[:-1]
    out[:-1] |= m[1:]
    out[:, 1:] |= m[:, :-1]
    out[:, :-1] |= m[:, 1:]
    out &= ~m
    if not out.any():
        return 0.0
    d = np.abs(t[out].astype(np.int64) - np.asarray(values, np.int64)).max(axis=-1)
    return float(np.median(d))


def rule_candidate(t: np.ndarray, exact_ratio: float, min_fraction: float = 0.0,
                   accept: Callable[[tuple[int, ...], np.ndarray], bool] | None = None
                   ) -> list[tuple[tuple[int, ...], np.ndarray, bytes | None]]:
    """The region rule's candidate of the planes ``t`` (h, w, k) (a list of at most one
    (values, mask, its encoded shape if this had to encode it, else None)): the smoothest
    (radius ``RADII[-1]``), or the exact one of the same value (radius 1) where its shape
    costs at most ``exact_ratio`` times the smoothest's (0: never; a thin strip of the
    value beside the image, which the smoothest opening drops, keeps the costly step
    edge).  The value is the smoothest candidate's: one whose exact pixels are scattered
    (a frequent level of the anatomy) is never a region by rule.  None where even the
    exact one covers less than ``min_fraction`` of the tile (the rule's threshold: the
    smoothest, a subset, would fail it too), or where ``accept`` (the rule's test of a
    candidate's values and mask) does not take the chosen one; where it takes neither
    the smoothest nor the exact one, no shape is encoded.  Each candidate is tested at
    most once."""
    from ..entropy.shape import encode_shape

    tested: dict[bool, bool] = {}

    def takes(values: tuple[int, ...], m: np.ndarray, exact: bool) -> bool:
        if accept is None:
            return True
        if exact not in tested:
            tested[exact] = accept(values, m)
        return tested[exact]

    smooth = [(v, m, None) for v, m in constant_regions(t, (RADII[-1],))]
    if exact_ratio <= 0 or not smooth:
        return [c for c in smooth if takes(c[0], c[1], False)]
    values, m_s, _ = smooth[0]
    t3 = t[:, :, None] if t.ndim == 2 else t
    m_e = opening(np.all(t3 == np.asarray(values, t3.dtype), axis=2), 1)
    if m_e.mean() < min_fraction:
        return []
    if m_e.all() or (m_e == m_s).all():
        return smooth if takes(values, m_s, False) else []
    if not (takes(values, m_s, False) or takes(values, m_e, True)):
        return []  # whichever the shapes chose, the rule would not take it
    shape_s, shape_e = encode_shape(m_s), encode_shape(m_e)
    if len(shape_e) <= exact_ratio * len(shape_s):
        return [(values, m_e, shape_e)] if takes(values, m_e, True) else []
    return [(values, m_s, shape_s)] if takes(values, m_s, False) else []


__all__ = ["MIN_FRACTION", "RADII", "constant_regions", "edge_contrast", "fill_region", "opening",
           "rule_candidate"]
