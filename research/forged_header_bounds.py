#!/usr/bin/env python
"""Time and peak memory of ``mic.decode`` on forged headers (issue #19 part 4).

Each case is a real conformance vector whose header is rewritten to a large image
(``formats/forge.py regrid``: every CRC correct, the tiles those of the small image), or
the fuzzing finding ``fuzz/findings/codec-memory-*.mic``.  Each decode runs in a fresh
subprocess, after a warm-up decode (imports, Numba, model loading not counted); it
reports the outcome, wall and CPU seconds and the growth of the peak RSS
(``ru_maxrss``) over the warm-up's.

    python research/forged_header_bounds.py [--code DIR] [--timeout S] [--only NAME ...]

``--code DIR`` decodes with the ``mic`` package of another checkout (e.g. a temporary
``git worktree`` of main, for a before/after table); the streams are always forged by
this checkout's ``formats/forge.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ROOT / "formats"

CHILD = r"""
import json, resource, sys, time
import mic
warm = [sys.argv[2]] + ([sys.argv[3]] if sys.argv[3] != "-" else [])
for w in warm:
    mic.decode(open(w, "rb").read())
data = open(sys.argv[1], "rb").read()
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0, c0 = time.perf_counter(), time.process_time()
try:
    a = mic.decode(data)
    out = f"decoded {a.dtype} {a.shape}"
except Exception as exc:
    out = f"{type(exc).__name__}: {str(exc)[:90]}"
t1, c1 = time.perf_counter(), time.process_time()
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"outcome": out, "wall_s": t1 - t0, "cpu_s": c1 - c0,
                  "rss_growth_mb": (rss1 - rss0) / 1024, "rss_peak_mb": rss1 / 1024,
                  "mic": mic.__file__}))
"""


def lossy_vector(major: int, min_tiles: int) -> bytes:
    """The first committed lossy vector (``formats/lossy/vectors.json``) of model id 6,
    stream version ``major``, one grey sample, at least ``min_tiles`` tiles."""
    import mic

    meta = json.loads((FORMATS / "lossy" / "vectors.json").read_text())
    for v in meta["vectors"]:
        blob = (FORMATS / "lossy" / v["stream"]).read_bytes()
        i = mic.info(blob)
        if i.model_id == 6 and blob[8] == major and i.samples_per_pixel == 1 and \
                i.tiles >= min_tiles:
            return blob
    raise SystemExit(f"no lossy vector of model id 6, version {major}, {min_tiles}+ tiles")


def cases() -> list[tuple[str, bytes, bool]]:
    """(name, stream, lossy?)."""
    sys.path.insert(0, str(FORMATS))
    sys.path.insert(0, str(ROOT))
    import forge

    def rd(name: str) -> bytes:
        return (FORMATS / name).read_bytes()

    one = rd("one_by_one_u16.mic")
    coded = rd("bits10_u16.mic")
    rgb = rd("rgb_frames_u8_v2.mic")
    lossy = lossy_vector(2, 1)  # model id 6, v2, one 128x128 tile
    lossy_tiled = lossy_vector(1, 16)  # model id 6, v1, tiles 32x32
    finding = next((ROOT / "fuzz" / "findings").glob("codec-memory-*.mic")).read_bytes()
    #: a coded lossless plane (xform 0; kind 1, offset 0, maxval 1; blocks 8x8, no words,
    #: no extra bits) and a lossy plane (xform 0; lo 0, 11 bits; LL mean 0, CRC 0, no
    #: words, v2): a range decoder given no words reads zeros and decodes on regardless
    zero_ll = bytes([0, 1, 0, 1, 3, 0, 0])
    zero_ly = bytes([0, 0, 11, 0, 0, 0, 0, 0, 0])
    return [
        ("no-word coded plane as 8192x8192 (v1)",
         forge.regrid(one, zero_ll, rows=8192, cols=8192), False),
        ("no-word coded plane as 32768x32768 (v1)",
         forge.regrid(one, zero_ll, rows=32768, cols=32768), False),
        ("no-word lossy plane (model id 6), one 2048x2048 tile (v2)",
         forge.regrid(lossy, zero_ly, rows=2048, cols=2048, tile_rows=0, tile_cols=0), True),
        ("no-word lossy plane (model id 6), one 8192x8192 tile (v2)",
         forge.regrid(lossy, zero_ly, rows=8192, cols=8192, tile_rows=0, tile_cols=0), True),
        ("fuzz finding: 1x1 constant plane as 32768x32768 (v1)", finding, False),
        ("1x1 constant plane as 16384x16384 (v1)", forge.regrid(one, rows=16384, cols=16384),
         False),
        ("1x1 constant plane as 16384x16384 in 256x256 tiles (v1)",
         forge.regrid(one, rows=16384, cols=16384, tile_rows=256, tile_cols=256), False),
        ("31x33 coded plane as 8192x8192 (v1)", forge.regrid(coded, rows=8192, cols=8192),
         False),
        ("31x33 coded plane as 32768x32768 (v1)", forge.regrid(coded, rows=32768, cols=32768),
         False),
        ("2x16x16 RGB frames as 2x4096x4096 (v2)", forge.regrid(rgb, rows=4096, cols=4096),
         False),
        ("lossy (id 6) 128x128 tile as one 4096x4096 tile (v2)",
         forge.regrid(lossy, rows=4096, cols=4096, tile_rows=0, tile_cols=0), True),
        ("lossy (id 6) 128x128 tile as one 32768x32768 tile (v2)",
         forge.regrid(lossy, rows=32768, cols=32768, tile_rows=0, tile_cols=0), True),
        ("lossy (id 6) 32x32 tiles as 8192x8192 in 512x512 tiles (v1)",
         forge.regrid(lossy_tiled, rows=8192, cols=8192, tile_rows=512, tile_cols=512), True),
    ]


def run(code: Path, stream: bytes, lossy: bool, timeout: float) -> dict:
    env = dict(os.environ, PYTHONPATH=str(code), NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")
    with tempfile.NamedTemporaryFile(suffix=".mic") as f, \
            tempfile.NamedTemporaryFile(suffix=".mic") as w:
        w.write(lossy_vector(2, 1))
        w.flush()
        warm_lossy = w.name if lossy else "-"
        f.write(stream)
        f.flush()
        try:
            p = subprocess.run([sys.executable, "-c", CHILD, f.name,
                                str(FORMATS / "ct_abdomen_u16.mic"), warm_lossy],
                               capture_output=True, text=True, timeout=timeout, env=env,
                               cwd=tempfile.gettempdir())
        except subprocess.TimeoutExpired:
            return {"outcome": f"still running after {timeout:.0f} s (killed)"}
    if p.returncode:
        return {"outcome": f"process died (rc {p.returncode}): {p.stderr.strip()[-200:]}"}
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--code", type=Path, default=ROOT, help="checkout whose mic decodes")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--only", nargs="*", help="substrings of the case names to run")
    args = ap.parse_args()
    print("| case | stream bytes | outcome | wall s | CPU s | peak RSS growth MB |")
    print("|---|---:|---|---:|---:|---:|")
    for name, stream, lossy in cases():
        if args.only and not any(s in name for s in args.only):
            continue
        r = run(args.code.resolve(), stream, lossy, args.timeout)
        if "wall_s" in r:
            print(f"| {name} | {len(stream)} | {r['outcome']} | {r['wall_s']:.3f} | "
                  f"{r['cpu_s']:.3f} | {r['rss_growth_mb']:.0f} |", flush=True)
        else:
            print(f"| {name} | {len(stream)} | {r['outcome']} | | | |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
