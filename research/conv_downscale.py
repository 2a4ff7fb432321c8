"""Would a conv model code some tiles better at half resolution (issue #21)?

The eval's one DX (2128 x 2000) costs the cnn +208 % BD-rate against JPEG 2000 at 8 bits.
On the train split's large radiographs, coding the whole image at half resolution and
upsampling the decoded image saves 28-29 % BD-rate on two (a DX, a mammogram) and loses
14-92 % on three (a first probe, 2 x 2 means and scipy's cubic spline:
``benches/results/2026-12-06-conv-half/whole-image-probe.txt``).  Here, per 512 x 512
tile: each quality coded at full resolution and at half resolution (SPEC 6.10 xform flag 32: the least-squares half
plane of :func:`mic.lossy.enc_downsample.downsample2`, the decoder's fixed upsampling
:func:`mic.lossy.upsample.upsample2`), both decoded; the costs ``bits + lambda_q * 255^2 *
SSE`` (normalised units, the quality's training loss) and the upsampling's own error
("ceiling", no coding).  Tiles of the train split only: every tile of the large
radiographs, and the first 1024 x 1024 of one image per source (seed 5), top 8 bits.

    PYTHONPATH=. python research/conv_downscale.py CORPUS/train [--model cnn] > tiles.csv
    PYTHONPATH=. python research/conv_downscale.py CORPUS/train --bd [--effort 4] [--native]
    PYTHONPATH=. python research/conv_downscale.py CORPUS/train --per-source 4 [--bd --effort 4]

``--bd``: the encoder as shipped (``half_res``, effort 3, or ``--effort 4``) against the
same without half resolution (``half_res=False, half_search=False``), whole images (the
large radiographs whole, the others' first 1024 x 1024), qualities 0, 2, 4, 6, 7, every
stream decoded: BD-rate and encode-time ratio per image.

Nothing here reads the eval split.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import sys
from pathlib import Path

import numpy as np

from mic.bitstream import Header
from mic.io import read_image
from mic.lossy.conv_syntax import ConvFields
from mic.lossy.dec_conv import ConvTileDecoder
from mic.lossy.enc_conv import ConvTileEncoder
from mic.lossy.enc_downsample import downsample2
from mic.lossy.enc_options import EncoderOptions
from mic.lossy.upsample import upsample2
from train_sample import top8

LARGE = ("DX/pylibjpeg_dx16", "CR/pylibjpeg_cr_kakadu", "MG/fodicom_mg2", "CR/fodicom_cr_lut",
         "MG/fodicom_mg")


class Coder:
    """One quality's plane encoder and decoder (8-bit grey)."""

    def __init__(self, model: str, q: int) -> None:
        h = Header(mode=1, model_id=0, coder_id=0, bits_allocated=8, signed=0, bits_stored=8,
                   photometric=0, layout=0, samples=1, frames=1, rows=512, cols=512)
        self.enc = ConvTileEncoder(h, q, EncoderOptions(model=model).with_choices())
        self.dec = ConvTileDecoder.for_model(self.enc.lm, h)
        self.lam = float(self.enc.lm.config["lambdas"][q])
        self.fields = ConvFields(h.version_major)

    def code(self, x: np.ndarray) -> tuple[int, np.ndarray]:
        """A float plane -> (bits, its decoded float plane)."""
        b = self.enc.encode_plane(x)
        crc, nw, off = self.fields.read_cplane(b, 0)
        return 8 * len(b), self.dec.decode_plane(memoryview(b), off, nw, crc, *x.shape)


