"""The fast plane kernels' forms for speed (SPEC 5.6), held to what they replace.

* The opaque identity (mic.lossless.kernels_opaque) and the decoder's branch-free rANS
  renormalisation that uses it: the identity over int64 and narrower integers; the decoder
  reads the word after a plane's last one on every renormalisation that is not taken and must
  mask it out, so decoding with that padding word set to any value gives the same plane; and
  a caller that does not pad is refused instead of read past.
* The flat arrays (the contexts' counters, the slot tables, the packed symbols, the token
  counts): the counters start as SPEC 5.6 step 3 says, a context's update is JPEG-LS's, and
  arrays of another shape, which the kernels would index past, are refused.
* Effort 1's token pass in two loops (``context_pass`` fills the contexts and MED
  predictions, vectorised; ``fast_tokens_pre`` reads them): the same tokens, classes, extra
  bits and counts as the one-loop pass, on planes of every size from 1 x 1 and spans whose
  thresholds coincide (small maxval), smooth, noisy and two-valued."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mic_test_helpers import png
from numba import njit
from numba.core.errors import TypingError

from mic.lossless import encoder_fast as EF
from mic.lossless import kernels_fast as KF
from mic.lossless import kernels_fast_enc as KE
from mic.lossless import kernels_tables as KT
from mic.lossless.kernels_opaque import opaque
from mic.lossless.syntax import parse_plane


@njit(cache=False)
def _through(v):
    return opaque(v)


@njit(cache=False)
def _mask_and(flag, v):
    return v & opaque(-np.int64(flag))


@settings(max_examples=200, deadline=None)
@given(st.integers(-(2 ** 63), 2 ** 63 - 1))
def test_opaque_is_the_identity(v: int) -> None:
    assert _through(np.int64(v)) == v


def test_opaque_widens_narrow_integers() -> None:
    assert _through(np.uint8(255)) == 255
    assert _through(np.int32(-5)) == -5
    assert _through(np.uint16(65535)) == 65535
    assert _mask_and(True, np.int64(0xBEEF)) == 0xBEEF
    assert _mask_and(False, np.int64(0xBEEF)) == 0


def test_opaque_refuses_floats() -> None:
    with pytest.raises(TypingError):
        _through(1.5)


def _plane_parts(plane: np.ndarray, pad_word: int, pad: int = 1):
    """A fast (kind-3) plane's decoder inputs, its words padded by ``pad`` copies of
    ``pad_word`` and its extra bytes by four."""
    x = plane - plane.min()
    payload = EF.encode_plane_fast(np.ascontiguousarray(x, np.int32), palette=0)
    ph = parse_plane(memoryview(payload), 0, *x.shape, fast=1)
    assert ph.kind == 3
    tabmap, freq = ph.tables
    status, cum, sym = KT.build_decode_tables(freq)
    assert status == KF.OK
    words = np.full(ph.nwords + pad, pad_word, np.uint16)
    words[:ph.nwords] = np.frombuffer(payload, "<u2", count=ph.nwords, offset=ph.words_at)
    bits = np.zeros(ph.nbits + 4, np.uint8)
    bits[:-4] = np.frombuffer(payload, np.uint8, count=ph.nbits,
                              offset=ph.words_at + 2 * ph.nwords)
    return x, ph, tabmap, freq, cum, sym, words, bits


def _decode(x, ph, tabmap, freq, cum, sym, words, bits) -> tuple[int, np.ndarray]:
    R, CL, nbt, top = KF.decode_constants()
    out = np.empty(x.shape, np.int32)
    status = KF.fast_decode(out, ph.maxval, tabmap, freq, cum, sym, words, ph.nwords, bits,
                            ph.nbits, R, CL, nbt, top)
    return status, out


@pytest.mark.parametrize("name", ["ct_abdomen_u16.png", "mr_brain_u16.png", "cr_chest_u8.png"])
@pytest.mark.parametrize("pad_word", [0, 0xFFFF, 0x8001])
def test_the_padding_word_never_reaches_the_plane(name: str, pad_word: int) -> None:
    a = png(name).astype(np.int32)
    plane = a[:96, :80] if a.ndim == 2 else a[:96, :80, 0]
    x, ph, *rest = _plane_parts(plane, pad_word)
    status, out = _decode(x, ph, *rest)
    assert status == KF.OK
    assert np.array_equal(out, x)


def test_a_word_missing_is_an_error_whatever_the_padding() -> None:
    plane = png("ct_abdomen_u16.png").astype(np.int32)[:64, :64]
    x, ph, tabmap, freq, cum, sym, words, bits = _plane_parts(plane, 0xFFFF)
    ph.nwords -= 1  # the last word now lies in the padding: the decoder must not take it
    words = words[:-1].copy()
    words[-1] = 0xFFFF
    status, _ = _decode(x, ph, tabmap, freq, cum, sym, words, bits)
    assert status in (KF.ERR_WORDS, KF.ERR_FINAL, KF.ERR_RANGE)


def test_unpadded_words_or_bytes_are_refused() -> None:
    plane = png("ct_abdomen_u16.png").astype(np.int32)[:32, :32]
    x, ph, tabmap, freq, cum, sym, words, bits = _plane_parts(plane, 0)
    with pytest.raises(ValueError, match="padded"):
        _decode(x, ph, tabmap, freq, cum, sym, words[:-1].copy(), bits)
    with pytest.raises(ValueError, match="padded"):
        _decode(x, ph, tabmap, freq, cum, sym, words, bits[:-1].copy())


def test_the_flat_counters_start_as_specified() -> None:
    for maxval in (1, 255, 2826, 65535, 2 ** 17 - 2):
        S = KF._init(maxval)
        assert S.shape == (KF.N_CTX * KF.N_STATE,)
        rows = S.reshape(KF.N_CTX, KF.N_STATE)
        a0 = max(2, (maxval + 33) >> 6)
        assert (rows[:, 0] == a0).all() and (rows[:, 1] == 0).all()
        assert (rows[:, 2] == 0).all() and (rows[:, 3] == 1).all()
        assert (rows[:, 4] == 16 * a0).all()


@njit(cache=False)
def _update_once(S, q, dd, R):
    KF._update(S, q, dd, R)


def _update_ref(row: list[int], dd: int) -> list[int]:
    """SPEC 5.6 step 6 on one context's [A, B, C, N, K], as the text says it."""
    a, b, c, n, _ = row
    a += abs(dd)
    b += dd
    if n == 64:
        a >>= 1
        b >>= 1
        n >>= 1
    n += 1
    if 2 * b <= -n:
        b += n
        c = max(c - 1, -128)
    elif 2 * b > n:
        b -= n
        c = min(c + 1, 127)
    b = min(max(b, 1 - n), n)
    return [a, b, c, n, (16 * a * ((1 << 32) // n)) >> 32]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, KF.N_CTX - 1),
       st.lists(st.integers(-3000, 3000), min_size=1, max_size=200))
def test_a_context_update_touches_its_own_counters_only(q: int, dds: list[int]) -> None:
    R, _, _, _ = KF.decode_constants()
    S = KF._init(2826)
    before = S.copy()
    row = [int(v) for v in S[q * KF.N_STATE:(q + 1) * KF.N_STATE]]
    for dd in dds:
        _update_once(S, q, dd, R)
        row = _update_ref(row, dd)
    assert S[q * KF.N_STATE:(q + 1) * KF.N_STATE].tolist() == row
    other = np.ones(S.shape, bool)
    other[q * KF.N_STATE:(q + 1) * KF.N_STATE] = False
    assert np.array_equal(S[other], before[other])


def test_tables_of_another_shape_are_refused() -> None:
    plane = png("ct_abdomen_u16.png").astype(np.int32)[:32, :32]
    x, ph, tabmap, freq, cum, sym, words, bits = _plane_parts(plane, 0)
    with pytest.raises(ValueError, match="slot table"):
        _decode(x, ph, tabmap, freq, cum, np.zeros((sym.shape[0], 1024), np.uint8), words,
                bits)
    R, CL, TOK, NB = KF.encode_constants()
    n = x.size
    with pytest.raises(ValueError, match="N_TOKENS columns"):
        KE.fast_tokens(np.ascontiguousarray(x, np.int32), int(x.max()), np.empty(n, np.uint8),
                       np.empty(n, np.uint8), np.zeros(2 * n + 16, np.uint8),
                       np.zeros((KF.N_CLASS, KF.N_TOKENS - 1), np.int64), R, CL, TOK, NB)


_SPANS = [1, 2, 3, 5, 7, 15, 31, 63, 127, 128, 255, 256, 1023, 4095, 4096, 65535, 131070]


def _token_pass(x: np.ndarray, maxval: int, pre: bool) -> tuple[np.ndarray, ...]:
    R, CL, TOK, NB = KF.encode_constants()
    n = x.size
    tokens, classes = np.empty(n, np.uint8), np.empty(n, np.uint8)
    bits = np.zeros(2 * n + 16, np.uint8)
    hist = np.zeros((KF.N_CLASS, KF.N_TOKENS), np.int64)
    if pre:  # junk where context_pass writes nothing (first row, first and last columns)
        qa = np.full(x.shape, 12345, np.int16)
        pa = np.full(x.shape, -7, np.int32)
        KE.context_pass(x, maxval, qa, pa)
        nb = KE.fast_tokens_pre(x, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, qa, pa)
    else:
        nb = KE.fast_tokens(x, maxval, tokens, classes, bits, hist, R, CL, TOK, NB)
    return tokens, classes, bits[:nb], hist


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.sampled_from(_SPANS), st.integers(0, 2),
       st.integers(0, 2 ** 32 - 1))
def test_the_two_loop_token_pass_is_the_one_loop_pass(h: int, w: int, maxval: int, kind: int,
                                                      seed: int) -> None:
    rng = np.random.default_rng(seed)
    if kind == 0:
        x = rng.integers(0, maxval + 1, (h, w))
    elif kind == 1:
        x = np.clip(np.cumsum(rng.integers(-3, 4, (h, w)), axis=1) + maxval // 2, 0, maxval)
    else:
        x = (rng.random((h, w)) < 0.5) * maxval
    x = x.astype(np.int32)
    x[0, 0] = maxval
    one, two = _token_pass(x, maxval, False), _token_pass(x, maxval, True)
    for a, b in zip(one, two):
        assert np.array_equal(a, b)


def test_the_two_loop_token_pass_on_a_real_slice() -> None:
    x = png("ct_abdomen_u16.png").astype(np.int32)
    x -= x.min()
    maxval = int(x.max())
    for a, b in zip(_token_pass(x, maxval, False), _token_pass(x, maxval, True)):
        assert np.array_equal(a, b)


def test_the_two_loop_pass_refuses_arrays_of_another_shape() -> None:
    R, CL, TOK, NB = KF.encode_constants()
    x = np.zeros((8, 8), np.int32)
    x[0, 0] = 3
    with pytest.raises(ValueError, match="plane's shape"):
        KE.context_pass(x, 3, np.zeros((8, 7), np.int16), np.zeros((8, 8), np.int32))
    with pytest.raises(ValueError, match="plane's shape"):
        KE.context_pass(x, 3, np.zeros((8, 8), np.int16), np.zeros((9, 8), np.int32))
    with pytest.raises(ValueError, match="plane's shape"):
        KE.fast_tokens_pre(x, 3, np.empty(64, np.uint8), np.empty(64, np.uint8),
                           np.zeros(144, np.uint8), np.zeros((KF.N_CLASS, KF.N_TOKENS), np.int64),
                           R, CL, TOK, NB, np.zeros((8, 7), np.int16), np.zeros((8, 8), np.int32))
