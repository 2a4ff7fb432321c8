#!/usr/bin/env python
"""Write the near-lossless (mode 2) conformance vectors under formats/near/ (formats/README.md).

    .venv/bin/python formats/make_near_vectors.py            # rewrite them
    .venv/bin/python formats/make_near_vectors.py --check    # only report what would change

Valid vectors: ``near/NAME.mic`` (the stream), ``near/NAME.npy`` (the source samples) and an
entry in ``near/vectors.json``: the maximum error ``k``, ``decoded_sha256`` (sha256 of the
samples a decoder must produce, C order, little-endian; not the source's: mode 2 decodes to
the encoder's reconstruction), ``source_sha256``, the largest ``|decoded - source|`` (never
above ``k``), the colour transform of each tile, and the stream's sha256.

Invalid vectors: ``near/invalid/NAME.mic`` and ``near/invalid/expected.json`` (the MicError
class each must raise, whether a subclass is acceptable, and why): bad ``NEAR`` segments
(k = 0, k too large, over-long, trailing bytes, missing, twice, in a lossless stream),
model id 1 in mode 2, truncations, a wrong sample CRC-32, flipped payload bits, the lossless
colour transform in mode 2.  Every CRC a case is not about is
recomputed (``forge.py``).

Deterministic: the real sources are fixed crops of ``tests/data/``, the synthetic ones use
fixed seeds.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "near"
#: the mode-2 model id the vectors are written with: 2 here (SPEC 7.1-7.5);
#: formats/make_near12_vectors.py runs this generator with 12 (SPEC 7.6) into near12/
MODEL = 2
#: model 12 (formats/ stays under 2 MiB): these sources are left out, the others' samples
#: are near/'s .npy files, and only the model's own invalid cases are written
NEAR12_SKIP = {"mr_brain_u16_tiled_k2", "ct_abdomen_u16_k1", "sparse_lattice_u16_k1"}
#: model 17 (formats/make_near17_vectors.py, SPEC 7.7): the sources model 12 has, at the
#: default effort (plane kinds 5 and 6), and these also at effort 1 (kinds 3 and 4)
NEAR17_EFFORT1 = {"ct_abdomen_u16_k2_v1", "us_breast_rgb_k2", "sparse_ramp_u16_k4"}
#: ... and these at effort 4 (each plane also as model 12's, kinds 1 and 2, the smaller kept)
NEAR17_EFFORT4 = {"ct_abdomen_frames_k5", "us_breast_rgb_k2"}
#: model 19 (formats/make_near19_vectors.py, SPEC 7.8): model 17's default-effort sources
#: and its effort-4 ones; model 17's vectors are written with ``bands=False`` (same streams)
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import forge  # noqa: E402
from vector_files import (  # noqa: E402
    InvalidCases, refused_as, run_generator, samples_sha256, sha256,
)

import mic  # noqa: E402
from mic.bitstream import TAG_TILE, unpack_header  # noqa: E402
from mic.lossless.syntax import TAG_NEAR  # noqa: E402

DATA = ROOT / "tests" / "data"




def _real(name: str) -> np.ndarray:
    if name.endswith(".npy"):
        return np.load(DATA / name)
    from PIL import Image

    with Image.open(DATA / name) as im:
        return np.asarray(im)


def tile_xforms(stream: bytes) -> list[int]:
    """The colour transform byte of every TILE, in stream order."""
    return [stream[sp.mode_start] for sp in forge.spans(stream) if sp.tag == TAG_TILE]


def first_plane_kinds(stream: bytes) -> list[int]:
    """The kind (SPEC 5.2: 0 constant, 1 coded, 2 palette) of every TILE's first plane."""
    return [stream[sp.mode_start + 1] for sp in forge.spans(stream) if sp.tag == TAG_TILE]


