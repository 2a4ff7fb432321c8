#!/usr/bin/env python
"""Train-sample RD of ae checkpoints, to choose which to ship (never the eval split): each
CKPT exported (fp16) and registered in turn, six train images (the first single-channel image
of each of six modalities in the manifest's train rows, centre crop <= 512 x 512), every
quality; per checkpoint the per-image BD-rate against the first one given.

    PYTHONPATH=. OMP_NUM_THREADS=1 python research/conv_ae_train_rd.py CKPT_A CKPT_B ...
"""
import csv, sys, tempfile, pathlib, numpy as np
import mic
from mic.io import read_image
from mic.models.weights import register_weights, unregister_weights
from mic.lossy.model import clear_cache
from mic.train.conv_export import export_conv_checkpoint
from mic.eval import bd_rate
corpus = pathlib.Path("../shared/corpus")
rows, seen = [], set()
for r in csv.DictReader(open(corpus / "manifest.csv")):
    if r["split"] == "train" and r["modality"] not in seen and int(r["channels"]) == 1:
        seen.add(r["modality"]); rows.append(r)
imgs = []
for r in rows[:6]:
    a = np.asarray(read_image(corpus / r["png"])[0])
    if a.ndim == 3: a = a[0]
    h, w = a.shape[:2]
    imgs.append(a[max(0, h//2-256):h//2+256, max(0, w//2-256):w//2+256])
curves = {}
for ck in sys.argv[1:]:
    d = pathlib.Path(tempfile.mkdtemp())
    export_conv_checkpoint(ck, d)
    register_weights(d / "models.json"); clear_cache()
    cur = []
    for a in imgs:
        bs, ps = [], []
        for q in range(8):
            b = mic.encode(a, quality=q, model="ae"); o = mic.decode(b)
            bits = mic.info(b).bits_stored
            e = np.mean((o.astype(float) - a.astype(float)) ** 2)
            ps.append(10 * np.log10(((1 << bits) - 1) ** 2 / max(e, 1e-12))); bs.append(8 * len(b) / a.size)
        cur.append((bs, ps))
    curves[ck] = cur
    unregister_weights(); clear_cache()
ref = sys.argv[1]
for ck in sys.argv[1:]:
    bd = [bd_rate(*curves[ref][i], *curves[ck][i]) for i in range(len(imgs))]
    mp = np.mean([c[1] for c in curves[ck]], 0); mb = np.mean([c[0] for c in curves[ck]], 0)
    print(pathlib.Path(ck).name, "BD vs first:", " ".join(f"{100*v:+.1f}" for v in bd), f"mean {100*np.nanmean(bd):+.1f} %",
          "| mean bpp", " ".join(f"{v:.3f}" for v in mb), "| mean dB", " ".join(f"{v:.2f}" for v in mp))
