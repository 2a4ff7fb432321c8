"""The conv models' exact samples (SPEC 6.10 xform flag 64, encoder tool ``exact_samples``) on
the train split: the middle image of every source (grey: first channel; first 1024 x 1024,
top 8 bits as ``mic bench --bits8`` codes them), the cnn at qualities 0, 2, 4, 6 and 7
without the tool, with it as shipped (tried only in tiles with thin high-contrast structures,
``EXACT_GATE``), and with it tried in every tile (the gate off): the BD-rate (PSNR) of each
against the plain coding, the encode time, every stream decoded.  ``--per-source N``: the
middle N images of each source; ``--thresholds 1/4,1/8``: other thresholds than the
shipped ``EXACT_THRESHOLDS``; ``--sources A,B``: only those sources.

    PYTHONPATH=. OMP_NUM_THREADS=1 python research/conv_exact.py CORPUS/train [--per-source N]
"""

from __future__ import annotations

import argparse
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np


def main() -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from train_sample import rate_psnr, sample_images, top8

    import mic
    import mic.lossy.enc_conv as EC
    from mic.eval.bdrate import bd_rate

    ap = argparse.ArgumentParser()
    ap.add_argument("train", type=Path)
    ap.add_argument("--per-source", type=int, default=1)
    ap.add_argument("--model", default="cnn")
    ap.add_argument("--thresholds", help="comma-separated fractions of the sample range "
                    "(default: the shipped EXACT_THRESHOLDS)")
    ap.add_argument("--sources", help="comma-separated train sources (default: all)")
    a = ap.parse_args()
    if a.thresholds:
        EC.EXACT_THRESHOLDS = tuple(float(Fraction(t)) for t in a.thresholds.split(","))
    if a.train.name != "train":
        ap.error("measure on the corpus's train/ folder (the eval split is measured by mic bench)")
    qs = (0, 2, 4, 6, 7)
    gate = EC.EXACT_GATE
    tot = {"shipped": [], "every tile": []}
    times = {"plain": 0.0, "shipped": 0.0, "every tile": 0.0}
    srcs = a.sources.split(",") if a.sources else None
    for r, img, bits in sample_images(a.train, per_source=a.per_source, sources=srcs):
        x = top8(img) if bits > 8 else img.astype(np.uint8)
        curves = {}
        for way in ("plain", "shipped", "every tile"):
            EC.EXACT_GATE = 0.0 if way == "every tile" else gate
            pts = []
            for q in qs:
                t0 = time.perf_counter()
                b = mic.encode(x, quality=q, model=a.model, exact_samples=way != "plain")
                times[way] += time.perf_counter() - t0
                pts.append(rate_psnr(8 * len(b), x, mic.decode(b), 8))
            curves[way] = pts
        EC.EXACT_GATE = gate
        cells = []
        for way in ("shipped", "every tile"):
            same = curves[way] == curves["plain"]
            bd = 0.0 if same else bd_rate(*zip(*curves["plain"]), *zip(*curves[way]))
            tot[way].append(bd)
            cells.append(f"{way} {100 * bd:+6.2f} %")
        top = curves["shipped"][-1]
        print(f"{r['source'][:24]:24s} {str(x.shape):13s} " + "  ".join(cells)
              + f"  q7 {curves['plain'][-1][0]:.3f}/{curves['plain'][-1][1]:.2f}"
              f" -> {top[0]:.3f}/{top[1]:.2f}", flush=True)
    for way, v in tot.items():
        print(f"mean BD-rate {way}: {100 * float(np.mean(v)):+.2f} % over {len(v)} images "
              f"(encode time x {times[way] / times['plain']:.2f} the plain)")


if __name__ == "__main__":
    main()
