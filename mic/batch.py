"""One batch runner for folder jobs (``mic encode``/``mic decode`` on folders, ``mic dicom
compress``/``decompress``): jobs in, results out.

* A :class:`Job` names its source, its output and the function that does the work, a
  module-level function (a worker process imports it by name) that writes the output
  atomically (:func:`mic.io.atomic_output`) and returns a :class:`Result` (its own status,
  bytes in and out) or any other value (status ``done``).
* :func:`execute` runs one job: an exception becomes a ``failed`` result whose error is one
  line (:func:`describe_error`); the seconds are measured.
* An executor runs many: ``executor.map(jobs)`` yields ``(index, result)`` as jobs finish.
  :class:`LocalExecutor` runs them in this process (``workers=1``) or in worker processes.
  When the iteration is interrupted (Ctrl-C), an executor stops: jobs not started are
  cancelled, running ones are stopped (workers terminated, then killed if they linger) and
  their partial outputs removed.  Another executor, e.g. one submitting :func:`execute` to
  a Dask client and yielding from its ``as_completed``, needs only that ``map``.
* :func:`run` drives an executor with a progress bar, prints each failure as it comes and
  returns a :class:`Summary`; after Ctrl-C the summary says what finished
  (``interrupted``) and the command reports it and exits 1.

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

import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "DONE",
    "FAILED",
    "SKIPPED",
    "Executor",
    "Job",
    "JobError",
    "LocalExecutor",
    "Result",
    "Summary",
    "describe_error",
    "execute",
    "run",
    "walk",
]

DONE, FAILED, SKIPPED = "done", "failed", "skipped"
#: how long stopped workers get to remove their partial outputs before they are killed
STOP_GRACE_S = 3.0


class JobError(Exception):
    """A job failed for a reason its message says in full (reported without a class name)."""


@dataclass
class Job:
    """``fn(*args, **kwargs)`` makes ``output`` (or nothing: None) from ``source``."""

    source: str
    output: str | None
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    """What happened to one job.  ``status`` is ``done``, ``failed`` or a job's own word
    (``skipped``, ``converted``, ``kept``, ...); ``error`` says why it failed, was skipped or
    kept; ``value`` is what the job function returned when that was not a Result."""

    source: str
    output: str | None
    status: str = DONE
    error: str = ""
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    value: Any = None


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


def execute(job: Job) -> Result:
    """Run one job (in this process): its Result, ``failed`` if it raised an Exception.
    KeyboardInterrupt and other BaseExceptions propagate."""
    t0 = time.perf_counter()
    try:
        out = job.fn(*job.args, **job.kwargs)
    except Exception as exc:  # noqa: BLE001 - a bad input must not stop the batch
        out = Result(job.source, job.output, FAILED, describe_error(exc))
    if not isinstance(out, Result):
        out = Result(job.source, job.output, DONE, value=out)
    out.seconds = time.perf_counter() - t0
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
        stop what runs, remove partial outputs and re-raise."""
        ...


class _Stop(BaseException):
    """Raised in a worker by SIGTERM: unwinds the job (atomic outputs remove their
    temporary files), then the worker exits."""


_busy = False


def _on_sigterm(signum: int, frame: Any) -> None:  # pragma: no cover - worker processes
    if _busy:
        raise _Stop
    os._exit(128 + signum)


def _worker_init() -> None:  # pragma: no cover - worker processes
    # Ctrl-C reaches the whole process group: the parent alone decides, then stops workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)


def _execute_in_worker(job: Job) -> Result:  # pragma: no cover - worker processes
    global _busy
    _busy = True
    try:
        return execute(job)
    except _Stop:
        os._exit(128 + signal.SIGTERM)
    finally:
        _busy = False


