"""Near-lossless (mode 2) against CharLS JPEG-LS NEAR = k on a sample of the **train** split
(the split tuning may look at): whole mic streams (``mic.encode(a, max_error=k)``) and
``imagecodecs.jpegls_encode(a, level=k)``, pixel-weighted over up to ``--per-source`` images
of every source (planes above 2 MP cropped to 1024 x 1024), per image and per modality.

    PYTHONPATH=. python research/near_gain.py /work/shared/corpus/train [--per-source 2]
"""

from __future__ import annotations

import argparse
import csv
import pathlib
import random

import numpy as np


def pick_sample(root: pathlib.Path, per_source: int = 2) -> list[dict[str, str]]:
    """Manifest rows of the train sample: ``per_source`` images of every source (seed 1)."""
    rows = [r for r in csv.DictReader(open(root / "manifest.csv")) if r["split"] == "train"]
    by: dict[str, list] = {}
    for r in rows:
        by.setdefault(r["source"], []).append(r)
    random.seed(1)
    pick = []
    for _, rs in sorted(by.items()):
        pick += random.sample(rs, min(per_source, len(rs)))
    return pick


def main() -> None:
    import imagecodecs
    from PIL import Image

    import mic

    ap = argparse.ArgumentParser()
    ap.add_argument("train_dir")
    ap.add_argument("--per-source", type=int, default=2)
    ap.add_argument("--ks", default="1,2,4")
    a = ap.parse_args()
    root = pathlib.Path(a.train_dir).parent
    pick = pick_sample(root, a.per_source)
    ks = [int(k) for k in a.ks.split(",")]
    tot = {k: [0, 0] for k in ks}
    mods: dict[tuple[str, int], list[int]] = {}
    pixels = 0
    for r in pick:
        im = np.asarray(Image.open(root / r["png"]))
        if im.shape[0] * im.shape[1] > 2_000_000:
            im = np.ascontiguousarray(im[:1024, :1024])
        pixels += im.shape[0] * im.shape[1]
        bits = max(int(r["bits_stored"]), int(im.max()).bit_length(), 1)  # as mic bench does
        line = f"{r['modality']:3s} {r['source'][:22]:22s} {str(im.shape):16s}"
        for k in ks:
            m = len(mic.encode(im, max_error=k, bits_stored=bits))
            j = len(imagecodecs.jpegls_encode(im, level=k))
            tot[k][0] += m
            tot[k][1] += j
            mm = mods.setdefault((r["modality"], k), [0, 0])
            mm[0] += m
            mm[1] += j
            line += f"  k={k}: {m / j:.3f}"
        print(line, flush=True)
    print(f"\n{len(pick)} train images, {pixels / 1e6:.2f} MP; mic near-lossless bits / "
          "JPEG-LS NEAR bits, pixel-weighted:")
    for k in ks:
        m, j = tot[k]
        print(f"k={k}: mic {8 * m / pixels:.3f} bpp, JPEG-LS {8 * j / pixels:.3f} bpp, "
              f"ratio {m / j:.3f}")
    for mod in sorted({m for m, _ in mods}):
        print(f"  {mod:3s} " + "  ".join(f"k={k} {mods[(mod, k)][0] / mods[(mod, k)][1]:.3f}"
                                         for k in ks))


if __name__ == "__main__":
    main()
