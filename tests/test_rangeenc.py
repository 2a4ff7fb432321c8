"""mic's Numba range encoder (coder id 1, SPEC 4.2) writes exactly the words of
constriction's queue ``RangeEncoder``: random models and symbols (carries and held-back
words included), uniform models, the grouped order, sealing, an empty encoder, the
encoder going on after ``get_compressed``, and symbols a model cannot code."""

from __future__ import annotations

import constriction
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mic.entropy.rangedec import cdf_of
from mic.entropy.rangeenc import RangeEncoder


def _probs(r: np.random.Generator, n: int) -> np.ndarray:
    p = r.random(n) ** r.choice([1.0, 4.0, 12.0])  # from flat to very skewed
    if r.random() < 0.3:
        p[r.integers(0, n)] = 1e-9  # a symbol near the smallest probability
    return p / p.sum()


@settings(max_examples=120, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 300), st.integers(0, 3000))
def test_categorical_words_match_constriction(seed: int, n: int, count: int) -> None:
    r = np.random.default_rng(seed)
    p = _probs(r, n)
    cdf = cdf_of(p)
    ok = np.flatnonzero(np.diff(cdf.astype(np.int64)) > 0)
    sym = r.choice(ok, count, p=p[ok] / p[ok].sum()).astype(np.int32)
    ref = constriction.stream.queue.RangeEncoder()
    ref.encode(sym, constriction.stream.model.Categorical(p, perfect=False))
    mine = RangeEncoder()
    mine.encode_cdf(sym, cdf)
    assert np.array_equal(mine.get_compressed(), ref.get_compressed())


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_mixed_models_and_continuing_after_get_compressed(seed: int) -> None:
    """Calls under different models in turn (categorical, uniform, grouped), with
    ``get_compressed`` between them, give constriction's words at every point."""
    r = np.random.default_rng(seed)
    ref = constriction.stream.queue.RangeEncoder()
    mine = RangeEncoder()
    tables = [_probs(r, int(r.integers(2, 40))) for _ in range(int(r.integers(1, 6)))]
    cdfs = [cdf_of(p) for p in tables]
    flat = np.concatenate(cdfs)
    off = np.concatenate(([0], np.cumsum([c.size for c in cdfs]))).astype(np.int64)
    for _ in range(int(r.integers(1, 8))):
        kind = int(r.integers(0, 3))
        if kind == 0:
            nval = int(r.choice([2, 3, 33, 1000, 1 << 24]))
            sym = r.integers(0, nval, int(r.integers(0, 200))).astype(np.int32)
            ref.encode(sym, constriction.stream.model.Uniform(nval))
            mine.encode_uniform(sym, nval)
        else:
            tab = r.integers(0, len(tables), int(r.integers(0, 400))).astype(np.int32)
            sym = np.array([r.choice(np.flatnonzero(np.diff(cdfs[t].astype(np.int64)) > 0))
                            for t in tab], np.int32)
            order = np.argsort(tab, kind="stable")  # the grouped order, table by table
            for t in range(len(tables)):
                s = sym[order][tab[order] == t]
                if s.size:
                    ref.encode(s, constriction.stream.model.Categorical(tables[t], perfect=False))
            mine.encode_grouped(sym, tab, flat, off)
        assert np.array_equal(mine.get_compressed(), ref.get_compressed())


def test_carries_and_held_back_words() -> None:
    """Long runs of the likeliest and the least likely symbols drive the interval across
    word boundaries (held-back words, carries into them): still constriction's words."""
    p = np.array([1 - 3e-7, 1e-7, 1e-7, 1e-7])
    cdf = cdf_of(p)
    r = np.random.default_rng(7)
    for _ in range(30):
        sym = np.where(r.random(20000) < 0.02, r.integers(1, 4, 20000), 0).astype(np.int32)
        ref = constriction.stream.queue.RangeEncoder()
        ref.encode(sym, constriction.stream.model.Categorical(p, perfect=False))
        mine = RangeEncoder()
        mine.encode_cdf(sym, cdf)
        assert np.array_equal(mine.get_compressed(), ref.get_compressed())


def test_empty_and_refused() -> None:
    assert RangeEncoder().get_compressed().size == 0
    cdf = cdf_of(np.array([0.5, 0.5]))
    enc = RangeEncoder()
    with pytest.raises(ValueError):
        enc.encode_cdf(np.array([2], np.int32), cdf)
    with pytest.raises(ValueError):
        enc.encode_uniform(np.array([5], np.int32), 5)
    with pytest.raises(ValueError):
        enc.encode_grouped(np.array([0], np.int32), np.array([1], np.int32), cdf,
                           np.array([0, cdf.size], np.int64))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 2 ** 32 - 1), max_size=40))
def test_escape_bits_listed_as_spec_6_3_writes_them(values: list[int]) -> None:
    """The escape coder's bits after the bit lengths: each value's bits below its leading
    one, most significant first (the kernel against the loop it replaced), and a decoder
    reads the values back."""
    from mic.entropy import decode_escapes, encode_escapes, new_decoder
    from mic.entropy.coder import _bit_length
    from mic.entropy.rangeenc import escape_bit_list

    u = np.array(values, np.uint64)
    k = _bit_length(u)
    ref = [(v >> np.arange(n - 2, -1, -1)) & 1 for v, n in zip(values, k.tolist()) if n >= 2]
    want = np.concatenate(ref) if ref else np.zeros(0, np.int64)
    assert np.array_equal(escape_bit_list(u, k), want)
    enc = RangeEncoder()
    encode_escapes(enc, u)
    if values:
        got = decode_escapes(new_decoder(enc.get_compressed()), len(values))
        assert got.astype(np.uint64).tolist() == values
