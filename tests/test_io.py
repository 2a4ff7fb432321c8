"""Tests of mic.io: reading stored values exactly, writing, format sniffing, atomic writes."""

from __future__ import annotations

import io
import os
import stat
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import mic
from mic.io import (
    ImageMeta,
    atomic_output,
    atomic_write_bytes,
    demo_image_path,
    format_from_path,
    image_to_bytes,
    read_image,
    sniff_format,
    write_image,
)

DATA = Path(__file__).parent / "data"

#: file -> (dtype, shape, min, max, photometric) as documented in tests/data/README.md
EXPECTED = {
    "ct_abdomen_u16.png": ("uint16", (256, 256), 0, 2155, "MONOCHROME2"),
    "ct_lung_i16.npy": ("int16", (192, 192), -2000, 1958, None),
    "mr_brain_u16.png": ("uint16", (320, 260), 0, 2476, "MONOCHROME2"),
    "cr_chest_u8.png": ("uint8", (320, 320), 47, 128, "MONOCHROME2"),
    "us_breast_u8.png": ("uint8", (256, 256), 8, 255, "MONOCHROME2"),
    "us_breast_rgb.png": ("uint8", (256, 256, 3), 0, 255, "RGB"),
}


# ----------------------------------------------------------------------------- helpers
def make_dicom(arr: np.ndarray, photometric: str = "MONOCHROME2", bits_stored: int | None = None,
               preamble: bool = True) -> bytes:
    """A real DICOM file (explicit VR little endian) holding ``arr`` as its stored values."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"  # secondary capture
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Modality = "OT"
    ds.set_pixel_data(arr, photometric, bits_stored or 8 * arr.dtype.itemsize)
    buf = io.BytesIO()
    if preamble:
        ds.save_as(buf, enforce_file_format=True)
    else:
        ds.save_as(buf, implicit_vr=False, little_endian=True)
    return buf.getvalue()


def png_chunk(tag: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + tag + payload
            + struct.pack(">I", zlib.crc32(tag + payload)))


def make_gray_png(values: np.ndarray, depth: int) -> bytes:
    """Hand-built grayscale PNG at bit depth 1, 2 or 4 (Pillow cannot write these)."""
    rows, cols = values.shape
    raw = b""
    for r in range(rows):
        bits = "".join(format(int(v), f"0{depth}b") for v in values[r])
        bits += "0" * (-len(bits) % 8)
        raw += b"\x00" + int(bits, 2).to_bytes(len(bits) // 8, "big")
    ihdr = struct.pack(">IIBBBBB", cols, rows, depth, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def real(name: str) -> np.ndarray:
    return read_image(DATA / name)[0]


# ----------------------------------------------------------------------------- reading
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_read_committed_images_keep_stored_values(name: str) -> None:
    dtype, shape, lo, hi, pm = EXPECTED[name]
    arr, meta = read_image(DATA / name)
    assert arr.dtype == np.dtype(dtype) and arr.shape == shape
    assert int(arr.min()) == lo and int(arr.max()) == hi
    assert meta.photometric == pm
    assert meta.format == format_from_path(name)
    assert arr.flags.c_contiguous


def test_16bit_png_read_with_pillow_stays_uint16() -> None:
    from PIL import Image

    with Image.open(DATA / "ct_abdomen_u16.png") as im:
        pil = np.asarray(im)
    arr, _ = read_image(DATA / "ct_abdomen_u16.png")
    assert pil.dtype == np.uint16 and np.array_equal(arr, pil)
    assert int(arr.max()) > 255  # really 12-bit data, not scaled down


def test_read_from_bytes_path_str_and_file_object() -> None:
    p = DATA / "mr_brain_u16.png"
    a1, _ = read_image(p)
    a2, _ = read_image(str(p))
    a3, _ = read_image(p.read_bytes())
    with open(p, "rb") as f:
        a4, _ = read_image(f)
    for a in (a2, a3, a4):
        assert np.array_equal(a, a1)


def test_demo_image_is_a_real_ct_slice() -> None:
    arr, meta = read_image(demo_image_path())
    assert arr.dtype == np.uint16 and arr.shape == (512, 512) and meta.format == "png"
    assert 2000 < int(arr.max()) < 4096  # 12 bits stored
    assert len(np.unique(arr)) > 1000


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_low_bit_depth_png_gives_stored_values(depth: int) -> None:
    rng = np.random.default_rng(depth)
    vals = rng.integers(0, 1 << depth, (5, 11), dtype=np.uint8)
    arr, meta = read_image(make_gray_png(vals, depth))
    assert arr.dtype == np.uint8 and np.array_equal(arr, vals)
    assert meta.bits_stored == depth


def test_16bit_rgb_png_is_read_exactly() -> None:
    imagecodecs = pytest.importorskip("imagecodecs")
    rgb16 = np.random.default_rng(1).integers(0, 65536, (6, 9, 3), dtype=np.uint16)
    arr, meta = read_image(bytes(imagecodecs.png_encode(rgb16)))
    assert arr.dtype == np.uint16 and np.array_equal(arr, rgb16) and meta.photometric == "RGB"
    # and written back exactly
    back, _ = read_image(image_to_bytes(rgb16, "png"))
    assert np.array_equal(back, rgb16)


def test_alpha_dropped_only_when_opaque() -> None:
    from PIL import Image

    rgb = real("us_breast_rgb.png")[:20, :30]
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    arr, meta = read_image(buf.getvalue())
    assert np.array_equal(arr, rgb) and meta.notes
    rgba[3, 4, 3] = 10
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    with pytest.raises(mic.MicUnsupportedError, match="alpha"):
        read_image(buf.getvalue())


def test_palette_png_expanded() -> None:
    from PIL import Image

    idx = np.array([[0, 1], [2, 1]], np.uint8)
    im = Image.fromarray(idx, "L").convert("P")
    im.putpalette([10, 20, 30, 40, 50, 60, 70, 80, 90] + [0] * (768 - 9))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    arr, meta = read_image(buf.getvalue())
    assert meta.photometric == "RGB" and arr.shape == (2, 2, 3)
    assert arr[1, 0].tolist() == [70, 80, 90]


def test_dicom_stored_values_all_frames_signed_kept() -> None:
    ct = real("ct_lung_i16.npy")
    stack = np.stack([ct[:64, :80], ct[64:128, :80], ct[128:, :80]])
    arr, meta = read_image(make_dicom(stack, bits_stored=16))
    assert arr.dtype == np.int16 and arr.shape == (3, 64, 80) and np.array_equal(arr, stack)
    assert meta.format == "dicom" and meta.photometric == "MONOCHROME2"
    assert meta.bits_stored == 16 and meta.extra["number_of_frames"] == 3
    assert meta.extra["pixel_representation"] == 1


def test_dicom_12bit_monochrome1_and_rgb() -> None:
    ct = real("ct_abdomen_u16.png")
    arr, meta = read_image(make_dicom(ct, "MONOCHROME1", 12))
    assert np.array_equal(arr, ct) and meta.photometric == "MONOCHROME1" and meta.bits_stored == 12
    assert meta.encode_options(arr) == {"photometric": "MONOCHROME1", "bits_stored": 12}
    rgb = real("us_breast_rgb.png")
    arr, meta = read_image(make_dicom(rgb, "RGB", 8))
    assert np.array_equal(arr, rgb) and meta.photometric == "RGB"


def test_dicom_without_preamble_needs_suffix_or_format(tmp_path: Path) -> None:
    ct = real("ct_abdomen_u16.png")[:32, :48]
    data = make_dicom(ct, bits_stored=12, preamble=False)
    assert sniff_format(data) is None
    with pytest.raises(mic.MicInputError, match="not a recognised image"):
        read_image(data)
    assert np.array_equal(read_image(data, format="dicom")[0], ct)
    p = tmp_path / "slice.dcm"
    p.write_bytes(data)
    assert np.array_equal(read_image(p)[0], ct)


def test_read_mic_stream() -> None:
    ct = real("ct_abdomen_u16.png")
    blob = mic.encode(ct)
    arr, meta = read_image(blob)
    assert np.array_equal(arr, ct) and meta.format == "mic"
    assert meta.bits_stored == 12 and meta.extra["mic_info"].mode == "lossless"


@pytest.mark.parametrize("payload, suffix, err", [
    (b"", ".png", mic.MicInputError),
    (b"not an image at all", ".png", mic.MicInputError),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, ".png", mic.MicInputError),
    (b"II*\x00" + b"\xff" * 20, ".tif", mic.MicInputError),
    (b"\x93NUMPY\x01\x00garbage", ".npy", mic.MicInputError),
    (b"\x00" * 128 + b"DICM" + b"\x02\x00", ".dcm", mic.MicError),
    (b"random bytes", ".bin", mic.MicInputError),
])
def test_corrupt_files_raise_mic_errors(tmp_path: Path, payload: bytes, suffix: str,
                                        err: type) -> None:
    p = tmp_path / f"bad{suffix}"
    p.write_bytes(payload)
    with pytest.raises(err):
        read_image(p)


def test_truncated_png_raises_and_names_the_file(tmp_path: Path) -> None:
    data = (DATA / "ct_abdomen_u16.png").read_bytes()
    p = tmp_path / "half.png"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(mic.MicInputError, match="half.png"):
        read_image(p)


def test_npy_object_array_refused(tmp_path: Path) -> None:
    p = tmp_path / "obj.npy"
    np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(mic.MicInputError):
        read_image(p)


def test_folder_and_bad_type_refused(tmp_path: Path) -> None:
    with pytest.raises(mic.MicInputError, match="folder"):
        read_image(tmp_path)
    with pytest.raises(mic.MicInputError):
        read_image(12345)  # type: ignore[arg-type]
    with pytest.raises(mic.MicInputError, match="unknown image format"):
        read_image(b"x", format="jpeg")


# ----------------------------------------------------------------------------- writing
@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("fmt", ["png", "tiff", "npy", "mic"])
def test_write_read_round_trip_real_images(tmp_path: Path, name: str, fmt: str) -> None:
    arr, meta = read_image(DATA / name)
    path = tmp_path / f"out.{'tif' if fmt == 'tiff' else fmt}"
    if fmt == "png" and arr.dtype.kind == "i":
        with pytest.raises(mic.MicInputError, match="signed"):
            write_image(path, arr)
        assert not path.exists()
        return
    n = write_image(path, arr, photometric=meta.photometric)
    assert n == path.stat().st_size
    back, meta2 = read_image(path)
    assert back.dtype == arr.dtype and back.shape == arr.shape and np.array_equal(back, arr)
    if meta.photometric is not None and fmt != "npy":  # .npy carries no photometric
        assert meta2.photometric == meta.photometric


def test_tiff_frames_signed_and_monochrome1(tmp_path: Path) -> None:
    ct = real("ct_lung_i16.npy")
    stack = np.stack([ct, ct[::-1], ct[:, ::-1]])
    p = tmp_path / "stack.tiff"
    write_image(p, stack, photometric="MONOCHROME1")
    back, meta = read_image(p)
    assert np.array_equal(back, stack) and meta.photometric == "MONOCHROME1"
    # three frames of width 3 must not be mistaken for RGB when photometric says so
    thin = np.arange(3 * 4 * 3, dtype=np.uint16).reshape(3, 4, 3)
    write_image(tmp_path / "thin.tif", thin, photometric="MONOCHROME2")
    back, meta = read_image(tmp_path / "thin.tif")
    assert np.array_equal(back, thin) and meta.photometric == "MONOCHROME2"
    rgb_frames = np.stack([real("us_breast_rgb.png")[:40, :50]] * 2)
    write_image(tmp_path / "rgbf.tif", rgb_frames)
    back, meta = read_image(tmp_path / "rgbf.tif")
    assert np.array_equal(back, rgb_frames) and meta.photometric == "RGB"


def test_png_refuses_frames_and_wide_types(tmp_path: Path) -> None:
    with pytest.raises(mic.MicInputError, match="frames"):
        image_to_bytes(np.zeros((2, 4, 5), np.uint16), "png")
    with pytest.raises(mic.MicInputError):
        image_to_bytes(np.zeros((4, 5), np.uint32), "png")
    with pytest.raises(mic.MicInputError):
        image_to_bytes(np.zeros((4, 5), np.float32), "tiff")
    with pytest.raises(mic.MicUnsupportedError, match="mic dicom"):
        image_to_bytes(np.zeros((4, 5), np.uint16), "dicom")
    with pytest.raises(mic.MicInputError, match="output format"):
        write_image(tmp_path / "x.jpg", np.zeros((4, 5), np.uint8))
    assert os.listdir(tmp_path) == []


def test_big_endian_npy_is_normalised(tmp_path: Path) -> None:
    ct = real("ct_abdomen_u16.png")
    p = tmp_path / "be.npy"
    np.save(p, ct.astype(">u2"))
    arr, _ = read_image(p)
    assert arr.dtype == np.uint16 and arr.dtype.byteorder in ("=", "|") and np.array_equal(arr, ct)
    assert np.array_equal(mic.decode(mic.encode(arr)), ct)


def test_encode_options_only_when_values_fit() -> None:
    ct = real("ct_abdomen_u16.png")  # values < 4096
    assert ImageMeta("dicom", "MONOCHROME2", 12).encode_options(ct)["bits_stored"] == 12
    assert "bits_stored" not in ImageMeta("dicom", None, 10).encode_options(ct)
    assert ImageMeta("npy").encode_options(ct) == {}
    signed = real("ct_lung_i16.npy")
    assert ImageMeta("dicom", None, 12).encode_options(signed) == {"bits_stored": 12}
    assert ImageMeta("dicom", None, 11).encode_options(signed) == {}


# ----------------------------------------------------------------------------- sniffing
def test_sniff_and_suffix() -> None:
    assert sniff_format((DATA / "ct_abdomen_u16.png").read_bytes()) == "png"
    assert sniff_format((DATA / "ct_lung_i16.npy").read_bytes()) == "npy"
    assert sniff_format(image_to_bytes(real("cr_chest_u8.png"), "tiff")) == "tiff"
    assert sniff_format(make_dicom(real("cr_chest_u8.png"))) == "dicom"
    assert sniff_format(mic.encode(np.zeros((2, 2), np.uint8))) == "mic"
    assert sniff_format(b"") is None and sniff_format(b"\x00" * 200) is None
    assert format_from_path("A.TIF") == "tiff" and format_from_path("x.dicom") == "dicom"
    assert format_from_path("noext") is None and format_from_path("1.2.840.113619") is None


# ----------------------------------------------------------------------------- atomic writes
def test_atomic_write_creates_and_replaces(tmp_path: Path) -> None:
    p = tmp_path / "f.bin"
    atomic_write_bytes(p, b"one")
    atomic_write_bytes(p, b"two")
    assert p.read_bytes() == b"two" and os.listdir(tmp_path) == ["f.bin"]


def test_atomic_write_refuses_existing_without_overwrite(tmp_path: Path) -> None:
    p = tmp_path / "f.bin"
    p.write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        atomic_write_bytes(p, b"new", overwrite=False)
    assert p.read_bytes() == b"keep" and os.listdir(tmp_path) == ["f.bin"]
    q = tmp_path / "g.bin"
    atomic_write_bytes(q, b"fresh", overwrite=False)
    assert q.read_bytes() == b"fresh" and sorted(os.listdir(tmp_path)) == ["f.bin", "g.bin"]


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_atomic_output_failure_mid_write_leaves_nothing(tmp_path: Path, exc: type) -> None:
    p = tmp_path / "out.mic"
    with pytest.raises(exc), atomic_output(p) as f:
        f.write(b"x" * 100_000)
        assert len(os.listdir(tmp_path)) == 1  # the hidden temporary file
        raise exc()
    assert os.listdir(tmp_path) == []
    p.write_bytes(b"old")
    with pytest.raises(exc), atomic_output(p) as f:
        f.write(b"partial")
        raise exc()
    assert p.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.mic"]


def test_atomic_output_failure_in_fsync_cleans_up(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(fd: int) -> None:
        raise OSError(5, "simulated I/O error")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="simulated"):
        atomic_write_bytes(tmp_path / "a.png", b"data")
    assert os.listdir(tmp_path) == []


def test_atomic_output_respects_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        import mic.atomic as mio

        mio._umask.cache_clear()
        atomic_write_bytes(tmp_path / "perm.bin", b"x")
    finally:
        os.umask(old)
        mio._umask.cache_clear()
    mode = stat.S_IMODE((tmp_path / "perm.bin").stat().st_mode)
    assert mode == 0o640


def test_write_image_no_overwrite(tmp_path: Path) -> None:
    p = tmp_path / "x.npy"
    write_image(p, np.zeros((2, 2), np.uint8))
    with pytest.raises(FileExistsError):
        write_image(p, np.ones((2, 2), np.uint8), overwrite=False)
    assert np.load(p).sum() == 0


def test_import_mic_io_does_not_import_heavy_readers() -> None:
    import subprocess
    import sys

    code = ("import sys, mic, mic.io; "
            "print(sorted(m for m in ('torch', 'pydicom', 'tifffile', 'PIL') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("fmt", ["png", "tiff", "npy", "dicom"])
def test_damaged_files_raise_only_mic_errors(fmt: str) -> None:
    """Truncated or bit-flipped files either read or raise a MicError -- never anything else."""
    ct = real("ct_abdomen_u16.png")[:48, :40]
    data = make_dicom(ct, bits_stored=12) if fmt == "dicom" else image_to_bytes(ct, fmt)
    rng = np.random.default_rng(7)
    cases = [data[:n] for n in range(0, min(len(data), 400), 13)]
    cases += [data[: int(n)] for n in rng.integers(400, len(data), 10)]
    for _ in range(40):
        b = bytearray(data)
        for i in rng.integers(0, min(len(data), 600), 2):  # mostly header bytes
            b[int(i)] ^= 1 << int(rng.integers(0, 8))
        cases.append(bytes(b))
    for case in cases:
        try:
            arr, _ = read_image(case, format=fmt)
        except mic.MicError:
            continue
        assert isinstance(arr, np.ndarray)


def make_jpegls_dicom(frames: np.ndarray, bits_stored: int) -> bytes:
    """A JPEG-LS lossless DICOM file (encapsulated, one fragment per frame) of ``frames``."""
    imagecodecs = pytest.importorskip("imagecodecs")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGLSLossless, generate_uid

    signed = frames.dtype.kind == "i"
    raw = (frames.astype(np.int32) & ((1 << bits_stored) - 1)).astype(np.uint16)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = JPEGLSLossless
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7.3"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Rows, ds.Columns = frames.shape[1:]
    ds.NumberOfFrames = frames.shape[0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, bits_stored, bits_stored - 1
    ds.PixelRepresentation = int(signed)
    ds.PixelData = encapsulate([bytes(imagecodecs.jpegls_encode(f)) for f in raw])
    ds["PixelData"].VR = "OB"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_jpegls_dicom_signed_multiframe_decoded_exactly() -> None:
    """Compressed DICOM works even where pydicom has no JPEG-LS plugin (imagecodecs fallback)."""
    ct = real("ct_lung_i16.npy")  # signed, -2000..1958: fits 12 bits
    stack = np.stack([ct[:96, :100], ct[96:, 50:150]])
    arr, meta = read_image(make_jpegls_dicom(stack, 12))
    assert arr.dtype == np.int16 and arr.shape == (2, 96, 100) and np.array_equal(arr, stack)
    assert meta.bits_stored == 12
    assert np.array_equal(mic.decode(mic.encode(arr, **meta.encode_options(arr))), stack)


def test_pydicom_bundled_compressed_and_dual_format_files() -> None:
    pytest.importorskip("imagecodecs")  # pydicom itself has no JPEG-LS decoder here
    import pydicom
    from pydicom.data import get_testdata_file

    ref_path = get_testdata_file("MR_small.dcm")
    jls_path = get_testdata_file("MR_small_jpeg_ls_lossless.dcm")
    if ref_path is None or jls_path is None:
        pytest.skip("pydicom test files not installed")
    ref = pydicom.dcmread(ref_path).pixel_array
    arr, _ = read_image(jls_path)
    assert arr.dtype == ref.dtype == np.int16 and np.array_equal(arr, ref)
    # MR_truncated.dcm has a TIFF header in its DICOM preamble: sniffed as DICOM, and its
    # short pixel data is a corrupt input, not an unsupported one
    trunc = get_testdata_file("MR_truncated.dcm")
    if trunc is not None:
        head = Path(trunc).read_bytes()
        assert head[:4] == b"II*\x00" and sniff_format(head) == "dicom"
        with pytest.raises(mic.MicInputError, match="less than expected"):
            read_image(trunc)


def test_mic_compressed_dicom_read_without_importing_mic_dicom_first(tmp_path: Path) -> None:
    """A DICOM file in mic's own transfer syntax is readable: read_image registers mic.dicom."""
    import subprocess
    import sys

    pytest.importorskip("mic.dicom")
    import pydicom

    import mic.dicom

    ds = pydicom.dcmread(io.BytesIO(make_dicom(real("ct_abdomen_u16.png"), bits_stored=12)))
    path = tmp_path / "mic.dcm"
    mic.dicom.compress(ds).save_as(path)
    code = ("import sys, numpy as np; from mic.io import read_image; "
            f"a, m = read_image({str(path)!r}); "
            "print(str(a.dtype), a.shape, m.bits_stored, int(a.astype(np.int64).sum()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=dict(os.environ, NUMBA_NUM_THREADS="1"))
    ct = real("ct_abdomen_u16.png")
    assert out.stdout.split() == ["uint16", "(256,", "256)", "12", str(int(ct.sum()))]


def test_docstring_examples_run() -> None:
    import doctest

    import mic.cli_codec
    import mic.io

    for module in (mic.io, mic.cli_codec):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__
