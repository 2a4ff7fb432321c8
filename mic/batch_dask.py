"""The Dask executor of the batch runner (:mod:`mic.batch`): jobs submitted to a Dask
cluster (``--dask ADDRESS``) or an embedded ``LocalCluster`` (``--dask local[:N]``), a few
jobs to a task, about a second of work per worker thread in flight; only job names (paths
and options) go through the scheduler, never image data.  Imported when ``--dask`` is used.

>>> parse_dask_address("local:3"), parse_dask_address("tcp://10.0.0.5:8786")
(('local', 3), ('tcp://10.0.0.5:8786', None))
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

from .batch import (
    DONE, FAILED, IN_FLIGHT_S, TASK_S, Job, Result, _partials_by_folder, _sweep_partials,
    describe_error, execute,
)

#: how many times a task whose result was lost with its worker is waited for again
#: before its jobs fail (Dask itself gives up on a task after its allowed failures)
WAITS = 8


# ----------------------------------------------------------------------------- Dask
def _dask_task(jobs: list[Job]) -> list[Result]:  # pragma: no cover - on Dask workers
    return [execute(job) for job in jobs]


def _ignore_sigint() -> None:  # pragma: no cover - runs on Dask workers
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


class _HeartbeatAtClose(logging.Filter):
    """Drops the traceback a worker of a LocalCluster started here logs when its heartbeat
    meets the scheduler closing ("Failed to communicate with scheduler during heartbeat",
    an ``OSError``): the cluster is closing at the end of a run or after Ctrl-C, and the
    worker is closed next.  That scheduler lives in the driver, so it is gone only when the
    driver closes it or dies, and the driver reports its own end.  Every other record
    passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exc, OSError)
                    and record.getMessage().startswith("Failed to communicate with scheduler"))


