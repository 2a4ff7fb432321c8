"""Commands that need an optional dependency check for it before they start (mic.extras):
a missing module is a click error naming the install command, with nothing written."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from mic.cli import main
from mic.extras import EXTRAS, install_command, missing_message

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"


def _gone(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``modules`` look uninstalled (find_spec answers None; importing them fails)."""
    for m in modules:
        monkeypatch.setitem(sys.modules, m, None)


def test_extras_match_pyproject() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for extra, modules in EXTRAS.items():
        names = {r.split(">")[0].split("=")[0].split("<")[0].strip() for r in extras[extra]}
        # "dask[distributed]" brings the modules dask and distributed
        names |= {part.strip() for n in names if "[" in n
                  for part in [n.split("[")[0], *n.split("[")[1].rstrip("]").split(",")]}
        assert set(modules) <= names, extra
    assert install_command("torch", "train") == "pip install torch==2.13.0"  # as the README


def test_bench_without_matplotlib_stops_at_once_in_a_real_process(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from mic.cli import main\n"
            f"sys.argv = ['mic', 'bench', {str(DATA)!r}, '--out', {str(tmp_path / 'o')!r}]\n"
            "main()\n")
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and time.monotonic() - t0 < 60
    assert ("Error: 'mic bench' needs matplotlib, which is not installed here; install it with: "
            "pip install 'mic[bench]' (--no-plots runs without matplotlib)") in r.stderr
    assert not (tmp_path / "o").exists()


def test_bench_checks_what_its_options_need(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import mic.eval.cli as ecli

    ran = []
    monkeypatch.setattr(ecli, "run_bench", lambda *a, **k: ran.append(k) or 1 / 0)
    _gone(monkeypatch, "matplotlib", "scipy", "imagecodecs")
    r = CliRunner().invoke(main, ["bench", str(DATA), "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and not ran
    assert "needs scipy, imagecodecs and matplotlib, which are not installed" in r.output
    assert "pip install 'mic[bench]'" in r.output
    # mic alone, no charts: scipy only
    r = CliRunner().invoke(main, ["bench", str(DATA), "--out", str(tmp_path / "o"),
                                  "--codecs", "mic", "--no-plots"])
    assert r.exit_code == 1 and "needs scipy, which is not installed" in r.output
    assert "--no-plots" not in r.output.split("needs")[1]
    monkeypatch.delitem(sys.modules, "scipy")
    r = CliRunner().invoke(main, ["bench", str(DATA), "--out", str(tmp_path / "o"),
                                  "--codecs", "mic", "--no-plots"])
    assert ran and ran[0]["codecs"] == ["mic"]  # the check passed: the run started


@pytest.mark.parametrize("args", [["train", "{data}", "--steps", "1"],
                                  ["export", "{ckpt}"],
                                  ["retarget", "{ckpt}", "{out}", "--lambdas", "0.1,0.2"]])
def test_training_commands_without_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         args: list[str]) -> None:
    (tmp_path / "ckpt.pt").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    _gone(monkeypatch, "torch")
    argv = [a.format(data=DATA, ckpt=tmp_path / "ckpt.pt", out=tmp_path / "new.pt") for a in args]
    r = CliRunner().invoke(main, argv)
    assert r.exit_code == 1, r.output
    assert (f"'mic {args[0]}' needs torch, which is not installed here; install it with: "
            "pip install torch==2.13.0") in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]  # no runs/, ckpt/, out
    _gone(monkeypatch, "scipy")
    r = CliRunner().invoke(main, argv)
    assert "needs torch and scipy, which are not installed here; install them with: pip install " \
           "torch==2.13.0; pip install 'mic[train]'" in r.output


def test_dicom_inputs_only_imagecodecs_decodes(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from pydicom.data import get_testdata_file

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(get_testdata_file("MR_small_jpeg_ls_lossless.dcm"), src / "jls.dcm")
    shutil.copy(get_testdata_file("CT_small.dcm"), src / "ct.dcm")
    (src / "notes.txt").write_text("not DICOM")
    _gone(monkeypatch, "imagecodecs")
    r = CliRunner().invoke(main, ["dicom", "compress", str(src), str(tmp_path / "out")])
    assert r.exit_code == 1
    assert ("'mic dicom compress' needs imagecodecs, which is not installed here; install it "
            "with: pip install 'mic[dicom]' (for 1 JPEG-LS Lossless input file(s); "
            "--keep-compressed copies them as they are)") in r.output
    assert not (tmp_path / "out").exists()
    # nothing to decode by imagecodecs: the run goes ahead
    r = CliRunner().invoke(main, ["dicom", "compress", "--keep-compressed", str(src),
                                  str(tmp_path / "out")])
    assert r.exit_code == 0 and "converted 1, kept 1" in r.output, r.output


def test_message_wording() -> None:
    assert missing_message("mic bench", "bench", ["sys"]) is None
    assert missing_message("x", "dicom", ["nope1", "nope2", "nope3"]) == (
        "'x' needs nope1, nope2 and nope3, which are not installed here; install them with: "
        "pip install 'mic[dicom]'")


@pytest.mark.parametrize("cmd", [["encode", "{imgs}", "{out}"], ["decode", "{mics}", "{out}"],
                                 ["verify", "{mics}"], ["dicom", "compress", "{dcms}", "{out}"],
                                 ["dicom", "decompress", "{dcms}", "{out}"],
                                 ["bench", "{bench}", "--out", "{out}", "--codecs", "mic"]])
def test_dask_without_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                cmd: list[str]) -> None:
    """--dask names the install command of the dask extra, before anything is written."""
    import mic
    from mic.io import read_image

    (tmp_path / "mics").mkdir()
    (tmp_path / "mics" / "a.mic").write_bytes(mic.encode(read_image(DATA / "us_breast_u8.png")[0]))
    argv = [a.format(imgs=DATA, mics=tmp_path / "mics", dcms=DATA / "dicom", out=tmp_path / "o",
                     bench=DATA / "bench") for a in cmd]
    _gone(monkeypatch, "dask", "distributed")
    r = CliRunner().invoke(main, argv + ["--dask", "local:2"])
    assert r.exit_code == 1, r.output
    name = " ".join(cmd[:2]) if cmd[0] == "dicom" else cmd[0]
    assert (f"'mic {name} --dask' needs dask and distributed, which are not installed here; "
            "install them with: pip install 'mic[dask]'") in r.output
    assert not (tmp_path / "o").exists()


def test_a_parquet_manifest_needs_pyarrow_a_csv_one_nothing(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(DATA / "us_breast_u8.png", src / "u.png")
    _gone(monkeypatch, "pyarrow")
    r = CliRunner().invoke(main, ["encode", str(src), str(tmp_path / "o"), "--manifest",
                                  str(tmp_path / "m.parquet")])
    assert r.exit_code == 1
    assert ("needs pyarrow, which is not installed here; install it with: "
            "pip install 'mic[dask]' (or name a .csv manifest)") in r.output
    assert not (tmp_path / "o").exists() and not (tmp_path / "m.parquet").exists()
    r = CliRunner().invoke(main, ["encode", str(src), str(tmp_path / "o"), "--manifest",
                                  str(tmp_path / "m.csv")])
    assert r.exit_code == 0 and (tmp_path / "m.csv").read_text().startswith("source,output,")
