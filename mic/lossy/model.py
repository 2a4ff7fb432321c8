"""The lossy models at coding time (SPEC.md 6): :class:`LoadedModel`, the process-wide
cache of loaded weights (:func:`load_model`, thread-safe), and which models and
qualities this build has.  Shared by the encoder and the decoder; importing it is cheap
(no numba until a model is loaded).

>>> from mic.lossy.model import available_models, qualities
>>> all(isinstance(q, int) for m in available_models() for q in qualities(m))
True
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import MicUnsupportedError
from ..models.registry import MODEL_IDS, MODEL_KINDS, kind_uses_context, kind_uses_hyper, model_id
from ..models.weights import generation, load_tensors, registry

#: the model ``mic.encode`` codes with unless told otherwise
DEFAULT_MODEL = "wavelet-context"


@dataclass
class LoadedModel:
    """A shipped model ready to code (all NumPy)."""

    name: str
    id: int
    kind: str
    sha256: bytes
    table_id: int
    n_qualities: int
    config: dict[str, Any]
    log_gain: np.ndarray  # (Q, NBANDS) float64
    log_shrink: np.ndarray
    norms: np.ndarray  # (NBANDS,) synthesis norms
    mlp: Any  # IntMLP
    thresholds: np.ndarray
    ybank: Any
    h_a: Any = None  # HyperAnalysis (hyperprior models)
    hs: Any = None  # IntHyperSynthesis (hyperprior models)
    zgain: np.ndarray | None = None  # (Q,) encoder: z scale before rounding
    zk: np.ndarray | None = None  # (Q,) int: h_s input = z_hat * zk[q] (8 fractional bits)
    zbank: Any = None
    post: Any = None  # PostFilter
    #: tables derived from the model by whichever side needs them, by name (e.g. the
    #: encoder's bits of small values under each latents' table); filled on first use
    derived: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.uses_hyper = kind_uses_hyper(self.kind)
        self.uses_context = kind_uses_context(self.kind)

    def log_shrink_of(self, q: int) -> np.ndarray:
        """Per-band log shrink the decoder applies at quality ``q`` (none on LL)."""
        return self.log_shrink[q] * (np.arange(self.log_shrink.shape[1]) > 0)

    def step_scale(self, q: int) -> float:
        return float(np.exp(np.float32(self.log_gain[q].astype(np.float32).mean())))


#: name -> loaded model, valid for the weights registry's generation ``_cache_gen``
_cache: dict[str, LoadedModel] = {}
_cache_gen = -1
#: held while a model is looked up or loaded: each model is loaded once, by one thread
_lock = threading.Lock()


def clear_cache() -> None:
    """Forget loaded models (the next :func:`load_model` reads the weights again;
    registering other weights does this by itself)."""
    with _lock:
        _cache.clear()


def available_models() -> list[str]:
    """Names of the models that have weights in this build (ordered by model id).

    >>> set(available_models()) <= {"wavelet-factorized", "wavelet-hyperprior", "wavelet-context"}
    True
    """
    reg = registry()
    return sorted((n for n in reg if n in MODEL_IDS), key=lambda n: MODEL_IDS[n])


def qualities(model: str = DEFAULT_MODEL) -> list[int]:
    """The quality values ``mic.encode(..., quality=q, model=model)`` accepts (0 = lowest rate).

    >>> qualities("wavelet-context") == list(range(len(qualities("wavelet-context"))))
    True
    """
    model_id(model)
    ent = registry().get(model)
    return list(range(int(ent["qualities"]))) if ent else []


def load_model(name: str) -> LoadedModel:
    """The weights of model ``name``, loaded once per process and registry generation
    (:func:`mic.models.weights.generation`); thread-safe."""
    global _cache_gen
    with _lock:
        if _cache_gen != generation():
            _cache.clear()
            _cache_gen = generation()
        lm = _cache.get(name)
        if lm is None:
            lm = _cache[name] = _load(name)
        return lm


def _load(name: str) -> LoadedModel:
    mid = model_id(name)
    ent = registry().get(name)
    if ent is None:
        raise MicUnsupportedError(
            f"no weights for lossy model {name!r} (id {mid}) in this build; "
            f"available: {available_models()}")
    from ..entropy import ModelBank, TableSet
    from ..models.intnet import IntHyperSynthesis, IntMLP
    from ..models.npnet import HyperAnalysis, PostFilter
    from ..models.wavelet import LEVELS, synthesis_norms

    ent = dict(ent, name=name)
    cfg = dict(ent["config"])
    if cfg.get("arch") != "wavelet":
        raise MicUnsupportedError(f"weights of {name} are of an architecture this build "
                                  f"cannot run ({cfg.get('arch', 'block')})")
    t = load_tensors(ent)
    kind = MODEL_KINDS[mid]
    nll, nb = synthesis_norms(LEVELS)
    mlp = IntMLP.from_tensors(t, "ctx")
    lm = LoadedModel(
        name=name, id=mid, kind=kind, sha256=bytes.fromhex(ent["sha256"]),
        table_id=int(ent["table_id"], 16), n_qualities=int(ent["qualities"]), config=cfg,
        log_gain=np.asarray(t["log_gain"], np.float64),
        log_shrink=np.asarray(t["log_shrink"], np.float64),
        norms=np.array([nll] + [nb[lv][o] for lv in range(LEVELS) for o in range(3)]),
        mlp=mlp, thresholds=np.asarray(t["thresholds"], np.int64),
        ybank=ModelBank(TableSet.from_tensors(t, "tab_y")))
    if kind != "factorized":
        lm.h_a = HyperAnalysis(t, "h_a")
        lm.hs = IntHyperSynthesis.from_tensors(t, "hs")
        lm.zgain = np.asarray(t["zgain"], np.float64)
        lm.zk = np.asarray(t["zk"], np.int64)
        lm.hs.assert_exact_bounds(int(lm.zk.max()))
        lm.zbank = ModelBank(TableSet.from_tensors(t, "tab_z"))
    if "post.qout" in t:
        lm.post = PostFilter(t, "post")
    return lm


__all__ = ["DEFAULT_MODEL", "LoadedModel", "available_models", "clear_cache", "load_model",
           "qualities"]
