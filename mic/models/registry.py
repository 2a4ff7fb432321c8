"""Permanent ids of the learned lossy models (no torch import here).

The ids are written into every lossy stream (header ``model_id`` and the
``LMDL`` segment).  They are **permanent**: a model keeps its id forever, a new
model gets a new id, and ids are never derived from the order of a dict.

>>> from mic.models.registry import MODEL_IDS, model_name
>>> MODEL_IDS["cnn"], model_name(3)
(3, 'cnn')
"""

from __future__ import annotations

from ..errors import MicUnsupportedError

#: name -> permanent id.  Append only; never renumber or reuse.
MODEL_IDS: dict[str, int] = {
    "ae": 1,   # factorized prior (Balle et al. 2017)
    "vae": 2,  # scale hyperprior (Balle et al. 2018)
    "cnn": 3,  # mean-scale hyperprior (Minnen et al. 2018, no serial context)
}

#: id -> entropy-model kind of that architecture.
MODEL_KINDS: dict[int, str] = {1: "factorized", 2: "scale", 3: "meanscale"}


def model_id(name: str) -> int:
    """The permanent id of model ``name``; :class:`MicUnsupportedError` if unknown.

    >>> model_id("vae")
    2
    """
    try:
        return MODEL_IDS[name]
    except KeyError:
        raise MicUnsupportedError(
            f"unknown lossy model {name!r}; known models: {sorted(MODEL_IDS)}"
        ) from None


def model_name(mid: int) -> str:
    """The name of permanent model id ``mid``; :class:`MicUnsupportedError` if unknown.

    >>> model_name(1)
    'ae'
    """
    for k, v in MODEL_IDS.items():
        if v == mid:
            return k
    raise MicUnsupportedError(f"unknown lossy model id {mid}; this build knows {MODEL_IDS}")
