#!/usr/bin/env python
"""Write the .mic conformance vectors under formats/ (see formats/README.md).

    .venv/bin/python formats/make_vectors.py            # rewrite every vector
    .venv/bin/python formats/make_vectors.py --check    # only report what would change

Valid vectors: ``NAME.mic`` (the stream), ``NAME.npy`` (the source samples) and an
entry in ``vectors.json`` (shape, dtype, bits_stored, the sha256 of the decoded
samples in C order little-endian and the sha256 of the stream).  Some valid
vectors exercise the compatibility rules of SPEC.md (a newer minor version with a
longer header, an unknown optional segment, padding after MEND, tiles out of
order); they are real streams edited with ``forge.py``.

Invalid vectors: ``invalid/NAME.mic`` and ``invalid/expected.json`` (the MicError
class each must raise, whether a subclass is acceptable, and why).

Everything is deterministic: the real sources are fixed crops of the images in
``tests/data/`` and the synthetic ones use fixed seeds.
"""

from __future__ import annotations

import argparse
import json
import re
import struct
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import forge
from vector_files import samples_sha256, sha256

import mic
from mic.bitstream import TAG_END, TAG_TILE, unpack_header

DATA = ROOT / "tests" / "data"
INVALID = HERE / "invalid"


# ----------------------------------------------------------------------------- helpers
def _png(name: str) -> np.ndarray:
    from PIL import Image

    with Image.open(DATA / name) as im:
        return np.asarray(im)


def _real(name: str) -> np.ndarray:
    return np.load(DATA / name) if name.endswith(".npy") else _png(name)