def _local_worker_plugin() -> Any:
    """A Dask worker plugin for the workers of a LocalCluster started here (restarted ones
    included): Ctrl-C in the terminal reaches them too, and they ignore it, so the driver
    alone decides what stops, as it does for local worker processes; and their heartbeat's
    traceback at the cluster's close is not logged (:class:`_HeartbeatAtClose`)."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class LocalWorker(WorkerPlugin):
        name = "mic-local-worker"
        idempotent = True

        def setup(self, worker: Any) -> None:  # pragma: no cover - runs on Dask workers
            _ignore_sigint()
            log = logging.getLogger("distributed.worker")
            if not any(isinstance(f, _HeartbeatAtClose) for f in log.filters):
                log.addFilter(_HeartbeatAtClose())

    return LocalWorker()


class DaskExecutor:
    """Jobs as tasks on a Dask cluster, through ``client`` (a ``distributed.Client``).

    Jobs are submitted as the cluster takes them, so a million jobs never sit in the
    scheduler at once: a task runs one job or, when jobs are short, several (about
    :data:`TASK_S` seconds of work, as the jobs' measured seconds say; ``chunk`` fixes the
    number), and in flight are about :data:`IN_FLIGHT_S` seconds of work per worker thread
    (two tasks a thread at least; ``window`` fixes the number of tasks).  So the cost of a
    task at the scheduler and here (a few milliseconds) is spread over many short jobs.  A
    job is a few hundred bytes of names and options, its result a few hundred bytes of
    numbers: no image data passes through the scheduler or this process.  A task whose
    worker dies is run again by Dask on another worker (``since`` makes that safe), and a
    run that lost a worker sweeps the temporary files its killed writers left."""

    #: Dask may run a task more than once (its worker died): run() sets Job.since
    runs_jobs_again = True

    def __init__(self, client: Any, *, window: int | None = None, chunk: int | None = None,
                 echo: bool = True) -> None:
        self.client = client
        self.window = window
        self.chunk = chunk
        self.echo = echo
        self.abandoned: list[int] = []
        self.workers_lost = 0
        self._ready: collections.deque[tuple[int, Result]] = collections.deque()
        self._waits: collections.Counter[str] = collections.Counter()  # key -> waits again

    def _chunk(self, mean_s: float | None) -> int:
        """How many jobs a task runs."""
        if self.chunk:
            return self.chunk
        if mean_s is None:
            return 1
        return min(1000, max(1, int(TASK_S / max(mean_s, 1e-5))))

    def _want(self, threads: int, task_s: float | None) -> int:
        """How many tasks to keep in flight."""
        if self.window:
            return self.window
        if task_s is None:
            return max(4, 2 * threads)
        per = min(128, max(2, math.ceil(IN_FLIGHT_S / max(task_s, 1e-4))))
        return max(4, per * threads)

    def _threads(self) -> int:
        info = self.client.scheduler_info()
        return max(1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))

    def _result(self, job: Job, res: Any) -> Result:
        if isinstance(res, Result):
            return res
        if isinstance(res, BaseException):
            return Result(job.source, job.output, FAILED, describe_error(res))
        return Result(job.source, job.output, DONE, value=res)

    def map(self, jobs: Sequence[Job]) -> Iterator[tuple[int, Result]]:
        import uuid

        from distributed import as_completed

        client = self.client
        self.abandoned = []
        token = uuid.uuid4().hex[:10]
        threads = self._threads()
        checked = time.monotonic()
        mean_s: float | None = None  # of the jobs' seconds on their workers (EWMA)
        futures: dict[str, Any] = {}  # key -> future, in flight
        index: dict[str, list[int]] = {}  # key -> the jobs of its task
        workers_before = set(client.scheduler_info().get("workers", {}))
        left = collections.deque(range(len(jobs)))

        def submit(n: int) -> Any:
            ids = [left.popleft() for _ in range(min(n, len(left)))]
            fut = client.submit(_dask_task, [jobs[i] for i in ids], key=f"mic-{ids[0]}-{token}",
                                pure=False)
            futures[fut.key] = fut
            index[fut.key] = ids
            return fut

        first = [submit(1) for _ in range(min(self._want(threads, None), len(left)))]
        ac = as_completed(first)
        ready = self._ready = collections.deque()  # gathered, not yet handed over
        try:
            for batch in ac.batches():  # what finished since the last look, gathered at once
                ready.extend(self._collect(jobs, batch, index, futures, ac))
                while ready:
                    i, result = ready.popleft()
                    s = 0.01 if result.resumed else result.seconds
                    mean_s = s if mean_s is None else 0.9 * mean_s + 0.1 * s
                    if time.monotonic() - checked > 10:  # workers come and go
                        threads, checked = self._threads(), time.monotonic()
                    chunk = self._chunk(mean_s)
                    want = self._want(threads, chunk * mean_s)
                    while len(futures) < want and left:
                        ac.add(submit(chunk))
                    yield i, result
        except KeyboardInterrupt:
            ac.clear()
            yield from self._drain(jobs, futures, index)
            raise
        except GeneratorExit:
            ac.clear()
            self._leave(jobs, futures, index)
            raise
        lost = workers_before - set(client.scheduler_info().get("workers", {}))
        self.workers_lost = len(lost)
        if lost:  # killed writers may have left temporary files: sweep them
            self.sweep(jobs)

    def _collect(self, jobs: Sequence[Job], batch: list[Any], index: dict[str, list[int]],
                 futures: dict[str, Any], ac: Any) -> list[tuple[int, Result]]:
        """The results of the jobs of the finished futures ``batch``: one gather for them
        all; a task's error (e.g. KilledWorker) fails each of its jobs.  The futures leave
        ``futures`` and ``index``.  A future reported finished whose result was lost with
        its worker before the gather (Dask runs its task again: it is pending once more, or
        its gather failed while it was) goes back into ``ac``, the wait it came from."""
        done = [f for f in batch if f.status == "finished"]
        got = self._gather(done)
        out = []
        for f in batch:
            if f.key not in index:
                continue
            if (f.key not in got and f.status not in ("error", "cancelled")
                    and self._waits[f.key] < WAITS):
                self._waits[f.key] += 1
                ac.add(f)  # lost with its worker and run again: wait for it once more
                continue
            self._waits.pop(f.key, None)
            ids = index.pop(f.key)
            futures.pop(f.key, None)
            if f.key in got:
                results = got[f.key]
            else:
                try:
                    err = f.exception() or RuntimeError(f"task {f.status}")
                except Exception as exc:  # noqa: BLE001 - cancelled, lost
                    err = exc
                results = [err] * len(ids)
            f.release()
            out.extend((i, self._result(jobs[i], r)) for i, r in zip(ids, results))
        return out

    def _gather(self, done: list[Any]) -> dict[str, Any]:
        """{key: value} of the finished futures ``done``, in one gather.  distributed
        (2026.8) has a race here: a Ctrl-C that interrupts one gather cancels its coroutine
        before the request it queued has run, and that cancelled request stays the client's
        pending one (``Client._gather_future``), which every later gather, and every
        ``Future.result()``, joins: each ends in a ``CancelledError``, which ``sync()`` turns
        into ``UnboundLocalError`` (it catches only ``Exception``).  Then the stale request
        is forgotten (:func:`_forget_cancelled_gather`) and the gather made again; should it
        still fail, each future is asked alone, and one that fails is left out (its jobs
        fail with its error)."""
        import asyncio

        if not done:
            return {}
        for again in (True, False):
            try:
                return dict(zip((f.key for f in done), self.client.gather(done)))
            except (UnboundLocalError, asyncio.CancelledError):
                if not (again and _forget_cancelled_gather(self.client)):
                    break
        got = {}
        for f in done:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                got[f.key] = f.result()
        return got

    def _drain(self, jobs: Sequence[Job], futures: dict[str, Any],
               index: dict[str, list[int]]) -> Iterator[tuple[int, Result]]:
        """First Ctrl-C: submit nothing more and hand over what is in flight as it finishes
        (about :data:`IN_FLIGHT_S` seconds of work per worker thread).  Nothing is cancelled: a
        task cancelled once it has started still runs to its end on its worker, and its
        output would exist without its row."""
        from distributed import as_completed

        ready = self._ready
        if self.echo and futures:
            n = sum(len(ids) for ids in index.values())
            print(f"stopping: waiting for the {n} job(s) in flight to finish "
                  "(Ctrl-C again to leave them)", file=sys.stderr, flush=True)
        try:
            while ready:
                yield ready.popleft()
            if not futures:
                return
            ac = as_completed(list(futures.values()))
            for batch in ac.batches():
                ready.extend(self._collect(jobs, batch, index, futures, ac))
                while ready:
                    yield ready.popleft()
        except (KeyboardInterrupt, GeneratorExit):
            self._leave(jobs, futures, index)
            raise

    def _leave(self, jobs: Sequence[Job], futures: dict[str, Any],
               index: dict[str, list[int]]) -> None:
        """Leave now: cancel every task still in flight.  On a remote cluster a task already
        running finishes on its worker (Dask cannot stop it); its row says ``interrupted``."""
        with contextlib.suppress(Exception):
            self.client.cancel(list(futures.values()))
        # finished but not handed over: their outputs exist, their rows say interrupted
        self.abandoned = sorted([*(i for ids in index.values() for i in ids),
                                 *(i for i, _ in self._ready)])

    def sweep(self, jobs: Sequence[Job]) -> None:
        """Remove what writers of ``jobs`` killed without a chance to clean up left, on the
        workers (which see the outputs): one task per output folder."""
        with contextlib.suppress(Exception):
            futs = [self.client.submit(_sweep_partials, f, names, pure=False)
                    for f, names in _partials_by_folder(jobs).items()]
            self.client.gather(futs)


def _forget_cancelled_gather(client: Any) -> bool:
    """Forget the client's pending gather request if it is already over (cancelled by a
    Ctrl-C before it ran: :meth:`DaskExecutor._gather`), so that the next gather makes a
    request of its own; whether there was one.  (distributed 2026.8's ``Client`` keeps it in
    ``_gather_future``, the keys it will fetch in ``_gather_keys``; no gather is running
    while this is called, and only gathers read them.)"""
    fut = getattr(client, "_gather_future", None)
    if fut is None or not fut.done():
        return False
    client._gather_future = None
    client._gather_keys = None
    return True


def parse_dask_address(address: str) -> tuple[str | None, int | None]:
    """``("local", N)`` for ``local`` / ``local:N`` (N None: one worker per core), else
    ``(address, None)``.

    >>> parse_dask_address("local:2"), parse_dask_address("tcp://10.0.0.5:8786")
    (('local', 2), ('tcp://10.0.0.5:8786', None))
    """
    if address == "local":
        return "local", None
    if address.startswith("local:"):
        n = address.split(":", 1)[1]
        if not n.isdigit() or int(n) < 1:
            raise ValueError(f"--dask {address}: local:N needs a worker count N >= 1")
        return "local", int(n)
    return address, None


class _SyncCancelRace(logging.Filter):
    """Drops the traceback that distributed (2026.8) logs through tornado when Ctrl-C lands
    in ``distributed.utils.sync`` before its coroutine has started: its ``cancel`` callback
    then reads the closure's still-unbound ``future`` (``NameError: cannot access free
    variable 'future'``).  Nothing was running to cancel; the interrupt itself goes on as
    usual.  Every other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exc, NameError) and "'future'" in str(exc))


