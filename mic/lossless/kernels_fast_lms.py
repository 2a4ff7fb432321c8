"""The NLMS prediction of the fast lossless plane kinds 5 and 6 (model id 14, SPEC.md 5.8).

Kinds 5 and 6 are kinds 3 and 4 (SPEC 5.6: contexts, classes, rANS tables, tokens) with
the prediction ``(2 MED + W + N + 2) >> 2`` corrected by two integer NLMS filters before
the context's bias is added:

1. ``p1 = p0 + (a . z + 2**15) >> 16`` (clamped to ``[0, maxval]``): twelve taps, the
   neighbours ``W N NW NE WW NN NEE NNE NNW WWW`` less ``p0`` and the residuals of ``W`` and
   ``N``;
2. ``p2 = p1 + (b_s . z2 + 2**15) >> 16``: eight taps (``MED``, ``W + NE - N``, ``p0`` and
   ``N + W - NW`` less ``p1``, the residuals of ``W``, ``N``, ``NW``, ``NE``), with one of
   four weight sets ``s`` chosen by the local activity;
3. after each sample both learn, normalised (``a`` after every sample, ``b_s`` at even
   columns).

The same functions run inside the encoder's token pass and the decoder's rANS pass
(:mod:`.kernels_fast_enc`, :mod:`.kernels_fast`), so the two cannot drift apart; all
arithmetic is integer.  On the train split these planes code 0.4 % larger than model id
13's NLMS planes at half their time (``research/lossless_fast_lms.py``).

Numba caches ``fast_tokens`` and ``fast_decode`` under their own modules' timestamps, which
do not see this file: after editing it, delete ``mic/lossless/__pycache__/*.nb[ic]``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

LMS_TAPS = 12
LMS2_TAPS = 8
LMS2_SETS = 4
LMS_WMAX = 1 << 20  # |weight| bound (Q16)
U = np.uint64


@njit(cache=True, nogil=True)
def lms_state(w):
    """Fresh filter state of a plane ``w`` samples wide: weights ``a`` (12), ``b`` (4, 8),
    taps ``z``, ``z2``, and the signed residuals of the previous and current rows ``res``
    (2, w + 2; column ``x`` at ``x + 1``)."""
    return (np.zeros(LMS_TAPS, np.int64), np.zeros((LMS2_SETS, LMS2_TAPS), np.int64),
            np.zeros(LMS_TAPS, np.int64), np.zeros(LMS2_TAPS, np.int64),
            np.zeros((2, w + 2), np.int64))


@njit(cache=True, nogil=True, inline="always")
def _bits(v):
    """Bit length of ``0 <= v < 2**32`` (0 for 0)."""
    e = np.int64(0)
    s = np.int64(v >= 65536) << 4
    v >>= s
    e += s
    s = np.int64(v >= 256) << 3
    v >>= s
    e += s
    s = np.int64(v >= 16) << 2
    v >>= s
    e += s
    s = np.int64(v >= 4) << 1
    v >>= s
    e += s
    s = np.int64(v >= 2)
    v >>= s
    return e + s + np.int64(v >= 1)


@njit(cache=True, nogil=True, inline="always")
def lms_predict(img, y, x, w, w_, n_, nw, ne, maxval, a, b, z, z2, res):
    """The filters' prediction ``p2`` of (y, x) before the context bias, with what
    :func:`lms_learn` needs: ``(p0, p1, p2, dot1, nrm1, dot2, nrm2, s)``.  ``W, N, NW, NE``
    as SPEC 5.6 step 1 gives them; the farther neighbours by SPEC 5.8's edge rules."""
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
    mx = max(n_, w_)
    mn = min(n_, w_)
    med = min(max(w_ + n_ - nw, mn), mx)
    p0 = (2 * med + w_ + n_ + 2) >> 2
    rw = res[cur, U(x)]
    rn = res[prv, U(x + 1)]
    z[0] = w_ - p0
    z[1] = n_ - p0
    z[2] = nw - p0
    z[3] = ne - p0
    z[4] = ww - p0
    z[5] = nn - p0
    z[6] = nee - p0
    z[7] = nne - p0
    z[8] = nnw - p0
    z[9] = www - p0
    z[10] = rw
    z[11] = rn
    dot1 = np.int64(0)
    nrm1 = np.int64(1)
    for t in range(LMS_TAPS):
        dot1 += a[t] * z[t]
        nrm1 += z[t] * z[t]
    p1 = min(max(p0 + ((dot1 + (np.int64(1) << 15)) >> 16), np.int64(0)), np.int64(maxval))
    act = (abs(w_ - nw) + abs(n_ - nw) + abs(n_ - ne) + abs(rw) + abs(rn))
    L = _bits(act)
    s = U(0) if L < 4 else U(min((L - 2) >> 1, 3))
    z2[0] = med - p1
    z2[1] = w_ + ne - n_ - p1
    z2[2] = p0 - p1
    z2[3] = n_ + w_ - nw - p1
    z2[4] = rw
    z2[5] = rn
    z2[6] = res[prv, U(x)]
    z2[7] = res[prv, U(x + 2)]
    dot2 = np.int64(0)
    nrm2 = np.int64(1)
    for t in range(LMS2_TAPS):
        dot2 += b[s, t] * z2[t]
        nrm2 += z2[t] * z2[t]
    p2 = p1 + ((dot2 + (np.int64(1) << 15)) >> 16)
    return p0, p1, p2, dot1, nrm1, dot2, nrm2, s


@njit(cache=True, nogil=True, inline="always")
def lms_learn(y, x, v, p, p0, p1, dot1, nrm1, dot2, nrm2, s, a, b, z, z2, res):
    """After the sample ``v`` (predicted ``p``, clamped, bias included): its residual, and
    one normalised step of each filter (SPEC 5.8 step 4)."""
    res[y & 1, U(x + 1)] = v - p
    g = ((((v - p0) << 16) - dot1) << 12) // nrm1
    for t in range(LMS_TAPS):
        a[t] = min(max(a[t] + ((g * z[t] + (np.int64(1) << 15)) >> 16), -LMS_WMAX), LMS_WMAX)
    if (x & 1) == 0:
        g2 = ((((v - p1) << 16) - dot2) << 12) // nrm2
        for t in range(LMS2_TAPS):
            b[s, t] = min(max(b[s, t] + ((g2 * z2[t] + (np.int64(1) << 19)) >> 20),
                              -LMS_WMAX), LMS_WMAX)
