"""Numba kernels of the lossless coder: prediction, residual mapping, tokens, extra bits.

One function, :func:`code_plane`, runs both directions.  The encoder and the
decoder execute the *same* prediction code on the same causal neighbourhood, so
they cannot drift apart; all arithmetic is integer, so the result is identical
on every machine.

Per pixel (raster order) the kernel

1. predicts the value from its causal neighbours with a blend of four
   predictors weighted by their recent local errors (scale-free, adapts to
   edges), then adds a bias correction learnt in one of 1024 local contexts;
2. maps the residual to a non-negative integer ``u`` using the bounds of the
   plane (values beyond the shorter side need no sign);
3. splits ``u`` into a *token* (entropy coded elsewhere) and raw extra bits
   (packed MSB-first here): ``u < 16`` is its own token; otherwise with
   ``n = floor(log2 u)`` the token is ``16 + 2 (n - 4) + bit (n-1) of u`` and
   the ``n - 1`` low bits are extra bits.
"""

from __future__ import annotations

import numpy as np
from numba import njit

DIRECT_TOKENS = 16
MSB_IN_TOKEN = 2  # bits below the leading one that the token carries
N_TOKENS = DIRECT_TOKENS + 13 * (1 << MSB_IN_TOKEN)  # u < 2**17 -> n = floor(log2 u) in 4..16
N_PRED = 5
BIAS_CTX = 1024

# status codes returned by the decoder kernels
OK = 0
ERR_BITS = 1  # ran past the extra-bit buffer
ERR_RANGE = 2  # a decoded value fell outside the plane's range
ERR_TOKEN = 3  # a token out of range


@njit(cache=True, nogil=True, inline="always")
def _abs(a):
    return a if a >= 0 else -a


@njit(cache=True, nogil=True, inline="always")
def _token_of(u):
    if u < DIRECT_TOKENS:
        return u, 0, 0
    n = 4
    t = u >> 5
    while t > 0:
        t >>= 1
        n += 1
    nb = n - MSB_IN_TOKEN
    tok = DIRECT_TOKENS + ((n - 4) << MSB_IN_TOKEN) + ((u >> nb) & ((1 << MSB_IN_TOKEN) - 1))
    return tok, nb, u & ((1 << nb) - 1)


@njit(cache=True, nogil=True, inline="always")
def _fold(d, m):
    """A residual ``d`` in [-mlo, mhi] (``m`` the smaller bound) as a non-negative ``u``:
    interleaved within ``±m``, then ``m + |d|`` (SPEC 5)."""
    ad = _abs(d)
    if ad <= m:
        return 2 * d if d >= 0 else -2 * d - 1
    return m + ad


@njit(cache=True, nogil=True, inline="always")
def _unfold(u, m, mlo, mhi):
    """Inverse of :func:`_fold` (the side beyond ``±m`` is the wider one)."""
    if u <= 2 * m:
        return (u >> 1) if (u & 1) == 0 else -((u + 1) >> 1)
    return u - m if mlo < mhi else -(u - m)


@njit(cache=True, nogil=True, inline="always")
def _put_token(u, tokens, k, bits, pos, bitbuf, bitcnt):
    """Encoder: ``u``'s token into ``tokens[k]``, its raw extra bits (MSB first) into
    ``bits``; returns the new (pos, bitbuf, bitcnt)."""
    tok, nb, extra = _token_of(u)
    tokens[k] = tok
    if nb > 0:
        bitbuf = (bitbuf << nb) | extra
        bitcnt += nb
        while bitcnt >= 8:
            bitcnt -= 8
            bits[pos] = (bitbuf >> bitcnt) & 0xFF
            pos += 1
        bitbuf &= (np.int64(1) << bitcnt) - 1
    return pos, bitbuf, bitcnt


