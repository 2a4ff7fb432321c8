"""BD-rate (and decode time) of one lossy model against another at one effort, on a
train-split sample (one image per source, six qualities): e.g. the distilled
``wavelet-context-fast`` (model id 11) against its teacher ``wavelet-context`` (id 6).

    .venv/bin/python research/model_gain.py /path/to/corpus/train wavelet-context wavelet-context-fast [effort] [per_source]

Prints per image the BD-rate of B against A (negative: B smaller) and each model's
decode time summed over the six qualities, then the means per modality and overall.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import mic
from mic.eval.bdrate import bd_rate
from train_sample import rate_psnr, sample_images

QUALITIES = (0, 2, 4, 6, 8, 10)


def main(argv: list[str]) -> None:
    split, model_a, model_b = Path(argv[0]), argv[1], argv[2]
    effort = int(argv[3]) if len(argv) > 3 else 3
    per_source = int(argv[4]) if len(argv) > 4 else 1
    bds: dict[str, list[float]] = {}
    dec = {model_a: 0.0, model_b: 0.0}
    for row, a, bits in sample_images(split, per_source=per_source):
        curves: dict[str, list[tuple[float, float]]] = {model_a: [], model_b: []}
        t = {model_a: 0.0, model_b: 0.0}
        for q in QUALITIES:
            for m in (model_a, model_b):
                blob = mic.encode(a, quality=q, bits_stored=bits, model=m, effort=effort)
                d = mic.decode(blob)  # (first call: warm)
                t0 = time.perf_counter()
                d = mic.decode(blob)
                t[m] += time.perf_counter() - t0
                curves[m].append(rate_psnr(8 * len(blob), a, d, bits))
        bd = bd_rate(*zip(*curves[model_a]), *zip(*curves[model_b]))
        bds.setdefault(row["modality"], []).append(bd)
        for m in dec:
            dec[m] += t[m]
        print(f"{row['modality']:3s} {row['source'][:30]:30s} {a.shape[0]:5d}x{a.shape[1]:<5d} "
              f"BD {100 * bd:+6.2f} %  decode {1e3 * t[model_a]:.0f} -> {1e3 * t[model_b]:.0f} ms",
              flush=True)
    allv = [v for vs in bds.values() for v in vs]
    for mod, vs in sorted(bds.items()):
        print(f"{mod:3s} n={len(vs):2d} mean BD {100 * np.nanmean(vs):+6.2f} %")
    print(f"all n={len(allv)} mean BD of {model_b} against {model_a} at effort {effort}: "
          f"{100 * np.nanmean(allv):+6.2f} % (median {100 * np.nanmedian(allv):+.2f} %); "
          f"decode {dec[model_a]:.2f} s -> {dec[model_b]:.2f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
