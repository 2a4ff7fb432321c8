"""Frozen integer probability tables.

A table set is a list of tables; table ``t`` has half-width ``half[t] = L`` and
``2L + 2`` integer frequencies (symbols ``-L..L`` then one escape symbol), every
frequency ``>= 1`` and summing to ``2**FREQ_BITS``.  Tables are built once at export
(floating point is fine there) and stored as integers with the weights, so encoder and
decoder load identical tables on every machine.

>>> t = mixture_tables(np.array([0.5, 4.0]), np.ones(1), np.ones(1))  # plain Gaussians
>>> t.half.tolist(), [int(f.sum()) for f in t.freqs()] == [1 << FREQ_BITS] * 2
([3, 22], True)
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

FREQ_BITS = 20
#: Gaussian scale table (log-spaced).  Part of the frozen tables: changing it changes table ids.
SCALE_MIN, SCALE_MAX, N_SCALES = 0.11, 256.0, 64


@dataclass
class TableSet:
    """Concatenated integer tables: ``half`` (T,), ``offsets`` (T+1,), ``flat`` int32."""

    half: np.ndarray
    offsets: np.ndarray
    flat: np.ndarray

    def freqs(self) -> list[np.ndarray]:
        return [self.flat[self.offsets[t]:self.offsets[t + 1]] for t in range(len(self.half))]

    def digest(self) -> bytes:
        h = hashlib.sha256()
        for a in (self.half, self.offsets, self.flat):
            h.update(np.ascontiguousarray(a, a.dtype.newbyteorder("<")).tobytes())
        return h.digest()

    def to_tensors(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.half": self.half.astype(np.int32),
                f"{prefix}.offsets": self.offsets.astype(np.int64),
                f"{prefix}.flat": self.flat.astype(np.int32)}

    @classmethod
    def from_tensors(cls, t: dict[str, np.ndarray], prefix: str) -> "TableSet":
        return cls(np.asarray(t[f"{prefix}.half"], np.int32),
                   np.asarray(t[f"{prefix}.offsets"], np.int64),
                   np.asarray(t[f"{prefix}.flat"], np.int32))


def quantize_pmf(pmf: np.ndarray, total_bits: int = FREQ_BITS) -> np.ndarray:
    """Integer frequencies >= 1 summing to 2**total_bits, close to ``pmf`` (largest-remainder
    style: floor, then give the rest to the largest entries)."""
    pmf = np.clip(np.asarray(pmf, np.float64), 0, None)
    pmf = pmf / pmf.sum()
    total = 1 << total_bits
    n = pmf.size
    if n > total // 2:
        raise ValueError("table too long for its precision")
    f = np.floor(pmf * (total - n)).astype(np.int64) + 1
    rest = total - int(f.sum())
    order = np.argsort(-pmf, kind="stable")
    i = 0
    while rest != 0:  # rest >= 0 by construction; spread over the most likely symbols
        f[order[i % n]] += 1
        rest -= 1
        i += 1
    return f.astype(np.int32)


def _concat(tables: list[np.ndarray], half: list[int]) -> TableSet:
    offs = np.zeros(len(tables) + 1, np.int64)
    offs[1:] = np.cumsum([len(t) for t in tables])
    return TableSet(np.array(half, np.int32), offs, np.concatenate(tables).astype(np.int32))


def scale_table(scale_max: float = SCALE_MAX, n: int = N_SCALES) -> np.ndarray:
    """``n`` Gaussian scales, log-spaced from SCALE_MIN to ``scale_max`` (a model records
    non-default values in its config)."""
    return np.exp(np.linspace(math.log(SCALE_MIN), math.log(scale_max), n))


def log_scale_thresholds(out_frac: int, **scale_args: float) -> np.ndarray:
    """Integer thresholds on a fixed-point log-scale (unit 2**-out_frac): index i is chosen
    when the log-scale lies between the log-midpoints of scales i-1 and i."""
    ls = np.log(scale_table(**scale_args))  # type: ignore[arg-type]
    mids = (ls[1:] + ls[:-1]) / 2
    return np.ceil(mids * 2.0 ** out_frac).astype(np.int64)


def factorized_tables(pmfs: list[np.ndarray], lows: list[int]) -> TableSet:
    """Tables of a factorized density: ``pmfs[c]`` are masses of integers ``lows[c]..``;
    they are re-centred to a symmetric half-width so the symbol layout is ``v + L``."""
    tabs, half = [], []
    for pmf, lo in zip(pmfs, lows):
        hi = lo + len(pmf) - 1
        L = max(abs(lo), abs(hi), 1)
        full = np.zeros(2 * L + 1)
        full[lo + L:hi + L + 1] = pmf
        tabs.append(quantize_pmf(np.append(full, 1e-9)))
        half.append(L)
    return _concat(tabs, half)


#: largest half-width of a mixture table (rarer values are escapes)
MIX_HALF_MAX = 8192


def mixture_tables(scales: np.ndarray, weights: np.ndarray, ratios: np.ndarray) -> TableSet:
    """Discretised zero-mean Gaussian scale mixtures ``sum_k w_k N(0, (s r_k)^2)`` (unit
    bins) for each scale ``s``, plus an escape bin holding the tail beyond ``+-L``.

    >>> t = mixture_tables(np.array([1.0, 50.0]), np.array([0.5, 0.5]), np.array([0.5, 2.0]))
    >>> t.half.tolist()
    [11, 538]
    """
    from scipy.special import erfc

    w = np.asarray(weights, np.float64)
    w = w / w.sum()
    r = np.asarray(ratios, np.float64)
    tabs, half = [], []
    for s in np.asarray(scales, np.float64):
        sd = s * r * math.sqrt(2)
        L = int(min(MIX_HALF_MAX, max(1, math.ceil(s * r.max() * math.sqrt(2) * 3.8))))
        v = np.abs(np.arange(-L, L + 1, dtype=np.float64))[:, None]
        pmf = (w * 0.5 * (erfc((v - 0.5) / sd) - erfc((v + 0.5) / sd))).sum(1)
        tail = float((w * erfc((L + 0.5) / sd)).sum())
        tabs.append(quantize_pmf(np.append(pmf, max(tail, 1e-9))))
        half.append(L)
    return _concat(tabs, half)
