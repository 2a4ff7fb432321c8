#!/usr/bin/env python
"""Write the lossy conformance vectors under formats/lossy/ (see formats/README.md).

    .venv/bin/python formats/make_lossy_vectors.py            # rewrite them
    .venv/bin/python formats/make_lossy_vectors.py --check    # only report what would change

They bind to the shipped weights: each entry of ``lossy/vectors.json`` records the model,
its id and weights sha256, the quality, the CRC-32 of the entropy-coded symbols of every
plane (the bit-exact part of the lossy mode), the sha256 of the samples this build
decodes, and how far those lie from the source (PSNR, max error).  Invalid lossy
streams (``lossy/invalid/``) are real ones edited with ``forge.py``.
"""

from __future__ import annotations

import hashlib
import io
import struct
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "lossy"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import forge  # noqa: E402
from vector_files import refused_as, run_generator, samples_sha256  # noqa: E402

import mic  # noqa: E402
from mic.bitstream import TAG_TILE  # noqa: E402
from mic.models.weights import registry  # noqa: E402

DATA = ROOT / "tests" / "data"



def _png(name: str) -> np.ndarray:
    from PIL import Image

    with Image.open(DATA / name) as im:
        return np.asarray(im)


def plane_crcs(stream: bytes) -> list[int]:
    """symbols_crc32 of every coded plane of every tile (SPEC 6.1), in stream order."""
    from mic.lossy import REGION, WHOLE_TILE, XFORM_FLAGS, XFORM_REGION, XFORM_YCC, \
        XFORM_YCC_REGION, TileFields

    def skip_region(p: bytes, off: int, k: int) -> int | None:
        """Offset after a region record; None for a whole-tile record (no plane follows)."""
        (nw,) = struct.unpack_from("<I", p, off + k * REGION.size)
        return None if nw == WHOLE_TILE else off + k * REGION.size + 4 + 4 * nw

    info = mic.info(stream)
    f = TileFields(stream[8])  # the stream's major version: its tiles' field layout
    out = []
    for sp in forge.spans(stream):
        if sp.tag != TAG_TILE:
            continue
        p = stream[sp.mode_start:sp.payload_end]
        xform, off = f.read_xform(p, 0)
        xform &= ~XFORM_FLAGS  # (the flags' records are in the words or after the planes)
        colour = xform in (XFORM_YCC, XFORM_YCC_REGION)
        if colour:
            for _ in range(3):
                off = f.read_norm(p, off)[2]
            if xform == XFORM_YCC_REGION:
                off = skip_region(p, off, 3)
                if off is None:
                    continue
        for _ in range(info.samples_per_pixel):
            if not colour:
                off = f.read_norm(p, off)[2]
                if xform == XFORM_REGION:
                    off = skip_region(p, off, 1)
                    if off is None:
                        break
            _, crc, nw, off = f.read_plane(p, off)
            out.append(crc)
            off += 4 * nw
    return out


