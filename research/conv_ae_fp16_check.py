#!/usr/bin/env python
"""Does storing the conv ae's transform weights in float16 cost anything?  End to end through
the codec: CKPT exported twice (float32 and float16 conv weights), each registered in turn;
PSNR and bpp on six train images (the first single-channel image of each of six modalities
in the manifest's train rows, centre crop <= 512 x 512; never eval), every quality.

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python research/conv_ae_fp16_check.py CKPT [CORPUS]
"""
import csv, sys, tempfile, pathlib, numpy as np
import mic
from mic.io import read_image
from mic.models.weights import register_weights, unregister_weights
from mic.lossy.model import clear_cache
from mic.train.conv_export import export_conv_checkpoint
ck = sys.argv[1]
corpus = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "../shared/corpus")
rows, seen = [], set()
for r in csv.DictReader(open(corpus / "manifest.csv")):
    if r["split"] == "train" and r["modality"] not in seen and int(r["channels"]) == 1:
        seen.add(r["modality"]); rows.append(r)
rows = rows[:6]
imgs = []
for r in rows:
    a = np.asarray(read_image(corpus / r["png"])[0])
    if a.ndim == 3: a = a[0]
    h, w = a.shape[:2]
    imgs.append((a[max(0, h//2-256):h//2+256, max(0, w//2-256):w//2+256], int(r["bits_stored"])))
res = {}
for dt in ("float32", "float16"):
    d = pathlib.Path(tempfile.mkdtemp())
    export_conv_checkpoint(ck, d, dtype=dt)
    register_weights(d / "models.json"); clear_cache()
    for q in range(8):
        ps, bs = [], []
        for a, bits in imgs:
            b = mic.encode(a, quality=q, model="ae")
            o = mic.decode(b)
            bits = mic.info(b).bits_stored
            e = np.mean((o.astype(float) - a.astype(float)) ** 2)
            ps.append(10 * np.log10(((1 << bits) - 1) ** 2 / max(e, 1e-12)))
            bs.append(8 * len(b) / a.size)
        res[dt, q] = (np.mean(ps), np.mean(bs))
    unregister_weights(); clear_cache()
for q in range(8):
    p32, b32 = res["float32", q]; p16, b16 = res["float16", q]
    print(f"q{q}: fp32 {p32:.3f} dB {b32:.4f} bpp | fp16 {p16:.3f} dB {b16:.4f} bpp | diff {p16-p32:+.3f} dB {100*(b16/b32-1):+.2f} % bits")
