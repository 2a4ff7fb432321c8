"""Exact integer log-magnitudes, the context features of the lossy entropy models.

``logmag(v) = floor(16 * log2(1 + |v|))`` for integer ``v``, computed without floating
point: ``logmag(v)`` is the number of thresholds ``t_k <= 1 + |v|`` where ``t_k`` is the
smallest integer with ``t_k**16 >= 2**k`` (Python integers, exact).  Encoder and decoder
therefore derive identical features from identical decoded symbols on every machine;
the torch twin used in training (:func:`mic.train.layers.logmag_torch`) searches the
same thresholds.

>>> import numpy as np
>>> logmag(np.array([0, 1, -1, 3, 255, 1 << 20])).tolist()
[0, 16, 16, 32, 128, 320]
"""

from __future__ import annotations

import numpy as np

FRAC = 4  # 16 steps per octave
MAX_ABS = (1 << 24) - 1  # |v| is clamped to this before the lookup
N_THRESH = 16 * 24


def _iroot16_ceil(k: int) -> int:
    """Smallest integer t >= 1 with t**16 >= 2**k."""
    target = 1 << k
    lo, hi = 1, 1 << (k // 16 + 2)
    while lo < hi:
        mid = (lo + hi) // 2
        if mid ** 16 >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


#: t_1 .. t_N (int64, ascending)
THRESHOLDS = np.array([_iroot16_ceil(k) for k in range(1, N_THRESH + 1)], np.int64)


#: logmag of 0 .. LUT_SIZE - 1 (the common case), from the thresholds
LUT_SIZE = 1 << 16
_LUT = np.searchsorted(THRESHOLDS, np.arange(1, LUT_SIZE + 1), side="right").astype(np.int32)
_kernel = None


def logmag(v: np.ndarray, dtype: type = np.int32) -> np.ndarray:
    """``floor(16 log2(1 + |v|))`` of integer-valued ``v`` (any int/float dtype), as
    ``dtype`` (int32, or int64 for the context features)."""
    global _kernel
    if _kernel is None:  # loaded lazily so that importing this module stays cheap
        from .kernels import logmag_kernel as _kernel
    a = np.ascontiguousarray(v, np.int64)
    out = np.empty(a.size, dtype)
    _kernel(a.reshape(-1), _LUT, THRESHOLDS, MAX_ABS, out)
    return out.reshape(a.shape)

