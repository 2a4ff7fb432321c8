"""The Numba range decoder (mic.entropy.rangedec) against constriction's own queue
RangeDecoder: the same symbols from the same words, valid or garbage, and a failure on
the same call where constriction finds a quantile beyond the model."""

import constriction
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import mic
from mic.entropy.bounds import MeteredDecoder, categorical_costs
from mic.entropy.coder import ModelBank, decode_grouped, encode_grouped, new_encoder, words
from mic.entropy.rangedec import cdf_of
from mic.entropy.tables import mixture_tables

_M = constriction.stream.model


def _models(rng: np.random.Generator) -> list[tuple[object, object]]:
    """(constriction model, what MeteredDecoder reads) pairs: skewed, flat, tiny and
    large categoricals and uniforms of a few sizes."""
    out: list[tuple[object, object]] = []
    for n in (2, 3, 17, 260):
        for skew in (0.0, 3.0, 12.0):
            p = np.exp(-skew * np.arange(n) / n) * rng.uniform(0.5, 1.5, n)
            p /= p.sum()
            out.append((_M.Categorical(p, perfect=False), cdf_of(p)))
    for n in (2, 33, 1000, 1 << 20):
        out.append((_M.Uniform(n), n))
    return out


def _same_calls(w: np.ndarray, calls: list[tuple[int, int]], models) -> None:  # noqa: ANN001
    ref = constriction.stream.queue.RangeDecoder(np.ascontiguousarray(w, np.uint32))
    mine = MeteredDecoder(w)
    for k, n in calls:
        cm, ours = models[k]
        try:
            want = np.asarray(ref.decode(cm, n), np.int64)
        except BaseException as exc:  # constriction's invalid-data error (or a pyo3 panic)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            with pytest.raises(mic.MicFormatError):
                mine.decode_uniform(ours, n) if isinstance(ours, int) else mine.decode(ours, n)
            return
        got = mine.decode_uniform(ours, n) if isinstance(ours, int) else mine.decode(ours, n)
        assert np.array_equal(got, want), (k, n)


def test_valid_streams_decode_as_constriction_does():
    rng = np.random.default_rng(7)
    models = _models(rng)
    for trial in range(40):
        enc = constriction.stream.queue.RangeEncoder()
        calls = []
        for _ in range(int(rng.integers(1, 12))):
            k = int(rng.integers(len(models)))
            cm, ours = models[k]
            size = ours if isinstance(ours, int) else ours.size - 1
            n = int(rng.choice([1, 5, 300, 5000]))
            sym = rng.integers(0, size, n).astype(np.int32) if trial % 2 else \
                np.minimum(rng.geometric(0.3, n) - 1, size - 1).astype(np.int32)
            enc.encode(sym, cm)
            calls.append((k, n))
        _same_calls(enc.get_compressed(), calls, models)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 40))
def test_garbage_words_decode_or_fail_as_constriction_does(seed, n_words):
    rng = np.random.default_rng(seed)
    models = _models(rng)
    w = rng.integers(0, 2**32, n_words, dtype=np.uint64).astype(np.uint32)
    if seed % 3 == 0:  # words of a high value: quantiles near or past the model's end
        w[: n_words // 2] = 0xFFFFFFFF
    calls = [(int(rng.integers(len(models))), int(rng.choice([1, 7, 200])))
             for _ in range(8)]
    _same_calls(w, calls, models)


def test_grouped_decode_is_the_grouped_encode_reversed():
    rng = np.random.default_rng(3)
    bank = ModelBank(mixture_tables(np.array([0.5, 1.0, 4.0, 30.0, 200.0]), np.ones(1),
                                    np.ones(1)))
    for n in (0, 1, 9, 5000, 70000):
        tab = rng.integers(0, len(bank), n).astype(np.int32)
        size = np.array([int(bank.cdf(int(t)).size - 1) for t in range(len(bank))])
        sym = (rng.integers(0, 1 << 30, n) % size[tab]).astype(np.int32)
        enc = new_encoder()
        encode_grouped(enc, sym, tab, bank)
        dec = MeteredDecoder(words(enc))
        assert np.array_equal(decode_grouped(dec, tab, bank), sym)
        info = float(bank.costs[bank.tables.offsets[tab] + sym].sum())
        assert dec.bits == pytest.approx(info, rel=1e-9, abs=1e-9)


def test_grouped_decode_refuses_what_the_words_cannot_carry():
    bank = ModelBank(mixture_tables(np.array([0.5, 200.0]), np.ones(1), np.ones(1)))
    tab = np.ones(100000, np.int32)  # a wide table: about 10 bits a symbol from 4 words
    with pytest.raises(mic.MicFormatError, match="more than its 4 words"):
        decode_grouped(MeteredDecoder(np.full(4, 0x9E3779B9, np.uint32)), tab, bank)
    with pytest.raises(mic.MicFormatError, match="table index"):
        decode_grouped(MeteredDecoder(np.zeros(4, np.uint32)), np.array([2], np.int32), bank)


def test_cdf_matches_the_costs():
    p = np.array([0.5, 0.25, 0.125, 0.125])
    c = cdf_of(p)
    assert c[0] == 0 and c[-1] == 1 << 24 and c.dtype == np.uint64
    assert np.allclose(24 - np.log2(np.diff(c).astype(float)), categorical_costs(p))


def test_uniform_sizes_beyond_the_precision_are_refused():
    dec = MeteredDecoder(np.arange(4, dtype=np.uint32))
    for n in (0, 1, (1 << 24) + 1):
        with pytest.raises(ValueError):
            dec.decode_uniform(n, 1)
    assert dec.decode_uniform(1 << 24, 3).shape == (3,)
    from mic.entropy.coder import uniform_decode

    with pytest.raises(mic.MicFormatError):
        uniform_decode(MeteredDecoder(np.arange(4, dtype=np.uint32)), 1, 1 << 25)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(1, 6), st.booleans())
def test_runs_decode_as_one_grouped_call_per_table(seed: int, count: int, nruns: int,
                                                   garbage: bool) -> None:
    """``decode_runs`` gives the symbols, state, charge and error of one ``decode_grouped``
    per table, on valid words and on garbage (a meter tight enough to overrun)."""
    from mic.entropy.bounds import MeteredDecoder
    from mic.entropy.coder import ModelBank, decode_grouped, decode_runs, encode_grouped, new_encoder
    from mic.entropy.tables import mixture_tables

    r = np.random.default_rng(seed)
    bank = ModelBank(mixture_tables(np.array([0.5, 2.0, 9.0, 40.0]), np.ones(1), np.ones(1)))
    tabs = [int(t) for t in r.integers(0, len(bank), nruns)]
    if garbage:
        words = r.integers(0, 2**32, int(r.integers(0, 8)), dtype=np.uint64).astype(np.uint32)
    else:
        enc = new_encoder()
        for t in tabs:
            half = int(bank.tables.half[t])
            encode_grouped(enc, r.integers(0, 2 * half + 2, count).astype(np.int32),
                           np.full(count, t, np.int32), bank)
        words = enc.get_compressed()

    def run(fn):  # noqa: ANN001
        dec = MeteredDecoder(words)
        try:
            out = fn(dec)
        except Exception as exc:  # noqa: BLE001 - compared below
            return type(exc), str(exc), dec.state.tolist(), dec.bits
        return out.tolist(), dec.state.tolist(), dec.bits

    def one_by_one(dec):  # noqa: ANN001
        return np.concatenate([decode_grouped(dec, np.full(count, t, np.int32), bank)
                               for t in tabs])

    assert run(lambda dec: decode_runs(dec, tabs, count, bank)) == run(one_by_one)
