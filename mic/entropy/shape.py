"""Lossless coding of a binary shape (a mask) by its row transitions (SPEC.md 6.6).

Each row of the mask is described by its **transitions**: the columns ``j`` where the
mask differs from the pixel to its left (a virtual ``False`` before column 0).  Rows are
coded relative to the row above, as fax coders (CCITT "READ") do: per row the change
``n_i - n_{i-1}`` of the number of transitions; when the count is unchanged, each
transition's column offset from the same transition of the row above; otherwise the
columns themselves.  Offsets and count changes are zigzag-coded under one of a few fixed
two-sided geometric tables that the encoder picks per stream (``Uniform`` index), with an
escape to a plain ``Uniform(cols)`` column; everything is one constriction range-coder
stream decoded in a handful of vectorised calls.

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

from ..errors import MicFormatError, MicTruncatedError
from .coder import (
    ModelBank, decode_escapes, decode_grouped, encode_escapes, encode_grouped, information_bits,
    new_decoder, new_encoder, read_words, uniform_decode, uniform_encode, words,
)
from .tables import TableSet

#: half-width of the offset tables: zigzag codes 0 .. 2*HALF; above is the escape
HALF = 15
#: decay of table ``t``'s two-sided geometric: P(v) ~ RHO[t] ** |v|
RHO = (0.02, 0.08, 0.2, 0.35, 0.5, 0.65, 0.8, 0.92)
#: a shape stream: n_words (u32) then the words
HEAD = struct.Struct("<I")


def geometric_tables() -> TableSet:
    """The tables' recipe: symbol ``u`` (zigzag of v, 0..2*HALF) then the escape, each
    frequency ≥ 1 and summing to 2^FREQ_BITS, from integer-rounded float64 pmfs (exactly
    reproducible: only ``**`` and division of small doubles, then ``quantize_pmf``)."""
    from .tables import quantize_pmf

    half, flat, offsets = [], [], [0]
    n = 2 * HALF + 1
    for rho in RHO:
        u = np.arange(n)
        mag = (u + 1) // 2  # zigzag value magnitude
        p = np.append(rho ** mag.astype(np.float64), rho ** (HALF + 1))
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


def _zz(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.int64)
    return np.where(v >= 0, 2 * v, -2 * v - 1)


def _unzz(u: np.ndarray) -> np.ndarray:
    u = np.asarray(u, np.int64)
    return np.where(u % 2 == 0, u // 2, -(u + 1) // 2)


#: the table of :func:`encode_small` (decay 0.35: 0 costs about 1 bit, +-3 about 4.5)
SMALL_TABLE = 3


def small_bits(values: np.ndarray) -> float:
    """Ideal bits of :func:`encode_small` for ``values``."""
    u = _zz(values).astype(np.int32)
    return information_bits(u, np.full(u.size, SMALL_TABLE, np.int32), _bank())


def encode_small(enc: object, values: np.ndarray) -> float:
    """Small signed integers (|v| <= HALF) as the zigzag symbols of table
    :data:`SMALL_TABLE` (no escape); returns their ideal bits."""
    v = np.asarray(values, np.int64).reshape(-1)
    if v.size and np.abs(v).max() > HALF:
        raise ValueError(f"encode_small codes |v| <= {HALF}")
    u = _zz(v).astype(np.int32)
    encode_grouped(enc, u, np.full(u.size, SMALL_TABLE, np.int32), _bank())
    return small_bits(v)


def decode_small(dec: object, n: int) -> np.ndarray:
    """Inverse of :func:`encode_small` for ``n`` values; an escape symbol is a
    :class:`MicFormatError`."""
    u = decode_grouped(dec, np.full(n, SMALL_TABLE, np.int32), _bank()).astype(np.int64)
    if u.size and u.max() > 2 * HALF:
        raise MicFormatError("corrupt small-integer symbol (escape)")
    return _unzz(u)


def transitions(mask: np.ndarray) -> list[np.ndarray]:
    """Per row, the columns where the row changes (a ``False`` before column 0)."""
    m = np.asarray(mask, bool)
    prev = np.concatenate([np.zeros((m.shape[0], 1), bool), m[:, :-1]], 1)
    ii, jj = np.nonzero(m != prev)
    cuts = np.searchsorted(ii, np.arange(1, m.shape[0]))
    return np.split(jj.astype(np.int64), cuts)


def _best_table(u: np.ndarray) -> int:
    """The table that codes the zigzag values ``u`` (escapes as the escape symbol) in the
    fewest bits."""
    if not u.size:
        return 0
    sym = np.minimum(u, 2 * HALF + 1).astype(np.int32)
    bank = _bank()
    costs = [information_bits(sym, np.full(sym.size, t, np.int32), bank) for t in range(len(RHO))]
    return int(np.argmin(costs))


def _put(enc: object, u: np.ndarray) -> np.ndarray:
    """Code zigzag values under the cheapest table; return the escaped values."""
    t = _best_table(u)
    uniform_encode(enc, np.array([t]), len(RHO))
    sym = np.minimum(u, 2 * HALF + 1).astype(np.int32)
    if sym.size:
        encode_grouped(enc, sym, np.full(sym.size, t, np.int32), _bank())
    return u[u > 2 * HALF]


def _get(dec: object, n: int) -> np.ndarray:
    """Inverse of :func:`_put` for ``n`` values; escapes come back as -1."""
    t = int(uniform_decode(dec, 1, len(RHO))[0])
    if not n:
        return np.zeros(0, np.int64)
    sym = decode_grouped(dec, np.full(n, t, np.int32), _bank()).astype(np.int64)
    return np.where(sym > 2 * HALF, -1, sym)


def _residuals(tr: list[np.ndarray], same: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The coded offset residuals of the "same" rows, and per row its plain columns."""
    res, plain = [], []
    prev_off = None
    for i, t in enumerate(tr):
        if not same[i]:
            plain.append(t)
            prev_off = None
            continue
        off = t - tr[i - 1]
        r = off - prev_off if prev_off is not None else off
        res.append(r)
        plain.append(t[np.abs(r) > HALF])
        prev_off = off
    return (np.concatenate(res) if res else np.zeros(0, np.int64)), plain


