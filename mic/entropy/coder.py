"""constriction wrappers: integer tables <-> range-coded words (coder id 1).

Symbols that share a table are coded together in one vectorised call (tables in
increasing index order, positions in raster order within a table), so a tile costs
about one Python->Rust call per table used.

>>> import numpy as np
>>> from mic.entropy.tables import mixture_tables
>>> bank = ModelBank(mixture_tables(np.array([1.0, 8.0]), np.ones(1), np.ones(1)))
>>> tab = np.array([0, 1, 1, 0], np.int32); sym = np.array([3, 20, 21, 2], np.int32)
>>> enc = new_encoder(); encode_grouped(enc, sym, tab, bank)
>>> dec = new_decoder(words(enc)); decode_grouped(dec, tab, bank).tolist()
[3, 20, 21, 2]
"""

from __future__ import annotations

import numpy as np

import constriction

from ..errors import MicFormatError, MicTruncatedError
from .bounds import MeteredDecoder, categorical_costs, charge, uniform_cost
from .tables import FREQ_BITS, TableSet

_model = constriction.stream.model
_queue = constriction.stream.queue
#: a metered decoder decodes (and charges, SPEC 4.1) at most this many symbols a call
_CHUNK = 1 << 20


class ModelBank:
    """constriction ``Categorical`` models of a :class:`TableSet`, built on first use."""

    def __init__(self, tables: TableSet) -> None:
        self.tables = tables
        self._cache: dict[int, object] = {}
        self._costs: np.ndarray | None = None

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
    def min_cost(self) -> float:
        """The cheapest symbol of any table, in bits: every symbol coded with this bank
        costs at least this much (SPEC 4.1)."""
        return float(self.costs.min())

    @property
    def table_min_costs(self) -> np.ndarray:
        """The cheapest symbol of each table, in bits (float64, one per table): a symbol
        known to be coded with table ``k`` costs at least ``table_min_costs[k]``."""
        t, c = self.tables, self.costs
        return np.minimum.reduceat(c, t.offsets[:-1].astype(np.int64))

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


def _stable_order(tab: np.ndarray) -> np.ndarray:
    """The stable sort order of the table indexes ``tab``: as int16 where they fit, which
    NumPy sorts by radix (about 8 times faster than int32's merge sort; same order)."""
    if tab.size and 0 <= int(tab.min()) and int(tab.max()) < 1 << 15:
        return np.argsort(tab.astype(np.int16), kind="stable")
    return np.argsort(tab, kind="stable")


def encode_grouped(enc: object, sym: np.ndarray, tab: np.ndarray, bank: ModelBank) -> None:
    """Encode ``sym`` (int32), element i under table ``tab[i]``, grouped by table."""
    sym = np.ascontiguousarray(sym, np.int32).reshape(-1)
    tab = np.ascontiguousarray(tab, np.int32).reshape(-1)
    order = _stable_order(tab)
    st = tab[order]
    ss = sym[order]
    bounds = np.flatnonzero(np.diff(st)) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [len(st)]))
    for a, b in zip(starts, ends):
        if b > a:
            enc.encode(ss[a:b], bank.model(int(st[a])))  # type: ignore[attr-defined]


def decode_grouped(dec: object, tab: np.ndarray, bank: ModelBank) -> np.ndarray:
    """Inverse of :func:`encode_grouped` (``tab`` known to the decoder).  A metered decoder
    is charged the information of the decoded symbols after each group of at most
    ``_CHUNK`` symbols and once more per call for the smaller groups (SPEC 4.1)."""
    tab = np.ascontiguousarray(tab, np.int32).reshape(-1)
    if 0 < tab.size <= _CHUNK and (tab.size == 1 or tab.min() == tab.max()):
        return _decode_one_table(dec, int(tab[0]), tab.size, bank)  # (no sort, one group)
    order = _stable_order(tab)
    st = tab[order]
    out_sorted = np.empty(len(st), np.int32)
    bounds = np.flatnonzero(st[1:] != st[:-1]) + 1
    starts = [0, *bounds.tolist()]
    ends = [*bounds.tolist(), len(st)]
    metered = isinstance(dec, MeteredDecoder)
    costs = bank.costs if metered else None
    offsets = bank.tables.offsets
    model = bank.model
    raw = dec.dec if metered else dec  # type: ignore[union-attr]
    charged = 0  # the symbols of out_sorted[:charged] (whole groups) are charged already
    tabs = st[starts].tolist() if len(st) else []  # each group's table
    try:
        for a0, b, t in zip(starts, ends, tabs):
            m = model(t)
            if b - a0 <= _CHUNK:
                out_sorted[a0:b] = raw.decode(m, b - a0)  # type: ignore[attr-defined]
                continue
            for a in range(a0, b, _CHUNK):  # a large group: charge each chunk as it comes
                e = min(a + _CHUNK, b)
                out_sorted[a:e] = raw.decode(m, e - a)  # type: ignore[attr-defined]
                if metered:
                    dec.charge(float(costs[offsets[st[a:e]] + out_sorted[a:e]].sum()))  # type: ignore[union-attr, index]
            if metered:  # the groups before this large one
                dec.charge(float(costs[offsets[st[charged:a0]] + out_sorted[charged:a0]].sum()))  # type: ignore[union-attr, index]
                charged = b
    except MicFormatError:
        raise
    except Exception as exc:  # constriction signals bad data with its own exceptions
        raise MicFormatError(f"corrupt lossy entropy-coded data: {exc}") from None
    if metered and charged < len(st):  # the information of what was decoded (SPEC 4.1)
        dec.charge(float(costs[offsets[st[charged:]] + out_sorted[charged:]].sum()))  # type: ignore[union-attr, index]
    out = np.empty_like(out_sorted)
    out[order] = out_sorted
    return out


