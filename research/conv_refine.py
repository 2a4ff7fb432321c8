"""Would encoder-side latent refinement pay for a conv model?  (Issue #21: the cnn's BD-rate.)

For each image of a train sample and each quality, the analysis gives ``y``; the encoder
then descends ``lambda_q 255^2 MSE + bits`` in ``y`` itself (Adam; rounding with
straight-through gradients in both the rate and the reconstruction; the hyper-latents
follow from ``y`` as the encoder computes them), and keeps the refined ``y`` if its rounded
cost is lower.  Rate = the model's -log2 likelihood of the rounded symbols, PSNR of the
clamped reconstruction (as ``research/conv_ckpt_bd.py``); BD-rate of refined against plain,
mean over images.  Encoder only: the stream and the decoder would not change.

    PYTHONPATH=. .venv/bin/python research/conv_refine.py CORPUS/train CKPT.pt [--iters 30]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mic.eval.bdrate import bd_rate
from mic.train import conv_models as cm
from mic.train.conv_models import HYPER_STRIDE, from_config, round_ste

sys.path.insert(0, str(Path(__file__).parent))
from train_sample import sample_images  # noqa: E402


def cost(net, y, xp, q, lam, h, w, ste, noise=False):  # noqa: ANN001, ANN201
    """(loss, bits, psnr) of latents ``y`` for the padded image ``xp``: rates of the rounded
    symbols (``ste``: with straight-through gradients; ``noise``: the training proxy,
    additive uniform noise), the reconstruction from the rounded latents."""
    old = cm.noisy
    if ste:
        cm.noisy = lambda v, noise: round_ste(v)  # rounding, straight-through gradient
    try:
        y_hat, ybits, zbits = net.code_latents(y, q, noise)
        ybits = ybits.sum(1)
    finally:
        cm.noisy = old
    xh = net.synthesis(y_hat, q)
    mse = (xh[..., :h, :w] - xp[..., :h, :w]).pow(2).mean()
    bits = (ybits + zbits).sum()
    with torch.no_grad():
        m = (xh[..., :h, :w].clamp(0, 1) - xp[..., :h, :w]).pow(2).mean().clamp_min(1e-12)
        psnr = float(-10 * torch.log10(m))
    return lam * 255.0 ** 2 * mse + bits / (h * w), float(bits.detach()) / (h * w), psnr


def refine(net, x: np.ndarray, q: int, iters: int, lr: float):  # noqa: ANN001, ANN201
    h, w = x.shape
    xp = np.pad(x, ((0, -h % HYPER_STRIDE), (0, -w % HYPER_STRIDE)), mode="edge")
    xt = torch.from_numpy(xp)[None, None].float()
    qt = torch.tensor([q])
    lam = float(net.lambdas[q])
    with torch.no_grad():
        y0 = net.analysis(xt, qt)
        l0, b0, p0 = cost(net, y0, xt, qt, lam, h, w, False)
    y = y0.clone().requires_grad_(True)
    opt = torch.optim.Adam([y], lr=lr)
    best = (float(l0), b0, p0)
    for _ in range(iters):
        opt.zero_grad()
        loss, _, _ = cost(net, y, xt, qt, lam, h, w, True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        l1, b1, p1 = cost(net, y, xt, qt, lam, h, w, False)
    if float(l1) < best[0]:
        best = (float(l1), b1, p1)
    return (b0, p0), best[1:]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("split", type=Path)
    ap.add_argument("ckpt")
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--side", type=int, default=256)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--qualities", default="0,2,4,6,7")
    a = ap.parse_args()
    if "eval" in {p.lower() for p in a.split.resolve().parts}:
        raise SystemExit("this script reads the train split only")
    torch.set_num_threads(1)
    ck = torch.load(a.ckpt, map_location="cpu", weights_only=False)
    net = from_config(ck["config"])
    net.load_state_dict(ck["model"])
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    qs = [int(s) for s in a.qualities.split(",")]
    bds = []
    t0 = time.time()
    n = 0
    for r, img, bits in sample_images(a.split, max_side=a.side):
        if img.max() == img.min() or min(img.shape) < 64:
            continue
        lo = int(img.min())
        nb = max(1, int(img.max() - lo).bit_length())
        x = ((img.astype(np.float64) - lo) / ((1 << nb) - 1)).astype(np.float32)
        plain, ref = [], []
        for q in qs:
            p0, p1 = refine(net, x, q, a.iters, a.lr)
            plain.append(p0)
            ref.append(p1)
        bd = bd_rate([p[0] for p in plain], [p[1] for p in plain],
                     [p[0] for p in ref], [p[1] for p in ref])
        bds.append(bd)
        print(f"{r['source'][:26]:26s} {img.shape!s:12s} BD {100 * bd:+6.2f} %  "
              + " ".join(f"q{q}: {p0[0]:.3f}/{p0[1]:.2f} -> {p1[0]:.3f}/{p1[1]:.2f}"
                         for q, p0, p1 in zip(qs, plain, ref)), flush=True)
        n += 1
        if n >= a.images:
            break
    print(f"mean BD-rate refined vs plain: {100 * np.mean(bds):+.2f} % over {len(bds)} images "
          f"({a.iters} iterations, lr {a.lr}; {time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
