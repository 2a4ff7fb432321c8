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


def ref_solve_sets(gg: np.ndarray, bb: np.ndarray, lam: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The restoration fit's per-class solve in NumPy (the encoder's form before its
    Numba kernel): LAPACK's solve, rounded coefficients, their signed Exp-Golomb bits,
    cost = bits - lam * squared error removed (inf where every coefficient is 0)."""
    t = gg.shape[1]
    reg = 1e-9 * np.trace(gg, axis1=1, axis2=2)[:, None, None] * np.eye(t) + 1e-12 * np.eye(t)
    sol = np.linalg.solve(gg + reg, bb[:, :, None])[:, :, 0]
    qc = np.clip(np.rint(sol * (1 << SHIFT)), -1023, 1023).astype(np.int64)
    c = qc / float(1 << SHIFT)
    dsse = 2.0 * np.einsum("nt,nt->n", c, bb) - np.einsum("nt,ntu,nu->n", c, gg, c)
    u = np.where(qc > 0, 2 * qc - 1, -2 * qc) + 1
    se = (2 * np.floor(np.log2(u)).astype(np.int64) + 1).sum(1)
    cost = se - lam * dsse
    cost[~qc.any(1)] = np.inf
    return qc, cost, se


def ref_merge(gg: np.ndarray, bb: np.ndarray, lam: float, head: int):
    """The greedy merge in plain Python over :func:`ref_solve_sets`: (found, cost, each
    class's coefficients or None)."""
    n = len(bb)
    sets = [[k] for k in range(n)]
    qc, cost, se = ref_solve_sets(gg, bb, lam)
    best_j, best = 0.0, None
    while True:
        on = [k for k in range(len(sets)) if cost[k] < 0]
        if on:
            bank = {qc[k].tobytes(): int(se[k]) for k in on}
            j = head + 2 * len(bank).bit_length() - 1 + n * len(bank).bit_length() + \
                sum(bank.values()) + float(sum(cost[k] - se[k] for k in on))
            if j < best_j:
                best_j, best = j, {cl: qc[k].copy() for k in on for cl in sets[k]}
        if len(sets) == 1:
            break
        pairs = [(i, j) for i in range(len(sets)) for j in range(i + 1, len(sets))]
        merged = {p: ref_solve_sets((gg[p[0]] + gg[p[1]])[None], (bb[p[0]] + bb[p[1]])[None],
                                    lam) for p in pairs}
        delta = [min(merged[p][1][0], 0) - min(cost[p[0]], 0) - min(cost[p[1]], 0) for p in pairs]
        a, c = pairs[int(np.argmin(delta))]
        q, co, s = merged[(a, c)]
        sets[a] += sets.pop(c)
        gg[a], bb[a] = gg[a] + gg[c], bb[a] + bb[c]
        qc[a], cost[a], se[a] = q[0], co[0], s[0]
        keep = np.arange(len(gg)) != c
        gg, bb, qc, cost, se = gg[keep], bb[keep], qc[keep], cost[keep], se[keep]
    return best is not None, best_j, [None if best is None else best.get(k) for k in range(n)]


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 12), st.sampled_from([6, 12]), st.integers(0, 2**32 - 1),
       st.sampled_from([1e-4, 1e-2, 1.0]))
def test_merge_kernel_matches_the_reference(n: int, taps: int, seed: int, lam: float) -> None:
    """The Numba solve and greedy merge of the restoration fit choose what the NumPy
    reference chooses: the same coefficients, costs and shared filters."""
    from mic.lossy.enc_restore_kernels import merge_sets, solve_sets

    r = np.random.default_rng(seed)
    gg = np.empty((n, taps, taps))
    bb = np.empty((n, taps))
    for k in range(n):  # Gram sums of integer features, as the fit's
        f = r.integers(-40, 41, (int(r.integers(20, 400)), taps)).astype(np.float64)
        w = r.normal(0, 0.05, taps) * (r.random() < 0.8)
        res = np.rint(f @ w + r.normal(0, 2, len(f)))
        gg[k], bb[k] = f.T @ f, f.T @ res
    qc, cost, se = solve_sets(gg, bb, lam)
    rq, rc, rs = ref_solve_sets(gg, bb, lam)
    assert np.array_equal(qc, rq) and np.array_equal(se, rs)
    np.testing.assert_allclose(cost, rc, rtol=1e-9, atol=1e-9)
    head = int(r.integers(5, 30))
    found, j, owner, q = merge_sets(gg, bb, lam, head)
    rfound, rj, rcoefs = ref_merge(gg.copy(), bb.copy(), lam, head)
    assert found == rfound
    if found:
        assert j == pytest.approx(rj, rel=1e-9, abs=1e-9)
        for k in range(n):
            assert (owner[k] < 0) == (rcoefs[k] is None)
            if owner[k] >= 0:
                assert np.array_equal(q[owner[k]], rcoefs[k])
