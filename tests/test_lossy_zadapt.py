"""Hyper-latent records (SPEC 6.9, xform flag 128): the encoder's per-channel choice,
round trips (the record changes how the hyper-latents are coded, never their values, so
the decoded image is the one without it), ``zadapt=False`` / ``--no-zadapt``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("safetensors")

import mic  # noqa: E402
import mic.lossy as lossy  # noqa: E402
from mic.io import read_image  # noqa: E402
from mic.lossy import XFORM_ZTAB, ZOFF_MAX  # noqa: E402
from mic.lossy.enc_rdo import choose_z_tables  # noqa: E402
from mic.models.weights import REGISTRY_FILE  # noqa: E402
from mic_test_helpers import cli_xforms_with_and_without, tile_xforms  # noqa: E402

if not REGISTRY_FILE.is_file():
    pytest.skip("no shipped weights in this checkout", allow_module_level=True)

DATA = Path(__file__).parent / "data"


def test_choice_takes_offset_channels_and_leaves_typical_ones():
    lm = lossy.load_model("wavelet-context")
    rng = np.random.default_rng(2)
    n = lm.config["n"]
    zq = np.zeros((n, 16, 16), np.int32)
    zq[3] = 7  # a channel far from its prior, constant: about offset 7, a narrow table
    zq[5] = -4 + (rng.random((16, 16)) < 0.1)
    zq[9] = 40  # beyond the largest offset: coded about 15 with a wider table, or left
    rec, gain = choose_z_tables(zq, lm)
    assert gain > mic.EncoderOptions().zrec_min_gain_bits  # 256 values of channel 3 alone save more
    assert rec.shape == (n, 3) and set(rec[:, 0].tolist()) <= {0, 1}
    assert tuple(rec[3]) == (1, 7, rec[3, 2]) and rec[5, 0] == 1 and rec[5, 1] == -4
    assert np.all(np.abs(rec[:, 1]) <= ZOFF_MAX)
    # each channel it takes is coded in fewer bits than under its own table
    from mic.entropy import information_bits
    from mic.quant import split_escapes

    for c in np.flatnonzero(rec[:, 0]):
        v = zq[c].reshape(-1) - rec[c, 1]
        t = np.full(v.size, rec[c, 2], np.int32)
        s, e = split_escapes(v, t, lm.ybank.tables.half)
        own = np.full(v.size, c, np.int32)
        s0, e0 = split_escapes(zq[c].reshape(-1), own, lm.zbank.tables.half)
        assert information_bits(s, t, lm.ybank) + 32 * e.size < \
            information_bits(s0, own, lm.zbank) + 32 * e0.size


@pytest.mark.parametrize("model,quality", [("wavelet-context", 8), ("wavelet-context", 11), ("wavelet-hyperprior", 10)])
def test_same_image_with_and_without_the_record(model, quality):
    a, _ = read_image(DATA / "cr_chest_u8.png")
    # (zopt off: its choice of hyper-latents weighs the records' savings, so it may differ)
    on = mic.encode(a, quality=quality, model=model, zopt=False)
    off = mic.encode(a, quality=quality, model=model, zadapt=False, zopt=False)
    assert all(x & XFORM_ZTAB for x in tile_xforms(on))
    assert not any(x & XFORM_ZTAB for x in tile_xforms(off))
    assert np.array_equal(mic.decode(on), mic.decode(off))
    assert len(on) <= len(off) + 1  # one bit per plane where no channel pays


def test_ae_never_carries_the_flag():
    a, _ = read_image(DATA / "cr_chest_u8.png")
    blob = mic.encode(a, quality=2, model="wavelet-factorized")
    assert not any(x & XFORM_ZTAB for x in tile_xforms(blob))


def test_rgb_and_tiles():
    rgb, _ = read_image(DATA / "us_breast_rgb.png")
    forced = mic.EncoderOptions(zrec_min_gain_bits=-1e9)  # records in every tile
    blob = mic.encode(rgb, quality=2, tile=128, zopt=False, options=forced)
    assert all(x & XFORM_ZTAB for x in tile_xforms(blob))
    assert np.array_equal(mic.decode(blob), mic.decode(mic.encode(rgb, quality=2, tile=128,
                                                                  zadapt=False, zopt=False)))


def test_cli_no_zadapt(tmp_path):
    on, off = cli_xforms_with_and_without(tmp_path, DATA / "cr_chest_u8.png", 8, "--no-zadapt")
    assert on & XFORM_ZTAB and not off & XFORM_ZTAB


def test_no_flag_and_no_bit_where_no_channel_pays():
    a, _ = read_image(DATA / "ct_abdomen_u16.png")
    crop = a[64:192, 64:192]
    assert mic.encode(crop, quality=5) == mic.encode(crop, quality=5, zadapt=False)


@pytest.mark.parametrize("scale", [0.3, 3.0, 80.0, 3000.0])
def test_channel_choices_at_once_equal_one_by_one(scale: float) -> None:
    """``z_channel_choices`` (every channel at once) gives exactly the numbers of
    ``z_channel_choice`` channel by channel, escapes included (large scales)."""
    from mic.lossy.enc_rdo import z_channel_choice, z_channel_choices
    from mic.lossy.model import load_model

    lm = load_model("wavelet-context-fast")
    rng = np.random.default_rng(int(scale * 10))
    n = lm.config["n"]
    zq = np.rint(rng.laplace(rng.integers(-3, 4), scale, (n, 8, 8))).astype(np.int64)
    assert z_channel_choices(zq, lm) == [z_channel_choice(zq[c].reshape(-1), c, lm)
                                         for c in range(n)]


def _offset_choice_numpy(v: np.ndarray, med: int, lm) -> tuple[float, int, int]:  # noqa: ANN001
    """The offset choice written in NumPy (its form before the Numba kernel): counts by
    ``bincount``, every table's bits as one matrix product."""
    from mic.lossy.enc_rdo import ZBITS_SPAN, _value_bits, _z_channel_side_bits

    best = (np.inf, 0, 0)
    side = _z_channel_side_bits(lm)
    lo, hi = int(v.min()), int(v.max())
    for m in range(max(-ZOFF_MAX, med - 1), min(ZOFF_MAX, med + 1) + 1):
        if max(abs(lo - m), abs(hi - m)) > ZBITS_SPAN:
            continue
        counts = np.bincount(v - m + ZBITS_SPAN)
        vals = np.flatnonzero(counts)
        costs = _value_bits(lm)[:, vals] @ counts[vals]
        t = int(np.argmin(costs))
        if costs[t] + side < best[0]:
            best = (costs[t] + side, m, t)
    return best


@pytest.mark.parametrize("scale", [0.3, 3.0, 30.0, 3000.0])
def test_offset_choice_kernel_equals_numpy_reference(scale: float) -> None:
    """The Numba offset choice keeps the offset and table of the NumPy form and its bits to
    the last few ulps (the sums run in another order); a channel too spread keeps inf."""
    from mic.lossy.enc_rdo import z_channel_choice
    from mic.lossy.model import load_model

    lm = load_model("wavelet-context-fast")
    rng = np.random.default_rng(int(scale * 7))
    for c in range(lm.config["n"]):
        v = np.rint(rng.laplace(rng.integers(-5, 6), scale, 64)).astype(np.int64)
        _, bits, m, t = z_channel_choice(v, c, lm)
        ref = _offset_choice_numpy(v, int(np.median(v)), lm)
        assert (m, t) == ref[1:]
        assert bits == pytest.approx(ref[0], rel=1e-12) or bits == ref[0] == np.inf
