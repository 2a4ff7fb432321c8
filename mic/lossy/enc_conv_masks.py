"""Constant-region masks of the conv models' tiles (SPEC.md 6.10, xform flag 16): encoder
only.

Medical images often hold large regions of one exact value with sharp, straight borders:
the black bars an MR is padded with, a radiograph's collimator shutters saturated to white,
the field outside a CT's reconstruction circle.  A learned transform of stride 16 spends
many bits on such step edges and still rings across them; JPEG 2000 codes them cheaply.
So a conv tile may send, per coded plane, up to :data:`~mic.lossy.conv_syntax.MAX_MASKS`
values, each with a bit mask of the pixels that take it (zstd-coded, a few bytes for a
rectangle); the encoder fills those pixels with a smooth continuation of the rest of the
plane before the analysis transform (so the edge is gone from what the model codes), and
the decoder sets them back to their value exactly.

:func:`constant_regions` finds the regions: for each of the plane's most frequent values,
the pixels of that value that lie in a ``k x k`` square of it (a morphological opening,
so that isolated pixels and thin lines of the value stay with the model; ``k`` = 4, then 16),
kept where the
region covers at least :data:`MIN_FRACTION` of the plane and its mask codes in at most
:data:`MAX_MASK_BITS` bits per masked pixel (solid regions with simple borders: a
fragmented region's mask would cost more than the model saves).  :func:`fill_masked`
is a push-pull fill (averages over a pyramid, bilinear on the way up).

The rule was chosen on the train split (top 8 bits, one image per source, cnn, five
qualities): BD-rate against the same model without masks -62 % on a dental panoramic
with a white border, -52 % on a CR with black borders, 0 elsewhere (no region passes the
rule; without the bits-per-pixel rule two images with flat noisy backgrounds lost 79 % and
205 % to fragmented masks).  Where a value's region fails the rule with 4 x 4 squares, it is
tried again with 16 x 16 ones (:data:`OPEN_SIDES`).
"""

from __future__ import annotations

import numpy as np

#: side of the square of the opening: a masked pixel lies in a k x k square of its value
OPEN_SIDE = 4
#: the sides tried in turn, until a region passes the rule: a value that also occurs in
#: small scattered patches (the air of a CT next to its black bars) keeps only its large
#: regions at the second
OPEN_SIDES = (OPEN_SIDE, 16)
#: a value's region must cover at least this share of the plane's pixels ...
MIN_FRACTION = 0.01
#: ... and at least this many pixels
MIN_PIXELS = 256
#: a region is kept only if its zstd-coded mask costs at most this many bits a pixel of it
MAX_MASK_BITS = 0.02
#: zstd level of the masks (their decoding does not depend on it)
ZSTD_LEVEL = 19
#: a mask that takes more than QUICK_SLACK times its budget at this faster level is refused
#: without the slow one (on simple masks the two give the same size)
QUICK_LEVEL = 9
QUICK_SLACK = 1.5


def _runs(m: np.ndarray, k: int, axis: int, op) -> np.ndarray:  # noqa: ANN001 - a ufunc
    """``op`` (logical and / or) over every run of ``k`` along ``axis``: length n - k + 1,
    run anchored at its first element (spans doubled: about log2 k passes)."""
    span = 1
    while span < k:
        step = min(span, k - span)
        n = m.shape[axis]
        a, b = [slice(None)] * 2, [slice(None)] * 2
        a[axis], b[axis] = slice(0, n - step), slice(step, n)
        m = op(m[tuple(a)], m[tuple(b)])
        span += step
    return m


def opening(m: np.ndarray, k: int = OPEN_SIDE) -> np.ndarray:
    """The pixels of the boolean image ``m`` that lie in a k x k square of ``m`` (the
    morphological opening by that square).

    >>> m = np.zeros((6, 6), bool); m[1:5, 1:5] = True; m[0, 5] = True
    >>> int(opening(m, 4).sum()), bool(opening(m, 4)[0, 5])
    (16, False)
    """
    h, w = m.shape
    if h < k or w < k:
        return np.zeros(m.shape, bool)
    full = _runs(_runs(m, k, 0, np.logical_and), k, 1, np.logical_and)  # squares' corners
    # a pixel is covered if a full square starts within k - 1 above / left of it
    pad = np.pad(full, k - 1)
    return _runs(_runs(pad, k, 0, np.logical_or), k, 1, np.logical_or)


def pack_mask(mask: np.ndarray, level: int = ZSTD_LEVEL) -> bytes:
    """The zstd frame of a (h, w) boolean mask's bits: each row MSB first, zero-padded to a
    whole byte (SPEC 6.10; so that rows repeat byte for byte whatever the width)."""
    import zstandard

    return zstandard.ZstdCompressor(level=level).compress(np.packbits(mask, axis=-1).tobytes())


