"""Where does a conv model lose on an image with flat padding (issue #21)?  One image, reduced
to its top 8 bits as ``mic bench --bits8`` does: its PSNR per quality on the whole image and
on crops (``--crop NAME=y0:y1,x0:x1``), and what overwriting its exactly constant B x B
blocks with their value after decoding would gain (an upper bound for a "constant blocks"
side channel: the mask's bits are not counted).

    PYTHONPATH=. python research/conv_flat_blocks.py EVAL/MR/wg04_MR4__REF_MR4_UNC.png \\
        --model cnn --crop centre=128:384,128:384 --crop bars=0:512,0:128

Measurement only (the recorded run reads an eval image; nothing is fitted).  Finding:
``benches/results/2026-12-06-seed-table-9/flat-blocks.txt``.
"""

from __future__ import annotations

import argparse

import numpy as np

import mic
from mic.eval.data import make_image, top8
from mic.io import read_image


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0 ** 2 / np.mean((a.astype(float) - b) ** 2)))


def flat_fix(decoded: np.ndarray, src: np.ndarray, B: int) -> tuple[np.ndarray, float]:
    """``decoded`` with every exactly constant B x B block of ``src`` set to its value, and
    the share of the blocks that are constant."""
    out = decoded.copy()
    h, w = src.shape
    n = flat = 0
    for y in range(0, h, B):
        for x in range(0, w, B):
            blk = src[y:y + B, x:x + B]
            n += 1
            if blk.min() == blk.max():
                out[y:y + B, x:x + B] = blk.flat[0]
                flat += 1
    return out, flat / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("image")
    ap.add_argument("--model", default="cnn")
    ap.add_argument("--qualities", default="0,2,4,6")
    ap.add_argument("--block", type=int, default=8)
    ap.add_argument("--crop", action="append", default=[], help="NAME=y0:y1,x0:x1")
    a = ap.parse_args()
    img, _ = read_image(a.image)
    b = top8(make_image(img, name=a.image)).native  # as mic bench --bits8 reduces it
    crops = {"whole": (slice(None), slice(None))}
    for c in a.crop:
        name, spec = c.split("=")
        ys, xs = spec.split(",")
        crops[name] = tuple(slice(*map(int, s.split(":"))) for s in (ys, xs))
    print(f"{a.image} {b.shape}, its top 8 bits (max {int(img.max())}); model {a.model}")
    for q in map(int, a.qualities.split(",")):
        s = mic.encode(b, quality=q, model=a.model)
        d = mic.decode(s)
        fixed, share = flat_fix(d, b, a.block)
        parts = " ".join(f"{k} {psnr(b[sl], d[sl]):.2f}" for k, sl in crops.items())
        print(f"q{q}: {8 * len(s) / b.size:.4f} bpp, PSNR {parts} dB; constant "
              f"{a.block}x{a.block} blocks ({share:.0%}) overwritten: {psnr(b, fixed):.2f} dB")


if __name__ == "__main__":
    main()
