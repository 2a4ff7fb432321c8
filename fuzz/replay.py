"""Replay inputs through the fuzzing oracle without atheris, and say what each one does.

    python fuzz/replay.py [--target=codec|dicom|all] [--max-pixels=N] [--as-limit-mb=N]
                          [--no-warmup] [--json] FILE...

For each file: the outcome (a ``MicError`` subclass, a decoded array, or a finding:
exception type, message and the innermost frames, mic's first), the CPU seconds of the
slowest decoder call and of the whole input, and how far it raised the peak RSS.
mic is warmed up on the ``formats/`` seeds first, so Numba's JIT compilation is not
counted. ``--as-limit-mb`` caps the address space (a huge allocation then fails as a
``MemoryError`` that names its site instead of swapping the machine). Exit status 1 if
any file is a finding.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import oracle  # noqa: E402


def top_frames(exc: BaseException, n: int = 4) -> list[str]:
    """The innermost ``n`` frames, as ``file:line in func: code``."""
    out = []
    for f in traceback.extract_tb(exc.__traceback__)[-n:]:
        path = f.filename
        for cut in ("/site-packages/", "/wt-fuzz/", str(oracle.ROOT) + "/"):
            if cut in path:
                path = path.split(cut, 1)[1]
        out.append(f"{path}:{f.lineno} in {f.name}: {(f.line or '').strip()}")
    return out


def maxrss_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10


def replay(path: Path, target: str, max_pixels: int) -> dict:
    data = path.read_bytes()
    rss0 = maxrss_mb()
    oracle.CALL_TIMES.clear()
    t0 = time.process_time()
    rec: dict = {"file": str(path), "len": len(data), "target": target,
                 "max_pixels": max_pixels}
    try:
        rec["outcome"] = oracle.check_input(target, data, max_pixels)
        rec["finding"] = False
    except Exception as exc:  # noqa: BLE001 - that is what we report
        rec["finding"] = True
        rec["outcome"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        rec["exception"] = type(exc).__name__
        rec["traceback_top"] = top_frames(exc)
        mic_frames = [f for f in traceback.extract_tb(exc.__traceback__)
                      if "/mic/" in f.filename]
        if mic_frames:
            f = mic_frames[-1]
            rec["where"] = f"mic/{f.filename.split('/mic/', 1)[1]}:{f.lineno} in {f.name}"
    rec["cpu_s"] = round(time.process_time() - t0, 4)
    rec["slowest_call_s"] = round(max(oracle.CALL_TIMES, default=rec["cpu_s"]), 4)
    rec["peak_rss_mb"] = maxrss_mb()
    rec["rss_growth_mb"] = rec["peak_rss_mb"] - rss0
    return rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--target", choices=("codec", "dicom", "all"), default="codec")
    ap.add_argument("--max-pixels", type=int, default=oracle.FUZZ_MAX_PIXELS)
    ap.add_argument("--as-limit-mb", type=int, default=0)
    ap.add_argument("--no-warmup", action="store_true")
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    args = ap.parse_args(argv)
    import mic  # noqa: F401

    if not args.no_warmup:
        for p in oracle.seed_paths():
            oracle.check_input(args.target, p.read_bytes(), args.max_pixels)
    if args.as_limit_mb:
        lim = args.as_limit_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    bad = 0
    for path in args.files:
        rec = replay(path, args.target, args.max_pixels)
        bad += rec["finding"]
        if args.json:
            print(json.dumps(rec), flush=True)
        else:
            print(f"{path}: {rec['outcome']} ({rec['slowest_call_s']:.3f} s slowest call, "
                  f"{rec['cpu_s']:.3f} s CPU, peak RSS {rec['peak_rss_mb']} MB, "
                  f"+{rec['rss_growth_mb']} MB)")
            for line in rec.get("traceback_top", []):
                print("    " + line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
