"""Integer tables <-> range-coded words (coder id 1, SPEC 4.2, constriction's queue range
coder): :mod:`mic.entropy.rangeenc` encodes, :mod:`mic.entropy.rangedec` decodes (both
Numba, the same arithmetic).

Symbols are coded grouped by table (tables in increasing index order, positions in raster
order within a table), a pass in one kernel call each way.

>>> import numpy as np
>>> from mic.entropy.tables import mixture_tables
>>> bank = ModelBank(mixture_tables(np.array([1.0, 8.0]), np.ones(1), np.ones(1)))
>>> tab = np.array([0, 1, 1, 0], np.int32); sym = np.array([3, 20, 21, 2], np.int32)
>>> enc = new_encoder(); encode_grouped(enc, sym, tab, bank)
>>> dec = new_decoder(words(enc)); decode_grouped(dec, tab, bank).tolist()
[3, 20, 21, 2]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import MicFormatError, MicTruncatedError
from .bounds import MeteredDecoder, categorical_costs, uniform_cost
from .tables import FREQ_BITS, TableSet

#: the grouped decoder checks its charge (SPEC 4.1) every this many symbols
_CHECK = 1 << 12


class ModelBank:
    """The coder's view of a :class:`TableSet`: each table's quantised CDF (as
    constriction's ``Categorical(..., perfect=False)`` quantises it), its symbols' costs,
    made on first use."""

    def __init__(self, tables: TableSet) -> None:
        self.tables = tables
        self._costs: np.ndarray | None = None

    def _once(self, key: str, make: Callable[[], Any]) -> Any:
        """The value kept under ``key``, made by ``make()`` on first use (no lock: two
        threads may both make it, the same value)."""
        c = self.__dict__.get(key)
        if c is None:
            c = self.__dict__[key] = make()
        return c

    @property
    def costs(self) -> np.ndarray:
        """float64, aligned with ``tables.flat``: each symbol's exact cost in bits under the
        constriction model of its table (:func:`mic.entropy.bounds.categorical_costs`);
        computed once per bank."""
        if self._costs is None:
            t = self.tables
            self._costs = np.concatenate([
                categorical_costs(t.flat[t.offsets[k]:t.offsets[k + 1]].astype(np.float64)
                                  / float(1 << FREQ_BITS)) for k in range(len(t.half))])
        return self._costs

    @property
    def information_costs(self) -> np.ndarray:
        """float64, aligned with ``tables.flat``: each symbol's ideal cost
        ``FREQ_BITS - log2(f)`` under its integer table (what :func:`information_bits`
        adds up); computed once per bank."""
        def make() -> np.ndarray:
            with np.errstate(divide="ignore"):  # a zero frequency costs inf, as before
                return FREQ_BITS - np.log2(self.tables.flat.astype(np.float64))

        return self._once("_info_costs", make)

    @property
    def min_cost(self) -> float:
        """The cheapest symbol of any table, in bits: every symbol coded with this bank
        costs at least this much (SPEC 4.1); computed once per bank."""
        return self._once("_min_cost", lambda: float(self.costs.min()))

    @property
    def table_min_costs(self) -> np.ndarray:
        """The cheapest symbol of each table, in bits (float64, one per table): a symbol
        known to be coded with table ``k`` costs at least ``table_min_costs[k]``."""
        t, c = self.tables, self.costs
        return np.minimum.reduceat(c, t.offsets[:-1].astype(np.int64))

    @property
    def cdfs(self) -> tuple[np.ndarray, np.ndarray]:
        """(every table's quantised CDF back to back, uint64; where table ``t``'s starts,
        int64, ``len + 1`` entries): the models the range decoder reads
        (:mod:`mic.entropy.rangedec`) and the encoder (:mod:`mic.entropy.rangeenc`) read;
        computed once per bank."""
        def make() -> tuple[np.ndarray, np.ndarray]:
            from .rangedec import cdf_of

            t = self.tables
            parts = [cdf_of(t.flat[t.offsets[k]:t.offsets[k + 1]].astype(np.float64)
                            / float(1 << FREQ_BITS)) for k in range(len(t.half))]
            off = np.concatenate(([0], np.cumsum([p.size for p in parts]))).astype(np.int64)
            return (np.concatenate(parts) if parts else np.zeros(0, np.uint64), off)

        return self._once("_cdfs", make)

    @property
    def cost_offsets(self) -> np.ndarray:
        """``tables.offsets`` as int64: where each table's symbols start in :attr:`costs`."""
        return self._once("_cost_off", lambda: self.tables.offsets.astype(np.int64))

    @property
    def half64(self) -> np.ndarray:
        """``tables.half`` as int64 (each table's half-width), made once per bank."""
        return self._once("_half64", lambda: self.tables.half.astype(np.int64))

    def cdf(self, t: int) -> np.ndarray:
        """Table ``t``'s quantised CDF (uint64, a view of :attr:`cdfs`)."""
        flat, off = self.cdfs
        return flat[off[t]:off[t + 1]]

    def __len__(self) -> int:
        return len(self.tables.half)


def new_encoder() -> object:
    """Coder id 1's encoder: :class:`mic.entropy.rangeenc.RangeEncoder` (Numba, constriction's
    words, no GIL held while it codes)."""
    from .rangeenc import RangeEncoder

    return RangeEncoder()


def new_decoder(w: np.ndarray, what: str = "range-coded data") -> MeteredDecoder:
    """A decoder of the words ``w`` that refuses them (:class:`MicFormatError`) as soon as
    the symbols decoded carry more information than ``w`` can hold (SPEC 4.1)."""
    return MeteredDecoder(w, what)


def read_words(buf: memoryview, pos: int, n_words: int, what: str) -> tuple[np.ndarray, int]:
    """The ``n_words`` little-endian u32 words at ``buf[pos:]`` and the position after them;
    :class:`MicTruncatedError` naming ``what`` when the buffer is shorter."""
    if len(buf) - pos < 4 * n_words:
        raise MicTruncatedError(f"{what} truncated: {n_words} words announced")
    w = np.frombuffer(buf, dtype="<u4", count=n_words, offset=pos).astype(np.uint32)
    return w, pos + 4 * n_words


def words(enc: object) -> np.ndarray:
    return enc.get_compressed()  # type: ignore[attr-defined]


def encode_grouped(enc: object, sym: np.ndarray, tab: np.ndarray, bank: ModelBank) -> None:
    """Encode ``sym`` (int32), element i under table ``tab[i]``, grouped by table."""
    enc.encode_grouped(sym, tab, *bank.cdfs)  # type: ignore[attr-defined]


def decode_grouped(dec: MeteredDecoder, tab: np.ndarray, bank: ModelBank) -> np.ndarray:
    """Inverse of :func:`encode_grouped` (``tab`` known to the decoder), in one call of the
    range decoder's kernel, which charges the information of the decoded symbols as it
    goes and refuses them once they exceed the words (every ``_CHECK`` symbols and at the
    end, SPEC 4.1)."""
    tab = np.ascontiguousarray(tab, np.int32).reshape(-1)
    flat, off = bank.cdfs
    return dec.decode_grouped(tab, flat, off, bank.costs, bank.cost_offsets, _CHECK)[0]


def decode_runs(dec: MeteredDecoder, tabs: list[int], count: int, bank: ModelBank
                ) -> np.ndarray:
    """``count`` symbols under each table of ``tabs`` in turn: what ``decode_grouped(dec,
    np.full(count, t), bank)`` for each ``t`` returns, concatenated, in one kernel call."""
    flat, off = bank.cdfs
    return dec.decode_runs(np.asarray(tabs, np.int64), count, flat, off, bank.costs,
                           bank.cost_offsets, _CHECK)


def decode_values(dec: MeteredDecoder, tab: np.ndarray, bank: ModelBank, shift: int = 0
                  ) -> tuple[np.ndarray, int]:
    """:func:`decode_grouped` of a table set's symbols as values: (int32 values, with
    :data:`mic.entropy.rangedec.ESCAPED` at each escape, in position order; the number of
    escapes), in the same kernel call (no second pass over the symbols); each table index
    ``tab`` shifted by ``shift`` (a pass's table bias) and clamped to the bank's."""
    tab = np.ascontiguousarray(tab, np.int32).reshape(-1)
    flat, off = bank.cdfs
    return dec.decode_grouped(tab, flat, off, bank.costs, bank.cost_offsets, _CHECK, True,
                              shift)


def information_bits(sym: np.ndarray, tab: np.ndarray, bank: ModelBank) -> float:
    """Ideal code length in bits of ``sym`` under the integer tables (no coder overhead):
    each symbol's cost gathered by a Numba kernel (no GIL held), summed by NumPy."""
    from .rangeenc import gather_costs

    sym1 = np.ascontiguousarray(sym, np.int64).reshape(-1)
    out = np.empty(sym1.size)
    if not gather_costs(sym1, np.ascontiguousarray(tab, np.int64).reshape(-1),
                        bank.cost_offsets, bank.information_costs, out):
        raise IndexError("a symbol or table index outside the bank's tables")
    return float(np.sum(out))




def escape_bits(u: np.ndarray) -> float:
    """Code length of :func:`encode_escapes` for the uint32 values ``u``."""
    k = _bit_length(np.asarray(u, np.uint64))
    return float(np.log2(33.0) * k.size + np.maximum(k - 1, 0).sum())


def _bit_length(u: np.ndarray) -> np.ndarray:
    u = np.asarray(u, np.uint64)
    if not u.size or int(u.max()) < 1 << 53:  # exact in float64: frexp's exponent
        return np.frexp(u.astype(np.float64))[1].astype(np.int64)
    k = np.zeros(u.shape, np.int64)
    for b in range(33):
        k[(u >> np.uint64(b)) > 0] = b + 1
    return k


def encode_escapes(enc: object, u: np.ndarray) -> None:
    """uint32 values, Elias-gamma style: each value's bit length ``k`` (0..32) as a
    ``Uniform(33)`` symbol, then, value by value, its ``k - 1`` bits below the leading one,
    most significant first, as ``Uniform(2)`` symbols."""
    u = np.asarray(u, np.uint64).reshape(-1)
    if not u.size:
        return
    from .rangeenc import escape_bit_list

    k = _bit_length(u)
    enc.encode_uniform(k, 33)  # type: ignore[attr-defined]
    bits = escape_bit_list(u, k)
    if bits.size:
        enc.encode_uniform(bits, 2)  # type: ignore[attr-defined]


def decode_escapes(dec: MeteredDecoder, n: int) -> np.ndarray:
    """Inverse of :func:`encode_escapes` (``n`` values)."""
    if n == 0:
        return np.zeros(0, np.uint32)
    try:
        k = dec.decode_uniform(33, n).astype(np.int64)
        dec.charge(n * uniform_cost(33))
        nb = np.maximum(k - 1, 0)
        total = int(nb.sum())
        dec.charge(total * uniform_cost(2))  # before decoding them: refuse a huge count
        bits = dec.decode_uniform(2, total).astype(np.int64) if total else np.zeros(0, np.int64)
    except MicFormatError:
        raise
    except Exception as exc:
        raise MicFormatError(f"corrupt lossy escape data: {exc}") from None
    from .rangedec import assemble_escapes

    out = np.empty(n, np.uint64)
    assemble_escapes(k, bits, out)  # one Numba pass (no GIL held)
    if out.max(initial=0) > 0xFFFFFFFF:
        raise MicFormatError("corrupt lossy escape data: value above 32 bits")
    return out.astype(np.uint32)


def uniform_encode(enc: object, v: np.ndarray, n: int) -> None:
    """Values ``0 <= v < n`` as ``Uniform(n)`` symbols."""
    enc.encode_uniform(np.asarray(v).reshape(-1), int(n))  # type: ignore[attr-defined]


def uniform_decode(dec: MeteredDecoder, count: int, n: int) -> np.ndarray:
    try:
        out = dec.decode_uniform(int(n), int(count)).astype(np.int64)
    except Exception as exc:
        raise MicFormatError(f"corrupt lossy entropy-coded data: {exc}") from None
    dec.charge(count * uniform_cost(int(n)))
    return out
