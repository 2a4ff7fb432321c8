#!/usr/bin/env python
"""Write the model-22 lossless conformance vectors under formats/lossless22/ (SPEC.md 5.13:
model 20 whose plane kinds 5 and 6 write each table section bit-packed: the class map as
runs, each table's frequencies as bit lengths and the bits a precision per table keeps).

    .venv/bin/python formats/make_lossless22_vectors.py            # rewrite them
    .venv/bin/python formats/make_lossless22_vectors.py --check    # only report what would change

Valid vectors: ``lossless22/NAME.mic``, ``lossless22/NAME.npy`` (the samples it decodes to,
exactly) and an entry in ``lossless22/vectors.json``: the kind, band count and low class
count of every plane in stream order (``null`` for kinds 0-4), the precisions of its own
tables, the encode options and the sha256 of the stream and of the samples.  Sources: the
crops of formats/lossless20/ coded at the default (a 16-bit CT crop with its air, 8 low
classes; an MR crop; the CT with the encoder's low class count forced to 24 and two bands;
an MR crop below 4,096 samples; a signed CT crop; the RGB ultrasound; the CT in 32 x 32
tiles; a 3-frame CT volume), a larger CT crop (own tables at precisions above 0 beside
built-in ones) and a crop of the 8-bit US screen.

Invalid vectors (``lossless22/invalid/NAME.mic``, ``invalid/expected.json``): a section's
table count of 25 (``MicFormatError``); a model-22 stream relabelled model id 20 and a
model-20 stream relabelled 22 (each section read the other way: ``MicError``).
Deterministic: fixed crops.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "lossless22"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import forge  # noqa: E402
from vector_files import refused_as, run_generator, samples_sha256, sha256  # noqa: E402

import mic  # noqa: E402
from mic.lossless.syntax import _read_uv  # noqa: E402

DATA = ROOT / "tests" / "data"


def _img(name: str) -> np.ndarray:
    from PIL import Image

    with Image.open(DATA / name) as im:
        return np.asarray(im)


def sources() -> list[dict]:
    ct, mr, rgb = _img("ct_abdomen_u16.png"), _img("mr_brain_u16.png"), _img("us_breast_rgb.png")
    us = _img("us_breast_u8.png")
    lung = np.load(DATA / "ct_lung_i16.npy")
    vol = np.stack([ct[2 * i:34 + 2 * i, 0:48] for i in range(3)])
    return [
        {"name": "ct_low8", "array": np.ascontiguousarray(ct[0:80, 0:100]),
         "options": {},
         "origin": "tests/data/ct_abdomen_u16.png [0:80, 0:100] (its air around the body)",
         "low": [8]},
        {"name": "mr_low1", "array": np.ascontiguousarray(mr[0:64, 0:80]),
         "options": {},
         "origin": "tests/data/mr_brain_u16.png [0:64, 0:80]", "low": []},
        {"name": "ct_low24", "array": np.ascontiguousarray(ct[0:64, 0:72]),
         "options": {"fast_nlms": True}, "force_low": 24,
         "origin": "tests/data/ct_abdomen_u16.png [0:64, 0:72], the encoder's low class "
         "count forced to 24 and its bands to 2 equal runs of its bins (valid choices)",
         "low": [24]},
        {"name": "mr_small", "array": np.ascontiguousarray(mr[0:40, 0:64]),
         "options": {},
         "origin": "tests/data/mr_brain_u16.png [0:40, 0:64] (2,560 samples: one band)",
         "low": []},
        {"name": "lung_i16", "array": np.ascontiguousarray(lung[0:64, 0:64]),
         "options": {},
         "origin": "tests/data/ct_lung_i16.npy [0:64, 0:64] (signed)", "low": []},
        {"name": "us_rgb", "array": np.ascontiguousarray(rgb[0:48, 0:64]),
         "options": {},
         "origin": "tests/data/us_breast_rgb.png [0:48, 0:64]", "low": []},
        {"name": "ct_tiled", "array": np.ascontiguousarray(ct[0:64, 0:96]),
         "options": {"tile": 32},
         "origin": "tests/data/ct_abdomen_u16.png [0:64, 0:96], "
         "tiles 32 x 32", "low": []},
        {"name": "ct_own_tables", "array": np.ascontiguousarray(ct[0:160, 0:160]), "options": {},
         "origin": "tests/data/ct_abdomen_u16.png [0:160, 0:160] (own tables at precisions "
         "above 0, beside built-in ones)", "low": [24]},
        {"name": "us_screen", "array": np.ascontiguousarray(us[0:96, 0:128]), "options": {},
         "origin": "tests/data/us_breast_u8.png [0:96, 0:128]", "low": []},
        {"name": "ct_volume", "array": vol,
         "options": {"volume_group": 3},
         "origin": "tests/data/ct_abdomen_u16.png [2i:34+2i, 0:48], i = 0, 1, 2, one group "
         "of 3 frames", "low": []},
    ]


def _precisions(stream: bytes, at: int, end: int) -> list[int]:
    """The precision ``P`` of each own table of the compact section at ``stream[at]`` (SPEC
    5.13), read back by walking its bits."""
    nt = stream[at]
    bits = "".join(f"{b:08b}" for b in stream[at + 1:end])
    pos = 0

    def take(n: int) -> int:
        nonlocal pos
        v = int(bits[pos:pos + n] or "0", 2)
        pos += n
        return v

    w = nt.bit_length()
    for c in range(24 if nt else 0):
        if c == 0 or take(1):
            take(w)
    out = []
    for _ in range(nt):
        n, p = take(7), take(4)
        es, e = [], 0
        for _ in range(n):
            if take(1):
                e = e - 1 if not take(1) else e + 1 if not take(1) else take(4)
            es.append(e)
        o = es.index(max(es))
        pos += sum(min(p, max(x - 1, 0)) for s, x in enumerate(es) if s != o)
        out.append(p)
    return out


def planes(stream: bytes) -> list[dict]:
    """Every plane of every tile: kind, band count, low class count, where the first
    section's table count and the low class count lie (kinds 5 and 6), and the precisions of
    the plane's own tables."""
    from mic.lossless import kernels_tables as KT

    arr = np.frombuffer(stream, np.uint8)
    out = []
    for sp, kind, _, p in forge.fast_planes(stream, 6):
        entry: dict = {"kind": kind, "bands": None, "low": None, "at": None, "nt_at": None,
                       "precisions": None, "span": sp}
        if p is not None:
            entry["bands"] = nb = stream[p]
            q = p + 1
            for _ in range(nb - 1):
                _, q = _read_uv(stream, q)
            entry["nt_at"] = q
            precisions: list[int] = []
            starts = []
            for _ in range(nb):
                starts.append(q)
                status, q, _, _ = KT.read_compact(arr, q, sp.payload_end)
                assert status == 0
                precisions += _precisions(stream, starts[-1], q)
            entry["low"], entry["at"] = stream[q], q
            if stream[q]:
                status, end, _, _ = KT.read_compact(arr, q + 1, sp.payload_end)
                assert status == 0
                precisions += _precisions(stream, q + 1, end)
            entry["precisions"] = precisions
        out.append(entry)
    return out


