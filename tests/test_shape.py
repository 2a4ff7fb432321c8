"""The shape coder of constant regions (mic.entropy.shape, SPEC 6.6): round trips,
frozen tables, SPEC agreement, corrupt streams."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mic
from mic.entropy.shape import HEAD, SHAPE_FREQS, decode_shape, encode_shape, geometric_tables

SPEC = Path(__file__).resolve().parents[1] / "SPEC.md"


def disc(h: int, w: int, r: float, outside: bool = True) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    d = (yy - (h - 1) / 2) ** 2 + (xx - (w - 1) / 2) ** 2 > r * r
    return d if outside else ~d


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 2 ** 32 - 1),
       st.sampled_from(["random", "disc", "bars", "blocks"]))
def test_any_mask_round_trips(h, w, seed, kind):
    rng = np.random.default_rng(seed)
    if kind == "random":
        m = rng.random((h, w)) < rng.random()
    elif kind == "disc":
        m = disc(h, w, rng.random() * max(h, w), bool(seed & 1))
    elif kind == "bars":
        m = np.zeros((h, w), bool)
        k = int(rng.integers(0, w // 2 + 1))
        m[:, :k] = True
        m[:, w - k:] = True
    else:
        m = np.kron(rng.random((h // 4 + 1, w // 4 + 1)) < 0.5, np.ones((4, 4), bool))[:h, :w]
    blob = encode_shape(m)
    assert (decode_shape(blob, h, w) == m).all()


def test_typical_shapes_are_cheap():
    assert len(encode_shape(disc(512, 512, 250))) < 240  # a CT field of view
    bars = np.zeros((512, 512), bool)
    bars[:, :60] = bars[:, 452:] = True
    assert len(encode_shape(bars)) < 40
    assert len(encode_shape(np.zeros((512, 512), bool))) < 16


def test_frozen_tables_are_their_recipe_and_in_the_spec():
    t = geometric_tables()
    assert len(SHAPE_FREQS) == len(t.half) == 12
    for k, f in enumerate(SHAPE_FREQS):
        assert list(f) == t.flat[t.offsets[k]:t.offsets[k + 1]].tolist()
        assert sum(f) == 1 << 20 and min(f) >= 1 and len(f) == 32
    text = SPEC.read_text()
    block = text.split("<!-- SHAPE_FREQS")[1].split("```")[1]
    rows = [list(map(int, line.split())) for line in block.strip().splitlines()]
    assert [r[0] for r in rows] == list(range(12))
    assert [tuple(r[1:]) for r in rows] == list(SHAPE_FREQS)
    assert re.search(r"### 6\.6 Constant regions", text)


def test_bad_input_and_corrupt_streams():
    with pytest.raises(ValueError):
        encode_shape(np.zeros((0, 4), bool))
    with pytest.raises(ValueError):
        encode_shape(np.zeros(5, bool))
    m = disc(64, 48, 20)
    blob = encode_shape(m)
    with pytest.raises(mic.MicTruncatedError):
        decode_shape(blob[:2], 64, 48)
    with pytest.raises(mic.MicTruncatedError):
        decode_shape(blob[:-4], 64, 48)
    # random words: a clear MicError (or, rarely, some other valid mask), never a crash
    rng = np.random.default_rng(1)
    refused = 0
    for _ in range(200):
        n = int(rng.integers(1, 12))
        junk = HEAD.pack(n) + rng.integers(0, 2 ** 32, n, dtype=np.uint64).astype("<u4").tobytes()
        try:
            out = decode_shape(junk, 64, 48)
            assert out.shape == (64, 48)
        except mic.MicError:
            refused += 1
    assert refused > 0


def test_stream_layout_is_a_word_count_then_words():
    blob = encode_shape(disc(32, 32, 12))
    (nw,) = struct.unpack_from("<I", blob, 0)
    assert len(blob) == 4 + 4 * nw
