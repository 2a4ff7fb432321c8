"""Encode time of the 2128 x 2000 eval DX at the default effort on one and two threads, in
512 x 512 tiles, in the large tiling, and with both tried (the default since 2026-12-06),
fastest of 3 (issue #20's two-thread target).  Measurement only.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python research/lossy_dx_threads.py CORPUS/eval
"""
import sys
import time, numpy as np, mic
from mic.io import read_image
from mic.lossy.enc_tilings import even_tiles
a,_ = read_image(sys.argv[1] + "/DX/pylibjpeg_dx966__JPEG2000Lossless_966_fixed.png")
for kw in ({"tile":512}, {"tile":even_tiles(*a.shape)}, {}):
    for th in (1,2):
        mic.encode(a, quality=6, bits_stored=12, threads=th, **kw)
        ts=[]
        for r in range(3):
            t0=time.perf_counter(); mic.encode(a, quality=6, bits_stored=12, threads=th, **kw); ts.append(time.perf_counter()-t0)
        print(kw, th, f"{min(ts):.3f}", flush=True)
