"""Bjøntegaard delta rate (BD-rate) with monotone piecewise-cubic interpolation.

Log-rate is interpolated as a function of PSNR for each curve with
:class:`scipy.interpolate.PchipInterpolator` (monotone, no overshoot), both
interpolants are integrated over the PSNR range the two curves share, and the
mean log-rate difference is turned back into a relative rate:

    BD-rate = exp( (∫ log R_test - ∫ log R_ref) / (psnr_hi - psnr_lo) ) - 1

A negative value means the test codec needs that fraction *fewer* bits than
the reference for the same PSNR.  Before interpolation each curve is reduced to
its monotone frontier (points sorted by rate, keeping only those whose PSNR
beats every cheaper point), so a noisy sweep cannot break the interpolation.

>>> ref_r, ref_p = [0.25, 0.5, 1.0, 2.0], [30.0, 34.0, 38.0, 42.0]
>>> round(bd_rate(ref_r, ref_p, [0.8 * r for r in ref_r], ref_p), 6)
-0.2
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import MicInputError

__all__ = ["bd_psnr", "bd_rate", "monotone_frontier"]

#: Smallest shared PSNR range (dB) over which a BD-rate is reported.
MIN_OVERLAP_DB = 0.5


def monotone_frontier(rates: Sequence[float], psnrs: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Points of an RD curve with rate and PSNR both strictly increasing.

    Non-finite points (lossless ``inf`` PSNR, NaN) and non-positive rates are dropped.

    >>> monotone_frontier([1, 2, 3, 4], [30, 29, 35, 35])
    (array([1., 3.]), array([30., 35.]))
    """
    r = np.asarray(rates, dtype=np.float64)
    p = np.asarray(psnrs, dtype=np.float64)
    if r.shape != p.shape:
        raise MicInputError(f"rates and psnrs differ in length: {r.shape} vs {p.shape}")
    ok = np.isfinite(r) & np.isfinite(p) & (r > 0)
    r, p = r[ok], p[ok]
    order = np.lexsort((-p, r))  # by rate, best PSNR first among equal rates
    keep_r: list[float] = []
    keep_p: list[float] = []
    for i in order:
        if not keep_p or (p[i] > keep_p[-1] and r[i] > keep_r[-1]):
            keep_r.append(float(r[i]))
            keep_p.append(float(p[i]))
    return np.array(keep_r), np.array(keep_p)


def _frontiers(ref_rates: Sequence[float], ref_psnrs: Sequence[float],
               test_rates: Sequence[float], test_psnrs: Sequence[float],
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Both monotone frontiers (ref rates, psnrs, test rates, psnrs), or None when either
    has fewer than two points."""
    rr, rp = monotone_frontier(ref_rates, ref_psnrs)
    tr, tp = monotone_frontier(test_rates, test_psnrs)
    if len(rr) < 2 or len(tr) < 2:
        return None
    return rr, rp, tr, tp


def _integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    from scipy.interpolate import PchipInterpolator

    return float(PchipInterpolator(x, y).integrate(lo, hi))


def bd_rate(ref_rates: Sequence[float], ref_psnrs: Sequence[float],
            test_rates: Sequence[float], test_psnrs: Sequence[float]) -> float:
    """Relative rate difference of *test* against *ref* at equal PSNR (e.g. -0.2 = 20 % fewer bits).

    Returns NaN when either curve has fewer than two usable points or the curves
    share less than :data:`MIN_OVERLAP_DB` of PSNR.

    >>> round(bd_rate([1, 2, 4], [30, 35, 40], [1.5, 3, 6], [30, 35, 40]), 6)
    0.5
    """
    curves = _frontiers(ref_rates, ref_psnrs, test_rates, test_psnrs)
    if curves is None:
        return math.nan
    rr, rp, tr, tp = curves
    lo = max(rp.min(), tp.min())
    hi = min(rp.max(), tp.max())
    if hi - lo < MIN_OVERLAP_DB:
        return math.nan
    a_ref = _integral(rp, np.log(rr), lo, hi)
    a_test = _integral(tp, np.log(tr), lo, hi)
    return float(math.exp((a_test - a_ref) / (hi - lo)) - 1.0)


def bd_psnr(ref_rates: Sequence[float], ref_psnrs: Sequence[float],
            test_rates: Sequence[float], test_psnrs: Sequence[float]) -> float:
    """Mean PSNR difference (dB) of *test* over *ref* over their shared log-rate range.

    >>> round(bd_psnr([1, 2, 4], [30, 35, 40], [1, 2, 4], [31, 36, 41]), 6)
    1.0
    """
    curves = _frontiers(ref_rates, ref_psnrs, test_rates, test_psnrs)
    if curves is None:
        return math.nan
    rr, rp, tr, tp = curves
    lr, lt = np.log(rr), np.log(tr)
    lo = max(lr.min(), lt.min())
    hi = min(lr.max(), lt.max())
    if hi - lo <= 1e-9:
        return math.nan
    return float((_integral(lt, tp, lo, hi) - _integral(lr, rp, lo, hi)) / (hi - lo))