# ----------------------------------------------------------------------------- sources
def sources() -> list[dict]:
    rng = np.random.default_rng(20261205)
    out = []

    def add(name, arr, origin, **opts):
        out.append({"name": name, "array": np.ascontiguousarray(arr), "options": opts,
                    "origin": origin})

    ct = _real("ct_abdomen_u16.png")
    lung = _real("ct_lung_i16.npy")
    mr = _real("mr_brain_u16.png")
    cr = _real("cr_chest_u8.png")
    rgb = _real("us_breast_rgb.png")
    add("ct_abdomen_u16_k1", ct[96:160, 96:160], "tests/data/ct_abdomen_u16.png [96:160, 96:160]",
        max_error=1)
    add("ct_abdomen_u16_k2_v1", ct[96:160, 96:160],
        "tests/data/ct_abdomen_u16.png [96:160, 96:160], stream version 1", max_error=2,
        stream_version=1)
    add("cr_chest_u8_k2", cr[128:176, 100:164], "tests/data/cr_chest_u8.png [128:176, 100:164]",
        max_error=2)
    add("ct_lung_i16_k5", lung[64:128, 64:128],
        "tests/data/ct_lung_i16.npy [64:128, 64:128], signed, bits_stored 16", max_error=5,
        bits_stored=16)
    add("mr_brain_u16_tiled_k2", mr[100:196, 80:160],
        "tests/data/mr_brain_u16.png [100:196, 80:160], tiles 32x32", max_error=2, tile=32)
    add("us_breast_rgb_k2", rgb[96:144, 96:144],
        "tests/data/us_breast_rgb.png [96:144, 96:144] (grey with colour: xform 2)", max_error=2)
    add("rgb_frames_u8_k1", rng.integers(0, 256, (2, 16, 16, 3)).astype(np.uint8),
        "synthetic (frames, rows, cols, 3) noise (xform 0)", max_error=1)
    add("ct_abdomen_frames_k5", np.stack([ct[64 + 40 * k:96 + 40 * k, 64:96] for k in range(3)]),
        "tests/data/ct_abdomen_u16.png, 3 frames [64+40k:96+40k, 64:96]", max_error=5)
    add("near_constant_u8_k5", (100 + rng.integers(0, 11, (20, 20))).astype(np.uint8),
        "synthetic values 100..110: one constant plane (span <= 2k)", max_error=5)
    g = np.add.outer(np.arange(31), np.arange(33)) * 15
    add("bits10_u16_k1", np.clip(g + rng.integers(-4, 5, g.shape), 0, 1023).astype(np.uint16),
        "synthetic ramp + noise, bits_stored 10", max_error=1, bits_stored=10)
    add("int8_ramp_k1", (np.add.outer(np.arange(16), np.arange(20)) * 9 - 128).clip(-128, 127)
        .astype(np.int8), "synthetic signed 8-bit ramp", max_error=1)
    full = rng.integers(0, 65536, (24, 24)).astype(np.uint16)
    full[0, 0], full[-1, -1] = 0, 65535
    add("bits16_u16_noise_k1000", full, "synthetic full-range noise, k = 1000 (clamping at both "
        "ends)", max_error=1000)
    add("tiled_odd_u16_k3", (np.add.outer(np.arange(37), np.arange(45)) * 31 % 3000)
        .astype(np.uint16), "synthetic 37x45, tiles 16x10 (ragged edges)", max_error=3,
        tile=(16, 10))
    lattice = ct[96:160, 96:160] * 4  # every 4th value: a palette plane (SPEC 7.2)
    add("sparse_lattice_u16_k1", lattice, "tests/data/ct_abdomen_u16.png [96:160, 96:160] x 4: "
        "a palette plane with k' = 1 // 4 = 0 (lossless)", max_error=1)
    ramp = np.add.outer(np.arange(40), np.arange(40)) // 2
    add("sparse_ramp_u16_k4", ((ramp + rng.integers(0, 2, ramp.shape)) * 4).astype(np.uint16),
        "synthetic ramp + noise on every 4th value: a palette plane with k' = 4 // 4 = 1",
        max_error=4)
    crop = ct[96:160, 96:160].astype(np.int64)
    table = np.cumsum(np.random.default_rng(7).integers(1, 7, int(np.ptp(crop)) + 1))
    add("sparse_lut_u16_k2", table[crop - crop.min()].astype(np.uint16),
        "tests/data/ct_abdomen_u16.png [96:160, 96:160] through a look-up table with gaps of "
        "1 to 6 codes: a covering palette (representatives within k of the used values, "
        "k' = 0)", max_error=2)
    assert len({o["name"] for o in out}) == len(out)
    return out


def _json_opts(opts: dict) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in opts.items()}


# ----------------------------------------------------------------------------- invalid
def _with_near(stream: bytes, payloads: list[bytes]) -> bytes:
    """``stream`` with its NEAR segments (if any) replaced by ones carrying ``payloads``,
    placed before the first segment."""
    sp = forge.spans(stream)
    body = b"".join(stream[s.start:s.end] for s in sp if s.tag != TAG_NEAR)
    segs = b"".join(forge.segment_like(stream, TAG_NEAR, p) for p in payloads)
    return stream[:sp[0].start] + segs + body


