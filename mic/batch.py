"""One batch runner for folder jobs (``mic encode``/``decode``/``verify`` on folders, ``mic
dicom compress``/``decompress``, the per-image work of ``mic bench``): jobs in, results out,
on local processes or a Dask cluster.

* A :class:`Job` names its source, its output and the function that does the work, a
  module-level function (a worker process imports it by name) that writes the output
  atomically (:func:`mic.storage.write_bytes`, :func:`mic.io.atomic_output`) and returns a
  :class:`Result` (its own status, bytes in and out, ratio, PSNR) or any other value
  (status ``done``).  Jobs carry names, never image data: the worker reads and writes.
* :func:`execute` runs one job: an exception becomes a ``failed`` result whose error is one
  line (:func:`describe_error`); the seconds and the worker (``host:pid``) are recorded.
* An executor runs many: ``executor.map(jobs)`` yields ``(index, result)`` as jobs finish.
  :class:`~mic.batch_local.LocalExecutor` runs them in this process (``workers=1``) or in worker processes;
  :class:`DaskExecutor` submits them to a Dask cluster (:func:`dask_executor`: a scheduler
  address, or ``local[:N]`` for a LocalCluster started here).  When the iteration is
  interrupted (Ctrl-C), the local executor stops at once (jobs not started are cancelled,
  running ones stopped, their partial outputs removed); the Dask executor submits nothing
  more and hands over the few jobs in flight as they finish (a second Ctrl-C leaves them).
* :func:`run` drives an executor with a progress bar, prints each failure as it comes,
  keeps a manifest (:mod:`mic.manifest`: one row per input; a rerun with the same manifest
  skips the inputs done before whose output still verifies, and retries the rest) and
  returns a :class:`Summary` (:meth:`Summary.report` is the closing line); after Ctrl-C the
  summary says what finished (``interrupted``) and the command reports it and exits 1.

>>> from mic.batch import Job, run
>>> s = run([Job("a", None, int, ("12",)), Job("b", None, int, ("x",))], quiet=True,
...         echo=False)
>>> [(r.source, r.status, r.value) for r in s.results]
[('a', 'done', 12), ('b', 'failed', None)]
>>> s.results[1].error
"ValueError (unexpected): invalid literal for int() with base 10: 'x'"
>>> s.count("done"), s.failed, s.interrupted
(1, 1, False)
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "DONE",
    "FAILED",
    "SKIPPED",
    "Executor",
    "Job",
    "JobError",
    "Result",
    "Summary",
    "batch_options",
    "dask_option",
    "describe_error",
    "execute",
    "open_executor",
    "run",
    "walk",
]

DONE, FAILED, SKIPPED = "done", "failed", "skipped"
#: the status of an output written as a copy of its input (e.g. ``mic dicom compress`` of an
#: object without pixel data): counted, but not in the compression ratio
KEPT = "kept"
#: how long stopped workers get to remove their partial outputs before they are killed
STOP_GRACE_S = 3.0
#: without a terminal, a progress line is printed this often (seconds)
PROGRESS_EVERY_S = 60.0
#: a Dask run keeps about this much work (seconds) in flight per worker thread ...
IN_FLIGHT_S = 2.0
#: ... in tasks of about this much work each (short jobs go several to a task: a task costs
#: the driver and the scheduler about 2 ms of CPU, so they keep about 500 threads busy)
TASK_S = 1.0


class JobError(Exception):
    """A job failed for a reason its message says in full (reported without a class name)."""


@dataclass
class Job:
    """``fn(*args, **kwargs)`` makes ``output`` (or nothing: None) from ``source``.

    ``suffixes``: what the job may append to ``output`` (a decode whose format follows the
    image).  :func:`run` sets the last three fields: ``previous`` (the manifest's row of an
    earlier run: the job resumes, i.e. returns it, if its output still verifies), ``since``
    (an output written after this time is this run's own, left by an earlier attempt of
    the job: a Dask task run again after its worker died replaces it) and ``digest``
    (record the output's SHA-256)."""

    source: str
    output: str | None
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    suffixes: tuple[str, ...] = ()
    previous: Result | None = None
    since: float | None = None
    digest: bool = False


@dataclass
class Result:
    """What happened to one job.  ``status`` is ``done``, ``failed`` or a job's own word
    (``skipped``, ``converted``, ``kept``, ...); ``error`` says why it failed, was skipped or
    kept; ``value`` is what the job function returned when that was not a Result.
    ``ratio`` is raw / compressed where the job knows the raw size (else bytes_in /
    bytes_out), ``psnr`` the PSNR in dB of a lossy output; ``worker`` is ``host:pid``;
    ``resumed``: done by an earlier run (the manifest's row, its output verified)."""

    source: str
    output: str | None
    status: str = DONE
    error: str = ""
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    value: Any = None
    ratio: float | None = None
    psnr: float | None = None
    worker: str = ""
    sha256: str = ""
    resumed: bool = False


def describe_error(exc: BaseException) -> str:
    """One line naming an error: :class:`JobError` by its message, an existing output by
    ``--force``, OS errors plainly, mic's errors by class name, others as unexpected.

    >>> describe_error(FileExistsError(17, "output exists", "out/a.mic"))
    'out/a.mic: output exists (use --force to overwrite)'
    >>> from mic.errors import MicChecksumError
    >>> describe_error(MicChecksumError("tile 3: CRC mismatch"))
    'MicChecksumError: tile 3: CRC mismatch'
    """
    from .errors import MicError

    if isinstance(exc, JobError):
        return str(exc)
    if isinstance(exc, FileExistsError):
        return f"{exc.filename}: output exists (use --force to overwrite)"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    name = type(exc).__name__
    msg = str(exc).replace("\n", " ")
    if isinstance(exc, MicError):
        return f"{name}: {msg}"
    return f"{name} (unexpected): {msg}"


def worker_id() -> str:
    """``host:pid`` of this process (the manifest's ``worker``)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _verified(prev: Result) -> bool:
    """Is ``prev`` (a finished row of an earlier run) still true here: its output of the
    recorded SHA-256, or, without an output, its source of the recorded size?"""
    from . import storage

    try:
        if prev.output:
            return bool(prev.sha256) and storage.sha256(prev.output) == prev.sha256
        return storage.size(prev.source) == prev.bytes_in
    except (OSError, ImportError):
        return False


def _clear_own_outputs(job: Job) -> None:
    """Remove what an earlier attempt of ``job`` in this run published (written after
    ``job.since``: no other job writes this output), so that running it again is the same
    as running it once."""
    from . import storage

    if job.output is None or job.since is None:
        return
    for path in [job.output] + [job.output + s for s in job.suffixes]:
        t = storage.modified(path)
        if t is not None and t >= job.since:
            storage.remove(path)


def execute(job: Job) -> Result:
    """Run one job (in this process): its Result, ``failed`` if it raised an Exception.
    KeyboardInterrupt and other BaseExceptions propagate.  A job with a ``previous`` row
    whose output verifies is not run: that row comes back, ``resumed``."""
    from . import storage

    t0 = time.perf_counter()
    if job.previous is not None and _verified(job.previous):
        return dataclasses.replace(job.previous, resumed=True, value=None)
    try:
        _clear_own_outputs(job)
        out = job.fn(*job.args, **job.kwargs)
    except Exception as exc:  # noqa: BLE001 - a bad input must not stop the batch
        out = Result(job.source, job.output, FAILED, describe_error(exc))
    if not isinstance(out, Result):
        out = Result(job.source, job.output, DONE, value=out)
    if job.previous is not None and out.status == FAILED and "output exists" in out.error:
        out.error += "; it is not the output the manifest recorded"
    out.seconds = time.perf_counter() - t0
    out.worker = out.worker or worker_id()
    if job.digest:  # a manifest records the run: sizes of the files where the job gave none
        with contextlib.suppress(OSError, ImportError, ValueError):
            out.bytes_in = out.bytes_in or storage.size(job.source)
        if out.status != FAILED and out.output:
            with contextlib.suppress(OSError, ImportError, ValueError):
                out.sha256 = storage.sha256(out.output)
                out.bytes_out = out.bytes_out or storage.size(out.output)
    return out


def walk(root: Path, exclude: Path | None = None) -> Iterator[Path]:
    """Every file under ``root`` not hidden (no part starting with a dot), sorted, depth
    first, skipping ``exclude``'s tree (an output folder inside the input)."""
    excl = exclude.resolve() if exclude is not None else None
    for dirpath, dirnames, filenames in os.walk(root):
        dp = Path(dirpath)
        dirnames[:] = [d for d in sorted(dirnames)
                       if not d.startswith(".") and (excl is None or (dp / d).resolve() != excl)]
        for f in sorted(filenames):
            if not f.startswith("."):
                yield dp / f


# ----------------------------------------------------------------------------- executors
class Executor(Protocol):
    def map(self, jobs: Sequence[Job]) -> Iterator[tuple[int, Result]]:
        """Yield ``(index in jobs, result)`` as jobs finish.  If the consumer is interrupted
        (KeyboardInterrupt thrown in, or raised while waiting), cancel what has not started,
        stop what runs (or hand it over as it finishes, then re-raise), remove partial
        outputs and re-raise."""
        ...


def _sweep_partials(folder: str, names: list[str]) -> int:
    """Remove the temporary files of killed writers of ``names`` in ``folder``."""
    from .storage import discard_partials

    try:
        return discard_partials(folder, names)
    except (OSError, ImportError):
        return 0


def _partials_by_folder(jobs: Iterable[Job]) -> dict[str, list[str]]:
    """The output folders of ``jobs`` and, for each, the names its jobs write."""
    from .storage import parent

    by_folder: dict[str, list[str]] = {}
    for job in jobs:
        if job.output is not None:
            name = job.output.rstrip("/").replace("\\", "/").rpartition("/")[2]
            by_folder.setdefault(parent(job.output), []).extend(
                [name] + [name + s for s in job.suffixes])
    return by_folder



def __getattr__(name: str) -> Any:
    # the executors load only when asked for (mic.batch_local, mic.batch_dask)
    if name == "LocalExecutor":
        from .batch_local import LocalExecutor

        return LocalExecutor
    if name in ("DaskExecutor", "dask_executor", "parse_dask_address"):
        from . import batch_dask

        return getattr(batch_dask, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@contextlib.contextmanager
def open_executor(workers: int = 1, dask: str | None = None, *, command: str = "mic",
                  quiet: bool = False) -> Iterator[Executor]:
    """The executor of a command's ``-j WORKERS`` and ``--dask ADDRESS`` options: local
    processes, or Dask (after checking that the ``dask`` extra is installed; ``-j`` sets the
    workers of ``--dask local``)."""
    if dask is None:
        from .batch_local import LocalExecutor

        yield LocalExecutor(workers)
        return
    from .extras import require

    require(f"{command} --dask", "dask", ["dask", "distributed"])
    import click

    from .batch_dask import dask_executor, parse_dask_address

    try:
        kind, _ = parse_dask_address(dask)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--dask") from None
    if kind != "local" and workers > 1:
        raise click.BadParameter("-j sets local worker processes; a cluster's workers are "
                                 "its own (drop -j, or use --dask local:N)",
                                 param_hint="-j")
    stack = contextlib.ExitStack()
    try:
        ex = stack.enter_context(dask_executor(dask, workers=workers if workers > 1 else None,
                                               quiet=quiet))
    except (OSError, RuntimeError) as exc:  # no scheduler there, workers without mic
        raise click.ClickException(f"--dask {dask}: {exc}") from None
    with stack:
        yield ex


def dask_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--dask ADDRESS`` option (click)."""
    import click

    return click.option(
        "--dask", "dask", default=None, metavar="ADDRESS",
        help="Run the files on a Dask cluster, at its scheduler's ADDRESS (tcp://host:8786; "
             "its workers must see the same paths) or 'local[:N]' for N worker processes "
             "here (needs pip install 'mic[dask]').")(f)


def batch_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--dask`` and ``--manifest`` options of the folder commands (click)."""
    import click

    f = click.option(
        "--manifest", default=None, metavar="PATH",
        help="Folder runs: write one row per input to PATH (.parquet with pyarrow, else "
             ".csv) as the run goes; rerun with the same PATH to skip the inputs done "
             "before whose output still verifies and retry the rest.")(f)
    return dask_option(f)


# ----------------------------------------------------------------------------- run
@dataclass
class Summary:
    """Results in the order jobs finished; after Ctrl-C (``interrupted``) ``unfinished``
    lists the jobs that were cancelled or stopped (none left a partial output).  Results
    with ``resumed`` set were done by an earlier run (not run again)."""

    results: list[Result]
    unfinished: list[Job] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0
    manifest: str | None = None
    left_running: int = 0

    def select(self, *statuses: str) -> list[Result]:
        return [r for r in self.results if r.status in statuses]

    def count(self, *statuses: str) -> int:
        return len(self.select(*statuses))

    def totals(self, *statuses: str) -> tuple[int, int]:
        """Bytes in and bytes out of the results of these statuses."""
        sel = self.select(*statuses)
        return sum(r.bytes_in for r in sel), sum(r.bytes_out for r in sel)

    @property
    def failed(self) -> int:
        return self.count(FAILED)

    @property
    def resumed(self) -> int:
        return sum(r.resumed for r in self.results)

    @property
    def statuses(self) -> Counter[str]:
        return Counter(r.status for r in self.results)

    def interruption(self) -> str:
        """The line printed after Ctrl-C: what finished and what did not."""
        n = len(self.results) + len(self.unfinished)
        if self.left_running:  # Dask, second Ctrl-C
            return (f"interrupted: {len(self.results)} of {n} files finished "
                    f"({self.failed} of them failed); "
                    f"{len(self.unfinished) - self.left_running} cancelled, "
                    f"{self.left_running} left running on their Dask workers (a rerun with "
                    "the manifest redoes them)")
        return (f"interrupted: {len(self.results)} of {n} files finished "
                f"({self.failed} of them failed); {len(self.unfinished)} cancelled or stopped, "
                "no partial outputs left")

    def report(self, noun: str = "files") -> str:
        """The closing line: counts (done, skipped, failed), bytes in and out and their
        ratio, and the throughput of the inputs this run worked on (not those resumed).

        >>> s = Summary([Result("a", "a.mic", bytes_in=300, bytes_out=100, seconds=0.5),
        ...              Result("b", None, FAILED, "bad"),
        ...              Result("c", "c.mic", bytes_in=10, bytes_out=5, resumed=True)],
        ...             seconds=2.0)
        >>> print(s.report())
        summary: 1 done, 1 skipped (already done), 1 failed of 3 files; 300 bytes in -> 100 out (ratio in/out 3.00) in 2.0 s: 1.0 files/s, 0.00 MB/s
        """
        fresh = [r for r in self.results if not r.resumed]
        c = Counter(r.status for r in fresh)
        parts = [f"{c[s]} {s}" for s in sorted(c, key=lambda s: (s == SKIPPED, -c[s], s))
                 if s not in (FAILED,)]
        if self.resumed:
            parts.append(f"{self.resumed} skipped (already done)")
        parts.append(f"{c[FAILED]} failed")
        total = len(self.results) + len(self.unfinished)
        worked = [r for r in fresh if r.status != FAILED]
        bi, bo = sum(r.bytes_in for r in worked), sum(r.bytes_out for r in worked)
        secs = max(self.seconds, 1e-9)
        # a ratio only over what was coded: outputs copied unchanged ("kept") have none, and
        # a run that coded nothing reports no ratio
        ci = sum(r.bytes_in for r in worked if r.status != KEPT)
        co = sum(r.bytes_out for r in worked if r.status != KEPT)
        ratio = f" (ratio in/out {ci / co:.2f})" if co else ""
        line = (f"summary: {', '.join(parts)} of {total} {noun}; {bi:,} bytes in -> {bo:,} "
                f"out{ratio} in {self.seconds:.1f} s: "
                f"{len(fresh) / secs:.1f} {noun}/s, {bi / secs / 1e6:.2f} MB/s")
        if self.unfinished:
            line += f"; {len(self.unfinished)} not finished"
        if self.manifest:
            line += f"; manifest {self.manifest}"
        return line


def _row(r: Result, run_started: float) -> dict[str, Any]:
    from .manifest import row

    return row(r.source, r.output, r.status, error=r.error, bytes_in=r.bytes_in,
               bytes_out=r.bytes_out, ratio=r.ratio, psnr=r.psnr, seconds=r.seconds,
               worker=r.worker, sha256=r.sha256, run_started=run_started)


def _from_row(d: dict[str, Any]) -> Result:
    return Result(d["source"], d["output"] or None, d["status"], d["error"] or "",
                  int(d["bytes_in"] or 0), int(d["bytes_out"] or 0), float(d["seconds"] or 0),
                  ratio=d["ratio"], psnr=d["psnr"], worker=d["worker"] or "",
                  sha256=d["sha256"] or "")


def _prepare(jobs: Sequence[Job], previous: dict[str, dict[str, Any]], run_started: float,
             again: bool, digest: bool) -> list[Job]:
    """The jobs as this run runs them: resuming from ``previous`` rows, ``since`` set where
    a job may run twice (``again``) or an earlier run left it running."""
    from .manifest import INTERRUPTED, PENDING

    out = []
    for job in jobs:
        prev = previous.get(job.source)
        since = run_started if again else None
        resume = None
        if prev is not None:
            if prev["status"] == INTERRUPTED and prev.get("run_started") is not None:
                since = min(since or float("inf"), float(prev["run_started"]))
            elif prev["status"] not in (FAILED, PENDING, INTERRUPTED) and \
                    _same_output(prev["output"] or None, job):
                resume = _from_row(prev)
        if resume is not None or since is not None or digest:
            job = dataclasses.replace(job, previous=resume, since=since, digest=digest)
        out.append(job)
    return out


def _same_output(recorded: str | None, job: Job) -> bool:
    """Did the row's output come from this job (the same name, or it plus a suffix)?"""
    if recorded is None or job.output is None:
        return recorded == job.output
    return recorded == job.output or any(recorded == job.output + s for s in job.suffixes)


def run(jobs: Sequence[Job], executor: Executor | None = None, *, desc: str = "",
        quiet: bool = False, echo: bool = True, manifest: str | os.PathLike[str] | None = None,
        on_result: Callable[[Result], None] | None = None) -> Summary:
    """Run ``jobs`` on ``executor`` (default: this process) and summarise.

    A progress bar (with rate and ETA) runs on stderr when it is a terminal (not with
    ``quiet``; without a terminal a progress line every :data:`PROGRESS_EVERY_S` seconds);
    each failure is printed as it comes (``error: SOURCE: MESSAGE``, unless ``echo`` is
    false); ``on_result`` sees every result as it comes.  With a ``manifest`` path the rows
    are written as the run goes (:mod:`mic.manifest`) and the jobs its earlier runs did are
    resumed (see :class:`Job`).  Ctrl-C stops the executor and returns the summary with
    ``interrupted`` set, after printing :meth:`Summary.interruption`.
    """
    from tqdm import tqdm

    from .manifest import INTERRUPTED, PENDING, Manifest

    if executor is None:
        from .batch_local import LocalExecutor

        executor = LocalExecutor()
    t0 = time.perf_counter()
    run_started = time.time()
    book = Manifest(manifest).open() if manifest is not None else None
    previous = book.previous if book is not None else {}
    again = bool(getattr(executor, "runs_jobs_again", False))
    work = _prepare(jobs, previous, run_started, again, digest=book is not None)
    done: dict[int, Result] = {}
    interrupted = False
    tty = sys.stderr.isatty()
    last_line = time.monotonic()

    def take(i: int, result: Result) -> None:
        nonlocal last_line
        if i in done:  # handed over again after an interrupt (see below): taken already
            return
        if book is not None:  # first: a row recorded is never lost (Manifest.close)
            book.record(_row(result, run_started) if not result.resumed else
                        previous[result.source])
        done[i] = result
        if result.status == FAILED and echo:
            tqdm.write(f"error: {result.source}: {result.error}", file=sys.stderr)
        if on_result is not None:
            on_result(result)
        bar.update(1)
        if not tty and not quiet and time.monotonic() - last_line >= PROGRESS_EVERY_S:
            last_line = time.monotonic()
            el = time.perf_counter() - t0
            rate = len(done) / max(el, 1e-9)
            eta = (len(jobs) - len(done)) / rate if rate else float("inf")
            print(f"progress{' ' + desc if desc else ''}: {len(done)} of {len(jobs)} "
                  f"({100 * len(done) / max(len(jobs), 1):.1f} %), {rate:.2f}/s, "
                  f"ETA {eta:.0f} s", file=sys.stderr, flush=True)

    try:
        with tqdm(total=len(jobs), desc=desc, unit="file", file=sys.stderr, leave=False,
                  disable=quiet or not tty, dynamic_ncols=True) as bar:
            it = executor.map(work)
            last: tuple[int, Result] | None = None  # handed over, maybe not yet taken
            try:
                for last in it:
                    take(*last)
            except KeyboardInterrupt:
                interrupted = True
                # a Ctrl-C between the executor handing a job over and its row being
                # recorded would leave its output without its row: take it (again) first
                with contextlib.suppress(KeyboardInterrupt):
                    if last is not None:
                        take(*last)
                # the interrupt may have hit here rather than in the executor: tell it,
                # and take what it hands over while it stops (Dask: the running jobs)
                with contextlib.suppress(KeyboardInterrupt, StopIteration):
                    take(*it.throw(KeyboardInterrupt()))
                    for last in it:
                        take(*last)
            finally:
                close = getattr(it, "close", None)
                if close is not None:
                    close()
        sweep = getattr(executor, "sweep", None)
        if book is not None and not interrupted and sweep is not None:
            # an earlier run killed without a chance to clean up (SIGKILL, a lost machine)
            # may have left temporary files beside the outputs
            sweep(work)
    finally:
        abandoned = set(getattr(executor, "abandoned", ()) or ()) - set(done)
        if book is not None:
            book.close([_unfinished_row(j, INTERRUPTED if k in abandoned else PENDING,
                                        run_started)
                        for k, j in enumerate(jobs) if k not in done],
                       order=[j.source for j in jobs])
    summary = Summary(list(done.values()), [j for i, j in enumerate(jobs) if i not in done],
                      interrupted, time.perf_counter() - t0,
                      os.fspath(manifest) if manifest is not None else None, len(abandoned))
    if interrupted and echo:
        print(summary.interruption(), file=sys.stderr)
    return summary


def _unfinished_row(job: Job, status: str, run_started: float) -> dict[str, Any]:
    from .manifest import row

    why = ("still running on its Dask worker when the run was left" if status != "pending"
           else "not run: the run was interrupted")
    return row(job.source, job.output, status, error=why, run_started=run_started)