# ----------------------------------------------------------------------------- sources
def sources() -> list[dict]:
    """(name, array, encode options, where it comes from) of every plain valid vector."""
    rng = np.random.default_rng(20261122)
    out = []

    def add(name, arr, origin, **opts):
        opts.setdefault("stream_version", 1)  # the first vectors; the *_v2 ones say 2
        out.append({"name": name, "array": np.ascontiguousarray(arr), "options": opts, "origin": origin})

    ct = _real("ct_abdomen_u16.png")
    lung = _real("ct_lung_i16.npy")
    mr = _real("mr_brain_u16.png")
    cr = _real("cr_chest_u8.png")
    us = _real("us_breast_u8.png")
    rgb = _real("us_breast_rgb.png")
    add("ct_abdomen_u16", ct[96:160, 96:160], "tests/data/ct_abdomen_u16.png [96:160, 96:160]")
    add("ct_lung_i16", lung[64:128, 64:128], "tests/data/ct_lung_i16.npy [64:128, 64:128]")
    add("mr_brain_u16_tiled", mr[100:196, 80:160],
        "tests/data/mr_brain_u16.png [100:196, 80:160], tiles 32x32", tile=32)
    add("cr_chest_u8", cr[128:176, 100:164], "tests/data/cr_chest_u8.png [128:176, 100:164]")
    add("us_breast_u8_mono1", us[100:148, 100:148],
        "tests/data/us_breast_u8.png [100:148, 100:148], written as MONOCHROME1",
        photometric="MONOCHROME1")
    add("us_breast_rgb", rgb[96:144, 96:144], "tests/data/us_breast_rgb.png [96:144, 96:144]")
    add("ct_abdomen_frames", np.stack([ct[64 + 40 * k:96 + 40 * k, 64:96] for k in range(3)]),
        "tests/data/ct_abdomen_u16.png, 3 frames [64+40k:96+40k, 64:96]")
    add("ct_abdomen_bits16", ct[0:40, 0:40], "tests/data/ct_abdomen_u16.png [0:40, 0:40], "
        "bits_stored 16 although 12 are used", bits_stored=16)

    add("one_by_one_u16", np.array([[1234]], np.uint16), "synthetic")
    add("one_by_one_i8", np.array([[-5]], np.int8), "synthetic")
    add("thin_row_u16", (np.arange(37, dtype=np.uint16) * 97 % 4096)[None, :], "synthetic 1x37")
    add("thin_col_i16", (np.arange(29, dtype=np.int16) * -311 + 4000)[:, None], "synthetic 29x1")
    add("bits1_u8", (rng.random((17, 23)) < 0.3).astype(np.uint8),
        "synthetic binary mask, bits_stored 1", bits_stored=1)
    g = np.add.outer(np.arange(31), np.arange(33)) * 15
    add("bits10_u16", np.clip(g + rng.integers(-4, 5, g.shape), 0, 1023).astype(np.uint16),
        "synthetic ramp + noise, bits_stored 10", bits_stored=10)
    full = rng.integers(0, 65536, (24, 24)).astype(np.uint16)
    full[0, 0], full[-1, -1] = 0, 65535
    add("bits16_u16_noise", full, "synthetic full-range noise, 16 bits")
    s16 = rng.integers(-32768, 32768, (19, 21)).astype(np.int16)
    s16[0, 0], s16[-1, -1] = -32768, 32767
    add("int16_full_range", s16, "synthetic full-range signed noise")
    add("int8_ramp", (np.add.outer(np.arange(16), np.arange(20)) * 9 - 128).clip(-128, 127)
        .astype(np.int8), "synthetic signed 8-bit ramp")
    add("constant_u16", np.full((20, 20), 777, np.uint16), "synthetic constant")
    levels = np.array([0, 130, 900, 2047, 4095], np.uint16)
    add("sparse_u16", levels[rng.integers(0, 5, (40, 40))], "synthetic 5-level sparse histogram")
    add("rgb_frames_u8", rng.integers(0, 256, (2, 16, 16, 3)).astype(np.uint8),
        "synthetic (frames, rows, cols, 3) noise")
    add("frames_cols3_u16", np.arange(4 * 5 * 3, dtype=np.uint16).reshape(4, 5, 3) * 50,
        "synthetic (4, 5, 3) as 4 MONOCHROME2 frames", photometric="MONOCHROME2")
    add("tiled_odd_u16", (np.add.outer(np.arange(37), np.arange(45)) * 31 % 3000)
        .astype(np.uint16), "synthetic 37x45, tiles 16x10 (ragged edges)", tile=(16, 10))
    add("explicit_bits12_u16", (np.arange(15 * 14).reshape(15, 14) % 200).astype(np.uint16),
        "synthetic values < 200, bits_stored 12", bits_stored=12)
    # stream version 2 (the compact layout, SPEC.md section 1): the same sources
    add("ct_abdomen_u16_v2", ct[96:160, 96:160],
        "tests/data/ct_abdomen_u16.png [96:160, 96:160], stream version 2", stream_version=2)
    add("mr_brain_u16_tiled_v2", mr[100:196, 80:160],
        "tests/data/mr_brain_u16.png [100:196, 80:160], tiles 32x32, stream version 2",
        tile=32, stream_version=2)
    add("rgb_frames_u8_v2", rng.integers(0, 256, (2, 16, 16, 3)).astype(np.uint8),
        "synthetic (frames, rows, cols, 3) noise, stream version 2", stream_version=2)
    # the fast lossless coder (model id 3, plane kind 3, SPEC 5.6): effort 1 and 2
    add("fast_ct_abdomen_u16", ct[96:160, 96:160],
        "tests/data/ct_abdomen_u16.png [96:160, 96:160], fast coder (effort 1)", effort=1)
    add("fast_us_breast_rgb_v2", rgb[96:144, 96:144],
        "tests/data/us_breast_rgb.png [96:144, 96:144], fast coder (effort 2), stream version 2",
        effort=2, stream_version=2)
    add("fast_lung_i16_tiled_v2", lung[64:128, 64:128],
        "tests/data/ct_lung_i16.npy [64:128, 64:128], tiles 24x40, fast coder (effort 1), "
        "stream version 2", effort=1, tile=(24, 40), stream_version=2)
    add("fast_sparse_u16_v2", levels[rng.integers(0, 5, (40, 40))],
        "synthetic 5-level sparse histogram, fast coder with a palette (effort 2: kind 4), "
        "stream version 2", effort=2, stream_version=2)
    return out


