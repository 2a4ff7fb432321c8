"""mic.batch, the one runner of folder jobs (mic encode/decode folders, mic dicom): results,
failures, worker processes, and Ctrl-C in a real ``mic encode -j 2`` run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mic.batch import FAILED, Job, LocalExecutor, Result, Summary, execute, run, walk
from mic_test_helpers import terminal_sigint
from mic.io import atomic_output

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[1]


def _write(path: str, text: str) -> Result:
    with atomic_output(path) as f:
        f.write(text.encode())
    return Result(path, path, "written", bytes_in=len(text), bytes_out=len(text))


def _fail(path: str) -> None:
    raise ValueError(f"cannot make {Path(path).name}")


def _die(path: str) -> None:  # pragma: no cover - runs in a worker
    os._exit(3)


@pytest.mark.parametrize("workers", [1, 2])
def test_results_statuses_and_failures(tmp_path: Path, workers: int) -> None:
    jobs = [Job(str(tmp_path / f"{i}"), str(tmp_path / f"{i}.out"), _write,
                (str(tmp_path / f"{i}.out"), "x" * i)) for i in range(1, 5)]
    jobs.insert(2, Job("bad", str(tmp_path / "bad.out"), _fail, (str(tmp_path / "bad.out"),)))
    s = run(jobs, LocalExecutor(workers), quiet=True, echo=False)
    assert not s.interrupted and not s.unfinished and len(s.results) == 5
    assert s.count("written") == 4 and s.failed == 1
    assert s.totals("written") == (10, 10)
    bad = s.select(FAILED)[0]
    assert bad.source == "bad" and bad.error == "ValueError (unexpected): cannot make bad.out"
    assert all(r.seconds >= 0 for r in s.results)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.out", "2.out", "3.out", "4.out"]


def test_a_dead_worker_fails_its_jobs_without_stopping_the_run(tmp_path: Path) -> None:
    jobs = [Job("dies", None, _die, ("x",)), Job("ok", None, int, ("7",))]
    s = run(jobs, LocalExecutor(2), quiet=True, echo=False)
    assert not s.interrupted and len(s.results) == 2
    assert any(r.status == FAILED and "BrokenProcessPool" in r.error for r in s.results)


def test_failures_are_printed_as_they_come(capsys: pytest.CaptureFixture[str]) -> None:
    run([Job("in/a.png", None, _fail, ("a.mic",))], quiet=True)
    assert capsys.readouterr().err == "error: in/a.png: ValueError (unexpected): cannot make a.mic\n"


def test_execute_wraps_plain_values_and_summary_counts() -> None:
    r = execute(Job("s", "o", divmod, (7, 2)))
    assert (r.source, r.output, r.status, r.value) == ("s", "o", "done", (3, 1))
    s = Summary([r], [Job("t", None, int)], interrupted=True)
    assert s.interruption().startswith("interrupted: 1 of 2 files finished (0 of them failed)")


def test_walk_skips_hidden_entries_and_the_output_tree(tmp_path: Path) -> None:
    for rel in ("b/x.png", "a.png", ".h/y.png", "b/.z.png", "out/o.mic"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    got = [str(p.relative_to(tmp_path)) for p in walk(tmp_path, tmp_path / "out")]
    assert got == ["a.png", "b/x.png"]


def test_a_ctrl_c_before_a_handed_over_row_is_recorded_loses_no_row(tmp_path: Path,
                                                                    monkeypatch) -> None:
    """Ctrl-C that lands after the executor handed a finished job over but before its row
    was recorded (here: inside the first ``record``): the run takes that job again, so its
    output never exists without its row (the clean-clone run of 2026-12-07 found a Dask run
    that left one such output)."""
    from mic import manifest as M

    real = M.Manifest.record
    calls = []

    def record(self, r):
        calls.append(r["source"])
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real(self, r)

    monkeypatch.setattr(M.Manifest, "record", record)
    outs = [str(tmp_path / f"{i}.out") for i in range(1, 4)]
    jobs = [Job(o, o, _write, (o, "x" * i)) for i, o in enumerate(outs, 1)]
    man = tmp_path / "m.csv"
    s = run(jobs, LocalExecutor(1), quiet=True, echo=False, manifest=man)
    assert s.interrupted and [r.source for r in s.results] == outs[:1]
    rows = {r["source"]: r["status"] for r in M.Manifest(man).read()}
    assert rows == {outs[0]: "written", outs[1]: "pending", outs[2]: "pending"}
    assert sorted(p.name for p in tmp_path.glob("*.out")) == ["1.out"]


# ----------------------------------------------------------------------------- Ctrl-C
#: ``mic encode`` with a slow job function: files named s* hang inside their atomic output
#: (s0 also ignores SIGTERM, so its worker must be killed and its partial file swept).
CLI_WITH_SLOW_FILES = """
import signal, sys, time
import mic.cli_codec as cc
from mic.cli import main
from mic.io import atomic_output

real = cc._encode_file

def slow(src, dst, options, force):
    name = src.rsplit("/", 1)[-1]
    if name.startswith("s"):
        if name == "s0.png":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with atomic_output(dst) as f:
            f.write(b"half a stream")
            f.flush()
            time.sleep(120)
    return real(src, dst, options, force)

cc._encode_file = slow
sys.argv = ["mic"] + sys.argv[1:]
main()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_in_a_parallel_folder_run_returns_promptly(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    names = ["a0", "a1", "s0", "s1", "s2", "z0", "z1", "z2", "z3"]
    for n in names:
        shutil.copy(DATA / "us_breast_u8.png", src / f"{n}.png")
    script = tmp_path / "mic_slow.py"
    script.write_text(CLI_WITH_SLOW_FILES)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, str(script), "encode", str(src), str(out), "-j", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True, preexec_fn=terminal_sigint)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # both workers inside a slow file's output
            parts = list(out.glob(".s*.part")) if out.is_dir() else []
            if len(parts) == 2 and (out / "a0.mic").exists() and (out / "a1.mic").exists():
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        else:
            pytest.fail("the slow files were never reached")
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
        stdout, stderr = proc.communicate(timeout=60)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 1, stderr
    assert elapsed < 15, elapsed  # the grace for stopped workers is 3 s
    assert "interrupted: 2 of 9 files finished (0 of them failed); 7 cancelled or stopped" in stderr
    assert "Aborted!" in stderr
    assert sorted(p.name for p in out.iterdir()) == ["a0.mic", "a1.mic"]  # nothing partial
    time.sleep(0.5)
    assert sorted(p.name for p in out.iterdir()) == ["a0.mic", "a1.mic"]  # no worker left
