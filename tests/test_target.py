"""mic.encode_target / mic encode --target-psnr/--target-bpp with the shipped wavelet-context weights."""

import doctest

import numpy as np
import pytest

pytest.importorskip("safetensors")  # the shipped weights; coding needs no torch

import mic  # noqa: E402
from mic.encoder import _lossy_psnr  # noqa: E402
from mic.lossy import qualities  # noqa: E402

from mic.io import read_image  # noqa: E402
from pathlib import Path  # noqa: E402

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def ct():
    return read_image(DATA / "ct_abdomen_u16.png")[0][:128, :192]


def test_psnr_target_gives_the_lowest_quality_that_meets_it(ct):
    q_all = qualities("wavelet-context")
    p_all = [_lossy_psnr(ct, mic.encode(ct, quality=q)) for q in q_all]
    target = (p_all[2] + p_all[3]) / 2
    blob = mic.encode_target(ct, psnr=target)
    q = mic.info(blob).quality
    assert _lossy_psnr(ct, blob) >= target
    assert all(p < target for p in p_all[:q])  # no lower quality meets it


def test_bpp_target_gives_the_highest_quality_within_budget(ct):
    sizes = [mic.info(mic.encode(ct, quality=q)).bits_per_pixel for q in qualities("wavelet-context")]
    budget = (sizes[4] + sizes[5]) / 2
    blob = mic.encode_target(ct, bpp=budget)
    q = mic.info(blob).quality
    assert mic.info(blob).bits_per_pixel <= budget
    assert all(s > budget for s in sizes[q + 1:])


def test_unreachable_and_bad_targets_are_input_errors(ct):
    with pytest.raises(mic.MicInputError, match="lossless"):
        mic.encode_target(ct, psnr=200.0)
    with pytest.raises(mic.MicInputError, match="at least"):
        mic.encode_target(ct, bpp=1e-4)
    for bad in ({}, {"psnr": 40.0, "bpp": 1.0}, {"psnr": -1.0}, {"bpp": float("nan")},
                {"psnr": 40.0, "quality": 3}):
        with pytest.raises(mic.MicInputError):
            mic.encode_target(ct, **bad)
    with pytest.raises(mic.MicUnsupportedError):
        mic.encode_target(ct, psnr=40.0, model="jpeg")


def test_codec_docstring_examples_run():
    import mic.codec

    result = doctest.testmod(mic.codec, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_cli_target_options(tmp_path, ct):
    from click.testing import CliRunner
    from PIL import Image

    from mic.cli import main

    src = tmp_path / "ct.png"
    Image.fromarray(ct).save(src)
    p_all = [_lossy_psnr(ct, mic.encode(ct, quality=q)) for q in qualities("wavelet-context")]
    target = (p_all[1] + p_all[2]) / 2
    res = CliRunner().invoke(main, ["encode", str(src), str(tmp_path / "a.mic"),
                                    "--target-psnr", str(target)])
    assert res.exit_code == 0, res.output
    blob = (tmp_path / "a.mic").read_bytes()
    assert mic.info(blob).quality == 2 and "q=2" in res.output
    res = CliRunner().invoke(main, ["encode", str(src), str(tmp_path / "b.mic"),
                                    "--target-bpp", "0.5", "--quality", "3"])
    assert res.exit_code == 2 and "at most one" in res.output
    res = CliRunner().invoke(main, ["encode", str(src), str(tmp_path / "c.mic"),
                                    "--target-psnr", "300"])
    assert res.exit_code == 1 and "lossless" in res.output
