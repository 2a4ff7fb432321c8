"""mic.dicom: the transfer-syntax plugin for pydicom 3 (registration, round trips, errors).

Real DICOM: pydicom's bundled test files and the small files of tests/data/dicom.
"""

from __future__ import annotations

import io
import uuid
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, generate_frames, parse_basic_offsets
from pydicom.pixels import get_decoder, get_encoder, iter_pixels, pixel_array
from pydicom.uid import UID, ExplicitVRLittleEndian

import mic
import mic.dicom
from mic.dicom import MIC_TRANSFER_SYNTAX
from mic.dicom.convert import CHANGED_BY_COMPRESSION, CHANGED_BY_LOSSY, compare_datasets

HERE = Path(__file__).resolve().parent
LOSSY_Q = 1  # a quality index every lossy model has
LOCAL = HERE / "data" / "dicom"

# name -> what it exercises
BUNDLED = {
    "CT_small.dcm": "CT signed 16 bit, Explicit VR LE",
    "MR_small.dcm": "MR signed 16 bit",
    "MR_small_implicit.dcm": "Implicit VR LE source",
    "MR_small_bigendian.dcm": "Explicit VR Big Endian source",
    "ExplVR_BigEnd.dcm": "RGB 8 bit, Planar Configuration 1, big endian",
    "SC_rgb_small_odd.dcm": "RGB 3x3, odd length",
    "examples_overlay.dcm": "Bits Stored 12 of 16, MR with overlay",
    "examples_palette.dcm": "PALETTE COLOR (lossless only)",
    "examples_rgb_color.dcm": "US RGB 8 bit",
    "MR_small_RLE.dcm": "RLE source (decoded first)",
    "SC_rgb_rle_16bit_2frame.dcm": "RGB 16 bit, 2 frames, RLE source",
    "SC_rgb_rle_2frame.dcm": "RGB 8 bit, 2 frames, RLE source",
    "MR_small_jp2klossless.dcm": "JPEG 2000 lossless source",
    "SC_rgb_jpeg_dcmtk.dcm": "JPEG baseline YBR source (decoded to RGB)",
}
LOCAL_FILES = sorted(p.name for p in LOCAL.glob("*.dcm"))


def _path(name: str) -> str:
    p = LOCAL / name
    return str(p) if p.exists() else get_testdata_file(name)


def _write(ds: pydicom.Dataset) -> bytes:
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def _lossy_available() -> bool:
    try:
        mic.encode(np.zeros((64, 64), np.uint16) + 100, quality=LOSSY_Q)
    except mic.MicUnsupportedError:
        return False
    return True


# ----------------------------------------------------------------------------- registration
def test_uid_is_minted_from_the_fixed_uuid() -> None:
    assert MIC_TRANSFER_SYNTAX == f"2.25.{uuid.UUID('6d69632d-6469-436f-9d54-53796e746178').int}"
    assert MIC_TRANSFER_SYNTAX.is_valid and len(MIC_TRANSFER_SYNTAX) <= 64
    assert MIC_TRANSFER_SYNTAX.is_private and MIC_TRANSFER_SYNTAX.is_transfer_syntax
    assert MIC_TRANSFER_SYNTAX.is_compressed and MIC_TRANSFER_SYNTAX.is_encapsulated
    assert MIC_TRANSFER_SYNTAX.is_little_endian and not MIC_TRANSFER_SYNTAX.is_implicit_VR


def test_registered_in_pydicom_tables() -> None:
    from pydicom.pixels.decoders import base as dbase
    from pydicom.pixels.encoders import base as ebase

    assert pydicom.__version__.startswith(mic.dicom.TESTED_PYDICOM)
    assert MIC_TRANSFER_SYNTAX in pydicom.uid.PrivateTransferSyntaxes
    dec, enc = get_decoder(MIC_TRANSFER_SYNTAX), get_encoder(MIC_TRANSFER_SYNTAX)
    assert isinstance(dec, mic.dicom.MicDecoder) and isinstance(enc, mic.dicom.MicEncoder)
    assert dec.available_plugins == ("mic",) and enc.available_plugins == ("mic",)
    assert dec.is_available and enc.is_available
    # looked up by a plain string too, and registering twice changes nothing
    assert get_decoder(str(MIC_TRANSFER_SYNTAX)) is dec
    mic.dicom.register()
    assert dbase._PIXEL_DATA_DECODERS[MIC_TRANSFER_SYNTAX][0] is dec
    assert ebase._PIXEL_DATA_ENCODERS[MIC_TRANSFER_SYNTAX][0] is enc
    assert pydicom.uid.PrivateTransferSyntaxes.count(MIC_TRANSFER_SYNTAX) == 1


