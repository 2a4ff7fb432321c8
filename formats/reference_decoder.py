#!/usr/bin/env python
"""A second, deliberately naive .mic lossless and near-lossless decoder from SPEC.md alone.

It follows SPEC.md sections 1, 3, 4 (with the resource bounds of 4.1), 5 (5.6 and 5.8 in
``reference_fast.py``; 5.7 = 7.6 in ``reference_nlms.py``) and 7 (mode 2; stream versions 1, 2)
step by step in plain Python (one loop iteration per pixel, no Numba, nothing from ``mic``)
and exists to show that the specification is complete: ``tests/test_conformance.py`` runs it
on the small conformance vectors and requires the same samples as ``mic.decode``. What it
takes from outside the text, as SPEC.md does: the frequency tables of ``mic/lossless/_tables_v1.py`` (as data) and
constriction's queue range decoder and ``Categorical(..., perfect=False)`` model.

    .venv/bin/python formats/reference_decoder.py formats/one_by_one_u16.mic
"""

from __future__ import annotations

import ast
import math
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TABLES = ROOT / "mic" / "lossless" / "_tables_v1.py"
MAGIC = bytes.fromhex("8B 4D 49 43 0D 0A 1A 0A")
FAST = [()]  # the fast plane kinds allowed: 3, 4 (model ids 3, 13; 5.6) and 5, 6 (id 14; 5.8)
PRIOR = [False]  # model id 16 (5.10): kinds 5 and 6 with the built-in tables and prior weights
#: model ids 18, 19 (5.11, 7.8): tables in bands (1); 20, 21 (5.12, 7.9): and low classes
#: (2); 22, 23 (5.13, 7.10): and packed table sections (3)
BANDS = [0]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # reference_fast.py, reference_nlms.py

# SPEC.md section 3: (name, struct code) in body order
BODY = [("mode", "B"), ("model_id", "H"), ("coder_id", "B"), ("bits_allocated", "B"),
        ("signed", "B"), ("bits_stored", "B"), ("photometric", "B"), ("layout", "B"),
        ("samples", "B"), ("frames", "I"), ("rows", "I"), ("cols", "I"), ("tile_rows", "I"),
        ("tile_cols", "I"), ("quality", "B"), ("flags", "H"), ("sample_crc32", "I")]
BODY_FMT = "<" + "".join(c for _, c in BODY)


class SpecError(ValueError):
    """The stream breaks a rule of SPEC.md."""


def _need(ok: bool, what: str) -> None:
    if not ok:
        raise SpecError(what)


# ----------------------------------------------------------------------------- tables
def _load_tables() -> tuple[list[list[int]], list[int]]:
    """TOKEN_FREQS and CLASS_DELTA_FREQS, read as literals (the module is not imported)."""
    tree = ast.parse(TABLES.read_text())
    vals = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            vals[node.targets[0].id] = ast.literal_eval(node.value)
    return vals["TOKEN_FREQS"], vals["CLASS_DELTA_FREQS"]


_MODELS = None


def _models():
    global _MODELS
    if _MODELS is None:
        import constriction

        tok, delta = _load_tables()
        cat = constriction.stream.model.Categorical
        # SPEC 5.3: Categorical(f / 2^20, perfect=False); the model normalises, so the
        # class-delta table (whose counts sum to 2^16) is given as f / sum(f).
        _MODELS = ([cat(np.asarray(f, np.float64) / 2**20, perfect=False) for f in tok],
                   cat(np.asarray(delta, np.float64) / sum(delta), perfect=False))
    return _MODELS


