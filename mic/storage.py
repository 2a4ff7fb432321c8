"""Where batch jobs read and write: local paths, and fsspec URLs (``s3://``, ``gs://``,
``file://``, ...).

A batch job runs where its executor puts it (this process, a worker process, a Dask worker
on another machine) and reads its input and writes its output there, by name: no image
data travels with the job.  These functions take either a local path or a URL:

* a local path goes to :mod:`os` and :func:`mic.io.atomic_output` (temporary file, fsync,
  rename);
* a URL (``scheme://...``) goes to the fsspec filesystem of its scheme, which must be
  installed where the job runs (``s3fs`` for ``s3://``, ``gcsfs`` for ``gs://``, ...;
  ``file://`` needs only fsspec).  Writes go to a temporary name beside the output
  (``.NAME.<random>.part``) and are then moved onto it (a rename on a local or POSIX
  filesystem; a server-side copy on object stores, whose objects appear whole), so an
  output either appears complete or not at all.  Only ``file://`` is tested.

>>> import os, tempfile
>>> d = tempfile.mkdtemp()
>>> makedirs(join(d, "a"))
>>> write_bytes(join(d, "a", "x.bin"), b"abc", overwrite=False)
>>> read_bytes(join(d, "a", "x.bin")), size(join(d, "a", "x.bin")), sorted(walk(d))
(b'abc', 3, ['a/x.bin'])
>>> url = "file://" + d
>>> makedirs(join(url, "b"))
>>> write_bytes(join(url, "b", "y.bin"), b"xyz", overwrite=False)
>>> sorted(walk(url)), read_bytes(join(url, "b", "y.bin"))
(['a/x.bin', 'b/y.bin'], b'xyz')
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from typing import Any

__all__ = [
    "discard_partial",
    "discard_partials",
    "exists",
    "is_dir",
    "is_url",
    "join",
    "makedirs",
    "modified",
    "parent",
    "read_bytes",
    "read_head",
    "remove",
    "sha256",
    "size",
    "walk",
    "write_bytes",
]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_PART = ".part"


def is_url(path: str | os.PathLike[str]) -> bool:
    """True for ``scheme://...`` (an fsspec URL), False for a local path.

    >>> is_url("s3://bucket/a.mic"), is_url("file:///tmp/x"), is_url("/tmp/x"), is_url("C:\\\\x")
    (True, True, False, False)
    """
    return isinstance(path, str) and bool(_URL.match(path))


def _fs(url: str) -> tuple[Any, str]:
    """(fsspec filesystem, path inside it) of ``url``; a clear error when the filesystem's
    package is missing."""
    try:
        from fsspec.core import url_to_fs
    except ImportError:  # pragma: no cover - fsspec comes with the dask extra
        raise ImportError(f"{url}: URLs need fsspec: pip install 'mic[dask]'") from None
    try:
        return url_to_fs(url)
    except (ImportError, ValueError) as exc:  # e.g. s3fs not installed
        raise ImportError(f"{url}: {exc}") from None


def join(root: str | os.PathLike[str], *parts: str) -> str:
    """``root`` and relative ``parts`` (``/``-separated) joined.

    >>> join("s3://b/out/", "a/x.mic"), join("out", "a", "x.mic")
    ('s3://b/out/a/x.mic', 'out/a/x.mic')
    """
    root = os.fspath(root)
    if is_url(root):
        return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])
    return os.path.join(root, *parts)


def parent(path: str | os.PathLike[str]) -> str:
    """The folder of ``path``.

    >>> parent("s3://b/out/a/x.mic"), parent("out/a/x.mic")
    ('s3://b/out/a', 'out/a')
    """
    path = os.fspath(path)
    if is_url(path):
        head, _, _ = path.rstrip("/").rpartition("/")
        return head
    return os.path.dirname(path)


def exists(path: str | os.PathLike[str]) -> bool:
    path = os.fspath(path)
    if is_url(path):
        fs, p = _fs(path)
        return bool(fs.exists(p))
    return os.path.lexists(path)


def is_dir(path: str | os.PathLike[str]) -> bool:
    path = os.fspath(path)
    if is_url(path):
        fs, p = _fs(path)
        return bool(fs.isdir(p))
    return os.path.isdir(path)


def size(path: str | os.PathLike[str]) -> int:
    """Bytes in ``path`` (:class:`FileNotFoundError` if there is none)."""
    path = os.fspath(path)
    if is_url(path):
        fs, p = _fs(path)
        try:
            return int(fs.size(p))
        except FileNotFoundError:
            raise FileNotFoundError(errno.ENOENT, "no such file", path) from None
    return os.path.getsize(path)


def modified(path: str | os.PathLike[str]) -> float | None:
    """When ``path`` was last written (seconds since the epoch), None if it does not exist
    (or the filesystem does not say)."""
    path = os.fspath(path)
    if is_url(path):
        fs, p = _fs(path)
        try:
            return float(fs.modified(p).timestamp())
        except (FileNotFoundError, NotImplementedError, AttributeError):
            return None
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    path = os.fspath(path)
    if is_url(path):
        fs, p = _fs(path)
        try:
            return bytes(fs.cat_file(p))
        except FileNotFoundError:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path) from None
    with open(path, "rb") as f:
        return f.read()


def read_head(path: str | os.PathLike[str], n: int = 132) -> bytes:
    """The first ``n`` bytes of ``path`` (b"" when it cannot be read)."""
    path = os.fspath(path)
    try:
        if is_url(path):
            fs, p = _fs(path)
            return bytes(fs.cat_file(p, start=0, end=n))
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def makedirs(folder: str | os.PathLike[str]) -> None:
    """Make ``folder`` and its parents (nothing to do on object stores)."""
    folder = os.fspath(folder)
    if not folder:
        return
    if is_url(folder):
        fs, p = _fs(folder)
        fs.makedirs(p, exist_ok=True)
        return
    os.makedirs(folder, exist_ok=True)


def remove(path: str | os.PathLike[str]) -> bool:
    """Remove the file ``path``; False if there was none."""
    path = os.fspath(path)
    try:
        if is_url(path):
            fs, p = _fs(path)
            if not fs.exists(p):
                return False
            fs.rm_file(p)
        else:
            os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def write_bytes(path: str | os.PathLike[str], data: bytes | bytearray | memoryview, *,
                overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` so that it appears complete or not at all (see the module
    doc); with ``overwrite=False`` an existing ``path`` raises :class:`FileExistsError`
    (for URLs checked before publishing, not race-free)."""
    path = os.fspath(path)
    if not is_url(path):
        from .io import atomic_write_bytes

        atomic_write_bytes(path, data, overwrite=overwrite)
        return
    fs, p = _fs(path)
    if not overwrite and fs.exists(p):
        raise FileExistsError(errno.EEXIST, "output exists (use --force to overwrite)", path)
    folder, _, name = p.rpartition("/")
    tmp = f"{folder}/.{name}.{uuid.uuid4().hex[:12]}{_PART}"
    try:
        fs.pipe_file(tmp, bytes(data))
        if not overwrite and fs.exists(p):
            raise FileExistsError(errno.EEXIST, "output exists (use --force to overwrite)", path)
        fs.mv(tmp, p)
    finally:
        with contextlib.suppress(FileNotFoundError, OSError):
            if fs.exists(tmp):
                fs.rm_file(tmp)


def sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of the file ``path``, in hex."""
    path = os.fspath(path)
    h = hashlib.sha256()
    if is_url(path):
        fs, p = _fs(path)
        f = fs.open(p, "rb")
    else:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    with f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def walk(root: str | os.PathLike[str], exclude: str | os.PathLike[str] | None = None
         ) -> Iterator[str]:
    """The files under ``root``, as ``/``-separated paths relative to it: none hidden (no
    part starting with a dot), sorted, skipping the tree ``exclude`` (an output folder
    inside the input).  A local ``root`` is walked as :func:`mic.batch.walk` walks it."""
    root = os.fspath(root)
    if not is_url(root):
        from pathlib import Path

        from .batch import walk as walk_local

        for p in walk_local(Path(root), Path(exclude) if exclude is not None else None):
            yield p.relative_to(root).as_posix()
        return
    fs, base = _fs(root)
    base = base.rstrip("/")
    excl = None
    if exclude is not None:
        efs, epath = _fs(os.fspath(exclude)) if is_url(exclude) else (None, None)
        if epath is not None and type(efs) is type(fs):
            excl = epath.rstrip("/") + "/"
    found = []
    for p in fs.find(base):
        rel = p[len(base):].lstrip("/")
        if not rel or any(part.startswith(".") for part in rel.split("/")):
            continue
        if excl is not None and (p.rstrip("/") + "/").startswith(excl):
            continue
        found.append(rel)
    # the local walk's order: a folder's files, then its sub-folders, each sorted
    yield from sorted(found, key=lambda r: (r.split("/")[:-1], r.split("/")[-1]))


def discard_partial(path: str | os.PathLike[str]) -> int:
    """Remove the temporary files a killed writer left for ``path`` (and for ``path`` plus a
    suffix), locally (:func:`mic.io.discard_partial`) or at a URL; return how many."""
    path = os.fspath(path)
    if not is_url(path):
        from .io import discard_partial as discard_local

        return discard_local(path)
    fs, p = _fs(path)
    folder, _, name = p.rpartition("/")
    n = 0
    with contextlib.suppress(FileNotFoundError, OSError):
        for entry in fs.ls(folder, detail=False):
            base = entry.rstrip("/").rpartition("/")[2]
            if base.startswith(f".{name}.") and base.endswith(_PART):
                with contextlib.suppress(FileNotFoundError, OSError):
                    fs.rm_file(entry)
                    n += 1
    return n


def discard_partials(folder: str | os.PathLike[str], names: set[str] | list[str]) -> int:
    """Remove the temporary files killed writers left in ``folder`` for any of ``names``
    (one listing of the folder, however many names); return how many.

    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> for n in (".a.mic.k2j4x9.part", ".b.mic.q1w2e3.part", "a.mic", ".c.mic.zz.part"):
    ...     open(os.path.join(d, n), "wb").close()
    >>> discard_partials(d, {"a.mic", "b.mic"}), sorted(os.listdir(d))
    (2, ['.c.mic.zz.part', 'a.mic'])
    """
    folder = os.fspath(folder)
    names = set(names)

    def ours(base: str) -> bool:
        if not (base.startswith(".") and base.endswith(_PART)):
            return False
        inner = base[1:-len(_PART)]
        return "." in inner and inner.rsplit(".", 1)[0] in names

    n = 0
    if is_url(folder):
        fs, p = _fs(folder)
        with contextlib.suppress(FileNotFoundError, OSError):
            for entry in fs.ls(p, detail=False):
                if ours(entry.rstrip("/").rpartition("/")[2]):
                    with contextlib.suppress(FileNotFoundError, OSError):
                        fs.rm_file(entry)
                        n += 1
        return n
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(folder or "."):
            if ours(entry.name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    n += 1
    return n
