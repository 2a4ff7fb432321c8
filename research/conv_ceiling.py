#!/usr/bin/env python
"""The reconstruction ceiling of a conv-model checkpoint (issue #21): PSNR of
``g_s(g_a(x))`` with the latents unquantised against rounded, at a low and the top
quality, on the first 12 images of the train sample (first 256 x 256, cut to multiples of
64; peak of the codec's normalisation, ``2**bits(span) - 1``).  If the top quality's
rounded PSNR sits just under the unquantised one, the transforms, not the rate, limit the
model.

    PYTHONPATH=. .venv/bin/python research/conv_ceiling.py CKPT /path/to/corpus/train
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from mic.train.conv_models import from_config
from mic.train.dataset import normalise

sys.path.insert(0, str(Path(__file__).parent))
from train_sample import sample_images  # noqa: E402


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    ck = torch.load(argv[0], map_location="cpu", weights_only=False)
    net = from_config(ck["config"])
    net.load_state_dict(ck["model"])
    net.eval()
    top = net.n_qualities - 1
    res: dict[tuple[int, str], list[float]] = {}
    with torch.no_grad():
        for _, a, _ in list(sample_images(Path(argv[1]), max_side=256))[:12]:
            x = torch.tensor(normalise(a))[None, None]
            h, w = x.shape[2] // 64 * 64, x.shape[3] // 64 * 64
            if not h or not w:
                continue
            x = x[:, :, :h, :w]
            for q in (3, top):
                y = net.analysis(x, torch.tensor([q]))
                for mode, yh in (("unquantised", y), ("rounded", torch.round(y))):
                    xr = net.synthesis(yh, torch.tensor([q])).clamp(0, 1)
                    mse = max(float(((xr - x) ** 2).mean()), 1e-12)
                    res.setdefault((q, mode), []).append(-10 * np.log10(mse))
    print(f"{argv[0]}: step {ck['step']}")
    for (q, mode), v in sorted(res.items()):
        print(f"quality {q} {mode:12s} {np.mean(v):6.2f} dB ({len(v)} images)")


if __name__ == "__main__":
    main(sys.argv[1:])
