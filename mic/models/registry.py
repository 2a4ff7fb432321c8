"""Permanent ids of the learned lossy models (no torch import here).

The ids are written into every lossy stream (header ``model_id`` and the model
segment, ``LMDS`` or ``LMDL``).  They are **permanent**: a model keeps its id forever, a
new model gets a new id, and ids are never derived from the order of a dict.

>>> from mic.models.registry import MODEL_IDS, model_name
>>> MODEL_IDS["cnn"], model_name(6)
(6, 'cnn')
"""

from __future__ import annotations

from ..errors import MicUnsupportedError

#: name -> permanent id of the model this build ships under that name.  Ids are never
#: renumbered or reused; a new architecture gets new ids and the old ones are retired.
MODEL_IDS: dict[str, int] = {
    "ae": 4,   # wavelet + factorized prior (the seed's plain autoencoder row)
    "vae": 5,  # wavelet + scale hyperprior (Balle et al. 2018)
    "cnn": 6,  # wavelet + mean-scale hyperprior + parallel (checkerboard, parent/sibling) context
}

#: id -> entropy-model kind of that architecture.
MODEL_KINDS: dict[int, str] = {4: "factorized", 5: "scale", 6: "meanscale"}

#: ids of earlier architectures, no longer decodable by this build (the decoder names them).
RETIRED_MODELS: dict[int, str] = {
    1: "ae with the 16x16 block transform of mic 0.1 (2026-11)",
    2: "vae with the 16x16 block transform of mic 0.1 (2026-11)",
    3: "cnn with the 16x16 block transform of mic 0.1 (2026-11)",
}


def kind_uses_hyper(kind: str) -> bool:
    """Whether models of this entropy-model kind send hyper-latents (vae, cnn)."""
    return kind != "factorized"


def kind_uses_context(kind: str) -> bool:
    """Whether models of this kind use the parallel context features and LL means (cnn)."""
    return kind == "meanscale"


def model_id(name: str) -> int:
    """The permanent id of model ``name``; :class:`MicUnsupportedError` if unknown.

    >>> model_id("vae")
    5
    """
    try:
        return MODEL_IDS[name]
    except KeyError:
        raise MicUnsupportedError(
            f"unknown lossy model {name!r}; known models: {sorted(MODEL_IDS)}"
        ) from None


def model_name(mid: int) -> str:
    """The name of permanent model id ``mid``; :class:`MicUnsupportedError` if unknown.

    >>> model_name(4)
    'ae'
    """
    for k, v in MODEL_IDS.items():
        if v == mid:
            return k
    if mid in RETIRED_MODELS:
        raise MicUnsupportedError(
            f"lossy model id {mid} is retired ({RETIRED_MODELS[mid]}); this build decodes "
            f"{MODEL_IDS}")
    raise MicUnsupportedError(f"unknown lossy model id {mid}; this build knows {MODEL_IDS}")
