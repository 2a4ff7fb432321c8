"""The lossy mode's transform and context features: the Numba 9/7 wavelet equals the
torch twin used in training and inverts exactly; the integer log-magnitudes are exact."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mic.models.logmag import logmag
from mic.models.wavelet import dwt97, idwt97, synthesis_norms


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(1, 6), st.integers(1, 6), st.integers(0, 2 ** 32 - 1))
def test_dwt97_inverts(levels, hb, wb, seed):
    h, w = hb << levels, wb << levels
    x = np.random.default_rng(seed).normal(0, 100, (h, w))
    ll, bands = dwt97(x, levels)
    assert ll.shape == (h >> levels, w >> levels)
    assert np.abs(idwt97(ll, bands) - x).max() < 1e-9 * (1 + np.abs(x).max())


def test_dwt97_refuses_bad_sides():
    with pytest.raises(ValueError):
        dwt97(np.zeros((48, 40)), 5)


def test_dwt97_is_the_9_7_filter_bank():
    """A constant passes through the low band only; a linear ramp leaves the high bands
    zero away from the border (the 9/7 analysis high-pass has 4 vanishing moments)."""
    ll, bands = dwt97(np.full((64, 64), 3.0), 3)
    assert all(np.abs(b).max() < 1e-12 for lv in bands for b in lv)
    ramp = np.add.outer(np.arange(64.0), 2 * np.arange(64.0))
    _, bands = dwt97(ramp, 1)
    assert np.abs(bands[0][2][4:-4, 4:-4]).max() < 1e-9


def test_torch_twin_matches():
    torch = pytest.importorskip("torch")
    from mic.train.wcm import dwt, idwt

    x = np.random.default_rng(1).random((96, 64))
    ll, bands = dwt97(x, 5)
    llt, bt = dwt(torch.from_numpy(x)[None, None], 5)
    assert np.array_equal(llt[0, 0].numpy(), ll)
    for lv in range(5):
        for o in range(3):
            assert np.array_equal(bt[lv][o][0, 0].numpy(), bands[lv][o])
    assert np.abs(idwt(llt, bt)[0, 0].numpy() - x).max() < 1e-12


def test_synthesis_norms_make_subband_errors_pixel_errors():
    nll, nb = synthesis_norms(3)
    rng = np.random.default_rng(2)
    ll, bands = dwt97(np.zeros((64, 64)), 3)
    bands = [list(b) for b in bands]
    bands[1][2] = bands[1][2].copy()
    bands[1][2][5, 7] = 1.0 / nb[1][2]
    assert abs((idwt97(ll, bands) ** 2).sum() - 1.0) < 1e-9
    assert nll > 1 and all(v > 0 for lv in nb for v in lv)
    del rng


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(-(1 << 26), 1 << 26), min_size=1, max_size=50))
def test_logmag_is_floor_16_log2(vals):
    v = np.array(vals, np.int64)
    got = logmag(v)
    a = np.minimum(np.abs(v), (1 << 24) - 1) + 1
    # exact check with integers: 2**(k/16) <= a < 2**((k+1)/16)  <=>  2**k <= a**16 < 2**(k+1)
    for k, ai in zip(got.tolist(), a.tolist()):
        assert (1 << k) <= ai ** 16 < (1 << (k + 1))
