"""How the lossless encoder codes an RGB tile (the encoder's side of SPEC.md 5.1, 5.9 and
5.14): xform 0 (the channels), xform 1 (the reversible colour transform), xform 5 (a tree:
one channel, the others as themselves or less a channel coded before them) and xform 6
(xform 5's trees with difference planes wrapped modulo ``2**bits_stored`` about a base).

Why the wrap (model id 24).  The difference planes of a screen or of a tinted grey image
hold mostly 0 and a narrow band of small values about it, with rarer large ones of both
signs.  A plane's values are offset to start at its minimum, so the dense band lands in
the middle of the range, away from the low classes (SPEC 5.12) that code it cheaply.
Wrapped about a base just below the dense band, that band starts at 0 and the rare values
below it go to the top of the range.  On the eval split's oesophageal echo, B - G codes in
3,310 bytes wrapped against 3,714 plain (``benches/results/2026-12-07-wrap/``).

>>> import numpy as np
>>> d = np.array([[0, 0, 1, -1], [0, 0, 0, 9]] * 1024)
>>> d[0, 0] = -9  # rare: it wraps to the top
>>> wrap_bases(d, 8), wrap_plane(d, -1, 8)[:2].tolist()
([-1, 0], [[248, 1, 2, 0], [1, 1, 1, 10]])
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .syntax import (
    XFORM_CDIFF, XFORM_NONE, XFORM_RCT, XFORM_WRAP, pack_tree, pack_wraps, wrap_field, wrap_plane,
)

#: every channel order and references of an xform-5 tile (SPEC 5.9) but xform 0's
TREES = [((a, b, 3 - a - b), (-1, r1, r2)) for a in range(3) for b in range(3) if a != b
         for r1 in (-1, 0) for r2 in (-1, 0, 1) if (r1, r2) != (-1, -1)]
#: how many trees, best first by the estimate, :func:`encode_rgb` codes for real where it
#: codes one.  The fast coder's sizes rank trees that differ in one reference poorly (G - R
#: against G - B); on the eval split's epicardial echo the best 3 code 50,200 bytes against
#: 50,578 for the best alone (coding every way: 50,204), for about 25 % more time on the
#: screen (benches/results/2026-12-07-wrap/)
TREE_FINALISTS = 3
#: a value below a difference plane's mode joins the dense band it wraps (is at or above
#: the base) while it and every value that occurs between it and the mode hold at least
#: this share of the plane's samples (:func:`wrap_bases`)
WRAP_SHARE = 1e-3


def rct_forward(t: np.ndarray) -> list[np.ndarray]:
    """xform 1's planes Y, R - G, B - G of a (rows, cols, 3) tile (SPEC 5.1)."""
    r, g, b = (t[..., i].astype(np.int32) for i in range(3))
    y = (r + 2 * g + b) >> 2
    return [y, r - g, b - g]


def wrap_bases(d: np.ndarray, bits: int) -> list[int]:
    """The bases xform 6 tries for the difference plane ``d`` (``bits``: bits_stored), in
    increasing order: the plane's most common value and the lowest value of the dense band
    below it (see :data:`WRAP_SHARE`); none that would code as the plain plane (the base
    at the minimum of a plane spanning less than ``2**bits``)."""
    lo = int(d.min())
    counts = np.bincount((np.asarray(d) - lo).ravel())
    mode = int(np.argmax(counts))
    base = mode
    floor = WRAP_SHARE * d.size
    for v in np.flatnonzero(counts[:mode])[::-1]:  # the values below the mode that occur
        if counts[v] < floor:
            break
        base = int(v)
    plain = len(counts) <= 1 << bits
    return sorted({b + lo for b in (base, mode) if not (plain and b == 0)})


