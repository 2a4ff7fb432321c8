"""Would the default lossless encoder lose bytes if it ranked a sparse plane's palette and
plain codings on a quarter of its rows, instead of coding the whole plane both ways?

For every grayscale image of a split whose plane the default encoder codes both ways (its
histogram sparse: ``mic.lossless.encoder.offer_palette``), this codes the whole plane with
and without its palette (model 20's plane coder) and the row sample
(``mic.lossless.encoder_near._rows_sample``, four runs of rows, a quarter of the plane) with
and without, then scores rules: code only the way the sample says, unless the two
sample sizes are within ``margin`` of each other, then both.  Prints the bytes each rule
loses against coding both ways, the images it misranks and the share of the both-ways
time it saves (the time of the plane codings, on this machine).

    OMP_NUM_THREADS=1 PYTHONPATH=. python research/lossless_palette_rank.py CORPUS/train
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np


def main() -> None:
    from mic.io import read_image
    from mic.lossless import kernels_fast_enc as KE
    from mic.lossless.encoder import offer_palette
    from mic.lossless.encoder_fast import encode_plane_fast
    from mic.lossless.encoder_near import _rows_sample

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("split", type=Path)
    ap.add_argument("--min-samples", type=int, default=1 << 16)
    ap.add_argument("--margins", type=float, nargs="*", default=[0.0, 0.01, 0.02, 0.05])
    a = ap.parse_args()
    with open(a.split.parent / "manifest.csv") as f:
        rows = list(csv.DictReader(f))
    kw = {"lms": True, "prior": True, "bands": True, "low": True}
    recs = []
    for r in rows:
        if r["split"] != a.split.name:
            continue
        img = read_image(a.split.parent / r["png"])[0]
        if img.ndim != 2 or img.size < a.min_samples:
            continue
        p = img.astype(np.int32)
        x = p - int(p.min())
        mv = int(x.max())
        if mv < 3 or not offer_palette(KE.value_counts(x, mv)):
            continue
        t0 = time.perf_counter()
        full = [len(encode_plane_fast(p, 1, **kw)), len(encode_plane_fast(p, 0, **kw))]
        t1 = time.perf_counter()
        s = _rows_sample(p)
        samp = [len(encode_plane_fast(s, 1, **kw)), len(encode_plane_fast(s, 0, **kw))]
        t2 = time.perf_counter()
        recs.append((r["png"], img.shape, full, samp, t1 - t0, t2 - t1))
        print(f"{r['png'][:70]:70s} {img.shape} full pal/plain {full} sample {samp}",
              flush=True)
    both = sum(min(f) for _, _, f, _, _, _ in recs)
    t_both = sum(t for *_, t, _ in recs)
    print(f"\n# {len(recs)} planes coded both ways; {both} bytes; {t_both:.1f} s both ways")
    for m in a.margins:
        lost, wrong, t_rule = 0, [], 0.0
        for path, shape, f, s, tf, ts in recs:
            close = abs(s[0] - s[1]) <= m * min(s)
            t_rule += ts + (tf if close else tf / 2)
            if close:
                continue
            pick = f[0] if s[0] < s[1] else f[1]
            if pick > min(f):
                lost += pick - min(f)
                wrong.append((path, pick / min(f) - 1))
        print(f"margin {m:.2f}: loses {lost} bytes ({lost / both:.4%}); misranked "
              f"{len(wrong)} (worst {max([w for _, w in wrong], default=0):.3%}); time "
              f"{t_rule / t_both:.2f} of both ways")
        for path, w in wrong:
            print(f"   {path} +{w:.3%}")


if __name__ == "__main__":
    sys.exit(main())
