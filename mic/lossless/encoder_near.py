"""Near-lossless (mode 2, SPEC.md 7) planes and tiles, encoder only: model ids 2 and 12
(:func:`encode_plane_near`, the lossless coder's kinds 1 and 2 with the residuals quantised)
and model id 17 (:func:`encode_plane_near_fast`, the fast coder's kinds 3-6 quantised), and
a tile's choice between its planes as they are (xform 0) and G with the exact R - G and
B - G (xform 2, :func:`encode_tile_near`).  Each function also returns, or writes back, the
reconstruction the decoder will produce, which the stream's sample CRC-32 covers.
"""

from __future__ import annotations

import numpy as np

from ..bitstream.varint import pack_uvarints
from .encoder import _encode_coded, _prepare, encode_plane, palette_plane
from .encoder_fast import _body, encode_plane_fast
from .syntax import (
    PLANE_CODED, PLANE_CONST, PLANE_FAST, PLANE_FAST_LMS, PLANE_FAST_LMS_PALETTE,
    PLANE_FAST_PALETTE, XFORM_GDIFF, XFORM_NONE, plane_head,
)


def encode_plane_near(plane: np.ndarray, near: int, lms: bool = True, cover: int = 0
                      ) -> tuple[bytes, np.ndarray]:
    """One (h, w) int32 plane -> its mode-2 payload (SPEC 7.2) with maximum error ``near``,
    and the (h, w) int32 reconstruction the decoder will produce; ``lms``: model id 12's
    predictors (SPEC 7.6), else model id 2's.  ``cover`` 1 (2): a sparse (any) plane is also
    coded through a covering palette (:mod:`.near_palette`), keeping the smaller.

    >>> import numpy as np
    >>> p = np.array([[10, 13, 20], [9, 30, 31]], np.int32)
    >>> data, rec = encode_plane_near(p, 2)
    >>> int(np.abs(rec - p).max()) <= 2
    True
    """
    lo = int(plane.min())
    hi = int(plane.max())
    if hi - lo <= 2 * near:  # one value within near of every sample
        mid = lo + (hi - lo) // 2
        return plane_head(PLANE_CONST, mid), np.full(plane.shape, mid, np.int32)
    # (the core-histogram palette is not offered: its indices code near-lossless with
    # k' = k // G, 0 where the largest gap G exceeds k, and on the 19 train planes it
    # reaches the near-lossless samples coded smaller at k = 1, 2 and 4 every time: the
    # second coding would only cost time)
    idx, maxval, bitmap = _prepare(plane, core=False)
    x = (plane - lo).astype(np.int32)
    data = plane_head(PLANE_CODED, lo, hi - lo) + _encode_coded(x, hi - lo, near, lms=lms)
    x += lo  # the kernel left the reconstruction in x
    got = None
    if cover > (bitmap is None):
        from .near_palette import encode_plane_cover

        got = encode_plane_cover(plane, near, lms)
        if got is not None and len(got[0]) < len(data):
            data, x = got
    if bitmap is None:
        return data, x
    # A sparse histogram (SPEC 7.2): the palette's indices coded near-lossless with
    # k' = near // G (G its largest gap; 0: losslessly), so that no plane codes larger than
    # the lossless palette would.  Keep the smaller.
    values = np.flatnonzero(np.unpackbits(np.frombuffer(bitmap, np.uint8))[:hi - lo + 1])
    kp = near // int(np.diff(values).max())
    if kp == 0 and got is not None:  # the exact palette would be the cover, less merged
        return data, x
    pal = palette_plane(lo, hi - lo, bitmap, idx, maxval, kp, lms)
    if len(pal) >= len(data):
        return data, x
    return pal, (values[idx] + lo).astype(np.int32)


