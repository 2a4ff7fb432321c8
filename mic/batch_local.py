"""Local executor of :mod:`mic.batch`: jobs in this process (``workers=1``) or in worker
processes, stopped at once on Ctrl-C (jobs not started are cancelled, running ones get SIGTERM
and then SIGKILL after :data:`mic.batch.STOP_GRACE_S`, their partial outputs removed).

>>> from mic.batch import Job, run
>>> from mic.batch_local import LocalExecutor
>>> [r.value for r in run([Job("a", None, int, ("7",))], LocalExecutor(1), quiet=True,
...                       echo=False).results]
[7]
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .batch import (
    FAILED,
    STOP_GRACE_S,
    Job,
    Result,
    _partials_by_folder,
    _sweep_partials,
    describe_error,
    execute,
)

__all__ = ["LocalExecutor"]


class _Stop(BaseException):
    """Raised in a worker by SIGTERM: unwinds the job (atomic outputs remove their
    temporary files), then the worker exits."""


_busy = False


def _on_sigterm(signum: int, frame: Any) -> None:  # pragma: no cover - worker processes
    if _busy:
        raise _Stop
    os._exit(128 + signum)


#: a worker process's BLAS limit, held for its life
_blas_limit: Any = None


def _worker_init() -> None:  # pragma: no cover - worker processes
    # Ctrl-C reaches the whole process group: the parent alone decides, then stops workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    # the workers are the parallelism: BLAS on one thread in each for the worker's life (a
    # pool per worker oversubscribed the cores: 100 CT slices, -j 2, 13 s instead of 5 s)
    global _blas_limit
    from .parallel import one_blas_thread

    _blas_limit = one_blas_thread()
    _blas_limit.__enter__()


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

    def sweep(self, jobs: Sequence[Job]) -> None:
        """Remove what writers of ``jobs`` killed without a chance to clean up (SIGKILL, a
        lost machine) left: one listing per output folder."""
        for folder, names in _partials_by_folder(jobs).items():
            _sweep_partials(folder, names)


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
    from .storage import discard_partial

    for job in jobs:
        if job.output is not None:
            with contextlib.suppress(OSError, ImportError):
                discard_partial(job.output)
