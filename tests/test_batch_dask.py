"""Issue #24: the batch runner on Dask, manifests, resume, faults and bad inputs, with real
images and a real ``dask.distributed.LocalCluster`` (2 single-threaded worker processes).

* one LocalCluster for the module (its scheduler address is what ``--dask`` gets, the path
  to a real cluster): outputs byte-identical to local processes; bad inputs in the middle
  of a batch (encode and dicom); fsspec ``file://`` URLs; the per-image work of mic bench;
* ``--dask local:2`` in a real ``mic`` process: a worker killed (SIGKILL) in the middle of
  the job; Ctrl-C (SIGINT to the process group, as a terminal sends it), then two reruns;
* without Dask: a driver killed with SIGKILL leaves a journal and a partial file that a
  rerun neither loses nor takes as done; verify resumes; a manifest is locked by its run.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import mic
from mic.cli import main
from mic.io import read_image
from mic.manifest import Manifest, ManifestLocked, row
from mic_test_helpers import terminal_sigint

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[1]
IMAGES = ["ct_abdomen_u16.png", "ct_lung_i16.npy", "mr_brain_u16.png", "cr_chest_u8.png",
          "us_breast_u8.png", "us_breast_rgb.png"]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def cli(*args: object) -> object:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def mic_process(*args: object) -> subprocess.Popen:
    """A real ``mic`` command in its own process group (as a shell starts it)."""
    return subprocess.Popen([sys.executable, "-m", "mic.cli", *map(str, args)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=terminal_sigint)


def make_tree(root: Path, copies: int = 1) -> dict[str, str]:
    """``copies`` of each real test image under ``root`` (in two folders); relative input
    path -> the original's name."""
    made = {}
    for c in range(copies):
        for k, name in enumerate(IMAGES):
            rel = f"{'ab'[k % 2]}/{c:02d}_{name}"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(DATA / name, root / rel)
            made[rel] = name
    return made


def mic_name(rel: str) -> str:
    return str(Path(rel).with_suffix(".mic"))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def journal_rows(manifest: Path) -> list[dict[str, str]]:
    try:
        text = Path(str(manifest) + ".journal").read_text()
    except FileNotFoundError:
        return []
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines = lines[:-1]
    return list(csv.DictReader(lines))


