"""Dependent quantisation of the detail bands (SPEC 6.8, xform flag 64): the state machine
of the decoder, the encoder's Viterbi search (exact over its candidate levels), round
trips with the shipped weights, ``dq=False`` / ``--no-dq`` and a forged flag."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from mic.entropy import mixture_tables
from mic.quant import dq_levels, dq_levels_np, quantize_dq
from mic.quant.kernels import DQ_NEXT

DATA = Path(__file__).parent / "data"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-40, 40), max_size=60))
def test_levels_kernel_matches_the_reference(k):
    got = dq_levels(np.array(k, np.int64))
    assert got.tolist() == dq_levels_np(np.array(k, np.int64)).tolist()


def test_levels_follow_the_state_machine():
    # states: 0 -(1)-> 2 -(1)-> 3 -(2)-> 3 -(-1)-> 1 -(0)-> 2 -(3)-> 3
    assert dq_levels(np.array([1, 1, 2, -1, 0, 3])).tolist() == [2, 1, 3, -1, 0, 5]
    assert dq_levels(np.zeros(5, np.int64)).tolist() == [0] * 5  # zeros stay in state 0
    # Q0 (states 0, 1) levels are even, Q1 (states 2, 3) levels odd or 0
    k = np.random.default_rng(5).integers(-6, 7, 500)
    lev, st_ = dq_levels(k), 0
    for v, L in zip(k.tolist(), lev.tolist()):
        assert (L % 2 == 0) if st_ < 2 else (L % 2 == 1 or v == 0)
        st_ = int(DQ_NEXT[st_, v & 1])


def token_models():
    return mixture_tables(np.array([0.3, 1.0, 3.0]), np.array([0.6, 0.4]), np.array([0.5, 1.5]))


def _bits(k: int, t: int, tables) -> float:  # noqa: ANN001
    L = int(tables.half[t])
    f = tables.flat[tables.offsets[t]:tables.offsets[t + 1]]
    return 20.0 - np.log2(float(f[k + L])) if -L <= k <= L else 52.0 - np.log2(float(f[2 * L + 1]))


def _candidates(x: float, st_: int) -> set[int]:
    """The kernel's candidates at value x (in half steps) in state st_."""
    if st_ < 2:
        k0 = int(np.floor(x / 2))
        return {0, k0, k0 + 1}
    if x >= 0:
        k0 = int(np.floor((x + 1) / 2))
        return {0, k0, k0 + 1}
    k0 = -int(np.floor((1 - x) / 2))
    return {0, k0, k0 - 1}


def _cost(k: tuple[int, ...], y, mu, tab, tables, lam: float, unit: float) -> float:  # noqa: ANN001
    lev = dq_levels(np.array(k, np.int64))
    return float(sum(lam * (y[i] - mu[i] - lev[i] * unit) ** 2 + _bits(k[i], tab[i], tables)
                     for i in range(len(k))))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 5), seed=st.integers(0, 2 ** 31 - 1),
       lam=st.sampled_from([0.05, 0.5, 3.0]), unit=st.sampled_from([0.5, 0.625]))
def test_viterbi_is_the_best_path_over_its_candidates(n, seed, lam, unit):
    """The search returns a sequence of least total cost among every sequence whose
    symbols are candidates of the state they are reached in (brute force)."""
    rng = np.random.default_rng(seed)
    tables = token_models()
    y = rng.normal(0, 2.5, n)
    mu = rng.choice([0.0, 0.25, -0.5], n)
    tab = rng.integers(0, 3, n).astype(np.int32)
    got = quantize_dq(y, mu, tab, tables, lam, unit)
    best = np.inf

    def walk(i: int, st_: int, seq: tuple[int, ...]) -> None:
        nonlocal best
        if i == n:
            best = min(best, _cost(seq, y, mu, tab, tables, lam, unit))
            return
        for k in _candidates((y[i] - mu[i]) / unit, st_):
            walk(i + 1, int(DQ_NEXT[st_, k & 1]), seq + (k,))

    walk(0, 0, ())
    assert _cost(tuple(got.tolist()), y, mu, tab, tables, lam, unit) <= best + 1e-9


