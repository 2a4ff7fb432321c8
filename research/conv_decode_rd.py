#!/usr/bin/env python
"""Decode time, rate and PSNR of conv models on one image, interleaved in one process (so
a busy machine slows every model alike): per model and quality, bits per pixel, PSNR (peak
2^bits - 1) and the median and minimum of N decodes after one warm-up.  Run with one BLAS
thread (the cnn's issue #21 check: cnn against vae on the 512 x 512 CT):

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python \\
        research/conv_decode_rd.py mic/data/ct_abdomen.png --models vae,cnn --qualities 1,3,5

``--weights DIR/models.json`` first registers other exported weights (e.g. the vae
checkpoint a cnn was warm-started from, exported with ``python -m mic.train.conv_export
--ckpt vae-init.pt --out DIR``), which then replace the shipped ones of their names.
"""
import argparse
import statistics
import time

import numpy as np

import mic
from mic.io import read_image

p = argparse.ArgumentParser()
p.add_argument("image")
p.add_argument("--models", default="vae,cnn")
p.add_argument("--qualities", default="1,3,5")
p.add_argument("-n", type=int, default=15, help="decodes per stream")
p.add_argument("--weights", default=None, help="a models.json of other exported weights")
args = p.parse_args()
if args.weights:
    from mic.models.weights import register_weights, registry

    for name in register_weights(args.weights):
        print(f"{name}: weights of {args.weights}, step {registry()[name]['training']['steps']}")
a = np.asarray(read_image(args.image)[0])
models = args.models.split(",")
qs = [int(q) for q in args.qualities.split(",")]
blobs = {(m, q): mic.encode(a, quality=q, model=m) for m in models for q in qs}
ts: dict = {k: [] for k in blobs}
for b in blobs.values():
    mic.decode(b)  # warm-up: weights, tables, numba caches
for _ in range(args.n):
    for k, b in blobs.items():
        t = time.perf_counter()
        mic.decode(b)
        ts[k].append(1e3 * (time.perf_counter() - t))
bits = mic.info(next(iter(blobs.values()))).bits_stored
peak = float((1 << bits) - 1)
print(f"{args.image} {a.shape} {a.dtype}, {bits} bits")
for (m, q), v in ts.items():
    err = mic.decode(blobs[m, q]).astype(np.float64) - a
    psnr = 10 * np.log10(peak * peak / float(np.mean(err * err)))
    print(f"{m} q{q}: {8 * len(blobs[m, q]) / a.size:.4f} bpp, {psnr:.2f} dB, decode median "
          f"{statistics.median(v):.0f} ms, min {min(v):.0f} ms")
