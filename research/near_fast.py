"""Near-lossless model id 17 (SPEC 7.7: the fast coder's planes, quantised) against model ids
12 and 2 (``fast_nlms=False``), issue #22 item 4.

``train``: near_cover.py's train sample (2 images per source, seed 1; planes above 2 MP
cropped to 1024 x 1024): whole mic streams at efforts 1 and 3 (and 5 with ``--effort5``),
each model's bytes and encode / decode time (one thread, after a warm-up pass; every
stream decoded and checked within k).  ``eval``: the eval split, the same streams against
CharLS JPEG-LS NEAR = k, bytes only (a measurement; nothing is chosen on it).

    PYTHONPATH=. OMP_NUM_THREADS=1 python research/near_fast.py train CORPUS/train
    PYTHONPATH=. OMP_NUM_THREADS=1 python research/near_fast.py eval CORPUS/eval
"""

from __future__ import annotations

import argparse
import csv
import pathlib
import sys
import time

import numpy as np

KS = (1, 2, 4)


def _code(im: np.ndarray, bits: int, k: int, effort: int, fast: bool) -> tuple[int, float, float]:
    import mic

    opts = {} if fast else {"fast_nlms": False}
    t0 = time.perf_counter()
    s = mic.encode(im, max_error=k, bits_stored=bits, effort=effort, **opts)
    t1 = time.perf_counter()
    out = mic.decode(s)
    t2 = time.perf_counter()
    assert np.abs(out.astype(np.int64) - im).max() <= k
    assert mic.info(s).model_id == (17 if fast else 12 if effort >= 3 else 2)
    return len(s), t1 - t0, t2 - t1


def train(split: pathlib.Path, efforts: tuple[int, ...]) -> None:
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    from near_cover import _train_sample

    ims = _train_sample(split)
    mp = sum(im.size for im, _ in ims) / 1e6
    print(f"{len(ims)} train images, {mp:.2f} MP (samples)")
    _code(ims[0][0], ims[0][1], 1, 1, True)  # warm the kernels
    _code(ims[0][0], ims[0][1], 1, 3, True)
    for effort in efforts:
        for k in KS:
            tot = {m: np.zeros(3) for m in (False, True)}
            for im, bits in ims:
                for fast in (False, True):
                    tot[fast] += _code(im, bits, k, effort, fast)
            old, new = tot[False], tot[True]
            print(f"effort {effort} k={k}: model {12 if effort >= 3 else 2} {int(old[0])} B, "
                  f"model 17 {int(new[0])} B ({new[0] / old[0]:.4f}); encode "
                  f"{mp / old[1]:.1f} -> {mp / new[1]:.1f} MP/s (x {old[1] / new[1]:.2f}), "
                  f"decode {mp / old[2]:.1f} -> {mp / new[2]:.1f} MP/s "
                  f"(x {old[2] / new[2]:.2f})", flush=True)


def evaluate(split: pathlib.Path, efforts: tuple[int, ...]) -> None:
    import imagecodecs

    from mic.io import read_image

    rows = [r for r in csv.DictReader(open(split.parent / "manifest.csv")) if r["split"] == "eval"]
    ims = []
    for r in rows:
        im, _ = read_image(split.parent / r["png"])
        ims.append((np.ascontiguousarray(im), max(int(r["bits_stored"]),
                                                  int(im.max()).bit_length(), 1), r["modality"]))
    for effort in efforts:
        for k in KS:
            tot = {"12": 0, "17": 0, "jls": 0}
            mods: dict[str, list[int]] = {}
            for im, bits, mod in ims:
                a = _code(im, bits, k, effort, False)[0]
                b = _code(im, bits, k, effort, True)[0]
                j = len(imagecodecs.jpegls_encode(im, level=k))
                tot["12"] += a
                tot["17"] += b
                tot["jls"] += j
                m = mods.setdefault(mod, [0, 0, 0])
                m[0] += a
                m[1] += b
                m[2] += j
            old = 12 if effort >= 3 else 2
            print(f"{len(ims)} eval images, effort {effort}, k={k}: model {old} / JPEG-LS "
                  f"{tot['12'] / tot['jls']:.4f}, model 17 / JPEG-LS "
                  f"{tot['17'] / tot['jls']:.4f} (17 / {old} {tot['17'] / tot['12']:.4f}); "
                  + ", ".join(f"{m} {v[1] / v[2]:.3f}" for m, v in sorted(mods.items())),
                  flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["train", "eval"])
    ap.add_argument("split")
    ap.add_argument("--efforts", default="1,3")
    a = ap.parse_args()
    split = pathlib.Path(a.split)
    efforts = tuple(int(e) for e in a.efforts.split(","))
    if a.what == "train":
        if "eval" in {p.lower() for p in split.resolve().parts}:
            raise SystemExit("train reads the train split only")
        train(split, efforts)
    else:
        evaluate(split, efforts)


if __name__ == "__main__":
    main()
