"""The lossless predictive coder (model id 1): tiles -> bytes and back.

Per plane of a tile (see SPEC.md section 5):

1. subtract the plane's minimum; if fewer than half of the values in
   ``[min, max]`` occur, code indexes into the sorted set of used values
   instead (sparse histograms are common in CT/MR/NM/PET);
2. :func:`mic.lossless.kernels.code_plane` predicts every pixel from its causal
   neighbours and turns the residual into a token plus raw extra bits;
3. each 16x16 block picks one of the frozen token tables (the one that codes it
   cheapest); the class map is coded as deltas from a causal prediction;
4. one constriction range coder carries the class map, then the tokens of each
   class in turn (one vectorised call per table, never one per pixel).

RGB tiles go through the reversible colour transform of JPEG 2000 first.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ..bitstream import CODER_RANGE32, Header
from ..bitstream.samples import sample_range
from ..bitstream.varint import pack_uvarint, pack_uvarints, read_uvarint, unzigzag, zigzag
from ..entropy.bounds import MeteredDecoder, categorical_costs, check_words
from ..errors import MicFormatError, MicInputError, MicUnsupportedError
from . import kernels as K

MODEL_ID = 1  # permanent: "mic lossless v1" (predictor, token scheme, tables of _tables_v1)
BLOCK_LOG2 = 3  # 8x8 blocks choose the token table
LARGE_PLANE = 1 << 20  # planes above this many pixels also try 16x16 blocks (cheaper class map)
MAX_VALUE = (1 << 17) - 2  # largest plane span (RCT chroma of 16-bit data)
CHUNK = 1 << 20  # the decoder decodes (and meters, SPEC 4.1) at most this many tokens a call

PLANE_CONST = 0
PLANE_CODED = 1
PLANE_PALETTE = 2

XFORM_NONE = 0
XFORM_RCT = 1


def _read_uv(buf: memoryview, pos: int) -> tuple[int, int]:
    """A plane field's varint (SPEC 5.2: at most 5 bytes, any form) and the position after it."""
    return read_uvarint(buf, pos, "lossless plane", (1 << 35) - 1, max_bytes=5, shortest=False)


def _plane_head(kind: int, lo: int, maxval: int | None = None) -> bytes:
    tail = b"" if maxval is None else pack_uvarint(maxval)
    return bytes((kind,)) + pack_uvarint(zigzag(lo)) + tail


@lru_cache(maxsize=1)
def _tables() -> tuple[list[Any], Any, np.ndarray]:
    import constriction

    from . import _tables_v1 as T

    freqs = np.asarray(T.TOKEN_FREQS, dtype=np.float64)
    if freqs.shape[1] != K.N_TOKENS:
        raise MicUnsupportedError("lossless tables do not match the token alphabet")
    models = [constriction.stream.model.Categorical(f / T.TOTAL, perfect=False) for f in freqs]
    delta = np.asarray(T.CLASS_DELTA_FREQS, dtype=np.float64)
    delta_model = constriction.stream.model.Categorical(delta / delta.sum(), perfect=False)
    cost = -np.log2(freqs / freqs.sum(1, keepdims=True))
    return models, delta_model, cost


def _n_tables() -> int:
    return len(_tables()[0])


def _guard(fn, *args):
    """Run a constriction call; turn any failure (panics included) into MicFormatError."""
    try:
        return fn(*args)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # pyo3 panics derive from BaseException
        raise MicFormatError(f"entropy decoder failed on corrupt data: {exc}") from None


