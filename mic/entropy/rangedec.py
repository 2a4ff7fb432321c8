"""The range decoder of coder id 1 (SPEC 4.1), in Numba: it reads the words of
constriction's queue ``RangeEncoder`` (32-bit words, 64-bit state, 24-bit probabilities)
and decodes the same symbols as constriction's ``RangeDecoder`` would, without a call into
Python per group of symbols and without holding the GIL.

The arithmetic, all on unsigned 64-bit integers with wrap-around (the coder's own
definition, as constriction 0.4-0.5 implements it):

* start: ``lower = 0``, ``range = 2**64 - 1``, ``point`` = the first two words (big end
  first; a missing word reads as 0);
* each symbol: ``scale = range >> 24``, ``q = (point - lower) // scale``; ``q >= 2**24``
  is invalid data; the symbol ``s`` is the last one with ``cdf[s] <= q``;
  ``lower += scale * cdf[s]``, ``range = scale * (cdf[s+1] - cdf[s])``;
* when ``range < 2**32``: ``lower``, ``range`` and ``point`` shift left by 32 bits and the
  next word (0 past the end) enters ``point``'s low half.

A model is its quantised CDF (``cdf[0] = 0``, ``cdf[n] = 2**24``): a ``Categorical``'s
from :func:`mic.entropy.bounds.quantized_probabilities` (:func:`cdf_of`), a
``Uniform(n)``'s bins of ``2**24 // n``, the last one taking the rest.  The tests check
every decode against constriction's, on valid and on garbage words.

State: a ``uint64`` array ``[lower, range, point, next word index]``; the kernels return
0, or :data:`INVALID` (a quantile beyond the model: corrupt words), :data:`OVERRUN`
(a metered call whose symbols' information exceeds what the words can carry, SPEC 4.1) or
:data:`BAD_TABLE` (a table index beyond the model's tables).
"""

from __future__ import annotations

import numba as nb
import numpy as np

OK, INVALID, OVERRUN, BAD_TABLE = 0, 1, 2, 3
#: what :func:`decode_grouped_kernel` writes for an escape symbol when it writes values
ESCAPED = -(1 << 31)
_ONE = np.uint64(1)
_PREC = np.uint64(24)
_QMAX = np.uint64(1 << 24)
_WORD = np.uint64(32)
_RENORM = np.uint64(1 << 32)


def initial_state(words: np.ndarray) -> np.ndarray:
    """The decoder state before the first symbol of ``words`` (uint32)."""
    w0 = int(words[0]) if words.size > 0 else 0
    w1 = int(words[1]) if words.size > 1 else 0
    return np.array([0, (1 << 64) - 1, (w0 << 32) | w1, 2], np.uint64)


def cdf_of(probabilities: np.ndarray) -> np.ndarray:
    """The quantised CDF (uint64, n + 1 entries) of constriction's
    ``Categorical(probabilities, perfect=False)``."""
    from .bounds import quantized_probabilities

    q = quantized_probabilities(probabilities)
    return np.concatenate(([0], np.cumsum(q))).astype(np.uint64)


#: :func:`decode_cdf` walks up from symbol 0 this many steps before it bisects the rest
LINEAR_STEPS = 8


@nb.njit(cache=True, nogil=True)
def decode_cdf(words, st, cdf, count, out):  # pragma: no cover - numba
    """``count`` symbols under one model (its CDF) into ``out``; the status.  The symbol
    search walks up from symbol 0 for up to :data:`LINEAR_STEPS` steps, then bisects: the
    same symbol as a bisection, found sooner under the models this is used
    for, whose small symbols are the likely ones (the lossless tokens, the zigzag small
    integers and shape classes; 7.6 -> 4.0 ms for the 512² CT's lossless tokens)."""
    nsym = cdf.size - 1
    lower, rng, point, pos = st[0], st[1], st[2], st[3]  # in locals, written back once
    nw = np.uint64(words.size)
    status = OK
    for i in range(count):
        scale = rng >> _PREC
        q = (point - lower) // scale
        if q >= _QMAX:
            status = INVALID
            break
        lo = 0
        k = 0
        while k < LINEAR_STEPS and lo + 1 < nsym and cdf[lo + 1] <= q:
            lo += 1
            k += 1
        if k == LINEAR_STEPS:  # a large symbol: bisect [lo, nsym)
            hi = nsym
            while hi - lo > 1:
                mid = (lo + hi) >> 1
                if cdf[mid] <= q:
                    lo = mid
                else:
                    hi = mid
        left = cdf[lo]
        lower = lower + scale * left
        rng = scale * (cdf[lo + 1] - left)
        if rng < _RENORM:
            lower = lower << _WORD
            rng = rng << _WORD
            point = point << _WORD
            if pos < nw:
                point = point | np.uint64(words[pos])
            pos += _ONE
        out[i] = lo
    st[0], st[1], st[2], st[3] = lower, rng, point, pos
    return status


