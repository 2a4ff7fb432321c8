#!/usr/bin/env python
"""Write the conformance vectors of the learned convolutional-transform models (SPEC 6.10,
``vae``; 6.11, ``ae``; 6.12, ``cnn``; 6.13, ``gan``) under formats/conv/ (see
formats/README.md).

    .venv/bin/python formats/make_conv_vectors.py            # rewrite them
    .venv/bin/python formats/make_conv_vectors.py --check    # only report what would change

Each entry of ``conv/vectors.json`` records the model, its id and weights sha256, the
quality, the CRC-32 of the symbols of every coded plane (the bit-exact part), the sha256
of the samples this build decodes, those samples themselves (``NAME.decoded.mic``, a
lossless stream), the float tolerance a decoder on another machine is allowed (SPEC
6.10: at most 1 per sample, in a share of at most ``2e-6 * 2**bits`` of them), and how far
the samples lie from the source (PSNR, max error).  Invalid streams (``conv/invalid/``)
are real ones edited with ``forge.py``.  The vectors are bound to the shipped weights:
exporting new ``vae``, ``ae``, ``cnn`` or ``gan`` weights means running this script again (each
vector records its model's weights sha256; a model's vectors leave the others' as they
are).
"""

from __future__ import annotations

import hashlib
import io
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "conv"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import forge  # noqa: E402
from vector_files import refused_as, run_generator, samples_sha256  # noqa: E402

import mic  # noqa: E402
from mic.bitstream import TAG_TILE  # noqa: E402
from mic.models.weights import registry  # noqa: E402

DATA = ROOT / "tests" / "data"
#: SPEC 6.10: decoded samples may differ by at most this much from the recorded ones ...
MAX_SAMPLE_DIFF = 1
#: ... in at most this share of the samples, times 2**bits of the plane's normalisation
SHARE_PER_LEVEL = 2e-6



def _png(name: str) -> np.ndarray:
    from PIL import Image

    with Image.open(DATA / name) as im:
        return np.asarray(im)


def plane_crcs(stream: bytes) -> list[int]:
    """symbols_crc32 of every coded plane of every tile (SPEC 6.10), in stream order."""
    from mic.lossy.conv_syntax import CONST_BITS, ConvFields

    info = mic.info(stream)
    f = ConvFields(stream[8])
    out = []
    for sp in forge.spans(stream):
        if sp.tag != TAG_TILE:
            continue
        _, off = f.read_xform(stream, sp.mode_start)
        for _ in range(info.samples_per_pixel):
            _, bits, off = f.read_norm(stream, off)
            if bits == CONST_BITS:
                continue
            crc, nw, off = f.read_cplane(stream, off)
            out.append(crc)
            off += 4 * nw
    return out


def _bars(a: np.ndarray, side: int, value: int) -> np.ndarray:
    bar = np.full((a.shape[0], side), value, a.dtype)
    return np.concatenate([bar, a, bar], axis=1)


def _shutter(a: np.ndarray, top: int, left: int, value: int) -> np.ndarray:
    out = np.full((a.shape[0] + top, a.shape[1] + left), value, a.dtype)
    out[top:, left:] = a
    return out


def _oversampled(a: np.ndarray) -> np.ndarray:
    """``a`` upsampled 2x by SPEC 6.10's filter and rounded: content sampled finer than it
    holds, as a large radiograph's (uint8)."""
    from mic.lossy.upsample import upsample2

    up = upsample2(a.astype(np.float64), 2 * a.shape[0], 2 * a.shape[1])
    return np.clip(np.rint(up), 0, 255).astype(np.uint8)


def _screen(a: np.ndarray, colour: int | tuple = 255) -> np.ndarray:
    """``a`` with a black band of 12 rows holding six glyph-like strokes 1 wide and a "+"
    marker, of ``colour``: an ultrasound screen's text and graphics."""
    out = a.copy()
    out[:12] = 0
    for k in range(6):
        x0 = 4 + 14 * k
        out[3:10, x0] = colour
        out[3, x0:x0 + 5] = colour
        out[9, x0:x0 + 5] = colour
        if k % 2:
            out[6, x0:x0 + 4] = colour
    out[30:33, 40] = colour
    out[31, 38:43] = colour
    return out


