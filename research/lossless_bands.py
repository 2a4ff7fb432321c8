"""The default lossless coder against itself with one switch off (``--off``): model id 18's
bands (SPEC 5.11) against model 16 (``--off bands``, the default), model id 20's low classes
(SPEC 5.12) against model 18 (``--off low``), at the default effort: the train sample of
``make_tables16`` (both halves: neither fits anything), per source, or any folder's images
(eval: measuring only), coded both ways and decoded back exactly.

    PYTHONPATH=. OMP_NUM_THREADS=1 python research/lossless_bands.py CORPUS/train [--off low]
    PYTHONPATH=. OMP_NUM_THREADS=1 python research/lossless_bands.py CORPUS/eval --all
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
    ap.add_argument("--per-source", type=int, default=8)
    ap.add_argument("--effort", type=int, default=None)
    ap.add_argument("--off", default="bands", help="the switch the baseline turns off")
    a = ap.parse_args()
    rows, paths = sample_or_split(a.folder, a.all, a.per_source)
    agg = collections.defaultdict(lambda: np.zeros(6))
    for path in paths:
        r = rows[str(path.relative_to(a.folder.parent))]
        img = np.asarray(Image.open(path))
        out = []
        for kw in ({}, {a.off: False}):
            t0 = time.perf_counter()
            b = mic.encode(img, effort=a.effort, **kw)
            t1 = time.perf_counter()
            d = mic.decode(b)
            t2 = time.perf_counter()
            assert np.array_equal(d, img), path
            out.append((len(b), t1 - t0, t2 - t1, mic.info(b).model_id))
        (n18, e18, d18, m18), (n16, e16, d16, m16) = out  # the default, the baseline
        key = r["modality"] if a.all else r["source"]
        for k in (key, "all"):
            agg[k] += [n18, n16, img.size, e18 / e16, d18 / d16, 1]
        print(f"{key:20s} {path.name[:40]:40s} {str(img.shape):15s} model {m16}: {n16:8d}  "
              f"model {m18}: {n18:8d}  {n18 / n16:.4f}  enc x{e18 / e16:.2f} dec x{d18 / d16:.2f}",
              flush=True)
    print(f"\n{int(agg['all'][5])} images, every stream decoded back exactly\n")
    print(f"| group | images | MP | {a.off}=False bytes | default bytes | default / {a.off}=False "
          "| enc time | dec time |")
    print("|---|---|---|---|---|---|---|---|")
    for m, v in sorted(agg.items(), key=lambda kv: kv[0] == "all"):
        print(f"| {m} | {int(v[5])} | {v[2] / 1e6:.2f} | {int(v[1])} | {int(v[0])} | "
              f"{v[0] / v[1]:.4f} | x{v[3] / v[5]:.2f} | x{v[4] / v[5]:.2f} |")


if __name__ == "__main__":
    main()