def constant_regions(p: np.ndarray, max_masks: int) -> list[tuple[int, np.ndarray, bytes]]:
    """(value, mask, coded mask) of each constant region of the integer plane ``p`` worth
    sending (see the module's rule), most frequent value first, at most ``max_masks``;
    the masks are disjoint.

    >>> p = np.arange(256 * 256).reshape(256, 256) % 7; p[:, :64] = 0
    >>> [(v, int(m.sum())) for v, m, _ in constant_regions(p, 3)]
    [(0, 16384)]
    """
    lo = int(p.min())
    if int(p.max()) - lo < 1 << 20:  # a histogram (one pass), else a sort
        counts = np.bincount((p - lo).ravel())
        vals = np.flatnonzero(counts)
        counts = counts[vals]
        vals = vals + lo
    else:
        vals, counts = np.unique(p, return_counts=True)
    need = max(MIN_PIXELS, MIN_FRACTION * p.size)
    out: list[tuple[int, np.ndarray, bytes]] = []
    blocks = None
    for i in np.argsort(-counts, kind="stable")[:max_masks]:
        if counts[i] < need:
            break
        if blocks is None:  # the values of the constant 2 x 2 blocks (a cheap first test)
            c = p[:-1, :-1]
            flat = (c == p[1:, :-1]) & (c == p[:-1, 1:]) & (c == p[1:, 1:])
            blocks = c[flat]
        # a union of 4 x 4 squares holds at least 9/16 as many 2 x 2 blocks as pixels
        if 2 * int(np.count_nonzero(blocks == vals[i])) < need:
            continue
        eq = p == vals[i]
        for side in OPEN_SIDES:
            m = opening(eq, side)
            n = int(m.sum())
            if n < need:
                break
            if 8 * len(pack_mask(m, QUICK_LEVEL)) > QUICK_SLACK * MAX_MASK_BITS * n:
                continue  # clearly too dear (level 19 is slow on a fragmented mask)
            coded = pack_mask(m)
            if 8 * len(coded) <= MAX_MASK_BITS * n:
                out.append((int(vals[i]), m, coded))
                break
    return out


def _up2(e: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear doubling of ``e`` (sample centres at half-pixel offsets, edges clamped),
    cropped to (h, w)."""
    for axis in (0, 1):
        n = e.shape[axis]
        idx = np.arange(n)
        prev = np.take(e, np.maximum(idx - 1, 0), axis=axis)
        nxt = np.take(e, np.minimum(idx + 1, n - 1), axis=axis)
        even, odd = 0.75 * e + 0.25 * prev, 0.75 * e + 0.25 * nxt
        e = np.stack([even, odd], axis=axis + 1).reshape(
            e.shape[:axis] + (2 * n,) + e.shape[axis + 1:])
    return e[:h, :w]


def fill_masked(p: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """``p`` (float64) with its ``unknown`` pixels replaced by a smooth continuation of the
    others (push-pull: weighted means over a pyramid of 2 x 2 sums, then from the coarsest
    level down, each level's unknown share taken from the bilinearly doubled level above).

    >>> p = np.array([[0., 0, 9, 9]] * 4); u = np.zeros((4, 4), bool); u[:, 1:3] = True
    >>> q = fill_masked(p, u); bool((q[:, 0] == 0).all() and (q[:, 1] < q[:, 2]).all())
    True
    """
    x = p.astype(np.float64)
    wgt = (~unknown).astype(np.float64)
    if not wgt.any():
        return x
    levels = [(x * wgt, wgt)]
    while not (levels[-1][1] > 0).all() and min(levels[-1][1].shape) > 1:
        s, wt = levels[-1]
        h, w = s.shape
        H, W = (h + 1) // 2, (w + 1) // 2
        s2, w2 = np.zeros((2 * H, 2 * W)), np.zeros((2 * H, 2 * W))
        s2[:h, :w], w2[:h, :w] = s, wt
        levels.append((s2.reshape(H, 2, W, 2).sum((1, 3)), w2.reshape(H, 2, W, 2).sum((1, 3))))
    s, wt = levels[-1]
    est = np.where(wt > 0, s / np.maximum(wt, 1e-300), s.sum() / wt.sum())
    for s, wt in reversed(levels[:-1]):
        known = np.minimum(wt, 1.0)
        est = known * (s / np.maximum(wt, 1e-300)) + (1 - known) * _up2(est, *s.shape)
    out = x.copy()
    out[unknown] = est[unknown]
    return out


__all__ = ["MAX_MASK_BITS", "MIN_FRACTION", "MIN_PIXELS", "OPEN_SIDE", "OPEN_SIDES", "constant_regions",
           "fill_masked", "opening", "pack_mask"]
