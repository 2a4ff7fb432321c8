"""Reading DICOM files for :func:`mic.io.read_image`: the stored sample values of the pixel
data (no Modality/VOI LUT, YBR converted to RGB by pydicom), through pydicom's decoders or,
for compressed syntaxes pydicom cannot decode here, imagecodecs (the one transfer-syntax
table, :mod:`mic.dicom.syntaxes`, says which codec).

>>> import io, numpy as np, pydicom
>>> from pydicom.dataset import Dataset, FileMetaDataset
>>> from pydicom.uid import ExplicitVRLittleEndian, generate_uid
>>> ds = Dataset(); ds.file_meta = FileMetaDataset()
>>> ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
>>> ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
>>> ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
>>> a = np.array([[0, 4095], [7, 1024]], np.uint16)
>>> ds.set_pixel_data(a, "MONOCHROME2", 12)
>>> buf = io.BytesIO(); ds.save_as(buf, enforce_file_format=True)
>>> arr, meta = read_dicom(buf.getvalue())
>>> bool((arr == a).all()), meta.bits_stored, meta.photometric
(True, 12, 'MONOCHROME2')
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from ..errors import MicError, MicInputError, MicUnsupportedError
from ..io import ImageMeta, NoPixelDataError


def read_dicom(data: bytes) -> tuple[np.ndarray, ImageMeta]:
    """The stored sample values of a DICOM file's pixel data and their :class:`ImageMeta`
    (what :func:`mic.io.read_image` returns for DICOM); pydicom's warnings become notes."""
    import logging
    import warnings

    # pydicom warns (and logs) about every odd element; keep them as notes instead of noise.
    log = logging.getLogger("pydicom")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            arr, meta = _read_dicom_quiet(data)
    finally:
        log.setLevel(level)
    for w in caught[:5]:
        meta.notes.append(f"pydicom: {w.message}")
    return arr, meta


def _read_dicom_quiet(data: bytes) -> tuple[np.ndarray, ImageMeta]:
    import pydicom

    # (mic's own transfer syntax is registered: this module is inside mic.dicom)
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception as exc:  # noqa: BLE001
        raise MicInputError(f"not a readable DICOM file: {exc}") from None
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise NoPixelDataError("DICOM file has no pixel data (DICOMDIR, report, ...)")
    if "PixelData" not in ds:
        raise MicUnsupportedError("DICOM float pixel data are not supported (integers only)")
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    pi = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    meta = ImageMeta("dicom")
    try:
        # Stored values: no Modality/VOI LUT; YBR data converted to RGB by pydicom.
        arr = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - missing codec, corrupt fragment, ...
        from .syntaxes import SYNTAXES

        name = getattr(ts, "name", None) or str(ts)
        syntax = SYNTAXES.get(str(ts))
        missing_codec = "plugin" in str(exc) or "missing" in str(exc)
        if syntax is None or not missing_codec:
            cls = MicUnsupportedError if missing_codec else MicInputError
            raise cls(f"cannot decode the DICOM pixel data (transfer syntax {name}): "
                      f"{str(exc).splitlines()[0]}") from None
        arr = _dicom_frames_imagecodecs(ds, syntax.codec, name)
        meta.notes.append(f"{name} pixel data decoded with imagecodecs ({syntax.codec})")
    arr = np.ascontiguousarray(arr)
    if arr.dtype.byteorder not in ("=", "|"):
        arr = arr.astype(arr.dtype.newbyteorder("="))
    spp = int(getattr(ds, "SamplesPerPixel", 1) or 1)
    if pi in ("MONOCHROME1", "MONOCHROME2"):
        meta.photometric = pi
    elif spp == 3 or pi.startswith("YBR") or pi == "RGB":
        meta.photometric = "RGB"
        if pi != "RGB":
            meta.notes.append(f"{pi} converted to RGB by pydicom")
    else:
        meta.photometric = "MONOCHROME2"
        meta.notes.append(f"photometric {pi} stored as MONOCHROME2 indices")
    bs = getattr(ds, "BitsStored", None)
    meta.bits_stored = int(bs) if bs is not None else None
    meta.extra = {
        "transfer_syntax": str(ts) if ts is not None else None,
        "modality": str(getattr(ds, "Modality", "")) or None,
        "photometric_interpretation": pi,
        "number_of_frames": int(getattr(ds, "NumberOfFrames", 1) or 1),
        "pixel_representation": int(getattr(ds, "PixelRepresentation", 0) or 0),
    }
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    return arr, meta


def _dicom_frames_imagecodecs(ds: Any, kind: str, ts_name: str) -> np.ndarray:
    """Decode encapsulated DICOM frames with imagecodecs; return pydicom-style stored values."""
    try:
        import imagecodecs
        from pydicom.encaps import generate_frames
    except ImportError:
        raise MicUnsupportedError(
            f"cannot decode {ts_name} pixel data: install pylibjpeg (pydicom plugins) or "
            "imagecodecs"
        ) from None
    decoder = getattr(imagecodecs, f"{kind}_decode", None)
    if decoder is None:  # pragma: no cover - imagecodecs built without this codec
        raise MicUnsupportedError(f"this imagecodecs build has no {kind} decoder ({ts_name})")
    nframes = int(ds.get("NumberOfFrames", 1) or 1)
    rows, cols = int(ds.Rows), int(ds.Columns)
    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    alloc, stored = int(ds.BitsAllocated), int(ds.get("BitsStored", ds.BitsAllocated))
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    if alloc not in (8, 16) or not 1 <= stored <= alloc:
        raise MicUnsupportedError(f"{ts_name}: bits allocated {alloc} / stored {stored}")
    want = (rows, cols) if spp == 1 else (rows, cols, spp)
    frames = []
    try:
        for frag in generate_frames(ds.PixelData, number_of_frames=nframes):
            f = np.asarray(decoder(frag))
            if f.ndim == 3 and f.shape[-1] == 1:
                f = f[..., 0]
            if f.shape != want:
                raise MicInputError(f"a {ts_name} frame decoded to {f.shape}, expected {want}")
            frames.append(f.astype(np.int64))
    except MicError:
        raise
    except Exception as exc:  # noqa: BLE001 - corrupt fragment
        raise MicInputError(f"cannot decode {ts_name} frame: {exc}") from None
    if len(frames) != nframes:
        raise MicInputError(f"{ts_name}: {len(frames)} frames found, {nframes} expected")
    arr = np.stack(frames) if nframes > 1 else frames[0]
    arr &= (1 << stored) - 1
    if signed:
        sign = 1 << (stored - 1)
        arr = (arr ^ sign) - sign
    return arr.astype(f"{'i' if signed else 'u'}{alloc // 8}")
