"""Model id 16's priors (SPEC 5.10) against model 14/15 at the default effort: every image of
the half of the train sample that ``make_tables16`` did not fit on (``--half 1``), or any
folder's images (eval: measuring only), coded both ways and decoded back exactly.

    PYTHONPATH=. OMP_NUM_THREADS=1 python research/lossless_priors.py CORPUS/train
    PYTHONPATH=. OMP_NUM_THREADS=1 python research/lossless_priors.py CORPUS/eval --all
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
    ap.add_argument("--per-source", type=int, default=16)
    a = ap.parse_args()
    rows, paths = sample_or_split(a.folder, a.all, a.per_source, (1,))
    agg = collections.defaultdict(lambda: np.zeros(5))
    for path in paths:
        r = rows[str(path.relative_to(a.folder.parent))]
        img = np.asarray(Image.open(path))
        out = []
        for kw in ({}, {"priors": False}):
            t0 = time.perf_counter()
            b = mic.encode(img, **kw)
            t1 = time.perf_counter()
            d = mic.decode(b)
            t2 = time.perf_counter()
            assert np.array_equal(d, img), path
            out.append((len(b), t1 - t0, t2 - t1, mic.info(b).model_id))
        (n16, e16, d16, m16), (n14, e14, d14, m14) = out
        agg[r["modality"]] += [n16, n14, img.size, e16 / e14, 1]
        agg["all"] += [n16, n14, img.size, e16 / e14, 1]
        print(f"{r['modality']:3s} {path.name[:44]:44s} {str(img.shape):15s} model {m14}: {n14:8d}"
              f"  model {m16}: {n16:8d}  {n16 / n14:.4f}  enc x{e16 / e14:.2f} dec x{d16 / d14:.2f}")
    print(f"\n{int(agg['all'][4])} images, every stream decoded back exactly\n")
    print("| modality | images | MP | model 14/15 bytes | model 16 bytes | 16 / 14 |")
    print("|---|---|---|---|---|---|")
    for m, v in sorted(agg.items(), key=lambda kv: kv[0] == "all"):
        print(f"| {m} | {int(v[4])} | {v[2] / 1e6:.2f} | {int(v[1])} | {int(v[0])} | "
              f"{v[0] / v[1]:.4f} |")


if __name__ == "__main__":
    main()