def invalid_streams(base: dict[str, bytes]) -> list[dict]:
    out = []

    def add(name, stream, error, why, exact=True):
        out.append({"name": name, "stream": bytes(stream), "error": error, "exact": exact,
                    "why": why})

    s = base["ct_low8"]
    p = next(e for e in planes(s) if e["nt_at"] is not None)
    add("tables_25", forge.edit_segment(s, p["span"], p["nt_at"], b"\x19"), "MicFormatError",
        "a section's table count of 25 (0..24, SPEC 5.13)")
    add("model22_read_as_20", forge.set_header_fields(s, model_id=20), "MicError",
        "a model-22 stream relabelled model id 20: its bit-packed sections are read as "
        "model 16's byte maps and tables (SPEC 5.10, 5.13)", exact=False)
    add("model20_read_as_22", forge.set_header_fields(base["model20"], model_id=22),
        "MicError", "a model-20 stream relabelled model id 22: its byte maps and tables are "
        "read as bits (SPEC 5.13)", exact=False)
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


def build() -> tuple[dict[str, bytes], dict, dict]:
    files: dict[str, bytes] = {}
    vectors, base = [], {}
    for src in sources():
        arr = src["array"]
        with _forced(src["force_low"]) if "force_low" in src else contextlib.nullcontext():
            stream = mic.encode(arr, **src["options"])
        assert np.array_equal(mic.decode(stream), arr), src["name"]
        assert mic.info(stream).model_id == 22, src["name"]
        pl = planes(stream)
        lows = [p["low"] for p in pl if p["low"] is not None]
        assert all(n in lows for n in src["low"]), (src["name"], lows)
        base[src["name"]] = stream
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        files[src["name"] + ".mic"] = stream
        files[src["name"] + ".npy"] = buf.getvalue()
        vectors.append({"name": src["name"], "stream": src["name"] + ".mic",
                        "source": src["name"] + ".npy", "origin": src["origin"],
                        "encode_options": src["options"], "dtype": str(arr.dtype),
                        "shape": list(arr.shape), "model_id": 22,
                        "planes": [[p["kind"], p["bands"], p["low"], p["precisions"]]
                                   for p in pl],
                        "stream_sha256": sha256(stream), "samples_sha256": samples_sha256(arr)})
    base["model20"] = mic.encode(mic.decode(base["ct_low8"]), compact_tables=False)
    expected = {}
    for case in invalid_streams(base):
        refused_as(f"lossless22/invalid/{case['name']}", case["stream"], case["error"],
                   case["exact"])
        files["invalid/" + case["name"] + ".mic"] = case["stream"]
        expected[case["name"]] = {"error": case["error"], "exact": case["exact"],
                                  "why": case["why"], "stream_sha256": sha256(case["stream"])}
    return files, {"spec": "SPEC.md 5.13", "vectors": vectors}, expected


if __name__ == "__main__":
    sys.exit(run_generator(__doc__, OUT, build))
