"""Research copy of model id 2's ``code_plane_near`` (mic/lossless/kernels.py) that records
per-pixel context features (``F``) and tries predictor variants (``NP`` predictors, ``var``
bit flags; float NLMS filters, not the integer ones of model id 12): research/near_ctx.py and
research/near_pred.py.  Not part of mic."""
import numpy as np
from numba import njit

from mic.lossless.kernels import (
    BIAS_CTX, ERR_BITS, ERR_RANGE, ERR_TOKEN, N_TOKENS, OK, RECIP_SIZE, _abs, _flush_bits,
    _fold, _get_u, _put_token, _recip_table, _unfold, _update_bias,
)

@njit(cache=False, nogil=True)
def feat_plane(img, maxval, near, decode, tokens, bits, F, NP, var):
    """:func:`code_plane` with the near-lossless quantiser of step ``2 near + 1`` (SPEC 7;
    ``near`` = 0 is lossless, byte for byte).  With ``near`` > 0 the residual ``e`` of each
    sample is quantised to ``q = sign(e) ((|e| + near) // (2 near + 1))``, the sample is
    reconstructed as ``p + q (2 near + 1)`` clamped to [0, maxval], and everything that
    follows (neighbours, predictor errors, bias contexts) reads the reconstruction: when
    encoding, ``img`` is overwritten with it, so the encoder ends with exactly the samples
    the decoder will produce.  Returns (status, number of bytes of ``bits`` used).
    """
    delta = 2 * np.int64(near) + 1
    h, w = img.shape
    # per-predictor absolute errors of the previous and current rows (x offset +1)
    err = np.zeros((2, w + 2, NP), np.int32)
    # residual (signed, after bias) of previous/current row for the context energy
    res = np.zeros((2, w + 2), np.int32)
    bias_sum = np.zeros(BIAS_CTX, np.int64)
    bias_cnt = np.zeros(BIAS_CTX, np.int64)
    preds = np.zeros(NP, np.int64)
    if var & 256:
        TDY = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2])
        TDX = np.array([-1, -2, -3, -2, -1, 1, 2, -2, -1, 0, 1, 2])
    else:
        TDY = np.array([0, 1, 1, 2, 0, 2, 1, 1, 2])
        TDX = np.array([-1, -1, 1, 0, -2, 1, -2, 2, -1])
    N2 = 14 if var & 1048576 else 10
    w2 = np.zeros(N2)
    z2 = np.zeros(N2)
    pbl = 0
    dot2 = 0.0
    NT0 = TDY.shape[0]
    NT = NT0 + (5 if var & 1024 else 0) + (4 if var & 16384 else 0)
    RB = NT0 + (5 if var & 1024 else 0)
    wl = np.zeros(NT)
    z = np.zeros(NT)
    mu = 0.05
    if var & 64:
        mu = 0.2
    if var & 128:
        mu = 0.5
    if var & 512:
        mu = 0.1
    dot = 0.0
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
            # --- causal neighbourhood (edges replicate what exists) ----------------
            if y > 0:
                n_ = np.int64(img[y - 1, x])
                nw = np.int64(img[y - 1, x - 1]) if x > 0 else n_
                ne = np.int64(img[y - 1, x + 1]) if x + 1 < w else n_
                nn = np.int64(img[y - 2, x]) if y > 1 else n_
            if x > 0:
                w_ = np.int64(img[y, x - 1])
                ww = np.int64(img[y, x - 2]) if x > 1 else w_
            if y == 0:
                if x == 0:
                    w_ = np.int64((maxval + 1) >> 1)
                    ww = w_
                n_ = w_
                nw = w_
                ne = w_
                nn = w_
            elif x == 0:
                w_ = n_
                ww = n_
            # --- four predictors --------------------------------------------------
            mx = n_ if n_ > w_ else w_
            mn = n_ if n_ < w_ else w_
            if nw >= mx:
                med = mn
            elif nw <= mn:
                med = mx
            else:
                med = w_ + n_ - nw
            preds[0] = med
            preds[1] = w_ + ne - n_  # gradient along NE
            preds[2] = n_ + ((w_ - ww) + (n_ - nn) + 1) // 2  # north + momentum
            rn = res[prv, x + 1]
            rw = res[cur, x]
            preds[3] = n_ + ((rw + rn + res[prv, x + 2]) >> 1)
            preds[4] = w_ + (((rw + rn + res[prv, x]) * 10) >> 5)
            if var & 32:
                if var & 16384:
                    z[RB] = res[cur, x]
                    z[RB + 1] = res[prv, x + 1]
                    z[RB + 2] = res[prv, x]
                    z[RB + 3] = res[prv, x + 2]
                if var & 1024:
                    for t in range(5):
                        z[NT0 + t] = preds[t] - n_
                for t in range(NT0):
                    yy = y - TDY[t]
                    xx = x + TDX[t]
                    if yy >= 0 and 0 <= xx < w and (yy < y or xx < x):
                        z[t] = img[yy, xx] - n_
                    else:
                        z[t] = 0.0
                dot = 0.0
                for t in range(NT):
                    dot += wl[t] * z[t]
                pl = n_ + dot
                if pl < 0:
                    pl = 0.0
                elif pl > maxval:
                    pl = float(maxval)
                preds[5] = np.int64(np.floor(pl + 0.5))
            elif NP > 5:
                preds[5] = (n_ + w_ + 1) >> 1
            if NP > 6:
                preds[6] = (n_ + w_ + ne + nw + 2) >> 2
            if NP > 7:
                preds[7] = (w_ + ne + 1) >> 1
            # --- error-weighted blend --------------------------------------------
            wsum = np.int64(0)
            psum = np.int64(0)
            for i in range(NP):
                e = (err[prv, x + 1, i] * 2 + err[prv, x, i] + err[prv, x + 2, i]
                     + err[cur, x, i] * 2 + 1)
                if var & 1:
                    e += near * 2
                # weight ~ 2**36 / (e + 1) through a reciprocal table (no division)
                e0 = e
                sh = 0
                while e >= RECIP_SIZE:
                    e >>= 1
                    sh += 1
                wt = RECIP[e] >> sh
                if var & 4096:
                    wt = (np.int64(1) << 44) // (e0 * e0)
                if var & 8192:
                    wt = (np.int64(1) << 44) // (e0 * e0 + 0) if e0 < 4096 else (np.int64(1) << 44) // (e0 * e0)
                if wt < 1:
                    wt = 1
                wsum += wt
                psum += wt * preds[i]
            p = (psum + (wsum >> 1)) // wsum
            if var & 2048:
                p = preds[5]
            if var & 32768:
                pbl = p
                for t in range(NP):
                    z2[t] = preds[t] - p
                z2[6] = res[cur, x]
                z2[7] = res[prv, x + 1]
                z2[8] = res[prv, x]
                z2[9] = res[prv, x + 2]
                if N2 > 10:
                    z2[10] = n_ - p
                    z2[11] = w_ - p
                    z2[12] = ne - p
                    z2[13] = nw - p
                dot2 = 0.0
                for t in range(N2):
                    dot2 += w2[t] * z2[t]
                p = p + np.int64(np.floor(dot2 + 0.5))
            # --- bias correction in a local context ------------------------------
            act = (_abs(w_ - nw) + _abs(n_ - nw) + _abs(n_ - ne)
                   + _abs(res[prv, x + 1]) + _abs(res[cur, x]))
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
            pb = p
            cnt = bias_cnt[c]
            if cnt > 0:
                s = bias_sum[c]
                # rounded mean error, s / cnt, with a reciprocal (cnt < 32)
                if s >= 0:
                    p += (s * RECIP_CNT[cnt] + (np.int64(1) << 31)) >> 32
                else:
                    p -= (-s * RECIP_CNT[cnt] + (np.int64(1) << 31)) >> 32
            if p < 0:
                p = 0
            elif p > maxval:
                p = maxval
            # the residual's range [-mlo, mhi] (in quantiser steps when near > 0)
            if near == 0:
                mlo = p
                mhi = maxval - p
            else:
                mlo = (p + near) // delta
                mhi = (maxval - p + near) // delta
            m = mlo if mlo < mhi else mhi
            emin = np.int64(1) << 40
            for i in range(NP):
                e2 = (err[prv, x + 1, i] * 2 + err[prv, x, i] + err[prv, x + 2, i]
                     + err[cur, x, i] * 2)
                if e2 < emin:
                    emin = e2
            F[k, 0] = emin
            F[k, 1] = _abs(res[prv, x + 1]) + _abs(res[cur, x])
            F[k, 2] = _abs(w_ - nw) + _abs(n_ - nw) + _abs(n_ - ne)
            F[k, 3] = _abs(res[prv, x]) + _abs(res[prv, x + 2])
            F[k, 4] = m
            # --- map / unmap --------------------------------------------------------
            if not decode:
                v = np.int64(img[y, x])
                d = v - p
                if near > 0:  # quantise; the reconstruction replaces the sample
                    ad = (_abs(d) + near) // delta
                    d = ad if d >= 0 else -ad
                    v = p + d * delta
                    if v < 0:
                        v = 0
                    elif v > maxval:
                        v = maxval
                    img[y, x] = v
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
                if near == 0:
                    v = p + d
                else:
                    v = p + d * delta
                    if v < 0:
                        v = 0
                    elif v > maxval:
                        v = maxval
                img[y, x] = v
            k += 1
            # --- update state ---------------------------------------------------------
            dd = v - p
            if var & 32768:
                ee2 = (v - pbl) - dot2
                nrm2 = 1.0
                for t in range(N2):
                    nrm2 += z2[t] * z2[t]
                g2 = 0.02 * ee2 / nrm2
                if var & 65536:
                    g2 = 0.0005 * ee2 / nrm2
                if var & 131072:
                    g2 = 0.01 * ee2 / nrm2
                if var & 262144:
                    g2 = 0.005 * ee2 / nrm2
                if var & 524288:
                    g2 = 0.0002 * ee2 / nrm2
                for t in range(N2):
                    w2[t] += g2 * z2[t]
            if var & 32:
                ee = (v - n_) - dot
                nrm = 1.0
                for t in range(NT):
                    nrm += z[t] * z[t]
                g = mu * ee / nrm
                for t in range(NT):
                    wl[t] += g * z[t]
            res[cur, x + 1] = dd
            for i in range(NP):
                err[cur, x + 1, i] = _abs(v - preds[i])
            if var & 16:
                _update_bias(bias_sum, bias_cnt, c, cnt, v - pb)
            else:
                _update_bias(bias_sum, bias_cnt, c, cnt, dd)
    if not decode:
        pos = _flush_bits(bits, pos, bitbuf, bitcnt)
    return OK, pos


