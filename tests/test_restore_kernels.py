"""The restoration filter's Numba kernels (SPEC 6.7) against a plain NumPy reference of the
same definitions: activity, direction classes, pixel classes and the filter itself, on
random planes, with and without clipping, kept pixels, classes switched off and sample
spans above 2^16 (where the kernel sums in int64)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mic.lossy import restore
from mic.lossy.restore import SHIFT, TAPS, ChannelFilter


def _shift(x: np.ndarray, di: int, dj: int) -> np.ndarray:
    """``x[clamp(i + di), clamp(j + dj)]`` for every (i, j): SPEC 6.7's edge replication."""
    h, w = x.shape
    ii = np.clip(np.arange(h) + di, 0, h - 1)
    jj = np.clip(np.arange(w) + dj, 0, w - 1)
    return x[ii][:, jj]


def _box5(a: np.ndarray) -> np.ndarray:
    return sum(_shift(a, di, dj) for di in range(-2, 3) for dj in range(-2, 3))


def ref_activity(x: np.ndarray) -> np.ndarray:
    lap = np.abs(4 * x - _shift(x, -1, 0) - _shift(x, 1, 0) - _shift(x, 0, -1) - _shift(x, 0, 1))
    return _box5(lap)


def ref_directions(x: np.ndarray) -> np.ndarray:
    c2 = 2 * x
    gh = _box5(np.abs(c2 - _shift(x, 0, -1) - _shift(x, 0, 1)))
    gv = _box5(np.abs(c2 - _shift(x, -1, 0) - _shift(x, 1, 0)))
    g1 = _box5(np.abs(c2 - _shift(x, -1, -1) - _shift(x, 1, 1)))
    g2 = _box5(np.abs(c2 - _shift(x, -1, 1) - _shift(x, 1, -1)))
    hv = np.maximum(gh, gv) * np.minimum(g1, g2) >= np.maximum(g1, g2) * np.minimum(gh, gv)
    out = np.zeros(x.shape, np.int64)
    out[hv & (gh > 2 * gv)] = 1
    out[hv & (gv > 2 * gh)] = 2
    out[~hv & (g1 > 2 * g2)] = 3
    out[~hv & (g2 > 2 * g1)] = 4
    return out


def ref_apply(x: np.ndarray, cf: ChannelFilter, keep: np.ndarray, clip: int,
              rng: tuple[int, int]) -> np.ndarray:
    act = ref_activity(x)
    cls = np.searchsorted(np.asarray(cf.thresholds, np.int64), act, side="right")
    if cf.dirs > 1:
        cls = cls * restore.N_DIRS + ref_directions(x)
    acc = np.zeros(x.shape, np.int64)
    coefs = np.zeros((len(cf.coefs), 12), np.int64)
    for k, c in enumerate(cf.coefs):
        if c is not None:
            coefs[k, :cf.taps] = c
    for k, (di, dj) in enumerate(TAPS):
        a = np.clip(_shift(x, di, dj) - x, -clip, clip)
        b = np.clip(_shift(x, -di, -dj) - x, -clip, clip)
        acc += coefs[cls, k] * (a + b)
    y = np.clip(x + ((acc + (1 << (SHIFT - 1))) >> SHIFT), *rng)
    on = np.array([c is not None for c in cf.coefs])[cls] & ~keep
    return np.where(on, y, x)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 24), st.integers(1, 24), st.integers(0, 2**32 - 1),
       st.sampled_from([255, 4095, 65535, 1 << 20]))
def test_activity_and_directions_match_the_reference(h: int, w: int, seed: int, hi: int) -> None:
    x = np.random.default_rng(seed).integers(-hi // 2, hi, (h, w)).astype(np.int64)
    assert np.array_equal(restore.activity(x), ref_activity(x))
    assert np.array_equal(restore.direction_classes(x), ref_directions(x))


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 20), st.integers(1, 20), st.integers(0, 2**32 - 1),
       st.sampled_from([(0, 255), (0, 4095), (-32768, 32767), (0, 65535), (0, (1 << 20) - 1)]),
       st.integers(0, 3), st.booleans(), st.sampled_from(restore.N_TAPS))
