"""Learned lossy models: registry of permanent ids (:mod:`.registry`), shipped weights
(:mod:`.weights`), the 9/7 wavelet (:mod:`.wavelet`), exact integer context features
(:mod:`.logmag`), the integer networks both sides run (:mod:`.intnet`) and the NumPy float
parts (:mod:`.npnet`; the learned convolutional transforms' analysis :mod:`.conv_analysis`,
encoder only, and synthesis :mod:`.conv_synthesis`).  Runtime only (NumPy/Numba): no module here imports torch; the
torch training models are in :mod:`mic.train` (:mod:`mic.train.wcm`, :mod:`mic.train.layers`).
"""

from .registry import (
    CONV_MODEL_IDS, MODEL_IDS, MODEL_KINDS, RETIRED_MODELS, describe, model_id, model_name,
)

__all__ = ["CONV_MODEL_IDS", "MODEL_IDS", "MODEL_KINDS", "RETIRED_MODELS", "describe", "model_id",
           "model_name"]