# ----------------------------------------------------------------------------- container
def _leb(data: bytes, pos: int, limit: int) -> tuple[int, int]:
    """SPEC.md section 1: an unsigned LEB128 value (shortest form, at most ``limit``)."""
    v = shift = 0
    start = pos
    while True:
        _need(pos < len(data), "truncated varint")
        b = data[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        shift += 7
        _need(shift <= 35, "varint too long")
        if not b & 0x80:
            break
    _need(not (b == 0 and pos - start > 1), "over-long varint")
    _need(v <= limit, "varint beyond its field")
    return v, pos


def parse(data: bytes) -> tuple[dict, dict[tuple[int, int], bytes]]:
    """SPEC.md sections 1, 3 and 4: the header fields and the TILE payloads by key."""
    _need(data[:8] == MAGIC, "bad magic")
    _need(len(data) >= 10, "truncated prefix")
    major, minor = data[8], data[9]
    _need(major in (1, 2), f"major version {major}")
    if major == 1:
        _need(len(data) >= 12, "truncated prefix")
        (body_len,) = struct.unpack_from("<H", data, 10)
        _need(body_len >= struct.calcsize(BODY_FMT), "short header body")
        start = 12
    else:
        body_len, start = _leb(data, 10, 0xFFFF)
    end = start + body_len
    _need(len(data) >= end + 4, "truncated header")
    _need(struct.unpack_from("<I", data, end)[0] == zlib.crc32(data[:end]), "header CRC")
    if major == 1:
        h = dict(zip((n for n, _ in BODY), struct.unpack_from(BODY_FMT, data, 12)))
    else:
        h, p = {}, start
        for name, code in BODY:
            h[name], p = _leb(data[:end], p, {"B": 0xFF, "H": 0xFFFF, "I": 0xFFFFFFFF}[code])
    h["version"] = (major, minor)
    h["near"] = []  # section 7.1: the payloads of NEAR segments
    h["lvol"] = []  # section 5.5: the payloads of LVOL segments
    pos, tiles = end + 4, {}
    while True:
        _need(pos + 8 <= len(data), "truncated segment header")
        tag = data[pos:pos + 4]
        if major == 1:
            (n,) = struct.unpack_from("<I", data, pos + 4)
            at = pos + 8
        else:
            n, at = _leb(data, pos + 4, 0xFFFFFFFF)
        _need(at + n + 4 <= len(data), "truncated segment")
        _need(struct.unpack_from("<I", data, at + n)[0] == zlib.crc32(data[pos:at + n]),
              f"segment {tag!r} CRC")
        payload = data[at:at + n]
        pos = at + n + 4
        if tag == b"MEND":
            _need(n == 0, "MEND not empty")
            break
        if tag == b"TILE":
            if major == 1:
                key, k = struct.unpack_from("<II", payload), 8
            else:
                f, k = _leb(payload, 0, 0xFFFFFFFF)
                t, k = _leb(payload, k, 0xFFFFFFFF)
                key = (f, t)
            _need(key not in tiles, "duplicate tile")
            tiles[key] = payload[k:]
        elif tag == b"NEAR":
            h["near"].append(payload)
        elif tag == b"LVOL":  # section 5.5
            h["lvol"].append(payload)
        else:
            _need(not (65 <= tag[0] <= 90), f"unknown critical segment {tag!r}")
    return h, tiles


# ----------------------------------------------------------------------------- section 5
class _Reader:
    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos = buf, 0

    def u8(self) -> int:
        _need(self.pos < len(self.buf), "truncated plane")
        self.pos += 1
        return self.buf[self.pos - 1]

    def varint(self) -> int:
        v = 0
        for i in range(5):
            b = self.u8()
            v |= (b & 0x7F) << (7 * i)
            if not b & 0x80:
                return v
        raise SpecError("varint longer than 5 bytes")

    def take(self, n: int) -> bytes:
        _need(self.pos + n <= len(self.buf), "truncated plane data")
        self.pos += n
        return self.buf[self.pos - n:self.pos]


def _unzz(u: int) -> int:
    return u >> 1 if u % 2 == 0 else -((u + 1) >> 1)


def _med(a: int, b: int, c: int) -> int:
    if c >= max(a, b):
        return min(a, b)
    if c <= min(a, b):
        return max(a, b)
    return a + b - c


def decode_plane(rd: _Reader, h: int, w: int, near: int = 0,
                 ref: np.ndarray | None = None, nlms: bool = False) -> list[list[int]]:
    """Section 5.2-5.4; ``near`` = k > 0: a near-lossless plane (section 7.2, 7.4); ``ref``:
    an inter plane (section 5.5), the previous frame's decoded (h, w) samples; ``nlms``: a
    near-lossless plane of model id 12 (section 7.6)."""
    kind = rd.u8()
    offset = _unzz(rd.varint())
    if kind == 0:
        return [[offset] * w for _ in range(h)]
    if kind in FAST[0] and ref is None:
        return __import__("reference_fast").plane3(rd, h, w, offset, True, _need, kind,
                                                   PRIOR[0], near, BANDS[0])
    _need(kind in (1, 2), f"plane kind {kind}")
    _need(ref is None or kind == 1, "a palette plane in an inter tile")
    maxval = rd.varint()
    _need(1 <= maxval <= 2**17 - 2, "maxval out of range")
    inter = ref is not None
    if inter:  # section 5.5: the reference in the plane's domain
        Rf = [[min(max(int(v) - offset, 0), maxval) for v in row] for row in ref]
    palette = None
    if kind == 2:
        import zstandard

        span, zlen = rd.varint(), rd.varint()
        frame = rd.take(zlen)
        size = -(-(span + 1) // 8)
        declared = zstandard.frame_content_size(frame)
        _need(declared <= size, "palette frame declares more than the bitmap")
        bitmap = zstandard.ZstdDecompressor().decompress(frame, max_output_size=size)
        _need(len(bitmap) == size, "palette bitmap size")
        palette = [v for v in range(span + 1) if bitmap[v >> 3] >> (7 - (v & 7)) & 1]
        _need(len(palette) == maxval + 1, "palette count")
        # section 7.2: a near-lossless palette plane's indices carry k' = k // (largest gap)
        near //= max(b - a for a, b in zip(palette, palette[1:]))
    delta = 2 * near + 1
    block_log2 = rd.u8()
    _need(2 <= block_log2 <= 10, "block_log2")
    nwords, nbytes = rd.varint(), rd.varint()
    words = np.frombuffer(rd.take(4 * nwords), "<u4").astype(np.uint32)
    extra = rd.take(nbytes)
    _word_bound(nwords, h, w, block_log2)
    # 5.3 entropy-coded symbols
    import constriction

    token_models, delta_model = _models()
    bs = 1 << block_log2
    bx, by = -(-w // bs), -(-h // bs)
    dec = constriction.stream.queue.RangeDecoder(words)
    syms = dec.decode(delta_model, bx * by)
    cls = [[0] * bx for _ in range(by)]
    for j in range(by):
        for i in range(bx):
            s = int(syms[j * bx + i])
            d = s // 2 if s % 2 == 0 else -(s + 1) // 2
            if i > 0 and j > 0:
                pred = (cls[j][i - 1] + cls[j - 1][i] + 1) >> 1
            elif i > 0:
                pred = cls[j][i - 1]
            elif j > 0:
                pred = cls[j - 1][i]
            else:
                pred = 12
            c = pred + d
            _need(0 <= c < 24, "class out of range")
            cls[j][i] = c
    order: list[list[tuple[int, int]]] = [[] for _ in range(24)]
    for y in range(h):
        for x in range(w):
            order[cls[y // bs][x // bs]].append((y, x))
    tokens = [[0] * w for _ in range(h)]
    for k in range(24):
        if order[k]:
            for (y, x), t in zip(order[k], dec.decode(token_models[k], len(order[k]))):
                tokens[y][x] = int(t)

    # 5.4 prediction and reconstruction
    R = [2**36 // (j + 1) for j in range(1024)]
    img = [[0] * w for _ in range(h)]
    res = [[0] * w for _ in range(h)]
    npred = 7 if inter else 5
    err = [[[0] * w for _ in range(h)] for _ in range(npred)]
    S, C = [0] * 5120, [0] * 5120
    nl = __import__("reference_nlms").Filters() if nlms else None  # section 7.6
    bitpos = 0

    def rbits(n: int) -> int:
        nonlocal bitpos
        _need(bitpos + n <= 8 * len(extra), "ran past the extra bits")
        v = 0
        for _ in range(n):
            v = (v << 1) | (extra[bitpos >> 3] >> (7 - (bitpos & 7)) & 1)
            bitpos += 1
        return v

    for y in range(h):
        for x in range(w):
            if y == 0:
                W = img[0][x - 1] if x > 0 else (maxval + 1) >> 1
                WW = img[0][x - 2] if x > 1 else W
                N = NW = NE = NN = W
            else:
                N = img[y - 1][x]
                NW = img[y - 1][x - 1] if x > 0 else N
                NE = img[y - 1][x + 1] if x + 1 < w else N
                NN = img[y - 2][x] if y > 1 else N
                if x == 0:
                    W = WW = N
                else:
                    W = img[y][x - 1]
                    WW = img[y][x - 2] if x > 1 else W
            rW = res[y][x - 1] if x > 0 else 0
            rN = res[y - 1][x] if y > 0 else 0
            rNE = res[y - 1][x + 1] if y > 0 and x + 1 < w else 0
            rNW = res[y - 1][x - 1] if y > 0 and x > 0 else 0
            med = _med(W, N, NW)
            P = [med, W + NE - N, N + ((W - WW) + (N - NN) + 1) // 2,
                 N + ((rW + rN + rNE) >> 1), W + (((rW + rN + rNW) * 10) >> 5)]
            if nl:  # section 7.6 step 1
                L = nl.first(img, y, x, w, N, rW, rN, maxval)
            if inter:  # section 5.5 steps 1-2
                R0 = Rf[y][x]
                if y == 0:
                    RW = Rf[0][x - 1] if x > 0 else R0
                    RN = RNW = RW
                else:
                    RN = Rf[y - 1][x]
                    RW = Rf[y][x - 1] if x > 0 else RN
                    RNW = Rf[y - 1][x - 1] if x > 0 else RN
                rho = R0 - _med(RW, RN, RNW)
                P += [R0 + _med(W - RW, N - RN, NW - RNW), med + (rho >> 1)]

            def E(i, yy, xx):
                return err[i][yy][xx] if 0 <= yy and 0 <= xx < w else 0

            wsum = psum = 0
            for i in range(npred):
                e = 2 * E(i, y - 1, x) + E(i, y - 1, x - 1) + E(i, y - 1, x + 1) \
                    + 2 * E(i, y, x - 1) + 1
                sh = 0
                while e >= 1024:
                    e >>= 1
                    sh += 1
                wi = max(1, R[e] >> sh)
                wsum += wi
                psum += wi * P[i]
            p = (psum + (wsum >> 1)) // wsum
            act = abs(W - NW) + abs(N - NW) + abs(N - NE) + abs(rN) + abs(rW)
            if nl:  # section 7.6 step 2
                p = nl.second(P, p, L, rW, rN, rNW, rNE, min(act.bit_length(), 15))
            if inter:  # section 5.5 step 3
                if 4 * abs(rho) <= act:
                    b = 0
                elif abs(rho) <= act:
                    b = 1 if rho > 0 else 2
                else:
                    b = 3 if rho > 0 else 4
                act = (act + 2 * abs(rho)) >> 1
            q = min(act.bit_length(), 15)
            c = (q * 64 + 32 * (N > p) + 16 * (W > p) + 8 * (NW > p) + 4 * (NE > p)
                 + 2 * (2 * N - NN > p) + (2 * W - WW > p))
            if inter:
                c = 5 * c + b
            if C[c] > 0 and not nl:  # section 7.6: no bias correction in model 12
                if S[c] >= 0:
                    p += (S[c] + (C[c] >> 1)) // C[c]
                else:
                    p -= (-S[c] + (C[c] >> 1)) // C[c]
            ph = min(max(p, 0), maxval)
            m_lo, m_hi = (ph + near) // delta, (maxval - ph + near) // delta  # 7.4 step 2
            m = min(m_lo, m_hi)
            t = tokens[y][x]
            _need(t < 68, "token >= 68")
            if t < 16:
                u = t
            else:
                n = (t - 16) // 4 + 4
                u = (1 << n) | (((t - 16) & 3) << (n - 2)) | rbits(n - 2)
            if u <= 2 * m:
                q = u >> 1 if u % 2 == 0 else -((u + 1) >> 1)
            else:
                q = u - m if m_lo < m_hi else -(u - m)
            _need(-m_lo <= q <= m_hi, "decoded value outside [0, maxval]")
            v = min(max(ph + q * delta, 0), maxval)  # 7.4 step 6 (k = 0: ph + q)
            img[y][x] = v
            for i in range(npred):
                err[i][y][x] = abs(v - P[i])
            r = v - ph
            res[y][x] = r
            if not nl:  # section 7.6: model 12 keeps no bias sums
                S[c] += r
                C[c] += 1
                if C[c] == 32:
                    S[c] = S[c] // 2 if S[c] >= 0 else -((-S[c]) // 2)
                    C[c] = 16
            if nl:  # section 7.6 step 3
                nl.update(v, x)
    if palette is not None:
        return [[palette[v] + offset for v in row] for row in img]
    return [[v + offset for v in row] for row in img]


# ----------------------------------------------------------------------------- section 4.1
def _leaky(p: list[float]) -> list[int]:
    """SPEC 4.1: the 24-bit probabilities of ``Categorical(p, perfect=False)``."""
    total = 0.0
    for x in p:
        total += x
    scale = (2**24 - len(p)) / total
    left, c = [], 0.0
    for i, x in enumerate(p):
        left.append(math.floor(c * scale) + i)
        c += x
    left.append(2**24)
    return [left[i + 1] - left[i] for i in range(len(p))]


_CMIN = None


def _word_bound(nwords: int, h: int, w: int, block_log2: int) -> None:
    """SPEC 4.1: ``nwords`` words carry at most ``32 nwords`` bits of symbols; an h x w
    plane has h*w tokens and one class symbol per block, each at least its cheapest."""
    global _CMIN
    if _CMIN is None:
        tok, delta = _load_tables()
        ct = min(24 - math.log2(max(_leaky([f / 2**20 for f in row]))) for row in tok)
        cc = 24 - math.log2(max(_leaky([f / sum(delta) for f in delta])))
        _CMIN = ct, cc
    bs = 1 << block_log2
    bits = h * w * _CMIN[0] + -(-h // bs) * -(-w // bs) * _CMIN[1]
    _need(bits * (1 - 2**-20) - 1 <= 32 * nwords, "too few words for the plane's symbols")


def skip_plane(rd: _Reader, h: int, w: int) -> int | None:
    """A plane's fields read without decoding it (word bound checked): its value if it is
    constant, else None."""
    kind = rd.u8()
    offset = _unzz(rd.varint())
    if kind == 0:
        return offset
    if kind in FAST[0]:
        return __import__("reference_fast").plane3(rd, h, w, offset, False, _need, kind,
                                                   PRIOR[0], 0, BANDS[0])
    _need(kind in (1, 2), f"plane kind {kind}")
    rd.varint()
    if kind == 2:
        rd.varint()
        rd.take(rd.varint())
    block_log2 = rd.u8()
    _need(2 <= block_log2 <= 10, "block_log2")
    nwords, nbytes = rd.varint(), rd.varint()
    rd.take(4 * nwords + nbytes)
    _word_bound(nwords, h, w, block_log2)
    return None


def _mulp(a: int, b: int) -> int:
    """a * b modulo the CRC-32 polynomial (reflected), as zlib's multmodp."""
    p, m = 0, 1 << 31
    while m:
        if a & m:
            p ^= b
        m >>= 1
        b = (b >> 1) ^ 0xEDB88320 if b & 1 else b >> 1
    return p


def _shift(n: int) -> int:
    """x^(8 n) modulo the polynomial: moves a CRC-32 past n bytes."""
    p, sq = 1 << 31, 1 << 30
    for _ in range(3):
        sq = _mulp(sq, sq)
    while n:
        if n & 1:
            p = _mulp(sq, p)
        n >>= 1
        sq = _mulp(sq, sq)
    return p


def _crc_repeat(crc: int, part: int, part_len: int, n: int) -> int:
    """CRC-32 after ``crc`` of n copies of a part of CRC ``part`` and ``part_len`` bytes."""
    while n:
        if n & 1:
            crc = _mulp(_shift(part_len), crc) ^ part
        n >>= 1
        part = _mulp(_shift(part_len), part) ^ part
        part_len *= 2
    return crc


def _xform_ok(xform: int, samples: int, k: int, group: int = 0, model: int = 0) -> bool:
    """Section 5.1 (mode 0: xform 0 or 1), 5.5 (xform 4 with LVOL), 5.9 (xform 5, model id
    15, 16, 18, 20, 22, 24 and 25), 5.14 (xform 6, model id 24), 5.15 (xform 7, model id 25
    with LVOL) and 7.2 (mode 2: xform 0 or 2)."""
    if xform in (4, 7):
        return group > 0 and samples == 1 and (xform == 4 or model == 25)
    if xform == 5:
        return model in (15, 16, 18, 20, 22, 24, 25) and samples == 3
    if xform == 6:
        return model == 24 and samples == 3
    return xform == 0 or (xform == (2 if k else 1) and samples == 3)


def _tree(b: int) -> tuple[list[int], list[int]]:
    """Section 5.9: the channel of each plane and the plane whose channel it adds (-1:
    none)."""
    c0, c1, r1, r2 = b & 3, (b >> 2) & 3, (b >> 4) & 1, (b >> 5) & 3
    _need(c0 <= 2 and c1 <= 2 and c0 != c1 and r2 <= 2 and b < 128, "xform 5 tree byte")
    return [c0, c1, 3 - c0 - c1], [-1, r1 - 1, r2 - 1]


def _undo_tree(planes: list, tree: tuple[list[int], list[int]], bases: list = (None,) * 3,
               lo: int = 0, bits: int = 0) -> list:
    """Section 5.9: planes P0, P1, P2 (arrays or ints) -> channels R, G, B; 5.14: a plane
    with a base is wrapped."""
    order, refs = tree
    out = [None, None, None]
    for i, c in enumerate(order):
        if bases[i] is not None:
            out[c] = (planes[i] + bases[i] + out[order[refs[i]]] - lo) % (1 << bits) + lo
        else:
            out[c] = planes[i] + (out[order[refs[i]]] if refs[i] >= 0 else 0)
    return out


def _wraps(rd: _Reader, refs: list[int], bits: int) -> list:
    """Section 5.14: the bases of planes 1 and 2 (None: not wrapped); None for plane 0."""
    bases = [None]
    for i in (1, 2):
        w, end = _leb(rd.buf, rd.pos, 1 << (bits + 1))  # shortest form, at most 2^(bits+1)
        _need(end - rd.pos <= 3, "wrap field longer than 3 bytes")
        rd.pos = end
        base = None if w == 0 else _unzz(w - 1)
        _need(base is None or (abs(base) < 1 << bits and refs[i] >= 0), "wrap field")
        bases.append(base)
    return bases


def _wrapped_head_ok(rd: _Reader, top: int) -> bool:
    """Section 5.14: a wrapped plane's head (read ahead, not consumed) keeps its values in
    0 .. top: offset >= 0 and offset + span <= top."""
    pos = rd.pos
    kind = rd.u8()
    offset = _unzz(rd.varint())
    span = 0
    if kind != 0:
        span = rd.varint()
        if kind in (2, 4, 6):
            span = rd.varint()
    rd.pos = pos
    return offset >= 0 and offset + span <= top


def decode_tile(payload: bytes, rows: int, cols: int, samples: int, k: int = 0,
                lo: int = 0, hi: int = 0, group: int = 0,
                ref: np.ndarray | None = None, nlms: bool = False,
                model: int = 0) -> np.ndarray:
    rd = _Reader(payload)
    xform = rd.u8()
    _need(_xform_ok(xform, samples, k, group, model), f"xform {xform}")
    tree = _tree(rd.u8()) if xform in (5, 6) else None
    bits = int(hi - lo).bit_length()
    bases = _wraps(rd, tree[1], bits) if xform == 6 else [None] * 3
    if xform == 4:  # section 5.5: one plane predicted with the previous frame's tile
        _need(ref is not None, "an inter tile on the first frame of a group")
        plane = np.array(decode_plane(rd, rows, cols, 0, ref[..., 0]), np.int64)
        _need(rd.pos == len(payload), "bytes after the last plane")
        return plane[..., None]
    if xform == 7:  # section 5.15: a kind-5 plane given the previous frame's detail
        _need(ref is not None, "an inter tile on the first frame of a group")
        kind = rd.u8()
        offset = _unzz(rd.varint())
        _need(kind in (0, 5), f"plane kind {kind} in an inter tile of xform 7")
        plane = np.full((rows, cols), offset, np.int64) if kind == 0 else np.array(
            __import__("reference_fast").plane3(rd, rows, cols, offset, True, _need, kind,
                                                PRIOR[0], 0, BANDS[0], ref[..., 0]), np.int64)
        _need(rd.pos == len(payload), "bytes after the last plane")
        return plane[..., None]
    # xform 2 (section 7.3): G near-lossless, then R - G and B - G as mode-0 planes
    ks = [k, 0, 0] if xform == 2 else [k] * samples
    # 7.6/5.7: model 12's/13's filters in every plane but xform 2's differences (7.3)
    nl = [nlms and (i == 0 or xform != 2) for i in range(samples)]
    planes = []
    for i in range(samples):
        _need(bases[i] is None or _wrapped_head_ok(rd, hi - lo), "wrapped plane's range")
        planes.append(np.array(decode_plane(rd, rows, cols, ks[i], None, nl[i]), np.int64))
    _need(rd.pos == len(payload), "bytes after the last plane")
    if xform == 1:
        Y, U, V = planes
        G = Y - ((U + V) >> 2)
        planes = [U + G, G, V + G]
    elif xform in (5, 6):
        planes = _undo_tree(planes, tree, bases, lo, bits)
    elif xform == 2:
        G, DR, DB = planes
        _need(lo <= G.min() and G.max() <= hi, "samples outside bits_stored")
        planes = [np.clip(DR + G, lo, hi), G, np.clip(DB + G, lo, hi)]
    return np.stack(planes, axis=-1)


def decode(data: bytes) -> np.ndarray:
    h, tiles = parse(bytes(data))
    _need((h["mode"], h["model_id"]) in ((0, 1), (0, 3), (0, 13), (0, 14), (0, 15), (0, 16),
                                         (0, 18), (0, 20), (0, 22), (0, 24), (0, 25), (2, 2),
                                         (2, 12), (2, 17), (2, 19), (2, 21), (2, 23))
          and h["coder_id"] == 1, "neither lossless model 1, 3, 13, 14, 15, 16, 18, 20, 22, 24 "
          "or 25 nor near-lossless model 2, 12, 17, 19, 21 or 23")
    FAST[0] = {3: (3, 4), 13: (3, 4), 14: (3, 4, 5, 6), 15: (3, 4, 5, 6),
               16: (3, 4, 5, 6), 17: (3, 4, 5, 6), 18: (3, 4, 5, 6),
               19: (3, 4, 5, 6), 20: (3, 4, 5, 6), 21: (3, 4, 5, 6),
               22: (3, 4, 5, 6), 23: (3, 4, 5, 6), 24: (3, 4, 5, 6),
               25: (3, 4, 5, 6)}.get(h["model_id"], ())
    PRIOR[0] = h["model_id"] in (16, 17, 18, 19, 20, 21, 22, 23, 24, 25)
    BANDS[0] = {18: 1, 19: 1, 20: 2, 21: 2, 22: 3, 23: 3, 24: 3, 25: 3}.get(h["model_id"], 0)
    k = 0
    if h["mode"] == 2:  # section 7.1
        _need(len(h["near"]) == 1, "a near-lossless stream needs exactly one NEAR segment")
        near = h["near"][0]
        k, end = _leb(near, 0, 0xFFFF)
        _need(end == len(near) <= 3, "NEAR payload: one varint of at most 3 bytes")
        _need(1 <= k <= (1 << (h["bits_stored"] - 1)) - 1, "NEAR k out of range")
        _need(h["flags"] & 1, "mode 2 without the sample CRC-32 (section 7.5)")
    else:
        _need(not h["near"], "NEAR segment outside mode 2")
    group = 0
    if h["lvol"]:  # section 5.5
        _need(h["mode"] == 0 and h["samples"] == 1 and len(h["lvol"]) == 1
              and h["model_id"] in (1, 14, 15, 16, 18, 20, 22, 24, 25), "LVOL: one, in a "
              "lossless one-sample stream of model id 1, 14, 15, 16, 18, 20, 22, 24 or 25")
        group, end = _leb(h["lvol"][0], 0, 1 << 16)
        _need(end == len(h["lvol"][0]) <= 3 and group >= 2, "LVOL payload")
    f, r, c, s = h["frames"], h["rows"], h["cols"], h["samples"]
    # section 3 rules and default resource limits, before anything is allocated
    _need(h["bits_allocated"] in (8, 16) and h["signed"] in (0, 1), "sample format")
    _need(1 + h["signed"] <= h["bits_stored"] <= h["bits_allocated"], "bits_stored")
    _need(s in (1, 3) and (h["photometric"] == 2) == (s == 3) and h["photometric"] < 3,
          "samples / photometric")
    _need(h["layout"] < 4 and (h["layout"] in (2, 3) or s == 1)
          and (h["layout"] in (1, 3) or f == 1), "layout")
    _need(min(f, r, c) >= 1, "empty dimension")
    _need(f * r * c * s <= 2**30 and max(r, c) <= 2**20, "over the default limits")
    th = min(h["tile_rows"] or r, r)
    tw = min(h["tile_cols"] or c, c)
    ny, nx = -(-r // th), -(-c // tw)
    _need(set(tiles) == {(fi, t) for fi in range(f) for t in range(ny * nx)}, "tile set")
    bits, signed = h["bits_stored"], h["signed"]
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    dtype = np.dtype(("<i" if signed else "<u") + str(h["bits_allocated"] // 8))
    # section 4.1: every tile checked before the output is allocated; an image of
    # constant tiles has its sample CRC-32 checked from the tile values alone
    consts = {}
    for (fi, t), payload in tiles.items():
        ty, tx = divmod(t, nx)
        rd = _Reader(payload)
        xform = rd.u8()
        _need(_xform_ok(xform, s, k, group, h["model_id"]), f"xform {xform}")
        _need(xform not in (4, 7) or fi % group != 0,
              "an inter tile on the first frame of a group")
        _need(xform != 7 or payload[1:2] in (b"\x00", b"\x05"),
              "a plane kind other than 0 or 5 in an inter tile of xform 7")
        tree = _tree(rd.u8()) if xform in (5, 6) else None
        bases = _wraps(rd, tree[1], bits) if xform == 6 else [None] * 3
        v = []
        for i in range(s):
            _need(bases[i] is None or _wrapped_head_ok(rd, hi - lo), "wrapped plane's range")
            v.append(skip_plane(rd, min(th, r - ty * th), min(tw, c - tx * tw)))
        _need(rd.pos == len(payload), "bytes after the last plane")
        if None not in v:
            if xform == 1:
                g = v[0] - ((v[1] + v[2]) >> 2)
                v = [v[1] + g, g, v[2] + g]
            elif xform in (5, 6):
                v = _undo_tree(v, tree, bases, lo, bits)
            elif xform == 2:
                g = v[0]
                _need(lo <= g <= hi, "samples outside bits_stored")
                v = [min(max(v[1] + g, lo), hi), g, min(max(v[2] + g, lo), hi)]
            _need(all(lo <= x <= hi for x in v), "samples outside bits_stored")
            consts[(fi, t)] = v
    if len(consts) == len(tiles) and h["flags"] & 1:
        crc = 0
        for fi in range(f):
            for ty in range(ny):
                row = b"".join(np.array(consts[(fi, ty * nx + tx)], dtype).tobytes()
                               * (min(tw, c - tx * tw)) for tx in range(nx))
                crc = _crc_repeat(crc, zlib.crc32(row), len(row), min(th, r - ty * th))
        _need(crc == h["sample_crc32"], "sample CRC-32")
    out = np.zeros((f, r, c, s), np.int64)
    for fi in range(f):
        for ty in range(ny):
            for tx in range(nx):
                r0, c0 = ty * th, tx * tw
                r1, c1 = min(r0 + th, r), min(c0 + tw, c)
                ref = out[fi - 1, r0:r1, c0:c1] if group and fi % group else None
                out[fi, r0:r1, c0:c1] = decode_tile(tiles[(fi, ty * nx + tx)], r1 - r0, c1 - c0,
                                                    s, k, lo, hi, group, ref,
                                                    h["model_id"] in (12, 13, 14, 15, 16, 17,
                                                                      18, 19, 20, 21, 22,
                                                                      23, 24, 25),
                                                    h["model_id"])
    _need(lo <= out.min() and out.max() <= hi, "samples outside bits_stored")
    arr = out.astype(dtype)
    if h["flags"] & 1:
        _need(zlib.crc32(arr.tobytes()) == h["sample_crc32"], "sample CRC-32")
    shape = {0: (r, c), 1: (f, r, c), 2: (r, c, s), 3: (f, r, c, s)}[h["layout"]]
    return arr.reshape(shape)


if __name__ == "__main__":
    for path in sys.argv[1:]:
        a = decode(Path(path).read_bytes())
        print(path, a.dtype, a.shape, int(a.min()), int(a.max()))
