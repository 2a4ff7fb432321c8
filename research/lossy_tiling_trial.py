"""Can a cheap trial choose the tiling for the default lossy effort (issue #20)?  On the
train split's images larger than 512: each quality coded in 512 x 512 tiles and in the
fewest even large tiles at efforts 1, 2 and 3, keeping bytes, squared error and encode
time; then BD-rate (PSNR) against 512 tiles at effort 3 of

* ``oracle``: effort 3 in the tiling of lower rate + lambda * distortion at effort 3
  (what the ``tilings`` tool of effort 6 does, at twice the encode time);
* ``e1-rd`` / ``e2-rd``: effort 3 in the tiling that an effort-1 / effort-2 coding of
  both prefers by rate + lambda * distortion (each trial decoded);
* ``e1-rate`` / ``e2-rate``: the same by the trial's bytes alone (no decode);
* ``large``: effort 3 always in large tiles.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=research .venv/bin/python \\
        research/lossy_tiling_trial.py CORPUS/train [per_source]

Finding: benches/results/2026-12-06-tilings-e3/tiling-trial-train.txt
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import mic
import mic.lossy.enc_tile as enc_tile
from mic.eval.bdrate import bd_rate
from mic.lossy.enc_tilings import DEFAULT_TILE, even_tiles
from train_sample import rate_psnr, sample_images

QUALITIES = (0, 2, 4, 6, 8, 10)
EFFORTS = (1, 2, 3)
_last: list = []
_plan = enc_tile.LossyTileEncoder.plan


def _keep(self, v):  # noqa: ANN001 - research hook: keep the encoder for its rd_cost
    _last[:] = [self]
    return _plan(self, v)


enc_tile.LossyTileEncoder.plan = _keep


def main(argv: list[str]) -> None:
    split = Path(argv[0])
    per_source = int(argv[1]) if len(argv) > 1 else 1
    policies = ("oracle", "e1-rd", "e2-rd", "e1-rate", "e2-rate", "large")
    res: dict[str, list[float]] = {k: [] for k in policies}
    for row, a, bits in sample_images(split, per_source=per_source, max_side=4096):
        if max(a.shape) <= DEFAULT_TILE:
            continue
        tiles = {"512": DEFAULT_TILE, "large": even_tiles(*a.shape)}
        # r[(effort, tiling)][qi] = (bits, sse, rd cost, encode s, rate-psnr point)
        r: dict[tuple[int, str], list] = {}
        for e in EFFORTS:
            for name, tile in tiles.items():
                out = []
                for q in QUALITIES:
                    t0 = time.perf_counter()
                    blob = mic.encode(a, quality=q, bits_stored=bits, tile=tile, effort=e)
                    dt = time.perf_counter() - t0
                    d = mic.decode(blob)
                    err = d.astype(np.float64) - a
                    sse = float(np.sum(err * err))
                    out.append((8 * len(blob), sse, _last[0].rd_cost(len(blob), sse), dt,
                                rate_psnr(8 * len(blob), a, d, bits)))
                r[(e, name)] = out
        base = [p[4] for p in r[(3, "512")]]
        cells = []
        for pol in policies:
            pts = []
            for qi in range(len(QUALITIES)):
                if pol == "large":
                    pick = "large"
                elif pol == "oracle":
                    pick = min(tiles, key=lambda n: r[(3, n)][qi][2])
                else:
                    e = int(pol[1])
                    k = 2 if pol.endswith("rd") else 0
                    pick = min(tiles, key=lambda n: r[(e, n)][qi][k])
                pts.append(r[(3, pick)][qi][4])
            bd = bd_rate(*zip(*base), *zip(*pts))
            res[pol].append(bd)
            cells.append(f"{pol} {100 * bd:+5.1f}")
        times = " ".join(f"e{e}:{sum(p[3] for p in r[(e, '512')]):.1f}/"
                         f"{sum(p[3] for p in r[(e, 'large')]):.1f}" for e in EFFORTS)
        print(f"{row['modality']:3s} {row['source'][:26]:26s} {a.shape[0]:5d}x{a.shape[1]:<5d} "
              + " ".join(cells) + f"  encode s 512/large {times}", flush=True)
    print("mean BD vs 512 tiles at effort 3: "
          + "  ".join(f"{k} {100 * np.nanmean(v):+.2f} %" for k, v in res.items())
          + f" (n={len(res['oracle'])})")


if __name__ == "__main__":
    main(sys.argv[1:])
