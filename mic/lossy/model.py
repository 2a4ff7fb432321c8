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

#: the model ``mic.encode`` codes with at the default effort unless told otherwise: the
#: wavelet-context model with its context MLP distilled to 12/6 (model id 11), which
#: decodes faster for about 0.2 % more bits; from effort 4 (:data:`SLOW_EFFORT_MODEL`)
#: the full wavelet-context (:func:`default_model`)
DEFAULT_MODEL = "wavelet-context-fast"
#: the default model from effort :data:`FULL_MODEL_EFFORT` up
SLOW_EFFORT_MODEL = "wavelet-context"
FULL_MODEL_EFFORT = 4


def default_model(effort: int) -> str:
    """The model ``mic.encode(..., quality=q, effort=effort)`` codes with when none is
    named: :data:`DEFAULT_MODEL` below effort 4 (where decoding speed is worth its 0.2 %),
    :data:`SLOW_EFFORT_MODEL` from there.

    >>> default_model(3), default_model(7)
    ('wavelet-context-fast', 'wavelet-context')
    """
    return SLOW_EFFORT_MODEL if effort >= FULL_MODEL_EFFORT else DEFAULT_MODEL


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

    >>> set(available_models()) <= {"wavelet-factorized", "wavelet-hyperprior", "wavelet-context",
    ...                             "ae", "vae", "cnn", "gan", "wavelet-context-fast"}
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
    (:func:`mic.models.weights.generation`); thread-safe.  A learned convolutional-transform
    model (``vae``) loads as a :class:`mic.lossy.conv_model.LoadedConvModel`."""
    global _cache_gen
    with _lock:
        if _cache_gen != generation():
            _cache.clear()
            _cache_gen = generation()
        lm = _cache.get(name)
        if lm is None:
            lm = _cache[name] = _load(name)
        return lm


def model_of_stream(header: Any, stream: Any) -> LoadedModel:
    """The model a lossy stream names (its header and its one model segment, SPEC 6),
    loaded; refuses (:class:`MicUnsupportedError`) a retired, reserved or unknown id,
    weights or tables this build does not have, and (:class:`MicFormatError`) a model
    segment that contradicts the header or a quality beyond the model's."""
    from ..errors import MicFormatError
    from ..models.registry import RETIRED_MODELS, model_name
    from .syntax import read_model_segment

    tag, mid, sha, table_id, nq = read_model_segment(stream.segments)
    if mid != header.model_id:
        raise MicFormatError(
            f"{tag} model id {mid} differs from the header's {header.model_id}")
    if mid in RETIRED_MODELS:
        raise MicUnsupportedError(
            f"stream uses retired lossy model id {mid} ({RETIRED_MODELS[mid]}); this build "
            f"decodes model ids {sorted(MODEL_IDS.values())}")
    name = model_name(mid)  # MicUnsupportedError naming an unknown or reserved id
    ent = registry().get(name)
    if ent is None:
        raise MicUnsupportedError(
            f"stream needs lossy model {name!r} (id {mid}), which has no weights in this build")
    if bytes.fromhex(ent["sha256"])[:len(sha)] != sha:  # LMDS: the first 8 bytes
        raise MicUnsupportedError(
            f"stream needs model {name!r} (id {mid}) with weights sha256 "
            f"{sha.hex()}{'' if len(sha) == 32 else '...'}; this build has {ent['sha256']}")
    lm = load_model(name)
    if table_id != lm.table_id:
        raise MicUnsupportedError(
            f"stream needs probability tables {table_id:08x} of model {name!r}; this build "
            f"has {lm.table_id:08x}")
    if nq != lm.n_qualities or not 0 <= header.quality < nq:
        raise MicFormatError(f"quality {header.quality} invalid for model {name} ({nq})")
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
    if cfg.get("arch") == "conv":  # a learned convolutional-transform model (SPEC 6.10)
        from .conv_model import load_conv

        return load_conv(name, mid, MODEL_KINDS[mid], ent, load_tensors(ent))  # type: ignore[return-value]
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


__all__ = ["DEFAULT_MODEL", "LoadedModel", "available_models", "clear_cache", "default_model",
           "load_model",
           "model_of_stream", "qualities"]