def test_imagecodecs_decoding_plugin_for_foreign_syntaxes() -> None:
    from pydicom.uid import JPEGLosslessSV1, JPEGLSLossless

    from mic.dicom.syntaxes import LOSSY, PLUGIN, SYNTAXES

    assert {JPEGLSLossless, JPEGLosslessSV1} <= PLUGIN and mic.dicom.LOSSY_SOURCE_SYNTAXES is LOSSY
    for uid in PLUGIN:  # one table: every syntax it marks gets the plugin
        dec = get_decoder(uid)
        assert "imagecodecs" in dec._available or "imagecodecs" in dec._unavailable
    imagecodecs = pytest.importorskip("imagecodecs")
    assert all(hasattr(imagecodecs, s.decoder) for s in SYNTAXES.values())
    ds = pydicom.dcmread(get_testdata_file("MR_small_jpeg_ls_lossless.dcm"))  # signed 16 bit
    ref = pydicom.dcmread(get_testdata_file("MR_small.dcm")).pixel_array
    assert np.array_equal(ds.pixel_array, ref)
    back = pydicom.dcmread(io.BytesIO(_write(mic.dicom.compress(ds))))
    assert np.array_equal(back.pixel_array, ref)
    # JPEG lossless SV1 (jpegsof3), RGB: the same pixels as libjpeg-turbo decodes
    sv1 = pydicom.dcmread(get_testdata_file("SC_rgb_jpeg_gdcm.dcm"))
    assert sv1.file_meta.TransferSyntaxUID == JPEGLosslessSV1
    frame = next(generate_frames(sv1.PixelData, number_of_frames=1))
    assert np.array_equal(sv1.pixel_array, imagecodecs.jpeg8_decode(frame))


def test_plain_string_uid_knows_its_encoding() -> None:
    u = UID(str(MIC_TRANSFER_SYNTAX))  # as dcmread builds it from the file meta
    assert u.is_transfer_syntax and u.is_compressed and u.is_little_endian
    other = UID("2.25.1234")  # an unregistered private UID is left alone
    assert not other.is_transfer_syntax


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("name", list(BUNDLED) + LOCAL_FILES)
def test_lossless_round_trip_through_a_file(name: str) -> None:
    src = _path(name)
    orig = pydicom.dcmread(src)
    ref = orig.pixel_array.copy()
    ds = pydicom.dcmread(src)
    uid = ds.SOPInstanceUID
    mic.dicom.compress(ds)
    assert ds.SOPInstanceUID == uid  # lossless keeps the instance
    blob = _write(ds)
    assert blob[128:132] == b"DICM"

    back = pydicom.dcmread(io.BytesIO(blob))  # no re-stamping of the transfer syntax
    assert back.file_meta.TransferSyntaxUID == MIC_TRANSFER_SYNTAX
    assert back["PixelData"].is_undefined_length and back["PixelData"].VR == "OB"
    for arr in (back.pixel_array, pixel_array(io.BytesIO(blob))):
        assert arr.dtype.kind == ref.dtype.kind and arr.shape == ref.shape
        assert np.array_equal(arr, ref)
    frames = list(iter_pixels(io.BytesIO(blob)))
    nf = int(back.get("NumberOfFrames", 1) or 1)
    assert len(frames) == nf
    assert np.array_equal(np.stack(frames) if nf > 1 else frames[0], ref)

    # each frame is one .mic stream describing the frame as DICOM does
    streams = list(generate_frames(back.PixelData, number_of_frames=nf))
    assert len(streams) == nf
    info = mic.info(streams[0])
    assert info.mode == "lossless" and info.bits_stored == int(back.BitsStored)
    assert info.signed == bool(back.PixelRepresentation)
    expect_pm = {"PALETTE COLOR": "MONOCHROME2", "YBR_FULL": "RGB"}.get(
        back.PhotometricInterpretation, back.PhotometricInterpretation)
    assert info.photometric == expect_pm

    # a Basic Offset Table is always written (one offset per frame)
    assert len(parse_basic_offsets(io.BytesIO(back.PixelData))) == nf

    # every element except the pixel data is preserved (decoded-first sources may
    # change the photometric interpretation / planar configuration, as pydicom does)
    ignore = set(CHANGED_BY_COMPRESSION)
    if orig.file_meta.TransferSyntaxUID.is_compressed:
        ignore |= {"PhotometricInterpretation", "PlanarConfiguration", "LossyImageCompression"}
    assert compare_datasets(orig, back, ignore) == []
    # file meta: only the transfer syntax (and the group length) changes
    assert compare_datasets(orig.file_meta, back.file_meta, {"TransferSyntaxUID"}) == []

    # valid Part 10: re-saved as read, it reads back identically
    again = pydicom.dcmread(io.BytesIO(_write(back)))
    assert np.array_equal(again.pixel_array, ref)
    assert compare_datasets(back, again) == []


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_bigendian.dcm", "ExplVR_BigEnd.dcm",
                                  "us_rgb_planar1_3f.dcm", "ct_signed_12bit.dcm",
                                  "cr_mono1_8bit.dcm", "mr_multiframe_12bit.dcm"])
