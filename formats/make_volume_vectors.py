#!/usr/bin/env python
"""Write the lossless volume conformance vectors under formats/volume/ (SPEC 5.5).

    .venv/bin/python formats/make_volume_vectors.py            # rewrite them
    .venv/bin/python formats/make_volume_vectors.py --check    # only report what would change

Valid vectors: ``volume/NAME.mic`` (a stream with an ``LVOL`` segment and inter-frame tiles,
xform 4), ``volume/NAME.npy`` (the samples it decodes to, exactly) and an entry in
``volume/vectors.json``: the group size, the xform of every tile in stream order, the
encode options and the sha256 of the stream and of the samples.

Invalid vectors: ``volume/invalid/NAME.mic`` and ``volume/invalid/expected.json`` (the
MicError each must raise and why): an inter tile on a group's first frame, bad ``LVOL``
payloads (G = 0, 1, too large, trailing byte, twice), an inter tile without ``LVOL``,
``LVOL`` in a near-lossless stream, a flipped bit of an inter tile.  Every CRC a case is
not about is recomputed (``forge.py``).  Deterministic: fixed crops of ``tests/data/`` and
fixed seeds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "volume"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import forge  # noqa: E402
from vector_files import InvalidCases, run_generator, samples_sha256, sha256  # noqa: E402

import mic  # noqa: E402
from mic.bitstream import TAG_TILE  # noqa: E402
from mic.lossless.syntax import TAG_VOL, XFORM_INTER  # noqa: E402

DATA = ROOT / "tests" / "data"




def ct_slices() -> np.ndarray:
    """Four 48 x 56 'slices' of the committed CT: one crop with a slow ramp added per frame
    and a small fixed noise (as consecutive thin slices)."""
    from PIL import Image

    with Image.open(DATA / "ct_abdomen_u16.png") as im:
        ct = np.asarray(im).astype(np.int32)
    rng = np.random.default_rng(20261205)
    ramp = np.add.outer(np.arange(48), np.arange(56)) // 8
    fr = [ct[120:168, 200:256] + f * ramp + rng.integers(-1, 2, (48, 56)) for f in range(4)]
    return np.clip(np.stack(fr), 0, 4095).astype(np.uint16)


def smooth_volume() -> np.ndarray:
    yy, xx = np.mgrid[:24, :30]
    return np.stack([(200 + 60 * np.sin(xx / 5 + f / 3) + 40 * np.cos(yy / 4 - f / 5)
                      ).astype(np.int16) - 150 for f in range(5)])


def sources() -> list[dict]:
    # model id 1 (nlms=False, as these were first written), then model id 14 (SPEC 5.8,
    # what volume_group writes by default since 2026-12-06: intra tiles of kinds 0-6)
    return [
        {"name": "ct_slices_g4", "array": ct_slices(),
         "options": {"volume_group": 4, "nlms": False},
         "origin": "tests/data/ct_abdomen_u16.png [120:168, 200:256] + f ramp + noise, 4 frames"},
        {"name": "ct_slices_g2_tiled_v1", "array": ct_slices(),
         "options": {"volume_group": 2, "tile": 24, "stream_version": 1, "nlms": False},
         "origin": "the same 4 frames, groups of 2, tiles 24x24, stream version 1"},
        {"name": "smooth_i16_g8", "array": smooth_volume(),
         "options": {"volume_group": 8, "nlms": False},
         "origin": "synthetic smooth signed volume, 5 frames 24x30"},
        {"name": "ct_slices_g4_model14", "array": ct_slices(),
         "options": {"volume_group": 4, "priors": False},
         "origin": "the CT's 4 frames, model id 14 (intra kind 5, inter xform 4)",
         "source": "ct_slices_g4.npy"},
        {"name": "smooth_i16_g2_model14_e4", "array": smooth_volume(),
         "options": {"volume_group": 2, "effort": 4, "priors": False},
         "origin": "the smooth signed volume, groups of 2, model id 14 at effort 4",
         "source": "smooth_i16_g8.npy"},
    ]


def xforms(stream: bytes) -> list[int]:
    return [stream[sp.mode_start] for sp in forge.spans(stream) if sp.tag == TAG_TILE]


def _rebuild(stream: bytes, keep, extra: list[tuple[bytes, bytes]] = ()) -> bytes:
    """``stream`` keeping the segments ``keep(span)`` accepts, ``extra`` (tag, payload)
    segments first."""
    sp = forge.spans(stream)
    body = b"".join(stream[s.start:s.end] for s in sp if keep(s))
    segs = b"".join(forge.segment_like(stream, t, p) for t, p in extra)
    return stream[:sp[0].start] + segs + body


def invalid_streams(base: dict[str, bytes]) -> list[dict]:
    out = InvalidCases()
    add = out.add

    s = base["ct_slices_g4"]
    tiles = [sp for sp in forge.spans(s) if sp.tag == TAG_TILE]
    inter = [sp for sp in tiles if s[sp.mode_start] == XFORM_INTER]
    assert inter, "the CT vector should hold inter tiles"
    not_vol = lambda sp: sp.tag != TAG_VOL  # noqa: E731
    for name, payload, why in (
            ("group_zero", b"\x00", "LVOL G = 0"), ("group_one", b"\x01", "LVOL G = 1"),
            ("group_too_large", forge.uvarint((1 << 16) + 1), "LVOL G = 65537"),
            ("group_trailing_byte", b"\x04\x00", "LVOL payload with a byte after its varint"),
            ("group_empty", b"", "empty LVOL payload")):
        add(name, _rebuild(s, not_vol, [(TAG_VOL, payload)]), "MicFormatError", why)
    add("group_twice", _rebuild(s, not_vol, [(TAG_VOL, b"\x04"), (TAG_VOL, b"\x04")]),
        "MicFormatError", "two LVOL segments")
    add("inter_without_lvol", _rebuild(s, not_vol), "MicFormatError",
        "an xform-4 tile in a stream without LVOL")
    # G = 4 -> 2: frame 2, an inter tile, becomes the first frame of group 1
    f2 = [sp for sp in inter if forge.uvarint_at(s, sp.payload_start)[0] == 2]
    assert f2, "frame 2 of the CT vector should be inter"
    add("inter_on_group_start", _rebuild(s, not_vol, [(TAG_VOL, b"\x02")]), "MicFormatError",
        "LVOL G = 2 over tiles coded with G = 4: frame 2's inter tile starts a group")
    ff = bytearray(s)
    first = inter[0]
    ff[first.payload_end - 6] ^= 0x08
    add("inter_tile_bit_flip", forge.refresh_crc(ff, first), "MicError",
        "one bit of an inter tile flipped, its segment CRC fixed up", exact=False)
    near = mic.encode(ct_slices(), max_error=1, effort=2,
                      fast_nlms=False)  # as first written (model id 2)
    add("lvol_in_near_lossless", _rebuild(near, lambda sp: True, [(TAG_VOL, b"\x04")]),
        "MicFormatError", "an LVOL segment in a mode-2 stream")
    m14 = base["ct_slices_g4_model14"]
    add("model14_volume_read_as_model13", forge.set_header_fields(m14, model_id=13),
        "MicFormatError", "a model-14 volume relabelled model id 13, which has no volumes")
    return out


def build() -> tuple[dict[str, bytes], dict, dict]:
    files: dict[str, bytes] = {}
    vectors, base = [], {}
    for src in sources():
        arr = src["array"]
        stream = mic.encode(arr, **src["options"])
        assert (mic.decode(stream) == arr).all()
        want = 1 if src["options"].get("nlms") is False else 14
        assert mic.info(stream).model_id == want, src["name"]
        base[src["name"]] = stream
        import io

        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        files[src["name"] + ".mic"] = stream
        source = src.get("source", src["name"] + ".npy")  # the same samples: one .npy
        assert files.setdefault(source, buf.getvalue()) == buf.getvalue(), source
        vectors.append({"name": src["name"], "stream": src["name"] + ".mic",
                        "source": source, "origin": src["origin"],
                        "encode_options": src["options"], "dtype": str(arr.dtype),
                        "shape": list(arr.shape), "group": src["options"]["volume_group"],
                        "model_id": mic.info(stream).model_id,
                        "xforms": xforms(stream), "stream_sha256": sha256(stream),
                        "samples_sha256": samples_sha256(arr)})
    expected = {}
    for case in invalid_streams(base):
        files["invalid/" + case["name"] + ".mic"] = case["stream"]
        expected[case["name"]] = {"error": case["error"], "exact": case["exact"],
                                  "why": case["why"]}
    return files, {"spec": "SPEC.md 5.5", "vectors": vectors}, expected


def main() -> int:
    return run_generator(__doc__, OUT, build)


if __name__ == "__main__":
    sys.exit(main())
