#!/usr/bin/env python
"""Write the model-15 lossless conformance vectors under formats/lossless15/ (SPEC.md 5.9:
model 14 with xform 5, RGB tiles coded as one channel and the others alone or less a
channel coded before them).

    .venv/bin/python formats/make_lossless15_vectors.py            # rewrite them
    .venv/bin/python formats/make_lossless15_vectors.py --check    # only report what would change

Valid vectors: ``lossless15/NAME.mic``, ``lossless15/NAME.npy`` (the samples it decodes to,
exactly) and an entry in ``lossless15/vectors.json``: the xform of every tile in stream
order, the tree byte of every xform-5 tile (``null`` for the others), the encode options
and the sha256 of the stream and of the samples.  Sources: crops of the committed RGB
ultrasound (whole, stream version 1, and in 16 x 16 tiles, where the tiles take different
xforms and trees), a synthetic grey speckle with a colour-mapped region (as Doppler
ultrasound stores it) and 16-bit RGB with a difference plane of 17 bits.

Invalid vectors (``lossless15/invalid/NAME.mic``, ``invalid/expected.json``): the
version-1 stream relabelled model id 14 (xform 5 is not model 14's: ``MicFormatError``),
tree bytes that name no tree (a channel twice, channel 3, ``r2`` = 3, bit 7 set:
``MicFormatError``), a valid tree other than the encoder's (the samples miss the sample
CRC-32 or leave the sample range: ``MicError``), xform 5 in a one-sample model-15 stream
(``MicFormatError``), an xform-5 tile cut after its tree byte (``MicFormatError``) and a
truncated tile (``MicTruncatedError``).  Deterministic: fixed crops and seeds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "lossless15"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import forge  # noqa: E402
from make_near_vectors import tile_xforms  # noqa: E402
from vector_files import (  # noqa: E402
    InvalidCases, invalid_files, run_generator, source_files, vector_entry,
)

import mic  # noqa: E402
from mic.bitstream import TAG_TILE  # noqa: E402
from mic.lossless.syntax import XFORM_CDIFF  # noqa: E402

DATA = ROOT / "tests" / "data"


def _us() -> np.ndarray:
    from PIL import Image

    with Image.open(DATA / "us_breast_rgb.png") as im:
        return np.asarray(im)


def colour_map() -> np.ndarray:
    """40 x 48 grey speckle with a colour-mapped blob: inside it R, G, B are three
    different functions of one value (a Doppler colour map), outside R = G = B."""
    rng = np.random.default_rng(20261206)
    yy, xx = np.mgrid[:40, :48]
    grey = np.clip(60 + 25 * np.sin(xx / 6) + rng.normal(0, 12, (40, 48)), 0, 255)
    out = np.repeat(grey[..., None], 3, axis=2)
    blob = (yy - 20) ** 2 + (xx - 26) ** 2 < 110
    v = np.clip(40 + 4 * xx + rng.normal(0, 6, (40, 48)), 0, 255)
    out[blob] = np.stack([np.minimum(255, 2 * v), v, np.maximum(0, v - 80)], axis=-1)[blob]
    return np.round(out).astype(np.uint8)


def rgb16() -> np.ndarray:
    """24 x 20 16-bit RGB: R noise over the full range, G = R less small noise, B = R +
    40000 wrapped at 2^16, so B - R takes two values 65,536 apart (a 17-bit plane)."""
    rng = np.random.default_rng(7)
    r = rng.integers(0, 65536, (24, 20))
    g = np.clip(r - rng.integers(0, 200, r.shape), 0, 65535)
    b = (r + 40000) % 65536
    return np.stack([r, g, b], axis=-1).astype(np.uint16)


def sources() -> list[dict]:
    us = _us()
    return [
        {"name": "us_rgb_v1", "array": np.ascontiguousarray(us[64:96, 64:112]),
         "options": {"stream_version": 1, "priors": False},
         "origin": "tests/data/us_breast_rgb.png [64:96, 64:112], stream version 1"},
        {"name": "us_rgb_tiled", "array": np.ascontiguousarray(us[32:64, 0:48]),
         "options": {"tile": 16, "priors": False},
         "origin": "tests/data/us_breast_rgb.png [32:64, 0:48], tiles 16 x 16"},
        {"name": "colour_map_u8", "array": colour_map(), "options": {"priors": False},
         "origin": "synthetic grey speckle with a colour-mapped blob (seed 20261206)"},
        {"name": "rgb16_wide", "array": rgb16(), "options": {"bits_stored": 16, "priors": False},
         "origin": "synthetic 16-bit RGB: full-range noise R, G near R, B = R + 40000 "
                   "wrapped (B - R spans 65,536)"},
    ]


def tiles(stream: bytes) -> list:
    return [sp for sp in forge.spans(stream) if sp.tag == TAG_TILE]


def trees(stream: bytes) -> list:
    return [stream[sp.mode_start + 1] if stream[sp.mode_start] == XFORM_CDIFF else None
            for sp in tiles(stream)]


def invalid_streams(base: dict[str, bytes]) -> list[dict]:
    out = InvalidCases()
    add = out.add

    s = base["us_rgb_v1"]  # stream version 1: header fields at fixed offsets
    sp = [t for t in tiles(s) if s[t.mode_start] == XFORM_CDIFF][0]
    at = sp.mode_start + 1
    add("model15_read_as_model14", forge.set_header_fields(s, model_id=14), "MicFormatError",
        "a model-15 stream relabelled model id 14: xform 5 is not a colour transform of "
        "model 14 (SPEC 5.9)")
    for name, b, why in (("tree_channel_twice", 0x05, "c0 = c1 = 1"),
                         ("tree_channel_3", 0x03, "c0 = 3"),
                         ("tree_r2_3", 0x61, "r2 = 3"),
                         ("tree_bit7", s[at] | 0x80, "bit 7 set")):
        add(name, forge.edit_segment(s, sp, at, b), "MicFormatError",
            f"the tree byte of an xform-5 tile names no tree ({why}), segment CRC fixed up")
    other = 0x34 if s[at] != 0x34 else 0x31  # (G, R, B), R and B less G / (G, R, B) less G
    add("tree_other_valid", forge.edit_segment(s, sp, at, other), "MicError",
        "the tree byte replaced by another valid tree: the planes add to other samples, "
        "which miss the sample CRC-32 or leave the sample range", exact=False)
    grey = mic.encode(np.ascontiguousarray(_us()[80:112, 96:128, 1]), stream_version=1,
                      priors=False)
    assert mic.info(grey).model_id == 14
    g15 = forge.set_header_fields(grey, model_id=15)
    gsp = tiles(g15)[0]
    add("xform5_in_grey_model15", forge.edit_segment(g15, gsp, gsp.mode_start, XFORM_CDIFF),
        "MicFormatError",
        "a one-sample model-15 stream (valid: model 14's tiles) with its tile's xform set to "
        "5, which needs three samples")
    t = tiles(s)[0]
    cut = bytearray(s[:t.mode_start + 2]) + s[t.payload_end:]
    # the tile segment ends after xform and tree byte: its length and CRC rewritten
    n = t.mode_start + 2 - t.payload_start
    cut[t.length_field:t.length_field + 4] = n.to_bytes(4, "little")
    short = forge.SegmentSpan(t.tag, t.start, t.payload_start, t.payload_start + n)
    add("xform5_tree_only", forge.refresh_crc(cut, short), "MicFormatError",
        "an xform-5 tile that ends after its tree byte (no planes)")
    add("truncated_in_tile", s[:(t.start + t.end) // 2], "MicTruncatedError",
        "the stream ends inside its TILE segment")
    return out


def build_xform_set(model: int, xform: int, srcs: list[dict], fields, invalid, spec: str
                    ) -> tuple[dict[str, bytes], dict, dict]:
    """The files, vectors.json and invalid/expected.json of a set of RGB vectors of
    ``model`` each of which has a tile of ``xform``: each source coded and checked to decode
    exactly, its entry recording every tile's xform and ``fields(stream)``; the streams by
    name given to ``invalid`` for its cases (also used by make_lossless24_vectors.py)."""
    files: dict[str, bytes] = {}
    vectors, base = [], {}
    for src in srcs:
        arr = src["array"]
        stream = mic.encode(arr, **src["options"])
        assert np.array_equal(mic.decode(stream), arr), src["name"]
        xf = tile_xforms(stream)
        assert mic.info(stream).model_id == model and xform in xf, (src["name"], xf)
        base[src["name"]] = stream
        source_files(files, src["name"], stream, arr)
        vectors.append(vector_entry(src, stream, model, xforms=xf, **fields(stream)))
    expected = invalid_files(f"lossless{model}", invalid(base), files)
    return files, {"spec": spec, "vectors": vectors}, expected


def build() -> tuple[dict[str, bytes], dict, dict]:
    return build_xform_set(15, XFORM_CDIFF, sources(), lambda s: {"trees": trees(s)},
                           invalid_streams, "SPEC.md 5.9")


if __name__ == "__main__":
    sys.exit(run_generator(__doc__, OUT, build))
