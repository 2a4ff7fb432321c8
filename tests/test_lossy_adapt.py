"""Table biases of the lossy mode (SPEC 6.3/6.4, xform flag 4) with the shipped weights:
the encoder uses them where they pay, they decode, ``adapt=False`` turns them off, and
out-of-range biases are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("safetensors")

import mic  # noqa: E402
import mic.lossy as lossy  # noqa: E402
from mic.io import read_image  # noqa: E402
from mic.lossy import XFORM_BIAS, enc_tile  # noqa: E402
from mic.lossy.enc_rdo import best_biases  # noqa: E402
from mic.models.wavelet import NBANDS  # noqa: E402
from mic.models.weights import REGISTRY_FILE  # noqa: E402
from mic_test_helpers import cli_xforms_with_and_without, load_forge, tile_xforms  # noqa: E402,E501

if not REGISTRY_FILE.is_file():
    pytest.skip("no shipped weights in this checkout", allow_module_level=True)

DATA = Path(__file__).parent / "data"
forge = load_forge()


def xforms(blob: bytes) -> list[int]:
    return tile_xforms(blob)


def psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    return 10 * np.log10(peak ** 2 / np.mean((a.astype(float) - b.astype(float)) ** 2))


@pytest.mark.parametrize("name,quality", [("cr_chest_u8.png", 3), ("us_breast_u8.png", 5),
                                          ("us_breast_rgb.png", 5)])
def test_biases_pay_where_used_and_decode(name, quality):
    a, _ = read_image(DATA / name)
    # adapt's biases in every tile (tiles of >= 65,536 pixels carry inline biases instead)
    with_b = mic.encode(a, effort=7, quality=quality, inline_biases=False)
    without = mic.encode(a, effort=7, quality=quality, adapt=False, inline_biases=False)
    assert all(x & XFORM_BIAS for x in xforms(with_b))
    assert not any(x & XFORM_BIAS for x in xforms(without))
    assert len(with_b) < len(without)
    out = mic.decode(with_b)
    assert out.shape == a.shape
    assert psnr(a, out, 255) > psnr(a, mic.decode(without), 255) - 0.3


def test_every_tile_decides_alone():
    a, _ = read_image(DATA / "ct_abdomen_u16.png")
    yy, xx = np.mgrid[:a.shape[0], :a.shape[1]]
    img = np.concatenate([a, (1000 + 2 * xx + yy).astype(a.dtype)], 1)  # CT | a ramp
    blob = mic.encode(img, effort=7, quality=6, tile=128)
    kinds = [x & XFORM_BIAS for x in xforms(blob)]
    assert kinds == [XFORM_BIAS, XFORM_BIAS, 0, 0] * 2  # the CT tiles gain, the ramp's do not
    out = mic.decode(blob)
    assert psnr(img, out, 4095) > 35


def test_out_of_range_biases_are_refused(monkeypatch):
    a, _ = read_image(DATA / "cr_chest_u8.png")

    def forced(record, lm, per_pass=False):  # noqa: ARG001
        b = np.zeros(NBANDS, np.int64)
        b[4] = lossy.BIAS_MAX + 2  # codable by the small-integer table, invalid as a bias
        return b, 1e9

    monkeypatch.setattr(enc_tile, "best_biases", forced)
    monkeypatch.setattr(lossy.LossyTileEncoder, "_encode_planes",
                        _always_second(lossy.LossyTileEncoder._encode_planes))
    blob = mic.encode(a, effort=7, quality=3, inline_biases=False)  # adapt's biases
    assert xforms(blob)[0] & XFORM_BIAS
    with pytest.raises(mic.MicFormatError, match="table bias"):
        mic.decode(blob)


def _always_second(method):  # noqa: ANN001
    """_encode_planes that keeps the biased coding whatever its size."""
    def run(self, xs, recon, bias):  # noqa: ANN001
        if isinstance(bias, str):
            bias = [enc_tile.best_biases([], self.lm)[0] for _ in xs]  # (as patched)
        return method(self, xs, recon, bias)
    return run


def test_xform_flags_a_model_cannot_carry_are_refused():
    """Every bit of the xform byte is assigned (SPEC 6.1); flag 128 (hyper-latent record)
    in a wavelet-factorized tile, which has no hyper-latents, is refused by name."""
    a, _ = read_image(DATA / "cr_chest_u8.png")
    # stream version 1: its xform is one byte (in v2 a varint, where bit 7 continues it)
    blob = bytearray(mic.encode(a, effort=7, quality=3, model="wavelet-factorized", stream_version=1))
    sp = next(s for s in forge.spans(bytes(blob)) if s.tag == b"TILE")
    blob[sp.mode_start] |= 128
    with pytest.raises(mic.MicFormatError, match="no hyper-latents"):
        mic.decode(forge.refresh_crc(blob, sp))


def test_cli_no_adapt(tmp_path):
    on, off = cli_xforms_with_and_without(tmp_path, DATA / "cr_chest_u8.png", 3, "--no-adapt",
                                          extra=("--tile", "128"))  # below the inline biases
    assert on & XFORM_BIAS and not off & XFORM_BIAS


def test_per_pass_biases_split_anchors_from_non_anchors():
    """best_biases(per_pass=True): a detail band's first recorded pass (anchors) sets
    entry b, its second (non-anchors) entry 15 + b; band 0 has one pass."""
    lm = lossy.load_model("wavelet-context")
    rng = np.random.default_rng(3)
    tab = np.full(4000, 30, np.int32)  # about right for a standard deviation of 1.5
    wide = np.rint(rng.normal(0, 3.0, 4000)).astype(np.int32)  # wants a larger scale
    narrow = np.rint(rng.normal(0, 0.5, 4000)).astype(np.int32)  # wants a smaller one
    record = [(0, narrow, tab), (5, wide, tab), (5, narrow, tab)]
    per_band, saved_band = best_biases(record, lm)
    per_pass, saved_pass = best_biases(record, lm, per_pass=True)
    assert per_band.size == NBANDS and per_pass.size == lossy.NPASS_BIAS
    assert per_pass[0] == per_band[0]  # band 0: one pass either way
    assert per_pass[5] > per_band[5] > per_pass[NBANDS - 1 + 5]
    assert saved_pass > saved_band


def test_encoder_chooses_per_pass_biases_where_they_pay_and_both_decode():
    a, _ = read_image(DATA.parent.parent / "mic" / "data" / "ct_abdomen.png")
    # (zopt off: measured on the hyper-latents as analysed; with zopt's choice on this
    # image the per-band stream happens to be 34 bytes (0.2 %) smaller)
    # (inline biases off: adapt's biases then go to this 512 x 512 tile too)
    per_pass = mic.encode(a, effort=7, quality=6, zopt=False, inline_biases=False)
    assert xforms(per_pass)[0] & lossy.XFORM_PASS_BIAS
    per_band = mic.encode(a, effort=7, quality=6, zopt=False, inline_biases=False,
                          options=mic.EncoderOptions(pass_biases=False))
    assert xforms(per_band)[0] & XFORM_BIAS and not xforms(per_band)[0] & lossy.XFORM_PASS_BIAS
    assert len(per_pass) < len(per_band)
    for blob in (per_pass, per_band):
        assert psnr(a, mic.decode(blob), 4095) > 40


def test_per_pass_flag_without_biases_is_refused():
    a, _ = read_image(DATA / "cr_chest_u8.png")
    blob = bytearray(mic.encode(a, effort=7, quality=3, adapt=False))
    sp = next(s for s in forge.spans(bytes(blob)) if s.tag == b"TILE")
    blob[sp.mode_start] |= lossy.XFORM_PASS_BIAS
    with pytest.raises(mic.MicFormatError, match="per-pass"):
        mic.decode(forge.refresh_crc(blob, sp))