def test_decompress_restores_the_original_dataset_exactly(name: str) -> None:
    orig = pydicom.dcmread(_path(name))
    back = pydicom.dcmread(io.BytesIO(_write(mic.dicom.compress(pydicom.dcmread(_path(name))))))
    mic.dicom.decompress(back)
    assert back.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    again = pydicom.dcmread(io.BytesIO(_write(back)))
    # everything, Pixel Data included (converted to little endian for big-endian sources)
    assert compare_datasets(orig, again, {"PixelData"}) == []
    if orig.file_meta.TransferSyntaxUID.is_little_endian:
        assert again.PixelData == orig.PixelData
    assert np.array_equal(again.pixel_array, orig.pixel_array)


def test_pydicom_api_compress_and_decompress() -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ref = ds.pixel_array.copy()
    ds.compress(MIC_TRANSFER_SYNTAX, generate_instance_uid=False)
    assert ds.file_meta.TransferSyntaxUID == MIC_TRANSFER_SYNTAX
    assert np.array_equal(ds.pixel_array, ref)
    ds.decompress()
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert np.array_equal(ds.pixel_array, ref)
    # by string UID, on a multi-frame RGB planar-1 dataset, from an array
    ds = pydicom.dcmread(_path("us_rgb_planar1_3f.dcm"))
    ref = ds.pixel_array.copy()
    ds.compress(str(MIC_TRANSFER_SYNTAX))
    back = pydicom.dcmread(io.BytesIO(_write(ds)))
    assert np.array_equal(back.pixel_array, ref)
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    arr = ds.pixel_array.copy()
    ds.compress(MIC_TRANSFER_SYNTAX, arr)
    assert np.array_equal(ds.pixel_array, arr)


def test_encoder_frame_api_handles_planar_buffers() -> None:
    ds = pydicom.dcmread(_path("us_rgb_planar1_3f.dcm"))
    ref = ds.pixel_array
    enc = get_encoder(MIC_TRANSFER_SYNTAX)
    frame = enc.encode(ds.PixelData, index=1, **pydicom.pixels.utils.as_pixel_options(ds))
    assert np.array_equal(mic.decode(frame), ref[1])


def test_unused_high_bits_are_ignored_like_pydicom() -> None:
    ds = pydicom.dcmread(_path("ct_dirty_highbits.dcm"))
    raw = np.frombuffer(ds.PixelData, "<u2")
    assert raw.max() >= 4096  # the file really has garbage above Bits Stored
    ref = ds.pixel_array  # pydicom clears the unused bits
    assert ref.max() < 4096
    back = pydicom.dcmread(io.BytesIO(_write(mic.dicom.compress(ds))))
    assert np.array_equal(back.pixel_array, ref)