def _decode_one_table(dec: object, t: int, n: int, bank: ModelBank) -> np.ndarray:
    """:func:`decode_grouped` of ``n`` (at most ``_CHUNK``) symbols all under table ``t``:
    one group, so the same call and the same charge, without sorting."""
    metered = isinstance(dec, MeteredDecoder)
    raw = dec.dec if metered else dec  # type: ignore[union-attr]
    try:
        out = np.asarray(raw.decode(bank.model(t), n), np.int32)  # type: ignore[attr-defined]
    except MicFormatError:
        raise
    except Exception as exc:  # constriction signals bad data with its own exceptions
        raise MicFormatError(f"corrupt lossy entropy-coded data: {exc}") from None
    if metered:
        o = bank.tables.offsets
        dec.charge(float(bank.costs[o[t] + out].sum()))  # type: ignore[union-attr]
    return out


def information_bits(sym: np.ndarray, tab: np.ndarray, bank: ModelBank) -> float:
    """Ideal code length in bits of ``sym`` under the integer tables (no coder overhead)."""
    t = bank.tables
    f = t.flat[t.offsets[np.asarray(tab, np.int64).reshape(-1)] + np.asarray(sym).reshape(-1)]
    return float(np.sum(FREQ_BITS - np.log2(f.astype(np.float64))))


_UNIFORM33 = _model.Uniform(33)
_UNIFORM2 = _model.Uniform(2)


def escape_bits(u: np.ndarray) -> float:
    """Code length of :func:`encode_escapes` for the uint32 values ``u``."""
    k = _bit_length(np.asarray(u, np.uint64))
    return float(np.log2(33.0) * k.size + np.maximum(k - 1, 0).sum())


def _bit_length(u: np.ndarray) -> np.ndarray:
    u = np.asarray(u, np.uint64)
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
    k = _bit_length(u)
    enc.encode(k.astype(np.int32), _UNIFORM33)  # type: ignore[attr-defined]
    bits = [((int(v) >> np.arange(n - 2, -1, -1)) & 1) for v, n in zip(u.tolist(), k.tolist()) if n >= 2]
    if bits:
        enc.encode(np.concatenate(bits).astype(np.int32), _UNIFORM2)  # type: ignore[attr-defined]


def decode_escapes(dec: object, n: int) -> np.ndarray:
    """Inverse of :func:`encode_escapes` (``n`` values)."""
    if n == 0:
        return np.zeros(0, np.uint32)
    try:
        k = np.asarray(dec.decode(_UNIFORM33, n), np.int64)  # type: ignore[attr-defined]
        charge(dec, n * uniform_cost(33))
        nb = np.maximum(k - 1, 0)
        total = int(nb.sum())
        charge(dec, total * uniform_cost(2))  # before decoding them: refuse a huge count
        bits = (np.asarray(dec.decode(_UNIFORM2, total), np.int64) if total  # type: ignore[attr-defined]
                else np.zeros(0, np.int64))
    except MicFormatError:
        raise
    except Exception as exc:
        raise MicFormatError(f"corrupt lossy escape data: {exc}") from None
    out = np.zeros(n, np.uint64)
    pos = 0
    for i in range(n):
        if k[i] == 0:
            continue
        v = 1
        for b in bits[pos:pos + nb[i]]:
            v = (v << 1) | int(b)
        pos += int(nb[i])
        out[i] = v
    if out.max(initial=0) > 0xFFFFFFFF:
        raise MicFormatError("corrupt lossy escape data: value above 32 bits")
    return out.astype(np.uint32)


def uniform_encode(enc: object, v: np.ndarray, n: int) -> None:
    """Values ``0 <= v < n`` as ``Uniform(n)`` symbols."""
    enc.encode(np.asarray(v, np.int32).reshape(-1), _model.Uniform(int(n)))  # type: ignore[attr-defined]


def uniform_decode(dec: object, count: int, n: int) -> np.ndarray:
    try:
        out = np.asarray(dec.decode(_model.Uniform(int(n)), int(count)), np.int64)  # type: ignore[attr-defined]
    except Exception as exc:
        raise MicFormatError(f"corrupt lossy entropy-coded data: {exc}") from None
    charge(dec, count * uniform_cost(int(n)))
    return out
