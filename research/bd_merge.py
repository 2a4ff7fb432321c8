"""BD-rate tables of a mic-only ``mic bench`` run against the anchors of an earlier run.

A full side-by-side run re-measures JPEG 2000 and JPEG XL too, whose streams do not change
between mic commits; this takes the ``mic-*`` rows of RUN and every other codec's rows of
ANCHORS (both ``results.csv`` of ``mic bench`` on the same folder) and prints the tables
``mic bench`` writes: BD-rate against jpeg2000 (per modality and per image) and jpegxl.

    .venv/bin/python research/bd_merge.py RUN_DIR[,RUN_DIR2,...] ANCHOR_RUN_DIR [OUT.md]

Several mic-only runs (comma-separated) are merged (a codec in two runs: the later run's
rows).  The seed-paper layout (matched rates, ``mic bench``'s table) follows the BD tables.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

from mic.eval.report import bd_rate_table, matched_rate_table, per_image_bd_table

NUMERIC = ("rows", "cols", "samples", "bits", "eff_bits", "offset", "bytes", "bpp", "cr", "psnr",
           "psnr_eff", "ssim", "ms_ssim", "max_abs_err", "exact", "enc_ms", "dec_ms",
           "enc_mps", "dec_mps")


def load(path: Path) -> list[dict[str, Any]]:
    rows = []
    for r in csv.DictReader(open(path / "results.csv", newline="")):
        for k in NUMERIC:
            if r.get(k) not in (None, ""):
                r[k] = float(r[k])
        r["error"] = r.get("error") or None
        rows.append(r)
    return rows


def main(argv: list[str]) -> None:
    runs, anchors = [Path(v) for v in argv[0].split(",")], Path(argv[1])
    by_codec: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        got: dict[str, list[dict[str, Any]]] = {}
        for r in load(run):
            if r["codec"].startswith("mic-"):
                got.setdefault(r["codec"], []).append(r)
        by_codec.update(got)
    mine = [r for rs in by_codec.values() for r in rs]
    run = argv[0]
    others = [r for r in load(anchors) if not r["codec"].startswith("mic-")]
    images = {r["image"] for r in mine}
    missing = images - {r["image"] for r in others}
    if missing:
        raise SystemExit(f"anchors lack images {sorted(missing)}")
    rows = mine + [r for r in others if r["image"] in images]
    md = [f"mic rows: `{run}/results.csv` ({len(mine)}); anchor rows: `{anchors}/results.csv`", ""]
    table, per = bd_rate_table(rows, "jpeg2000")
    codecs = sorted({p["codec"] for p in per if p["codec"].startswith("mic-")})
    md += ["## BD-rate against jpeg2000 (PSNR, log-rate, PCHIP)", "", table, "",
           "### BD-rate per image against jpeg2000", "",
           per_image_bd_table(per, codecs + [c for c in ("jpegxl",)
                                             if any(p["codec"] == c for p in per)]), ""]
    if any(r["codec"] == "jpegxl" for r in rows):
        table2, _ = bd_rate_table(rows, "jpegxl")
        md += ["## BD-rate against jpegxl (PSNR, log-rate, PCHIP)", "", table2, ""]
    matched_md, _ = matched_rate_table(rows, reference="jpeg2000")
    md += ["## Matched rates (seed-paper layout)", "", matched_md, ""]
    text = "\n".join(md)
    print(text)
    if len(argv) > 2:
        Path(argv[2]).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
