"""Issue #22 item 4's guarantee on the whole corpus: every image of both splits coded
near-lossless (``max_error=k``) at the given efforts and decoded back, each decoded sample
within ``k`` of its source (and the stream's sample CRC-32 checked by the decoder); prints
counts, bits per sample, the models written and any failure.

    PYTHONPATH=. .venv/bin/python research/near_corpus_bound.py CORPUS [K:EFFORT ...]

(default ``1:3 4:3 2:1``).  Finding: benches/results/2026-12-07-near-fast/corpus-bound.txt
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
    runs = [tuple(int(x) for x in a.split(":")) for a in argv[1:]] or [(1, 3), (4, 3), (2, 1)]
    rows = list(csv.DictReader(open(root / "manifest.csv", newline="")))
    bad: list[str] = []
    models: Counter[str] = Counter()
    bits = Counter()
    px = 0
    t0 = time.perf_counter()
    for n, r in enumerate(rows):
        a, _ = read_image(root / r["png"])
        bs = max(int(r["bits_stored"]), int(a.max()).bit_length(), 2)
        for k, e in runs:
            kk = min(k, (1 << (bs - 1)) - 1)
            s = mic.encode(a, max_error=kk, effort=e, bits_stored=bs)
            d = mic.decode(s)
            models[f"k={k} effort {e}: {mic.info(s).model_id}"] += 1
            err = int(np.abs(d.astype(np.int64) - a.astype(np.int64)).max())
            if d.dtype != a.dtype or d.shape != a.shape or err > kk:
                bad.append(f"{r['png']} k={kk} effort {e}: max error {err}")
            bits[(k, e)] += 8 * len(s)
        px += a.size
        if (n + 1) % 250 == 0:
            print(f"{n + 1} images, {len(bad)} failures, {time.perf_counter() - t0:.0f} s",
                  flush=True)
    print(f"{len(rows)} images ({px / 1e6:.1f} M samples): {len(rows) * len(runs) - len(bad)} "
          f"of {len(rows) * len(runs)} streams within their k; bits per sample " +
          ", ".join(f"k={k} effort {e} {b / px:.3f}" for (k, e), b in bits.items()) +
          f"; model ids {dict(models)}; {time.perf_counter() - t0:.0f} s")
    for b in bad:
        print("BEYOND K", b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
