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

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "lossless22"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import forge  # noqa: E402
import make_lossless20_vectors as base20  # noqa: E402
from vector_files import InvalidCases, run_generator  # noqa: E402

import mic  # noqa: E402
from mic.lossless.syntax import _read_uv  # noqa: E402


def sources() -> list[dict]:
    """lossless20/'s sources at the default (without their ``compact_tables=False``), a
    larger CT crop and a crop of the 8-bit US screen."""
    ct, us = base20._img("ct_abdomen_u16.png"), base20._img("us_breast_u8.png")
    out = []
    for src in base20.sources():
        opts = {k: v for k, v in src["options"].items() if k != "compact_tables"}
        out.append({**src, "options": opts})
    at = next(i for i, s in enumerate(out) if s["name"] == "ct_volume")
    out[at:at] = [
        {"name": "ct_own_tables", "array": np.ascontiguousarray(ct[0:160, 0:160]), "options": {},
         "origin": "tests/data/ct_abdomen_u16.png [0:160, 0:160] (own tables at precisions "
         "above 0, beside built-in ones)", "low": [24]},
        {"name": "us_screen", "array": np.ascontiguousarray(us[0:96, 0:128]), "options": {},
         "origin": "tests/data/us_breast_u8.png [0:96, 0:128]", "low": []},
    ]
    return out


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
    out = InvalidCases()
    add = out.add

    s = base["ct_low8"]
    p = next(e for e in planes(s) if e["nt_at"] is not None)
    add("tables_25", forge.edit_segment(s, p["span"], p["nt_at"], b"\x19"), "MicFormatError",
        "a section's table count of 25 (0..24, SPEC 5.13)")
    add("model22_read_as_20", forge.set_header_fields(s, model_id=20), "MicError",
        "a model-22 stream relabelled model id 20: its bit-packed sections are read as "
        "model 16's byte maps and tables (SPEC 5.10, 5.13)", exact=False)
    add("model20_read_as_22", forge.set_header_fields(base["other"], model_id=22),
        "MicError", "a model-20 stream relabelled model id 22: its byte maps and tables are "
        "read as bits (SPEC 5.13)", exact=False)
    return out


def build() -> tuple[dict[str, bytes], dict, dict]:
    return base20.build_set(
        22, sources(), planes, invalid_streams,
        lambda base: mic.encode(mic.decode(base["ct_low8"]), compact_tables=False),
        "SPEC.md 5.13", lambda p: [p["kind"], p["bands"], p["low"], p["precisions"]])


if __name__ == "__main__":
    sys.exit(run_generator(__doc__, OUT, build))
