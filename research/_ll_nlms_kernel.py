"""Research copy of the lossless kernel (``mic.lossless.kernels.code_plane_near`` at k = 0,
encode side only) with the NLMS cascade's knobs as arguments, to measure variants of model
id 13 on the train split (research/lossless_nlms.py ``--variants``).  Not used by mic."""

from __future__ import annotations

import numpy as np
from numba import njit

from mic.lossless.kernels import N_PRED, RECIP_SIZE, _abs, _flush_bits, _put_token, _recip_table

WMAX = 1 << 20


@njit(cache=True, nogil=True, inline="always")
def _upd(lw, lz, n, e, nrm, mul, sh):
    g = (e << 12) // nrm
    half = np.int64(1) << (sh - 1)
    for t in range(n):
        lw[t] = min(max(lw[t] + ((mul * g * lz[t] + half) >> sh), -WMAX), WMAX)


@njit(cache=True, nogil=True)
def encode_plane_var(img, maxval, tokens, bits, dys, dxs, mu1, sh1, mu2, sh2, every2, bias,
                     nsets):
    """Tokens and extra bits of one plane (values in [0, maxval]); ``dys, dxs``: the first
    filter's neighbour offsets (relative to N); ``mu/sh``: step sizes; ``every2``: update the
    second filter at every x (else even x); ``bias``: model 1's bias correction after the
    filters; ``nsets``: the second filter's weight sets by activity (1, 4 or 8)."""
    h, w = img.shape
    nb = dys.shape[0]
    nt1 = nb + 2
    err = np.zeros((2, w + 2, N_PRED), np.int32)
    lw = np.zeros(nt1, np.int64)
    lz = np.zeros(nt1, np.int64)
    lw2 = np.zeros((8, 10), np.int64)
    lz2 = np.zeros(10, np.int64)
    res = np.zeros((2, w + 2), np.int32)
    bias_sum = np.zeros(1024, np.int64)
    bias_cnt = np.zeros(1024, np.int64)
    preds = np.zeros(N_PRED + 1, np.int64)
    RECIP = _recip_table()
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
            mx = n_ if n_ > w_ else w_
            mn = n_ if n_ < w_ else w_
            if nw >= mx:
                med = mn
            elif nw <= mn:
                med = mx
            else:
                med = w_ + n_ - nw
            preds[0] = med
            preds[1] = w_ + ne - n_
            preds[2] = n_ + ((w_ - ww) + (n_ - nn) + 1) // 2
            rn = res[prv, x + 1]
            rw = res[cur, x]
            preds[3] = n_ + ((rw + rn + res[prv, x + 2]) >> 1)
            preds[4] = w_ + (((rw + rn + res[prv, x]) * 10) >> 5)
            for t in range(nb):
                yy = y - dys[t]
                xx = x + dxs[t]
                zt = np.int64(0)
                if yy >= 0 and xx >= 0 and xx < w and (yy < y or xx < x):
                    zt = np.int64(img[yy, xx]) - n_
                lz[t] = zt
            lz[nb] = rw
            lz[nb + 1] = rn
            ldot = np.int64(0)
            lnrm = np.int64(1)
            for t in range(nt1):
                ldot += lw[t] * lz[t]
                lnrm += lz[t] * lz[t]
            p5 = n_ + ((ldot + (np.int64(1) << 15)) >> 16)
            p5 = min(max(p5, 0), maxval)
            preds[5] = p5
            wsum = np.int64(0)
            psum = np.int64(0)
            for i in range(N_PRED):
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
            act = (_abs(w_ - nw) + _abs(n_ - nw) + _abs(n_ - ne)
                   + _abs(res[prv, x + 1]) + _abs(res[cur, x]))
            q = 0
            a2 = act
            while a2 > 0:
                a2 >>= 1
                q += 1
            q = min(q, 15)
            if nsets == 1:
                ls = 0
            elif nsets == 4:
                ls = 0 if q < 4 else min((q - 2) >> 1, 3)
            else:
                ls = min(q >> 1, 7)
            pbl = p
            for t in range(N_PRED + 1):
                lz2[t] = preds[t] - p
            lz2[6] = rw
            lz2[7] = rn
            lz2[8] = res[prv, x]
            lz2[9] = res[prv, x + 2]
            ldot2 = np.int64(0)
            lnrm2 = np.int64(1)
            for t in range(10):
                ldot2 += lw2[ls, t] * lz2[t]
                lnrm2 += lz2[t] * lz2[t]
            p = pbl + ((ldot2 + (np.int64(1) << 15)) >> 16)
            c = 0
            if bias:
                c = (q << 6) | ((n_ > p) << 5) | ((w_ > p) << 4) | ((nw > p) << 3) \
                    | ((ne > p) << 2) | ((2 * n_ - nn > p) << 1) | (2 * w_ - ww > p)
                cnt = bias_cnt[c]
                if cnt > 0:
                    s = bias_sum[c]
                    if s >= 0:
                        p += (s + (cnt >> 1)) // cnt
                    else:
                        p -= (-s + (cnt >> 1)) // cnt
            p = min(max(p, 0), maxval)
            m = p if p < maxval - p else maxval - p
            v = np.int64(img[y, x])
            d = v - p
            ad = _abs(d)
            u = (2 * d if d >= 0 else -2 * d - 1) if ad <= m else m + ad
            pos, bitbuf, bitcnt = _put_token(u, tokens, k, bits, pos, bitbuf, bitcnt)
            k += 1
            res[cur, x + 1] = d
            for i in range(N_PRED):
                err[cur, x + 1, i] = _abs(v - preds[i])
            if bias:
                bias_sum[c] += d
                bias_cnt[c] += 1
                if bias_cnt[c] >= 32:
                    bias_sum[c] = bias_sum[c] // 2 if bias_sum[c] >= 0 else -((-bias_sum[c]) // 2)
                    bias_cnt[c] = 16
            _upd(lw, lz, nt1, ((v - n_) << 16) - ldot, lnrm, mu1, sh1)
            if every2 or (x & 1) == 0:
                _upd(lw2[ls], lz2, 10, ((v - pbl) << 16) - ldot2, lnrm2, mu2, sh2)
    pos = _flush_bits(bits, pos, bitbuf, bitcnt)
    return pos