def sources() -> list[dict]:
    ct = _png("ct_abdomen_u16.png")
    lung = np.load(DATA / "ct_lung_i16.npy")
    rgb = _png("us_breast_rgb.png")
    cr = _png("cr_chest_u8.png")
    frames = np.stack([ct[64:128, 64:128], np.full((64, 64), 1000, np.uint16)])
    us = _png("us_breast_u8.png")
    return [
        {"name": "vae_q2_ct_u16", "array": ct[80:176, 80:176], "quality": 2,
         "origin": "tests/data/ct_abdomen_u16.png [80:176, 80:176]"},
        {"name": "vae_q6_lung_i16_tiles64", "array": lung[48:144, 32:160], "quality": 6,
         "tile": 64, "origin": "tests/data/ct_lung_i16.npy [48:144, 32:160], tiles 64x64"},
        {"name": "vae_q4_us_rgb", "array": rgb[96:160, 64:160], "quality": 4,
         "colour_transform": False,
         "origin": "tests/data/us_breast_rgb.png [96:160, 64:160] (R, G, B planes: xform 0)"},
        {"name": "vae_q0_frames_constant", "array": frames, "quality": 0,
         "origin": "tests/data/ct_abdomen_u16.png [64:128, 64:128] and a constant frame "
                   "(a constant plane: its value alone)"},
        {"name": "vae_q7_cr_u8_v1", "array": cr[128:192, 96:192], "quality": 7,
         "stream_version": 1, "long_model_segment": True,
         "origin": "tests/data/cr_chest_u8.png [128:192, 96:192], stream version 1, LMDL"},
        # ae (SPEC 6.11): planes padded to multiples of 16, no hyper-latents
        {"name": "ae_q3_ct_u16_odd", "model": "ae", "array": ct[80:157, 70:171], "quality": 3,
         "origin": "tests/data/ct_abdomen_u16.png [80:157, 70:171] (77 x 101: padded to 80 x "
                   "112)"},
        {"name": "ae_q6_lung_i16_tiles48", "model": "ae", "array": lung[48:144, 32:160],
         "quality": 6, "tile": 48,
         "origin": "tests/data/ct_lung_i16.npy [48:144, 32:160], tiles 48x48"},
        {"name": "ae_q1_us_rgb", "model": "ae", "array": rgb[96:160, 64:160], "quality": 1,
         "colour_transform": False,
         "origin": "tests/data/us_breast_rgb.png [96:160, 64:160] (R, G, B planes: xform 0)"},
        {"name": "ae_q7_frames_cr_u8_v1", "model": "ae", "quality": 7, "stream_version": 1,
         "array": np.stack([cr[128:176, 96:160], np.full((48, 64), 9, np.uint8)]),
         "origin": "tests/data/cr_chest_u8.png [128:176, 96:160] and a constant frame, "
                   "stream version 1"},
        # cnn (SPEC 6.12): means and a checkerboard context
        {"name": "cnn_q2_ct_u16", "model": "cnn", "array": ct[96:160, 64:160], "quality": 2,
         "origin": "tests/data/ct_abdomen_u16.png [96:160, 64:160]"},
        {"name": "cnn_q6_ct_u16", "model": "cnn", "array": ct[96:160, 64:160], "quality": 6,
         "origin": "tests/data/ct_abdomen_u16.png [96:160, 64:160]"},
        {"name": "cnn_q4_lung_i16_odd", "model": "cnn", "array": lung[40:117, 30:131],
         "quality": 4, "origin": "tests/data/ct_lung_i16.npy [40:117, 30:131] (77 x 101: "
                                 "padded to 128 x 128)"},
        {"name": "cnn_q3_frames_us_rgb_v1", "model": "cnn", "quality": 3, "stream_version": 1,
         "array": np.stack([rgb[96:144, 64:128], np.full((48, 64, 3), 40, np.uint8)]),
         "colour_transform": False,
         "origin": "tests/data/us_breast_rgb.png [96:144, 64:128] (R, G, B planes: xform 0) and a "
                   "constant frame, stream version 1"},
        # xform 1 (SPEC 6.10): RGB as the colour planes P0, P1, P2 (the default since
        # 2026-12-06); a grey pixel has P1 = P2 = 0
        {"name": "cnn_q3_us_rgb_colour", "model": "cnn", "array": rgb[96:144, 64:128],
         "quality": 3, "origin": "tests/data/us_breast_rgb.png [96:144, 64:128] (colour "
                                 "planes: xform 1)"},
        {"name": "vae_q5_us_rgb_colour_tiles32", "array": rgb[96:160, 64:160], "quality": 5,
         "tile": 32, "origin": "tests/data/us_breast_rgb.png [96:160, 64:160], tiles 32x32 "
                               "(colour planes: xform 1)"},
        {"name": "ae_q2_grey_rgb_colour", "model": "ae", "quality": 2,
         "array": np.repeat(cr[128:160, 96:128, None], 3, axis=2),
         "origin": "tests/data/cr_chest_u8.png [128:160, 96:128] as R = G = B (xform 1: one "
                   "coded plane and two constants)"},
        # xform flag 16 (SPEC 6.10, since 2026-12-06): constant regions (6.6's records);
        # black bars as an MR is padded with, a white collimator shutter on a radiograph
        {"name": "cnn_q3_ct_bars_regions", "model": "cnn", "quality": 3,
         "array": _bars(ct[96:160, 64:160], 97, 0),
         "origin": "tests/data/ct_abdomen_u16.png [96:160, 64:160] between two bars of 0, "
                   "97 columns each (a region: xform flag 16)"},
        {"name": "ae_q4_cr_shutter_regions", "model": "ae", "quality": 4,
         "array": _shutter(cr[128:224, 96:192], 64, 48, 255),
         "origin": "tests/data/cr_chest_u8.png [128:224, 96:192] under a shutter of 255, 64 "
                   "rows above and 48 columns left (a region: xform flag 16)"},
        # xform flag 32 (SPEC 6.10, since 2026-12-06): planes coded at half resolution and
        # upsampled (effort 4's half_search: these crops are smaller than effort 3 tries)
        {"name": "cnn_q0_cr_half_odd", "model": "cnn", "quality": 0, "effort": 4,
         "array": _oversampled(cr[100:164, 100:164])[:127, :125],
         "origin": "tests/data/cr_chest_u8.png [100:164, 100:164] upsampled 2x by SPEC 6.10's "
                   "filter, rounded, [:127, :125] (xform flag 32, half planes 64 x 63)"},
        {"name": "ae_q0_cr_half_shutter", "model": "ae", "quality": 0, "effort": 4,
         "array": _shutter(_oversampled(cr[100:148, 100:148]), 32, 48, 255),
         "origin": "tests/data/cr_chest_u8.png [100:148, 100:148] upsampled 2x by SPEC 6.10's "
                   "filter, rounded, under a shutter of 255, 32 rows above and 48 columns "
                   "left (xform flags 16 and 32)"},
        # xform flag 64 (SPEC 6.10, since 2026-12-06): samples set exactly by lossless planes
        {"name": "cnn_q3_screen_exact", "model": "cnn", "quality": 3,
         "array": _screen(us[100:164, 120:216]),
         "origin": "tests/data/us_breast_u8.png [100:164, 120:216] with a black band of white "
                   "glyph-like strokes and a marker (formats/make_conv_vectors._screen; xform "
                   "flag 64)"},
        {"name": "vae_q5_rgb_screen_exact", "quality": 5,
         "array": _screen(rgb[100:164, 120:216], (255, 255, 0)),
         "origin": "tests/data/us_breast_rgb.png [100:164, 120:216] with yellow strokes "
                   "(_screen; xform 1 with flag 64)"},
        # gan (SPEC 6.13): cnn's bitstream, header flag bit 1, its own weights (small:
        # formats/ stays under 2 MiB)
        {"name": "gan_q3_ct_u16", "model": "gan", "array": ct[96:144, 64:128], "quality": 3,
         "origin": "tests/data/ct_abdomen_u16.png [96:144, 64:128]"},
        {"name": "gan_q5_frames_us_rgb", "model": "gan", "quality": 5,
         "array": np.stack([rgb[96:128, 64:96], np.full((32, 32, 3), 40, np.uint8)]),
         "colour_transform": False,
         "origin": "tests/data/us_breast_rgb.png [96:128, 64:96] (R, G, B planes: xform 0) and a "
                   "constant frame"},
    ]


