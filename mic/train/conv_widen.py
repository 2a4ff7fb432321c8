"""Widen a learned-transform checkpoint's latent (issue #21): ``M`` channels to ``M2 > M``,
the function kept.

The conv models' PSNR flattens at the top qualities: the transforms, not the rate, cap
them (``research/conv_ceiling.py``), and the latent is the narrowest place, ``M = 96``
values per 16 x 16 pixels.  Training a wider model from scratch costs what the narrow one
cost (hundreds of CPU-hours' worth of steps); this starts it from the narrow one instead,
as Net2Net widening does.  The new checkpoint decodes every image exactly as the old one
(reconstruction and the old channels' tables unchanged); only the new channels add the
bits of their (small, random) initial latents, which training then puts to use or shrinks.

For every new latent channel ``j >= M``:

* ``g_a``'s last conv: a fresh (seeded) random row, bias 0, so that it carries a random
  projection of the stride-8 features and gradients reach both sides;
* ``g_s``'s first transposed conv: a zero input row (the reconstruction ignores it until
  trained); the latent gains: the mean over the old channels, per quality;
* hyperprior models: ``h_a``'s first conv a zero input column (``z`` unchanged); ``h_s``'s
  last conv a new output row, random for ``cnn`` (hyper features, which ``ep`` reads through
  zero columns) and, for ``vae`` (a log-scale), zero weights with the old biases' mean;
* ``cnn``'s context conv: zero columns for the new inputs, random rows for the new outputs;
  ``ep``'s first layer zero columns for the new features; its last layer's new means are 0
  and its new log-scales the old log-scale biases' mean (zero weights);
* ``ae``'s factorized densities: channel ``j``'s of quality ``q`` start as channel
  ``j - M``'s (repeated while ``M2 > 2 M``).

The optimiser state is dropped: train from the result with
``conv_loop --size SIZE --init-from OUT`` (a fresh optimiser, the source recorded as the
warm start), ``SIZE`` one of :data:`mic.train.conv_models.SIZES` with ``m = M2``.

    python -m mic.train.conv_widen --m 192 ckpt/cnn.pt ckpt/cnn-wide0.pt
    python -m mic.train.conv_widen --m 192 --split --noise 0.1 ckpt/cnn.pt ckpt/cnn-split0.pt

With ``--split`` the new channels instead start as noisy copies of the old ones (each
sharing its original's synthesis row half and half; the rate of the copies is that of
their originals), which gives the new channels content from the first step.

>>> import torch
>>> from mic.train.conv_models import build_model
>>> _ = torch.manual_seed(0)
>>> net = build_model("cnn", size="tiny").eval()
>>> ck = {"model": net.state_dict(), "config": net.config(), "model_name": "cnn",
...       "step": 3, "cpu_s": 60.0}
>>> w = widen(ck, 20, "cnn.pt")
>>> w["config"]["m"], tuple(w["model"]["ep.4.weight"].shape)
(20, (40, 8, 1, 1))
>>> from mic.train.conv_models import from_config
>>> wide = from_config(w["config"]).eval()
>>> _ = wide.load_state_dict(w["model"])
>>> x, q = torch.rand(1, 1, 64, 64), torch.tensor([3])
>>> with torch.no_grad():
...     a, b = net(x, q, noise=False), wide(x, q, noise=False)
>>> bool(torch.allclose(a["x_hat"], b["x_hat"], atol=1e-5))
True
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .checkpoints import atomic_save


def widen(ck: dict[str, Any], m2: int, src_path: str | Path, seed: int = 0,
          split: bool = False, noise: float = 0.01) -> dict[str, Any]:
    """``ck`` (a :mod:`mic.train.conv_loop` checkpoint of ``ae``, ``vae``, ``cnn`` or ``gan``)
    with ``m2`` latent channels (see the module docstring).  ``split``: new channel
    ``m + i`` starts as a copy of channel ``i`` (``g_a`` row plus ``noise`` times its norm
    in random noise, the same gains and entropy parameters), the two sharing channel
    ``i``'s ``g_s`` row half and half.  Raises ``ValueError`` when ``m2`` is not larger
    than the checkpoint's ``m`` (nor, splitting, at most ``2 m``) or the checkpoint is no
    conv model."""
    import torch

    from .conv_loop import init_record
    from .conv_models import from_config

    cfg = dict(ck.get("config", {}))
    if cfg.get("arch") != "conv":
        raise ValueError("widen takes a checkpoint of a conv model")
    m = int(cfg["m"])
    if m2 <= m:
        raise ValueError(f"the new latent width {m2} must exceed the checkpoint's {m}")
    cfg["m"] = int(m2)
    torch.manual_seed(seed)
    fresh = from_config(cfg).state_dict()  # random rows for the new channels
    old = ck["model"]
    new: dict[str, Any] = {}
    for k, v in fresh.items():
        new[k] = v.clone()
        if k not in old:
            raise ValueError(f"the checkpoint has no tensor {k}")
    d = m2 - m
    if split and d > m:
        raise ValueError(f"splitting gives at most {2 * m} channels, not {m2}")
    kind = cfg.get("model")

    def copy(k: str) -> None:
        if tuple(old[k].shape) != tuple(new[k].shape):
            raise ValueError(f"{k}: {tuple(old[k].shape)} does not widen to {tuple(new[k].shape)}")
        new[k] = old[k].clone()

    with torch.no_grad():
        for k in new:
            if k in ("log_gain", "log_igain"):
                new[k][:, :m] = old[k]
                new[k][:, m:] = old[k].mean(1, keepdim=True)
            elif k == "g_a.6.weight":
                new[k][:m] = old[k]
            elif k == "g_a.6.bias":
                new[k][:m] = old[k]
                new[k][m:] = 0
            elif k == "g_s.0.weight":
                new[k][:m] = old[k]
                new[k][m:] = 0
            elif k == "h_a.0.weight":
                new[k][:, :m] = old[k]
                new[k][:, m:] = 0
            elif k in ("h_s.4.weight", "h_s.4.bias"):
                new[k][:m] = old[k]
                if kind == "vae":
                    new[k][m:] = 0 if k.endswith("weight") else old[k].mean()
            elif k == "ctx.0.weight":
                new[k][:m, :m] = old[k]
                new[k][:m, m:] = 0
            elif k == "ctx.0.bias":
                new[k][:m] = old[k]
            elif k == "ep.0.weight":
                new[k].zero_()
                new[k][:, :m] = old[k][:, :m]
                new[k][:, m2:m2 + m] = old[k][:, m:]
            elif k in ("ep.4.weight", "ep.4.bias"):
                new[k].zero_()
                new[k][:m] = old[k][:m]
                new[k][m2:m2 + m] = old[k][m:]
                if k.endswith("bias"):
                    new[k][m2 + m:] = old[k][m:].mean()
            elif k.startswith("y_density."):
                nq = len(cfg["lambdas"])
                o = old[k].reshape(nq, m, *old[k].shape[1:])
                idx = torch.arange(m2) % m
                new[k] = o[:, idx].reshape(nq * m2, *old[k].shape[1:]).clone()
            else:
                copy(k)
        if split:
            _split(old, new, m, m2, kind, noise)
    out = {k: v for k, v in ck.items() if k not in ("opt", "averaged_steps", "model", "config")}
    out["config"] = cfg
    out["model"] = new
    out["init"] = init_record(ck, src_path)
    out["widened"] = {"from_m": m, "to_m": int(m2), "new_channels": d, "seed": seed,
                      "split": bool(split), "source_step": int(ck.get("step", 0))}
    return out


def _split(old: dict[str, Any], new: dict[str, Any], m: int, m2: int, kind: str | None,
           noise: float) -> None:
    """:func:`widen`'s ``split`` start (in place on ``new``, under ``torch.no_grad``)."""
    import torch

    d = m2 - m
    src = torch.arange(d)
    w = old["g_a.6.weight"][src]
    norm = w.flatten(1).norm(dim=1).view(-1, *([1] * (w.dim() - 1)))
    new["g_a.6.weight"][m:] = w + noise * norm * torch.randn_like(w) / w[0].numel() ** 0.5
    new["g_a.6.bias"][m:] = old["g_a.6.bias"][src]
    for k in ("log_gain", "log_igain"):
        new[k][:, m:] = old[k][:, src]
    half = old["g_s.0.weight"][src] / 2
    new["g_s.0.weight"][src] = half
    new["g_s.0.weight"][m:] = half
    if kind == "vae":
        new["h_s.4.weight"][m:] = old["h_s.4.weight"][src]
        new["h_s.4.bias"][m:] = old["h_s.4.bias"][src]
    if "ep.4.weight" in new:  # cnn: the copy's mean and log-scale rows are the channel's
        for k in ("ep.4.weight", "ep.4.bias"):
            new[k][m:m2] = old[k][src]
            new[k][m2 + m:] = old[k][m + src]


def main(argv: list[str] | None = None) -> int:
    """``python -m mic.train.conv_widen`` (see the module docstring)."""
    import torch

    p = argparse.ArgumentParser(prog="python -m mic.train.conv_widen",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--m", type=int, required=True, help="the new number of latent channels")
    p.add_argument("--seed", type=int, default=0, help="seed of the new channels' random rows")
    p.add_argument("--split", action="store_true",
                   help="new channels start as noisy copies of the first ones (see widen)")
    p.add_argument("--noise", type=float, default=0.01,
                   help="--split: noise on the copies' g_a rows, relative to their RMS")
    p.add_argument("src")
    p.add_argument("out")
    a = p.parse_args(argv)
    if Path(a.src).resolve() == Path(a.out).resolve():
        p.error("OUT must not be SRC")
    ck = torch.load(a.src, map_location="cpu", weights_only=False)
    try:
        w = widen(ck, a.m, a.src, seed=a.seed, split=a.split, noise=a.noise)
    except ValueError as e:
        p.error(str(e))
    atomic_save(w, Path(a.out))
    print(f"wrote {a.out}: m {w['widened']['from_m']} -> {a.m} (step {w['init']['step']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
