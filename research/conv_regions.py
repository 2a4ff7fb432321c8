"""Constant regions of the conv tiles (SPEC 6.10 xform flag 16, issue #21): BD-rate of a
conv model with its regions (the encoder's default) against the same model without
(``regions=False``), on the train sample: one image of each source (seed 5), its first
1024 x 1024, reduced to its top 8 bits as ``mic bench --bits8`` does (or ``--native``),
qualities 0, 2, 4, 6 and 7; every stream decoded.

    PYTHONPATH=. python research/conv_regions.py CORPUS/train --model cnn [--native] [--effort 4]
    PYTHONPATH=. python research/conv_regions.py CORPUS/train --model cnn --scan

``--scan``: every grey train image instead, its first 512 x 512 at its top 8 bits; those
whose tile gets a region are coded with and without (the value, the share covered, the
median step at the region's edge, :func:`mic.lossy.enc_region.edge_contrast`, BD-rate).

Where the rule's constant (:data:`mic.lossy.enc_conv.REGION_SHAPE_BITS`) was chosen;
nothing here reads the eval split.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import time
from pathlib import Path

import numpy as np

import mic
from mic.eval.bdrate import bd_rate
from mic.io import read_image
from train_sample import top8


def psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10 * math.log10(peak ** 2 / mse) if mse > 0 else 200.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("--model", default="cnn")
    ap.add_argument("--native", action="store_true")
    ap.add_argument("--qualities", default="0,2,4,6,7")
    ap.add_argument("--scan", action="store_true")
    ap.add_argument("--effort", type=int, default=None, help="the encoder's effort (default 3)")
    a = ap.parse_args()
    train = Path(a.train)
    if "eval" in {p.lower() for p in train.resolve().parts}:
        raise SystemExit("train split only")
    rows = [r for r in csv.DictReader(open(train.parent / "manifest.csv")) if r["split"] == "train"]
    if a.scan:
        return scan(train.parent, rows, a.model, [int(q) for q in a.qualities.split(",")])
    by: dict[str, list] = {}
    for r in rows:
        by.setdefault(r["source"], []).append(r)
    random.seed(5)
    qs = [int(q) for q in a.qualities.split(",")]
    bds, t_on, t_off = [], 0.0, 0.0
    for src, rs in sorted(by.items()):
        r = random.choice(rs)
        x = read_image(train.parent / r["png"])[0][:1024, :1024]
        if not a.native:
            x = top8(x)
        peak = float((1 << max(int(x.max()).bit_length(), 8)) - 1)
        curves: dict[bool, tuple[list[float], list[float]]] = {}
        for regions in (False, True):
            rr, pp = [], []
            for q in qs:
                t0 = time.perf_counter()
                s = mic.encode(x, model=a.model, quality=q, regions=regions, effort=a.effort)
                dt = time.perf_counter() - t0
                if regions:
                    t_on += dt
                else:
                    t_off += dt
                d = mic.decode(s)
                rr.append(8 * len(s) / (x.shape[0] * x.shape[1]))
                pp.append(psnr(x, d, peak))
            curves[regions] = (rr, pp)
        bd = bd_rate(*curves[False], *curves[True])
        same = curves[False] == curves[True]
        bds.append(0.0 if same else bd)
        verdict = "same streams" if same else f"{100 * bd:+.1f} %"
        print(f"{src[:24]:24s} {str(x.shape):16s} BD {verdict}"
              + "".join(f"  q{q} {r0:.4f}/{p0:.2f} -> {r1:.4f}/{p1:.2f}" for q, r0, p0, r1, p1 in
                        zip(qs, *curves[False], *curves[True]) if not same), flush=True)
    ok = [b for b in bds if b == b]
    print(f"mean BD-rate over {len(ok)} images: {100 * np.mean(ok):+.2f} % "
          f"({sum(1 for b in ok if b != 0)} changed); encode time with / without regions "
          f"{t_on / t_off:.2f}")


def scan(root: Path, rows: list[dict], model: str, qs: list[int]) -> None:
    from mic.lossy.enc_conv import conv_region
    from mic.lossy.enc_options import EncoderOptions
    from mic.lossy.enc_region import edge_contrast

    bds = []
    n = 0
    for r in rows:
        x = read_image(root / r["png"])[0]
        if x.ndim != 2:
            continue
        n += 1
        x = top8(x)[:512, :512]
        if x.min() == x.max():
            continue
        reg = conv_region(x.astype(np.int64), EncoderOptions())
        if reg is None:
            continue
        curves = []
        for regions in (False, True):
            rr, pp = [], []
            for q in qs:
                s = mic.encode(x, model=model, quality=q, regions=regions)
                rr.append(8 * len(s) / x.size)
                pp.append(psnr(x, mic.decode(s), 255.0))
            curves.append((rr, pp))
        bd = bd_rate(*curves[0], *curves[1])
        bds.append(bd)
        edge = edge_contrast(x[:, :, None], (reg[0],), reg[1])
        print(f"{r['png'].split('/')[-1][:44]:44s} value {reg[0]:3d} covers {reg[1].mean():.2f} "
              f"edge {edge:5.1f}  BD {100 * bd:+.1f} %", flush=True)
    print(f"{len(bds)} of {n} grey train images get a region; mean BD-rate {100 * np.mean(bds):+.2f} %"
          f", worst {100 * max(bds):+.1f} %")


if __name__ == "__main__":
    main()