@njit(cache=True, nogil=True, inline="always")
def _get_u(tok, bits, pos, nbytes, bitbuf, bitcnt):
    """Decoder: the value ``u`` of token ``tok`` (in range) with its extra bits; returns
    (u, pos, bitbuf, bitcnt), ``u`` = -1 when ``bits`` run out."""
    if tok < DIRECT_TOKENS:
        return tok, pos, bitbuf, bitcnt
    nb = ((tok - DIRECT_TOKENS) >> MSB_IN_TOKEN) + 4 - MSB_IN_TOKEN
    while bitcnt < nb:
        if pos >= nbytes:
            return np.int64(-1), pos, bitbuf, bitcnt
        bitbuf = (bitbuf << 8) | np.int64(bits[pos])
        pos += 1
        bitcnt += 8
    bitcnt -= nb
    extra = (bitbuf >> bitcnt) & ((np.int64(1) << nb) - 1)
    bitbuf &= (np.int64(1) << bitcnt) - 1
    top = (1 << MSB_IN_TOKEN) | ((tok - DIRECT_TOKENS) & ((1 << MSB_IN_TOKEN) - 1))
    return (np.int64(top) << nb) | extra, pos, bitbuf, bitcnt


@njit(cache=True, nogil=True, inline="always")
def _update_bias(bias_sum, bias_cnt, c, cnt, dd):
    """Bias-correction context ``c`` after a residual ``dd`` (halved every 32)."""
    bias_sum[c] += dd
    bias_cnt[c] = cnt + 1
    if cnt + 1 >= 32:
        bias_sum[c] = bias_sum[c] // 2 if bias_sum[c] >= 0 else -((-bias_sum[c]) // 2)
        bias_cnt[c] = 16


@njit(cache=True, nogil=True, inline="always")
def _flush_bits(bits, pos, bitbuf, bitcnt):
    """Encoder: the last partial byte of extra bits (zero-padded); returns the new pos."""
    if bitcnt > 0:
        bits[pos] = (bitbuf << (8 - bitcnt)) & 0xFF
        pos += 1
    return pos


@njit(cache=True, nogil=True, inline="always")
def _read_residual(tokens, k, bits, pos, nbytes, bitbuf, bitcnt, m, mlo, mhi):
    """Decoder: the residual ``d`` in [-mlo, mhi] of token ``tokens[k]`` and its extra bits
    (SPEC 5.4 steps 4-5 inverted); returns (status, d, pos, bitbuf, bitcnt)."""
    tok = np.int64(tokens[k])
    if tok < 0 or tok >= N_TOKENS:
        return ERR_TOKEN, np.int64(0), pos, bitbuf, bitcnt
    u, pos, bitbuf, bitcnt = _get_u(tok, bits, pos, nbytes, bitbuf, bitcnt)
    if u < 0:
        return ERR_BITS, np.int64(0), pos, bitbuf, bitcnt
    d = _unfold(u, m, mlo, mhi)
    if d < -mlo or d > mhi:
        return ERR_RANGE, np.int64(0), pos, bitbuf, bitcnt
    return OK, d, pos, bitbuf, bitcnt


@njit(cache=True, nogil=True)
def token_extra_bits(tok):
    """Number of raw extra bits that follow token ``tok``."""
    if tok < DIRECT_TOKENS:
        return 0
    return ((tok - DIRECT_TOKENS) >> MSB_IN_TOKEN) + 4 - MSB_IN_TOKEN


RECIP_SIZE = 1024

# Model id 12 (SPEC 7.6): two integer NLMS filters.  The first predicts the sample from
# six reconstructed neighbours W, WW, NW, NE, NN, NEE (offsets dy, dx; taken relative to N)
# and the residuals of W and N; the second corrects the blend of the five predictors from
# the predictors' and the first filter's offsets from the blend and the residuals of W, N,
# NW, NE, with one of four weight sets chosen by the local activity.
LMS_DY = np.array([0, 0, 1, 1, 2, 1], np.int64)
LMS_DX = np.array([-1, -2, -1, 1, 0, 2], np.int64)
LMS_NB = 6
LMS_TAPS = 8
LMS2_TAPS = 10
LMS2_SETS = 4  # the second filter's weight sets, chosen by the bias context's activity
LMS_WMAX = 1 << 20  # |weight| bound (Q16)


@njit(cache=True, nogil=True, inline="always")
def _lms_update(lw, lz, n, e, nrm, mul, sh):
    """NLMS step (SPEC 7.6): ``w_t += (mul * g * z_t + 2^(sh-1)) >> sh`` with
    ``g = (e << 12) // nrm``, each weight kept within +-LMS_WMAX."""
    g = (e << 12) // nrm
    half = np.int64(1) << (sh - 1)
    for t in range(n):
        lw[t] = min(max(lw[t] + ((mul * g * lz[t] + half) >> sh), -LMS_WMAX), LMS_WMAX)


