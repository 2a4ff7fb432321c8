"""End-to-end ``mic bench --quick`` on the two tiny committed images of tests/data/bench."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("imagecodecs")
pytest.importorskip("matplotlib")
pytest.importorskip("scipy")

from mic.cli import main

DATA = Path(__file__).parent / "data" / "bench"


@pytest.fixture(scope="module")
def bench_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    res = CliRunner().invoke(main, ["bench", str(DATA), "--out", str(out), "--quick"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    return out


def test_outputs_exist(bench_out):
    for name in ("results.csv", "results.json", "summary.md", "rd_CT_psnr.png", "rd_MR_psnr.png"):
        assert (bench_out / name).stat().st_size > 0, name


def test_results_cover_both_images_and_all_anchors(bench_out):
    with open(bench_out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    images = {r["image"] for r in rows}
    assert images == {"ct_lung_signed_crop", "mr_xa30_crop"}
    codecs = {r["codec"] for r in rows}
    assert {"mic", "jpegls", "jpeg2000", "htj2k", "jpegxl", "jpeg", "png", "zstd"} <= codecs
    for r in rows:
        assert r["error"] == "", r
        if r["mode"] == "lossless":
            assert r["exact"] == "1" and r["psnr"] == "inf" and r["max_abs_err"] == "0"
        else:
            assert 0 < float(r["psnr"]) < 200 and 0 < float(r["ssim"]) < 1.0 + 1e-9
            assert int(r["max_abs_err"]) > 0
        assert float(r["bpp"]) > 0 and float(r["enc_ms"]) >= 0
    # the signed CT crop is coded by mic as int16 with its 16 stated bits
    ct = [r for r in rows if r["image"] == "ct_lung_signed_crop" and r["codec"] == "mic"]
    assert ct[0]["dtype"] == "int16" and ct[0]["bits"] == "16" and ct[0]["offset"] == "32768"
    # mic lossless must beat raw storage on real data
    mic = [r for r in rows if r["codec"] == "mic"]
    assert all(float(r["cr"]) > 1.0 for r in mic)


def test_summary_has_the_tables(bench_out):
    md = (bench_out / "summary.md").read_text()
    for heading in ("## Lossless: bits per pixel", "## BD-rate against jpeg2000",
                    "## Matched rates", "### Lossless speed", "## Rate-distortion plots",
                    "## BD-rate against jpegxl"):
        assert heading in md
    assert "has no lossy points" not in md
    assert "mic bench" in md and "machine:" in md
    j = json.loads((bench_out / "results.json").read_text())
    assert j["meta"]["images"] == 2 and j["meta"]["quick"] is True
    assert j["bd_rate"] and all(b["reference"] == "jpeg2000" for b in j["bd_rate"])


def test_codec_selection_and_no_manifest(tmp_path):
    # a plain folder without a manifest: modality from the sub-folder name, bits from the data
    src = tmp_path / "in" / "MR"
    src.mkdir(parents=True)
    shutil.copy(DATA / "MR" / "mr_xa30_crop.png", src / "x.png")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["bench", str(tmp_path / "in"), "--out", str(out), "--quick",
                                    "--codecs", "mic,png", "--no-plots"])
    assert res.exit_code == 0, res.output
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["codec"] for r in rows} == {"mic", "png"}
    assert rows[0]["modality"] == "MR" and rows[0]["bits"] == "12"
    assert not list(out.glob("*.png"))
    assert "reference `jpeg2000` has no lossy points" in (out / "summary.md").read_text()


def test_summary_with_the_reference_but_without_jpegxl(tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["bench", str(DATA), "--out", str(out), "--quick",
                                    "--codecs", "jpeg2000,jpeg", "--no-plots"])
    assert res.exit_code == 0, res.output
    md = (out / "summary.md").read_text()
    assert "## BD-rate against jpeg2000" in md and "has no lossy points" not in md
    assert "## BD-rate against jpegxl" not in md


def test_bad_input_is_a_clean_error(tmp_path):
    res = CliRunner().invoke(main, ["bench", str(DATA), "--out", str(tmp_path / "o"),
                                    "--codecs", "nosuchcodec"])
    assert res.exit_code != 0 and "unknown codec" in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(main, ["bench", str(empty), "--out", str(tmp_path / "o2")])
    assert res.exit_code != 0 and "no images" in res.output


def test_unusable_file_is_noted_not_fatal(tmp_path):
    import numpy as np

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(DATA / "MR" / "mr_xa30_crop.png", src / "good.png")
    np.save(src / "float.npy", np.zeros((8, 8), np.float32))  # mic codes integers only
    np.save(src / "stack.npy", np.arange(2 * 16 * 16, dtype=np.uint16).reshape(2, 16, 16))
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["bench", str(src), "--out", str(out), "--quick",
                                    "--codecs", "mic", "--no-plots"])
    assert res.exit_code == 0, res.output
    md = (out / "summary.md").read_text()
    assert "not benchmarked" in md and "float.npy" in md
    with open(out / "results.csv", newline="") as fh:
        names = sorted(r["image"] for r in csv.DictReader(fh))
    assert names == ["good", "stack#0", "stack#1"]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_efforts_run_beside_the_default_with_time_ratios(tmp_path, jobs):
    """--efforts adds mic-MODEL-eN codecs (in worker processes too); the lossy speed table
    gives each codec's time as a multiple of JPEG 2000's in the same run."""
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["bench", str(DATA), "--out", str(out), "--quick",
                                    "--codecs", "mic-wavelet-context,jpeg2000", "--efforts",
                                    "1,7", "--no-plots", "-j", jobs])
    assert res.exit_code == 0, res.output
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["codec"] for r in rows} == {"mic-wavelet-context", "mic-wavelet-context-e1",
                                          "mic-wavelet-context-e7", "jpeg2000"}
    md = (out / "summary.md").read_text()
    assert "enc time / jpeg2000" in md and "| jpeg2000 |" in md and "x 1.00" in md
    bad = CliRunner().invoke(main, ["bench", str(DATA), "--out", str(out), "--efforts", "9",
                                    "--codecs", "mic-wavelet-context", "--no-plots"])
    assert bad.exit_code != 0 and "effort must be an int in 1..7" in bad.output


def test_bits8_codes_the_top_8_bits(tmp_path):
    """``--bits8`` (run_bench(bits8=True)): every image reduced to its top 8 bits, in
    process and through a worker's reload (image_spec / load_spec), and said so."""
    import numpy as np

    from mic.eval.cli import run_bench
    from mic.eval.data import load_images, top8
    from mic.eval.runner import image_spec, load_spec
    from mic.io import write_image

    d = tmp_path / "in"
    (d / "CT").mkdir(parents=True)
    img = (np.add.outer(np.arange(48), np.arange(40)) * 40 % 4096).astype(np.uint16)
    write_image(d / "CT" / "a.png", img)
    im = load_images(d)[0]
    t = top8(im)
    assert t.native.dtype == np.uint8 and t.bits == 8
    assert (t.native == (img >> (int(img.max()).bit_length() - 8))).all()
    again = load_spec(image_spec(t))
    assert (again.native == t.native).all() and again.bits == 8
    res = run_bench(d, tmp_path / "out", quick=True, codecs=["png"], progress=False,
                    plots=False, bits8=True)
    assert res["meta"]["bits8"] is True
    assert "top 8 bits" in (tmp_path / "out" / "summary.md").read_text()
    assert res["rows"] and all(r["bits"] == 8 and r["dtype"] == "uint8" for r in res["rows"])
