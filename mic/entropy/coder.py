"""constriction wrappers: integer tables <-> range-coded words (coder id 1).

Symbols that share a table are coded together in one vectorised call (tables in
increasing index order, positions in raster order within a table), so a tile costs
about one Python->Rust call per table used.

>>> import numpy as np
>>> from mic.entropy.tables import gaussian_tables
>>> bank = ModelBank(gaussian_tables(np.array([1.0, 8.0])))
>>> tab = np.array([0, 1, 1, 0], np.int32); sym = np.array([3, 20, 21, 2], np.int32)
>>> enc = new_encoder(); encode_grouped(enc, sym, tab, bank)
>>> dec = new_decoder(words(enc)); decode_grouped(dec, tab, bank).tolist()
[3, 20, 21, 2]
"""

from __future__ import annotations

import numpy as np

import constriction

from ..errors import MicFormatError
from .tables import FREQ_BITS, TableSet

_model = constriction.stream.model
_queue = constriction.stream.queue
_UNIFORM16 = _model.Uniform(1 << 16)


class ModelBank:
    """constriction ``Categorical`` models of a :class:`TableSet`, built on first use."""

    def __init__(self, tables: TableSet) -> None:
        self.tables = tables
        self._cache: dict[int, object] = {}

    def __len__(self) -> int:
        return len(self.tables.half)

    def model(self, t: int) -> object:
        m = self._cache.get(t)
        if m is None:
            f = self.tables.flat[self.tables.offsets[t]:self.tables.offsets[t + 1]]
            # f / 2**FREQ_BITS is exact in float64; constriction's quantisation of it is plain
            # IEEE arithmetic in Rust, hence the same on every machine.
            m = _model.Categorical(f.astype(np.float64) / float(1 << FREQ_BITS), perfect=False)
            self._cache[t] = m
        return m


def new_encoder() -> object:
    return _queue.RangeEncoder()


def new_decoder(w: np.ndarray) -> object:
    return _queue.RangeDecoder(np.ascontiguousarray(w, dtype=np.uint32))


def words(enc: object) -> np.ndarray:
    return enc.get_compressed()  # type: ignore[attr-defined]


def encode_grouped(enc: object, sym: np.ndarray, tab: np.ndarray, bank: ModelBank) -> None:
    """Encode ``sym`` (int32), element i under table ``tab[i]``, grouped by table."""
    sym = np.ascontiguousarray(sym, np.int32).reshape(-1)
    tab = np.ascontiguousarray(tab, np.int32).reshape(-1)
    order = np.argsort(tab, kind="stable")
    st = tab[order]
    ss = sym[order]
    bounds = np.flatnonzero(np.diff(st)) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [len(st)]))
    for a, b in zip(starts, ends):
        if b > a:
            enc.encode(ss[a:b], bank.model(int(st[a])))  # type: ignore[attr-defined]


def decode_grouped(dec: object, tab: np.ndarray, bank: ModelBank) -> np.ndarray:
    """Inverse of :func:`encode_grouped` (``tab`` known to the decoder)."""
    tab = np.ascontiguousarray(tab, np.int32).reshape(-1)
    order = np.argsort(tab, kind="stable")
    st = tab[order]
    out_sorted = np.empty(len(st), np.int32)
    bounds = np.flatnonzero(np.diff(st)) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [len(st)]))
    try:
        for a, b in zip(starts, ends):
            if b > a:
                out_sorted[a:b] = dec.decode(bank.model(int(st[a])), int(b - a))  # type: ignore[attr-defined]
    except Exception as exc:  # constriction signals bad data with its own exceptions
        raise MicFormatError(f"corrupt lossy entropy-coded data: {exc}") from None
    out = np.empty_like(out_sorted)
    out[order] = out_sorted
    return out


def information_bits(sym: np.ndarray, tab: np.ndarray, bank: ModelBank) -> float:
    """Ideal code length in bits of ``sym`` under the integer tables (no coder overhead)."""
    t = bank.tables
    f = t.flat[t.offsets[np.asarray(tab, np.int64).reshape(-1)] + np.asarray(sym).reshape(-1)]
    return float(np.sum(FREQ_BITS - np.log2(f.astype(np.float64))))


def encode_uint32(enc: object, u: np.ndarray) -> None:
    """Raw 32-bit values as two uniform 16-bit symbols each (low half first)."""
    u = np.asarray(u, np.uint32).reshape(-1)
    if u.size:
        pairs = np.stack([u & 0xFFFF, u >> 16], axis=1).reshape(-1).astype(np.int32)
        enc.encode(pairs, _UNIFORM16)  # type: ignore[attr-defined]


def decode_uint32(dec: object, n: int) -> np.ndarray:
    if n == 0:
        return np.zeros(0, np.uint32)
    try:
        p = np.asarray(dec.decode(_UNIFORM16, 2 * n), np.int64).reshape(n, 2)  # type: ignore[attr-defined]
    except Exception as exc:
        raise MicFormatError(f"corrupt lossy escape data: {exc}") from None
    return (p[:, 0] | (p[:, 1] << 16)).astype(np.uint32)
