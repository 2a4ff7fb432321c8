"""Near-lossless predictor variants (research kernel, research/_near_feat_kernel.py): the
ideal cost of the plane (8x8 blocks each taking its cheapest frozen table + class map + extra
bits) against JPEG-LS NEAR = k bytes, on near_gain.py's train sample (2 images per source,
seed 1; the one all-but-constant mammogram left out), k = 1, 2, 4.  Variants are
``NP:var`` (number of predictors in the blend, bit flags):

    NP = 6 / 7 / 8 without flag 32: + (N+W)/2, + (N+W+NE+NW)/4, + (W+NE)/2 in the blend
    1      blend errors + 2k (no gain)
    16     bias sums fed the error before the correction (full instead of half correction)
    32     a float NLMS filter as predictor 5 (NP = 6): 9 neighbour taps relative to N,
           mu 0.05; 64: mu 0.2, 128: mu 0.5, 512: mu 0.1; 256: 12 neighbour taps
    1024   P0..P4 as more taps;  2048: the filter alone (no blend);  16384: + 4 residual taps
    4096   blend weights 1/e^2 instead of 1/e
    32768  a second float NLMS filter correcting the blend (P_i - blend, residuals of W, N,
           NW, NE), mu 0.02; 65536: mu 0.0005, 131072: 0.01, 262144: 0.005, 524288: 0.0002;
           1048576: + N, W, NE, NW minus the blend as taps

    PYTHONPATH=. python research/near_pred.py /work/shared/corpus/train 5:0,6:17184,6:115488
"""
from __future__ import annotations

import sys

import numpy as np

from research.near_ctx import block_cost, load_sample


def run(im, k, NP, var, cost, cdcost):
    import research._near_feat_kernel as FK
    x = im.astype(np.int32) - int(im.min())
    h, w = x.shape
    tok = np.empty(h * w, np.int32)
    bits = np.empty(2 * h * w + 16, np.uint8)
    F = np.zeros((h * w, 5), np.int64)
    st, nb = FK.feat_plane(x, int(x.max()), k, False, tok, bits, F, NP, var)
    return block_cost(tok, h, w, cost, cdcost) + 8.0 * nb


def main():
    import imagecodecs
    from mic.lossless import _tables_v1 as T
    freqs = np.asarray(T.TOKEN_FREQS, np.float64)
    cost = -np.log2(freqs / freqs.sum(1, keepdims=True))
    cd = np.asarray(T.CLASS_DELTA_FREQS, np.float64)
    cdcost = -np.log2(cd / cd.sum())
    ims = [t for t in load_sample(sys.argv[1]) if t[1] != "fodicom_mg"]
    variants = [tuple(map(int, v.split(":"))) for v in sys.argv[2].split(",")]
    ks = [1, 2, 4]
    tot = {}
    jt = {k: 0.0 for k in ks}
    mods = {}
    for mod, src, im in ims:
        for k in ks:
            j = 8.0 * len(imagecodecs.jpegls_encode(im, level=k))
            jt[k] += j
            mods.setdefault((mod, k, "j"), 0.0)
            mods[(mod, k, "j")] += j
            best = 1e300
            for v in variants:
                b = run(im, k, v[0], v[1], cost, cdcost)
                best = min(best, b)
                tot[(k, v)] = tot.get((k, v), 0.0) + b
                mods[(mod, k, v)] = mods.get((mod, k, v), 0.0) + b
            tot[(k, "oracle")] = tot.get((k, "oracle"), 0.0) + best
    print("oracle (per image the best variant): " + "  ".join(f"k={k} {tot[(k, 'oracle')] / jt[k]:.4f}" for k in ks))
    for v in variants:
        print(f"NP={v[0]} var={v[1]}: " + "  ".join(f"k={k} {tot[(k, v)] / jt[k]:.4f}" for k in ks))
        for mod in sorted({m[0] for m in mods}):
            print(f"    {mod}: " + "  ".join(f"{mods[(mod, k, v)] / mods[(mod, k, 'j')]:.4f}" for k in ks))


if __name__ == "__main__":
    main()
