"""Throughput of ``mic encode`` folder runs on the batch runner's executors (issue #24).

    PYTHONPATH=. .venv/bin/python benches/batch_throughput.py EVAL_DIR WORK_DIR [--lossy-max-mp 0.3]

For each executor (local processes ``-j 1`` and ``-j 2``, a Dask LocalCluster ``--dask
local:2``) and each mode (lossless; lossy ``--quality 6``), one real ``mic encode EVAL OUT
--manifest M.parquet`` process is timed; the manifest gives each image's seconds on its
worker.  Lossy runs on the images of at most ``--lossy-max-mp`` megapixels (lossy encodes
of the 4 MP radiographs take minutes).  Then 10,000 tiny images (8 x 8 uint8 PNGs) measure
the cost of a task beyond its work (overhead = batch seconds x workers - the images'
seconds on their workers, per image), and 10,000 jobs that do nothing (``int("1")``) the
runner's own cost per job (the driver, the scheduler, the transport), with Dask's default
grouping of short jobs into tasks and with one job a task (the cost of a Dask task).  A
pure-Python loop in 1 and in 2 processes says what 2 processes can give on the machine.  Prints a Markdown report (the commands included).
Measuring only: the eval split is never used to tune anything.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [("local, 1 process", ["-j", "1"]), ("local, 2 processes", ["-j", "2"]),
           ("Dask LocalCluster, 2 workers", ["--dask", "local:2"])]


def megapixels(folder: Path) -> tuple[int, float]:
    from mic.io import read_image

    files = sorted(folder.rglob("*.png"))
    mp = sum(int(np.prod(read_image(p)[0].shape[:2])) for p in files) / 1e6
    return len(files), mp


def run(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds of the whole command, seconds of its batch (the summary line), output."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}")
    m = re.search(r"\) in ([0-9.]+) s:", r.stdout)
    return wall, float(m.group(1)) if m else float("nan"), r.stdout


def calibrate() -> str:
    """The speed-up of 2 processes over 1 on a pure-Python loop, now, on this machine."""
    code = ("import time; t = time.perf_counter(); sum(i * i for i in range(20_000_000)); "
            "print(time.perf_counter() - t)")
    one = float(subprocess.run([sys.executable, "-c", code], capture_output=True,
                               text=True).stdout)
    ps = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
          for _ in range(2)]
    two = max(float(p.communicate()[0]) for p in ps)
    return f"{one:.2f} s alone, {two:.2f} s two at once: x{2 * one / two:.2f}"


def job_seconds(manifest: Path) -> list[float]:
    from mic.manifest import Manifest

    return [r["seconds"] for r in Manifest(manifest).read() if r["status"] == "done"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("eval_dir", type=Path)
    ap.add_argument("work", type=Path)
    ap.add_argument("--lossy-max-mp", type=float, default=0.3)
    ap.add_argument("--quality", type=int, default=6)
    ap.add_argument("--tiny", type=int, default=10_000)
    args = ap.parse_args()
    from mic.io import read_image, write_image

    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    mic = [sys.executable, "-m", "mic.cli"]

    lossy_in = work / "lossy_in"  # the subset of small images, same tree
    for p in sorted(args.eval_dir.rglob("*.png")):
        if np.prod(read_image(p)[0].shape[:2]) / 1e6 <= args.lossy_max_mp:
            (lossy_in / p.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(p, lossy_in / p.parent.name / p.name)
    tiny = work / "tiny"
    rng = np.random.default_rng(24)
    for i in range(args.tiny):
        sub = tiny / f"{i // 1000:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        write_image(sub / f"t{i:05d}.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))

    calibration = [calibrate()]
    sets = [("lossless", args.eval_dir, []), (f"lossy q={args.quality}", lossy_in,
                                              ["--quality", str(args.quality)])]
    lines = []
    rows = []
    for mode, folder, extra in sets:
        n, mp = megapixels(folder)
        for name, flags in CONFIGS:
            tag = f"{mode.split()[0]}-{flags[-1].replace(':', '')}"
            man = work / f"{tag}.parquet"
            cmd = mic + ["encode", str(folder), str(work / tag), "--manifest", str(man),
                         *extra, *flags]
            wall, batch, _ = run(cmd)
            secs = job_seconds(man)
            rows.append((mode, name, n, mp, wall, batch, sum(secs)))
            lines.append("mic encode " + " ".join(cmd[4:]).replace(str(work), "$WORK")
                         .replace(str(args.eval_dir), "$EVAL"))
            print(rows[-1], file=sys.stderr, flush=True)

    tiny_rows = []
    for name, flags in CONFIGS:
        tag = f"tiny-{flags[-1].replace(':', '')}"
        man = work / f"{tag}.parquet"
        cmd = mic + ["encode", str(tiny), str(work / tag), "--manifest", str(man), *flags]
        wall, batch, _ = run(cmd)
        secs = job_seconds(man)
        tiny_rows.append((name, len(secs), wall, batch, sum(secs)))
        lines.append("mic encode " + " ".join(cmd[4:]).replace(str(work), "$WORK"))
        print(tiny_rows[-1], file=sys.stderr, flush=True)

    # the runner's own cost per task: jobs that do nothing (int("1")), no files
    noop_rows = []
    from mic.batch import Job, LocalExecutor, dask_executor
    from mic.batch import run as run_batch

    noop = [Job(f"n{i}", None, int, ("1",)) for i in range(args.tiny)]
    for name, flags in CONFIGS + [("Dask LocalCluster, 2 workers, one job a task",
                                   ["--dask", "local:2", "chunk=1"])]:
        t0 = time.perf_counter()
        c0 = time.process_time()
        if flags[0] == "--dask":
            with dask_executor(flags[1], quiet=True) as ex:
                if flags[-1] == "chunk=1":
                    ex.chunk = 1
                t1, c0 = time.perf_counter(), time.process_time()
                s = run_batch(noop, ex, quiet=True)
                cpu = time.process_time() - c0  # this driver and the LocalCluster's scheduler
        else:
            t1 = time.perf_counter()
            s = run_batch(noop, LocalExecutor(int(flags[1])), quiet=True)
            cpu = time.process_time() - c0
        assert s.count("done") == len(noop)
        noop_rows.append((name, len(noop), time.perf_counter() - t0, s.seconds, cpu))
        lines.append(f"mic.batch.run({len(noop)} x Job(..., int, ('1',)), {name})")
        print(noop_rows[-1], file=sys.stderr, flush=True)

    out = ["| mode | executor | images | MP | wall s (whole command) | batch s | images/s | "
           "MP/s | mean s per image on its worker |", "|---|---|---|---|---|---|---|---|---|"]
    for mode, name, n, mp, wall, batch, work_s in rows:
        out.append(f"| {mode} | {name} | {n} | {mp:.2f} | {wall:.1f} | {batch:.1f} | "
                   f"{n / batch:.2f} | {mp / batch:.2f} | {work_s / n:.3f} |")
    out += ["", "| tiny 8x8 PNGs | images | wall s | batch s | images/s | mean s per image "
            "on its worker | overhead per image (ms) |", "|---|---|---|---|---|---|---|"]
    for name, n, wall, batch, work_s in tiny_rows:
        workers = 1 if "1 process" in name else 2
        over = (batch * workers - work_s) / n * 1e3
        out.append(f"| {name} | {n} | {wall:.1f} | {batch:.1f} | {n / batch:.0f} | "
                   f"{work_s / n * 1e3:.2f} ms | {over:.2f} |")
    out += ["", "| jobs that do nothing | jobs | seconds (executor start included) | "
            "batch s | jobs/s | ms per job | driver (+ scheduler) CPU ms per job |",
            "|---|---|---|---|---|---|---|"]
    for name, n, total, batch, cpu in noop_rows:
        out.append(f"| {name} | {n} | {total:.1f} | {batch:.1f} | {n / batch:.0f} | "
                   f"{batch / n * 1e3:.3f} | {cpu / n * 1e3:.3f} |")
    calibration.append(calibrate())
    print("\n".join(out))
    print("\nmachine:", platform.platform(), os.cpu_count(), "CPUs")
    print("what 2 processes give on it (a pure-Python loop, 1 process vs 2 at once; before and "
          "after the runs):", "; ".join(calibration))
    print("\ncommands ($EVAL the eval split, $WORK a scratch folder):")
    print("\n".join("    " + c for c in lines))


if __name__ == "__main__":
    main()
