"""Near-lossless covering palettes (mic/lossless/near_palette.py; issue #22 item 4).

``train``: on near_gain.py's train sample (2 images per source, seed 1; planes above 2 MP
cropped to 1024 x 1024), whole mic streams at one effort with the covering palette off (0),
on sparse planes (1, what every effort does) and on every plane (2, effort 5 and up):
bytes and encode time (one thread, a second pass; every stream decoded and checked within
k).  ``eval``: the eval split at one effort against CharLS JPEG-LS NEAR = k, bytes only (a
measurement; nothing is chosen on it).

    PYTHONPATH=. python research/near_cover.py train CORPUS/train --effort 3
    PYTHONPATH=. python research/near_cover.py eval CORPUS/eval --effort 5
"""

from __future__ import annotations

import argparse
import csv
import pathlib
import sys
import time

import numpy as np


def _train_sample(split: pathlib.Path) -> list[tuple[np.ndarray, int]]:
    from PIL import Image

    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    from near_gain import pick_sample

    out = []
    for r in pick_sample(split.parent):
        im = np.asarray(Image.open(split.parent / r["png"]))
        if im.shape[0] * im.shape[1] > 2_000_000:
            im = np.ascontiguousarray(im[:1024, :1024])
        out.append((im, max(int(r["bits_stored"]), int(im.max()).bit_length(), 1)))
    return out


def train(split: pathlib.Path, effort: int) -> None:
    import mic
    import mic.lossless.encoder_near as enc

    ims = _train_sample(split)
    real = enc.encode_plane_near
    for k in (1, 2, 4):
        res = {}
        for cov in (0, 1, 2, 0):  # cover 0 twice: the first pass warms the kernels
            enc.encode_plane_near = lambda p, n, lms=True, c=0, cov=cov: real(p, n, lms, cov)
            try:
                t = b = 0.0
                for im, bits in ims:
                    t0 = time.perf_counter()
                    s = mic.encode(im, max_error=k, bits_stored=bits, effort=effort,
                                   fast_nlms=False)  # model 12, as measured
                    t += time.perf_counter() - t0
                    b += len(s)
                    assert np.abs(mic.decode(s).astype(np.int64) - im).max() <= k
            finally:
                enc.encode_plane_near = real
            res[cov] = (b, t)
        print(f"k={k} effort {effort} ({len(ims)} images): " + "  ".join(
            f"cover {c}: {int(b)} B ({b / res[0][0]:.4f}) {t:.2f} s ({t / res[0][1]:.2f} x)"
            for c, (b, t) in sorted(res.items())), flush=True)


def evaluate(split: pathlib.Path, effort: int) -> None:
    import imagecodecs

    import mic
    from mic.io import read_image

    rows = [r for r in csv.DictReader(open(split.parent / "manifest.csv")) if r["split"] == "eval"]
    tot = {k: [0, 0] for k in (1, 2, 4)}
    for r in rows:
        im, _ = read_image(split.parent / r["png"])
        im = np.ascontiguousarray(im)
        bits = max(int(r["bits_stored"]), int(im.max()).bit_length(), 1)
        for k, t in tot.items():
            s = mic.encode(im, max_error=k, bits_stored=bits, effort=effort,
                           fast_nlms=False)  # model 12, as measured
            assert np.abs(mic.decode(s).astype(np.int64) - im).max() <= k
            t[0] += len(s)
            t[1] += len(imagecodecs.jpegls_encode(im, level=k))
    print(f"{len(rows)} eval images, effort {effort}: mic / JPEG-LS NEAR = k bytes " +
          ", ".join(f"k={k} {a / b:.4f}" for k, (a, b) in tot.items()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["train", "eval"])
    ap.add_argument("split")
    ap.add_argument("--effort", type=int, default=3)
    a = ap.parse_args()
    split = pathlib.Path(a.split)
    if a.what == "train":
        if "eval" in {p.lower() for p in split.resolve().parts}:
            raise SystemExit("train reads the train split only")
        train(split, a.effort)
    else:
        evaluate(split, a.effort)


if __name__ == "__main__":
    main()
