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

__all__ = ["RESULT_FIELDS", "measure_point", "run_points"]

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
               skips: list[dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """Measure every codec point on every image; return one dict per point (see RESULT_FIELDS).

    ``peak_bits``: ``"stored"`` (2^bits_stored - 1, the default) or ``"eff"``.
    ``progress`` is called with the number of finished (image, codec) pairs.
    Codecs that refuse an image are appended to ``skips`` with the reason.
    """
    rows: list[dict[str, Any]] = []
    warmed: set[tuple[str, str, int]] = set()
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
