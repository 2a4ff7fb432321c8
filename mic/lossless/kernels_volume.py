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
    OK, _abs, _act_level, _activity, _add_bias, _bias_context, _blend, _causal, _flush_bits,
    _fold, _med, _predict5, _put_token, _read_residual, _recip_cnt_table, _recip_table,
    _update_bias,
)

N_PRED_INTER = 7
BIAS_CTX = 1024


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
    RECIP_CNT = _recip_cnt_table()
    nbytes = bits.shape[0]
    bitbuf = np.int64(0)
    bitcnt = 0
    pos = 0
    k = 0
    for y in range(h):
        cur = y & 1
        prv = cur ^ 1
        for x in range(w):
            # --- model 1's neighbours and five predictors; the reference's neighbours --
            n_, nw, ne, nn, w_, ww = _causal(img, y, x, (maxval + 1) >> 1)
            resn, resw = _predict5(preds, n_, nw, ne, nn, w_, ww, res, cur, prv, x)
            r0 = np.int64(ref[y, x])
            rn, rnw, _, _, rw, _ = _causal(ref, y, x, r0)  # SPEC 5.5 step 1
            # --- the reference: co-located sample plus the local change ------------
            dw = w_ - rw
            dn = n_ - rn
            rres = r0 - _med(rw, rn, rnw)  # the reference's own residual under P0
            preds[5] = r0 + _med(dw, dn, nw - rnw)
            preds[6] = preds[0] + (rres >> 1)
            p = _blend(preds, N_PRED_INTER, err, cur, prv, x, RECIP)
            # --- bias correction; the reference's residual joins activity and context --
            act = _activity(n_, w_, nw, ne, resn, resw)
            ar = _abs(rres)
            if ar * 4 <= act:
                rb = 0
            elif ar <= act:
                rb = 1 if rres > 0 else 2
            else:
                rb = 3 if rres > 0 else 4
            q = _act_level((act + ar * 2) >> 1)
            c = _bias_context(q, n_, w_, nw, ne, nn, ww, p) * 5 + rb
            cnt = bias_cnt[c]
            if cnt > 0:
                p = _add_bias(p, bias_sum[c], RECIP_CNT[cnt])
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
                st, d, pos, bitbuf, bitcnt = _read_residual(tokens, k, bits, pos, nbytes, bitbuf,
                                                            bitcnt, m, mlo, mhi)
                if st != OK:
                    return st, pos
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