#: the fast near-lossless models' own invalid cases: the model a stream of each is relabelled
#: as (the one it extends), the error, whether exactly that class, and why; the lossless
#: model id one below each is the other (unknown in mode 2)
RELABELLED = {
    17: (12, "MicFormatError", True, "plane kind 5 is not a model-12 plane kind (SPEC 7.2)"),
    19: (17, "MicError", False, "its band count and thresholds are read as model 17's table "
         "count and class map (SPEC 7.7, 7.8)"),
    21: (19, "MicError", False, "its low class count and low section are read as its word "
         "and byte counts (SPEC 7.8, 7.9)"),
    23: (21, "MicError", False, "its bit-packed table sections are read as model 16's byte "
         "maps and tables (SPEC 7.9, 7.10)"),
}


def invalid_streams(base: dict[str, bytes]) -> list[dict]:
    out = InvalidCases()
    add = out.add

    if MODEL in RELABELLED:  # the model-independent cases are near/'s
        v1 = base["ct_abdomen_u16_k2_v1"]
        older, error, exact, why = RELABELLED[MODEL]
        add(f"model{MODEL}_read_as_model{older}", forge.set_header_fields(v1, model_id=older),
            error, f"a model-{MODEL} stream relabelled model id {older}: {why}", exact=exact)
        add(f"mode2_model_id_{MODEL - 1}", forge.set_header_fields(v1, model_id=MODEL - 1),
            "MicUnsupportedError", f"mode 2 with model id {MODEL - 1} (a lossless model; "
            "unknown in mode 2)")
        return out
    if MODEL == 12:  # the model-independent cases are near/'s
        v1 = base["ct_abdomen_u16_k2_v1"]
        add("mode2_model_id_13", forge.set_header_fields(v1, model_id=13), "MicUnsupportedError",
            "mode 2 with model id 13, unknown")
        add("model12_read_as_model2", forge.set_header_fields(v1, model_id=2),
            "MicChecksumError", "a model-12 stream relabelled model id 2: it decodes with "
            "model 2's prediction (SPEC 7.4 without 7.6), to samples that miss the sample "
            "CRC-32")
        return out
    ct = base["ct_abdomen_u16_k1"]  # 12 bits stored, version 2
    add("k_zero", _with_near(ct, [b"\x00"]), "MicFormatError", "NEAR k = 0 (that is mode 0)")
    add("k_too_large", _with_near(ct, [forge.uvarint(2048)]), "MicFormatError",
        "NEAR k = 2048 = 2^(bits_stored - 1) for 12 bits stored")
    add("k_overlong_varint", _with_near(ct, [b"\x81\x00"]), "MicFormatError",
        "NEAR k = 1 written as an over-long varint")
    add("k_trailing_byte", _with_near(ct, [b"\x01\x00"]), "MicFormatError",
        "NEAR payload with a byte after its varint")
    add("k_empty", _with_near(ct, [b""]), "MicFormatError", "empty NEAR payload")
    add("near_missing", _with_near(ct, []), "MicFormatError", "mode 2 without a NEAR segment")
    add("near_twice", _with_near(ct, [b"\x01", b"\x01"]), "MicFormatError",
        "two NEAR segments")
    lossless = mic.encode(_real("ct_abdomen_u16.png")[96:160, 96:160], nlms=False)  # model 1
    add("near_in_lossless_stream", _with_near(lossless, [b"\x01"]), "MicFormatError",
        "a NEAR segment in a mode-0 stream")
    v1 = base["ct_abdomen_u16_k2_v1"]  # header fields at fixed offsets (forge edits them)
    add("mode2_model_id_1", forge.set_header_fields(v1, model_id=1), "MicUnsupportedError",
        "mode 2 with model id 1 (the lossless model; mode 2 is model id 2)")
    add("mode2_model_id_3", forge.set_header_fields(v1, model_id=3), "MicUnsupportedError",
        "mode 2 with model id 3, unknown")
    tile = [s for s in forge.spans(ct) if s.tag == TAG_TILE][0]
    add("truncated_in_tile", ct[:(tile.start + tile.end) // 2], "MicTruncatedError",
        "the stream ends inside its TILE segment")
    add("truncated_before_mend", ct[:tile.end], "MicTruncatedError", "no MEND segment")
    h, _ = unpack_header(v1)
    add("sample_crc_mismatch", forge.set_header_fields(v1, sample_crc32=h.sample_crc32 ^ 1),
        "MicChecksumError", "sample_crc32 differs from the reconstruction's CRC-32 in one bit")
    add("sample_crc_flag_cleared", forge.set_header_fields(v1, flags=0, sample_crc32=0),
        "MicFormatError", "flags bit 0 cleared: mode 2 always carries the sample CRC-32",
        exact=True)
    flipped = bytearray(ct)
    flipped[tile.payload_end - 8] ^= 0x10  # in the last words / extra bits of the plane
    add("payload_bit_flip", forge.refresh_crc(flipped, tile), "MicChecksumError",
        "one bit of the coded plane flipped, the segment CRC fixed up: the plane still "
        "decodes, to samples that no longer match the sample CRC-32")
    near_seg = [s for s in forge.spans(ct) if s.tag == TAG_NEAR][0]
    broken = bytearray(ct)
    broken[near_seg.payload_start] ^= 0x02  # k 1 -> 3, segment CRC left as it was
    add("near_segment_crc", bytes(broken), "MicChecksumError",
        "NEAR payload changed without its segment CRC")
    rgb = base["us_breast_rgb_k2"]
    rtile = [s for s in forge.spans(rgb) if s.tag == TAG_TILE][0]
    assert rgb[rtile.mode_start] == 2, "the RGB vector should use xform 2"
    as_rct = bytearray(rgb)
    as_rct[rtile.mode_start] = 1
    add("xform_rct_in_mode2", forge.refresh_crc(as_rct, rtile), "MicFormatError",
        "colour transform 1 (mode 0's RCT) in a mode-2 tile")
    as_3 = bytearray(rgb)
    as_3[rtile.mode_start] = 3
    add("xform_3_in_mode2", forge.refresh_crc(as_3, rtile), "MicFormatError",
        "colour transform 3, undefined")
    return out


# ----------------------------------------------------------------------------- main
def build() -> tuple[dict[str, bytes], dict, dict]:
    files: dict[str, bytes] = {}
    vectors = []
    base: dict[str, bytes] = {}
    srcs = [s for s in sources() if MODEL == 2 or s["name"] not in NEAR12_SKIP]
    if MODEL == 19:  # crops large enough for more than one band (SPEC 5.11), samples here
        lung, ct = _real("ct_lung_i16.npy"), _real("ct_abdomen_u16.png")
        srcs += [{"name": "lung_bands4_k1", "array": np.ascontiguousarray(lung[80:176, 0:96]),
                  "options": {"max_error": 1}, "own_npy": True, "bands": 4,
                  "origin": "tests/data/ct_lung_i16.npy [80:176, 0:96]: 4 bands"},
                 {"name": "ct_bands2_k2", "array": np.ascontiguousarray(ct[0:80, 0:80]),
                  "options": {"max_error": 2}, "own_npy": True, "bands": 2,
                  "origin": "tests/data/ct_abdomen_u16.png [0:80, 0:80]: 2 bands"}]
    if MODEL in (21, 23):  # crops with samples next to their minimum (SPEC 7.9), samples here
        ct, mr = _real("ct_abdomen_u16.png"), _real("mr_brain_u16.png")
        srcs += [{"name": "ct_low8_k1", "array": np.ascontiguousarray(ct[0:80, 0:100]),
                  "options": {"max_error": 1}, "own_npy": True, "low": 8,
                  "origin": "tests/data/ct_abdomen_u16.png [0:80, 0:100] (its air): 8 low "
                  "classes"},
                 {"name": "ct_low_k4", "array": np.ascontiguousarray(ct[0:64, 0:72]),
                  "options": {"max_error": 4}, "own_npy": True, "low": None,
                  "origin": "tests/data/ct_abdomen_u16.png [0:64, 0:72]: low classes at k = 4"},
                 {"name": "mr_low_k2", "array": np.ascontiguousarray(mr[0:64, 0:80]),
                  "options": {"max_error": 2}, "own_npy": True, "low": None,
                  "origin": "tests/data/mr_brain_u16.png [0:64, 0:80]"}]
    if MODEL in (17, 19, 21, 23):
        srcs += [{**s, "name": s["name"] + f"_e{e}", "npy": s["name"],
                  "options": {**s["options"], "effort": e}}
                 for e, names in ((1, NEAR17_EFFORT1), (4, NEAR17_EFFORT4))
                 for s in srcs if s["name"] in names and (MODEL == 17 or e > 1)]
    for src in srcs:
        arr, opts = src["array"], dict(src["options"])
        if MODEL == 2:  # model id 2: the near-lossless coder of efforts 1-2
            opts["effort"] = 2
        if MODEL in (2, 12):  # without it, model id 19 (SPEC 7.8: formats/near19/)
            opts["fast_nlms"] = False
        if MODEL == 17 and opts.get("effort") != 1:  # without it, model id 19
            opts["bands"] = False
        if MODEL == 19:  # without it, model id 21 (SPEC 7.9: formats/near21/)
            opts["low"] = False
        if MODEL == 21:  # without it, model id 23 (SPEC 7.10: formats/near23/)
            opts["compact_tables"] = False
        stream = mic.encode(arr, **opts)
        out = mic.decode(stream)
        k = opts["max_error"]
        err = int(np.abs(out.astype(np.int64) - arr.astype(np.int64)).max())
        assert out.dtype == arr.dtype and out.shape == arr.shape and err <= k, src["name"]
        base[src["name"]] = stream
        i = mic.info(stream)
        assert i.mode == "near-lossless" and i.max_error == k and i.model_id == MODEL
        if src["name"].startswith("sparse_"):
            assert first_plane_kinds(stream) in ([2], [4], [6]), "a sparse vector: a palette"
        if "bands" in src:  # SPEC 5.11: the plane's band count
            from make_lossless18_vectors import planes
            assert [p["bands"] for p in planes(stream)] == [src["bands"]], src["name"]
        if "low" in src:  # SPEC 7.9: the plane's low class count (None: any but 0)
            if MODEL == 23:  # SPEC 7.10: the sections as model 22 writes them
                from make_lossless22_vectors import planes as planes20
            else:
                from make_lossless20_vectors import planes as planes20
            lows = [p["low"] for p in planes20(stream)]
            assert lows == [src["low"]] if src["low"] else all(lows), (src["name"], lows)
        if src["name"] == "sparse_lut_u16_k2":  # the palette's values are representatives
            assert not set(np.unique(out)) <= set(np.unique(arr)), "no covering palette"
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")),
                allow_pickle=False)
        files[f"{src['name']}.mic"] = stream
        source = f"{src.get('npy', src['name'])}.npy"
        if MODEL == 2 or src.get("own_npy"):
            files[source] = buf.getvalue()
        else:  # the same samples as near/'s vector of that name
            source = f"../near/{source}"
            assert (OUT / source).read_bytes() == buf.getvalue(), source
        vectors.append({
            "name": src["name"], "stream": f"{src['name']}.mic", "source": source,
            "max_error": k, "shape": list(arr.shape), "dtype": str(arr.dtype),
            "bits_stored": i.bits_stored, "photometric": i.photometric,
            "tile_shape": list(i.tile_shape), "tiles": i.tiles, "model_id": i.model_id,
            "xforms": tile_xforms(stream), "first_plane_kinds": first_plane_kinds(stream),
            "encode_options": _json_opts(opts),
            "origin": src["origin"], "decoded_sha256": samples_sha256(out),
            "source_sha256": samples_sha256(arr), "max_abs_error": err,
            "stream_sha256": sha256(stream), "stream_size": len(stream),
        })
    expected = {}
    for inv in invalid_streams(base):
        refused_as(f"near/invalid/{inv['name']}", inv["stream"], inv["error"], inv["exact"])
        files[f"invalid/{inv['name']}.mic"] = inv["stream"]
        expected[inv["name"]] = {"error": inv["error"], "exact": inv["exact"], "why": inv["why"],
                                 "stream_sha256": sha256(inv["stream"])}
    meta = {
        "description": "mic near-lossless (mode 2) conformance vectors; see formats/README.md"
        if MODEL == 2 else f"mic near-lossless (mode 2, model id {MODEL}) conformance vectors; "
        "see formats/README.md",
        "generated_by": "formats/make_near_vectors.py",
        "mic_version": mic.__version__,
        "decoded_sha256": "sha256 of the decoded samples, C order, little-endian",
        "vectors": vectors,
    }
    return files, meta, expected


def main() -> int:
    return run_generator(__doc__, OUT, build)


if __name__ == "__main__":
    sys.exit(main())
