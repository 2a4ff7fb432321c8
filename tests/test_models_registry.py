"""Model ids are permanent; unknown names/ids are refused with a clear error."""

import json

import pytest

import mic
from mic.models.registry import (
    CONV_MODEL_IDS, MODEL_IDS, MODEL_KINDS, RETIRED_MODELS, model_id, model_name,
)
from mic.models.weights import REGISTRY_FILE, registry, sha256_file


def test_ids_are_permanent():
    # Written out on purpose: changing an id breaks every stream made with it.  Ids 1-3 were
    # the block-transform models of mic 0.1: retired, never reused.
    assert MODEL_IDS == {"wavelet-factorized": 4, "wavelet-hyperprior": 5, "wavelet-context": 6,
                         "ae": 7, "vae": 8, "cnn": 9, "gan": 10, "wavelet-context-fast": 11}
    assert MODEL_KINDS == {4: "factorized", 5: "scale", 6: "meanscale", 7: "conv-factorized",
                           8: "conv-scale", 9: "conv-meanscale", 10: "conv-meanscale",
                           11: "meanscale"}
    # the learned convolutional-transform models (issue #21): ids fixed whether shipped or not
    assert CONV_MODEL_IDS == {"ae": 7, "vae": 8, "cnn": 9, "gan": 10}
    assert not set(RETIRED_MODELS) & set(CONV_MODEL_IDS.values())
    assert set(RETIRED_MODELS) == {1, 2, 3}
    assert not set(RETIRED_MODELS) & set(MODEL_IDS.values())
    assert len(set(MODEL_IDS.values())) == len(MODEL_IDS)
    for mid in RETIRED_MODELS:
        with pytest.raises(mic.MicUnsupportedError, match="retired"):
            model_name(mid)


def test_unknown_names_and_ids():
    with pytest.raises(mic.MicUnsupportedError, match="jpeg"):
        model_id("jpeg")
    with pytest.raises(mic.MicUnsupportedError, match="77"):
        model_name(77)


def test_shipped_registry_matches_files():
    if not REGISTRY_FILE.is_file():
        pytest.skip("no shipped weights in this checkout")
    data = json.loads(REGISTRY_FILE.read_text())
    total = 0
    for name, ent in data["models"].items():
        assert MODEL_IDS[name] == ent["id"]
        path = REGISTRY_FILE.parent / ent["file"]
        assert sha256_file(path) == ent["sha256"], name
        assert ent["file"].endswith(".safetensors")
        total += path.stat().st_size
    assert total <= 40_000_000
    assert set(registry()) >= set(data["models"])


def test_only_gan_is_generative():
    """gan (id 10) is shipped, and the one generative model (header flag bit 1, SPEC 3)."""
    from mic.models.registry import GENERATIVE_MODELS, RESERVED_NAMES, is_generative

    assert model_id("gan") == 10 and model_name(10) == "gan" and not RESERVED_NAMES
    assert GENERATIVE_MODELS == {10}
    assert [m for m in range(12) if is_generative(True, m)] == [10]
    assert not is_generative(False, 10)


def test_names_say_what_the_models_are():
    from mic.models.registry import MODEL_DESCRIPTIONS, describe

    for name, mid in MODEL_IDS.items():
        assert describe(mid) == (name, MODEL_DESCRIPTIONS[mid])
        if name.startswith("wavelet-"):
            assert "wavelet" in MODEL_DESCRIPTIONS[mid]
        else:
            assert name in CONV_MODEL_IDS and "learned convolutional" in MODEL_DESCRIPTIONS[mid]
    assert describe(8) == ("vae", "learned convolutional analysis/synthesis (4x 5x5 stride-2 "
                                  "conv, GDN) with a scale hyperprior (Balle 2018)")
    assert describe(7)[0] == "ae" and "factorized prior" in describe(7)[1]
    assert describe(1)[0] == "retired(1)" and describe(1234)[0] == "unknown(1234)"
    assert describe(9)[0] == "cnn" and "checkerboard" in describe(9)[1]
    assert describe(10)[0] == "gan" and "generative" in describe(10)[1]
    assert "adversarial" in describe(10)[1] and "cnn" in describe(10)[1]


def test_registry_file_holds_no_machine_paths():
    if not REGISTRY_FILE.is_file():
        pytest.skip("no shipped weights in this checkout")
    text = REGISTRY_FILE.read_text()
    for marker in ("/work/", "/home/", "/root/", "/tmp/", "C:\\\\"):
        assert marker not in text, marker
    for name, ent in json.loads(text)["models"].items():
        assert "/" not in ent["file"] and ent["file"] == f"{name}.safetensors"


def test_info_names_the_model():
    import numpy as np

    a = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 7) % 4096
    lossy = mic.info(mic.encode(a, quality=3, model="wavelet-hyperprior"))
    assert (lossy.model, lossy.model_id) == ("wavelet-hyperprior", 5)
    assert "scale hyperprior" in lossy.model_description
    lossless = mic.info(mic.encode(a))
    assert lossless.model == "lossless-fast-nlms-compact" and lossless.model_description  # id 22
    m16 = mic.info(mic.encode(a, bands=False))
    assert m16.model == "lossless-fast-nlms-priors" and m16.model_id == 16
    m14 = mic.info(mic.encode(a, priors=False))
    assert m14.model == "lossless-fast-nlms" and m14.model_id == 14
    model1 = mic.info(mic.encode(a, nlms=False))
    assert model1.model == "lossless-predictive" and model1.model_id == 1
