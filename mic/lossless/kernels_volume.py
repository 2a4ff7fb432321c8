"""Numba kernel of the lossless coder's inter-frame planes (tile xform 4, SPEC 5.5).

:func:`code_plane_inter` is :func:`mic.lossless.kernels.code_plane` (lossless, ``near`` = 0)
with a reference plane ``ref``: the co-located samples of the previous frame's tile, in the
plane's own offset domain and clamped to ``[0, maxval]``.  It adds two predictors built on
the reference to the blend (the co-located sample plus the median of the neighbours'
changes; P0 plus half the reference's own P0 residual), and that residual to the bias
correction's activity and, as one of 5 classes, to its context; everything else (blend weights, bias correction, mapping, tokens, extra bits) is
model 1's, so the same frozen tables code its tokens.  One function runs both directions.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .kernels import (
    ERR_BITS, ERR_RANGE, ERR_TOKEN, N_TOKENS, OK, RECIP_SIZE,
    _abs, _flush_bits, _fold, _get_u, _put_token, _recip_table, _unfold, _update_bias,
)

N_PRED_INTER = 7
BIAS_CTX = 1024


@njit(cache=True, nogil=True, inline="always")
def _med(a, b, c):
    mx = a if a > b else b
    mn = a if a < b else b
    if c >= mx:
        return mn
    if c <= mn:
        return mx
    return a + b - c


@njit(cache=True, nogil=True)
def code_plane_inter(img, ref, maxval, decode, tokens, bits):
    """Predict/map/tokenise (encode) or reconstruct (decode) one (h, w) plane in place, with
    the (h, w) int32 reference ``ref`` (values in [0, maxval]).  Returns (status, bytes of
    ``bits`` used), as :func:`mic.lossless.kernels.code_plane`."""
    h, w = img.shape
    err = np.zeros((2, w + 2, N_PRED_INTER), np.int32)
    res = np.zeros((2, w + 2), np.int32)
    bias_sum = np.zeros(BIAS_CTX * 5, np.int64)
    bias_cnt = np.zeros(BIAS_CTX * 5, np.int64)
    preds = np.zeros(N_PRED_INTER, np.int64)
    RECIP = _recip_table()
    RECIP_CNT = np.empty(32, np.int64)
    RECIP_CNT[0] = 0
    for i in range(1, 32):
        RECIP_CNT[i] = ((np.int64(1) << 32) + i - 1) // i
    nbytes = bits.shape[0]
    bitbuf = np.int64(0)
    bitcnt = 0
    pos = 0
    k = 0
    for y in range(h):
        cur = y & 1
        prv = cur ^ 1
        for x in range(w):
            if y > 0:
                n_ = np.int64(img[y - 1, x])
                nw = np.int64(img[y - 1, x - 1]) if x > 0 else n_
                ne = np.int64(img[y - 1, x + 1]) if x + 1 < w else n_
                nn = np.int64(img[y - 2, x]) if y > 1 else n_
                rn = np.int64(ref[y - 1, x])
                rnw = np.int64(ref[y - 1, x - 1]) if x > 0 else rn
            if x > 0:
                w_ = np.int64(img[y, x - 1])
                ww = np.int64(img[y, x - 2]) if x > 1 else w_
                rw = np.int64(ref[y, x - 1])
            r0 = np.int64(ref[y, x])
            if y == 0:
                if x == 0:
                    w_ = np.int64((maxval + 1) >> 1)
                    ww = w_
                    rw = r0
                n_ = w_
                nw = w_
                ne = w_
                nn = w_
                rn = rw
                rnw = rw
            elif x == 0:
                w_ = n_
                ww = n_
                rw = rn
            # --- model 1's five predictors -----------------------------------------
            preds[0] = _med(w_, n_, nw)
            preds[1] = w_ + ne - n_
            preds[2] = n_ + ((w_ - ww) + (n_ - nn) + 1) // 2
            resn = res[prv, x + 1]
            resw = res[cur, x]
            preds[3] = n_ + ((resw + resn + res[prv, x + 2]) >> 1)
            preds[4] = w_ + (((resw + resn + res[prv, x]) * 10) >> 5)
            # --- the reference: co-located sample plus the local change ------------
            dw = w_ - rw
            dn = n_ - rn
            rres = r0 - _med(rw, rn, rnw)  # the reference's own residual under P0
            preds[5] = r0 + _med(dw, dn, nw - rnw)
            preds[6] = preds[0] + (rres >> 1)
            wsum = np.int64(0)
            psum = np.int64(0)
            for i in range(N_PRED_INTER):
                e = (err[prv, x + 1, i] * 2 + err[prv, x, i] + err[prv, x + 2, i]
                     + err[cur, x, i] * 2 + 1)
                sh = 0
                while e >= RECIP_SIZE:
                    e >>= 1
                    sh += 1
                wt = RECIP[e] >> sh
                if wt < 1:
                    wt = 1
                wsum += wt
                psum += wt * preds[i]
            p = (psum + (wsum >> 1)) // wsum
            # --- bias correction; the reference's residual joins activity and context --
            act = (_abs(w_ - nw) + _abs(n_ - nw) + _abs(n_ - ne)
                   + _abs(res[prv, x + 1]) + _abs(res[cur, x]))
            ar = _abs(rres)
            if ar * 4 <= act:
                rb = 0
            elif ar <= act:
                rb = 1 if rres > 0 else 2
            else:
                rb = 3 if rres > 0 else 4
            act = (act + ar * 2) >> 1
            q = 0
            if act >= 1 << 15:
                q = 15
            else:
                while act >= 16:
                    act >>= 4
                    q += 4
                while act > 0:
                    act >>= 1
                    q += 1
            c = (q << 6) | ((n_ > p) << 5) | ((w_ > p) << 4) | ((nw > p) << 3) \
                | ((ne > p) << 2) | ((2 * n_ - nn > p) << 1) | (2 * w_ - ww > p)
            c = c * 5 + rb
            cnt = bias_cnt[c]
            if cnt > 0:
                s = bias_sum[c]
                if s >= 0:
                    p += (s * RECIP_CNT[cnt] + (np.int64(1) << 31)) >> 32
                else:
                    p -= (-s * RECIP_CNT[cnt] + (np.int64(1) << 31)) >> 32
            if p < 0:
                p = 0
            elif p > maxval:
                p = maxval
            mlo = p
            mhi = maxval - p
            m = mlo if mlo < mhi else mhi
            if not decode:
                v = np.int64(img[y, x])
                d = v - p
                pos, bitbuf, bitcnt = _put_token(_fold(d, m), tokens, k, bits, pos, bitbuf,
                                                 bitcnt)
            else:
                tok = np.int64(tokens[k])
                if tok < 0 or tok >= N_TOKENS:
                    return ERR_TOKEN, pos
                u, pos, bitbuf, bitcnt = _get_u(tok, bits, pos, nbytes, bitbuf, bitcnt)
                if u < 0:
                    return ERR_BITS, pos
                d = _unfold(u, m, mlo, mhi)
                if d < -mlo or d > mhi:
                    return ERR_RANGE, pos
                v = p + d
                img[y, x] = v
            k += 1
            dd = v - p
            res[cur, x + 1] = dd
            for i in range(N_PRED_INTER):
                err[cur, x + 1, i] = _abs(v - preds[i])
            _update_bias(bias_sum, bias_cnt, c, cnt, dd)
    if not decode:
        pos = _flush_bits(bits, pos, bitbuf, bitcnt)
    return OK, pos
