"""Evaluation of mic: metrics, anchors through imagecodecs, BD-rate, tables and plots.

The command line is ``mic bench`` (:mod:`mic.eval.cli`); the pieces are usable
on their own:

>>> import numpy as np
>>> from mic.eval import psnr, ssim, bd_rate
>>> a = np.zeros((16, 16), np.uint16)
>>> round(psnr(a, a + 1, bits=12), 2)
72.25
>>> round(bd_rate([1, 2, 4], [30, 35, 40], [0.9, 1.8, 3.6], [30, 35, 40]), 3)
-0.1
"""

from __future__ import annotations

from .bdrate import bd_psnr, bd_rate, monotone_frontier
from .metrics import max_abs_error, ms_ssim, psnr, ssim

__all__ = ["bd_psnr", "bd_rate", "max_abs_error", "monotone_frontier", "ms_ssim", "psnr", "ssim"]