def wait_for_rows(proc: subprocess.Popen, manifest: Path, n: int, timeout: float = 180
                  ) -> list[dict[str, str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = journal_rows(manifest)
        if len(rows) >= n:
            return rows
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended before {n} rows: {out}\n{err}")
        time.sleep(0.05)
    pytest.fail(f"no {n} manifest rows within {timeout} s")


def finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def check_outputs(src: Path, out: Path, made: dict[str, str]) -> None:
    """Every input has its .mic, which verifies and decodes to the input's samples;
    nothing else (no temporary file) is there."""
    got = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert got == sorted(mic_name(rel) for rel in made)
    for rel, name in made.items():
        blob = (out / mic_name(rel)).read_bytes()
        mic.verify(blob)
        assert np.array_equal(mic.decode(blob), read_image(DATA / name)[0]), rel


def check_manifest(path: Path, src: Path, out: Path, made: dict[str, str]) -> list[dict]:
    """One row per input, none twice, all done, each output's size and SHA-256 recorded."""
    rows = Manifest(path).read()
    sources = [r["source"] for r in rows]
    assert len(sources) == len(set(sources)) == len(made)
    assert set(sources) == {str(src / rel) for rel in made}
    for r in rows:
        assert r["status"] == "done" and r["error"] == "", r
        o = Path(r["output"])
        assert r["bytes_out"] == o.stat().st_size and r["sha256"] == sha(o)
        assert r["ratio"] > 1 and r["seconds"] > 0 and r["worker"]
    assert not Path(str(path) + ".journal").exists()
    return rows


# ----------------------------------------------------------------------------- one cluster
@pytest.fixture(scope="module")
def scheduler() -> str:
    """A LocalCluster of 2 single-threaded worker processes; its scheduler's address."""
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def test_a_cluster_writes_the_bytes_local_processes_write(tmp_path: Path, scheduler: str
                                                         ) -> None:
    src = tmp_path / "in"
    made = make_tree(src)
    r = cli("encode", src, tmp_path / "local", "--quiet")
    assert r.exit_code == 0, r.output
    r = cli("encode", src, tmp_path / "dask", "--dask", scheduler, "--manifest",
            tmp_path / "m.parquet")
    assert r.exit_code == 0, r.output
    assert f"dask: {scheduler} (2 workers)" in r.stderr
    assert "encoded 6 of 6 files" in r.stdout and "summary: 6 done, 0 failed of 6 files" in r.stdout
    check_outputs(src, tmp_path / "dask", made)
    for rel in made:
        assert (tmp_path / "dask" / mic_name(rel)).read_bytes() == \
            (tmp_path / "local" / mic_name(rel)).read_bytes(), rel
    rows = check_manifest(tmp_path / "m.parquet", src, tmp_path / "dask", made)
    assert len({r["worker"] for r in rows}) == 2  # both workers took files
    assert all(r["psnr"] is None for r in rows)  # lossless
    # lossy: the same bytes too, and the manifest has each image's PSNR
    lossy = tmp_path / "lossy_in"
    lossy.mkdir()
    for name in ("ct_lung_i16.npy",):
        shutil.copy(DATA / name, lossy / name)
    assert cli("encode", lossy, tmp_path / "q_local", "--quality", "4", "--quiet").exit_code == 0
    r = cli("encode", lossy, tmp_path / "q_dask", "--quality", "4", "--dask", scheduler,
            "--manifest", tmp_path / "q.csv", "--quiet")
    assert r.exit_code == 0, r.output
    for p in (tmp_path / "q_local").iterdir():
        assert (tmp_path / "q_dask" / p.name).read_bytes() == p.read_bytes()
    for r in Manifest(tmp_path / "q.csv").read():
        blob = Path(r["output"]).read_bytes()
        ref = read_image(r["source"])[0].astype(np.float64)
        mse = np.mean((mic.decode(blob).astype(np.float64) - ref) ** 2)
        peak = (1 << mic.info(blob).bits_stored) - 1
        assert r["psnr"] == pytest.approx(10 * np.log10(peak * peak / mse), abs=1e-9)
        assert 25 < r["psnr"] < 80


def test_bad_inputs_in_the_middle_fail_alone(tmp_path: Path, scheduler: str) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a_ct.png", "z_us.png"):
        shutil.copy(DATA / ("ct_abdomen_u16.png" if "ct" in name else "us_breast_u8.png"),
                    src / name)
    dcm = (DATA / "dicom" / "ct_signed_12bit.dcm").read_bytes()
    (src / "m_truncated.dcm").write_bytes(dcm[: len(dcm) // 2])
    (src / "m_notes.png").write_text("minutes of the meeting, not an image")
    np.save(src / "m_float.npy", np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64))
    r = cli("encode", src, tmp_path / "out", "--dask", scheduler, "--manifest",
            tmp_path / "m.csv")
    assert r.exit_code == 1  # some inputs failed
    assert "encoded 2 of 5 files" in r.stdout and "3 failed" in r.stdout
    rows = {Path(x["source"]).name: x for x in Manifest(tmp_path / "m.csv").read()}
    assert sorted(rows) == ["a_ct.png", "m_float.npy", "m_notes.png", "m_truncated.dcm",
                            "z_us.png"]
    assert rows["a_ct.png"]["status"] == rows["z_us.png"]["status"] == "done"
    assert rows["m_truncated.dcm"]["status"] == "failed"
    assert "The number of bytes of pixel data is less than expected" in \
        rows["m_truncated.dcm"]["error"]
    assert rows["m_notes.png"]["status"] == "failed"
    assert rows["m_notes.png"]["error"] == "MicInputError: PNG without a valid IHDR chunk"
    assert rows["m_float.npy"]["status"] == "failed"
    assert rows["m_float.npy"]["error"].startswith("MicInputError: unsupported dtype float32")
    for name in ("m_truncated.dcm", "m_notes.png", "m_float.npy"):
        assert f"error: {src / name}: {rows[name]['error']}" in r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_ct.mic", "z_us.mic"]

    # mic dicom compress / decompress on the cluster: the truncated file fails alone
    study = tmp_path / "study"
    study.mkdir()
    for name in ("ct_signed_12bit.dcm", "mr_multiframe_12bit.dcm"):
        shutil.copy(DATA / "dicom" / name, study / name)
    (study / "m_truncated.dcm").write_bytes(dcm[: len(dcm) // 2])
    r = cli("dicom", "compress", study, tmp_path / "study_mic", "--dask", scheduler,
            "--manifest", tmp_path / "d.parquet")
    assert r.exit_code == 1
    assert "files: 3 (converted 2, kept 0, skipped 0, failed 1)" in r.stdout
    rows = {Path(x["source"]).name: x for x in Manifest(tmp_path / "d.parquet").read()}
    assert rows["m_truncated.dcm"]["status"] == "failed"
    assert "less than expected" in rows["m_truncated.dcm"]["error"]
    assert [rows[n]["status"] for n in ("ct_signed_12bit.dcm", "mr_multiframe_12bit.dcm")] \
        == ["converted", "converted"]
    r = cli("dicom", "decompress", tmp_path / "study_mic", tmp_path / "back", "--dask",
            scheduler)
    assert r.exit_code == 0 and "converted 2" in r.stdout, r.output
    import pydicom

    for name in ("ct_signed_12bit.dcm", "mr_multiframe_12bit.dcm"):
        a = pydicom.dcmread(study / name).pixel_array
        assert np.array_equal(pydicom.dcmread(tmp_path / "back" / name).pixel_array, a)


def test_file_urls_through_fsspec(tmp_path: Path, scheduler: str) -> None:
    src = tmp_path / "in"
    made = make_tree(src)
    url_in, url_out = f"file://{src}", f"file://{tmp_path / 'out'}"
    r = cli("encode", url_in, url_out, "--dask", scheduler, "--manifest", tmp_path / "m.csv")
    assert r.exit_code == 0 and "encoded 6 of 6 files" in r.stdout, r.output
    check_outputs(src, tmp_path / "out", made)
    assert cli("encode", src, tmp_path / "plain", "--quiet").exit_code == 0
    for rel in made:
        assert (tmp_path / "out" / mic_name(rel)).read_bytes() == \
            (tmp_path / "plain" / mic_name(rel)).read_bytes()
    rows = Manifest(tmp_path / "m.csv").read()
    assert {x["source"] for x in rows} == {f"{url_in}/{rel}" for rel in made}
    assert all(x["sha256"] == sha(Path(x["output"][len("file://"):])) for x in rows)
    r = cli("verify", url_out, "--dask", scheduler)
    assert r.exit_code == 0 and "6 of 6 files OK" in r.stdout, r.output
    r = cli("decode", url_out, f"file://{tmp_path / 'dec'}", "--dask", scheduler)
    assert r.exit_code == 0 and "decoded 6 of 6 files" in r.stdout, r.output
    for rel, name in made.items():
        back = next((tmp_path / "dec" / Path(rel).parent).glob(Path(rel).stem + ".*"))
        assert np.array_equal(read_image(back)[0], read_image(DATA / name)[0])
    # a rerun with the manifest finds every output as recorded, through the URLs
    r = cli("encode", url_in, url_out, "--dask", scheduler, "--manifest", tmp_path / "m.csv")
    assert r.exit_code == 0 and "encoded 0 of 6 files" in r.stdout
    assert "(6 done before, skipped)" in r.stdout


def test_bench_per_image_work_on_the_cluster(tmp_path: Path, scheduler: str) -> None:
    pytest.importorskip("scipy")
    bench = DATA / "bench"
    args = ["bench", bench, "--codecs", "mic,png", "--quick", "--no-plots"]
    r1 = cli(*args, "--out", tmp_path / "one")
    assert r1.exit_code == 0, r1.output
    r2 = cli(*args, "--out", tmp_path / "dask", "--dask", scheduler)
    assert r2.exit_code == 0, r2.output

    def rows(out: Path) -> list[tuple]:
        with open(out / "results.csv", newline="") as fh:
            return [(x["image"], x["codec"], x["knob"], x["bytes"], x["psnr"], x["offset"],
                     x["error"]) for x in csv.DictReader(fh)]

    assert rows(tmp_path / "dask") == rows(tmp_path / "one")
    assert len(rows(tmp_path / "one")) == 4  # 2 images x (mic, png)


def test_short_jobs_go_several_to_a_task(scheduler: str) -> None:
    """Jobs grouped into tasks (here 7 a task) come back one result each, in their places;
    a failing job fails alone."""
    from distributed import Client

    from mic.batch import DaskExecutor, Job, run

    jobs = [Job(f"n{i}", None, int, (str(i) if i != 17 else "x",)) for i in range(50)]
    with Client(scheduler) as client:
        ex = DaskExecutor(client, chunk=7, echo=False)
        s = run(jobs, ex, quiet=True, echo=False)
    assert len(s.results) == 50 and s.failed == 1
    by = {r.source: r for r in s.results}
    assert by["n17"].status == "failed" and "invalid literal" in by["n17"].error
    assert all(by[f"n{i}"].value == i for i in range(50) if i != 17)


def test_a_result_lost_with_its_worker_is_waited_for_again() -> None:
    """The race of a worker killed between its task's end and the gather of the result: Dask
    runs the task again, and the task's jobs wait for that run instead of failing (they
    failed with "task finished" before)."""
    from distributed import Client, LocalCluster, as_completed, wait

    from mic.batch import DaskExecutor, Job
    from mic.batch_dask import _dask_task

    # dashboard_address ":0": with None the scheduler's HTTP server still asks for 8787,
    # which the suite's `--dask local` runs may hold (a warning, not an error)
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=logging.CRITICAL)
    with cluster, Client(cluster) as client:
        ex = DaskExecutor(client, echo=False)
        jobs = [Job("n7", None, int, ("7",))]
        fut = client.submit(_dask_task, jobs, key="mic-0-lost", pure=False)
        wait(fut)
        assert fut.status == "finished"
        (addr,) = client.who_has(fut)[fut.key]
        os.kill(client.run(os.getpid, workers=[addr])[addr], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while fut.status == "finished" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fut.status != "finished"  # its result went with its worker
        index, futures, ac = {fut.key: [0]}, {fut.key: fut}, as_completed()
        assert ex._collect(jobs, [fut], index, futures, ac) == []  # not failed: waited for
        assert fut.key in index and fut.key in futures
        out = []
        for batch in ac.batches():
            out += ex._collect(jobs, batch, index, futures, ac)
        assert [(i, r.status, r.value) for i, r in out] == [(0, "done", 7)]
        assert not index and not futures


def test_a_cluster_running_another_mic_is_refused(tmp_path: Path, scheduler: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "in"
    make_tree(src)
    theirs = mic.__version__
    monkeypatch.setattr(mic, "__version__", "0.0.0-here")  # this driver, not the workers
    r = cli("encode", src, tmp_path / "out", "--dask", scheduler)
    assert r.exit_code == 1
    assert f"--dask {scheduler}: workers run another mic than this 0.0.0-here: " in r.output
    assert f"has {theirs}" in r.output and not (tmp_path / "out").exists()
    r = cli("encode", src, tmp_path / "out", "--dask", scheduler, "-j", "2")
    assert r.exit_code == 2 and "use --dask local:N" in r.output


# ----------------------------------------------------------------------------- --dask local:2
def test_a_worker_killed_in_the_middle(tmp_path: Path) -> None:
    psutil = pytest.importorskip("psutil")  # comes with distributed
    src, out, man = tmp_path / "in", tmp_path / "out", tmp_path / "m.csv"
    made = make_tree(src, copies=5)  # 30 files
    proc = mic_process("encode", src, out, "--dask", "local:2", "--manifest", man)
    try:
        rows = wait_for_rows(proc, man, 3)
        victim = int(rows[-1]["worker"].rsplit(":", 1)[1])
        family = {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
        assert victim in family and victim != proc.pid  # a worker process of this run
        os.kill(victim, signal.SIGKILL)
        done_before_kill = len(journal_rows(man))
    finally:
        stdout, stderr = finish(proc)
    assert done_before_kill < len(made)  # killed in the middle
    assert proc.returncode == 0, stderr
    assert "encoded 30 of 30 files" in stdout and "0 failed" in stdout
    check_outputs(src, out, made)
    check_manifest(man, src, out, made)
    assert not psutil.pid_exists(victim) or psutil.Process(victim).status() == "zombie"


def test_ctrl_c_then_resume_then_nothing_left(tmp_path: Path) -> None:
    src, out, man = tmp_path / "in", tmp_path / "out", tmp_path / "m.parquet"
    made = make_tree(src, copies=5)  # 30 files
    proc = mic_process("encode", src, out, "--dask", "local:2", "--manifest", man)
    try:
        wait_for_rows(proc, man, 2)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
    finally:
        stdout, stderr = finish(proc, timeout=120)
    assert proc.returncode == 1, stderr
    # the jobs in flight were let finish (the workers ignore the terminal's SIGINT: no
    # tracebacks), no others started
    assert "stopping: waiting for the" in stderr and "Traceback" not in stderr, stderr
    assert "interrupted: " in stderr and "no partial outputs left" in stderr
    assert "Aborted!" in stderr
    rows = Manifest(man).read()
    assert sorted(r["source"] for r in rows) == sorted(str(src / rel) for rel in made)
    first = {r["source"] for r in rows if r["status"] == "done"}
    assert 2 <= len(first) < len(made)
    failed = [(r["source"], r["error"]) for r in rows if r["status"] == "failed"]
    assert {r["status"] for r in rows} == {"done", "pending"}, (failed, stderr)
    assert not Path(str(man) + ".journal").exists()
    outputs = sorted(p for p in out.rglob("*") if p.is_file())  # nothing partial
    assert [str(p) for p in outputs] == sorted(
        str(out / mic_name(str(Path(s).relative_to(src)))) for s in first)
    stamps = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in outputs}

    # the rerun does only what is left
    proc = mic_process("encode", src, out, "--dask", "local:2", "--manifest", man)
    stdout, stderr = finish(proc)
    assert proc.returncode == 0, stderr
    assert f"encoded {len(made) - len(first)} of {len(made)} files" in stdout
    assert f"({len(first)} done before, skipped)" in stdout
    assert all((p.stat().st_ino, p.stat().st_mtime_ns) == s for p, s in stamps.items())
    check_outputs(src, out, made)
    check_manifest(man, src, out, made)

    # and a third run (local processes, the same manifest) has nothing to do
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.mic")}
    r = cli("encode", src, out, "--manifest", man)
    assert r.exit_code == 0, r.output
    assert f"encoded 0 of {len(made)} files" in r.stdout
    assert f"summary: {len(made)} skipped (already done), 0 failed" in r.stdout
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.mic")} == stamps


def test_a_second_ctrl_c_leaves_the_jobs_in_flight(tmp_path: Path) -> None:
    """Ctrl-C twice: the run leaves at once; the jobs it left are marked interrupted, and a
    rerun redoes them (replacing what they may have written) without refusing anything."""
    src, out, man = tmp_path / "in", tmp_path / "out", tmp_path / "m.csv"
    src.mkdir()
    # images large enough (tiled to about 1536 x 1536) that a job outlives the 0.3 s between
    # the two Ctrl-Cs: the test images themselves encode in a few tens of milliseconds
    small = ("ct_lung_i16.npy", "us_breast_u8.png", "ct_abdomen_u16.png")
    for c in range(2):
        for name in small:
            a = read_image(DATA / name)[0]
            reps = (-(-1536 // a.shape[0]), -(-1536 // a.shape[1])) + (1,) * (a.ndim - 2)
            np.save(src / f"{c}_{Path(name).stem}.npy", np.tile(a, reps))
    args = ("encode", src, out, "--quality", "0", "--manifest", man)
    proc = mic_process(*args, "--dask", "local:2")
    try:
        wait_for_rows(proc, man, 1)
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGINT)
    finally:
        stdout, stderr = finish(proc, timeout=120)
    assert proc.returncode == 1, stderr
    assert "left running on their Dask workers" in stderr and "Traceback" not in stderr, stderr
    rows = Manifest(man).read()
    assert len(rows) == 6 and "interrupted" in {r["status"] for r in rows}
    assert {r["status"] for r in rows} <= {"done", "interrupted", "pending"}
    r = cli(*args)
    assert r.exit_code == 0, r.output
    assert f"({sum(x['status'] == 'done' for x in rows)} done before, skipped)" in r.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{c}_{Path(n).stem}.mic" for c in range(2) for n in small)
    assert {x["status"] for x in Manifest(man).read()} == {"done"}


# ----------------------------------------------------------------------------- no Dask
def _write(path: str, text: str) -> str:
    from mic.io import atomic_write_bytes

    atomic_write_bytes(path, text.encode(), overwrite=False)
    return text


def test_a_job_run_again_replaces_only_its_own_output(tmp_path: Path) -> None:
    """What makes a Dask task safe to run twice (its worker died after it wrote): an output
    written since the run began is the job's own and is replaced; an older one is not."""
    from mic.batch import FAILED, Job, execute

    out = tmp_path / "a.txt"
    out.write_text("a user's file")
    job = Job("a", str(out), _write, (str(out), "new"), since=time.time() + 1)
    r = execute(job)  # older than the run: refused, kept
    assert r.status == FAILED and "output exists" in r.error
    assert out.read_text() == "a user's file"
    job = Job("a", str(out), _write, (str(out), "new"), since=time.time() - 60)
    assert execute(job).status == "done" and out.read_text() == "new"


#: ``mic encode`` whose file s0.png hangs inside its atomic output (see test_batch.py)
CLI_WITH_A_HANGING_FILE = """
import sys, time
import mic.cli_codec as cc
from mic.cli import main
from mic.io import atomic_output

real = cc._encode_file

def slow(src, dst, options, force):
    if src.endswith("s0.png"):
        with atomic_output(dst) as f:
            f.write(b"half a stream")
            f.flush()
            time.sleep(120)
    return real(src, dst, options, force)

cc._encode_file = slow
sys.argv = ["mic"] + sys.argv[1:]
main()
"""


def test_any_job_function_resumes(tmp_path: Path) -> None:
    """A job function that reports nothing (returns a plain value): the manifest takes the
    sizes from the files, and a rerun resumes every job."""
    from mic.batch import Job, LocalExecutor, run

    jobs = [Job(f"s{i}", str(tmp_path / f"o{i}.txt"), _write,
                (str(tmp_path / f"o{i}.txt"), "x" * (i + 1))) for i in range(3)]
    s = run(jobs, LocalExecutor(), quiet=True, manifest=tmp_path / "m.csv")
    assert s.count("done") == 3 and s.resumed == 0
    rows = Manifest(tmp_path / "m.csv").read()
    assert [r["bytes_out"] for r in rows] == [1, 2, 3]
    assert all(r["sha256"] == sha(Path(r["output"])) for r in rows)
    s = run(jobs, LocalExecutor(), quiet=True, manifest=tmp_path / "m.csv")
    assert s.resumed == 3 and s.failed == 0


def test_a_driver_killed_outright_loses_nothing(tmp_path: Path) -> None:
    src, out, man = tmp_path / "in", tmp_path / "out", tmp_path / "m.csv"
    src.mkdir()
    for n in ("a0", "a1", "s0", "z0"):
        shutil.copy(DATA / "us_breast_u8.png", src / f"{n}.png")
    script = tmp_path / "mic_hang.py"
    script.write_text(CLI_WITH_A_HANGING_FILE)
    proc = subprocess.Popen([sys.executable, str(script), "encode", src, out, "--manifest",
                             man], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        wait_for_rows(proc, man, 2)
        deadline = time.monotonic() + 60
        while not list(out.glob(".s0.mic.*.part")) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # no clean-up at all
    finally:
        finish(proc)
    assert len(list(out.glob(".s0.mic.*.part"))) == 1  # a partial file, left behind
    assert sorted(p.name for p in out.glob("*.mic")) == ["a0.mic", "a1.mic"]
    assert [r["source"] for r in journal_rows(man)] == [str(src / "a0.png"),
                                                       str(src / "a1.png")]
    r = cli("encode", src, out, "--manifest", man)
    assert r.exit_code == 0, r.output
    assert "encoded 2 of 4 files" in r.stdout and "(2 done before, skipped)" in r.stdout
    assert sorted(p.name for p in out.iterdir()) == ["a0.mic", "a1.mic", "s0.mic", "z0.mic"]
    made = {f"{n}.png": "us_breast_u8.png" for n in ("a0", "a1", "s0", "z0")}
    check_outputs(src, out, made)
    check_manifest(man, src, out, made)


def test_a_changed_output_is_not_taken_as_done(tmp_path: Path) -> None:
    src, out, man = tmp_path / "in", tmp_path / "out", tmp_path / "m.csv"
    made = make_tree(src)
    assert cli("encode", src, out, "--manifest", man, "--quiet").exit_code == 0
    victim = out / mic_name(next(iter(made)))
    victim.write_bytes(victim.read_bytes()[:-1] + b"\x00")  # same size, other bytes
    r = cli("encode", src, out, "--manifest", man)
    assert r.exit_code == 1
    assert "it is not the output the manifest recorded" in r.stderr
    r = cli("encode", src, out, "--manifest", man, "--force")
    assert r.exit_code == 0 and "encoded 1 of 6 files" in r.stdout, r.output
    check_outputs(src, out, made)
    check_manifest(man, src, out, made)


def test_verify_resumes_and_rechecks_what_changed(tmp_path: Path) -> None:
    src, out, man = tmp_path / "in", tmp_path / "out", tmp_path / "v.csv"
    make_tree(src)
    assert cli("encode", src, out, "--quiet").exit_code == 0
    r = cli("verify", out, "-j", "2", "--manifest", man)
    assert r.exit_code == 0 and r.stdout.count("OK ") == 6 and "6 of 6 files OK" in r.stdout
    r = cli("verify", out, "--manifest", man)
    assert r.exit_code == 0 and r.stdout.count("verified before") == 6
    victim = sorted(out.rglob("*.mic"))[0]
    victim.write_bytes(victim.read_bytes()[:-8])
    r = cli("verify", out, "--manifest", man)
    assert r.exit_code == 1 and r.stdout.count("verified before") == 5
    assert f"FAILED {victim}:" in r.stderr
    rows = {x["source"]: x for x in Manifest(man).read()}
    assert rows[str(victim)]["status"] == "failed" and len(rows) == 6


def test_one_run_at_a_time_per_manifest(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    with Manifest(path) as m:
        with pytest.raises(ManifestLocked, match="being written by another run"):
            Manifest(path).open()
        m.record(row("a", "a.mic", "done", bytes_in=4, bytes_out=2))
        (tmp_path / "x.mic").write_bytes(mic.encode(read_image(DATA / "us_breast_u8.png")[0]))
        r = cli("verify", tmp_path / "x.mic", "--manifest", path)  # a command says so
        assert r.exit_code == 1 and "being written by another run" in r.output
    assert [x["source"] for x in Manifest(path).read()] == ["a"]


def test_the_sync_cancel_race_of_distributed_is_not_logged() -> None:
    """Ctrl-C inside distributed's sync() before its coroutine starts makes its cancel
    callback raise NameError (unbound 'future'), which tornado logs as a traceback; mic's
    filter drops that record and nothing else."""
    import logging

    from mic.batch_dask import _SyncCancelRace

    def record(exc: BaseException | None) -> logging.LogRecord:
        return logging.LogRecord("tornado.application", logging.ERROR, __file__, 1,
                                 "Exception in callback", None,
                                 (type(exc), exc, None) if exc else None)

    f = _SyncCancelRace()
    race = NameError("cannot access free variable 'future' where it is not associated with "
                     "a value in enclosing scope")
    assert not f.filter(record(race))
    assert f.filter(record(NameError("name 'x' is not defined")))
    assert f.filter(record(RuntimeError("'future' went wrong")))
    assert f.filter(record(None))


def test_a_heartbeat_at_the_close_of_a_local_cluster_is_not_logged() -> None:
    """A LocalCluster's worker whose heartbeat meets the closing scheduler logs an OSError's
    traceback on the terminal (seen in CI after Ctrl-C); the workers of ``--dask local``
    drop that record, and nothing else."""
    import logging

    from mic.batch_dask import _HeartbeatAtClose, dask_executor

    def record(msg: str, exc: BaseException | None) -> logging.LogRecord:
        return logging.LogRecord("distributed.worker", logging.ERROR, __file__, 1, msg, None,
                                 (type(exc), exc, None) if exc else None)

    f = _HeartbeatAtClose()
    gone = "Failed to communicate with scheduler during heartbeat."
    assert not f.filter(record(gone, OSError("in <TCP (closed) ...>: Stream is closed")))
    assert f.filter(record(gone, None))
    assert f.filter(record("Unexpected exception during heartbeat. Closing worker.",
                           OSError("Stream is closed")))
    assert f.filter(record(gone, RuntimeError("not a comm error")))

    def filtered() -> bool:  # pragma: no cover - runs on the Dask worker
        log = logging.getLogger("distributed.worker")
        return sum(type(x).__name__ == "_HeartbeatAtClose" for x in log.filters) == 1

    with dask_executor("local:1", quiet=True) as ex:
        assert list(ex.client.run(filtered).values()) == [True]
        assert ex.client.run(signal_ignored) == {w: True for w in ex.client.run(filtered)}


def signal_ignored() -> bool:  # pragma: no cover - runs on the Dask worker
    import signal

    return signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_a_gather_cancelled_by_ctrl_c_is_forgotten(scheduler: str) -> None:
    """Ctrl-C that interrupts a gather before its request runs leaves distributed's client
    with a cancelled pending request that every later gather and ``Future.result()`` joins
    (each ends in UnboundLocalError; seen in a run as a job "failed" after Ctrl-C).  The
    executor forgets it and gathers again: the jobs' results come back."""
    import asyncio
    import contextlib

    from distributed import Client

    from mic.batch_dask import DaskExecutor

    async def cancelled_request() -> asyncio.Task:
        t = asyncio.ensure_future(asyncio.sleep(60))
        t.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await t
        return t

    with Client(scheduler, timeout="60s") as client:
        fut = client.submit(sum, [1, 2], pure=False)
        assert fut.result() == 3
        assert client._gather_future is None  # what a Ctrl-C leaves (distributed 2026.8):
        client._gather_future = client.sync(cancelled_request)  # its request, cancelled
        client._gather_keys = {fut.key}  # before it ran
        with pytest.raises(UnboundLocalError):
            fut.result()
        assert DaskExecutor(client)._gather([fut]) == {fut.key: 3}
        assert fut.result() == 3 and client._gather_future is None
