"""Near-lossless through a covering palette (encoder only; SPEC.md 7.2, kind 2, unchanged).

A near-lossless plane may be written as a palette plane whose values are not the plane's
own but **representatives**: every value the plane uses lies within ``k`` of one of them.
Each sample is replaced by its value's representative and the index image is coded
losslessly: consecutive representatives are more than ``k`` apart, so SPEC 7.2's
``k' = k // G`` is 0 and the decoder (which knows nothing of this) decodes the indices
exactly and maps them to representatives, within ``k`` of the original samples.

This pays where quantising the prediction residual (SPEC 7.4) cannot: sparse histograms
(values mapped through a look-up table, with gaps of several codes) whose gaps defeat the
residual quantiser's uniform step; and, at higher efforts, dense planes that code smaller
quantised before prediction than after.  The encoder keeps whichever coding is smallest
(:func:`mic.lossless.encoder_near._near_plane`, for model ids 2, 12 and 17).

:func:`covering_palette` picks the fewest representatives (the greedy interval cover: each
group starts at the first value not yet covered and takes every value within ``2 k`` of
it), each one the group's count-weighted mean, rounded and moved just enough to stay
within ``k`` of the group's ends.

>>> import numpy as np
>>> reps, assign = covering_palette(np.array([0, 1, 2, 5, 9, 10]), np.array([1, 1, 1, 4, 2, 2]), 1)
>>> reps.tolist(), assign.tolist()
([1, 5, 10], [0, 0, 0, 1, 2, 2])
"""

from __future__ import annotations

import numpy as np

__all__ = ["covering_palette"]


def covering_palette(values: np.ndarray, counts: np.ndarray, k: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``(reps, assign)`` for the sorted distinct ``values`` (with their ``counts``):
    ``reps`` increasing, ``|values[i] - reps[assign[i]]| <= k`` and consecutive ``reps``
    more than ``k`` apart (see the module docstring)."""
    v = np.asarray(values, np.int64)
    c = np.asarray(counts, np.float64)
    # group starts: a value starts a group when it lies beyond 2k of the current start
    n = len(v)
    assign = np.empty(n, np.int64)
    reps: list[int] = []
    i = 0
    while i < n:
        j = int(np.searchsorted(v, v[i] + 2 * k, side="right"))
        w = c[i:j]
        m = int(np.floor((v[i:j] * w).sum() / w.sum() + 0.5))
        reps.append(min(max(m, int(v[j - 1]) - k), int(v[i]) + k))
        assign[i:j] = len(reps) - 1
        i = j
    return np.array(reps, np.int64), assign
