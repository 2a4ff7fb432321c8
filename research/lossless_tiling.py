"""Lossless tiles: does coding a frame in tiles (each with its own planes, tables, palette
and, from effort 4, its own choice of coder) pay on the train split?  (Issue #22.)

For the middle image(s) of each train source (every channel; no crop), the stream size at
efforts 3 and 4, whole frame against ``tile=T`` for each T given, per modality,
pixel-weighted, and the images where tiles win most.  Every stream is decoded and checked.

    PYTHONPATH=. python research/lossless_tiling.py CORPUS/train [--per-source 2] [--tiles 256,128]
"""

from __future__ import annotations

import argparse
import collections
import csv
import sys
from pathlib import Path

import numpy as np


def main() -> None:
    import mic
    from mic.io import read_image

    ap = argparse.ArgumentParser()
    ap.add_argument("split", type=Path)
    ap.add_argument("--per-source", type=int, default=2)
    ap.add_argument("--tiles", default="256")
    ap.add_argument("--efforts", default="3,4")
    args = ap.parse_args()
    if "eval" in {p.lower() for p in args.split.resolve().parts}:
        raise SystemExit("this probe reads the train split only")
    tiles = [int(t) for t in args.tiles.split(",")]
    efforts = [int(e) for e in args.efforts.split(",")]
    rows = [r for r in csv.DictReader(open(args.split.parent / "manifest.csv"))
            if r["split"] == args.split.name]
    by = collections.defaultdict(list)
    for r in rows:
        by[r["source"]].append(r)
    tot = collections.defaultdict(float)
    mod = collections.defaultdict(lambda: collections.defaultdict(float))
    best = []
    for src in sorted(by):
        rs = by[src]
        mid = len(rs) // 2
        for r in rs[max(0, mid - args.per_source // 2):][:args.per_source]:
            a, _ = read_image(str(args.split.parent / r["png"]))
            npx = a.shape[0] * a.shape[1]
            line = [f"{r['modality']:3s} {src[:26]:26s} {a.shape}"]
            for e in efforts:
                whole = mic.encode(a, effort=e)
                assert np.array_equal(mic.decode(whole), a)
                tot[(e, 0)] += 8 * len(whole)
                mod[r["modality"]][(e, 0)] += 8 * len(whole)
                line.append(f"e{e} {8 * len(whole) / npx:.3f}")
                for t in tiles:
                    b = mic.encode(a, effort=e, tile=t)
                    assert np.array_equal(mic.decode(b), a)
                    tot[(e, t)] += 8 * len(b)
                    mod[r["modality"]][(e, t)] += 8 * len(b)
                    line.append(f"t{t} {len(b) / len(whole):.3f}")
                    best.append((len(b) / len(whole), e, t, src))
            tot["px"] += npx
            mod[r["modality"]]["px"] += npx
            print("  ".join(line), flush=True)
    print("\n| modality | MP | " + " | ".join(
        f"e{e} whole bpp | " + " | ".join(f"e{e} t{t} / whole" for t in tiles) for e in efforts) + " |")
    print("|---" * (2 + len(efforts) * (1 + len(tiles))) + "|")
    for m in sorted(mod) + ["all"]:
        d = tot if m == "all" else mod[m]
        cells = []
        for e in efforts:
            cells.append(f"{d[(e, 0)] / d['px']:.3f}")
            cells += [f"{d[(e, t)] / d[(e, 0)]:.4f}" for t in tiles]
        print(f"| {m} | {d['px'] / 1e6:.2f} | " + " | ".join(cells) + " |")
    best.sort()
    print("\nlargest gains:", ", ".join(f"{s} e{e} t{t} {r:.3f}" for r, e, t, s in best[:6]))
    print("largest losses:", ", ".join(f"{s} e{e} t{t} {r:.3f}" for r, e, t, s in best[-6:]))


if __name__ == "__main__":
    sys.exit(main())
