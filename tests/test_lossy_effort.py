"""Effort levels of the lossy encoder (issue #20): an encoder choice only.  Every effort
writes a stream the one decoder reads; a tool named explicitly wins over the effort; an
effort out of range is a MicInputError naming the range."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import mic
from mic.cli import main
from mic.io import read_image
from mic.lossy.enc_options import DEFAULT_EFFORT, EFFORT_TOOLS, EFFORTS, TOOLS, EncoderOptions

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def ct() -> np.ndarray:
    a, _ = read_image(DATA / "ct_abdomen_u16.png")
    return np.ascontiguousarray(a[:128, :160])


def test_each_level_adds_tools_and_the_top_is_every_tool():
    assert list(EFFORTS) == [1, 2, 3, 4, 5, 6, 7] and DEFAULT_EFFORT == 3
    assert EFFORT_TOOLS[1] == frozenset() and EFFORT_TOOLS[7] == frozenset(TOOLS)
    for e in list(EFFORTS)[1:]:
        assert EFFORT_TOOLS[e - 1] < EFFORT_TOOLS[e]
    for e in EFFORTS:
        o = EncoderOptions(effort=e)
        assert {t for t in TOOLS if getattr(o, t)} == EFFORT_TOOLS[e]
        assert o.region_radii == ((6,) if e < 5 else (1, 3, 6))
    assert EncoderOptions(effort=2, region_radii=[3]).region_radii == (3,)
    assert EncoderOptions(region_radii=(3,)).with_choices(effort=7).region_radii == (3,)
    with pytest.raises(mic.MicInputError, match="region_radii"):
        EncoderOptions(region_radii=(0,))


@pytest.mark.parametrize("bad", [0, 8, -1, "3", 2.5, True, None])
def test_effort_out_of_range_is_refused(ct, bad):
    with pytest.raises(mic.MicInputError, match=r"effort must be an int in 1\.\.7"):
        if bad is None:
            EncoderOptions(effort=bad)  # type: ignore[arg-type]
        else:
            mic.encode(ct, quality=3, effort=bad)
    if bad is not None:
        with pytest.raises(mic.MicInputError, match="effort"):
            mic.encode(ct, effort=bad)  # lossless checks it too


def test_every_effort_decodes_with_the_one_decoder(ct):
    peak = float((1 << mic.info(mic.encode(ct)).bits_stored) - 1)
    for e in EFFORTS:
        blob = mic.encode(ct, quality=4, effort=e)
        out = mic.decode(blob)
        assert out.shape == ct.shape and out.dtype == ct.dtype
        mse = float(np.mean((out.astype(float) - ct) ** 2))
        assert 10 * np.log10(peak * peak / mse) > 35, e
        assert mic.encode(ct, quality=4, effort=e) == blob  # deterministic


def test_a_named_tool_wins_over_the_effort(ct):
    assert mic.encode(ct, quality=4, effort=1, rdo=True, means=True, zadapt=True) == \
        mic.encode(ct, quality=4, effort=2)
    assert mic.encode(ct, quality=4, effort=7, zopt=False, tilings=False) == \
        mic.encode(ct, quality=4, effort=2, regions=True, restore=True, adapt=True, dq=True,
                   region_search=True, restore_search=True, region_radii=(1, 3, 6),
                   model="wavelet-context")
    o = EncoderOptions(effort=7, dq=False)
    assert not o.dq and o.zopt and mic.encode(ct, quality=4, options=o) == \
        mic.encode(ct, quality=4, effort=7, dq=False)
    # options' effort given explicitly, then contradicted
    with pytest.raises(mic.MicInputError, match="effort=2 contradicts"):
        mic.encode(ct, quality=4, effort=2, options=EncoderOptions(effort=5))


def test_default_is_effort_3_and_lossless_efforts_4_to_7_mix_the_coders(ct):
    assert mic.encode(ct, quality=4) == mic.encode(ct, quality=4, effort=3)
    assert mic.encode(ct, effort=3) == mic.encode(ct)
    assert mic.info(mic.encode(ct)).model_id == 22  # fast NLMS, priors, bands, low, packed (5.13)
    # efforts 4-7: each plane by every coder, the smallest kept (model id 18, SPEC 5.6-5.11)
    mixed = mic.encode(ct, effort=4)
    assert mixed == mic.encode(ct, effort=7) and mic.info(mixed).model_id == 22
    assert (mic.decode(mixed) == ct).all() and len(mixed) <= len(mic.encode(ct)) + 8
    # lossless efforts 1 and 2: the fast coder (model id 3, SPEC 5.6; tests/test_lossless_fast.py)
    fast = mic.encode(ct, effort=1)
    assert mic.info(fast).model_id == 3 and (mic.decode(fast) == ct).all()


def test_cli_effort(tmp_path):
    src = DATA / "ct_abdomen_u16.png"
    run = CliRunner().invoke
    res = run(main, ["encode", str(src), str(tmp_path / "e1.mic"), "--quality", "4",
                     "--effort", "1"])
    assert res.exit_code == 0, res.output
    a, _ = read_image(src)
    assert (tmp_path / "e1.mic").read_bytes() == mic.encode(a, quality=4, effort=1)
    res = run(main, ["encode", str(src), str(tmp_path / "e9.mic"), "--quality", "4",
                     "--effort", "9"])
    assert res.exit_code == 2 and "1<=x<=7" in res.output.replace(" ", "")


def test_bias_rdo_rounds_again_under_the_inline_bias():
    """``bias_rdo`` (effort 2 on): a pass whose own table bias is not 0 is rounded again
    under the biased tables.  The streams differ from those without it and decode; where
    ``adapt``'s biases replace the inline ones it changes nothing."""
    ct, _ = read_image(DATA / "ct_abdomen_u16.png")  # inline biases: tiles of >= 65,536 px
    on = mic.encode(ct, quality=4, effort=3)
    off = mic.encode(ct, quality=4, effort=3, bias_rdo=False)
    assert on != off
    for blob in (on, off):
        err = mic.decode(blob).astype(np.float64) - ct
        assert np.sqrt(np.mean(err * err)) < 0.05 * float(ct.max() - ct.min())
    assert mic.encode(ct, quality=4, effort=7) != \
        mic.encode(ct, quality=4, effort=7, bias_rdo=False)
    assert mic.encode(ct, quality=4, effort=7, inline_biases=False) == \
        mic.encode(ct, quality=4, effort=7, inline_biases=False, bias_rdo=False)
