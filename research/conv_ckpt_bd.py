"""BD-rate (PSNR) of a conv-model checkpoint, or of the average of several checkpoints'
weights, against a reference checkpoint, on the train sample (the middle image of each
source, first 512 x 512) with rounded latents: rate = the model's -log2 likelihood of the
rounded symbols, PSNR of the clamped reconstruction (as ``research/conv_rd_train.py``);
mean of the per-image BD-rates over the qualities (crops of one value skipped: they have no
RD curve to compare; until 2026-12-06 they were counted, two of the 20).  A check of training snapshots before
an export (issue #21), not a benchmark.

    PYTHONPATH=. .venv/bin/python research/conv_ckpt_bd.py CORPUS/train REF.pt CAND.pt[,CAND2.pt,...]

Several candidates separated by commas are averaged weight by weight, as
``python -m mic.train.conv_export --average`` exports them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from mic.eval.bdrate import bd_rate
from mic.train.conv_export import averaged_state
from mic.train.conv_models import HYPER_STRIDE, from_config
from mic.train.dataset import normalise

sys.path.insert(0, str(Path(__file__).parent))
from train_sample import sample_images  # noqa: E402


def load(paths: list[str]) -> torch.nn.Module:
    """The model of the first checkpoint, its weights averaged with the others' as
    ``conv_export --average`` does (:func:`mic.train.conv_export.averaged_state`)."""
    cks = [torch.load(p, map_location="cpu", weights_only=False) for p in paths]
    net = from_config(cks[0]["config"])
    net.load_state_dict(averaged_state(cks[0], cks[1:]))
    return net.eval()


def curves(net: torch.nn.Module, imgs: list[np.ndarray]) -> list[list[tuple[float, float]]]:
    out = []
    for x in imgs:
        h, w = x.shape
        xp = np.pad(x, ((0, -h % HYPER_STRIDE), (0, -w % HYPER_STRIDE)), mode="edge")
        pts = []
        for q in range(net.n_qualities):
            with torch.no_grad():
                o = net(torch.from_numpy(xp)[None, None], torch.tensor([q]), noise=False)
            xh = o["x_hat"][0, 0, :h, :w].clamp(0, 1).numpy()
            mse = max(float(np.mean((xh - x) ** 2)), 1e-12)
            pts.append((float(o["bits"][0]) / (h * w), 10 * np.log10(1 / mse)))
        out.append(pts)
    return out


def main() -> None:
    torch.set_num_threads(1)
    split = Path(sys.argv[1])
    if "eval" in {p.lower() for p in split.resolve().parts}:
        raise SystemExit("this script reads the train split only")
    crops = [a for _, a, _ in sample_images(split, max_side=512)]
    # a constant crop (two train sources' first 512 x 512) has no meaningful RD curve: its
    # BD-rate is noise of a few bytes, which outweighed 18 real images before this was skipped
    imgs = [normalise(a) for a in crops if np.ptp(a) > 0]
    ref = curves(load([sys.argv[2]]), imgs)
    cand = curves(load(sys.argv[3].split(",")), imgs)
    bds = [bd_rate(*zip(*r), *zip(*c)) for r, c in zip(ref, cand)]
    print(f"{sys.argv[3]} vs {sys.argv[2]}: mean BD-rate {100 * np.nanmean(bds):+.2f} % over "
          f"{len(bds)} train images, {len(crops) - len(imgs)} constant crops skipped "
          f"(better on {sum(b < 0 for b in bds)}; median "
          f"{100 * np.nanmedian(bds):+.2f} %, worst {100 * np.nanmax(bds):+.2f} %)")


if __name__ == "__main__":
    main()
