"""Coverage-guided fuzzing of mic's decoders with atheris (libFuzzer for Python).

    python fuzz/fuzz_decode.py [--target=codec|dicom|all] [--harness-option=value ...] \
        CORPUS_DIR [SEED_DIR ...] [libFuzzer flags: -runs=N -max_total_time=S ...]

Harness options are written ``--name=value``; everything else (libFuzzer's ``-flag=value``
and the corpus directories) goes to libFuzzer.

Targets (``fuzz/oracle.py`` states the contract each input must meet):

* ``codec``: ``mic.check``, ``mic.info`` and ``mic.decode`` (plus a ``region=`` decode of
  any stream that decodes) on the input bytes;
* ``dicom``: the pydicom plugin's frame decoder ``mic.dicom._plugin._decode_frame`` with
  a pydicom ``DecodeRunner`` describing the frame (from the stream's header, sometimes a
  disagreeing dataset);
* ``all``: both.

Instrumentation: mic's Numba kernels are compiled from Python bytecode, so atheris'
import hook (which rewrites every function of a module) would break them. The harness
therefore imports mic plainly, warms it up on every seed under ``formats/`` (JIT
compilation, weight loading), and only then instruments mic's *Python* functions
(``atheris.instrument_func`` on every function and method of every loaded ``mic.*``
module, skipping the Numba dispatchers and the factories that build kernels at run
time). Coverage is therefore that of mic's Python code; the inside of a Numba kernel is
a black box to the fuzzer (its crashes, hangs and memory use are still caught).

Mutation: a custom mutator wraps libFuzzer's own (``atheris.Mutate``) and usually
rewrites the header and segment CRC-32s afterwards, and sometimes makes a stream-aware
edit (a header field set to a boundary value, a segment's payload mutated, segments
dropped/duplicated/swapped, the stream version switched) -- otherwise nearly every
mutant would stop at the first CRC check. ``--no-custom-mutator`` turns this off.

Findings: by default (like any libFuzzer target) the first finding stops the run: an
exception that is not a ``MicError`` subclass or a contract breach is re-raised (atheris
prints the traceback and writes ``crash-*``), an input slower than ``--slow-s`` CPU
seconds raises ``SlowInput``. With ``--keep-going DIR`` the harness instead writes each
*new* finding (deduplicated by exception type and innermost mic frame, or by kind for
slow/memory findings) to DIR as ``<kind>-<sha1>.bin`` plus a ``.json`` description, and
goes on fuzzing; libFuzzer's own ``-timeout`` and ``-rss_limit_mb`` still end the run on
a hang or a memory blow-up (``timeout-*``/``oom-*`` artifacts). ``--as-limit-mb`` caps
the address space (``RLIMIT_AS``) so that a huge allocation fails at once with a
``MemoryError`` whose traceback names the allocation site instead of taking the machine
down. ``--stats FILE`` keeps a JSON summary up to date (inputs run, outcomes, slowest
input and its time, peak RSS, findings).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import sys
import time
import traceback
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # mic from this checkout
    sys.path.insert(0, str(ROOT))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import oracle  # noqa: E402


class SlowInput(Exception):
    """An input that took longer than the harness' ``--slow-s``."""


class MemoryHungry(Exception):
    """An input that raised the peak RSS above ``--rss-finding-mb``."""


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", choices=("codec", "dicom", "all"), default="codec")
    ap.add_argument("--max-pixels", type=int, default=oracle.FUZZ_MAX_PIXELS,
                    help="max_pixels given to mic.decode (default 2**22; the library's is 2**30)")
    ap.add_argument("--slow-s", type=float, default=1.0,
                    help="CPU seconds above which an input is a finding (default 1)")
    ap.add_argument("--rss-finding-mb", type=int, default=0,
                    help="peak RSS above which the input that reached it is a finding (0: off)")
    ap.add_argument("--as-limit-mb", type=int, default=0,
                    help="RLIMIT_AS for the fuzzing process after warm-up (0: none)")
    ap.add_argument("--keep-going", metavar="DIR", default=None,
                    help="record new findings in DIR and go on instead of stopping")
    ap.add_argument("--stats", metavar="FILE", default=None,
                    help="JSON run summary to keep up to date")
    ap.add_argument("--no-custom-mutator", action="store_true",
                    help="plain libFuzzer mutation (no CRC fix-up, no stream-aware edits)")
    ap.add_argument("--fixup", type=float, default=0.85,
                    help="probability that the custom mutator rewrites the CRCs (default 0.85)")
    ap.add_argument("--no-warmup", action="store_true", help="skip the warm-up on formats/")
    # ours: "--name=value" or "--flag"; everything else (libFuzzer's "-flag=value", corpus
    # directories) goes to libFuzzer; a lone "--" is dropped
    ours = [a for a in argv[1:] if a.startswith("--") and a != "--"]
    rest = [a for a in argv[1:] if not a.startswith("--")]
    return ap.parse_args(ours), rest


