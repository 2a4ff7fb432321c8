"""The encoder's hyper-latent choice (``zopt``, an encoder choice only: the decoder reads
whatever hyper-latents it is sent): channels set to 0 where their bits buy fewer bits of
the subbands; ``zopt=False`` / ``--no-zopt``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("safetensors")

import mic  # noqa: E402
import mic.lossy as lossy  # noqa: E402
from mic.bitstream import Header  # noqa: E402
from mic.lossy.enc_rdo import SubbandBits, choose_z_tables, z_channel_choice  # noqa: E402
from mic.io import read_image  # noqa: E402
from mic.models.weights import REGISTRY_FILE  # noqa: E402

if not REGISTRY_FILE.is_file():
    pytest.skip("no shipped weights in this checkout", allow_module_level=True)

DATA = Path(__file__).parent / "data"


def _encoder(quality: int, **options: object) -> lossy.LossyTileEncoder:
    h = Header(mode=1, model_id=0, coder_id=0, bits_allocated=8, signed=0, bits_stored=8,
               photometric=0, layout=0, samples=1, frames=1, rows=320, cols=320)
    return lossy.LossyTileEncoder(h, quality, **options)


def _estimate(enc: lossy.LossyTileEncoder, ys: list[np.ndarray], hp: int, wp: int,
              z: np.ndarray) -> SubbandBits:
    """The encoder's subband-bits estimate of a plane's subbands ``ys`` under ``z``."""
    return SubbandBits(enc.lm, enc.quality, enc.options.dq, ys, hp, wp, z)


def _plane(enc: lossy.LossyTileEncoder, a: np.ndarray) -> np.ndarray:
    xs = enc._normalise(a[:, :, None].astype(np.int32))[0]
    return xs[0]


@pytest.mark.parametrize("quality", [0, 2, 5])
def test_choice_zeroes_whole_channels_and_never_costs_more(quality):
    a, _ = read_image(DATA / "cr_chest_u8.png")
    enc = _encoder(quality, zopt=False)
    ys, hp, wp, zq, _ = enc._front(_plane(enc, a))
    opt = enc._optimise_z(ys, hp, wp, zq)
    changed = np.flatnonzero((opt != zq).any(axis=(1, 2)))
    assert np.all(opt[changed] == 0) and np.array_equal(np.delete(opt, changed, 0),
                                                        np.delete(zq, changed, 0))

    def cost(z: np.ndarray) -> float:
        ch = [z_channel_choice(z[c].reshape(-1).astype(np.int64), c, enc.lm)
              for c in range(z.shape[0])]
        return enc._z_bits(ch) + _estimate(enc, ys, hp, wp, z).total

    assert cost(opt) <= cost(zq)


@pytest.mark.parametrize("dq", [True, False])
def test_incremental_estimate_is_the_fresh_one(dq):
    a, _ = read_image(DATA / "cr_chest_u8.png")
    enc = _encoder(1, zopt=False, dq=dq)
    ys, hp, wp, zq, _ = enc._front(_plane(enc, a))
    est = _estimate(enc, ys, hp, wp, zq)
    rng = np.random.default_rng(3)
    for c in rng.choice(np.flatnonzero(zq.any(axis=(1, 2))), 3, replace=False):
        z = zq.copy()
        z[c] = 0
        got, change = est.trial(z)
        assert got == pytest.approx(_estimate(enc, ys, hp, wp, z).total, rel=1e-9)
        est.keep(change)
        zq = z
    # a trial of the current hyper-latents changes nothing
    assert est.trial(zq)[0] == pytest.approx(est.total, rel=1e-12)


def test_z_bits_agree_with_the_record_choice():
    lm = lossy.load_model("wavelet-context")
    rng = np.random.default_rng(4)
    zq = rng.integers(-2, 3, (lm.config["n"], 5, 5))
    zq[3] = 6  # a channel a record codes about its offset
    enc = _encoder(2)
    ch = [z_channel_choice(zq[c].reshape(-1).astype(np.int64), c, lm)
          for c in range(zq.shape[0])]
    rec, gain = choose_z_tables(zq, lm)
    assert gain > mic.EncoderOptions().zrec_min_gain_bits and rec[3, 0] == 1
    assert enc._z_bits(ch) == pytest.approx(sum(c[0] for c in ch) - gain)
    assert _encoder(2, zadapt=False)._z_bits(ch) == pytest.approx(sum(c[0] for c in ch))


def test_smaller_stream_here_and_decodes_as_encoded():
    a, _ = read_image(DATA / "cr_chest_u8.png")
    # adapt's biases in the tile, as when this was measured (inline biases with bias_rdo:
    # 1000 -> 1004 bytes here, zopt's estimate does not see bias_rdo's second rounding)
    on = mic.encode(a, effort=7, quality=2, inline_biases=False)
    off = mic.encode(a, effort=7, quality=2, zopt=False, inline_biases=False)
    assert len(on) < len(off)  # measured: 1078 -> 1054 bytes
    out = mic.decode(on)
    assert out.shape == a.shape
    peak = 255.0 ** 2
    psnr = [10 * np.log10(peak / np.mean((mic.decode(b).astype(float) - a) ** 2))
            for b in (on, off)]
    assert psnr[0] > psnr[1] - 0.1


def test_rgb_tiles_and_the_ae_which_has_no_hyper_latents():
    rgb, _ = read_image(DATA / "us_breast_rgb.png")
    on = mic.encode(rgb, effort=7, quality=1, tile=128)
    assert mic.decode(on).shape == rgb.shape
    assert len(on) <= len(mic.encode(rgb, effort=7, quality=1, tile=128, zopt=False))
    a, _ = read_image(DATA / "cr_chest_u8.png")
    assert mic.encode(a, effort=7, quality=2, model="wavelet-factorized") == mic.encode(a, effort=7, quality=2, model="wavelet-factorized",
                                                              zopt=False)


def test_cli_no_zopt(tmp_path):
    from click.testing import CliRunner

    from mic.cli import main

    src = DATA / "cr_chest_u8.png"
    run = CliRunner().invoke
    for name, extra in (("on.mic", []), ("off.mic", ["--no-zopt"])):
        res = run(main, ["encode", str(src), str(tmp_path / name), "--quality", "2", "--effort", "7", *extra])
        assert res.exit_code == 0, res.output
    a, _ = read_image(src)
    assert (tmp_path / "on.mic").read_bytes() == mic.encode(a, effort=7, quality=2)
    assert (tmp_path / "off.mic").read_bytes() == mic.encode(a, effort=7, quality=2, zopt=False)
    res = run(main, ["encode", str(src), str(tmp_path / "c.mic"), "--no-zopt"])
    assert res.exit_code == 2 and "lossy only" in res.output
