"""Throughput and compression of ``mic dicom serve`` with DCMTK peers on this machine.

    .venv/bin/python benches/dicom_node_bench.py /path/to/corpus/eval [--out FILE.md]

Builds DICOM instances from the corpus's images (one study, one series per image, the
manifest's bits stored and photometric interpretation) plus the test study of
``tests/data/dicom``, then on 127.0.0.1:

* store: ``storescu`` sends them in one association; then 4 concurrent ``storescu``
  associations send 100 instances each (512 x 512 CT slices of the corpus, shifted);
* retrieve: ``getscu`` (Explicit VR Little Endian), ``movescu`` to a ``storescp`` that
  prefers JPEG-LS lossless, and a pynetdicom C-GET that proposes mic's syntax (a mic-aware
  peer: the stored files go out as they are);
* every retrieved instance is checked pixel for pixel against what was sent;
* the index's bytes received / stored give the ratios, per modality.

Needs DCMTK (``make system-deps``) and pynetdicom.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image

import mic.dicom  # noqa: F401 - reads mic and (with imagecodecs) JPEG-LS files
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

ROOT = Path(__file__).resolve().parents[1]
SC = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage
CLASSES = {"CT": "1.2.840.10008.5.1.4.1.1.2", "MR": "1.2.840.10008.5.1.4.1.1.4",
           "CR": "1.2.840.10008.5.1.4.1.1.1", "DX": "1.2.840.10008.5.1.4.1.1.1.1",
           "US": "1.2.840.10008.5.1.4.1.1.6.1", "NM": "1.2.840.10008.5.1.4.1.1.20",
           "PT": "1.2.840.10008.5.1.4.1.1.128", "XA": "1.2.840.10008.5.1.4.1.1.12.1"}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrap(arr: np.ndarray, modality: str, bits: int, photometric: str, study: str,
         out: Path) -> pydicom.Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CLASSES.get(modality, SC)
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(out), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, generate_uid()
    ds.PatientID, ds.PatientName, ds.Modality = "BENCH", "BENCH^NODE", modality
    ds.StudyDate, ds.InstanceNumber = "20261205", 1
    ds.Rows, ds.Columns = arr.shape[:2]
    rgb = arr.ndim == 3
    ds.SamplesPerPixel = 3 if rgb else 1
    ds.PhotometricInterpretation = "RGB" if rgb else (photometric or "MONOCHROME2")
    if rgb:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = 8 if arr.dtype == np.uint8 else 16
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits - 1, 0
    ds.PixelData = np.ascontiguousarray(arr).tobytes()
    ds.save_as(out, enforce_file_format=True)
    return ds


def build_corpus(eval_dir: Path, folder: Path) -> dict[str, str]:
    """DICOM files from the corpus PNGs; returns SOP Instance UID -> modality."""
    manifest = {Path(r["png"]).name: r for r in csv.DictReader(
        open(eval_dir.parent / "manifest.csv"))}
    folder.mkdir(parents=True)
    study, out = generate_uid(), {}
    for png in sorted(eval_dir.rglob("*.png")):
        row = manifest.get(png.name, {})
        arr = np.asarray(Image.open(png))
        bits = int(row.get("bits_stored") or (8 if arr.dtype == np.uint8 else 16))
        ds = wrap(arr, png.parent.name, bits, row.get("photometric", ""), study,
                  folder / f"{len(out):02d}_{png.stem[:40]}.dcm")
        out[str(ds.SOPInstanceUID)] = png.parent.name
    for p in sorted((ROOT / "tests" / "data" / "dicom").glob("*.dcm")):
        ds = pydicom.dcmread(p)
        ds.StudyInstanceUID = study
        ds.save_as(folder / p.name)
        out[str(ds.SOPInstanceUID)] = f"{ds.Modality} (tests/data)"
    return out


def load_set(eval_dir: Path, folder: Path, n: int, seed: int) -> None:
    ct = sorted((eval_dir / "CT").glob("*.png"))[seed % 3]
    arr = np.asarray(Image.open(ct)).astype(np.uint16)
    folder.mkdir(parents=True)
    study = generate_uid()
    for i in range(n):
        wrap(np.roll(arr, i, axis=1), "CT", 12 if arr.max() < 4096 else 16, "MONOCHROME2",
             study, folder / f"i{i:04d}.dcm")


class Node:
    def __init__(self, store: Path, *args: str) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen([sys.executable, "-m", "mic.cli", "dicom", "serve",
                                      str(store), "--port", "0", *args],
                                     stderr=subprocess.PIPE, text=True)
        threading.Thread(target=lambda: [self.lines.append(x) for x in self.proc.stderr],
                         daemon=True).start()
        while not any("listening on" in x for x in self.lines):
            if self.proc.poll() is not None:
                raise SystemExit("node did not start:\n" + "".join(self.lines))
            time.sleep(0.05)
        self.port = int(re.search(r"127\.0\.0\.1:(\d+)", next(
            x for x in self.lines if "listening on" in x)).group(1))

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def pixels_by_sop(folder: Path) -> dict[str, np.ndarray]:
    out = {}
    for p in folder.rglob("*"):
        if p.is_file():
            ds = pydicom.dcmread(p)
            out[str(ds.SOPInstanceUID)] = ds.pixel_array
    return out


def mic_get(port: int, study: str, sop_classes: set[str], out: Path) -> float:
    """A mic-aware C-GET requestor (pynetdicom): proposes mic's syntax first."""
    import mic.dicom
    from pynetdicom import AE, build_role, evt
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet

    out.mkdir()
    ae = AE(ae_title="MICAWARE")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    for c in sorted(sop_classes):
        ae.add_requested_context(c, [str(mic.dicom.MIC_TRANSFER_SYNTAX), ExplicitVRLittleEndian])
    roles = [build_role(c, scp_role=True) for c in sorted(sop_classes)]

    def on_store(event: object) -> int:
        ds = event.dataset  # type: ignore[attr-defined]
        ds.file_meta = event.file_meta  # type: ignore[attr-defined]
        ds.save_as(out / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)
        return 0

    t0 = time.perf_counter()
    assoc = ae.associate("127.0.0.1", port, ae_title="MIC", ext_neg=roles,
                         evt_handlers=[(evt.EVT_C_STORE, on_store)])
    q = pydicom.Dataset()
    q.QueryRetrieveLevel, q.StudyInstanceUID = "STUDY", study
    for _status, _ in assoc.send_c_get(q, StudyRootQueryRetrieveInformationModelGet):
        pass
    assoc.release()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("eval_dir", type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mic-node-bench-"))
    lines: list[str] = []
    say = lines.append
    try:
        modality = build_corpus(args.eval_dir, work / "study")
        files = sorted((work / "study").iterdir())
        sent = pixels_by_sop(work / "study")
        study = str(pydicom.dcmread(files[0]).StudyInstanceUID)
        sop_classes = {str(pydicom.dcmread(f, stop_before_pixels=True).SOPClassUID)
                       for f in files}
        mb = sum(f.stat().st_size for f in files) / 1e6
        for k in range(4):
            load_set(args.eval_dir, work / f"load{k}", 100, k)
        dest = free_port()
        node = Node(work / "store", f"--move-dest=JLS=127.0.0.1:{dest}")
        try:
            port = str(node.port)
            t = timed(["storescu", "-aec", "MIC", "+sd", "127.0.0.1", port, str(work / "study")])
            say(f"- store, one association: {len(files)} instances ({mb:.1f} MB as Explicit "
                f"VR Little Endian) in {t:.2f} s: **{len(files) / t:.1f} instances/s**, "
                f"{mb / t:.1f} MB/s")
            t0 = time.perf_counter()
            procs = [subprocess.Popen(["storescu", "-aec", "MIC", "-aet", f"LOAD{k}", "+sd",
                                       "127.0.0.1", port, str(work / f"load{k}")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                     for k in range(4)]
            assert [p.wait() for p in procs] == [0] * 4
            t = time.perf_counter() - t0
            mb4 = sum(f.stat().st_size for k in range(4)
                      for f in (work / f"load{k}").iterdir()) / 1e6
            say(f"- store, 4 concurrent associations x 100 CT slices of 512 x 512 "
                f"({mb4:.0f} MB): {t:.1f} s, **{400 / t:.1f} instances/s**, {mb4 / t:.1f} MB/s")

            t = timed(["getscu", "-aec", "MIC", "-S", "-od", str(_mk(work / "get")), "-k",
                       "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
                       "127.0.0.1", port])
            _check(sent, work / "get")
            say(f"- retrieve, C-GET by getscu (Explicit VR Little Endian, decoded from mic): "
                f"{len(files)} in {t:.2f} s, **{len(files) / t:.1f} instances/s**")
            scp = subprocess.Popen(["storescp", "--aetitle", "JLS", "+xt", "-od",
                                    str(_mk(work / "move")), str(dest)])
            time.sleep(0.5)
            try:
                t = timed(["movescu", "-aec", "MIC", "-S", "-aem", "JLS", "-k",
                           "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
                           "127.0.0.1", port])
            finally:
                scp.terminate()
                scp.wait(10)
            _check(sent, work / "move")
            say(f"- retrieve, C-MOVE to a storescp preferring JPEG-LS lossless (mic decoded, "
                f"JPEG-LS encoded and checked): {len(files)} in {t:.2f} s, "
                f"**{len(files) / t:.1f} instances/s**")
            t = mic_get(node.port, study, sop_classes, work / "micget")
            _check(sent, work / "micget")
            say(f"- retrieve, C-GET by a mic-aware pynetdicom peer (stored files sent as they "
                f"are): {len(files)} in {t:.2f} s, **{len(files) / t:.1f} instances/s**")
        finally:
            node.stop()
        stats = subprocess.run([sys.executable, "-m", "mic.cli", "dicom", "stats",
                                str(work / "store")], capture_output=True, text=True).stdout
        with sqlite3.connect(work / "store" / "index.sqlite") as db:
            rows = db.execute("SELECT sop_uid, bytes_received, bytes_stored FROM "
                              "instances").fetchall()
        per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for sop, bi, bs in rows:
            m = modality.get(sop, "CT (load set)")
            per[m][0] += 1
            per[m][1] += bi
            per[m][2] += bs
        say("")
        say("| modality | instances | bytes received | bytes stored | ratio |")
        say("|---|---|---|---|---|")
        for m, (n, bi, bs) in sorted(per.items()):
            say(f"| {m} | {n} | {bi:,} | {bs:,} | {bi / bs:.2f} |")
        st = [sum(v[i] for k, v in per.items() if k != "CT (load set)") for i in range(3)]
        say(f"| **the study (corpus eval + tests/data)** | {st[0]} | {st[1]:,} | {st[2]:,} | "
            f"**{st[1] / st[2]:.2f}** |")
        say("")
        say("`mic dicom stats` of the store:")
        say("```")
        say(stats.rstrip())
        say("```")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    head = (f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; shared with other jobs while measured.")
    text = head + "\n\n" + "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


def _mk(p: Path) -> Path:
    p.mkdir()
    return p


def _check(sent: dict[str, np.ndarray], folder: Path) -> None:
    got = pixels_by_sop(folder)
    assert sorted(got) == sorted(sent), (len(got), len(sent))
    bad = [u for u in sent if not np.array_equal(got[u], sent[u])]
    assert not bad, f"{len(bad)} retrieved instance(s) differ"


if __name__ == "__main__":
    main()