def encode_rgb(tile: np.ndarray, code: Callable[[np.ndarray], bytes], keep: int,
               bits: int = 0, wrap_code: Callable[[np.ndarray], bytes] | None = None) -> bytes:
    """An RGB tile as the smallest of xform 1 (the colour transform), xform 0 and xform 5
    (SPEC 5.9).  Every channel, the difference of each pair of channels (in one sign) and
    xform 1's Y are first sized by the fast coder's plane (model 3's kind 3, about three
    times model 14's speed), the best tree by those sizes (a difference's other sign taken
    to cost the same) joins xforms 0 and 1, and the ``keep`` of the three smallest by those
    sizes are coded by ``code``, keeping the smallest (``keep`` = 0: every plane sized by
    ``code`` itself, no estimate); where the best tree is coded, so are the next
    ``TREE_FINALISTS - 1`` trees by those sizes.  ``bits`` (model id 24: bits_stored; 0:
    never): each difference plane of a tree coded is also coded wrapped about each of
    :func:`wrap_bases` (SPEC 5.14) by ``wrap_code`` (default ``code``), and the tree is
    xform 6 where that codes smaller."""
    from .encoder_fast import encode_plane_fast

    ch = [np.ascontiguousarray(tile[..., i]) for i in range(3)]
    done: dict[tuple[int, int], bytes] = {}

    def plane(c: int, ref: int) -> np.ndarray:  # channel c, less channel ref (-1: none)
        return ch[c] if ref < 0 else ch[c] - ch[ref]

    def coded(c: int, ref: int) -> bytes:
        if (c, ref) not in done:
            done[c, ref] = code(plane(c, ref))
        return done[c, ref]

    wraps: dict[tuple[int, int], list[tuple[int, bytes]]] = {}

    def wrapped(c: int, ref: int) -> list[tuple[int, bytes]]:  # (base, the plane so wrapped)
        if (c, ref) not in wraps:
            d = plane(c, ref)
            wraps[c, ref] = [(b, (wrap_code or code)(wrap_plane(d, b, bits)))
                             for b in (wrap_bases(d, bits) if bits else ())]
        return wraps[c, ref]

    def size(c: int, ref: int) -> int:
        return len(coded(c, ref)) if not keep else len(encode_plane_fast(plane(c, ref), 0))

    y = rct_forward(tile)[0]
    est = {(c, -1): size(c, -1) for c in range(3)}
    for a, b in ((0, 1), (2, 1), (2, 0)):
        est[a, b] = est[b, a] = size(a, b)
    y_est = len(encode_plane_fast(y, 0)) if keep else 0  # (keep = 0: every way coded)
    ways: list[tuple[int, Any]] = [(est[0, -1] + est[1, -1] + est[2, -1], None),
                                   (y_est + est[0, 1] + est[2, 1], XFORM_RCT)]
    trees = sorted((sum(est[pair] for pair in _pairs(order, refs)), (order, refs))
                   for order, refs in TREES)
    trees = [t for t in trees if t[0] < ways[0][0]]  # (a tree below xform 0's estimate)
    if trees:
        ways.append(trees[0])
    ways.sort(key=lambda w: w[0])
    chosen = ways[:keep or len(ways)]
    if any(isinstance(w[1], tuple) for w in chosen):  # the next trees by the estimate too
        chosen += trees[1:TREE_FINALISTS]
    out = []
    for _, way in chosen:
        if way is None:
            out.append(bytes((XFORM_NONE,)) + coded(0, -1) + coded(1, -1) + coded(2, -1))
        elif way == XFORM_RCT:
            out.append(bytes((XFORM_RCT,)) + code(y) + coded(0, 1) + coded(2, 1))
        else:
            out.append(_tree_blob(way, coded, wrapped))
    return min(out, key=len)


def _pairs(order: tuple[int, int, int], refs: tuple[int, int, int]) -> list[tuple[int, int]]:
    """(channel, channel it less, -1 for none) of each plane of the tree (order, refs)."""
    return [(order[k], order[refs[k]] if refs[k] >= 0 else -1) for k in range(3)]


def _tree_blob(way: Any, coded: Callable[[int, int], bytes],
               wrapped: Callable[[int, int], list[tuple[int, bytes]]]) -> bytes:
    """The tile of tree ``way`` (order, refs): xform 5, or xform 6 where a difference plane
    codes smaller wrapped (``wrapped(c, ref)``: each base tried and the plane so wrapped)
    than plain, the wrap fields' bytes counted."""
    order, refs = way
    pairs = _pairs(order, refs)
    plain = [coded(c, r) for c, r in pairs]
    planes = list(plain)
    bases: list[int | None] = [None, None]
    for k in (1, 2):
        if pairs[k][1] < 0:
            continue
        cost = len(plain[k]) + 1  # with xform 6's field of a plain plane
        for b, w in wrapped(*pairs[k]):
            n = len(w) + len(wrap_field(b))
            if n < cost:
                cost, planes[k], bases[k - 1] = n, w, b
    tree = pack_tree(order, refs)
    five = bytes((XFORM_CDIFF, tree)) + b"".join(plain)
    if bases == [None, None]:
        return five
    six = bytes((XFORM_WRAP, tree)) + pack_wraps((bases[0], bases[1])) + b"".join(planes)
    return six if len(six) < len(five) else five
