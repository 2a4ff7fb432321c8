"""Image loading (manifest handling, signed data) and codec points of mic.eval."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from mic.errors import MicInputError
from mic.eval.data import load_images, make_image

DATA = Path(__file__).parent / "data" / "bench"


def test_manifest_images_and_signed_shift():
    ims = load_images(DATA)
    assert [im.name for im in ims] == ["ct_lung_signed_crop", "mr_xa30_crop"]
    ct, mr = ims
    assert ct.modality == "CT" and ct.native.dtype == np.int16 and ct.offset == 32768
    assert ct.bits == 16 and ct.eff_bits == 12
    assert np.array_equal(ct.native.astype(np.int32) + 32768, ct.stored.astype(np.int32))
    # anchors without int16 get native - min, a constant shift of the samples
    diff = ct.native.astype(np.int32) - ct.unsigned.astype(np.int32)
    assert diff.min() == diff.max() == int(ct.native.min())
    assert ct.ubits == int(ct.unsigned.max()).bit_length()
    assert mr.native.dtype == np.uint16 and mr.bits == 12 and mr.unsigned is mr.stored
    assert ct.stored_bytes == 96 * 112 * 2


def test_manifest_split_filter(tmp_path):
    d = tmp_path / "corpus"
    shutil.copytree(DATA, d)
    with open(d / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows[1]["split"] = "eval"
    with open(d / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert [im.name for im in load_images(d)] == ["mr_xa30_crop"]  # eval rows win by default
    assert len(load_images(d, split="all")) == 2
    assert [im.name for im in load_images(d, split="train")] == ["ct_lung_signed_crop"]
    # a sub-folder of the manifest's folder: only its rows
    assert [im.name for im in load_images(d / "CT", split="all")] == ["ct_lung_signed_crop"]


def test_make_image_rejects_bad_input():
    with pytest.raises(MicInputError):
        make_image(np.zeros((4, 4, 2), np.uint8), name="x")
    with pytest.raises(MicInputError):
        make_image(np.zeros((4, 4), np.float32), name="x")
    with pytest.raises(MicInputError):
        load_images(DATA / "does-not-exist")


def test_bits_raised_to_what_the_data_need():
    im = make_image(np.array([[0, 5000]], np.uint16), name="x", bits=12)
    assert im.bits == 13


def test_codec_points_roundtrip_and_jpeg_skip():
    pytest.importorskip("imagecodecs")
    from mic.eval.codecs import all_codecs
    from mic.eval.runner import measure_point

    codecs, _ = all_codecs(with_lossy_models=False)
    by = {c.name: c for c in codecs}
    ct = load_images(DATA)[0]
    for name in ("jpegls", "jpeg2000", "htj2k", "jpegxl", "png", "zstd"):
        pts = by[name].points(ct, True)
        assert isinstance(pts, list) and pts
        lossless = [p for p in pts if p.mode == "lossless"]
        if lossless:
            row = measure_point(ct, lossless[0])
            assert row["exact"] and row["error"] == "", (name, row["error"])
    wide = make_image(np.array([[0, 9000], [5, 7]], np.uint16), name="w", bits=14)
    assert "bits" in by["jpeg"].points(wide, True)  # a reason string, not points


def test_jpeg2000_sweep_is_refined_where_the_rate_jumps():
    """The full JPEG 2000 sweep: PSNR targets increasing, and between neighbouring
    targets either at most 1.6 times apart in size or as close as the knob's step."""
    pytest.importorskip("imagecodecs")
    from mic.eval.codecs import J2K_OFFSETS, all_codecs, refine_levels

    codecs, _ = all_codecs(with_lossy_models=False)
    ct = load_images(DATA)[0]
    pts = next(c for c in codecs if c.name == "jpeg2000").points(ct, False)
    lossy = [p for p in pts if p.mode == "lossy"]
    levels = [float(p.knob.split("=")[1]) for p in lossy]
    assert levels == sorted(set(levels)) and len(levels) >= len(J2K_OFFSETS)
    sizes = [len(p.encode()) for p in lossy]
    for (a, sa), (b, sb) in zip(zip(levels, sizes), zip(levels[1:], sizes[1:])):
        assert max(sa, sb) <= 1.6 * min(sa, sb) or b - a <= 0.15, (a, b, sa, sb)
    # a flat size function needs no refinement; the point budget bounds a wild one
    assert refine_levels([1.0, 2.0], lambda lv: 10) == [1.0, 2.0]
    wild = refine_levels([0.0, 50.0], lambda lv: int(2 ** lv), max_points=9)
    assert len(wild) == 9 and wild[0] == 0.0 and wild[-1] == 50.0


@pytest.mark.parametrize("modname", ["mic.eval", "mic.eval.metrics", "mic.eval.bdrate",
                                     "mic.eval.data", "mic.eval.report", "mic.eval.runner",
                                     "mic.eval.cli", "mic.eval.codecs"])
def test_docstring_examples_run(modname):
    import doctest
    import importlib

    pytest.importorskip("imagecodecs")
    pytest.importorskip("matplotlib")
    mod = importlib.import_module(modname)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0
