"""Freeze a learned convolutional-transform checkpoint into shipped weights (issue #21).

    python -m mic.train.conv_export --ckpt ckpt/vae.pt --log ckpt/vae.csv \\
        --out mic/models/weights

(``mic export CKPT`` does the same for a checkpoint of :mod:`mic.train.conv_loop`.)
Writes ``<out>/<model>.safetensors`` and the model's entry in ``<out>/models.json``
(SPEC 6.10-6.12; ``ae``, SPEC 6.11, has only the float transforms, the gains and one factorized
table per quality and latent channel, :func:`freeze_factorized`):

* the float transforms ``g_a`` and ``g_s`` (conv weights in float16 by default, biases
  and the GDN parameters ``beta``, ``gamma`` as the runtime applies them in float32), the
  per-quality gains ``log_gain``, ``log_igain`` (float32) and the hyper-analysis ``h_a``;
* the **integer** hyper-synthesis ``hs.*`` (:func:`mic.train.export.freeze_hyper_synthesis`
  with ``in_frac = ZK_FRAC``: it reads ``round(z * zgain_q) * zk[q]``, ``zk[q] =
  round(2**ZK_FRAC / zgain_q)``; its last layer is linear, and its accumulator compared with
  ``thresholds`` (:func:`mic.entropy.tables.log_scale_thresholds`) is the scale index);
* ``cnn`` (SPEC 6.12): ``hs.*`` ends in a ReLU (hyper features, ``ACT_FRAC`` fixed point),
  and two more integer networks: ``ctx.*``, the 5x5 context conv + ReLU frozen with
  ``in_frac = MEAN_FRAC`` (it reads decoded anchors times ``2**MEAN_FRAC``, clamped to
  ``+-CTX_CLAMP``), and ``ep.*``, the three 1x1 convs frozen with ``in_frac = ACT_FRAC``
  (hyper and context features, not clamped); ``thresholds`` then apply to ``ep``'s
  log-scale outputs, and every bound of :meth:`mic.models.conv_meanscale.IntMeanScale.check`
  is checked at export;
* the integer tables: ``tab_y``, one zero-mean discretised Gaussian per scale of
  :func:`mic.entropy.tables.scale_table`, and ``tab_z``, the learned factorized density of
  each hyper-latent channel (the model's density does not depend on the quality: the
  quality's ``zgain`` scales ``z`` before rounding, so one table per channel serves every
  quality), frozen as the wavelet models' are (:func:`mic.train.export._factorized`).

The weights file holds no timestamp: exporting the same checkpoint twice writes the same
bytes (the same sha256).  The registry entry records the training provenance read from
the checkpoint (steps, CPU and wall minutes, settings) and its CSV log (the last logged
training-crop loss, bpp and PSNR).

>>> import tempfile, pathlib, torch
>>> from mic.train.conv_models import build_model
>>> torch.manual_seed(0) and None
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> ent = export_conv_model(build_model("vae", size="tiny"), "vae", d)
>>> ent["id"], ent["config"]["kind"], (d / "vae.safetensors").is_file()
(8, 'conv-scale', True)
>>> export_conv_model(build_model("cnn", size="tiny"), "cnn", d)["config"]["kind"]
'conv-meanscale'

``gan`` (SPEC 6.13) trains a ``cnn`` architecture (its checkpoint's ``config`` says
``"model": "cnn"``; its ``model_name`` says ``gan``): it is exported as ``gan`` only when
it was trained as one (:func:`mic.train.conv_models.trained_as`), with ``"model": "gan"``
and ``"generative": true`` in its config, and a gan is never exported as a ``cnn``:

>>> gan = build_model("gan", size="tiny")
>>> cfg = export_conv_model(gan, "gan", d)["config"]
>>> cfg["model"], cfg["kind"], cfg["generative"]
('gan', 'conv-meanscale', True)
>>> export_conv_model(gan, "cnn", d)
Traceback (most recent call last):
...
ValueError: a gan model cannot be exported as cnn
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..entropy.tables import SCALE_MAX, N_SCALES, log_scale_thresholds, mixture_tables, scale_table
from ..models.registry import MODEL_KINDS, is_generative, model_id
from ..models.weights import WEIGHTS_DIR, sha256_file
from .export import _factorized, freeze_hyper_synthesis

#: the dtypes the float transforms' convolution weights may be stored in
WEIGHT_DTYPES = ("float16", "float32")


def _float_tensors(net, dtype: str) -> dict[str, np.ndarray]:  # noqa: ANN001 - ConvCodecModel
    """``g_a``, ``g_s``, ``h_a`` and the gains as the NumPy runtime reads them."""
    import torch

    from .conv_models import GDN

    wdt = np.dtype(dtype)
    t: dict[str, np.ndarray] = {}
    for prefix in ("g_a", "g_s"):
        for i, mod in enumerate(getattr(net, prefix)):
            if isinstance(mod, GDN):
                beta, gamma = mod.effective()
                t[f"{prefix}.{i}.beta"] = beta.detach().float().numpy()
                t[f"{prefix}.{i}.gamma"] = gamma.detach().float().numpy()
            else:
                t[f"{prefix}.{i}.weight"] = mod.weight.detach().float().numpy().astype(wdt)
                t[f"{prefix}.{i}.bias"] = mod.bias.detach().float().numpy()
    for i, mod in enumerate(getattr(net, "h_a", ())):  # ae: none
        if isinstance(mod, torch.nn.Conv2d):
            t[f"h_a.{i}.weight"] = mod.weight.detach().float().numpy().astype(wdt)
            t[f"h_a.{i}.bias"] = mod.bias.detach().float().numpy()
    t["log_gain"] = net.log_gain.detach().float().numpy()
    t["log_igain"] = net.log_igain.detach().float().numpy()
    return t


def freeze_factorized(net, dtype: str = "float16") -> tuple[dict[str, np.ndarray], str]:  # noqa: ANN001
    """All tensors of a conv ``ae``'s weights file (SPEC 6.11), and its table id (the first
    8 hex digits of the sha256 of its integer tables): the float transforms and gains, and
    ``tab_y``, the learned density of each (quality, latent channel) frozen as the wavelet
    models' factorized tables are (:func:`mic.train.export._factorized`: masses of the
    integers in ``[-1024, 1024]`` with the tails folded into the end bins, cut where the
    cumulative mass leaves ``[1e-6, 1 - 1e-6]``, re-centred to a symmetric half-width,
    quantised to ``2**FREQ_BITS`` with every frequency >= 1 and an escape symbol); table
    ``q * M + c`` serves channel ``c`` at quality ``q``."""
    t = _float_tensors(net, dtype)
    ytab = _factorized(net.y_density)
    if len(ytab.half) != net.n_qualities * net.m:
        raise ValueError(f"{len(ytab.half)} densities, not {net.n_qualities} x {net.m}")
    t.update(ytab.to_tensors("tab_y"))
    digest = hashlib.sha256(ytab.digest())
    return {k: np.ascontiguousarray(v) for k, v in t.items()}, digest.hexdigest()[:8]


def _int_digest(digest, net) -> None:  # noqa: ANN001 - hashlib object, IntHyperSynthesis
    """Add an integer network's weights, biases, layer metadata and out_frac to a digest."""
    for v in net.to_tensors("").values():
        digest.update(np.ascontiguousarray(v, "<i8").tobytes())


