"""Fixtures of the speed suite: 16-bit test images of 256², 512² and 2048² pixels.

The images come from the real 12-bit CT slice bundled with mic (``mic/data/ct_abdomen.png``):
256² is its centre crop, 512² the whole slice, 2048² a 4x4 mirror tiling of it (mirrored so
there are no seams; the statistics stay those of a real CT).  Nothing outside the repo is read.

Run with ``make bench`` (``pytest -q benches --benchmark-only --benchmark-json=...``).
"""

from __future__ import annotations

import numpy as np
import pytest

SIZES = (256, 512, 2048)


def _ct() -> np.ndarray:
    from mic.io import demo_image_path, read_image

    arr, _ = read_image(demo_image_path())
    return np.ascontiguousarray(arr, dtype=np.uint16)


def make_image(size: int) -> np.ndarray:
    """A ``size`` x ``size`` uint16 image built from the bundled CT slice."""
    ct = _ct()
    h, w = ct.shape
    if size <= min(h, w):
        r0, c0 = (h - size) // 2, (w - size) // 2
        return np.ascontiguousarray(ct[r0:r0 + size, c0:c0 + size])
    pair = np.concatenate([ct, ct[:, ::-1]], axis=1)
    quad = np.concatenate([pair, pair[::-1]], axis=0)
    reps = -(-size // quad.shape[0])
    big = np.tile(quad, (reps, reps))
    return np.ascontiguousarray(big[:size, :size])


@pytest.fixture(scope="session", params=SIZES, ids=lambda s: f"{s}x{s}")
def image16(request) -> np.ndarray:
    return make_image(request.param)