# ----------------------------------------------------------------------------- instrumentation
def _builds_kernels(code: types.CodeType) -> bool:
    """True for code that compiles Numba kernels at run time (its nested functions must
    stay plain bytecode for Numba)."""
    if {"njit", "jit", "vectorize", "guvectorize"} & set(code.co_names):
        return True
    return any(isinstance(c, types.CodeType) and _builds_kernels(c) for c in code.co_consts)


def instrument_mic() -> tuple[int, int]:
    """Instrument every Python function and method of the loaded ``mic.*`` modules;
    return (instrumented, skipped)."""
    import atheris

    seen: set[int] = set()
    done = skipped = 0

    def funcs_of(obj, modname):
        if isinstance(obj, types.FunctionType):
            if obj.__module__ == modname:
                yield obj
        elif isinstance(obj, type) and obj.__module__ == modname:
            for v in vars(obj).values():
                if isinstance(v, (staticmethod, classmethod)):
                    v = v.__func__
                if isinstance(v, property):
                    yield from (f for f in (v.fget, v.fset, v.fdel)
                                if isinstance(f, types.FunctionType))
                elif isinstance(v, types.FunctionType):
                    yield v

    for name, mod in sorted(sys.modules.items()):
        if mod is None or not (name == "mic" or name.startswith("mic.")):
            continue
        for obj in list(vars(mod).values()):
            for fn in funcs_of(obj, name):
                if id(fn) in seen:
                    continue
                seen.add(id(fn))
                if _builds_kernels(fn.__code__):
                    skipped += 1
                    continue
                atheris.instrument_func(fn)
                done += 1
    return done, skipped


def warm_up(target: str, max_pixels: int) -> tuple[int, float]:
    """Run every seed once (JIT compilation, weights); return (seeds, seconds)."""
    t0 = time.perf_counter()
    paths = oracle.seed_paths()
    for p in paths:
        oracle.check_input(target, p.read_bytes(), max_pixels)
    # the dicom target imports pydicom and the plugin; the codec target decodes
    # through the same paths, so one pass is enough
    return len(paths), time.perf_counter() - t0


# ----------------------------------------------------------------------------- findings
def signature(exc: BaseException) -> str:
    """Exception type and the innermost frame inside mic (else the innermost frame)."""
    tb = traceback.extract_tb(exc.__traceback__)
    frames = [f for f in tb if "/mic/" in f.filename.replace(os.sep, "/")] or tb[-1:]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].name}" if frames else "?"
    return f"{type(exc).__name__}@{where}"


class Recorder:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.dir = Path(args.keep_going) if args.keep_going else None
        if self.dir:
            self.dir.mkdir(parents=True, exist_ok=True)
        self.seen: set[str] = set()
        self.stats = {"target": args.target, "max_pixels": args.max_pixels, "inputs": 0,
                      "outcomes": {}, "slowest_s": 0.0, "slowest_len": 0, "slowest_sha1": None,
                      "peak_rss_mb": 0, "findings": [], "started": time.time()}
        self.last_dump = 0.0

    def outcome(self, label: str) -> None:
        o = self.stats["outcomes"]
        key = label.split(" ")[0] if not label.startswith("ok") else "ok"
        o[key] = o.get(key, 0) + 1

    def slowest(self, data: bytes, dt: float, total: float) -> None:
        st = self.stats
        st["slowest_s"], st["slowest_input_s"] = round(dt, 4), round(total, 4)
        st["slowest_len"], st["slowest_sha1"] = len(data), hashlib.sha1(data).hexdigest()
        if self.args.stats:
            Path(self.args.stats).with_suffix(".slowest.bin").write_bytes(data)
        self.dump(force=True)

    def finding(self, kind: str, sig: str, data: bytes, detail: str) -> bool:
        """Record a finding; True if it is new (by signature)."""
        if sig in self.seen:
            return False
        self.seen.add(sig)
        sha = hashlib.sha1(data).hexdigest()
        rec = {"kind": kind, "signature": sig, "sha1": sha, "len": len(data), "detail": detail,
               "target": self.args.target, "max_pixels": self.args.max_pixels,
               "at_input": self.stats["inputs"]}
        self.stats["findings"].append(rec)
        if self.dir:
            (self.dir / f"{kind}-{sha}.bin").write_bytes(data)
            (self.dir / f"{kind}-{sha}.json").write_text(json.dumps(rec, indent=1) + "\n")
        self.dump(force=True)
        return True

    def dump(self, force: bool = False) -> None:
        now = time.time()
        if self.args.stats and (force or now - self.last_dump > 2):
            self.last_dump = now
            self.stats["elapsed_s"] = round(now - self.stats["started"], 1)
            Path(self.args.stats).write_text(json.dumps(self.stats, indent=1) + "\n")


