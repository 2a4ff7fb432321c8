"""Lossy speed on a real 512x512 slice, one thread, model load excluded: median of 5 decodes
and 3 encodes at each quality of each model (the issue's target: decode <= 150 ms on 2 cores).

    .venv/bin/python benches/lossy_speed.py [IMAGE.png|demo] [wavelet-context-fast wavelet-context wavelet-hyperprior wavelet-factorized]

``demo`` (the default) is the real 512x512 12-bit CT slice bundled with mic.

Run it on a quiet machine; prints bpp, decode and encode times per quality and the medians.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

for _v in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import mic  # noqa: E402
from mic.io import demo_image_path, read_image  # noqa: E402
from mic.lossy import qualities  # noqa: E402


def _median_s(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(path: str, models: list[str]) -> None:
    a, _ = read_image(demo_image_path() if path == "demo" else path)
    for model in models:
        decs, encs, rows = [], [], []
        for q in qualities(model):
            blob = mic.encode(a, quality=q, model=model)
            mic.decode(blob)  # loads the model and compiles the kernels
            decs.append(_median_s(lambda: mic.decode(blob), 5))
            encs.append(_median_s(lambda: mic.encode(a, quality=q, model=model), 3))  # noqa: B023
            rows.append(f"q{q}: {8 * len(blob) / a.size:.3f} bpp dec {1000 * decs[-1]:.0f} ms "
                        f"enc {1000 * encs[-1]:.0f} ms")
        print(model, "; ".join(rows))
        print(f"{model} {a.shape[0]}x{a.shape[1]}: decode median {1000 * statistics.median(decs):.0f} ms "
              f"(max {1000 * max(decs):.0f}), encode median {1000 * statistics.median(encs):.0f} ms "
              f"(max {1000 * max(encs):.0f})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "demo", sys.argv[2:] or ["wavelet-context-fast", "wavelet-context", "wavelet-hyperprior",
                                                              "wavelet-factorized"])