@dataclass
class LocalExecutor:
    """Jobs in this process (``workers=1``) or in that many worker processes."""

    workers: int = 1

    def map(self, jobs: Sequence[Job]) -> Iterator[tuple[int, Result]]:
        if self.workers <= 1 or len(jobs) <= 1:
            for i, job in enumerate(jobs):
                try:
                    result = execute(job)
                except BaseException:
                    # the job's atomic output removed its temporary file, unless a second
                    # Ctrl-C cut that clean-up short
                    _discard_partial([job])
                    raise
                yield i, result
            return
        yield from self._map_processes(jobs)

    def _map_processes(self, jobs: Sequence[Job]) -> Iterator[tuple[int, Result]]:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(jobs)),
                                   initializer=_worker_init)
        futures = {pool.submit(_execute_in_worker, job): i for i, job in enumerate(jobs)}
        try:
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    result = fut.result()
                except Exception as exc:  # noqa: BLE001 - e.g. a worker died: BrokenProcessPool
                    result = Result(jobs[i].source, jobs[i].output, FAILED, describe_error(exc))
                yield i, result
        except BaseException:
            # Python 3.14 has pool.terminate_workers(); before it, the processes are private.
            procs = list((getattr(pool, "_processes", None) or {}).values())
            started = [jobs[i] for f, i in futures.items() if not f.done() and not f.cancel()]
            pool.shutdown(wait=False, cancel_futures=True)
            _stop_processes(procs)
            _discard_partial(started)
            raise
        pool.shutdown(wait=True)


def _stop_processes(procs: Iterable[Any], grace: float = STOP_GRACE_S) -> None:
    """SIGTERM every process, wait up to ``grace`` seconds in all, then SIGKILL the rest."""
    procs = [p for p in procs if p.is_alive()]
    for p in procs:
        p.terminate()
    deadline = time.monotonic() + grace
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join(1.0)


def _discard_partial(jobs: Iterable[Job]) -> None:
    from .io import discard_partial

    for job in jobs:
        if job.output is not None:
            discard_partial(job.output)


# ----------------------------------------------------------------------------- run
@dataclass
class Summary:
    """Results in the order jobs finished; after Ctrl-C (``interrupted``) ``unfinished``
    lists the jobs that were cancelled or stopped (none left a partial output)."""

    results: list[Result]
    unfinished: list[Job] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0

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
    def statuses(self) -> Counter[str]:
        return Counter(r.status for r in self.results)

    def interruption(self) -> str:
        """The line printed after Ctrl-C: what finished and what did not."""
        n = len(self.results) + len(self.unfinished)
        return (f"interrupted: {len(self.results)} of {n} files finished "
                f"({self.failed} of them failed); {len(self.unfinished)} cancelled or stopped, "
                "no partial outputs left")


def run(jobs: Sequence[Job], executor: Executor | None = None, *, desc: str = "",
        quiet: bool = False, echo: bool = True) -> Summary:
    """Run ``jobs`` on ``executor`` (default: this process) and summarise.

    A progress bar runs on stderr when it is a terminal (not with ``quiet``); each failure
    is printed as it comes (``error: SOURCE: MESSAGE``, unless ``echo`` is false).  Ctrl-C
    stops the executor and returns the summary with ``interrupted`` set, after printing
    :meth:`Summary.interruption`.
    """
    from tqdm import tqdm

    executor = executor or LocalExecutor()
    t0 = time.perf_counter()
    done: dict[int, Result] = {}
    interrupted = False
    with tqdm(total=len(jobs), desc=desc, unit="file", file=sys.stderr, leave=False,
              disable=quiet or not sys.stderr.isatty(), dynamic_ncols=True) as bar:
        it = executor.map(jobs)
        try:
            for i, result in it:
                done[i] = result
                if result.status == FAILED and echo:
                    tqdm.write(f"error: {result.source}: {result.error}", file=sys.stderr)
                bar.update(1)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()
    summary = Summary(list(done.values()), [j for i, j in enumerate(jobs) if i not in done],
                      interrupted, time.perf_counter() - t0)
    if interrupted and echo:
        print(summary.interruption(), file=sys.stderr)
    return summary
