"""Tiles on threads: ``threads=`` of :func:`mic.encode` and :func:`mic.decode`.

Tiles (and frames) are independent in a .mic stream, so a decoder may decode them in any
order and an encoder may code them in any order, as long as each writes its own part of
the output (decode) or its result is kept in stream order (encode).  The hot loops are
Numba kernels compiled ``nogil``, so tiles on threads overlap on separate cores; the Python
glue between them still takes turns on the GIL.  The samples and bytes are the same for
any thread count (``tests/test_threads.py``).

>>> run_tiles(lambda x: x * x, [1, 2, 3], threads=2)
[1, 4, 9]
>>> check_threads(0)
Traceback (most recent call last):
...
mic.errors.MicInputError: threads must be an int >= 1, got 0
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from .errors import MicInputError

T = TypeVar("T")


def check_threads(threads: Any) -> int:
    """``threads`` as an int >= 1, else :class:`MicInputError`."""
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise MicInputError(f"threads must be an int >= 1, got {threads!r}")
    return int(threads)


_controller: Any = None


def one_blas_thread() -> Any:
    """A context in which the BLAS libraries NumPy loaded run on one thread each (restored
    after): mic's tiles on threads, or its batch worker processes, are the parallelism,
    and each tile's small matrix products (the hyper-synthesis) on a BLAS thread pool of
    its own would oversubscribe the cores (a 2128 x 2000 radiograph decoded on 2 threads:
    0.40 s with OpenBLAS's default pool, 0.26-0.29 s without it).  A no-op without
    ``threadpoolctl``."""
    global _controller
    import contextlib

    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - a dependency; tolerated if absent
            _controller = False
        else:
            _controller = ThreadpoolController()
    if _controller is False:
        return contextlib.nullcontext()
    return _controller.limit(limits=1, user_api="blas")


def run_tiles(fn: Callable[[Any], T], jobs: Sequence[Any], threads: int = 1) -> list[T]:
    """``[fn(job) for job in jobs]``, on up to ``threads`` threads (in order), BLAS on one
    thread meanwhile (:func:`one_blas_thread`); the first exception a job raises is raised
    here after the running jobs finish."""
    if threads <= 1 or len(jobs) <= 1:
        return [fn(job) for job in jobs]
    from concurrent.futures import ThreadPoolExecutor

    with one_blas_thread(), ThreadPoolExecutor(max_workers=min(threads, len(jobs)),
                                               thread_name_prefix="mic-tile") as ex:
        futures = [ex.submit(fn, job) for job in jobs]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise


__all__ = ["check_threads", "one_blas_thread", "run_tiles"]
