"""A fast lossless plane's table section (SPEC.md 5.6, 5.10, 5.11, 5.13), on both sides: its
parsers (:func:`read_tables`; model id 22's bit-packed form, :func:`read_compact`), the
built-in tables a model-16 section may name (:func:`with_builtin`), the join of a banded
plane's sections (:func:`join_bands`) and the decoder's slot tables
(:func:`build_decode_tables`), which the encoder's rANS pass uses too.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .kernels_fast import ERR_TABLE, ERR_WORDS, M_TOT, N_CLASS, N_TOKENS, OK, PREC, _bitlen

BUILTIN = 255  # a class map entry naming the class's built-in table (model id 16, SPEC 5.10)

@njit(cache=True, nogil=True)
def build_decode_tables(freq):
    """(cum, slot -> symbol) of the (nt, 68) frequency tables, or a status when a table
    does not sum to 2**PREC."""
    nt = freq.shape[0]
    cum = np.zeros((nt, N_TOKENS), np.int64)
    sym = np.zeros((nt, M_TOT), np.uint8)
    for t in range(nt):
        c = 0
        for s in range(N_TOKENS):
            f = freq[t, s]
            cum[t, s] = c
            if c + f > M_TOT:
                return ERR_TABLE, cum, sym
            for i in range(c, c + f):
                sym[t, i] = s
            c += f
        if c != M_TOT:
            return ERR_TABLE, cum, sym
    return OK, cum, sym


@njit(cache=True, nogil=True)
def read_tables(buf, pos, end, builtin=False):
    """Parse a fast plane's tables at ``buf[pos:end]`` (uint8): ``nt`` (u8, 1..N_CLASS), the
    class map (N_CLASS u8, each < nt), each table (u8 ``n`` in 1..N_TOKENS, ``n`` varints of
    at most 2 bytes, each <= 2**PREC).  ``builtin`` (model id 16's kinds 5 and 6, SPEC 5.10):
    ``nt`` may be 0, with no class map (every class its built-in table), and a class map
    entry may be ``BUILTIN`` (255, that class's built-in table).  Returns (status, position
    after them, tabmap, freq); the sums are checked by :func:`build_decode_tables`, the
    built-in tables are added by :func:`with_builtin`."""
    tabmap = np.zeros(N_CLASS, np.int64)
    freq = np.zeros((1, N_TOKENS), np.int64)
    if pos + 1 > end:
        return ERR_WORDS, pos, tabmap, freq
    nt = np.int64(buf[pos])
    if nt > N_CLASS or (nt < 1 and not builtin):
        return ERR_TABLE, pos, tabmap, freq
    if nt == 0:
        tabmap[:] = BUILTIN
        return OK, pos + 1, tabmap, np.zeros((0, N_TOKENS), np.int64)
    if pos + 1 + N_CLASS > end:
        return ERR_WORDS, pos, tabmap, freq
    for c in range(N_CLASS):
        tabmap[c] = buf[pos + 1 + c]
        if tabmap[c] >= nt and not (builtin and tabmap[c] == BUILTIN):
            return ERR_TABLE, pos, tabmap, freq
    pos += 1 + N_CLASS
    freq = np.zeros((nt, N_TOKENS), np.int64)
    for t in range(nt):
        if pos >= end:
            return ERR_WORDS, pos, tabmap, freq
        n = np.int64(buf[pos])
        pos += 1
        if n < 1 or n > N_TOKENS:
            return ERR_TABLE, pos, tabmap, freq
        for s in range(n):
            if pos >= end:
                return ERR_WORDS, pos, tabmap, freq
            v = np.int64(buf[pos])
            pos += 1
            if v >= 128:
                if pos >= end:
                    return ERR_WORDS, pos, tabmap, freq
                v = (v & 127) | (np.int64(buf[pos]) << 7)
                pos += 1
            if v > M_TOT:
                return ERR_TABLE, pos, tabmap, freq
            freq[t, s] = v
    return OK, pos, tabmap, freq


#: model id 22's compact table section (SPEC 5.13): bits of a table's symbol count, of its
#: precision, and the largest precision (a table at it is exact)
COMPACT_N_BITS = 7
COMPACT_P_BITS = 4
COMPACT_P_MAX = PREC
#: the largest bit length of a frequency (2**PREC has PREC + 1 bits)
COMPACT_E_MAX = PREC + 1


@njit(cache=True, nogil=True)
def _bits(buf, bp, end, n):
    """(value, bit position after) of ``n`` bits MSB first at bit ``bp`` of ``buf``, or
    (-1, bp) where they run past byte ``end``."""
    if bp + n > end * 8:
        return -1, bp
    v = np.int64(0)
    for _ in range(n):
        v = (v << 1) | ((np.int64(buf[bp >> 3]) >> (7 - (bp & 7))) & 1)
        bp += 1
    return v, bp


@njit(cache=True, nogil=True)
def compact_value(e, k, m):
    """The frequency of bit length ``e`` whose ``k`` bits below the leading one are ``m``
    (SPEC 5.13): 0 for e = 0, 1 for e = 1, else those bits then the middle of the rest."""
    if e <= 1:
        return np.int64(e)
    sh = e - 1 - k
    return (((np.int64(1) << k) | m) << sh) + ((np.int64(1) << sh) >> 1)


@njit(cache=True, nogil=True)
def read_compact(buf, pos, end):
    """Parse model id 22's table section (SPEC 5.13) at ``buf[pos:end]``: ``nt`` (u8,
    0..N_CLASS; 0: every class its built-in table), then bits MSB first to a byte boundary:
    the class map (an entry of ``bit length of nt`` bits, then for each later class a flag
    and, when it is 1, a new entry; ``nt`` names the built-in table) and ``nt`` tables
    (7 bits ``n``, 4 bits precision ``P``, ``n`` bit lengths as changes from the one before,
    then the bits of every frequency but the first of the largest bit length, which takes
    what the others leave of 2**PREC).  Returns (status, byte position after it, tabmap with
    ``BUILTIN`` entries, freq), as :func:`read_tables` does."""
    tabmap = np.zeros(N_CLASS, np.int64)
    freq = np.zeros((1, N_TOKENS), np.int64)
    if pos + 1 > end:
        return ERR_WORDS, pos, tabmap, freq
    nt = np.int64(buf[pos])
    if nt > N_CLASS:
        return ERR_TABLE, pos, tabmap, freq
    if nt == 0:
        tabmap[:] = BUILTIN
        return OK, pos + 1, tabmap, np.zeros((0, N_TOKENS), np.int64)
    bp = (pos + 1) * 8
    w = _bitlen(nt)
    prev = np.int64(0)
    for c in range(N_CLASS):
        new = np.int64(1)
        if c > 0:
            new, bp = _bits(buf, bp, end, 1)
        if new < 0:
            return ERR_WORDS, pos, tabmap, freq
        if new == 1:
            prev, bp = _bits(buf, bp, end, w)
            if prev < 0:
                return ERR_WORDS, pos, tabmap, freq
            if prev > nt:
                return ERR_TABLE, pos, tabmap, freq
        tabmap[c] = BUILTIN if prev == nt else prev
    freq = np.zeros((nt, N_TOKENS), np.int64)
    es = np.zeros(N_TOKENS, np.int64)
    for t in range(nt):
        n, bp = _bits(buf, bp, end, COMPACT_N_BITS)
        p, bp = _bits(buf, bp, end, COMPACT_P_BITS)
        if p < 0:
            return ERR_WORDS, pos, tabmap, freq
        if n < 1 or n > N_TOKENS or p > COMPACT_P_MAX:
            return ERR_TABLE, pos, tabmap, freq
        e = np.int64(0)
        top = np.int64(0)
        o = 0
        for s in range(n):
            b, bp = _bits(buf, bp, end, 1)
            if b == 1:
                b, bp = _bits(buf, bp, end, 1)
                if b == 0:
                    e -= 1
                else:
                    b, bp = _bits(buf, bp, end, 1)
                    if b == 0:
                        e += 1
                    elif b == 1:
                        e, bp = _bits(buf, bp, end, 4)
                        b = e  # -1 where the 4 bits are cut
            if b < 0:
                return ERR_WORDS, pos, tabmap, freq
            if e < 0 or e > COMPACT_E_MAX:
                return ERR_TABLE, pos, tabmap, freq
            es[s] = e
            if e > top:
                top = e
                o = s
        if top == 0:
            return ERR_TABLE, pos, tabmap, freq
        rest = np.int64(M_TOT)
        for s in range(n):
            if s == o:
                continue
            k = min(p, max(es[s] - 1, 0))
            m, bp = _bits(buf, bp, end, k)
            if m < 0:
                return ERR_WORDS, pos, tabmap, freq
            f = compact_value(es[s], k, m)
            freq[t, s] = f
            rest -= f
        if rest < 1:
            return ERR_TABLE, pos, tabmap, freq
        freq[t, o] = rest
    return OK, (bp + 7) >> 3, tabmap, freq


def with_builtin(tabmap, freq, builtin):
    """(tabmap, freq) with every class mapped to ``BUILTIN`` given its row of ``builtin``
    (N_CLASS, N_TOKENS) as one more table, in class order, after the plane's own ``freq``:
    what the token coder uses on both sides (SPEC 5.10)."""
    extra = [c for c in range(N_CLASS) if tabmap[c] == BUILTIN]
    if not extra:
        return tabmap, freq
    tm = np.array(tabmap, np.int64)
    tm[extra] = freq.shape[0] + np.arange(len(extra))
    return tm, np.concatenate([freq, np.asarray(builtin, np.int64)[extra]])


def join_bands(sections):
    """(class map, tables) of a banded plane (model ids 18 and 19, SPEC 5.11) from each
    band's (tabmap, freq), built-in tables added (:func:`with_builtin`): band ``b``'s class
    ``c`` is entry ``b * N_CLASS + c``, naming one of band ``b``'s tables, which follow those
    of the bands before it."""
    maps, tabs = [], []
    off = 0
    for tabmap, freq in sections:
        maps.append(np.asarray(tabmap, np.int64) + off)
        tabs.append(freq)
        off += freq.shape[0]
    return np.concatenate(maps), np.concatenate(tabs)
