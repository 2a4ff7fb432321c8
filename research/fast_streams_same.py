"""Check that a kernel change keeps every stream: each corpus image encoded by the working
tree and by mic at git revision ``--old`` (extracted as the package ``micb``, as
``research/fast_kernel_ab.py`` does), losslessly at the default and at effort 1 and
near-losslessly at the given k, the two streams compared byte for byte.  Prints the count
and every image whose streams differ.

    OMP_NUM_THREADS=1 PYTHONPATH=. python research/fast_streams_same.py CORPUS --old HEAD
"""

from __future__ import annotations

import argparse
import csv
import importlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fast_kernel_ab import old_package  # noqa: E402


def main() -> None:
    from mic.io import read_image

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path, help="folder with manifest.csv")
    ap.add_argument("--old", default="HEAD")
    ap.add_argument("--near", type=int, nargs="*", default=[1, 4])
    ap.add_argument("--limit", type=int, default=0, help="images (0: all)")
    args = ap.parse_args()
    sys.path.insert(0, str(old_package(args.old)))
    new = importlib.import_module("mic")
    old = importlib.import_module("micb")
    with open(args.corpus / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if args.limit:
        rows = rows[:args.limit]
    modes = ([("lossless", {}), ("effort 1", {"effort": 1})]
             + [(f"k={k}", {"max_error": k}) for k in args.near])
    same = {m: 0 for m, _ in modes}
    t0 = time.time()
    for r in rows:
        a, _ = read_image(str(args.corpus / r["png"]))
        bits = int(r["bits_stored"])
        kw0 = {"bits_stored": bits} if 1 <= bits <= 8 * a.dtype.itemsize else {}
        for m, kw in modes:
            if "max_error" in kw and (bits < 2 or kw["max_error"] >= 1 << (bits - 1)):
                same[m] += 1  # no near-lossless coding at this depth: nothing to compare
                continue
            sn = new.encode(a, **kw0, **kw)
            so = old.encode(a, **kw0, **kw)
            if sn == so:
                same[m] += 1
            else:
                print(f"DIFFERS {m} {r['png']} {len(sn)} {len(so)}", flush=True)
    print(f"# {len(rows)} images, --old {args.old}, {time.time() - t0:.0f} s")
    for m, _ in modes:
        print(f"{m}: {same[m]} of {len(rows)} streams byte-identical")


if __name__ == "__main__":
    main()
