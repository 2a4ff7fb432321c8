"""Volumes (issue #22 item 3): can a cheap statistic of a frame and the frame before say
when coding it as xform 7 (model id 25, SPEC 5.15) is not worth trying?  The encoder codes
every tile after the first of its group intra and as xform 7 and keeps the smaller (so a
volume is never larger than per-frame coding); skipping xform 7 where it would lose keeps
that guarantee and saves its time.  Per consecutive pair of the series of
``research/volume_gain.py`` (train series to choose, totalseg_ct's eval slices to measure)
and of synthetic thin slices: intra and xform-7 bytes, and ``r = sum |x - P5| / sum |x -
MED|`` on every 4th row (``P5`` SPEC 5.5's prediction from the previous frame, ``MED`` the
median edge rule).

    OMP_NUM_THREADS=1 PYTHONPATH=. python research/volume_inter_rule.py CORPUS [MAX_FRAMES]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from volume_gain import SERIES, load  # noqa: E402


def med3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The median edge rule on W = a, N = b, NW = c."""
    mx, mn = np.maximum(a, b), np.minimum(a, b)
    return np.where(c >= mx, mn, np.where(c <= mn, mx, a + b - c))


def ratio(x: np.ndarray, ref: np.ndarray, step: int = 4) -> float:
    """sum |x - P5| / sum |x - MED| over the interior samples of every ``step``'th row."""
    x = x.astype(np.int64)
    ref = ref.astype(np.int64)
    rows = np.arange(1, x.shape[0], step)
    cur = x[rows, 1:]
    w_, n_, nw_ = x[rows, :-1], x[rows - 1, 1:], x[rows - 1, :-1]
    rc = ref[rows, 1:]
    rw, rn, rnw = ref[rows, :-1], ref[rows - 1, 1:], ref[rows - 1, :-1]
    p5 = rc + med3(w_ - rw, n_ - rn, nw_ - rnw)
    med = med3(w_, n_, nw_)
    return float(np.abs(cur - p5).sum() / max(1, np.abs(cur - med).sum()))


def synthetic() -> list[tuple[str, np.ndarray]]:
    from PIL import Image

    root = Path(__file__).resolve().parents[1]
    with Image.open(root / "mic" / "data" / "ct_abdomen.png") as im:
        ct = np.asarray(im).astype(np.int32)
    rng = np.random.default_rng(1)
    ramp = np.add.outer(np.arange(320), np.arange(320)) // 40
    return [(f"thin CT 320², noise {nz}",
             np.stack([np.clip(ct[100:420, 100:420] + f * ramp
                               + rng.integers(-nz, nz + 1, (320, 320)), 0, 65535)
                       for f in range(4)])) for nz in (1, 4, 16, 64)]


def main(corpus: Path, limit: int) -> None:
    from mic.lossless.encoder_fast import encode_plane_fast

    kw = {"lms": True, "prior": True, "bands": True, "low": True, "compact": True}
    vols = [(f"{src} ({split})", load(corpus, split, src, limit)[0]) for split, src in SERIES]
    print("| volume | frame | intra bytes | xform 7 / intra | r | r's ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, vol in vols + synthetic():
        vol = vol.astype(np.int32)
        for i in range(1, len(vol)):
            x, ref = np.ascontiguousarray(vol[i]), np.ascontiguousarray(vol[i - 1])
            intra = len(encode_plane_fast(x, 1, **kw))
            inter = len(encode_plane_fast(x, 0, **kw, ref=ref))
            t = time.perf_counter()
            r = ratio(x, ref)
            ms = 1000 * (time.perf_counter() - t)
            print(f"| {name} | {i} | {intra} | {inter / intra:.4f} | {r:.3f} | {ms:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 40)