def test_extended_offset_table_for_large_multiframe(monkeypatch: pytest.MonkeyPatch) -> None:
    ref = pydicom.dcmread(_path("mr_multiframe_12bit.dcm")).pixel_array
    # forced
    ds = mic.dicom.compress(pydicom.dcmread(_path("mr_multiframe_12bit.dcm")),
                            encapsulate_ext=True)
    # automatic above the threshold
    monkeypatch.setattr(mic.dicom, "EXTENDED_OFFSET_THRESHOLD", 1000)
    ds2 = mic.dicom.compress(pydicom.dcmread(_path("mr_multiframe_12bit.dcm")))
    single = mic.dicom.compress(pydicom.dcmread(_path("ct_signed_12bit.dcm")))
    assert "ExtendedOffsetTable" not in single  # single frame: the BOT is enough
    for d in (ds, ds2):
        back = pydicom.dcmread(io.BytesIO(_write(d)))
        offsets = np.frombuffer(back.ExtendedOffsetTable, "<u8")
        lengths = np.frombuffer(back.ExtendedOffsetTableLengths, "<u8")
        assert len(offsets) == len(lengths) == 3
        assert parse_basic_offsets(io.BytesIO(back.PixelData)) == []  # BOT empty with an EOT
        assert np.array_equal(back.pixel_array, ref)
        assert np.array_equal(pixel_array(io.BytesIO(_write(d)), index=2), ref[2])
        # decompressing drops the tables
        mic.dicom.decompress(back)
        assert "ExtendedOffsetTable" not in back


