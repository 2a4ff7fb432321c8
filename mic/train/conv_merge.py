"""Combine learned-transform checkpoints (issue #21): weight averages and transform grafts.

Two operations the conv models' exports are built from, each writing a new checkpoint of
:mod:`mic.train.conv_loop` (the inputs are only read):

* ``average``: the weights of several snapshots of one run averaged (the first named is
  the newest: its step, optimiser, RNG and log state are kept, so a run can resume from
  the result; ``averaged_steps`` records the others' steps);
* ``graft``: a checkpoint of one model (the *base*, e.g. the shipped ``vae`` or ``ae``) with
  its analysis and synthesis transforms ``g_a``, ``g_s`` and its latent gains ``log_gain``,
  ``log_igain`` replaced by those of another (the *donor*, a newer ``cnn``); the base's own
  entropy model (hyperprior or factorized prior) is kept.  The result records the donor
  as its warm start (``init``: its step and cumulative CPU minutes), so an export of it, or
  a run started from it, counts the donor's lineage; the base's own CPU time stays in it.
  The optimiser state of the base is dropped (its moments belong to other weights), so a
  graft is a start, not a chunk to resume: train from it with ``conv_loop --init-from`` (a
  new checkpoint, a fresh optimiser), or export it as it is.

    python -m mic.train.conv_merge average --out ckpt/cnn-avg.pt ckpt/cnn-s3.pt ckpt/cnn-s2.pt
    python -m mic.train.conv_merge graft --base ckpt/vae.pt --donor ckpt/cnn-avg.pt \\
        --out ckpt/vae-merged.pt

>>> import torch
>>> from mic.train.conv_models import build_model
>>> def ck(name, seed, step):
...     torch.manual_seed(seed)
...     net = build_model(name, size="tiny")
...     return {"model": net.state_dict(), "config": net.config(), "model_name": name,
...             "step": step, "cpu_s": 60.0 * step, "opt": {}}
>>> vae, cnn = ck("vae", 0, 5), ck("cnn", 1, 7)
>>> g = graft(vae, cnn, "cnn.pt")
>>> bool(torch.equal(g["model"]["g_s.0.weight"], cnn["model"]["g_s.0.weight"]))
True
>>> bool(torch.equal(g["model"]["h_a.0.weight"], vae["model"]["h_a.0.weight"]))
True
>>> g["init"]["checkpoint"], g["init"]["step"], g["step"], g["grafted"]["tensors"] > 0
('cnn.pt', 7, 5, True)
>>> a = average([ck("cnn", 1, 9), ck("cnn", 2, 8)])
>>> w = a["model"]["g_s.0.weight"]
>>> bool(torch.allclose(w, (ck("cnn", 1, 9)["model"]["g_s.0.weight"]
...                         + ck("cnn", 2, 8)["model"]["g_s.0.weight"]) / 2))
True
>>> a["step"], a["averaged_steps"]
(9, [8])
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .checkpoints import atomic_save

#: the tensors a graft takes from the donor (name prefixes): the transforms and latent gains
GRAFT_PREFIXES = ("g_a.", "g_s.", "log_gain", "log_igain")


def average(cks: list[dict[str, Any]]) -> dict[str, Any]:
    """The first checkpoint of ``cks`` with its weights averaged with the others'
    (:func:`mic.train.conv_export.averaged_state`); ``averaged_steps`` lists the others'
    steps (as :func:`mic.train.conv_export.export_conv_checkpoint` records them)."""
    from .conv_export import averaged_state

    if len(cks) < 2:
        raise ValueError("average needs at least two checkpoints")
    out = dict(cks[0])
    out["model"] = averaged_state(cks[0], list(cks[1:]))
    out["averaged_steps"] = sorted(int(c["step"]) for c in cks[1:])
    return out


def graft(base: dict[str, Any], donor: dict[str, Any], donor_path: str | Path,
          prefixes: tuple[str, ...] = GRAFT_PREFIXES) -> dict[str, Any]:
    """``base`` with the tensors of ``donor`` whose names start with ``prefixes`` (see the
    module docstring).  Both must have the same transform sizes (``n``, ``n1``, ``m``)."""
    from .conv_loop import init_record

    cb, cd = base.get("config", {}), donor.get("config", {})
    if cb.get("arch") != "conv" or cd.get("arch") != "conv":
        raise ValueError("graft takes checkpoints of conv models")
    for k in ("n", "n1", "m", "lambdas"):
        if cb.get(k) != cd.get(k):
            raise ValueError(f"base and donor differ in {k}: {cb.get(k)} against {cd.get(k)}")
    state = dict(base["model"])
    taken = 0
    for k, v in donor["model"].items():
        if k.startswith(prefixes):
            if k not in state or state[k].shape != v.shape:
                raise ValueError(f"the base has no tensor {k} of shape {tuple(v.shape)}")
            state[k] = v.clone()
            taken += 1
    if not taken:
        raise ValueError(f"the donor has no tensor named {prefixes}")
    out = {k: v for k, v in base.items() if k not in ("opt", "averaged_steps")}
    out["model"] = state
    out["init"] = init_record(donor, donor_path)
    out["grafted"] = {"donor": Path(donor_path).name, "tensors": taken, "of": len(state),
                      "prefixes": list(prefixes), "base_step": int(base.get("step", 0))}
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m mic.train.conv_merge`` (see the module docstring)."""
    import torch

    p = argparse.ArgumentParser(prog="python -m mic.train.conv_merge",
                                description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="op", required=True)
    pa = sub.add_parser("average", help="average snapshots of one run (the newest first)")
    pa.add_argument("--out", required=True)
    pa.add_argument("ckpts", nargs="+")
    pg = sub.add_parser("graft", help="a base checkpoint with a donor's transforms")
    pg.add_argument("--base", required=True)
    pg.add_argument("--donor", required=True)
    pg.add_argument("--out", required=True)
    a = p.parse_args(argv)
    out = Path(a.out)

    def load(path: str) -> dict[str, Any]:
        return torch.load(path, map_location="cpu", weights_only=False)

    if any(Path(x).resolve() == out.resolve()
           for x in (a.ckpts if a.op == "average" else (a.base, a.donor))):
        p.error("--out must not be one of the inputs")
    if a.op == "average":
        ck = average([load(x) for x in a.ckpts])
        msg = f"step {ck['step']} averaged with steps {ck['averaged_steps']}"
    else:
        ck = graft(load(a.base), load(a.donor), a.donor)
        g = ck["grafted"]
        msg = f"{g['tensors']} of {g['of']} tensors from {g['donor']} (step {ck['init']['step']})"
    atomic_save(ck, out)
    print(f"wrote {out}: {msg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
