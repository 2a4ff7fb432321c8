"""Encode and decode time of the eval split's RGB ultrasound screens, one thread, medians of
7 rounds with every coder in turn within each round: mic's default (model id 24: wrapped
differences and three trees), ``wrap=False`` (model 22, three trees), the stop before (one
tree, no wrap: ``TREE_FINALISTS = 1``, ``wrap=False``), JPEG XL e7 and CharLS.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python \
        research/lossless_rgb_speed.py /work/shared/corpus/eval/US

Finding: benches/results/2026-12-07-wrap/rgb-speed.txt.
"""

import statistics
import sys
import time
from pathlib import Path

import imagecodecs as ic
import numpy as np

import mic
import mic.lossless.encoder_rgb as ER
from mic.io import read_image

def enc(kind, a):
    if kind == 'mic': return mic.encode(a)
    if kind == 'mic wrap=False': return mic.encode(a, wrap=False)
    if kind == 'before (1 tree, no wrap)':
        ER.TREE_FINALISTS = 1
        try: return mic.encode(a, wrap=False)
        finally: ER.TREE_FINALISTS = 3
    if kind == 'JPEG XL e7': return ic.jpegxl_encode(a, lossless=True, effort=7, numthreads=1)
    if kind == 'CharLS': return ic.jpegls_encode(a)
def dec(kind, b):
    if kind.startswith('mic') or kind.startswith('before'): return mic.decode(b)
    if kind == 'JPEG XL e7': return ic.jpegxl_decode(b, numthreads=1)
    return ic.jpegls_decode(b)
KINDS = ['mic', 'mic wrap=False', 'before (1 tree, no wrap)', 'JPEG XL e7', 'CharLS']
for p in sorted(Path(sys.argv[1]).glob('*.png')):
    a, _ = read_image(p)
    te = {k: [] for k in KINDS}; td = {k: [] for k in KINDS}; size = {}
    for k in KINDS: dec(k, enc(k, a))
    for _ in range(7):
        for k in KINDS:
            t = time.perf_counter(); b = enc(k, a); te[k].append(time.perf_counter() - t)
            t = time.perf_counter(); d = dec(k, b); td[k].append(time.perf_counter() - t)
            assert np.array_equal(d, a); size[k] = len(b)
    print(p.name[:30], a.shape)
    for k in KINDS:
        e, d = statistics.median(te[k]), statistics.median(td[k])
        print(f"  {k:26s} {size[k]:7d} B  encode {1e3 * e:7.1f} ms  decode {1e3 * d:6.1f} ms  "
              f"x JPEG XL e7's time {e / statistics.median(te['JPEG XL e7']):5.2f} / {d / statistics.median(td['JPEG XL e7']):5.2f}")
