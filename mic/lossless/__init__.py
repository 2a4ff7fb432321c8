"""Lossless mode: a predictive coder (Numba kernels) with constriction range coding."""

from .codec import MODEL_ID, LosslessTileDecoder, LosslessTileEncoder

__all__ = ["MODEL_ID", "LosslessTileEncoder", "LosslessTileDecoder"]