# ----------------------------------------------------------------------------- errors
def _mic_dataset(name: str = "mr_multiframe_12bit.dcm") -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(_write(mic.dicom.compress(pydicom.dcmread(_path(name))))))


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_corrupt_fragment_raises_a_mic_error(damage: str) -> None:
    ds = _mic_dataset()
    frames = list(generate_frames(ds.PixelData, number_of_frames=3))
    f = bytearray(frames[1])
    if damage == "truncate":
        f = f[: len(f) // 2]
        expected: type[Exception] = mic.MicTruncatedError
    elif damage == "flip":
        f[len(f) // 2] ^= 0x10
        expected = mic.MicChecksumError
    else:
        f = bytearray(b"not a mic stream at all")
        expected = mic.MicFormatError
    frames[1] = bytes(f)
    ds.PixelData = encapsulate(frames)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(expected) as ei:
            ds.pixel_array  # noqa: B018
        assert isinstance(ei.value, mic.MicError)
        with pytest.raises(mic.MicError):
            list(iter_pixels(io.BytesIO(_write(ds))))
        with pytest.raises(mic.MicError):
            ds.decompress()


def test_dataset_that_disagrees_with_the_stream_is_refused() -> None:
    ds = _mic_dataset("ct_signed_12bit.dcm")
    ds.PixelRepresentation = 0  # the stream holds signed samples
    with pytest.raises(mic.MicFormatError, match="Pixel Representation"):
        ds.pixel_array  # noqa: B018
    ds = _mic_dataset("ct_signed_12bit.dcm")
    ds.Rows = 48
    with pytest.raises(mic.MicError):
        ds.pixel_array  # noqa: B018


def test_stream_header_is_checked_against_the_dataset_before_decoding(monkeypatch) -> None:
    """A frame whose header disagrees with Rows/Columns/Samples is refused from its header
    alone: mic.decode is never called."""
    import mic.codec

    ds = _mic_dataset("ct_signed_12bit.dcm")
    ds.Columns = ds.Columns - 1
    calls = []
    monkeypatch.setattr(mic, "decode", lambda *a, **k: calls.append(1))
    with pytest.raises(mic.MicFormatError, match="header says 1 frame"):
        ds.pixel_array  # noqa: B018
    assert not calls and mic.codec.decode is not None


@pytest.mark.parametrize("name,match", [("rtdose.dcm", "bits allocated"),
                                        ("liver_1frame.dcm", "bits allocated"),
                                        ("SC_ybr_full_422_uncompressed.dcm", "YBR_FULL_422")])
def test_unsupported_pixel_data_is_refused_clearly(name: str, match: str) -> None:
    with pytest.raises(mic.MicUnsupportedError, match=match):
        mic.dicom.compress(pydicom.dcmread(get_testdata_file(name)))
    ds = pydicom.dcmread(get_testdata_file(name))
    with pytest.raises(mic.MicUnsupportedError, match=match):
        ds.compress(MIC_TRANSFER_SYNTAX)
    assert ds.file_meta.TransferSyntaxUID != MIC_TRANSFER_SYNTAX  # left untouched


def test_compress_without_pixel_data() -> None:
    with pytest.raises(AttributeError, match="Pixel Data"):
        mic.dicom.compress(pydicom.dcmread(get_testdata_file("test-SR.dcm")))


# ----------------------------------------------------------------------------- lossy rules
def test_lossy_attribute_rules_unit() -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionRatio = "8.5"
    ds.LossyImageCompressionMethod = "ISO_10918_1"
    old = ds.SOPInstanceUID
    mic.dicom.apply_lossy_attributes(ds, 20.0)
    assert ds.LossyImageCompression == "01"
    assert [float(x) for x in ds.LossyImageCompressionRatio] == [8.5, 20.0]
    assert list(ds.LossyImageCompressionMethod) == ["ISO_10918_1", mic.dicom.LOSSY_METHOD]
    assert ds.ImageType[0] == "DERIVED" and list(ds.ImageType)[1:] == ["PRIMARY", "AXIAL"]
    assert ds.SOPInstanceUID != old == pydicom.dcmread(get_testdata_file("CT_small.dcm")).SOPInstanceUID
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


def test_lossless_keeps_lossy_flag_and_instance() -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.LossyImageCompression = "01"  # once set, never reset
    uid = ds.SOPInstanceUID
    mic.dicom.compress(ds)
    assert ds.LossyImageCompression == "01" and ds.SOPInstanceUID == uid
    assert "LossyImageCompressionMethod" not in ds


def test_lossy_refused_for_palette_color() -> None:
    with pytest.raises(mic.MicUnsupportedError, match="lossy"):
        mic.dicom.compress(pydicom.dcmread(get_testdata_file("examples_palette.dcm")), 4)


@pytest.mark.skipif(not _lossy_available(), reason="mic's lossy mode (weights) is not in this build")
@pytest.mark.parametrize("name", ["CT_small.dcm", "us_rgb_planar1_3f.dcm"])
def test_lossy_compression_follows_dicom_rules(name: str) -> None:
    orig = pydicom.dcmread(_path(name))
    ds = mic.dicom.compress(pydicom.dcmread(_path(name)), quality=LOSSY_Q)
    back = pydicom.dcmread(io.BytesIO(_write(ds)))
    assert back.LossyImageCompression == "01"
    assert back.LossyImageCompressionMethod == mic.dicom.LOSSY_METHOD
    ratio = float(back.LossyImageCompressionRatio)
    nbytes = orig.pixel_array.size * orig.BitsAllocated // 8
    frames = list(generate_frames(back.PixelData,
                                  number_of_frames=int(back.get("NumberOfFrames", 1) or 1)))
    assert ratio == pytest.approx(nbytes / sum(len(f) for f in frames), rel=0.01)
    assert back.ImageType[0] == "DERIVED"
    assert back.SOPInstanceUID != orig.SOPInstanceUID
    assert back.file_meta.MediaStorageSOPInstanceUID == back.SOPInstanceUID
    assert mic.info(frames[0]).mode == "lossy"
    arr = back.pixel_array
    assert arr.shape == orig.pixel_array.shape and arr.dtype.kind == orig.pixel_array.dtype.kind
    assert compare_datasets(orig, back, set(CHANGED_BY_COMPRESSION) | CHANGED_BY_LOSSY) == []
    # the plain pydicom path applies the same rules
    ds2 = pydicom.dcmread(_path(name))
    ds2.compress(MIC_TRANSFER_SYNTAX, quality=LOSSY_Q, generate_instance_uid=False)
    assert ds2.LossyImageCompression == "01" and ds2.SOPInstanceUID != orig.SOPInstanceUID


def test_ratio_report_on_local_files(capsys: pytest.CaptureFixture[str]) -> None:
    from mic.dicom import report

    assert report.main([str(LOCAL), "--files"]) == 0  # 0: every object read back exactly
    out = capsys.readouterr().out
    assert "| modality | objects |" in out
    for modality in ("CR", "CT", "MR", "US"):
        assert f"| {modality} |" in out
    assert "make_dicom.py: unreadable" in out  # non-DICOM files are listed as skipped
