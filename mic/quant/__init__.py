"""Numba kernels for quantization, scale indexes and escapes (+ NumPy twins for tests).

>>> import numpy as np
>>> from mic.quant import quantize_residual, split_escapes, merge_escapes
>>> q = quantize_residual(np.array([0.4, 2.6, -9.0], np.float32), np.zeros(3))
>>> q.tolist()
[0, 3, -9]
>>> sym, esc = split_escapes(q, np.zeros(3, np.int32), np.array([4], np.int32))
>>> sym.tolist(), esc.tolist()
([4, 7, 9], [-9])
>>> merge_escapes(sym, np.zeros(3, np.int32), np.array([4], np.int32), esc).tolist()
[0, 3, -9]
"""

from .kernels import (
    dq_levels, dq_levels_np, dq_place, quantize_dq,
    merge_escapes, merge_escapes_np, quantize_rdo, quantize_residual, quantize_residual_np, scale_index,
    scale_index_np, split_escapes, split_escapes_np,
)

__all__ = ["dq_levels", "dq_levels_np", "dq_place", "quantize_dq", "quantize_residual", "quantize_rdo", "quantize_residual_np", "scale_index", "scale_index_np",
           "split_escapes", "split_escapes_np", "merge_escapes", "merge_escapes_np"]
