"""Probe (issue #22 item 3): ``research/ext_vol_probe.py``'s inputs on the two synthetic
volumes of ``research/volume_gain.py`` (thin CT slices; a smooth signed volume): the ideal
cost of frames 1-15, each with the frame before as the reference.  Needs the kernel patch
of ``benches/results/2026-12-07-ext-pred/kernel.diff`` (see ``research/ext_pred_probe.py``
for ``MIC_EXT_MODE``; mode 0 is the baseline).

    MIC_EXT_MODE=7 NUMBA_CACHE_DIR=/tmp/nb7 PYTHONPATH=. python research/ext_vol_synthetic.py p5
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ext_pred_probe import cost
from ext_vol_probe import p0map, p5map
from volume_gain import synthetic


def main(how: str) -> None:
    for name, vol in synthetic():
        v = vol.astype(np.int64)
        v = v - v.min()
        mx = int(v.max())
        c = 0.0
        for i in range(1, len(v)):
            x = v[i].astype(np.int32)
            ref = v[i - 1]
            ext = p5map(x, ref) if how == "p5" else p0map(x) + (ref - p0map(ref))
            c += cost(x, mx, np.clip(ext, 0, mx).astype(np.int32))
        print(f"{name}: {how}, mode {os.environ.get('MIC_EXT_MODE', '0')}: {c / 8:.0f} B")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "p5")
