"""Run codecs over images and measure every point (rate, distortion, speed).

>>> import numpy as np
>>> from mic.eval.data import make_image
>>> from mic.eval.runner import run_points
>>> im = make_image((np.arange(64 * 64) % 200).reshape(64, 64).astype(np.uint8), name="ramp")
>>> from mic.eval.codecs import all_codecs
>>> png = [c for c in all_codecs(with_lossy_models=False)[0] if c.name == "png"]
>>> rows = run_points([im], png, quick=True, warmup=False)
>>> rows[0]["codec"], rows[0]["exact"], rows[0]["psnr"]
('png', True, inf)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .codecs import Codec, Point
from .data import BenchImage, make_image
from .metrics import (
    bits_per_pixel,
    compression_ratio,
    max_abs_error,
    megapixels_per_second,
    psnr,
    ssim_ms_ssim,
)

__all__ = ["RESULT_FIELDS", "image_spec", "load_spec", "measure_image", "measure_point",
           "run_points"]

#: Columns of every result row, in CSV order.
RESULT_FIELDS = (
    "image", "modality", "source", "rows", "cols", "samples", "dtype", "bits", "eff_bits", "offset",
    "codec", "mode", "knob", "bytes", "bpp", "cr", "psnr", "psnr_eff", "ssim", "ms_ssim",
    "max_abs_err", "exact", "enc_ms", "dec_ms", "enc_mps", "dec_mps", "error",
)


def _base_row(im: BenchImage, codec: str, mode: str, knob: str) -> dict[str, Any]:
    return {
        "image": im.name, "modality": im.modality, "source": im.source, "rows": im.rows,
        "cols": im.cols, "samples": im.samples, "dtype": str(im.native.dtype), "bits": im.bits,
        "eff_bits": im.eff_bits, "offset": im.offset, "codec": codec, "mode": mode, "knob": knob,
        "bytes": None, "bpp": None, "cr": None, "psnr": None, "psnr_eff": None, "ssim": None,
        "ms_ssim": None, "max_abs_err": None, "exact": None, "enc_ms": None, "dec_ms": None,
        "enc_mps": None, "dec_mps": None, "error": "",
    }


def measure_point(im: BenchImage, p: Point, *, peak_bits: int | None = None,
                  metrics: bool = True) -> dict[str, Any]:
    """Encode and decode once, time both, and compute every metric for one point.

    ``peak_bits`` (default ``im.bits``) sets the PSNR/SSIM peak ``2**peak_bits - 1``;
    ``psnr_eff`` always uses ``2**eff_bits - 1``.
    """
    row = _base_row(im, p.codec, p.mode, p.knob)
    pb = im.bits if peak_bits is None else peak_bits
    try:
        t0 = time.perf_counter()
        blob = p.encode()
        t1 = time.perf_counter()
        out = np.asarray(p.decode(blob))
        t2 = time.perf_counter()
    except Exception as exc:  # noqa: BLE001 - a failing codec is a result, not a crash
        row["error"] = f"{type(exc).__name__}: {exc}"[:300]
        return row
    ref = p.reference
    if out.shape != ref.shape:
        row["error"] = f"decoded shape {out.shape} != {ref.shape}"
        return row
    n = len(blob)
    row.update(bytes=n, bpp=bits_per_pixel(n, im.rows, im.cols), cr=compression_ratio(im.stored_bytes, n),
               enc_ms=1e3 * (t1 - t0), dec_ms=1e3 * (t2 - t1),
               enc_mps=megapixels_per_second(im.pixels, t1 - t0),
               dec_mps=megapixels_per_second(im.pixels, t2 - t1))
    err = max_abs_error(ref, out)
    row["max_abs_err"] = err
    row["exact"] = err == 0
    if err == 0:
        row.update(psnr=math.inf, psnr_eff=math.inf, ssim=1.0, ms_ssim=1.0)
    elif metrics:
        s, ms = ssim_ms_ssim(ref, out, bits=pb)
        row.update(psnr=psnr(ref, out, bits=pb), psnr_eff=psnr(ref, out, bits=im.eff_bits),
                   ssim=s, ms_ssim=ms)
    if p.mode == "lossless" and err != 0:
        row["error"] = f"lossless point is not exact (max abs error {err})"
    if p.max_error is not None and err > p.max_error:
        row["error"] = f"max abs error {err} exceeds the point's bound {p.max_error}"
    return row


def _warm(im: BenchImage, codec: Codec, quick: bool) -> None:
    """Run a codec once on a small crop so JIT compilation / model loading is not timed."""
    h, w = min(64, im.rows), min(64, im.cols)
    crop = make_image(im.stored[:h, :w], name="warm", bits=im.bits, eff_bits=im.eff_bits,
                      offset=im.offset)
    try:
        pts = codec.points(crop, quick)
        if isinstance(pts, list):
            for p in pts[:2]:
                p.decode(p.encode())
    except Exception:  # noqa: BLE001 - the real run reports errors
        pass


def run_points(images: Iterable[BenchImage], codecs: list[Codec], *, quick: bool = False,
               peak_bits: str = "stored", warmup: bool = True,
               progress: Callable[[int], None] | None = None,
               skips: list[dict[str, str]] | None = None,
               warmed: set[tuple[str, str, int]] | None = None) -> list[dict[str, Any]]:
    """Measure every codec point on every image; return one dict per point (see RESULT_FIELDS).

    ``peak_bits``: ``"stored"`` (2^bits_stored - 1, the default) or ``"eff"``.
    ``progress`` is called with the number of finished (image, codec) pairs.
    Codecs that refuse an image are appended to ``skips`` with the reason.
    ``warmed``: the (codec, dtype, samples) already warmed up in this process.
    """
    rows: list[dict[str, Any]] = []
    warmed = set() if warmed is None else warmed
    for im in images:
        pb = im.bits if peak_bits == "stored" else im.eff_bits
        for c in codecs:
            key = (c.name, str(im.native.dtype), im.samples)
            if warmup and key not in warmed:
                _warm(im, c, quick)
                warmed.add(key)
            try:
                pts = c.points(im, quick)
            except Exception as exc:  # noqa: BLE001
                pts = f"{type(exc).__name__}: {exc}"
            if isinstance(pts, str):
                if skips is not None:
                    skips.append({"image": im.name, "modality": im.modality, "codec": c.name,
                                  "reason": pts})
            else:
                for p in pts:
                    rows.append(measure_point(im, p, peak_bits=pb))
            if progress is not None:
                progress(1)
    return rows


# ----------------------------------------------------------------------------- batch jobs
#: what this process has warmed up (a worker measures many images, warming each kind once)
_WARMED: set[tuple[str, str, int]] = set()


def image_spec(im: BenchImage) -> dict[str, Any]:
    """What a worker needs to load ``im`` again from its file: names and numbers, no
    samples (a :mod:`mic.batch` job carries no image data)."""
    if "top8_of" in im.meta:  # reduced to 8 bits (mic bench --bits8): the original's spec
        return {**image_spec(im.meta["top8_of"]), "top8": True}
    frame = None
    if "#" in im.name:
        tail = im.name.rsplit("#", 1)[1]
        frame = int(tail) if tail.isdigit() else None
    return {"path": im.path, "frame": frame, "name": im.name, "modality": im.modality,
            "bits": im.bits, "eff_bits": im.eff_bits, "offset": im.offset, "source": im.source}


def load_spec(spec: dict[str, Any]) -> BenchImage:
    """The image of :func:`image_spec`, read from its file (the same samples and facts).

    >>> import numpy as np, tempfile, os
    >>> from mic.io import write_image
    >>> p = os.path.join(tempfile.mkdtemp(), "a.png")
    >>> _ = write_image(p, (np.arange(64 * 64) % 4000).reshape(64, 64).astype(np.uint16))
    >>> from mic.eval.data import load_images
    >>> im = load_images(os.path.dirname(p))[0]
    >>> again = load_spec(image_spec(im))
    >>> bool((again.native == im.native).all()), again.bits == im.bits, again.name
    (True, True, 'a')
    """
    from .data import read_image, top8

    if spec.get("top8"):
        return top8(load_spec({k: v for k, v in spec.items() if k != "top8"}))
    arr, _ = read_image(spec["path"])
    arr = np.asarray(arr)
    if spec["frame"] is not None:
        arr = arr[spec["frame"]]
    # the offset of a manifest's uint16 samples; signed samples carry their own
    offset = 0 if arr.dtype.kind == "i" else int(spec["offset"])
    return make_image(arr, name=spec["name"], modality=spec["modality"], bits=spec["bits"],
                      eff_bits=spec["eff_bits"], offset=offset, source=spec["source"],
                      path=spec["path"])


def measure_image(spec: dict[str, Any], codec_names: list[str], quick: bool, peak: str,
                  with_lossy_models: bool) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The per-image work of ``mic bench`` as one batch job (run where the job runs): load
    the image, measure every point of the named codecs; (rows, skips)."""
    from .codecs import all_codecs

    import re

    im = load_spec(spec)
    efforts = sorted({int(m.group(1)) for n in codec_names
                      if (m := re.fullmatch(r"mic-.+-e(\d+)", n))})
    codecs = [c for c in all_codecs(with_lossy_models=with_lossy_models, efforts=efforts)[0]
              if c.name in codec_names]
    skips: list[dict[str, str]] = []
    rows = run_points([im], codecs, quick=quick, peak_bits=peak, skips=skips, warmed=_WARMED)
    return rows, skips
