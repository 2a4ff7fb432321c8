"""File-level DICOM conversion used by ``mic dicom compress`` / ``decompress``.

Each input file gets one :class:`mic.batch.Result` (the jobs of ``mic dicom``'s batch
runs), of status:

* ``converted`` -- pixel data (re)coded and written (Explicit VR Little Endian
  dataset encoding);
* ``kept`` -- written unchanged, byte for byte, with the reason (``error``): no Pixel Data
  (SR, SEG without pixels, RT Plan/Struct, presentation states, KOS, ...),
  pixel data mic cannot code (e.g. 32 or 1 bits allocated, YBR_FULL_422, float),
  already in the target syntax, compressed in a syntax no installed pydicom
  plugin can decode, or already lossy-compressed (:func:`lossy_source`: recoding a
  JPEG baseline or lossy JPEG 2000 losslessly makes it larger; ``recode_lossy=True``
  recodes it and keeps the result only when it is smaller);
* ``skipped`` -- not a DICOM file found in a folder (nothing written);
* ``failed`` -- reading, coding or writing raised, or a file named on its own is not
  DICOM; nothing written for it.

Writes are atomic (:func:`mic.io.atomic_output`; :func:`mic.storage.write_bytes` for
fsspec URLs): an output either appears complete or not at all.

>>> import os, tempfile, pydicom
>>> from pydicom.data import get_testdata_file
>>> out = os.path.join(tempfile.mkdtemp(), "ct.dcm")
>>> o = compress_file(get_testdata_file("CT_small.dcm"), out)
>>> o.status, o.bytes_out < o.bytes_in
('converted', True)
>>> decompress_file(out, out + ".raw.dcm", overwrite=True).status
'converted'
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import storage
from ..batch import FAILED, KEPT, SKIPPED, Result
from ..errors import MicError, MicUnsupportedError
from ..io import atomic_output

__all__ = [
    "CHANGED_BY_COMPRESSION",
    "CHANGED_BY_LOSSY",
    "CONVERTED",
    "KEPT",
    "compare_datasets",
    "compress_file",
    "decompress_file",
    "lossy_source",
]

#: A converted file's status (its pixel data recoded) and a kept one's (copied unchanged)
CONVERTED = "converted"
#: Data elements that converting the pixel data changes (besides Pixel Data and file meta).
CHANGED_BY_COMPRESSION = frozenset({"PixelData", "ExtendedOffsetTable",
                                    "ExtendedOffsetTableLengths"})
#: ... and those that a lossy conversion changes as the standard requires.
CHANGED_BY_LOSSY = frozenset({"LossyImageCompression", "LossyImageCompressionRatio",
                              "LossyImageCompressionMethod", "ImageType", "SOPInstanceUID"})


#: Transfer syntaxes whose pixel data may be lossless or lossy (the dataset's Lossy Image
#: Compression, else the codestream, says which): JPEG 2000 and HTJ2K.
MAYBE_LOSSY_SYNTAXES = frozenset({"1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.93",
                                  "1.2.840.10008.1.2.4.203"})
#: Video transfer syntaxes (MPEG-2, MPEG-4 AVC, HEVC): always lossy.
VIDEO_SYNTAXES = frozenset(f"1.2.840.10008.1.2.4.{n}" for n in range(100, 109))
NOT_DICOM = "not a DICOM file (pydicom found no DICOM preamble or file meta)"


def _j2k_irreversible(frame: bytes) -> bool | None:
    """True if a JPEG 2000 codestream's COD segment names the 9/7 irreversible wavelet,
    False for the 5/3 reversible one, None if no COD segment is found in its first bytes.

    >>> cod = bytes.fromhex("ff4fff52000c000000010005040400")  # SOC, COD up to its style
    >>> [_j2k_irreversible(cod + bytes([t])) for t in (0, 1)], _j2k_irreversible(b"")
    ([True, False], None)
    """
    i = frame.find(b"\xff\x52", 0, 4096)
    if i < 0 or len(frame) < i + 14:
        return None
    return frame[i + 13] == 0


def lossy_source(ds: Any, tsyntax: Any) -> str:
    """Why ``ds`` (in ``tsyntax``) holds pixel data that was already lossy-compressed, or ''.

    Lossy: the always-lossy syntaxes (JPEG baseline/extended, JPEG-LS near-lossless, video),
    mic's own lossy streams and JPEG 2000 / HTJ2K flagged lossy by (0028,2110) Lossy Image
    Compression "01"; a JPEG 2000 without that attribute is lossy when its codestream uses the
    9/7 irreversible wavelet.  Native (uncompressed) pixel data is never "lossy-compressed"
    here: recoding it losslessly can only help, whatever its history.

    >>> from pydicom import dcmread
    >>> from pydicom.data import get_testdata_file
    >>> ds = dcmread(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm"))
    >>> lossy_source(ds, ds.file_meta.TransferSyntaxUID)
    'already lossy-compressed (JPEG Baseline (Process 1))'
    >>> ds = dcmread(get_testdata_file("CT_small.dcm"))
    >>> lossy_source(ds, ds.file_meta.TransferSyntaxUID)
    ''
    """
    from . import LOSSY_SOURCE_SYNTAXES, MIC_TRANSFER_SYNTAX

    if not tsyntax or not tsyntax.is_compressed:
        return ""
    name = f"already lossy-compressed ({tsyntax.name})"
    flag = str(ds.get("LossyImageCompression", "") or "").strip()
    if str(tsyntax) in LOSSY_SOURCE_SYNTAXES or str(tsyntax) in VIDEO_SYNTAXES:
        return name
    if tsyntax == MIC_TRANSFER_SYNTAX or str(tsyntax) in MAYBE_LOSSY_SYNTAXES:
        if flag == "01":
            return name
        if flag == "00" or tsyntax == MIC_TRANSFER_SYNTAX:
            return ""
        try:
            from pydicom.encaps import generate_frames

            nframes = int(ds.get("NumberOfFrames", 1) or 1)
            first = next(generate_frames(ds.PixelData, number_of_frames=nframes))
        except Exception:  # noqa: BLE001 - unreadable encapsulation: decoding will say so
            return ""
        if _j2k_irreversible(first):
            return f"{name[:-1]}, 9/7 irreversible wavelet)"
    return ""


def _read(path: str) -> Any:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        if storage.is_url(path):
            import io

            return pydicom.dcmread(io.BytesIO(storage.read_bytes(path)))
        return pydicom.dcmread(path)
    except InvalidDicomError:
        return None


def _write(ds: Any, dst: str, overwrite: bool) -> int:
    import pydicom

    if storage.is_url(dst):
        import io

        buf = io.BytesIO()
        pydicom.dcmwrite(buf, ds, enforce_file_format=True)
        storage.makedirs(storage.parent(dst))
        storage.write_bytes(dst, buf.getvalue(), overwrite=overwrite)
        return len(buf.getvalue())
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    with atomic_output(dst, overwrite=overwrite) as f:
        pydicom.dcmwrite(f, ds, enforce_file_format=True)
    return os.path.getsize(dst)


def _copy(src: str, dst: str, overwrite: bool) -> int:
    if storage.is_url(src) or storage.is_url(dst):
        data = storage.read_bytes(src)
        storage.makedirs(storage.parent(dst))
        storage.write_bytes(dst, data, overwrite=overwrite)
        return len(data)
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    with open(src, "rb") as fin, atomic_output(dst, overwrite=overwrite) as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
    return os.path.getsize(dst)


def _can_decode(tsyntax: Any) -> str:
    """'' if pydicom can decode ``tsyntax`` here, else why not."""
    from pydicom.pixels import get_decoder

    try:
        dec = get_decoder(tsyntax)
    except NotImplementedError:
        return f"no pydicom decoder exists for {tsyntax.name}"
    if not dec.is_available:
        return (f"{tsyntax.name} cannot be decoded here: "
                + "; ".join(dec.missing_dependencies))
    return ""


def _try_decode_foreign(ds: Any, tsyntax: Any) -> str:
    """Decode a non-mic compressed ``ds`` in place; '' on success, else why it was kept.

    A frame pydicom's plugins cannot decode (unsupported variant, damaged
    codestream) is not a mic failure: the file is kept as it is and reported.
    """
    from . import decode_foreign

    try:
        decode_foreign(ds)
    except (RuntimeError, ValueError, MemoryError) as exc:
        msg = " ".join(str(exc).split())[:200]
        return f"{tsyntax.name} pixel data could not be decoded here ({msg})"
    return ""


def _convert(src: str, dst: str, overwrite: bool,
             work: Callable[[Any, Any], str | None], not_dicom_fails: bool = False) -> Result:
    """Shared driver: read, classify, run ``work(ds, tsyntax)`` (returns a keep-reason or None).
    A non-DICOM ``src`` is skipped, or failed with ``not_dicom_fails``."""
    size = storage.size(src)
    out = Result(str(src), str(dst), FAILED, bytes_in=size)
    try:
        ds = _read(src)
        if ds is None:
            out.error, out.output = NOT_DICOM, None
            if not not_dicom_fails:
                out.status = SKIPPED
            return out
        tsyntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
        keep: str | None
        if "PixelData" not in ds:
            keep = "no Pixel Data (non-image object)"
        elif not tsyntax:
            keep = "no Transfer Syntax UID in the file meta"
        else:
            keep = work(ds, tsyntax)
        if keep is not None:
            out.bytes_out = _copy(src, dst, overwrite)
            out.status, out.error = KEPT, keep
            return out
        out.bytes_out = _write(ds, dst, overwrite)
        out.status = CONVERTED
    except FileExistsError:
        out.error = "output exists (use --force to overwrite)"
    except (MicError, ValueError, RuntimeError, AttributeError, KeyError, TypeError,
            OSError, NotImplementedError) as exc:
        out.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    return out


def compress_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
                  quality: int | None = None, overwrite: bool = False,
                  keep_compressed: bool = False, recode_lossy: bool = False,
                  not_dicom_fails: bool = False, max_error: int | None = None,
                  model: str | None = None) -> Result:
    """Compress one DICOM file's pixel data to the mic transfer syntax (see module doc).

    Lossless (``quality=None``) keeps every data element except Pixel Data and
    the offset tables; lossy (``quality``) and near-lossless (``max_error``) apply the
    DICOM lossy rules; ``model`` names the lossy model (with ``quality``; see
    :func:`mic.dicom.compress`).  Compressed inputs
    are decoded first when pydicom can (else kept unchanged, with the reason);
    with ``keep_compressed=True`` they are always kept unchanged.  Inputs already
    lossy-compressed (:func:`lossy_source`) are kept unchanged unless
    ``recode_lossy=True``, which recodes them and keeps the result only when it is
    smaller than the input file.  A non-DICOM ``src`` is ``skipped``, or ``failed``
    with ``not_dicom_fails=True`` (a file named on its own).
    """
    from . import MIC_TRANSFER_SYNTAX, compress
    from ._plugin import check_pixel_module

    def work(ds: Any, tsyntax: Any) -> str | None:
        if tsyntax == MIC_TRANSFER_SYNTAX and quality is None and not max_error:
            return "already in the mic transfer syntax"
        if keep_compressed and tsyntax.is_compressed:
            return f"already compressed ({tsyntax.name}; --keep-compressed)"
        lossy = lossy_source(ds, tsyntax)
        if lossy and not recode_lossy:
            return f"{lossy}: kept as it is (--recode-lossy recodes it when that is smaller)"
        if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
            return "float pixel data is not coded by mic"
        try:
            check_pixel_module(int(ds.get("BitsAllocated", 0)), int(ds.get("BitsStored", 0)),
                               int(ds.get("SamplesPerPixel", 1)),
                               str(ds.get("PhotometricInterpretation", "")), quality, max_error)
        except MicUnsupportedError as exc:
            if tsyntax.is_compressed and tsyntax != MIC_TRANSFER_SYNTAX and \
                    "YBR" in str(ds.get("PhotometricInterpretation", "")):
                pass  # decoding converts YBR to RGB: try it
            else:
                return str(exc)
        if tsyntax.is_compressed and tsyntax != MIC_TRANSFER_SYNTAX:
            why = _can_decode(tsyntax)
            if why:
                return why
            why = _try_decode_foreign(ds, tsyntax)
            if why:
                return why
        compress(ds, quality, model=model, max_error=max_error)
        if lossy:
            size_in, size_out = os.path.getsize(src), _encoded_size(ds)
            if size_out >= size_in:
                return (f"{lossy}: recoded it would be {size_out:,} bytes, not smaller than "
                        f"{size_in:,}; kept as it is")
        return None

    return _convert(str(src), str(dst), overwrite, work, not_dicom_fails)


def _encoded_size(ds: Any) -> int:
    """Bytes of ``ds`` written as a DICOM file."""
    import io

    import pydicom

    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.tell()


def decompress_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
                    overwrite: bool = False, not_dicom_fails: bool = False) -> Result:
    """Write one DICOM file with its pixel data in Explicit VR Little Endian.

    mic-compressed files are decoded by :func:`mic.dicom.decompress` (SOP
    Instance UID and Planar Configuration kept); other compressed syntaxes are
    decoded by pydicom when a plugin is installed; native files are kept.
    """
    from . import MIC_TRANSFER_SYNTAX, decompress

    def work(ds: Any, tsyntax: Any) -> str | None:
        if not tsyntax.is_compressed:
            return "already uncompressed"
        if tsyntax == MIC_TRANSFER_SYNTAX:
            decompress(ds)
            return None
        return _can_decode(tsyntax) or _try_decode_foreign(ds, tsyntax) or None

    return _convert(str(src), str(dst), overwrite, work, not_dicom_fails)


def compare_datasets(a: Any, b: Any, ignore: frozenset[str] | set[str] = frozenset(),
                     *, path: str = "", group_lengths: bool = False) -> list[str]:
    """Element-by-element differences between two datasets (recursing into sequences).

    Returns readable lines, empty when equal.  Elements whose keyword is in
    ``ignore`` are skipped at the top level; values are compared after
    pydicom's VR conversion (so an Implicit VR or big-endian source compares
    equal to its Explicit VR Little Endian re-encoding).  Group 0002 (file meta)
    is not part of a dataset and is not compared.  Group Length elements
    (gggg,0000) are retired and never written by pydicom, so they are compared
    only with ``group_lengths=True``.

    >>> from pydicom.dataset import Dataset
    >>> a = Dataset(); a.PatientName = "A^B"; a.Rows = 2
    >>> b = Dataset(); b.PatientName = "A^B"; b.Rows = 3
    >>> compare_datasets(a, b)
    ['(0028,0010) Rows: 2 != 3']
    """
    diffs: list[str] = []
    tags = sorted(set(a.keys()) | set(b.keys()))
    for tag in tags:
        if tag.element == 0 and not group_lengths:
            continue
        ea, eb = a.get(tag), b.get(tag)
        kw = (ea or eb).keyword if (ea or eb) is not None else ""
        if not path and kw in ignore:
            continue
        name = f"{path}{tag} {kw or 'private'}"
        if ea is None or eb is None:
            diffs.append(f"{name}: only in {'second' if ea is None else 'first'}")
            continue
        if ea.VR == "SQ" or eb.VR == "SQ":
            sa, sb = list(ea.value or []), list(eb.value or [])
            if len(sa) != len(sb):
                diffs.append(f"{name}: {len(sa)} != {len(sb)} items")
                continue
            for i, (ia, ib) in enumerate(zip(sa, sb)):
                diffs.extend(compare_datasets(ia, ib, path=f"{name}[{i}].",
                                              group_lengths=group_lengths))
            continue
        va, vb = ea.value, eb.value
        if isinstance(va, np.ndarray) or isinstance(vb, np.ndarray):
            equal = np.array_equal(np.asarray(va), np.asarray(vb))
        else:
            equal = _norm(va) == _norm(vb)
        if not equal:
            diffs.append(f"{name}: {_short(va)} != {_short(vb)}")
    return diffs


def _norm(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).rstrip(b"\x00 ")
    if isinstance(v, str):
        return v.rstrip("\x00 ")
    if hasattr(v, "__iter__") and not isinstance(v, (str, bytes, dict)):
        return [_norm(x) for x in v]
    return v


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def mirror_path(src: Path, root: Path, out_root: Path) -> Path:
    """Where ``src`` (under ``root``) goes under ``out_root``.

    >>> str(mirror_path(Path("in/a/b.dcm"), Path("in"), Path("out")))
    'out/a/b.dcm'
    """
    return out_root / src.relative_to(root)
