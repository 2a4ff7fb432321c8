"""Tests of the mic encode / decode / info / verify commands (click CliRunner, real files)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

import mic
from mic.cli import main
from mic.io import read_image

DATA = Path(__file__).parent / "data"
IMAGES = ["ct_abdomen_u16.png", "ct_lung_i16.npy", "mr_brain_u16.png", "cr_chest_u8.png",
          "us_breast_u8.png", "us_breast_rgb.png"]


def run(*args: object, input: bytes | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


def make_dicom(arr: np.ndarray, photometric: str = "MONOCHROME2",
               bits_stored: int | None = None) -> bytes:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.set_pixel_data(arr, photometric, bits_stored or 8 * arr.dtype.itemsize)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def real(name: str) -> np.ndarray:
    return read_image(DATA / name)[0]


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("name", IMAGES)
def test_encode_decode_every_output_format(tmp_path: Path, name: str) -> None:
    src = DATA / name
    orig = real(name)
    r = run("encode", src, tmp_path / "x.mic")
    assert r.exit_code == 0, r.output
    assert "ratio" in r.stdout and "bits/pixel" in r.stdout and "x.mic" in r.stdout
    assert np.array_equal(mic.decode((tmp_path / "x.mic").read_bytes()), orig)
    for suffix in (".png", ".tif", ".tiff", ".npy"):
        out = tmp_path / f"back{suffix}"
        r = run("decode", tmp_path / "x.mic", out)
        if suffix == ".png" and orig.dtype.kind == "i":
            assert r.exit_code == 1 and "signed" in r.stderr and not out.exists()
            continue
        assert r.exit_code == 0, r.output
        back, _ = read_image(out)
        assert back.dtype == orig.dtype and np.array_equal(back, orig), suffix
    # re-encoding a decoded file gives the same samples again
    r = run("encode", tmp_path / "back.tif", tmp_path / "again.mic")
    assert r.exit_code == 0
    assert np.array_equal(mic.decode((tmp_path / "again.mic").read_bytes()), orig)


def test_encode_dicom_multiframe_signed(tmp_path: Path) -> None:
    ct = real("ct_lung_i16.npy")
    stack = np.stack([ct[:96], ct[96:]])
    (tmp_path / "series.dcm").write_bytes(make_dicom(stack, bits_stored=16))
    r = run("encode", tmp_path / "series.dcm", tmp_path / "series.mic")
    assert r.exit_code == 0, r.output
    blob = (tmp_path / "series.mic").read_bytes()
    assert mic.info(blob).frames == 2 and mic.info(blob).signed
    r = run("decode", tmp_path / "series.mic", tmp_path / "series.npy")
    assert r.exit_code == 0
    back = np.load(tmp_path / "series.npy")
    assert back.dtype == np.int16 and np.array_equal(back, stack)


def test_encode_dicom_keeps_bits_stored_and_photometric(tmp_path: Path) -> None:
    ct = real("ct_abdomen_u16.png")
    (tmp_path / "IM_0001").write_bytes(make_dicom(ct, "MONOCHROME1", 14))  # no suffix: sniffed
    r = run("encode", tmp_path / "IM_0001", tmp_path / "im.mic")
    assert r.exit_code == 0, r.output
    i = mic.info((tmp_path / "im.mic").read_bytes())
    assert i.bits_stored == 14 and i.photometric == "MONOCHROME1"


def test_encode_options(tmp_path: Path) -> None:
    src = DATA / "ct_abdomen_u16.png"
    r = run("encode", src, tmp_path / "a.mic", "--bits-stored", "16", "--tile", "100x64",
            "--photometric", "monochrome1")
    assert r.exit_code == 0, r.output
    i = mic.info((tmp_path / "a.mic").read_bytes())
    assert (i.bits_stored, i.tile_shape, i.tiles, i.photometric) == (16, (100, 64), 12,
                                                                     "MONOCHROME1")
    assert np.array_equal(mic.decode((tmp_path / "a.mic").read_bytes()), real("ct_abdomen_u16.png"))
    # too few bits for the values: the codec refuses, exit 1, nothing written
    r = run("encode", src, tmp_path / "b.mic", "--bits-stored", "8")
    assert r.exit_code == 1 and "MicInputError" in r.stderr and not (tmp_path / "b.mic").exists()
    assert os.listdir(tmp_path) == ["a.mic"]


def test_encode_stream_version(tmp_path: Path) -> None:
    src = DATA / "cr_chest_u8.png"
    for args, major in (((), 2), (("--stream-version", "1"), 1), (("--stream-version", "2"), 2)):
        r = run("encode", src, tmp_path / f"s{major}.mic", "--force", *args)
        assert r.exit_code == 0, r.output
        blob = (tmp_path / f"s{major}.mic").read_bytes()
        assert blob[8] == major and mic.info(blob).version == f"{major}.0"
        assert np.array_equal(mic.decode(blob), real("cr_chest_u8.png"))
    assert (tmp_path / "s2.mic").stat().st_size < (tmp_path / "s1.mic").stat().st_size
    r = run("encode", src, tmp_path / "s3.mic", "--stream-version", "3")
    assert r.exit_code != 0 and not (tmp_path / "s3.mic").exists()


def test_output_into_existing_folder(tmp_path: Path) -> None:
    (tmp_path / "o").mkdir()
    r = run("encode", DATA / "cr_chest_u8.png", tmp_path / "o")
    assert r.exit_code == 0 and (tmp_path / "o" / "cr_chest_u8.mic").is_file()
    r = run("decode", tmp_path / "o" / "cr_chest_u8.mic", tmp_path / "o")
    assert r.exit_code == 0
    assert np.array_equal(read_image(tmp_path / "o" / "cr_chest_u8.png")[0], real("cr_chest_u8.png"))


def test_quiet_prints_nothing(tmp_path: Path) -> None:
    r = run("encode", DATA / "us_breast_u8.png", tmp_path / "q.mic", "--quiet")
    assert r.exit_code == 0 and r.output == ""
    r = run("decode", tmp_path / "q.mic", tmp_path / "q.png", "--quiet")
    assert r.exit_code == 0 and r.output == ""


# ----------------------------------------------------------------------------- stdin / stdout
def test_stdin_stdout_pipeline() -> None:
    png = (DATA / "mr_brain_u16.png").read_bytes()
    r = run("encode", "-", "-", input=png)
    assert r.exit_code == 0, r.stderr
    blob = r.stdout_bytes
    assert mic.check(blob) and "<stdin> -> <stdout>" in r.stderr
    assert np.array_equal(mic.decode(blob), real("mr_brain_u16.png"))
    r = run("decode", "-", "-", input=blob)  # default npy
    assert r.exit_code == 0
    assert np.array_equal(np.load(io.BytesIO(r.stdout_bytes)), real("mr_brain_u16.png"))
    for fmt in ("png", "tiff"):
        r = run("decode", "-", "-", "--format", fmt, "--quiet", input=blob)
        assert r.exit_code == 0 and r.stderr == ""
        back, meta = read_image(r.stdout_bytes)
        assert meta.format == fmt and np.array_equal(back, real("mr_brain_u16.png"))


@pytest.mark.parametrize("name", ["ct_lung_i16.npy", "us_breast_rgb.png"])
def test_stdin_sniffs_formats(tmp_path: Path, name: str) -> None:
    orig = real(name)
    variants = {"src": (DATA / name).read_bytes(),
                "tif": mic.io.image_to_bytes(orig, "tiff"),
                "dcm": make_dicom(orig, "RGB" if orig.ndim == 3 else "MONOCHROME2")}
    for label, data in variants.items():
        r = run("encode", "-", tmp_path / f"{label}.mic", input=data)
        assert r.exit_code == 0, (label, r.output)
        assert np.array_equal(mic.decode((tmp_path / f"{label}.mic").read_bytes()), orig)
    r = run("encode", "-", "-", input=b"plain text, not an image")
    assert r.exit_code == 1 and "not a recognised image" in r.stderr and r.stdout_bytes == b""


def test_real_process_pipe(tmp_path: Path) -> None:
    """The installed entry point works through real OS pipes (not CliRunner's)."""
    png = (DATA / "us_breast_u8.png").read_bytes()
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    enc = subprocess.run([sys.executable, "-m", "mic.cli", "encode", "-", "-", "--quiet"],
                         input=png, capture_output=True, env=env, timeout=300, check=False)
    assert enc.returncode == 0, enc.stderr
    dec = subprocess.run([sys.executable, "-m", "mic.cli", "decode", "-", "-", "--format", "png",
                          "--quiet"], input=enc.stdout, capture_output=True, env=env, timeout=300,
                         check=False)
    assert dec.returncode == 0, dec.stderr
    assert np.array_equal(read_image(dec.stdout)[0], real("us_breast_u8.png"))


# ----------------------------------------------------------------------------- overwrite / atomic
def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "x.mic"
    out.write_bytes(b"precious")
    r = run("encode", DATA / "cr_chest_u8.png", out)
    assert r.exit_code == 1 and "--force" in r.stderr
    assert out.read_bytes() == b"precious"
    r = run("encode", DATA / "cr_chest_u8.png", out, "--force")
    assert r.exit_code == 0 and mic.check(out.read_bytes())
    png = tmp_path / "x.png"
    png.write_bytes(b"precious")
    r = run("decode", out, png)
    assert r.exit_code == 1 and "--force" in r.stderr and png.read_bytes() == b"precious"
    r = run("decode", out, png, "-f")
    assert r.exit_code == 0 and np.array_equal(read_image(png)[0], real("cr_chest_u8.png"))
    assert sorted(os.listdir(tmp_path)) == ["x.mic", "x.png"]


def test_encoder_failure_leaves_no_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*a: object, **k: object) -> bytes:
        raise mic.MicInputError("simulated encoder failure")

    monkeypatch.setattr(mic, "encode", broken)
    r = run("encode", DATA / "ct_abdomen_u16.png", tmp_path / "x.mic")
    assert r.exit_code == 1 and "simulated encoder failure" in r.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device (simulated)"),
                                 KeyboardInterrupt()])