@contextlib.contextmanager
def dask_executor(address: str, *, workers: int | None = None, quiet: bool = False,
                  echo: bool = True) -> Iterator[DaskExecutor]:
    """A :class:`DaskExecutor` on the scheduler at ``address`` (``tcp://host:8786``, or
    ``local`` / ``local:N``: a LocalCluster of N single-threaded worker processes, default
    ``workers`` or one per core, started here and closed at the end).  Prints the
    dashboard's link on stderr unless ``quiet``."""
    from distributed import Client, LocalCluster

    race = _SyncCancelRace()
    tornado_log = logging.getLogger("tornado.application")
    tornado_log.addFilter(race)
    try:
        with _dask_executor(address, Client, LocalCluster, workers, quiet, echo) as ex:
            yield ex
    finally:
        tornado_log.removeFilter(race)


@contextlib.contextmanager
def _dask_executor(address: str, Client: Any, LocalCluster: Any, workers: int | None,  # noqa: N803
                   quiet: bool, echo: bool) -> Iterator[DaskExecutor]:
    """:func:`dask_executor` without the log filter."""
    kind, n = parse_dask_address(address)
    cluster = None
    if kind == "local":
        n = n or workers or os.cpu_count() or 1
        dash = ":0"
        try:
            import bokeh  # noqa: F401 - the dashboard needs it
        except ImportError:
            dash = None
        # worker processes inherit an ignored SIGINT (the plugin below covers restarts)
        old = signal.signal(signal.SIGINT, signal.SIG_IGN) if _main_thread() else None
        try:
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   dashboard_address=dash, silence_logs=logging.ERROR)
        finally:
            if old is not None:
                signal.signal(signal.SIGINT, old)
        client = Client(cluster)
    else:
        client = Client(address, timeout="60s")
    try:
        if kind == "local":
            client.register_plugin(_local_worker_plugin())
        else:
            _check_workers(client)
        if not quiet:
            link = ""
            if cluster is None or dash is not None:
                with contextlib.suppress(Exception):
                    link = client.dashboard_link
            nw = len(client.scheduler_info().get("workers", {}))
            where = f"a LocalCluster of {n} worker processes" if kind == "local" else address
            print(f"dask: {where} ({nw} workers)" + (f"; dashboard: {link}" if link else ""),
                  file=sys.stderr, flush=True)
        yield DaskExecutor(client, echo=echo)
    finally:
        with contextlib.suppress(Exception):
            client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()


def _mic_version() -> str:  # pragma: no cover - runs on Dask workers
    import mic

    return mic.__version__


def _check_workers(client: Any) -> None:
    """Every worker of a remote cluster imports this mic (the jobs name its functions)."""
    from . import __version__

    try:
        seen = client.run(_mic_version)
    except Exception as exc:  # noqa: BLE001 - e.g. ModuleNotFoundError on a worker
        raise RuntimeError(f"the cluster's workers cannot run mic ({type(exc).__name__}: "
                           f"{exc}); install mic {__version__} on every worker") from None
    other = {w: v for w, v in seen.items() if v != __version__}
    if other:
        raise RuntimeError(f"workers run another mic than this {__version__}: "
                           + ", ".join(f"{w} has {v}" for w, v in sorted(other.items())))


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
