#!/usr/bin/env python
"""Write the model-14 lossless conformance vectors under formats/lossless14/ (SPEC.md 5.8;
formats/README.md): some sources of ``make_vectors.py`` (``PICK``; their samples are its
``.npy`` files, ``source`` = ``../NAME.npy``) written with model id 14, at effort 3 (kinds 0,
5 and 6: the fast planes with the NLMS filters) and at effort 7 where another kind wins
(1-2 with model 13's filters, or 3-4), and invalid cases of its own.

    .venv/bin/python formats/make_lossless14_vectors.py            # rewrite them
    .venv/bin/python formats/make_lossless14_vectors.py --check    # only report what would change

``vectors.json`` gives, per vector, the fields of ``make_vectors.py``'s (shape, dtype, bits
stored, tiles, ``model_id`` 14, the sha256 of the samples and of the stream), the colour
transform and first plane kind of each tile, and the encode options.  Invalid vectors
(``invalid/``, ``expected.json`` as elsewhere): a model-14 stream relabelled model id 13 and
model id 3 (plane kind 5 is theirs to refuse: ``MicFormatError``), an ``LVOL`` segment in
the RGB model-14 stream (``MicFormatError``: volumes are one-sample; model 14's volumes are
under formats/volume/), a kind-5 plane relabelled kind 3 (it
decodes without the filters, to samples that miss the sample CRC-32 or leave the plane's
range), and a truncated tile.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "lossless14"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import forge  # noqa: E402
from make_lossless13_vectors import build_set  # noqa: E402
from vector_files import run_generator  # noqa: E402

from mic.bitstream import TAG_TILE  # noqa: E402

#: fast_nlms=True: effort 3's own planes (kinds 0, 5, 6), which these crops, all small
#: frames, would otherwise get only beside the other coders (SPEC 5.8)
K56 = (3, {"fast_nlms": True, "priors": False})
#: make_vectors.py's source name -> the effort (and options) to write it at, and what it shows
PICK = {
    "ct_abdomen_u16": K56,  # 12-bit CT crop, stream version 1 (the invalid cases edit it)
    "us_breast_rgb": (3, {"fast_nlms": True, "colour_diff": False, "priors": False}),  # RGB
    # through xform 1 (three kind-5 planes; colour_diff=False: without it the encoder writes
    # model 15, 5.9; priors=False: without it model 16, 5.10, everywhere here)
    # 8-bit radiograph, the default: a small frame, three coders a plane
    "cr_chest_u8": (3, {"priors": False}),
    "sparse_u16": K56,  # a palette over a kind-5 body (kind 6)
    # effort 7: the smallest of kinds 1-2, 3-4, 5-6 per plane (effort 4 and the default's
    # small frames leave out kinds 1-2 beside the NLMS coder: MIXED_MODEL1_EFFORT_MIN)
    "mr_brain_u16_tiled": (7, {"priors": False}),
    "tiled_odd_u16": K56,  # ragged 16x10 tiles, palettes and coded planes
    "bits16_u16_noise": K56,  # full 16-bit range: large residuals and weights
    "int16_full_range": K56,  # signed full range
    "thin_row_u16": K56,  # 1 x 37: only row 0's neighbours
    "thin_col_i16": K56,  # 29 x 1: only x = 0's neighbours
    "bits1_u8": (3, {"priors": False}),  # 1 bit stored, a screen: coded as effort 4 codes it
}


def invalid_streams(streams: dict[str, bytes]) -> list[tuple[str, bytes, str, str]]:
    ct = streams["ct_abdomen_u16"]  # stream version 1: header fields at fixed offsets
    out = [
        ("model14_read_as_model13", forge.set_header_fields(ct, model_id=13), "MicFormatError",
         "a model-14 stream relabelled model id 13: plane kind 5 is not a kind of model 13 "
         "(SPEC 5.8)"),
        ("model14_read_as_model3", forge.set_header_fields(ct, model_id=3), "MicFormatError",
         "a model-14 stream relabelled model id 3: the same"),
    ]
    rgb = streams["us_breast_rgb"]
    sp = forge.spans(rgb)
    lvol = rgb[:sp[0].start] + forge.segment_like(rgb, b"LVOL", b"\x02") + rgb[sp[0].start:]
    out.append(("lvol_in_rgb_model14", lvol, "MicFormatError",
                "an LVOL segment (G = 2) in an RGB model-14 stream: volumes are one-sample "
                "(SPEC 5.5)"))
    sp = forge.spans(ct)
    tile = [s for s in sp if s.tag == TAG_TILE][0]
    at = tile.mode_start + 1  # the first plane's kind byte
    assert ct[at] == 5
    as3 = ct[:at] + bytes((3,)) + ct[at + 1:]
    out.append(("kind5_read_as_kind3", as3, "MicChecksumError",
                "the CT's kind-5 plane relabelled kind 3: it decodes without the filters (SPEC "
                "5.6), to samples that miss the sample CRC-32"))
    out.append(("truncated_in_tile", ct[:(tile.start + tile.end) // 2], "MicTruncatedError",
                "the stream ends inside its TILE segment"))
    return out


def build():
    return build_set(PICK, 14, {}, {1, 2, 3, 4}, "lossless14", invalid_streams,
                     "model id 14 (SPEC 5.8)")


if __name__ == "__main__":
    sys.exit(run_generator(__doc__, OUT, build))