def freeze_conv(net, dtype: str = "float16") -> tuple[dict[str, np.ndarray], str]:  # noqa: ANN001
    """All tensors of a conv model's weights file, and its table id (the first 8 hex
    digits of the sha256 of the integer tables, thresholds and ``zk``; for ``cnn`` also of
    every integer weight of ``hs``, ``ctx`` and ``ep``, which decide the symbols' tables):
    ``vae`` and ``cnn`` here, ``ae`` by :func:`freeze_factorized`."""
    import torch

    from .conv_models import (CTX_CLAMP, MEAN_FRAC, ZK_FRAC, CheckerboardHyperprior,
                              FactorizedPrior, ScaleHyperprior)

    if dtype not in WEIGHT_DTYPES:
        raise ValueError(f"dtype must be one of {WEIGHT_DTYPES}, got {dtype!r}")
    if isinstance(net, FactorizedPrior):
        return freeze_factorized(net, dtype)
    cnn = isinstance(net, CheckerboardHyperprior) and net.name == "cnn"
    if not (isinstance(net, ScaleHyperprior) or cnn):
        raise ValueError(f"this build exports the conv vae, cnn and ae, not {net.name}")
    t = _float_tensors(net, dtype)
    hs = freeze_hyper_synthesis(net.h_s, in_frac=ZK_FRAC)
    if hs.layers[-1].relu != cnn:
        raise ValueError("the vae's h_s must end in a linear layer (its log-scale), the "
                         "cnn's in a ReLU (its hyper features)")
    t.update(hs.to_tensors("hs"))
    with torch.no_grad():
        zg = net.zgain(torch.arange(net.n_qualities)).double().numpy()
    t["zgain"] = zg
    t["zk"] = np.round(2.0 ** ZK_FRAC / zg).astype(np.int64)
    hs.assert_exact_bounds(int(t["zk"].max()))
    nets = []
    if cnn:  # SPEC 6.12: the context conv and the entropy parameters, integer too
        from ..models.conv_meanscale import CTX_CLAMP as RT_CLAMP
        from ..models.conv_meanscale import MEAN_FRAC as RT_FRAC
        from ..models.conv_meanscale import IntMeanScale
        from ..models.intnet import ACT_FRAC

        if (MEAN_FRAC, CTX_CLAMP) != (RT_FRAC, RT_CLAMP):
            raise ValueError("training and runtime disagree on MEAN_FRAC / CTX_CLAMP")
        ctx = freeze_hyper_synthesis(net.ctx, in_frac=MEAN_FRAC)
        ep = freeze_hyper_synthesis(net.ep, in_frac=ACT_FRAC)
        t.update(ctx.to_tensors("ctx"))
        t.update(ep.to_tensors("ep"))
        out_frac = ep.out_frac
        nets = [hs, ctx, ep]
    else:
        out_frac = hs.out_frac
    thr = log_scale_thresholds(out_frac)
    t["thresholds"] = thr
    if cnn:
        IntMeanScale(hs, ctx, ep, thr, t["zk"]).check()  # every bound of SPEC 6.12
    ytab = mixture_tables(scale_table(), np.ones(1), np.ones(1))  # plain Gaussians
    t.update(ytab.to_tensors("tab_y"))
    ztab = _factorized(net.z_density)
    t.update(ztab.to_tensors("tab_z"))
    digest = hashlib.sha256(ytab.digest())
    digest.update(np.ascontiguousarray(thr, "<i8").tobytes())
    digest.update(np.ascontiguousarray(t["zk"], "<i8").tobytes())
    digest.update(ztab.digest())
    for n in nets:
        _int_digest(digest, n)
    # safetensors writes each buffer as it lies in memory: C order
    return {k: np.ascontiguousarray(v) for k, v in t.items()}, digest.hexdigest()[:8]


