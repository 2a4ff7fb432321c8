"""``mic.EncoderOptions``: every choice of the lossy encoder as one value, passed from
``mic.encode`` down (no module state); keywords still work beside it, contradictions are
refused; decoding never imports the encoder."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("safetensors")

import mic  # noqa: E402
from mic.lossy.enc_options import CHOICES, SETTINGS  # noqa: E402
from mic.models.weights import REGISTRY_FILE  # noqa: E402

if not REGISTRY_FILE.is_file():
    pytest.skip("no shipped weights in this checkout", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]


def ct(rows: int = 64, cols: int = 80) -> np.ndarray:
    i, j = np.mgrid[:rows, :cols]
    return (2000 + 600 * np.sin(i / 9.0) * np.cos(j / 13.0) + 3 * ((i * j) % 7)).astype(np.uint16)


def test_fields_are_the_keywords_and_the_former_globals():
    names = [f.name for f in dataclasses.fields(mic.EncoderOptions) if f.init]
    assert names == ["model", "tile", *CHOICES[1:], *SETTINGS]
    o = mic.EncoderOptions()
    assert (o.model, o.tile, o.dq, o.pass_biases, o.long_model_segment) == \
        ("wavelet-context-fast", None, True, True, False)
    assert mic.EncoderOptions(effort=4).model == "wavelet-context"  # the default by effort
    assert mic.EncoderOptions(effort=4).with_choices(model="wavelet-context-fast").model == \
        "wavelet-context-fast"
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.dq = False  # type: ignore[misc]
    assert mic.EncoderOptions(tile=64).tile == (64, 64)
    assert mic.EncoderOptions(rdo_lambda_scale=2).rdo_lambda_scale == 2.0
    with pytest.raises(mic.MicInputError, match="model"):
        mic.EncoderOptions(model=6)  # type: ignore[arg-type]
    with pytest.raises(mic.MicInputError, match="region_stop"):
        mic.EncoderOptions(region_stop="often")  # type: ignore[arg-type]
    assert mic.EncoderOptions.from_settings({"PASS_BIASES": False}).pass_biases is False
    with pytest.raises(mic.MicInputError, match="DQ"):
        mic.EncoderOptions.from_settings({"DQ": False})


def test_options_and_keywords_make_the_same_stream():
    a = ct()
    kw = dict(dq=False, regions=False, model="wavelet-hyperprior")
    blob = mic.encode(a, quality=3, **kw)
    assert mic.encode(a, quality=3, options=mic.EncoderOptions(**kw)) == blob
    # a keyword fills a field the options leave at its default, or repeats their value
    assert mic.encode(a, quality=3, dq=False, options=mic.EncoderOptions(regions=False,
                                                                         model="wavelet-hyperprior")) == blob
    assert mic.encode(a, quality=3, options=mic.EncoderOptions(**kw), **kw) == blob
    # the tile: keyword or options alike
    tiled = mic.encode(a, quality=3, tile=32)
    assert mic.encode(a, quality=3, options=mic.EncoderOptions(tile=32)) == tiled
    assert mic.encode(a, quality=3, tile=(32, 32), options=mic.EncoderOptions(tile=32)) == tiled


def test_settings_change_only_the_encoder():
    a = ct()
    plain = mic.encode(a, quality=2)
    long = mic.encode(a, quality=2, options=mic.EncoderOptions(long_model_segment=True))
    assert len(long) - len(plain) == 24  # LMDL instead of LMDS
    assert np.array_equal(mic.decode(long), mic.decode(plain))
    # the default options are no options
    assert mic.encode(a, quality=2, options=mic.EncoderOptions()) == plain


def test_contradictions_and_unknown_names_are_refused():
    a = ct(32, 32)
    with pytest.raises(mic.MicInputError, match="dq=True contradicts"):
        mic.encode(a, quality=1, dq=True, options=mic.EncoderOptions(dq=False))
    with pytest.raises(mic.MicInputError, match="model='wavelet-factorized' contradicts"):
        mic.encode(a, quality=1, model="wavelet-factorized", options=mic.EncoderOptions(model="wavelet-hyperprior"))
    with pytest.raises(mic.MicInputError, match="tile=16 contradicts"):
        mic.encode(a, quality=1, tile=16, options=mic.EncoderOptions(tile=32))
    with pytest.raises(mic.MicInputError, match="unknown lossy option"):
        mic.encode(a, quality=1, dqq=False)
    with pytest.raises(mic.MicInputError, match="EncoderOptions"):
        mic.encode(a, quality=1, options={"dq": False})  # type: ignore[arg-type]
    with pytest.raises(mic.MicInputError, match="tile"):
        mic.encode(a, quality=1, options=mic.EncoderOptions(tile=0))


def test_lossless_takes_only_a_tile():
    a = ct(40, 48)
    blob = mic.encode(a, tile=16)
    assert mic.encode(a, options=mic.EncoderOptions(tile=16)) == blob
    assert mic.encode(a, options=mic.EncoderOptions()) == mic.encode(a)
    with pytest.raises(mic.MicInputError, match="losslessly"):
        mic.encode(a, options=mic.EncoderOptions(dq=False))
    with pytest.raises(mic.MicInputError, match="unknown lossless option"):
        mic.encode(a, dq=False)


def test_encode_target_uses_the_options_model():
    a = ct()
    blob = mic.encode_target(a, bpp=3.0, options=mic.EncoderOptions(model="wavelet-hyperprior", dq=False))
    assert mic.info(blob).model_id == 5 and mic.info(blob).bits_per_pixel <= 3.0
    with pytest.raises(mic.MicInputError, match="contradicts"):
        mic.encode_target(a, bpp=3.0, model="wavelet-factorized", options=mic.EncoderOptions(model="wavelet-hyperprior"))


def test_decoding_imports_no_encoder_module():
    """``import mic`` and decoding lossy and lossless streams import nothing of the encoder
    (mic.encoder, mic.lossy's enc_* modules, mic.lossless.encoder), nor numba for
    ``import mic`` alone."""
    code = (
        "import sys, mic\n"
        "assert 'numba' not in sys.modules\n"
        "for f in ('formats/lossy/wavelet-context_q3_us_rgb_v2.mic', 'formats/ct_abdomen_u16.mic'):\n"
        "    mic.decode(open(f, 'rb').read())\n"
        "print(sorted(m for m in sys.modules if m.startswith('mic') and 'enc' in m))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
    assert "EncoderOptions" in mic.__all__ and mic.EncoderOptions.__module__ == \
        "mic.lossy.enc_options"


@pytest.mark.parametrize("name", ["mic.lossy", "mic.lossy.syntax", "mic.lossy.model",
                                  "mic.lossy.passes", "mic.lossy.restore",
                                  "mic.lossy.enc_options", "mic.lossy.enc_restore",
                                  "mic.lossy.enc_region", "mic.lossy.enc_tilings",
                                  "mic.bitstream.samples"])
def test_module_examples_run(name):
    import doctest
    import importlib

    res = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert res.failed == 0 and res.attempted > 0
