"""BD-rate and time of the default effort's tile size on the train split's images larger
than 512 (the only ones it changes): 512 x 512 tiles (the default up to 2026-12-05)
against the fewest even tiles of at most SIDE a side (``mic.lossy.even_tiles``), model and
tools of the effort, qualities 0-10 in steps of 2; one thread; times are the sums over the
qualities (encode, and the fastest of two decodes).

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python research/tile_side_gain.py CORPUS/train [SIDE] [EFFORT]

Finding: benches/results/2026-12-05-tile-side.txt
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_sample import rate_psnr, sample_images  # noqa: E402

import mic  # noqa: E402
from mic.eval.bdrate import bd_rate  # noqa: E402
from mic.lossy import even_tiles  # noqa: E402

QUALITIES = (0, 2, 4, 6, 8, 10)
SOURCES = ("pylibjpeg_cr_kakadu", "pylibjpeg_dx16", "fodicom_cr_lut", "fodicom_mg",
           "fodicom_mg2", "pylibjpeg_us8", "fodicom_us_jls", "mhh_covid_cxr8bit")


def curve(a: np.ndarray, bits: int, tile: object, effort: int) -> tuple[np.ndarray, float, float]:
    pts, te, td = [], 0.0, 0.0
    for q in QUALITIES:
        t = time.perf_counter()
        b = mic.encode(a, quality=q, bits_stored=bits, tile=tile, effort=effort)
        te += time.perf_counter() - t
        ds = []
        for _ in range(2):
            t = time.perf_counter()
            d = mic.decode(b)
            ds.append(time.perf_counter() - t)
        td += min(ds)
        pts.append(rate_psnr(8 * len(b), a, d, bits))
    return np.array(pts), te, td


def main(argv: list[str]) -> None:
    split = Path(argv[0])
    side = int(argv[1]) if len(argv) > 1 else 1024
    effort = int(argv[2]) if len(argv) > 2 else 3
    bds, tot = [], np.zeros(4)
    mic.encode(np.zeros((64, 64), np.uint16), quality=6, effort=effort)  # compile
    for row, a, bits in sample_images(split, per_source=3, max_side=4096, sources=SOURCES):
        if max(a.shape[:2]) <= 512:
            continue
        tile = even_tiles(a.shape[0], a.shape[1], side)
        c512, e512, d512 = curve(a, bits, 512, effort)
        cs, es, ds = curve(a, bits, tile, effort)
        bd = bd_rate(*c512.T, *cs.T)
        bds.append(bd)
        tot += (e512, es, d512, ds)
        print(f"{row['modality']:3s} {row['source'][:22]:22s} {a.shape[0]:5d}x{a.shape[1]:<5d} "
              f"tile {tile}: BD {100 * bd:+6.2f} %  encode {e512:6.2f} -> {es:6.2f} s  "
              f"decode {d512:6.3f} -> {ds:6.3f} s", flush=True)
    print(f"all n={len(bds)} side {side} effort {effort}: mean BD {100 * np.nanmean(bds):+6.2f} % "
          f"(median {100 * np.nanmedian(bds):+6.2f} %); encode {tot[0]:.1f} -> {tot[1]:.1f} s, "
          f"decode {tot[2]:.2f} -> {tot[3]:.2f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