def conv_config(net, dtype: str) -> dict[str, Any]:  # noqa: ANN001
    """The registry ``config`` of an exported conv model (SPEC 6.10)."""
    from .conv_models import HYPER_STRIDE, STRIDE, ZK_FRAC, trained_as

    name = trained_as(net)  # gan: a cnn architecture, exported as model gan
    mid = model_id(name)
    base = {**net.config(), "model": name, "kind": MODEL_KINDS[mid], "weights_dtype": dtype}
    if is_generative(True, mid):  # SPEC 6.13: its streams set header flag bit 1
        base["generative"] = True
    if net.name == "ae":  # no hyper-latents: planes pad to multiples of the latent stride
        return {**base, "stride": STRIDE}
    cfg = {**base, "zk_frac": ZK_FRAC, "stride": STRIDE, "hyper_stride": HYPER_STRIDE,
           "n_scales": N_SCALES, "scale_max": SCALE_MAX}
    if net.name == "cnn":  # the architecture (gan's too)
        from .conv_models import CTX_CLAMP, MEAN_FRAC

        cfg.update(mean_frac=MEAN_FRAC, ctx_clamp=CTX_CLAMP)
    return cfg


def export_conv_model(net, name: str, out_dir: str | Path = WEIGHTS_DIR,  # noqa: ANN001
                      training: dict[str, Any] | None = None,
                      dtype: str = "float16") -> dict[str, Any]:
    """Export ``net`` as model ``name`` into ``out_dir``; return its registry entry."""
    from safetensors.numpy import save_file

    from .conv_models import trained_as

    mid = model_id(name)
    if trained_as(net) != name:
        raise ValueError(f"a {trained_as(net)} model cannot be exported as {name}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors, table_id = freeze_conv(net, dtype)
    cfg = conv_config(net, dtype)
    path = out_dir / f"{name}.safetensors"
    # one metadata key: safetensors writes several in no fixed order, and the file's
    # bytes (its sha256, which streams name) must not depend on that
    save_file(tensors, str(path), metadata={"config": json.dumps(cfg, sort_keys=True)})
    entry = {"id": mid, "file": path.name, "sha256": sha256_file(path), "table_id": table_id,
             "config": cfg, "qualities": net.n_qualities, "bytes": path.stat().st_size,
             "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             "training": training or {}}
    reg_path = out_dir / "models.json"
    reg = json.loads(reg_path.read_text()) if reg_path.is_file() else {"models": {}}
    reg["models"][name] = entry
    reg_path.write_text(json.dumps(reg, indent=1, sort_keys=True) + "\n")
    return entry


def last_log_row(log: str | Path, step: int) -> dict[str, float] | None:
    """The CSV log's row of the highest step at most ``step`` (a resumed chunk re-logs
    the steps after the last checkpoint: rows are taken by step, the last one wins)."""
    rows: dict[int, dict[str, str]] = {}
    with open(log, newline="") as fh:
        for row in csv.DictReader(fh):
            rows[int(row["step"])] = row
    steps = [s for s in rows if s <= step]
    if not steps:
        return None
    r = rows[max(steps)]
    return {"step": int(r["step"]), "loss": float(r["loss"]), "bpp": float(r["bpp"]),
            "psnr": float(r["psnr"]), "cpu_minutes": float(r["cpu_minutes"])}


def training_record(ck: dict[str, Any], log: str | Path | None = None,
                    command: str | None = None,
                    init: dict[str, Any] | None = None) -> dict[str, Any]:
    """Provenance of a :mod:`mic.train.conv_loop` checkpoint for ``models.json``: the
    cumulative command (given, or rebuilt from the checkpoint's fixed settings), steps,
    CPU and wall minutes, the last logged training-crop figures, and, for a warm start
    (``init``, or the checkpoint's own record), the source's steps and CPU minutes and the
    total CPU minutes of both."""
    st = ck["settings"]
    name = st["model"]
    init = init or ck.get("init")
    if not command:
        command = (f"python -m mic.train.conv_loop --data CORPUS/train --model {name} "
                   f"--size {st['size']} --batch {st['batch']} --crop {st['crop']} "
                   f"--seed {st['seed']} --lr {ck.get('lr', 1e-4):g} --ckpt ckpt/{name}.pt "
                   f"--log ckpt/{name}.csv --minutes 60 "
                   + (f"--init-from ckpt/{init['checkpoint']} " if init else "")
                   + "(resumed exactly, chunk after chunk; rebuilt from the checkpoint's "
                   "settings)")
    rec: dict[str, Any] = {
        "command": command, "steps": int(ck["step"]),
        "minutes": round(float(ck["cpu_s"]) / 60, 1),
        "cpu_minutes": round(float(ck["cpu_s"]) / 60, 1),
        "wall_minutes": round(float(ck["wall_s"]) / 60, 1),
        "skipped_steps": int(ck.get("skipped", 0)), "data": "corpus/train only",
        "trained_as": name, "checkpoint_saved": ck.get("saved", ""),
        "settings": {k: v for k, v in st.items() if v is not None}}
    if log is not None and Path(log).is_file():
        row = last_log_row(log, int(ck["step"]))
        if row is not None:
            rec["last_log"] = row
    if init:
        rec["warm_start"] = init
        rec["total_cpu_minutes"] = round(rec["cpu_minutes"] + float(
            init.get("cumulative_cpu_minutes", init.get("cpu_minutes", 0))), 1)
    return rec


def averaged_state(ck: dict[str, Any], others: list[dict[str, Any]]) -> dict[str, Any]:
    """The model weights of checkpoint ``ck`` averaged with those of ``others`` (the same
    model, earlier snapshots of its run): each floating-point tensor the mean of all, in
    float64 then back to its dtype; other tensors as ``ck`` has them."""
    import torch

    state = dict(ck["model"])
    for o in others:
        if o.get("config") != ck.get("config") or set(o["model"]) != set(state):
            raise ValueError("checkpoints to average must be snapshots of one model")
    for k, v in state.items():
        if torch.is_floating_point(v):
            total = v.double() + sum(o["model"][k].double() for o in others)
            state[k] = (total / (1 + len(others))).to(v.dtype)
    return state


def export_conv_checkpoint(ckpt: str | Path, out_dir: str | Path = WEIGHTS_DIR,
                           log: str | Path | None = None, command: str | None = None,
                           dtype: str = "float16",
                           init_from: str | Path | None = None,
                           average: list[str | Path] = ()) -> dict[str, Any]:
    """Load a :mod:`mic.train.conv_loop` checkpoint and export it (see
    :func:`export_conv_model`); ``average``: earlier checkpoints of the same run whose
    weights are averaged with its own (:func:`averaged_state`; their steps are recorded
    as ``averaged_steps``)."""
    import torch

    from .conv_models import from_config, mark_trained_as

    ck = torch.load(ckpt, map_location="cpu", weights_only=False)
    if ck.get("config", {}).get("arch") != "conv":
        raise ValueError(f"{ckpt} is not a checkpoint of a conv model")
    # the checkpoint's model_name (gan) may differ from its architecture's (cnn)
    net = mark_trained_as(from_config(ck["config"]), ck["model_name"])
    others = [torch.load(p, map_location="cpu", weights_only=False) for p in average]
    net.load_state_dict(averaged_state(ck, others) if others else ck["model"])
    net.eval()
    init = None
    if init_from is not None:  # a warm start whose checkpoint predates its "init" record
        from .conv_loop import init_record

        init = init_record(torch.load(init_from, map_location="cpu", weights_only=False),
                           init_from)
    rec = training_record(ck, log, command, init)
    if others:
        rec["averaged_steps"] = sorted([int(o["step"]) for o in others] + [int(ck["step"])])
    return export_conv_model(net, ck["model_name"], out_dir, rec, dtype)


def main(argv: list[str] | None = None) -> int:
    """``python -m mic.train.conv_export`` (see the module docstring)."""
    p = argparse.ArgumentParser(prog="python -m mic.train.conv_export",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--ckpt", required=True, help="checkpoint of mic.train.conv_loop (read only)")
    p.add_argument("--log", default=None, help="its CSV log (the last logged figures)")
    p.add_argument("--out", default=str(WEIGHTS_DIR), help="weights folder (models.json)")
    p.add_argument("--command", default=None, help="the cumulative training command to record")
    p.add_argument("--dtype", default="float16", choices=WEIGHT_DTYPES,
                   help="storage of the float transforms' convolution weights")
    p.add_argument("--init-from", default=None,
                   help="the checkpoint the run was warm-started from (its steps and CPU "
                        "minutes are recorded), if the checkpoint does not name it")
    p.add_argument("--average", default="",
                   help="comma list of earlier checkpoints of the same run whose weights are "
                        "averaged with --ckpt's (recorded as averaged_steps)")
    a = p.parse_args(argv)
    ent = export_conv_checkpoint(a.ckpt, a.out, a.log, a.command, a.dtype, a.init_from,
                                 [x for x in a.average.split(",") if x])
    print(f"exported {ent['file']} (id {ent['id']}, {ent['bytes'] / 1e6:.2f} MB, sha256 "
          f"{ent['sha256']}, tables {ent['table_id']}) from step {ent['training']['steps']}, "
          f"{ent['training']['cpu_minutes']} CPU-minutes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
