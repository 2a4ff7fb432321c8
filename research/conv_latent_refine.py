"""Per-image latent refinement for the ``cnn`` (issue #21, measured 2026-12-07, not built):
the latents of one image optimised by Adam under the float model's rate + lambda * distortion
(straight-through rounding, ``--soft``: the rate on the unrounded residual), then measured
with rounding.  Prints bits per pixel, PSNR and the cost before and after (the best cost
seen every 10 steps).  Train images only.

    PYTHONPATH=. .venv/bin/python research/conv_latent_refine.py IMAGE.png [IMAGE ...] \\
        --qualities 2,3,5 --steps 250 --lr 0.002 [--soft]

Finding (a train CT, ``fnndsc_abdomen__data_000001``): -1.1 to -1.3 % of the cost for 20 s
a 512^2 image (quality 3: 0.2951 -> 0.2916, -1.3 % bits at +0.04 dB); see
benches/results/2026-12-07-fast-decode/README.md.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import time
from pathlib import Path

import numpy as np


def main() -> None:
    import torch
    from PIL import Image

    from mic.train.conv_models import checkerboard, from_config, gaussian_likelihood
    from mic.train.conv_thaw import thaw_state
    from mic.train.layers import round_ste

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="+", type=Path)
    ap.add_argument("--qualities", default="2,3,5")
    ap.add_argument("--steps", type=int, default=250)
    ap.add_argument("--lr", type=float, default=0.002)
    ap.add_argument("--soft", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(2)
    wdir = Path(__file__).resolve().parents[1] / "mic" / "models" / "weights"
    cfg = json.loads((wdir / "models.json").read_text())["models"]["cnn"]["config"]
    cfg = cfg if isinstance(cfg, dict) else ast.literal_eval(cfg)
    net = from_config(cfg)
    net.load_state_dict(thaw_state(wdir / "cnn.safetensors", net), strict=False)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)

    def rate(y, q, ste):
        hf, zbits = net.hyper(y, q, False)
        anchor = checkerboard(y.shape[2], y.shape[3])
        mu_a, ls_a = net.params(hf, torch.zeros_like(hf))
        ya_hat = (round_ste(y - mu_a) + mu_a) * anchor
        mu_n, ls_n = net.params(hf, net.context(ya_hat) * (1 - anchor))
        mu, ls = torch.lerp(mu_n, mu_a, anchor), torch.lerp(ls_n, ls_a, anchor)
        v = round_ste(y - mu)
        ybits = -torch.log2(gaussian_likelihood(v if ste else y - mu, ls)).sum()
        return v + mu, ybits + zbits.sum()

    for path in args.images:
        a = np.asarray(Image.open(path)).astype(np.float64)
        a = a[: a.shape[0] // 64 * 64, : a.shape[1] // 64 * 64][:512, :512]
        lo = a.min()
        bits = max(1, int(a.max() - lo).bit_length())
        x = torch.tensor((a - lo) / (2 ** bits - 1), dtype=torch.float32)[None, None]
        npix = a.size
        for qi in (int(v) for v in args.qualities.split(",")):
            q = torch.tensor([qi])
            lam = net.lambdas[qi]
            with torch.no_grad():
                y = net.analysis(x, q).clone()
            y.requires_grad_(True)

            def measure() -> tuple[float, float, float]:
                with torch.no_grad():
                    yh, b = rate(y, q, True)  # noqa: B023 - the loop's current latents
                    mse = (net.synthesis(yh, q).clamp(0, 1) - x).pow(2).mean().item()  # noqa: B023
                    bpp = b.item() / npix  # noqa: B023
                    return bpp, 10 * math.log10(1 / mse), lam * 255 ** 2 * mse + bpp  # noqa: B023

            before = measure()
            best = (before[2], y.detach().clone())
            opt = torch.optim.Adam([y], lr=args.lr)
            t0 = time.time()
            for step in range(args.steps):
                opt.zero_grad()
                yh, b = rate(y, q, not args.soft)
                loss = lam * 255 ** 2 * (net.synthesis(yh, q) - x).pow(2).mean() + b / npix
                loss.backward()
                opt.step()
                if (step + 1) % 10 == 0:
                    cost = measure()[2]
                    if cost < best[0]:
                        best = (cost, y.detach().clone())
            with torch.no_grad():
                y.copy_(best[1])
            after = measure()
            print(f"{path.name[:40]} q{qi}: bpp {before[0]:.4f} psnr {before[1]:.2f} cost "
                  f"{before[2]:.4f} -> bpp {after[0]:.4f} psnr {after[1]:.2f} cost "
                  f"{after[2]:.4f} ({100 * (after[2] / before[2] - 1):+.2f} %, "
                  f"{time.time() - t0:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
