"""Near-lossless (mode 2, SPEC.md 7) planes and tiles, encoder only: model ids 2 and 12
(:func:`encode_plane_near`, the lossless coder's kinds 1 and 2 with the residuals quantised)
and model id 17 (:func:`encode_plane_near_fast`, the fast coder's kinds 3-6 quantised), and
a tile's choice between its planes as they are (xform 0) and G with the exact R - G and
B - G (xform 2, :func:`encode_tile_near`).  Each function also returns, or writes back, the
reconstruction the decoder will produce, which the stream's sample CRC-32 covers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..bitstream.varint import pack_uvarints
from .encoder import _encode_coded, encode_plane, palette_plane
from .encoder_fast import _body, encode_plane_fast
from .syntax import (
    PLANE_CODED, PLANE_CONST, PLANE_FAST, PLANE_FAST_LMS, PLANE_FAST_LMS_PALETTE,
    PLANE_FAST_PALETTE, XFORM_GDIFF, XFORM_NONE, plane_head,
)


#: planes of at least this many samples code a sample of their rows each way (plain, covering
#: palette, exact palette) and then the whole plane only the way that codes the sample
#: smallest (:func:`_rows_sample`)
RANK_MIN_SAMPLES = 1 << 20


def _rows_sample(plane: np.ndarray) -> np.ndarray:
    """Four runs of rows spread over the plane, a quarter of it: what
    :func:`_near_plane` codes each way to rank the ways of a large plane."""
    h = plane.shape[0]
    run = max(1, h // 16)
    starts = [(i * h) // 4 + (h // 4 - run) // 2 for i in range(4)]
    return np.ascontiguousarray(np.concatenate([plane[s:s + run] for s in starts]))


def _near_plane(plane: np.ndarray, near: int, cover: int, plain: Callable[..., bytes],
                palette: Callable[..., bytes], rank: bool = True, only: str | None = None
                ) -> tuple[bytes, np.ndarray, str]:
    """The mode-2 plane choice both near-lossless plane coders make (SPEC 7.2): a constant
    plane where the values span at most ``2 near``; else the coded plane, ``plain(lo, x,
    maxval)`` (``x`` the values less ``lo``, overwritten with their reconstruction), and
    palette planes, ``palette(offset, span, bitmap, idx, maxval, k')`` (``bitmap`` the packed
    set of palette values from ``offset``, ``idx`` the index image, overwritten likewise):
    with ``cover`` 1 a sparse plane's (at most half its range used) covering palette
    (representatives within ``near``, ``k' = 0``, :mod:`.near_palette`; with 2 any plane's),
    and a sparse plane's exact palette with ``k' = near // G`` (``G`` its largest gap; not
    where ``k'`` is 0 and a cover was coded: that is the cover with fewer merges).  The
    smallest is kept (the first of equals), with the reconstruction it decodes to and which
    way it is (``"constant"``, ``"plain"``, ``"cover"``, ``"exact"``).  ``rank``: a plane of
    at least :data:`RANK_MIN_SAMPLES` samples codes :func:`_rows_sample` each way and then
    itself only the way that codes the sample smallest (``only``).

    The core-histogram palette of lossless planes is not offered: its indices code
    near-lossless with ``k' = k // G``, 0 where the largest gap exceeds k, and on the 19
    train planes it reaches the near-lossless samples coded smaller at k = 1, 2 and 4 every
    time: the second coding would only cost time."""
    from .near_palette import covering_palette

    lo = int(plane.min())
    hi = int(plane.max())
    if hi - lo <= 2 * near:  # one value within near of every sample
        mid = lo + (hi - lo) // 2
        return plane_head(PLANE_CONST, mid), np.full(plane.shape, mid, np.int32), "constant"
    maxval = hi - lo
    x = (plane - lo).astype(np.int32)
    counts = np.bincount(x.ravel(), minlength=maxval + 1)
    used = np.flatnonzero(counts)
    sparse = 2 * len(used) <= maxval + 1
    if rank and plane.size >= RANK_MIN_SAMPLES and cover > (not sparse):
        # a large plane with palettes to try: rank the ways on a sample of its rows
        only = _near_plane(_rows_sample(plane), near, cover, plain, palette, rank=False)[2]
    best: tuple[bytes, np.ndarray, str] = (b"", x, "")
    if only in (None, "plain"):
        best = (plain(lo, x, maxval), x + lo, "plain")  # (x now holds the reconstruction)
    pals = []
    if cover > (not sparse):
        reps, assign = covering_palette(used, counts[used], near)
        if 2 <= len(reps) < len(used):
            pals.append((reps, assign, 0, "cover"))
    kp = near // int(np.diff(used).max())
    if sparse and (kp or not pals):
        pals.append((used, np.arange(len(used)), kp, "exact"))
    for values, assign, kp, way in pals:
        if only not in (None, way):
            continue
        lut = np.zeros(maxval + 1, np.int32)
        lut[used] = assign
        idx = lut[plane - lo]
        base, span = int(values[0]), int(values[-1] - values[0])
        bitmap = np.zeros(span + 1, np.uint8)
        bitmap[values - base] = 1
        data = palette(lo + base, span, np.packbits(bitmap).tobytes(), idx, len(values) - 1,
                       kp)
        if not best[2] or len(data) < len(best[0]):
            best = (data, (np.asarray(values, np.int32)[idx] + lo).astype(np.int32), way)
    if not best[2]:  # the sample's way is not one of the plane's (it had other values)
        best = (plain(lo, x, maxval), x + lo, "plain")
    return best


def encode_plane_near(plane: np.ndarray, near: int, lms: bool = True, cover: int = 0
                      ) -> tuple[bytes, np.ndarray]:
    """One (h, w) int32 plane -> its mode-2 payload (SPEC 7.2: kind 0, 1 or 2) with maximum
    error ``near``, and the (h, w) int32 reconstruction the decoder will produce; ``lms``:
    model id 12's predictors (SPEC 7.6), else model id 2's.  ``cover`` 1 (2): a sparse (any)
    plane is also coded through a covering palette, keeping the smaller (:func:`_near_plane`).

    >>> import numpy as np
    >>> p = np.array([[10, 13, 20], [9, 30, 31]], np.int32)
    >>> data, rec = encode_plane_near(p, 2)
    >>> int(np.abs(rec - p).max()) <= 2
    True
    """
    return _near_plane(
        plane, near, cover,
        lambda lo, x, maxval: plane_head(PLANE_CODED, lo, maxval) + _encode_coded(
            x, maxval, near, lms=lms),
        lambda lo, span, bitmap, idx, maxval, kp: palette_plane(lo, span, bitmap, idx, maxval,
                                                                kp, lms))[:2]


def encode_plane_near_fast(plane: np.ndarray, near: int, lms: bool = True, cover: int = 0,
                           bands: bool = False, low: bool = False, compact: bool = False
                           ) -> tuple[bytes, np.ndarray]:
    """One (h, w) int32 plane -> its model-17 payload (SPEC 7.7: kind 0, 3 or 4; ``lms``: 5
    or 6, with model id 16's priors; ``bands``: and SPEC 5.11's bands, model id 19, SPEC 7.8;
    ``low``: and SPEC 5.12's low classes, model id 21, SPEC 7.9; ``compact``: and SPEC
    5.13's packed table sections, model id 23, SPEC 7.10) with maximum error ``near``, and
    the (h, w) int32
    reconstruction the decoder will produce, chosen as :func:`encode_plane_near` chooses
    (:func:`_near_plane`).

    >>> import numpy as np
    >>> p = np.array([[10, 13, 20], [9, 30, 31]], np.int32)
    >>> data, rec = encode_plane_near_fast(p, 2)
    >>> data[:1], int(np.abs(rec - p).max()) <= 2
    (b'\\x05', True)
    """
    import zstandard

    kind, kind_pal = (PLANE_FAST_LMS, PLANE_FAST_LMS_PALETTE) if lms else (PLANE_FAST,
                                                                          PLANE_FAST_PALETTE)

    def palette(lo: int, span: int, bitmap: bytes, idx: np.ndarray, maxval: int,
                kp: int) -> bytes:  # kind 4 or 6: kind 2's palette over a fast body
        zb = zstandard.ZstdCompressor(level=19).compress(bitmap)
        return b"".join((plane_head(kind_pal, lo, maxval), pack_uvarints(span, len(zb)), zb,
                         _body(idx, maxval, lms, lms, kp, bands=bands, low=low,
                               compact=compact)))

    return _near_plane(
        plane, near, cover,
        lambda lo, x, maxval: plane_head(kind, lo, maxval) + _body(
            x, maxval, lms, lms, near, bands=bands, low=low, compact=compact),
        palette)[:2]


def encode_tile_near(tile: np.ndarray, near: int, lms: bool, cover: int, fast: bool,
                     mixed: bool, sample_range: tuple[int, int], bands: bool = False,
                     low: bool = False, compact: bool = False) -> bytes:
    """The mode-2 payload of one (rows, cols, samples) int32 tile with maximum error
    ``near``; ``tile`` is overwritten with the samples the decoder will produce.  ``fast``:
    model id 17's planes (SPEC 7.7), from :func:`encode_plane_near_fast`, and with ``mixed``
    each also as model id 12's (kinds 1 and 2), the smaller kept; else model id 12's
    (``lms``) or 2's; ``bands`` (with ``fast`` and ``lms``): model id 19's, whose kind-5/6
    planes have SPEC 5.11's bands (SPEC 7.8); ``low`` (with ``bands``): model id 21's, and
    SPEC 5.12's low classes (SPEC 7.9); ``compact`` (with ``low``): model id 23's, their
    table sections packed as SPEC 5.13 says (SPEC 7.10).  ``cover`` as
    :func:`encode_plane_near`;
    ``sample_range`` the stream's ``(lo, hi)``."""
    if fast:  # model id 17 (SPEC 7.7): the fast coder's planes
        bands = bands and lms
        low = low and bands

        def near_plane(p: np.ndarray) -> tuple[bytes, np.ndarray]:
            got = encode_plane_near_fast(p, near, lms, cover, bands, low, compact)
            if not mixed:
                return got
            old = encode_plane_near(p, near, True, cover)  # model 12's plane (SPEC 7.6)
            return got if len(got[0]) <= len(old[0]) else old

        def exact(d: np.ndarray) -> bytes:  # xform 2's differences: model 16's (... 22's)
            return encode_plane_fast(d, 2 if lms else 1, lms, lms, bands, low, compact)
    else:

        def near_plane(p: np.ndarray) -> tuple[bytes, np.ndarray]:
            return encode_plane_near(p, near, lms, cover)

        exact = encode_plane
    planes = [near_plane(np.ascontiguousarray(tile[..., i])) for i in range(tile.shape[2])]
    best = bytes((XFORM_NONE,)) + b"".join(d for d, _ in planes)
    recon = [r for _, r in planes]
    if tile.shape[2] == 3:
        # SPEC 7.3: G near-lossless, then R - G and B - G exactly (mode-0 planes), so
        # R = (R - G) + G_rec is as close as G_rec; grey-like RGB (R = G = B but in
        # overlays) costs the G plane alone.  Keep the smaller.
        lo, hi = sample_range
        g = recon[1]
        parts, rec = [planes[1][0]], {1: g}
        for c in (0, 2):
            d = tile[..., c] - tile[..., 1]
            parts.append(exact(d))
            rec[c] = np.clip(d + g, lo, hi)
        gdiff = bytes((XFORM_GDIFF,)) + b"".join(parts)
        if len(gdiff) < len(best):
            best, recon = gdiff, [rec[0], rec[1], rec[2]]
    for i, r in enumerate(recon):
        tile[..., i] = r
    return best
