"""The fast NLMS filters of plane kinds 5 and 6 (model id 14, SPEC.md 5.8), shared by the fast
plane's token pass (:mod:`mic.lossless.kernels_fast_enc`) and its decoder
(:mod:`mic.lossless.kernels_fast`, which re-exports these names): a fresh filter state, the
prediction with the sample before's steps fused in, the gains a sample's steps take, and the
plane's last steps.  Integer arithmetic throughout; the inner products and steps run as
int64 vector code (:mod:`mic.lossless.kernels_simd`).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import leading_zeros

from . import kernels_simd as V
from .kernels import LMS_WMAX

U = np.uint64  # array indexes known non-negative: no wraparound code (as in kernels_fast)

# Plane kinds 5 and 6 (model id 14, SPEC 5.8): the prediction above, (2 MED + W + N + 2) >> 2,
# corrected by two integer NLMS filters before the context bias:
#   1. p1 = p0 + (a . z + 2**15) >> 16 (clamped to [0, maxval]): twelve taps, the neighbours
#      W N NW NE WW NN NEE NNE NNW WWW less p0 and the residuals of W and N;
#   2. p2 = p1 + (b_s . z2 + 2**15) >> 16: eight taps (MED, W + NE - N, p0 and N + W - NW
#      less p1, the residuals of W, N, NW, NE), one of four weight sets s by local activity;
#   3. after each sample both learn, normalised (a after every sample, b_s at even columns).
# The same functions run in the encoder's token pass (kernels_fast_enc.fast_tokens) and the
# decoder's rANS pass (fast_decode); all integer.  On the train split these planes code 0.3 %
# larger than model id 13's NLMS planes at half their time (research/lossless_fast_lms.py).
# Numba caches fast_tokens under kernels_fast_enc's timestamp, which does not see edits here
# (nor to _predict or _update): after editing them, delete mic/lossless/__pycache__/*.nb[ic].
LMS_TAPS = 12
LMS2_TAPS = 8
LMS2_SETS = 4


@njit(cache=True, nogil=True, inline="always")
def med_p0(w_, n_, nw):
    """``(MED, p0)``: the median edge rule on ``W, N, NW`` without a branch, and SPEC 5.6
    step 3's base prediction ``(2 MED + W + N + 2) >> 2``, which the filters correct (the
    fast planes' passes and :func:`mic.lossless.kernels_fast_enc.context_pass`, whose loop
    the compiler vectorises; :func:`mic.lossless.kernels._med` is the branching form)."""
    mx = max(n_, w_)
    mn = min(n_, w_)
    med = min(max(w_ + n_ - nw, mn), mx)
    return med, (2 * med + w_ + n_ + 2) >> 2


@njit(cache=True, nogil=True)
def lms_state(w):
    """Fresh filter state of a plane ``w`` samples wide: weights ``a`` (12), ``b`` (4, 8),
    taps ``z`` (12), ``z2`` (8), and the signed residuals of the previous and current rows
    ``res`` (2, w + 2; column ``x`` at ``x + 1``)."""
    return (np.zeros(LMS_TAPS, np.int64), np.zeros((LMS2_SETS, LMS2_TAPS), np.int64),
            np.zeros(LMS_TAPS, np.int64), np.zeros(LMS2_TAPS, np.int64),
            np.zeros((2, w + 2), np.int64))


@njit(cache=True, nogil=True, inline="always")
def lms_predict(img, y, x, w, w_, n_, nw, ne, maxval, bias, a, b, z, z2, res, g1, g2, sp,
                inter, ext):
    """The prediction ``p`` of (y, x) (SPEC 5.8 step 4: the filters' ``p2`` plus the context's
    signed ``bias``, clamped to ``[0, maxval]``), with what :func:`lms_learn` needs:
    ``(p, p0, p1, dot1, nrm1, dot2, nrm2, s)``.  ``W, N, NW, NE``
    as SPEC 5.6 step 1 gives them; the farther neighbours by SPEC 5.8's edge rules.
    ``inter`` (a literal): an inter plane of model id 25 (SPEC 5.15), whose first filter
    takes ``ext - p0`` in place of ``NNE - p0`` and second ``ext - p1`` in place of ``p0 -
    p1``, ``ext`` the previous frame's prediction of the sample (:func:`inter_base`).

    The sample before's steps (SPEC 5.8 step 5) are made here, each fused with the next
    inner product (:func:`mic.lossless.kernels_simd.step_dot12`): ``g1``, ``g2`` and ``sp``
    are what :func:`lms_learn` returned for it (0, 0, 0 before the first sample: a step of 0
    changes nothing), the stepped weights go straight into the product instead of through
    memory, which shortens the chain from one sample's value to the next prediction (the
    same weights as stepping at once; :func:`lms_finish` makes the last sample's steps)."""
    cur = y & 1
    prv = cur ^ 1
    uy = U(y)
    ww = np.int64(img[uy, U(x - 2)]) if x > 1 else w_
    www = np.int64(img[uy, U(x - 3)]) if x > 2 else ww
    if y == 0:
        nn = w_
        nne = w_
        nnw = w_
        nee = w_
    else:
        y2 = U(y - 2) if y > 1 else U(y - 1)
        nn = np.int64(img[y2, U(x)])
        nne = np.int64(img[y2, U(x + 1)]) if x + 1 < w else nn
        nnw = np.int64(img[y2, U(x - 1)]) if x > 0 else nn
        nee = np.int64(img[U(y - 1), U(x + 2)]) if x + 2 < w else ne
    if inter:  # model id 25 (SPEC 5.15): the previous frame's prediction in NNE's place
        nne = ext
    med, p0 = med_p0(w_, n_, nw)
    rw = res[cur, U(x)]
    rn = res[prv, U(x + 1)]
    # the first filter: the sample before's step, then the taps (stored into z for the next
    # step) and the inner products, in int64 vectors (kernels_simd; the sums of a loop)
    dot1, nrm1 = V.step_dot12(a, z, g1, 16, LMS_WMAX,
                              (w_ - p0, n_ - p0, nw - p0, ne - p0, ww - p0, nn - p0, nee - p0,
                               nne - p0, nnw - p0, www - p0, rw, rn))
    p1 = min(max(p0 + ((dot1 + (np.int64(1) << 15)) >> 16), np.int64(0)), np.int64(maxval))
    act = (abs(w_ - nw) + abs(n_ - nw) + abs(n_ - ne) + abs(rw) + abs(rn))
    L = np.int64(64 - leading_zeros(np.int64(act)))  # its bit length (act < 2^20)
    s = np.int64(0) if L < 4 else min((L - 2) >> 1, np.int64(3))
    t2 = ext if inter else p0  # model id 25 (SPEC 5.15): the previous frame's in p0's place
    dot2, nrm2 = V.step_dot8(b, sp, s, z2, g2, 20, LMS_WMAX,
                             (med, w_ + ne - n_, t2, n_ + w_ - nw, rw, rn, res[prv, U(x)],
                              res[prv, U(x + 2)]), p1)  # the first four less p1
    p2 = p1 + ((dot2 + (np.int64(1) << 15)) >> 16)
    p = min(max(p2 + bias, np.int64(0)), np.int64(maxval))
    return p, p0, p1, dot1, nrm1, dot2, nrm2, s


