"""Lossless bits per pixel (pixel-weighted, per modality) of two efforts on a corpus split,
every stream decoded back and compared, and the total encode time of each.

    PYTHONPATH=. .venv/bin/python research/lossless_efforts.py /work/shared/corpus/eval 3 4

Finding (efforts 3 and 4 on eval: 4.266 and 4.227 bpp): README "Effort levels (lossless)",
benches/results/2026-12-05-lossless-efforts.txt.
"""

from __future__ import annotations

import collections
import sys
import time
from pathlib import Path

import numpy as np

import mic
from mic.io import read_image


def main(argv: list[str]) -> None:
    split, efforts = Path(argv[0]), [int(e) for e in argv[1:]] or [3, 4]
    bits: collections.Counter = collections.Counter()
    px: collections.Counter = collections.Counter()
    secs: collections.Counter = collections.Counter()
    for p in sorted(split.glob("*/*.png")):
        a, _ = read_image(p)
        mod, n = p.parent.name, a.shape[0] * a.shape[1]
        for e in efforts:
            mic.encode(a[:64, :64], effort=e)  # (compiled before the clock starts)
            t = time.perf_counter()
            b = mic.encode(a, effort=e)
            secs[e] += time.perf_counter() - t
            if not np.array_equal(mic.decode(b), a):
                raise SystemExit(f"{p}: effort {e} does not decode back")
            bits[(mod, e)] += 8 * len(b)
            bits[("all", e)] += 8 * len(b)
        px[mod] += n
        px["all"] += n
    for mod in sorted(px, key=lambda m: (m == "all", m)):
        row = "  ".join(f"e{e} {bits[(mod, e)] / px[mod]:.3f}" for e in efforts)
        print(f"{mod:4s} {row}  ratio {bits[(mod, efforts[-1])] / bits[(mod, efforts[0])]:.3f}")
    print("encode s " + "  ".join(f"e{e} {secs[e]:.1f}" for e in efforts))


if __name__ == "__main__":
    main(sys.argv[1:])
