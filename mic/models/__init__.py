"""Learned lossy models: registry of permanent ids (:mod:`.registry`), shipped weights
(:mod:`.weights`), torch layers and architectures (:mod:`.layers`, :mod:`.nets`) and the
integer hyper-synthesis (:mod:`.intnet`).  Importing this package does not import torch.
"""

from .registry import MODEL_IDS, MODEL_KINDS, model_id, model_name

__all__ = ["MODEL_IDS", "MODEL_KINDS", "model_id", "model_name"]
