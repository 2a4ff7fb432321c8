"""``mic dicom serve`` against real DICOM peers (issue #23).

Every peer is started here, on 127.0.0.1, and stopped at the end: the node itself (``python
-m mic.cli dicom serve``, a subprocess so that it can be killed), DCMTK's ``echoscu``,
``storescu``, ``findscu``, ``getscu``, ``movescu``, ``storescp`` and ``dcmdjpls``, an
Orthanc PACS with a temporary configuration, and pynetdicom where a test needs the status
of each C-STORE.  ``make test`` installs DCMTK and Orthanc (``make system-deps``); when they
are missing the tests fail under CI (``CI=true``) and are skipped, saying why, elsewhere.

Fault tests: SIGKILL in the middle of a transfer, a full disk (a 1 MiB tmpfs where mounting
is permitted, else RLIMIT_FSIZE on the node; the test prints which), corrupt pixel data.
Security tests: a calling-AE allow-list, TLS with a self-signed certificate, ``../`` in
UIDs and patient IDs.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

import mic.dicom
from mic.dicom import MIC_TRANSFER_SYNTAX
from mic.dicom.convert import CHANGED_BY_COMPRESSION, compare_datasets

LOCAL = Path(__file__).resolve().parent / "data" / "dicom"
DCMTK = ("echoscu", "storescu", "findscu", "getscu", "movescu", "storescp", "dcmdjpls")
CI = os.environ.get("CI", "").lower() == "true"
#: one study of real images: CT (signed 12-bit, dirty high bits), MR 3 frames, CR MONO1 8-bit,
#: US RGB 3 frames planar 1 (tests/data/dicom), pydicom's CT and MR, and a JPEG baseline
#: (lossy) secondary capture that the node keeps as sent
PYDICOM_FILES = ("CT_small.dcm", "MR_small.dcm", "SC_rgb_jpeg_dcmtk.dcm")


def dcmtk_exe(name: str) -> str | None:
    """DCMTK's ``name`` on PATH, skipping this interpreter's scripts folder: pynetdicom
    installs apps of the same names there (``storescu`` ...) with other arguments, which
    would shadow DCMTK's in an activated virtual environment."""
    own = os.path.realpath(sysconfig.get_path("scripts"))
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and os.path.realpath(p) != own)
    return shutil.which(name, path=path)


def _cmd(cmd: list[str]) -> list[str]:
    """``cmd`` with a DCMTK tool's name replaced by its path (:func:`dcmtk_exe`)."""
    return [dcmtk_exe(cmd[0]) or cmd[0], *cmd[1:]] if cmd[0] in DCMTK else cmd


def _need(*tools: str) -> None:
    gone = [t for t in tools if dcmtk_exe(t) is None]
    if gone:
        msg = (f"{', '.join(gone)} not installed: run `make system-deps` (apt-get install "
               "dcmtk orthanc)")
        if CI:
            pytest.fail(msg)
        pytest.skip(msg)


try:
    import pynetdicom  # noqa: F401
except ImportError:  # pragma: no cover - the test extra installs it
    if CI:
        raise
    pytest.skip("pynetdicom not installed (pip install -e '.[test]')", allow_module_level=True)

from pynetdicom import AE, build_context, evt  # noqa: E402
from pynetdicom.sop_class import CTImageStorage, Verification  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: list[str], timeout: float = 120, check: bool = True,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(_cmd(cmd), capture_output=True, text=True, timeout=timeout, cwd=cwd)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} -> {out.returncode}\n{out.stdout}\n{out.stderr}")
    return out


