"""``mic dicom compress`` / ``decompress`` on folder trees of real DICOM files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from click.testing import CliRunner
from pydicom.data import get_testdata_file

import mic.dicom
from mic.cli import main
from mic.dicom import MIC_TRANSFER_SYNTAX
from mic.dicom.convert import CHANGED_BY_COMPRESSION, compare_datasets

LOCAL = Path(__file__).resolve().parent / "data" / "dicom"

IMAGES = ["CT_small.dcm", "MR_small_bigendian.dcm", "SC_rgb_rle_2frame.dcm"]
NON_IMAGE = ["test-SR.dcm", "rtplan.dcm"]  # passed through unchanged
UNSUPPORTED = ["rtdose.dcm"]  # 32 bits allocated: copied unchanged
UNDECODABLE = ["GDCMJ2K_TextGBR.dcm"]  # JPEG 2000 that pydicom's Pillow plugin cannot decode


def _tree(tmp: Path) -> Path:
    src = tmp / "study"
    (src / "series1").mkdir(parents=True)
    (src / "series2" / "deep").mkdir(parents=True)
    for n in IMAGES:
        shutil.copy(get_testdata_file(n), src / "series1" / n)
    for n in NON_IMAGE + UNSUPPORTED + UNDECODABLE:
        shutil.copy(get_testdata_file(n), src / "series2" / n)
    for p in sorted(LOCAL.glob("*.dcm")):
        shutil.copy(p, src / "series2" / "deep" / p.name)
    (src / "notes.txt").write_text("not DICOM")
    return src


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_compress_then_decompress_a_tree(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    out, back = tmp_path / "mic", tmp_path / "back"
    r = CliRunner().invoke(main, ["dicom", "compress", str(src), str(out)])
    assert r.exit_code == 0, r.output
    n_local = len(list(LOCAL.glob("*.dcm")))
    assert f"converted {len(IMAGES) + n_local}," in r.output
    assert "kept 4," in r.output and "skipped 1," in r.output and "failed 0" in r.output
    assert "ratio" in r.output and "no Pixel Data" in r.output
    assert "JPEG 2000 Image Compression (Lossless Only) pixel data could not be decoded" in r.output
    # mirrored tree, no temporary files left, the text file not copied
    rel = sorted(p.relative_to(out) for p in _files(out))
    assert rel == sorted(p.relative_to(src) for p in _files(src) if p.suffix == ".dcm")
    assert not any(p.name.endswith(".part") for p in _files(out))

    for p in _files(out):
        orig = src / p.relative_to(out)
        ds = pydicom.dcmread(p)  # plain pydicom after import mic.dicom
        if orig.name in NON_IMAGE + UNSUPPORTED + UNDECODABLE:
            assert p.read_bytes() == orig.read_bytes()  # passed through byte for byte
            continue
        assert ds.file_meta.TransferSyntaxUID == MIC_TRANSFER_SYNTAX
        o = pydicom.dcmread(orig)
        assert np.array_equal(ds.pixel_array, o.pixel_array)
        ignore = set(CHANGED_BY_COMPRESSION)
        if o.file_meta.TransferSyntaxUID.is_compressed:  # RLE source decoded first
            ignore |= {"PlanarConfiguration"}
        assert compare_datasets(o, ds, ignore) == []

    r = CliRunner().invoke(main, ["dicom", "decompress", str(out), str(back)])
    assert r.exit_code == 0, r.output
    for p in _files(back):
        orig = src / p.relative_to(back)
        o, ds = pydicom.dcmread(orig), pydicom.dcmread(p)
        if o.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian:
            # identical, Pixel Data bytes included -- except where the source had
            # garbage above Bits Stored, which (like pydicom) mic does not keep
            ign = {"PixelData"} if p.name == "ct_dirty_highbits.dcm" else set()
            assert compare_datasets(o, ds, ign) == []
        if "PixelData" in o and p.name not in UNDECODABLE:
            assert not ds.file_meta.TransferSyntaxUID.is_compressed
            assert np.array_equal(ds.pixel_array, o.pixel_array)


def test_single_file_force_and_failures(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), src / "ct.dcm")
    shutil.copy(get_testdata_file("MR_truncated.dcm"), src / "bad.dcm")  # pixel data cut short
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["dicom", "compress", str(src), str(out)])
    assert r.exit_code == 1  # one failure, the batch went on
    assert "failed 1" in r.output and "bad.dcm" in r.output
    assert (out / "ct.dcm").exists() and not (out / "bad.dcm").exists()

    # a single file into an existing folder; refused without --force, done with it
    before = (out / "ct.dcm").read_bytes()
    r = CliRunner().invoke(main, ["dicom", "compress", str(src / "ct.dcm"), str(out)])
    assert r.exit_code == 1 and "--force" in r.output
    assert (out / "ct.dcm").read_bytes() == before
    r = CliRunner().invoke(main, ["dicom", "compress", "--force", str(src / "ct.dcm"),
                                  str(out / "ct.dcm")])
    assert r.exit_code == 0, r.output
    # already mic: kept unchanged
    r = CliRunner().invoke(main, ["dicom", "compress", str(out / "ct.dcm"),
                                  str(tmp_path / "again.dcm")])
    assert r.exit_code == 0 and "already in the mic transfer syntax" in r.output
    assert (tmp_path / "again.dcm").read_bytes() == (out / "ct.dcm").read_bytes()


def test_corrupt_mic_file_fails_cleanly_on_decompress(tmp_path: Path) -> None:
    ds = mic.dicom.compress(pydicom.dcmread(get_testdata_file("CT_small.dcm")))
    p = tmp_path / "ct.dcm"
    pydicom.dcmwrite(p, ds, enforce_file_format=True)
    data = bytearray(p.read_bytes())
    data[-200] ^= 0xFF  # inside the .mic stream of the only frame
    p.write_bytes(bytes(data))
    r = CliRunner().invoke(main, ["dicom", "decompress", str(p), str(tmp_path / "o.dcm")])
    assert r.exit_code == 1
    assert "MicChecksumError" in r.output or "MicFormatError" in r.output
    assert not (tmp_path / "o.dcm").exists()


def test_lossy_request_without_lossy_mode_or_with_it(tmp_path: Path) -> None:
    src = get_testdata_file("CT_small.dcm")
    r = CliRunner().invoke(main, ["dicom", "compress", "-q", "1", src, str(tmp_path / "l.dcm")])
    try:
        mic.encode(np.full((64, 64), 100, np.uint16), quality=1)
    except mic.MicUnsupportedError:
        assert r.exit_code == 1 and "lossy" in r.output.lower()
        assert not (tmp_path / "l.dcm").exists()
        return
    assert r.exit_code == 0, r.output
    ds = pydicom.dcmread(tmp_path / "l.dcm")
    assert ds.LossyImageCompression == "01" and ds.ImageType[0] == "DERIVED"


def test_help_lists_the_commands() -> None:
    r = CliRunner().invoke(main, ["dicom", "--help"])
    assert r.exit_code == 0 and "compress" in r.output and "decompress" in r.output


@pytest.mark.parametrize("cmd", ["compress", "decompress"])
def test_missing_input_is_a_usage_error(tmp_path: Path, cmd: str) -> None:
    r = CliRunner().invoke(main, ["dicom", cmd, str(tmp_path / "nope"), str(tmp_path / "o")])
    assert r.exit_code == 2
    assert not os.path.exists(tmp_path / "o")


def test_jpeg_ls_input_is_decoded_first_with_imagecodecs(tmp_path: Path) -> None:
    pytest.importorskip("imagecodecs")
    src = get_testdata_file("MR_small_jpeg_ls_lossless.dcm")
    r = CliRunner().invoke(main, ["dicom", "compress", src, str(tmp_path / "o.dcm")])
    assert r.exit_code == 0 and "converted 1" in r.output, r.output
    ds = pydicom.dcmread(tmp_path / "o.dcm")
    assert ds.file_meta.TransferSyntaxUID == MIC_TRANSFER_SYNTAX
    ref = pydicom.dcmread(get_testdata_file("MR_small.dcm")).pixel_array  # same image
    assert np.array_equal(ds.pixel_array, ref)


def test_keep_compressed_copies_foreign_syntaxes(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(get_testdata_file("SC_rgb_rle.dcm"), src / "rle.dcm")
    shutil.copy(get_testdata_file("MR_small.dcm"), src / "mr.dcm")
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["dicom", "compress", "--keep-compressed", str(src), str(out)])
    assert r.exit_code == 0 and "converted 1, kept 1" in r.output, r.output
    assert (out / "rle.dcm").read_bytes() == (src / "rle.dcm").read_bytes()
    assert pydicom.dcmread(out / "mr.dcm").file_meta.TransferSyntaxUID == MIC_TRANSFER_SYNTAX


def test_parallel_jobs_give_the_same_files(tmp_path: Path) -> None:
    """-j 2 runs the same batch (mic.batch) in worker processes: same summary, same bytes."""
    src = tmp_path / "in"
    src.mkdir()
    for n in ("CT_small.dcm", "MR_small.dcm", "test-SR.dcm", "MR_truncated.dcm"):
        shutil.copy(get_testdata_file(n), src / n)
    (src / "notes.txt").write_text("not DICOM")
    r1 = CliRunner().invoke(main, ["dicom", "compress", str(src), str(tmp_path / "o1")])
    r2 = CliRunner().invoke(main, ["dicom", "compress", "-j", "2", str(src), str(tmp_path / "o2")])
    assert r1.exit_code == r2.exit_code == 1  # MR_truncated fails in both
    assert "files: 5 (converted 2, kept 1, skipped 1, failed 1)" in r2.output
    assert r2.output.count("error: ") == 1 and "MR_truncated.dcm" in r2.output
    assert sorted(p.name for p in _files(tmp_path / "o2")) == sorted(
        p.name for p in _files(tmp_path / "o1")) == ["CT_small.dcm", "MR_small.dcm", "test-SR.dcm"]
    for p in _files(tmp_path / "o1"):
        assert p.read_bytes() == (tmp_path / "o2" / p.name).read_bytes()
    r = CliRunner().invoke(main, ["dicom", "decompress", "-j", "2", str(tmp_path / "o2"),
                                  str(tmp_path / "back")])
    assert r.exit_code == 0 and "converted 2, kept 1" in r.output, r.output
    for n in ("CT_small.dcm", "MR_small.dcm"):
        assert np.array_equal(pydicom.dcmread(tmp_path / "back" / n).pixel_array,
                              pydicom.dcmread(src / n).pixel_array)


# ----------------------------------------------------------------------------- issue #23
LOSSY_SOURCES = ["SC_rgb_jpeg_dcmtk.dcm", "JPGExtended.dcm", "JPEG2000.dcm",
                 "JPEGLSNearLossless_16.dcm"]


def test_lossy_sources_are_kept_by_default_with_a_line_each(tmp_path: Path) -> None:
    """Recoding a lossy JPEG losslessly makes it larger (issue #23): kept as it is, listed."""
    src = tmp_path / "in"
    src.mkdir()
    for n in LOSSY_SOURCES:
        shutil.copy(get_testdata_file(n), src / n)
    # a lossy JPEG 2000 that does not say so: its codestream's 9/7 wavelet does
    ds = pydicom.dcmread(get_testdata_file("JPEG2000.dcm"))
    del ds.LossyImageCompression
    ds.save_as(src / "j2k_unflagged.dcm")
    shutil.copy(get_testdata_file("CT_small.dcm"), src / "ct.dcm")
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["dicom", "compress", str(src), str(out)])
    assert r.exit_code == 0, r.output
    assert "files: 6 (converted 1, kept 5, skipped 0, failed 0)" in r.output
    lossy = LOSSY_SOURCES + ["j2k_unflagged.dcm"]
    for n in lossy:
        assert (out / n).read_bytes() == (src / n).read_bytes()
        line = next(x for x in r.output.splitlines() if x.strip().startswith(str(src / n)))
        assert "already lossy-compressed" in line and "kept as it is" in line, line
    assert "9/7 irreversible wavelet" in r.output

    # asked to recode: each is recoded, and kept only where the result is smaller
    out2 = tmp_path / "out2"
    r = CliRunner().invoke(main, ["dicom", "compress", "--recode-lossy", str(src), str(out2)])
    assert r.exit_code == 0, r.output
    for n in lossy:
        o = out2 / n
        if o.read_bytes() == (src / n).read_bytes():
            line = next(x for x in r.output.splitlines() if x.strip().startswith(str(src / n)))
            assert "not smaller" in line or "could not be decoded" in line, line
        else:
            ds = pydicom.dcmread(o)
            assert ds.file_meta.TransferSyntaxUID == MIC_TRANSFER_SYNTAX
            assert o.stat().st_size < (src / n).stat().st_size
            assert ds.LossyImageCompression == "01"
            assert np.array_equal(ds.pixel_array, pydicom.dcmread(src / n).pixel_array)
    assert "not smaller" in r.output  # the small lossy JPEGs grow when recoded losslessly


