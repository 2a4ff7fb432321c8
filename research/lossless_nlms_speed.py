"""Lossless speed on one core: model id 22 (the default since 2026-12-07, SPEC 5.13: model 20
with bit-packed table sections), model id 20 (``compact_tables=False``, SPEC 5.12: model 18
with low classes), model id 18 (``low=False``, SPEC 5.11: model 16 with bands), model id 16
(``bands=False``, SPEC 5.10: model 14 with priors), model id 14
(``priors=False``, SPEC 5.8), model id
13 (``fast_nlms=False``, SPEC 5.7) and model id 1 (SPEC 5.4) against CharLS JPEG-LS and JPEG
XL (lossless, effort 7, one thread) on the bundled 512 x 512 16-bit CT slice
(``mic/data/ct_abdomen.png``): one plane coded by each of model 1's and 13's predictors
(``encode_plane`` / ``decode_plane``), whole streams at efforts 1, 3 (model 14, and model 13)
and 4, CharLS and JPEG XL, timed in turn within each round (a busy machine slows all
alike); medians, and each time as a multiple of CharLS's and of JPEG XL's.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=. python research/lossless_nlms_speed.py
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
    from mic.lossless.decoder import decode_plane
    from mic.lossless.encoder import encode_plane

    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--image", type=Path,
                    default=Path(__file__).resolve().parents[1] / "mic" / "data" / "ct_abdomen.png")
    a = ap.parse_args()
    img = np.asarray(Image.open(a.image))
    plane = img.astype(np.int32)
    mp = img.size / 1e6
    ops = {
        "model 1 plane": (lambda: encode_plane(plane, False),
                          lambda b: decode_plane(memoryview(b), 0, *plane.shape, lms=False)[0]),
        "model 13 plane": (lambda: encode_plane(plane, True),
                           lambda b: decode_plane(memoryview(b), 0, *plane.shape, lms=True)[0]),
        "mic effort 1": (lambda: mic.encode(img, effort=1), mic.decode),
        "mic effort 3 (default, model 22)": (lambda: mic.encode(img), mic.decode),
        "mic effort 3, model 20": (lambda: mic.encode(img, compact_tables=False), mic.decode),
        "mic effort 3, model 18": (lambda: mic.encode(img, low=False), mic.decode),
        "mic effort 3, model 16": (lambda: mic.encode(img, bands=False), mic.decode),
        "mic effort 3, model 14": (lambda: mic.encode(img, priors=False), mic.decode),
        "mic effort 3, model 13": (lambda: mic.encode(img, fast_nlms=False), mic.decode),
        "mic effort 4": (lambda: mic.encode(img, effort=4), mic.decode),
        "CharLS": (lambda: imagecodecs.jpegls_encode(img), imagecodecs.jpegls_decode),
        "JPEG XL e7": (lambda: imagecodecs.jpegxl_encode(img, lossless=True, effort=7,
                                                          numthreads=1),
                       lambda b: imagecodecs.jpegxl_decode(b, numthreads=1)),
    }
    for enc, dec in ops.values():  # compile, check
        out = dec(enc())
        assert np.array_equal(np.asarray(out).reshape(img.shape), img)
    times = {k: ([], []) for k in ops}
    size = {}
    for _ in range(a.rounds):
        for k, (enc, dec) in ops.items():
            t0 = time.perf_counter()
            b = enc()
            t1 = time.perf_counter()
            dec(b)
            t2 = time.perf_counter()
            times[k][0].append(t1 - t0)
            times[k][1].append(t2 - t1)
            size[k] = len(b)
    je, jd = (statistics.median(x) for x in times["CharLS"])
    xe, xd = (statistics.median(x) for x in times["JPEG XL e7"])
    print(f"# {a.image.name} {img.shape} {img.dtype}; one thread; medians of {a.rounds} rounds\n")
    print("| coder | bytes | bpp | enc MP/s | dec MP/s | enc time / CharLS | dec time / CharLS "
          "| enc time / JPEG XL e7 | dec time / JPEG XL e7 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for k, (te, td) in times.items():
        me, md = statistics.median(te), statistics.median(td)
        print(f"| {k} | {size[k]} | {8 * size[k] / img.size:.3f} | {mp / me:.1f} | {mp / md:.1f} "
              f"| x {me / je:.2f} | x {md / jd:.2f} | x {me / xe:.2f} | x {md / xd:.2f} |")


if __name__ == "__main__":
    main()