class Node:
    """``mic dicom serve`` in a subprocess; its log lines collected as they come."""

    def __init__(self, store: Path, *args: str, preexec: object = None) -> None:
        self.store = store
        self.cmd = [sys.executable, "-m", "mic.cli", "dicom", "serve", str(store),
                    "--port", "0", "--ae-title", "MIC", *args]
        self.preexec = preexec
        self.lines: list[str] = []
        self.start()

    def start(self) -> None:
        self.lines = []
        self.proc = subprocess.Popen(self.cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     text=True, preexec_fn=self.preexec)  # type: ignore[arg-type]
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            m = next((re.search(r"listening on 127\.0\.0\.1:(\d+)", x) for x in self.lines
                      if "listening on" in x), None)
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise AssertionError("the node did not start:\n" + self.log)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(bool(re.search(pattern, x)) for x in self.lines) >= count:
                return
            time.sleep(0.02)
        raise AssertionError(f"no {count} x {pattern!r} in the log:\n{self.log[-3000:]}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._reader.join(5)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(5)
        return self.proc.returncode

    def dcmtk(self, tool: str, *args: str, files: tuple[str, ...] = (), check: bool = True,
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run([tool, "-aec", "MIC", *args, "127.0.0.1", str(self.port), *files],
                   timeout=timeout, check=check)


@contextlib.contextmanager
def started(store: Path, *args: str, preexec: object = None) -> Iterator[Node]:
    node = Node(store, *args, preexec=preexec)
    try:
        yield node
    finally:
        node.stop()


@contextlib.contextmanager
def storescp(folder: Path, title: str, port: int, *args: str) -> Iterator[int]:
    """DCMTK's storescp on ``port``, writing what it receives into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(_cmd(["storescp", "--aetitle", title, "-od", str(folder), *args,
                                  str(port)]), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def study_folder(tmp: Path) -> tuple[Path, str]:
    """The test study: every file of the list above, all given one Study Instance UID."""
    study = generate_uid()
    folder = tmp / "study"
    folder.mkdir()
    paths = sorted(LOCAL.glob("*.dcm")) + [Path(get_testdata_file(n)) for n in PYDICOM_FILES]
    for p in paths:
        ds = pydicom.dcmread(p)
        ds.StudyInstanceUID = study
        ds.PatientID = "MIC-NODE-1"
        ds.save_as(folder / p.name)
    return folder, study


def by_sop(folder: Path) -> dict[str, pydicom.Dataset]:
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            ds = pydicom.dcmread(p)
            out[str(ds.SOPInstanceUID)] = ds
    return out


def assert_same_instances(sent: dict[str, pydicom.Dataset], got: dict[str, pydicom.Dataset],
                          syntaxes: set[str] | None = None) -> None:
    """Every sent instance came back with its pixels and its metadata, apart from the
    transfer syntax (and, for a lossy JPEG decoded on the way, its colour space)."""
    assert sorted(got) == sorted(sent)
    for uid, o in sent.items():
        r = got[uid]
        if syntaxes is not None:
            assert str(r.file_meta.TransferSyntaxUID) in syntaxes, r.file_meta.TransferSyntaxUID
        assert np.array_equal(r.pixel_array, o.pixel_array), uid
        # Data Set Trailing Padding has no meaning and DCMTK does not send it (PS3.10 7.2)
        ignore = set(CHANGED_BY_COMPRESSION) | {"DataSetTrailingPadding"}
        if o.file_meta.TransferSyntaxUID.is_compressed or r.file_meta.TransferSyntaxUID \
                .is_compressed:  # YBR decoded to RGB; colour samples re-interleaved
            ignore |= {"PhotometricInterpretation", "PlanarConfiguration"}
        assert compare_datasets(o, r, ignore) == [], uid


def index_rows(store: Path) -> dict[str, tuple[str, int]]:
    with contextlib.closing(sqlite3.connect(store / "index.sqlite")) as db:
        return {sop: (path, size) for sop, path, size in
                db.execute("SELECT sop_uid, path, bytes_stored FROM instances")}


def assert_store_consistent(store: Path) -> dict[str, tuple[str, int]]:
    """No temporary file; every file indexed, every row's file present with its size."""
    rows = index_rows(store)
    files = {str(p.relative_to(store)) for p in (store / "studies").rglob("*") if p.is_file()}
    assert not [f for f in files if f.endswith(".part")], files
    assert files == {path for path, _ in rows.values()}
    for path, size in rows.values():
        assert (store / path).stat().st_size == size
    return rows


@pytest.fixture(autouse=True)
def _dcmtk() -> None:
    _need(*DCMTK)


# ----------------------------------------------------------------------------- round trips
def test_dcmtk_echo_store_find_get_move(tmp_path: Path) -> None:
    folder, study = study_folder(tmp_path)
    sent = by_sop(folder)
    dests = {"STORESCP": free_port(), "JLSSCP": free_port(), "J2KSCP": free_port()}
    moves = [f"--move-dest={t}=127.0.0.1:{p}" for t, p in dests.items()]
    with started(tmp_path / "store", *moves) as node:
        node.dcmtk("echoscu")
        # -xy: also propose JPEG baseline (for the lossy file), in a context of its own
        node.dcmtk("storescu", "+sd", "+r", "-xy", files=(str(folder),))
        node.wait_for(r"association STORESCU@.* released")
        assert node.log.count("stored mic (lossless)") == len(sent) - 1
        assert "already lossy-compressed (JPEG Baseline (Process 1)): kept as sent" in node.log
        rows = assert_store_consistent(node.store)
        assert sorted(rows) == sorted(sent)

        # the stored files: mic, pixels equal (the lossy JPEG as it was sent)
        for uid, o in sent.items():
            ds = pydicom.dcmread(node.store / rows[uid][0])
            lossy = o.file_meta.TransferSyntaxUID.is_compressed  # the JPEG baseline
            assert ds.file_meta.TransferSyntaxUID == (
                o.file_meta.TransferSyntaxUID if lossy else MIC_TRANSFER_SYNTAX)
            assert np.array_equal(ds.pixel_array, o.pixel_array)

        # C-FIND, study and series level
        qdir = tmp_path / "find"
        qdir.mkdir()
        node.dcmtk("findscu", "-S", "-X", "-od", str(qdir), "-k", "QueryRetrieveLevel=STUDY",
                   "-k", f"StudyInstanceUID={study}", "-k", "PatientID", "-k", "PatientName",
                   "-k", "ModalitiesInStudy", "-k", "NumberOfStudyRelatedInstances",
                   "-k", "NumberOfStudyRelatedSeries")
        (rsp,) = [pydicom.dcmread(p) for p in qdir.glob("rsp*.dcm")]
        series = {str(d.SeriesInstanceUID) for d in sent.values()}
        assert rsp.StudyInstanceUID == study and rsp.PatientID == "MIC-NODE-1"
        assert int(rsp.NumberOfStudyRelatedInstances) == len(sent)
        assert int(rsp.NumberOfStudyRelatedSeries) == len(series)
        assert set(rsp.ModalitiesInStudy) == {str(d.Modality) for d in sent.values()}
        shutil.rmtree(qdir)
        qdir.mkdir()
        node.dcmtk("findscu", "-S", "-X", "-od", str(qdir), "-k", "QueryRetrieveLevel=SERIES",
                   "-k", f"StudyInstanceUID={study}", "-k", "SeriesInstanceUID",
                   "-k", "Modality", "-k", "NumberOfSeriesRelatedInstances")
        found = [pydicom.dcmread(p) for p in qdir.glob("rsp*.dcm")]
        assert {str(d.SeriesInstanceUID) for d in found} == series
        # wildcard and no match
        shutil.rmtree(qdir)
        qdir.mkdir()
        node.dcmtk("findscu", "-S", "-X", "-od", str(qdir), "-k", "QueryRetrieveLevel=STUDY",
                   "-k", "StudyInstanceUID", "-k", "PatientID=NOBODY*")
        assert not list(qdir.glob("rsp*.dcm"))
        # patient level (patient root), with a wildcard; image level within one series
        node.dcmtk("findscu", "-P", "-X", "-od", str(qdir), "-k", "QueryRetrieveLevel=PATIENT",
                   "-k", "PatientID=MIC-NODE-?", "-k", "NumberOfPatientRelatedInstances")
        (rsp,) = [pydicom.dcmread(p) for p in qdir.glob("rsp*.dcm")]
        assert rsp.PatientID == "MIC-NODE-1"
        assert int(rsp.NumberOfPatientRelatedInstances) == len(sent)
        shutil.rmtree(qdir)
        qdir.mkdir()
        mr = next(d for d in sent.values() if int(getattr(d, "NumberOfFrames", 1) or 1) > 1)
        node.dcmtk("findscu", "-S", "-X", "-od", str(qdir), "-k", "QueryRetrieveLevel=IMAGE",
                   "-k", f"StudyInstanceUID={study}", "-k", f"SeriesInstanceUID="
                   f"{mr.SeriesInstanceUID}", "-k", "SOPInstanceUID", "-k", "SOPClassUID")
        (rsp,) = [pydicom.dcmread(p) for p in qdir.glob("rsp*.dcm")]
        assert (rsp.SOPInstanceUID, rsp.SOPClassUID) == (mr.SOPInstanceUID, mr.SOPClassUID)

        # C-GET: getscu proposes uncompressed syntaxes -> Explicit VR Little Endian
        gdir = tmp_path / "get"
        gdir.mkdir()
        node.dcmtk("getscu", "-S", "-od", str(gdir), "-k", "QueryRetrieveLevel=STUDY",
                   "-k", f"StudyInstanceUID={study}")
        got = by_sop(gdir)
        assert_same_instances(sent, got, {"1.2.840.10008.1.2.1", "1.2.840.10008.1.2",
                                          str(sent_lossy_syntax(sent))})

        # C-MOVE to a plain storescp (uncompressed), then to storescps that prefer JPEG-LS
        # lossless and JPEG 2000 lossless
        for title, extra, want in (("STORESCP", [], {"1.2.840.10008.1.2.1"}),
                                   ("JLSSCP", ["+xt"], {"1.2.840.10008.1.2.4.80"}),
                                   ("J2KSCP", ["+xv"], {"1.2.840.10008.1.2.4.90"})):
            mdir = tmp_path / f"move-{title}"
            with storescp(mdir, title, dests[title], *extra):
                node.dcmtk("movescu", "-S", "-aem", title, "-k", "QueryRetrieveLevel=STUDY",
                           "-k", f"StudyInstanceUID={study}")
            got = by_sop(mdir)
            # the RGB ultrasound goes as JPEG-LS but not as JPEG 2000 (mic codes JPEG 2000
            # for one sample per pixel only); signed CT goes uncompressed
            assert_same_instances(sent, got)
            syntaxes = {str(d.file_meta.TransferSyntaxUID) for d in got.values()}
            assert want <= syntaxes, syntaxes
            if title == "JLSSCP":  # DCMTK decodes mic's JPEG-LS to the same pixels
                for uid, ds in got.items():
                    if str(ds.file_meta.TransferSyntaxUID) != "1.2.840.10008.1.2.4.80":
                        continue
                    raw = tmp_path / "djpls.dcm"
                    run(["dcmdjpls", str(mdir / _name_of(mdir, uid)), str(raw)])
                    assert np.array_equal(pydicom.dcmread(raw).pixel_array,
                                          sent[uid].pixel_array)
        node.wait_for(r"association MOVESCU@.* released", 3)
        assert re.search(r"send .* to JLSSCP@127\.0\.0\.1:\d+ as JPEG-LS Lossless", node.log)

        # stats
        out = run([sys.executable, "-m", "mic.cli", "dicom", "stats", str(node.store),
                   "--json"])
        st = json.loads(out.stdout)
        assert st["studies"] == 1 and st["instances"] == len(sent) and st["ratio"] > 1.5
    assert node.proc.returncode == 0
    assert re.search(r"association ECHOSCU@127\.0\.0\.1:\d+ released", node.log)


def sent_lossy_syntax(sent: dict[str, pydicom.Dataset]) -> str:
    (ts,) = {str(d.file_meta.TransferSyntaxUID) for d in sent.values()
             if d.file_meta.TransferSyntaxUID.is_compressed}
    return ts


def _name_of(folder: Path, sop: str) -> str:
    for p in folder.iterdir():
        if pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID == sop:
            return p.name
    raise KeyError(sop)


# ----------------------------------------------------------------------------- Orthanc
def _orthanc_binary() -> str:
    exe = shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if os.access("/usr/sbin/Orthanc",
                                                                       os.X_OK) else None)
    if exe is None:
        msg = "Orthanc not installed: run `make system-deps` (apt-get install orthanc)"
        if CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return exe


class Orthanc:
    """An Orthanc PACS on 127.0.0.1 with a temporary configuration, driven by its REST API."""

    def __init__(self, folder: Path, mic_port: int, dicom_port: int) -> None:
        self.http, self.dicom = free_port(), dicom_port
        folder.mkdir()
        cfg = {
            "Name": "mic-test", "StorageDirectory": str(folder / "db"),
            "IndexDirectory": str(folder / "db"), "HttpPort": self.http,
            "DicomPort": self.dicom, "DicomAet": "ORTHANC", "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False, "HttpServerEnabled": True,
            "DicomServerEnabled": True, "Plugins": [], "DicomCheckCalledAet": False,
            "DicomModalities": {"mic": ["MIC", "127.0.0.1", mic_port]},
            "DicomScuTimeout": 30, "ConcurrentJobs": 1, "StableAge": 1,
        }
        (folder / "orthanc.json").write_text(json.dumps(cfg))
        self.log = open(folder / "orthanc.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([_orthanc_binary(), str(folder / "orthanc.json")],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                self.get("/system")
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        self.close()
        raise AssertionError("Orthanc did not start:\n"
                             + (folder / "orthanc.log").read_text(errors="replace")[-3000:])

    def request(self, method: str, path: str, body: bytes | None = None,
                timeout: float = 120) -> bytes:
        req = urllib.request.Request(f"http://127.0.0.1:{self.http}{path}", data=body,
                                     method=method)
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - loopback only
            return r.read()

    def get(self, path: str) -> object:
        return json.loads(self.request("GET", path))

    def post(self, path: str, body: object) -> object:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return json.loads(self.request("POST", path, raw) or b"null")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


def test_orthanc_sends_a_study_and_mic_moves_it_back(tmp_path: Path) -> None:
    _orthanc_binary()
    folder, study = study_folder(tmp_path)
    sent = by_sop(folder)
    orthanc_port = free_port()
    with started(tmp_path / "store", f"--move-dest=ORTHANC=127.0.0.1:{orthanc_port}") as node:
        pacs = Orthanc(tmp_path / "orthanc", node.port, orthanc_port)
        try:
            for p in sorted(folder.iterdir()):
                pacs.post("/instances", p.read_bytes())
            (sid,) = pacs.get("/studies")  # type: ignore[misc]
            # Orthanc -> mic: C-STORE of the whole study through Orthanc's REST API
            job = pacs.post("/modalities/mic/store", {"Resources": [sid], "Synchronous": True})
            assert isinstance(job, dict) and int(job["InstancesCount"]) == len(sent), job
            node.wait_for(r"association ORTHANC@.* released")
            assert sorted(assert_store_consistent(node.store)) == sorted(sent)
            # Orthanc forgets the study; mic moves it back (C-MOVE asked by Orthanc)
            pacs.request("DELETE", f"/studies/{sid}")
            assert pacs.get("/instances") == []
            pacs.post("/modalities/mic/move", {"Level": "Study", "TargetAet": "ORTHANC",
                                               "Resources": [{"StudyInstanceUID": study}],
                                               "Synchronous": True})
            ids = pacs.get("/instances")
            assert isinstance(ids, list) and len(ids) == len(sent)
            back = {}
            for i in ids:
                raw = pacs.request("GET", f"/instances/{i}/file")
                ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(raw))
                back[str(ds.SOPInstanceUID)] = ds
            # the original pixels and metadata, whatever syntax Orthanc accepted
            assert_same_instances(sent, back)
            syntaxes = {str(d.file_meta.TransferSyntaxUID) for d in back.values()}
            assert str(MIC_TRANSFER_SYNTAX) not in syntaxes  # Orthanc is not mic-aware
            # mic's preference: JPEG-LS lossless where Orthanc takes it (unsigned images),
            # and the lossy JPEG exactly as it was sent, in its own syntax
            assert "1.2.840.10008.1.2.4.80" in syntaxes, syntaxes
            for uid, d in sent.items():
                if d.file_meta.TransferSyntaxUID.is_compressed:
                    assert back[uid].file_meta.TransferSyntaxUID == d.file_meta.TransferSyntaxUID
                    assert back[uid].PixelData == d.PixelData
        finally:
            pacs.close()
    assert re.search(r"send .* to ORTHANC@127\.0\.0\.1:\d+ as ", node.log)



# ----------------------------------------------------------------------------- helpers
def make_instances(folder: Path, n: int, *, size: int = 128, noise: bool = False,
                   seed: int = 0) -> dict[str, pydicom.Dataset]:
    """``n`` CT instances of one new study and series in ``folder`` (pixels from pydicom's
    CT_small, tiled to ``size`` and varied per instance, or uniform noise)."""
    folder.mkdir(parents=True, exist_ok=True)
    base = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    px = base.pixel_array
    reps = -(-size // px.shape[0])
    tiled = np.tile(px, (reps, reps))[:size, :size]
    rng = np.random.default_rng(seed)
    study, series = generate_uid(), generate_uid()
    out = {}
    for i in range(n):
        ds = copy.deepcopy(base)  # (Dataset.copy() shares the elements)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = i + 1
        arr = (rng.integers(0, 4096, (size, size)) if noise else
               np.roll(tiled, i, axis=1)).astype(px.dtype)
        ds.Rows = ds.Columns = size
        ds.PixelData = arr.tobytes()
        ds.save_as(folder / f"i{i:04d}.dcm", enforce_file_format=True)
        out[str(ds.SOPInstanceUID)] = ds
    return out


def scu(node: Node, *contexts: object, calling: str = "PYSCU", **kw: object) -> object:
    ae = AE(ae_title=calling)
    for cx in contexts or [build_context(CTImageStorage), build_context(Verification)]:
        ae.add_requested_context(cx.abstract_syntax,  # type: ignore[attr-defined]
                                 cx.transfer_syntax)  # type: ignore[attr-defined]
    assoc = ae.associate("127.0.0.1", node.port, ae_title="MIC", **kw)
    assert assoc.is_established
    return assoc


def status_of(assoc: object, ds: pydicom.Dataset) -> int:
    rsp = assoc.send_c_store(ds)  # type: ignore[attr-defined]
    return int(rsp.Status)


# ----------------------------------------------------------------------------- load
def test_load_four_associations_of_100_instances(tmp_path: Path) -> None:
    sent: dict[str, pydicom.Dataset] = {}
    folders = []
    for k in range(4):
        folders.append(tmp_path / f"in{k}")
        sent.update(make_instances(folders[-1], 100, seed=k))
    with started(tmp_path / "store") as node:
        t0 = time.perf_counter()
        procs = [subprocess.Popen(_cmd(["storescu", "-aec", "MIC", "-aet", f"LOAD{k}", "+sd",
                                        "127.0.0.1", str(node.port), str(f)]),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                 for k, f in enumerate(folders)]
        outs = [p.communicate(timeout=300)[0] for p in procs]
        seconds = time.perf_counter() - t0
        assert [p.returncode for p in procs] == [0] * 4, outs
        node.wait_for(r"association LOAD\d@.* released after .*: stored 100, failed 0", 4)
        rows = assert_store_consistent(node.store)
        assert sorted(rows) == sorted(sent)  # nothing lost, nothing extra
        print(f"load: 400 instances over 4 associations in {seconds:.1f} s "
              f"({400 / seconds:.0f} instances/s)")
        # the index answers for them too: 4 studies of 100
        qdir = tmp_path / "find"
        qdir.mkdir()
        node.dcmtk("findscu", "-S", "-X", "-od", str(qdir), "-k", "QueryRetrieveLevel=STUDY",
                   "-k", "StudyInstanceUID", "-k", "NumberOfStudyRelatedInstances")
        counts = [int(pydicom.dcmread(p).NumberOfStudyRelatedInstances)
                  for p in qdir.glob("rsp*.dcm")]
        assert counts == [100] * 4


# ----------------------------------------------------------------------------- faults
def test_sigkill_mid_transfer_then_restart_and_resend(tmp_path: Path) -> None:
    sent = make_instances(tmp_path / "in", 40, size=512)
    store = tmp_path / "store"
    node = Node(store)
    try:
        sender = subprocess.Popen(_cmd(["storescu", "-aec", "MIC", "-nh", "+sd", "127.0.0.1",
                                        str(node.port), str(tmp_path / "in")]),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        node.wait_for(r"store .*: stored mic", 5, timeout=120)
        node.kill()  # SIGKILL, in the middle of the association
        sender.communicate(timeout=60)
        assert sender.returncode != 0  # the sender saw the node go
        acknowledged = sum("stored mic" in x for x in node.lines)
        assert acknowledged < len(sent)

        node.start()  # same store: recovery runs first
        rows = assert_store_consistent(store)
        # every acknowledged instance is there (and maybe one written but not yet acknowledged
        # was kept: it is complete and indexed), each file whole
        assert len(rows) >= acknowledged
        for uid, (path, _) in rows.items():
            assert np.array_equal(pydicom.dcmread(store / path).pixel_array,
                                  sent[uid].pixel_array)
        node.dcmtk("storescu", "+sd", files=(str(tmp_path / "in"),))  # resend all
        node.wait_for(r"association STORESCU@.* released after .*: stored 40, failed 0")
        assert sorted(assert_store_consistent(store)) == sorted(sent)
    finally:
        node.stop()


def _small_disk(path: Path) -> str:
    """A 1 MiB tmpfs at ``path`` if this process may mount one, else '' (the caller limits
    the node's file size with RLIMIT_FSIZE instead)."""
    path.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return ""
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)],
                       capture_output=True, text=True)
    return "tmpfs" if r.returncode == 0 else ""


def test_full_disk_gives_a_failure_status_never_a_silent_loss(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    how = _small_disk(disk)
    preexec = None
    if not how:
        import resource

        def preexec() -> None:  # files of the node may not exceed 256 KiB
            resource.setrlimit(resource.RLIMIT_FSIZE, (256 << 10, 256 << 10))
        how = "RLIMIT_FSIZE 256 KiB"
    print(f"full disk simulated with {how}")
    try:
        small = make_instances(tmp_path / "small", 10, seed=1)
        big = make_instances(tmp_path / "big", 12, size=512, noise=True, seed=2)  # ~380 KB each
        statuses: dict[str, int] = {}
        with started(disk / "store", preexec=preexec) as node:
            assoc = scu(node)
            for uid, ds in list(small.items()) + list(big.items()):
                statuses[uid] = status_of(assoc, ds)
            assoc.release()
            failed = {u for u, s in statuses.items() if s != 0}
            assert failed, "the disk never filled"
            fails = [x for x in node.lines if "FAILED" in x]
            assert {statuses[u] for u in failed} == {0xA700}, fails  # Out of Resources
            assert node.log.count("FAILED (0xA700)") == len(failed)
            rows = assert_store_consistent(node.store)
            assert set(rows) == set(statuses) - failed  # acknowledged == stored
            for uid, (path, _) in rows.items():
                ds = pydicom.dcmread(node.store / path)
                assert np.array_equal(ds.pixel_array, {**small, **big}[uid].pixel_array)
            node.dcmtk("echoscu")  # still serving
        assert node.proc.returncode == 0
    finally:
        if how == "tmpfs":
            subprocess.run(["umount", str(disk)], check=False)


def test_corrupt_pixel_data_is_refused_and_logged(tmp_path: Path) -> None:
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    short = copy.deepcopy(ct)
    short.SOPInstanceUID = generate_uid()
    short.PixelData = ct.PixelData[: len(ct.PixelData) // 2]  # cut short
    bad_mic = mic.dicom.compress(pydicom.dcmread(get_testdata_file("CT_small.dcm")))
    bad_mic.SOPInstanceUID = generate_uid()
    frame = bytearray(bad_mic.PixelData)
    frame[-200] ^= 0xFF  # inside the .mic stream: its CRC fails
    bad_mic.PixelData = bytes(frame)
    jpeg = pydicom.dcmread(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm"))
    jpeg.SOPInstanceUID = generate_uid()
    jpeg.PixelData = jpeg.PixelData[: len(jpeg.PixelData) // 3]  # codestream cut
    contexts = [build_context(CTImageStorage, ["1.2.840.10008.1.2.1"]),
                build_context(CTImageStorage, [str(MIC_TRANSFER_SYNTAX)]),
                build_context(jpeg.SOPClassUID, [str(jpeg.file_meta.TransferSyntaxUID)]),
                build_context(Verification)]
    with started(tmp_path / "store") as node:
        assoc = scu(node, *contexts)
        for ds in (short, bad_mic, jpeg):
            assert status_of(assoc, ds) == 0xC000, ds.SOPInstanceUID
        assert status_of(assoc, ct) == 0x0000  # the association goes on
        assoc.release()
        assert node.log.count("FAILED: refused (0xC000), pixel data cannot be decoded") == 3
        assert "MicChecksumError" in node.log or "MicFormatError" in node.log
        assert sorted(assert_store_consistent(node.store)) == [str(ct.SOPInstanceUID)]
        node.dcmtk("echoscu")
    assert node.proc.returncode == 0


# ----------------------------------------------------------------------------- security
def test_unknown_calling_ae_is_rejected(tmp_path: Path) -> None:
    with started(tmp_path / "store", "--allow-ae", "GOODSCU", "--allow-ae", "OTHER") as node:
        bad = node.dcmtk("echoscu", "-aet", "BADSCU", check=False)
        assert bad.returncode != 0 and "Rejected" in bad.stdout + bad.stderr
        node.wait_for(r"association BADSCU@127\.0\.0\.1:\d+ rejected")
        bad = node.dcmtk("storescu", "-aet", "BADSCU", files=(str(LOCAL / "cr_mono1_8bit.dcm"),),
                         check=False)
        assert bad.returncode != 0
        node.dcmtk("echoscu", "-aet", "GOODSCU")
        node.dcmtk("storescu", "-aet", "OTHER", files=(str(LOCAL / "cr_mono1_8bit.dcm"),))
        assert len(index_rows(node.store)) == 1


def test_tls_with_a_self_signed_certificate(tmp_path: Path) -> None:
    _need("openssl")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"])
    with started(tmp_path / "store", "--tls-cert", str(cert), "--tls-key", str(key)) as node:
        assert "with TLS" in node.log
        # DCMTK over TLS, trusting the node's certificate
        node.dcmtk("echoscu", "+tla", "+cf", str(cert))
        node.dcmtk("storescu", "+tla", "+cf", str(cert),
                   files=(str(LOCAL / "mr_multiframe_12bit.dcm"),))
        # a plain TCP peer gets nowhere, nor one that does not trust the certificate
        assert node.dcmtk("echoscu", check=False).returncode != 0
        assert node.dcmtk("echoscu", "+tla", check=False).returncode != 0
        # pynetdicom over TLS
        import ssl

        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cert))
        ctx.check_hostname = False
        assoc = scu(node, tls_args=(ctx, None))
        assert status_of(assoc, pydicom.dcmread(get_testdata_file("CT_small.dcm"))) == 0
        assoc.release()
        assert len(index_rows(node.store)) == 2


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_path_traversal_stays_inside_the_store(tmp_path: Path) -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    evil = {"StudyInstanceUID": "../../../../escape", "SeriesInstanceUID": "..",
            "SOPInstanceUID": "../../../../../tmp/evil", "PatientID": "../../../../etc/passwd"}
    for k, v in evil.items():
        setattr(ds, k, v)
    ds.file_meta.MediaStorageSOPInstanceUID = evil["SOPInstanceUID"]
    (tmp_path / "sentinel").mkdir()
    outside = tmp_path / "sentinel"
    store = outside / "store"
    before = sorted(p for p in tmp_path.rglob("*") if store not in p.parents)
    with started(store) as node:
        assoc = scu(node)
        assert status_of(assoc, ds) == 0
        ds2 = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds2.SOPInstanceUID = "/" + "a" * 40  # an absolute path
        assert status_of(assoc, ds2) == 0
        assoc.release()
        # found and retrieved by its odd UID
        qdir = tmp_path / "find"
        qdir.mkdir()
        node.dcmtk("findscu", "-S", "-X", "-od", str(qdir), "-k", "QueryRetrieveLevel=IMAGE",
                   "-k", f"StudyInstanceUID={evil['StudyInstanceUID']}",
                   "-k", f"SeriesInstanceUID={evil['SeriesInstanceUID']}", "-k", "SOPInstanceUID")
        (rsp,) = [pydicom.dcmread(p) for p in qdir.glob("rsp*.dcm")]
        assert rsp.SOPInstanceUID == evil["SOPInstanceUID"]
    after = sorted(p for p in tmp_path.rglob("*") if store not in p.parents and p != store
                   and qdir not in p.parents and p != qdir)
    assert after == before  # nothing written outside the store
    rows = assert_store_consistent(store)
    assert len(rows) == 2
    for path, _ in rows.values():
        full = (store / path).resolve()
        assert full.is_relative_to(store.resolve() / "studies") and ".." not in path
    assert not Path("/tmp/evil.dcm").exists() and not (tmp_path / "escape").exists()


def _stored_lossily(tmp_path: Path, sent: pydicom.Dataset, args: list[str],
                    note: str) -> tuple[str, pydicom.Dataset]:
    """Send ``sent`` to a node started with ``args`` (a lossy ``--quality``), wait for its
    log line "``note``, DICOM lossy rules applied", check the store and return the one
    stored instance: (its index UID, the dataset read back)."""
    with started(tmp_path / "store", *args) as node:
        assoc = scu(node)
        assert status_of(assoc, sent) == 0
        assoc.release()
        node.wait_for(f"{note}, DICOM lossy rules applied")
        rows = assert_store_consistent(node.store)
        (uid,) = rows
        return uid, pydicom.dcmread(node.store / rows[uid][0])


def test_lossy_storage_applies_the_dicom_rules(tmp_path: Path) -> None:
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    try:
        mic.encode(ct.pixel_array, quality=6)
    except mic.MicUnsupportedError as exc:  # pragma: no cover - a build without lossy mode
        pytest.skip(f"no lossy mode here: {exc}")
    uid, ds = _stored_lossily(tmp_path, ct, ["--quality", "6"], "lossy quality 6")
    assert uid != ct.SOPInstanceUID  # a lossy copy is a new instance
    assert ds.LossyImageCompression == "01" and ds.ImageType[0] == "DERIVED"
    assert ds.file_meta.TransferSyntaxUID == MIC_TRANSFER_SYNTAX
    err = np.abs(ds.pixel_array.astype(int) - ct.pixel_array.astype(int))
    assert 0 < err.max() < 200


def test_lossy_storage_with_the_generative_model_names_it(tmp_path: Path) -> None:
    """``--model gan``: the stored instance's Lossy Image Compression Method names the
    generative method (MIC_GAN) and its stream carries the generative flag; --model
    without --quality is refused."""
    from click.testing import CliRunner

    from mic.cli import main as cli
    from mic.dicom import lossy_method

    res = CliRunner().invoke(cli, ["dicom", "serve", str(tmp_path / "x"), "--model", "gan"])
    assert res.exit_code != 0 and "--quality" in res.output
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    _, ds = _stored_lossily(tmp_path, ct, ["--quality", "3", "--model", "gan"],
                            "lossy quality 3, model gan")
    assert lossy_method("gan") == "MIC_GAN"
    methods = ds.LossyImageCompressionMethod
    assert "MIC_GAN" in ([methods] if isinstance(methods, str) else list(methods))
    frag = pydicom.encaps.generate_fragmented_frames(ds.PixelData)
    assert mic.info(b"".join(next(frag))).generative


def test_a_mic_aware_peer_gets_the_stored_files_as_they_are(tmp_path: Path) -> None:
    """C-GET by a peer that proposes mic's syntax first (pynetdicom with mic.dicom): the
    stored .mic files go out unchanged; a peer without it gets Explicit VR Little Endian."""
    from pynetdicom import build_role
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet as GET

    folder, study = study_folder(tmp_path)
    sent = by_sop(folder)
    classes = sorted({str(d.SOPClassUID) for d in sent.values()})
    with started(tmp_path / "store") as node:
        node.dcmtk("storescu", "+sd", "-xy", files=(str(folder),))
        node.wait_for(r"association STORESCU@.* released")
        rows = index_rows(node.store)
        for syntaxes, calling in (([str(MIC_TRANSFER_SYNTAX), "1.2.840.10008.1.2.1"], "MICPEER"),
                                  (["1.2.840.10008.1.2.1"], "PLAINPEER")):
            got: dict[str, pydicom.Dataset] = {}

            def on_store(event: object) -> int:
                ds = event.dataset  # type: ignore[attr-defined]
                ds.file_meta = event.file_meta  # type: ignore[attr-defined]
                got[str(ds.SOPInstanceUID)] = ds
                return 0

            ae = AE(ae_title=calling)
            ae.add_requested_context(GET)
            for c in classes:
                ae.add_requested_context(c, syntaxes)
                # the lossy JPEG's own syntax in a context of its own (one context gets one
                # accepted syntax: proposed together with mic's, mic would be chosen)
                for ts in {str(d.file_meta.TransferSyntaxUID) for d in sent.values()
                           if str(d.SOPClassUID) == c and d.file_meta.TransferSyntaxUID
                           .is_compressed}:
                    ae.add_requested_context(c, [ts])
            assoc = ae.associate("127.0.0.1", node.port, ae_title="MIC",
                                 ext_neg=[build_role(c, scp_role=True) for c in classes],
                                 evt_handlers=[(evt.EVT_C_STORE, on_store)])
            q = pydicom.Dataset()
            q.QueryRetrieveLevel, q.StudyInstanceUID = "STUDY", study
            statuses = [int(s.Status) for s, _ in assoc.send_c_get(q, GET) if s]
            assoc.release()
            assert statuses[-1] == 0, statuses
            assert_same_instances(sent, got)
            for uid, ds in got.items():
                stored = pydicom.dcmread(node.store / rows[uid][0])
                if calling == "MICPEER" or stored.file_meta.TransferSyntaxUID.is_compressed \
                        and stored.file_meta.TransferSyntaxUID != MIC_TRANSFER_SYNTAX:
                    assert ds.file_meta.TransferSyntaxUID == stored.file_meta.TransferSyntaxUID
                    assert ds.PixelData == stored.PixelData  # as stored, not recoded
                else:
                    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