def _json_opts(opts: dict) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in opts.items()}


# ----------------------------------------------------------------------------- compat edits
def compat_variants(base: dict[str, bytes]) -> list[dict]:
    """Valid streams built by editing real ones the way SPEC.md allows."""
    out = []
    ct = base["ct_abdomen_u16"]
    h, pos = unpack_header(ct)
    out.append({"name": "compat_minor_version_longer_header", "of": "ct_abdomen_u16",
                    "stream": forge.forge_header(h, minor=h.version_minor + 1,
                                              extra=b"\x01future\x00field") + ct[pos:],
                    "note": "minor version + 1 with 14 extra header-body bytes: read and skipped"})
    sp = forge.spans(ct)
    seg = forge.segment(b"nOTE", b"an unknown optional segment") + forge.segment(b"zzzz", b"")
    out.append({"name": "compat_optional_segments", "of": "ct_abdomen_u16",
                    "stream": ct[:sp[0].start] + seg + ct[sp[0].start:sp[-1].start] + seg
                    + ct[sp[-1].start:],
                    "note": "unknown optional segments before and after the tile: skipped"})
    out.append({"name": "compat_padding", "of": "ct_abdomen_u16", "stream": ct + b"\x00",
                    "note": "one padding byte after MEND (DICOM even length): ignored"})
    mr = base["mr_brain_u16_tiled"]
    sp = [s for s in forge.spans(mr) if s.tag == TAG_TILE]
    body = b"".join(mr[s.start:s.end] for s in reversed(sp))
    out.append({"name": "compat_tiles_reversed", "of": "mr_brain_u16_tiled",
                    "stream": mr[:sp[0].start] + body + mr[sp[-1].end:],
                    "note": "TILE segments in reverse order: the order is free"})
    return out


