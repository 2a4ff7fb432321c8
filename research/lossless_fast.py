"""The fast lossless coder (``mic.encode(a, effort=1)``, model id 3, SPEC 5.6) against the
default lossless coder and CharLS JPEG-LS, side by side in one run:

1. the 512 x 512 16-bit CT of ``mic/data/ct_abdomen.png``: bytes, bits per pixel, encode and
   decode time (in-process, warm Numba cache, one thread, the minimum of ``--reps`` runs),
   MP/s and the ratios to CharLS measured in the same run;
2. pixel-weighted bits per pixel over a manifest split (default ``eval``; the design was
   chosen on ``train`` only), per modality and overall, every image checked bit-exact.

    PYTHONPATH=. .venv/bin/python research/lossless_fast.py [--split eval] [--reps 15]

Prints a markdown report (benches/results/2026-12-05-lossless-fast.md holds one).
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("MIC_CORPUS", ROOT.parent / "shared" / "corpus"))


def _load(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im)


def _best_ms(fn, reps: int) -> float:
    fn()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def codecs():
    import imagecodecs as ic

    import mic

    return {
        "mic effort 1 (fast)": (lambda a: mic.encode(a, effort=1), mic.decode),
        "mic effort 2 (fast, palettes)": (lambda a: mic.encode(a, effort=2), mic.decode),
        "mic default (effort 3)": (lambda a: mic.encode(a), mic.decode),
        "CharLS JPEG-LS": (lambda a: ic.jpegls_encode(a), ic.jpegls_decode),
    }


def speed_table(reps: int) -> str:
    a = _load(ROOT / "mic" / "data" / "ct_abdomen.png")
    mp = a.size / 1e6
    rows = {}
    for name, (enc, dec) in codecs().items():
        blob = enc(a)
        assert np.array_equal(dec(blob), a), name
        # interleave the timings of the three codecs so that load changes hit all alike
        rows[name] = [len(blob), [], []]
    for _ in range(3):
        for name, (enc, dec) in codecs().items():
            blob = enc(a)
            rows[name][1].append(_best_ms(lambda: enc(a), reps))
            rows[name][2].append(_best_ms(lambda: dec(blob), reps))
    ref = rows["CharLS JPEG-LS"]
    ref_e, ref_d = min(ref[1]), min(ref[2])
    out = [f"512 x 512 uint16 CT (`mic/data/ct_abdomen.png`), one thread, min of 3 x {reps} "
           "runs\n",
           "| codec | bytes | bpp | size / CharLS | encode ms | decode ms | encode MP/s | "
           "decode MP/s | encode time / CharLS | decode time / CharLS |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for name, (size, es, ds) in rows.items():
        e, d = min(es), min(ds)
        out.append(f"| {name} | {size} | {8 * size / a.size:.3f} | {size / ref[0]:.3f} | "
                   f"{e:.2f} | {d:.2f} | {mp / e * 1e3:.1f} | {mp / d * 1e3:.1f} | "
                   f"{e / ref_e:.2f} | {d / ref_d:.2f} |")
    return "\n".join(out)


def split_table(split: str) -> str:
    rows = [r for r in csv.DictReader(open(CORPUS / "manifest.csv")) if r["split"] == split]
    cs = codecs()
    tot: dict[str, dict[str, int]] = {}
    px: dict[str, int] = {}
    for r in rows:
        a = _load(CORPUS / r["png"])
        mod = r["modality"]
        n = a.shape[0] * a.shape[1]
        for m in (mod, "all"):
            px[m] = px.get(m, 0) + n
        for name, (enc, dec) in cs.items():
            blob = enc(a)
            if not name.startswith("CharLS"):
                assert np.array_equal(dec(blob), a), (name, r["png"])
            for m in (mod, "all"):
                tot.setdefault(name, {})[m] = tot.get(name, {}).get(m, 0) + len(blob)
    names = list(cs)
    mods = sorted(m for m in px if m != "all") + ["all"]
    out = [f"Pixel-weighted bits per pixel, `{split}` split ({len(rows)} images, "
           f"{px['all'] / 1e6:.2f} MP; every mic stream decoded bit-exact)\n",
           "| modality | " + " | ".join(names) + " | e1 / CharLS | e1 / default |",
           "|---|" + "---|" * (len(names) + 2)]
    for m in mods:
        b = [8 * tot[n][m] / px[m] for n in names]
        out.append(f"| {m} | " + " | ".join(f"{v:.3f}" for v in b)
                   + f" | {b[0] / b[-1]:.3f} | {b[0] / b[-2]:.3f} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", default="eval")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--no-split", action="store_true", help="only the CT speed table")
    args = ap.parse_args()
    print(speed_table(args.reps))
    if not args.no_split:
        print()
        print(split_table(args.split))


if __name__ == "__main__":
    main()
