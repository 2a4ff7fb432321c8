"""Near-lossless speed on one core: mic (mode 2) against CharLS JPEG-LS NEAR = k on the bundled
512 x 512 16-bit CT slice (``mic/data/ct_abdomen.png``, 12 bits used), and the lossless modes
of both for reference.  The four operations are timed in turn within each round (so a busy
machine slows all of them alike) and the medians reported, with mic's time per megapixel as
a multiple of CharLS's.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benches/near_speed.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np


def main() -> None:
    import imagecodecs
    from PIL import Image

    import mic

    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--ks", default="0,1,2,4")
    a = ap.parse_args()
    path = Path(__file__).resolve().parents[1] / "mic" / "data" / "ct_abdomen.png"
    img = np.asarray(Image.open(path))
    mp = img.size / 1e6
    mic.decode(mic.encode(img[:64, :64], max_error=1))  # compile the kernels
    print(f"# {path.name} {img.shape} {img.dtype}; medians of {a.rounds} rounds\n")
    print("| k | mic bpp | JPEG-LS bpp | mic / JPEG-LS bits | mic enc MP/s | mic dec MP/s | "
          "CharLS enc MP/s | CharLS dec MP/s | enc time / CharLS | dec time / CharLS |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for k in (int(x) for x in a.ks.split(",")):
        t: dict[str, list[float]] = {"me": [], "md": [], "je": [], "jd": []}
        blob = jls = b""
        for _ in range(a.rounds):
            t0 = time.perf_counter()
            blob = mic.encode(img, max_error=k)
            t1 = time.perf_counter()
            out = mic.decode(blob)
            t2 = time.perf_counter()
            jls = imagecodecs.jpegls_encode(img, level=k)
            t3 = time.perf_counter()
            jout = imagecodecs.jpegls_decode(jls)
            t4 = time.perf_counter()
            for key, dt in zip(t, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                t[key].append(dt)
        for got in (out, jout):
            assert int(np.abs(got.astype(np.int64) - img).max()) <= k
        me, md, je, jd = (statistics.median(t[key]) for key in ("me", "md", "je", "jd"))
        print(f"| {k} | {8 * len(blob) / img.size:.3f} | {8 * len(jls) / img.size:.3f} | "
              f"{len(blob) / len(jls):.3f} | {mp / me:.1f} | {mp / md:.1f} | {mp / je:.1f} | "
              f"{mp / jd:.1f} | x {me / je:.2f} | x {md / jd:.2f} |")


if __name__ == "__main__":
    main()
