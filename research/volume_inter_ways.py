"""Volumes (issue #22 item 3, SPEC 5.5 and 5.15): each way a frame after the first can be
coded, side by side: intra (model 22's planes), xform 4 (model 1's seven-predictor inter
plane) and xform 7 (model id 25: a kind-5 plane whose NLMS filters take P5), bytes and
encode time per frame.  On totalseg_ct's 4 eval slices and on 320 x 320 synthetic "thin
slices" of the bundled CT (one crop, a ramp a frame, noise of 1, 4 and 16) and a smooth
volume: what decided that the encoder tries xform 4 only up to SMALL_FRAME pixels.

    OMP_NUM_THREADS=1 PYTHONPATH=. python research/volume_inter_ways.py CORPUS
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import numpy as np


def frames(corpus: Path) -> list[tuple[str, list[np.ndarray]]]:
    from PIL import Image

    from mic.io import read_image

    with open(corpus / "manifest.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["source"] == "totalseg_ct"]
    rows.sort(key=lambda r: (r["src_path"], int(r["frame"])))
    out = [("totalseg_ct (eval)", [read_image(corpus / r["png"])[0].astype(np.int32)
                                   for r in rows])]
    root = Path(__file__).resolve().parents[1]
    with Image.open(root / "mic" / "data" / "ct_abdomen.png") as im:
        ct = np.asarray(im).astype(np.int32)
    rng = np.random.default_rng(1)
    ramp = np.add.outer(np.arange(320), np.arange(320)) // 40
    for nz in (1, 4, 16):
        out.append((f"thin CT 320 x 320, noise {nz}",
                    [np.clip(ct[100:420, 100:420] + f * ramp
                             + rng.integers(-nz, nz + 1, (320, 320)), 0, 65535)
                     for f in range(3)]))
    yy, xx = np.mgrid[:320, :320]
    out.append(("smooth 320 x 320", [(5000 + 2000 * np.sin(xx / 7 + f / 4)
                                      + 1500 * np.cos(yy / 6 - f / 6)).astype(np.int32)
                                     for f in range(3)]))
    return out


def timed(fn, *args, **kw) -> tuple[int, float]:
    """(bytes, best of 3 times in ms) of ``fn(*args, **kw)``, after a first call."""
    fn(*args, **kw)
    best = 1e9
    for _ in range(3):
        t = time.perf_counter()
        n = len(fn(*args, **kw))
        best = min(best, time.perf_counter() - t)
    return n, 1000 * best


def main(corpus: Path) -> None:
    from mic.lossless.encoder import encode_plane_inter
    from mic.lossless.encoder_fast import encode_plane_fast

    kw = {"lms": True, "prior": True, "bands": True, "low": True, "compact": True}
    print("| volume | frame | intra bytes (ms) | xform 4 | xform 7 |")
    print("|---|---:|---:|---:|---:|")
    for name, fr in frames(corpus):
        for i in range(1, len(fr)):
            x, ref = fr[i], fr[i - 1]
            ways = [timed(encode_plane_fast, x, 1, **kw), timed(encode_plane_inter, x, ref),
                    timed(encode_plane_fast, x, 0, **kw, ref=ref)]
            print(f"| {name} | {i} | " + " | ".join(f"{n} ({ms:.1f})" for n, ms in ways)
                  + " |", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
