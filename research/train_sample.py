"""Shared by the analysis/tuning scripts of research/: a fixed sample of a corpus split and
a rate-PSNR point.  Not a test module (pytest collects only ``test_*.py``)."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from mic.eval.metrics import mse
from mic.io import read_image


def sample_images(split: Path, *, per_source: int = 1, max_side: int = 1024,
                  sources: Sequence[str] | None = None) -> Iterator[tuple[dict, np.ndarray, int]]:
    """(manifest row, image, bits stored) for the middle ``per_source`` images of each
    source under the split folder ``split`` (manifest in it or its parent), sorted by source
    (or in the order of ``sources``); first channel only, cropped to ``max_side``."""
    man = split / "manifest.csv"
    man = man if man.is_file() else split.parent / "manifest.csv"
    rows = [r for r in csv.DictReader(open(man, newline=""))
            if (man.parent / r["png"]).resolve().is_relative_to(split.resolve())]
    by_src: dict[str, list[dict]] = {}
    for r in rows:
        by_src.setdefault(r["source"], []).append(r)
    for src in (sources if sources is not None else sorted(by_src)):
        rs = by_src.get(src, [])
        for r in rs[len(rs) // 2:len(rs) // 2 + per_source]:
            a, _ = read_image(man.parent / r["png"])
            if a.ndim == 3:
                a = a[..., 0]
            yield r, np.ascontiguousarray(a[:max_side, :max_side]), int(r["bits_stored"])


def top8(a: np.ndarray) -> np.ndarray:
    """A grey plane of unsigned stored values reduced to its top 8 bits, as ``mic bench
    --bits8`` codes it (:func:`mic.eval.data.top8`), uint8."""
    from mic.eval.data import make_image
    from mic.eval.data import top8 as bench_top8

    return bench_top8(make_image(np.ascontiguousarray(a), name="research")).native


def rate_psnr(nbits: float, a: np.ndarray, decoded: np.ndarray, bits: int) -> tuple[float, float]:
    """(bits per pixel, PSNR dB at peak 2^bits - 1; MSE floored at 1e-9 so BD stays finite)."""
    m = max(mse(a, decoded), 1e-9)
    return nbits / a.size, 10 * math.log10((2 ** bits - 1) ** 2 / m)


def rd_curve(a: np.ndarray, bits: int, qualities: Sequence[int],
             **options: object) -> list[tuple[float, float]]:
    """(bits per pixel, PSNR) of ``mic.encode(a, quality=q, bits_stored=bits, **options)``
    decoded, for each quality ``q``."""
    import mic

    return [rate_psnr(8 * len(b), a, mic.decode(b), bits) for b in
            (mic.encode(a, quality=q, bits_stored=bits, **options) for q in qualities)]
