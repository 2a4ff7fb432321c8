"""Which tiling should the default lossy effort use on frames above 512 (issue #20)?  On the
train split's larger images: BD-rate (PSNR) of the fewest even large tiles
(``mic.lossy.enc_tilings.even_tiles``, at most 2048 a side) and of the best of both tilings
per quality (``tilings=True``, effort 6's tool) against 512 x 512 tiles, the default
effort's other tools unchanged, and each one's encode time.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=research .venv/bin/python research/lossy_tiling_rule.py CORPUS/train [per_source]

Finding: benches/results/2026-12-05-restore-default/tiling-rule.txt
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import mic
from mic.eval.bdrate import bd_rate
from mic.lossy.enc_tilings import DEFAULT_TILE, even_tiles
from train_sample import rate_psnr, sample_images

QUALITIES = (0, 2, 4, 6, 8, 10)


def main(argv: list[str]) -> None:
    split = Path(argv[0])
    per_source = int(argv[1]) if len(argv) > 1 else 1
    res: dict[str, list[float]] = {"large": [], "both": []}
    for row, a, bits in sample_images(split, per_source=per_source, max_side=4096):
        if max(a.shape) <= DEFAULT_TILE:
            continue
        kinds = {"512": {"tile": DEFAULT_TILE, "tilings": False},
                 "large": {"tile": even_tiles(*a.shape), "tilings": False},
                 "both": {"tile": None, "tilings": True}}
        curves: dict[str, list] = {k: [] for k in kinds}
        t = {k: 0.0 for k in kinds}
        for q in QUALITIES:
            for k, kw in kinds.items():
                t0 = time.perf_counter()
                blob = mic.encode(a, quality=q, bits_stored=bits, **kw)
                t[k] += time.perf_counter() - t0
                curves[k].append(rate_psnr(8 * len(blob), a, mic.decode(blob), bits))
        cells = []
        for k in ("large", "both"):
            bd = bd_rate(*zip(*curves["512"]), *zip(*curves[k]))
            res[k].append(bd)
            cells.append(f"{k} {100 * bd:+6.1f} %")
        print(f"{row['modality']:3s} {row['source'][:28]:28s} {a.shape[0]:5d}x{a.shape[1]:<5d} "
              + "  ".join(cells) + "  encode s: " + " / ".join(f"{t[k]:.1f}" for k in kinds),
              flush=True)
    print("mean vs 512 tiles: " + "  ".join(f"{k} {100 * np.nanmean(v):+.2f} % (n={len(v)})"
                                           for k, v in res.items()))


if __name__ == "__main__":
    main(sys.argv[1:])
