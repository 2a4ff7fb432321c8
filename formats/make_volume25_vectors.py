#!/usr/bin/env python
"""Write the conformance vectors of lossless model id 25 under formats/volume25/ (SPEC 5.15:
volume tiles of xform 7, a kind-5 plane whose NLMS filters take the previous frame's
prediction ``P5``).

    .venv/bin/python formats/make_volume25_vectors.py            # rewrite them
    .venv/bin/python formats/make_volume25_vectors.py --check    # only report what would change

Valid vectors: ``volume25/NAME.mic`` (a model-25 volume), ``volume25/NAME.npy`` (the samples
it decodes to, exactly) and an entry in ``volume25/vectors.json``: the group size, the xform
of every tile in stream order, the encode options and the sha256 of the stream and of the
samples.  One vector is forged from an encoded stream: a constant tile of a frame after a
group's first rewritten as an xform-7 tile with its constant plane (kind 0), which decodes to
the same samples.

Invalid vectors: ``volume25/invalid/NAME.mic`` and ``volume25/invalid/expected.json`` (the
MicError each must raise and why): xform 7 under model id 22 and without ``LVOL``, on a
group's first frame, with a plane of kind 1 or 6, with a byte after its plane, and a flipped
bit in its coded data.  Every CRC a case is not about is recomputed (``forge.py``).
Deterministic: fixed crops of ``tests/data/`` (``make_volume_vectors.ct_slices``) and fixed
seeds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "volume25"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import forge  # noqa: E402
from make_volume_vectors import ct_slices, xforms  # noqa: E402
from vector_files import (  # noqa: E402
    InvalidCases, invalid_files, run_generator, source_files, vector_entry,
)

import mic  # noqa: E402
from mic.bitstream import TAG_TILE  # noqa: E402
from mic.lossless.syntax import (  # noqa: E402
    FAST_LMS_INTER_MODEL_ID, PLANE_CONST, TAG_VOL, XFORM_INTER_FAST, plane_head,
)


def with_constant_frame() -> np.ndarray:
    """The CT slices with a fifth frame of one value after them (a constant tile)."""
    a = ct_slices()
    return np.concatenate([a, np.full((1,) + a.shape[1:], 1234, a.dtype)])


def sources() -> list[dict]:
    return [
        {"name": "ct_slices_g4", "array": ct_slices(), "options": {"volume_group": 4},
         "origin": "tests/data/ct_abdomen_u16.png [120:168, 200:256] + f ramp + noise, 4 "
                   "frames (formats/make_volume_vectors.py's ct_slices): every frame after "
                   "the first is xform 7"},
        {"name": "ct_slices_g4_v1", "array": ct_slices(),
         "options": {"volume_group": 4, "stream_version": 1},
         "origin": "the same frames, stream version 1"},
        {"name": "ct_slices_g2_tiled40", "array": ct_slices(),
         "options": {"volume_group": 2, "tile": 40},
         "origin": "the same frames in groups of 2 and tiles of 40 x 40: tiles of xform 0, "
                   "4 and 7 in one stream"},
    ]


def tiles(stream: bytes) -> list:
    return [sp for sp in forge.spans(stream) if sp.tag == TAG_TILE]


def constant_inter(stream: bytes) -> bytes:
    """``stream`` (a volume whose last frame is constant, coded as an xform-0 constant tile)
    with that tile rewritten as xform 7 over the same constant plane (SPEC 5.15 allows kind
    0 there)."""
    payloads = [bytes(stream[sp.mode_start:sp.payload_end]) for sp in tiles(stream)]
    last = payloads[-1]
    assert last[0] == 0 and last[1] == PLANE_CONST, "the last frame should be a constant tile"
    payloads[-1] = bytes((XFORM_INTER_FAST,)) + last[1:]
    return forge.regrid(stream, payload=payloads)


def relabel(stream: bytes, model_id: int) -> bytes:
    """``stream`` (either major version) with its header's model id replaced, the header
    re-serialised (its CRC recomputed) and the rest kept byte for byte."""
    from dataclasses import replace

    from mic.bitstream.schema import pack_header, unpack_header

    h, end = unpack_header(stream)
    return pack_header(replace(h, model_id=model_id)) + bytes(stream[end:])


def invalid_streams(base: dict[str, bytes]) -> InvalidCases:
    out = InvalidCases()
    add = out.add
    s = base["ct_slices_g4"]
    sps = tiles(s)
    inter = [sp for sp in sps if s[sp.mode_start] == XFORM_INTER_FAST]
    assert len(inter) == 3, "frames 1-3 of the CT vector should be xform 7"
    payloads = [bytes(s[sp.mode_start:sp.payload_end]) for sp in sps]
    add("model25_read_as_22", relabel(s, 22), "MicFormatError",
        "a model-25 volume relabelled model id 22, which has no xform 7 (SPEC 5.15)")
    sp = forge.spans(s)
    body = b"".join(s[x.start:x.end] for x in sp if x.tag != TAG_VOL)
    add("xform7_without_lvol", s[:sp[0].start] + body, "MicFormatError",
        "the LVOL segment removed: xform 7 needs a volume (SPEC 5.15)")
    regrouped = s[:sp[0].start] + forge.segment_like(s, TAG_VOL, b"\x02") + b"".join(
        s[x.start:x.end] for x in sp if x.tag != TAG_VOL)
    add("xform7_on_group_start", regrouped, "MicFormatError",
        "LVOL G = 2 over tiles coded with G = 4: frame 2's xform-7 tile starts a group")
    first = inter[0]
    for kind, why in ((1, "kind 1 (model 1's coded plane)"), (6, "kind 6 (a palette)")):
        add(f"xform7_plane_kind{kind}",
            forge.edit_segment(s, first, first.mode_start + 1, kind), "MicFormatError",
            f"frame 1's xform-7 plane relabelled {why}: only kinds 0 and 5 (SPEC 5.15)")
    longer = list(payloads)
    longer[1] = payloads[1] + b"\x00"
    add("xform7_trailing_byte", forge.regrid(s, payload=longer), "MicFormatError",
        "a byte after frame 1's xform-7 plane")
    const = base["constant_inter_tile"]
    cut = [bytes(const[x.mode_start:x.payload_end]) for x in tiles(const)]
    cut[-1] = cut[-1] + b"\x00"
    add("xform7_constant_trailing_byte", forge.regrid(const, payload=cut), "MicFormatError",
        "a byte after the constant plane of an xform-7 tile")
    flip = bytearray(s)
    flip[first.payload_end - 6] ^= 0x10
    add("xform7_bit_flip", forge.refresh_crc(flip, first), "MicError",
        "one bit of frame 1's coded data flipped, its segment CRC fixed up", exact=False)
    return out


def build() -> tuple[dict[str, bytes], dict, dict]:
    files: dict[str, bytes] = {}
    vectors, base = [], {}
    for src in sources():
        arr = src["array"]
        stream = mic.encode(arr, **src["options"])
        assert (mic.decode(stream) == arr).all()
        assert mic.info(stream).model_id == FAST_LMS_INTER_MODEL_ID, src["name"]
        assert XFORM_INTER_FAST in xforms(stream), src["name"]
        base[src["name"]] = stream
        entry = vector_entry(src, stream, FAST_LMS_INTER_MODEL_ID,
                             group=src["options"]["volume_group"], xforms=xforms(stream))
        if vectors:  # the same frames as the first: one .npy
            files[src["name"] + ".mic"] = stream
            entry["source"] = vectors[0]["source"]
        else:
            source_files(files, src["name"], stream, arr)
        vectors.append(entry)
    arr = with_constant_frame()
    src = {"name": "constant_inter_tile", "array": arr, "options": {"volume_group": 8},
           "origin": "the CT slices and a fifth frame of 1234; its constant tile rewritten "
                     "as xform 7 with kind 0 (forged, SPEC 5.15)"}
    stream = constant_inter(mic.encode(arr, **src["options"]))
    assert (mic.decode(stream) == arr).all() and mic.info(stream).model_id == 25
    assert plane_head(PLANE_CONST, 1234) in stream
    base[src["name"]] = stream
    source_files(files, src["name"], stream, arr)
    vectors.append(vector_entry(src, stream, FAST_LMS_INTER_MODEL_ID, group=8,
                                xforms=xforms(stream)))
    expected = invalid_files("volume25", invalid_streams(base), files)
    return files, {"spec": "SPEC.md 5.15", "vectors": vectors}, expected


if __name__ == "__main__":
    sys.exit(run_generator(__doc__, OUT, build))
