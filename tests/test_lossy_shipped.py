"""The shipped lossy weights: every quality round-trips with sane rate and PSNR, the
frozen tables are the ones SPEC.md describes, encoding is deterministic, and the lossy
mode runs without torch."""

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("safetensors")

import mic  # noqa: E402
from mic.models.weights import REGISTRY_FILE, load_tensors, registry  # noqa: E402

if not REGISTRY_FILE.is_file():
    pytest.skip("no shipped weights in this checkout", allow_module_level=True)

SHIPPED = sorted(__import__("json").loads(REGISTRY_FILE.read_text())["models"])


def phantom(h=192, w=160, seed=0) -> np.ndarray:
    """A 12-bit CT-like slice: body ellipse, organs, bone ring, smooth texture, noise."""
    yy, xx = np.mgrid[:h, :w].astype(float)
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w))
    e = lambda cy, cx, ry, rx: ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1  # noqa: E731
    img[e(h / 2, w / 2, h * 0.45, w * 0.42)] = 1040
    img[e(h / 2, w / 2, h * 0.45, w * 0.42) & ~e(h / 2, w / 2, h * 0.40, w * 0.37)] = 1900
    img[e(h * 0.45, w * 0.35, h * 0.15, w * 0.1)] = 900
    img[e(h * 0.55, w * 0.62, h * 0.12, w * 0.14)] = 1080
    img += np.where(img > 0, 15 * np.sin(xx / 7) * np.cos(yy / 9) + rng.normal(0, 8, (h, w)), 0)
    return np.clip(img, 0, 4095).astype(np.uint16)


def psnr(a, b, peak=4095.0):
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return 10 * np.log10(peak * peak / max(mse, 1e-12))


@pytest.mark.parametrize("model", SHIPPED)
def test_every_quality_rate_and_psnr(model):
    from mic.lossy import qualities

    img = phantom()
    qs = qualities(model)
    assert len(qs) >= 6
    bpp, ps = [], []
    for q in qs:
        blob = mic.encode(img, quality=q, model=model)
        out = mic.decode(blob)
        assert out.shape == img.shape and out.dtype == np.uint16
        bpp.append(8 * len(blob) / img.size)
        ps.append(psnr(img, out))
    assert all(b2 > b1 for b1, b2 in zip(bpp, bpp[1:])), bpp
    if registry()[model]["config"]["arch"] == "conv":
        # the conv vae, at its early stage of training (62 CPU-minutes), saturates on this
        # noisy phantom: 27.5 +- 0.1 dB at every quality (measured 2026-12-05), so its PSNR
        # is not monotone here; on a real CT it grows with quality (tests/test_conv_codec.py)
        assert min(ps) > 26, ps
        return
    assert all(p2 > p1 for p1, p2 in zip(ps, ps[1:])), ps
    # the wavelet models do not saturate: the top quality is near-transparent on 12 bits
    # (measured: q11 68-69 dB, q0 29 dB at ~0.03 bpp on this noisy phantom)
    assert ps[-1] > 62 and ps[0] > 26, ps
    assert bpp[0] < 0.3, bpp  # (0.16-0.23: a small image, headers and z weigh more)


def test_deterministic_bytes():
    img = phantom(64, 64, 1)
    for model in SHIPPED:
        assert mic.encode(img, quality=3, model=model) == mic.encode(img, quality=3, model=model)


def test_stored_tables_are_the_specified_ones():
    """tab_y is the mixture of SPEC 6 at the config's scales (shape ``gsm.pi``, ``gsm.r``;
    plain Gaussians for the conv vae, SPEC 6.10); the thresholds are the log-midpoints of
    those scales at the output precision of the network that gives the log-scale (the
    context MLP; the vae's integer h_s; the cnn's ep)."""
    from mic.entropy import TableSet, log_scale_thresholds, mixture_tables, scale_table

    for name in SHIPPED:
        ent = dict(registry()[name], name=name)
        cfg = ent["config"]
        if cfg.get("kind") == "conv-factorized":  # ae: factorized tables, no scales (SPEC
            continue  # 6.11; tests/test_conv_ae.py checks its tables)
        t = load_tensors(ent)
        args = {"scale_max": cfg["scale_max"], "n": cfg["n_scales"]}
        conv = cfg["arch"] == "conv"  # SPEC 6.10: the scale is h_s's output, plain Gaussians
        # (SPEC 6.12, cnn: ep's log-scale outputs)
        out_frac = t["ep.out_frac" if cfg["kind"] == "conv-meanscale" else
                     "hs.out_frac" if conv else "ctx.out_frac"]
        assert np.array_equal(t["thresholds"], log_scale_thresholds(int(out_frac[0]), **args))
        tabs = TableSet.from_tensors(t, "tab_y")
        assert len(tabs.half) == cfg["n_scales"]
        for f in tabs.freqs():
            assert f.min() >= 1 and int(f.sum()) == 1 << 20
        shape = (np.ones(1), np.ones(1)) if conv else (t["gsm.pi"], t["gsm.r"])
        ref = mixture_tables(scale_table(**args), *shape)
        assert ref.digest() == tabs.digest()


def test_rgb_and_signed_with_shipped_model():
    rgb = np.stack([phantom(64, 80, s) // 16 for s in range(3)], axis=-1).astype(np.uint8)
    out = mic.decode(mic.encode(rgb, quality=5))
    assert out.shape == rgb.shape and psnr(rgb, out, 255) > 30
    gray3 = np.repeat((phantom(64, 80) // 16).astype(np.uint8)[:, :, None], 3, axis=2)
    one = len(mic.encode(gray3[:, :, 0], quality=5, regions=False))
    three = len(mic.encode(gray3, quality=5, regions=False))
    assert three < 1.5 * one  # the colour transform leaves nothing to code in C1, C2
    signed = phantom(64, 64).astype(np.int16) - 1024
    out = mic.decode(mic.encode(signed, quality=5))
    assert out.dtype == np.int16 and psnr(signed, out) > 30


def test_lossy_mode_runs_without_torch():
    code = ("import sys, numpy as np, mic; "
            "a = (np.arange(96 * 80).reshape(96, 80) % 4096).astype(np.uint16); "
            "b = mic.encode(a, quality=2); mic.decode(b); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_rdo_rounding_lowers_the_rate_distortion_cost():
    """The encoder's RD-optimised rounding (default) beats plain rounding on the training
    objective lambda * 255^2 * MSE + bpp (x in [0, 1] units), with the same decoder, on a
    real CT slice at middle and high qualities (BD-rate vs plain rounding on one image of
    each of 8 train sources, research/rdo_tune.py: -2.5 to -7 %)."""
    from PIL import Image

    from mic.lossy import load_model

    img = np.asarray(Image.open(__import__("pathlib").Path(__file__).parent / "data"
                                / "ct_abdomen_u16.png"))
    lm = load_model("wavelet-context")
    lo = int(img.min())
    scale = float((1 << (int(img.max()) - lo).bit_length()) - 1)
    for q in (6, 9):
        lam = lm.config["lambdas"][q] * 255.0 ** 2
        cost = []
        for rdo in (False, True):
            blob = mic.encode(img, quality=q, rdo=rdo)
            err = (mic.decode(blob).astype(float) - img) / scale
            cost.append(lam * np.mean(err ** 2) + 8 * len(blob) / img.size)
        assert cost[1] < cost[0], (q, cost)
