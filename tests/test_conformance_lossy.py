"""Lossy conformance vectors (formats/lossy/): they decode with the shipped weights to the
recorded samples; edited streams raise their errors."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import mic
from mic.models.weights import registry
from mic_test_helpers import load_forge

LOSSY = Path(__file__).resolve().parents[1] / "formats" / "lossy"
if not (LOSSY / "vectors.json").is_file():
    pytest.skip("no lossy conformance vectors in this checkout", allow_module_level=True)
META = json.loads((LOSSY / "vectors.json").read_text())
VECTORS = META["vectors"]
EXPECTED = json.loads((LOSSY / "invalid" / "expected.json").read_text())


def sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a, a.dtype.newbyteorder("<")).tobytes()).hexdigest()


@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_lossy_vector_decodes_to_its_samples(v):
    reg = registry()
    assert reg[v["model"]]["sha256"] == v["weights_sha256"], (
        "the shipped weights changed: regenerate with formats/make_lossy_vectors.py")
    stream = (LOSSY / v["stream"]).read_bytes()
    assert hashlib.sha256(stream).hexdigest() == v["stream_sha256"]
    info = mic.info(stream)
    assert (info.mode, info.model_id, info.quality) == ("lossy", v["model_id"], v["quality"])
    out = mic.decode(stream)  # the symbol CRC-32s are checked inside
    assert out.dtype == np.dtype(v["dtype"]) and list(out.shape) == v["shape"]
    if sha(out) != v["decoded_sha256"]:
        # SPEC 6: only the float reconstruction may differ on another machine, by a unit in
        # rare samples; never here, where the vectors were made
        import mic.lossy as lossy

        src = np.load(LOSSY / v["source"])
        saved = {k: getattr(lossy, k) for k in v.get("encoder_constants", {})}
        try:
            for k, c in v.get("encoder_constants", {}).items():
                setattr(lossy, k, c)
            ref = mic.decode(mic.encode(src, **v["encode_options"]))
        finally:
            for k, c in saved.items():
                setattr(lossy, k, c)
        diff = np.abs(out.astype(np.int64) - ref.astype(np.int64))
        assert diff.max() <= 1 and np.mean(diff > 0) < 1e-3, v["name"]
    src = np.load(LOSSY / v["source"])
    err = out.astype(np.float64) - src.astype(np.float64)
    peak = float((1 << info.bits_stored) - 1)
    psnr = 10 * np.log10(peak * peak / max(float(np.mean(err ** 2)), 1e-12))
    assert abs(psnr - v["psnr_db"]) < 0.05 and int(np.abs(err).max()) <= v["max_abs_error"] + 1


def test_vectors_cover_every_model_and_colour():
    assert {v["model"] for v in VECTORS} == {"ae", "vae", "cnn"}
    assert any(len(v["shape"]) == 3 for v in VECTORS)  # RGB (colour transform)
    assert any(v["encode_options"].get("tile") for v in VECTORS)  # several tiles
    assert any(v["dtype"] == "int16" for v in VECTORS)
    # every tile kind of SPEC 6.1 / 6.6: plain planes, RGB, and both with a constant region;
    # table biases (flag 4) and restoration filters (flag 8) on grey and RGB tiles
    from mic.lossy import TILE_HEAD

    forge = load_forge()
    kinds = set()
    for v in VECTORS:
        stream = (LOSSY / v["stream"]).read_bytes()
        kinds |= {TILE_HEAD.unpack_from(stream, sp.mode_start)[0]
                  for sp in forge.spans(stream) if sp.tag == b"TILE"}
    assert {k & 3 for k in kinds} == {0, 1, 2, 3}
    assert {k for k in kinds if k & 4} >= {4, 5}
    assert {k & 1 for k in kinds if k & 16} == {0, 1}  # predicted means, grey and RGB
    assert any(k & 32 for k in kinds) and any(k & 4 and not k & 32 for k in kinds)
    assert {k & 1 for k in kinds if k & 8} == {0, 1}
    assert {k & 1 for k in kinds if k & 64} == {0, 1}  # dependent quantisation
    assert any(k & 64 and k & 16 for k in kinds) and any(k & 64 and k & 2 for k in kinds)
    assert {k & 1 for k in kinds if k & 128} == {0, 1}  # hyper-latent records
    assert any(k & 8 and k & 3 == 2 for k in kinds)  # a filter beside a region


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_lossy_vector_raises_its_error(name):
    e = EXPECTED[name]
    stream = (LOSSY / "invalid" / f"{name}.mic").read_bytes()
    assert hashlib.sha256(stream).hexdigest() == e["stream_sha256"]
    with pytest.raises(getattr(mic, e["error"])):
        mic.decode(stream)
