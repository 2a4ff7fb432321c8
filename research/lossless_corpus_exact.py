"""Issue #22's bit-exactness check: every image of the corpus (both splits), coded
losslessly at the default effort (and optionally others) and decoded back, compared sample
for sample with its source; prints counts, bits per pixel and any failure.

    PYTHONPATH=. .venv/bin/python research/lossless_corpus_exact.py CORPUS [EFFORT ...]

Finding: benches/results/2026-12-05-lossless-corpus-exact.txt
"""

from __future__ import annotations

import csv
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

import mic
from mic.io import read_image


def main(argv: list[str]) -> int:
    root = Path(argv[0])
    efforts = [int(e) for e in argv[1:]] or [3]
    rows = list(csv.DictReader(open(root / "manifest.csv", newline="")))
    bad: list[str] = []
    models: Counter[str] = Counter()
    bits = px = 0
    t0 = time.perf_counter()
    for n, r in enumerate(rows):
        a, _ = read_image(root / r["png"])
        for e in efforts:
            s = mic.encode(a, effort=e)
            d = mic.decode(s)
            models[f"effort {e}: {mic.info(s).model}"] += 1
            if d.dtype != a.dtype or d.shape != a.shape or not np.array_equal(d, a):
                bad.append(f"{r['png']} effort {e}")
            if e == efforts[0]:
                bits += 8 * len(s)
                px += a.size
        if (n + 1) % 250 == 0:
            print(f"{n + 1} images, {len(bad)} failures, {time.perf_counter() - t0:.0f} s",
                  flush=True)
    print(f"{len(rows)} images ({px / 1e6:.1f} M samples): {len(rows) * len(efforts) - len(bad)}"
          f" of {len(rows) * len(efforts)} streams decoded back exactly; {bits / px:.3f} bits "
          f"per sample at effort {efforts[0]}; models {dict(models)}; "
          f"{time.perf_counter() - t0:.0f} s")
    for b in bad:
        print("MISMATCH", b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
