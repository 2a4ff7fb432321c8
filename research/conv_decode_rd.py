#!/usr/bin/env python
"""Decode time, rate and PSNR of conv models on one image, interleaved in one process (so
a busy machine slows every model alike): per model and quality, bits per pixel, PSNR (peak
2^bits - 1) and the median and minimum of N decodes after one warm-up.  Run with one BLAS
thread (the cnn's issue #21 check: cnn against vae on the 512 x 512 CT):

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python \\
        research/conv_decode_rd.py mic/data/ct_abdomen.png --models vae,cnn --qualities 1,3,5

``--openjpeg`` also times OpenJPEG (imagecodecs, one thread) decoding a lossy JPEG 2000
stream of each mic stream's PSNR (its PSNR target), interleaved in the same loop, and
prints each decode time as a multiple of OpenJPEG's.

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
p.add_argument("--openjpeg", action="store_true", help="time OpenJPEG at each stream's PSNR")
args = p.parse_args()
if args.weights:
    from mic.models.weights import register_weights, registry

    for name in register_weights(args.weights):
        print(f"{name}: weights of {args.weights}, step {registry()[name]['training']['steps']}")
a = np.asarray(read_image(args.image)[0])
models = args.models.split(",")
qs = [int(q) for q in args.qualities.split(",")]
blobs = {(m, q): mic.encode(a, quality=q, model=m) for m in models for q in qs}
bits = mic.info(next(iter(blobs.values()))).bits_stored
peak = float((1 << bits) - 1)


def psnr_of(out: np.ndarray) -> float:
    err = np.asarray(out, np.float64).reshape(a.shape) - a
    return float(10 * np.log10(peak * peak / float(np.mean(err * err))))


decoders = {k: (mic.decode, b) for k, b in blobs.items()}
if args.openjpeg:
    import imagecodecs as ic

    for (m, q), b in blobs.items():
        target = psnr_of(mic.decode(b))
        j2k = ic.jpeg2k_encode(a, level=round(target, 2), reversible=False, bitspersample=bits,
                               numthreads=1)
        decoders[("openjpeg", m, q)] = (lambda s: ic.jpeg2k_decode(s, numthreads=1), j2k)
ts: dict = {k: [] for k in decoders}
for dec, b in decoders.values():
    dec(b)  # warm-up: weights, tables, numba caches
for _ in range(args.n):
    for k, (dec, b) in decoders.items():
        t = time.perf_counter()
        dec(b)
        ts[k].append(1e3 * (time.perf_counter() - t))
print(f"{args.image} {a.shape} {a.dtype}, {bits} bits; {args.n} decodes each, interleaved")
for k, v in ts.items():
    dec, b = decoders[k]
    name = " ".join(map(str, k[:-1])) + f" q{k[-1]}"
    line = (f"{name}: {8 * len(b) / a.size:.4f} bpp, {psnr_of(dec(b)):.2f} dB, decode median "
            f"{statistics.median(v):.1f} ms, min {min(v):.1f} ms")
    if args.openjpeg and k[0] != "openjpeg":
        j = ts[("openjpeg", *k)]
        line += f" (x {min(v) / min(j):.0f} OpenJPEG's min)"
    print(line)
