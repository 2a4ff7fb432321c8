"""The training loop: resumable, seeded, logs loss / bpp / PSNR.

``train(data_dir, model="cnn", minutes=60, out="ckpt/cnn.pt")`` runs Adam on
``lambda*255^2*MSE + bpp`` with a random quality per crop (variable rate), saves a
checkpoint every few minutes (atomically) and at the end, and resumes from ``out`` if
it exists.  Logs go to ``log`` (CSV) and stdout.

A tiny run, as the tests would do it (here on generated data):

>>> import numpy as np, tempfile, pathlib
>>> from PIL import Image
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> Image.fromarray((np.random.default_rng(0).random((128, 128)) * 4095).astype(np.uint16)).save(d / "a.png")
>>> st = train(d, "cnn", steps=1, out=d / "c.pt", batch=2, crop=64, size="tiny", quiet=True)
>>> st["step"]
1
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..models.registry import MODEL_KINDS, model_id

#: model sizes: name -> LossyModel kwargs (besides kind)
SIZES: dict[str, dict[str, Any]] = {
    "small": {"n": 64, "m": 96, "enc_ch": (48, 64, 64)},
    # the shipped size: about 1.3 GMAC synthesis for 512x512, 1x1 last hyper-synthesis layer
    "lean": {"n": 64, "m": 96, "enc_ch": (32, 48, 64), "hs_ch": (64, 96), "hs_k": 1},
    "tiny": {"n": 16, "m": 16, "enc_ch": (8, 8, 8)},
    # complete latents (256 per 16x16 block): a learned linear block transform (DCT at
    # init) beside the nonlinear one, so quality does not saturate at high rates
    "block": {"n": 64, "m": 256, "enc_ch": (32, 48, 48), "hs_ch": (64, 128), "hs_k": 1,
              "block": 16, "scale_max": 2048.0, "n_scales": 80},
}


def _atomic_save(obj: Any, path: Path) -> None:
    import torch

    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(data_dir: str | Path, model: str = "cnn", *, minutes: float | None = None,
          steps: int | None = None, out: str | Path = "ckpt/cnn.pt", batch: int = 8,
          crop: int = 128, lr: float = 3e-4, seed: int = 0, size: str = "lean",
          log: str | Path | None = None, ckpt_every_s: float = 300.0, threads: int = 1,
          quiet: bool = False, init_from: str | Path | None = None) -> dict[str, Any]:
    """Train (or resume training) ``model`` on the PNGs of ``data_dir``; return final stats."""
    import torch

    from ..models.nets import LossyModel, lambda_for, rate_distortion_loss
    from .dataset import CropDataset

    torch.set_num_threads(threads)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    kind = MODEL_KINDS[model_id(model)]
    torch.manual_seed(seed)
    net = LossyModel(kind, **SIZES[size])
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    ds = CropDataset(data_dir, crop=crop, seed=seed)
    step, elapsed_total = 0, 0.0
    if init_from is not None and not out.exists():
        # warm start: copy every parameter whose name and shape match (e.g. the transforms
        # of a trained cnn into an ae/vae); the rest keeps its seeded initialisation
        src = torch.load(init_from, map_location="cpu", weights_only=False)["model"]
        own = net.state_dict()
        same = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
        for k, v in src.items():  # mean-scale -> scale hyperprior: keep the log-scale half
            if (k.startswith("h_s.") and k in own and k not in same and v.ndim >= 1
                    and v.shape[0] == 2 * own[k].shape[0] and v.shape[1:] == own[k].shape[1:]):
                same[k] = v[own[k].shape[0]:]
        net.load_state_dict(same, strict=False)
        if not quiet:
            print(f"initialised {len(same)}/{len(own)} tensors from {init_from}")
    if out.exists():
        ck = torch.load(out, map_location="cpu", weights_only=False)
        if ck["config"] != net.config():
            raise ValueError(f"checkpoint {out} has config {ck['config']}, not {net.config()}")
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed_total = ck["step"], ck.get("elapsed", 0.0)
        ds.rng.bit_generator.state = ck["data_rng"]
        torch.set_rng_state(ck["torch_rng"])
        for g in opt.param_groups:
            g["lr"] = lr
        if not quiet:
            print(f"resumed {out} at step {step} ({elapsed_total / 60:.1f} min trained)")
    logf = open(log, "a") if log else None
    if logf and logf.tell() == 0:
        logf.write("step,minutes,loss,bpp,psnr,lr\n")

    def save() -> None:
        _atomic_save({"model": net.state_dict(), "opt": opt.state_dict(), "step": step,
                      "config": net.config(), "model_name": model, "elapsed": elapsed_total,
                      "data_rng": ds.rng.bit_generator.state,
                      "torch_rng": torch.get_rng_state()}, out)

    t0 = time.time()
    last_ck = t0
    acc = np.zeros(4)
    nacc = 0
    deadline = t0 + minutes * 60 if minutes is not None else None
    start_step = step
    net.train()
    while True:
        if steps is not None and step - start_step >= steps:
            break
        if deadline is not None and time.time() >= deadline:
            break
        x = torch.from_numpy(ds.batch(batch))
        q = torch.randint(0, net.n_qualities, (batch,))
        o = net(x, q)
        r = rate_distortion_loss(x, o, lambda_for(q))
        opt.zero_grad(set_to_none=True)
        r["loss"].backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        acc += [r["loss"].item(), r["bpp"].item(), r["psnr"].item(), 1]
        nacc += 1
        now = time.time()
        if step % 50 == 0:
            m = acc / max(nacc, 1)
            line = (f"{step},{(elapsed_total + now - t0) / 60:.2f},{m[0]:.4f},{m[1]:.4f},"
                    f"{m[2]:.2f},{opt.param_groups[0]['lr']:.2e}")
            if logf:
                logf.write(line + "\n")
                logf.flush()
            if not quiet:
                print(line, flush=True)
            acc[:] = 0
            nacc = 0
        if now - last_ck > ckpt_every_s:
            elapsed_total += now - t0
            t0 = now
            save()
            last_ck = now
    elapsed_total += time.time() - t0
    save()
    if logf:
        logf.close()
    return {"step": step, "minutes": elapsed_total / 60, "out": str(out)}


def retarget_qualities(ckpt: str | Path, out: str | Path, old: tuple[float, ...],
                       new: tuple[float, ...]) -> None:
    """Re-map a checkpoint's gain vectors from lambdas ``old`` to lambdas ``new``.

    Each new quality gets the gains interpolated at its lambda on the log scale; beyond the
    old range the gains are extrapolated with slope 1/2 (the high-rate rule: quantisation
    step ~ sqrt(distortion) ~ lambda^-1/2).  The optimiser state of the gains is reset.
    """
    import torch

    ck = torch.load(ckpt, map_location="cpu", weights_only=False)
    lo, ln = np.log(np.asarray(old)), np.log(np.asarray(new))
    for key, sign in (("log_gain", 1.0), ("log_inv_gain", -1.0)):
        g = ck["model"][key].double().numpy()
        res = np.empty((len(new), g.shape[1]))
        for k, x in enumerate(ln):
            if x <= lo[0]:
                res[k] = g[0] + sign * 0.5 * (x - lo[0])
            elif x >= lo[-1]:
                res[k] = g[-1] + sign * 0.5 * (x - lo[-1])
            else:
                j = int(np.searchsorted(lo, x)) - 1
                t = (x - lo[j]) / (lo[j + 1] - lo[j])
                res[k] = (1 - t) * g[j] + t * g[j + 1]
        ck["model"][key] = torch.from_numpy(res).float()
    ck["opt"]["state"] = {k: v for k, v in ck["opt"]["state"].items() if k not in (0, 1)}
    ck["lambdas"] = list(new)
    _atomic_save(ck, Path(out))
