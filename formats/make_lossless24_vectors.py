#!/usr/bin/env python
"""Write the model-24 lossless conformance vectors under formats/lossless24/ (SPEC.md 5.14:
model 22 with xform 6, xform 5's trees whose difference planes may be wrapped modulo
``2**bits_stored`` about a base the tile sends).

    .venv/bin/python formats/make_lossless24_vectors.py            # rewrite them
    .venv/bin/python formats/make_lossless24_vectors.py --check    # only report what would change

Valid vectors: ``lossless24/NAME.mic``, ``lossless24/NAME.npy`` (the samples it decodes to,
exactly) and an entry in ``lossless24/vectors.json``: the xform of every tile in stream
order, the tree byte and the two bases (``null``: not wrapped) of every xform-6 tile
(``null`` for the others), the encode options and the sha256 of the stream and of the
samples.  Sources, all synthetic "tinted grey" images (grey speckle whose channels differ
by a dense band of small differences and a rare tail far below it, as ultrasound screens
and tinted grey maps hold them): 8-bit with B - G wrapped; the same in 48 x 48 tiles (xforms
5 and 6 side by side); 8-bit whose values are multiples of 8 (a wrapped palette plane,
kind 6); R - G and B - G both wrapped; 12-bit; signed 16-bit (the smallest sample
-32768, differences wrapped modulo 65,536).

Invalid vectors (``lossless24/invalid/NAME.mic``, ``invalid/expected.json``): a model-24
stream relabelled model id 22 (xform 6 is not model 22's: ``MicFormatError``); xform 6 in
a one-sample model-24 stream (``MicFormatError``); a wrap field on a plane that subtracts no
channel (``MicFormatError``); an over-long wrap field and one of 4 bytes
(``MicFormatError``); a base of magnitude ``2**bits_stored`` (``MicFormatError``); an
xform-6 tile cut inside its wrap fields (``MicFormatError``); a wrapped plane whose head
puts its values above ``2**bits_stored - 1`` (``MicFormatError``); a base changed by one
(the samples miss the sample CRC-32: ``MicError``).  Deterministic: fixed seeds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "lossless24"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import forge  # noqa: E402
import make_lossless15_vectors as base15  # noqa: E402
from vector_files import InvalidCases, run_generator  # noqa: E402

import mic  # noqa: E402
from mic.bitstream import TAG_TILE  # noqa: E402
from mic.bitstream.varint import unzigzag  # noqa: E402
from mic.lossless.syntax import XFORM_WRAP, _read_uv, read_tree  # noqa: E402


def tinted(seed: int, h: int = 64, w: int = 96, bits: int = 8, both: bool = False,
           step: int = 1, signed: bool = False) -> np.ndarray:
    """(h, w, 3) grey speckle: B = G + (1 for 10 % of the pixels), and for 1 % of them G
    less a tail of 8..40 steps; ``both``: R the same way about G with its own noise, and -1
    for 5 % of the pixels (a base below 0); values multiples of ``step``; ``signed``:
    shifted down by ``2**(bits - 1)`` (int16)."""
    rng = np.random.default_rng(seed)
    top = (1 << bits) - 1
    yy, xx = np.mgrid[:h, :w]
    g = (top // step) * (0.35 + 0.15 * np.sin(xx / 9) + 0.1 * np.cos(yy / 7))
    g = np.clip(np.round(g + rng.normal(0, 5, (h, w))), 0, top // step).astype(np.int64)

    def tint(neg: bool = False) -> np.ndarray:
        d = (rng.random((h, w)) < 0.10).astype(np.int64)
        if neg:
            d -= rng.random((h, w)) < 0.05
        tail = rng.random((h, w)) < 0.01
        d[tail] = -rng.integers(8, 40, int(tail.sum()))
        return np.clip(g + d, 0, top // step)

    r = tint(True) if both else g
    a = np.stack([r, g, tint()], axis=-1) * step
    if signed:
        return (a - (1 << (bits - 1))).astype(np.int16)
    return a.astype(np.uint8 if bits <= 8 else np.uint16)


def sources() -> list[dict]:
    return [
        {"name": "tinted_u8", "array": tinted(1), "options": {},
         "origin": "synthetic tinted grey, 8-bit (seed 1): B - G wrapped"},
        {"name": "tinted_tiled", "array": tinted(2, 96, 96), "options": {"tile": 48},
         "origin": "synthetic tinted grey, 8-bit (seed 2) in 48 x 48 tiles"},
        {"name": "tinted_steps", "array": tinted(9, step=8), "options": {},
         "origin": "synthetic tinted grey, 8-bit multiples of 8 (seed 9): a wrapped palette "
                   "plane (kind 6)"},
        {"name": "tinted_both", "array": tinted(4, both=True), "options": {},
         "origin": "synthetic tinted grey, 8-bit (seed 4): R - G (about -1) and B - G both "
                   "wrapped"},
        {"name": "tinted_u12", "array": tinted(5, bits=12), "options": {"bits_stored": 12},
         "origin": "synthetic tinted grey, 12-bit (seed 5)"},
        {"name": "tinted_i16", "array": tinted(3, bits=16, signed=True), "options": {},
         "origin": "synthetic tinted grey, signed 16-bit (seed 3): wrapped modulo 65,536 "
                   "about the smallest sample -32768"},
    ]


def tiles(stream: bytes) -> list:
    return [sp for sp in forge.spans(stream) if sp.tag == TAG_TILE]


def wrap_fields(stream: bytes, sp) -> tuple[int, list[int], int]:
    """(tree byte, the two wrap fields, where the first plane starts) of xform-6 tile ``sp``."""
    buf = memoryview(stream)[:sp.payload_end]
    w1, at = _read_uv(buf, sp.mode_start + 2)
    w2, at = _read_uv(buf, at)
    return stream[sp.mode_start + 1], [w1, w2], at


def wraps(stream: bytes) -> list:
    """[tree byte, base 1, base 2] (a base None where not wrapped) of every xform-6 tile,
    None for the others."""
    out = []
    for sp in tiles(stream):
        if stream[sp.mode_start] != XFORM_WRAP:
            out.append(None)
            continue
        tree, ws, _ = wrap_fields(stream, sp)
        out.append([tree] + [None if w == 0 else unzigzag(w - 1) for w in ws])
    return out


def invalid_streams(base: dict[str, bytes]) -> list[dict]:
    out = InvalidCases()
    add = out.add

    s = base["tinted_u8"]
    sp = next(t for t in tiles(s) if s[t.mode_start] == XFORM_WRAP)
    tree, ws, first = wrap_fields(s, sp)
    payload = bytes(s[sp.mode_start:sp.payload_end])
    head = payload[:2]
    planes = payload[first - sp.mode_start:]
    order, refs = read_tree(tree)
    k = 1 if ws[0] else 2  # a wrapped plane
    add("model24_read_as_22", forge.set_header_fields(s, model_id=22), "MicFormatError",
        "a model-24 stream relabelled model id 22: xform 6 is not a colour transform of "
        "model 22 (SPEC 5.14)")
    grey = mic.encode(np.ascontiguousarray(base["_grey"]))
    assert mic.info(grey).model_id == 22
    g24 = forge.set_header_fields(grey, model_id=24)
    gsp = tiles(g24)[0]
    add("xform6_in_grey_model24", forge.edit_segment(g24, gsp, gsp.mode_start, XFORM_WRAP),
        "MicFormatError", "a one-sample model-24 stream (valid: model 22's tiles) with its "
        "tile's xform set to 6, which needs three samples")
    # plane 1 or 2 made to subtract no channel (r1 = 0 or r2 = 0) under its nonzero field
    bare = tree & ~(1 << 4) if k == 1 else tree & ~(3 << 5)
    add("wrap_without_reference", forge.edit_segment(s, sp, sp.mode_start + 1, bare),
        "MicFormatError", f"the tree byte rewritten so that wrapped plane {k} subtracts no "
        "channel (SPEC 5.14)")

    def with_fields(fields: bytes) -> bytes:
        return forge.regrid(s, payload=head + fields + planes)

    w1 = forge.uvarint(ws[0])
    w2 = forge.uvarint(ws[1])
    add("wrap_field_overlong", with_fields(bytes((w1[0] | 0x80, 0)) + w2), "MicFormatError",
        "the first wrap field written in two bytes (over-long, SPEC 5.14)")
    add("wrap_field_4_bytes", with_fields(b"\x81\x80\x80\x00" + w2), "MicFormatError",
        "a wrap field of 4 bytes (at most 3, SPEC 5.14)")
    big = forge.uvarint(2 * 256 + 1)  # zz(-256) + 1 = 512, zz(256) + 1 = 513
    add("wrap_base_256", with_fields(big + w2 if k == 1 else w1 + big), "MicFormatError",
        "a wrapped plane's base of 256 in an 8-bit stream (|b| < 2^bits_stored, SPEC 5.14)")
    add("xform6_cut_in_fields", forge.regrid(s, payload=head + w1[:1] + b"\x80"),
        "MicFormatError", "an xform-6 tile that ends inside its wrap fields (SPEC 5.14)")
    # the wrapped plane's offset (its head: kind, zz(offset), maxval ...) set to 200, so
    # that offset + span passes 255
    from mic.lossless.syntax import parse_plane

    at = first
    for _ in range(k):
        at = parse_plane(memoryview(s)[:sp.payload_end], at, 64, 96, 6).end
    _, after = _read_uv(memoryview(s), at + 1)
    rel = at - sp.mode_start
    moved = payload[:rel + 1] + forge.uvarint(2 * 200) + payload[after - sp.mode_start:]
    add("wrapped_plane_above_range", forge.regrid(s, payload=moved), "MicFormatError",
        f"wrapped plane {k}'s offset set to 200, so that its values may pass 255 (offset + "
        "span <= 2^bits_stored - 1, SPEC 5.14)")
    add("wrap_base_moved", forge.edit_segment(s, sp, sp.mode_start + 1 + k,
                                              (ws[k - 1] + 2) & 0x7F), "MicError",
        "a wrapped plane's base moved by one: the channels miss the sample CRC-32",
        exact=False)
    return out


def build() -> tuple[dict[str, bytes], dict, dict]:
    def invalid(base: dict[str, bytes]) -> list[dict]:
        return invalid_streams({**base, "_grey": sources()[0]["array"][..., 1]})

    return base15.build_xform_set(24, XFORM_WRAP, sources(), lambda s: {"wraps": wraps(s)},
                                  invalid, "SPEC.md 5.14")


if __name__ == "__main__":
    sys.exit(run_generator(__doc__, OUT, build))
