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


def run_tiles(fn: Callable[[Any], T], jobs: Sequence[Any], threads: int = 1) -> list[T]:
    """``[fn(job) for job in jobs]``, on up to ``threads`` threads (in order); the first
    exception a job raises is raised here after the running jobs finish."""
    if threads <= 1 or len(jobs) <= 1:
        return [fn(job) for job in jobs]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(threads, len(jobs)),
                            thread_name_prefix="mic-tile") as ex:
        futures = [ex.submit(fn, job) for job in jobs]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise


__all__ = ["check_threads", "run_tiles"]