@njit(cache=True, nogil=True)
def _recip_table():
    t = np.empty(RECIP_SIZE, np.int64)
    for i in range(RECIP_SIZE):
        t[i] = (np.int64(1) << 36) // (i + 1)
    return t


@njit(cache=True, nogil=True, inline="always")
def _recip_cnt_table():
    """``ceil(2^32 / c)`` for ``c`` = 1..31 ([0] unused): the bias correction's rounded mean
    ``S_c / C_c`` (SPEC 5.4 step 3) as a multiplication."""
    t = np.empty(32, np.int64)
    t[0] = 0
    for i in range(1, 32):
        t[i] = ((np.int64(1) << 32) + i - 1) // i
    return t


@njit(cache=True, nogil=True, inline="always")
def _med(a, b, c):
    """Median-edge rule (LOCO-I; SPEC 5.4 step 1 ``P0``, 5.5 ``med``)."""
    mx = a if a > b else b
    mn = a if a < b else b
    if c >= mx:
        return mn
    if c <= mn:
        return mx
    return a + b - c


@njit(cache=True, nogil=True, inline="always")
def _causal(img, y, x, corner):
    """The causal neighbours (N, NW, NE, NN, W, WW) of ``(y, x)`` with SPEC 5.4's rules for
    missing ones; ``corner`` is W at (0, 0) (``(maxval + 1) >> 1``; the reference's own
    sample R0 for SPEC 5.5 step 1, which reads N, NW and W)."""
    w = img.shape[1]
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
            w_ = np.int64(corner)
            ww = w_
        n_ = w_
        nw = w_
        ne = w_
        nn = w_
    elif x == 0:
        w_ = n_
        ww = n_
    return n_, nw, ne, nn, w_, ww


@njit(cache=True, nogil=True, inline="always")
def _predict5(preds, n_, nw, ne, nn, w_, ww, res, cur, prv, x):
    """Model 1's five predictors P0..P4 (SPEC 5.4 step 1) into ``preds[0..4]``, with ``res``
    the residuals of the previous (``prv``) and current (``cur``) rows at x offset +1;
    returns the residuals r(N), r(W)."""
    rn = res[prv, x + 1]
    rw = res[cur, x]
    preds[0] = _med(w_, n_, nw)
    preds[1] = w_ + ne - n_  # gradient along NE
    preds[2] = n_ + ((w_ - ww) + (n_ - nn) + 1) // 2  # north + momentum
    preds[3] = n_ + ((rw + rn + res[prv, x + 2]) >> 1)
    preds[4] = w_ + (((rw + rn + res[prv, x]) * 10) >> 5)
    return rn, rw


@njit(cache=True, nogil=True, inline="always")
def _blend(preds, n, err, cur, prv, x, recip):
    """The error-weighted blend of ``preds[0..n-1]`` (SPEC 5.4 step 2): ``err`` holds each
    predictor's absolute errors of the previous and current rows (x offset +1), ``recip``
    is :func:`_recip_table`."""
    wsum = np.int64(0)
    psum = np.int64(0)
    for i in range(n):
        e = (err[prv, x + 1, i] * 2 + err[prv, x, i] + err[prv, x + 2, i]
             + err[cur, x, i] * 2 + 1)
        # weight ~ 2**36 / (e + 1) through a reciprocal table (no division)
        sh = 0
        while e >= RECIP_SIZE:
            e >>= 1
            sh += 1
        wt = recip[e] >> sh
        if wt < 1:
            wt = 1
        wsum += wt
        psum += wt * preds[i]
    return (psum + (wsum >> 1)) // wsum


@njit(cache=True, nogil=True, inline="always")
def _activity(n_, w_, nw, ne, rn, rw):
    """The local activity ``act`` of SPEC 5.4 step 3."""
    return _abs(w_ - nw) + _abs(n_ - nw) + _abs(n_ - ne) + _abs(rn) + _abs(rw)


@njit(cache=True, nogil=True, inline="always")
def _act_level(act):
    """``q``: the bit length of ``act``, at most 15 (SPEC 5.4 step 3)."""
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
    return q


