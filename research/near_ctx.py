"""Near-lossless: how much would per-pixel context classes (decoder-side features) save over
8x8 block classes with the frozen tables?  Train split only.

    PYTHONPATH=. python research/near_ctx.py /work/shared/corpus/train
"""
from __future__ import annotations

import argparse
import csv
import pathlib
import random

import numpy as np


def train_by_source(train_dir):
    """(corpus root, the train split's manifest rows grouped by source)."""
    root = pathlib.Path(train_dir).parent
    rows = [r for r in csv.DictReader(open(root / "manifest.csv")) if r["split"] == "train"]
    by = {}
    for r in rows:
        by.setdefault(r["source"], []).append(r)
    return root, by


def sample_rows(train_dir, per_source=2):
    """(corpus root, near_gain's pick: ``per_source`` rows of each source, seed 1)."""
    root, by = train_by_source(train_dir)
    random.seed(1)
    pick = []
    for _, rs in sorted(by.items()):
        pick += random.sample(rs, min(per_source, len(rs)))
    return root, pick


def load_sample(train_dir, per_source=2):
    from PIL import Image
    root, pick = sample_rows(train_dir, per_source)
    out = []
    for r in pick:
        im = np.asarray(Image.open(root / r["png"]))
        if im.shape[0] * im.shape[1] > 2_000_000:
            im = np.ascontiguousarray(im[:1024, :1024])
        if im.ndim == 3:
            im = np.ascontiguousarray(im[..., 1])
        out.append((r["modality"], r["source"], im))
    return out


def feats(a, k):
    import research._near_feat_kernel as FK
    x = a.astype(np.int32) - int(a.min())
    h, w = x.shape
    tok = np.empty(h * w, np.int32)
    bits = np.empty(2 * h * w + 16, np.uint8)
    F = np.zeros((h * w, 5), np.int64)
    st, nb = FK.feat_plane(x, int(x.max()), k, False, tok, bits, F)
    return tok, nb, F, h, w


def block_cost(tok, h, w, cost, cdcost, bs=8):
    from mic.lossless import kernels_classes as KC
    cls = KC.block_costs_classes(tok, h, w, bs, cost)
    bx = -(-w // bs)
    sym = KC.class_map_symbols(cls, bx, cost.shape[0])
    return float(cost[np.repeat(np.zeros(1, int), 0)].sum()) + _tokcost(tok, cls, h, w, bs, cost) + float(cdcost[sym].sum())


def _tokcost(tok, cls, h, w, bs, cost):
    bx = -(-w // bs)
    blk = ((np.arange(h)[:, None] // bs) * bx + (np.arange(w)[None, :] // bs)).ravel()
    return float(cost[cls[blk], tok].sum())


def ctx_cost(tok, ctx, nctx, per_entry=10.0):
    """Empirical conditional entropy + a table cost per used (ctx, token)."""
    from mic.lossless.kernels import N_TOKENS
    H = np.zeros((nctx, N_TOKENS))
    np.add.at(H, (ctx, tok), 1)
    tot = 0.0
    for c in range(nctx):
        n = H[c].sum()
        if n == 0:
            continue
        nz = H[c][H[c] > 0]
        tot += -(nz * np.log2(nz / n)).sum() + per_entry * len(nz)
    return tot


def bucket(s, nb=24):
    """s >= 0 (float) -> half-octave bucket."""
    t = np.maximum(s, 0)
    L = np.floor(np.log2(1 + t) * 2).astype(int)
    return np.minimum(L, nb - 1)


def main():
    import imagecodecs
    from mic.lossless import _tables_v1 as T
    ap = argparse.ArgumentParser()
    ap.add_argument("train_dir")
    ap.add_argument("--ks", default="1,2,4")
    a = ap.parse_args()
    freqs = np.asarray(T.TOKEN_FREQS, np.float64)
    cost = -np.log2(freqs / freqs.sum(1, keepdims=True))
    cd = np.asarray(T.CLASS_DELTA_FREQS, np.float64)
    cdcost = -np.log2(cd / cd.sum())
    ims = load_sample(a.train_dir)
    ks = [int(k) for k in a.ks.split(",")]
    variants = ["blocks", "F1", "F0", "F0+F1", "F0+2F1", "F0+F1+F3", "2F0+F1"]
    tot = {(k, v): 0.0 for k in ks for v in variants}
    jtot = {k: 0.0 for k in ks}
    for mod, src, im in ims:
        line = f"{mod} {src[:20]:20s}"
        for k in ks:
            tok, nb, F, h, w = feats(im, k)
            d = 2 * k + 1
            extra = 8.0 * nb
            j = 8.0 * len(imagecodecs.jpegls_encode(im, level=k))
            jtot[k] += j
            r = {}
            r["blocks"] = block_cost(tok, h, w, cost, cdcost) + extra
            f0 = F[:, 0] / d / 6.0
            f1 = F[:, 1] / d / 2.0
            f3 = F[:, 3] / d / 2.0
            for v, s in [("F1", f1), ("F0", f0), ("F0+F1", (f0 + f1) / 2),
                         ("F0+2F1", (f0 + 2 * f1) / 3), ("F0+F1+F3", (f0 + f1 + f3) / 3),
                         ("2F0+F1", (2 * f0 + f1) / 3)]:
                r[v] = ctx_cost(tok, bucket(s * 4), 24) + extra
            for v in variants:
                tot[(k, v)] += r[v]
            line += f"  k={k} " + " ".join(f"{r[v] / j:.3f}" for v in variants)
        print(line, flush=True)
    print("variants:", variants)
    for k in ks:
        print(f"k={k}: " + "  ".join(f"{v} {tot[(k, v)] / jtot[k]:.4f}" for v in variants))


if __name__ == "__main__":
    main()
