#!/usr/bin/env python
"""Decode time of a 512 x 512 image with ae and vae, interleaved in one process (so a busy
machine slows both alike): per model and quality, the median and the minimum of N decodes
after one warm-up.  Run with one BLAS thread:

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python \\
        research/conv_ae_decode_time.py ../shared/corpus/eval/CT/wg04_CT1__REF_CT1_UNC.png
"""
import statistics
import sys
import time

import numpy as np

import mic
from mic.io import read_image

a = np.asarray(read_image(sys.argv[1])[0])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 15
blobs = {(m, q): mic.encode(a, quality=q, model=m) for m in ("ae", "vae") for q in (0, 3, 7)}
ts: dict = {k: [] for k in blobs}
for b in blobs.values():
    mic.decode(b)  # warm-up: weights, tables, numba caches
for _ in range(n):
    for k, b in blobs.items():
        t = time.perf_counter()
        mic.decode(b)
        ts[k].append(1e3 * (time.perf_counter() - t))
for (m, q), v in ts.items():
    print(f"{m} q{q}: median {statistics.median(v):.0f} ms, min {min(v):.0f} ms "
          f"({8 * len(blobs[m, q]) / a.size:.3f} bpp)")
