"""Property test: any Image Pixel module mic supports survives compress -> Part 10 -> read.

Random Bits Allocated (8/16), Bits Stored (1..BA), Pixel Representation, samples
(1 or 3), Planar Configuration, frames, photometric interpretation, byte order and
garbage in the unused high bits; the reference is what pydicom itself reads from
the uncompressed dataset.
"""

from __future__ import annotations

import io

import numpy as np
import pydicom
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, generate_uid

import mic
import mic.dicom
from mic.dicom.convert import CHANGED_BY_COMPRESSION, compare_datasets


@st.composite
def pixel_modules(draw: st.DrawFn) -> dict:
    ba = draw(st.sampled_from([8, 16]))
    signed = draw(st.booleans())
    bs = draw(st.integers(2 if signed else 1, ba))
    rgb = draw(st.booleans()) and not signed
    pm = "RGB" if rgb else draw(st.sampled_from(["MONOCHROME1", "MONOCHROME2"]))
    return {"ba": ba, "bs": bs, "signed": signed, "pm": pm, "spp": 3 if rgb else 1,
            "planar": draw(st.integers(0, 1)), "frames": draw(st.integers(1, 3)),
            "rows": draw(st.integers(1, 24)), "cols": draw(st.integers(1, 24)),
            "big": draw(st.booleans()), "dirty": draw(st.booleans()),
            "seed": draw(st.integers(0, 2**32 - 1)), "smooth": draw(st.booleans())}


def _dataset(m: dict) -> FileDataset:
    rng = np.random.default_rng(m["seed"])
    shape = (m["frames"], m["rows"], m["cols"], m["spp"])
    lo, hi = (-(1 << (m["bs"] - 1)), (1 << (m["bs"] - 1)) - 1) if m["signed"] \
        else (0, (1 << m["bs"]) - 1)
    if m["smooth"]:
        ramp = np.add.outer(np.arange(m["rows"]), np.arange(m["cols"]))[None, :, :, None]
        vals = np.clip(lo + ramp * max(1, (hi - lo) // 48) + rng.integers(0, 3, shape), lo, hi)
    else:
        vals = rng.integers(lo, hi, shape, endpoint=True)
    dt = np.dtype(("i" if m["signed"] else "u") + str(m["ba"] // 8))
    stored = vals.astype(dt)
    if m["dirty"] and m["bs"] < m["ba"]:  # garbage above Bits Stored
        u = stored.view(dt.str.replace("i", "u"))
        junk = rng.integers(0, 1 << (m["ba"] - m["bs"]), shape).astype(u.dtype) << m["bs"]
        stored = ((u & ((1 << m["bs"]) - 1)) | junk).view(dt)
    layout = stored.transpose(0, 3, 1, 2) if m["spp"] == 3 and m["planar"] else stored
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRBigEndian if m["big"] else ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[repr(sorted(m.items()))])
    ds = FileDataset("prop", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientName = "OT", "PROP^TEST"
    ds.Rows, ds.Columns = m["rows"], m["cols"]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = m["spp"], m["pm"]
    if m["spp"] == 3:
        ds.PlanarConfiguration = m["planar"]
    if m["frames"] > 1:
        ds.NumberOfFrames = m["frames"]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = m["ba"], m["bs"], m["bs"] - 1
    ds.PixelRepresentation = int(m["signed"])
    order = ">" if m["big"] else "<"
    data = np.ascontiguousarray(layout, dtype=layout.dtype.newbyteorder(order)).tobytes()
    ds.PixelData = data + b"\0" * (len(data) % 2)
    ds["PixelData"].VR = "OB" if m["ba"] == 8 else "OW"
    # through a real file, as pydicom would read it from disk
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buf.getvalue()))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pixel_modules())
def test_any_supported_pixel_module_round_trips(m: dict) -> None:
    orig = _dataset(m)
    ref = orig.pixel_array.copy()
    ds = _dataset(m)
    mic.dicom.compress(ds)
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    back = pydicom.dcmread(io.BytesIO(buf.getvalue()))
    arr = back.pixel_array
    assert arr.shape == ref.shape and arr.dtype.kind == ref.dtype.kind
    assert np.array_equal(arr, ref)
    assert compare_datasets(orig, back, CHANGED_BY_COMPRESSION) == []
    # and back to native: the same stored values (clean high bits), same plane order
    mic.dicom.decompress(back)
    assert np.array_equal(back.pixel_array, ref)
    assert back.get("PlanarConfiguration") == orig.get("PlanarConfiguration")
