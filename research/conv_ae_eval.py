#!/usr/bin/env python
"""Measure the shipped conv ``ae`` (model id 7, factorized prior) against the conv ``vae``
(id 8, scale hyperprior) and JPEG 2000 on the eval selection of
:mod:`research.conv_vae_eval` (the same 12 images, chosen by the same fixed rule), and time
its decoder (issue #21).

    OMP_NUM_THREADS=1 python research/conv_ae_eval.py --corpus ../shared/corpus \\
        --out benches/results/2026-12-05-conv-ae

Measurement only.  ``mic bench`` (:func:`mic.eval.cli.run_bench`, full sweeps, BD-rate
against JPEG 2000 in ``eval/summary.md``) writes ``eval/results.csv``; ``eval/matched.md``
has each codec's PSNR at 0.1, 0.25, 0.5 and 1 bpp (log-rate interpolation) and the
BD-rate of ae against vae; the decode time of a 512 x 512 image is timed in fresh processes
with 1 and 2 BLAS threads (median of 9 decodes after one warm-up), for ae and vae.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "research"))
sys.path.insert(0, str(ROOT))

from conv_vae_eval import RATES, TIMER, select, stage  # noqa: E402

CODECS = ["mic-ae", "mic-vae", "jpeg2000"]
SHORT = {"mic-ae": "ae", "mic-vae": "vae", "jpeg2000": "JPEG 2000"}


def decode_times(png: Path, model: str) -> dict[str, dict]:
    """{threads: {quality: {ms, bpp}}} of ``model`` decodes of ``png``, fresh processes."""
    res = {}
    for n in (1, 2):
        env = dict(os.environ, OMP_NUM_THREADS=str(n), OPENBLAS_NUM_THREADS=str(n),
                   NUMBA_NUM_THREADS=str(n), PYTHONPATH=str(ROOT))
        code = TIMER.replace('model="vae"', f'model="{model}"')
        out = subprocess.run([sys.executable, "-c", code, str(png)], env=env, check=True,
                             capture_output=True, text=True)
        res[str(n)] = json.loads(out.stdout)
    return res


def matched(results_csv: Path) -> str:
    """Markdown: mean PSNR of each codec at the matched rates (over the images where all
    three span the rate) and the per-image BD-rates of ae against vae and JPEG 2000."""
    import numpy as np

    from mic.eval import bd_rate
    from mic.eval.report import _interp_at

    with open(results_csv, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["mode"] == "lossy" and not r["error"]]
    images = sorted({(r["modality"], r["image"]) for r in rows})
    curve = {}
    for _, img in images:
        for c in CODECS:
            pts = sorted((float(r["bpp"]), float(r["psnr"])) for r in rows
                         if r["image"] == img and r["codec"] == c)
            curve[img, c] = ([p[0] for p in pts], [p[1] for p in pts])
    out = ["| rate (bpp) | images | " + " | ".join(f"{SHORT[c]} PSNR dB" for c in CODECS)
           + " | ae − vae | ae − JPEG 2000 |", "|---" * (len(CODECS) + 4) + "|"]
    for t in RATES:
        at = {(img, c): _interp_at(*curve[img, c], t) for _, img in images for c in CODECS}
        ok = [img for _, img in images if all(np.isfinite(at[img, c]) for c in CODECS)]
        if not ok:
            out.append(f"| {t} | 0 | " + " | ".join("–" for _ in CODECS) + " | – | – |")
            continue
        m = {c: float(np.mean([at[img, c] for img in ok])) for c in CODECS}
        out.append(f"| {t} | {len(ok)} | " + " | ".join(f"{m[c]:.2f}" for c in CODECS)
                   + f" | {m['mic-ae'] - m['mic-vae']:+.2f} | {m['mic-ae'] - m['jpeg2000']:+.2f} |")
    out += ["", "BD-rate of ae (PSNR, log-rate; negative = fewer bits than the reference at "
            "equal PSNR), per image where the curves overlap:", "",
            "| modality | image | ae vs vae | ae vs JPEG 2000 | vae vs JPEG 2000 |",
            "|---|---|---|---|---|"]
    means: dict[str, list[float]] = {"v": [], "j": [], "vj": []}

    def bd(a: str, b: str, img: str) -> float:
        try:
            return float(bd_rate(*curve[img, b], *curve[img, a]))
        except Exception:  # noqa: BLE001 - no overlap, too few points
            return float("nan")

    for mod, img in images:
        vals = {"v": bd("mic-ae", "mic-vae", img), "j": bd("mic-ae", "jpeg2000", img),
                "vj": bd("mic-vae", "jpeg2000", img)}
        for k, v in vals.items():
            if np.isfinite(v):
                means[k].append(v)
        cells = [f"{100 * vals[k]:+.1f} %" if np.isfinite(vals[k]) else "–" for k in ("v", "j", "vj")]
        out.append(f"| {mod} | {img[:32]} | " + " | ".join(cells) + " |")
    cells = [f"{100 * float(np.mean(means[k])):+.1f} % ({len(means[k])})" if means[k] else "–"
             for k in ("v", "j", "vj")]
    out.append("| mean | (n images) | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--report-only", action="store_true", help="only rebuild matched.md")
    ap.add_argument("--limit", type=int, default=None, help="first N images (smoke test)")
    a = ap.parse_args()
    from mic.eval.cli import run_bench

    rows = select(a.corpus / "manifest.csv")[:a.limit]
    cmd = " ".join(["python", "research/conv_ae_eval.py"] + sys.argv[1:])
    if not a.report_only:
        with tempfile.TemporaryDirectory() as tmp:
            stage(rows, a.corpus, Path(tmp))
            run_bench(tmp, a.out / "eval", codecs=CODECS, plots=False, progress=False,
                      command=cmd)
    (a.out / "eval" / "matched.md").write_text(matched(a.out / "eval" / "results.csv"))
    timed = next(r for r in select(a.corpus / "manifest.csv")
                 if (r["rows"], r["cols"]) == ("512", "512"))
    times = {m: decode_times(a.corpus / timed["png"], m) for m in ("ae", "vae")}
    (a.out / "eval" / "decode_times.json").write_text(json.dumps(
        {"image": timed["png"], "times": times, "images": [r["png"] for r in rows]}, indent=1))
    for m, per_n in times.items():
        for n, per_q in per_n.items():
            print(f"{m} {n} thread(s): " + ", ".join(
                f"q{q} {v['ms']:.0f} ms ({v['bpp']:.3f} bpp)" for q, v in per_q.items()))
    print(f"wrote {a.out / 'eval'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
