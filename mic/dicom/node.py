"""``mic dicom serve``: a DICOM node that stores what it receives compressed with mic.

Services (pynetdicom):

* Verification (C-ECHO);
* Storage SCP for every storage SOP class, accepting the standard transfer syntaxes and
  mic's.  Each instance is stored compressed with mic (lossless; ``quality`` applies the
  DICOM lossy rules of :func:`mic.dicom.compress`); instances already lossy-compressed
  (:func:`mic.dicom.convert.lossy_source`) are kept in the syntax they came in, and so are
  objects without pixel data and pixel data mic cannot code.  Pixel data that does not
  decode is refused (status C000) and logged.  The store is acknowledged only after the
  file and its index row are durable (:class:`mic.dicom.store.Store`);
* Query/Retrieve SCP, patient and study root: C-FIND at patient, study, series and image
  level, C-GET, and C-MOVE to the destinations configured by AE title.  Retrieved instances
  are transcoded to a syntax the peer accepted (:mod:`mic.dicom.transcode`), pixels equal.

One log line per association (when it ends) and per instance; a calling-AE allow-list;
optional TLS.  :func:`serve` runs until SIGTERM or Ctrl-C.

pynetdicom is an optional dependency (``pip install 'mic[dicom]'``); this module is
imported only by the ``serve`` command.
"""

from __future__ import annotations

import errno
import logging
import signal
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import AE, AllStoragePresentationContexts, build_context, evt
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from ..errors import MicError, MicUnsupportedError
from . import MIC_TRANSFER_SYNTAX, compress
from .convert import _can_decode, lossy_source
from .store import LEVELS, Store
from .transcode import NoAcceptedSyntax, accepted_for, for_peer, offered_syntaxes

__all__ = ["NodeConfig", "STORE_SYNTAXES", "make_ae", "serve"]

LOG = logging.getLogger("mic.dicom.node")

#: the syntaxes accepted for storage, in the node's order of preference (the acceptor picks
#: the first of these that the requestor proposed): mic, then lossless compressed syntaxes
#: (stored as sent or recoded without loss), then uncompressed, then the (possibly) lossy
#: ones last, so that a sender offering both never lossy-compresses for us.
STORE_SYNTAXES: list[str] = [
    str(MIC_TRANSFER_SYNTAX),
    "1.2.840.10008.1.2.4.80",   # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.90",   # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.201",  # HTJ2K Lossless
    "1.2.840.10008.1.2.4.202",  # HTJ2K Lossless RPCL
    "1.2.840.10008.1.2.4.70",   # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.57",   # JPEG Lossless
    "1.2.840.10008.1.2.5",      # RLE Lossless
    "1.2.840.10008.1.2.1",      # Explicit VR Little Endian
    "1.2.840.10008.1.2",        # Implicit VR Little Endian
    "1.2.840.10008.1.2.1.99",   # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.2",      # Explicit VR Big Endian
    "1.2.840.10008.1.2.4.91",   # JPEG 2000
    "1.2.840.10008.1.2.4.203",  # HTJ2K
    "1.2.840.10008.1.2.4.81",   # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.50",   # JPEG Baseline
    "1.2.840.10008.1.2.4.51",   # JPEG Extended
]
QR_MODELS = {
    "find": (PatientRootQueryRetrieveInformationModelFind,
             StudyRootQueryRetrieveInformationModelFind),
    "get": (PatientRootQueryRetrieveInformationModelGet,
            StudyRootQueryRetrieveInformationModelGet),
    "move": (PatientRootQueryRetrieveInformationModelMove,
             StudyRootQueryRetrieveInformationModelMove),
}
#: the unique key of each query/retrieve level
UNIQUE = {"PATIENT": "PatientID", "STUDY": "StudyInstanceUID",
          "SERIES": "SeriesInstanceUID", "IMAGE": "SOPInstanceUID"}
#: C-STORE failure statuses (PS3.4 B.2.3)
OUT_OF_RESOURCES, DOES_NOT_MATCH, CANNOT_UNDERSTAND = 0xA700, 0xA900, 0xC000
_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


@dataclass
class NodeConfig:
    """How a node runs (the options of ``mic dicom serve``)."""

    store: Path
    ae_title: str = "MIC"
    host: str = "127.0.0.1"
    port: int = 11112
    allow_ae: tuple[str, ...] = ()
    move_dest: dict[str, tuple[str, int]] = field(default_factory=dict)
    quality: int | None = None
    recode_lossy: bool = False
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    max_associations: int = 16
    #: the lossy model of ``quality`` (None: mic's default; 'gan' is generative)
    model: str | None = None


