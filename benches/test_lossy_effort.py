"""Lossy encode and decode speed of mic at each effort beside OpenJPEG (JPEG 2000), OpenJPH
(HTJ2K) and libjxl (JPEG XL e7) at the same PSNR, one thread, in the same run
(pytest-benchmark; ``make bench``).  ``benches/speed_table.py`` turns the JSON report into a
table with each time as a multiple of OpenJPEG's.

The anchors are matched to mic at effort 3 (the default), quality 6: JPEG 2000 by its PSNR
target, HTJ2K and JPEG XL by a bisection of their step / distance (done once, untimed).
Each benchmark checks its result: a decode must give the image's shape, and a matched
anchor must land within 0.3 dB of mic's PSNR.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import mic

imagecodecs = pytest.importorskip("imagecodecs")
pytest.importorskip("pytest_benchmark")

QUALITY = 6
EFFORTS = (1, 3, 5, 7)
BITS = 12  # the bundled CT slice


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10 * np.log10(((1 << BITS) - 1) ** 2 / mse)


def _rounds(img: np.ndarray, effort: int = 1) -> int:
    if img.size >= 2048 * 2048:
        return 1 if effort >= 5 else 3
    return 3 if effort >= 5 else 7


def _run(benchmark, fn, rounds: int):
    return benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)


def _skip_slow(img: np.ndarray, effort: int) -> None:
    if img.size >= 2048 * 2048 and effort >= 5:
        pytest.skip("efforts 5 and 7 take minutes on a 2048² image; measured at 256² and 512²")


@pytest.mark.parametrize("effort", EFFORTS, ids=lambda e: f"e{e}")
def test_mic_lossy_encode(benchmark, image16, effort):
    _skip_slow(image16, effort)
    benchmark.group = f"lossy encode {image16.shape[0]}x{image16.shape[1]}"
    blob = _run(benchmark, lambda: mic.encode(image16, quality=QUALITY, effort=effort),
                _rounds(image16, effort))
    out = mic.decode(blob)
    benchmark.extra_info.update(bpp=8 * len(blob) / image16.size, psnr=_psnr(image16, out))
    assert out.shape == image16.shape


@pytest.mark.parametrize("effort", EFFORTS, ids=lambda e: f"e{e}")
def test_mic_lossy_decode(benchmark, image16, effort):
    _skip_slow(image16, effort)
    blob = mic.encode(image16, quality=QUALITY, effort=effort)
    benchmark.group = f"lossy decode {image16.shape[0]}x{image16.shape[1]}"
    out = _run(benchmark, lambda: mic.decode(blob), _rounds(image16))
    benchmark.extra_info.update(bpp=8 * len(blob) / image16.size, psnr=_psnr(image16, out))
    assert out.shape == image16.shape


@functools.lru_cache(maxsize=None)
def _target(size: int) -> float:
    """mic's PSNR at the default effort, quality 6, on the ``size`` image."""
    from conftest import make_image

    img = make_image(size)
    return _psnr(img, mic.decode(mic.encode(img, quality=QUALITY)))


def _bisect(make, lo: float, hi: float, target: float, img: np.ndarray, rising: bool) -> float:
    """The knob in [lo, hi] whose PSNR is closest to ``target`` (PSNR rising or falling
    with the knob), by 24 bisection steps."""
    best = (1e9, lo)
    for _ in range(24):
        mid = (lo + hi) / 2
        enc, dec = make(mid)
        p = _psnr(img, dec(enc(img)))
        best = min(best, (abs(p - target), mid))
        if (p < target) == rising:
            lo = mid
        else:
            hi = mid
    return best[1]


def _anchor(codec: str, img: np.ndarray):
    ic = imagecodecs
    target = _target(img.shape[0])
    if codec == "jpeg2000":
        return (lambda a: ic.jpeg2k_encode(a, level=target, reversible=False, bitspersample=BITS,
                                           numthreads=1), ic.jpeg2k_decode)

    def htj2k(step: float):
        return (lambda a: ic.htj2k_encode(a, level=step, reversible=False), ic.htj2k_decode)

    def jxl(d: float):
        return (lambda a: ic.jpegxl_encode(a, distance=d, effort=7, bitspersample=BITS,
                                           numthreads=1), ic.jpegxl_decode)

    if codec == "htj2k":
        return htj2k(_bisect(htj2k, 1e-6, 0.05, target, img, rising=False))
    return jxl(_bisect(jxl, 0.01, 8.0, target, img, rising=False))


@pytest.mark.parametrize("codec", ["jpeg2000", "htj2k", "jpegxl-e7"])
def test_anchor_encode_at_mic_psnr(benchmark, image16, codec):
    enc, dec = _anchor(codec.split("-")[0], image16)
    benchmark.group = f"lossy encode {image16.shape[0]}x{image16.shape[1]}"
    blob = _run(benchmark, lambda: enc(image16), _rounds(image16))
    p = _psnr(image16, dec(blob))
    benchmark.extra_info.update(bpp=8 * len(blob) / image16.size, psnr=p)
    assert abs(p - _target(image16.shape[0])) < 0.3


@pytest.mark.parametrize("codec", ["jpeg2000", "htj2k", "jpegxl-e7"])
def test_anchor_decode_at_mic_psnr(benchmark, image16, codec):
    enc, dec = _anchor(codec.split("-")[0], image16)
    blob = enc(image16)
    benchmark.group = f"lossy decode {image16.shape[0]}x{image16.shape[1]}"
    out = _run(benchmark, lambda: dec(blob), _rounds(image16))
    benchmark.extra_info.update(bpp=8 * len(blob) / image16.size, psnr=_psnr(image16, out))
    assert out.shape == image16.shape
