"""Lossless side by side, one run: mic's default (effort 3: model id 22, SPEC 5.13, model 20
with bit-packed table sections, or 24 where an RGB tile wraps a colour difference, SPEC
5.14), the default before it (``wrap=False``: model id 22), the one before that
(``compact_tables=False``: model id 20, SPEC 5.12), mic effort 4 (model 22 or 24, each plane
the smallest of kinds 1-2, 3-4 and 5-6), JPEG XL lossless at efforts 7 and 9 (each the
better of with and without ``bitspersample``, one thread) and CharLS JPEG-LS,
pixel-weighted bits per pixel per modality.  (Model 18 is in the results of
2026-12-07-compact-tables, the models before it in those of 2026-12-07-lossless-20.)
Images as ``mic bench`` reads them (``mic.eval.data``: mic codes the native samples with the
manifest's bits stored, the anchors the unsigned form with the bits it needs).  Every mic
stream is decoded and checked bit-exact against its source.

    # the eval split (every image, whole):
    PYTHONPATH=. python research/lossless_nlms_side.py /work/shared/corpus/eval
    # a train sample (2 images per source, seed 1, planes above 2 MP cropped to 1024 x 1024,
    # as research/lossless_nlms.py):
    PYTHONPATH=. python research/lossless_nlms_side.py /work/shared/corpus/train --per-source 2
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

#: mic's configurations (name -> encode options, the model id it must write), then the anchors
MIC = {"mic": ({}, (22, 24)), "mic22": ({"wrap": False}, (22,)),
       "mic20": ({"compact_tables": False}, (20,)), "mice4": ({"effort": 4}, (22, 24))}
CODERS = (*MIC, "jxl7", "jxl9", "jls")


def _images(folder: pathlib.Path, per_source: int):
    from mic.eval.data import load_images, make_image

    if folder.name == "eval":
        yield from load_images(folder, split="eval")
        return
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    from lossless_nlms import sample

    for r, im, _ in sample(folder, per_source):
        yield make_image(im, name=pathlib.Path(r["png"]).stem, modality=r["modality"],
                         bits=int(r["bits_stored"]), eff_bits=int(r["eff_bits"]),
                         offset=int(r["offset"] or 0), source=r["source"])


def _jxl(a: np.ndarray, bits: int, effort: int) -> int:
    import imagecodecs as ic

    sizes = []
    for kw in ({"bitspersample": bits}, {}):
        try:  # libjxl refuses some settings (an all-zero plane with bitspersample=1)
            b = ic.jpegxl_encode(a, lossless=True, effort=effort, numthreads=1, **kw)
        except ic.JpegxlError:
            continue
        assert np.array_equal(ic.jpegxl_decode(b), a)
        sizes.append(len(b))
    return min(sizes)


def main() -> None:
    import imagecodecs as ic

    import mic

    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=pathlib.Path)
    ap.add_argument("--per-source", type=int, default=2)
    a = ap.parse_args()
    tot: dict[str, dict[str, float]] = {}
    n = 0
    t0 = time.time()
    for im in _images(a.folder, a.per_source):
        x = im.native
        kw = {"bits_stored": im.bits} if 1 <= im.bits <= 8 * x.dtype.itemsize else {}
        res = {"px": x.shape[0] * x.shape[1]}
        for name, (opts, want) in MIC.items():
            blob = mic.encode(x, **opts, **kw)
            assert mic.info(blob).model_id in want, (im.name, name)
            out = mic.decode(blob)
            assert out.dtype == x.dtype and np.array_equal(out, x), (im.name, name)  # bit-exact
            res[name] = len(blob)
        res["jxl7"] = _jxl(im.unsigned, im.ubits, 7)
        res["jxl9"] = _jxl(im.unsigned, im.ubits, 9)
        res["jls"] = len(ic.jpegls_encode(im.unsigned))
        n += 1
        px = res["px"]
        print(f"{im.modality:3s} {im.name[:40]:40s} {str(x.shape):15s} "
              + " ".join(f"{c} {8 * res[c] / px:.3f}" for c in CODERS)
              + f"  mic/jxl7 {res['mic'] / res['jxl7']:.3f}", flush=True)
        for key in (im.modality, "all"):
            d = tot.setdefault(key, {})
            for c, v in res.items():
                d[c] = d.get(c, 0) + v
    print(f"\n{n} images, every mic stream decoded bit-exactly ({time.time() - t0:.0f} s)\n")
    print("| modality | MP | mic (default, 22/24) | mic 22 | mic 20 | mic effort 4 | JPEG XL e7 | "
          "JPEG XL e9 | JPEG-LS | mic / 22 | mic / e7 | e4 / e7 | mic / e9 | 22 / e7 | 20 / e7 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key, d in sorted(tot.items(), key=lambda kv: (kv[0] == "all", kv[0])):
        px = d["px"]
        print(f"| {key} | {px / 1e6:.2f} | " + " | ".join(f"{8 * d[c] / px:.3f}" for c in CODERS)
              + f" | {d['mic'] / d['mic22']:.4f} | {d['mic'] / d['jxl7']:.4f} | "
              f"{d['mice4'] / d['jxl7']:.3f} | {d['mic'] / d['jxl9']:.3f} | "
              f"{d['mic22'] / d['jxl7']:.4f} | {d['mic20'] / d['jxl7']:.3f} |")

if __name__ == "__main__":
    main()
