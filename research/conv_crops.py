#!/usr/bin/env python
"""Side-by-side crops (issue #21, evaluation item 3): the original, JPEG 2000 (OpenJPEG)
and mic's learned-transform models at the same rate, one PNG figure per image.

    OMP_NUM_THREADS=1 python research/conv_crops.py --corpus ../shared/corpus \\
        --models cnn,gan --bpp 0.25 --out benches/results/2026-12-05-conv-crops

Measurement only.  The images are chosen by a rule fixed before looking at any result:
the first eval row of each of the modalities CT, MR and DX in manifest order (first
channel).  For each model the quality whose whole-image rate is closest to ``--bpp`` is
taken; JPEG 2000 is then matched to the *first* model's stream size (its PSNR target
bisected until its stream is the largest not above that size).  The crop is the 128 x 128
window (on a 32-pixel grid) of the highest variance in the original, shown with the
original crop's own min/max as black/white and enlarged 3 times (nearest neighbour).
The titles give each codec's whole-image bpp and PSNR (peak ``2^bits_stored - 1``).
``--bits8`` codes the top 8 bits, as ``mic bench --bits8``.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mic  # noqa: E402
from mic.io import read_image  # noqa: E402
from mic.lossy import load_model  # noqa: E402

MODALITIES = ("CT", "MR", "DX")
CROP = 128


def psnr(a: np.ndarray, b: np.ndarray, bits: int) -> float:
    m = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * math.log10(((1 << bits) - 1) ** 2 / max(m, 1e-12))


def pick_images(corpus: Path) -> list[dict]:
    rows = list(csv.DictReader(open(corpus / "manifest.csv", newline="")))
    out = []
    for mod in MODALITIES:
        for r in rows:
            if r["split"] == "eval" and r["modality"] == mod:
                out.append(r)
                break
    return out


def top8(a: np.ndarray, bits: int) -> tuple[np.ndarray, int]:
    """The seed paper's regime (as ``mic bench --bits8``): unsigned samples shifted right
    by their bit length less 8."""
    u = a.astype(np.int64)
    if u.min() < 0:
        u = u - u.min()
    n = max(int(u.max()).bit_length(), 8)
    return (u >> (n - 8)).astype(np.uint8), 8


def nearest_quality(a: np.ndarray, model: str, bits: int, bpp: float) -> tuple[bytes, int]:
    best = None
    n_q = load_model(model).n_qualities
    for q in range(n_q):
        b = mic.encode(a, model=model, quality=q, bits_stored=bits)
        d = abs(math.log(8 * len(b) / a.size / bpp))
        if best is None or d < best[0]:
            best = (d, b, q)
    return best[1], best[2]


def j2k_at_size(a: np.ndarray, bits: int, nbytes: int) -> bytes:
    import imagecodecs as ic

    kw = {"bitspersample": bits if a.dtype != np.int16 else 16, "numthreads": 1,
          "reversible": False}
    lo, hi = 10.0, 100.0  # PSNR targets (dB): the stream grows with the target
    best = ic.jpeg2k_encode(a, level=lo, **kw)
    for _ in range(24):
        mid = (lo + hi) / 2
        b = ic.jpeg2k_encode(a, level=mid, **kw)
        if len(b) <= nbytes:
            best, lo = b, mid
        else:
            hi = mid
    return best


def crop_window(a: np.ndarray) -> tuple[int, int]:
    h, w = a.shape
    best = (-1.0, 0, 0)
    for i in range(0, max(h - CROP, 0) + 1, 32):
        for j in range(0, max(w - CROP, 0) + 1, 32):
            v = float(a[i:i + CROP, j:j + CROP].astype(np.float64).var())
            if v > best[0]:
                best = (v, i, j)
    return best[1], best[2]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--models", default="cnn,gan")
    p.add_argument("--bpp", type=float, default=0.25)
    p.add_argument("--bits8", action="store_true")
    a_ = p.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import imagecodecs as ic

    models = [m for m in a_.models.split(",") if m]
    a_.out.mkdir(parents=True, exist_ok=True)
    lines = [f"# research/conv_crops.py --models {a_.models} --bpp {a_.bpp}"
             f"{' --bits8' if a_.bits8 else ''}", "",
             "| image | codec | quality | bytes | bpp | PSNR dB |", "|---|---|---|---|---|---|"]
    for row in pick_images(a_.corpus):
        a, _ = read_image(a_.corpus / row["png"])
        a = a[..., 0] if a.ndim == 3 else a
        bits = int(row["bits_stored"])
        if a_.bits8:
            a, bits = top8(a, bits)
        panels = [("original", a, "")]
        first_size = None
        for m in models:
            blob, q = nearest_quality(a, m, bits, a_.bpp)
            first_size = first_size or len(blob)
            d = mic.decode(blob)
            panels.append((f"mic {m} q{q}", d, (q, len(blob))))
        j = j2k_at_size(a, bits, first_size)
        panels.insert(1, ("JPEG 2000", ic.jpeg2k_decode(j), ("-", len(j))))
        i0, j0 = crop_window(a)
        ref = a[i0:i0 + CROP, j0:j0 + CROP].astype(np.float64)
        lo, hi = float(ref.min()), float(ref.max())
        fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6))
        for ax, (name, img, info) in zip(axes, panels):
            c = img[i0:i0 + CROP, j0:j0 + CROP].astype(np.float64)
            ax.imshow(np.kron(np.clip((c - lo) / max(hi - lo, 1), 0, 1), np.ones((3, 3))),
                      cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_axis_off()
            if info:
                q, n = info
                bpp = 8 * n / a.size
                ps = psnr(a, img, bits)
                ax.set_title(f"{name}\n{bpp:.3f} bpp, {ps:.2f} dB", fontsize=9)
                lines.append(f"| {row['source']} | {name} | {q} | {n} | {bpp:.4f} | {ps:.2f} |")
            else:
                ax.set_title(f"original ({row['modality']}, {bits} bit)\ncrop at ({i0}, {j0})",
                             fontsize=9)
        fig.tight_layout()
        fig.subplots_adjust(top=0.84)
        name = f"{row['modality']}_{row['source']}{'_bits8' if a_.bits8 else ''}.png"
        fig.savefig(a_.out / name, dpi=80)
        plt.close(fig)
        print(f"wrote {a_.out / name}", flush=True)
    (a_.out / f"crops{'_bits8' if a_.bits8 else ''}.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
