"""Near-lossless speed on one core: mic (mode 2) against CharLS JPEG-LS NEAR = k on the bundled
512 x 512 16-bit CT slice (``mic/data/ct_abdomen.png``, 12 bits used), and the lossless modes
of both for reference.  The four operations are timed in turn within each round (so a busy
machine slows all of them alike) and the medians reported, with mic's time per megapixel as
a multiple of CharLS's: the default effort (model id 19, SPEC 7.8) and effort 1 (model id
17, SPEC 7.7), and with ``--old`` the models the encoder wrote before (``bands=False``: 17;
``fast_nlms=False``: 12, and 2 at effort 1).

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benches/near_speed.py [--rounds 15] [--old]
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
    ap.add_argument("--old", action="store_true",
                    help="also model ids 17 (bands=False), 12 and 2 (fast_nlms=False), in the "
                    "same rounds")
    a = ap.parse_args()
    path = Path(__file__).resolve().parents[1] / "mic" / "data" / "ct_abdomen.png"
    img = np.asarray(Image.open(path))
    mp = img.size / 1e6
    variants = {"default": {}, "effort 1": {"effort": 1}}
    if a.old:  # model ids 17, 12 and 2, what the encoder wrote before model id 19
        variants.update({"bands=False": {"bands": False}, "fast_nlms=False": {"fast_nlms": False},
                         "effort 1, fast_nlms=False": {"effort": 1, "fast_nlms": False}})
    for opts in variants.values():  # compile the kernels
        mic.decode(mic.encode(img[:64, :64], max_error=1, **opts))
    print(f"# {path.name} {img.shape} {img.dtype}; medians of {a.rounds} rounds\n")
    print("| k | mic | model id | mic bpp | JPEG-LS bpp | mic / JPEG-LS bits | mic enc MP/s | "
          "mic dec MP/s | CharLS enc MP/s | CharLS dec MP/s | enc time / CharLS | "
          "dec time / CharLS |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for k in (int(x) for x in a.ks.split(",")):
        vs = {"default": {}} if k == 0 else variants
        t: dict[str, list[float]] = {key: [] for v in vs for key in (v + " e", v + " d")}
        t.update({"je": [], "jd": []})
        blobs: dict[str, bytes] = {}
        jls = b""
        for _ in range(a.rounds):
            for name, opts in vs.items():
                t0 = time.perf_counter()
                blobs[name] = mic.encode(img, max_error=k, **opts)
                t1 = time.perf_counter()
                out = mic.decode(blobs[name])
                t2 = time.perf_counter()
                t[name + " e"].append(t1 - t0)
                t[name + " d"].append(t2 - t1)
                assert int(np.abs(out.astype(np.int64) - img).max()) <= k
            t3 = time.perf_counter()
            jls = imagecodecs.jpegls_encode(img, level=k)
            t4 = time.perf_counter()
            jout = imagecodecs.jpegls_decode(jls)
            t5 = time.perf_counter()
            t["je"].append(t4 - t3)
            t["jd"].append(t5 - t4)
        assert int(np.abs(jout.astype(np.int64) - img).max()) <= k
        je, jd = statistics.median(t["je"]), statistics.median(t["jd"])
        for name in vs:
            me, md = statistics.median(t[name + " e"]), statistics.median(t[name + " d"])
            blob = blobs[name]
            print(f"| {k} | {name} | {mic.info(blob).model_id} | {8 * len(blob) / img.size:.3f} | "
                  f"{8 * len(jls) / img.size:.3f} | {len(blob) / len(jls):.3f} | {mp / me:.1f} | "
                  f"{mp / md:.1f} | {mp / je:.1f} | {mp / jd:.1f} | x {me / je:.2f} | "
                  f"x {md / jd:.2f} |")


if __name__ == "__main__":
    main()
