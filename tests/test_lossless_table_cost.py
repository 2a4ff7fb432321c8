"""The fast lossless encoder's table fitting (mic.lossless.kernels_fast_enc): the normalised
frequencies and the cost estimate that fit_tables, section_cost and the band and low-class
choices weigh, against their plain definitions (integer division, libm log2, a varint per
frequency up to the last used symbol), and the built-in table assignment against its numpy
definition.  Faster forms of them must choose the same tables,
and so write the same streams."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit
from PIL import Image

from mic.lossless import kernels_fit as KFIT
from mic.lossless.kernels_fast import M_TOT, N_CLASS, N_TOKENS, PREC
from mic.lossless.kernels_tables import BUILTIN
from mic.lossless.syntax import model16_priors
from mic_test_helpers import model20_pass, token_bits

DATA = Path(__file__).parent / "data"


@njit(cache=False)
def _normalise_ref(cnt):
    n = cnt.sum()
    f = np.zeros(N_TOKENS, np.int64)
    tot = 0
    for s in range(N_TOKENS):
        if cnt[s] > 0:
            f[s] = max(1, (cnt[s] * M_TOT + (n >> 1)) // n)
            tot += f[s]
    diff = M_TOT - tot
    while diff != 0:
        b = np.argmax(f)
        if diff > 0:
            f[b] += diff
            diff = 0
        else:
            for s in np.argsort(-f):
                take = min(-diff, f[s] - 1)
                f[s] -= take
                diff += take
                if diff == 0:
                    break
    return f


@njit(cache=False)
def _cost_ref(cnt):
    f = _normalise_ref(cnt)
    bits = 0.0
    last = 0
    for s in range(N_TOKENS):
        if cnt[s] > 0:
            bits += cnt[s] * (PREC - np.log2(f[s]))
            last = s + 1
    tb = 1
    for s in range(last):
        v = f[s]
        tb += 1
        while v >= 128:
            v >>= 7
            tb += 1
    return bits + 8.0 * tb


@njit(cache=False)
def _cost_new(cnt):
    return KFIT._cost(cnt, np.empty(N_TOKENS, np.int64), np.empty(N_TOKENS, np.int64), N_TOKENS)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), kind=st.sampled_from(["random", "ties", "one", "huge", "skewed"]))
def test_normalised_tables_and_costs_are_the_plain_definitions(data, kind):
    """Every count vector, with few or many symbols, tied or skewed, counts up to 2^45 (the
    integer path), normalises to the same frequencies and costs the same bits, to the
    last place, as the plain definitions."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    used = rng.choice(N_TOKENS, data.draw(st.integers(1, N_TOKENS)), replace=False)
    cnt = np.zeros(N_TOKENS, np.int64)
    if kind == "random":
        cnt[used] = rng.integers(1, 1 << data.draw(st.integers(1, 24)), len(used))
    elif kind == "ties":  # equal largest counts: the sort decides who gives back
        cnt[used] = rng.integers(1, 4, len(used)) * data.draw(st.integers(1, 5000))
    elif kind == "one":
        cnt[used[0]] = data.draw(st.integers(1, 1 << 30))
    elif kind == "huge":  # n >= 2^40: the exact integer division
        cnt[used] = rng.integers(1 << 38, 1 << 45, len(used))
    else:  # one symbol dominant, the rest rare: frequencies of 1 and a sum over M_TOT
        cnt[used] = rng.integers(1, 3, len(used))
        cnt[used[0]] = data.draw(st.integers(1, 1 << 22))
    want = _normalise_ref(cnt)
    got = KFIT._normalise(cnt)
    assert np.array_equal(got, want)
    assert got.sum() == M_TOT and np.array_equal(got > 0, cnt > 0)
    assert _cost_new(cnt) == _cost_ref(cnt)
    hi = int(np.flatnonzero(cnt)[-1]) + 1  # the loops stopped past the last used symbol
    assert KFIT._cost(cnt, np.full(N_TOKENS, 99, np.int64), np.full(N_TOKENS, 99, np.int64),
                      hi) == _cost_ref(cnt)


def _assign_builtin_ref(hist, tabmap, freq, builtin):
    """The numpy definition the compiled assign_builtin replaced."""
    own = token_bits(hist, freq[tabmap])
    bi = token_bits(hist, builtin)
    counts = hist.sum(axis=1)
    out = np.full(N_CLASS, BUILTIN, np.int64)
    kept = []
    for t in range(freq.shape[0]):
        cls = np.flatnonzero((tabmap == t) & (counts > 0))
        keep = 8.0 * KFIT.table_bytes(freq[t]) + np.minimum(own[cls], bi[cls]).sum()
        if len(cls) and keep < bi[cls].sum():
            out[cls] = np.where(own[cls] <= bi[cls], len(kept), BUILTIN)
            kept.append(freq[t])
    if kept:
        out[counts == 0] = 0
    return out, (np.array(kept, np.int64) if kept else np.zeros((0, N_TOKENS), np.int64))


def _real_histograms():
    """The token counts of each fine bin, and of all, of the bundled CT's model-20 pass."""
    a = np.asarray(Image.open(DATA / "ct_abdomen_u16.png")).astype(np.int32)
    run = model20_pass(a - a.min())
    per = run.hist[:run.lowbase].reshape(run.nf, N_CLASS, N_TOKENS)
    return [per[f] for f in range(run.nf)] + [per.sum(axis=0)]


def test_builtin_assignment_of_real_counts_is_the_numpy_definition():
    """The bundled CT's counts, bin by bin: the compiled assignment moves the same classes
    to their built-in tables and keeps the same tables as the numpy definition."""
    builtin = model16_priors()[2]
    for h in _real_histograms():
        tabmap, freq = KFIT.fit_tables(h)
        got = KFIT.assign_builtin(h, tabmap, freq, builtin)
        want = _assign_builtin_ref(h, tabmap, freq, builtin)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), classes=st.integers(1, N_CLASS),
       tokens=st.integers(1, 40), scale=st.sampled_from([3, 100, 10_000, 1 << 20]))
def test_builtin_assignment_is_the_numpy_definition(seed, classes, tokens, scale):
    """Random counts (a few classes or all, a few tokens or many, some that a built-in
    table cannot code): the same class map and kept tables as the numpy definition."""
    rng = np.random.default_rng(seed)
    builtin = model16_priors()[2]
    h = np.zeros((N_CLASS, N_TOKENS), np.int64)
    for c in rng.choice(N_CLASS, classes, replace=False):
        used = rng.choice(N_TOKENS, tokens, replace=False)
        h[c, used] = rng.integers(1, scale, tokens)
    tabmap, freq = KFIT.fit_tables(h)
    got = KFIT.assign_builtin(h, tabmap, freq, builtin)
    want = _assign_builtin_ref(h, tabmap, freq, builtin)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