@njit(cache=True, nogil=True, inline="always")
def inter_base(ref, y, x, w_, n_, nw, half, maxval):
    """SPEC 5.15's ``P5`` of (y, x) in an inter plane: the reference sample ``R0`` plus the
    median-edge rule on the neighbours' changes from the reference, ``med(W - RW, N - RN,
    NW - RNW)`` (SPEC 5.5's ``P5``), clamped to ``[0, maxval]``; ``ref`` the (h, w)
    reference in the plane's domain, its neighbours by SPEC 5.6's edge rules (``half`` at
    row 0's first column), as the plane's own ``W, N, NW``."""
    if y == 0:
        rw = np.int64(ref[0, U(x - 1)]) if x > 0 else half
        rn = rw
        rnw = rw
    else:
        rn = np.int64(ref[U(y - 1), U(x)])
        rw = np.int64(ref[U(y), U(x - 1)]) if x > 0 else rn
        rnw = np.int64(ref[U(y - 1), U(x - 1)]) if x > 0 else rn
    a = w_ - rw
    b = n_ - rn
    c = nw - rnw
    mx = max(a, b)
    mn = min(a, b)
    m = mn if c >= mx else (mx if c <= mn else a + b - c)
    return min(max(np.int64(ref[U(y), U(x)]) + m, np.int64(0)), np.int64(maxval))


@njit(cache=True, nogil=True, inline="always")
def lms_learn(y, x, v, p, p0, p1, dot1, nrm1, dot2, nrm2, s, res):
    """After the sample ``v`` (predicted ``p``, clamped, bias included): its residual, and
    the gains of each filter's normalised step (SPEC 5.8 step 5: model 12's NLMS step,
    :func:`mic.lossless.kernels._lms_update`: ``g = (e << 12) // nrm``, each weight then
    clamped to +-LMS_WMAX; the second filter steps at even columns only, ``g2`` = 0 at odd
    ones), which the next :func:`lms_predict` makes: returns ``(g1, g2, s)``."""
    res[y & 1, U(x + 1)] = v - p
    g1 = ((((v - p0) << 16) - dot1) << 12) // nrm1
    g2 = ((((v - p1) << 16) - dot2) << 12) // nrm2 if (x & 1) == 0 else np.int64(0)
    return g1, g2, s


@njit(cache=True, nogil=True, inline="always")
def lms_finish(a, b, z, z2, g1, g2, sp):
    """The last sample's steps (:func:`lms_learn`'s ``g1, g2, s``): ``a`` and ``b`` then hold
    the weights where the plane ends."""
    V.step12(a, z, g1, 16, LMS_WMAX)
    V.step8(b, sp, z2, g2, 20, LMS_WMAX)


@njit(cache=True, nogil=True, inline="always")
def check_weights(la, lb):
    """The NLMS weights a kind-5/6 pass starts from must be (12,) and (4, 8): the filters'
    vector kernels (:mod:`mic.lossless.kernels_simd`) index them without bounds checks."""
    if la.shape[0] != LMS_TAPS or lb.shape[0] != LMS2_SETS or lb.shape[1] != LMS2_TAPS:
        raise ValueError("the NLMS weights: (12,) and (4, 8) int64")
