"""Turn a pytest-benchmark JSON report into a markdown speed table.

    python benches/speed_table.py bench-out/benchmarks.json > benches/results/DATE-speed.md

Medians are used (robust to a shared machine); MP/s = megapixels / median seconds.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict


def table(report: dict) -> str:
    """Markdown: one table per operation, rows = codec, columns = image size."""
    cells: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    medians: dict[tuple[str, str, str], float] = {}
    sizes: list[str] = []
    for b in report["benchmarks"]:
        m = re.match(r"(\w+)\[(\d+x\d+)-(.+)\]", b["name"])
        if not m:
            continue
        test, size, codec = m.groups()
        op = {"test_lossless_encode": "lossless encode", "test_lossless_decode": "lossless decode",
              "test_anchor_lossy_encode": "lossy encode (anchors)",
              "test_lossy_encode_decode": "mic lossy encode+decode",
              "test_mic_lossy_encode": "lossy encode at mic's PSNR (q6)",
              "test_anchor_encode_at_mic_psnr": "lossy encode at mic's PSNR (q6)",
              "test_mic_lossy_decode": "lossy decode at mic's PSNR (q6)",
              "test_anchor_decode_at_mic_psnr": "lossy decode at mic's PSNR (q6)"}.get(test, test)
        if test.startswith("test_mic_lossy_"):
            codec = f"mic {codec}"
        if size not in sizes:
            sizes.append(size)
        med = b["stats"]["median"]
        h, w = (int(v) for v in size.split("x"))
        cell = f"{med * 1e3:.1f} ms, {h * w / 1e6 / med:.2f} MP/s"
        bpp = b.get("extra_info", {}).get("bpp")
        if bpp is not None:
            cell += f", {bpp:.3f} bpp"
        psnr = b.get("extra_info", {}).get("psnr")
        if psnr is not None:
            cell += f", {psnr:.2f} dB"
        cells[(op, codec)][size] = cell
        medians[(op, codec, size)] = med
    sizes.sort(key=lambda s: int(s.split("x")[0]))
    # lossy rows: each time as a multiple of OpenJPEG's in the same run, op and size
    for (op, codec, size), med in medians.items():
        ref = medians.get((op, "jpeg2000", size))
        if "at mic's PSNR" in op and ref:
            cells[(op, codec)][size] += f", **x {med / ref:.1f}** OpenJPEG"
    mi = report.get("machine_info", {})
    out = [f"# mic speed suite — {report.get('datetime', '')[:16]} UTC", "",
           f"- machine: {mi.get('cpu', {}).get('brand_raw', '?')}, "
           f"{mi.get('cpu', {}).get('count', '?')} logical CPUs, python {mi.get('python_version', '?')}",
           "- command: `NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 make bench` "
           "(`pytest -q benches --benchmark-only --benchmark-json=bench-out/benchmarks.json`)",
           "- images: 16-bit, from the bundled 12-bit CT slice (centre crop / whole / 4x4 mirror "
           "tiling); median of 3-7 rounds after a warm-up round", ""]
    for op in dict.fromkeys(op for op, _ in cells):
        out += [f"## {op}", "", "| codec | " + " | ".join(sizes) + " |",
                "|---|" + "---|" * len(sizes)]
        for (o, codec), row in cells.items():
            if o == op:
                out.append(f"| {codec} | " + " | ".join(row.get(s, "–") for s in sizes) + " |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    with open(sys.argv[1] if len(sys.argv) > 1 else "bench-out/benchmarks.json") as fh:
        print(table(json.load(fh)))