def sources() -> list[dict]:
    ct = _png("ct_abdomen_u16.png")
    rgb = _png("us_breast_rgb.png")
    lung = np.load(DATA / "ct_lung_i16.npy")
    out = []
    for model in ("wavelet-factorized", "wavelet-hyperprior", "wavelet-context"):
        for q in (1, 6):
            out.append({"name": f"{model}_q{q}_ct_u16", "array": ct[64:192, 64:192],
                        "model": model, "quality": q, "regions": False, "adapt": False, "restore": False,
                        "origin": "tests/data/ct_abdomen_u16.png [64:192, 64:192]"})
    out.append({"name": "wavelet-context_q4_lung_i16_tiled", "array": lung[32:160, 32:176], "model": "wavelet-context",
                "quality": 4, "tile": 64, "regions": False, "adapt": False, "restore": False,
                "origin": "tests/data/ct_lung_i16.npy [32:160, 32:176], tiles 64x64"})
    out.append({"name": "wavelet-context_q5_us_rgb", "array": rgb[64:160, 64:192], "model": "wavelet-context",
                "quality": 5, "regions": False, "adapt": False, "restore": False,
                "origin": "tests/data/us_breast_rgb.png [64:160, 64:192]"})
    # constant regions (SPEC 6.6): black bars beside an MR on a pedestal; a black border
    # around an RGB ultrasound
    mr = _png("mr_brain_u16.png")[96:224, 64:192]
    bars = np.zeros((128, 192), np.uint16)
    bars[:, 32:160] = mr + 300
    # (the vectors above keep regions=False and adapt=False: the plain xforms 0 and 1)
    out.append({"name": "wavelet-context_q2_mr_bars_tiles32", "array": bars, "model": "wavelet-context", "quality": 2,
                "tile": 32, "adapt": False, "restore": False,
                "origin": "wavelet-context_q3_mr_bars_region's image in 32x32 tiles: the bar tiles are "
                          "whole-tile records (SPEC 6.6)"})
    out.append({"name": "wavelet-context_q3_mr_bars_region", "array": bars, "model": "wavelet-context", "quality": 3,
                "adapt": False, "restore": False, "origin": "tests/data/mr_brain_u16.png [96:224, 64:192] + 300, "
                          "between 32-column zero bars"})
    framed = np.zeros((112, 144, 3), np.uint8)
    framed[16:96, 16:128] = rgb[64:144, 64:176]
    out.append({"name": "wavelet-context_q4_us_rgb_region", "array": framed, "model": "wavelet-context", "quality": 4,
                "adapt": False, "restore": False, "origin": "tests/data/us_breast_rgb.png [64:144, 64:176] in a 16-pixel "
                          "black frame"})
    # table biases (SPEC 6.4, xform flag 4): a radiograph and the RGB ultrasound
    cr = _png("cr_chest_u8.png")
    out.append({"name": "wavelet-context_q3_cr_biases", "array": cr, "model": "wavelet-context", "quality": 3,
                "restore": False, "origin": "tests/data/cr_chest_u8.png, adapt on"})
    out.append({"name": "wavelet-context_q5_us_rgb_biases", "array": rgb, "model": "wavelet-context", "quality": 5,
                "restore": False, "origin": "tests/data/us_breast_rgb.png, adapt on"})
    # restoration filters (SPEC 6.7, xform flag 8), every tool on (the default encoder):
    # grey tiles of one normalisation (a 12-bit CT in 4 tiles), RGB, and beside a region
    out.append({"name": "wavelet-context_q3_ct_restore_tiles", "array": ct, "model": "wavelet-context", "quality": 3,
                "tile": 128, "origin": "tests/data/ct_abdomen_u16.png, tiles 128x128, defaults"})
    out.append({"name": "wavelet-context_q3_us_rgb_restore", "array": rgb, "model": "wavelet-context", "quality": 3,
                "origin": "tests/data/us_breast_rgb.png, defaults"})
    out.append({"name": "wavelet-context_q4_mr_bars_restore", "array": bars, "model": "wavelet-context", "quality": 4,
                "origin": "wavelet-context_q3_mr_bars_region's image, defaults"})
    for src in out:  # the streams above predate the mean predictors and the per-pass table
        src["means"] = False  # biases: they stay as they were
        src["constants"] = {"PASS_BIASES": False}
    # mean predictors (SPEC 6.4, xform flag 16), the default encoder: a grey CT crop with
    # the other tools off, the RGB ultrasound and the MR between bars in 32x32 tiles (whole-
    # tile records, which never carry the flag, beside region tiles that do)
    out.append({"name": "wavelet-context_q6_ct_means", "array": ct[64:192, 64:192], "model": "wavelet-context",
                "quality": 6, "regions": False, "adapt": False, "restore": False,
                "origin": "tests/data/ct_abdomen_u16.png [64:192, 64:192], means on"})
    out.append({"name": "wavelet-context_q4_us_rgb_means", "array": rgb, "model": "wavelet-context", "quality": 4,
                "origin": "tests/data/us_breast_rgb.png, defaults (means on)"})
    out.append({"name": "wavelet-context_q5_mr_bars_means_tiles32", "array": bars, "model": "wavelet-context",
                "quality": 5, "tile": 32,
                "origin": "wavelet-context_q3_mr_bars_region's image in 32x32 tiles, defaults (means on)"})
    for src in out:  # the streams above predate the dependent quantiser: they stay as
        src["dq"] = False  # they were
    # dependent quantisation (SPEC 6.8, xform flag 64), the default encoder: a grey CT
    # crop with the other tools off, the RGB ultrasound with every tool, and the MR between
    # bars (a region tile)
    out.append({"name": "wavelet-context_q6_ct_dq", "array": ct[64:192, 64:192], "model": "wavelet-context",
                "quality": 6, "regions": False, "adapt": False, "restore": False,
                "means": False, "origin": "tests/data/ct_abdomen_u16.png [64:192, 64:192], "
                                          "dependent quantisation alone"})
    out.append({"name": "wavelet-context_q4_us_rgb_dq", "array": rgb, "model": "wavelet-context", "quality": 4,
                "origin": "tests/data/us_breast_rgb.png, defaults (dq on)"})
    out.append({"name": "wavelet-context_q9_mr_bars_dq", "array": bars, "model": "wavelet-context", "quality": 9,
                "origin": "wavelet-context_q3_mr_bars_region's image, defaults (dq on)"})
    for src in out:  # the streams above predate the hyper-latent record: they stay as
        src["zadapt"] = False  # they were
    # hyper-latent records (SPEC 6.9, xform flag 128), the default encoder: the radiograph
    # at quality 8 (channels about offsets), a CT crop where no channel pays (so no flag),
    # wavelet-hyperprior on the radiograph, and the RGB ultrasound with the encoder's threshold off
    # (ZREC_MIN_GAIN_BITS, EncoderOptions.zrec_min_gain_bits: records in every plane,
    # used where they save any bits)
    out.append({"name": "wavelet-context_q8_cr_zadapt", "array": cr, "model": "wavelet-context", "quality": 8,
                "origin": "tests/data/cr_chest_u8.png, defaults (hyper-latent record on)"})
    out.append({"name": "wavelet-context_q5_ct_zadapt", "array": ct[64:192, 64:192], "model": "wavelet-context",
                "quality": 5, "origin": "tests/data/ct_abdomen_u16.png [64:192, 64:192], "
                                        "defaults (no channel pays: no record)"})
    out.append({"name": "wavelet-hyperprior_q10_cr_zadapt", "array": cr, "model": "wavelet-hyperprior", "quality": 10,
                "origin": "tests/data/cr_chest_u8.png, defaults"})
    out.append({"name": "wavelet-context_q2_us_rgb_zadapt", "array": rgb, "model": "wavelet-context", "quality": 2,
                "constants": {"ZREC_MIN_GAIN_BITS": -1e9},
                "origin": "tests/data/us_breast_rgb.png, defaults, records forced"})
    for src in out:  # the streams above predate the encoder's hyper-latent choice (zopt):
        src["zopt"] = False  # they stay as they were
    # the encoder's hyper-latent choice (zopt, the default): channels set to 0 where they
    # cost more bits than they save; the decoder reads them as any other hyper-latents
    out.append({"name": "wavelet-context_q2_cr_zopt", "array": cr, "model": "wavelet-context", "quality": 2,
                "origin": "tests/data/cr_chest_u8.png, defaults (zopt on)"})
    out.append({"name": "wavelet-context_q1_us_rgb_zopt", "array": rgb, "model": "wavelet-context", "quality": 1,
                "origin": "tests/data/us_breast_rgb.png, defaults (zopt on)"})
    for src in out:  # the streams above carry the long model segment (LMDL), as encoders
        src.setdefault("constants", {})["LONG_MODEL_SEGMENT"] = True  # before LMDS did
    # the short model segment (LMDS, SPEC 6), the default encoder: a CT crop at quality 0
    # (where 24 bytes are 7 % of the stream) and wavelet-hyperprior on the radiograph
    out.append({"name": "wavelet-context_q0_ct_lmds", "array": ct[64:192, 64:192], "model": "wavelet-context",
                "quality": 0, "origin": "tests/data/ct_abdomen_u16.png [64:192, 64:192], "
                                        "defaults (short model segment)"})
    out.append({"name": "wavelet-hyperprior_q3_cr_lmds", "array": cr, "model": "wavelet-hyperprior", "quality": 3,
                "origin": "tests/data/cr_chest_u8.png, defaults (short model segment)"})
    for src in out:  # the streams above are of stream version 1, as encoders wrote them
        src["stream_version"] = 1  # before version 2
    # stream version 2 (SPEC 1 and 6.1: varint header fields, segment lengths, tile numbers
    # and tile fields), the default encoder: the CT crop at quality 0, the MR between bars
    # in 32x32 tiles (whole-tile records beside region tiles) and the RGB ultrasound
    out.append({"name": "wavelet-context_q0_ct_v2", "array": ct[64:192, 64:192], "model": "wavelet-context",
                "quality": 0, "origin": "tests/data/ct_abdomen_u16.png [64:192, 64:192], "
                                        "defaults (stream version 2)"})
    out.append({"name": "wavelet-context_q5_mr_bars_tiles32_v2", "array": bars, "model": "wavelet-context",
                "quality": 5, "tile": 32,
                "origin": "wavelet-context_q3_mr_bars_region's image in 32x32 tiles, defaults "
                          "(stream version 2)"})
    out.append({"name": "wavelet-context_q3_us_rgb_v2", "array": rgb, "model": "wavelet-context", "quality": 3,
                "origin": "tests/data/us_breast_rgb.png, defaults (stream version 2; "
                          "restoration classes split by direction, flag 256)"})
    out.append({"name": "wavelet-context_q5_ct_restore_dir_v2", "array": ct, "model": "wavelet-context", "quality": 5,
                "origin": "tests/data/ct_abdomen_u16.png, defaults (stream version 2; "
                          "restoration classes split by direction, flag 256)"})
    for src in out:  # the streams above predate inline table biases: they stay as they were
        src["inline_biases"] = False
    # inline table biases (SPEC 6.3/6.4, flag 512): the default effort (3), where each pass
    # carries its own bias: the CT (one grey 256 x 256 tile) and the RGB ultrasound
    out.append({"name": "wavelet-context_q5_ct_inline_e3", "array": ct, "model": "wavelet-context",
                "quality": 5, "effort": 3,
                "origin": "tests/data/ct_abdomen_u16.png, effort 3 (inline table biases)"})
    out.append({"name": "wavelet-context_q4_us_rgb_inline_e3", "array": rgb, "model": "wavelet-context",
                "quality": 4, "effort": 3,
                "origin": "tests/data/us_breast_rgb.png, effort 3 (inline table biases)"})
    # wavelet-context-fast (model id 11, the default up to effort 3): the context MLP of
    # 16/8 hidden units distilled from wavelet-context's; the CT and the RGB ultrasound
    out.append({"name": "wavelet-context-fast_q6_ct_e3", "array": ct, "model": "wavelet-context-fast",
                "quality": 6, "effort": 3,
                "origin": "tests/data/ct_abdomen_u16.png, effort 3 (the default encoder)"})
    out.append({"name": "wavelet-context-fast_q4_us_rgb_e3", "array": rgb,
                "model": "wavelet-context-fast", "quality": 4, "effort": 3,
                "origin": "tests/data/us_breast_rgb.png, effort 3 (the default encoder)"})
    return out