def test_filter_matches_the_reference(h: int, w: int, seed: int, rng: tuple[int, int],
                                      clip: int, dirs: bool, taps: int) -> None:
    """Every accumulator type the kernel picks (int32 up to a span of 2^16, int64 above)
    gives the reference's samples, extreme coefficients included."""
    r = np.random.default_rng(seed)
    x = r.integers(rng[0], rng[1] + 1, (h, w)).astype(np.int64)
    if r.random() < 0.5:  # extreme planes: the largest differences the range allows
        x = np.where(r.random((h, w)) < 0.5, rng[0], rng[1]).astype(np.int64)
    nthr = int(r.integers(0, 4))
    thr = sorted(set(int(v) for v in r.integers(0, 64 * max(1, rng[1] >> 4), nthr)))
    ncls = (len(thr) + 1) * (restore.N_DIRS if dirs else 1)
    coefs = [None if r.random() < 0.25 else
             r.choice([-restore.COEF_MAX, restore.COEF_MAX, 0, 5, -77], taps).astype(np.int64)
             for _ in range(ncls)]
    if all(c is None for c in coefs):
        coefs[0] = np.full(taps, restore.COEF_MAX, np.int64)
    cf = ChannelFilter(taps, clip, thr, coefs, restore.N_DIRS if dirs else 1)
    keep = r.random((h, w)) < 0.2
    bits = max(1, (rng[1] - rng[0]).bit_length())
    got = restore.apply_channel(x, cf, keep, bits, rng)
    assert np.array_equal(got, ref_apply(x, cf, keep, restore.clip_value(clip, bits), rng))


@pytest.mark.parametrize("thresholds", [[], [3], [0, 10, 1000]])
def test_pixel_classes(thresholds: list[int]) -> None:
    r = np.random.default_rng(1)
    act = r.integers(0, 2000, (9, 13)).astype(np.int64)
    dirs = r.integers(0, restore.N_DIRS, act.shape).astype(np.int64)
    a = np.searchsorted(np.asarray(thresholds, np.int64), act, side="right")
    assert np.array_equal(restore.pixel_classes(act, thresholds), a)
    assert np.array_equal(restore.pixel_classes(act, thresholds, dirs), a * restore.N_DIRS + dirs)


def ref_gram(x: np.ndarray, target: np.ndarray, cls: np.ndarray, keep: np.ndarray, clip: int,
             ncls: int) -> tuple[np.ndarray, np.ndarray]:
    f = np.stack([np.clip(_shift(x, di, dj) - x, -clip, clip)
                  + np.clip(_shift(x, -di, -dj) - x, -clip, clip) for di, dj in TAPS], -1)
    r = (target - x).astype(np.float64)
    g = np.zeros((ncls, 12, 12))
    b = np.zeros((ncls, 12))
    for c in range(ncls):
        m = (cls == c) & ~keep
        fc = f[m].astype(np.float64)
        g[c] = fc.T @ fc
        b[c] = fc.T @ r[m]
    return g, b


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 20), st.integers(1, 20), st.integers(0, 2**32 - 1), st.integers(1, 16))
def test_gram_matches_the_reference(h: int, w: int, seed: int, bits: int) -> None:
    """The encoder's one-pass Gram sums of every clip code equal per-clip sums."""
    from mic.lossy.enc_restore import gram

    r = np.random.default_rng(seed)
    hi = (1 << bits) - 1
    x = r.integers(0, hi + 1, (h, w)).astype(np.int64)
    if r.random() < 0.5:
        x = (x >> max(0, bits - 3)) + hi // 2  # small differences: the shared outer products
    target = r.integers(0, hi + 1, (h, w)).astype(np.int64)
    ncls = 6
    cls = r.integers(0, ncls, (h, w)).astype(np.int64)
    keep = r.random((h, w)) < 0.2
    clips = np.sort(np.array([restore.clip_value(k, bits) for k in range(4)], np.int64))
    g, b = gram(x, target, cls, keep, clips, ncls)
    for n, clip in enumerate(clips):
        rg, rb = ref_gram(x, target, cls, keep, int(clip), ncls)
        assert np.array_equal(g[n], rg) and np.array_equal(b[n], rb)