def test_a_non_dicom_input_fails(tmp_path: Path) -> None:
    txt = tmp_path / "notes.dcm"
    txt.write_text("not DICOM at all")
    r = CliRunner().invoke(main, ["dicom", "compress", str(txt), str(tmp_path / "o.dcm")])
    assert r.exit_code == 1
    assert "not a DICOM file" in r.output and "failed 1" in r.output
    assert "ratio" not in r.output  # nothing was converted
    assert not (tmp_path / "o.dcm").exists()
    r = CliRunner().invoke(main, ["dicom", "decompress", str(txt), str(tmp_path / "o.dcm")])
    assert r.exit_code == 1 and "not a DICOM file" in r.output
    # a folder without any DICOM file
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(txt, folder / "a.txt")
    r = CliRunner().invoke(main, ["dicom", "compress", str(folder), str(tmp_path / "o")])
    assert r.exit_code == 1 and "no DICOM file found" in r.output


def test_no_ratio_when_nothing_was_converted(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["dicom", "compress", get_testdata_file("test-SR.dcm"),
                                  str(tmp_path / "sr.dcm")])
    assert r.exit_code == 0, r.output
    assert "converted 0, kept 1" in r.output and "nothing converted" in r.output
    assert "ratio" not in r.output


def test_serve_help_shows_a_runnable_example_and_options_are_checked(tmp_path: Path) -> None:
    pytest.importorskip("pynetdicom")
    r = CliRunner().invoke(main, ["dicom", "serve", "--help"])
    assert r.exit_code == 0
    for word in ("mic dicom serve store/ --port 11112 --ae-title MIC", "storescu", "findscu",
                 "getscu", "--move-dest", "--allow-ae", "--tls-cert", "--quality"):
        assert word in r.output, word
    r = CliRunner().invoke(main, ["dicom", "serve", str(tmp_path / "s"), "--move-dest", "X"])
    assert r.exit_code == 2 and "TITLE=HOST:PORT" in r.output
    r = CliRunner().invoke(main, ["dicom", "stats", str(tmp_path)])
    assert r.exit_code == 1 and "not a mic DICOM store" in r.output