# ----------------------------------------------------------------------------- planes
def plane_tokens(plane: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Tokens of one (h, w) plane after the offset/palette step (used to fit tables)."""
    x, maxval, _ = _prepare(plane.astype(np.int32))
    h, w = x.shape
    tokens = np.empty(h * w, np.int32)
    bits = np.empty(2 * h * w + 16, np.uint8)
    K.code_plane(x, maxval, False, tokens, bits)
    return tokens, h, w


def _prepare(plane: np.ndarray) -> tuple[np.ndarray, int, bytes | None]:
    """Offset the plane to start at 0; offer a palette when under half the values occur."""
    lo = int(plane.min())
    span = int(plane.max()) - lo
    x = (plane - lo).astype(np.int32)
    if span < 3:
        return x, span, None
    used = np.bincount(x.ravel(), minlength=span + 1) > 0
    n_used = int(used.sum())
    if 2 * n_used <= span + 1:
        lut = np.cumsum(used, dtype=np.int32) - 1
        return lut[x], n_used - 1, np.packbits(used).tobytes()
    return x, span, None


def encode_plane(plane: np.ndarray) -> bytes:
    """One (h, w) int32 plane -> its payload (SPEC.md 5.2)."""
    lo = int(plane.min())
    hi = int(plane.max())
    if lo == hi:
        return _plane_head(PLANE_CONST, lo)
    x, maxval, bitmap = _prepare(plane)
    if bitmap is None:
        return _plane_head(PLANE_CODED, lo, maxval) + _encode_coded(x, maxval)
    # A sparse histogram: the palette pays only if the index image codes smaller by
    # more than the palette costs, so try both and keep the smaller.
    import zstandard

    zb = zstandard.ZstdCompressor(level=19).compress(bitmap)
    with_palette = b"".join((
        _plane_head(PLANE_PALETTE, lo, maxval), pack_uvarints(hi - lo, len(zb)), zb,
        _encode_coded(x, maxval),
    ))
    plain = (plane - lo).astype(np.int32)
    without = _plane_head(PLANE_CODED, lo, hi - lo) + _encode_coded(plain, hi - lo)
    return with_palette if len(with_palette) < len(without) else without


def _encode_coded(x: np.ndarray, maxval: int) -> bytes:
    h, w = x.shape
    tokens = np.empty(h * w, np.int32)
    bits = np.empty(2 * h * w + 16, np.uint8)
    status, nbits = K.code_plane(x, maxval, False, tokens, bits)
    if status != K.OK:  # pragma: no cover - the encoder cannot fail on valid input
        raise MicFormatError(f"internal: lossless kernel status {status}")
    # Large planes: 16x16 blocks may win (the class map costs less); keep the smaller stream.
    sizes = (BLOCK_LOG2, BLOCK_LOG2 + 1) if h * w > LARGE_PLANE else (BLOCK_LOG2,)
    words = min((_range_code(tokens, h, w, blog) for blog in sizes), key=lambda t: len(t[1]))
    return b"".join((bytes((words[0],)), pack_uvarints(len(words[1]), nbits), words[1].tobytes(),
                     bits[:nbits].tobytes()))


def _range_code(tokens: np.ndarray, h: int, w: int, blog: int) -> tuple[int, np.ndarray]:
    """Class map + tokens of one plane through one range coder, with 2**blog blocks."""
    import constriction

    models, delta_model, cost = _tables()
    bs = 1 << blog
    classes = K.block_costs_classes(tokens, h, w, bs, cost)
    enc = constriction.stream.queue.RangeEncoder()
    enc.encode(K.class_map_symbols(classes, -(-w // bs), len(models)), delta_model)
    grouped, counts = K.group_by_class(tokens, classes, h, w, bs, len(models))
    off = 0
    for k, n in enumerate(counts):
        if n:
            enc.encode(grouped[off:off + n], models[k])
            off += n
    return blog, enc.get_compressed().astype("<u4")


@lru_cache(maxsize=1)
def _costs() -> tuple[np.ndarray, np.ndarray, float, float]:
    """Exact costs in bits of every token under each of the 24 token tables (24, 68) and of
    every class-map symbol, under the constriction models :func:`_tables` builds, and the
    cheapest of each (SPEC 4.1): a coded plane of ``h x w`` pixels in ``n_b`` blocks holds
    symbols of at least ``h*w*min_token + n_b*min_class`` bits of information."""
    from . import _tables_v1 as T

    freqs = np.asarray(T.TOKEN_FREQS, dtype=np.float64)
    tok = np.stack([categorical_costs(f / T.TOTAL) for f in freqs])
    delta = np.asarray(T.CLASS_DELTA_FREQS, dtype=np.float64)
    cls = categorical_costs(delta / delta.sum())
    return tok, cls, float(tok.min()), float(cls.min())


@dataclass
class PlaneHead:
    """The fields of one plane (SPEC 5.2) read without decoding it: ``kind``, ``lo`` (the
    offset), and for coded planes ``maxval``, the palette frame (``span``, bytes
    ``zstart:zend``), ``blog``, ``nwords`` words at ``words_at``, ``nbits`` extra bytes;
    ``end`` is where the next plane starts."""

    kind: int
    lo: int
    end: int
    maxval: int = 0
    span: int = 0
    zstart: int = 0
    zend: int = 0
    blog: int = 0
    nwords: int = 0
    nbits: int = 0
    words_at: int = 0


def parse_plane(buf: memoryview, pos: int, h: int, w: int) -> PlaneHead:
    """Read and check one plane's fields at ``buf[pos:]`` for an ``h x w`` tile: the
    structure (SPEC 5.2) and, for a coded plane, that its words can hold the symbols an
    ``h x w`` plane needs (SPEC 4.1); nothing is decoded or allocated."""
    end = len(buf)

    def need(n: int, what: str) -> None:
        if pos + n > end:
            raise MicFormatError(f"lossless plane truncated in {what}")

    need(1, "plane header")
    kind = buf[pos]
    zlo, pos = _read_uv(buf, pos + 1)
    lo = unzigzag(zlo)
    if not -(1 << 17) <= lo < (1 << 17):
        raise MicFormatError(f"lossless plane: offset {lo} out of range")
    if kind == PLANE_CONST:
        return PlaneHead(kind, lo, pos)
    maxval, pos = _read_uv(buf, pos)
    if kind not in (PLANE_CODED, PLANE_PALETTE) or not 1 <= maxval <= MAX_VALUE:
        raise MicFormatError(f"lossless plane: bad kind {kind} or span {maxval}")
    ph = PlaneHead(kind, lo, 0, maxval)
    if kind == PLANE_PALETTE:
        span, pos = _read_uv(buf, pos)
        zlen, pos = _read_uv(buf, pos)
        need(zlen, "palette")
        if span > MAX_VALUE or maxval > span:
            raise MicFormatError("lossless plane: bad palette span")
        ph.span, ph.zstart, ph.zend = span, pos, pos + zlen
        pos += zlen
    need(1, "coded header")
    ph.blog = blog = buf[pos]
    ph.nwords, pos = _read_uv(buf, pos + 1)
    ph.nbits, pos = _read_uv(buf, pos)
    if not 2 <= blog <= 10:
        raise MicFormatError(f"lossless plane: bad block size 2**{blog}")
    need(4 * ph.nwords + ph.nbits, "entropy-coded data")
    ph.words_at = pos
    ph.end = pos + 4 * ph.nwords + ph.nbits
    # SPEC 4.1: h*w tokens and one class symbol per block, each at least its table's
    # cheapest symbol, must fit in 32 * nwords bits (the extra bits may be none)
    _, _, min_tok, min_cls = _costs()
    bs = 1 << blog
    nblocks = -(-w // bs) * -(-h // bs)
    check_words(ph.nwords, h * w * min_tok + nblocks * min_cls, "lossless plane")
    return ph


def decode_coded(buf: memoryview, ph: PlaneHead, h: int, w: int) -> np.ndarray:
    """The (h, w) int32 samples of the coded or palette plane ``ph`` (offset added).  Its
    working set is two int32 planes (tokens, samples) and its words; the range decoder is
    metered (SPEC 4.1), so words that run out or are garbage fail within the first class
    of tokens that exceeds them."""
    lut = None
    if ph.kind == PLANE_PALETTE:
        import zstandard

        frame = bytes(buf[ph.zstart:ph.zend])
        limit = (ph.span + 8) // 8
        try:
            declared = zstandard.frame_content_size(frame)
            if declared > limit:  # -1 = not declared; never trust a larger claim
                raise MicFormatError(f"lossless plane: palette claims {declared} bytes > {limit}")
            bitmap = zstandard.ZstdDecompressor().decompress(frame, max_output_size=limit)
        except zstandard.ZstdError as exc:
            raise MicFormatError(f"lossless plane: corrupt palette ({exc})") from None
        used = np.unpackbits(np.frombuffer(bitmap, np.uint8))[: ph.span + 1].astype(bool)
        if len(used) != ph.span + 1 or int(used.sum()) != ph.maxval + 1:
            raise MicFormatError("lossless plane: palette does not match its size")
        lut = np.flatnonzero(used).astype(np.int32)
    pos = ph.words_at
    words = np.frombuffer(buf, dtype="<u4", count=ph.nwords, offset=pos).astype(np.uint32)
    pos += 4 * ph.nwords
    bits = np.frombuffer(buf, dtype=np.uint8, count=ph.nbits, offset=pos).copy()
    models, delta_model, _ = _tables()
    tok_cost, cls_cost, _, _ = _costs()
    nk = len(models)
    bs = 1 << ph.blog
    bx = -(-w // bs)
    nblocks = bx * -(-h // bs)
    dec = _guard(MeteredDecoder, words, "lossless plane")
    sym = np.empty(nblocks, np.int32)
    for a in range(0, nblocks, CHUNK):  # metered a chunk at a time
        part = sym[a:a + CHUNK]
        part[:] = _guard(dec.dec.decode, delta_model, part.size)
        dec.charge(float(cls_cost[part].sum()))
    status, classes = K.class_map_from_symbols(sym, bx, nk)
    if status != K.OK:
        raise MicFormatError("lossless plane: corrupt class map")
    del sym
    counts = K.class_counts(classes, h, w, bs, nk)
    grouped = np.empty(h * w, np.int32)
    off = 0
    for k, n in enumerate(counts):
        for a in range(off, off + int(n), CHUNK):  # metered a chunk at a time
            part = grouped[a:min(a + CHUNK, off + int(n))]
            part[:] = _guard(dec.dec.decode, models[k], part.size)
            dec.charge(float(tok_cost[k][part].sum()))
        off += int(n)
    tokens = K.scatter_by_class(grouped, counts, classes, h, w, bs)
    x = grouped.reshape(h, w)  # the grouped tokens are spent: their buffer takes the samples
    del grouped
    status, used_bits = K.code_plane(x, ph.maxval, True, tokens, bits)
    if status != K.OK:
        raise MicFormatError(f"lossless plane: corrupt coded data (status {status})")
    del tokens
    if lut is not None:
        step = max(1, (1 << 20) // max(w, 1))  # in place, a band of rows at a time
        for r in range(0, h, step):
            x[r:r + step] = lut[x[r:r + step]]
    x += ph.lo
    return x


def decode_plane(buf: memoryview, pos: int, h: int, w: int) -> tuple[np.ndarray, int]:
    """One (h, w) int32 plane at ``buf[pos:]`` and the position after it."""
    ph = parse_plane(buf, pos, h, w)
    if ph.kind == PLANE_CONST:
        return np.full((h, w), ph.lo, np.int32), ph.end
    return decode_coded(buf, ph, h, w), ph.end


# ----------------------------------------------------------------------------- tiles
def _rct_forward(t: np.ndarray) -> list[np.ndarray]:
    r, g, b = (t[..., i].astype(np.int32) for i in range(3))
    y = (r + 2 * g + b) >> 2
    return [y, r - g, b - g]


class LosslessTileEncoder:
    """Codes (rows, cols, samples) int32 tiles losslessly; used by :func:`mic.encode`."""

    def __init__(self, header: Header, **options: Any) -> None:
        if options:
            raise MicInputError(f"unknown lossless option(s): {', '.join(sorted(options))}")
        header.model_id = MODEL_ID
        header.coder_id = CODER_RANGE32
        header.quality = 0
        self.header = header

    def extra_segments(self) -> list[tuple[bytes, bytes]]:
        return []

    def encode_tile(self, tile: np.ndarray) -> bytes:
        if tile.shape[2] == 1:
            return bytes((XFORM_NONE,)) + encode_plane(np.ascontiguousarray(tile[..., 0]))
        # RGB: the colour transform usually wins; keep whichever is smaller.
        rct = bytes((XFORM_RCT,)) + b"".join(encode_plane(p) for p in _rct_forward(tile))
        plain = bytes((XFORM_NONE,)) + b"".join(
            encode_plane(np.ascontiguousarray(tile[..., i])) for i in range(3))
        return rct if len(rct) <= len(plain) else plain


class LosslessTileDecoder:
    """Decodes tiles written by :class:`LosslessTileEncoder`."""

    def __init__(self, header: Header, stream: Any) -> None:
        if header.model_id != MODEL_ID:
            raise MicUnsupportedError(
                f"unknown lossless model id {header.model_id} (this build knows {MODEL_ID})"
            )
        self.header = header
        self.sample_range = sample_range(header.bits_stored, bool(header.signed))

    def _parse(self, payload: memoryview, rows: int, cols: int) -> tuple[int, list[PlaneHead]]:
        buf = memoryview(payload)
        if len(buf) < 1:
            raise MicFormatError("empty lossless tile")
        xform = buf[0]
        pos = 1
        s = self.header.samples
        if xform not in (XFORM_NONE, XFORM_RCT) or (xform == XFORM_RCT and s != 3):
            raise MicFormatError(f"lossless tile: colour transform {xform} invalid here")
        heads = []
        for _ in range(s):
            ph = parse_plane(buf, pos, rows, cols)
            heads.append(ph)
            pos = ph.end
        if pos != len(buf):
            raise MicFormatError(f"lossless tile: {len(buf) - pos} unexpected trailing bytes")
        return xform, heads

    def _check_range(self, x: Any) -> None:
        lo, hi = self.sample_range
        if np.size(x) and (int(np.min(x)) < lo or int(np.max(x)) > hi):
            raise MicFormatError(
                f"lossless tile decodes outside the {self.header.bits_stored}-bit sample range: "
                "corrupt stream")

    def check_tile(self, payload: memoryview, rows: int, cols: int) -> tuple[int, ...] | None:
        """Check a tile without decoding it (SPEC 4.1): its planes' fields, that each coded
        plane's words can hold its symbols, no trailing bytes.  Returns the samples of a
        tile whose planes are all constant (then it is that value everywhere), else None."""
        xform, heads = self._parse(payload, rows, cols)
        if any(ph.kind != PLANE_CONST for ph in heads):
            return None
        v = [ph.lo for ph in heads]
        if xform == XFORM_RCT:
            g = v[0] - ((v[1] + v[2]) >> 2)
            v = [v[1] + g, g, v[2] + g]
        self._check_range(np.array(v))
        return tuple(v)

    def decode_into(self, payload: memoryview, rows: int, cols: int, out: np.ndarray) -> None:
        """Decode a tile into ``out`` ((rows, cols, samples) of the stream's dtype, e.g. a
        view of the output): constant planes are written straight into it, each coded plane
        goes through one int32 plane (three for the colour transform), no stacked copy."""
        buf = memoryview(payload)
        xform, heads = self._parse(buf, rows, cols)
        if xform == XFORM_NONE:
            for c, ph in enumerate(heads):
                if ph.kind == PLANE_CONST:
                    self._check_range(np.array([ph.lo]))
                    out[:, :, c] = ph.lo
                else:
                    x = decode_coded(buf, ph, rows, cols)
                    self._check_range(x)
                    out[:, :, c] = x
                    del x
            return
        # xform 1 (SPEC 5.1): Y, U, V (arrays, or plain ints for constant planes) -> R, G, B
        y, u, v = (ph.lo if ph.kind == PLANE_CONST else decode_coded(buf, ph, rows, cols)
                   for ph in heads)
        t = u + v
        t >>= 2
        if isinstance(y, np.ndarray):
            y -= t  # G, in Y's buffer
            g = y
        else:
            g = y - t
        del t
        for c, a in ((1, g), (0, u), (2, v)):
            if c != 1:
                if isinstance(a, np.ndarray):
                    a += g  # R = U + G, B = V + G, in U's and V's buffers
                else:
                    a = a + g
            self._check_range(a)
            out[:, :, c] = a

    def work_samples(self, rows: int, cols: int) -> int:
        """Samples of the int32 planes a rows x cols tile is decoded through."""
        return rows * cols * self.header.samples

    def decode_tile(self, payload: memoryview, rows: int, cols: int) -> np.ndarray:
        """The tile as a (rows, cols, samples) int32 array."""
        out = np.empty((rows, cols, self.header.samples), np.int32)
        self.decode_into(payload, rows, cols, out)
        return out
