"""Encoder-only Numba kernels of model id 20's low classes (SPEC.md 5.12, and 7.9 for
model id 21): the statistics the encoder weighs the low class count with, from a pass
without low classes (:func:`low_stats`), the in-place recoding of a lossless pass's low
samples (:func:`apply_low`) and the packing of its extra bits (:func:`pack_bits`).  The
pass lists its candidates, the samples whose ``L = (W + N + 1) >> 1`` is below N_CLASS, as
``k | L << 32`` (``k`` the sample's index in raster order): these loops visit only them.
The decoder never imports this module.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .kernels_fast import N_CLASS, N_TOKENS, U, near_reciprocal
from .kernels_fit import section_cost


@njit(cache=True, nogil=True)
def low_stats(vals, tokens, classes, band, TOK, NB, near, cand, nc, group, ngroup):
    """What model id 20's encoder weighs low classes with (SPEC 5.12), from a pass without
    them and its ``nc`` candidates ``cand``: per ``L``, the tokens of their values (``hx``,
    (N_CLASS, N_TOKENS)) and the change in extra bits (``dbits``, N_CLASS); per group of
    ``L`` (``group[L]``, one of ``ngroup``: the low class counts the encoder tries each
    take a run of whole groups), the tokens they had in their band rows (``hsub``, (ngroup,
    bands * N_CLASS, N_TOKENS); ``classes`` = fine bin * N_CLASS + class, ``band`` the fine
    bins' bands).  ``vals`` (flat, raster order) holds the values to code; with ``near`` =
    k > 0 (model id 21, SPEC 7.9; the pass then ran on the reconstruction, which ``L`` is
    taken from) a value's token is that of ``(v + k) // (2k + 1)``."""
    nband = 0
    for f in range(band.shape[0]):
        nband = max(nband, band[f] + 1)
    hx = np.zeros((N_CLASS, N_TOKENS), np.int64)
    hsub = np.zeros((ngroup, nband * N_CLASS, N_TOKENS), np.int32)  # (counts of one plane)
    dbits = np.zeros(N_CLASS, np.int64)
    rcp = near_reciprocal(2 * near + 1)  # x // (2k + 1) as a multiplication (1 for k = 0)
    for i in range(nc):
        k = U(cand[U(i)] & 0xFFFFFFFF)
        lam = U(cand[U(i)] >> 32)
        tx = TOK[U(((np.int64(vals[k]) + near) * rcp) >> 40)]
        tu = tokens[k]
        row = np.int64(classes[k])
        brow = band[row // N_CLASS] * N_CLASS + row % N_CLASS
        hx[lam, tx] += 1
        hsub[U(group[lam]), brow, tu] += 1
        dbits[lam] += NB[tx] - NB[tu]
    return hx, hsub, dbits


@njit(cache=True, nogil=True)
def weigh_low(hx, hsub, dbits, hb, builtin, choices):
    """The low class count of ``choices`` (increasing) that :func:`low_stats`' ``hx``,
    ``hsub`` and ``dbits`` say saves most against none, or 0 where none saves: for each
    count, :func:`mic.lossless.kernels_fit.section_cost` of the low classes' tokens, plus
    the change in extra bits, plus the change in cost of each band (``hb``: the bands'
    counts, (bands, N_CLASS, N_TOKENS)) that the low samples leave."""
    nb = hb.shape[0]
    base = np.zeros(nb)  # the bands' costs as they are, where samples leave them
    have = np.zeros(nb, np.bool_)
    sub = np.zeros((nb, N_CLASS, N_TOKENS), np.int64)  # of the samples below the count
    low = np.zeros((N_CLASS, N_TOKENS), np.int64)
    left = np.zeros((N_CLASS, N_TOKENS), np.int64)
    moved = np.zeros(nb, np.bool_)
    best = 0
    best_d = 0.0
    done = 0
    any_low = False
    for j in range(len(choices)):
        nl = choices[j]
        for b in range(nb):
            for r in range(N_CLASS):
                for s in range(N_TOKENS):
                    k = hsub[j, b * N_CLASS + r, s]
                    sub[b, r, s] += k
                    moved[b] |= k != 0
        for r in range(done, nl):
            for s in range(N_TOKENS):
                low[r, s] = hx[r, s]
                any_low |= hx[r, s] != 0
        done = nl
        if not any_low:
            continue
        dsum = 0
        for r in range(nl):
            dsum += dbits[r]
        d = np.float64(dsum) + section_cost(low, builtin)
        for b in range(nb):
            if not moved[b]:
                continue
            if not have[b]:
                base[b] = section_cost(hb[b], builtin)
                have[b] = True
            for r in range(N_CLASS):
                for s in range(N_TOKENS):
                    left[r, s] = hb[b, r, s] - sub[b, r, s]
            d += section_cost(left, builtin) - base[b]
        if d < best_d:
            best = nl
            best_d = d
    return best


@njit(cache=True, nogil=True)
def apply_low(vals, nl, lowbase, tokens, classes, uout, hist, TOK, cand, nc):
    """Turn a lossless pass without low classes into one with ``nl`` of them (SPEC 5.12),
    as :func:`mic.lossless.kernels_fast_enc.fast_tokens_low` with ``nl`` would have made
    it: the low samples (the candidates with ``L`` below ``nl``) get their values' tokens,
    class ``lowbase + L``, numbers (``uout``) and counts in ``hist``.  ``vals``: the plane,
    flat in raster order."""
    for i in range(nc):
        lam = cand[U(i)] >> 32
        if lam < nl:
            k = U(cand[U(i)] & 0xFFFFFFFF)
            v = np.int64(vals[k])
            tx = TOK[U(v)]
            hist[classes[k], tokens[k]] -= 1
            classes[k] = lowbase + lam
            tokens[k] = tx
            uout[k] = v
            hist[lowbase + lam, tx] += 1


@njit(cache=True, nogil=True)
def pack_bits(tokens, uout, NB, bits):
    """The extra bits of every sample (the low ``NB[token]`` bits of its number ``uout``),
    packed MSB first into ``bits`` as the token pass packs them; returns the bytes used."""
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
