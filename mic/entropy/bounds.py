"""Sound lower bounds on the words a range-coded message needs (SPEC.md 4.1).

A decoder given too few words does not fail: constriction's queue ``RangeDecoder`` reads
zeros past the end and decodes on.  So a forged header that announces a huge tile over a
few bytes of words would be decoded in full (and fail only on a checksum at the end).
This module gives the decoder a cheap test that no valid stream can fail:

**The bound.**  constriction's queue ``RangeEncoder`` (32-bit words, 64-bit state,
24-bit probabilities) keeps ``range >= 2**32`` after every symbol (it shifts out one word
whenever the range falls below that).  Encoding a symbol of quantized probability
``p / 2**24`` sets ``range = floor(range / 2**24) * p``, so the width of the current
interval relative to the start, ``W = range * 2**(-64 - 32 e)`` (``e`` words shifted out,
inverted words awaiting a carry included), shrinks by at least the factor ``p / 2**24``
per symbol, while ``W >= 2**(32 - 64 - 32 e)``.  With ``I`` = the sum of
``-log2(p / 2**24)`` over the symbols encoded so far (their *information*) this gives
``I <= 32 e + 32``.  The sealed stream holds every shifted-out word plus at least one
more (none only for an empty message), so **a stream of ``n`` words carries symbols of
information at most ``32 n``**, and so does every prefix of its symbols.

The decoder checks it twice: before allocating anything, with each symbol's cheapest
possible cost (``min_cost`` of its table) times the number of symbols the tile's size
implies (:func:`check_words`); and while decoding, with the information of the symbols
actually decoded (:class:`MeteredDecoder`), so words that run out (zeros) or are garbage
(whose symbols follow the model's own distribution, at about its entropy each) are
refused after at most ``32 n`` bits' worth of symbols instead of at the end of the tile.

The quantized probabilities are constriction's "fast" leaky quantization of the float
probabilities a coder passes to ``Categorical(..., perfect=False)`` (reproduced exactly
by :func:`quantized_probabilities`, checked against constriction by the tests) and
``Uniform(n)``'s bins; costs are computed once per table.  Float rounding is absorbed by
:data:`SLACK`: a stream is refused only when its bound exceeds ``32 n`` by more than a
relative 2**-20 plus a bit.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ..errors import MicFormatError
from .rangedec import (
    BAD_TABLE, INVALID, OVERRUN, decode_cdf, decode_grouped_kernel, decode_runs_kernel,
    decode_uniform, initial_state,
)

#: constriction's default probability precision (bits) for Categorical and Uniform models
PRECISION = 24
#: bits per range-coder word
WORD_BITS = 32
#: relative tolerance for float rounding in the cost sums (the bound itself is exact)
SLACK = 2.0 ** -20


def quantized_probabilities(probs: np.ndarray) -> np.ndarray:
    """The integer probabilities (out of ``2**PRECISION``) of
    ``constriction.stream.model.Categorical(probs, perfect=False)`` (constriction 0.4-0.5,
    ``fast_quantized_cdf``): with ``C_i`` the running float64 sum of ``probs[:i]`` (in
    order), ``scale = (2**24 - n) / sum(probs)``, the left cumulatives are
    ``floor(C_i * scale) + i`` and the last symbol ends at ``2**24``.

    >>> quantized_probabilities(np.array([0.5, 0.25, 0.25])).tolist()
    [8388607, 4194304, 4194305]
    """
    p = np.ascontiguousarray(probs, np.float64)
    n = p.size
    cum = np.cumsum(p)  # sequential, as Rust's fold: the same IEEE sums
    total = float(cum[-1])
    scale = float((1 << PRECISION) - n) / total
    left_f = np.concatenate(([0.0], cum[:-1])) * scale
    left = np.floor(left_f).astype(np.int64) + np.arange(n, dtype=np.int64)
    return np.diff(np.append(left, 1 << PRECISION))


def categorical_costs(probs: np.ndarray) -> np.ndarray:
    """Each symbol's exact cost in bits, ``-log2(p / 2**24)``, under
    ``Categorical(probs, perfect=False)``."""
    q = quantized_probabilities(probs).astype(np.float64)
    return PRECISION - np.log2(q)


@lru_cache(maxsize=256)
def uniform_cost(n: int) -> float:
    """The cheapest symbol's cost in bits under ``Uniform(n)`` (``n >= 2``): every bin has
    ``floor(2**24 / n)``, the last the rest (constriction's ``UniformModel``).

    >>> round(uniform_cost(2), 6), uniform_cost(33) < math.log2(33)
    (1.0, True)
    """
    per = (1 << PRECISION) // n
    last = (1 << PRECISION) - (n - 1) * per
    return PRECISION - math.log2(max(per, last))


def _too_many(bits: float, n_words: int) -> bool:
    return bits * (1.0 - SLACK) - 1.0 > WORD_BITS * n_words


def check_words(n_words: int, min_bits: float, what: str) -> None:
    """Refuse (:class:`MicFormatError`) ``n_words`` words that cannot hold symbols whose
    information is at least ``min_bits`` (the static bound, before decoding)."""
    if _too_many(min_bits, n_words):
        raise MicFormatError(
            f"{what}: {n_words} range-coder words cannot hold the symbols its size implies "
            f"(at least {min_bits:.0f} bits of them): corrupt or forged stream")


class MeteredDecoder:
    """The range decoder of coder id 1 (:mod:`mic.entropy.rangedec`, constriction's queue
    ``RangeDecoder`` in Numba) over ``words``, keeping count of the information of what it
    decoded: :meth:`charge` adds bits and raises :class:`MicFormatError` once they exceed
    what ``len(words)`` words can carry.  The decode helpers of :mod:`mic.entropy.coder`
    and :mod:`mic.entropy.shape` charge it (:meth:`decode_grouped` charges itself)."""

    __slots__ = ("words", "state", "n_words", "bits", "what", "_meter")

    def __init__(self, words: np.ndarray, what: str = "range-coded data") -> None:
        w = np.ascontiguousarray(words, dtype=np.uint32)
        self.words = w
        self.state = initial_state(w)
        self.n_words = int(w.size)
        self.bits = 0.0
        self.what = what
        #: [bits so far, the most the words can carry] as the grouped kernel reads them
        self._meter = np.array([0.0, (WORD_BITS * self.n_words + 1.0) / (1.0 - SLACK)])

    def _failed(self, status: int) -> None:
        if status == INVALID:
            raise MicFormatError(f"{self.what}: corrupt range-coded data (a quantile beyond "
                                 "its model)")
        raise MicFormatError(  # OVERRUN
            f"{self.what}: the symbols decoded so far carry {self.bits:.0f} bits, more "
            f"than its {self.n_words} words can hold: corrupt or forged stream")

    def decode(self, cdf: np.ndarray, n: int) -> np.ndarray:
        """``n`` symbols (int32) under the model whose quantised CDF is ``cdf`` (uint64,
        :func:`mic.entropy.rangedec.cdf_of`); not charged."""
        out = np.empty(int(n), np.int32)
        st = decode_cdf(self.words, self.state, cdf, int(n), out)
        if st:
            self._failed(st)
        return out

    def decode_uniform(self, n_values: int, count: int) -> np.ndarray:
        """``count`` symbols (int32) of constriction's ``Uniform(n_values)``; not charged."""
        if not 2 <= n_values <= 1 << PRECISION:
            raise ValueError(f"a uniform model has 2 to 2**{PRECISION} values, not {n_values}")
        out = np.empty(int(count), np.int32)
        st = decode_uniform(self.words, self.state, int(n_values), int(count), out)
        if st:
            self._failed(st)
        return out

    def decode_grouped(self, tab: np.ndarray, cdf: np.ndarray, cdf_off: np.ndarray,
                       costs: np.ndarray, cost_off: np.ndarray, check_every: int,
                       values: bool = False, shift: int = 0) -> tuple[np.ndarray, int]:
        """The symbols (int32) of positions under the tables ``tab`` (int32; each shifted
        by ``shift`` and clamped to the tables), coded grouped by table, and the number of
        escapes among them (0 unless ``values``); charged as they are decoded, checked
        every ``check_every`` symbols; with ``values`` the values
        (:func:`mic.entropy.rangedec.decode_grouped_kernel`)."""
        out = np.empty(tab.size, np.int32)
        meter = self._meter
        meter[0] = self.bits
        st, n_esc = decode_grouped_kernel(self.words, self.state, tab, int(shift), cdf, cdf_off,
                                          costs, cost_off, meter, int(check_every),
                                          bool(values), out)
        self._metered(st, cdf_off)
        return out, int(n_esc)

    def decode_runs(self, tabs: np.ndarray, count: int, cdf: np.ndarray, cdf_off: np.ndarray,
                    costs: np.ndarray, cost_off: np.ndarray, check_every: int) -> np.ndarray:
        """``count`` symbols (int32) under each table of ``tabs`` in turn, in one kernel
        call: the symbols, charges and checks of one :meth:`decode_grouped` per table
        (:func:`mic.entropy.rangedec.decode_runs_kernel`)."""
        out = np.empty(len(tabs) * int(count), np.int32)
        meter = self._meter
        meter[0] = self.bits
        st = decode_runs_kernel(self.words, self.state, np.asarray(tabs, np.int64), int(count),
                                cdf, cdf_off, costs, cost_off, meter, int(check_every), out)
        self._metered(st, cdf_off)
        return out

    def _metered(self, st: int, cdf_off: np.ndarray) -> None:
        """After a charging kernel: keep the bits it charged, and raise on its status."""
        self.bits = float(self._meter[0])
        if st == BAD_TABLE:
            raise MicFormatError(f"{self.what}: a table index beyond the model's "
                                 f"{cdf_off.size - 1} tables")
        if st:
            self._failed(st)

    def charge(self, bits: float) -> None:
        self.bits += float(bits)
        if _too_many(self.bits, self.n_words):
            self._failed(OVERRUN)


__all__ = ["PRECISION", "WORD_BITS", "SLACK", "quantized_probabilities", "categorical_costs",
           "uniform_cost", "check_words", "MeteredDecoder"]