@nb.njit(cache=True, nogil=True)
def decode_uniform(words, st, n, count, out):  # pragma: no cover - numba
    """``count`` symbols of ``Uniform(n)`` (n >= 2) into ``out``; the status."""
    per = _QMAX // np.uint64(n)
    last = np.uint64(n - 1)
    lastleft = last * per
    lower, rng, point, pos = st[0], st[1], st[2], st[3]  # in locals, written back once
    nw = np.uint64(words.size)
    status = OK
    for i in range(count):
        scale = rng >> _PREC
        q = (point - lower) // scale
        if q >= _QMAX:
            status = INVALID
            break
        s = q // per
        if s < last:
            left, p = s * per, per
        else:
            s, left, p = last, lastleft, _QMAX - lastleft
        lower = lower + scale * left
        rng = scale * p
        if rng < _RENORM:
            lower = lower << _WORD
            rng = rng << _WORD
            point = point << _WORD
            if pos < nw:
                point = point | np.uint64(words[pos])
            pos += _ONE
        out[i] = s
    st[0], st[1], st[2], st[3] = lower, rng, point, pos
    return status


#: :func:`_search` walks this many steps from its start before it bisects the rest
CENTRE_STEPS = 4


@nb.njit(cache=True, nogil=True, inline="always")
def _search(c, q, s, nsym):  # pragma: no cover - numba
    """The last symbol ``x`` with ``c[x] <= q`` (``c[0] = 0 <= q < c[nsym]``), searched
    from symbol ``s``: up to :data:`CENTRE_STEPS` steps up or down, then a bisection of
    what is left.  Any start gives the same symbol; the value-0 symbol of a table set
    (its likeliest) makes the walk short."""
    if c[s] <= q:
        lo, hi = s, nsym  # c[lo] <= q < c[hi]
        m = 0
        while m < CENTRE_STEPS and lo + 1 < hi and c[lo + 1] <= q:
            lo += 1
            m += 1
        if m < CENTRE_STEPS:
            return lo
    else:
        lo, hi = 0, s
        m = 0
        while m < CENTRE_STEPS and hi - 1 > lo and c[hi - 1] > q:
            hi -= 1
            m += 1
        if m < CENTRE_STEPS:
            return hi - 1
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if c[mid] <= q:
            lo = mid
        else:
            hi = mid
    return lo


