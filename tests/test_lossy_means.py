"""Predicted means of detail non-anchors (SPEC 6.3/6.4, xform flag 16) with the shipped
weights: the weights fitted per band are what the data say, the encoder sends them only
where they pay, the decoder rebuilds the same values, ``means=False`` / ``--no-means``
turn them off, and a forged flag is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

pytest.importorskip("safetensors")

import mic  # noqa: E402
import mic.lossy as lossy  # noqa: E402
import mic.lossy.enc_tile  # noqa: E402,F401
from mic.io import read_image  # noqa: E402
from mic.lossy import PRED_ONE, XFORM_MEANS  # noqa: E402
from mic.lossy.enc_rdo import fit_predictor  # noqa: E402
from mic.lossy.passes import anchor_pairs, checker  # noqa: E402
from mic.models.weights import REGISTRY_FILE  # noqa: E402
from mic_test_helpers import cli_xforms_with_and_without, load_forge, tile_xforms  # noqa: E402,E501

if not REGISTRY_FILE.is_file():
    pytest.skip("no shipped weights in this checkout", allow_module_level=True)

DATA = Path(__file__).parent / "data"
forge = load_forge()


def ct() -> np.ndarray:
    a, _ = read_image(DATA / "ct_abdomen_u16.png")
    return a


def psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    return 10 * np.log10(peak ** 2 / np.mean((a.astype(float) - b.astype(float)) ** 2))


@settings(max_examples=25, deadline=None)
@given(h=st.integers(2, 9), w=st.integers(2, 9), seed=st.integers(0, 2 ** 31 - 1))
def test_anchor_pairs_are_the_mirrored_neighbours(h, w, seed):
    """H = left + right, V = up + down with a[-1] = a[1] at the borders; only anchors."""
    rng = np.random.default_rng(seed)
    out = np.where(checker(h, w), rng.integers(-50, 50, (h, w)), 0)
    ii, jj = np.nonzero(~checker(h, w))
    got = anchor_pairs(out, ii, jj)
    pad = np.pad(out, 1, mode="reflect")
    for n, (i, j) in enumerate(zip(ii, jj)):
        assert got[n, 0] == pad[i + 1, j] + pad[i + 1, j + 2]
        assert got[n, 1] == pad[i, j + 1] + pad[i + 2, j + 1]
        for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):  # mirrored neighbours are anchors
            a, b = abs(i + di), abs(j + dj)
            a, b = (2 * (h - 1) - a if a >= h else a), (2 * (w - 1) - b if b >= w else b)
            assert (a + b) % 2 == 0


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), seed=st.integers(0, 2 ** 31 - 1))
def test_anchor_means_are_the_pairs_times_the_weights(h, w, seed):
    """The decoder's one-pass means equal the encoder's pairs @ weights."""
    from mic.lossy.passes import anchor_means

    rng = np.random.default_rng(seed)
    out = np.where(checker(h, w), rng.integers(-5000, 5000, (h, w)), 0)
    ii, jj = (v.astype(np.int64) for v in np.nonzero(~checker(h, w)))
    weights = rng.integers(-64, 64, 2)
    assert np.array_equal(anchor_means(out, ii, jj, weights),
                          anchor_pairs(out, ii, jj) @ weights)


def test_fit_recovers_the_weights_and_declines_noise():
    lm = lossy.load_model("wavelet-context")
    rng = np.random.default_rng(1)
    pairs = rng.integers(-20, 21, (4000, 2))
    tab = np.full(4000, 40, np.int32)  # a table wide enough for these values
    u = -0.4 * pairs[:, 0] + 0.15 * pairs[:, 1] + rng.normal(0, 1.0, 4000)
    weights = fit_predictor(pairs, u, tab, lm.ybank)
    assert weights is not None
    assert abs(weights[0] + 0.4 * PRED_ONE) <= 2 and abs(weights[1] - 0.15 * PRED_ONE) <= 2
    noise = rng.normal(0, 3.0, 4000)  # no relation to the anchors: nothing to save
    assert fit_predictor(pairs, noise, tab, lm.ybank) is None
    assert fit_predictor(np.zeros((10, 2), np.int64), noise[:10], tab[:10],
                         lm.ybank) is None
    big = 5.0 * pairs[:, 0]  # beyond the record's range: clipped, still a valid record
    w2 = fit_predictor(pairs, big, tab, lm.ybank)
    assert w2 is not None and w2[0] == PRED_ONE - 1


@pytest.mark.parametrize("quality", [2, 6, 10])
def test_means_decode_and_save_bits_on_a_real_ct(quality, monkeypatch):
    a = ct()
    used = []
    fit = fit_predictor

    def spy(*args):  # noqa: ANN002, ANN202
        w = fit(*args)
        used.append(w is not None)
        return w

    monkeypatch.setattr(lossy.enc_tile, "fit_predictor", spy)
    on = mic.encode(a, effort=7, quality=quality, regions=False, adapt=False, restore=False)
    monkeypatch.undo()
    off = mic.encode(a, effort=7, quality=quality, regions=False, adapt=False, restore=False, means=False)
    assert all(x & XFORM_MEANS for x in tile_xforms(on))
    assert not any(x & XFORM_MEANS for x in tile_xforms(off))
    assert 0 < len(used) <= 15 and any(used)  # at most one decision per detail band
    d_on, d_off = mic.decode(on), mic.decode(off)
    assert d_on.shape == a.shape and d_on.dtype == a.dtype
    # the predictors code nearer values for fewer bits; PSNR stays within a hair
    assert abs(psnr(a, d_on, 4095) - psnr(a, d_off, 4095)) < 0.15
    # the records cost 15 bits per plane where no band pays (low rates); else they save
    assert len(on) <= len(off) + 8
    if quality >= 6:
        assert len(on) < len(off)


@pytest.mark.parametrize("dq", [False, True])
def test_encoder_reconstruction_is_what_the_decoder_returns(dq):
    """The restoration fit and the region choice use the encoder's own reconstruction:
    it must be the decoder's, fractional means (and dependent-quantiser levels) included."""
    from mic.bitstream import Header
    from mic.bitstream.container import Segment
    from mic.lossy import LossyTileDecoder, LossyTileEncoder

    a = ct()[:192, :160].astype(np.int32)
    h = Header(mode=1, model_id=0, coder_id=0, bits_allocated=16, signed=0, bits_stored=12,
               photometric=0, layout=0, samples=1, frames=1, rows=192, cols=160)
    enc = LossyTileEncoder(h, 7, regions=False, adapt=False, restore=False, dq=dq)
    x = (a - a.min()) / float((1 << enc._bits(int(a.max() - a.min()))) - 1)
    data, rec = enc._encode_plane(x, recon=True)

    class _Stream:
        segments = [Segment(t, p) for t, p in enc.extra_segments()]

    dec = LossyTileDecoder(h, _Stream())
    back, off = dec._decode_plane(memoryview(data), 0, 192, 160, False, True, dq,
                                  inline=enc.inline)
    assert off == len(data)
    assert np.array_equal(back, rec)


