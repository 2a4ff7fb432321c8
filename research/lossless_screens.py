"""Screens at the default effort (issue #22): every 8-bit image of a corpus split that
``mic.lossless.encoder.is_screen`` calls a screen (at least half its samples one value:
ultrasound with its text and graphics), coded whole and in 128 and 64 tiles, each way
timed, against today's default, which ranks those tilings by the fast coder's stream
(effort 1) and codes only the first; JPEG XL e7 (one thread) beside it.  One thread,
medians of ``--rounds``; every stream decoded back exactly.

    PYTHONPATH=. python research/lossless_screens.py /work/shared/corpus train
    PYTHONPATH=. python research/lossless_screens.py /work/shared/corpus eval
"""

from __future__ import annotations

import argparse
import csv
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from lossless_cdiff import _median_time  # noqa: E402 - one timing helper for both


def main() -> None:
    import imagecodecs as ic
    from PIL import Image

    import mic
    from mic.lossless.encoder import is_screen

    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", type=pathlib.Path)
    ap.add_argument("split", choices=("train", "eval"))
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    print("| image | shape | whole | 128 tiles | 64 tiles | every way: smallest, total ms | "
          "default: bytes, ms, tiles | time × every way | JPEG XL e7 bytes, ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in csv.DictReader(open(a.corpus / "manifest.csv")):
        if r["split"] != a.split or int(r["bits_stored"]) > 8:
            continue
        x = np.asarray(Image.open(a.corpus / r["png"]))
        if not is_screen(x, 8):
            continue
        ways = []
        for t in (x.shape[:2], 128, 64):
            ms, b = _median_time(lambda: mic.encode(x, tile=t), a.rounds)
            assert np.array_equal(mic.decode(b), x)
            ways.append((len(b), ms))
        ms, b = _median_time(lambda: mic.encode(x), a.rounds)
        assert np.array_equal(mic.decode(b), x)
        jms, jb = _median_time(lambda: ic.jpegxl_encode(x, lossless=True, effort=7, numthreads=1),
                         a.rounds)
        every = sum(w[1] for w in ways)
        print(f"| {pathlib.Path(r['png']).stem[:40]} | {x.shape} | "
              + " | ".join(f"{n:,} ({1e3 * t:.0f} ms)" for n, t in ways)
              + f" | {min(w[0] for w in ways):,}, {1e3 * every:.0f} | {len(b):,}, {1e3 * ms:.0f},"
              f" {mic.info(b).tile_shape} | {ms / every:.2f} | {len(jb):,}, {1e3 * jms:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
