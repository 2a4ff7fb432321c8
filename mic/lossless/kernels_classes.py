"""Numba kernels of the lossless coder's block classes (SPEC.md 5.3): each ``bs x bs``
block of a plane names the token table that codes its tokens; the class map is coded as
deltas from the blocks left and above, and the tokens are grouped by class.

The encoder picks each block's class (:func:`block_costs_classes`), writes the class map
(:func:`class_map_symbols`) and the tokens grouped by class (:func:`group_by_class`); the
decoder reads the map back (:func:`class_map_from_symbols`), counts each class's tokens
(:func:`class_counts`) and puts the grouped tokens back in raster order
(:func:`scatter_by_class`).  The per-pixel prediction is :mod:`mic.lossless.kernels`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .kernels import ERR_RANGE, N_TOKENS, OK


@njit(cache=True, nogil=True)
def block_costs_classes(tokens, h, w, bs, cost):
    """Encoder: for each bs x bs block pick the table with the lowest total cost.

    cost: (K, N_TOKENS) float64 bits per token under each table.  The decision
    is transmitted, so floating point here never affects decodability.
    """
    by = (h + bs - 1) // bs
    bx = (w + bs - 1) // bs
    K = cost.shape[0]
    hist = np.zeros((by * bx, N_TOKENS), np.int64)
    for y in range(h):
        row = (y // bs) * bx
        for x in range(w):
            hist[row + x // bs, tokens[y * w + x]] += 1
    classes = np.zeros(by * bx, np.int32)
    nz = np.empty(N_TOKENS, np.int64)
    for b in range(by * bx):
        m = 0
        for t in range(N_TOKENS):  # only the tokens the block uses
            if hist[b, t]:
                nz[m] = t
                m += 1
        best = 0
        bestc = 1e300
        for k in range(K):
            c = 0.0
            for j in range(m):
                t = nz[j]
                c += hist[b, t] * cost[k, t]
            if c < bestc:
                bestc = c
                best = k
        classes[b] = best
    return classes


@njit(cache=True, nogil=True)
def class_counts(classes, h, w, bs, K):
    """How many pixels each class holds (from the class map alone: block by block)."""
    bx = (w + bs - 1) // bs
    by = (h + bs - 1) // bs
    counts = np.zeros(K, np.int64)
    for i in range(by):
        bh = min(bs, h - i * bs)
        for j in range(bx):
            counts[classes[i * bx + j]] += bh * min(bs, w - j * bs)
    return counts


@njit(cache=True, nogil=True)
def _regroup(src, counts, classes, h, w, bs, to_groups):
    """Raster order -> class-by-class order (``to_groups``) or back; one loop for both sides."""
    K = counts.shape[0]
    bx = (w + bs - 1) // bs
    offs = np.zeros(K, np.int64)
    for k in range(1, K):
        offs[k] = offs[k - 1] + counts[k - 1]
    out = np.empty(h * w, np.int32)
    for y in range(h):
        row = (y // bs) * bx
        for x in range(w):
            c = classes[row + x // bs]
            if to_groups:
                out[offs[c]] = src[y * w + x]
            else:
                out[y * w + x] = src[offs[c]]
            offs[c] += 1
    return out


@njit(cache=True, nogil=True)
def group_by_class(tokens, classes, h, w, bs, K):
    """Encoder: tokens reordered class by class (raster order within a class)."""
    counts = class_counts(classes, h, w, bs, K)
    return _regroup(tokens, counts, classes, h, w, bs, True), counts


@njit(cache=True, nogil=True)
def scatter_by_class(grouped, counts, classes, h, w, bs):
    """Decoder: inverse of :func:`group_by_class`."""
    return _regroup(grouped, counts, classes, h, w, bs, False)


@njit(cache=True, nogil=True, inline="always")
def _class_pred(classes, b, bx, K):
    bxx = b % bx
    if b >= bx and bxx > 0:
        return (classes[b - 1] + classes[b - bx] + 1) >> 1
    if bxx > 0:
        return classes[b - 1]
    if b >= bx:
        return classes[b - bx]
    return K >> 1


@njit(cache=True, nogil=True)
def class_map_symbols(classes, bx, K):
    """Encoder: class map -> non-negative symbols (zig-zag delta from a causal prediction)."""
    n = classes.shape[0]
    out = np.empty(n, np.int32)
    for b in range(n):
        d = classes[b] - _class_pred(classes, b, bx, K)
        out[b] = 2 * d if d >= 0 else -2 * d - 1
    return out


@njit(cache=True, nogil=True)
def class_map_from_symbols(symbols, bx, K):
    """Decoder: inverse of :func:`class_map_symbols`; returns (status, classes)."""
    n = symbols.shape[0]
    classes = np.empty(n, np.int32)
    for b in range(n):
        s = symbols[b]
        d = (s >> 1) if (s & 1) == 0 else -((s + 1) >> 1)
        c = _class_pred(classes, b, bx, K) + d
        if c < 0 or c >= K:
            return ERR_RANGE, classes
        classes[b] = c
    return OK, classes
