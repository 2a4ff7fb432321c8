"""Research copy of kernels_fast_enc._fast_tokens (kind 5, lossless) that also records, per
pixel, the prediction p, the context's K, and |residual| (for neighbour features)."""
import numpy as np
from numba import njit
from _lms_now import lms_learn_now
from mic.lossless.kernels_fast import (U, _context, _class_t, _init, _qlut, _update,
                                       lms_predict, lms_state, thresholds)


@njit(cache=True)
def feats(img, maxval, CL, TOK, la, lb, tokens, classes, P, K, A):
    h, w = img.shape
    t1, t2, t3 = thresholds(maxval)
    lut = _qlut(t1, t2, t3)
    S = _init(maxval)
    from_ = 0
    half = np.int64((maxval + 1) >> 1)
    eabs = np.zeros(w + 1, np.int64)
    _, _, lz, lz2, lres = lms_state(w)
    p0 = p1 = dot1 = nrm1 = dot2 = nrm2 = np.int64(0)
    ls = U(0)
    k = 0
    R = np.zeros(65, np.int64)
    for n in range(1, 65):
        R[n] = (np.int64(1) << 32) // n
    for y in range(h):
        row = img[y]
        up = img[y - 1] if y > 0 else row
        ew = np.int64(0)
        if y == 0:
            w_ = half; n_ = half; ne = half
        else:
            n_ = np.int64(up[0]); w_ = n_
            ne = np.int64(up[1]) if w > 1 else n_
        nw = w_
        for x in range(w):
            if y == 0:
                n_ = w_; nw = w_; ne = w_
            q, sign = _context(w_, n_, nw, ne, t3, lut)
            uq = U(q)
            p, p0, p1, dot1, nrm1, dot2, nrm2, ls = lms_predict(
                img, y, x, w, w_, n_, nw, ne, maxval, S[uq, 2] * sign, la, lb, lz, lz2, lres,
                0, 0, np.int64(0))
            v = np.int64(row[x])
            m = min(p, maxval - p)
            dd = (v - p) if sign > 0 else (p - v)
            ad = dd if dd >= 0 else -dd
            c = CL[_class_t(S[uq, 4], ew, eabs[x])]
            classes[k] = c
            K[k] = S[uq, 4]
            P[k] = p
            A[k] = ad
            u = (dd << 1) ^ (dd >> 63)
            u = u if ad <= m else m + ad
            tokens[k] = TOK[u]
            _update(S, q, dd, R)
            lms_learn_now(y, x, v, p, p0, p1, dot1, nrm1, dot2, nrm2, ls, la, lb, lz, lz2, lres)
            ew = ad
            eabs[x] = ad
            k += 1
            w_ = v
            if y > 0:
                nw = n_; n_ = ne
                ne = np.int64(up[x + 2]) if x + 2 < w else n_
    return k
