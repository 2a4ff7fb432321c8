"""A learned convolutional-transform model at coding time (SPEC.md 6.10-6.12):
:class:`LoadedConvModel`, loaded from its weights by :func:`mic.lossy.model.load_model`
(which caches it).  Shared by the encoder and the decoder; NumPy only.

What both sides must compute alike is here, and it is integer: the table of every latent
(:meth:`LoadedConvModel.latent_tables`).  ``vae`` (SPEC 6.10) derives it from the decoded
hyper-latents (:meth:`LoadedConvModel.scale_indexes`, the frozen integer ``h_s`` of
:mod:`mic.models.intnet` and integer thresholds); ``ae`` (SPEC 6.11) has no hyper-latents:
latent channel ``c`` at quality ``q`` uses the factorized table ``q * M + c``; ``cnn``
(SPEC 6.12) derives means and tables in two passes (anchors, then the others from the
decoded anchors), :attr:`LoadedConvModel.meanscale`; ``gan`` (SPEC 6.13) is ``cnn``'s
bitstream with its own weights (:attr:`LoadedConvModel.generative`)
(:mod:`mic.models.conv_meanscale`).  The float
synthesis ``g_s`` (:mod:`mic.models.conv_synthesis`) only turns decoded symbols into
samples; the encoder's float analysis ``g_a`` (:mod:`mic.models.conv_analysis`) is built
by the encoder (:mod:`mic.lossy.enc_conv`) on first use, so decoding never imports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import MicUnsupportedError
from ..models.registry import is_generative


@dataclass
class LoadedConvModel:
    """A shipped conv model ready to code (all NumPy)."""

    name: str
    id: int
    kind: str
    sha256: bytes
    table_id: int
    n_qualities: int
    config: dict[str, Any]
    tensors: dict[str, np.ndarray] = field(repr=False)
    g_s: Any  # ConvSynthesis
    #: vae: ModelBank of the S Gaussian tables; ae: of the Q * M factorized tables
    ybank: Any
    hs: Any = None  # vae: IntHyperSynthesis (ae: None)
    zgain: np.ndarray | None = None  # vae (Q,): encoder's z scale before rounding
    zk: np.ndarray | None = None  # vae (Q,) int: h_s input = z_hat * zk[q] (ZK_FRAC bits)
    thresholds: np.ndarray | None = None  # vae (S - 1,) int64 on h_s's output accumulator
    zbank: Any = None  # vae: ModelBank of the hyper-latent tables, one per channel
    #: cnn: the integer mean-scale path (:class:`mic.models.conv_meanscale.IntMeanScale`)
    meanscale: Any = None
    #: parts derived from the tensors by whichever side needs them, by name (the encoder's
    #: g_a and h_a, :func:`mic.lossy.enc_conv.analysis_of`), built on first use
    derived: dict[str, Any] = field(default_factory=dict, repr=False)

    uses_context = False  # (the wavelet models' context features: not these)

    @property
    def uses_means(self) -> bool:
        """Whether latents have means and a checkerboard context (cnn, SPEC 6.12)."""
        return self.meanscale is not None

    @property
    def generative(self) -> bool:
        """Whether the decoder may synthesise texture (gan, SPEC 6.13): its streams set
        header flag bit 1."""
        return is_generative(True, self.id)

    @property
    def uses_hyper(self) -> bool:
        """Whether a coded plane starts with hyper-latents (vae; not ae)."""
        return self.hs is not None

    @property
    def m(self) -> int:
        """Latent channels."""
        return int(self.config["m"])

    @property
    def nz(self) -> int:
        """Hyper-latent channels (0: ae has none)."""
        return int(self.config["nz"]) if self.uses_hyper else 0

    @property
    def stride(self) -> int:
        """Pixels per latent along an axis (16)."""
        return int(self.config["stride"])

    @property
    def align(self) -> int:
        """Planes are padded to multiples of this: pixels per hyper-latent along an axis
        (vae, 64), or per latent (ae, 16)."""
        return int(self.config["hyper_stride"]) if self.uses_hyper else self.stride

    def latent_tables(self, zq: np.ndarray, quality: int, shape: tuple[int, int, int]
                      ) -> np.ndarray:
        """The table index of every latent of a plane whose latents are ``shape`` (M, h,
        w), flat int32 in C order: vae, :meth:`scale_indexes` of the hyper-latents ``zq``;
        ae, ``quality * M + c`` for channel ``c`` (``zq`` unused).  Not for cnn, whose
        tables depend on decoded latents (:attr:`meanscale`)."""
        if self.uses_means:
            raise ValueError("cnn latents' tables come from its two passes (meanscale)")
        if self.uses_hyper:
            return self.scale_indexes(zq, quality).reshape(-1)
        m, h, w = shape
        return np.repeat(np.arange(quality * m, (quality + 1) * m, dtype=np.int32), h * w)

    def scale_indexes(self, zq: np.ndarray, quality: int) -> np.ndarray:
        """Integer hyper-latents (nz, h, w) -> the table index of every latent (M, 4h,
        4w) int32: the integer ``h_s`` on ``clamp(zq, +-2**15) * zk[quality]``, its
        accumulator counted against the thresholds (exact on every IEEE-754 machine)."""
        from ..quant import scale_index

        acc = self.hs(np.asarray(zq, np.float64), int(self.zk[quality]))
        return scale_index(acc, self.thresholds)


def load_conv(name: str, mid: int, kind: str, ent: dict[str, Any],
              tensors: dict[str, np.ndarray]) -> LoadedConvModel:
    """The :class:`LoadedConvModel` of registry entry ``ent`` (its tensors loaded and
    checked against its sha256 by the caller)."""
    from ..entropy import ModelBank, TableSet
    from ..models.conv_synthesis import ConvSynthesis
    from ..models.intnet import IntHyperSynthesis

    cfg = dict(ent["config"])
    if cfg.get("model") != name:
        raise MicUnsupportedError(f"weights of {name} say they are of model {cfg.get('model')}")
    if bool(cfg.get("generative", False)) != is_generative(True, mid):
        raise MicUnsupportedError(
            f"weights of {name} (id {mid}) are marked generative={cfg.get('generative', False)}"
            f", but model id {mid} is {'' if is_generative(True, mid) else 'not '}generative")
    common = dict(name=name, id=mid, kind=kind, sha256=bytes.fromhex(ent["sha256"]),
                  table_id=int(ent["table_id"], 16), n_qualities=int(ent["qualities"]),
                  config=cfg, tensors=tensors, g_s=ConvSynthesis(tensors, "g_s"))
    if kind == "conv-factorized" and cfg.get("model") == "ae":
        ybank = ModelBank(TableSet.from_tensors(tensors, "tab_y"))
        if len(ybank.tables.half) != int(ent["qualities"]) * int(cfg["m"]):
            raise MicUnsupportedError(f"weights of {name}: {len(ybank.tables.half)} latent "
                                      "tables, not one per quality and channel")
        return LoadedConvModel(ybank=ybank, **common)
    meanscale = None
    if kind == "conv-meanscale" and name in ("cnn", "gan"):  # gan: cnn's bitstream (6.13)
        from ..models.conv_meanscale import IntMeanScale

        try:
            meanscale = IntMeanScale.from_tensors(tensors)  # checks shapes and bounds
        except ValueError as exc:
            raise MicUnsupportedError(f"weights of {name}: {exc}") from None
    elif kind != "conv-scale" or cfg.get("model") != "vae":
        raise MicUnsupportedError(f"weights of {name} are of a conv model this build cannot "
                                  f"run ({cfg.get('model')}, {kind})")
    hs = IntHyperSynthesis.from_tensors(tensors, "hs")
    zk = np.asarray(tensors["zk"], np.int64)
    hs.assert_exact_bounds(int(zk.max()))
    return LoadedConvModel(
        **common, hs=hs, meanscale=meanscale,
        zgain=np.asarray(tensors["zgain"], np.float64), zk=zk,
        thresholds=np.asarray(tensors["thresholds"], np.int64),
        ybank=ModelBank(TableSet.from_tensors(tensors, "tab_y")),
        zbank=ModelBank(TableSet.from_tensors(tensors, "tab_z")))


__all__ = ["LoadedConvModel", "load_conv"]
