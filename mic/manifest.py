"""The manifest of a batch run: one row per input, written as the run goes, read back by a
rerun to resume.

A manifest is a Parquet file (``.parquet``, needs pyarrow) or a CSV file (any other name),
on the filesystem of the process that drives the run.  Its columns are :data:`FIELDS`:

* ``source``, ``output`` -- the input and what was written for it (empty: nothing);
* ``status`` -- ``done`` (or a command's own word: ``converted``, ``kept``, ``skipped``,
  ``ok``), ``failed``, ``pending`` (not run: the run was interrupted first) or
  ``interrupted`` (still running on a Dask worker when the run was left);
* ``error`` -- why it failed (or was skipped or kept);
* ``bytes_in``, ``bytes_out``, ``ratio`` (raw / compressed where the command knows the raw
  size, else ``bytes_in / bytes_out``), ``psnr`` (dB, lossy only), ``seconds`` (of the
  job), ``worker`` (``host:pid``), ``sha256`` (of the output), ``run_started`` (when the
  run that wrote the row began, seconds since the epoch).

While the run goes, each finished row is appended to a journal beside the manifest
(``NAME.journal``, CSV, flushed row by row) and the manifest itself is rewritten atomically
every :data:`SNAPSHOT_S` seconds or so; at the end it is written once more with one row per
input (``pending`` for what did not run) and the journal is removed.  A driver killed at any
moment leaves the last manifest plus the journal, and :meth:`Manifest.open` reads both (the
journal's rows are newer; a torn last line is ignored).  The journal is locked while a run
holds it, so two runs cannot write one manifest.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "run.csv")
>>> with Manifest(path) as m:
...     m.record(row("a.png", "a.mic", "done", bytes_in=10, bytes_out=4))
...     m.close([row("b.png", "b.mic", PENDING)])
>>> [(r["source"], r["status"], r["ratio"]) for r in Manifest(path).read()]
[('a.png', 'done', 2.5), ('b.png', 'pending', None)]
"""

from __future__ import annotations

import csv
import io
import math
import os
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO

__all__ = ["FIELDS", "INTERRUPTED", "PENDING", "SNAPSHOT_S", "Manifest", "ManifestLocked",
           "row"]

FIELDS = ("source", "output", "status", "error", "bytes_in", "bytes_out", "ratio", "psnr",
          "seconds", "worker", "sha256", "run_started")
_INT = ("bytes_in", "bytes_out")
_FLOAT = ("ratio", "psnr", "seconds", "run_started")
#: statuses of rows whose input did not (completely) run
PENDING, INTERRUPTED = "pending", "interrupted"
#: the manifest is rewritten about this often while a run goes (seconds)
SNAPSHOT_S = 30.0


class ManifestLocked(RuntimeError):
    """Another run holds this manifest."""


def row(source: str, output: str | None, status: str, *, error: str = "", bytes_in: int = 0,
        bytes_out: int = 0, ratio: float | None = None, psnr: float | None = None,
        seconds: float = 0.0, worker: str = "", sha256: str = "",
        run_started: float | None = None) -> dict[str, Any]:
    """One manifest row; ``ratio`` defaults to ``bytes_in / bytes_out``."""
    if ratio is None and bytes_in > 0 and bytes_out > 0:
        ratio = bytes_in / bytes_out
    return {"source": source, "output": output or "", "status": status, "error": error,
            "bytes_in": int(bytes_in), "bytes_out": int(bytes_out), "ratio": ratio,
            "psnr": psnr, "seconds": float(seconds), "worker": worker, "sha256": sha256,
            "run_started": run_started}


def is_parquet(path: str | os.PathLike[str]) -> bool:
    return os.fspath(path).lower().endswith((".parquet", ".pq"))


def _typed(r: dict[str, Any]) -> dict[str, Any] | None:
    """A row read from CSV with its numbers back; None if it is damaged (a torn line)."""
    if any(k not in r or r[k] is None for k in FIELDS):
        return None
    out: dict[str, Any] = {k: r[k] for k in FIELDS}
    try:
        for k in _INT:
            out[k] = int(r[k] or 0)
        for k in _FLOAT:
            out[k] = float(r[k]) if r[k] not in ("", None) else None
    except ValueError:
        return None
    if out["seconds"] is None:
        out["seconds"] = 0.0
    return out


def _csv_cell(v: Any) -> Any:
    return "" if v is None else v


def _write_csv_rows(f: TextIO, rows: Iterable[dict[str, Any]], header: bool) -> None:
    w = csv.writer(f)
    if header:
        w.writerow(FIELDS)
    for r in rows:
        w.writerow([_csv_cell(r.get(k)) for k in FIELDS])


def _schema() -> Any:
    import pyarrow as pa

    types = {k: pa.int64() for k in _INT} | {k: pa.float64() for k in _FLOAT}
    return pa.schema([(k, types.get(k, pa.string())) for k in FIELDS])


