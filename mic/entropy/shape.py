"""Lossless coding of a binary shape (a mask) by its row transitions (SPEC.md 6.6).

Each row of the mask is described by its **transitions**: the columns ``j`` where the
mask differs from the pixel to its left (a virtual ``False`` before column 0).  Rows are
coded relative to the row above, as fax coders (CCITT "READ") do: per row the change of
the number of transitions; then each transition matched to one of the row above (all of
them when the count is unchanged; all but an inserted or an ended pair when it changes by
two, whose place is sent) as the residual of its offset against that transition's offset
one row up, coded in one of four context classes (the residual one row up was negative,
zero, positive, or there was none) under a table the encoder picks per class from twelve
fixed ones; anything else (other count changes, large residuals) as plain
``Uniform(cols)`` columns.  Everything is one constriction range-coder stream.

The shapes this is for (the exact-constant background of a CT field of view, the black
bars of a resized MR, the outside of an ultrasound sector) cost a few hundred bytes at
512 x 512.

>>> import numpy as np
>>> yy, xx = np.mgrid[:64, :80]
>>> disc = (yy - 31.5) ** 2 + (xx - 40) ** 2 > 30 ** 2
>>> blob = encode_shape(disc)
>>> bool((decode_shape(blob, 64, 80) == disc).all()), len(blob) < 80
(True, True)
"""

from __future__ import annotations

import struct

import numpy as np

from ..bitstream.varint import unzigzag, unzigzag_array, zigzag, zigzag_array
from ..errors import MicFormatError, MicTruncatedError
from .bounds import check_words, uniform_cost
from .coder import (
    ModelBank, decode_escapes, decode_grouped, encode_escapes, encode_grouped, information_bits,
    new_decoder, new_encoder, read_words, uniform_decode, uniform_encode, words,
)
from .tables import TableSet

#: half-width of the offset tables: zigzag codes 0 .. 2*HALF; above is the escape
HALF = 15
#: decay of table ``t``'s two-sided geometric: P(v) ~ RHO[t] ** |v|
RHO = (0.02, 0.08, 0.2, 0.35, 0.5, 0.65, 0.8, 0.92)
#: decays of the tables that follow, centred on +1: P(v) ~ RHO1[t] ** |v - 1| (an offset
#: residual after a nonzero one mostly swings back, sign-flipped to +1 when coded)
RHO1 = (0.1, 0.25, 0.4, 0.6)
#: number of tables
N_TABLES = len(RHO) + len(RHO1)
#: a shape stream: n_words (u32) then the words
HEAD = struct.Struct("<I")


def geometric_tables() -> TableSet:
    """The tables' recipe: symbol ``u`` (zigzag of v, 0..2*HALF) then the escape, each
    frequency ≥ 1 and summing to 2^FREQ_BITS, from integer-rounded float64 pmfs (exactly
    reproducible: only ``**`` and division of small doubles, then ``quantize_pmf``)."""
    from .tables import quantize_pmf

    half, flat, offsets = [], [], [0]
    v = unzigzag_array(np.arange(2 * HALF + 1), np.float64)  # the value of each zigzag code
    for centre, rhos in ((0.0, RHO), (1.0, RHO1)):
        for rho in rhos:
            p = np.append(rho ** np.abs(v - centre), rho ** (HALF + 1))
            f = quantize_pmf(p / p.sum())
            half.append(HALF)
            flat.append(f)
            offsets.append(offsets[-1] + len(f))
    return TableSet(half=np.array(half, np.int32), offsets=np.array(offsets, np.int64),
                    flat=np.concatenate(flat).astype(np.int64))


