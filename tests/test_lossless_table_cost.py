"""The fast lossless encoder's table fitting (mic.lossless.kernels_fast_enc): the normalised
frequencies and the cost estimate that fit_tables, section_cost and the band and low-class
choices weigh, against their plain definitions (integer division, libm log2, a varint per
frequency up to the last used symbol).  Faster forms of them must choose the same tables,
and so write the same streams."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from mic.lossless import kernels_fast_enc as KE
from mic.lossless.kernels_fast import M_TOT, N_TOKENS, PREC


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
    return KE._cost(cnt, np.empty(N_TOKENS, np.int64))


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
    got = KE._normalise(cnt)
    assert np.array_equal(got, want)
    assert got.sum() == M_TOT and np.array_equal(got > 0, cnt > 0)
    assert _cost_new(cnt) == _cost_ref(cnt)