class Manifest:
    """The manifest at ``path`` (see the module doc): :meth:`open` it (or use ``with``),
    :meth:`record` rows as jobs finish, :meth:`close` with the rows of what did not."""

    def __init__(self, path: str | os.PathLike[str], *, snapshot_s: float = SNAPSHOT_S) -> None:
        self.path = os.fspath(path)
        self.journal_path = self.path + ".journal"
        self.snapshot_s = snapshot_s
        self.rows: dict[str, dict[str, Any]] = {}
        self.previous: dict[str, dict[str, Any]] = {}
        self._journal: TextIO | None = None
        self._last_snapshot = 0.0
        self._snapshot_cost = 0.0

    # ------------------------------------------------------------------ reading
    def _read_file(self) -> list[dict[str, Any]]:
        if not os.path.exists(self.path):
            return []
        if is_parquet(self.path):
            import pyarrow.parquet as pq

            return [dict(r) for r in pq.read_table(self.path).to_pylist()]
        with open(self.path, newline="", encoding="utf-8") as f:
            return [t for t in (_typed(r) for r in csv.DictReader(f)) if t is not None]

    def _read_journal(self) -> list[dict[str, Any]]:
        try:
            with open(self.journal_path, newline="", encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return []
        if text and not text.endswith("\n"):  # a driver killed in the middle of a row
            text = text[: text.rfind("\n") + 1]
        return [t for t in (_typed(r) for r in csv.DictReader(io.StringIO(text)))
                if t is not None]

    def read(self) -> list[dict[str, Any]]:
        """Every row, one per source: the manifest's, updated by the journal's (newer)."""
        rows: dict[str, dict[str, Any]] = {}
        for r in self._read_file() + self._read_journal():
            rows[r["source"]] = r
        return list(rows.values())

    # ------------------------------------------------------------------ writing
    def open(self) -> Manifest:
        """Lock the journal, read what earlier runs left (:attr:`previous`), and fold a
        journal left by a killed run into the manifest."""
        if is_parquet(self.path):
            from .extras import missing

            if missing(["pyarrow"]):
                raise ImportError(f"{self.path}: a Parquet manifest needs pyarrow; install it "
                                  "with: pip install 'mic[dask]' (or name a .csv manifest)")
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        journal = open(self.journal_path, "a+", newline="", encoding="utf-8")  # noqa: SIM115
        try:
            _lock(journal, self.path)
        except BaseException:
            journal.close()
            raise
        self._journal = journal
        try:
            old = self.read()
        except Exception:
            self._release()
            raise
        self.previous = {r["source"]: r for r in old}
        self.rows = dict(self.previous)
        self._snapshot()  # the old journal's rows are now in the manifest
        return self

    def __enter__(self) -> Manifest:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        if self._journal is not None:
            self.close([])

    def record(self, r: dict[str, Any]) -> None:
        """Add (or replace) the row of ``r["source"]``: to the journal at once, to the
        manifest at the next snapshot."""
        assert self._journal is not None, "open() the manifest first"
        self.rows[r["source"]] = r
        _write_csv_rows(self._journal, [r], header=False)
        self._journal.flush()
        now = time.monotonic()
        if now - self._last_snapshot >= max(self.snapshot_s, 20 * self._snapshot_cost):
            self._snapshot()

    def _snapshot(self) -> None:
        """Write every row to the manifest atomically, then empty the journal."""
        from .io import atomic_output

        assert self._journal is not None
        t0 = time.monotonic()
        rows = list(self.rows.values())
        with atomic_output(self.path) as f:
            if is_parquet(self.path):
                import pyarrow as pa
                import pyarrow.parquet as pq

                clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v)
                          for k, v in r.items() if k in FIELDS} for r in rows]
                pq.write_table(pa.Table.from_pylist(clean, schema=_schema()), f)
            else:
                text = io.StringIO(newline="")
                _write_csv_rows(text, rows, header=True)
                f.write(text.getvalue().encode("utf-8"))
        self._journal.seek(0)
        self._journal.truncate()
        _write_csv_rows(self._journal, [], header=True)
        self._journal.flush()
        self._last_snapshot = time.monotonic()
        self._snapshot_cost = self._last_snapshot - t0

    def close(self, unfinished: Iterable[dict[str, Any]], order: Iterable[str] = ()) -> None:
        """Write the manifest with ``unfinished`` rows for inputs that did not finish (an
        earlier run's finished row of the same input is kept instead), sources in ``order``
        first; remove the journal and release the lock."""
        for r in unfinished:
            old = self.rows.get(r["source"])
            if old is None or old["status"] in (PENDING, INTERRUPTED) or \
                    r["status"] == INTERRUPTED:
                self.rows[r["source"]] = r
        ordered = {s: self.rows[s] for s in order if s in self.rows}
        self.rows = ordered | {s: r for s, r in self.rows.items() if s not in ordered}
        try:
            self._snapshot()
            os.unlink(self.journal_path)
        finally:
            self._release()

    def _release(self) -> None:
        if self._journal is not None:
            self._journal.close()  # closing drops the lock
            self._journal = None


def _lock(f: TextIO, name: str) -> None:
    if sys.platform == "win32":  # pragma: no cover - no flock; one run at a time is on you
        return
    import fcntl

    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ManifestLocked(f"{name} is being written by another run (its journal "
                             f"{name}.journal is locked)") from None
