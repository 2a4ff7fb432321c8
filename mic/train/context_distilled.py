"""Ship a context MLP distilled from a wavelet model's as a model of its own (issue #20).

The distillation (``research/context_distill.py --epochs 0 --distill-epochs N --save
DIR``) fits a smaller MLP of the teacher's shape (8 hyper + 8 context features ->
``h1`` -> ``h2`` -> 1, a first-layer bias per quality, band and pass) to the teacher's
scale-table index on recorded train-split positions.  This module folds that net into the
teacher's integer form and writes the teacher's weights file with only the context MLP
(``ctx.*``) and the scale thresholds replaced, under a new model id: the transform, the
hyper-latents and every probability table stay the teacher's, so only the choice of table
per coefficient (and the decoder's cost of making it) changes.

The folding: the net's input normalisation ``(x - mean) / std`` goes into layer 1
(``w1 / std`` column-wise; bias ``b1 + emb[quality, band, pass] - (w1 / std) . mean``),
and its output ``t`` (a table index) becomes the teacher's natural-log-scale
``ln s_0 + t * delta`` (``delta`` the log spacing of the scale table), which the scale
thresholds split halfway between tables, so the decoder picks ``clip(round(t))``.
:func:`mic.train.export.freeze_mlp` then quantises it exactly like a trained model's.

    python -m mic.train.context_distilled DIR/ctx-mlp-12x6.pt --teacher wavelet-context \\
        --name wavelet-context-fast --command "..."
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..models.weights import WEIGHTS_DIR, sha256_file


def fold(d: dict[str, Any], n_q: int, n_bands: int, n_passes: int, scale_max: float,
         n_scales: int) -> tuple[list[Any], Any]:
    """The distilled net ``d`` (``research/context_distill.py``'s saved dict) as torch
    ``Linear`` layers in the teacher's convention (inputs the raw fixed-point features /
    2**10, output the natural log-scale) and its (Q, bands, passes, h1) first-layer bias.
    A (quality, band, pass) the records never had (band 0's anchors, coded without the
    MLP) gets the bias without a key term."""
    import torch

    from ..entropy.tables import scale_table

    ls = np.log(scale_table(scale_max=scale_max, n=n_scales))
    l0, delta = float(ls[0]), float((ls[-1] - ls[0]) / (n_scales - 1))
    f = {k: np.asarray(v, np.float64) for k, v in d.items()
         if k in ("mean", "std", "w1", "b1", "emb", "w2", "b2", "w3", "b3")}
    w1 = f["w1"] / f["std"][None, :]
    b1 = f["b1"] - w1 @ f["mean"]
    h1 = w1.shape[0]
    bias1 = np.broadcast_to(b1, (n_q, n_bands, n_passes, h1)).copy()
    for i, (q, band, ps) in enumerate(d["keys"]):
        bias1[int(q), int(band), int(ps)] = b1 + f["emb"][i]

    def lin(w: np.ndarray, b: np.ndarray) -> Any:
        m = torch.nn.Linear(w.shape[1], w.shape[0], dtype=torch.float64)
        with torch.no_grad():
            m.weight.copy_(torch.tensor(w))
            m.bias.copy_(torch.tensor(b))
        return m

    layers = [lin(w1, b1), lin(f["w2"], f["b2"]),
              lin(delta * f["w3"], delta * f["b3"] + l0)]
    return layers, torch.tensor(bias1)


def export_distilled(distilled: str | Path, teacher: str, name: str,
                     out_dir: str | Path = WEIGHTS_DIR, command: str = "") -> dict[str, Any]:
    """Write ``out_dir/<name>.safetensors`` (the teacher's tensors, ``ctx.*`` and
    ``thresholds`` from the distilled net) and its ``models.json`` entry; return it."""
    import torch
    from safetensors.numpy import load_file, save_file

    from ..entropy.tables import log_scale_thresholds
    from ..models.registry import MODEL_KINDS, model_id
    from ..models.weights import registry
    from .export import freeze_mlp, table_digest

    mid = model_id(name)
    tent = registry()[teacher]
    if MODEL_KINDS[mid] != MODEL_KINDS[tent["id"]] or MODEL_KINDS[mid] != "meanscale":
        raise ValueError(f"{name} and {teacher} must both be context (meanscale) models")
    t = load_file(tent["path"])
    if table_digest(t, t["thresholds"]) != tent["table_id"]:
        raise ValueError(f"{teacher}'s tables do not give its table id {tent['table_id']}")
    cfg = dict(tent["config"])
    d = torch.load(distilled, map_location="cpu", weights_only=False)
    teacher_bias = t["ctx.0.bias"]  # (Q, bands, passes, h1)
    layers, bias1 = fold(d, *teacher_bias.shape[:3], float(cfg["scale_max"]),
                         int(cfg["n_scales"]))
    mlp = freeze_mlp(layers, bias1)
    mlp.assert_exact_bounds(1 << 22)  # hyper features < 2**22 and context sums (SPEC 6.4)
    thr = log_scale_thresholds(mlp.out_frac, scale_max=float(cfg["scale_max"]),
                               n=int(cfg["n_scales"]))
    t = {k: v for k, v in t.items() if not k.startswith("ctx.")}
    t.update(mlp.to_tensors("ctx"))
    t["thresholds"] = thr
    h1, h2 = (int(w.shape[1]) for w in mlp.weights[:2])
    cfg.update(hid=h1, hid2=h2, distilled_from=teacher)
    out_dir = Path(out_dir)
    path = out_dir / f"{name}.safetensors"
    save_file({k: np.ascontiguousarray(v) for k, v in t.items()}, str(path),
              metadata={"config": json.dumps(cfg), "name": name})
    gap = {k: float(v) for k, v in d.get("gap", {}).items()}
    entry = {"id": mid, "file": path.name, "sha256": sha256_file(path),
             "table_id": table_digest(t, thr), "config": cfg,
             "qualities": int(tent["qualities"]), "bytes": path.stat().st_size,
             "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             "training": {"command": command, "data": "corpus/train only",
                          "distilled_from": f"{teacher} (sha256 {tent['sha256'][:16]})",
                          "rate_vs_teacher": gap}}
    reg_path = out_dir / "models.json"
    reg = json.loads(reg_path.read_text()) if reg_path.is_file() else {"models": {}}
    reg["models"][name] = entry
    reg_path.write_text(json.dumps(reg, indent=1, sort_keys=True) + "\n")
    return entry


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("distilled", type=Path, help="a ctx-mlp-H1xH2.pt of context_distill.py")
    ap.add_argument("--teacher", default="wavelet-context")
    ap.add_argument("--name", default="wavelet-context-fast")
    ap.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    ap.add_argument("--command", default="", help="the commands that made DISTILLED")
    a = ap.parse_args(argv)
    ent = export_distilled(a.distilled, a.teacher, a.name, a.out, a.command)
    print(json.dumps({k: ent[k] for k in ("id", "file", "sha256", "table_id", "bytes")}))


if __name__ == "__main__":
    main()
