"""BD-rate of per-pass table biases (SPEC 6.4, xform flag 32) against per-band ones
(``mic.EncoderOptions(pass_biases=False)``), default encoder otherwise, model wavelet-context, on a train-split
sample (one image per source, cropped to 512), six qualities.

    .venv/bin/python research/pass_bias_gain.py /path/to/corpus/train
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import mic
from mic.eval.bdrate import bd_rate
from train_sample import rd_curve, sample_images

QUALITIES = (0, 2, 4, 6, 8, 10)


def main(argv: list[str]) -> None:
    bds = []
    for row, a, bits in sample_images(Path(argv[0]), max_side=512):
        curves = {}
        for on in (False, True):
            curves[on] = rd_curve(a, bits, QUALITIES,
                                  options=mic.EncoderOptions(pass_biases=on))
        bd = bd_rate(*zip(*curves[False]), *zip(*curves[True]))
        bds.append(bd)
        print(f"{row['modality']:3s} {row['source'][:30]:30s} {a.shape[0]:5d}x{a.shape[1]:<5d} "
              f"BD {100 * bd:+6.2f} %", flush=True)
    print(f"all n={len(bds)} mean BD {100 * np.nanmean(bds):+6.2f} %")


if __name__ == "__main__":
    main(sys.argv[1:])
