#!/usr/bin/env python
"""Measure the shipped conv ``vae`` (model id 8) against ``wavelet-context`` and JPEG 2000
on a fixed selection of the eval split, and time its decoder (issue #21).

    OMP_NUM_THREADS=1 python research/conv_vae_eval.py --corpus ../shared/corpus \\
        --out benches/results/2026-12-05-conv-vae

Measurement only: nothing here chooses a model setting.  The images are chosen by a rule
fixed before looking at any result: the eval rows of the corpus manifest in manifest
order, at most 1.1 MP, the first image of each source, at most 3 per modality (12 images
of 8 modalities on the 2026-12 corpus).  ``mic bench`` (:func:`mic.eval.cli.run_bench`,
full sweeps; JPEG 2000 = OpenJPEG with its PSNR-target sweep, as ``mic bench`` runs it)
writes ``eval/summary.md`` and ``eval/results.csv``; the decode time of a 512 x 512 image is
timed in fresh processes with 1 and 2 BLAS threads (median of 9 decodes after one warm-up).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_PIXELS = 1_100_000
PER_MODALITY = 3
CODECS = ["mic-vae", "mic-wavelet-context", "jpeg2000"]


def select(manifest: Path) -> list[dict[str, str]]:
    """The eval rows the rule of the module docstring picks, in manifest order."""
    with open(manifest, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "eval"]
    out, sources, per_mod = [], set(), {}
    for r in rows:
        if int(r["rows"]) * int(r["cols"]) > MAX_PIXELS or r["source"] in sources:
            continue
        if per_mod.get(r["modality"], 0) >= PER_MODALITY:
            continue
        sources.add(r["source"])
        per_mod[r["modality"]] = per_mod.get(r["modality"], 0) + 1
        out.append(r)
    return out


def stage(rows: list[dict[str, str]], corpus: Path, folder: Path) -> None:
    """``folder``: a manifest of ``rows`` and copies of their PNGs (the bench reads it;
    it takes only files that lie under the folder, links resolved)."""
    import shutil

    for r in rows:
        dst = folder / r["png"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(corpus / r["png"], dst)
    with open(folder / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


TIMER = r"""
import json, sys, time, numpy as np, mic
from mic.io import read_image
a, _ = read_image(sys.argv[1])
a = np.asarray(a)
out = {}
for q in (0, 3, 7):
    blob = mic.encode(a, quality=q, model="vae")
    mic.decode(blob)  # warm-up: weights, numba caches
    ts = []
    for _ in range(9):
        t = time.perf_counter(); mic.decode(blob); ts.append(time.perf_counter() - t)
    out[q] = {"ms": 1e3 * sorted(ts)[4], "bpp": 8 * len(blob) / a.size}
print(json.dumps(out))
"""


def decode_times(png: Path) -> dict[int, dict]:
    """{threads: {quality: {ms, bpp}}} of vae decodes of ``png``, in fresh processes."""
    res = {}
    for n in (1, 2):
        env = dict(os.environ, OMP_NUM_THREADS=str(n), OPENBLAS_NUM_THREADS=str(n),
                   NUMBA_NUM_THREADS=str(n), PYTHONPATH=str(ROOT))
        out = subprocess.run([sys.executable, "-c", TIMER, str(png)], env=env, check=True,
                             capture_output=True, text=True)
        res[n] = json.loads(out.stdout)
    return res


#: the rates of the PSNR table (bits per pixel, all samples of a pixel)
RATES = (0.1, 0.25, 0.5, 1.0)


def matched_psnr(results_csv: Path) -> str:
    """Markdown: per image and rate, each codec's PSNR interpolated in log-rate (peak
    2^bits_stored - 1, and 2^eff_bits - 1 in brackets), and per rate the means over the
    images where all three codecs span it."""
    import numpy as np

    from mic.eval.report import _interp_at

    with open(results_csv, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["mode"] == "lossy" and not r["error"]]
    images = sorted({(r["modality"], r["image"]) for r in rows})
    at: dict[tuple[str, str, float], tuple[float, float]] = {}
    for _, img in images:
        for c in CODECS:
            pts = [r for r in rows if r["image"] == img and r["codec"] == c]
            b = [float(r["bpp"]) for r in pts]
            for t in RATES:
                at[img, c, t] = (_interp_at(b, [float(r["psnr"]) for r in pts], t),
                                 _interp_at(b, [float(r["psnr_eff"]) for r in pts], t))
    short = {"mic-vae": "vae", "mic-wavelet-context": "wavelet-context", "jpeg2000": "JPEG 2000"}
    out = ["| rate (bpp) | images | " + " | ".join(f"{short[c]} PSNR dB" for c in CODECS)
           + " | vae − wavelet-context | vae − JPEG 2000 |", "|---" * (len(CODECS) + 4) + "|"]
    for t in RATES:
        ok = [img for _, img in images if all(np.isfinite(at[img, c, t][0]) for c in CODECS)]
        if not ok:
            out.append(f"| {t} | 0 | " + " | ".join("–" for _ in CODECS) + " | – | – |")
            continue
        m = {c: float(np.mean([at[img, c, t][0] for img in ok])) for c in CODECS}
        e = {c: float(np.mean([at[img, c, t][1] for img in ok])) for c in CODECS}
        out.append(f"| {t} | {len(ok)} | " + " | ".join(f"{m[c]:.2f} ({e[c]:.2f})" for c in CODECS)
                   + f" | {m['mic-vae'] - m['mic-wavelet-context']:+.2f} | "
                   f"{m['mic-vae'] - m['jpeg2000']:+.2f} |")
    out += ["", "Per image (PSNR dB at peak 2^bits_stored − 1; – where the codec's sweep does "
            "not reach the rate):", "",
            "| modality | image | " + " | ".join(f"{short[c]} @ {t}" for t in RATES for c in CODECS)
            + " |", "|---" * (2 + len(RATES) * len(CODECS)) + "|"]
    for mod, img in images:
        cells = []
        for t in RATES:
            for c in CODECS:
                v = at[img, c, t][0]
                cells.append(f"{v:.1f}" if np.isfinite(v) else "–")
        out.append(f"| {mod} | {img[:28]} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from mic.eval.cli import run_bench

    rows = select(a.corpus / "manifest.csv")
    cmd = " ".join(["python", "research/conv_vae_eval.py"] + sys.argv[1:])
    with tempfile.TemporaryDirectory() as tmp:
        stage(rows, a.corpus, Path(tmp))
        run_bench(tmp, a.out / "eval", codecs=CODECS, plots=False, progress=False,
                  command=cmd)
    (a.out / "eval" / "matched.md").write_text(matched_psnr(a.out / "eval" / "results.csv"))
    timed = next(r for r in rows if (r["rows"], r["cols"]) == ("512", "512"))
    times = decode_times(a.corpus / timed["png"])
    (a.out / "eval" / "decode_times.json").write_text(json.dumps(
        {"image": timed["png"], "times": times, "images": [r["png"] for r in rows]}, indent=1))
    for n, per_q in times.items():
        print(f"{n} thread(s): " + ", ".join(f"q{q} {v['ms']:.0f} ms ({v['bpp']:.3f} bpp)"
                                             for q, v in per_q.items()))
    print(f"wrote {a.out / 'eval'}; median over qualities: "
          f"{statistics.median(v['ms'] for v in times[1].values()):.0f} ms (1 thread)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
