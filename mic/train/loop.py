"""The training loop: resumable, seeded, logs loss / bpp / PSNR.

``train(data_dir, model="wavelet-context", minutes=60, out="ckpt/wavelet-context.pt")`` runs Adam on
``lambda*255^2*MSE + bpp`` with a random quality per crop (variable rate), saves a
checkpoint every few minutes (atomically) and at the end, and resumes from ``out`` if
it exists.  Logs go to ``log`` (CSV) and stdout.

A tiny run, as the tests would do it (here on generated data):

>>> import numpy as np, tempfile, pathlib
>>> from PIL import Image
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> Image.fromarray((np.random.default_rng(0).random((128, 128)) * 4095).astype(np.uint16)).save(d / "a.png")
>>> st = train(d, "wavelet-context", steps=1, out=d / "c.pt", batch=2, crop=64, size="tiny", quiet=True)
>>> st["step"]
1
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..models.registry import MODEL_KINDS, model_id
from .checkpoints import atomic_save, open_log

#: model sizes: name -> WaveletModel kwargs (besides kind)
SIZES: dict[str, dict[str, Any]] = {
    # the shipped size: 32 hyper-latents, 8 hyper features, a 32-16 context MLP, no
    # post-filter (a 16-channel one gained 0.6 % BD-rate on train images after 40 CPU-min
    # and cost ~1 s of NumPy decode time per 512x512: "base-post" keeps the option)
    "base": {"n": 32, "nh": 8, "hid": 32, "hid2": 16, "post_ch": 0},
    "base-post": {"n": 32, "nh": 8, "hid": 32, "hid2": 16, "post_ch": 16},
    "tiny": {"n": 8, "nh": 4, "hid": 8, "hid2": 4, "post_ch": 4, "n_scales": 32},
}
#: what a training stage optimises: "all", "entropy" (everything but the post-filter,
#: which is skipped) or "post" (only the post-filter and the shrinks; no rate term)
STAGES = ("all", "entropy", "post")


def train(data_dir: str | Path, model: str = "wavelet-context", *, minutes: float | None = None,
          steps: int | None = None, out: str | Path = "ckpt/wavelet-context.pt", batch: int = 8,
          crop: int = 256, lr: float = 3e-4, seed: int = 0, size: str = "base",
          log: str | Path | None = None, ckpt_every_s: float = 300.0, threads: int = 1,
          quiet: bool = False, init_from: str | Path | None = None,
          stage: str = "all") -> dict[str, Any]:
    """Train (or resume training) ``model`` on the PNGs of ``data_dir``; return final stats."""
    import torch

    from .wcm import WaveletModel, rd_loss
    from .dataset import CropDataset

    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}")
    torch.set_num_threads(threads)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    kind = MODEL_KINDS[model_id(model)]
    torch.manual_seed(seed)
    net = WaveletModel(kind, **SIZES[size])
    # a resumed or warm-start checkpoint may carry another quality ladder (retargeted)
    ladder_from = out if out.exists() else (Path(init_from) if init_from is not None else None)
    if ladder_from is not None:
        cfg0 = torch.load(ladder_from, map_location="cpu", weights_only=False)["config"]
        over = {k: cfg0[k] for k in ("lambdas", "post_ch") if k in cfg0}
        if over and (over.get("lambdas", net.lambdas) != net.lambdas
                     or over.get("post_ch", net.post_ch) != net.post_ch):
            kw = dict(SIZES[size], **over)
            kw["n_qualities"] = len(kw.get("lambdas") or net.lambdas)
            net = WaveletModel(kind, **kw)
    lambdas = torch.tensor(net.lambdas, dtype=torch.float32)
    if stage == "post":
        if net.post is None:
            raise ValueError("this size has no post-filter")
        params = list(net.post.parameters()) + [net.log_shrink]
    elif stage == "entropy":
        params = [p for n_, p in net.named_parameters() if not n_.startswith("post.")]
    else:
        params = list(net.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    ds = CropDataset(data_dir, crop=crop, seed=seed)
    step, elapsed_total = 0, 0.0
    if init_from is not None and not out.exists():
        # warm start: copy every parameter whose name and shape match (e.g. the gains,
        # hyperprior and MLP of a trained wavelet-context into another wavelet model); the rest keeps its seeded
        # initialisation
        src = torch.load(init_from, map_location="cpu", weights_only=False)["model"]
        own = net.state_dict()
        same = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
        net.load_state_dict(same, strict=False)
        if not quiet:
            print(f"initialised {len(same)}/{len(own)} tensors from {init_from}")
    if out.exists():
        ck = torch.load(out, map_location="cpu", weights_only=False)
        if ck["config"] != net.config():
            raise ValueError(f"checkpoint {out} has config {ck['config']}, not {net.config()}")
        missing, unexpected = net.load_state_dict(ck["model"], strict=False)
        if unexpected or any(k != "log_zgain" for k in missing):
            raise ValueError(f"checkpoint {out} does not fit: missing {missing}, "
                             f"unexpected {unexpected}")
        if ck.get("stage", "all") == stage and "opt" in ck and not missing:
            opt.load_state_dict(ck["opt"])
        step, elapsed_total = ck["step"], ck.get("elapsed", 0.0)
        ds.rng.bit_generator.state = ck["data_rng"]
        torch.set_rng_state(ck["torch_rng"])
        for g in opt.param_groups:
            g["lr"] = lr
        if not quiet:
            print(f"resumed {out} at step {step} ({elapsed_total / 60:.1f} min trained)")
    logf = open_log(log, "step,minutes,loss,bpp,psnr,lr", step) if log else None

    def save() -> None:
        atomic_save({"model": net.state_dict(), "opt": opt.state_dict(), "step": step,
                      "config": net.config(), "model_name": model, "elapsed": elapsed_total,
                      "stage": stage,
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
        o = net(x, q, rate=stage != "post", post=stage != "entropy")
        r = rd_loss(x, o, lambdas[q])
        opt.zero_grad(set_to_none=True)
        r["loss"].backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
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


#: per-quality tensors of a WaveletModel checkpoint (first dimension = quality)
PER_QUALITY = ("log_gain", "log_shrink", "log_zgain", "bias1", "post.qbias", "post.qout")


def retarget_qualities(ckpt: str | Path, out: str | Path, lambdas: list[float],
                       post_from: str | Path | None = None, drop_post: bool = False) -> None:
    """Re-map a checkpoint to the quality ladder ``lambdas`` (new checkpoint ``out``).

    Every per-quality tensor is interpolated along log(lambda); beyond the old range the
    gains are extrapolated with slope 1/2 (the high-rate rule: step ~ lambda^-1/2) and the
    other tensors are held at the end value.  ``post_from`` copies the post-filter of
    another checkpoint of the same model first (a separately trained ``--stage post``).
    ``drop_post`` removes the post-filter (config ``post_ch`` 0).  The optimiser state is
    dropped (training resumes with a fresh Adam).
    """
    import torch

    ck = torch.load(ckpt, map_location="cpu", weights_only=False)
    sd = ck["model"]
    if post_from is not None:
        src = torch.load(post_from, map_location="cpu", weights_only=False)["model"]
        for k, v in src.items():
            if k.startswith("post.") or k == "log_shrink":
                sd[k] = v
    if drop_post:
        for k in [k for k in sd if k.startswith("post.")]:
            del sd[k]
        ck["config"] = dict(ck["config"], post_ch=0)
    old = np.log(np.asarray(ck["config"]["lambdas"], np.float64))
    new = np.log(np.asarray(lambdas, np.float64))
    for key in PER_QUALITY:
        if key not in sd:
            continue
        t = sd[key].double().numpy()
        res = np.empty((len(new),) + t.shape[1:])
        for k, x in enumerate(new):
            if x <= old[0] or x >= old[-1]:
                j = 0 if x <= old[0] else len(old) - 1
                res[k] = t[j] + (0.5 * (x - old[j]) if key == "log_gain" else 0.0)
            else:
                j = int(np.searchsorted(old, x)) - 1
                w = (x - old[j]) / (old[j + 1] - old[j])
                res[k] = (1 - w) * t[j] + w * t[j + 1]
        sd[key] = torch.from_numpy(res).float()
    ck["config"] = dict(ck["config"], n_qualities=len(lambdas), lambdas=[float(v) for v in lambdas])
    ck.pop("opt", None)
    ck["stage"] = "retargeted"
    atomic_save(ck, Path(out))
