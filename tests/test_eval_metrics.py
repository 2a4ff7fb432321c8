"""Metric and BD-rate functions of mic.eval against known values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mic.errors import MicInputError
from mic.eval.bdrate import bd_psnr, bd_rate, monotone_frontier
from mic.eval.metrics import (
    bits_per_pixel,
    compression_ratio,
    max_abs_error,
    megapixels_per_second,
    ms_ssim,
    ms_ssim_scales,
    mse,
    peak_for_bits,
    psnr,
    ssim,
    ssim_ms_ssim,
)

pytest.importorskip("scipy")


def _texture(shape=(256, 256), seed=0, bits=12):
    rng = np.random.default_rng(seed)
    # smooth structure plus noise, like a real image
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    base = (np.sin(x / 9.0) + np.cos(y / 13.0) + 2) * ((1 << bits) - 1) / 4.5
    img = base + rng.normal(0, 40, shape)
    return np.clip(img, 0, (1 << bits) - 1).astype(np.uint16)


def test_psnr_known_error():
    a = np.zeros((10, 10), np.uint16)
    b = a.copy()
    b[0, :] = 10  # 10 of 100 samples off by 10 -> MSE = 10
    assert mse(a, b) == pytest.approx(10.0)
    assert psnr(a, b, bits=12) == pytest.approx(10 * math.log10(4095**2 / 10.0))
    assert psnr(a, b, peak=255) == pytest.approx(10 * math.log10(255**2 / 10.0))
    assert psnr(a, a, bits=12) == math.inf


def test_psnr_signed_and_peak_errors():
    a = np.array([[-1000, 0], [5, 7]], np.int16)
    b = a + np.array([[2, -2], [2, -2]], np.int16)
    assert psnr(a, b, bits=16) == pytest.approx(10 * math.log10(65535**2 / 4.0))
    with pytest.raises(MicInputError):
        psnr(a, b)
    with pytest.raises(MicInputError):
        psnr(a, b[:1], bits=16)
    with pytest.raises(MicInputError):
        peak_for_bits(0)


def test_max_abs_error_and_rates():
    a = np.array([[0, 65535]], np.uint16)
    b = np.array([[3, 65000]], np.uint16)
    assert max_abs_error(a, b) == 535
    assert bits_per_pixel(1000, 40, 50) == pytest.approx(4.0)
    assert compression_ratio(4000, 1000) == 4.0
    assert megapixels_per_second(3_000_000, 1.5) == pytest.approx(2.0)


def test_ssim_identical_is_one_and_shift_lowers_it():
    a = _texture()
    assert ssim(a, a, bits=12) == pytest.approx(1.0, abs=1e-6)
    assert ms_ssim(a, a, bits=12) == pytest.approx(1.0, abs=1e-6)
    shifted = np.roll(a, 2, axis=1)
    s = ssim(a, shifted, bits=12)
    assert s < 0.95
    noisy = np.clip(a.astype(np.int32) + np.random.default_rng(1).integers(-60, 61, a.shape),
                    0, 4095).astype(np.uint16)
    more_noisy = np.clip(a.astype(np.int32) + np.random.default_rng(1).integers(-300, 301, a.shape),
                         0, 4095).astype(np.uint16)
    assert 1.0 > ssim(a, noisy, bits=12) > ssim(a, more_noisy, bits=12)
    assert 1.0 > ms_ssim(a, noisy, bits=12) > ms_ssim(a, more_noisy, bits=12)


def test_ssim_matches_reference_formula_on_constant_images():
    # constant images: sigma terms are 0, SSIM reduces to the luminance term
    a = np.full((40, 40), 1000, np.uint16)
    b = np.full((40, 40), 1100, np.uint16)
    c1 = (0.01 * 4095) ** 2
    want = (2 * 1000 * 1100 + c1) / (1000**2 + 1100**2 + c1)
    assert ssim(a, b, bits=12) == pytest.approx(want, rel=1e-5)


def _ssim_ref64(a, b, peak):
    """Straight float64 transcription of Wang et al. (2004), for comparison."""
    from scipy.ndimage import gaussian_filter

    x, y = a.astype(np.float64), b.astype(np.float64)
    f = lambda z: gaussian_filter(z, 1.5, truncate=3.5, mode="reflect")
    mx, my = f(x), f(y)
    vx, vy, cxy = f(x * x) - mx**2, f(y * y) - my**2, f(x * y) - mx * my
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    m = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return m[5:-5, 5:-5].mean()


@pytest.mark.parametrize("offset", [0, 30000])
def test_ssim_matches_float64_reference_even_with_large_offset(offset):
    # signed CT is stored +32768: the float32 path must stay accurate there
    a = _texture(bits=12).astype(np.int32) + offset
    noisy = a + np.random.default_rng(3).integers(-20, 21, a.shape)
    a16, n16 = a.astype(np.uint16), noisy.astype(np.uint16)
    assert ssim(a16, n16, bits=16) == pytest.approx(_ssim_ref64(a16, n16, 65535.0), abs=2e-5)
    assert ssim(a16, n16, bits=12 if offset == 0 else 16) < 1.0


def test_ms_ssim_scales_and_small_images():
    assert ms_ssim_scales(176, 176) == 5
    assert ms_ssim_scales(175, 400) == 4
    assert ms_ssim_scales(21, 21) == 1
    small = _texture((48, 60))
    assert ms_ssim(small, small, bits=12) == pytest.approx(1.0, abs=1e-6)
    s, m = ssim_ms_ssim(small, np.roll(small, 1, axis=0), bits=12)
    assert 0 < s < 1 and 0 < m < 1


def test_ssim_rgb_is_mean_of_channels():
    a = np.stack([_texture((64, 64), seed=i, bits=8).astype(np.uint8) for i in range(3)], -1)
    b = a.copy()
    b[..., 1] = np.roll(b[..., 1], 3, axis=0)
    per = [ssim(a[..., i], b[..., i], bits=8) for i in range(3)]
    assert ssim(a, b, bits=8) == pytest.approx(np.mean(per))


def test_bd_rate_fixed_fraction_cheaper():
    ref_r = np.array([0.1, 0.3, 0.8, 1.6, 3.0])
    ref_p = np.array([34.0, 39.0, 44.5, 49.0, 53.0])
    for frac in (0.1, 0.25, 0.5):
        assert bd_rate(ref_r, ref_p, ref_r * (1 - frac), ref_p) == pytest.approx(-frac, abs=1e-9)
        assert bd_rate(ref_r * (1 - frac), ref_p, ref_r, ref_p) == pytest.approx(
            1 / (1 - frac) - 1, abs=1e-9)
    assert bd_rate(ref_r, ref_p, ref_r, ref_p) == pytest.approx(0.0, abs=1e-12)


def test_bd_rate_partial_overlap_and_unsorted_points():
    ref_r = [0.1, 0.2, 0.4, 0.8, 1.6]
    ref_p = [30.0, 34.0, 38.0, 42.0, 46.0]
    # test curve: same shape, 30 % cheaper, only covers 36..46 dB, given in shuffled order
    tr = [0.7 * 0.8, 0.7 * 1.6, 0.7 * 0.4, 0.7 * 0.3]
    tp = [42.0, 46.0, 38.0, 36.0]
    ref_at_36 = 0.3  # not on the ref curve exactly, so allow interpolation error
    assert ref_at_36 > 0
    assert bd_rate(ref_r, ref_p, tr, tp) == pytest.approx(-0.3, abs=0.03)


def test_bd_rate_nan_without_overlap_or_points():
    assert math.isnan(bd_rate([1, 2], [30, 31], [1, 2], [40, 41]))
    assert math.isnan(bd_rate([1], [30], [1, 2], [30, 35]))


def test_monotone_frontier_drops_dominated_and_lossless_points():
    r, p = monotone_frontier([0.5, 1.0, 2.0, 4.0, 8.0], [40, 39, 45, math.inf, 44])
    assert r.tolist() == [0.5, 2.0] and p.tolist() == [40, 45]


def test_bd_psnr_constant_gain():
    r = [0.25, 0.5, 1, 2]
    assert bd_psnr(r, [30, 34, 38, 42], r, [31.5, 35.5, 39.5, 43.5]) == pytest.approx(1.5)