#: the frozen tables (what counts; :func:`geometric_tables` made them): table ``t`` gives
#: the frequencies of zigzag codes 0 .. 2*HALF, then of the escape, summing to 2^20
SHAPE_FREQS: tuple[tuple[int, ...], ...] = (
    (1007426, 20150, 20150, 404, 403, 9, 9, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
     1, 1, 1, 1, 1, 1, 1, 1, 1),
    (893206, 71458, 71458, 5718, 5718, 459, 458, 37, 37, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
     1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
    (699031, 139807, 139807, 27963, 27963, 5594, 5594, 1120, 1120, 225, 225, 45, 45, 9, 9, 2,
     2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
    (504856, 176701, 176701, 61846, 61846, 21647, 21647, 7577, 7577, 2653, 2653, 930, 930,
     326, 326, 115, 115, 41, 40, 14, 14, 5, 5, 2, 2, 1, 1, 1, 1, 1, 1, 1),
    (349521, 174761, 174761, 87381, 87381, 43691, 43691, 21846, 21846, 10924, 10924, 5463,
     5463, 2732, 2732, 1367, 1367, 684, 684, 343, 342, 171, 171, 86, 86, 43, 43, 22, 22, 11,
     11, 6),
    (222646, 144720, 144720, 94069, 94069, 61145, 61145, 39745, 39745, 25835, 25835, 16793,
     16793, 10916, 10915, 7095, 7095, 4612, 4612, 2998, 2998, 1949, 1949, 1267, 1267, 824,
     824, 536, 536, 348, 348, 227),
    (119881, 95905, 95905, 76724, 76724, 61380, 61380, 49104, 49104, 39284, 39284, 31427,
     31427, 25142, 25142, 20113, 20113, 16090, 16090, 12872, 12872, 10298, 10298, 8239, 8239,
     6591, 6591, 5273, 5273, 4218, 4218, 3375),
    (59313, 54568, 54568, 50203, 50203, 46187, 46187, 42492, 42492, 39093, 39093, 35965,
     35965, 33088, 33088, 30441, 30441, 28005, 28005, 25765, 25765, 23704, 23704, 21807,
     21807, 20063, 20063, 18458, 18458, 16981, 16981, 15623),
    (85791, 8580, 857901, 859, 85791, 87, 8580, 10, 859, 1, 87, 1, 10, 1, 1, 1, 1, 1, 1, 1,
     1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
    (157283, 39322, 629128, 9832, 157283, 2459, 39322, 616, 9832, 154, 2459, 39, 615, 10,
     154, 3, 39, 1, 10, 1, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
    (179752, 71902, 449378, 28762, 179752, 11506, 71902, 4603, 28762, 1842, 11506, 737, 4603,
     295, 1841, 118, 737, 48, 295, 19, 118, 8, 48, 4, 19, 2, 8, 1, 4, 1, 2, 1),
    (157335, 94402, 262224, 56642, 157335, 33986, 94402, 20392, 56642, 12236, 33986, 7341,
     20392, 4405, 12236, 2643, 7341, 1586, 4405, 952, 2643, 571, 1586, 343, 952, 206, 571,
     124, 343, 74, 206, 74),
)
_BANK: ModelBank | None = None


def _bank() -> ModelBank:
    global _BANK
    if _BANK is None:
        flat = np.concatenate([np.asarray(f, np.int64) for f in SHAPE_FREQS])
        offsets = np.cumsum([0] + [len(f) for f in SHAPE_FREQS]).astype(np.int64)
        _BANK = ModelBank(TableSet(half=np.full(len(SHAPE_FREQS), HALF, np.int32),
                                   offsets=offsets, flat=flat))
    return _BANK


#: the table of :func:`encode_small` (decay 0.35: 0 costs about 1 bit, +-3 about 4.5)
SMALL_TABLE = 3


def small_bits(values: np.ndarray) -> float:
    """Ideal bits of :func:`encode_small` for ``values``."""
    u = zigzag_array(values).astype(np.int32)
    return information_bits(u, np.full(u.size, SMALL_TABLE, np.int32), _bank())


_SMALL_EACH: np.ndarray | None = None


def small_bits_each() -> np.ndarray:
    """(2 HALF + 1,) read-only: :func:`small_bits` of each single value -HALF..HALF (the
    same floats), built once."""
    global _SMALL_EACH
    if _SMALL_EACH is None:  # (two threads may both build it: the same values)
        each = np.array([small_bits(np.array([d])) for d in range(-HALF, HALF + 1)])
        each.flags.writeable = False
        _SMALL_EACH = each
    return _SMALL_EACH


_ONE_SMALL = np.full(1, SMALL_TABLE, np.int32)  # one value's table (read only)
_ONE_SMALL.flags.writeable = False


def encode_small(enc: object, values: np.ndarray) -> float:
    """Small signed integers (|v| <= HALF) as the zigzag symbols of table
    :data:`SMALL_TABLE` (no escape); returns their ideal bits."""
    v = np.asarray(values, np.int64).reshape(-1)
    if v.size == 1:  # one value (a pass's inline table bias): no array arithmetic, the
        d = int(v[0])  # same symbol and bits
        if abs(d) > HALF:
            raise ValueError(f"encode_small codes |v| <= {HALF}")
        encode_grouped(enc, np.full(1, 2 * d if d >= 0 else -2 * d - 1, np.int32),
                       _ONE_SMALL, _bank())
        return float(small_bits_each()[d + HALF])
    if v.size and np.abs(v).max() > HALF:
        raise ValueError(f"encode_small codes |v| <= {HALF}")
    u = zigzag_array(v).astype(np.int32)
    encode_grouped(enc, u, np.full(u.size, SMALL_TABLE, np.int32), _bank())
    return small_bits(v)


def decode_small(dec: object, n: int) -> np.ndarray:
    """Inverse of :func:`encode_small` for ``n`` values; an escape symbol is a
    :class:`MicFormatError`.  (One value, a pass's inline table bias, skips the array
    arithmetic: the same result.)"""
    if n == 1:
        u1 = int(decode_grouped(dec, _ONE_SMALL, _bank())[0])
        if u1 > 2 * HALF:
            raise MicFormatError("corrupt small-integer symbol (escape)")
        return np.array([(u1 >> 1) ^ -(u1 & 1)], np.int64)
    u = decode_grouped(dec, np.full(n, SMALL_TABLE, np.int32), _bank()).astype(np.int64)
    if u.size and u.max() > 2 * HALF:
        raise MicFormatError("corrupt small-integer symbol (escape)")
    return unzigzag_array(u)


def transitions(mask: np.ndarray) -> list[np.ndarray]:
    """Per row, the columns where the row changes (a ``False`` before column 0)."""
    m = np.asarray(mask, bool)
    prev = np.concatenate([np.zeros((m.shape[0], 1), bool), m[:, :-1]], 1)
    ii, jj = np.nonzero(m != prev)
    cuts = np.searchsorted(ii, np.arange(1, m.shape[0]))
    return np.split(jj.astype(np.int64), cuts)


# symbol classes with a table each: the count change, then the offset residuals by context
# (the same transition's residual in the row above: < 0, 0, > 0, or none)
C_DN, C_RES_POS, C_RES_NONE = 0, 3, 4
N_CLASSES = 5
ESC = 2 * HALF + 1  # the escape symbol of every table


def _ctx(prev_r: np.ndarray | None, k: int) -> int:
    """Residual class of a matched transition whose row-above counterpart is ``k``."""
    if prev_r is None or k < 0:
        return C_RES_NONE
    v = int(prev_r[k])
    return 1 if v < 0 else (2 if v == 0 else 3)


def _match(prev: np.ndarray, cur: np.ndarray) -> int | None:
    """For a row with 2 transitions more (or fewer) than the row above: the index ``k`` at
    which the pair is inserted (removed) that leaves the smallest sum of offsets of the
    others, the smallest such ``k`` on ties; ``None`` if the counts differ otherwise."""
    n_p, n_c = prev.size, cur.size
    if n_c == n_p + 2:
        costs = [int(np.abs(np.concatenate([cur[:k], cur[k + 2:]]) - prev).sum())
                 for k in range(n_p + 1)]
    elif n_c == n_p - 2 and n_p >= 2:
        costs = [int(np.abs(cur - np.concatenate([prev[:k], prev[k + 2:]])).sum())
                 for k in range(n_p - 1)]
    else:
        return None
    return int(np.argmin(costs))


def _rows(tr: list[np.ndarray], cols: int):  # noqa: ANN202 - generator of coding steps
    """The coding steps of a mask's rows, in stream order (SPEC 6.6): ``("t", class, u)``
    a table-coded zigzag value (``u >= ESC`` is escaped: for ``C_DN`` by escape coding
    of ``u - ESC``, for a residual by a plain column), ``("u", n, v)`` a ``Uniform(n)``
    value (``n > 1`` only)."""
    prev = np.zeros(0, np.int64)
    prev_o = prev_r = None
    for cur in tr:
        yield ("t", C_DN, zigzag(int(cur.size - prev.size)))
        if cur.size == 0:
            prev, prev_o, prev_r = cur, None, None
            continue
        if cur.size == prev.size:
            pairs = list(range(cur.size))  # transition j <- transition j of the row above
        else:
            k = _match(prev, cur)
            if k is None:  # plain columns
                for c in cur.tolist():
                    if cols > 1:
                        yield ("u", cols, c)
                prev, prev_o, prev_r = cur, None, None
                continue
            n_k = prev.size + 1 if cur.size > prev.size else prev.size - 1
            if n_k > 1:
                yield ("u", n_k, k)
            if cur.size > prev.size:  # a pair is new: its two columns, plainly
                for c in cur[k:k + 2].tolist():
                    if cols > 1:
                        yield ("u", cols, c)
                pairs = list(range(k)) + [-1, -1] + list(range(k, prev.size))
            else:
                pairs = list(range(k)) + list(range(k + 2, prev.size))
        o = np.zeros(cur.size, np.int64)
        r = np.zeros(cur.size, np.int64)
        for j, pj in enumerate(pairs):
            if pj < 0:
                continue
            o[j] = cur[j] - prev[pj]
            pred = int(prev_o[pj]) if prev_o is not None else 0
            r[j] = o[j] - pred
            cls = _ctx(prev_r, pj)
            u = zigzag(int(-r[j] if cls == C_RES_POS else r[j]))
            yield ("t", cls, u)
            if u >= ESC and cols > 1:
                yield ("u", cols, int(cur[j]))
        prev, prev_o, prev_r = cur, o, r


def _class_tables(steps: list) -> list[int]:
    """Per symbol class, the table that codes its symbols in the fewest bits."""
    bank = _bank()
    out = []
    for c in range(N_CLASSES):
        u = np.array([min(v, ESC) for kind, cls, v in steps if kind == "t" and cls == c],
                     np.int32)
        if not u.size:
            out.append(0)
            continue
        costs = [information_bits(u, np.full(u.size, t, np.int32), bank) for t in range(N_TABLES)]
        out.append(int(np.argmin(costs)))
    return out


def encode_shape(mask: np.ndarray) -> bytes:
    """A 2-D boolean mask -> its shape stream (``n_words`` u32, then 32-bit words)."""
    m = np.asarray(mask, bool)
    if m.ndim != 2 or not m.size:
        raise ValueError(f"a shape is a non-empty 2-D mask, got shape {m.shape}")
    cols = m.shape[1]
    steps = list(_rows(transitions(m), cols))
    tables = _class_tables(steps)
    enc = new_encoder()
    uniform_encode(enc, np.array(tables), N_TABLES)
    bank = _bank()
    cdfs = [bank.cdf(t) for t in tables]
    for kind, a, v in steps:
        if kind == "t":
            enc.encode_cdf(np.array([min(v, ESC)]), cdfs[a])  # type: ignore[attr-defined]
            if a == C_DN and v >= ESC:
                encode_escapes(enc, np.array([v - ESC]))
        else:
            uniform_encode(enc, np.array([v]), a)
    w = words(enc).astype("<u4")
    return HEAD.pack(w.size) + w.tobytes()


def decode_shape(buf: bytes | memoryview, rows: int, cols: int, pos: int = 0) -> np.ndarray:
    """Inverse of :func:`encode_shape`; corrupt data raise :class:`MicFormatError`."""
    mask, _ = decode_shape_at(memoryview(buf), pos, rows, cols)
    return mask


class _Reader:
    """The decoder's side of :func:`_rows`: one symbol at a time from the words."""

    def __init__(self, dec: object, cols: int) -> None:
        self.dec, self.cols = dec, cols
        t = uniform_decode(dec, N_CLASSES, N_TABLES)
        bank = _bank()
        self.models = [bank.cdf(int(x)) for x in t]  # the range decoder's CDFs
        self.costs = bank.costs  # each decoded symbol's information is charged (SPEC 4.1)
        self.offsets = [int(bank.tables.offsets[int(x)]) for x in t]

    def table(self, cls: int) -> int:
        try:
            u = int(self.dec.decode(self.models[cls], 1)[0])  # type: ignore[attr-defined]
        except MicFormatError as exc:
            raise MicFormatError(f"corrupt shape stream: {exc}") from None
        self.dec.charge(float(self.costs[self.offsets[cls] + u]))
        return u

    def uniform(self, n: int) -> int:
        return int(uniform_decode(self.dec, 1, n)[0]) if n > 1 else 0


def decode_shape_at(buf: memoryview, pos: int, rows: int, cols: int) -> tuple[np.ndarray, int]:
    """Decode a shape stream at ``buf[pos:]``; returns (mask, position after it)."""
    if len(buf) - pos < HEAD.size:
        raise MicTruncatedError("shape stream truncated before its word count")
    (nw,) = HEAD.unpack_from(buf, pos)
    w, pos = read_words(buf, pos + HEAD.size, nw, "shape stream")
    check_words(nw, shape_min_bits(rows), "shape stream")
    rd = _Reader(new_decoder(w, "shape stream"), cols)
    marks = np.zeros((rows, cols + 1), np.int8)  # 1 at each transition
    prev = np.zeros(0, np.int64)
    prev_o = prev_r = None
    for i in range(rows):
        u = rd.table(C_DN)
        if u >= ESC:
            u = int(decode_escapes(rd.dec, 1)[0]) + ESC
        n = prev.size + unzigzag(u)
        if not 0 <= n <= cols:
            raise MicFormatError(f"corrupt shape stream: row {i} has {n} transitions")
        cur = np.zeros(n, np.int64)
        if n == 0:
            prev, prev_o, prev_r = cur, None, None
            continue
        if n == prev.size:
            pairs = list(range(n))
        elif abs(n - prev.size) == 2 and (n > prev.size or prev.size >= 2):
            n_k = prev.size + 1 if n > prev.size else prev.size - 1
            k = rd.uniform(n_k)
            if k >= n_k:
                raise MicFormatError(f"corrupt shape stream: row {i} edits at {k}")
            if n > prev.size:
                cur[k] = rd.uniform(cols)
                cur[k + 1] = rd.uniform(cols)
                pairs = list(range(k)) + [-1, -1] + list(range(k, prev.size))
            else:
                pairs = list(range(k)) + list(range(k + 2, prev.size))
        else:
            for j in range(n):
                cur[j] = rd.uniform(cols)
            _check_row(cur, cols, i)
            marks[i, cur] = 1
            prev, prev_o, prev_r = cur, None, None
            continue
        o = np.zeros(n, np.int64)
        r = np.zeros(n, np.int64)
        for j, pj in enumerate(pairs):
            if pj < 0:
                continue
            cls = _ctx(prev_r, pj)
            u = rd.table(cls)
            pred = int(prev_o[pj]) if prev_o is not None else 0
            if u >= ESC:
                cur[j] = rd.uniform(cols)
                o[j] = cur[j] - prev[pj]
            else:
                d = unzigzag(u)
                o[j] = (-d if cls == C_RES_POS else d) + pred
                cur[j] = prev[pj] + o[j]
            r[j] = o[j] - pred
        _check_row(cur, cols, i)
        marks[i, cur] = 1
        prev, prev_o, prev_r = cur, o, r
    return np.bitwise_xor.accumulate(marks[:, :cols], axis=1).view(bool), pos


def shape_min_bits(rows: int) -> float:
    """The fewest bits of information a shape of ``rows`` rows carries (SPEC 4.1): its 5
    ``Uniform(12)`` table indexes and one count-change symbol per row (each at least the
    cheapest symbol of any of the 12 tables)."""
    return N_CLASSES * uniform_cost(N_TABLES) + rows * _bank().min_cost


def _check_row(cur: np.ndarray, cols: int, i: int) -> None:
    """Transitions must increase within [0, cols)."""
    c = cur.tolist()
    if c and (c[0] < 0 or c[-1] >= cols or any(b <= a for a, b in zip(c, c[1:]))):
        raise MicFormatError(f"corrupt shape stream: row {i} has invalid transitions")


__all__ = ["SHAPE_FREQS", "SMALL_TABLE", "decode_small", "encode_small", "small_bits",
           "geometric_tables", "encode_shape", "decode_shape", "decode_shape_at", "transitions", "HEAD",
           "shape_min_bits"]
