"""The fast NLMS filters' vector kernels (mic.lossless.kernels_simd) against their scalar
definition: the inner products as plain sums, the step as model 12's clamped NLMS step
(mic.lossless.kernels._lms_update with mul 1), weights and taps from small to 2^17 and
errors large enough that the clamps act.  (The streams themselves are pinned by the fast
conformance vectors, which regenerate byte for byte.)"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from numba import njit
from numba.core.errors import TypingError

from mic.lossless import kernels_simd as V
from mic.lossless.kernels import LMS_WMAX, _lms_update


@njit(cache=False)
def _dot12(w, z, t):
    return V.dot12(w, z, (t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9],
                          t[10], t[11]))


@njit(cache=False)
def _dot8(w, row, z, t):
    return V.dot8(w, row, z, (t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]))


@njit(cache=False)
def _step12(w, z, g, sh, wmax):
    V.step12(w, z, g, sh, wmax)


@njit(cache=False)
def _step8(w, row, z, g, sh, wmax):
    V.step8(w, row, z, g, sh, wmax)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scale=st.sampled_from([1, 40, 3000, 1 << 17]), row=st.integers(0, 3),
       seed=st.integers(0, 2 ** 31))
def test_inner_products_are_the_sums_and_store_the_taps(scale, row, seed):
    rng = np.random.default_rng(seed)
    w12 = rng.integers(-LMS_WMAX, LMS_WMAX + 1, 12)
    w8 = rng.integers(-LMS_WMAX, LMS_WMAX + 1, (4, 8))
    t = rng.integers(-scale, scale + 1, 12).astype(np.int64)
    z = np.full(12, 7, np.int64)
    dot, nrm = _dot12(w12, z, t)
    assert (dot, nrm) == (int((w12 * t).sum()), 1 + int((t * t).sum()))
    assert np.array_equal(z, t)
    z8 = np.full(8, 7, np.int64)
    before = w8.copy()
    dot, nrm = _dot8(w8, row, z8, t[:8])
    assert (dot, nrm) == (int((w8[row] * t[:8]).sum()), 1 + int((t[:8] ** 2).sum()))
    assert np.array_equal(z8, t[:8]) and np.array_equal(w8, before)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.sampled_from([8, 12]), sh=st.sampled_from([16, 20]), steps=st.integers(1, 300),
       scale=st.sampled_from([1, 40, 3000, 1 << 17]), row=st.integers(0, 3),
       seed=st.integers(0, 2 ** 31))
def test_the_vector_step_gives_the_clamped_steps_weights(n, sh, steps, scale, row, seed):
    """Every weight after every step equals model 12's clamped step's; a (4, 8) weight
    matrix changes only in the row stepped."""
    rng = np.random.default_rng(seed)
    ref = rng.integers(-LMS_WMAX, LMS_WMAX + 1, n)
    mat = rng.integers(-LMS_WMAX, LMS_WMAX + 1, (4, 8))
    if n == 8:
        mat[row] = ref
    got = ref.copy()
    for _ in range(steps):
        z = rng.integers(-scale, scale + 1, n).astype(np.int64)
        if rng.random() < 0.1:
            z[:] = 0
        nrm = 1 + int((z * z).sum())
        e = int(rng.integers(-(1 << 40), 1 << 40)) >> int(rng.integers(0, 40))
        g = (e << 12) // nrm
        _lms_update(ref, z, n, e, nrm, 1, sh)
        if n == 12:
            _step12(got, z, g, sh, LMS_WMAX)
            assert np.array_equal(ref, got)
        else:
            others = np.delete(mat, row, axis=0).copy()
            _step8(mat, row, z, g, sh, LMS_WMAX)
            assert np.array_equal(ref, mat[row])
            assert np.array_equal(np.delete(mat, row, axis=0), others)
        if np.abs(ref).max() == LMS_WMAX:
            event("a clamp acted")


def test_wrong_arrays_are_refused_when_compiled():
    """Only C-contiguous int64 arrays of the right rank compile (the kernels index raw
    memory: an array of another type or layout must not reach them)."""
    z = np.zeros(12, np.int64)
    t = np.zeros(12, np.int64)
    with pytest.raises(TypingError):
        _dot12(np.zeros(12, np.float64), z, t)
    with pytest.raises(TypingError):
        _step12(np.zeros(24, np.int64)[::2], z, 1, 16, LMS_WMAX)
    with pytest.raises(TypingError):
        _step8(np.zeros(8, np.int64), 0, z[:8], 1, 16, LMS_WMAX)
