"""BD-rate of the lossy encoder's tiling choice (no ``tile=``: 512 x 512 tiles or the
fewest even tiles of at most 2048 a side, whichever costs less rate + lambda *
distortion, ``mic.lossy.tilings``) against 512 x 512 tiles alone (the default before
2026-12-02) and of the large tiles alone (``--large``), on the train split's large
images (only those can differ), model wavelet-context, all tools on; also, per quality, the rate
change at the PSNR the 512 curve reaches there.

    .venv/bin/python research/tile_gain.py /path/to/corpus/train [--large] [source,...]
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from mic.eval.bdrate import bd_rate
from mic.lossy import tilings
from train_sample import rd_curve, sample_images

QUALITIES = (0, 2, 4, 6, 8, 10)
LARGE = ("pylibjpeg_cr_kakadu", "pylibjpeg_dx16", "fodicom_cr_lut", "fodicom_mg",
         "fodicom_mg2", "pylibjpeg_us8", "fodicom_us_jls")


def main(argv: list[str]) -> None:
    large = "--large" in argv
    argv = [a for a in argv if a != "--large"]
    split = Path(argv[0])
    sources = argv[1].split(",") if len(argv) > 1 else LARGE
    bds = []
    for row, a, bits in sample_images(split, per_source=1, max_side=4096, sources=sources):
        curves = {}
        for name, tile in (("512", 512), ("default", tilings(*a.shape)[-1] if large else None)):
            curves[name] = np.array(rd_curve(a, bits, QUALITIES, tile=tile))
        bd = bd_rate(*curves["512"].T, *curves["default"].T)
        bds.append(bd)
        ref = curves["512"]
        per_q = []
        for (bpp, p) in curves["default"]:
            if ref[:, 1].min() <= p <= ref[:, 1].max():
                lr = np.interp(p, ref[:, 1], np.log(ref[:, 0]))
                per_q.append(f"{100 * (bpp / math.exp(lr) - 1):+5.1f}")
            else:
                per_q.append("    .")
        print(f"{row['modality']:3s} {row['source'][:24]:24s} {a.shape[0]:5d}x{a.shape[1]:<5d} "
              f"tilings {tilings(*a.shape)}  BD {100 * bd:+6.2f} %   per quality "
              f"{QUALITIES}: {' '.join(per_q)} %", flush=True)
    print(f"all n={len(bds)} mean BD {100 * np.nanmean(bds):+6.2f} %")


if __name__ == "__main__":
    main(sys.argv[1:])
