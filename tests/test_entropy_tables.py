"""Frozen integer tables and the constriction wrappers."""

import numpy as np
import pytest

from mic.entropy import (
    FREQ_BITS, ModelBank, decode_escapes, decode_grouped, encode_escapes, encode_grouped,
    escape_bits, factorized_tables, log_scale_thresholds, mixture_tables, new_decoder,
    new_encoder, quantize_pmf, scale_table, words,
)


def gaussian_tables(scales):
    return mixture_tables(scales, np.ones(1), np.ones(1))
from mic.errors import MicError


def test_quantize_pmf_properties():
    rng = np.random.default_rng(0)
    for n in (2, 3, 17, 1000):
        p = rng.random(n) ** 8
        f = quantize_pmf(p)
        assert f.dtype == np.int32 and int(f.sum()) == 1 << FREQ_BITS and f.min() >= 1
        # close to the real distribution where it matters
        assert np.abs(f / f.sum() - p / p.sum()).max() < 1e-4


def test_mixture_tables_are_valid_and_deterministic():
    s = scale_table(4096.0, 40)
    a = mixture_tables(s, np.array([0.3, 0.7]), np.array([0.5, 2.0]))
    b = mixture_tables(s, np.array([0.3, 0.7]), np.array([0.5, 2.0]))
    assert a.digest() == b.digest()
    assert a.half.max() <= 8192
    for t, f in enumerate(a.freqs()):
        assert len(f) == 2 * a.half[t] + 2 and int(f.sum()) == 1 << FREQ_BITS and f.min() >= 1


def test_gaussian_tables_are_valid_and_deterministic():
    s = scale_table()
    assert len(s) == 64 and np.all(np.diff(s) > 0)
    a, b = gaussian_tables(s), gaussian_tables(s)
    assert a.digest() == b.digest()
    for t, f in enumerate(a.freqs()):
        assert len(f) == 2 * a.half[t] + 2 and int(f.sum()) == 1 << FREQ_BITS and f.min() >= 1
        L = a.half[t]
        assert np.abs(f[:L] - f[L + 1:2 * L + 1][::-1]).max(initial=0) <= 1  # symmetric around 0


def test_thresholds_integer_and_sorted():
    thr = log_scale_thresholds(20)
    assert thr.dtype == np.int64 and np.all(np.diff(thr) > 0) and len(thr) == 63


def test_grouped_roundtrip_with_escapes_and_uniform():
    rng = np.random.default_rng(3)
    tabs = gaussian_tables(scale_table()[::8])
    bank = ModelBank(tabs)
    tab = rng.integers(0, len(bank), 5000).astype(np.int32)
    sym = np.array([rng.integers(0, 2 * tabs.half[t] + 2) for t in tab], np.int32)
    raw = rng.integers(0, 2**32, 50, dtype=np.uint64).astype(np.uint32)
    raw[:6] = [0, 1, 2, 3, 2**31, 2**32 - 1]
    enc = new_encoder()
    encode_grouped(enc, sym, tab, bank)
    encode_escapes(enc, raw)
    w = words(enc)
    dec = new_decoder(w)
    assert np.array_equal(decode_grouped(dec, tab, bank), sym)
    assert np.array_equal(decode_escapes(dec, 50), raw)


def test_escape_code_is_elias_gamma_sized():
    u = np.array([0, 1, 2, 255, 256, 2**32 - 1], np.uint32)
    assert escape_bits(u) == pytest.approx(6 * np.log2(33) + 0 + 0 + 1 + 7 + 8 + 31)
    enc = new_encoder()
    encode_escapes(enc, u)
    assert 32 * len(words(enc)) <= escape_bits(u) + 64


def test_factorized_tables_recentre():
    t = factorized_tables([np.array([0.2, 0.5, 0.3])], [3])  # masses of 3, 4, 5
    f = t.freqs()[0]
    assert t.half[0] == 5 and len(f) == 12
    assert f[4 + 5] > f[5 + 5] > f[3 + 5] > f[0]


def test_decoding_garbage_never_panics():
    bank = ModelBank(gaussian_tables(scale_table()[:4]))
    tab = np.zeros(1000, np.int32)
    for w in (np.zeros(0, np.uint32), np.array([0xFFFFFFFF] * 3, np.uint32)):
        try:
            out = decode_grouped(new_decoder(w), tab, bank)
            assert out.min() >= 0 and out.max() <= 2 * bank.tables.half[0] + 1
        except MicError:
            pass