def encode_shape(mask: np.ndarray) -> bytes:
    """A 2-D boolean mask -> its shape stream (``n_words`` u32, then 32-bit words)."""
    m = np.asarray(mask, bool)
    if m.ndim != 2 or not m.size:
        raise ValueError(f"a shape is a non-empty 2-D mask, got shape {m.shape}")
    cols = m.shape[1]
    tr = transitions(m)
    counts = np.array([t.size for t in tr], np.int64)
    dn = np.diff(counts, prepend=0)
    same = (dn == 0) & (counts > 0)  # row 0 is never "same"
    res, plain = _residuals(tr, same)
    enc = new_encoder()
    esc_dn = _put(enc, _zz(dn))
    encode_escapes(enc, esc_dn - (2 * HALF + 1))
    _put(enc, _zz(res))
    cols_abs = np.concatenate(plain) if plain else np.zeros(0, np.int64)
    if cols_abs.size and cols > 1:  # one column: every transition is at 0
        uniform_encode(enc, cols_abs, cols)
    w = words(enc).astype("<u4")
    return HEAD.pack(w.size) + w.tobytes()


def decode_shape(buf: bytes | memoryview, rows: int, cols: int, pos: int = 0) -> np.ndarray:
    """Inverse of :func:`encode_shape`; corrupt data raise :class:`MicFormatError`."""
    mask, _ = decode_shape_at(memoryview(buf), pos, rows, cols)
    return mask


def decode_shape_at(buf: memoryview, pos: int, rows: int, cols: int) -> tuple[np.ndarray, int]:
    """Decode a shape stream at ``buf[pos:]``; returns (mask, position after it)."""
    if len(buf) - pos < HEAD.size:
        raise MicTruncatedError("shape stream truncated before its word count")
    (nw,) = HEAD.unpack_from(buf, pos)
    w, pos = read_words(buf, pos + HEAD.size, nw, "shape stream")
    dec = new_decoder(w)
    u_dn = _get(dec, rows)
    n_esc = int(np.count_nonzero(u_dn < 0))
    if n_esc:
        u_dn[u_dn < 0] = decode_escapes(dec, n_esc).astype(np.int64) + 2 * HALF + 1
    counts = np.cumsum(_unzz(u_dn))
    if counts.min(initial=0) < 0 or counts.max(initial=0) > cols:
        raise MicFormatError("corrupt shape stream: a row's transition count is out of range")
    same = (np.diff(counts, prepend=0) == 0) & (counts > 0)
    u_res = _get(dec, int(counts[same].sum()))
    escaped = u_res < 0
    n_abs = int(np.count_nonzero(escaped)) + int(counts[~same].sum())
    cols_abs = (uniform_decode(dec, n_abs, cols) if n_abs and cols > 1
                else np.zeros(n_abs, np.int64))
    res = _unzz(np.where(escaped, 0, u_res))
    mask = np.zeros((rows, cols), bool)
    prev = prev_off = None
    k = a = 0
    for i in range(rows):
        n = int(counts[i])
        if same[i]:
            off = res[k:k + n] + (prev_off if prev_off is not None else 0)
            cur = prev + off
            esc = np.flatnonzero(escaped[k:k + n])
            if esc.size:
                cur[esc] = cols_abs[a:a + esc.size]
                a += esc.size
            prev_off = cur - prev
            k += n
        else:
            cur = cols_abs[a:a + n]
            a += n
            prev_off = None
        if n and (cur[0] < 0 or cur[-1] >= cols or (n > 1 and np.any(np.diff(cur) <= 0))):
            raise MicFormatError(f"corrupt shape stream: row {i} has invalid transitions")
        if n:
            t = np.zeros(cols + 1, np.int8)
            t[cur] = 1
            mask[i] = (np.cumsum(t[:cols]) & 1).astype(bool)
        prev = cur
    return mask, pos


__all__ = ["SHAPE_FREQS", "SMALL_TABLE", "decode_small", "encode_small", "small_bits",
           "geometric_tables", "encode_shape", "decode_shape", "decode_shape_at", "transitions", "HEAD"]
