"""Lossless (k = 0) with model 12's NLMS-corrected prediction (SPEC 7.6) against model id 1
and JPEG XL e7 on a sample of the **train** split: plane payloads of the whole image as one
tile (the same planes, palettes and colour transform choice for both predictors), pixel-weighted.

    PYTHONPATH=. python research/lossless_nlms.py /work/shared/corpus/train [--per-source 2]
"""

from __future__ import annotations

import argparse
import csv
import pathlib
import random
import time

import numpy as np


def plane_bytes(plane: np.ndarray, variant) -> int:
    """The payload of one int32 plane (SPEC 5.2 kinds 0-2) coded by ``variant``'s kernel."""
    from mic.lossless import encoder as E
    from mic.lossless.syntax import PLANE_CODED, PLANE_CONST, PLANE_PALETTE, plane_head

    lo, hi = int(plane.min()), int(plane.max())
    if lo == hi:
        return len(plane_head(PLANE_CONST, lo))
    x, maxval, bitmap = E._prepare(plane)
    plain = (plane - lo).astype(np.int32)
    n = len(plane_head(PLANE_CODED, lo, hi - lo)) + variant(plain, hi - lo)
    if bitmap is not None:
        import zstandard
        zb = zstandard.ZstdCompressor(level=19).compress(bitmap)
        n = min(n, len(plane_head(PLANE_PALETTE, lo, maxval)) + 4 + len(zb) + variant(x, maxval))
    return n


def image_bytes(a: np.ndarray, variant) -> int:
    from mic.lossless.encoder_rgb import rct_forward as _rct_forward

    if a.ndim == 2:
        return 1 + plane_bytes(a.astype(np.int32), variant)
    rct = 1 + sum(plane_bytes(p, variant) for p in _rct_forward(a.astype(np.int32)))
    plain = 1 + sum(plane_bytes(np.ascontiguousarray(a[..., i].astype(np.int32)), variant)
                    for i in range(3))
    return min(rct, plain)


def model1(x, maxval):
    from mic.lossless.encoder import _encode_coded
    return len(_encode_coded(x.copy(), maxval))


def model12(x, maxval):
    from mic.lossless.encoder import _encode_coded
    return len(_encode_coded(x.copy(), maxval, 0, lms=1))


def _variant(offsets=((0, -1), (0, -2), (1, -1), (1, 1), (2, 0), (1, 2)), mu1=(3, 17),
             mu2=(1, 20), every2=False, bias=False, nsets=4):
    """A model-13 variant through research/_ll_nlms_kernel.py: the coded plane's length."""
    def run(x, maxval):
        import sys
        sys.path.insert(0, str(pathlib.Path(__file__).parent))
        from _ll_nlms_kernel import encode_plane_var

        from mic.lossless.encoder import _range_code
        from mic.lossless.syntax import BLOCK_LOG2, LARGE_PLANE
        h, w = x.shape
        tokens = np.empty(h * w, np.int32)
        bits = np.empty(2 * h * w + 16, np.uint8)
        dys = np.array([o[0] for o in offsets], np.int64)
        dxs = np.array([o[1] for o in offsets], np.int64)
        nbits = encode_plane_var(x, maxval, tokens, bits, dys, dxs, mu1[0], mu1[1], mu2[0],
                                 mu2[1], every2, bias, nsets)
        sizes = (BLOCK_LOG2, BLOCK_LOG2 + 1) if h * w > LARGE_PLANE else (BLOCK_LOG2,)
        nw = min(len(_range_code(tokens, h, w, b)[1]) for b in sizes)
        return 1 + 4 * nw + nbits + 6  # block_log2, words, extra, about 6 bytes of varints
    return run


def min_1_13(x, maxval):
    """Each plane by both predictors, the smaller kept (a per-plane switch, 1 byte or less)."""
    return min(model1(x, maxval), model12(x, maxval))