def invalid(base: dict[str, bytes]) -> list[dict]:
    from mic.lossy import LMDL

    s = base["wavelet-context_q6_ct_u16"]
    h, _ = mic.bitstream.unpack_header(s)
    sp = forge.spans(s)
    lm = next(x for x in sp if x.tag == b"LMDL")
    tile = next(x for x in sp if x.tag == TAG_TILE)
    mid, sha, tid, nq = LMDL.unpack_from(s, lm.payload_start)
    out = []

    def with_lmdl(payload: bytes, tag: bytes = b"LMDL", **fields) -> bytes:
        b = s[:lm.start] + forge.segment(tag, payload) + s[lm.end:]
        return forge.set_header_fields(b, **fields) if fields else b

    out.append(("retired_model_id", with_lmdl(LMDL.pack(3, sha, tid, nq), model_id=3),
                "MicUnsupportedError", "model id 3 (a retired block-transform model)"))
    out.append(("unknown_model_id", with_lmdl(LMDL.pack(999, sha, tid, nq), model_id=999),
                "MicUnsupportedError", "model id 999"))
    out.append(("other_weights", with_lmdl(LMDL.pack(mid, b"\x5a" * 32, tid, nq)),
                "MicUnsupportedError", "a weights sha256 this build does not have"))
    out.append(("other_tables", with_lmdl(LMDL.pack(mid, sha, tid ^ 0x1, nq)),
                "MicUnsupportedError", "a table id that differs from the weights' tables"))
    # the short model segment (LMDS): another weights prefix, a truncated one, and a stream
    # with both forms (one model segment, exactly)
    from mic.lossy import LMDS

    out.append(("lmds_other_weights", with_lmdl(LMDS.pack(mid, b"\x5a" * 8, tid, nq), b"LMDS"),
                "MicUnsupportedError",
                "LMDS with a weights sha256 prefix this build does not have"))
    out.append(("lmds_truncated", with_lmdl(LMDS.pack(mid, sha[:8], tid, nq)[:14], b"LMDS"),
                "MicTruncatedError", "LMDS of 14 bytes (needs 15)"))
    out.append(("lmdl_and_lmds",
                s[:lm.end] + forge.segment(b"LMDS", LMDS.pack(mid, sha[:8], tid, nq))
                + s[lm.end:], "MicFormatError", "both model segments, LMDL and LMDS"))
    out.append(("quality_out_of_range", forge.set_header_fields(s, quality=nq),
                "MicFormatError", "quality = Q"))
    b = bytearray(s)
    crc_at = tile.mode_start + 1 + 5 + 4  # TILE prefix, xform, norm, ll_mean
    b[crc_at] ^= 0x01
    out.append(("symbols_crc_flip", forge.refresh_crc(b, tile), "MicChecksumError",
                "symbols_crc32 of the plane changed (segment CRC recomputed)"))
    # flags of coded planes on a whole-tile record, which has none: the means (16), the
    # dependent quantiser (64) and the hyper-latent record (128)
    from mic.lossy import TILE_HEAD, WHOLE_TILE, XFORM_DQ, XFORM_MEANS, XFORM_REGION, XFORM_ZTAB

    bars = base["wavelet-context_q2_mr_bars_tiles32"]
    whole = next(t for t in forge.spans(bars) if t.tag == TAG_TILE
                 and TILE_HEAD.unpack_from(bars, t.mode_start)[0] == XFORM_REGION
                 and struct.unpack_from("<I", bars, t.mode_start + 1 + 5 + 4)[0]
                 == WHOLE_TILE)
    for name, flag, why in (("means_on_whole_tile", XFORM_MEANS, "16 (predicted means)"),
                            ("dq_on_whole_tile", XFORM_DQ, "64 (dependent quantisation)"),
                            ("zadapt_on_whole_tile", XFORM_ZTAB, "128 (hyper-latent record)")):
        b = bytearray(bars)
        b[whole.mode_start] |= flag
        out.append((name, forge.refresh_crc(b, whole), "MicFormatError",
                    f"xform flag {why} on a whole-tile region record"))
    fact = base["wavelet-factorized_q1_ct_u16"]
    t = next(x for x in forge.spans(fact) if x.tag == TAG_TILE)
    b = bytearray(fact)
    b[t.mode_start] |= XFORM_ZTAB
    out.append(("zadapt_in_wavelet_factorized", forge.refresh_crc(b, t), "MicFormatError",
                "xform flag 128 (hyper-latent record) in a tile of wavelet-factorized, which has none"))
    # per-pass biases (flag 32) without the table-bias flag (4)
    from mic.lossy import XFORM_PASS_BIAS

    b = bytearray(s)
    b[tile.mode_start] |= XFORM_PASS_BIAS
    out.append(("pass_bias_flag_alone", forge.refresh_crc(b, tile), "MicFormatError",
                "xform flag 32 (per-pass table biases) without flag 4 (table biases)"))
    # inline table biases (flag 512) beside the per-plane table biases (flag 4)
    from mic.lossy import XFORM_BIAS

    inl = base["wavelet-context_q5_ct_inline_e3"]
    t = next(x for x in forge.spans(inl) if x.tag == TAG_TILE)
    b = bytearray(inl)
    b[t.mode_start] |= XFORM_BIAS  # the low byte of the v2 xform varint
    out.append(("inline_bias_beside_plane_biases", forge.refresh_crc(b, t), "MicFormatError",
                "xform flag 512 (inline table biases) beside flag 4 (table biases)"))
    b = bytearray(s)
    b[(tile.payload_start + tile.payload_end) // 2] ^= 0x40
    out.append(("coded_word_flip", forge.refresh_crc(b, tile), "MicFormatError",
                "a bit of the range-coder words flipped (segment CRC recomputed): the symbols "
                "CRC or the coder must refuse it (MicFormatError or MicChecksumError)"))
    return out


def encode_with(arr: np.ndarray, opts: dict, constants: dict) -> bytes:
    """``mic.encode(arr, **opts)`` with the encoder's tuned settings (choices a decoder
    never needs, such as ``PASS_BIASES``) as given: the upper-case names of
    :class:`mic.EncoderOptions` fields, as ``vectors.json`` records them.  Effort 7 (every
    tool; the encoder these vectors were made with) unless ``opts`` name another."""
    return mic.encode(arr, **{"effort": 7, **opts},
                      options=mic.EncoderOptions.from_settings(constants))


def build() -> tuple[dict[str, bytes], dict, dict]:
    reg = registry()
    files: dict[str, bytes] = {}
    vectors, base = [], {}
    sources_by_content: dict[bytes, str] = {}
    for src in sources():
        arr = src["array"]
        opts = {"quality": src["quality"], "model": src["model"]}
        for key in ("effort", "tile", "regions", "adapt", "restore", "means", "dq", "zadapt",
                    "zopt", "inline_biases", "stream_version"):
            if key in src:
                opts[key] = src[key]
        stream = encode_with(arr, opts, src.get("constants", {}))
        out = mic.decode(stream)
        base[src["name"]] = stream
        info = mic.info(stream)
        peak = float((1 << info.bits_stored) - 1)
        err = out.astype(np.float64) - arr.astype(np.float64)
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")),
                allow_pickle=False)
        # vectors of the same image share one source file, named after the first of them
        source = sources_by_content.setdefault(buf.getvalue(), f"{src['name']}.npy")
        files[f"{src['name']}.mic"] = stream
        files[source] = buf.getvalue()
        vectors.append({
            "name": src["name"], "stream": f"{src['name']}.mic", "source": source,
            "model": src["model"], "model_id": info.model_id,
            "weights_sha256": reg[src["model"]]["sha256"], "quality": src["quality"],
            "encode_options": opts, "encoder_constants": src.get("constants", {}),
            "origin": src["origin"], "shape": list(arr.shape),
            "dtype": str(arr.dtype), "symbols_crc32": plane_crcs(stream),
            "decoded_sha256": samples_sha256(out),
            "psnr_db": round(10 * np.log10(peak * peak / max(float(np.mean(err ** 2)), 1e-12)), 2),
            "max_abs_error": int(np.abs(err).max()), "bits_per_pixel":
                round(8 * len(stream) / (arr.shape[0] * arr.shape[1]), 4),
            "stream_sha256": hashlib.sha256(stream).hexdigest(), "stream_size": len(stream),
        })
    expected = {}
    for name, stream, error, why in invalid(base):
        refused_as(f"lossy/invalid/{name}", stream, error)
        files[f"invalid/{name}.mic"] = stream
        expected[name] = {"error": error, "why": why,
                          "stream_sha256": hashlib.sha256(stream).hexdigest()}
    meta = {"description": "mic lossy conformance vectors; see formats/README.md",
            "generated_by": "formats/make_lossy_vectors.py", "mic_version": mic.__version__,
            "vectors": vectors}
    return files, meta, expected


def main() -> int:
    return run_generator(__doc__, OUT, build)


if __name__ == "__main__":
    raise SystemExit(main())
