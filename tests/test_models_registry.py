"""Model ids are permanent; unknown names/ids are refused with a clear error."""

import json

import pytest

import mic
from mic.models.registry import MODEL_IDS, MODEL_KINDS, RETIRED_MODELS, model_id, model_name
from mic.models.weights import REGISTRY_FILE, registry, sha256_file


def test_ids_are_permanent():
    # Written out on purpose: changing an id breaks every stream made with it.  Ids 1-3 were
    # the block-transform models of mic 0.1: retired, never reused.
    assert MODEL_IDS == {"ae": 4, "vae": 5, "cnn": 6}
    assert MODEL_KINDS == {4: "factorized", 5: "scale", 6: "meanscale"}
    assert set(RETIRED_MODELS) == {1, 2, 3}
    assert not set(RETIRED_MODELS) & set(MODEL_IDS.values())
    assert len(set(MODEL_IDS.values())) == len(MODEL_IDS)
    for mid in RETIRED_MODELS:
        with pytest.raises(mic.MicUnsupportedError, match="retired"):
            model_name(mid)


def test_unknown_names_and_ids():
    with pytest.raises(mic.MicUnsupportedError, match="gan"):
        model_id("gan")
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
