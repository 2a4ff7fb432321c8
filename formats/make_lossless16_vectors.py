#!/usr/bin/env python
"""Write the model-16 lossless conformance vectors under formats/lossless16/ (SPEC.md 5.10:
model 15 with fixed priors in plane kinds 5 and 6: the NLMS filters start from fixed
weights, and a class may use its built-in token table).

    .venv/bin/python formats/make_lossless16_vectors.py            # rewrite them
    .venv/bin/python formats/make_lossless16_vectors.py --check    # only report what would change

Valid vectors: ``lossless16/NAME.mic``, ``lossless16/NAME.npy`` (the samples it decodes to,
exactly) and an entry in ``lossless16/vectors.json``: the kind and table form of every
plane in stream order (``builtin``: ``nt`` = 0, every class its built-in table; ``mixed``:
some class map entries 255; ``own``: the plane's own tables only; ``null`` for kinds 0-2),
the encode options and the sha256 of the stream and of the samples.  Sources: crops of the
committed test images (a 16-bit MR crop whose one plane uses only built-in tables, a 16-bit
CT crop with its own tables, an 8-bit radiograph crop with a mixed map, the RGB ultrasound,
the MR crop in 16 x 16 tiles, and a sparse plane coded with a palette, kind 6).

Invalid vectors (``lossless16/invalid/NAME.mic``, ``invalid/expected.json``): model-16
streams relabelled model id 14 or 15 (``nt`` = 0 and a map entry 255 are not theirs:
``MicFormatError``; one with only its own tables decodes with zero starting weights to
other samples: ``MicError``), a map entry 255 turned into 254 (``MicFormatError``), ``nt``
25 (``MicFormatError``).  Deterministic: fixed crops.  Written with ``bands=False`` (since
model id 18, SPEC 5.11, the default; ``formats/lossless18/`` pins that).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "lossless16"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import forge  # noqa: E402
from vector_files import (  # noqa: E402
    InvalidCases, invalid_files, run_generator, source_files, vector_entry,
)

import mic  # noqa: E402

DATA = ROOT / "tests" / "data"


def _img(name: str) -> np.ndarray:
    from PIL import Image

    with Image.open(DATA / name) as im:
        return np.asarray(im)


M16 = {"bands": False}  # model id 16, not the default's 18


def sources() -> list[dict]:
    mr, ct, cr = _img("mr_brain_u16.png"), _img("ct_abdomen_u16.png"), _img("cr_chest_u8.png")
    rgb, us = _img("us_breast_rgb.png"), _img("us_breast_u8.png")
    return [
        {"name": "mr_builtin", "array": np.ascontiguousarray(mr[40:72, 40:72]), "options": M16,
         "origin": "tests/data/mr_brain_u16.png [40:72, 40:72]", "want": ["builtin"]},
        {"name": "ct_own", "array": np.ascontiguousarray(ct[100:164, 80:144]), "options": M16,
         "origin": "tests/data/ct_abdomen_u16.png [100:164, 80:144]", "want": ["own"]},
        {"name": "cr_mixed", "array": np.ascontiguousarray(cr[20:116, 100:196]), "options": M16,
         "origin": "tests/data/cr_chest_u8.png [20:116, 100:196]", "want": ["mixed"]},
        {"name": "us_rgb", "array": np.ascontiguousarray(rgb[100:164, 80:144]), "options": M16,
         "origin": "tests/data/us_breast_rgb.png [100:164, 80:144]", "want": ["builtin", "mixed"]},
        {"name": "mr_tiled", "array": np.ascontiguousarray(mr[100:164, 80:144]),
         "options": {"tile": 16, "bands": False, "effort": 7},  # kind 1 beside 5
         "origin": "tests/data/mr_brain_u16.png [100:164, 80:144], "
         "tiles 16 x 16", "want": ["builtin"]},
        {"name": "us_sparse_palette", "array": (np.ascontiguousarray(us[40:88, 40:88])
                                                .astype(np.uint16) * 3),
         "options": {"bits_stored": 10, "bands": False},
         "origin": "tests/data/us_breast_u8.png [40:88, 40:88] times 3 (every third value: "
                   "a palette plane, kind 6), 10 bits stored", "want": []},
    ]


def planes(stream: bytes) -> list[dict]:
    """Every plane of every tile: kind, table form and where its ``nt`` byte lies."""
    out = []
    for sp, kind, _, p in forge.fast_planes(stream, 3):
        tables = None
        if p is not None:
            nt = stream[p]
            tables = "builtin" if nt == 0 else "mixed" if 255 in stream[p + 1:p + 25] else "own"
        out.append({"kind": kind, "tables": tables, "at": p, "span": sp})
    return out


def invalid_streams(base: dict[str, bytes]) -> list[dict]:
    out = InvalidCases()
    add = out.add

    add("builtin_read_as_model14", forge.set_header_fields(base["mr_builtin"], model_id=14),
        "MicFormatError", "a plane with nt = 0 (every class its built-in table) relabelled "
        "model id 14, whose tables need 1 <= nt <= 24 (SPEC 5.6, 5.10)")
    add("mixed_read_as_model15", forge.set_header_fields(base["cr_mixed"], model_id=15),
        "MicFormatError", "a class map with entries 255 relabelled model id 15, whose map "
        "entries must be below nt (SPEC 5.6, 5.10)")
    add("own_read_as_model15", forge.set_header_fields(base["ct_own"], model_id=15),
        "MicError", "a plane with only its own tables relabelled model id 15: its filters "
        "start from 0, not SPEC 5.10's weights, so it decodes to other samples, which miss the "
        "sample CRC-32 or break the rANS stream's end state", exact=False)
    s = base["cr_mixed"]
    p = planes(s)[0]
    m = s.index(255, p["at"] + 1)
    add("map_entry_254", forge.edit_segment(s, p["span"], m, 254), "MicFormatError",
        "a class map entry 255 (built-in) changed to 254, which names no table (SPEC 5.10)")
    s = base["mr_builtin"]
    p = planes(s)[0]
    add("nt_25", forge.edit_segment(s, p["span"], p["at"], 25), "MicFormatError",
        "a table count of 25 (at most 24, SPEC 5.6)")
    return out


def build() -> tuple[dict[str, bytes], dict, dict]:
    files: dict[str, bytes] = {}
    vectors, base = [], {}
    for src in sources():
        arr = src["array"]
        stream = mic.encode(arr, **src["options"])
        assert np.array_equal(mic.decode(stream), arr), src["name"]
        assert mic.info(stream).model_id == 16, src["name"]
        pl = planes(stream)
        forms = [p["tables"] for p in pl]
        assert all(f in forms for f in src["want"]), (src["name"], forms)
        if src["name"] == "us_sparse_palette":
            assert [p["kind"] for p in pl] == [6], pl
        base[src["name"]] = stream
        source_files(files, src["name"], stream, arr)
        vectors.append(vector_entry(src, stream, 16,
                                    planes=[[p["kind"], p["tables"]] for p in pl]))
    expected = invalid_files("lossless16", invalid_streams(base), files)
    return files, {"spec": "SPEC.md 5.10", "vectors": vectors}, expected


if __name__ == "__main__":
    sys.exit(run_generator(__doc__, OUT, build))
