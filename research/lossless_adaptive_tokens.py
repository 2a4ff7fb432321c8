"""How much would adaptive token statistics save over model 13's frozen tables?  (Issue #22
item 1: "adaptive rather than frozen symbol statistics where they pay".)

For every grey plane of a train sample, model 13's tokens (SPEC 5.4/5.7: the folded
residual's leading bits; the extra bits stay raw in both) are costed three ways, in ideal
bits (no coder overhead):

* ``frozen``: the shipped coder's real plane size (its class map, tokens and extra bits);
* ``adaptive-blockclass``: the same block classes (and class map) as contexts, but the
  token counts adapted as the plane is coded (start at the frozen table x 16, +32 per
  symbol, halved past 2**16);
* ``adaptive-causal``: no class map at all; the context is the larger of the W and N
  tokens (quantised to 12 buckets) with adaptive counts as above.

    PYTHONPATH=. python research/lossless_adaptive_tokens.py CORPUS/train [--per-source 2]

A research probe: nothing here changes the format.

Finding: benches/results/2026-12-05-lossless-adaptive-tokens.txt (adaptation buys 0.35 %).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numba as nb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_sample import sample_images  # noqa: E402


@nb.njit(cache=True)
def _adaptive(tokens, ctx, n_ctx, init, inc, limit):  # pragma: no cover - numba
    """Ideal bits of ``tokens`` under per-context adaptive counts (``init`` (n_ctx, T))."""
    counts = init.copy()
    tot = np.zeros(n_ctx)
    for c in range(n_ctx):
        tot[c] = counts[c].sum()
    bits = 0.0
    for i in range(tokens.size):
        c = ctx[i]
        t = tokens[i]
        bits += np.log2(tot[c] / counts[c, t])
        counts[c, t] += inc
        tot[c] += inc
        if tot[c] > limit:
            s = 0.0
            for k in range(counts.shape[1]):
                counts[c, k] = max(counts[c, k] // 2, 1.0)
                s += counts[c, k]
            tot[c] = s
    return bits


def main() -> None:
    from mic.lossless import kernels as K
    from mic.lossless import kernels_classes as KC
    from mic.lossless.encoder import _encode_coded, _prepare
    from mic.lossless.syntax import BLOCK_LOG2, token_block_costs, token_probabilities

    ap = argparse.ArgumentParser()
    ap.add_argument("split", type=Path)
    ap.add_argument("--per-source", type=int, default=2)
    args = ap.parse_args()
    if "eval" in {p.lower() for p in args.split.resolve().parts}:
        raise SystemExit("this probe reads the train split only")
    cost = token_block_costs()
    tok_p, _ = token_probabilities()
    tok_p = tok_p / tok_p.sum(1, keepdims=True)
    init = np.maximum(np.rint(tok_p * 16 * 68), 1.0)
    sums = {"frozen": 0.0, "adaptive-blockclass": 0.0, "adaptive-causal": 0.0, "extra": 0.0}
    npix = 0
    for _src, a, _ in sample_images(args.split, per_source=args.per_source, max_side=1024):
        planes = [a] if a.ndim == 2 else [a[..., c] for c in range(a.shape[-1])]
        for p in planes:
            x, maxval, _ = _prepare(p.astype(np.int32))
            if maxval < 1:
                continue
            h, w = x.shape
            tokens = np.empty(h * w, np.int32)
            bits = np.empty(2 * h * w + 16, np.uint8)
            _, nbytes = K.code_plane_near(x.copy(), maxval, 0, False, tokens, bits, True)
            nbits = 8 * nbytes  # the raw extra bits
            bs = 1 << BLOCK_LOG2
            classes = KC.block_costs_classes(tokens, h, w, bs, cost)
            bx = -(-w // bs)
            yy, xx = np.divmod(np.arange(h * w), w)
            blk = classes.reshape(-1)[(yy // bs) * bx + xx // bs]
            real = 8.0 * len(_encode_coded(x.copy(), maxval, lms=True))
            classmap = real - float(cost[blk, tokens].sum()) - nbits  # (and a few header bits)
            sums["frozen"] += real - nbits
            sums["adaptive-blockclass"] += classmap + _adaptive(
                tokens, blk.astype(np.int64), 24, init, 32.0, 65536.0)
            t2 = tokens.reshape(h, w)
            wv = np.zeros_like(t2)
            wv[:, 1:] = t2[:, :-1]
            nv = np.zeros_like(t2)
            nv[1:] = t2[:-1]
            ctx = np.minimum(np.maximum(wv, nv) // 3, 11).reshape(-1).astype(np.int64)
            init_c = np.repeat(np.maximum(np.rint(tok_p.mean(0) * 16 * 68), 1.0)[None], 12, 0)
            sums["adaptive-causal"] += _adaptive(tokens, ctx, 12, init_c, 32.0, 65536.0)
            sums["extra"] += nbits
            npix += h * w
    base = sums["frozen"] + sums["extra"]
    print(f"{npix / 1e6:.1f} MP; bits per pixel, the raw extra bits ({sums['extra'] / npix:.3f} bpp) "
          "included in each:")
    for k in ("frozen", "adaptive-blockclass", "adaptive-causal"):
        tot = sums[k] + sums["extra"]
        print(f"  {k:22s} {tot / npix:.4f} bpp  ({tot / base:.4f} x frozen)")


if __name__ == "__main__":
    main()