O6 = ((0, -1), (0, -2), (1, -1), (1, 1), (2, 0), (1, 2))
VARIANTS = {"m1": model1, "m12k0": model12, "min_1_13": min_1_13,
            "v12": _variant(),
            "every2": _variant(every2=True),
            "mu1_2": _variant(mu1=(2, 17)), "mu1_4": _variant(mu1=(4, 17)),
            "mu2_2": _variant(mu2=(2, 20)), "mu2_half": _variant(mu2=(1, 21)),
            "sets8": _variant(nsets=8), "sets1": _variant(nsets=1),
            "o9": _variant(offsets=O6 + ((1, -2), (2, -1), (2, 1))),
            "o12": _variant(offsets=O6 + ((1, -2), (2, -1), (2, 1), (0, -3), (3, 0), (2, -2))),
            "bias": _variant(bias=True),
            "o12_every2_mu2": _variant(offsets=O6 + ((1, -2), (2, -1), (2, 1), (0, -3), (3, 0),
                                                     (2, -2)), every2=True, mu2=(2, 20))}


def sample(train_dir: pathlib.Path, per_source: int, seed: int = 1):
    from PIL import Image

    root = train_dir.parent
    rows = [r for r in csv.DictReader(open(root / "manifest.csv"))
            if r["split"] == train_dir.name]
    by: dict[str, list] = {}
    for r in rows:
        by.setdefault(r["source"], []).append(r)
    random.seed(seed)
    for _, rs in sorted(by.items()):
        for r in random.sample(rs, min(per_source, len(rs))):
            im = np.asarray(Image.open(root / r["png"]))
            if im.shape[0] * im.shape[1] > 2_000_000:
                im = np.ascontiguousarray(im[:1024, :1024])
            bits = max(int(r["bits_stored"]), int(im.max()).bit_length(), 1)
            yield r, im, bits


def jxl_bytes(a: np.ndarray, bits: int) -> int:
    import imagecodecs as ic
    n = len(ic.jpegxl_encode(a, lossless=True, effort=7, numthreads=1))
    if bits < a.dtype.itemsize * 8:
        n = min(n, len(ic.jpegxl_encode(a, lossless=True, effort=7, bitspersample=bits,
                                        numthreads=1)))
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("train_dir", type=pathlib.Path)
    ap.add_argument("--per-source", type=int, default=2)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--no-jxl", action="store_true")
    a = ap.parse_args()
    names = a.variants.split(",")
    tot: dict[str, dict[str, float]] = {}
    for r, im, bits in sample(a.train_dir, a.per_source):
        px = im.shape[0] * im.shape[1]
        res = {"px": px}
        line = f"{r['modality']:3s} {r['source'][:24]:24s} {str(im.shape):16s}"
        for v in names:
            t = time.perf_counter()
            res[v] = image_bytes(im, VARIANTS[v])
            line += f" {v} {8 * res[v] / px:.3f} ({time.perf_counter() - t:.2f}s)"
        if not a.no_jxl:
            res["jxl"] = jxl_bytes(im, bits)
            line += f" jxl {8 * res['jxl'] / px:.3f}"
        print(line, flush=True)
        for key in (r["modality"], "all"):
            d = tot.setdefault(key, {})
            for k2, v2 in res.items():
                d[k2] = d.get(k2, 0) + v2
    cols = names + ([] if a.no_jxl else ["jxl"])
    print("\nmodality  MP   " + "  ".join(f"{c:>8s}" for c in cols) + "   ratios to " + names[0]
          + ("" if a.no_jxl else " and to jxl"))
    for key, d in sorted(tot.items(), key=lambda kv: kv[0] == "all"):
        px = d["px"]
        s = f"{key:8s} {px / 1e6:5.2f} " + "  ".join(f"{8 * d[c] / px:8.3f}" for c in cols)
        s += "   " + " ".join(f"{d[c] / d[names[0]]:.3f}" for c in names[1:])
        if not a.no_jxl:
            s += " | " + " ".join(f"{d[c] / d['jxl']:.3f}" for c in names)
        print(s)


if __name__ == "__main__":
    main()
