"""The fast NLMS filters' vector kernels (mic.lossless.kernels_simd) against their scalar
definition: the inner products as plain sums, the step as model 12's clamped NLMS step
(mic.lossless.kernels._lms_update with mul 1), made at once, weights and taps from small to
2^17 and errors large enough that the clamps act.  (The streams themselves are pinned by the fast
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
def _step_dot12(w, z, g, sh, wmax, t):
    return V.step_dot12(w, z, g, sh, wmax, (t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7],
                                            t[8], t[9], t[10], t[11]))


@njit(cache=False)
def _step_dot8(w, row_old, row, z, g, sh, wmax, t, off):
    return V.step_dot8(w, row_old, row, z, g, sh, wmax,
                       (t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]), off)


@njit(cache=False)
def _step12(w, z, g, sh, wmax):
    V.step12(w, z, g, sh, wmax)


@njit(cache=False)
def _step8(w, row, z, g, sh, wmax):
    V.step8(w, row, z, g, sh, wmax)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.integers(1, 200), scale=st.sampled_from([1, 40, 3000, 1 << 17]),
       seed=st.integers(0, 2 ** 31))
def test_fused_steps_and_inner_products_are_the_scalar_filters(steps, scale, seed):
    """A chain of samples through step_dot12 / step_dot8 (each sample's steps made at the
    next one's products, the second filter's weight set changing at random, its first four
    taps given plus an offset that it subtracts) gives, at every
    sample, the inner products of the scalar definition: model 12's clamped step made at
    once, then the sums over the new taps; and the same weights at the end."""
    rng = np.random.default_rng(seed)
    a_ref = rng.integers(-LMS_WMAX, LMS_WMAX + 1, 12)
    b_ref = rng.integers(-LMS_WMAX, LMS_WMAX + 1, (4, 8))
    a, b = a_ref.copy(), b_ref.copy()
    z, z2 = np.zeros(12, np.int64), np.zeros(8, np.int64)
    z_ref, z2_ref = z.copy(), z2.copy()
    g1 = g2 = sp = 0
    for i in range(steps):
        t = rng.integers(-scale, scale + 1, 12).astype(np.int64)
        t2 = rng.integers(-scale, scale + 1, 8).astype(np.int64)
        off = int(rng.integers(-scale, scale + 1))  # step_dot8 takes the first four less it
        c2 = t2.copy()
        c2[:4] += off
        s = int(rng.integers(0, 4))
        # the scalar definition: the sample before's steps, then the products
        if i:
            _lms_update(a_ref, z_ref, 12, e1, 1 + int((z_ref ** 2).sum()), 1, 16)
            if g2:
                _lms_update(b_ref[sp], z2_ref, 8, e2, 1 + int((z2_ref ** 2).sum()), 1, 20)
        z_ref[:], z2_ref[:] = t, t2
        want1 = (int((a_ref * t).sum()), 1 + int((t * t).sum()))
        want2 = (int((b_ref[s] * t2).sum()), 1 + int((t2 * t2).sum()))
        got1 = _step_dot12(a, z, g1, 16, LMS_WMAX, t)
        got2 = _step_dot8(b, sp, s, z2, g2, 20, LMS_WMAX, c2, off)
        assert got1 == want1 and got2 == want2
        assert np.array_equal(z, t) and np.array_equal(z2, t2)
        # this sample's errors and gains (the second filter steps at even samples)
        e1 = int(rng.integers(-(1 << 40), 1 << 40)) >> int(rng.integers(0, 40))
        e2 = int(rng.integers(-(1 << 40), 1 << 40)) >> int(rng.integers(0, 40))
        g1 = (e1 << 12) // want1[1]
        g2 = (e2 << 12) // want2[1] if i % 2 == 0 else 0
        sp = s
        if np.abs(a_ref).max() == LMS_WMAX or np.abs(b_ref).max() == LMS_WMAX:
            event("a clamp acted")
    _lms_update(a_ref, z_ref, 12, e1, 1 + int((z_ref ** 2).sum()), 1, 16)
    if g2:
        _lms_update(b_ref[sp], z2_ref, 8, e2, 1 + int((z2_ref ** 2).sum()), 1, 20)
    _step12(a, z, g1, 16, LMS_WMAX)
    _step8(b, sp, z2, g2, 20, LMS_WMAX)
    assert np.array_equal(a, a_ref) and np.array_equal(b, b_ref)


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
        _step_dot12(np.zeros(12, np.float64), z, 0, 16, LMS_WMAX, t)
    with pytest.raises(TypingError):
        _step12(np.zeros(24, np.int64)[::2], z, 1, 16, LMS_WMAX)
    with pytest.raises(TypingError):
        _step8(np.zeros(8, np.int64), 0, z[:8], 1, 16, LMS_WMAX)