def test_viterbi_beats_rounding_to_the_even_quantiser():
    """Against always rounding to Q0 (a plain quantiser of step 2 * unit, which is one of
    the paths), the search never costs more, and on Gaussian data it costs clearly less."""
    rng = np.random.default_rng(7)
    tables = token_models()
    y = rng.normal(0, 3.0, 3000)
    mu, tab, lam, unit = np.zeros(y.size), np.full(y.size, 2, np.int32), 0.3, 0.625
    k_dq = quantize_dq(y, mu, tab, tables, lam, unit)

    def total(k: np.ndarray) -> float:
        e = y - dq_levels(k) * unit
        return float(np.sum(lam * e * e) + sum(_bits(int(v), 2, tables) for v in k))

    # the plain path: round to even levels, keeping parity even (state 0 throughout)
    k_even = 2 * np.rint(y / (4 * unit)).astype(np.int64)
    assert total(k_dq) < 0.97 * total(k_even)


def test_every_escape_and_extreme_value_decodes():
    tables = token_models()
    y = np.array([1e9, -1e9, 0.0, np.nan, 500.0, -3.3])
    k = quantize_dq(y, np.zeros(y.size), np.zeros(y.size, np.int32), tables, 1.0, 0.625)
    assert k.dtype == np.int32 and np.all(np.abs(k) <= (1 << 30) - 1)
    assert k[3] == 0  # NaN quantises to 0
    assert abs(dq_levels(k)[4] * 0.625 - 500.0) < 1.0


# ----------------------------------------------------------------------------- the codec
pytest.importorskip("safetensors")

import mic  # noqa: E402
from mic.io import read_image  # noqa: E402
from mic.lossy import XFORM_DQ, XFORM_MEANS  # noqa: E402
from mic.models.weights import REGISTRY_FILE  # noqa: E402
from mic_test_helpers import cli_xforms_with_and_without, tile_xforms  # noqa: E402

needs_weights = pytest.mark.skipif(not REGISTRY_FILE.is_file(),
                                   reason="no shipped weights in this checkout")


def _psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    return float(10 * np.log10(peak ** 2 / np.mean((a.astype(float) - b.astype(float)) ** 2)))


@needs_weights
@pytest.mark.parametrize("quality", [1, 6, 11])
def test_round_trip_with_and_without(quality):
    a, _ = read_image(DATA / "ct_abdomen_u16.png")
    on = mic.encode(a, quality=quality)
    off = mic.encode(a, quality=quality, dq=False)
    assert all(x & XFORM_DQ for x in tile_xforms(on))
    assert not any(x & XFORM_DQ for x in tile_xforms(off))
    out_on, out_off = mic.decode(on), mic.decode(off)
    assert out_on.shape == a.shape and out_on.dtype == a.dtype
    assert mic.decode(on).tobytes() == out_on.tobytes()  # deterministic
    p_on, p_off = _psnr(a, out_on, 4095), _psnr(a, out_off, 4095)
    # the same quality: a nearby operating point (dq shifts rate and PSNR a little)
    assert abs(p_on - p_off) < 1.0 and 0.8 < len(on) / len(off) < 1.25


@needs_weights
def test_rgb_tiles_and_means_together():
    rgb, _ = read_image(DATA / "us_breast_rgb.png")
    blob = mic.encode(rgb, quality=4, tile=64)
    flags = tile_xforms(blob)
    assert all(f & XFORM_DQ for f in flags) and any(f & XFORM_MEANS for f in flags)
    assert _psnr(rgb, mic.decode(blob), 255) > 30


@needs_weights
def test_cli_no_dq(tmp_path):
    on, off = cli_xforms_with_and_without(tmp_path, DATA / "ct_abdomen_u16.png", 4, "--no-dq")
    assert on & XFORM_DQ and not off & XFORM_DQ


def test_brute_force_helper_covers_both_parities():
    # the candidate sets always offer an even and an odd symbol, so every state stays
    # reachable (the search never gets stuck in one quantiser)
    for x, st_ in itertools.product(np.linspace(-7, 7, 57), range(4)):
        assert {k & 1 for k in _candidates(float(x), st_)} == {0, 1}


def test_spec_states_the_codes_constants():
    """SPEC 6.8 and 6.9 quote the constants the codec uses."""
    import mic.lossy as lossy

    spec = (Path(__file__).resolve().parents[1] / "SPEC.md").read_text()
    assert f"`DQ_UNIT/128 = {lossy.DQ_UNIT}/128`" in spec and lossy.DQ_ONE == 128
    assert f"`next = {DQ_NEXT.tolist()}`" in spec
    assert f"`m_c + {lossy.ZOFF_MAX}` as `Uniform({2 * lossy.ZOFF_MAX + 1})`" in spec
    assert lossy.XFORM_DQ == 64 and lossy.XFORM_ZTAB == 128
    assert "Bit 6\n(value 64)" in spec and "Bit 7 (value 128)" in spec
