"""The near-lossless (mode 2) conformance vectors under formats/near/ (model id 2),
formats/near12/ (model id 12, SPEC 7.6), formats/near17/ (model id 17, SPEC 7.7),
formats/near19/ (model id 19, SPEC 7.8), formats/near21/ (model id 21, SPEC 7.9) and
formats/near23/ (model id 23, SPEC 7.10) (formats/README.md).

Every valid vector decodes to its recorded samples (``decoded_sha256``), which lie within
its ``max_error`` of the source, with mic and with the reference decoder written from
SPEC.md alone; today's encoder, re-run on the source, makes a stream that decodes within
the bound; every invalid vector raises its recorded error (and the reference refuses it).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mic
from mic_test_helpers import load_reference_decoder

FORMATS = Path(__file__).resolve().parents[1] / "formats"
#: vector directory -> (model id, generator)
SETS = {"near": (2, "make_near_vectors.py"), "near12": (12, "make_near12_vectors.py"),
        "near17": (17, "make_near17_vectors.py"), "near19": (19, "make_near19_vectors.py"),
        "near21": (21, "make_near21_vectors.py"), "near23": (23, "make_near23_vectors.py")}
VECTORS_ALL = VECTORS = [(d, v) for d in SETS
           for v in json.loads((FORMATS / d / "vectors.json").read_text())["vectors"]]
EXPECTED_ALL = EXPECTED = [(d, name, e) for d in SETS for name, e in sorted(json.loads(
    (FORMATS / d / "invalid" / "expected.json").read_text()).items())]




def sha(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr, arr.dtype.newbyteorder("<")).tobytes()
                          ).hexdigest()


def _options(v: dict) -> dict:
    return {k: (tuple(x) if isinstance(x, list) else x) for k, x in v["encode_options"].items()}


@pytest.mark.parametrize("d", sorted(SETS))
def test_files_are_all_listed_and_cover_the_cases(d):
    NEAR = FORMATS / d
    VECTORS = [v for dd, v in VECTORS_ALL if dd == d]
    EXPECTED = {name: e for dd, name, e in EXPECTED_ALL if dd == d}
    # near12/ takes its sources from near/ (formats/ stays small)
    listed = {v["stream"] for v in VECTORS} | {v["source"] for v in VECTORS
                                               if "/" not in v["source"]}
    on_disk = {p.name for p in NEAR.glob("*.mic")} | {p.name for p in NEAR.glob("*.npy")}
    assert on_disk == listed
    assert all((NEAR / v["source"]).is_file() for v in VECTORS)
    assert {p.stem for p in (NEAR / "invalid").glob("*.mic")} == set(EXPECTED)
    ks = {v["max_error"] for v in VECTORS}
    assert {1, 2, 5} <= ks
    assert {"uint8", "uint16", "int8", "int16"} <= {v["dtype"] for v in VECTORS}
    assert any(v["dtype"] == "int16" and v["bits_stored"] == 16 for v in VECTORS)
    assert any(v["bits_stored"] == 12 for v in VECTORS) and any(v["bits_stored"] == 8
                                                                for v in VECTORS)
    xforms = {x for v in VECTORS if v["photometric"] == "RGB" for x in v["xforms"]}
    assert xforms == {0, 2}  # both colour paths of SPEC 7.3
    assert any(v["tiles"] > 1 and len(v["shape"]) == 2 for v in VECTORS)
    assert any(len(v["shape"]) == 3 and v["photometric"] != "RGB" for v in VECTORS)  # frames
    assert any(v["encode_options"].get("stream_version") == 1 for v in VECTORS)
    assert all(v["model_id"] == SETS[d][0] for v in VECTORS)
    kinds = {k for v in VECTORS for k in v["first_plane_kinds"]}
    if d == "near17":  # SPEC 7.7: constant, kinds 3-4 (effort 1), 5-6 (the default), and
        assert kinds == {0, 1, 3, 4, 5, 6}  # model 12's kind 1 beside them (effort 4)
        assert any(v["first_plane_kinds"] == [1, 5, 5] for v in VECTORS)
        pal = {v["name"] for v in VECTORS if v["first_plane_kinds"] in ([4], [6])}
        assert {"sparse_ramp_u16_k4", "sparse_ramp_u16_k4_e1"} <= pal  # k' = 4 // 4 = 1
        assert "sparse_lut_u16_k2" in pal  # representatives, k' = 0
        assert set(EXPECTED) == {"model17_read_as_model12", "mode2_model_id_16"}
        return
    if d == "near19":  # SPEC 7.8: model 17's planes with bands (the generator checks the
        assert kinds == {0, 1, 5, 6}  # band counts of its own crops: 4 and 2)
        assert any(v["first_plane_kinds"] == [1, 5, 5] for v in VECTORS)
        assert {"lung_bands4_k1", "ct_bands2_k2"} <= {v["name"] for v in VECTORS}
        assert set(EXPECTED) == {"model19_read_as_model17", "mode2_model_id_18"}
        return
    if d == "near21":  # SPEC 7.9: model 19's planes with low classes (the generator checks
        assert kinds == {0, 1, 5, 6}  # the low class counts of its own crops)
        assert any(v["first_plane_kinds"] == [1, 5, 5] for v in VECTORS)
        assert {"ct_low8_k1", "ct_low_k4", "mr_low_k2"} <= {v["name"] for v in VECTORS}
        assert set(EXPECTED) == {"model21_read_as_model19", "mode2_model_id_20"}
        return
    if d == "near23":  # SPEC 7.10: model 21's planes with packed table sections
        assert kinds == {0, 1, 5, 6}
        assert {"ct_low8_k1", "ct_low_k4", "mr_low_k2"} <= {v["name"] for v in VECTORS}
        assert set(EXPECTED) == {"model23_read_as_model21", "mode2_model_id_22"}
        return
    assert kinds == {0, 1, 2}  # constant, coded and palette near-lossless planes (SPEC 7.2)
    pal = {v["name"] for v in VECTORS if v["first_plane_kinds"] == [2]}
    assert "sparse_ramp_u16_k4" in pal  # k' = 4 // 4 = 1
    assert pal & {"sparse_lattice_u16_k1", "int8_ramp_k1"}  # k' = 0 (gaps 4 and 9, k = 1)
    if d == "near":
        assert {"k_zero", "k_too_large", "near_missing", "truncated_in_tile",
                "sample_crc_mismatch", "payload_bit_flip"} <= set(EXPECTED)
    else:  # the model-independent invalid cases are near/'s
        assert set(EXPECTED) == {"mode2_model_id_13", "model12_read_as_model2"}


@pytest.mark.parametrize("d,v", VECTORS, ids=[f"{d}/{v['name']}" for d, v in VECTORS])
def test_vector_decodes_to_its_samples_within_k(d, v):
    NEAR = FORMATS / d
    stream = (NEAR / v["stream"]).read_bytes()
    assert hashlib.sha256(stream).hexdigest() == v["stream_sha256"]
    src = np.load(NEAR / v["source"], allow_pickle=False)
    assert sha(src) == v["source_sha256"], "source .npy changed"
    out = mic.decode(stream)
    assert out.dtype == np.dtype(v["dtype"]) and list(out.shape) == v["shape"]
    assert sha(out) == v["decoded_sha256"]
    err = int(np.abs(out.astype(np.int64) - src.astype(np.int64)).max())
    assert err == v["max_abs_error"] <= v["max_error"]
    i = mic.info(stream)
    assert (i.mode, i.max_error, i.model_id) == ("near-lossless", v["max_error"], SETS[d][0])
    assert i.bits_stored == v["bits_stored"] and i.photometric == v["photometric"]
    assert list(i.tile_shape) == v["tile_shape"] and i.tiles == v["tiles"]
    assert i.sample_crc32 is not None


@pytest.mark.parametrize("d,v", VECTORS, ids=[f"{d}/{v['name']}" for d, v in VECTORS])
def test_reencoding_stays_within_k(d, v):
    # Byte-identical re-encoding is not required across coder versions (formats/README.md).
    src = np.load(FORMATS / d / v["source"], allow_pickle=False)
    out = mic.decode(mic.encode(src, **_options(v)))
    assert out.dtype == src.dtype
    assert int(np.abs(out.astype(np.int64) - src.astype(np.int64)).max()) <= v["max_error"]


@pytest.mark.parametrize("d,v", VECTORS, ids=[f"{d}/{v['name']}" for d, v in VECTORS])
def test_reference_decoder_agrees(d, v):
    """formats/reference_decoder.py (SPEC.md alone, section 7 for mode 2)."""
    out = load_reference_decoder().decode((FORMATS / d / v["stream"]).read_bytes())
    assert out.dtype == np.dtype(v["dtype"]) and list(out.shape) == v["shape"]
    assert sha(out) == v["decoded_sha256"]


@pytest.mark.parametrize("d,name,e", EXPECTED, ids=[f"{d}/{n}" for d, n, _ in EXPECTED])
def test_invalid_vector_raises_its_error(d, name, e):
    stream = (FORMATS / d / "invalid" / f"{name}.mic").read_bytes()
    assert hashlib.sha256(stream).hexdigest() == e["stream_sha256"]
    cls = getattr(mic, e["error"])
    for fn in (mic.decode, mic.verify):
        with pytest.raises(mic.MicError) as info:
            fn(stream)
        if e["exact"]:
            assert type(info.value) is cls, f"{type(info.value).__name__}: {info.value}"
        else:
            assert isinstance(info.value, cls)
    with pytest.raises(load_reference_decoder().SpecError):
        load_reference_decoder().decode(stream)


@pytest.mark.parametrize("d", sorted(SETS))
def test_generator_check_passes(d):
    """``make_near_vectors.py --check`` and its model-12, 17 and 19 variants: the committed
    files are what the generators write."""
    out = subprocess.run([sys.executable, str(FORMATS / SETS[d][1]), "--check"],
                         capture_output=True, text=True, timeout=600,
                         env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stdout + out.stderr