@njit(cache=True, nogil=True, inline="always")
def _bias_context(q, n_, w_, nw, ne, nn, ww, p):
    """The bias context ``c`` of level ``q`` and blend ``p`` (SPEC 5.4 step 3)."""
    return (q << 6) | ((n_ > p) << 5) | ((w_ > p) << 4) | ((nw > p) << 3) \
        | ((ne > p) << 2) | ((2 * n_ - nn > p) << 1) | (2 * w_ - ww > p)


@njit(cache=True, nogil=True, inline="always")
def _add_bias(p, s, rc):
    """``p`` plus a context's rounded mean error ``S_c / C_c`` (SPEC 5.4 step 3, ``C_c`` > 0)
    from ``s`` = ``S_c`` and ``rc`` = ``RECIP_CNT[C_c]`` of :func:`_recip_cnt_table`.  Scalars
    only: an array argument here costs a reference count per pixel."""
    if s >= 0:
        p += (s * rc + (np.int64(1) << 31)) >> 32
    else:
        p -= (-s * rc + (np.int64(1) << 31)) >> 32
    return p


@njit(cache=True, nogil=True)
def code_plane(img, maxval, decode, tokens, bits):
    """Predict/map/tokenise (encode) or reconstruct (decode) one plane in place.

    img:    (h, w) int32 plane with values in [0, maxval]; output when decoding.
    tokens: (h*w,) int32 tokens; output when encoding, input when decoding.
    bits:   uint8 buffer of packed extra bits; output when encoding (large
            enough: 2 bytes per pixel + 8), input when decoding.
    Returns (status, number of bytes of ``bits`` used).
    """
    return code_plane_near(img, maxval, 0, decode, tokens, bits, False)


@njit(cache=True, nogil=True)
def code_plane_near(img, maxval, near, decode, tokens, bits, lms):  # pragma: no cover - numba
    """:func:`_code_plane` (its docstring), with the four lossless cases compiled apart:
    ``near`` = 0 and ``decode``, ``lms`` as constants, so that each case's loop carries
    only its own branches (the same results)."""
    if near == 0:
        if decode:
            if lms:
                return _code_plane(img, maxval, 0, True, tokens, bits, True)
            return _code_plane(img, maxval, 0, True, tokens, bits, False)
        if lms:
            return _code_plane(img, maxval, 0, False, tokens, bits, True)
        return _code_plane(img, maxval, 0, False, tokens, bits, False)
    return _code_plane(img, maxval, near, decode, tokens, bits, lms)


