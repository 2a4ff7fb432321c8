"""The numba kernels of mic.quant agree with their NumPy twins."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from mic.quant import (
    merge_escapes, merge_escapes_np, quantize_residual, quantize_residual_np, scale_index,
    scale_index_np, split_escapes, split_escapes_np,
)
from mic.bitstream.varint import unzigzag, unzigzag_array, zigzag, zigzag_array
from mic.quant.kernels import Q_CLAMP


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(-10**9, 10**9), min_size=0, max_size=40),
       st.lists(st.integers(-2 * 10**9, 2 * 10**9), min_size=1, max_size=60),
       st.floats(-1e3, 1e3, allow_nan=False), st.floats(-1e-3, 1e-3, allow_nan=False))
def test_count_le_from_any_guess_is_exact(thr, vals, t0, rstep):
    """The guessed start only changes how far the walk goes: for any sorted thresholds
    (duplicates, uneven gaps, none) and any (even useless) guess, the binary search's count."""
    from mic.quant.kernels import count_le, count_le_from
    t = np.sort(np.array(thr, np.int64))
    for a in vals + [float("nan")]:
        for a1 in (a, float(a)):
            assert count_le_from(t, a1, t0, rstep) == count_le(t, a1) == int(np.sum(t <= a1))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e9, 1e9, allow_nan=False, width=32), min_size=1, max_size=64),
       st.integers(0, 2**31))
def test_quantize_matches_numpy(vals, seed):
    y = np.array(vals, np.float32)
    mu = np.random.default_rng(seed).normal(0, 50, y.size)
    assert np.array_equal(quantize_residual(y, mu), quantize_residual_np(y, mu))


def test_quantize_half_to_even_and_clamp_and_nan():
    y = np.array([0.5, 1.5, -0.5, 2.5, 1e20, -1e20, np.nan], np.float32)
    got = quantize_residual(y, np.zeros(y.size))
    assert got.tolist() == [0, 2, 0, 2, Q_CLAMP, -Q_CLAMP, 0]
    assert np.array_equal(got, quantize_residual_np(y, np.zeros(y.size)))


def test_scale_index_matches_searchsorted():
    rng = np.random.default_rng(1)
    thr = np.sort(rng.integers(-10**12, 10**12, 63))
    acc = np.concatenate([rng.integers(-2 * 10**12, 2 * 10**12, 5000), thr, thr - 1, thr + 1])
    assert np.array_equal(scale_index(acc.astype(np.float64), thr), scale_index_np(acc, thr))
    assert scale_index(np.array([thr[0] - 1]), thr)[0] == 0
    assert scale_index(np.array([thr[-1]]), thr)[0] == 63


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-2**30, 2**30), min_size=1, max_size=80), st.integers(0, 1000))
def test_escape_split_merge_roundtrip(vals, seed):
    q = np.array(vals, np.int32)
    rng = np.random.default_rng(seed)
    half = rng.integers(1, 40, 5).astype(np.int32)
    tab = rng.integers(0, 5, q.size).astype(np.int32)
    s1, e1 = split_escapes(q, tab, half)
    s2, e2 = split_escapes_np(q, tab, half)
    assert np.array_equal(s1, s2) and np.array_equal(e1, e2)
    assert (s1 <= 2 * half[tab] + 1).all() and (s1 >= 0).all()
    assert np.array_equal(merge_escapes(s1, tab, half, e1), q)
    assert np.array_equal(merge_escapes_np(s1, tab, half, e1), q)


def test_merge_detects_escape_count_mismatch():
    half = np.array([2], np.int32)
    sym = np.array([5, 0], np.int32)  # one escape symbol
    tab = np.zeros(2, np.int32)
    for fn in (merge_escapes, merge_escapes_np):
        with pytest.raises(ValueError):
            fn(sym, tab, half, np.zeros(0, np.int32))


def test_zigzag_roundtrip():
    """One zigzag (mic.bitstream.varint): arrays as the escape coder's uint32 and back to
    int32, and the scalar pair agreeing with them."""
    v = np.array([0, -1, 1, -2, 2, 2**30, -2**30, 2**31 - 1, -2**31], np.int64).astype(np.int32)
    u = zigzag_array(v, np.uint32)
    assert u.dtype == np.uint32 and u[:5].tolist() == [0, 1, 2, 3, 4]
    back = unzigzag_array(u, np.int32)
    assert back.dtype == np.int32 and np.array_equal(back, v)
    assert [zigzag(int(x)) for x in v] == u.tolist()
    assert [unzigzag(int(x)) for x in u] == v.tolist()
