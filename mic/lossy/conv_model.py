"""A learned convolutional-transform model at coding time (SPEC.md 6.10):
:class:`LoadedConvModel`, loaded from its weights by :func:`mic.lossy.model.load_model`
(which caches it).  Shared by the encoder and the decoder; NumPy only.

What both sides must compute alike is here, and it is integer: the scale index of every
latent from the decoded hyper-latents (:meth:`LoadedConvModel.scale_indexes`, the frozen
integer ``h_s`` of :mod:`mic.models.intnet` and integer thresholds).  The float
synthesis ``g_s`` (:mod:`mic.models.conv_synthesis`) only turns decoded symbols into
samples; the encoder's float analysis ``g_a`` (:mod:`mic.models.conv_analysis`) is built
by the encoder (:mod:`mic.lossy.enc_conv`) on first use, so decoding never imports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import MicUnsupportedError


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
    hs: Any  # IntHyperSynthesis
    zgain: np.ndarray  # (Q,) encoder: z scale before rounding
    zk: np.ndarray  # (Q,) int: h_s input = z_hat * zk[q] (ZK_FRAC fractional bits)
    thresholds: np.ndarray  # (S - 1,) int64 on h_s's output accumulator
    ybank: Any  # ModelBank of the S Gaussian tables
    zbank: Any  # ModelBank of the factorized hyper-latent tables, one per channel
    #: parts derived from the tensors by whichever side needs them, by name (the encoder's
    #: g_a and h_a, :func:`mic.lossy.enc_conv.analysis_of`), built on first use
    derived: dict[str, Any] = field(default_factory=dict, repr=False)

    uses_hyper = True
    uses_context = False

    @property
    def m(self) -> int:
        """Latent channels."""
        return int(self.config["m"])

    @property
    def nz(self) -> int:
        """Hyper-latent channels."""
        return int(self.config["nz"])

    @property
    def stride(self) -> int:
        """Pixels per latent along an axis (16)."""
        return int(self.config["stride"])

    @property
    def align(self) -> int:
        """Pixels per hyper-latent along an axis (64): planes are padded to multiples."""
        return int(self.config["hyper_stride"])

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
    if kind != "conv-scale" or cfg.get("model") != "vae":
        raise MicUnsupportedError(f"weights of {name} are of a conv model this build cannot "
                                  f"run ({cfg.get('model')}, {kind})")
    hs = IntHyperSynthesis.from_tensors(tensors, "hs")
    zk = np.asarray(tensors["zk"], np.int64)
    hs.assert_exact_bounds(int(zk.max()))
    return LoadedConvModel(
        name=name, id=mid, kind=kind, sha256=bytes.fromhex(ent["sha256"]),
        table_id=int(ent["table_id"], 16), n_qualities=int(ent["qualities"]), config=cfg,
        tensors=tensors, g_s=ConvSynthesis(tensors, "g_s"), hs=hs,
        zgain=np.asarray(tensors["zgain"], np.float64), zk=zk,
        thresholds=np.asarray(tensors["thresholds"], np.int64),
        ybank=ModelBank(TableSet.from_tensors(tensors, "tab_y")),
        zbank=ModelBank(TableSet.from_tensors(tensors, "tab_z")))


__all__ = ["LoadedConvModel", "load_conv"]