def encode_plane_near_fast(plane: np.ndarray, near: int, lms: bool = True, cover: int = 0
                           ) -> tuple[bytes, np.ndarray]:
    """One (h, w) int32 plane -> its model-17 payload (SPEC 7.7: kind 0, 3 or 4; ``lms``: 5
    or 6, with model id 16's priors) with maximum error ``near``, and the (h, w) int32
    reconstruction the decoder will produce.  As
    :func:`encode_plane_near` chooses (``cover`` included): a sparse
    histogram (at most half its range used) is also coded through its exact palette (indices
    with ``k' = near // G``) and, with ``cover`` >= 1, through a covering palette (``k' = 0``;
    every plane with ``cover`` 2); the smallest is kept.

    >>> import numpy as np
    >>> p = np.array([[10, 13, 20], [9, 30, 31]], np.int32)
    >>> data, rec = encode_plane_near_fast(p, 2)
    >>> data[:1], int(np.abs(rec - p).max()) <= 2
    (b'\\x05', True)
    """
    import zstandard

    from .near_palette import covering_palette

    lo = int(plane.min())
    hi = int(plane.max())
    if hi - lo <= 2 * near:  # one value within near of every sample
        mid = lo + (hi - lo) // 2
        return plane_head(PLANE_CONST, mid), np.full(plane.shape, mid, np.int32)
    kind, kind_pal = (PLANE_FAST_LMS, PLANE_FAST_LMS_PALETTE) if lms else (PLANE_FAST,
                                                                          PLANE_FAST_PALETTE)
    x = (plane - lo).astype(np.int32)
    maxval = hi - lo
    best = (plane_head(kind, lo, maxval) + _body(x, maxval, lms, lms, near), x + lo)
    counts = np.bincount((plane - lo).ravel(), minlength=maxval + 1)
    used = np.flatnonzero(counts)
    sparse = 2 * len(used) <= maxval + 1
    pals = []
    if cover > (not sparse):  # representatives within near of every value, k' = 0
        reps, assign = covering_palette(used, counts[used], near)
        if 2 <= len(reps) < len(used):
            pals.append((reps, assign, 0))
    kp = near // int(np.diff(used).max())
    if sparse and (kp or not pals):  # the exact palette: indices with k' = near // G (SPEC
        # 7.2); with k' = 0 it is the cover with fewer merges, not coded beside it (as model 12)
        pals.append((used, np.arange(len(used)), kp))
    for values, assign, kp in pals:
        lut = np.zeros(maxval + 1, np.int32)
        lut[used] = assign
        idx = lut[plane - lo]
        base, span = int(values[0]), int(values[-1] - values[0])
        bitmap = np.zeros(span + 1, np.uint8)
        bitmap[values - base] = 1
        zb = zstandard.ZstdCompressor(level=19).compress(np.packbits(bitmap).tobytes())
        n = len(values) - 1
        data = b"".join((plane_head(kind_pal, lo + base, n), pack_uvarints(span, len(zb)), zb,
                         _body(idx, n, lms, lms, kp)))  # idx: its reconstruction, in place
        if len(data) < len(best[0]):
            best = (data, (np.asarray(values, np.int32)[idx] + lo).astype(np.int32))
    return best


def encode_tile_near(tile: np.ndarray, near: int, lms: bool, cover: int, fast: bool,
                     mixed: bool, sample_range: tuple[int, int]) -> bytes:
    """The mode-2 payload of one (rows, cols, samples) int32 tile with maximum error
    ``near``; ``tile`` is overwritten with the samples the decoder will produce.  ``fast``:
    model id 17's planes (SPEC 7.7), from :func:`encode_plane_near_fast`, and with ``mixed``
    each also as model id 12's (kinds 1 and 2), the smaller kept; else model id 12's
    (``lms``) or 2's.  ``cover`` as :func:`encode_plane_near`; ``sample_range`` the stream's
    ``(lo, hi)``."""
    if fast:  # model id 17 (SPEC 7.7): the fast coder's planes

        def near_plane(p: np.ndarray) -> tuple[bytes, np.ndarray]:
            got = encode_plane_near_fast(p, near, lms, cover)
            if not mixed:
                return got
            old = encode_plane_near(p, near, True, cover)  # model 12's plane (SPEC 7.6)
            return got if len(got[0]) <= len(old[0]) else old

        def exact(d: np.ndarray) -> bytes:  # xform 2's differences: model 16's planes
            return encode_plane_fast(d, 2 if lms else 1, lms, lms)
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
