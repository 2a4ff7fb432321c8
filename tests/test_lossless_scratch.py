"""The fast lossless encoder's per-thread scratch arrays (mic.lossless.encoder_fast): kept
from one plane to the next, they must never change a stream.  Planes of other sizes and
kinds in any order, near-lossless between lossless, tiles on several threads, and planes
too large to keep give the bytes a fresh process gives (pinned by encoding each image
first, with nothing kept)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mic
from mic.io import read_image
from mic.lossless import encoder_fast as EF

DATA = Path(__file__).parent / "data"


def _images() -> list[tuple[np.ndarray, dict]]:
    ct = read_image(DATA / "ct_abdomen_u16.png")[0]
    cr = read_image(DATA / "cr_chest_u8.png")[0]
    rng = np.random.default_rng(3)
    counts = rng.poisson(2.0, (150, 230)).astype(np.uint16)
    return [(ct, {}), (cr, {}), (counts, {}), (ct[:100, :77], {}), (ct, {"max_error": 2}),
            (counts, {"max_error": 1}), (cr, {"effort": 1}), (ct, {"low": False}),
            (ct, {"tile": 64, "threads": 2})]


def _fresh(a: np.ndarray, kw: dict) -> bytes:
    EF._SCRATCH.arrays.clear()
    return mic.encode(a, **kw)


def test_kept_scratch_arrays_never_change_a_stream():
    cases = _images()
    want = [_fresh(a, kw) for a, kw in cases]
    for order in (range(len(cases)), reversed(range(len(cases))), [0, 3, 0, 4, 0, 8, 1, 0]):
        for i in order:
            a, kw = cases[i]
            assert mic.encode(a, **kw) == want[i], (i, kw)
    assert EF._SCRATCH.arrays  # (they were kept)


def test_arrays_over_the_limit_are_not_kept(monkeypatch: pytest.MonkeyPatch):
    ct = read_image(DATA / "ct_abdomen_u16.png")[0]
    want = _fresh(ct, {})
    monkeypatch.setattr(EF, "SCRATCH_KEEP_BYTES", 1000)
    EF._SCRATCH.arrays.clear()
    assert mic.encode(ct) == want
    assert not EF._SCRATCH.arrays
    small = EF._scratch("tokens", 10, np.uint8, zero=True)
    assert small.shape == (10,) and not small.any() and "tokens" in EF._SCRATCH.arrays
