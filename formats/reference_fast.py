"""SPEC.md sections 5.6 (the fast coder's plane kinds 3 and 4, model id 3), 5.8 (kinds 5
and 6, model id 14: the same with two NLMS filters), 5.10 (model id 16's priors in kinds
5 and 6), 5.11 (model id 18's bands), 5.12 (model id 20's low classes), 5.13 (model id
22's bit-packed table sections) and their
near-lossless forms (7.7-7.9) in plain Python, written from the text, for
``reference_decoder.py`` (which calls :func:`plane3` with its reader and its ``_need``).  One loop iteration per pixel, nothing
from ``mic`` but the data file SPEC 5.10 names (``mic/lossless/_tables_v16.py``, read as data).
"""

from __future__ import annotations

import ast
import pathlib

PRIORS = pathlib.Path(__file__).resolve().parents[1] / "mic" / "lossless" / "_tables_v16.py"


def _priors():
    """LMS_A0, LMS_B0 and BUILTIN_FREQS of SPEC 5.10's file, as literals."""
    vals = {}
    for node in ast.parse(PRIORS.read_text()).body:
        if isinstance(node, ast.Assign):
            vals[node.targets[0].id] = ast.literal_eval(node.value)
    return vals["LMS_A0"], vals["LMS_B0"], vals["BUILTIN_FREQS"]


def _tables(rd, need, prior=False):
    nt = rd.u8()
    need(1 <= nt <= 24 or (prior and nt == 0), "fast plane: table count")
    if nt == 0:  # 5.10: every class its built-in table
        tabmap = [255] * 24
    else:
        tabmap = [rd.u8() for _ in range(24)]
    need(all(t < nt or (prior and t == 255) for t in tabmap), "fast plane: class map")
    tables = []
    for _ in range(nt):
        n = rd.u8()
        need(1 <= n <= 68, "fast plane: table length")
        freq = []
        for _ in range(n):
            b = rd.u8()
            v = b & 0x7F
            if b & 0x80:
                v |= rd.u8() << 7
            need(v <= 2048, "fast plane: frequency")
            freq.append(v)
        need(sum(freq) == 2048, "fast plane: a table does not sum to 2048")
        tables.append(_table(freq))
    return _with_builtin(tabmap, tables) if prior else (tabmap, tables)


def _table(freq):
    """A table's frequencies and their cumulative sums (5.6)."""
    return freq, [sum(freq[:s]) for s in range(len(freq))]


def _section(rd, need, compact):
    """A model-16 table section (5.10), or its bit-packed form (5.13, ``compact``)."""
    return _compact(rd, need) if compact else _tables(rd, need, True)


class _Bits:
    """5.13: bits MSB first from the bytes ``rd`` gives, one byte at a time."""

    def __init__(self, rd):
        self.rd, self.byte, self.left = rd, 0, 0

    def read(self, n):
        v = 0
        for _ in range(n):
            if self.left == 0:
                self.byte, self.left = self.rd.u8(), 8
            self.left -= 1
            v = v << 1 | (self.byte >> self.left) & 1
        return v


def _compact(rd, need):
    """5.13: a model-16 table section, bit-packed (built-in tables added as 5.10 adds them)."""
    nt = rd.u8()
    need(nt <= 24, "fast plane: table count")
    if nt == 0:
        return _with_builtin([255] * 24, [])
    bits = _Bits(rd)
    wbits = nt.bit_length()
    tabmap = []
    for c in range(24):
        if c == 0 or bits.read(1):
            v = bits.read(wbits)
            need(v <= nt, "fast plane: class map")
        tabmap.append(255 if v == nt else v)
    tables = []
    for _ in range(nt):
        n, P = bits.read(7), bits.read(4)
        need(1 <= n <= 68 and P <= 11, "fast plane: table length or precision")
        es, e = [], 0
        for _ in range(n):
            if bits.read(1):
                if not bits.read(1):
                    e -= 1
                elif not bits.read(1):
                    e += 1
                else:
                    e = bits.read(4)
            need(0 <= e <= 12, "fast plane: a bit length")
            es.append(e)
        need(max(es) > 0, "fast plane: an empty table")
        o = es.index(max(es))
        freq = [0] * n
        for s in range(n):
            if s != o:
                k = min(P, max(es[s] - 1, 0))
                m = bits.read(k)
                sh = es[s] - 1 - k
                freq[s] = es[s] if es[s] <= 1 else ((2**k + m) << sh) + ((1 << sh) >> 1)
        freq[o] = 2048 - sum(freq)
        need(freq[o] >= 1, "fast plane: a table's last frequency")
        tables.append(_table(freq))
    return _with_builtin(tabmap, tables)