def main(argv: list[str]) -> None:
    args, fuzzer_argv = parse_args(argv)
    import atheris

    import mic  # noqa: F401 - plain import, instrumented below

    if not args.no_warmup:
        n, dt = warm_up(args.target, args.max_pixels)
        print(f"INFO: mic harness: warmed up on {n} seeds in {dt:.1f} s", file=sys.stderr)
    done, skipped = instrument_mic()
    print(f"INFO: mic harness: instrumented {done} mic functions ({skipped} kernel builders "
          f"left plain); target={args.target} max_pixels={args.max_pixels}", file=sys.stderr)
    if args.as_limit_mb:
        lim = args.as_limit_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    rec = Recorder(args)
    rss_seen = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10

    def test_one_input(data: bytes) -> None:
        nonlocal rss_seen
        t0 = time.process_time()
        oracle.CALL_TIMES.clear()
        try:
            label = oracle.check_input(args.target, data, args.max_pixels)
        except Exception as exc:  # noqa: BLE001 - a finding (MicErrors never get here)
            kind = "memory" if isinstance(exc, MemoryError) else \
                "contract" if isinstance(exc, oracle.Finding) else "crash"
            rec.finding(kind, signature(exc), data,
                        "".join(traceback.format_exception_only(type(exc), exc)).strip()[:500]
                        + "\n" + "".join(traceback.format_tb(exc.__traceback__)[-6:]))
            if rec.dir is None:
                raise
            label = type(exc).__name__
        # "slow" is judged per decoder call (an input runs up to four: info, decode, a
        # region decode, the DICOM frame decode); the whole input's time is reported too
        total = time.process_time() - t0
        dt = max(oracle.CALL_TIMES, default=total)
        rec.stats["inputs"] += 1
        rec.outcome(label)
        if dt > rec.stats["slowest_s"]:
            rec.slowest(data, dt, total)
        if dt > args.slow_s:
            new = rec.finding("slow", f"slow:{label.split(' ')[0]}:{len(data) // 4096}", data,
                              f"{dt:.2f} s CPU in one call, {total:.2f} s in all ({label})")
            if rec.dir is None and new:
                raise SlowInput(f"{dt:.2f} s CPU > {args.slow_s} s on {len(data)} bytes ({label})")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10
        if rss > rss_seen:
            rss_seen = rss
            rec.stats["peak_rss_mb"] = rss
            if args.rss_finding_mb and rss > args.rss_finding_mb:
                new = rec.finding("memory", f"rss:{label.split(' ')[0]}", data,
                                  f"peak RSS {rss} MB > {args.rss_finding_mb} MB ({label})")
                if rec.dir is None and new:
                    raise MemoryHungry(f"peak RSS {rss} MB ({label})")
        rec.dump()

    kw = {}
    if not args.no_custom_mutator:
        def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
            rng = random.Random(seed)
            out = None
            if rng.random() < 0.35:
                out = oracle.structured_mutate(data, rng, atheris.Mutate)
            if out is None:
                out = atheris.Mutate(data, max_size)
                if rng.random() < args.fixup:
                    out = oracle.fix_crcs(out)
            return out[:max_size]

        kw["custom_mutator"] = custom_mutator
    atheris.Setup([argv[0]] + fuzzer_argv, test_one_input, **kw)
    try:
        atheris.Fuzz()
    finally:
        rec.dump(force=True)


if __name__ == "__main__":
    main(sys.argv)