# ----------------------------------------------------------------------------- invalid
def invalid_streams(base: dict[str, bytes]) -> list[dict]:
    """(name, stream, expected class, exact?, why)."""
    ct = base["ct_abdomen_u16"]
    tiled = base["mr_brain_u16_tiled"]
    h, pos = unpack_header(ct)
    spans = forge.spans(ct)
    tile = next(s for s in spans if s.tag == TAG_TILE)
    out = []

    def add(name, stream, error, why, exact=True):
        out.append({"name": name, "stream": bytes(stream), "error": error, "exact": exact, "why": why})

    add("empty", b"", "MicFormatError", "no bytes at all")
    add("bad_magic_png", b"\x89PNG\r\n\x1a\n" + ct[8:], "MicFormatError", "PNG signature")
    add("text_mode_damage", ct.replace(b"\r\n", b"\n", 1), "MicFormatError",
        "CR LF in the magic turned into LF")
    add("truncated_magic", ct[:5], "MicTruncatedError", "5 of the 8 magic bytes")
    add("truncated_prefix", ct[:10], "MicTruncatedError", "ends inside the version/length prefix")
    add("truncated_header_body", ct[:30], "MicTruncatedError", "ends inside the header body")
    add("truncated_header_crc", ct[:pos - 2], "MicTruncatedError", "ends inside the header CRC")
    add("truncated_after_header", ct[:pos], "MicTruncatedError", "header only, no segments")
    add("truncated_tile_payload", ct[:(tile.payload_start + tile.payload_end) // 2],
        "MicTruncatedError", "ends in the middle of the TILE payload")
    add("truncated_before_mend", ct[:spans[-1].start], "MicTruncatedError", "no MEND segment")
    add("truncated_mend_crc", ct[:-1], "MicTruncatedError", "last byte of MEND's CRC missing")
    b = bytearray(ct)
    b[20] ^= 0x04
    add("header_bit_flip", b, "MicChecksumError", "one bit of the header body flipped")
    b = bytearray(ct)
    b[pos - 1] ^= 0x80
    add("header_crc_bit_flip", b, "MicChecksumError", "one bit of the header CRC flipped")
    b = bytearray(ct)
    b[(tile.payload_start + tile.payload_end) // 2] ^= 0x10
    add("tile_payload_bit_flip", b, "MicChecksumError", "a payload bit flipped, segment CRC kept")
    b = bytearray(ct)
    b[(tile.payload_start + tile.payload_end) // 2] ^= 0x10
    add("tile_payload_bit_flip_crc_fixed", forge.refresh_crc(b, tile), "MicFormatError",
        "a payload bit flipped and the segment CRC recomputed: the coder or the sample CRC-32 "
        "must catch it (MicFormatError or its subclass MicChecksumError)", exact=False)
    add("sample_crc_mismatch", forge.set_header_fields(ct, sample_crc32=h.sample_crc32 ^ 1),
        "MicChecksumError", "header sample CRC-32 changed (header CRC fixed)")
    add("major_version_3", forge.forge_header(h, major=3) + ct[pos:], "MicVersionError",
        "major version 3 (header CRC recomputed)")
    add("major_version_0", forge.forge_header(h, major=0) + ct[pos:], "MicVersionError",
        "major version 0")
    add("header_body_too_short", forge.forge_header(h, body_len=20) + ct[pos:], "MicFormatError",
        "body_len 20 < 37")
    add("unknown_critical_segment",
        ct[:spans[-1].start] + forge.segment(b"XTRA", b"must understand") + ct[spans[-1].start:],
        "MicUnsupportedError", "unknown critical segment XTRA")
    b = bytearray(ct)
    struct.pack_into("<I", b, tile.length_field, 2**31)
    add("lying_segment_length", b, "MicTruncatedError", "TILE length 2**31, beyond the end")
    b = bytearray(ct)
    struct.pack_into("<I", b, tile.length_field, tile.payload_end - tile.payload_start - 5)
    add("short_segment_length", b, "MicChecksumError",
        "TILE length 5 bytes short, CRC not recomputed")
    add("non_empty_mend", ct[:spans[-1].start] + forge.segment(TAG_END, b"\x00"),
        "MicFormatError", "MEND with a payload")
    add("bad_segment_tag", ct[:spans[-1].start] + b"\x00\x01\x02\x03" + ct[spans[-1].start + 4:],
        "MicFormatError", "a segment tag of control bytes")
    tsp = [s for s in forge.spans(tiled) if s.tag == TAG_TILE]
    add("missing_tile", tiled[:tsp[1].start] + tiled[tsp[1].end:], "MicFormatError",
        "tile 1 of a tiled frame left out")
    add("duplicate_tile", tiled[:tsp[1].end] + tiled[tsp[1].start:], "MicFormatError",
        "tile 1 twice")
    add("tile_index_out_of_range",
        ct[:tile.start] + forge.segment(*forge.tile(0, 1, bytes(ct[tile.payload_start + 8:
                                                                    tile.payload_end])))
        + ct[tile.end:], "MicFormatError", "the only tile claims index 1")
    add("absurd_dimensions", forge.set_header_fields(ct, rows=2**31, cols=2**31), "MicLimitError",
        "rows = cols = 2**31 (header CRC fixed): refused before allocating")
    add("dimension_over_limit", forge.set_header_fields(ct, rows=2**20 + 1, cols=1),
        "MicLimitError", "rows 2**20 + 1 > the dimension limit")
    add("absurd_tile_grid", forge.set_header_fields(ct, rows=2**20, cols=2**20, tile_rows=1,
                                                    tile_cols=1),
        "MicFormatError", "2**40 tiles announced, one present: refused without enumerating")
    add("unknown_mode", forge.set_header_fields(ct, mode=9), "MicFormatError", "mode 9")
    add("reserved_near_lossless_mode", forge.set_header_fields(ct, mode=2), "MicUnsupportedError",
        "mode 2 (near-lossless) is reserved, not implemented")
    add("unknown_coder", forge.set_header_fields(ct, coder_id=200), "MicUnsupportedError",
        "entropy coder id 200")
    add("unknown_lossless_model", forge.set_header_fields(ct, model_id=0xFFFF),
        "MicUnsupportedError", "lossless model id 65535")
    add("bits_stored_zero", forge.set_header_fields(ct, bits_stored=0), "MicFormatError",
        "bits_stored 0")
    fast = base["fast_ct_abdomen_u16"]  # v1, model id 3, one kind-3 plane
    add("fast_plane_under_model_1", forge.set_header_fields(fast, model_id=1), "MicFormatError",
        "a fast stream's header rewritten to model id 1: plane kind 3 belongs to model 3 only")
    fsp = next(s for s in forge.spans(fast) if s.tag == TAG_TILE)
    add("fast_plane_truncated_words",
        fast[:fsp.start] + forge.segment(TAG_TILE, fast[fsp.payload_start:fsp.payload_end - 9])
        + fast[fsp.end:], "MicFormatError",
        "a fast plane's TILE cut by 9 bytes (segment length and CRC fixed): its words and extra "
        "bytes are not all there")
    b = bytearray(fast)
    b[fsp.payload_end - 40] ^= 0x21
    add("fast_plane_bit_flip_crc_fixed", forge.refresh_crc(b, fsp), "MicFormatError",
        "a fast plane's word bits flipped and the segment CRC recomputed: the rANS end state, a "
        "value range or the sample CRC-32 must catch it (MicFormatError or MicChecksumError)",
        exact=False)
    add("rgb_with_one_sample", forge.set_header_fields(ct, photometric=2), "MicFormatError",
        "photometric RGB with samples = 1")
    out.extend(invalid_v2(base))
    out.extend(invalid_forged(base))
    return out


def _lossy_source(major: int) -> bytes:
    """A committed lossy vector (``lossy/``, made by make_lossy_vectors.py) of model id 6,
    stream version ``major``, one grey sample: the first in ``lossy/vectors.json``."""
    meta = json.loads((HERE / "lossy" / "vectors.json").read_text())
    for v in meta["vectors"]:
        blob = (HERE / "lossy" / v["stream"]).read_bytes()
        i = mic.info(blob)
        if i.model_id == 6 and blob[8] == major and i.samples_per_pixel == 1:
            return blob
    raise SystemExit(f"no lossy vector of model id 6, version {major} to forge from")


def invalid_forged(base: dict[str, bytes]) -> list[dict]:
    """Forged headers of large images over the tiles of small ones (SPEC 4.1): each must
    be refused before the output is allocated, in well under a second."""
    out = []

    def add(name, stream, error, why):
        out.append({"name": name, "stream": bytes(stream), "error": error, "exact": True,
                    "why": why})

    def tile_payload(stream: bytes) -> bytes:
        t = next(sp for sp in forge.spans(stream) if sp.tag == TAG_TILE)
        return stream[t.mode_start:t.payload_end]

    one = base["one_by_one_u16"]  # v1, one constant plane of 1234, bits_stored 11
    const = tile_payload(one)
    # a coded lossless plane with no words: kind 1, offset 0, maxval 1, 8x8 blocks, 0 words,
    # 0 extra bytes (a range decoder given no words reads zeros and decodes on)
    unworded = bytes([0, 1, 0, 1, 3, 0, 0])
    add("forged_constant_plane_32768", forge.regrid(one, rows=32768, cols=32768),
        "MicChecksumError", "the 1x1 vector's header says 32768x32768 (the fuzzing finding): "
        "its one constant plane is valid at any size, and the samples' CRC-32, known from the "
        "constant without the samples, does not match (refused before allocating)")
    add("v2_forged_constant_tiles_16384",
        forge.regrid(base["ct_abdomen_u16_v2"], const, rows=16384, cols=16384,
                     tile_rows=4096, tile_cols=4096),
        "MicChecksumError", "a v2 header of 16384x16384 in 16 tiles of 4096x4096, each the "
        "1x1 vector's constant plane: the CRC-32 of the constant image does not match")
    add("v2_forged_constant_rgb_frames",
        forge.regrid(base["rgb_frames_u8_v2"], bytes([1]) + b"".join(
            bytes([0]) + forge.uvarint(2 * v if v >= 0 else -2 * v - 1) for v in (100, 5, -7)),
            rows=8192, cols=8192),
        "MicChecksumError", "2 RGB frames of 8192x8192, each tile three constant planes "
        "through the colour transform (Y 100, U 5, V -7): the CRC-32 does not match")
    add("forged_coded_plane_32768", forge.regrid(base["bits10_u16"], rows=32768, cols=32768),
        "MicFormatError", "the 31x33 vector's header says 32768x32768: its 135 words cannot "
        "hold the 2**30 tokens and 2**24 class symbols (at least 25.5 Mbit) such a plane has")
    add("forged_unworded_plane_32768", forge.regrid(one, unworded, rows=32768, cols=32768),
        "MicFormatError", "a coded plane of 32768x32768 with no words at all")
    add("v2_forged_unworded_tiles_16384",
        forge.regrid(base["ct_abdomen_u16_v2"], unworded, rows=16384, cols=16384,
                     tile_rows=4096, tile_cols=4096),
        "MicFormatError", "16 tiles of 4096x4096, each a coded plane with no words")
    add("v2_forged_unworded_rgb_frames",
        forge.regrid(base["rgb_frames_u8_v2"], bytes([0]) + unworded[1:] * 3, rows=8192,
                     cols=8192),
        "MicFormatError", "2 RGB frames of 8192x8192, each three coded planes with no words")
    ly2, ly1 = _lossy_source(2), _lossy_source(1)
    add("lossy_forged_one_tile_32768",
        forge.regrid(ly2, rows=32768, cols=32768, tile_rows=0, tile_cols=0),
        "MicFormatError", "a lossy v2 stream's header says one tile of 32768x32768: its plane's "
        "words cannot hold 2**30 subband symbols (even at the cheapest, about 4.3e-6 bits)")
    # a lossy plane with no words (v1: xform 0; lo 0, bits 11; LL mean 0, CRC 0, 0 words)
    add("lossy_forged_unworded_tiles",
        forge.regrid(ly1, bytes([0]) + struct.pack("<iBiII", 0, 11, 0, 0, 0), rows=4096,
                     cols=4096, tile_rows=1024, tile_cols=1024),
        "MicFormatError", "a lossy v1 stream of 4096x4096 in 16 tiles, each a plane with no words")
    # v2: xform 0; lo 0, bits 11; LL mean 0, CRC 0, one word of zeros
    add("lossy_forged_one_word_2048",
        forge.regrid(ly2, bytes([0, 0, 11, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]), rows=2048,
                     cols=2048, tile_rows=0, tile_cols=0),
        "MicFormatError", "one lossy tile of 2048x2048 over one word of zeros: enough for the "
        "cheapest symbols such a plane has (26 bits), so it is decoded, metered, and refused "
        "as soon as its symbols carry more than 32 bits")
    return out


def invalid_v2(base: dict[str, bytes]) -> list[dict]:
    """Streams of version 2 (varint fields) that break its rules."""
    ct = base["ct_abdomen_u16_v2"]
    h, pos = unpack_header(ct)
    spans = forge.spans(ct)
    tile = next(s for s in spans if s.tag == TAG_TILE)
    rest = ct[pos:]
    out = []

    def add(name, stream, error, why, exact=True):
        out.append({"name": "v2_" + name, "stream": bytes(stream), "error": error,
                    "exact": exact, "why": why})

    add("truncated_body_length", ct[:10] + b"\x80", "MicTruncatedError",
        "ends inside the varint body length")
    add("overlong_field", forge.forge_header_v2(h, body=forge.header_body_v2(
        h, {"mode": bytes([0x80 | h.mode, 0x00])})) + rest, "MicFormatError",
        "the mode as an over-long varint (two bytes for a value under 128), header CRC fixed")
    add("field_beyond_its_type", forge.forge_header_v2(h, body=forge.header_body_v2(
        h, {"bits_allocated": forge.uvarint(256 + 16)})) + rest, "MicFormatError",
        "bits_allocated 272 (beyond a u8 field), header CRC fixed")
    body = forge.header_body_v2(h)
    add("body_ends_inside_a_field", forge.forge_header_v2(h, body=body[:-1]) + rest,
        "MicFormatError", "a body one byte short: it ends inside sample_crc32")
    add("body_length_beyond_the_data", forge.forge_header_v2(h, body_len=5000) + rest,
        "MicTruncatedError", "body length 5000, more than the stream")
    payload = bytes(ct[tile.payload_start:tile.payload_end])
    add("overlong_segment_length",
        ct[:tile.start] + forge.segment_v2(TAG_TILE, payload, length=forge.uvarint(
            len(payload))[:-1] + bytes([forge.uvarint(len(payload))[-1] | 0x80, 0x00]))
        + ct[tile.end:], "MicFormatError",
        "the TILE length with a redundant last varint byte (CRC over it recomputed)")
    add("segment_length_beyond_the_end",
        ct[:tile.start] + forge.segment_v2(TAG_TILE, payload, length=forge.uvarint(2**31))
        + ct[tile.end:], "MicTruncatedError", "TILE length 2**31 as a varint")
    add("segment_length_beyond_u32",
        ct[:tile.start] + forge.segment_v2(TAG_TILE, payload, length=forge.uvarint(2**35))
        + ct[tile.end:], "MicFormatError", "TILE length 2**35, beyond the u32 range")
    add("tile_prefix_cut", ct[:tile.start] + forge.segment_v2(TAG_TILE, b"\x00\x80")
        + ct[tile.end:], "MicFormatError", "a TILE payload ending inside its tile-index varint")
    add("tile_index_out_of_range",
        ct[:tile.start] + forge.segment_v2(TAG_TILE, b"\x00\x01" + payload[2:])
        + ct[tile.end:], "MicFormatError", "the only tile claims index 1")
    add("v1_framing_after_a_v2_header", ct[:pos] + b"".join(
        forge.segment(sp.tag, bytes(ct[sp.payload_start:sp.payload_end])) for sp in spans),
        "MicChecksumError", "segments framed as in version 1 after a version-2 header: the "
        "first length byte is read as a varint and the CRC no longer matches", exact=False)
    return out


# ----------------------------------------------------------------------------- main
def build() -> tuple[dict[str, bytes], dict, dict]:
    files: dict[str, bytes] = {}
    vectors = []
    base: dict[str, bytes] = {}
    for src in sources():
        arr, opts = src["array"], src["options"]
        # model id 1 (SPEC 5.4; model 13's vectors are formats/lossless13/'s), without
        # recording nlms=False in vectors.json (formats/ stays small; re-encoding need not
        # give the same bytes, formats/README.md)
        stream = mic.encode(arr, **({"nlms": False} if opts.get("effort", 3) >= 3 else {}), **opts)
        out = mic.decode(stream)
        assert out.dtype == arr.dtype and np.array_equal(out, arr), src["name"]
        base[src["name"]] = stream
        i = mic.info(stream)
        le = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
        import io

        buf = io.BytesIO()
        np.save(buf, le, allow_pickle=False)
        files[f"{src['name']}.mic"] = stream
        files[f"{src['name']}.npy"] = buf.getvalue()
        vectors.append({
            "name": src["name"], "stream": f"{src['name']}.mic", "source": f"{src['name']}.npy",
            "shape": list(arr.shape), "dtype": str(arr.dtype), "bits_stored": i.bits_stored,
            "photometric": i.photometric, "tile_shape": list(i.tile_shape), "tiles": i.tiles,
            "model_id": i.model_id, "encode_options": _json_opts(opts), "origin": src["origin"],
            "samples_sha256": samples_sha256(arr), "stream_sha256": sha256(stream),
            "stream_size": len(stream),
        })
    by_name = {v["name"]: v for v in vectors}
    for c in compat_variants(base):
        src = by_name[c["of"]]
        arr = np.load(__import__("io").BytesIO(files[src["source"]]))
        out = mic.decode(c["stream"])
        assert np.array_equal(out, arr), c["name"]
        files[f"{c['name']}.mic"] = c["stream"]
        vectors.append(dict(src, name=c["name"], stream=f"{c['name']}.mic",
                            encode_options=src["encode_options"], origin=f"{c['of']}: {c['note']}",
                            stream_sha256=sha256(c["stream"]), stream_size=len(c["stream"])))
    expected = {}
    for inv in invalid_streams(base):
        cls = getattr(mic, inv["error"])
        try:
            mic.decode(inv["stream"])
        except mic.MicError as exc:
            ok = type(exc) is cls if inv["exact"] else isinstance(exc, cls)
            if not ok:
                raise SystemExit(f"invalid/{inv['name']}: expected {inv['error']}, "
                                 f"got {type(exc).__name__}: {exc}")
        else:
            raise SystemExit(f"invalid/{inv['name']}: decoded without an error")
        files[f"invalid/{inv['name']}.mic"] = inv["stream"]
        expected[inv["name"]] = {"error": inv["error"], "exact": inv["exact"], "why": inv["why"],
                                     "stream_sha256": sha256(inv["stream"])}
    meta = {
        "description": "mic conformance vectors; see formats/README.md",
        "generated_by": "formats/make_vectors.py",
        "mic_version": mic.__version__,
        "samples_sha256": "sha256 of the decoded samples, C order, little-endian",
        "vectors": vectors,
    }
    return files, meta, expected


def _compact(text: str) -> str:
    """Put short lists of numbers (shapes, tile shapes) on one line."""
    return re.sub(r"\[\s+([-\d,\s]+?)\s+\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m[1].split(",")) + "]", text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="write nothing; list what differs")
    args = ap.parse_args()
    files, meta, expected = build()
    files["vectors.json"] = (_compact(json.dumps(meta, indent=1)) + "\n").encode()
    files["invalid/expected.json"] = (json.dumps(expected, indent=1, sort_keys=True)
                                      + "\n").encode()
    changed = [n for n, b in files.items()
               if not (HERE / n).exists() or (HERE / n).read_bytes() != b]
    keep = set(files)
    stale = [p.relative_to(HERE).as_posix() for p in HERE.rglob("*")
             if p.suffix in (".mic", ".npy") and p.relative_to(HERE).as_posix() not in keep
             and p.relative_to(HERE).parts[0] not in ("lossy", "near", "near12", "near17",
                                                      "near19", "near21", "near23",
                                                      "lossless13", "lossless14",
                                                      "lossless15", "lossless16", "lossless18",
                                                      "lossless20", "lossless22", "lossless24",
                                                      "volume", "volume25",
                                                      "conv")]  # own generators
    total = sum(len(b) for b in files.values())
    if args.check:
        for n in changed:
            print("differs:", n)
        for n in stale:
            print("stale:", n)
        print(f"{len(files)} files, {total / 1024:.0f} KiB")
        return 1 if changed or stale else 0
    INVALID.mkdir(exist_ok=True)
    for n, b in files.items():
        (HERE / n).write_bytes(b)
    for n in stale:
        (HERE / n).unlink()
    print(f"wrote {len(files)} files ({total / 1024:.0f} KiB), {len(changed)} changed, "
          f"{len(stale)} stale removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
