"""Near-lossless token tables fitted on near-lossless residuals of the **train** split,
measured on the near_gain sample (2 per source, seed 1; the fit excludes those images).
Block-class token bits (8x8, each block its cheapest table) + class map + extra bits,
against JPEG-LS NEAR = k.

    PYTHONPATH=. python research/near_tables2.py /work/shared/corpus/train
"""
from __future__ import annotations

import sys

import numpy as np

from research.near_ctx import block_cost, load_sample, sample_rows, train_by_source
from research.near_tables import block_hists


def tokens(im, k):
    from mic.lossless import kernels as K
    x = im.astype(np.int32) - int(im.min())
    h, w = x.shape
    tok = np.empty(h * w, np.int32)
    bits = np.empty(2 * h * w + 16, np.uint8)
    st, nb = K.code_plane_near(x, int(x.max()), k, False, tok, bits, False)  # model id 2
    return tok, nb, h, w


def fit_images(train_dir, per_source, exclude):
    from PIL import Image
    root, by = train_by_source(train_dir)
    rng = np.random.default_rng(0)
    out = []
    for src, rs in sorted(by.items()):
        rs = [r for r in rs if r["png"] not in exclude]
        for i in rng.permutation(len(rs))[:per_source]:
            im = np.asarray(Image.open(root / rs[i]["png"]))
            if im.ndim == 3:
                im = im[..., 1]
            out.append(np.ascontiguousarray(im[:1024, :1024]))
    return out


def main():
    import imagecodecs
    from mic.lossless import _tables_v1 as T
    train_dir = sys.argv[1]
    per_source = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    sample = [t for t in load_sample(train_dir) if t[1] != "fodicom_mg"]
    # exclude the sample's files: near_gain's pick
    excl = {r["png"] for r in sample_rows(train_dir, 2)[1]}
    fims = fit_images(train_dir, per_source, excl)
    v1 = np.asarray(T.TOKEN_FREQS, np.float64)
    cd = np.asarray(T.CLASS_DELTA_FREQS, np.float64)
    cdcost = -np.log2(cd / cd.sum())
    banks = {}
    for name, kset in [("all", (1, 2, 3, 4, 5)), ("k12", (1, 2)), ("k345", (3, 4, 5))]:
        hs = []
        for im in fims:
            for k in kset:
                tok, nb, h, w = tokens(im, k)
                hh = block_hists(tok, h, w, 8)
                hs.append(hh)
        H = np.concatenate(hs)
        U, cnt = np.unique(H, axis=0, return_counts=True)
        print(f"bank {name}: {len(fims)} images, {len(H)} blocks, {len(U)} distinct", flush=True)
        banks[name] = fit_w(U, cnt, v1)
    jt = {}
    res = {}
    for mod, src, im in sample:
        for k in (1, 2, 4):
            jt[k] = jt.get(k, 0) + 8.0 * len(imagecodecs.jpegls_encode(im, level=k))
            tok, nb, h, w = tokens(im, k)
            for name, tb in [("v1", v1)] + list(banks.items()):
                cost = -np.log2(tb / tb.sum(1, keepdims=True))
                res[(k, name)] = res.get((k, name), 0) + block_cost(tok, h, w, cost, cdcost) + 8.0 * nb
    for k in (1, 2, 4):
        print(f"k={k}: " + "  ".join(f"{n} {res[(k, n)] / jt[k]:.4f}" for n in ["v1"] + list(banks)))
    np.save("/tmp/near_banks.npy", np.stack([banks[n] for n in banks]))


def fit_w(U, cnt, start, iters=12):
    tables = start / start.sum(1, keepdims=True)
    Uf = U.astype(np.float32)
    for it in range(iters):
        cost = -np.log2(tables).astype(np.float32)
        c = Uf @ cost.T
        assign = c.argmin(1)
        print(f"  iter {it}: {(c[np.arange(len(c)), assign] * cnt).sum() / (U.sum(1) * cnt).sum():.4f}", flush=True)
        new = tables.copy()
        for j in range(len(tables)):
            sel = assign == j
            if sel.any():
                new[j] = (U[sel] * cnt[sel, None]).sum(0) + 0.02 * cnt[sel].sum()
                new[j] /= new[j].sum()
        tables = new
    return tables


if __name__ == "__main__":
    main()
