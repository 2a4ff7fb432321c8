"""Image-quality and rate metrics used by ``mic bench``.

Everything works on integer or float numpy arrays shaped (rows, cols) or
(rows, cols, samples) and is computed in float64 on the *native* sample scale:
the peak is ``2**bits - 1`` for the bits the image states (``bits_stored``).

* :func:`psnr` — peak signal-to-noise ratio in dB (``inf`` when identical).
* :func:`ssim` — structural similarity (Wang et al. 2004): Gaussian window,
  sigma 1.5, 11 taps, K1 = 0.01, K2 = 0.03, ``L`` = the peak; the mean is taken
  over the "valid" region (5-pixel border dropped) and over samples for RGB.
* :func:`ms_ssim` — multi-scale SSIM (Wang, Simoncelli, Bovik 2003) with the
  standard five weights and 2x2 average-pool downsampling.  Five scales need a
  side of at least 176 px (the coarsest scale keeps >= 11 px, one window); for a
  smaller image we use the largest number of scales M that keeps the coarsest
  side >= 11 px and renormalise the first M weights to sum to 1 (M = 1 is plain
  SSIM).  Negative contrast-structure terms are clipped to 0 before the powers.
* :func:`max_abs_error`, :func:`bits_per_pixel`, :func:`compression_ratio`,
  :func:`megapixels_per_second`.

>>> import numpy as np
>>> a = np.zeros((8, 8), np.uint16); b = a.copy(); b[0, 0] = 4
>>> round(psnr(a, b, bits=12), 2)   # MSE = 16/64 = 0.25
78.27
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import MicInputError

__all__ = [
    "MS_SSIM_WEIGHTS",
    "bits_per_pixel",
    "compression_ratio",
    "max_abs_error",
    "megapixels_per_second",
    "ms_ssim",
    "mse",
    "peak_for_bits",
    "psnr",
    "ssim",
    "ssim_ms_ssim",
]

#: The five scale weights of MS-SSIM (Wang, Simoncelli, Bovik 2003).
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

_K1, _K2, _SIGMA, _TRUNCATE = 0.01, 0.03, 1.5, 3.5  # 3.5 * 1.5 -> radius 5 -> 11 taps
_WIN = 11


def _pair(a: np.ndarray, b: np.ndarray, *, image: bool = False) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise MicInputError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.size == 0:
        raise MicInputError("empty image")
    if image and a.ndim not in (2, 3):
        raise MicInputError(f"expected (rows, cols) or (rows, cols, samples), got {a.shape}")
    return a, b


def peak_for_bits(bits: int) -> float:
    """The native peak ``2**bits - 1`` (bits in 1..32).

    >>> peak_for_bits(12)
    4095.0
    """
    bits = int(bits)
    if not 1 <= bits <= 32:
        raise MicInputError(f"bits must be in 1..32, got {bits}")
    return float((1 << bits) - 1)


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error between two same-shaped arrays (float64).

    >>> mse(np.array([0, 0]), np.array([3, 1]))
    5.0
    """
    a, b = _pair(a, b)
    d = a.astype(np.float64) - b.astype(np.float64)
    return float(np.mean(d * d))


def psnr(a: np.ndarray, b: np.ndarray, *, bits: int | None = None,
         peak: float | None = None) -> float:
    """PSNR in dB at ``peak`` (or ``2**bits - 1``); ``inf`` for identical images.

    >>> import numpy as np
    >>> x = np.full((4, 4), 100, np.uint8)
    >>> round(psnr(x, x + 1, bits=8), 4)     # MSE 1 at peak 255
    48.1308
    >>> psnr(x, x, bits=8)
    inf
    """
    if peak is None:
        if bits is None:
            raise MicInputError("psnr needs bits= or peak=")
        peak = peak_for_bits(bits)
    m = mse(a, b)
    if m == 0.0:
        return math.inf
    return 10.0 * math.log10(float(peak) ** 2 / m)


def max_abs_error(a: np.ndarray, b: np.ndarray) -> int:
    """Largest absolute sample difference (an int; 0 means lossless).

    >>> max_abs_error(np.array([1, 5], np.uint16), np.array([4, 5], np.uint16))
    3
    """
    a, b = _pair(a, b)
    if a.dtype.kind in "ui" and b.dtype.kind in "ui":
        return int(np.max(np.abs(a.astype(np.int64) - b.astype(np.int64))))
    return math.ceil(float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))))


def _filt(x: np.ndarray) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(x, _SIGMA, truncate=_TRUNCATE, mode="reflect")


def _ssim_terms(x: np.ndarray, y: np.ndarray, peak: float, shift: float) -> tuple[float, float]:
    """Mean SSIM and mean contrast-structure term of one 2-D channel.

    ``x`` and ``y`` are float32 and already have ``shift`` subtracted (that keeps the
    float32 variances accurate far below C2); the luminance term adds it back.
    """
    c1 = (_K1 * peak) ** 2
    c2 = (_K2 * peak) ** 2
    mxs = _filt(x)
    mys = _filt(y)
    sxx = _filt(x * x) - mxs * mxs
    syy = _filt(y * y) - mys * mys
    sxy = _filt(x * y) - mxs * mys
    mx = mxs.astype(np.float64) + shift
    my = mys.astype(np.float64) + shift
    cs = (2.0 * sxy + c2) / (sxx + syy + c2)
    lum = (2.0 * mx * my + c1) / (mx * mx + my * my + c1)
    s = lum * cs
    r = _WIN // 2
    if min(x.shape) > _WIN:  # drop the border the window does not cover ("valid" region)
        s = s[r:-r, r:-r]
        cs = cs[r:-r, r:-r]
    return float(s.mean()), float(cs.mean())


