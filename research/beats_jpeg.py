"""Issue #21's target "every model beats JPEG at every matched rate", measured like for
like: for each mic-only ``mic bench`` run (merged with the anchors' run, as
``research/bd_merge.py`` does), the PSNR of the mic model minus JPEG's at 0.1, 0.25, 0.5 and
1 bpp (interpolated in log-rate) over the images **both** reach at that rate: the mean, the
count, and the worst image.  (The seed table's plain means cover different images per codec,
so they cannot answer it.)

    .venv/bin/python research/beats_jpeg.py ANCHOR_RUN_DIR RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from pathlib import Path

from bd_merge import load

from mic.eval.report import MATCHED_BPP, _interp_at, _ok


def main(argv: list[str]) -> None:
    anchors = [r for r in load(Path(argv[0])) if r["codec"] == "jpeg"]
    print("| run | model | " + " | ".join(f"{t:g} bpp: mean ΔPSNR vs JPEG (n), worst"
                                          for t in MATCHED_BPP) + " |")
    print("|---|---|" + "---|" * len(MATCHED_BPP))
    for run in argv[1:]:
        rows = [r for r in load(Path(run)) if r["codec"].startswith("mic-")] + anchors
        by: dict[tuple[str, str], list] = defaultdict(list)
        for r in rows:
            if r["mode"] == "lossy" and _ok(r) and math.isfinite(float(r["psnr"])):
                by[(r["codec"], r["image"])].append(r)
        for codec in sorted({c for c, _ in by if c.startswith("mic-")}):
            cells = []
            for t in MATCHED_BPP:
                diffs = []
                for (c, img), pts in by.items():
                    if c != codec or ("jpeg", img) not in by:
                        continue
                    jp = by[("jpeg", img)]
                    a = _interp_at([p["bpp"] for p in pts], [p["psnr"] for p in pts], t)
                    b = _interp_at([p["bpp"] for p in jp], [p["psnr"] for p in jp], t)
                    if math.isfinite(a) and math.isfinite(b):
                        diffs.append((a - b, img))
                if diffs:
                    mean = sum(d for d, _ in diffs) / len(diffs)
                    worst = min(diffs)
                    cells.append(f"{mean:+.2f} ({len(diffs)}), {worst[0]:+.2f} {worst[1][:18]}")
                else:
                    cells.append("– (0)")
            print(f"| {Path(run).name} | {codec} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main(sys.argv[1:])
