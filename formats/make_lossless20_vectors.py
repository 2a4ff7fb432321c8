#!/usr/bin/env python
"""Write the model-20 lossless conformance vectors under formats/lossless20/ (SPEC.md 5.12:
model 18 whose plane kinds 5 and 6 may code their low samples, ``(W + N + 1) >> 1`` below
the plane's low class count, as values under tables of their own).

    .venv/bin/python formats/make_lossless20_vectors.py            # rewrite them
    .venv/bin/python formats/make_lossless20_vectors.py --check    # only report what would change

Valid vectors: ``lossless20/NAME.mic``, ``lossless20/NAME.npy`` (the samples it decodes to,
exactly) and an entry in ``lossless20/vectors.json``: the kind, band count and low class
count of every plane in stream order (``null`` for kinds 0-4), the encode options and the
sha256 of the stream and of the samples.  Sources: crops of the committed test images coded
at the default (a 16-bit CT crop with its air, 8 low classes; an MR crop; the CT with the
encoder's choice forced to 24, a valid stream; an MR crop below 4,096 samples, one band and
low classes; a signed CT crop; the RGB ultrasound; the CT in 32 x 32 tiles) and a 3-frame
CT volume (SPEC 5.5 inter tiles beside planes with low classes); every one with
``compact_tables=False`` (model id 22, SPEC 5.13, the default since, is
formats/lossless22/).

Invalid vectors (``lossless20/invalid/NAME.mic``, ``invalid/expected.json``): a low class
count of 25 (``MicFormatError``); a model-20 stream relabelled model id 18 and a model-18
stream relabelled 20 (the byte after the bands read the other way: ``MicError``).
Deterministic: fixed crops.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "lossless20"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import forge  # noqa: E402
from vector_files import (  # noqa: E402
    InvalidCases, invalid_files, run_generator, source_files, vector_entry,
)

import mic  # noqa: E402
from mic.lossless.syntax import _read_uv  # noqa: E402

DATA = ROOT / "tests" / "data"


def _img(name: str) -> np.ndarray:
    from PIL import Image

    with Image.open(DATA / name) as im:
        return np.asarray(im)


def sources() -> list[dict]:
    ct, mr, rgb = _img("ct_abdomen_u16.png"), _img("mr_brain_u16.png"), _img("us_breast_rgb.png")
    lung = np.load(DATA / "ct_lung_i16.npy")
    vol = np.stack([ct[2 * i:34 + 2 * i, 0:48] for i in range(3)])
    return [
        {"name": "ct_low8", "array": np.ascontiguousarray(ct[0:80, 0:100]),
         "options": {"compact_tables": False},
         "origin": "tests/data/ct_abdomen_u16.png [0:80, 0:100] (its air around the body)",
         "low": [8]},
        {"name": "mr_low1", "array": np.ascontiguousarray(mr[0:64, 0:80]),
         "options": {"compact_tables": False},
         "origin": "tests/data/mr_brain_u16.png [0:64, 0:80]", "low": []},
        {"name": "ct_low24", "array": np.ascontiguousarray(ct[0:64, 0:72]),
         "options": {"fast_nlms": True, "compact_tables": False}, "force_low": 24,
         "origin": "tests/data/ct_abdomen_u16.png [0:64, 0:72], the encoder's low class "
         "count forced to 24 and its bands to 2 equal runs of its bins (valid choices)",
         "low": [24]},
        {"name": "mr_small", "array": np.ascontiguousarray(mr[0:40, 0:64]),
         "options": {"compact_tables": False},
         "origin": "tests/data/mr_brain_u16.png [0:40, 0:64] (2,560 samples: one band)",
         "low": []},
        {"name": "lung_i16", "array": np.ascontiguousarray(lung[0:64, 0:64]),
         "options": {"compact_tables": False},
         "origin": "tests/data/ct_lung_i16.npy [0:64, 0:64] (signed)", "low": []},
        {"name": "us_rgb", "array": np.ascontiguousarray(rgb[0:48, 0:64]),
         "options": {"compact_tables": False},
         "origin": "tests/data/us_breast_rgb.png [0:48, 0:64]", "low": []},
        {"name": "ct_tiled", "array": np.ascontiguousarray(ct[0:64, 0:96]),
         "options": {"tile": 32, "compact_tables": False, "effort": 7},
         "origin": "tests/data/ct_abdomen_u16.png [0:64, 0:96], "
         "tiles 32 x 32", "low": []},
        {"name": "ct_volume", "array": vol,
         "options": {"volume_group": 3, "compact_tables": False},
         "origin": "tests/data/ct_abdomen_u16.png [2i:34+2i, 0:48], i = 0, 1, 2, one group "
         "of 3 frames", "low": []},
    ]


def planes(stream: bytes) -> list[dict]:
    """Every plane of every tile: kind, band count, low class count and where that count
    lies (kinds 5 and 6)."""
    from mic.lossless import kernels_tables as KT

    arr = np.frombuffer(stream, np.uint8)
    out = []
    for sp, kind, _, p in forge.fast_planes(stream, 5):
        entry: dict = {"kind": kind, "bands": None, "low": None, "at": None, "span": sp}
        if p is not None:
            entry["bands"] = nb = stream[p]
            q = p + 1
            for _ in range(nb - 1):
                _, q = _read_uv(stream, q)
            for _ in range(nb):
                status, q, _, _ = KT.read_tables(arr, q, sp.payload_end, True)
                assert status == 0
            entry["low"], entry["at"] = stream[q], q
        out.append(entry)
    return out


def invalid_streams(base: dict[str, bytes]) -> list[dict]:
    out = InvalidCases()
    add = out.add

    s = base["ct_low8"]
    p = next(e for e in planes(s) if e["low"])
    add("low_25", forge.edit_segment(s, p["span"], p["at"], b"\x19"), "MicFormatError",
        "a low class count of 25 (0..24, SPEC 5.12)")
    add("model20_read_as_18", forge.set_header_fields(s, model_id=18), "MicError",
        "a model-20 stream relabelled model id 18: its low class count and low section are "
        "read as its word and byte counts (SPEC 5.11, 5.12)", exact=False)
    add("model18_read_as_20", forge.set_header_fields(base["other"], model_id=20),
        "MicError", "a model-18 stream relabelled model id 20: its word count is read as a "
        "low class count (SPEC 5.12)", exact=False)
    return out


@contextlib.contextmanager
def _forced(nl: int) -> Iterator[None]:
    """The encoder's low class count (mic.lossless.encoder_bands.choose_low) made ``nl``
    and its bands (choose_bands) 2 equal runs of the fine bins, whatever they cost."""
    from mic.lossless import encoder_bands as EB

    real = EB.choose_low, EB.choose_bands
    EB.choose_low = lambda *a: nl
    EB.choose_bands = lambda hist, edges, builtin: EB.split_at(
        edges, EB.equal_runs(len(edges) + 1, 2))
    try:
        yield
    finally:
        EB.choose_low, EB.choose_bands = real


def build_set(model: int, srcs: list[dict], planes_of, invalid, other: bytes, spec: str,
              fields=lambda p: [p["kind"], p["bands"], p["low"]]
              ) -> tuple[dict[str, bytes], dict, dict]:
    """The files, vectors.json and invalid/expected.json of a set of ``model``'s vectors:
    each source coded (``force_low`` forced), checked to decode exactly under ``model`` with
    the low class counts it names, its planes described by ``fields`` of ``planes_of``; the
    streams by name and ``other`` (as ``"other"``) given to ``invalid`` for its cases."""
    files: dict[str, bytes] = {}
    vectors, base = [], {}
    for src in srcs:
        arr = src["array"]
        with _forced(src["force_low"]) if "force_low" in src else contextlib.nullcontext():
            stream = mic.encode(arr, **src["options"])
        assert np.array_equal(mic.decode(stream), arr), src["name"]
        assert mic.info(stream).model_id == model, src["name"]
        pl = planes_of(stream)
        lows = [p["low"] for p in pl if p["low"] is not None]
        assert all(n in lows for n in src["low"]), (src["name"], lows)
        base[src["name"]] = stream
        source_files(files, src["name"], stream, arr)
        vectors.append(vector_entry(src, stream, model, planes=[fields(p) for p in pl]))
    base["other"] = other(base)
    expected = invalid_files(f"lossless{model}", invalid(base), files)
    return files, {"spec": spec, "vectors": vectors}, expected


def build() -> tuple[dict[str, bytes], dict, dict]:
    return build_set(20, sources(), planes, invalid_streams,
                     lambda base: mic.encode(mic.decode(base["ct_low8"]), low=False),
                     "SPEC.md 5.12")


if __name__ == "__main__":
    sys.exit(run_generator(__doc__, OUT, build))
