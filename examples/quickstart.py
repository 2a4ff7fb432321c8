"""mic quick start: compress a real CT slice losslessly and prove the round trip is exact.

Run it with ``make demo`` (fresh virtual environment) or directly::

    python examples/quickstart.py             # the bundled CT slice (mic/data/ct_abdomen.png)
    python examples/quickstart.py scan.dcm    # any PNG, TIFF, NPY or DICOM file

It prints the original and compressed sizes, the compression ratio, the bits per
pixel, what :func:`mic.info` reads from the stream's header, and the maximum
absolute error after decoding (0: lossless); then the same image through the learned
lossy mode at three qualities (ratio, bits/pixel, PSNR at the stored bit depth, max
error).  Exit status 1 if the lossless round trip is not exact.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import mic
from mic.io import demo_image_path, read_image


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else demo_image_path()
    image, meta = read_image(path)
    print(f"image      {path.name}: {image.dtype} {image.shape}, values {image.min()}..{image.max()}"
          f" ({meta.format.upper()} file of {path.stat().st_size:,} bytes)")

    # The first calls compile (or load from Numba's cache) the kernels: warm up once, untimed.
    mic.decode(mic.encode(image, **meta.encode_options(image)))

    t0 = time.perf_counter()
    blob = mic.encode(image, **meta.encode_options(image))  # lossless by default
    t1 = time.perf_counter()
    restored = mic.decode(blob)
    t2 = time.perf_counter()

    info = mic.info(blob)  # header only, no pixel decoding
    pixels = image.shape[0] * image.shape[1] if image.ndim == 2 else int(np.prod(image.shape[:-1]))
    print(f"original   {image.nbytes:,} bytes ({8 * image.dtype.itemsize} bits/sample in memory)")
    print(f"compressed {len(blob):,} bytes")
    print(f"ratio      {image.nbytes / len(blob):.2f} : 1")
    print(f"bits/pixel {8 * len(blob) / pixels:.3f} (of {info.bits_stored} bits stored)")
    print(f"speed      encode {pixels / (t1 - t0) / 1e6:.1f} MP/s, "
          f"decode {pixels / (t2 - t1) / 1e6:.1f} MP/s (after warm-up)")
    print(f"mic.info   mode={info.mode} dtype={info.dtype} shape={info.shape} "
          f"bits_stored={info.bits_stored} photometric={info.photometric} "
          f"coder={info.coder} version={info.version}")

    same_type = restored.dtype == image.dtype and restored.shape == image.shape
    max_err = int(np.max(np.abs(restored.astype(np.int64) - image.astype(np.int64))))
    exact = same_type and max_err == 0
    print(f"round trip {'exact' if exact else 'NOT EXACT'}: max abs error {max_err}, "
          f"dtype {restored.dtype}, shape {restored.shape}")
    lossy_demo(image, meta.encode_options(image), info.bits_stored)
    return 0 if exact else 1


def lossy_demo(image: np.ndarray, options: dict, bits_stored: int) -> None:
    """The learned lossy mode (the default model, wavelet-context-fast at the default
    effort) at a low, a middle and a high quality."""
    from mic.lossy import DEFAULT_MODEL, available_models, qualities

    if DEFAULT_MODEL not in available_models():
        print("lossy      (no lossy weights in this build)")
        return
    qs = qualities(DEFAULT_MODEL)
    peak = float((1 << bits_stored) - 1)
    pixels = image.shape[0] * image.shape[1] if image.ndim == 2 else int(np.prod(image.shape[:-1]))
    for q in (qs[len(qs) // 4], qs[len(qs) // 2], qs[-2]):
        blob = mic.encode(image, quality=q, **options)
        out = mic.decode(blob)
        err = out.astype(np.float64) - image.astype(np.float64)
        psnr = 10 * np.log10(peak * peak / max(float(np.mean(err * err)), 1e-12))
        print(f"lossy q={q:<2d} ratio {image.nbytes / len(blob):6.1f} : 1, {8 * len(blob) / pixels:.3f} "
              f"bits/pixel, PSNR {psnr:.1f} dB, max abs error {int(np.abs(err).max())}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
