"""Resumable training of the learned convolutional models (issue #21).

    python -m mic.train.conv_loop --data /work/shared/corpus/train --model vae \\
        --minutes 60 --ckpt /work/ckpt/vae.pt --log /work/ckpt/vae.csv

Adam on ``lambda_q * 255^2 * MSE + bpp`` (a random quality per crop; crops from
:class:`mic.train.dataset.CropDataset`, normalised from their native bit depth).  ``gan``
instead fine-tunes only ``g_s`` of a ``cnn`` against a :class:`PatchDiscriminator`
(``lambda_q * 255^2 * MSE + adv_weight * adversarial``), with a second Adam for it.
``--train-only PREFIXES`` lets only the parameters so named learn (the rest stay as
warm-started: a vae whose transforms were grafted from a cnn fits its hyperprior alone).
``--rate-ramp STEPS`` (a warm start from :mod:`mic.train.conv_widen`): the rate of the
latent channels the widening added is free in the loss for the first ``STEPS / 2`` steps,
then counts with a weight rising linearly to 1 at ``STEPS``, so that the transforms learn to
use them before their bits are charged.  Charged in full from the start, or from a weight
rising from 0 at once, they collapse to zero within a few thousand steps: Adam's steps
follow the gradient's direction, not its size, and the rate's gradient is the only one the
new channels have until the synthesis reads them.  The log's bpp is always the full rate.

**Exact resume.**  The checkpoint holds the model, the optimiser(s), the step, the CPU
and wall time so far, the torch RNG (and CUDA RNGs), the dataset's NumPy generator (the
data order), the half-filled log accumulators and the run's settings; a run started
again with the same checkpoint continues bit for bit as if it had never stopped (on the
same device and thread count).  Checkpoints are written atomically (temporary file,
fsync, rename) every ``--ckpt-every`` minutes, at the end, and on SIGTERM / SIGINT (the
step in flight finishes first).  ``--init-from CKPT`` warm-starts a *new* checkpoint by
copying every tensor whose name and shape match (ae and cnn from vae, gan from cnn), and
records the source's step and CPU minutes in the checkpoint (``init``, for the export's
provenance).  An ``ae`` warm start then fits its new factorized densities alone to the
warm-started latents for ``--fit-density`` steps (Adam, lr 1e-2) before the joint steps.
``--init-from WEIGHTS.safetensors`` starts from shipped weights instead, when a run's
checkpoint is lost (:mod:`mic.train.conv_thaw`; the hyper-latent density, not shipped, is
fitted alone first the same way).

The CSV log (appended, header once) has ``step, cpu_minutes, wall_minutes, loss, bpp,
psnr, lr``: means over the last ``--log-every`` steps on the training crops (PSNR of the
clamped reconstruction), cumulative process CPU minutes and wall minutes.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoints import atomic_save, open_log

#: settings that must not change between the chunks of one run (exact resume)
FIXED = ("model", "size", "batch", "crop", "seed", "n_qualities", "adv_weight", "train_only",
         "rate_ramp")


def _copy_matching(dst, src_state: dict[str, Any]) -> tuple[int, int]:  # noqa: ANN001
    """Copy the tensors of ``src_state`` whose name and shape match into ``dst``."""
    own = dst.state_dict()
    same = {k: v for k, v in src_state.items() if k in own and own[k].shape == v.shape}
    dst.load_state_dict(same, strict=False)
    return len(same), len(own)


def init_record(ck: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """What a warm start came from: the source checkpoint's model, step and CPU minutes
    (its own warm start's included, cumulatively)."""
    prev = ck.get("init") or {}
    cpu = float(ck.get("cpu_s", 0.0)) / 60
    return {"checkpoint": Path(path).name, "model": ck.get("model_name", "?"),
            "step": int(ck.get("step", 0)), "cpu_minutes": round(cpu, 1),
            "cumulative_cpu_minutes": round(cpu + float(prev.get("cumulative_cpu_minutes", 0)), 1)}


class Trainer:
    """One training run (see the module docstring); :meth:`run` trains and saves."""

    def __init__(self, data: str | Path, model: str, ckpt: str | Path, *,
                 log: str | Path | None = None, size: str = "base", batch: int = 4,
                 crop: int = 256, lr: float = 1e-4, seed: int = 0, device: str = "cpu",
                 init_from: str | Path | None = None, log_every: int = 50,
                 ckpt_every_min: float = 5.0, adv_weight: float = 0.01,
                 lambdas: list[float] | None = None, clip: float = 1.0,
                 max_images: int | None = None, quiet: bool = False,
                 fit_density: int = 300, train_only: str | None = None,
                 rate_ramp: int | None = None) -> None:
        import torch

        from . import conv_models as cm
        from .dataset import CropDataset

        if crop % cm.HYPER_STRIDE:
            raise ValueError(f"crop must be a multiple of {cm.HYPER_STRIDE}")
        self.torch, self.cm = torch, cm
        self.ckpt, self.quiet = Path(ckpt), quiet
        self.ckpt.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = Path(log) if log else None
        self.device = torch.device(device)
        self.log_every, self.ckpt_every_s, self.lr, self.clip = log_every, ckpt_every_min * 60, lr, clip
        self.gan = model == "gan"
        if self.gan and train_only:
            raise ValueError("--train-only does not apply to gan (it trains g_s alone)")
        resume = self.ckpt.exists()
        ck = torch.load(self.ckpt, map_location="cpu", weights_only=False) if resume else None
        if ck is not None:
            lambdas = ck["config"]["lambdas"]
        self.settings = {"model": model, "size": size, "batch": batch, "crop": crop,
                         "seed": seed, "n_qualities": len(lambdas or cm.LAMBDAS),
                         "adv_weight": adv_weight if self.gan else None,
                         "train_only": train_only or None, "rate_ramp": rate_ramp or None}
        if rate_ramp and self.gan:
            raise ValueError("--rate-ramp does not apply to gan (its rate is fixed)")
        #: the first latent channel whose rate is ramped in (rate_ramp), from the widening
        self.ramp_from: int | None = None
        assert tuple(self.settings) == FIXED
        torch.manual_seed(seed)
        self.net = cm.build_model(model, size=size, lambdas=lambdas).to(self.device)
        self.lambdas = torch.tensor(self.net.lambdas, dtype=torch.float32, device=self.device)
        if self.gan:
            # only the synthesis learns; everything that decides the bitstream stays fixed
            for name, p in self.net.named_parameters():
                p.requires_grad_(name.startswith("g_s."))
            self.disc = cm.PatchDiscriminator().to(self.device)
            self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=lr, betas=(0.5, 0.999))
        elif train_only:
            # only the named parts learn (a grafted vae's hyperprior fitted to new transforms)
            prefixes = tuple(x for x in train_only.split(",") if x)
            names = [n for n, _ in self.net.named_parameters()]
            if not any(n.startswith(prefixes) for n in names):
                raise ValueError(f"--train-only {train_only!r} names no parameter of {model}")
            for name, p in self.net.named_parameters():
                p.requires_grad_(name.startswith(prefixes))
        self.params = [p for p in self.net.parameters() if p.requires_grad]
        self.opt = torch.optim.Adam(self.params, lr=lr)
        self.data = CropDataset(data, crop=crop, seed=seed, max_images=max_images)
        self.step, self.cpu_s, self.wall_s, self.skipped = 0, 0.0, 0.0, 0
        self.acc = np.zeros(4)  # loss, bpp, psnr, count since the last log line
        #: provenance of a warm start (the source's model, step, CPU minutes), kept on resume
        self.init: dict[str, Any] | None = None
        if ck is not None:
            self._resume(ck)
        elif init_from is not None:
            shipped = str(init_from).endswith(".safetensors")
            if shipped:  # a lost checkpoint: start from the weights a release ships
                from .conv_thaw import shipped_record, thaw_state

                self.init = shipped_record(init_from)
                src_state = thaw_state(init_from, self.net)
            else:
                src_ck = torch.load(init_from, map_location="cpu", weights_only=False)
                self.init = init_record(src_ck, init_from)
                src_state = src_ck["model"]
                if rate_ramp:
                    self.ramp_from = int(src_ck.get("widened", {}).get("from_m", 0)) or None
            if rate_ramp and self.ramp_from is None:
                raise ValueError("--rate-ramp needs --init-from a checkpoint of "
                                 "mic.train.conv_widen (its widened channels)")
            got, total = _copy_matching(self.net, src_state)
            self._say(f"warm start: {got}/{total} tensors from {init_from}")
            if fit_density and (hasattr(self.net, "y_density") or shipped):
                self.fit_density(fit_density)

    def fit_density(self, steps: int, pool: int = 16, lr: float = 1e-2) -> None:
        """Warm start: fit the fresh densities alone to the warm-started latents
        (``pool`` crops, every quality, Adam at ``lr``), so that the first joint steps do
        not see the rate of an untrained prior: ``ae``'s per-(quality, channel) densities
        of ``y``, or a hyperprior's density of ``z`` (not shipped: a start from shipped
        weights, :mod:`mic.train.conv_thaw`)."""
        torch = self.torch
        net, nq = self.net, self.net.n_qualities
        q = torch.arange(nq, device=self.device).repeat_interleave(pool)
        with torch.no_grad():
            y = net.g_a(torch.from_numpy(self.data.batch(pool)).to(self.device) - 0.5)
            ys = y.repeat(nq, 1, 1, 1) * torch.exp(net.log_gain[q])[:, :, None, None]
            if hasattr(net, "y_density"):
                dens, v0 = net.y_density, ys
            else:
                dens = net.z_density
                v0 = net.h_a(net.hyper_input(ys)) * net.zgain(q)[:, None, None, None]
        opt = torch.optim.Adam(dens.parameters(), lr=lr)
        npix = pool * self.settings["crop"] ** 2
        for i in range(steps):
            v = v0 + torch.empty_like(v0).uniform_(-0.5, 0.5)
            lik = dens.likelihood_q(v, q) if hasattr(net, "y_density") else dens.likelihood(v)
            bits = -torch.log2(lik).sum() / (nq * npix)
            opt.zero_grad(set_to_none=True)
            bits.backward()
            opt.step()
            if i % 50 == 0 or i == steps - 1:
                self._say(f"density fit {i}: {float(bits.detach()):.4f} bpp (mean over qualities)")

    # -- bookkeeping ----------------------------------------------------------------
    def _say(self, msg: str) -> None:
        if not self.quiet:
            print(msg, flush=True)

    def _resume(self, ck: dict[str, Any]) -> None:
        torch = self.torch
        if ck["config"] != self.net.config():
            raise ValueError(f"{self.ckpt} has config {ck['config']}, not {self.net.config()}")
        diff = {k: (ck["settings"].get(k), v) for k, v in self.settings.items()
                if ck["settings"].get(k) != v}
        if diff:
            raise ValueError(f"{self.ckpt} was trained with other settings (was, now): {diff}")
        self.net.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["opt"])
        if self.gan:
            self.disc.load_state_dict(ck["disc"])
            self.opt_d.load_state_dict(ck["opt_d"])
        self.step, self.cpu_s, self.wall_s = ck["step"], ck["cpu_s"], ck["wall_s"]
        self.skipped = ck.get("skipped", 0)
        self.init = ck.get("init")
        self.ramp_from = ck.get("ramp_from")
        self.acc = np.asarray(ck["log_acc"], np.float64)
        self.data.rng.bit_generator.state = ck["data_rng"]
        torch.set_rng_state(ck["torch_rng"])
        if self.device.type == "cuda" and ck.get("cuda_rng") is not None:
            torch.cuda.set_rng_state_all(ck["cuda_rng"])
        self._say(f"resumed {self.ckpt} at step {self.step} "
                  f"({self.cpu_s / 60:.1f} CPU min, {self.wall_s / 60:.1f} wall min)")

    def state(self) -> dict[str, Any]:
        torch = self.torch
        st = {"model": self.net.state_dict(), "opt": self.opt.state_dict(), "step": self.step,
              "config": self.net.config(), "model_name": self.settings["model"],
              "settings": dict(self.settings), "cpu_s": self.cpu_s, "wall_s": self.wall_s,
              "skipped": self.skipped, "log_acc": self.acc.tolist(), "ramp_from": self.ramp_from,
              "data_rng": self.data.rng.bit_generator.state,
              "torch_rng": torch.get_rng_state(),
              "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
              "lr": self.lr, "saved": time.strftime("%Y-%m-%dT%H:%M:%S"), "init": self.init}
        if self.gan:
            st["disc"] = self.disc.state_dict()
            st["opt_d"] = self.opt_d.state_dict()
        return st

    def save(self) -> None:
        atomic_save(self.state(), self.ckpt)

    # -- one step -------------------------------------------------------------------
    def train_step(self) -> tuple[float, float, float] | None:
        """One optimiser step; (loss, bpp, psnr), or None if it was skipped (non-finite)."""
        torch, cm = self.torch, self.cm
        b = self.settings["batch"]
        x = torch.from_numpy(self.data.batch(b)).to(self.device)
        q = torch.randint(0, self.net.n_qualities, (b,)).to(self.device)
        lam = self.lambdas[q]
        ramp = self.settings["rate_ramp"]
        if ramp and self.ramp_from is not None and self.step < ramp:
            w = torch.ones(self.net.m, device=self.device)
            w[self.ramp_from:] = max(0.0, 2.0 * self.step / ramp - 1.0)
            self.net.rate_weight = w
        else:
            self.net.rate_weight = None
        if not self.gan:
            r = cm.rd_loss(x, self.net(x, q), lam)
            loss = r["loss"]
        else:
            with torch.no_grad():
                o = self.net(x, q, noise=False, synthesize=False)
            x_hat = self.net.synthesis(o["y_hat"], q)
            d_loss = cm.discriminator_loss(self.disc(x), self.disc(x_hat.detach()))
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
            r = cm.rd_loss(x, {"x_hat": x_hat, "bits": o["bits"]}, lam)
            loss = r["loss"] + self.settings["adv_weight"] * cm.generator_adv_loss(self.disc(x_hat))
        if not torch.isfinite(loss):
            self.skipped += 1
            return None
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip:
            torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        self.opt.step()
        return float(r["loss"].detach()), float(r["bpp"].detach()), float(r["psnr"])

    # -- the loop -------------------------------------------------------------------
    def run(self, minutes: float | None = None, steps: int | None = None) -> dict[str, Any]:
        for g in self.opt.param_groups:
            g["lr"] = self.lr
        stop = {"sig": None}

        def on_signal(signum, frame):  # noqa: ANN001, ARG001
            stop["sig"] = signum

        old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        logf = None
        if self.log_path is not None:
            logf = open_log(self.log_path, "step,cpu_minutes,wall_minutes,loss,bpp,psnr,lr",
                            self.step)
        c0, w0 = time.process_time(), time.time()
        last_ck = w0
        deadline = w0 + minutes * 60 if minutes is not None else None
        start = self.step
        self.net.train()

        def sync_time() -> None:
            nonlocal c0, w0
            c, w = time.process_time(), time.time()
            self.cpu_s += c - c0
            self.wall_s += w - w0
            c0, w0 = c, w

        try:
            while stop["sig"] is None:
                if steps is not None and self.step - start >= steps:
                    break
                if deadline is not None and time.time() >= deadline:
                    break
                r = self.train_step()
                self.step += 1
                if r is not None:
                    self.acc += [r[0], r[1], r[2], 1]
                if self.step % self.log_every == 0:
                    sync_time()
                    m = self.acc[:3] / max(self.acc[3], 1)
                    line = (f"{self.step},{self.cpu_s / 60:.2f},{self.wall_s / 60:.2f},"
                            f"{m[0]:.4f},{m[1]:.4f},{m[2]:.2f},{self.lr:.2e}")
                    if logf:
                        logf.write(line + "\n")
                        logf.flush()
                    self._say(line)
                    self.acc[:] = 0
                if time.time() - last_ck > self.ckpt_every_s:
                    sync_time()
                    self.save()
                    last_ck = time.time()
        finally:
            sync_time()
            self.save()
            if logf:
                logf.close()
            for s, h in old.items():
                signal.signal(s, h)
        why = f"signal {stop['sig']}" if stop["sig"] is not None else "done"
        self._say(f"saved {self.ckpt} at step {self.step} ({why}; {self.skipped} skipped steps)")
        return {"step": self.step, "cpu_minutes": self.cpu_s / 60, "wall_minutes": self.wall_s / 60,
                "signal": stop["sig"], "ckpt": str(self.ckpt)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mic.train.conv_loop", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder of training PNGs (never eval/)")
    p.add_argument("--model", required=True, choices=["ae", "vae", "cnn", "gan"])
    p.add_argument("--ckpt", required=True, help="checkpoint (resumed if it exists)")
    p.add_argument("--log", default=None, help="CSV log (appended)")
    p.add_argument("--minutes", type=float, default=None, help="wall-clock budget of this run")
    p.add_argument("--steps", type=int, default=None, help="number of steps of this run")
    p.add_argument("--init-from", default=None,
                   help="warm start a new checkpoint from this checkpoint, or from shipped "
                   "weights (.safetensors, mic.train.conv_thaw)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--size", default="base", help="base, wide (M = 192) or tiny")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--crop", type=int, default=256, help="multiple of 64")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--ckpt-every", type=float, default=5.0, help="minutes between checkpoints")
    p.add_argument("--adv-weight", type=float, default=0.01, help="gan: adversarial weight")
    p.add_argument("--fit-density", type=int, default=300,
                   help="warm start of an ae, or from shipped weights: steps fitting the new "
                   "prior alone first (0: none)")
    p.add_argument("--train-only", default=None,
                   help="comma list of parameter-name prefixes: only those learn (e.g. "
                   "h_a.,h_s.,z_density. fits a vae's hyperprior to grafted transforms)")
    p.add_argument("--rate-ramp", type=int, default=None,
                   help="a warm start from mic.train.conv_widen: the new channels' rate is "
                   "free for half this many steps, then counts linearly up to full")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    if a.minutes is None and a.steps is None:
        p.error("give --minutes or --steps")
    if "eval" in {part.lower() for part in Path(a.data).resolve().parts}:
        p.error("refusing to train on an evaluation folder")
    import torch

    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(a.threads)
    except RuntimeError:
        pass
    tr = Trainer(a.data, a.model, a.ckpt, log=a.log, size=a.size, batch=a.batch, crop=a.crop,
                 lr=a.lr, seed=a.seed, device=a.device, init_from=a.init_from,
                 log_every=a.log_every, ckpt_every_min=a.ckpt_every, adv_weight=a.adv_weight,
                 quiet=a.quiet, fit_density=a.fit_density, train_only=a.train_only,
                 rate_ramp=a.rate_ramp)
    st = tr.run(minutes=a.minutes, steps=a.steps)
    # a signal ends the chunk early: exit 143 / 130 so that a wrapper loop stops too
    if st["signal"] is not None:
        return 128 + int(st["signal"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
