#!/usr/bin/env python
"""Write the model-18 lossless conformance vectors under formats/lossless18/ (SPEC.md 5.11:
model 16 whose plane kinds 5 and 6 split their token tables into bands of the sample above).

    .venv/bin/python formats/make_lossless18_vectors.py            # rewrite them
    .venv/bin/python formats/make_lossless18_vectors.py --check    # only report what would change

Valid vectors: ``lossless18/NAME.mic``, ``lossless18/NAME.npy`` (the samples it decodes to,
exactly) and an entry in ``lossless18/vectors.json``: the kind and band count of every
plane in stream order (``null`` for kinds 0-4), the encode options and the sha256 of the
stream and of the samples.  Sources: crops of the committed test images coded at the
default (a 16-bit CT crop in 8 bands, the encoder's band choice forced to 8, a signed CT crop
in 4, the RGB ultrasound with one plane in 2 bands and two in one, an MR crop below 4,096
samples, the CT in 48 x 48 tiles) and a 3-frame CT volume (SPEC 5.5 inter tiles beside
banded planes); every one with ``low=False`` (model id 20, SPEC 5.12, the default since, is
formats/lossless20/).

Invalid vectors (``lossless18/invalid/NAME.mic``, ``invalid/expected.json``): band counts 0
and 9, two equal thresholds, a threshold above ``maxval`` (``MicFormatError``); a model-18
stream relabelled model id 16 and a model-16 stream relabelled 18 (their table sections read
the other way: ``MicError``).  Deterministic: fixed crops.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "lossless18"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import forge  # noqa: E402
from vector_files import (  # noqa: E402
    InvalidCases, invalid_files, run_generator, source_files, vector_entry,
)

import mic  # noqa: E402
from mic.lossless.syntax import _read_uv  # noqa: E402

DATA = ROOT / "tests" / "data"


def _img(name: str) -> np.ndarray:
    from PIL import Image

    with Image.open(DATA / name) as im:
        return np.asarray(im)


def sources() -> list[dict]:
    ct, mr, rgb = _img("ct_abdomen_u16.png"), _img("mr_brain_u16.png"), _img("us_breast_rgb.png")
    lung = np.load(DATA / "ct_lung_i16.npy")
    vol = np.stack([ct[100 + 2 * i:164 + 2 * i, 80:144] for i in range(3)])[:, :, :48]
    return [
        {"name": "ct_bands8", "array": np.ascontiguousarray(ct[0:80, 32:112]),
         "options": {"fast_nlms": True, "low": False}, "force_bands": 8,
         "origin": "tests/data/ct_abdomen_u16.png [0:80, 32:112], the encoder's band choice "
         "forced to 8 equal runs of its bins (a valid choice; its own picks fewer here)",
         "bands": [8]},
        {"name": "lung_i16", "array": np.ascontiguousarray(lung[60:140, 60:140]),
         "options": {"low": False},
         "origin": "tests/data/ct_lung_i16.npy [60:140, 60:140] (signed)",
         "bands": [4]},
        {"name": "us_rgb_bands2", "array": np.ascontiguousarray(rgb[32:112, 32:112]),
         "options": {"low": False}, "origin": "tests/data/us_breast_rgb.png [32:112, 32:112]",
         "bands": [2, 1]},
        {"name": "mr_small", "array": np.ascontiguousarray(mr[40:72, 40:104]),
         "options": {"low": False},
         "origin": "tests/data/mr_brain_u16.png [40:72, 40:104] (2,048 "
         "samples: one band)", "bands": [1]},
        {"name": "ct_tiled", "array": np.ascontiguousarray(ct[0:96, 0:96]),
         "options": {"tile": 48, "low": False, "effort": 7},
         "origin": "tests/data/ct_abdomen_u16.png [0:96, 0:96], "
         "tiles 48 x 48 (2,304 samples each: one band)", "bands": []},
        {"name": "ct_volume", "array": vol, "options": {"volume_group": 3, "low": False},
         "origin": "tests/data/ct_abdomen_u16.png [100+2i:164+2i, 80:128], i = 0, 1, 2, "
         "one group of 3 frames", "bands": []},
    ]


def planes(stream: bytes) -> list[dict]:
    """Every plane of every tile: kind, band count, where its band count lies and its
    thresholds (kinds 5 and 6)."""
    out = []
    for sp, kind, ph, p in forge.fast_planes(stream, 4):
        entry: dict = {"kind": kind, "bands": None, "at": p, "span": sp, "maxval": ph.maxval}
        if p is not None:
            entry["bands"] = nb = stream[p]
            th, q = [], p + 1
            for _ in range(nb - 1):
                v, q2 = _read_uv(stream, q)
                th.append((v, q, q2))
                q = q2
            entry["thresholds"] = th
        out.append(entry)
    return out


def invalid_streams(base: dict[str, bytes]) -> list[dict]:
    out = InvalidCases()
    add = out.add

    s = base["ct_bands8"]
    p = planes(s)[0]
    add("bands_0", forge.edit_segment(s, p["span"], p["at"], b"\x00"), "MicFormatError",
        "a band count of 0 (1..8, SPEC 5.11)")
    add("bands_9", forge.edit_segment(s, p["span"], p["at"], b"\x09"), "MicFormatError",
        "a band count of 9 (1..8, SPEC 5.11)")
    th = p["thresholds"]
    i = next(i for i in range(len(th) - 1) if th[i][2] - th[i][1] == th[i + 1][2] - th[i + 1][1])
    (t1, a1, e1), (t2, a2, e2) = th[i], th[i + 1]
    add("thresholds_equal", forge.edit_segment(s, p["span"], a2, s[a1:e1]), "MicFormatError",
        f"threshold {i + 2}, {t2}, made equal to threshold {i + 1}, {t1} (they must "
        "increase, SPEC 5.11)")
    tl, al, el = p["thresholds"][-1]
    big = forge.uvarint(p["maxval"] + 1)
    assert len(big) == el - al, "maxval + 1 as long as the last threshold"
    add("threshold_above_maxval", forge.edit_segment(s, p["span"], al, big), "MicFormatError",
        f"the last threshold {tl} made maxval + 1 = {p['maxval'] + 1} (at most maxval, "
        "SPEC 5.11)")
    add("model18_read_as_16", forge.set_header_fields(base["ct_bands8"], model_id=16),
        "MicError", "a model-18 stream relabelled model id 16: its band count and thresholds "
        "are read as model 16's table count and class map (SPEC 5.10, 5.11)", exact=False)
    add("model16_read_as_18", forge.set_header_fields(base["model16"], model_id=18),
        "MicError", "a model-16 stream relabelled model id 18: its table count is read as a "
        "band count and its class map as thresholds (SPEC 5.11)", exact=False)
    return out


@contextlib.contextmanager
def _forced(nb: int) -> Iterator[None]:
    """The encoder's band choice (mic.lossless.encoder_bands.choose_bands) made ``nb`` equal
    runs of the fine bins, whatever they cost."""
    from mic.lossless import encoder_bands as EB

    real = EB.choose_bands

    def forced(hist, edges, builtin):
        return EB.split_at(edges, EB.equal_runs(len(edges) + 1, nb))

    EB.choose_bands = forced
    try:
        yield
    finally:
        EB.choose_bands = real


def build() -> tuple[dict[str, bytes], dict, dict]:
    files: dict[str, bytes] = {}
    vectors, base = [], {}
    for src in sources():
        arr = src["array"]
        if "force_bands" in src:
            with _forced(src["force_bands"]):
                stream = mic.encode(arr, **src["options"])
        else:
            stream = mic.encode(arr, **src["options"])
        assert np.array_equal(mic.decode(stream), arr), src["name"]
        assert mic.info(stream).model_id == 18, src["name"]
        pl = planes(stream)
        bands = [p["bands"] for p in pl if p["bands"] is not None]
        assert all(b in bands for b in src["bands"]), (src["name"], bands)
        base[src["name"]] = stream
        source_files(files, src["name"], stream, arr)
        vectors.append(vector_entry(src, stream, 18,
                                    planes=[[p["kind"], p["bands"]] for p in pl]))
    base["model16"] = mic.encode(mic.decode(base["ct_bands8"]), bands=False, fast_nlms=True)
    expected = invalid_files("lossless18", invalid_streams(base), files)
    return files, {"spec": "SPEC.md 5.11", "vectors": vectors}, expected


if __name__ == "__main__":
    sys.exit(run_generator(__doc__, OUT, build))
