"""The storage of ``mic dicom serve``: DICOM files under one folder and an SQLite index.

Layout of a store folder::

    STORE/index.sqlite                      patients, studies, series, instances
    STORE/studies/<study>/<series>/<sop>.dcm

Each path component is the UID itself when it is a well-formed UID (digits and single
dots, at most 64 characters) and ``x`` + a SHA-256 prefix of the value otherwise, so no
value sent by a peer (``../`` in a UID, a patient ID, ...) can name a path outside the
store; :meth:`Store.path_for` checks that once more.  Patient attributes never reach a path.

Durability: :meth:`Store.put` writes the file atomically (a temporary file, fsync, rename,
fsync of the folder), then commits its index row (SQLite in WAL mode with
``synchronous=FULL``); only then does it return, and only then does the node acknowledge the
C-STORE.  A crash between the two leaves a file without a row, never a row without a file;
:meth:`Store.recover` (run when a node starts) removes such files, temporary files and rows
whose file is missing or of the wrong size.

>>> import tempfile
>>> s = Store(tempfile.mkdtemp())
>>> str(s.path_for("1.2.3", "1.2.3.4", "1.2.3.4.5"))
'studies/1.2.3/1.2.3.4/1.2.3.4.5.dcm'
>>> p = s.path_for("../../etc", "..", "1.2")
>>> p.parts[1].startswith("x") and p.parts[2].startswith("x") and ".." not in p.parts
True
>>> s.stats()["instances"]
0
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..io import atomic_output

__all__ = ["LEVELS", "Store", "StoredInstance", "safe_component"]

INDEX = "index.sqlite"
DATA = "studies"
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")

#: query/retrieve level -> the attributes the index keeps for C-FIND at that level
#: (keyword -> SQL column), from the patient down; a level's own unique key first.
LEVELS: dict[str, tuple[tuple[str, str], ...]] = {
    "PATIENT": (("PatientID", "p.patient_id"), ("PatientName", "p.patient_name"),
                ("PatientBirthDate", "p.birth_date"), ("PatientSex", "p.sex")),
    "STUDY": (("StudyInstanceUID", "st.study_uid"), ("StudyDate", "st.study_date"),
              ("StudyTime", "st.study_time"), ("AccessionNumber", "st.accession"),
              ("StudyID", "st.study_id"), ("StudyDescription", "st.description"),
              ("ReferringPhysicianName", "st.referring")),
    "SERIES": (("SeriesInstanceUID", "se.series_uid"), ("Modality", "se.modality"),
               ("SeriesNumber", "se.series_number"), ("SeriesDescription", "se.description"),
               ("BodyPartExamined", "se.body_part")),
    "IMAGE": (("SOPInstanceUID", "i.sop_uid"), ("SOPClassUID", "i.sop_class"),
              ("InstanceNumber", "i.instance_number")),
}
_ORDER = ("PATIENT", "STUDY", "SERIES", "IMAGE")
#: computed attributes per level: keyword -> SQL aggregate over the level's instances
_COMPUTED: dict[str, tuple[tuple[str, str], ...]] = {
    "PATIENT": (("NumberOfPatientRelatedStudies", "COUNT(DISTINCT st.study_uid)"),
                ("NumberOfPatientRelatedSeries", "COUNT(DISTINCT se.series_uid)"),
                ("NumberOfPatientRelatedInstances", "COUNT(*)")),
    "STUDY": (("ModalitiesInStudy", "GROUP_CONCAT(DISTINCT se.modality)"),
              ("NumberOfStudyRelatedSeries", "COUNT(DISTINCT se.series_uid)"),
              ("NumberOfStudyRelatedInstances", "COUNT(*)")),
    "SERIES": (("NumberOfSeriesRelatedInstances", "COUNT(*)"),),
    "IMAGE": (),
}
#: attributes of type DA / TM (range matching)
_DATES = {"PatientBirthDate", "StudyDate"}
_TIMES = {"StudyTime"}
_UIDS = {"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS patients (
    patient_id TEXT PRIMARY KEY, patient_name TEXT, birth_date TEXT, sex TEXT);
CREATE TABLE IF NOT EXISTS studies (
    study_uid TEXT PRIMARY KEY, patient_id TEXT NOT NULL REFERENCES patients(patient_id),
    study_date TEXT, study_time TEXT, accession TEXT, study_id TEXT, description TEXT,
    referring TEXT);
CREATE TABLE IF NOT EXISTS series (
    series_uid TEXT PRIMARY KEY, study_uid TEXT NOT NULL REFERENCES studies(study_uid),
    modality TEXT, series_number TEXT, description TEXT, body_part TEXT);
CREATE TABLE IF NOT EXISTS instances (
    sop_uid TEXT PRIMARY KEY, series_uid TEXT NOT NULL REFERENCES series(series_uid),
    sop_class TEXT, instance_number TEXT, path TEXT NOT NULL UNIQUE,
    transfer_syntax TEXT NOT NULL, received_syntax TEXT NOT NULL,
    bytes_received INTEGER NOT NULL, bytes_stored INTEGER NOT NULL,
    calling_ae TEXT, received_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS instances_series ON instances(series_uid);
CREATE INDEX IF NOT EXISTS series_study ON series(study_uid);
CREATE INDEX IF NOT EXISTS studies_patient ON studies(patient_id);
"""


