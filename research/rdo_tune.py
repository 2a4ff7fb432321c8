"""Tune the encoder's RD-rounding Lagrangian scale (``mic.EncoderOptions.rdo_lambda_scale``,
once ``mic.lossy.RDO_LAMBDA_SCALE``) on the
corpus **train** split: BD-rate (PSNR) of each scale against plain rounding, per image.

    .venv/bin/python research/rdo_tune.py /path/to/corpus/train [--model wavelet-context] [--scales 1,1.4,2]

One image (the middle one, cropped to 1024²) of each of a fixed list of train sources; the
decoder is the same for every scale, only the encoder's choices change.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import mic
from mic.lossy import qualities
from mic.eval.bdrate import bd_rate
from train_sample import rate_psnr, sample_images

SOURCES = ("fnndsc_abdomen", "tcga_luad_kmader", "fnndsc_adi_brain", "uih_t1_3d", "fnndsc_pet",
           "pylibjpeg_cr_kakadu", "fodicom_mg2", "mhh_covid_cxr8bit")


def curve(a: np.ndarray, bits: int, model: str, rdo: bool, scale: float = 1.0) -> np.ndarray:
    out = []
    options = mic.EncoderOptions(model=model, rdo=rdo, rdo_lambda_scale=scale)
    for q in qualities(model):
        blob = mic.encode(a, quality=q, bits_stored=bits, options=options)
        out.append(rate_psnr(8 * len(blob), a, mic.decode(blob), bits))
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path, help="the corpus train split folder (../manifest.csv)")
    ap.add_argument("--model", default="wavelet-context")
    ap.add_argument("--scales", default="1,1.4,2")
    args = ap.parse_args()
    scales = [float(s) for s in args.scales.split(",")]
    res: dict[float, list[float]] = {s: [] for s in scales}
    for r, a, bits in sample_images(args.data, sources=SOURCES):
        base = curve(a, bits, args.model, rdo=False)
        cells = []
        for s in scales:
            c = curve(a, bits, args.model, rdo=True, scale=s)
            res[s].append(bd_rate(base[:, 0], base[:, 1], c[:, 0], c[:, 1]))
            cells.append(f"x{s:g} {100 * res[s][-1]:+5.1f} %")
        print(f"{r['source']:22s} " + "  ".join(cells), flush=True)
    print("mean vs plain rounding: " + "  ".join(f"x{s:g} {100 * np.mean(v):+5.1f} %"
                                                 for s, v in res.items()))


if __name__ == "__main__":
    main()
