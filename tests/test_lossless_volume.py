"""Lossless volumes (SPEC 5.5): inter-frame tiles predicted from the previous frame, groups
of G frames (``mic.encode(a, volume_group=G)``), the conformance vectors under
formats/volume/, and the bad input the issue names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mic
from mic.errors import MicError, MicFormatError, MicInputError
from mic_test_helpers import load_reference_decoder

ROOT = Path(__file__).resolve().parents[1]
VOL = ROOT / "formats" / "volume"
META = json.loads((VOL / "vectors.json").read_text())
EXPECTED = json.loads((VOL / "invalid" / "expected.json").read_text())
DATA = ROOT / "tests" / "data"


def _ct() -> np.ndarray:
    from PIL import Image

    with Image.open(DATA / "ct_abdomen_u16.png") as im:
        return np.asarray(im)


def _ct_stack(frames: int = 6) -> np.ndarray:
    """Consecutive 'slices': one crop of the committed CT with a slow per-frame ramp and
    fixed small noise."""
    ct = _ct().astype(np.int32)
    rng = np.random.default_rng(7)
    ramp = np.add.outer(np.arange(96), np.arange(112)) // 16
    out = [ct[150:246, 140:252] + f * ramp + rng.integers(-1, 2, (96, 112))
           for f in range(frames)]
    return np.clip(np.stack(out), 0, 65535).astype(np.uint16)


def _smooth(frames: int = 9, dtype=np.int16) -> np.ndarray:
    yy, xx = np.mgrid[:40, :52]
    return np.stack([(500 + 200 * np.sin(xx / 7 + f / 4) + 150 * np.cos(yy / 6 - f / 6))
                     .astype(dtype) for f in range(frames)])


def _xforms(stream: bytes) -> list[int]:
    sys.path.insert(0, str(ROOT / "formats"))
    import forge

    return [stream[sp.mode_start] for sp in forge.spans(stream) if sp.tag == b"TILE"]


@pytest.mark.parametrize("group", [2, 4, 16])
def test_round_trip_ct_stack(group: int) -> None:
    vol = _ct_stack()
    blob = mic.encode(vol, volume_group=group)
    assert (mic.decode(blob) == vol).all()
    xf = _xforms(blob)
    assert all(x == 0 for f, x in enumerate(xf) if f % group == 0)
    assert 7 in xf  # thin slices: the previous frame pays (model id 25, SPEC 5.15)
    assert len(blob) < len(mic.encode(vol))
    old = mic.encode(vol, volume_group=group, inter_nlms=False)  # model id 22 (SPEC 5.5)
    assert (mic.decode(old) == vol).all() and 4 in _xforms(old)
    assert len(blob) < len(old) < len(mic.encode(vol))


def test_smooth_volume_gains_and_signed() -> None:
    vol = _smooth()
    per = mic.encode(vol)
    blob = mic.encode(vol, volume_group=8)
    assert (mic.decode(blob) == vol).all()
    assert len(blob) < 0.95 * len(per)
    # model 20's table sections (before model 22 packed them: per-frame planes of 2,080
    # samples lost 3.5 % more to tables, the inter tiles' kind-1 planes keep theirs)
    per20 = mic.encode(vol, compact_tables=False)
    assert len(mic.encode(vol, volume_group=8, compact_tables=False)) < 0.9 * len(per20)


def test_never_larger_than_per_frame_beyond_the_segment() -> None:
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 4096, (3, 32, 40)).astype(np.uint16)  # no inter-frame gain
    blob = mic.encode(noise, volume_group=8)
    # the LVOL segment alone, against per-frame model id 1, whose planes a volume's are
    assert len(blob) <= len(mic.encode(noise, nlms=False)) + 8
    assert (mic.decode(blob) == noise).all()


def test_region_and_tiles_and_threads_identical_bytes() -> None:
    vol = _ct_stack(5)
    blob = mic.encode(vol, volume_group=3, tile=32)
    for threads in (2, 4):
        assert mic.encode(vol, volume_group=3, tile=32, threads=threads) == blob
        assert (mic.decode(blob, threads=threads) == vol).all()
    out = np.empty_like(vol)
    assert mic.decode(blob, out=out, threads=2) is out and (out == vol).all()
    for region in ((0, 96, 0, 112), (10, 50, 33, 90), (95, 96, 0, 1), (40, 41, 60, 111)):
        r0, r1, c0, c1 = region
        assert (mic.decode(blob, region=region) == vol[:, r0:r1, c0:c1]).all()
        assert (mic.decode(blob, region=region, threads=3) == vol[:, r0:r1, c0:c1]).all()


def test_deterministic_and_frame_list_input() -> None:
    vol = _ct_stack(4)
    a = mic.encode(vol, volume_group=4)
    assert mic.encode(vol, volume_group=4) == a
    assert mic.encode(list(vol), volume_group=4) == a
    assert mic.info(a).frames == 4


def test_one_frame_and_constant_frames() -> None:
    one = _ct_stack(1)
    assert (mic.decode(mic.encode(one, volume_group=2)) == one).all()
    const = np.full((3, 8, 9), 77, np.uint8)
    const[2, 4, 4] = 78
    assert (mic.decode(mic.encode(const, volume_group=2)) == const).all()


@pytest.mark.parametrize("kw, what", [
    ({"volume_group": 1}, "2..65536"), ({"volume_group": 1 << 17}, "2..65536"),
    ({"volume_group": True}, "int"), ({"volume_group": 2.0}, "int"),
    ({"volume_group": 4, "max_error": 1}, "lossless"),
    ({"volume_group": 4, "quality": 10}, "lossless"),
])
def test_bad_arguments(kw: dict, what: str) -> None:
    with pytest.raises(MicInputError, match=what):
        mic.encode(_smooth(3), **kw)


def test_mismatched_frames_refused_before_anything_is_written(tmp_path: Path) -> None:
    a = np.zeros((8, 9), np.uint16)
    with pytest.raises(MicInputError, match="shape and dtype"):
        mic.encode([a, np.zeros((8, 10), np.uint16)], volume_group=2)
    with pytest.raises(MicInputError, match="shape and dtype"):
        mic.encode([a, np.zeros((8, 9), np.uint8)], volume_group=2)
    with pytest.raises(MicInputError, match="2-D"):
        mic.encode([np.zeros((2, 8, 9), np.uint16)] * 2, volume_group=2)
    with pytest.raises(MicInputError):  # taken as RGB: no volumes
        mic.encode(np.zeros((8, 9, 3), np.uint8), volume_group=2)
    with pytest.raises(MicInputError):
        mic.encode(np.zeros((2, 8, 9, 3), np.uint8), volume_group=2)  # RGB: no volumes
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- vectors
@pytest.mark.parametrize("v", META["vectors"], ids=lambda v: v["name"])
def test_vector_decodes(v: dict) -> None:
    blob = (VOL / v["stream"]).read_bytes()
    src = np.load(VOL / v["source"])
    out = mic.decode(blob)
    assert out.dtype == src.dtype and (out == src).all()
    assert _xforms(blob) == v["xforms"] and 4 in v["xforms"]
    opts = {k: (tuple(x) if isinstance(x, list) else x) for k, x in v["encode_options"].items()}
    assert mic.encode(src, **opts) == blob  # today's encoder makes the same bytes




@pytest.mark.parametrize("v", META["vectors"], ids=lambda v: v["name"])
def test_vector_reference_decoder(v: dict) -> None:
    """The reference decoder, written from SPEC.md alone (5.5 included), agrees."""
    out = load_reference_decoder().decode((VOL / v["stream"]).read_bytes())
    assert (out == np.load(VOL / v["source"])).all()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_vector_refused_by_reference(name: str) -> None:
    with pytest.raises(Exception):
        load_reference_decoder().decode((VOL / "invalid" / (name + ".mic")).read_bytes())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_vector_raises(name: str) -> None:
    case = EXPECTED[name]
    blob = (VOL / "invalid" / (name + ".mic")).read_bytes()
    cls = getattr(mic.errors, case["error"])
    with pytest.raises(MicError) as info:
        mic.decode(blob)
    if case["exact"]:
        assert type(info.value) is cls, (name, info.value)
    else:
        assert isinstance(info.value, cls)


def test_invalid_group_start_is_a_format_error() -> None:
    blob = (VOL / "invalid" / "inter_on_group_start.mic").read_bytes()
    with pytest.raises(MicFormatError, match="first frame of a group"):
        mic.decode(blob)


def test_generators_are_up_to_date() -> None:
    for script in ("make_volume_vectors.py",):
        r = subprocess.run([sys.executable, str(ROOT / "formats" / script), "--check"],
                           capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 0, r.stdout + r.stderr


# ----------------------------------------------------------------------------- CLI
def test_cli_series_and_volume_group(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mic.cli import main

    vol = _ct_stack(3)
    folder = tmp_path / "slices"
    folder.mkdir()
    for i, a in enumerate(vol):
        np.save(folder / f"s{i:02d}.npy", a)
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "series.mic"
    r = CliRunner().invoke(main, ["encode", str(folder), str(out), "--series",
                                  "--volume-group", "2"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert (mic.decode(out.read_bytes()) == vol).all()
    assert 7 in _xforms(out.read_bytes())
    stack = tmp_path / "stack.npy"
    np.save(stack, vol)
    r = CliRunner().invoke(main, ["encode", str(stack), str(tmp_path / "stack.mic"),
                                  "--volume-group", "3"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "stack.mic").read_bytes() == mic.encode(vol, volume_group=3)
    np.save(folder / "s99.npy", vol[0, :10])  # a slice of another shape: nothing written
    bad = tmp_path / "bad.mic"
    r = CliRunner().invoke(main, ["encode", str(folder), str(bad), "--series"])
    assert r.exit_code == 1 and "shape or dtype" in r.output and not bad.exists()


def test_info_reports_the_group() -> None:
    vol = _smooth(3)
    assert mic.info(mic.encode(vol, volume_group=5)).volume_group == 5
    assert mic.info(mic.encode(vol)).volume_group == 0


def test_corrupt_volume_streams_raise_mic_errors_only() -> None:
    blob = (VOL / "ct_slices_g2_tiled_v1.mic").read_bytes()
    rng = np.random.default_rng(11)
    for _ in range(150):
        bad = bytearray(blob)
        for pos in rng.integers(12, len(bad), rng.integers(1, 4)):
            bad[pos] ^= 1 << int(rng.integers(0, 8))
        try:
            mic.decode(bytes(bad), region=(0, 30, 0, 56) if rng.integers(0, 2) else None)
        except MicError:
            pass
    for cut in rng.integers(0, len(blob), 30):
        with pytest.raises(MicError):
            mic.decode(blob[:cut])


def test_corrupt_inter_tiles_with_fixed_crcs_raise_mic_errors_only() -> None:
    sys.path.insert(0, str(ROOT / "formats"))
    import forge

    blob = (VOL / "ct_slices_g2_tiled_v1.mic").read_bytes()
    inter = [sp for sp in forge.spans(blob) if sp.tag == b"TILE" and blob[sp.mode_start] == 4]
    rng = np.random.default_rng(12)
    for _ in range(120):
        sp = inter[int(rng.integers(0, len(inter)))]
        bad = bytearray(blob)
        bad[int(rng.integers(sp.mode_start + 1, sp.payload_end))] ^= 1 << int(rng.integers(0, 8))
        try:
            mic.decode(forge.refresh_crc(bad, sp), threads=int(rng.integers(1, 3)))
        except MicError:
            pass