def safe_component(value: str) -> str:
    """A file-name component for ``value``: the value when it is a well-formed UID, else
    ``x`` + 40 hex digits of its SHA-256 (never ``.``, ``..``, a separator or empty).

    >>> safe_component("1.2.840.10008"), safe_component("../x")[:3], len(safe_component(""))
    ('1.2.840.10008', 'xd6', 41)
    """
    if len(value) <= 64 and _UID.fullmatch(value):
        return value
    return "x" + hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()[:40]


def _text(ds: Any, keyword: str) -> str:
    v = ds.get(keyword, "")
    if v is None:
        return ""
    if isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue":
        return "\\".join(str(x) for x in v)
    return str(v).strip()


@dataclass
class StoredInstance:
    """One row of the index."""

    sop_uid: str
    sop_class: str
    path: Path  # absolute
    transfer_syntax: str
    received_syntax: str
    bytes_received: int
    bytes_stored: int


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store:
    """A store folder: files written atomically and durably, and their SQLite index.

    Thread-safe: the associations of a node store and query from several threads (one
    connection, one lock; file writing happens outside the lock)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        (self.root / DATA).mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.root / INDEX, check_same_thread=False,
                                   isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ paths
    def path_for(self, study: str, series: str, sop: str) -> Path:
        """The path (relative to the store) of an instance; always inside the store."""
        rel = Path(DATA, safe_component(study), safe_component(series),
                   safe_component(sop) + ".dcm")
        full = (self.root / rel).resolve()
        if not full.is_relative_to(self.root / DATA):  # pragma: no cover - defence in depth
            raise ValueError(f"refusing a path outside the store: {rel}")
        return rel

    # ------------------------------------------------------------------ writing
    def put(self, ds: Any, write: Callable[[IO[bytes]], None], *, transfer_syntax: str,
            received_syntax: str, bytes_received: int, calling_ae: str = "") -> StoredInstance:
        """Write one instance with ``write(file)`` and index it; durable when this returns.

        ``ds`` gives the attributes (patient, study, series, instance).  On any error the
        file is removed again and the index is unchanged (the exception propagates)."""
        sop, study, series = (_text(ds, k) for k in
                              ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"))
        if not (sop and study and series):
            raise ValueError("the instance lacks a SOP Instance, Study or Series Instance UID")
        rel = self.path_for(study, series, sop)
        full = self.root / rel
        new_dirs = [d for d in (full.parent.parent, full.parent) if not d.exists()]
        full.parent.mkdir(parents=True, exist_ok=True)
        for d in new_dirs:  # make the new folders' entries durable too
            _fsync_dir(d.parent)
        old = self.instance(sop)
        with atomic_output(full) as f:
            write(f)
        _fsync_dir(full.parent)
        size = full.stat().st_size
        try:
            with self._lock:
                self._index(ds, sop, study, series, str(rel), transfer_syntax, received_syntax,
                            bytes_received, size, calling_ae)
        except BaseException:
            if old is None or old.path != full:
                with contextlib.suppress(OSError):
                    full.unlink()
            raise
        if old is not None and old.path != full:  # the same SOP Instance moved series
            with contextlib.suppress(OSError):
                old.path.unlink()
        return StoredInstance(sop, _text(ds, "SOPClassUID"), full, transfer_syntax,
                              received_syntax, bytes_received, size)

    def _index(self, ds: Any, sop: str, study: str, series: str, rel: str, ts: str,
               received: str, bytes_received: int, size: int, calling_ae: str) -> None:
        db = self._db
        pid = _text(ds, "PatientID")
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("INSERT INTO patients VALUES (?,?,?,?) ON CONFLICT(patient_id) DO UPDATE "
                       "SET patient_name=excluded.patient_name, birth_date=excluded.birth_date, "
                       "sex=excluded.sex",
                       (pid, _text(ds, "PatientName"), _text(ds, "PatientBirthDate"),
                        _text(ds, "PatientSex")))
            db.execute("INSERT INTO studies VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(study_uid) DO "
                       "UPDATE SET patient_id=excluded.patient_id",
                       (study, pid, _text(ds, "StudyDate"), _text(ds, "StudyTime"),
                        _text(ds, "AccessionNumber"), _text(ds, "StudyID"),
                        _text(ds, "StudyDescription"), _text(ds, "ReferringPhysicianName")))
            db.execute("INSERT INTO series VALUES (?,?,?,?,?,?) ON CONFLICT(series_uid) DO "
                       "UPDATE SET study_uid=excluded.study_uid",
                       (series, study, _text(ds, "Modality"), _text(ds, "SeriesNumber"),
                        _text(ds, "SeriesDescription"), _text(ds, "BodyPartExamined")))
            db.execute("INSERT OR REPLACE INTO instances VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                       (sop, series, _text(ds, "SOPClassUID"), _text(ds, "InstanceNumber"),
                        rel, ts, received, bytes_received, size, calling_ae, time.time()))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # SQLite may have rolled back already (e.g. disk full)
                db.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ reading
    def instance(self, sop: str) -> StoredInstance | None:
        with self._lock:
            row = self._db.execute(
                "SELECT sop_uid, sop_class, path, transfer_syntax, received_syntax, "
                "bytes_received, bytes_stored FROM instances WHERE sop_uid=?", (sop,)).fetchone()
        return None if row is None else self._row(row)

    def _row(self, row: Iterable[Any]) -> StoredInstance:
        sop, cls, path, ts, rts, bi, bs = row
        return StoredInstance(sop, cls, self.root / path, ts, rts, bi, bs)

    def find(self, level: str, query: dict[str, str], keys: Iterable[str] = ()) -> list[
            dict[str, str]]:
        """C-FIND matching: the records at ``level`` (PATIENT, STUDY, SERIES, IMAGE) whose
        attributes match ``query`` (keyword -> DICOM matching value: single value, ``*``/``?``
        wildcards, ``A-B`` date/time ranges, ``\\``-separated UID lists; empty matches all).
        Each record holds the attributes of its level and the levels above, the computed
        counts of its level, and (for IMAGE) ``_path`` / ``_syntax``.  Keys that the index
        does not keep are not matched (the caller returns them empty)."""
        level = level.upper()
        if level not in LEVELS:
            raise ValueError(f"unknown query/retrieve level {level!r}")
        upto = _ORDER[: _ORDER.index(level) + 1]
        cols = [kc for lv in upto for kc in LEVELS[lv]]
        computed = list(_COMPUTED[level])
        group = LEVELS[level][0][1]
        select = [c for _, c in cols] + [c for _, c in computed]
        if level == "IMAGE":
            select += ["i.path", "i.transfer_syntax"]
        where, args = [], []
        known = {k for k, _ in cols}
        for kw, value in query.items():  # UIDs in SQL (selective), the rest in Python
            if kw in _UIDS and kw in known and value:
                uids = [u.strip() for u in value.split("\\") if u.strip()]
                col = dict(cols)[kw]
                where.append(f"{col} IN ({','.join('?' * len(uids))})")
                args.extend(uids)
        sql = (f"SELECT {', '.join(select)} FROM instances i "
               "JOIN series se ON se.series_uid = i.series_uid "
               "JOIN studies st ON st.study_uid = se.study_uid "
               "JOIN patients p ON p.patient_id = st.patient_id"
               + (f" WHERE {' AND '.join(where)}" if where else "")
               + ("" if level == "IMAGE" else f" GROUP BY {group}")
               + f" ORDER BY {group}")
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        names = [k for k, _ in cols] + [k for k, _ in computed]
        if level == "IMAGE":
            names += ["_path", "_syntax"]
        out = []
        for row in rows:
            rec = {n: ("" if v is None else str(v)) for n, v in zip(names, row)}
            if "ModalitiesInStudy" in rec:
                rec["ModalitiesInStudy"] = "\\".join(sorted(filter(
                    None, rec["ModalitiesInStudy"].split(","))))
            if all(matches(kw, value, rec[kw]) for kw, value in query.items() if kw in rec):
                if level == "IMAGE":
                    rec["_path"] = str(self.root / rec["_path"])
                out.append(rec)
        return out

    def stats(self) -> dict[str, Any]:
        """Patients, studies, series, instances, bytes received and stored, ratio, and the
        stored transfer syntaxes with their instance counts."""
        with self._lock:
            db = self._db
            n = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                 for t in ("patients", "studies", "series", "instances")}
            bi, bs = db.execute("SELECT COALESCE(SUM(bytes_received), 0), "
                                "COALESCE(SUM(bytes_stored), 0) FROM instances").fetchone()
            syntaxes = dict(db.execute("SELECT transfer_syntax, COUNT(*) FROM instances "
                                       "GROUP BY transfer_syntax ORDER BY 2 DESC").fetchall())
        return {**n, "bytes_received": bi, "bytes_stored": bs,
                "ratio": (bi / bs) if bs else None, "syntaxes": syntaxes}

    # ------------------------------------------------------------------ recovery
    def recover(self) -> dict[str, int]:
        """Make files and index agree after a crash: remove temporary files (``.*.part``),
        files without an index row (never acknowledged) and rows whose file is missing;
        update the row of a file whose size differs (a resent instance's complete new file);
        prune empty series, studies and patients.  Returns the counts."""
        with self._lock:
            rows = {path: size for path, size in
                    self._db.execute("SELECT path, bytes_stored FROM instances")}
        removed = {"partial_files": 0, "unindexed_files": 0, "orphan_rows": 0,
                   "rows_updated": 0}
        seen = set()
        for dirpath, _dirs, files in os.walk(self.root / DATA):
            for name in files:
                full = Path(dirpath) / name
                rel = str(full.relative_to(self.root))
                if name.startswith(".") and name.endswith(".part"):
                    full.unlink()
                    removed["partial_files"] += 1
                elif rel not in rows:
                    full.unlink()
                    removed["unindexed_files"] += 1
                else:
                    seen.add(rel)
        bad = [p for p in rows if p not in seen]
        # a file of another size than its row: a resent instance whose new file (complete:
        # written atomically) was renamed in place before its row was updated -- keep the
        # file (the old one is gone) and make the row say what it holds
        fixed = []
        for p, size in rows.items():
            if p in seen and (self.root / p).stat().st_size != size:
                meta = _file_meta(self.root / p)
                if meta is None:
                    bad.append(p)
                else:
                    fixed.append((p, (self.root / p).stat().st_size, meta))
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            for p in bad:
                db.execute("DELETE FROM instances WHERE path=?", (p,))
            for p, size, ts in fixed:
                db.execute("UPDATE instances SET bytes_stored=?, transfer_syntax=? WHERE path=?",
                           (size, ts, p))
            db.execute("DELETE FROM series WHERE series_uid NOT IN "
                       "(SELECT series_uid FROM instances)")
            db.execute("DELETE FROM studies WHERE study_uid NOT IN (SELECT study_uid FROM series)")
            db.execute("DELETE FROM patients WHERE patient_id NOT IN "
                       "(SELECT patient_id FROM studies)")
            db.execute("COMMIT")
        for p in bad:
            with contextlib.suppress(OSError):
                (self.root / p).unlink()
        removed["orphan_rows"] = len(bad)
        removed["rows_updated"] = len(fixed)
        return removed


def _file_meta(path: Path) -> str | None:
    """The transfer syntax of a readable DICOM file, or None."""
    from pydicom.filereader import read_file_meta_info

    try:
        return str(read_file_meta_info(path).TransferSyntaxUID)
    except Exception:  # noqa: BLE001 - unreadable: the caller drops it
        return None


# ----------------------------------------------------------------------------- matching
def _wild(pattern: str, value: str) -> bool:
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.DOTALL) is not None


def matches(keyword: str, query: str, value: str) -> bool:
    """DICOM attribute matching (PS3.4 C.2.2.2) of one stored ``value`` by ``query``.

    >>> matches("PatientName", "", "A^B"), matches("PatientName", "A*", "A^B")
    (True, True)
    >>> matches("StudyDate", "20200101-20201231", "20200615")
    True
    >>> matches("StudyDate", "-2019", "20200615")
    False
    >>> matches("StudyInstanceUID", "1.2\\\\1.3", "1.3"), matches("Modality", "CT", "MR")
    (True, False)
    >>> matches("ModalitiesInStudy", "MR", "CT\\\\MR")
    True
    """
    query = (query or "").strip()
    if query in ("", "*"):
        return True
    value = (value or "").strip()
    if keyword == "ModalitiesInStudy":
        wanted = set(query.split("\\"))
        return any(m in wanted for m in value.split("\\"))
    if keyword in _DATES or keyword in _TIMES:
        if "-" in query:
            lo, hi = (x.strip() for x in query.split("-", 1))
            v = value.replace(":", "")
            lo, hi = lo.replace(":", ""), hi.replace(":", "")
            return bool(v) and (not lo or v >= lo) and (not hi or v[: len(hi)] <= hi)
        return any(value.replace(":", "").startswith(q.replace(":", ""))
                   if keyword in _TIMES else value == q for q in query.split("\\"))
    if keyword in _UIDS:
        return value in {u.strip() for u in query.split("\\")}
    if "*" in query or "?" in query:
        return _wild(query, value)
    return value == query