def _channels(a: np.ndarray, shift: float) -> list[np.ndarray]:
    if a.ndim == 2:
        return [(a.astype(np.float64) - shift).astype(np.float32)]
    return [(a[..., i].astype(np.float64) - shift).astype(np.float32) for i in range(a.shape[-1])]


def _peak(bits: int | None, peak: float | None, what: str) -> float:
    if peak is None:
        if bits is None:
            raise MicInputError(f"{what} needs bits= or peak=")
        peak = peak_for_bits(bits)
    return float(peak)


def ssim_ms_ssim(a: np.ndarray, b: np.ndarray, *, bits: int | None = None,
                 peak: float | None = None) -> tuple[float, float]:
    """(SSIM, MS-SSIM) in one pass: the first MS-SSIM scale is the full-size SSIM map.

    >>> import numpy as np
    >>> x = np.random.default_rng(1).integers(0, 4096, (200, 200)).astype(np.uint16)
    >>> s, m = ssim_ms_ssim(x, x, bits=12)
    >>> round(s, 9), round(m, 9)
    (1.0, 1.0)
    """
    a, b = _pair(a, b, image=True)
    pk = _peak(bits, peak, "ssim_ms_ssim")
    shift = float(np.mean(a, dtype=np.float64))
    m = ms_ssim_scales(a.shape[0], a.shape[1])
    w = np.asarray(MS_SSIM_WEIGHTS[:m], dtype=np.float64)
    w = w / w.sum()
    ss, ms = [], []
    for x, y in zip(_channels(a, shift), _channels(b, shift)):
        val = 1.0
        for i in range(m):
            s, cs = _ssim_terms(x, y, pk, shift)
            if i == 0:
                ss.append(s)
            if i == m - 1:
                val *= max(s, 0.0) ** w[i]
            else:
                val *= max(cs, 0.0) ** w[i]
                x, y = _pool2(x), _pool2(y)
        ms.append(val)
    return float(np.mean(ss)), float(np.mean(ms))


def ssim(a: np.ndarray, b: np.ndarray, *, bits: int | None = None,
         peak: float | None = None) -> float:
    """Mean SSIM (Gaussian window, sigma 1.5) at dynamic range ``peak`` / ``2**bits - 1``.

    RGB (rows, cols, samples) arrays give the mean over samples.

    >>> import numpy as np
    >>> x = np.random.default_rng(0).integers(0, 256, (64, 64)).astype(np.uint8)
    >>> ssim(x, x, bits=8)
    1.0
    >>> ssim(x, np.roll(x, 3, axis=1), bits=8) < 0.1
    True
    """
    a, b = _pair(a, b, image=True)
    pk = _peak(bits, peak, "ssim")
    shift = float(np.mean(a, dtype=np.float64))
    vals = [_ssim_terms(x, y, pk, shift)[0]
            for x, y in zip(_channels(a, shift), _channels(b, shift))]
    return float(np.mean(vals))


def _pool2(x: np.ndarray) -> np.ndarray:
    h, w = (x.shape[0] // 2) * 2, (x.shape[1] // 2) * 2
    x = x[:h, :w]
    return 0.25 * (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2])


def ms_ssim_scales(rows: int, cols: int) -> int:
    """How many MS-SSIM scales an image of this size gets (1..5; 5 needs a side >= 176).

    >>> ms_ssim_scales(512, 512), ms_ssim_scales(120, 256), ms_ssim_scales(8, 8)
    (5, 4, 1)
    """
    m = 1
    side = min(rows, cols)
    while m < len(MS_SSIM_WEIGHTS) and side // (1 << m) >= _WIN:
        m += 1
    return m


def ms_ssim(a: np.ndarray, b: np.ndarray, *, bits: int | None = None,
            peak: float | None = None) -> float:
    """Multi-scale SSIM with the standard weights; fewer scales for small images (see module doc).

    >>> import numpy as np
    >>> x = (np.arange(256 * 256) % 253).reshape(256, 256).astype(np.uint8)
    >>> ms_ssim(x, x, bits=8)
    1.0
    """
    return ssim_ms_ssim(a, b, bits=bits, peak=peak)[1]


def bits_per_pixel(nbytes: int, rows: int, cols: int) -> float:
    """Compressed bits per pixel (a pixel counts all its samples).

    >>> bits_per_pixel(1024, 64, 64)
    2.0
    """
    return 8.0 * nbytes / (rows * cols)


def compression_ratio(stored_bytes: int, nbytes: int) -> float:
    """Stored (uncompressed) size over compressed size.

    >>> compression_ratio(8192, 1024)
    8.0
    """
    return stored_bytes / max(1, nbytes)


def megapixels_per_second(pixels: int, seconds: float) -> float:
    """Throughput in megapixels per second (``inf`` for a zero time).

    >>> megapixels_per_second(2_000_000, 0.5)
    4.0
    """
    return math.inf if seconds <= 0 else pixels / seconds / 1e6
