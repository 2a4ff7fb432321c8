"""Conformance vectors of the learned convolutional-transform models (formats/conv/,
SPEC 6.10-6.12): they decode with the shipped weights to the recorded symbols and samples
(within the recorded float tolerance of g_s); edited streams raise their errors."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import mic
from mic.models.weights import registry

CONV = Path(__file__).resolve().parents[1] / "formats" / "conv"
if not (CONV / "vectors.json").is_file():
    pytest.skip("no conv conformance vectors in this checkout", allow_module_level=True)
VECTORS = json.loads((CONV / "vectors.json").read_text())["vectors"]
EXPECTED = json.loads((CONV / "invalid" / "expected.json").read_text())


def sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a, a.dtype.newbyteorder("<")).tobytes()).hexdigest()


@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_conv_vector_decodes_to_its_samples(v):
    model = v.get("model", "vae")
    assert registry()[model]["sha256"] == v["weights_sha256"], (
        f"the shipped {model} weights changed: regenerate with formats/make_conv_vectors.py")
    stream = (CONV / v["stream"]).read_bytes()
    assert hashlib.sha256(stream).hexdigest() == v["stream_sha256"]
    info = mic.info(stream)
    assert (info.mode, info.model, info.model_id, info.quality) == \
        ("lossy", model, v["model_id"], v["quality"])
    assert info.generative == (model == "gan")  # header flag bit 1 (SPEC 3, 6.13)
    out = mic.decode(stream)  # the symbol CRC-32s are checked inside: the symbols are exact
    assert out.dtype == np.dtype(v["dtype"]) and list(out.shape) == v["shape"]
    ref = mic.decode((CONV / v["decoded"]).read_bytes())  # the recorded samples (lossless)
    assert sha(ref) == v["decoded_sha256"]
    if sha(out) != v["decoded_sha256"]:  # SPEC 6.10: only g_s's float rounding may differ
        diff = np.abs(out.astype(np.int64) - ref.astype(np.int64))
        tol = v["tolerance"]
        assert diff.max() <= tol["max_abs_sample_diff"], v["name"]
        assert np.mean(diff > 0) <= tol["max_share"], v["name"]
    src = np.load(CONV / v["source"])
    err = out.astype(np.float64) - src.astype(np.float64)
    peak = float((1 << info.bits_stored) - 1)
    psnr = 10 * np.log10(peak * peak / max(float(np.mean(err ** 2)), 1e-12))
    assert abs(psnr - v["psnr_db"]) < 0.05 and int(np.abs(err).max()) <= v["max_abs_error"] + 1


def test_vectors_cover_the_syntax():
    # ae (6.11), vae (6.10), cnn (6.12), gan (6.13)
    assert {v["model_id"] for v in VECTORS} == {7, 8, 9, 10}
    assert {"gan_generative_flag_cleared", "cnn_generative_flag_set"} <= set(EXPECTED)
    assert any(n.startswith("ae_") for n in EXPECTED)
    assert {"cnn_symbol_bit_flip", "cnn_table_id_mismatch", "cnn_words_truncated",
            "cnn_unknown_xform"} <= set(EXPECTED)
    kinds = {(len(v["shape"]), v["dtype"]) for v in VECTORS}
    assert (3, "uint8") in kinds and (2, "int16") in kinds and (3, "uint16") in kinds
    assert any(v["encode_options"].get("tile") for v in VECTORS)
    assert any(v["encode_options"].get("stream_version") == 1 for v in VECTORS)
    assert any(len(v["symbols_crc32"]) < v["shape"][0] for v in VECTORS
               if v["name"].endswith("constant"))  # a constant plane has no coded plane


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_conv_vector_raises_its_error(name):
    e = EXPECTED[name]
    stream = (CONV / "invalid" / f"{name}.mic").read_bytes()
    assert hashlib.sha256(stream).hexdigest() == e["stream_sha256"]
    with pytest.raises(getattr(mic, e["error"])):
        mic.decode(stream)
