"""When does a lossless plane code smaller through a palette of its used values (SPEC 5.2,
kind 2) although more than half of its range occurs?  (Issue #22.)

The encoder tries the palette only where at most half the values of ``[min, max]`` occur.
This script codes every grey plane of a split (RGB: each sample plane, untransformed) both
ways with the default lossless model (id 13) wherever any value of the range is missing, and
prints, per bucket of the used fraction ``f`` and of the *core* used fraction ``fc`` (the
used share of the values between the plane's 1st and 99th percentile), how often and how
much the palette wins.  Run it on the train split to choose a rule; eval only measures it.

    PYTHONPATH=. python research/lossless_palette_rule.py CORPUS/train [--csv OUT.csv] [--coder fast]

Finding: benches/results/2026-12-05-lossless-palette-rule.md.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np


def fractions(p: np.ndarray) -> tuple[float, float, int]:
    """(used fraction of [min, max], used fraction of [1st, 99th percentile], span)."""
    lo = int(p.min())
    span = int(p.max()) - lo + 1
    counts = np.bincount((p - lo).ravel(), minlength=span)
    used = counts > 0
    cum = np.cumsum(counts)
    a = int(np.searchsorted(cum, 0.01 * p.size))
    b = int(np.searchsorted(cum, 0.99 * p.size))
    return float(used.mean()), float(used[a:b + 1].mean()), span


def sizes(p: np.ndarray, coder: str = "default") -> tuple[int, int]:
    """(bytes coded plainly, bytes through the palette) of one int32 plane: model 13's
    planes (``default``) or the fast coder's (``fast``, effort 1-2)."""
    import zstandard

    from mic.lossless.encoder import _encode_coded
    from mic.lossless.encoder_fast import _body

    def code(x: np.ndarray, maxval: int) -> bytes:
        return _body(x, maxval) if coder == "fast" else _encode_coded(x, maxval, lms=True)

    lo = int(p.min())
    x = (p - lo).astype(np.int32)
    span = int(x.max())
    used = np.bincount(x.ravel(), minlength=span + 1) > 0
    plain = code(x, span)
    lut = np.cumsum(used, dtype=np.int32) - 1
    zb = zstandard.ZstdCompressor(level=19).compress(np.packbits(used).tobytes())
    pal = code(lut[x], int(used.sum()) - 1)
    return len(plain), len(pal) + len(zb) + 4


def main() -> None:
    from mic.io import read_image
    from mic.lossless.encoder import PALETTE_MIN_DENSITY, offer_palette

    ap = argparse.ArgumentParser()
    ap.add_argument("split", type=Path)
    ap.add_argument("--csv", type=Path)
    ap.add_argument("--coder", choices=("default", "fast"), default="default")
    args = ap.parse_args()
    rows = []
    for path in sorted(args.split.glob("*/*.png")):
        a, _ = read_image(str(path))
        planes = [a] if a.ndim == 2 else [a[..., c] for c in range(a.shape[-1])]
        for k, p in enumerate(planes):
            p = p.astype(np.int32)
            f, fc, span = fractions(p)
            if span < 4 or f >= 1.0 or 2 * f * span <= span:  # (the palette was tried there)
                continue
            plain, pal = sizes(p, args.coder)
            rule = offer_palette(np.bincount((p - p.min()).ravel()))
            rows.append((path.parent.name, path.name, k, p.size, f, fc, plain, pal, span, rule))
            print(f"{path.parent.name} {path.name[:40]:40s} f {f:.3f} fc {fc:.3f} "
                  f"plain {plain} palette {pal} {pal / plain:.3f}", flush=True)
    if args.csv:
        with args.csv.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["modality", "image", "plane", "pixels", "f", "fc", "plain", "palette",
                        "span", "offered"])
            w.writerows(rows)
    print("\n| core used fraction fc | planes | palette smaller | plain bytes | palette bytes | ratio |")
    print("|---|---|---|---|---|---|")
    edges = [0.0, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 1.01]
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = [r for r in rows if lo <= r[5] < hi]
        if not sel:
            continue
        pl = sum(r[6] for r in sel)
        pa = sum(min(r[6], r[7]) for r in sel)
        wins = sum(r[7] < r[6] for r in sel)
        print(f"| {lo:.2f}-{min(hi, 1):.2f} | {len(sel)} | {wins} | {pl} | "
              f"{sum(r[7] for r in sel)} | {sum(r[7] for r in sel) / pl:.3f} (best of both {pa / pl:.3f}) |")
    report_rule(rows, PALETTE_MIN_DENSITY)


def report_rule(rows: list, density: int) -> None:
    """The encoder's rule (:func:`mic.lossless.encoder.offer_palette`) on these planes:
    the planes it offers a palette, and what keeping the smaller gains there."""
    sel = [r for r in rows if r[9]]
    if not sel:
        print("\nthe rule offers no palette on these planes")
        return
    pl = sum(r[6] for r in sel)
    best = sum(min(r[6], r[7]) for r in sel)
    allb = sum(r[6] for r in rows)
    print(f"\nrule (core < 0.7 with >= {density} samples per value, or at most half used): "
          f"{len(sel)} planes offered, palette smaller on {sum(r[7] < r[6] for r in sel)}; "
          f"their bytes {pl} -> {best} ({best / pl:.4f}), palette alone {sum(r[7] for r in sel) / pl:.4f}; "
          f"all {len(rows)} planes tested: {allb} -> {allb - pl + best} ({(allb - pl + best) / allb:.4f})")


if __name__ == "__main__":
    sys.exit(main())

