"""Probe (issue #22 item 3): the previous slice as an input of the kind-5 NLMS filters.
Frames 1-3 of 4 consecutive slices of each series, each with the one before as ``ext``:
``detail`` = the current base prediction plus the reference's own residual, ``p0 + (R0 -
p0(R))``; ``raw`` = the co-located reference sample; ``p5`` = SPEC 5.5's ``P5 = R0 +
med(W - RW, N - RN, NW - RNW)``.  Needs ``research/ext_pred_probe.py``'s kernel patch (see
there for ``MIC_EXT_MODE``); the "base" column is the pass with ``ext`` = 0 in the same
mode, so compare each mode's "ext" column with a ``MIC_EXT_MODE=0`` run's.

    MIC_EXT_MODE=1 NUMBA_CACHE_DIR=/tmp/nb1 PYTHONPATH=. python research/ext_vol_probe.py \
        CORPUS detail
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from mic.io import read_image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ext_pred_probe import cost

SERIES = ["totalseg_ct", "tcia_lungdx_dashvtk", "uih_t1_3d", "tcia_pgbm_dashvtk"]


def p0map(x: np.ndarray) -> np.ndarray:
    """SPEC 5.8's base prediction p0 of every sample (edges replicated, as a research
    estimate)."""
    xp = np.pad(x.astype(np.int64), ((1, 0), (1, 1)), mode="edge")
    w, n, nw = xp[1:, :-2], xp[:-1, 1:-1], xp[:-1, :-2]
    med = np.minimum(np.maximum(w + n - nw, np.minimum(w, n)), np.maximum(w, n))
    return (2 * med + w + n + 2) >> 2


def p5map(x, r):
    """SPEC 5.5's P5 = R0 + med(W - RW, N - RN, NW - RNW)."""
    xp = np.pad(x.astype(np.int64), ((1, 0), (1, 1)), mode="edge")
    rp = np.pad(r.astype(np.int64), ((1, 0), (1, 1)), mode="edge")
    a = xp[1:, :-2] - rp[1:, :-2]
    b = xp[:-1, 1:-1] - rp[:-1, 1:-1]
    c = xp[:-1, :-2] - rp[:-1, :-2]
    mx, mn = np.maximum(a, b), np.minimum(a, b)
    med = np.where(c >= mx, mn, np.where(c <= mn, mx, a + b - c))
    return r + med


def main(argv: list[str]) -> None:
    corpus, how = Path(argv[0]), argv[1]
    nfr = int(argv[2]) if len(argv) > 2 else 4
    with open(corpus / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for src in SERIES:
        rs = sorted([r for r in rows if r["source"] == src],
                    key=lambda r: (r["src_path"], int(r["frame"])))
        mid = len(rs) // 2 - nfr // 2 if len(rs) > nfr else 0
        fr = [read_image(corpus / r["png"])[0].astype(np.int64) for r in rs[mid:mid + nfr]]
        lo = min(int(f.min()) for f in fr)
        c0 = c1 = 0.0
        for i in range(1, len(fr)):
            x = (fr[i] - lo).astype(np.int32)
            ref = fr[i - 1] - lo
            mx = int(max(x.max(), ref.max()))
            if how == "p5":
                ext = p5map(x, ref)
            else:
                ext = ref if how == "raw" else p0map(x) + (ref - p0map(ref))
            c1 += cost(x, mx, np.clip(ext, 0, mx).astype(np.int32))
            c0 += cost(x, mx, np.zeros((1, 1), np.int32))
        print(f"{src:24s} frames {len(fr)} base {c0 / 8:.0f} B ext {c1 / 8:.0f} B "
              f"ratio {c1 / c0:.4f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