def test_rgb_and_tiles_with_means():
    rgb, _ = read_image(DATA / "us_breast_rgb.png")
    blob = mic.encode(rgb, effort=7, quality=4)
    assert all(x & XFORM_MEANS for x in tile_xforms(blob))
    out = mic.decode(blob)
    assert out.shape == rgb.shape and psnr(rgb, out, 255) > 30
    a = ct()
    tiled = mic.encode(a, effort=7, quality=5, tile=96)
    assert mic.encode(a, effort=7, quality=5, tile=96) == tiled  # deterministic
    region = mic.decode(tiled, region=(96, 192, 96, 192))
    assert np.array_equal(region, mic.decode(tiled)[96:192, 96:192])


def test_whole_tile_records_never_carry_the_flag_and_a_forged_one_is_refused():
    bars = np.zeros((64, 96), np.uint16)
    bars[:, 32:64] = ct()[64:128, 64:96]
    blob = mic.encode(bars, effort=7, quality=3, tile=32)
    kinds = tile_xforms(blob)
    assert any(k == lossy.XFORM_REGION for k in kinds)  # whole-tile records: no flag
    assert any(k & XFORM_MEANS for k in kinds)
    sp = next(s for s in forge.spans(blob) if s.tag == b"TILE"
              and blob[s.mode_start] == lossy.XFORM_REGION)
    b = bytearray(blob)
    b[sp.mode_start] |= XFORM_MEANS
    with pytest.raises(mic.MicFormatError, match="whole-tile"):
        mic.decode(forge.refresh_crc(b, sp))


def test_cli_no_means(tmp_path):
    on, off = cli_xforms_with_and_without(tmp_path, DATA / "ct_abdomen_u16.png", 4, "--no-means")
    assert on & XFORM_MEANS and not off & XFORM_MEANS


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), seed=st.integers(0, 2 ** 31 - 1))
def test_pass_kernels_equal_numpy(h, w, seed):
    """The passes' nogil kernels: a pass's values gathered as NumPy's fancy index reads
    them (also from a strided view), and the anchors' test as ``any``."""
    from mic.lossy.passes import _gather
    from mic.models.kernels import any_nonzero

    rng = np.random.default_rng(seed)
    y = rng.normal(0, 3, (h, 2 * w))[:, ::2]
    ii, jj = (v.astype(np.int64) for v in np.nonzero(rng.random((h, w)) < 0.5))
    assert np.array_equal(_gather(y, ii, jj), y[ii, jj])
    out = np.where(rng.random((h, w)) < 0.1, rng.integers(-3, 4, (h, w)), 0)
    assert any_nonzero(out) == bool(out.any())
    assert not any_nonzero(np.zeros((h, w), np.int64))
