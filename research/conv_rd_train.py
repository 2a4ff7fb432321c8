"""Rate and PSNR of a conv-model training checkpoint (issue #21) per quality, on a fixed
sample of the corpus **train** split (the middle image of each source, first 512 x 512),
with rounded latents: the rate is the model's -log2 likelihood of the rounded symbols
(what the later entropy coder will spend, to within its table precision), the PSNR that
of the clamped reconstruction at peak 2^b - 1 of the image's normalisation.  A progress
check of a running training, not a benchmark (that is ``mic bench`` on eval/ later).

    PYTHONPATH=. .venv/bin/python research/conv_rd_train.py /work/ckpt/vae.pt /path/to/corpus/train
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from mic.train.conv_models import HYPER_STRIDE, from_config
from mic.train.dataset import normalise

sys.path.insert(0, str(Path(__file__).parent))
from train_sample import sample_images  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    ck = torch.load(sys.argv[1], map_location="cpu", weights_only=False)
    net = from_config(ck["config"])
    net.load_state_dict(ck["model"])
    net.eval()
    split = Path(sys.argv[2])
    if "eval" in {p.lower() for p in split.resolve().parts}:
        raise SystemExit("this script reads the train split only")
    imgs = [(r["source"], normalise(a)) for r, a, _ in sample_images(split, max_side=512)]
    print(f"{sys.argv[1]}: step {ck['step']}, {ck['cpu_s'] / 60:.0f} CPU min; "
          f"{len(imgs)} train images")
    print("q  lambda   bpp    PSNR")
    for q in range(net.n_qualities):
        bpps, psnrs = [], []
        for _, x in imgs:
            h, w = x.shape
            ph, pw = -h % HYPER_STRIDE, -w % HYPER_STRIDE
            xp = np.pad(x, ((0, ph), (0, pw)), mode="edge")
            with torch.no_grad():
                o = net(torch.from_numpy(xp)[None, None], torch.tensor([q]), noise=False)
            xh = o["x_hat"][0, 0, :h, :w].clamp(0, 1).numpy()
            bpps.append(float(o["bits"][0]) / (h * w))
            psnrs.append(10 * np.log10(1 / max(float(np.mean((xh - x) ** 2)), 1e-12)))
        print(f"{q}  {net.lambdas[q]:.4f}  {np.mean(bpps):.3f}  {np.mean(psnrs):.2f}", flush=True)


if __name__ == "__main__":
    main()
