"""The effort-3 region rule (``regions`` without ``region_search``): the smoothest
candidate (radius 6) against the exact one (radius 1) where its shape costs at most
``ratio`` times the smoothest's (``EncoderOptions.region_rule_exact_ratio``), BD-rate
on a train-split sample (per source), six qualities, default effort.

    .venv/bin/python research/region_rule.py /path/to/corpus/train [per_source] [ratios] [setting]

``setting`` (default ``region_rule_exact_ratio``) may name another float setting of the
rule, e.g. ``region_rule_contrast`` (the rule fires only where the region's edge steps
by at least this many times the RMS error the quality implies); the reference is the
setting at 0.

Finding: benches/results/2026-12-05-region-rule.txt.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import mic
from mic.eval.bdrate import bd_rate
from train_sample import rate_psnr, sample_images

QUALITIES = (0, 2, 4, 6, 8, 10)


SETTING = "region_rule_exact_ratio"


def curve(a: np.ndarray, bits: int, ratio: float) -> tuple[list[tuple[float, float]], list[bytes]]:
    o = mic.EncoderOptions(**{SETTING: ratio})
    blobs = [mic.encode(a, quality=q, bits_stored=bits, options=o) for q in QUALITIES]
    return [rate_psnr(8 * len(b), a, mic.decode(b), bits) for b in blobs], blobs


def main(argv: list[str]) -> None:
    global SETTING
    split = Path(argv[0])
    SETTING = argv[3] if len(argv) > 3 else SETTING
    per_source = int(argv[1]) if len(argv) > 1 else 1
    ratios = [float(v) for v in argv[2].split(",")] if len(argv) > 2 else [1.5, 3.0, 1e9]
    bds: dict[float, dict[str, list[float]]] = {r: {} for r in ratios}
    for row, a, bits in sample_images(split, per_source=per_source):
        base, bb = curve(a, bits, 0.0)
        line = f"{row['modality']:3s} {row['source'][:28]:28s} {a.shape[0]:5d}x{a.shape[1]:<5d}"
        for r in ratios:
            cur, cb = curve(a, bits, r)
            bd = 0.0 if cb == bb else bd_rate(*zip(*base), *zip(*cur))
            bds[r].setdefault(row["modality"], []).append(bd)
            line += f"  x{r:g}: {100 * bd:+6.1f} %"
        print(line, flush=True)
    for r in ratios:
        allv = [v for vs in bds[r].values() for v in vs]
        mods = "  ".join(f"{m} {100 * np.mean(v):+.1f} % ({len(v)})" for m, v in sorted(bds[r].items()))
        print(f"ratio {r:g}: all {100 * np.mean(allv):+.2f} % (n={len(allv)}; {mods})")


if __name__ == "__main__":
    main(sys.argv[1:])
