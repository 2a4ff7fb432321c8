"""Lossless compression ratio of the mic transfer syntax per modality, on real DICOM.

Usage (prints Markdown tables)::

    python -m mic.dicom.report --pydicom-testdata [--corpus ../shared/corpus] [--compare] [PATH ...]

* ``PATH``: DICOM files or folders (walked recursively);
* ``--pydicom-testdata``: every file bundled with pydicom (``pydicom/data/test_files``);
* ``--corpus DIR``: the real images of the project corpus (``DIR/manifest.csv``, split
  ``--split``, default ``eval``) wrapped into DICOM datasets in memory: stored values,
  Bits Stored, signedness (``offset`` column), photometric interpretation and modality
  from the manifest; the headers are synthetic, the pixels are the originals.

For every object with pixel data mic can code (after pydicom decodes a compressed source,
when it can) it measures ``raw`` = Rows x Columns x Samples x Frames x Bits Allocated / 8,
``mic`` = the bytes of the encapsulated .mic streams, checks that ``pixel_array`` reads
back identical, and reports ratio = raw / mic and bits per sample; ``--compare`` adds the
ratios of JPEG-LS and reversible JPEG 2000 (imagecodecs, each checked lossless) on the same
stored values.  Objects without pixel
data, pixel data mic cannot code and sources pydicom cannot decode here are listed as
skipped.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import sys
import warnings
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..extras import missing_message

__all__ = ["Row", "iter_sources", "main", "measure_dataset", "table"]


@dataclass
class Row:
    """One measured object."""

    name: str
    modality: str
    source_syntax: str
    shape: tuple[int, ...]
    bits_stored: int
    raw: int
    mic: int
    exact: bool
    digest: str = ""
    anchors: dict[str, int] | None = None

    @property
    def ratio(self) -> float:
        return self.raw / max(self.mic, 1)


def anchor_sizes(ref: np.ndarray, frames: int, bits_stored: int) -> dict[str, int]:
    """Bytes of the same frames in JPEG-LS and JPEG 2000 (reversible), via imagecodecs.

    Signed samples are offset to unsigned first (as a DICOM JPEG-LS/J2K encoder
    may do).  Each anchor is decoded and checked to be lossless; an anchor that
    fails or is not lossless is left out.  Empty without imagecodecs.
    """
    try:
        import imagecodecs
    except ImportError:
        return {}
    arr = ref.reshape((frames,) + ref.shape[1:] if frames > 1 else (1,) + ref.shape)
    if arr.dtype.kind == "i":
        arr = (arr.astype(np.int32) + (1 << (bits_stored - 1))).astype(
            np.uint16 if arr.dtype.itemsize == 2 else np.uint8)
    out: dict[str, int] = {}
    coders = {
        "JPEG-LS": (lambda f: imagecodecs.jpegls_encode(f), imagecodecs.jpegls_decode),
        "J2K": (lambda f: imagecodecs.jpeg2k_encode(
            f, level=0, reversible=True, bitspersample=max(bits_stored, 2)
            if f.dtype.itemsize == 2 else None), imagecodecs.jpeg2k_decode),
    }
    for name, (enc, dec) in coders.items():
        try:
            total = 0
            for f in arr:
                blob = enc(np.ascontiguousarray(f))
                if not np.array_equal(dec(blob).reshape(f.shape), f):
                    raise ValueError("not lossless")
                total += len(blob)
            out[name] = total
        except Exception:  # noqa: BLE001, S112 - an anchor that cannot code this is left out
            continue
    return out


def measure_dataset(ds: Any, name: str, *, compare: bool = False) -> Row:
    """Compress ``ds`` (a copy is not made: it is modified) losslessly and measure it.

    >>> import pydicom
    >>> from pydicom.data import get_testdata_file
    >>> r = measure_dataset(pydicom.dcmread(get_testdata_file("CT_small.dcm")), "CT_small")
    >>> r.modality, r.exact, r.ratio > 1.5
    ('CT', True, True)
    """
    import pydicom
    from pydicom.encaps import generate_frames

    from . import compress

    src_ts = ds.file_meta.TransferSyntaxUID
    nf = int(ds.get("NumberOfFrames", 1) or 1)
    raw = int(ds.Rows) * int(ds.Columns) * int(ds.SamplesPerPixel) * nf \
        * int(ds.BitsAllocated) // 8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ds.pixel_array.copy()
        compress(ds)
        buf = io.BytesIO()
        pydicom.dcmwrite(buf, ds, enforce_file_format=True)
        back = pydicom.dcmread(io.BytesIO(buf.getvalue()))
        arr = back.pixel_array
    frames = list(generate_frames(back.PixelData, number_of_frames=nf))
    anchors = anchor_sizes(ref, nf, int(ds.BitsStored)) if compare else None
    return Row(anchors=anchors, name=name, modality=str(ds.get("Modality", "") or "?"),
               source_syntax=src_ts.name, shape=tuple(ref.shape),
               bits_stored=int(ds.BitsStored), raw=raw, mic=sum(len(f) for f in frames),
               exact=bool(np.array_equal(arr, ref)),
               digest=hashlib.sha1(np.ascontiguousarray(ref).tobytes()).hexdigest())


def _dicom_files(paths: list[str]) -> Iterator[Path]:
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(q for q in p.rglob("*") if q.is_file())
        elif p.is_file():
            yield p


def _corpus(root: Path, split: str) -> Iterator[tuple[str, Any]]:
    """The corpus PNGs of ``split`` as in-memory DICOM datasets (synthetic headers)."""
    from PIL import Image
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from ..codec import bits_used

    with open(root / "manifest.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == split]
    for r in rows:
        arr = np.asarray(Image.open(root / r["png"]))
        offset = int(float(r["offset"] or 0))
        if offset:
            arr = (arr.astype(np.int32) - offset).astype(np.int16)
        pm = r["photometric"] or "MONOCHROME2"
        if arr.ndim == 3:
            arr, pm = arr[..., :3], "RGB"
        elif pm not in ("MONOCHROME1", "MONOCHROME2"):
            pm = "MONOCHROME2"
        meta = FileMetaDataset()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        ds = FileDataset(r["png"], {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.Modality = r["modality"]
        ds.Rows, ds.Columns = arr.shape[:2]
        ds.SamplesPerPixel = 3 if arr.ndim == 3 else 1
        if arr.ndim == 3:
            ds.PlanarConfiguration = 0
        ds.PhotometricInterpretation = pm
        ds.BitsAllocated = 8 * arr.dtype.itemsize
        lo, hi = int(arr.min()), int(arr.max())
        need = bits_used(lo, hi, arr.dtype.kind == "i")
        bs = int(r["bits_stored"] or ds.BitsAllocated)
        ds.BitsStored = min(max(bs, need), ds.BitsAllocated)
        ds.HighBit = ds.BitsStored - 1
        ds.PixelRepresentation = 1 if arr.dtype.kind == "i" else 0
        ds.PixelData = np.ascontiguousarray(arr, arr.dtype.newbyteorder("<")).tobytes()
        yield f"corpus:{r['png']}", ds


def iter_sources(paths: list[str], pydicom_testdata: bool, corpus: str | None,
                 split: str) -> Iterator[tuple[str, str, Any]]:
    """(group, name, dataset-or-reason) for every input; reason strings mean 'skipped'."""
    import pydicom

    from ._plugin import check_pixel_module
    from .convert import _can_decode

    files: list[tuple[str, Path]] = [("files", p) for p in _dicom_files(paths)]
    if pydicom_testdata:
        d = Path(pydicom.__file__).parent / "data" / "test_files"
        files += [("pydicom", p) for p in sorted(d.glob("*.dcm"))]
    for group, p in files:
        try:
            ds = pydicom.dcmread(p)
        except Exception as exc:  # noqa: BLE001 - report and go on
            yield group, p.name, f"unreadable: {type(exc).__name__}"
            continue
        if "PixelData" not in ds:
            yield group, p.name, "no Pixel Data"
            continue
        try:
            ts = ds.file_meta.TransferSyntaxUID
            pm = str(ds.PhotometricInterpretation)
            if not (ts.is_compressed and "YBR" in pm):
                check_pixel_module(int(ds.BitsAllocated), int(ds.BitsStored),
                                   int(ds.SamplesPerPixel), pm, None)
            why = _can_decode(ts) if ts.is_compressed else ""
        except Exception as exc:  # noqa: BLE001
            why = f"{type(exc).__name__}: {exc}"
        yield group, p.name, (why or ds)
    if corpus:
        for name, ds in _corpus(Path(corpus), split):
            yield f"corpus {split}", name, ds


def table(rows: list[Row], key: str = "modality") -> str:
    """Markdown table of ratios grouped by ``key`` (aggregate ratio = total raw / total mic)."""
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        groups[getattr(r, key)].append(r)
    names = sorted({n for r in rows for n in (r.anchors or {})})
    out = [f"| {key} | objects | raw bytes | mic bytes | ratio | bits/sample | "
           "min-max ratio | exact |" + "".join(f" {n} ratio |" for n in names),
           "|---|---|---|---|---|---|---|---|" + "---|" * len(names)]

    def anchor_cols(g: list[Row]) -> str:
        cols = ""
        for n in names:
            have = [r for r in g if r.anchors and n in r.anchors]
            if len(have) == len(g):
                cols += f" {sum(r.raw for r in g) / max(1, sum(r.anchors[n] for r in g)):.2f} |"
            else:
                cols += " - |"
        return cols

    for k in sorted(groups):
        g = groups[k]
        raw, mb = sum(r.raw for r in g), sum(r.mic for r in g)
        samples = sum(int(np.prod(r.shape)) for r in g)
        rs = [r.ratio for r in g]
        out.append(f"| {k} | {len(g)} | {raw:,} | {mb:,} | {raw / max(mb, 1):.2f} | "
                   f"{8 * mb / samples:.2f} | {min(rs):.2f}-{max(rs):.2f} | "
                   f"{sum(r.exact for r in g)}/{len(g)} |" + anchor_cols(g))
    raw, mb = sum(r.raw for r in rows), sum(r.mic for r in rows)
    out.append(f"| **all** | {len(rows)} | {raw:,} | {mb:,} | {raw / max(mb, 1):.2f} | "
               f"{8 * mb / max(1, sum(int(np.prod(r.shape)) for r in rows)):.2f} | | "
               f"{sum(r.exact for r in rows)}/{len(rows)} |" + anchor_cols(rows))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    ap = argparse.ArgumentParser(prog="python -m mic.dicom.report", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="*")
    ap.add_argument("--pydicom-testdata", action="store_true")
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--split", default="eval")
    ap.add_argument("--files", action="store_true", help="also list every object")
    ap.add_argument("--compare", action="store_true",
                    help="also code every object with JPEG-LS and JPEG 2000 (imagecodecs)")
    a = ap.parse_args(argv)
    if a.compare:
        msg = missing_message("python -m mic.dicom.report --compare", "dicom", ["imagecodecs"])
        if msg:
            ap.error(msg)
    from . import LOSSY_SOURCE_SYNTAXES

    rows: dict[str, list[Row]] = defaultdict(list)
    skipped: list[str] = []
    seen: dict[str, str] = {}
    for group, name, item in iter_sources(a.paths, a.pydicom_testdata, a.corpus, a.split):
        if isinstance(item, str):
            skipped.append(f"{group}: {name}: {item.splitlines()[0][:160]}")
            continue
        if (str(item.file_meta.TransferSyntaxUID) in LOSSY_SOURCE_SYNTAXES
                or item.get("LossyImageCompression") == "01"):
            group += " (pixels already lossy compressed once)"
        try:
            row = measure_dataset(item, name, compare=a.compare)
        except Exception as exc:  # noqa: BLE001
            skipped.append(f"{group}: {name}: {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:160]}")
            continue
        if not row.exact:
            print(f"NOT EXACT: {name}", file=sys.stderr)
        if row.digest in seen:  # same pixels in another syntax: measured once
            skipped.append(f"{group}: {name}: same pixels as {seen[row.digest]}")
            if not row.exact:
                rows[group].append(row)
            continue
        seen[row.digest] = name
        rows[group].append(row)
    for group, rs in rows.items():
        print(f"\n### {group}: lossless ratio per modality\n")
        print(table(rs))
        if a.files:
            print("\n| object | modality | source syntax | shape | bits stored | ratio |")
            print("|---|---|---|---|---|---|")
            for r in rs:
                print(f"| {r.name} | {r.modality} | {r.source_syntax} | "
                      f"{'x'.join(map(str, r.shape))} | {r.bits_stored} | {r.ratio:.2f} |")
    if skipped:
        print(f"\nskipped ({len(skipped)}):")
        for s in skipped:
            print(f"- {s}")
    return 0 if all(r.exact for rs in rows.values() for r in rs) else 1  # exact = lossless


if __name__ == "__main__":  # pragma: no cover
    from . import register

    register()
    sys.exit(main())
