"""Coding from several threads at once: encoder choices are values (``mic.EncoderOptions``),
not module state, and the model cache loads each model once, so 8 threads encoding and
decoding a mix of images, models, qualities and options get exactly the serial bytes and
pixels."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("safetensors")

import mic  # noqa: E402
from mic.io import read_image  # noqa: E402
from mic.models.weights import REGISTRY_FILE  # noqa: E402

if not REGISTRY_FILE.is_file():
    pytest.skip("no shipped weights in this checkout", allow_module_level=True)

DATA = Path(__file__).parent / "data"
THREADS = 8


def _cases() -> list[tuple[str, np.ndarray, dict]]:
    """(name, image, mic.encode keywords): real test images (crops, to keep it quick), the
    three models, several qualities, tools and tuned settings on and off, lossless too."""
    ct = read_image(DATA / "ct_abdomen_u16.png")[0][64:192, 48:208]
    cr = read_image(DATA / "cr_chest_u8.png")[0][80:240, 80:240]
    mr = read_image(DATA / "mr_brain_u16.png")[0][96:224, 64:192]
    us = read_image(DATA / "us_breast_u8.png")[0][64:192, 64:192]
    rgb = read_image(DATA / "us_breast_rgb.png")[0][64:160, 64:192]
    lung = np.load(DATA / "ct_lung_i16.npy")[32:160, 32:160]
    bars = np.zeros((96, 128), np.uint16)
    bars[:, 32:96] = mr[:96, :64] + 300
    opts = mic.EncoderOptions
    return [
        ("ct ctx q5", ct, {"quality": 5}),
        ("ct ctx q5 dq off", ct, {"quality": 5, "dq": False}),
        ("ct ctx q9 long segment, per-band biases", ct,
         {"quality": 9, "options": opts(long_model_segment=True, pass_biases=False)}),
        ("cr hyper q2", cr, {"quality": 2, "model": "wavelet-hyperprior"}),
        ("cr fact q8", cr, {"quality": 8, "model": "wavelet-factorized"}),
        ("cr ctx q1 records forced, v1", cr,
         {"quality": 1, "stream_version": 1, "options": opts(zrec_min_gain_bits=-1e9)}),
        ("us ctx q6 tools off", us,
         {"quality": 6, "options": opts(regions=False, adapt=False, means=False, zopt=False)}),
        ("rgb ctx q3 (restoration directions)", rgb, {"quality": 3}),
        ("rgb ctx q3 directions off", rgb,
         {"quality": 3, "options": opts(restore_directions=False)}),
        ("lung ctx q4 tiles", lung, {"quality": 4, "tile": 64, "rdo": False}),
        ("bars ctx q3 regions", bars, {"quality": 3, "tile": 32}),
        ("bars hyper q6 region stop", bars,
         {"quality": 6, "options": opts(model="wavelet-hyperprior", region_stop=0.5, rdo_lambda_scale=1.0)}),
        ("mr lossless", mr, {}),
        ("rgb lossless", rgb, {}),
        ("lung lossless tiles", lung, {"tile": 48}),
    ]


def test_encode_and_decode_in_threads_give_the_serial_results():
    cases = _cases()
    serial = [mic.encode(a, **kw) for _, a, kw in cases]
    pixels = [mic.decode(b) for b in serial]
    order = np.random.default_rng(0).permutation(len(cases)).tolist()
    with ThreadPoolExecutor(THREADS) as pool:
        blobs = list(pool.map(lambda k: mic.encode(cases[k][1], **cases[k][2]), order))
        decoded = list(pool.map(mic.decode, blobs))
        # decodes beside encodes (a server's mixed load): every other job encodes
        mixed = list(pool.map(lambda j: mic.encode(cases[order[j]][1], **cases[order[j]][2])
                              if j % 2 else mic.decode(serial[order[j]]), range(len(order))))
    for j, k in enumerate(order):
        name = cases[k][0]
        assert blobs[j] == serial[k], name
        assert np.array_equal(decoded[j], pixels[k]) and decoded[j].dtype == pixels[k].dtype, name
        if j % 2:
            assert mixed[j] == serial[k], name
        else:
            assert np.array_equal(mixed[j], pixels[k]), name


def test_model_cache_loads_each_model_once_under_threads(monkeypatch):
    """Threads asking for models at once share one load per model (the cache's lock is
    held while loading), and every thread gets the same object."""
    from mic.lossy import model as model_mod

    loads: list[str] = []
    real = model_mod._load

    def slow_load(name: str):  # noqa: ANN202
        loads.append(name)
        time.sleep(0.05)  # widen the window a second loader would slip through
        return real(name)

    model_mod.clear_cache()
    monkeypatch.setattr(model_mod, "_load", slow_load)
    names = (["wavelet-context", "wavelet-hyperprior", "wavelet-factorized"] * THREADS)[:THREADS]
    start = threading.Barrier(THREADS)

    def get(name: str):  # noqa: ANN202
        start.wait(timeout=30)  # every thread asks at once
        return model_mod.load_model(name)

    with ThreadPoolExecutor(THREADS) as pool:
        got = list(pool.map(get, names))
    assert sorted(loads) == ["wavelet-context", "wavelet-factorized", "wavelet-hyperprior"]
    for name, lm in zip(names, got):
        assert lm is model_mod.load_model(name) and lm.name == name


def test_registering_weights_makes_loaded_models_stale():
    """mic.models.weights bumps a generation on every (un)registration; the cache reloads
    under a new one (weights.py no longer reaches into mic.lossy to clear it)."""
    from mic.lossy.model import load_model
    from mic.models import weights

    before = load_model("wavelet-context")
    assert load_model("wavelet-context") is before
    g = weights.generation()
    weights.unregister_weights()
    assert weights.generation() == g + 1
    after = load_model("wavelet-context")
    assert after is not before and after.sha256 == before.sha256
    assert load_model("wavelet-context") is after


@pytest.mark.parametrize("kw", [dict(quality=4, tile=64), dict(quality=2, tile=(48, 80), effort=7),
                                dict(tile=40), dict(quality=5, effort=1),
                                dict(quality=3, model="vae", tile=64)])
def test_threads_argument_gives_the_serial_bytes_and_pixels(kw):
    """``threads=`` codes tiles (and frames) on threads: the same stream and samples for
    any count, lossy and lossless, tiled and frame stacks."""
    a, _ = read_image(DATA / "mr_brain_u16.png")
    stack = np.stack([a[:150, :170], a[20:170, 30:200]])
    ref = mic.encode(stack, **kw)
    out = mic.decode(ref)
    for threads in (2, 3):
        assert mic.encode(stack, threads=threads, **kw) == ref
        assert np.array_equal(mic.decode(ref, threads=threads), out)
    assert np.array_equal(mic.decode(ref, threads=4, region=(10, 90, 5, 120)),
                          out[:, 10:90, 5:120])


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_threads_out_of_range_is_refused(bad):
    a = np.zeros((8, 8), np.uint8)
    with pytest.raises(mic.MicInputError, match="threads must be an int >= 1"):
        mic.encode(a, threads=bad)
    with pytest.raises(mic.MicInputError, match="threads must be an int >= 1"):
        mic.decode(mic.encode(a), threads=bad)


def test_tiles_on_threads_hold_blas_to_one_thread() -> None:
    """While tiles run on threads, NumPy's BLAS runs on one thread (its own pool per tile
    would oversubscribe the cores), and its setting is restored afterwards."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from mic.parallel import run_tiles

    blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    if not blas:
        pytest.skip("NumPy loaded no BLAS library that threadpoolctl knows")
    before = [i["num_threads"] for i in blas]

    def inside(_: int) -> list[int]:
        return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"]

    assert run_tiles(inside, [0, 1], threads=2) == [[1] * len(blas)] * 2
    assert [i["num_threads"] for i in threadpoolctl.threadpool_info()
            if i["user_api"] == "blas"] == before