def test_failure_mid_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  exc: BaseException) -> None:
    """The data are already in the temporary file when the write is interrupted."""
    out = tmp_path / "x.mic"
    out.write_bytes(b"old version")
    real_fsync = os.fsync

    def interrupted(fd: int) -> None:
        assert os.fstat(fd).st_size > 1000  # the stream was written to the temp file
        raise exc

    monkeypatch.setattr(os, "fsync", interrupted)
    r = CliRunner().invoke(main, ["encode", str(DATA / "ct_abdomen_u16.png"), str(out), "--force"])
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert r.exit_code == 1
    assert out.read_bytes() == b"old version"  # untouched
    assert os.listdir(tmp_path) == ["x.mic"]  # no temporary file left behind
    out.unlink()
    monkeypatch.setattr(os, "fsync", interrupted)
    r = CliRunner().invoke(main, ["decode", "-", str(tmp_path / "y.png")],
                           input=mic.encode(real("cr_chest_u8.png")))
    assert r.exit_code == 1 and os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------- folders
def _make_tree(root: Path) -> None:
    (root / "a" / "b").mkdir(parents=True)
    shutil.copy(DATA / "ct_abdomen_u16.png", root / "a" / "ct.png")
    shutil.copy(DATA / "us_breast_rgb.png", root / "a" / "b" / "us.png")
    shutil.copy(DATA / "ct_lung_i16.npy", root / "lung.npy")
    (root / "a" / "b" / "mr.tif").write_bytes(mic.io.image_to_bytes(real("mr_brain_u16.png"),
                                                                    "tiff"))
    (root / "a" / "IM_0007").write_bytes(make_dicom(real("cr_chest_u8.png")))  # no suffix
    data = (DATA / "cr_chest_u8.png").read_bytes()
    (root / "a" / "broken.png").write_bytes(data[: len(data) // 3])  # truncated: must fail
    (root / "notes.txt").write_text("not an image")  # skipped silently
    (root / ".hidden.png").write_bytes(b"junk")  # hidden: ignored


def test_folder_encode_mirrors_tree_and_skips_bad_file(tmp_path: Path) -> None:
    src, enc, dec = tmp_path / "in", tmp_path / "enc", tmp_path / "dec"
    _make_tree(src)
    r = run("encode", src, enc)
    assert r.exit_code == 1  # one bad input
    assert "broken.png" in r.stderr and r.stderr.count("error:") == 1
    assert "encoded 5 of 6 files" in r.stdout and "1 failed" in r.stdout
    made = sorted(str(p.relative_to(enc)) for p in enc.rglob("*") if p.is_file())
    assert made == ["a/IM_0007.mic", "a/b/mr.mic", "a/b/us.mic", "a/ct.mic", "lung.mic"]
    # decode the tree back: formats chosen per image, values identical
    r = run("decode", enc, dec)
    assert r.exit_code == 0, r.output
    pairs = {"a/ct.png": "ct_abdomen_u16.png", "a/b/us.png": "us_breast_rgb.png",
             "a/b/mr.png": "mr_brain_u16.png", "lung.tif": "ct_lung_i16.npy",
             "a/IM_0007.png": "cr_chest_u8.png"}
    made = sorted(str(p.relative_to(dec)) for p in dec.rglob("*") if p.is_file())
    assert made == sorted(pairs)
    for out, orig in pairs.items():
        assert np.array_equal(read_image(dec / out)[0], real(orig)), out
    # a second run refuses every existing output, --force redoes them
    r = run("decode", enc, dec, "--format", "npy")
    assert r.exit_code == 0 and len(list(dec.rglob("*.npy"))) == 5
    r = run("decode", enc, dec, "--format", "npy")
    assert r.exit_code == 1 and r.stderr.count("--force") == 5
    r = run("decode", enc, dec, "--format", "npy", "--force", "--quiet")
    assert r.exit_code == 0 and r.output == ""


def test_folder_verify_and_info(tmp_path: Path) -> None:
    src, enc = tmp_path / "in", tmp_path / "enc"
    _make_tree(src)
    (src / "a" / "broken.png").unlink()
    assert run("encode", src, enc, "--quiet").exit_code == 0
    r = run("verify", enc)
    assert r.exit_code == 0 and r.stdout.count("OK ") == 5 and "5 of 5 files OK" in r.stdout
    r = run("info", enc, "--json")
    assert r.exit_code == 0
    rows = json.loads(r.stdout)
    assert isinstance(rows, list) and len(rows) == 5
    assert {row["dtype"] for row in rows} == {"uint16", "int16", "uint8"}
    # damage one stream: verify names it and exits 1, the others still pass
    victim = enc / "a" / "ct.mic"
    blob = bytearray(victim.read_bytes())
    blob[len(blob) // 2] ^= 0x40
    victim.write_bytes(bytes(blob))
    r = run("verify", enc)
    assert r.exit_code == 1
    assert "FAILED" in r.stderr and "ct.mic" in r.stderr and "MicChecksumError" in r.stderr
    assert r.stdout.count("OK ") == 4
    r = run("verify", enc, "--quiet")
    assert r.exit_code == 1 and r.stdout == ""


def test_folder_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    shutil.copy(DATA / "us_breast_u8.png", tmp_path / "in" / "u.png")
    (tmp_path / "afile").write_bytes(b"x")
    assert run("encode", tmp_path / "in", "-").exit_code == 2
    assert run("encode", tmp_path / "in", tmp_path / "afile").exit_code == 2
    (tmp_path / "empty").mkdir()
    r = run("encode", tmp_path / "empty", tmp_path / "out")
    assert r.exit_code == 1 and "no images" in r.stderr


def test_folder_output_inside_input_is_not_reprocessed(tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    shutil.copy(DATA / "us_breast_u8.png", root / "u.png")
    assert run("encode", root, root / "enc").exit_code == 0
    assert run("decode", root / "enc", root / "enc" / "dec").exit_code == 0
    assert run("encode", root, root / "enc", "--force").exit_code == 0
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == [
        "enc/dec/u.png", "enc/u.mic", "u.png"]


# ----------------------------------------------------------------------------- info / verify
def test_info_json_single_file(tmp_path: Path) -> None:
    run("encode", DATA / "ct_abdomen_u16.png", tmp_path / "ct.mic", "--tile", "128")
    r = run("info", tmp_path / "ct.mic", "--json")
    assert r.exit_code == 0
    d = json.loads(r.stdout)
    assert d["mode"] == "lossless" and d["dtype"] == "uint16" and d["shape"] == [256, 256]
    assert d["bits_stored"] == 12 and d["photometric"] == "MONOCHROME2" and d["tiles"] == 4
    assert d["compressed_size"] == (tmp_path / "ct.mic").stat().st_size
    assert d["raw_size"] == 256 * 256 * 2
    assert abs(d["bits_per_pixel"] - 8 * d["compressed_size"] / 65536) < 1e-5
    r = run("info", tmp_path / "ct.mic")
    assert r.exit_code == 0 and "bits_stored" in r.stdout and "lossless" in r.stdout
    r = run("info", "-", "--json", input=(tmp_path / "ct.mic").read_bytes())
    assert r.exit_code == 0 and json.loads(r.stdout)["path"] == "<stdin>"


def test_info_and_verify_bad_inputs(tmp_path: Path) -> None:
    good = tmp_path / "good.mic"
    run("encode", DATA / "us_breast_u8.png", good)
    (tmp_path / "trunc.mic").write_bytes(good.read_bytes()[:30])
    (tmp_path / "plain.mic").write_bytes(b"hello world")
    for cmd in ("info", "verify"):
        r = run(cmd, good, tmp_path / "trunc.mic", tmp_path / "plain.mic")
        assert r.exit_code == 1, cmd
        assert "trunc.mic" in r.stderr and "plain.mic" in r.stderr and "good.mic" in r.stdout
    r = run("verify", tmp_path / "trunc.mic")
    assert r.exit_code == 1 and "MicTruncatedError" in r.stderr
    r = run("verify", "-", input=good.read_bytes())
    assert r.exit_code == 0 and "OK <stdin>" in r.stdout


def test_verify_max_pixels(tmp_path: Path) -> None:
    run("encode", DATA / "us_breast_u8.png", tmp_path / "u.mic")
    r = run("verify", tmp_path / "u.mic", "--max-pixels", "1000")
    assert r.exit_code == 1 and "MicLimitError" in r.stderr
    r = run("decode", tmp_path / "u.mic", tmp_path / "u.png", "--max-pixels", "1000")
    assert r.exit_code == 1 and not (tmp_path / "u.png").exists()


# ----------------------------------------------------------------------------- usage / help
@pytest.mark.parametrize("args", [
    ["encode", "MISSING.png", "x.mic"],
    ["encode", str(DATA / "us_breast_u8.png"), "x.png"],
    ["encode", str(DATA / "us_breast_u8.png"), "x.mic", "--tile", "big"],
    ["encode", str(DATA / "us_breast_u8.png"), "x.mic", "--bits-stored", "17"],
    ["decode", "x.mic", "y.png", "--format", "jpeg"],
    ["encode"],
    ["verify"],
    ["info"],
])
def test_usage_errors_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            args: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    assert os.listdir(tmp_path) == []


def test_decode_output_name_errors(tmp_path: Path) -> None:
    blob = tmp_path / "u.mic"
    run("encode", DATA / "us_breast_u8.png", blob)
    r = run("decode", blob, tmp_path / "u.dcm")
    assert r.exit_code == 2 and "mic dicom" in r.output
    assert run("decode", blob, tmp_path / "u.mic2").exit_code == 2
    assert run("decode", blob, tmp_path / "u.png", "--format", "npy").exit_code == 2
    r = run("decode", DATA / "us_breast_u8.png", tmp_path / "v.png")
    assert r.exit_code == 1 and "not a .mic stream" in r.stderr
    r = run("encode", blob, tmp_path / "w.mic")
    assert r.exit_code == 1 and "already a .mic" in r.stderr


@pytest.mark.parametrize("cmd", ["encode", "decode", "info", "verify"])
def test_help_has_examples_and_exit_codes(cmd: str) -> None:
    r = run(cmd, "--help")
    assert r.exit_code == 0
    assert "Examples:" in r.output and "Exit codes" in r.output and f"mic {cmd}" in r.output


def test_folder_skips_dicom_without_pixels(tmp_path: Path) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    src = tmp_path / "study"
    src.mkdir()
    (src / "IM1").write_bytes(make_dicom(real("ct_abdomen_u16.png"), bits_stored=12))
    ds = Dataset()  # a DICOMDIR-like object: valid DICOM, no image
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = "1.2.840.10008.1.3.10"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.save_as(src / "DICOMDIR", enforce_file_format=True)
    r = run("encode", src, tmp_path / "enc")
    assert r.exit_code == 0, r.output
    assert "encoded 1 of 1 files" in r.stdout and "without pixel data" in r.stdout
    assert sorted(p.name for p in (tmp_path / "enc").iterdir()) == ["IM1.mic"]
    r = run("encode", src / "DICOMDIR", tmp_path / "d.mic")  # named alone it is an error
    assert r.exit_code == 1 and "no pixel data" in r.stderr


def test_monochrome1_note_on_png_output(tmp_path: Path) -> None:
    run("encode", DATA / "us_breast_u8.png", tmp_path / "m1.mic", "--photometric", "MONOCHROME1")
    r = run("decode", tmp_path / "m1.mic", tmp_path / "m1.png")
    assert r.exit_code == 0 and "MONOCHROME1" in r.stderr
    r = run("decode", tmp_path / "m1.mic", tmp_path / "m1.tif")
    assert r.exit_code == 0 and "note:" not in r.stderr
    assert read_image(tmp_path / "m1.tif")[1].photometric == "MONOCHROME1"


def test_missing_output_folder_is_a_usage_error(tmp_path: Path) -> None:
    r = run("encode", DATA / "us_breast_u8.png", tmp_path / "nope" / "u.mic")
    assert r.exit_code == 2 and "does not exist" in r.output
    run("encode", DATA / "us_breast_u8.png", tmp_path / "u.mic")
    r = run("decode", tmp_path / "u.mic", tmp_path / "nope" / "u.png")
    assert r.exit_code == 2 and "does not exist" in r.output
    assert os.listdir(tmp_path) == ["u.mic"]


def test_quickstart_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """examples/quickstart.py (what `make demo` runs) works and reports an exact round trip."""
    import runpy

    path = Path(__file__).parent.parent / "examples" / "quickstart.py"
    ns = runpy.run_path(str(path))  # defines main() without running it
    assert ns["main"](["quickstart.py", str(DATA / "us_breast_rgb.png")]) == 0
    out = capsys.readouterr().out
    assert "round trip exact: max abs error 0" in out and "ratio" in out and "bits/pixel" in out


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_cli_roundtrip_example_finds_the_venv_mic(tmp_path: Path) -> None:
    """examples/cli_roundtrip.sh after `make demo`: no `mic` on PATH, so it runs .venv's (here
    a console script like pip's, in a copy of the layout) with the Python of its #! line."""
    root = Path(__file__).resolve().parents[1]
    (tmp_path / "examples").mkdir()
    shutil.copy(root / "examples" / "cli_roundtrip.sh", tmp_path / "examples")
    venv_mic = tmp_path / ".venv" / "bin" / "mic"
    venv_mic.parent.mkdir(parents=True)
    venv_mic.write_text(f"#!{sys.executable}\nimport sys\nfrom mic.cli import main\n"
                        "sys.exit(main())\n")
    venv_mic.chmod(0o755)
    path = os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep)
                           if d and not os.path.exists(os.path.join(d, "mic")))
    env = {**os.environ, "PATH": path,
           "PYTHONPATH": os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH"))
                                         if p)}
    env.pop("MIC", None)
    env.pop("PY", None)
    r = subprocess.run(["bash", str(tmp_path / "examples" / "cli_roundtrip.sh"),
                        str(DATA / "us_breast_u8.png")], env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "refused to overwrite without --force" in r.stdout
    assert "round trip through the CLI is exact" in r.stdout


def test_folder_parallel_jobs_same_result(tmp_path: Path) -> None:
    src = tmp_path / "in"
    _make_tree(src)
    r1 = run("encode", src, tmp_path / "e1", "--quiet")
    r2 = run("encode", src, tmp_path / "e2", "-j", "2")
    assert r1.exit_code == r2.exit_code == 1  # the broken file, in both modes
    assert "broken.png" in r2.stderr and "encoded 5 of 6 files" in r2.stdout
    f1 = sorted(p.relative_to(tmp_path / "e1") for p in (tmp_path / "e1").rglob("*.mic"))
    f2 = sorted(p.relative_to(tmp_path / "e2") for p in (tmp_path / "e2").rglob("*.mic"))
    assert f1 == f2 and len(f1) == 5
    for rel in f1:
        a = mic.decode((tmp_path / "e1" / rel).read_bytes())
        b = mic.decode((tmp_path / "e2" / rel).read_bytes())
        assert np.array_equal(a, b)
    r = run("decode", tmp_path / "e2", tmp_path / "d2", "--jobs", "2", "--format", "npy")
    assert r.exit_code == 0 and len(list((tmp_path / "d2").rglob("*.npy"))) == 5
    assert not [p for p in tmp_path.rglob(".*.part")]


def test_folder_name_collision_reported(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(DATA / "us_breast_u8.png", src / "x.png")
    (src / "x.tif").write_bytes(mic.io.image_to_bytes(real("us_breast_u8.png"), "tiff"))
    r = run("encode", src, tmp_path / "out")
    assert r.exit_code == 1 and "would also be written" in r.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["x.mic"]


def test_ctrl_c_in_a_folder_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C on the third file: the first two outputs are complete, nothing partial remains."""
    import mic.cli_codec as cc

    src = tmp_path / "in"
    src.mkdir()
    for i in range(5):
        shutil.copy(DATA / "us_breast_u8.png", src / f"u{i}.png")
    real_encode_file = cc._encode_file
    calls = []

    def interrupting(s: str, d: str, options: dict, force: bool) -> object:
        calls.append(s)
        if len(calls) == 3:
            with mic.io.atomic_output(d) as f:  # interrupted while writing its output
                f.write(b"half a stream")
                raise KeyboardInterrupt
        return real_encode_file(s, d, options, force)

    monkeypatch.setattr(cc, "_encode_file", interrupting)
    r = CliRunner().invoke(main, ["encode", str(src), str(tmp_path / "out")])
    assert r.exit_code == 1 and "Aborted" in r.output
    made = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert made == ["u0.mic", "u1.mic"]  # no u2 (partial), no temporary files
    for name in made:
        assert np.array_equal(mic.decode((tmp_path / "out" / name).read_bytes()),
                              real("us_breast_u8.png"))


def test_decode_help_pipe_example_runs_in_a_shell(tmp_path: Path) -> None:
    """The stdout example of ``mic decode --help``, exactly as printed, through a real shell
    pipe (stdin is not seekable: numpy.load needs the bytes in a BytesIO)."""
    line = next(ln.strip() for ln in run("decode", "--help").output.splitlines()
                if ln.strip().startswith("mic decode ct.mic - |"))
    ct = real("ct_abdomen_u16.png")
    (tmp_path / "ct.mic").write_bytes(mic.encode(ct))
    bin_dir = tmp_path / "bin"  # `mic` and `python` as a user's shell would find them
    bin_dir.mkdir()
    for name, cmd in (("mic", f'"{sys.executable}" -m mic.cli'), ("python", f'"{sys.executable}"')):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec {cmd} "$@"\n')
        (bin_dir / name).chmod(0o755)
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    r = subprocess.run(["bash", "-o", "pipefail", "-c", line], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{ct.shape}\n"
