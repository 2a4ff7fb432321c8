"""The lossless predictive coder (model ids 1, 3, 13-16, 18, 20, 22 and 24, SPEC.md section 5;
22 the default, 24 where an RGB tile wraps a difference) and its near-lossless mode (mode 2,
model ids 2, 12, 17, 19, 21 and 23, SPEC section 7: the same coders with quantised
residuals; 23 the default), split by side: :mod:`.syntax` (shared stream fields and frozen
tables), :mod:`.decoder`, :mod:`.encoder`, :mod:`.kernels` (Numba). This face loads the
encoder only when its name is asked for, so decoding never imports encoder code.

>>> from mic.lossless import MODEL_ID
>>> MODEL_ID
1
"""

from __future__ import annotations

from typing import Any

from .syntax import MODEL_ID

__all__ = ["MODEL_ID", "LosslessTileEncoder", "LosslessTileDecoder"]


def __getattr__(name: str) -> Any:
    if name == "LosslessTileDecoder":
        from .decoder import LosslessTileDecoder

        return LosslessTileDecoder
    if name == "LosslessTileEncoder":
        from .encoder import LosslessTileEncoder

        return LosslessTileEncoder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
