"""Regenerate the small DICOM files of this folder from the real images in ``tests/data``.

Run from the repository root: ``python tests/data/dicom/make_dicom.py``.  The
output is deterministic (fixed UIDs derived from the file name, fixed dates),
so re-running it rewrites identical files.  The pixel values are crops of the
real CT / CR / MR / US images described in ``tests/data/README.md``; the DICOM
headers are written here to exercise the cases pydicom's bundled files miss:

==========================  ===================================================
``ct_signed_12bit.dcm``     CT, Pixel Representation 1, Bits Stored 12 of 16,
                            Rescale -1024/1, Implicit VR Little Endian
``cr_mono1_8bit.dcm``       CR, MONOCHROME1, 8 bits allocated, Bits Stored 8
``mr_multiframe_12bit.dcm`` 3 frames, MONOCHROME2, unsigned, Bits Stored 12
``us_rgb_planar1_3f.dcm``   US, RGB, Planar Configuration 1, 3 frames, 8 bit
``ct_dirty_highbits.dcm``   CT, unsigned 12 of 16 bits with garbage in the 4
                            unused high bits (as some old scanners wrote them)
==========================  ===================================================
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_ROOT_UID,
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)

HERE = Path(__file__).resolve().parent
DATA = HERE.parent

CT_IMAGE = UID("1.2.840.10008.5.1.4.1.1.2")
CR_IMAGE = UID("1.2.840.10008.5.1.4.1.1.1")
US_MULTIFRAME = UID("1.2.840.10008.5.1.4.1.1.3.1")
MF_GRAY_WORD_SC = UID("1.2.840.10008.5.1.4.1.1.7.3")


def _uid(name: str, what: str) -> UID:
    return generate_uid(PYDICOM_ROOT_UID, entropy_srcs=["mic tests", name, what])


def _dataset(name: str, sop_class: UID, tsyntax: UID, modality: str) -> FileDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = _uid(name, "instance")
    meta.TransferSyntaxUID = tsyntax
    meta.ImplementationClassUID = UID(PYDICOM_ROOT_UID + "1")
    ds = FileDataset(str(HERE / name), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = _uid(name, "study")
    ds.SeriesInstanceUID = _uid(name, "series")
    ds.Modality = modality
    ds.PatientName = "MIC^TEST"
    ds.PatientID = "MIC-0001"
    ds.StudyDate = "20240101"
    ds.ContentTime = "120000"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.Manufacturer = "mic test data (pixels: see tests/data/README.md)"
    ds.InstanceNumber = 1
    return ds


def _pixels(ds: FileDataset, arr: np.ndarray, *, bits_stored: int, photometric: str,
            frames: int | None = None, planar: int | None = None) -> None:
    ds.SamplesPerPixel = 3 if photometric == "RGB" else 1
    ds.PhotometricInterpretation = photometric
    if planar is not None:
        ds.PlanarConfiguration = planar
    if frames is not None:
        ds.NumberOfFrames = frames
    shape = arr.shape[1:] if frames is not None else arr.shape
    ds.Rows, ds.Columns = int(shape[0]), int(shape[1])
    ds.BitsAllocated = arr.dtype.itemsize * 8
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if arr.dtype.kind == "i" else 0
    ds.PixelData = np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<"))).tobytes()


def main() -> None:
    # signed CT, 12 of 16 bits, Implicit VR
    ct = np.load(DATA / "ct_lung_i16.npy")[48:144, 0:96]  # includes the -2000 padding
    assert ct.min() >= -2048 and ct.max() <= 2047
    ds = _dataset("ct_signed_12bit.dcm", CT_IMAGE, ImplicitVRLittleEndian, "CT")
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
    ds.WindowCenter, ds.WindowWidth = -600, 1500
    _pixels(ds, ct.astype(np.int16), bits_stored=12, photometric="MONOCHROME2")
    ds.save_as(HERE / "ct_signed_12bit.dcm", implicit_vr=True, little_endian=True,
               enforce_file_format=True)

    # MONOCHROME1, 8 bit CR
    cr = np.asarray(Image.open(DATA / "cr_chest_u8.png"))[100:196, 100:196]
    ds = _dataset("cr_mono1_8bit.dcm", CR_IMAGE, ExplicitVRLittleEndian, "CR")
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    _pixels(ds, (255 - cr).astype(np.uint8), bits_stored=8, photometric="MONOCHROME1")
    ds.save_as(HERE / "cr_mono1_8bit.dcm", enforce_file_format=True)

    # multi-frame 12-bit MR (secondary capture multi-frame grayscale word)
    mr = np.asarray(Image.open(DATA / "mr_brain_u16.png"))
    frames = np.stack([mr[100:164, 60 + 40 * k:124 + 40 * k] for k in range(3)])
    ds = _dataset("mr_multiframe_12bit.dcm", MF_GRAY_WORD_SC, ExplicitVRLittleEndian, "MR")
    _pixels(ds, frames.astype(np.uint16), bits_stored=12, photometric="MONOCHROME2",
            frames=3)
    ds.save_as(HERE / "mr_multiframe_12bit.dcm", enforce_file_format=True)

    # RGB, planar configuration 1, 3 frames
    us = np.asarray(Image.open(DATA / "us_breast_rgb.png"))[..., :3]
    rgb = np.stack([us[80 + 20 * k:144 + 20 * k, 96:160] for k in range(3)])  # (3, 64, 64, 3)
    ds = _dataset("us_rgb_planar1_3f.dcm", US_MULTIFRAME, ExplicitVRLittleEndian, "US")
    _pixels(ds, rgb.astype(np.uint8), bits_stored=8, photometric="RGB", frames=3, planar=1)
    ds.PixelData = np.ascontiguousarray(rgb.transpose(0, 3, 1, 2)).tobytes()  # planar
    ds.save_as(HERE / "us_rgb_planar1_3f.dcm", enforce_file_format=True)

    # unsigned 12 of 16 bits with garbage in the unused high bits
    ab = np.asarray(Image.open(DATA / "ct_abdomen_u16.png"))[64:160, 64:160].astype(np.uint16)
    assert ab.max() < 4096
    noise = (np.arange(ab.size, dtype=np.uint32).reshape(ab.shape) * 2654435761 >> 7) & 0xF
    dirty = ab | (noise.astype(np.uint16) << 12)
    ds = _dataset("ct_dirty_highbits.dcm", CT_IMAGE, ExplicitVRLittleEndian, "CT")
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    _pixels(ds, dirty, bits_stored=12, photometric="MONOCHROME2")
    ds.save_as(HERE / "ct_dirty_highbits.dcm", enforce_file_format=True)


if __name__ == "__main__":
    main()
