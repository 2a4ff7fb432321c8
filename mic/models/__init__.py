"""Learned lossy models: registry of permanent ids (:mod:`.registry`), shipped weights
(:mod:`.weights`), the 9/7 wavelet (:mod:`.wavelet`), exact integer context features
(:mod:`.logmag`), the integer networks both sides run (:mod:`.intnet`), the NumPy float
parts (:mod:`.npnet`) and, for training, the torch model (:mod:`.wcm`, :mod:`.layers`).
Importing this package does not import torch.
"""

from .registry import MODEL_IDS, MODEL_KINDS, RETIRED_MODELS, model_id, model_name

__all__ = ["MODEL_IDS", "MODEL_KINDS", "RETIRED_MODELS", "model_id", "model_name"]
