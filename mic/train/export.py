"""Freeze a training checkpoint into shipped weights (``mic export``).

Writes ``<out_dir>/<model>.safetensors`` (float transforms, the integer hyper-synthesis,
the integer probability tables and the scale thresholds; never pickle) and adds or
replaces the model's entry in ``<out_dir>/models.json`` with the file's sha256.

>>> import tempfile, pathlib, torch
>>> from mic.train.wcm import WaveletModel
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> torch.manual_seed(0) and None
>>> net = WaveletModel("meanscale", n_qualities=6, n=8, nh=4, hid=8, post_ch=4, n_scales=32)
>>> ent = export_model(net, "wavelet-context", d)
>>> ent["id"], (d / "wavelet-context.safetensors").is_file()
(6, True)
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..models.intnet import ACT_FRAC, WEIGHT_BITS, IntHyperSynthesis, IntLayer, IntMLP
from ..models.registry import MODEL_KINDS, model_id
from ..models.weights import WEIGHTS_DIR, sha256_file

#: factorized tables cover at most [-Z_RANGE, Z_RANGE] (rarer values use escapes)
Z_RANGE = 1024
TAIL = 1e-6
FLOAT_PREFIXES = ("h_a.", "post.", "log_gain", "log_shrink")
ZK_FRAC = 8  # fractional bits of the hyper-synthesis input round(z * zgain) * K


def freeze_hyper_synthesis(h_s, in_frac: int = 0) -> IntHyperSynthesis:  # noqa: ANN001
    """Quantise a float ``nn.Sequential`` of (de)convs and ReLUs into an integer network
    whose input has ``in_frac`` fractional bits."""
    import torch

    mods = list(h_s)
    layers: list[IntLayer] = []
    for i, mod in enumerate(mods):
        if isinstance(mod, torch.nn.ReLU):
            continue
        transposed = isinstance(mod, torch.nn.ConvTranspose2d)
        w = mod.weight.detach().double().numpy()
        b = mod.bias.detach().double().numpy()
        wb = WEIGHT_BITS - int(np.ceil(np.log2(np.abs(w).max() + 1e-30)))
        w_int = np.clip(np.round(w * 2.0 ** wb), -(1 << WEIGHT_BITS), 1 << WEIGHT_BITS)
        acc_frac = wb + in_frac
        b_int = np.round(b * 2.0 ** acc_frac)
        relu = i + 1 < len(mods) and isinstance(mods[i + 1], torch.nn.ReLU)
        shift = acc_frac - ACT_FRAC if relu else 0
        layers.append(IntLayer(w_int.astype(np.int32), b_int.astype(np.int64), transposed,
                               int(mod.stride[0]), int(shift), relu))
        in_frac = ACT_FRAC if relu else acc_frac
    net = IntHyperSynthesis(layers, in_frac)
    net.assert_exact_bounds()
    return net


def freeze_mlp(layers, bias1) -> IntMLP:  # noqa: ANN001 - torch Linear layers, (Q,B,P,H) tensor
    """Quantise torch ``Linear`` layers (the first without bias; ``bias1`` its
    per-(quality, band, pass) bias) into an :class:`IntMLP` with ACT_FRAC-bit inputs."""
    weights, biases, shifts = [], [], []
    in_frac = ACT_FRAC
    for i, lin in enumerate(layers):
        w = np.ascontiguousarray(lin.weight.detach().double().numpy().T)  # (in, out)
        b = (bias1.detach().double().numpy() if i == 0 else lin.bias.detach().double().numpy())
        wmax = max(np.abs(w).max(), 1e-30)
        wb = WEIGHT_BITS - int(np.ceil(np.log2(wmax)))
        wi = np.clip(np.round(w * 2.0 ** wb), -(1 << WEIGHT_BITS), 1 << WEIGHT_BITS)
        acc_frac = wb + in_frac
        weights.append(wi.astype(np.int32))
        biases.append(np.round(b * 2.0 ** acc_frac).astype(np.int64))
        last = i + 1 == len(layers)
        shifts.append(0 if last else acc_frac - ACT_FRAC)
        in_frac = acc_frac if last else ACT_FRAC
    return IntMLP(weights, biases, shifts, in_frac)


def _factorized(density) -> "TableSet":  # noqa: ANN001, F821
    import torch

    from ..entropy.tables import factorized_tables

    with torch.no_grad():
        pmf = density.cdf_grid(-Z_RANGE, Z_RANGE).double().numpy()  # (C, 2R+1)
    pmfs, lows = [], []
    for c in range(pmf.shape[0]):
        p = pmf[c] / pmf[c].sum()
        cum = np.cumsum(p)
        lo = int(np.searchsorted(cum, TAIL))
        hi = int(np.searchsorted(cum, 1 - TAIL))
        hi = max(hi, lo)
        pmfs.append(p[lo:hi + 1])
        lows.append(lo - Z_RANGE)
    return factorized_tables(pmfs, lows)


def freeze(net) -> tuple[dict[str, np.ndarray], str]:  # noqa: ANN001 - WaveletModel
    """All tensors of the exported file, and the table id (hex of the tables' digest)."""
    import torch

    from ..entropy.tables import log_scale_thresholds, mixture_tables, scale_table

    t: dict[str, np.ndarray] = {}
    for k, v in net.state_dict().items():
        if k.startswith(FLOAT_PREFIXES):
            t[k] = v.detach().float().numpy().copy()
    mlp = freeze_mlp([net.l1, net.l2, net.l3], net.bias1)
    t.update(mlp.to_tensors("ctx"))
    sargs = {"scale_max": net.scale_max, "n": net.n_scales}
    thr = log_scale_thresholds(mlp.out_frac, **sargs)
    t["thresholds"] = thr
    with torch.no_grad():
        pi, r = net.gsm.params()
    t["gsm.pi"] = pi.double().numpy()
    t["gsm.r"] = r.double().numpy()
    ytab = mixture_tables(scale_table(**sargs), t["gsm.pi"], t["gsm.r"])
    t.update(ytab.to_tensors("tab_y"))
    if net.uses_hyper:
        from .wcm import ZGAIN_MAX, ZGAIN_MIN

        hs = freeze_hyper_synthesis(net.h_s, in_frac=ZK_FRAC)
        t.update(hs.to_tensors("hs"))
        zg = torch.exp(net.log_zgain.detach().double().clamp(np.log(ZGAIN_MIN), np.log(ZGAIN_MAX)))
        t["zk"] = np.round(2.0 ** ZK_FRAC / zg.numpy()).astype(np.int64)  # K per quality
        t["zgain"] = zg.numpy()  # encoder: z is scaled by this before rounding
        hs.assert_exact_bounds(int(t["zk"].max()))
        ztab = _factorized(net.z_density)
        t.update(ztab.to_tensors("tab_z"))
        # the MLP's inputs: hyper features (< 2**22) and context sums (< 2**18 << 6)
        mlp.assert_exact_bounds(1 << 22)
    else:
        mlp.assert_exact_bounds(1 << 24)
    # safetensors stores each buffer as it lies in memory: make every tensor C-contiguous
    return {k: np.ascontiguousarray(v) for k, v in t.items()}, table_digest(t, thr)


def table_digest(t: dict[str, np.ndarray], thresholds: np.ndarray) -> str:
    """The table id (first 8 hex digits of a sha256) of a wavelet model's tensors ``t``
    with these scale thresholds: its latent tables, the thresholds and, for the hyperprior
    kinds, the per-quality hyper-synthesis factors and the hyper-latent tables."""
    import hashlib

    from ..entropy.tables import TableSet

    digest = hashlib.sha256(TableSet.from_tensors(t, "tab_y").digest())
    digest.update(np.ascontiguousarray(thresholds, "<i8").tobytes())
    if "zk" in t:
        digest.update(np.ascontiguousarray(t["zk"], "<i8").tobytes())
        digest.update(TableSet.from_tensors(t, "tab_z").digest())
    return digest.hexdigest()[:8]


def export_model(net, name: str, out_dir: str | Path = WEIGHTS_DIR,  # noqa: ANN001
                 training: dict[str, Any] | None = None) -> dict[str, Any]:
    """Export ``net`` as model ``name`` into ``out_dir``; return its registry entry."""
    from safetensors.numpy import save_file

    mid = model_id(name)
    if MODEL_KINDS[mid] != net.kind:
        raise ValueError(f"model {name} must be of kind {MODEL_KINDS[mid]}, not {net.kind}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors, table_id = freeze(net)
    path = out_dir / f"{name}.safetensors"
    save_file(tensors, str(path), metadata={"config": json.dumps(net.config()), "name": name})
    entry = {"id": mid, "file": path.name, "sha256": sha256_file(path), "table_id": table_id,
             "config": net.config(), "qualities": net.n_qualities,
             "bytes": path.stat().st_size, "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                    time.gmtime()),
             "training": training or {}}
    reg_path = out_dir / "models.json"
    reg = json.loads(reg_path.read_text()) if reg_path.is_file() else {"models": {}}
    reg["models"][name] = entry
    reg_path.write_text(json.dumps(reg, indent=1, sort_keys=True) + "\n")
    return entry


def export_checkpoint(ckpt: str | Path, name: str | None = None,
                      out_dir: str | Path = WEIGHTS_DIR,
                      command: str | None = None) -> dict[str, Any]:
    """Load a ``mic train`` checkpoint and export it (see :func:`export_model`)."""
    import torch

    from .wcm import WaveletModel

    ck = torch.load(ckpt, map_location="cpu", weights_only=False)
    name = name or ck.get("model_name", "wavelet-context")
    cfg = {k: v for k, v in ck["config"].items() if k != "arch"}
    net = WaveletModel(**cfg)
    net.load_state_dict(ck["model"])
    training = {"steps": int(ck["step"]), "minutes": round(float(ck.get("elapsed", 0)) / 60, 1),
                "data": "corpus/train only", "command": command or ""}
    return export_model(net, name, out_dir, training)
