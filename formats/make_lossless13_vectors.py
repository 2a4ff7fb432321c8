#!/usr/bin/env python
"""Write the model-13 lossless conformance vectors under formats/lossless13/ (SPEC.md 5.7;
formats/README.md): some sources of ``make_vectors.py`` (``PICK``; their samples are its
``.npy`` files, ``source`` = ``../NAME.npy``) written with model id 13 (``fast_nlms=False``),
at effort 3 (kinds 0-2 with the NLMS filters) and at effort 4 where a fast plane (kind 3 or
4) wins, and invalid cases of its own.

    .venv/bin/python formats/make_lossless13_vectors.py            # rewrite them
    .venv/bin/python formats/make_lossless13_vectors.py --check    # only report what would change

``vectors.json`` gives, per vector, the fields of ``make_vectors.py``'s (shape, dtype, bits
stored, tiles, ``model_id`` 13, the sha256 of the samples and of the stream), the colour
transform and first plane kind of each tile, and the encode options.  Invalid vectors
(``invalid/``, ``expected.json`` as elsewhere): a model-13 stream relabelled model id 1 and
model id 3 (both decode without the filters, to samples that miss the sample CRC-32:
``MicChecksumError``), an ``LVOL`` segment in a model-13 stream (``MicFormatError``: no
volumes), and a truncated tile.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "lossless13"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import forge  # noqa: E402
import make_vectors as base  # noqa: E402
from make_near_vectors import first_plane_kinds, tile_xforms  # noqa: E402
from vector_files import refused_as, run_generator, samples_sha256, sha256  # noqa: E402

import mic  # noqa: E402
from mic.bitstream import TAG_TILE  # noqa: E402

#: make_vectors.py's source name -> the effort to write it at (and what it shows)
PICK = {
    "ct_abdomen_u16": 3,  # 12-bit CT crop, stream version 1 (the invalid cases edit it)
    "us_breast_rgb": 3,  # RGB through the colour transform (xform 1): three NLMS planes
    "cr_chest_u8": 4,  # 8-bit radiograph, effort 4: a fast plane (kind 3) wins
    "sparse_u16": 3,  # a palette (kind 2): the indices predicted with the filters
    "fast_sparse_u16_v2": 4,  # effort 4: the fast palette plane (kind 4) wins
    "tiled_odd_u16": 3,  # ragged 16x10 tiles, palettes and coded planes
    "bits16_u16_noise": 3,  # full 16-bit range: large residuals and weights
    "int16_full_range": 3,  # signed full range
    "thin_row_u16": 3,  # 1 x 37: only row 0's neighbours
    "thin_col_i16": 3,  # 29 x 1: only x = 0's neighbours
    "bits1_u8": 3,  # 1 bit stored
}


def build_set(pick: dict[str, int | tuple[int, dict]], model_id: int, extra: dict,
              fast_kinds: set[int], folder: str, invalid, what: str
              ) -> tuple[dict[str, bytes], dict, dict]:
    """The vectors of one lossless model: ``pick``'s sources of ``make_vectors.py`` coded at
    their efforts (or ``(effort, options)``) with the options ``extra``, each checked to be
    of ``model_id`` (and, at effort 4, to keep a plane of a kind in ``fast_kinds``), and
    ``invalid(streams)``'s cases under ``folder``/invalid."""
    files: dict[str, bytes] = {}
    vectors = []
    streams: dict[str, bytes] = {}
    for src in base.sources():
        if src["name"] not in pick:
            continue
        arr = src["array"]
        opts = {k: v for k, v in src["options"].items() if k != "effort"}
        effort, own = pick[src["name"]] if isinstance(pick[src["name"]], tuple) else (
            pick[src["name"]], {})
        opts["effort"] = effort
        opts.update(extra)
        opts.update(own)
        stream = mic.encode(arr, **opts)
        out = mic.decode(stream)
        assert out.dtype == arr.dtype and np.array_equal(out, arr), src["name"]
        i = mic.info(stream)
        assert i.mode == "lossless" and i.model_id == model_id, src["name"]
        kinds = first_plane_kinds(stream)
        if opts["effort"] == 4:
            assert set(kinds) & fast_kinds, f"{src['name']}: effort 4 should keep {fast_kinds}"
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")),
                allow_pickle=False)
        source = f"../{src['name']}.npy"
        assert (HERE / source[3:]).read_bytes() == buf.getvalue(), source
        streams[src["name"]] = stream
        files[f"{src['name']}.mic"] = stream
        vectors.append({
            "name": src["name"], "stream": f"{src['name']}.mic", "source": source,
            "shape": list(arr.shape), "dtype": str(arr.dtype), "bits_stored": i.bits_stored,
            "photometric": i.photometric, "tile_shape": list(i.tile_shape), "tiles": i.tiles,
            "model_id": i.model_id, "xforms": tile_xforms(stream), "first_plane_kinds": kinds,
            "encode_options": {k: (list(v) if isinstance(v, tuple) else v)
                               for k, v in opts.items()},
            "origin": src["origin"], "samples_sha256": samples_sha256(arr),
            "stream_sha256": sha256(stream), "stream_size": len(stream),
        })
    assert len(vectors) == len(pick)
    expected = {}
    for name, stream, error, why in invalid(streams):
        refused_as(f"{folder}/invalid/{name}", stream, error, True)
        files[f"invalid/{name}.mic"] = stream
        expected[name] = {"error": error, "exact": True, "why": why,
                          "stream_sha256": sha256(stream)}
    meta = {
        "description": f"mic lossless {what} conformance vectors; see formats/README.md",
        "generated_by": f"formats/make_{folder}_vectors.py",
        "mic_version": mic.__version__,
        "samples_sha256": "sha256 of the decoded samples, C order, little-endian",
        "vectors": vectors,
    }
    return files, meta, expected


def build() -> tuple[dict[str, bytes], dict, dict]:
    # fast_nlms=False: model id 13 (by default efforts 3-7 write model id 14, SPEC 5.8)
    return build_set(PICK, 13, {"fast_nlms": False}, {3, 4}, "lossless13", invalid_streams,
                     "model id 13 (SPEC 5.7)")


def invalid_streams(streams: dict[str, bytes]) -> list[tuple[str, bytes, str, str]]:
    ct = streams["ct_abdomen_u16"]  # stream version 1: header fields at fixed offsets
    out = [
        ("model13_read_as_model1", forge.set_header_fields(ct, model_id=1), "MicChecksumError",
         "a model-13 stream relabelled model id 1: it decodes with model 1's prediction "
         "(SPEC 5.4 without 5.7), to samples that miss the sample CRC-32"),
        ("model13_read_as_model3", forge.set_header_fields(ct, model_id=3), "MicChecksumError",
         "a model-13 stream relabelled model id 3: the same (model 3's kinds 1 and 2 are "
         "model 1's)"),
    ]
    sp = forge.spans(ct)
    lvol = ct[:sp[0].start] + forge.segment_like(ct, b"LVOL", b"\x02") + ct[sp[0].start:]
    out.append(("lvol_in_model13", lvol, "MicFormatError",
                "an LVOL segment (G = 2) in a model-13 stream: model 13 has no volumes"))
    tile = [s for s in sp if s.tag == TAG_TILE][0]
    out.append(("truncated_in_tile", ct[:(tile.start + tile.end) // 2], "MicTruncatedError",
                "the stream ends inside its TILE segment"))
    return out


if __name__ == "__main__":
    sys.exit(run_generator(__doc__, OUT, build))