@nb.njit(cache=True, nogil=True)
def decode_grouped_kernel(words, st, tab, shift, cdf, cdf_off, costs, cost_off, meter,
                          check_every, values, out):  # pragma: no cover - numba
    """The symbols of positions whose tables are ``tab``, decoded grouped by table (tables
    in increasing order, positions in their order within a table:
    :func:`mic.entropy.coder.encode_grouped`), into ``out``.  Table ``t``'s CDF is
    ``cdf[cdf_off[t]:cdf_off[t + 1]]`` and its symbols' costs start at ``costs[cost_off[t]]``;
    ``meter`` = [bits charged so far, the most bits the words can carry]: the information
    of the decoded symbols is added, and checked every ``check_every`` symbols and at the
    end (OVERRUN once it is exceeded).  With ``values``, ``out`` receives the values of a
    table set (SPEC 6: symbol ``v + L`` of a table of ``2L + 2`` symbols is ``v``) and
    :data:`ESCAPED` where the symbol is the escape (the last).  Returns (status, number of
    escapes); a table index outside the tables is :data:`BAD_TABLE`.  Position ``i`` is
    coded with table ``clamp(tab[i] + shift, 0, ntab - 1)`` (a pass's table bias, SPEC
    6.4; ``shift`` 0: ``tab`` itself)."""
    ntab = cdf_off.size - 1
    n = tab.size
    start = np.zeros(ntab + 1, np.int64)
    tabs = np.empty(n, np.int64)
    for i in range(n):
        t = tab[i]
        if t < 0 or t >= ntab:
            return BAD_TABLE, 0
        t = min(max(t + shift, 0), ntab - 1)
        tabs[i] = t
        start[t + 1] += 1
    for t in range(ntab):
        start[t + 1] += start[t]
    order = np.empty(n, np.int64)
    fill = start[:ntab].copy()
    for i in range(n):
        t = tabs[i]
        order[fill[t]] = i
        fill[t] += 1
    bits = meter[0]
    since = 0
    n_esc = 0
    # the state in locals (written back once): an array's fields cost loads and stores
    lower, rng, point, pos = st[0], st[1], st[2], st[3]
    nw = np.uint64(words.size)
    status = OK
    for t in range(ntab):
        a, b = start[t], start[t + 1]
        if a == b:
            continue
        off = cdf_off[t]
        nsym = cdf_off[t + 1] - off - 1
        half = (nsym - 2) // 2  # the symbol of value 0 in a table set
        mid0 = max(half, 0)
        co = cost_off[t]
        c = cdf[off:off + nsym + 1]
        for k in range(a, b):
            scale = rng >> _PREC
            q = (point - lower) // scale
            if q >= _QMAX:
                status = INVALID
                break
            s = _search(c, q, mid0, nsym)
            left = c[s]
            lower = lower + scale * left
            rng = scale * (c[s + 1] - left)
            if rng < _RENORM:
                lower = lower << _WORD
                rng = rng << _WORD
                point = point << _WORD
                if pos < nw:
                    point = point | np.uint64(words[pos])
                pos += _ONE
            if values:
                if s == nsym - 1:
                    out[order[k]] = ESCAPED
                    n_esc += 1
                else:
                    out[order[k]] = s - half
            else:
                out[order[k]] = s
            bits += costs[co + s]
            since += 1
            if since >= check_every:
                since = 0
                if bits > meter[1]:
                    status = OVERRUN
                    break
        if status != OK:
            break
    st[0], st[1], st[2], st[3] = lower, rng, point, pos
    meter[0] = bits
    if status != OK:
        return status, n_esc
    if bits > meter[1]:
        return OVERRUN, n_esc
    return OK, n_esc


@nb.njit(cache=True, nogil=True)
def decode_runs_kernel(words, st, tabs, count, cdf, cdf_off, costs, cost_off, meter,
                       check_every, out):  # pragma: no cover - numba
    """Runs of ``count`` symbols, run ``r`` under table ``tabs[r]``, one after another
    into ``out``: one :func:`decode_grouped_kernel` call per run (a single table each,
    symbols, no bias), made here without a return to Python between them.  Returns the
    status of the first run that fails, else OK."""
    tab = np.empty(count, np.int64)  # (int64: a table index is never narrowed)
    for r in range(tabs.size):
        tab[:] = tabs[r]
        status, _ = decode_grouped_kernel(words, st, tab, 0, cdf, cdf_off, costs, cost_off,
                                          meter, check_every, False,
                                          out[r * count:(r + 1) * count])
        if status != OK:
            return status
    return OK


@nb.njit(cache=True, nogil=True)
def assemble_escapes(k, bits, out):  # pragma: no cover - numba
    """The escape values (SPEC 6.3) from their bit lengths ``k`` and, value by value, their
    ``k - 1`` bits below the leading one (``bits``, most significant first): ``out[i]`` =
    0 where ``k[i]`` is 0."""
    pos = 0
    for i in range(k.size):
        ki = k[i]
        if ki == 0:
            out[i] = 0
            continue
        v = np.uint64(1)
        for _ in range(ki - 1):
            v = (v << np.uint64(1)) | np.uint64(bits[pos])
            pos += 1
        out[i] = v
