"""BD-rate of lossy encoder settings against the defaults on a train-split sample (issue
#20): ``mic.EncoderOptions(**settings)`` against ``mic.EncoderOptions()``, six qualities,
per source; whole images up to ``max_side`` (default 4096, so the tilings of large frames
are as ``mic.encode`` makes them).

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=research .venv/bin/python \\
        research/setting_gain.py CORPUS/train region_rule_fraction=0.02,region_rule_max_fraction=0.95 [per_source [max_side]]
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


def parse(spec: str) -> dict:
    out = {}
    for kv in spec.split(","):
        k, v = kv.split("=")
        out[k] = {"true": True, "false": False}.get(v.lower(), None)
        if out[k] is None:
            out[k] = float(v) if "." in v or "e" in v else int(v)
    return out


def main(argv: list[str]) -> None:
    split, settings = Path(argv[0]), parse(argv[1])
    per_source = int(argv[2]) if len(argv) > 2 else 1
    max_side = int(argv[3]) if len(argv) > 3 else 4096
    ref_o, new_o = mic.EncoderOptions(), mic.EncoderOptions(**settings)
    bds: dict[str, list[float]] = {}
    for row, a, bits in sample_images(split, per_source=per_source, max_side=max_side):
        curves: dict[str, list] = {"ref": [], "new": []}
        same, t = True, {"ref": 0.0, "new": 0.0}
        for q in QUALITIES:
            blobs = {}
            for k, o in (("ref", ref_o), ("new", new_o)):
                t0 = time.perf_counter()
                blobs[k] = mic.encode(a, quality=q, bits_stored=bits, options=o)
                t[k] += time.perf_counter() - t0
                curves[k].append(rate_psnr(8 * len(blobs[k]), a, mic.decode(blobs[k]), bits))
            same &= blobs["ref"] == blobs["new"]
        bd = 0.0 if same else bd_rate(*zip(*curves["ref"]), *zip(*curves["new"]))
        bds.setdefault(row["modality"], []).append(bd)
        print(f"{row['modality']:3s} {row['source'][:28]:28s} {a.shape[0]:5d}x{a.shape[1]:<5d} "
              f"BD {100 * bd:+6.2f} %{' (same bytes)' if same else ''}  encode "
              f"{t['ref']:.1f} -> {t['new']:.1f} s", flush=True)
    allv = [v for vs in bds.values() for v in vs]
    mods = "  ".join(f"{m} {100 * np.mean(v):+.2f} % ({len(v)})" for m, v in sorted(bds.items()))
    print(f"{argv[1]}: all {100 * np.mean(allv):+.3f} % (n={len(allv)}; {mods})")


if __name__ == "__main__":
    main(sys.argv[1:])