def _checksum_flip(s: bytes, words: int, nw: int, edit) -> bytes:  # noqa: ANN001
    """The stream with the first bit of its words, from the middle on, whose flip decodes
    to other symbols (a CRC-32 mismatch) rather than failing the metered coder."""
    for at in range(words + 4 * (nw // 2), words + 4 * nw):
        for bit in range(8):
            b = edit(at, s[at] ^ (1 << bit))
            try:
                mic.decode(b)
            except mic.MicChecksumError:
                return b
            except mic.MicError:
                pass
    raise SystemExit("no bit flip of the words gives a MicChecksumError")


def invalid_colour(base: dict[str, bytes]) -> list[tuple[str, bytes, str, str]]:
    """Forgeries of the grey-as-RGB colour vector (xform 1, two constant planes)."""
    from mic.bitstream.varint import pack_uvarint, zigzag
    from mic.lossy.conv_syntax import CONST_BITS, ConvFields

    s = base["ae_q2_grey_rgb_colour"]
    tile = next(x for x in forge.spans(s) if x.tag == TAG_TILE)
    f = ConvFields(s[8])
    _, off = f.read_xform(s, tile.mode_start)
    planes = []
    for _ in range(3):
        start = off
        _, bits, off = f.read_norm(s, off)
        if bits != CONST_BITS:
            _, nw, off = f.read_cplane(s, off)
            off += 4 * nw
        planes.append((start, off, bits))
    assert [b == CONST_BITS for _, _, b in planes] == [False, True, True], planes

    def with_payload(payload: bytes) -> bytes:
        return s[:tile.start] + forge.segment_like(
            s, TAG_TILE, s[tile.payload_start:tile.mode_start] + payload) + s[tile.end:]

    p0 = s[planes[0][0]:planes[0][1]]
    c1 = s[planes[1][0]:planes[1][1]]
    out = []
    b = bytearray(s)
    b[tile.mode_start] = 2
    out.append(("colour_xform_2", forge.refresh_crc(b, tile), "MicFormatError",
                "tile xform 2 in an RGB conv tile (0 and 1 are defined)"))
    # a constant colour plane beyond [min(4a, -2(b - a)), max(4b, 2(b - a))] = [-510, 1020]
    far = pack_uvarint(zigzag(1021)) + bytes((CONST_BITS,)) if s[8] >= 2 else None
    assert far is not None
    out.append(("colour_constant_out_of_range", with_payload(bytes((1,)) + p0 + c1 + far),
                "MicFormatError", "the last colour plane a constant 1021 (> 4 x 255)"))
    return out


def invalid_regions(base: dict[str, bytes]) -> list[tuple[str, bytes, str, str]]:
    """Forgeries of the region record of the bars vector (SPEC 6.10, xform flag 16; 6.6)."""
    import struct

    from mic.entropy.shape import encode_shape
    from mic.lossy.conv_syntax import CONV_REGIONS, ConvFields
    from mic.lossy.syntax import pack_region_record, read_region_record

    s = base["cnn_q3_ct_bars_regions"]
    tile = next(x for x in forge.spans(s) if x.tag == TAG_TILE)
    f = ConvFields(s[8])
    flags, off = f.read_xform(s, tile.mode_start)
    lo, bits, at = f.read_norm(s, off)
    values, _, end = read_region_record(s, at, 64, 290, 1, (0, 65535), False)
    assert flags & CONV_REGIONS and values == (0,)
    bars = np.zeros((64, 290), bool)
    bars[:, :97] = bars[:, -97:] = True

    def with_record(record: bytes) -> bytes:
        payload = s[tile.mode_start:at] + record + s[end:tile.payload_end]
        return s[:tile.start] + forge.segment_like(
            s, TAG_TILE, s[tile.payload_start:tile.mode_start] + payload) + s[tile.end:]

    return [
        ("region_value_out_of_range", with_record(pack_region_record([65536],
                                                                     encode_shape(bars))),
         "MicFormatError", "a region value of 65536 in a 16-bit plane"),
        ("region_whole_tile", with_record(pack_region_record([0], struct.pack("<I", 2**32 - 1))),
         "MicFormatError", "a conv plane's region record with 6.6's whole-tile word count (a "
                           "constant plane is bits 0)"),
        ("region_value_without_shape", with_record(pack_region_record([9], bytes(4))),
         "MicFormatError", "no shape (0 words) but a value of 9 (must be 0)"),
        ("region_shape_truncated", with_record(pack_region_record(
            [0], struct.pack("<I", 4096) + encode_shape(bars)[4:])),
         "MicTruncatedError", "a shape announcing 4096 words, more than the tile holds"),
    ]


def invalid(base: dict[str, bytes], name: str = "vae_q2_ct_u16", prefix: str = ""
            ) -> list[tuple[str, bytes, str, str]]:
    from mic.lossy import LMDS
    from mic.lossy.conv_syntax import ConvFields

    s = base[name]
    sp = forge.spans(s)
    tile = next(x for x in sp if x.tag == TAG_TILE)
    seg = next(x for x in sp if x.tag == b"LMDS")
    f = ConvFields(s[8])
    _, norm = f.read_xform(s, tile.mode_start)
    _, _, head = f.read_norm(s, norm)
    _, nw, words = f.read_cplane(s, head)
    out = []

    def edit(at: int, value: int) -> bytes:
        b = bytearray(s)
        b[at] = value
        return forge.refresh_crc(b, tile)

    out.append(("symbols_crc_flip", edit(head, s[head] ^ 0x01), "MicChecksumError",
                "symbols_crc32 of the plane changed (segment CRC recomputed)"))
    at = words + 4 * (nw // 2)
    out.append(("coded_word_flip", edit(at, s[at] ^ 0x40), "MicFormatError",
                "a bit in the middle of the range-coder words flipped (segment CRC "
                "recomputed): the symbols decode differently, and the metered coder "
                "(MicFormatError) or their CRC-32 (MicChecksumError) refuses them"))
    out.append(("unknown_xform", edit(tile.mode_start, 1), "MicFormatError",
                "tile xform 1 in a one-sample stream (xform 1 is for RGB only)"))
    out.append(("bits_32", edit(head - 1, 32), "MicFormatError", "normalisation bits 32"))
    mid, sha, tid, nq = LMDS.unpack_from(s, seg.payload_start)
    b = bytearray(s)
    LMDS.pack_into(b, seg.payload_start, mid, sha, tid, nq + 1)
    model = prefix.rstrip("_") or "vae"
    out.append(("qualities_mismatch", forge.refresh_crc(b, seg), "MicFormatError",
                f"LMDS says 9 qualities, the {model} has 8"))
    if prefix == "cnn_":  # (added with the cnn; the vae's and ae's sets are unchanged)
        out.append(("symbol_bit_flip", _checksum_flip(s, words, nw, edit), "MicChecksumError",
                    "one bit of the words flipped where the symbols still decode (the first "
                    "such bit from the middle on): their CRC-32 refuses them"))
        b = bytearray(s)
        LMDS.pack_into(b, seg.payload_start, mid, sha, tid ^ 1, nq)
        out.append(("table_id_mismatch", forge.refresh_crc(b, seg), "MicUnsupportedError",
                    "LMDS names other probability tables (the table id covers the integer "
                    "networks that choose them, SPEC 6.12)"))
    payload = s[tile.mode_start:tile.payload_end]
    out.append(("trailing_byte", s[:tile.start] + forge.segment_like(
        s, TAG_TILE, s[tile.payload_start:tile.mode_start] + payload + b"\0") + s[tile.end:],
        "MicFormatError", "one byte after the last plane"))
    out.append(("words_truncated", s[:tile.start] + forge.segment_like(
        s, TAG_TILE, s[tile.payload_start:tile.mode_start] + payload[:-4]) + s[tile.end:],
        "MicTruncatedError", "the tile's last word cut off (segment CRC recomputed)"))
    return [(prefix + n, b, e, w) for n, b, e, w in out]


def invalid_half(base: dict[str, bytes]) -> list[tuple[str, bytes, str, str]]:
    """The half-resolution flag (SPEC 6.10, xform flag 32) forged on and off."""
    from mic.lossy.conv_syntax import CONV_HALF, ConvFields

    out = []
    for name, src, what, error, why in (
            ("half_flag_cleared", "cnn_q0_cr_half_odd", "cleared in a half-resolution tile",
             "MicFormatError", "the words cannot hold the symbols of the full-size plane, "
                               "which the metered coder refuses"),
            ("half_flag_set", "cnn_q2_ct_u16", "set in a full-resolution tile",
             "MicFormatError", "the words, read as a half-size plane's, hold a quantile "
                               "beyond its model, which the range decoder refuses")):
        s = base[src]
        tile = next(x for x in forge.spans(s) if x.tag == TAG_TILE)
        f = ConvFields(s[8])
        flags, off = f.read_xform(s, tile.mode_start)
        payload = f.pack_xform(flags ^ CONV_HALF) + s[off:tile.payload_end]
        b = s[:tile.start] + forge.segment_like(
            s, TAG_TILE, s[tile.payload_start:tile.mode_start] + payload) + s[tile.end:]
        out.append((name, b, error, f"xform flag 32 {what} (segment CRC recomputed): {why}"))
    return out


def invalid_exact(base: dict[str, bytes]) -> list[tuple[str, bytes, str, str]]:
    """Exact-sample planes (SPEC 6.10, xform flag 64) forged: a value beyond the sample
    range, a plane kind the flag does not allow, the flag without its planes."""
    from mic.lossless.encoder import encode_plane
    from mic.lossless.syntax import PLANE_CONST, plane_head
    from mic.lossy.conv_syntax import CONV_EXACT, ConvFields

    s = base["cnn_q3_screen_exact"]
    src = _screen(_png("us_breast_u8.png")[100:164, 120:216])
    plain = mic.encode(src, quality=3, model="cnn", exact_samples=False)
    tile = next(x for x in forge.spans(plain) if x.tag == TAG_TILE)
    f = ConvFields(s[8])
    flags, off = f.read_xform(plain, tile.mode_start)
    body = plain[off:tile.payload_end]
    coded = encode_plane(np.random.default_rng(3).integers(0, 200, src.shape).astype(np.int32))
    out = []
    for name, extra, error, why in (
            ("exact_value_beyond_range", plane_head(PLANE_CONST, 257), "MicFormatError",
             "an exact-sample plane of one value 257 in an 8-bit stream (c - 1 > 255)"),
            ("exact_plane_kind_1", coded, "MicFormatError",
             "an exact-sample plane of kind 1 (only kinds 0 and 3-6 are allowed)"),
            ("exact_flag_without_planes", b"", "MicFormatError",
             "xform flag 64 set and no exact-sample plane after the planes")):
        payload = f.pack_xform(flags | CONV_EXACT) + body + extra
        b = plain[:tile.start] + forge.segment_like(
            plain, TAG_TILE, plain[tile.payload_start:tile.mode_start] + payload) \
            + plain[tile.end:]
        out.append((name, b, error, f"{why} (segment CRC recomputed)"))
    return out


def forged_flags(base: dict[str, bytes]) -> list[tuple[str, bytes, str, str]]:
    """SPEC 3: header flag bit 1 (generative decoder) must match the model the stream names."""
    gan, cnn = base["gan_q3_ct_u16"], base["cnn_q2_ct_u16"]
    return [
        ("gan_generative_flag_cleared", forge.flip_header_flags(gan, 2),
         "MicFormatError", "a gan stream with header flag bit 1 (generative decoder) cleared "
                           "(header CRC recomputed): gan streams must set it"),
        ("cnn_generative_flag_set", forge.flip_header_flags(cnn, 2), "MicFormatError",
         "a cnn stream with header flag bit 1 (generative decoder) set (header CRC "
         "recomputed): only a generative model's streams may set it")]


def build() -> tuple[dict[str, bytes], dict, dict]:
    reg = registry()
    files: dict[str, bytes] = {}
    vectors, base = [], {}
    for src in sources():
        arr = src["array"]
        model = src.get("model", "vae")
        opts = {"quality": src["quality"], "model": model}
        for key in ("tile", "stream_version", "long_model_segment", "colour_transform",
                    "effort"):
            if key in src:
                opts[key] = src[key]
        stream = mic.encode(arr, **opts)
        out = mic.decode(stream)
        base[src["name"]] = stream
        info = mic.info(stream)
        peak = float((1 << info.bits_stored) - 1)
        err = out.astype(np.float64) - arr.astype(np.float64)
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")),
                allow_pickle=False)
        files[f"{src['name']}.mic"] = stream
        files[f"{src['name']}.npy"] = buf.getvalue()
        # the samples in lossless model id 13 (fast_nlms=False), as when they were first
        # written: a later default lossless coder does not rewrite them
        files[f"{src['name']}.decoded.mic"] = mic.encode(out, bits_stored=info.bits_stored,
                                                         fast_nlms=False)
        vectors.append({
            "name": src["name"], "stream": f"{src['name']}.mic", "source": f"{src['name']}.npy",
            "decoded": f"{src['name']}.decoded.mic", "model": model, "model_id": info.model_id,
            "weights_sha256": reg[model]["sha256"], "quality": src["quality"],
            "encode_options": opts, "origin": src["origin"], "shape": list(arr.shape),
            "dtype": str(arr.dtype), "symbols_crc32": plane_crcs(stream),
            "decoded_sha256": samples_sha256(out),
            "tolerance": {"max_abs_sample_diff": MAX_SAMPLE_DIFF,
                          "max_share": SHARE_PER_LEVEL * (1 << info.bits_stored)},
            "psnr_db": round(10 * np.log10(peak * peak / max(float(np.mean(err ** 2)), 1e-12)), 2),
            "max_abs_error": int(np.abs(err).max()),
            "bits_per_pixel": round(info.bits_per_pixel, 4),
            "stream_sha256": hashlib.sha256(stream).hexdigest(), "stream_size": len(stream),
        })
    expected = {}
    bad = (invalid(base) + invalid(base, "ae_q3_ct_u16_odd", "ae_")
           + invalid(base, "cnn_q2_ct_u16", "cnn_") + forged_flags(base) + invalid_colour(base)
           + invalid_regions(base) + invalid_half(base) + invalid_exact(base))
    for name, stream, error, why in bad:
        refused_as(f"conv/invalid/{name}", stream, error)
        files[f"invalid/{name}.mic"] = stream
        expected[name] = {"error": error, "why": why,
                          "stream_sha256": hashlib.sha256(stream).hexdigest()}
    meta = {"description": "mic conv-model conformance vectors; see formats/README.md",
            "generated_by": "formats/make_conv_vectors.py", "mic_version": mic.__version__,
            "vectors": vectors}
    return files, meta, expected


def main() -> int:
    return run_generator(__doc__, OUT, build)


if __name__ == "__main__":
    raise SystemExit(main())
