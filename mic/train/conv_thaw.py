"""Shipped conv weights back into a trainable model (issue #21): the inverse of
:mod:`mic.train.conv_export`, for when the working checkpoint of a run is lost.

``python -m mic.train.conv_loop --init-from mic/models/weights/vae.safetensors ...`` starts
a new checkpoint from the weights a release ships, as ``--init-from CKPT`` does from a
checkpoint.  What comes back:

* the float transforms ``g_a``, ``g_s``, ``h_a`` and the gains ``log_gain``,
  ``log_igain`` exactly as shipped (float16 convolution weights widened to float32: the
  model then trains from the very weights a decoder runs);
* the hyper-synthesis ``h_s`` from its integer form: each layer's weights ``w / 2**wb``
  and biases ``b / 2**(wb + in_frac)``, the fixed-point positions replayed from the
  layers' ``meta`` (the export rounded the float weights to those grids, so this is the
  float network the integer one computes);
* the GDN parameters ``beta_p``, ``gamma_p`` from the shipped ``beta``, ``gamma`` (their
  square roots, at least ``P_FLOOR``);
* ``log_zgain`` from ``zgain``.

Not shipped, so not restored: the optimiser's moments (Adam starts afresh) and the
hyper-latents' learned density (``z_density``; only its frozen table is shipped), which the
trainer fits alone first (:meth:`mic.train.conv_loop.Trainer.fit_density`); the ``cnn``'s
``ctx`` and ``ep`` networks are thawed the same way as ``h_s``.

>>> import tempfile, pathlib, torch
>>> from mic.train.conv_models import build_model
>>> from mic.train.conv_export import export_conv_model
>>> torch.manual_seed(0) and None
>>> net = build_model("vae", size="tiny")
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = export_conv_model(net, "vae", d)
>>> state = thaw_state(d / "vae.safetensors", build_model("vae", size="tiny"))
>>> w = net.state_dict()["h_s.0.weight"]
>>> bool((state["h_s.0.weight"] - w).abs().max() <= w.abs().max() * 2.0 ** -10)
True
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

#: the integer networks of a weights file and the float module each came from, with the
#: fixed-point position of its input (SPEC 6.10, 6.12)
INT_NETS = (("hs", "h_s"), ("ctx", "ctx"), ("ep", "ep"))
#: the least GDN parameter restored (``beta_p``, ``gamma_p``): a shipped 0 would leave the
#: parameter where its square has no gradient
P_FLOOR = 1e-3


def _input_frac(prefix: str) -> int:
    from ..models.intnet import ACT_FRAC
    from .conv_models import MEAN_FRAC, ZK_FRAC

    return {"hs": ZK_FRAC, "ctx": MEAN_FRAC, "ep": ACT_FRAC}[prefix]


def _thaw_int(t: dict[str, np.ndarray], prefix: str, module, dst: str  # noqa: ANN001
              ) -> dict[str, Any]:
    """The float weights of the integer network ``prefix`` of ``t`` under the names of
    the float ``nn.Sequential`` ``module`` (its convolutions in order)."""
    import torch

    from ..models.intnet import ACT_FRAC

    convs = [i for i, m in enumerate(module) if hasattr(m, "weight")]
    out: dict[str, Any] = {}
    in_frac, k = _input_frac(prefix), 0
    out_frac = int(t[f"{prefix}.out_frac"][0])
    while f"{prefix}.{k}.weight" in t:
        _, _, shift, relu = (int(v) for v in t[f"{prefix}.{k}.meta"])
        last = f"{prefix}.{k + 1}.weight" not in t
        # the export: acc_frac = wb + in_frac; shift = acc_frac - ACT_FRAC after a ReLU;
        # a linear last layer keeps acc_frac as the output's position
        if not (relu or last):
            raise ValueError(f"{prefix}.{k}: a linear layer inside the network (its weight "
                             "grid is not recorded)")
        acc_frac = shift + ACT_FRAC if relu else out_frac
        wb = acc_frac - in_frac
        w = t[f"{prefix}.{k}.weight"].astype(np.float64) / 2.0 ** wb
        b = t[f"{prefix}.{k}.bias"].astype(np.float64) / 2.0 ** acc_frac
        name = f"{dst}.{convs[k]}"
        out[f"{name}.weight"] = torch.from_numpy(w.astype(np.float32))
        out[f"{name}.bias"] = torch.from_numpy(b.astype(np.float32))
        in_frac = ACT_FRAC if relu else acc_frac
        k += 1
    if k != len(convs):
        raise ValueError(f"{prefix}: {k} integer layers for {len(convs)} convolutions")
    return out


def thaw_state(weights: str | Path, net) -> dict[str, Any]:  # noqa: ANN001 - ConvCodecModel
    """A state dict for ``net`` (built with the weights' architecture) from a shipped
    ``.safetensors`` file: every tensor the file determines (see the module docstring)."""
    import torch
    from safetensors.numpy import load_file

    from .conv_models import GDN

    t = load_file(str(weights))
    own = net.state_dict()
    state: dict[str, Any] = {}
    for k, v in t.items():
        if k in own and v.dtype.kind == "f":
            state[k] = torch.from_numpy(np.asarray(v, np.float32))
        elif f"{k}_p" in own:  # GDN: beta = beta_p**2 + BETA_MIN, gamma = gamma_p**2
            floor = GDN.BETA_MIN if k.endswith(".beta") else 0.0
            # sqrt's floor keeps a zero entry off the square's flat point (its gradient 0)
            p = np.sqrt(np.maximum(np.asarray(v, np.float64) - floor, P_FLOOR ** 2))
            state[f"{k}_p"] = torch.from_numpy(p.astype(np.float32))
    for prefix, dst in INT_NETS:
        if f"{prefix}.0.weight" in t and hasattr(net, dst):
            state.update(_thaw_int(t, prefix, getattr(net, dst), dst))
    if "zgain" in t and "log_zgain" in own:
        state["log_zgain"] = torch.from_numpy(np.log(t["zgain"]).astype(np.float32))
    bad = [k for k, v in state.items() if k not in own or own[k].shape != v.shape]
    if bad:
        raise ValueError(f"{weights} does not fit the model: {bad[:4]}")
    return state


def shipped_record(weights: str | Path) -> dict[str, Any]:
    """The warm-start provenance of a shipped weights file (its ``models.json`` entry
    beside it): model, steps and cumulative CPU minutes, as :func:`init_record` gives for a
    checkpoint."""
    weights = Path(weights)
    reg = weights.with_name("models.json")
    entry: dict[str, Any] = {}
    if reg.is_file():
        for name, e in json.loads(reg.read_text())["models"].items():
            if e.get("file") == weights.name:
                entry = dict(e, name=name)
    tr = entry.get("training", {})
    cpu = float(tr.get("cpu_minutes", 0.0))
    total = float(tr.get("total_cpu_minutes", cpu))
    return {"checkpoint": weights.name, "model": entry.get("name", "?"),
            "step": int(tr.get("steps", 0)), "cpu_minutes": round(cpu, 1),
            "cumulative_cpu_minutes": round(total, 1),
            "weights_sha256": entry.get("sha256", "")}


__all__ = ["shipped_record", "thaw_state"]
