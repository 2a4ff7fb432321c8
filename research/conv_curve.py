#!/usr/bin/env python
"""Training curves of the learned-transform models (issue #21): means per ``--bin`` steps
of the CSV logs of ``python -m mic.train.conv_loop`` (training crops: loss, bpp, PSNR of
the clamped reconstruction), a Markdown table with the loss slope over the last bins, and
one PNG with a panel per quantity against cumulative CPU-minutes.

    python research/conv_curve.py --log vae=/work/ckpt/vae.csv --log cnn=/work/cnn-ckpt/cnn.csv@172 \\
        --out benches/results/2026-12-05-conv-cnn/curve

``NAME=CSV@MINUTES`` shifts a warm-started run by its source's CPU-minutes (cumulative
compute on the x axis).

A resumed chunk re-logs the steps after its last checkpoint: rows are taken by step, the
last one wins (as the export's provenance does).  The crops draw a random quality each,
so single rows are noisy; the bins average 1,000 steps by default.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np


def load(path: Path) -> np.ndarray:
    """(n, 5) array of step, cpu_minutes, loss, bpp, psnr, by step (the last row wins)."""
    rows: dict[int, tuple[float, ...]] = {}
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            rows[int(r["step"])] = (float(r["step"]), float(r["cpu_minutes"]), float(r["loss"]),
                                    float(r["bpp"]), float(r["psnr"]))
    return np.array([rows[s] for s in sorted(rows)])


def bins(a: np.ndarray, width: int) -> list[tuple[int, int, float, float, float, float]]:
    """(first step, last step, CPU-minutes at the end, mean loss, bpp, PSNR) per bin."""
    out = []
    for lo in range(0, int(a[-1, 0]) + 1, width):
        m = (a[:, 0] > lo) & (a[:, 0] <= lo + width)
        if m.any():
            b = a[m]
            out.append((lo, int(b[-1, 0]), float(b[-1, 1]), float(b[:, 2].mean()),
                        float(b[:, 3].mean()), float(b[:, 4].mean())))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--log", action="append", required=True,
                   help="NAME=CSV[@CPU-MINUTES OFFSET] (repeatable)")
    p.add_argument("--out", required=True, type=Path, help="output stem (.md and .png)")
    p.add_argument("--bin", type=int, default=1000)
    a = p.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    md = [f"# Training curves (`research/conv_curve.py`, means per {a.bin} steps on the "
          "training crops)", ""]
    for spec in a.log:
        name, path = spec.split("=", 1)
        path, _, off = path.partition("@")
        data = load(Path(path))
        data[:, 1] += float(off or 0)
        bs = bins(data, a.bin)
        md += [f"## {name} (`{path}`, to step {int(data[-1, 0])}, {data[-1, 1]:.1f} CPU-minutes)",
               "", "| steps | CPU-min at end | loss | bpp | PSNR dB |", "|---|---|---|---|---|"]
        md += [f"| {lo}–{hi} | {cm:.1f} | {lo_:.3f} | {bpp:.3f} | {ps:.2f} |"
               for lo, hi, cm, lo_, bpp, ps in bs]
        full = [b for b in bs if b[1] - b[0] >= a.bin - 1]
        if len(full) >= 3:
            x = np.array([b[1] for b in full[-3:]], float)
            y = np.array([b[3] for b in full[-3:]])
            slope = np.polyfit(x, y, 1)[0] * 1000
            md += ["", f"Loss slope over the last three full bins: {slope:+.3f} per 1,000 steps."]
        md.append("")
        cm = np.array([b[2] for b in bs])
        for ax, k, label in zip(axes, (3, 4, 5), ("loss", "bpp", "PSNR dB")):
            ax.plot(cm, [b[k] for b in bs], marker=".", label=name)
            ax.set_xlabel("cumulative CPU-minutes")
            ax.set_title(label)
            ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out.with_suffix(".png"), dpi=80)
    a.out.with_suffix(".md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
