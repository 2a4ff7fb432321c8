"""For research kernels that call the fast NLMS filters one sample at a time: the steps made
at once, after the sample (the shipped kernels make them at the next prediction, fused with
its inner products: mic.lossless.kernels_fast.lms_predict).  With these, ``lms_predict``
is called with no pending steps (``g1 = g2 = sp = 0``)."""

from __future__ import annotations

import numpy as np
from numba import njit

from mic.lossless.kernels_fast import lms_finish, lms_learn


@njit(cache=False, nogil=True, inline="always")
def lms_learn_now(y, x, v, p, p0, p1, dot1, nrm1, dot2, nrm2, s, a, b, z, z2, res):
    """The residual and both filters' steps of the sample, made now (SPEC 5.8 step 5)."""
    g1, g2, s = lms_learn(y, x, v, p, p0, p1, dot1, nrm1, dot2, nrm2, np.int64(s), res)
    lms_finish(a, b, z, z2, g1, g2, s)
