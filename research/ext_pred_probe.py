"""Probe (issue #22 item 1): would an encoder-fitted linear predictor, sent in the stream
(one least-squares predictor per image, or MRP-like classes of 16 x 16 blocks), help the
kind-5 plane's NLMS filters?  The ideal cost (token entropy per class + extra bits; no
tables) of the kind-5 token pass with the external prediction ``ext`` fed in, against the
same pass without it.  Needs the kernel patch of
``benches/results/2026-12-07-ext-pred/kernel.diff`` (``git apply`` it in a scratch
worktree, not in the product): ``MIC_EXT_MODE`` 1 puts ``ext - p1`` in place of the second
filter's ``p0 - p1`` tap, 2 makes ``ext`` the first filter's base in place of ``p0``, 3 is 1
plus ``ext - p0`` in place of the first filter's ``WWW - p0``, 4 that tap alone, 5 and 6
are 1 with ``|ext - p0|`` (6: half of it) added to the class's ``eW``, 7 is 1 plus ``ext -
p0`` in place of ``NNE - p0`` (what model id 25 became, SPEC 5.15); 0 is the product's
pass, the only baseline (a run in another mode with ``ext`` = 0 is not one).  Numba
compiles the mode in: give each mode its own cache folder.

    MIC_EXT_MODE=1 NUMBA_CACHE_DIR=/tmp/nb1 PYTHONPATH=. python research/ext_pred_probe.py \
        CORPUS/train --nt 18 --K 16
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_sample import sample_images

OFFS = [(0, -1), (-1, 0), (-1, -1), (-1, 1), (0, -2), (-2, 0), (-2, 1), (-2, -1), (-1, 2),
        (0, -3), (-1, -2), (-2, 2), (-2, -2), (-3, 0), (-1, 3), (-3, 1), (-3, -1), (0, -4)]
PAD = 4


def features(x: np.ndarray, nt: int) -> np.ndarray:
    h, w = x.shape
    xp = np.pad(x.astype(np.float64), PAD, mode="edge")
    f = np.empty((h, w, nt))
    for i, (dy, dx) in enumerate(OFFS[:nt]):
        f[:, :, i] = xp[PAD + dy:PAD + dy + h, PAD + dx:PAD + dx + w]
    return f


def cost(x, maxval, ext):
    from mic.lossless import kernels_fast as KF
    from mic.lossless import kernels_fast_enc as KE
    h, w = x.shape
    n = h * w
    tokens = np.empty(n, np.uint8)
    classes = np.empty(n, np.uint8)
    bits = np.zeros(2 * n + 16, np.uint8)
    hist = np.zeros((KF.N_CLASS, KF.N_TOKENS), np.int64)
    R, CL, TOK, NB = KF.encode_constants()
    la = np.zeros(12, np.int64)
    lb = np.zeros((4, 8), np.int64)
    nbytes = KE.fast_tokens_ext(x.copy(), maxval, tokens, classes, bits, hist, R, CL, TOK, NB,
                                la, lb, ext)
    tot = 0.0
    for row in hist:
        s = row.sum()
        if s:
            nz = row[row > 0]
            tot += float((nz * np.log2(s / nz)).sum())
    return tot + 8 * nbytes


def ls_ext(x, nt, K, B, iters, valid):
    h, w = x.shape
    f = features(x, nt)
    F = f.reshape(-1, nt)
    F1 = np.concatenate([F, np.ones((F.shape[0], 1))], 1)
    t = x.reshape(-1).astype(np.float64)
    vm = valid.reshape(-1)
    by, bx = (h + B - 1) // B, (w + B - 1) // B
    yy, xx = np.mgrid[0:h, 0:w]
    blk = ((yy // B) * bx + (xx // B)).reshape(-1)
    nb = by * bx
    if K == 1:
        lab = np.zeros(nb, np.int64)
    else:  # init by block activity quantiles
        act = np.abs(np.diff(x.astype(np.float64), axis=1, prepend=x[:, :1])).reshape(-1)
        ba = np.bincount(blk, act, nb) / np.maximum(np.bincount(blk, None, nb), 1)
        lab = np.searchsorted(np.quantile(ba, np.linspace(0, 1, K + 1)[1:-1]), ba)
    for it in range(iters if K > 1 else 1):
        coefs = []
        for c in range(K):
            m = vm & (lab[blk] == c)
            if m.sum() < 4 * nt:
                coefs.append(np.zeros(nt + 1)); coefs[-1][0] = 1.0
                continue
            A = F1[m]
            coefs.append(np.linalg.lstsq(A.T @ A + 1e-3 * np.eye(nt + 1), A.T @ t[m],
                                         rcond=None)[0])
        C = np.array(coefs)
        if K == 1 or it == iters - 1:
            break
        E = np.abs(F1 @ C.T - t[:, None])  # (n, K)
        E = np.log2(1 + E)
        E[~vm] = 0
        bc = np.stack([np.bincount(blk, E[:, c], nb) for c in range(K)], 1)
        lab = bc.argmin(1)
    C = np.round(C * 4096) / 4096
    pred = np.einsum("nk,nk->n", F1, C[lab[blk]])
    side = K * (nt + 1) * 2 + (nb * math.log2(K) / 8 if K > 1 else 0)
    return np.clip(np.rint(pred), 0, x.max()).reshape(h, w), side


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("split", type=Path)
    ap.add_argument("--per-source", type=int, default=1)
    ap.add_argument("--max-side", type=int, default=512)
    ap.add_argument("--nt", type=int, default=12)
    ap.add_argument("--K", type=int, default=1)
    ap.add_argument("--B", type=int, default=16)
    ap.add_argument("--iters", type=int, default=4)
    args = ap.parse_args(argv)
    mode = int(os.environ.get("MIC_EXT_MODE", "0"))
    tot0 = tot1 = 0.0
    t0 = time.time()
    for r, a, _b in sample_images(args.split, per_source=args.per_source,
                                  max_side=args.max_side):
        lo = int(a.min())
        x = (a.astype(np.int64) - lo).astype(np.int32)
        mx = int(x.max())
        if mx == 0:
            continue
        vals = np.unique(x)
        if len(vals) <= (mx + 1) // 2:  # palette planes: code their indices
            x = np.searchsorted(vals, x).astype(np.int32)
            mx = len(vals) - 1
        h, w = x.shape
        valid = np.zeros((h, w), bool)
        valid[PAD:, PAD:w - PAD] = True
        if mode:
            ext, side = ls_ext(x, args.nt, args.K, args.B, args.iters, valid)
            ext = ext.astype(np.int32)
            # border: the base prediction's neighbour
            yy, xx = np.nonzero(~valid)
            ext[yy, xx] = np.where(yy > 0, x[np.maximum(yy - 1, 0), xx],
                                   np.where(xx > 0, x[yy, np.maximum(xx - 1, 0)], (mx + 1) >> 1))
        else:
            ext, side = np.zeros((1, 1), np.int32), 0.0
        c = cost(x, mx, ext) + 8 * side
        print(f"{r['source'][:28]:28s} {a.shape!s:12s} {c / a.size:.4f} bpp "
              f"(side {8 * side / a.size:.4f})", flush=True)
        tot1 += c
        tot0 += a.size
    print(f"mode {mode} nt {args.nt} K {args.K} B {args.B}: total {tot1 / 8:.0f} B, "
          f"{tot1 / tot0:.4f} bpp ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
