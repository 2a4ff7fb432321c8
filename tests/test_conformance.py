"""The committed conformance vectors under formats/ (see formats/README.md).

Every valid vector must decode to exactly its source samples (sha256 and array
equality) and re-encode with today's encoder to a stream that decodes to the
same samples.  Every invalid vector must raise its recorded MicError class.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mic
from mic_test_helpers import load_reference_decoder, paused_gc

FORMATS = Path(__file__).resolve().parents[1] / "formats"
META = json.loads((FORMATS / "vectors.json").read_text())
VECTORS = META["vectors"]
EXPECTED = json.loads((FORMATS / "invalid" / "expected.json").read_text())


reference = load_reference_decoder()


def samples_sha256(arr: np.ndarray) -> str:
    le = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
    return hashlib.sha256(le.tobytes()).hexdigest()


def _options(v: dict) -> dict:
    return {k: (tuple(x) if isinstance(x, list) else x) for k, x in v["encode_options"].items()}


def test_vector_files_are_all_listed():
    listed = {v["stream"] for v in VECTORS} | {v["source"] for v in VECTORS}
    on_disk = {p.name for p in FORMATS.glob("*.mic")} | {p.name for p in FORMATS.glob("*.npy")}
    assert on_disk == listed
    invalid = {p.stem for p in (FORMATS / "invalid").glob("*.mic")}
    assert invalid == set(EXPECTED)
    assert len(VECTORS) >= 20 and len(EXPECTED) >= 20


def test_vectors_cover_the_required_cases():
    by = {v["name"]: v for v in VECTORS}
    dtypes = {v["dtype"] for v in VECTORS}
    assert {"uint8", "uint16", "int8", "int16"} <= dtypes
    bits = {v["bits_stored"] for v in VECTORS}
    assert {1, 10, 16} <= bits
    assert any(v["shape"] == [1, 1] for v in VECTORS)
    assert any(v["photometric"] == "RGB" for v in VECTORS)
    assert any(len(v["shape"]) == 3 and v["photometric"] != "RGB" for v in VECTORS)  # frames
    assert any(len(v["shape"]) == 4 for v in VECTORS)
    assert any(v["tiles"] > 1 and len(v["shape"]) == 2 for v in VECTORS)
    assert any(v["origin"].startswith("tests/data/") for v in VECTORS)
    assert {"compat_minor_version_longer_header", "compat_optional_segments",
            "compat_padding", "compat_tiles_reversed"} <= set(by)


def test_formats_folder_stays_small():
    total = sum(p.stat().st_size for p in FORMATS.rglob("*") if p.is_file()
                and "__pycache__" not in p.parts)
    # 2 MiB, and 64 KiB more since model id 13's vectors (formats/lossless13/, 33 KiB),
    # 64 KiB more since model id 14's (formats/lossless14/, 45 KiB), 64 KiB more since
    # model id 15's (formats/lossless15/, 47 KiB), 64 KiB more since the conv models'
    # xform 1 (formats/conv/*_colour*, 40 KiB, and the near-lossless covering palette, 12 KiB),
    # 64 KiB more since the conv tiles' regions (formats/conv/*_regions*, 2 valid vectors, 4
    # invalid), 64 KiB more since their half resolution (formats/conv/*_half*, 2 valid, 2
    # invalid: 38 KiB), 128 KiB more since model id 16's (formats/lossless16/, 78 KiB),
    # 64 KiB more since near-lossless model id 17's (formats/near17/, 59 KiB), 192 KiB more
    # since lossless model id 18's (formats/lossless18/, 147 KiB), 64 KiB more since
    # near-lossless model id 19's (formats/near19/, 73 KiB), 128 KiB more since lossless model
    # id 20's (formats/lossless20/, 125 KiB), 96 KiB more since near-lossless model id 21's
    # (formats/near21/, 79 KiB), 192 KiB more since lossless model id 22's (formats/lossless22/,
    # 214 KiB), 96 KiB more since near-lossless model id 23's (formats/near23/, 79 KiB), 224
    # KiB more since lossless model id 24's (formats/lossless24/, 220 KiB), 160 KiB more
    # since lossless model id 25's (formats/volume25/, 132 KiB)
    assert total < (2 << 20) + (1728 << 10), f"formats/ holds {total} bytes"


@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_valid_vector_decodes_exactly(v):
    stream = (FORMATS / v["stream"]).read_bytes()
    assert hashlib.sha256(stream).hexdigest() == v["stream_sha256"]
    assert len(stream) == v["stream_size"]
    src = np.load(FORMATS / v["source"], allow_pickle=False)
    assert samples_sha256(src) == v["samples_sha256"], "source .npy changed"
    out = mic.decode(stream)
    assert out.dtype == np.dtype(v["dtype"]) and list(out.shape) == v["shape"]
    assert samples_sha256(out) == v["samples_sha256"]
    assert np.array_equal(out, src)
    i = mic.info(stream)
    assert i.mode == "lossless" and list(i.shape) == v["shape"] and i.dtype == v["dtype"]
    assert i.bits_stored == v["bits_stored"] and i.photometric == v["photometric"]
    assert list(i.tile_shape) == v["tile_shape"] and i.tiles == v["tiles"]
    assert i.model_id == v["model_id"]
    lo, hi = mic.codec.sample_range(i.bits_stored, i.signed)
    assert lo <= int(out.min()) and int(out.max()) <= hi


@pytest.mark.parametrize("v", [v for v in VECTORS if not v["name"].startswith("compat_")],
                         ids=lambda v: v["name"])
def test_reencoding_decodes_to_the_same_samples(v):
    # Byte-identical re-encoding is not required across coder versions (formats/README.md).
    src = np.load(FORMATS / v["source"], allow_pickle=False)
    stream = mic.encode(src, **_options(v))
    out = mic.decode(stream)
    assert samples_sha256(out) == v["samples_sha256"]
    assert out.dtype == src.dtype and np.array_equal(out, src)
    i = mic.info(stream)
    assert i.bits_stored == v["bits_stored"] and i.photometric == v["photometric"]
    assert list(i.tile_shape) == v["tile_shape"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_vector_raises_its_error(name):
    e = EXPECTED[name]
    stream = (FORMATS / "invalid" / f"{name}.mic").read_bytes()
    assert hashlib.sha256(stream).hexdigest() == e["stream_sha256"]
    cls = getattr(mic, e["error"])
    assert issubclass(cls, mic.MicError)
    with contextlib.suppress(mic.MicError):  # warm-up: loading a lossy model is not timed
        mic.decode(stream)
    for fn in (mic.decode, mic.verify):
        t0 = time.process_time()
        with pytest.raises(mic.MicError) as info, paused_gc():
            fn(stream)
        assert time.process_time() - t0 < 1.0
        if e["exact"]:
            assert type(info.value) is cls, f"{type(info.value).__name__}: {info.value}"
        else:
            assert isinstance(info.value, cls), f"{type(info.value).__name__}: {info.value}"


# ----------------------------------------------------------------------------- from SPEC.md alone
@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_reference_decoder_written_from_the_spec_agrees(v):
    """formats/reference_decoder.py (plain Python from SPEC.md sections 1-5, nothing from
    mic) decodes every vector to the same samples: the spec is complete and exact."""
    out = reference.decode((FORMATS / v["stream"]).read_bytes())
    assert out.dtype == np.dtype(v["dtype"]) and list(out.shape) == v["shape"]
    assert samples_sha256(out) == v["samples_sha256"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reference_decoder_refuses_every_invalid_vector(name):
    with pytest.raises(reference.SpecError):
        reference.decode((FORMATS / "invalid" / f"{name}.mic").read_bytes())


def test_reference_decoder_agrees_on_fresh_streams():
    """Today's encoder on a few more inputs (the vectors were written by an earlier one)."""
    rng = np.random.default_rng(9)
    g = np.add.outer(np.arange(21), np.arange(18)) * 41
    arrays = [
        (g + rng.integers(-20, 21, g.shape)).clip(0, 4095).astype(np.uint16),
        (g - 700 + rng.integers(-3, 4, g.shape)).astype(np.int16),
        rng.integers(0, 256, (9, 11, 3)).astype(np.uint8),
        np.stack([g, g[::-1], g[:, ::-1]], -1).astype(np.uint16) % 1000,
    ]
    for arr in arrays:
        stream = mic.encode(arr, tile=(16, 16))
        out = reference.decode(stream)
        assert out.dtype == arr.dtype and np.array_equal(out, arr)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dtype=st.sampled_from([np.uint8, np.uint16, np.int8, np.int16]),
    shape=st.sampled_from([(1, 1), (1, 9), (7, 1), (5, 6), (13, 17), (6, 7, 3), (2, 5, 4),
                           (2, 4, 3, 3), (33, 20)]),
    kind=st.sampled_from(["noise", "smooth", "sparse", "extremes", "const"]),
    tile=st.sampled_from([None, 4, (3, 8)]),
    seed=st.integers(0, 2**32 - 1),
)
def test_reference_decoder_agrees_on_random_images(dtype, shape, kind, tile, seed):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    if kind == "noise":
        a = rng.integers(info.min, info.max, shape, endpoint=True)
    elif kind == "smooth":
        a = np.cumsum(rng.integers(-3, 4, shape), axis=-1) + (info.min + info.max) // 2
    elif kind == "sparse":
        a = rng.choice(rng.integers(info.min, info.max, 6, endpoint=True), shape)
    elif kind == "extremes":
        a = rng.choice([info.min, info.max, info.min + 1, info.max - 1], shape)
    else:
        a = np.full(shape, rng.integers(info.min, info.max, endpoint=True))
    arr = np.clip(a, info.min, info.max).astype(dtype)
    pm = "MONOCHROME2" if len(shape) == 3 and shape[-1] != 3 else None
    stream = mic.encode(arr, tile=tile, photometric=pm)
    out = reference.decode(stream)
    assert out.dtype == arr.dtype and np.array_equal(out, arr)