def parse_move_dest(values: tuple[str, ...] | list[str]) -> dict[str, tuple[str, int]]:
    """``TITLE=HOST:PORT`` strings to a dict.

    >>> parse_move_dest(["STORESCP=127.0.0.1:11113"])
    {'STORESCP': ('127.0.0.1', 11113)}
    """
    out = {}
    for v in values:
        title, sep, addr = v.partition("=")
        host, sep2, port = addr.rpartition(":")
        if not (sep and sep2 and title.strip() and host and port.isdigit()):
            raise ValueError(f"expected TITLE=HOST:PORT, got {v!r}")
        out[title.strip()] = (host, int(port))
    return out


# ----------------------------------------------------------------------------- storing
def _status(code: int, comment: str) -> Dataset:
    ds = Dataset()
    ds.Status = code
    ds.ErrorComment = comment[:64]
    return ds


class _Stats:
    """Per-association counters for its log line."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.stored = self.failed = self.found = self.sent = 0


class Node:
    """The event handlers of a running node, bound to one store and one config."""

    def __init__(self, config: NodeConfig, store: Store) -> None:
        self.cfg = config
        self.store = store
        self._assocs: dict[int, _Stats] = {}
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- bookkeeping
    def _stats(self, assoc: Any) -> _Stats:
        with self._lock:
            return self._assocs.setdefault(id(assoc), _Stats())

    @staticmethod
    def _peer(assoc: Any) -> str:
        r = assoc.requestor
        return f"{str(r.ae_title).strip()}@{r.address}:{r.port}"

    def on_established(self, event: Any) -> None:
        self._stats(event.assoc)

    def on_end(self, event: Any, how: str) -> None:
        with self._lock:
            s = self._assocs.pop(id(event.assoc), None)
        if s is None:
            return
        LOG.info("association %s %s after %.2f s: stored %d, failed %d, matched %d, sent %d",
                 self._peer(event.assoc), how, time.perf_counter() - s.t0, s.stored, s.failed,
                 s.found, s.sent)

    def on_rejected(self, event: Any) -> None:
        LOG.warning("association %s rejected (calling AE not in the allow-list, or no "
                    "acceptable presentation context)", self._peer(event.assoc))

    # ---------------------------------------------------------------- services
    def on_echo(self, event: Any) -> int:
        return 0x0000

    def on_store(self, event: Any) -> Any:
        t0 = time.perf_counter()
        stats = self._stats(event.assoc)
        peer = self._peer(event.assoc)
        sop = str(getattr(event.request, "AffectedSOPInstanceUID", "") or "?")
        try:
            status, line = self._store(event, peer)
        except Exception as exc:  # noqa: BLE001 - never let one instance stop the node
            status = _status(CANNOT_UNDERSTAND, f"unexpected: {type(exc).__name__}")
            line = f"FAILED (unexpected {type(exc).__name__}: {exc})"
            LOG.exception("store %s from %s", sop, peer)
        ok = int(status.Status if isinstance(status, Dataset) else status) == 0
        if ok:
            stats.stored += 1
        else:
            stats.failed += 1
        LOG.info("store %s from %s: %s (%.0f ms)", sop, peer, line,
                 1000 * (time.perf_counter() - t0))
        return status

    def _store(self, event: Any, peer: str) -> tuple[Any, str]:
        raw = event.encoded_dataset(include_meta=True)
        received = UID(str(event.context.transfer_syntax))
        bytes_received = len(event.encoded_dataset(include_meta=False))
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
            for kw in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
                if not str(ds.get(kw, "") or "").strip():
                    return (_status(DOES_NOT_MATCH, f"no {kw}"),
                            f"FAILED: refused (0xA900): the dataset has no {kw}")
        except Exception as exc:  # noqa: BLE001 - a dataset pydicom cannot parse
            return (_status(CANNOT_UNDERSTAND, "dataset cannot be decoded"),
                    f"FAILED: refused (0xC000): dataset cannot be decoded: {exc}")
        try:
            ds, note, out = self._prepare(ds, received)
        except MemoryError:
            return _status(OUT_OF_RESOURCES, "out of memory"), "FAILED (0xA700): out of memory"
        except (MicError, ValueError, RuntimeError, AttributeError, TypeError, KeyError,
                IndexError, NotImplementedError) as exc:
            msg = " ".join(str(exc).split())[:200]
            return (_status(CANNOT_UNDERSTAND, "pixel data cannot be decoded"),
                    f"FAILED: refused (0xC000), pixel data cannot be decoded "
                    f"({type(exc).__name__}: {msg})")
        if out is None:
            def write(f: Any) -> None:
                f.write(raw)
            stored = received
        else:
            import pydicom

            def write(f: Any) -> None:
                pydicom.dcmwrite(f, ds, enforce_file_format=True)
            stored = UID(ds.file_meta.TransferSyntaxUID)
        try:
            inst = self.store.put(ds, write, transfer_syntax=str(stored),
                                  received_syntax=str(received), bytes_received=bytes_received,
                                  calling_ae=str(event.assoc.requestor.ae_title).strip())
        except OSError as exc:
            code = OUT_OF_RESOURCES if exc.errno in _FULL else CANNOT_UNDERSTAND
            why = "storage full" if code == OUT_OF_RESOURCES else "cannot write"
            return (_status(code, why),
                    f"FAILED (0x{code:04X}): {why}: {exc.strerror or exc}; nothing stored")
        except Exception as exc:  # noqa: BLE001 - e.g. sqlite3 errors (disk full in the index)
            import sqlite3

            full = getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or \
                "disk is full" in str(exc)
            code = OUT_OF_RESOURCES if full else CANNOT_UNDERSTAND
            return (_status(code, "index update failed"),
                    f"FAILED (0x{code:04X}): index update failed: {exc}; nothing stored")
        ratio = inst.bytes_received / max(inst.bytes_stored, 1)
        return 0x0000, (f"stored {stored.name if stored != MIC_TRANSFER_SYNTAX else 'mic'} "
                        f"({note}), {inst.bytes_received:,} -> {inst.bytes_stored:,} bytes "
                        f"({ratio:.2f}x), received as {received.name}")

    def _prepare(self, ds: Dataset, received: UID) -> tuple[Dataset, str, Any]:
        """(dataset, note, True if ``ds`` must be written, None to keep the bytes as sent).
        Raises for pixel data that does not decode."""
        if "PixelData" not in ds:
            return ds, "no pixel data: kept as sent", None
        foreign = received.is_compressed and received != MIC_TRANSFER_SYNTAX
        why_not = _can_decode(received) if foreign else ""
        if received == MIC_TRANSFER_SYNTAX and self.cfg.quality is None:
            ds.pixel_array  # noqa: B018 - refuse a corrupt .mic stream (CRC, format)
            return ds, "already mic: kept as sent", None
        lossy = lossy_source(ds, received)
        if lossy and not self.cfg.recode_lossy:
            if not why_not:
                ds.pixel_array  # noqa: B018 - refuse pixel data that does not decode
            return ds, f"{lossy}: kept as sent", None
        if why_not:
            return ds, f"kept as sent, not verified: {why_not}", None
        try:
            compress(ds, self.cfg.quality, model=self.cfg.model)
        except MicUnsupportedError as exc:
            # pixel data mic does not code (32 bits, float, ...): kept, once it decodes
            ds.pixel_array  # noqa: B018
            return ds, f"kept as sent: {exc}", None
        model = f", model {self.cfg.model}" if self.cfg.model else ""
        return ds, ("lossless" if self.cfg.quality is None else
                    f"lossy quality {self.cfg.quality}{model}, DICOM lossy rules applied"), True

    # ---------------------------------------------------------------- query / retrieve
    @staticmethod
    def _query(identifier: Dataset) -> tuple[str, dict[str, str]]:
        level = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
        q = {}
        for elem in identifier:
            kw = elem.keyword
            if not kw or kw in ("QueryRetrieveLevel", "SpecificCharacterSet") or elem.VR == "SQ":
                continue
            v = elem.value
            if v is None:
                q[kw] = ""
            elif isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue":
                q[kw] = "\\".join(str(x) for x in v)
            else:
                q[kw] = str(v)
        return level, q

    def on_find(self, event: Any) -> Iterator[Any]:
        stats = self._stats(event.assoc)
        identifier = event.identifier
        level, query = self._query(identifier)
        if level not in LEVELS:
            LOG.info("find from %s: refused, level %r", self._peer(event.assoc), level)
            yield 0xA900, None
            return
        records = self.store.find(level, query)
        stats.found += len(records)
        LOG.info("find %s level from %s: %d match(es) for %s", level,
                 self._peer(event.assoc), len(records),
                 {k: v for k, v in query.items() if v} or "everything")
        for rec in records:
            if event.is_cancelled:
                yield 0xFE00, None
                return
            rsp = Dataset()
            rsp.SpecificCharacterSet = "ISO_IR 192"
            rsp.QueryRetrieveLevel = level
            for elem in identifier:
                kw = elem.keyword
                if not kw or kw in ("QueryRetrieveLevel", "SpecificCharacterSet"):
                    continue
                if kw in rec and elem.VR != "SQ":
                    value: Any = rec[kw]
                    if "\\" in value:
                        value = value.split("\\")
                    setattr(rsp, kw, value)
                else:
                    rsp.add_new(elem.tag, elem.VR, [] if elem.VR == "SQ" else None)
            key = UNIQUE[level]
            if key not in rsp:
                setattr(rsp, key, rec[key])
            yield 0xFF00, rsp

    def _matches(self, event: Any, what: str) -> list[dict[str, str]] | None:
        level, query = self._query(event.identifier)
        if level not in LEVELS or not query.get(UNIQUE[level], "").strip():
            LOG.info("%s from %s: refused, level %r without its unique key", what,
                     self._peer(event.assoc), level)
            return None
        keys = {k: v for k, v in query.items() if k in UNIQUE.values() and v.strip()}
        recs = self.store.find("IMAGE", keys)
        self._stats(event.assoc).found += len(recs)
        LOG.info("%s %s level from %s: %d instance(s) for %s", what, level,
                 self._peer(event.assoc), len(recs), keys)
        return recs

    def _send(self, rec: dict[str, str], accepted: list[str], peer: str) -> Dataset:
        t0 = time.perf_counter()
        try:
            ds, ts = for_peer(rec["_path"], accepted)
        except (NoAcceptedSyntax, MicError, OSError, ValueError, RuntimeError) as exc:
            LOG.warning("send %s to %s: FAILED: %s", rec["SOPInstanceUID"], peer, exc)
            import pydicom

            return pydicom.dcmread(rec["_path"])  # no accepted context: a failed sub-operation
        LOG.info("send %s to %s as %s (stored as %s, %.0f ms)", rec["SOPInstanceUID"], peer,
                 "mic" if ts == MIC_TRANSFER_SYNTAX else ts.name,
                 "mic" if rec["_syntax"] == MIC_TRANSFER_SYNTAX else UID(rec["_syntax"]).name,
                 1000 * (time.perf_counter() - t0))
        return ds

    def on_get(self, event: Any) -> Iterator[Any]:
        recs = self._matches(event, "get")
        if recs is None:
            yield 0
            return
        yield len(recs)
        contexts = event.assoc.accepted_contexts
        stats = self._stats(event.assoc)
        for rec in recs:
            if event.is_cancelled:
                yield 0xFE00, None
                return
            ds = self._send(rec, accepted_for(contexts, rec["SOPClassUID"]),
                            self._peer(event.assoc))
            stats.sent += 1
            yield 0xFF00, ds

    def on_move(self, event: Any) -> Iterator[Any]:
        title = str(event.move_destination.decode() if isinstance(event.move_destination, bytes)
                    else event.move_destination).strip()
        dest = self.cfg.move_dest.get(title)
        if dest is None:
            LOG.warning("move from %s: unknown destination %r (configure --move-dest)",
                        self._peer(event.assoc), title)
            yield None, None
            return
        recs = self._matches(event, "move")
        if recs is None:
            yield dest[0], dest[1]
            yield 0
            return
        sub: dict[str, Any] = {}

        def on_accepted(ev: Any) -> None:
            sub["contexts"] = ev.assoc.accepted_contexts

        yield dest[0], dest[1], {"contexts": _move_contexts(recs),
                                 "evt_handlers": [(evt.EVT_ACCEPTED, on_accepted)]}
        yield len(recs)
        stats = self._stats(event.assoc)
        peer = f"{title}@{dest[0]}:{dest[1]}"
        for rec in recs:
            if event.is_cancelled:
                yield 0xFE00, None
                return
            ds = self._send(rec, accepted_for(sub.get("contexts", []), rec["SOPClassUID"]),
                            peer)
            stats.sent += 1
            yield 0xFF00, ds

    def handlers(self) -> list[tuple[Any, Any]]:
        return [
            (evt.EVT_C_ECHO, self.on_echo),
            (evt.EVT_C_STORE, self.on_store),
            (evt.EVT_C_FIND, self.on_find),
            (evt.EVT_C_GET, self.on_get),
            (evt.EVT_C_MOVE, self.on_move),
            (evt.EVT_ESTABLISHED, self.on_established),
            (evt.EVT_RELEASED, lambda e: self.on_end(e, "released")),
            (evt.EVT_ABORTED, lambda e: self.on_end(e, "aborted")),
            (evt.EVT_REJECTED, self.on_rejected),
        ]


def _move_contexts(recs: list[dict[str, str]]) -> list[Any]:
    """Presentation contexts for a C-MOVE sub-association: for each SOP class, the syntaxes
    its instances are stored in (a lossy JPEG goes out as it came in, where the peer takes
    it), then mic's preference; one context per (SOP class, syntax), so that the peer says
    which it takes, or one per SOP class with every syntax when that would exceed the 128
    contexts an association may propose."""
    offered = [str(u) for u in offered_syntaxes()]
    per_class: dict[str, list[str]] = {}
    for r in recs:
        lst = per_class.setdefault(r["SOPClassUID"], [])
        if r["_syntax"] not in lst and r["_syntax"] not in offered:
            lst.append(r["_syntax"])
    per_class = {c: extra + offered for c, extra in sorted(per_class.items())}
    if sum(len(v) for v in per_class.values()) <= 128:
        return [build_context(c, [t]) for c, ts in per_class.items() for t in ts]
    return [build_context(c, ts) for c, ts in list(per_class.items())[:128]]


# ----------------------------------------------------------------------------- the AE
def make_ae(config: NodeConfig) -> AE:
    """The node's application entity: its contexts, roles, allow-list and limits."""
    ae = AE(ae_title=config.ae_title)
    ae.maximum_associations = config.max_associations
    ae.maximum_pdu_size = 0  # no limit on what peers send us
    if config.allow_ae:
        ae.require_calling_aet = list(config.allow_ae)
    ae.add_supported_context(Verification)
    for cx in AllStoragePresentationContexts:
        # scp_role / scu_role: accept C-GET requestors' role selection (we send C-STORE)
        ae.add_supported_context(cx.abstract_syntax, STORE_SYNTAXES, scu_role=True,
                                 scp_role=True)
    for models in QR_MODELS.values():
        for m in models:
            ae.add_supported_context(m)
    return ae


