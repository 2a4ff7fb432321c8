"""The range encoder of coder id 1 (SPEC 4.2), in Numba (encoder only): the words
constriction's queue ``RangeEncoder`` writes (32-bit words, 64-bit state, 24-bit
probabilities), made without a call into Python per group of symbols and without holding
the GIL, so that tiles on threads encode side by side.  :mod:`mic.entropy.rangedec`
decodes them; ``tests/test_rangeenc.py`` checks every word against constriction's.

The arithmetic, on unsigned 64-bit integers with wrap-around:

* start: ``lower = 0``, ``range = 2**64 - 1``, no held-back words;
* each symbol with left cumulative ``c`` and probability ``p`` (out of ``2**24``):
  ``scale = range >> 24``, ``range = scale * p``, ``lower += scale * c``; when
  ``range < 2**32``: ``range <<= 32``, and ``lower``'s top word leaves it (``lower <<=
  32``): it is written at once if ``lower + range`` does not wrap, else held back until a
  later interval settles whether a carry reaches it (the held-back word then goes out as
  it is, followed by words of all ones, or plus one, followed by zeros);
* the end (sealing): the held-back words, the top word of ``point = lower + 2**32 - 1``,
  and a zero word when that is also the top word of ``lower + range``; nothing at all
  when no symbol was coded.

>>> import numpy as np
>>> from mic.entropy.rangedec import decode_cdf, initial_state
>>> cdf = np.array([0, 1 << 22, 1 << 24], np.uint64)
>>> enc = RangeEncoder(); enc.encode_cdf(np.array([0, 1, 1, 0], np.int32), cdf)
>>> w = enc.get_compressed(); out = np.empty(4, np.int32)
>>> int(decode_cdf(w, initial_state(w), cdf, 4, out)), out.tolist()
(0, [0, 1, 1, 0])
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ..quant.kernels import int_vector

_PREC = np.uint64(24)
_WORD = np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)
_RENORM = np.uint64(1 << 32)
_ONE = np.uint64(1)
#: the kernels' status: OK, or a symbol the model gives no probability (or outside it)
OK, IMPOSSIBLE = 0, 1


@nb.njit(cache=True, nogil=True, inline="always")
def _put(lower, rng, ninv, held, out, n, c, p):  # pragma: no cover - numba
    """One symbol (left cumulative ``c``, probability ``p``) onto the state (``lower``,
    ``rng``, the count of held-back words ``ninv`` and the first of them ``held``); words
    go to ``out`` from ``n``.  Returns the new state and word count (the state travels in
    registers, not through an array)."""
    scale = rng >> _PREC
    rng = scale * p
    new_lower = lower + scale * c
    if ninv > 0 and new_lower + rng > new_lower:  # the held-back words are settled
        if new_lower < lower:  # a carry reached them
            out[n] = np.uint32((held + _ONE) & _LOW32)
            fill = np.uint32(0)
        else:
            out[n] = np.uint32(held)
            fill = np.uint32(0xFFFFFFFF)
        n += 1
        for _ in range(1, ninv):
            out[n] = fill
            n += 1
        ninv = 0
    lower = new_lower
    if rng < _RENORM:
        rng = rng << _WORD
        top = lower >> _WORD
        lower = lower << _WORD
        if ninv > 0:
            ninv += 1
        elif lower + rng > lower:
            out[n] = np.uint32(top)
            n += 1
        else:
            ninv = 1
            held = top
    return lower, rng, ninv, held, n


@nb.njit(cache=True, nogil=True, inline="always")
def _load(st):  # pragma: no cover - numba
    return st[0], st[1], np.int64(st[2]), st[3]


@nb.njit(cache=True, nogil=True, inline="always")
def _store(st, lower, rng, ninv, held):  # pragma: no cover - numba
    st[0], st[1], st[2], st[3] = lower, rng, np.uint64(ninv), held


@nb.njit(cache=True, nogil=True)
def encode_cdf_kernel(st, out, n, sym, cdf):  # pragma: no cover - numba
    """``sym`` under one model (its quantised CDF, :func:`mic.entropy.rangedec.cdf_of`),
    the state ``st`` = [lower, range, held-back words, the first of them]: (status, word
    count)."""
    nsym = cdf.size - 1
    lower, rng, ninv, held = _load(st)
    status = OK
    for i in range(sym.size):
        s = sym[i]
        if s < 0 or s >= nsym or cdf[s + 1] == cdf[s]:
            status = IMPOSSIBLE
            break
        lower, rng, ninv, held, n = _put(lower, rng, ninv, held, out, n, cdf[s],
                                         cdf[s + 1] - cdf[s])
    _store(st, lower, rng, ninv, held)
    return status, n


@nb.njit(cache=True, nogil=True)
def encode_uniform_kernel(st, out, n, sym, nval):  # pragma: no cover - numba
    """``sym`` under ``Uniform(nval)``: bins of ``2**24 // nval``, the last taking the
    rest (constriction's ``UniformModel``): (status, word count)."""
    per = np.uint64((1 << 24) // nval)
    last = nval - 1
    lower, rng, ninv, held = _load(st)
    status = OK
    for i in range(sym.size):
        s = sym[i]
        if s < 0 or s > last:
            status = IMPOSSIBLE
            break
        c = np.uint64(s) * per
        p = per if s < last else np.uint64(1 << 24) - c
        lower, rng, ninv, held, n = _put(lower, rng, ninv, held, out, n, c, p)
    _store(st, lower, rng, ninv, held)
    return status, n


@nb.njit(cache=True, nogil=True)
def encode_grouped_kernel(st, out, n, sym, tab, cdf, cdf_off):  # pragma: no cover - numba
    """The symbols ``sym`` grouped by their tables ``tab`` (increasing table, positions
    in their order within a table: what :func:`mic.entropy.rangedec.decode_grouped_kernel`
    reads), table ``t``'s CDF ``cdf[cdf_off[t]:cdf_off[t + 1]]``: (status, word count)."""
    ntab = cdf_off.size - 1
    count = np.zeros(ntab + 1, np.int64)
    for i in range(tab.size):
        t = tab[i]
        if t < 0 or t >= ntab:
            return IMPOSSIBLE, n
        count[t + 1] += 1
    for t in range(ntab):
        count[t + 1] += count[t]
    order = np.empty(tab.size, np.int64)
    fill = count[:ntab].copy()
    for i in range(tab.size):
        t = tab[i]
        order[fill[t]] = i
        fill[t] += 1
    lower, rng, ninv, held = _load(st)
    status = OK
    for t in range(ntab):
        off = cdf_off[t]
        nsym = cdf_off[t + 1] - off - 1
        c = cdf[off:off + nsym + 1]
        for k in range(count[t], count[t + 1]):
            s = sym[order[k]]
            if s < 0 or s >= nsym or c[s + 1] == c[s]:
                status = IMPOSSIBLE
                break
            lower, rng, ninv, held, n = _put(lower, rng, ninv, held, out, n, c[s],
                                             c[s + 1] - c[s])
        if status != OK:
            break
    _store(st, lower, rng, ninv, held)
    return status, n


@nb.njit(cache=True, nogil=True)
def escape_bit_list(u, k):  # pragma: no cover - numba
    """The bits of :func:`mic.entropy.coder.encode_escapes` after the bit lengths: for each
    value ``u[i]`` (uint64) of bit length ``k[i] >= 2``, its ``k[i] - 1`` bits below the
    leading one, most significant first (int64 0 / 1)."""
    n = 0
    for i in range(u.size):
        if k[i] >= 2:
            n += k[i] - 1
    out = np.empty(n, np.int64)
    j = 0
    for i in range(u.size):
        for b in range(k[i] - 2, -1, -1):
            out[j] = (u[i] >> np.uint64(b)) & np.uint64(1)
            j += 1
    return out


@nb.njit(cache=True, nogil=True)
def gather_costs(sym, tab, offsets, cost, out):  # pragma: no cover - numba
    """``out[i] = cost[offsets[tab[i]] + sym[i]]``: each symbol's cost under its table
    (the encoder's rate estimates); False if an index falls outside (nothing is read
    there)."""
    nt = offsets.size - 1
    for i in range(sym.size):
        t = tab[i]
        if t < 0 or t >= nt:
            return False
        k = offsets[t] + sym[i]
        if k < 0 or k >= cost.size:
            return False
        out[i] = cost[k]
    return True


class RangeEncoder:
    """Coder id 1's encoder: symbols under quantised CDFs (``encode_cdf``), uniform
    models (``encode_uniform``) or a bank's tables grouped by table (``encode_grouped``);
    ``get_compressed()`` the words (uint32), sealed as constriction seals them.  Every
    method is one Numba call that releases the GIL.  A symbol its model cannot code
    raises ``ValueError``."""

    def __init__(self) -> None:
        self._st = np.array([0, (1 << 64) - 1, 0, 0], np.uint64)
        self._out = np.empty(64, np.uint32)
        self._n = 0

    def _room(self, nsym: int) -> None:
        need = self._n + 2 * nsym + int(self._st[2]) + 4  # at most 2 words a symbol
        if need > self._out.size:
            self._out = np.concatenate([self._out[:self._n],
                                        np.empty(max(need, 2 * self._out.size) - self._n,
                                                 np.uint32)])

    def _done(self, status: int, n: int, what: str) -> None:
        self._n = int(n)
        if status != OK:
            raise ValueError(f"range encoder: a symbol {what} cannot code")

    def encode_cdf(self, sym: np.ndarray, cdf: np.ndarray) -> None:
        sym = np.ascontiguousarray(sym, np.int64).reshape(-1)
        self._room(sym.size)
        self._done(*encode_cdf_kernel(self._st, self._out, self._n, sym,
                                      np.ascontiguousarray(cdf, np.uint64)), "its model")

    def encode_uniform(self, sym: np.ndarray, nval: int) -> None:
        if not 2 <= nval <= 1 << 24:
            raise ValueError(f"a uniform model has 2 to 2**24 values, not {nval}")
        sym = np.ascontiguousarray(sym, np.int64).reshape(-1)
        self._room(sym.size)
        self._done(*encode_uniform_kernel(self._st, self._out, self._n, sym, int(nval)),
                   f"Uniform({nval})")

    def encode_grouped(self, sym: np.ndarray, tab: np.ndarray, cdf: np.ndarray,
                       cdf_off: np.ndarray) -> None:
        sym = int_vector(sym)  # (int32 symbols and tables as they come: no copies)
        tab = int_vector(tab)
        if sym.size != tab.size:
            raise ValueError("range encoder: as many tables as symbols are needed")
        self._room(sym.size)
        self._done(*encode_grouped_kernel(self._st, self._out, self._n, sym, tab, cdf,
                                          cdf_off), "its table")

    def get_compressed(self) -> np.ndarray:
        """The words so far, sealed (the encoder can go on: sealing writes nothing into
        its state)."""
        lower, rng, ninv, held = (int(v) for v in self._st)
        if rng == (1 << 64) - 1:  # nothing coded: no words
            return self._out[:self._n].copy()
        mask = (1 << 64) - 1
        point = (lower + (1 << 32) - 1) & mask
        seal: list[int] = []
        if ninv:
            if point < lower:
                seal += [(held + 1) & 0xFFFFFFFF] + [0] * (ninv - 1)
            else:
                seal += [held] + [0xFFFFFFFF] * (ninv - 1)
        point_word = point >> 32
        seal.append(point_word)
        if ((lower + rng) & mask) >> 32 == point_word:
            seal.append(0)
        return np.concatenate([self._out[:self._n], np.array(seal, np.uint32)])


__all__ = ["RangeEncoder", "encode_cdf_kernel", "encode_grouped_kernel",
           "encode_uniform_kernel", "gather_costs"]