def _with_builtin(tabmap, tables):
    """5.10: class c's built-in table after the plane's own, for each entry 255."""
    builtin = _priors()[2]
    for c in range(24):
        if tabmap[c] == 255:
            f = builtin[c]
            tabmap[c] = len(tables)
            tables.append(_table(f))
    return tabmap, tables


def _thresholds(maxval):
    if maxval >= 128:
        f = (min(maxval, 4095) + 128) >> 8
        return f + 2, 4 * f + 3, 17 * f + 4
    f = 256 // (maxval + 1)
    t1 = max(2, 3 // f)
    t2 = max(t1, 7 // f)
    return t1, t2, max(t2, 21 // f)


def _palette(rd, maxval, need):
    """Kind 4's palette (as kind 2's, section 5.2): the sorted values."""
    import zstandard

    span, zlen = rd.varint(), rd.varint()
    need(maxval <= span <= 2**17 - 2, "palette span")
    frame = rd.take(zlen)
    size = -(-(span + 1) // 8)
    need(zstandard.frame_content_size(frame) <= size, "palette frame declares more")
    try:
        bitmap = zstandard.ZstdDecompressor().decompress(frame, max_output_size=size)
    except zstandard.ZstdError:
        need(False, "corrupt palette frame")
    need(len(bitmap) == size, "palette bitmap size")
    palette = [v for v in range(span + 1) if bitmap[v >> 3] >> (7 - (v & 7)) & 1]
    need(len(palette) == maxval + 1, "palette count")
    return palette


class _Filters:
    """Section 5.8 steps 1-3 and 5: the two NLMS filters of a kind-5 or kind-6 plane."""

    def __init__(self, out, res, w, prior=False):
        self.out, self.res, self.w = out, res, w
        self.a, self.b = [0] * 12, [[0] * 8 for _ in range(4)]
        if prior:  # 5.10: the weights start from the fixed ones
            a0, b0, _ = _priors()
            self.a, self.b = list(a0), [list(r) for r in b0]

    def predict(self, y, x, W, Nn, NW, NE, med, maxval, ext=None):
        """``ext``: None, or an inter plane's P5 at (y, x) (section 5.15)."""
        out, res, w = self.out, self.res, self.w

        def r(yy, xx):
            return res[yy][xx] if yy >= 0 and 0 <= xx < w else 0

        WW = out[y][x - 2] if x >= 2 else W
        WWW = out[y][x - 3] if x >= 3 else WW
        if y == 0:
            NN = NNE = NNW = NEE = W
        else:
            y2 = y - 2 if y >= 2 else y - 1
            NN = out[y2][x]
            NNE = out[y2][x + 1] if x + 1 < w else NN
            NNW = out[y2][x - 1] if x > 0 else NN
            NEE = out[y - 1][x + 2] if x + 2 < w else NE
        if ext is not None:  # 5.15: P5 in NNE's place, and in the second filter p0's
            NNE = ext
        rW, rN, rNW, rNE = r(y, x - 1), r(y - 1, x), r(y - 1, x - 1), r(y - 1, x + 1)
        self.p0 = p0 = (2 * med + W + Nn + 2) >> 2
        self.z = [v - p0 for v in (W, Nn, NW, NE, WW, NN, NEE, NNE, NNW, WWW)] + [rW, rN]
        self.S1 = sum(a * z for a, z in zip(self.a, self.z))
        self.n1 = 1 + sum(z * z for z in self.z)
        self.p1 = p1 = min(max(p0 + ((self.S1 + 2**15) >> 16), 0), maxval)
        L = (abs(W - NW) + abs(Nn - NW) + abs(Nn - NE) + abs(rW) + abs(rN)).bit_length()
        self.s = 0 if L < 4 else min((L - 2) >> 1, 3)
        self.u = [med - p1, W + NE - Nn - p1, (p0 if ext is None else ext) - p1,
                  Nn + W - NW - p1, rW, rN, rNW, rNE]
        self.S2 = sum(b * u for b, u in zip(self.b[self.s], self.u))
        self.n2 = 1 + sum(u * u for u in self.u)
        return p1 + ((self.S2 + 2**15) >> 16)

    def learn(self, x, v):
        def U(c, z, e, d, m):
            g = (e * 2**12) // d
            for t in range(len(c)):
                c[t] = min(max(c[t] + ((g * z[t] + 2**(m - 1)) >> m), -2**20), 2**20)

        U(self.a, self.z, (v - self.p0) * 2**16 - self.S1, self.n1, 16)
        if x % 2 == 0:
            U(self.b[self.s], self.u, (v - self.p1) * 2**16 - self.S2, self.n2, 20)


def _bands(rd, need, maxval, compact=False):
    """5.11: the band count, its thresholds, then each band's 5.10 tables (``compact``:
    5.13's)."""
    nb = rd.u8()
    need(1 <= nb <= 8, "fast plane: band count")
    th = [rd.varint() for _ in range(nb - 1)]
    need(all(a < b for a, b in zip([0] + th, th)) and all(t <= maxval for t in th),
         "fast plane: band thresholds")
    return th, [_section(rd, need, compact) for _ in range(nb)]


def _low(rd, need, compact=False):
    """5.12: the low class count, then (if not 0) the low section's 5.10 tables (``compact``:
    5.13's)."""
    nl = rd.u8()
    need(nl <= 24, "fast plane: low class count")
    if not nl:
        return nl, None
    return nl, _section(rd, need, compact)


def _med(a, b, c):
    """The median-edge rule (5.4's P0, 5.6 step 3's MED): ``min(a, b)`` if ``c >= max(a,
    b)``, ``max(a, b)`` if ``c <= min(a, b)``, else ``a + b - c``."""
    if c >= max(a, b):
        return min(a, b)
    return max(a, b) if c <= min(a, b) else a + b - c


def _p5(R, y, x, W, Nn, NW, maxval):
    """Section 5.15's P5 at (y, x): ``R0 + med(W - RW, N - RN, NW - RNW)`` clamped to
    ``[0, maxval]``, the reference ``R``'s neighbours by 5.6 step 1's edge rules."""
    if y == 0:
        RW = R[0][x - 1] if x > 0 else (maxval + 1) >> 1
        RN = RNW = RW
    else:
        RN = R[y - 1][x]
        RW, RNW = (R[y][x - 1], R[y - 1][x - 1]) if x > 0 else (RN, RN)
    return min(max(R[y][x] + _med(W - RW, Nn - RN, NW - RNW), 0), maxval)


def plane3(rd, h, w, offset, decode, need, kind=3, prior=False, near=0, bands=False,
           ref=None):
    """A plane of kind 3, 4 (section 5.6), 5 or 6 (5.8) after its kind and offset: the
    (h, w) samples as lists (``decode``), or None after checking its fields only;
    ``prior``: model id 16 (5.10), whose kinds 5 and 6 have built-in tables and prior
    weights; ``bands``: model id 18 (5.11), whose kinds 5 and 6 also have bands (2: model
    id 20, 5.12, and low classes; 3: model id 22, 5.13, and packed table sections);
    ``near`` = k > 0: a near-lossless plane of model id 17 (7.7); ``ref``: the previous
    frame's (h, w) samples of an inter tile's kind-5 plane (xform 7, model id 25, 5.15)."""
    bands = bands if kind in (5, 6) else 0
    prior = (prior or bands) and kind in (5, 6)
    maxval = rd.varint()
    need(1 <= maxval <= 2**17 - 2, "maxval out of range")
    palette = _palette(rd, maxval, need) if kind in (4, 6) else list(range(maxval + 1))
    if kind in (4, 6) and near:  # 7.2: a palette's indices carry k' = k // (largest gap)
        near //= max(b - a for a, b in zip(palette, palette[1:]))
    delta = 2 * near + 1
    nl, low = 0, None
    if bands:  # 5.11
        th, sections = _bands(rd, need, maxval, bands == 3)
        if bands >= 2:  # 5.12
            nl, low = _low(rd, need, bands == 3)
    else:
        th, sections = [], [_tables(rd, need, prior)]
    nwords, nbytes = rd.varint(), rd.varint()
    need(nwords >= 2, "fast plane: fewer than 2 words")
    raw = rd.take(2 * nwords)
    extra = rd.take(nbytes)
    if not decode:
        return None
    words = [raw[2 * i] | raw[2 * i + 1] << 8 for i in range(nwords)]
    T1, T2, T3 = _thresholds(maxval)

    def Q(d):
        a = abs(d)
        q = 0 if a == 0 else 1 if a < T1 else 2 if a < T2 else 3 if a < T3 else 4
        return q if d >= 0 else -q

    a0 = max(2, (maxval + 33) >> 6)
    A, B, C, N, K = [a0] * 365, [0] * 365, [0] * 365, [1] * 365, [16 * a0] * 365
    X = words[0] << 16 | words[1]
    j = 2
    bitpos = 0
    out = [[0] * w for _ in range(h)]
    err = [[0] * w for _ in range(h)]  # |delta| of every decoded pixel
    res = [[0] * w for _ in range(h)]  # v - p of every decoded pixel (5.8)
    nlms = _Filters(out, res, w, prior) if kind in (5, 6) else None
    # 5.15: an inter plane's reference, the previous frame's samples in the plane's domain
    R = None if ref is None else [[min(max(int(v) - offset, 0), maxval) for v in row]
                                  for row in ref]
    for y in range(h):
        for x in range(w):
            if y == 0:
                W = out[0][x - 1] if x > 0 else (maxval + 1) >> 1
                Nn = NW = NE = W
            else:
                Nn = out[y - 1][x]
                W = out[y][x - 1] if x > 0 else Nn
                NW = out[y - 1][x - 1] if x > 0 else Nn
                NE = out[y - 1][x + 1] if x + 1 < w else Nn
            q = (Q(NE - Nn) * 9 + Q(Nn - NW)) * 9 + Q(NW - W)
            sg = -1 if q < 0 else 1
            q = abs(q)
            med = _med(W, Nn, NW)
            if nlms is None:
                p = min(max(((2 * med + W + Nn + 2) >> 2) + sg * C[q], 0), maxval)
            else:  # 5.8 step 4
                ext = None if R is None else _p5(R, y, x, W, Nn, NW, maxval)
                p = min(max(nlms.predict(y, x, W, Nn, NW, NE, med, maxval, ext) + sg * C[q], 0),
                        maxval)
            eW = err[y][x - 1] if x > 0 else 0
            eN = err[y - 1][x] if y > 0 else 0
            t = min(K[q] + 8 * (eW + eN), 3072)
            L = t.bit_length()
            c = L if L <= 1 else min(2 * L - 2 + ((t >> (L - 2)) & 1), 23)
            band = sum(out[y - 1][x] >= t for t in th) if y > 0 else 0  # 5.11: from above
            tabmap, tables = sections[band]
            lam = (W + Nn + 1) >> 1  # 5.12: a low sample, under its low class's table
            if lam < nl:
                tabmap, tables = low
                c = lam
            freq, cum = tables[tabmap[c]]
            slot = X & 2047
            s = max(i for i in range(len(freq)) if cum[i] <= slot and freq[i] > 0)
            X = freq[s] * (X >> 11) + slot - cum[s]
            if X < 2**15:
                need(j < nwords, "fast plane: ran past its words")
                X = X << 16 | words[j]
                j += 1
            if s < 16:
                u = s
            else:
                nb = ((s - 16) >> 2) + 2
                need(bitpos + nb <= 8 * nbytes, "fast plane: ran past its extra bits")
                e = 0
                for _ in range(nb):
                    e = e << 1 | (extra[bitpos >> 3] >> (7 - (bitpos & 7))) & 1
                    bitpos += 1
                u = (4 + ((s - 16) & 3)) << nb | e
            m_lo, m_hi = (p + near) // delta, (maxval - p + near) // delta  # 7.7 (k = 0: 5.6)
            m = min(m_lo, m_hi)
            if lam < nl and near:  # 7.9: the index of the value on the grid of 2k + 1
                need(u * delta <= maxval + near, "fast plane: a low value above maxval + k")
                v = min(u * delta, maxval)
                e = v - p
                d = sg * ((e + near) // delta if e >= 0 else -((near - e) // delta))
            elif lam < nl:  # 5.12: the value itself
                need(u <= maxval, "fast plane: a low value above maxval")
                v, d = u, sg * (u - p)
            else:
                if u <= 2 * m:
                    d = u >> 1 if u % 2 == 0 else -((u + 1) >> 1)
                else:
                    d = (u - m) * (sg if m_lo < m_hi else -sg)
                need(-m_lo <= sg * d <= m_hi, "fast plane: a value outside [0, maxval]")
                v = min(max(p + sg * d * delta, 0), maxval)
            out[y][x] = v
            err[y][x] = abs(d)
            if nlms is not None:  # 5.8 step 5
                res[y][x] = v - p
                nlms.learn(x, v)
            A[q] += abs(d)
            B[q] += sg * (v - p)  # 7.7: the reconstruction's error (k = 0: d)
            if N[q] == 64:
                A[q] >>= 1
                B[q] >>= 1
                N[q] >>= 1
            N[q] += 1
            if 2 * B[q] <= -N[q]:
                B[q] += N[q]
                C[q] = max(C[q] - 1, -128)
            elif 2 * B[q] > N[q]:
                B[q] -= N[q]
                C[q] = min(C[q] + 1, 127)
            B[q] = min(max(B[q], 1 - N[q]), N[q])
            K[q] = (16 * A[q] * (2**32 // N[q])) >> 32
    need(X == 2**15 and j == nwords, "fast plane: the rANS state does not end at 2^15")
    return [[palette[v] + offset for v in row] for row in out]
