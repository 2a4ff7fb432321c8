"""The near-lossless default against itself with one switch off (``--off``): model id 19's
bands (SPEC 7.8) against model 17 (``--off bands``, the default), model id 21's low classes
(SPEC 7.9) against model 19 (``--off low``), at the default effort: the train sample of
``make_tables16`` (both halves, 4 a source) or any folder's images (eval: measuring only), at
k = 1, 2 and 4, each stream decoded back and checked within k.

    PYTHONPATH=. OMP_NUM_THREADS=1 python research/near_bands.py CORPUS/train [--off low]
"""

from __future__ import annotations

import argparse
import collections
import pathlib
import time

import numpy as np
from PIL import Image

import mic
from mic.lossless.make_tables16 import sample_or_split


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=pathlib.Path)
    ap.add_argument("--all", action="store_true", help="every image of the folder's split")
    ap.add_argument("--per-source", type=int, default=4)
    ap.add_argument("--off", default="bands", help="the switch the baseline turns off")
    a = ap.parse_args()
    rows, paths = sample_or_split(a.folder, a.all, a.per_source)
    for k in (1, 2, 4):
        agg = collections.defaultdict(lambda: np.zeros(5))
        for path in paths:
            r = rows[str(path.relative_to(a.folder.parent))]
            img = np.asarray(Image.open(path))
            out = []
            for kw in ({}, {a.off: False}):
                t0 = time.perf_counter()
                b = mic.encode(img, max_error=k, **kw)
                t1 = time.perf_counter()
                d = mic.decode(b)
                t2 = time.perf_counter()
                err = int(np.abs(d.astype(np.int64) - img.astype(np.int64)).max())
                assert err <= k, (path, k, kw)
                out.append((len(b), t1 - t0, t2 - t1))
            (n19, e19, d19), (n17, e17, d17) = out
            for key in (r["source"], "all"):
                agg[key] += [n19, n17, e19 / e17, d19 / d17, 1]
        v = agg["all"]
        print(f"k={k}: {int(v[4])} images, every sample within k; default / {a.off}=False bytes "
              f"{v[0] / v[1]:.4f}, encode time x{v[2] / v[4]:.2f}, decode x{v[3] / v[4]:.2f}; "
              "per source: " + ", ".join(f"{s} {x[0] / x[1]:.3f}" for s, x in sorted(agg.items())
                                          if s != "all"), flush=True)


if __name__ == "__main__":
    main()
