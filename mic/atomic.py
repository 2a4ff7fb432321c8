"""Atomic file writes: a file either appears complete under its name or not at all.

:func:`atomic_output` writes to a temporary file in the same folder and renames it with
``os.replace`` when the block ends normally (removing it otherwise, Ctrl-C included);
:func:`atomic_write_bytes` is the one-call form; :func:`discard_partial` removes what a
killed writer left behind.  Used by :mod:`mic.io`, the batch runner and the DICOM node.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


_PART = ".part"  # atomic_output's temporary files are .NAME.<random>.part beside NAME


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[BinaryIO]:
    """Context manager yielding a binary file that becomes ``path`` only if the block succeeds.

    The data go to a hidden temporary file in the same folder (``.NAME.*.part``),
    which is flushed, fsynced and then renamed over ``path`` with ``os.replace``
    (atomic on POSIX and Windows).  If the block raises -- including
    ``KeyboardInterrupt`` -- the temporary file is removed and ``path`` is left as
    it was.  With ``overwrite=False`` an existing ``path`` raises
    :class:`FileExistsError` (checked before writing and again, race-free where
    the filesystem supports hard links, when publishing).

    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "out.bin")
    >>> with atomic_output(p) as f:
    ...     _ = f.write(b"complete")
    >>> open(p, "rb").read()
    b'complete'
    >>> try:
    ...     with atomic_output(p) as f:
    ...         _ = f.write(b"partial")
    ...         raise RuntimeError("failed half-way")
    ... except RuntimeError:
    ...     pass
    >>> open(p, "rb").read(), sorted(os.listdir(os.path.dirname(p)))
    (b'complete', ['out.bin'])
    """
    p = Path(path)
    if not overwrite and os.path.lexists(p):
        raise FileExistsError(errno.EEXIST, "output exists (use --force to overwrite)", str(p))
    folder = p.parent if str(p.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=_PART, dir=folder)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "output folder does not exist", str(folder)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f  # type: ignore[misc]
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        if overwrite:
            os.replace(tmp, p)
        else:
            try:
                os.link(tmp, p)  # fails if p appeared meanwhile
            except FileExistsError:
                raise FileExistsError(
                    errno.EEXIST, "output exists (use --force to overwrite)", str(p)
                ) from None
            except OSError:  # no hard links here: best effort
                if os.path.lexists(p):
                    raise FileExistsError(
                        errno.EEXIST, "output exists (use --force to overwrite)", str(p)
                    ) from None
                os.replace(tmp, p)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def discard_partial(path: str | os.PathLike[str]) -> int:
    """Remove the temporary files :func:`atomic_output` left for ``path`` (a writer killed
    before its clean-up could run), and for ``path`` plus a suffix; return how many.
    ``path`` itself is never touched.

    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> for name in (".a.mic.x1y2.part", "a.mic"):
    ...     open(os.path.join(d, name), "wb").close()
    >>> discard_partial(os.path.join(d, "a.mic")), sorted(os.listdir(d))
    (1, ['a.mic'])
    """
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    prefix = f".{p.name}."
    n = 0
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(folder):
            if entry.name.startswith(prefix) and entry.name.endswith(_PART) and \
                    len(entry.name) > len(prefix) + len(_PART):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    n += 1
    return n


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes | bytearray | memoryview, *,
                       overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`).

    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "a.mic")
    >>> atomic_write_bytes(p, b"abc")
    >>> try:
    ...     atomic_write_bytes(p, b"xyz", overwrite=False)
    ... except FileExistsError:
    ...     print("refused:", open(p, "rb").read())
    refused: b'abc'
    """
    with atomic_output(path, overwrite=overwrite) as f:
        f.write(data)