def tls_context(config: NodeConfig) -> ssl.SSLContext | None:
    """The server's TLS context (None without a certificate): TLS 1.2 or later; with
    ``tls_ca``, peers must present a certificate signed by it."""
    if not config.tls_cert:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(config.tls_cert, config.tls_key)
    if config.tls_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(config.tls_ca)
    return ctx


def _warm_up() -> None:
    """Compile the lossless coder's kernels before the first association."""
    import numpy as np

    import mic

    for a in (np.arange(256, dtype=np.uint16).reshape(16, 16),
              np.arange(256, dtype=np.int16).reshape(16, 16) - 100,
              np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)):
        mic.decode(mic.encode(a))


class Running:
    """A started node (:func:`start`): ``port`` it listens on, :meth:`close` to stop it."""

    def __init__(self, config: NodeConfig, store: Store, server: Any) -> None:
        self.config, self.store, self.server = config, store, server
        self.host, self.port = server.server_address[:2]

    def close(self) -> None:
        LOG.info("stopping: waiting for open associations")
        self.server.shutdown()
        self.store.close()
        LOG.info("stopped")


def start(config: NodeConfig) -> Running:
    """Open the store (recovering it after an unclean stop), compile the coder, listen."""
    store = Store(config.store)
    fixed = store.recover()
    if any(fixed.values()):
        LOG.warning("recovered the store after an unclean stop: removed %d partial file(s), "
                    "%d unacknowledged file(s), %d index row(s) without their file; updated "
                    "%d row(s) to their resent file", fixed["partial_files"],
                    fixed["unindexed_files"], fixed["orphan_rows"], fixed["rows_updated"])
    _warm_up()
    node = Node(config, store)
    ae = make_ae(config)
    server = ae.start_server((config.host, config.port), block=False,
                             evt_handlers=node.handlers(), ssl_context=tls_context(config))
    run = Running(config, store, server)
    st = store.stats()
    LOG.info("listening on %s:%d as %s%s%s; store %s (%d studies, %d instances)", run.host,
             run.port, config.ae_title, " with TLS" if config.tls_cert else "",
             f"; calling AEs allowed: {', '.join(config.allow_ae)}" if config.allow_ae else "",
             config.store, st["studies"], st["instances"])
    return run


def serve(config: NodeConfig) -> None:
    """Run a node until SIGTERM or SIGINT (Ctrl-C)."""
    run = start(config)
    done = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: done.set())
                for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not done.wait(0.5):
            pass
    finally:
        run.close()
        for sig, h in previous.items():
            signal.signal(sig, h)