def tiles_of(img: np.ndarray, side: int = 512):
    for r in range(0, img.shape[0], side):
        for c in range(0, img.shape[1], side):
            t = img[r:r + side, c:c + side]
            if t.shape[0] >= 64 and t.shape[1] >= 64 and t.min() != t.max():
                yield r, c, t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("--model", default="cnn")
    ap.add_argument("--qualities", default="0,2,4,6,7")
    ap.add_argument("--bd", action="store_true")
    ap.add_argument("--effort", type=int, default=3)
    ap.add_argument("--native", action="store_true")
    ap.add_argument("--per-source", type=int, default=0,
                    help="instead: the middle N images of each source under 1024 x 1024 "
                         "(their tiles, or with --bd their whole images)")
    a = ap.parse_args()
    train = Path(a.train)
    if "eval" in {p.lower() for p in train.resolve().parts}:
        raise SystemExit("train split only")
    qs = [int(q) for q in a.qualities.split(",")]
    coders = {q: Coder(a.model, q) for q in qs}
    jobs = []
    for spec in LARGE:
        mod, stem = spec.split("/")
        jobs.append((stem, sorted((train / mod).glob(stem + "__*.png"))[0], None))
    rows = [r for r in csv.DictReader(open(train.parent / "manifest.csv")) if r["split"] == "train"]
    by: dict[str, list] = {}
    for r in rows:
        by.setdefault(r["source"], []).append(r)
    random.seed(5)
    if a.per_source:
        jobs = []
    for src, rs in sorted(by.items()):
        if any(src == s.split("/")[1] for s in LARGE):
            continue
        if a.per_source:
            small = [r for r in rs if int(r["rows"]) < 1024 or int(r["cols"]) < 1024]
            mid = len(small) // 2
            jobs += [(src, train.parent / r["png"], None)
                     for r in small[max(0, mid - a.per_source // 2):][:a.per_source]]
            continue
        jobs.append((src, train.parent / random.choice(rs)["png"], 1024))
    if a.bd:
        return bd_images(jobs, a.model, qs, a.effort, a.native)
    w = csv.writer(sys.stdout)
    w.writerow(["source", "r", "c", "rows", "cols", "bits", "q", "lam", "ceil_sse", "full_bits",
                "full_sse", "half_bits", "half_sse"])
    for src, path, crop in jobs:
        img = read_image(path)[0]
        if img.ndim == 3:
            img = img[..., 0]
        img = top8(img)
        if crop:
            img = img[:crop, :crop]
        bits = max(1, int(int(img.max()) - int(img.min())).bit_length())
        for r, c, t in tiles_of(img):
            lo = int(t.min())
            x = (t.astype(np.float64) - lo) / ((1 << bits) - 1)
            s = downsample2(x)
            ceil = float(np.sum((upsample2(s, *x.shape) - x) ** 2))
            for q in qs:
                cd = coders[q]
                fb, fx = cd.code(x)
                hb, hs = cd.code(s)
                hx = np.clip(upsample2(hs, *x.shape), 0, 1)
                w.writerow([src, r, c, *t.shape, bits, q, cd.lam, f"{ceil:.6g}", fb,
                            f"{float(np.sum((fx - x) ** 2)):.6g}", hb,
                            f"{float(np.sum((hx - x) ** 2)):.6g}"])
            sys.stdout.flush()


def bd_images(jobs: list, model: str, qs: list[int], effort: int, native: bool) -> None:
    import time

    import mic
    from mic.eval.bdrate import bd_rate

    bds, t_on, t_off = [], 0.0, 0.0
    for src, path, crop in jobs:
        img = read_image(path)[0]
        if img.ndim == 3:
            img = img[..., 0]
        img = img if native else top8(img)
        if crop:
            img = img[:crop, :crop]
        peak = float((1 << max(int(img.max()).bit_length(), 8)) - 1)
        curves = {}
        for on in (False, True):
            rr, pp = [], []
            for q in qs:
                kw = {} if on else {"half_res": False, "half_search": False}
                t0 = time.perf_counter()
                s = mic.encode(img, model=model, quality=q, effort=effort, **kw)
                dt = time.perf_counter() - t0
                t_on, t_off = (t_on + dt, t_off) if on else (t_on, t_off + dt)
                d = mic.decode(s).astype(np.float64)
                rr.append(8 * len(s) / img.size)
                mse = float(np.mean((d - img) ** 2))
                pp.append(10 * math.log10(peak ** 2 / max(mse, 1e-9)))
            curves[on] = (rr, pp)
        same = curves[False] == curves[True]
        bd = 0.0 if same else bd_rate(*curves[False], *curves[True])
        bds.append(bd)
        print(f"{src[:24]:24s} {str(img.shape):14s} BD "
              + ("same streams" if same else f"{100 * bd:+.1f} %")
              + ("" if same else "".join(f"  q{q} {r0:.4f}/{p0:.2f} -> {r1:.4f}/{p1:.2f}"
                                         for q, r0, p0, r1, p1 in
                                         zip(qs, *curves[False], *curves[True]))), flush=True)
    ok = [b for b in bds if b == b]
    print(f"mean BD-rate over {len(ok)} images: {100 * np.mean(ok):+.2f} % "
          f"({sum(1 for b in ok if b != 0)} changed); encode time with / without "
          f"{t_on / t_off:.2f}")


if __name__ == "__main__":
    main()
