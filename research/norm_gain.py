"""BD-rate of normalising every tile of an image alike (the encoder's default since
2026-12-02: the bits of the image's largest span, ``LossyTileEncoder.plan``) against each
tile by its own span (the encoder before), on the train split's large images (only
images of more than one tile can differ), model wavelet-context, six qualities, default 512 tiles.

    .venv/bin/python research/norm_gain.py /path/to/corpus/train [source,source,...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import mic.lossy as lossy
from mic.eval.bdrate import bd_rate
from train_sample import rd_curve, sample_images

QUALITIES = (0, 2, 4, 6, 8, 10)
LARGE = ("pylibjpeg_cr_kakadu", "pylibjpeg_dx16", "fodicom_cr_lut", "fodicom_mg",
         "fodicom_mg2", "pylibjpeg_us8", "fodicom_us_jls")


def main(argv: list[str]) -> None:
    split = Path(argv[0])
    sources = argv[1].split(",") if len(argv) > 1 else LARGE
    shared = lossy.LossyTileEncoder.plan
    bds = []
    for row, a, bits in sample_images(split, per_source=1, max_side=4096, sources=sources):
        curves = {}
        for name, plan in (("own", lambda self, v: None), ("shared", shared)):
            lossy.LossyTileEncoder.plan = plan
            curves[name] = rd_curve(a, bits, QUALITIES)
        lossy.LossyTileEncoder.plan = shared
        bd = bd_rate(*zip(*curves["own"]), *zip(*curves["shared"]))
        bds.append(bd)
        print(f"{row['modality']:3s} {row['source'][:30]:30s} {a.shape[0]:5d}x{a.shape[1]:<5d} "
              f"BD {100 * bd:+6.2f} %", flush=True)
    print(f"all n={len(bds)} mean BD {100 * sum(bds) / len(bds):+6.2f} %")


if __name__ == "__main__":
    main(sys.argv[1:])
