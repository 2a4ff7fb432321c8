"""Which volume tiles the default lossless encoder also codes from the previous frame (SPEC
5.5's xform 4 and 5.15's xform 7): encoder-only, a choice of what to try, never of what a
stream means.

A volume's tile after the first of its group is always coded intra, and the encoder keeps an
inter way only where it codes smaller, so a volume is never larger than its frames coded one
by one.  Trying the inter ways costs one to two more codings of the tile.  Where the
previous frame predicts the tile far worse than its own neighbours do they lose, and at the
default effort they are then not tried: :func:`inter_worth_trying` compares the two
predictions' absolute errors on every fourth row (every row of a tile under 64 rows).

On the train split's series (``research/volume_inter_rule.py``,
``benches/results/2026-12-08-inter-rule``) xform 7 won on 20 of 130 consecutive pairs, all
with a ratio below 1.37, and lost on every pair at or above 1.4 (:data:`INTER_TRY_RATIO`):
the MR series measure 1.35-1.69, the unrelated CT of ``tcga_luad_kmader`` up to 5.3.  Thin
slices measure 0.04-0.43, totalseg_ct's eval slices 1.04-1.06.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> a = np.add.outer(np.arange(40), 3 * np.arange(40)).astype(np.int32)
>>> a += rng.integers(0, 8, a.shape, dtype=np.int32)  # a ramp, noise of 0..7
>>> other = rng.integers(0, 200, a.shape, dtype=np.int32)  # nothing like it
>>> bool(inter_worth_trying(a, a - 1)), bool(inter_worth_trying(a, other))
(True, False)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .kernels import _med

#: at the default effort the inter ways are tried where ``sum |x - P5|`` is below this
#: times ``sum |x - MED|``, or 0 (:func:`inter_worth_trying`); from effort 4 always.  A
#: fraction, so that the test is integer arithmetic
INTER_TRY_RATIO = (7, 5)
#: from this many rows the ratio reads every fourth row
INTER_SAMPLE_ROWS = 64


@njit(cache=True, nogil=True)
def _errors(x, ref, step):
    """``(sum |x - P5|, sum |x - MED|)`` over the samples of rows 1, 1 + step, ... and columns
    1.. of ``x``: ``P5`` SPEC 5.5's prediction from ``ref`` (``R0 + med(W - RW, N - RN, NW -
    RNW)``), ``MED`` the median edge rule on ``W, N, NW``."""
    h, w = x.shape
    e5 = np.int64(0)
    em = np.int64(0)
    for y in range(1, h, step):
        for i in range(1, w):
            v = np.int64(x[y, i])
            wv = np.int64(x[y, i - 1])
            nv = np.int64(x[y - 1, i])
            nwv = np.int64(x[y - 1, i - 1])
            p5 = np.int64(ref[y, i]) + _med(wv - np.int64(ref[y, i - 1]),
                                            nv - np.int64(ref[y - 1, i]),
                                            nwv - np.int64(ref[y - 1, i - 1]))
            e5 += abs(v - p5)
            em += abs(v - _med(wv, nv, nwv))
    return e5, em


def inter_worth_trying(plane: np.ndarray, ref: np.ndarray) -> bool:
    """Whether the default encoder also codes ``plane`` (h, w) from ``ref``, the previous
    frame's co-located samples (same shape): its samples' absolute error from SPEC 5.5's
    ``P5`` 0 or below :data:`INTER_TRY_RATIO` times that from the median edge rule."""
    if plane.shape != ref.shape:
        raise ValueError(f"inter_worth_trying: plane {plane.shape} and reference {ref.shape}")
    if plane.shape[0] < 2 or plane.shape[1] < 2:
        return True  # nothing to measure: a row or a column; trying costs little
    step = 4 if plane.shape[0] >= INTER_SAMPLE_ROWS else 1
    e5, em = _errors(plane, ref, step)
    num, den = INTER_TRY_RATIO
    return bool(e5 == 0 or den * e5 < num * em)