@njit(cache=True, nogil=True, inline="always")
def _code_plane(img, maxval, near, decode, tokens, bits, lms):
    """:func:`code_plane` with the near-lossless quantiser of step ``2 near + 1`` (SPEC 7;
    ``near`` = 0 is lossless, byte for byte).  With ``near`` > 0 the residual ``e`` of each
    sample is quantised to ``q = sign(e) ((|e| + near) // (2 near + 1))``, the sample is
    reconstructed as ``p + q (2 near + 1)`` clamped to [0, maxval], and everything that
    follows (neighbours, predictor errors, bias contexts) reads the reconstruction: when
    encoding, ``img`` is overwritten with it, so the encoder ends with exactly the samples
    the decoder will produce.  ``lms`` (model id 12, SPEC 7.6; model id 13 at ``near`` = 0,
    SPEC 5.7): the blend is corrected by
    two integer NLMS filters, in place of the bias correction.  Returns (status, number of
    bytes of ``bits`` used).
    """
    delta = 2 * np.int64(near) + 1
    h, w = img.shape
    # per-predictor absolute errors of the previous and current rows (x offset +1)
    err = np.zeros((2, w + 2, N_PRED), np.int32)
    lw = np.zeros(LMS_TAPS, np.int64)  # NLMS weights, Q16
    lz = np.zeros(LMS_TAPS, np.int64)
    ldot = np.int64(0)
    lnrm = np.int64(1)
    lw2 = np.zeros((LMS2_SETS, LMS2_TAPS), np.int64)  # second stage, Q16, by activity
    ls = 0
    lz2 = np.zeros(LMS2_TAPS, np.int64)
    ldot2 = np.int64(0)
    lnrm2 = np.int64(1)
    pbl = np.int64(0)
    # residual (signed, after bias) of previous/current row for the context energy
    res = np.zeros((2, w + 2), np.int32)
    bias_sum = np.zeros(BIAS_CTX, np.int64)
    bias_cnt = np.zeros(BIAS_CTX, np.int64)
    preds = np.zeros(N_PRED + 1, np.int64)  # [5]: the first NLMS filter (model id 12)
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
            # --- causal neighbourhood (edges replicate what exists), five predictors --
            n_, nw, ne, nn, w_, ww = _causal(img, y, x, (maxval + 1) >> 1)
            rn, rw = _predict5(preds, n_, nw, ne, nn, w_, ww, res, cur, prv, x)
            if lms:  # first NLMS filter: neighbours and residuals (SPEC 7.6 step 1)
                ldot = np.int64(0)
                lnrm = np.int64(1)
                if y >= 2 and x >= 2 and x + 2 < w:  # interior: no edge tests
                    lz[0] = w_ - n_
                    lz[1] = ww - n_
                    lz[2] = nw - n_
                    lz[3] = ne - n_
                    lz[4] = nn - n_
                    lz[5] = np.int64(img[y - 1, x + 2]) - n_
                else:
                    for t in range(LMS_NB):
                        yy = y - LMS_DY[t]
                        xx = x + LMS_DX[t]
                        zt = np.int64(0)
                        if yy >= 0 and xx >= 0 and xx < w:
                            zt = np.int64(img[yy, xx]) - n_
                        lz[t] = zt
                lz[6] = rw
                lz[7] = rn
                for t in range(LMS_TAPS):
                    ldot += lw[t] * lz[t]
                    lnrm += lz[t] * lz[t]
                p5 = n_ + ((ldot + (np.int64(1) << 15)) >> 16)
                if p5 < 0:
                    p5 = 0
                elif p5 > maxval:
                    p5 = maxval
                preds[5] = p5
            # --- error-weighted blend --------------------------------------------
            p = _blend(preds, N_PRED, err, cur, prv, x, RECIP)
            # local activity (bias context, and model 12's weight set)
            q = _act_level(_activity(n_, w_, nw, ne, rn, rw))
            if lms:  # second NLMS filter: a correction of the blend (SPEC 7.6 step 2)
                ls = 0 if q < 4 else min((q - 2) >> 1, 3)  # its weight set
                pbl = p
                for t in range(N_PRED + 1):
                    lz2[t] = preds[t] - p
                lz2[6] = rw
                lz2[7] = rn
                lz2[8] = res[prv, x]
                lz2[9] = res[prv, x + 2]
                ldot2 = np.int64(0)
                lnrm2 = np.int64(1)
                for t in range(LMS2_TAPS):
                    ldot2 += lw2[ls, t] * lz2[t]
                    lnrm2 += lz2[t] * lz2[t]
                p = pbl + ((ldot2 + (np.int64(1) << 15)) >> 16)
            # --- bias correction in a local context (not in model 12) ----------------
            c = 0
            cnt = 0
            if not lms:
                c = _bias_context(q, n_, w_, nw, ne, nn, ww, p)
                cnt = bias_cnt[c]
            if cnt > 0:
                p = _add_bias(p, bias_sum[c], RECIP_CNT[cnt])
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
                st, d, pos, bitbuf, bitcnt = _read_residual(tokens, k, bits, pos, nbytes, bitbuf,
                                                            bitcnt, m, mlo, mhi)
                if st != OK:
                    return st, pos
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
            res[cur, x + 1] = dd
            for i in range(N_PRED):
                err[cur, x + 1, i] = _abs(v - preds[i])
            if not lms:
                _update_bias(bias_sum, bias_cnt, c, cnt, dd)
            else:  # SPEC 7.6 step 3: mu = 3/32; the second at even x, mu = 1/256
                _lms_update(lw, lz, LMS_TAPS, ((v - n_) << 16) - ldot, lnrm, 3, 17)
                if (x & 1) == 0:
                    _lms_update(lw2[ls], lz2, LMS2_TAPS, ((v - pbl) << 16) - ldot2, lnrm2, 1, 20)
    if not decode:
        pos = _flush_bits(bits, pos, bitbuf, bitcnt)
    return OK, pos
