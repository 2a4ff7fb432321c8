"""Encoder-only Numba kernels of model id 20's low classes (SPEC.md 5.12, and 7.9 for
model id 21): the statistics the encoder weighs the low class count with, from a pass
without low classes (:func:`low_stats`), and the in-place recoding of a lossless pass's low
samples (:func:`apply_low`).  The decoder never imports this module.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .kernels_fast import N_CLASS, N_TOKENS, U


@njit(cache=True, nogil=True, inline="always")
def _low_lambda(img, y, x, half):
    """SPEC 5.12's ``(W + N + 1) >> 1`` of sample (y, x), 5.6's neighbours at the edges."""
    if y == 0:
        w_ = np.int64(img[0, U(x - 1)]) if x > 0 else half
        return w_
    n_ = np.int64(img[U(y - 1), U(x)])
    w_ = np.int64(img[U(y), U(x - 1)]) if x > 0 else n_
    return (w_ + n_ + 1) >> 1


@njit(cache=True, nogil=True)
def low_stats(img, maxval, tokens, classes, band, TOK, NB, vals, near):
    """What model id 20's encoder weighs low classes with (SPEC 5.12), from a pass without
    them: for the samples whose ``L = (W + N + 1) >> 1`` is below N_CLASS, per ``L``, the
    tokens of their values (``hx``, (N_CLASS, N_TOKENS)), the tokens they had in their band
    rows (``hsub``, (N_CLASS, bands * N_CLASS, N_TOKENS); ``classes`` = fine bin * N_CLASS +
    class, ``band`` the fine bins' bands) and the change in extra bits (``dbits``).
    ``vals`` holds the values to code (``img`` itself, lossless); with ``near`` = k > 0
    (model id 21, SPEC 7.9) ``img`` is the pass's reconstruction and a value's token is
    that of ``(v + k) // (2k + 1)``."""
    h, w = img.shape
    nband = 0
    for f in range(band.shape[0]):
        nband = max(nband, band[f] + 1)
    hx = np.zeros((N_CLASS, N_TOKENS), np.int64)
    hsub = np.zeros((N_CLASS, nband * N_CLASS, N_TOKENS), np.int64)
    dbits = np.zeros(N_CLASS, np.int64)
    half = np.int64((maxval + 1) >> 1)
    k = 0
    for y in range(h):
        for x in range(w):
            lam = _low_lambda(img, y, x, half)
            if lam < N_CLASS:
                tx = TOK[U((np.int64(vals[U(y), U(x)]) + near) // (2 * near + 1))]
                tu = tokens[k]
                row = np.int64(classes[k])
                brow = band[row // N_CLASS] * N_CLASS + row % N_CLASS
                hx[lam, tx] += 1
                hsub[lam, brow, tu] += 1
                dbits[lam] += NB[tx] - NB[tu]
            k += 1
    return hx, hsub, dbits


@njit(cache=True, nogil=True)
def apply_low(img, maxval, nl, lowbase, tokens, classes, uout, hist, TOK, NB, bits):
    """Turn a pass without low classes into one with ``nl`` of them (SPEC 5.12), as
    :func:`mic.lossless.kernels_fast_enc.fast_tokens_low` with ``nl`` would have made it:
    the low samples' tokens, classes (``lowbase + L``), numbers and counts in ``hist``, then
    every extra bit packed again into ``bits``.  Returns the number of bytes of ``bits``
    used."""
    h, w = img.shape
    half = np.int64((maxval + 1) >> 1)
    k = 0
    for y in range(h):
        for x in range(w):
            lam = _low_lambda(img, y, x, half)
            if lam < nl:
                v = np.int64(img[U(y), U(x)])
                tx = TOK[U(v)]
                hist[classes[k], tokens[k]] -= 1
                classes[k] = lowbase + lam
                tokens[k] = tx
                uout[k] = v
                hist[lowbase + lam, tx] += 1
            k += 1
    acc = np.int64(0)  # the token pass's packer, written out as there (as an inlined
    cnt = np.int64(0)  # helper shared by both, both loops ran 5-13 % slower)
    pos = 0
    for k in range(tokens.shape[0]):
        nb = NB[tokens[k]]
        acc = (acc << nb) | (np.int64(uout[k]) & ((np.int64(1) << nb) - 1))
        cnt += nb
        if cnt >= 32:
            cnt -= 32
            word = acc >> cnt
            bits[U(pos)] = (word >> 24) & 0xFF
            bits[U(pos + 1)] = (word >> 16) & 0xFF
            bits[U(pos + 2)] = (word >> 8) & 0xFF
            bits[U(pos + 3)] = word & 0xFF
            pos += 4
            acc &= (np.int64(1) << cnt) - 1
    while cnt > 0:  # flush, zero padded to a byte
        take = min(cnt, np.int64(8))
        bits[pos] = ((acc >> (cnt - take)) << (8 - take)) & 0xFF
        cnt -= take
        acc &= (np.int64(1) << cnt) - 1
        pos += 1
    return pos
