"""``mic train`` and ``mic export`` (loaded lazily by :mod:`mic.cli`)."""

from __future__ import annotations

from pathlib import Path

import click

from ..extras import require

#: checked before each training command: torch (installed apart) and the train extra's scipy
#: (export's entropy tables; checked for train too, so a long run does not end in an export
#: that cannot run)
NEEDS = ("torch", "scipy")


@click.command("train")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--model", default="wavelet-context", show_default=True,
              help="wavelet-factorized, wavelet-hyperprior, wavelet-context, or a learned-"
                   "transform model: ae, vae, cnn, gan (gan fine-tunes a cnn's synthesis: "
                   "give --init-from a cnn checkpoint)")
@click.option("--minutes", type=float, default=None, help="wall-clock budget of this run")
@click.option("--steps", type=int, default=None, help="number of steps of this run")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="checkpoint (resumed if it exists) [default: ckpt/<model>.pt]")
@click.option("--batch", type=int, default=None, help="crops per step [default: 8; conv 4]")
@click.option("--crop", type=int, default=256, show_default=True, help="multiple of 64")
@click.option("--lr", type=float, default=None, help="Adam's rate [default: 3e-4; conv 1e-4]")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--size", default="base", show_default=True, help="base (shipped) or tiny")
@click.option("--stage", default="all", show_default=True,
              type=click.Choice(["all", "entropy", "post"]),
              help="entropy: transforms' gains + entropy model (no post-filter); "
                   "post: only the post-filter; all: everything")
@click.option("--threads", type=int, default=1, show_default=True)
@click.option("--init-from", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="warm start from another checkpoint's matching tensors")
@click.option("--log", type=click.Path(path_type=Path), default=None,
              help="CSV log of step,minutes,loss,bpp,psnr,lr [default: runs/<model>.csv]")
@click.option("--device", default="cpu", show_default=True,
              help="conv models: torch device (cpu or cuda; streams decode on the CPU)")
@click.option("--adv-weight", type=float, default=0.01, show_default=True,
              help="gan: weight of the adversarial loss")
def train_cmd(data_dir: Path, model: str, minutes: float | None, steps: int | None,
              out: Path | None, batch: int | None, crop: int, lr: float | None, seed: int,
              size: str, stage: str, threads: int, init_from: Path | None,
              log: Path | None, device: str, adv_weight: float) -> None:
    """Train (or resume) a lossy model on the PNGs of DATA_DIR (never the eval split).

    \b
    Examples:
      mic train ../shared/corpus/train --model wavelet-context --minutes 90 --out ckpt/wavelet-context.pt
      mic train ../shared/corpus/train --model cnn --minutes 60 --out ckpt/cnn.pt --init-from ckpt/vae.pt
    """
    if minutes is None and steps is None:
        raise click.UsageError("give --minutes or --steps")
    require("mic train", "train", NEEDS)
    from ..models.registry import CONV_MODEL_IDS

    out = out or Path("ckpt") / f"{model}.pt"
    log = log or Path("runs") / f"{model}.csv"
    log.parent.mkdir(parents=True, exist_ok=True)
    if model in CONV_MODEL_IDS:  # learned transforms: the resumable conv loop (issue #21)
        if stage != "all":
            raise click.UsageError("--stage applies to the wavelet models only")
        from .conv_loop import main as conv_main

        argv = ["--data", str(data_dir), "--model", model, "--ckpt", str(out), "--log", str(log),
                "--batch", str(batch or 4), "--crop", str(crop), "--lr", str(lr or 1e-4),
                "--seed", str(seed), "--size", size, "--threads", str(threads),
                "--device", device, "--adv-weight", str(adv_weight)]
        argv += ["--minutes", str(minutes)] if minutes is not None else []
        argv += ["--steps", str(steps)] if steps is not None else []
        argv += ["--init-from", str(init_from)] if init_from is not None else []
        rc = conv_main(argv)
        click.echo(f"trained {model} -> {out}" + (" (stopped by a signal)" if rc else ""))
        if rc:
            raise SystemExit(rc)
        return
    from .loop import train

    st = train(data_dir, model, minutes=minutes, steps=steps, out=out, batch=batch or 8,
               crop=crop, lr=lr or 3e-4, seed=seed, size=size, log=log, threads=threads,
               init_from=init_from, stage=stage)
    click.echo(f"trained {model}: step {st['step']}, {st['minutes']:.1f} min in total -> {out}")


@click.command("export")
@click.argument("ckpt", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", default=None, help="model name (default: the checkpoint's)")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="where to write <model>.safetensors and models.json "
                   "[default: the package's mic/models/weights]")
@click.option("--command", "train_command", default="", help="training command to record")
@click.option("--log", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="conv models: the run's CSV log (its last figures go into models.json)")
@click.option("--init-from", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="conv models: the checkpoint a warm-started run came from "
                                 "(its steps and CPU minutes are recorded)")
def export_cmd(ckpt: Path, model: str | None, out_dir: Path | None, train_command: str,
               log: Path | None, init_from: Path | None) -> None:
    """Freeze CKPT (from 'mic train', or a conv model's 'python -m mic.train.conv_loop')
    into safetensors weights + a registry entry.

    \b
    Examples:
      mic export ckpt/wavelet-context.pt --model wavelet-context
      mic export ckpt/vae.pt --log ckpt/vae.csv
      mic export ckpt/ae.pt --log ckpt/ae.csv --init-from ckpt/vae-init.pt
    """
    require("mic export", "train", NEEDS)
    import torch

    from ..models.weights import WEIGHTS_DIR

    cfg = torch.load(ckpt, map_location="cpu", weights_only=False).get("config", {})
    if cfg.get("arch") == "conv":  # learned convolutional transforms (issue #21)
        from .conv_export import export_conv_checkpoint

        if model and model != cfg.get("model"):
            raise click.UsageError(f"{ckpt} holds a {cfg.get('model')} model, not {model}")
        ent = export_conv_checkpoint(ckpt, out_dir or WEIGHTS_DIR, log, train_command or None,
                                     init_from=init_from)
    else:
        from .export import export_checkpoint

        ent = export_checkpoint(ckpt, model, out_dir or WEIGHTS_DIR, command=train_command)
    click.echo(f"exported {model or 'model'} id {ent['id']}: {ent['file']} "
               f"({ent['bytes'] / 1e6:.2f} MB) sha256 {ent['sha256']} tables {ent['table_id']}")


@click.command("retarget")
@click.argument("ckpt", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--lambdas", required=True,
              help="comma-separated lambdas of the new quality ladder, lowest rate first")
@click.option("--post-from", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="take the post-filter of this checkpoint (a --stage post run)")
@click.option("--no-post", is_flag=True, help="drop the post-filter")
def retarget_cmd(ckpt: Path, out: Path, lambdas: str, post_from: Path | None,
                 no_post: bool) -> None:
    """Map the checkpoint CKPT to another quality ladder (written to OUT).

    \b
    Example:
      mic retarget ckpt/wavelet-context.pt ckpt/wavelet-context12.pt --lambdas 0.00064,0.0016,0.004 --post-from ckpt/post.pt
    """
    require("mic retarget", "train", NEEDS)
    from .loop import retarget_qualities

    lams = [float(v) for v in lambdas.split(",") if v.strip()]
    if len(lams) < 2 or any(b <= a for a, b in zip(lams, lams[1:])):
        raise click.UsageError("--lambdas needs at least two increasing values")
    retarget_qualities(ckpt, out, lams, post_from, drop_post=no_post)
    click.echo(f"{ckpt} -> {out}: {len(lams)} qualities")
