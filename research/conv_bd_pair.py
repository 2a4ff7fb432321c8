"""BD-rate (PSNR) of one mic lossy codec between two ``mic bench`` result CSVs of the same
images, per image and on average: two sets of weights of a model compared through the
codec (issue #21's export check, on train images only).

    python research/conv_bd_pair.py OLD/results.csv NEW/results.csv [--codec mic-vae]

Finding: benches/results/2026-12-05-seed-table-4/README.md (the vae at step 12,835 of its
restart against the weights shipped at step 44,970, on 20 train images).
"""

from __future__ import annotations

import argparse
import csv

import numpy as np

from mic.eval.bdrate import bd_rate


def load(path: str, codec: str) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    for r in csv.DictReader(open(path, newline="")):
        if r["codec"] == codec and not r["error"]:
            out.setdefault(r["image"], []).append((float(r["bpp"]), float(r["psnr"])))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--codec", default="mic-vae")
    a = ap.parse_args()
    old, new = load(a.old, a.codec), load(a.new, a.codec)
    bds = []
    for im in sorted(set(old) & set(new)):
        ro, po = zip(*sorted(old[im]))
        rn, pn = zip(*sorted(new[im]))
        v = bd_rate(ro, po, rn, pn)
        bds.append(v)
        print(f"{im[:40]:40s} {100 * v:+6.1f} %")
    ok = [v for v in bds if not np.isnan(v)]
    print(f"mean {100 * np.mean(ok):+.1f} % over {len(ok)} images (of {len(bds)}); "
          f"new better on {sum(v < 0 for v in ok)}")


if __name__ == "__main__":
    main()
