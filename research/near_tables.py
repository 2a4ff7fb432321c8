"""Near-lossless (mode 2): do the lossless token tables fit quantised residuals?

Fits a bank of 24 token tables (make_tables' Lloyd iterations) on the near-lossless tokens of
half the sampled **train** images (k = 1, 2, 4 mixed) and compares, on the other half, the
token bits under (a) the frozen lossless tables of model 1 and (b) the refitted bank, with
each 8x8 block choosing its cheapest table in both (class map not counted: same in both).

    PYTHONPATH=. python research/near_tables.py /work/shared/corpus/train [--per-source 6]
"""

from __future__ import annotations

import argparse
import csv
import pathlib

import numpy as np


def near_tokens(a: np.ndarray, k: int) -> tuple[np.ndarray, int, int]:
    from mic.lossless import kernels as K

    x = (a.astype(np.int32) - int(a.min()))
    h, w = x.shape
    tok = np.empty(h * w, np.int32)
    bits = np.empty(2 * h * w + 16, np.uint8)
    K.code_plane_near(x, int(x.max()), k, False, tok, bits, False)  # model id 2
    return tok, h, w


def block_hists(tok: np.ndarray, h: int, w: int, bs: int = 8) -> np.ndarray:
    from mic.lossless.kernels import N_TOKENS

    by, bx = -(-h // bs), -(-w // bs)
    blk = (np.arange(h)[:, None] // bs) * bx + (np.arange(w)[None, :] // bs)
    hist = np.zeros((by * bx, N_TOKENS), np.int64)
    np.add.at(hist, (blk.ravel(), tok), 1)
    return hist


def best_bits(hists: np.ndarray, freqs: np.ndarray) -> float:
    cost = -np.log2(freqs / freqs.sum(1, keepdims=True))
    return float((hists @ cost.T).min(1).sum())


def fit(hists: np.ndarray, start: np.ndarray, iters: int = 12) -> np.ndarray:
    tables = start / start.sum(1, keepdims=True)
    for _ in range(iters):
        cost = -np.log2(tables)
        assign = (hists @ cost.T).argmin(1)
        new = tables.copy()
        for j in range(len(tables)):
            sel = assign == j
            if sel.any():
                new[j] = hists[sel].sum(0) + 0.02 * sel.sum()
                new[j] /= new[j].sum()
        tables = new
    return tables


def main() -> None:
    from PIL import Image

    from mic.lossless import _tables_v1 as T

    ap = argparse.ArgumentParser()
    ap.add_argument("train_dir")
    ap.add_argument("--per-source", type=int, default=6)
    ap.add_argument("--ks", default="1,2,4")
    a = ap.parse_args()
    root = pathlib.Path(a.train_dir).parent
    rows = [r for r in csv.DictReader(open(root / "manifest.csv")) if r["split"] == "train"]
    by: dict[str, list] = {}
    for r in rows:
        by.setdefault(r["source"], []).append(r)
    rng = np.random.default_rng(0)
    fit_set, test_set = [], []
    for src, rs in sorted(by.items()):
        idx = rng.permutation(len(rs))[:a.per_source]
        pick = [rs[i] for i in idx]
        fit_set += pick[::2]
        test_set += pick[1::2]
    ks = [int(k) for k in a.ks.split(",")]

    def load(r):
        im = np.asarray(Image.open(root / r["png"]))
        im = im[..., 1] if im.ndim == 3 else im
        return im[:1024, :1024]

    fit_h = np.concatenate([block_hists(*near_tokens(load(r), k)) for r in fit_set for k in ks])
    v1 = np.asarray(T.TOKEN_FREQS, np.float64)
    bank = fit(fit_h, v1)
    print(f"fit: {len(fit_set)} images x k {ks}, {len(fit_h)} blocks")
    for k in ks:
        hs = [block_hists(*near_tokens(load(r), k)) for r in test_set]
        n = sum(int(h.sum()) for h in hs)
        b1 = sum(best_bits(h, v1) for h in hs)
        b2 = sum(best_bits(h, bank) for h in hs)
        print(f"k={k}: tokens bits/pixel v1 tables {b1 / n:.4f}, refitted {b2 / n:.4f} "
              f"({100 * (b2 / b1 - 1):+.2f} %)")


if __name__ == "__main__":
    main()
