"""The lossless NLMS conformance vectors: formats/lossless13/ (model id 13, SPEC 5.7) and
formats/lossless14/ (model id 14, SPEC 5.8), see formats/README.md.

Every valid vector decodes exactly to its source samples (sha256 and array equality) with
mic and with the reference decoder written from SPEC.md alone; every invalid vector raises
its recorded error class, and the reference refuses it too.  (That the generators still make
these files: tests/test_vector_generators.py.)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import mic
from mic_test_helpers import load_formats_module, load_reference_decoder

FORMATS = Path(__file__).resolve().parents[1] / "formats"
#: vector directory -> (model id, the plane kinds its vectors must cover)
SETS = {"lossless13": (13, {1, 2, 3, 4}),  # NLMS and palette planes, fast planes at effort 4
        "lossless14": (14, {5, 6, 1})}  # fast NLMS planes, their palette, model 13's
VECTORS = {d: json.loads((FORMATS / d / "vectors.json").read_text())["vectors"] for d in SETS}
EXPECTED = {d: json.loads((FORMATS / d / "invalid" / "expected.json").read_text())
            for d in SETS}


#: sha256 of the samples as vectors.json records it (formats/vector_files.py)
_sha = load_formats_module("vector_files.py").samples_sha256


@pytest.mark.parametrize("d,v", [(d, v) for d in SETS for v in VECTORS[d]],
                         ids=[f"{d}-{v['name']}" for d in SETS for v in VECTORS[d]])
def test_vector_decodes_exactly_with_mic_and_the_reference(d, v):
    stream = (FORMATS / d / v["stream"]).read_bytes()
    assert hashlib.sha256(stream).hexdigest() == v["stream_sha256"]
    src = np.load(FORMATS / d / v["source"], allow_pickle=False)
    assert _sha(src) == v["samples_sha256"]
    out = mic.decode(stream)
    assert np.array_equal(out, src) and _sha(out) == v["samples_sha256"]
    assert mic.info(stream).model_id == v["model_id"] == SETS[d][0]
    assert np.array_equal(load_reference_decoder().decode(stream), src)


@pytest.mark.parametrize("d", sorted(SETS))
def test_vectors_cover_the_cases(d):
    vectors, where = VECTORS[d], FORMATS / d
    assert SETS[d][1] <= {k for v in vectors for k in v["first_plane_kinds"]}
    assert any(1 in v["xforms"] for v in vectors)  # the colour transform
    assert any(v["tiles"] > 1 for v in vectors)
    assert {"uint8", "uint16", "int16"} <= {v["dtype"] for v in vectors}
    assert {p.name for p in where.glob("*.mic")} == {v["stream"] for v in vectors}
    assert {p.stem for p in (where / "invalid").glob("*.mic")} == set(EXPECTED[d])


@pytest.mark.parametrize("d,name", [(d, n) for d in SETS for n in sorted(EXPECTED[d])])
def test_invalid_vector_raises_its_error(d, name):
    stream = (FORMATS / d / "invalid" / f"{name}.mic").read_bytes()
    with pytest.raises(mic.MicError) as info:
        mic.decode(stream)
    assert type(info.value) is getattr(mic, EXPECTED[d][name]["error"])
    with pytest.raises(Exception):
        load_reference_decoder().decode(stream)
