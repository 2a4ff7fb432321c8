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

from functools import lru_cache
from typing import Any

import numpy as np

from ..bitstream import CODER_RANGE32, Header
from ..bitstream.varint import pack_uvarint, pack_uvarints, read_uvarint, unzigzag, zigzag
from ..errors import MicFormatError, MicInputError, MicUnsupportedError
from . import kernels as K

MODEL_ID = 1  # permanent: "mic lossless v1" (predictor, token scheme, tables of _tables_v1)
BLOCK_LOG2 = 3  # 8x8 blocks choose the token table
LARGE_PLANE = 1 << 20  # planes above this many pixels also try 16x16 blocks (cheaper class map)
MAX_VALUE = (1 << 17) - 2  # largest plane span (RCT chroma of 16-bit data)

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


def decode_plane(buf: memoryview, pos: int, h: int, w: int) -> tuple[np.ndarray, int]:
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
        return np.full((h, w), lo, np.int32), pos
    maxval, pos = _read_uv(buf, pos)
    if kind not in (PLANE_CODED, PLANE_PALETTE) or not 1 <= maxval <= MAX_VALUE:
        raise MicFormatError(f"lossless plane: bad kind {kind} or span {maxval}")
    lut = None
    if kind == PLANE_PALETTE:
        span, pos = _read_uv(buf, pos)
        zlen, pos = _read_uv(buf, pos)
        need(zlen, "palette")
        if span > MAX_VALUE or maxval > span:
            raise MicFormatError("lossless plane: bad palette span")
        import zstandard

        frame = bytes(buf[pos:pos + zlen])
        limit = (span + 8) // 8
        try:
            declared = zstandard.frame_content_size(frame)
            if declared > limit:  # -1 = not declared; never trust a larger claim
                raise MicFormatError(f"lossless plane: palette claims {declared} bytes > {limit}")
            bitmap = zstandard.ZstdDecompressor().decompress(frame, max_output_size=limit)
        except zstandard.ZstdError as exc:
            raise MicFormatError(f"lossless plane: corrupt palette ({exc})") from None
        pos += zlen
        used = np.unpackbits(np.frombuffer(bitmap, np.uint8))[: span + 1].astype(bool)
        if len(used) != span + 1 or int(used.sum()) != maxval + 1:
            raise MicFormatError("lossless plane: palette does not match its size")
        lut = np.flatnonzero(used).astype(np.int32)
    need(1, "coded header")
    blog = buf[pos]
    nwords, pos = _read_uv(buf, pos + 1)
    nbits, pos = _read_uv(buf, pos)
    if not 2 <= blog <= 10:
        raise MicFormatError(f"lossless plane: bad block size 2**{blog}")
    need(4 * nwords + nbits, "entropy-coded data")
    words = np.frombuffer(buf, dtype="<u4", count=nwords, offset=pos).astype(np.uint32)
    pos += 4 * nwords
    bits = np.frombuffer(buf, dtype=np.uint8, count=nbits, offset=pos).copy()
    pos += nbits
    models, delta_model, _ = _tables()
    nk = len(models)
    bs = 1 << blog
    bx = -(-w // bs)
    nblocks = bx * -(-h // bs)
    import constriction

    dec = _guard(constriction.stream.queue.RangeDecoder, words)
    sym = _guard(dec.decode, delta_model, nblocks).astype(np.int32)
    status, classes = K.class_map_from_symbols(sym, bx, nk)
    if status != K.OK:
        raise MicFormatError("lossless plane: corrupt class map")
    counts = K.class_counts(classes, h, w, bs, nk)
    grouped = np.empty(h * w, np.int32)
    off = 0
    for k, n in enumerate(counts):
        if n:
            grouped[off:off + n] = _guard(dec.decode, models[k], int(n))
            off += n
    tokens = K.scatter_by_class(grouped, counts, classes, h, w, bs)
    x = np.empty((h, w), np.int32)
    status, used_bits = K.code_plane(x, maxval, True, tokens, bits)
    if status != K.OK:
        raise MicFormatError(f"lossless plane: corrupt coded data (status {status})")
    if lut is not None:
        x = lut[x]
    x += lo
    return x, pos


# ----------------------------------------------------------------------------- tiles
def _rct_forward(t: np.ndarray) -> list[np.ndarray]:
    r, g, b = (t[..., i].astype(np.int32) for i in range(3))
    y = (r + 2 * g + b) >> 2
    return [y, r - g, b - g]


def _rct_inverse(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    g = y - ((u + v) >> 2)
    return np.stack([u + g, g, v + g], axis=-1)


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

    def decode_tile(self, payload: memoryview, rows: int, cols: int) -> np.ndarray:
        buf = memoryview(payload)
        if len(buf) < 1:
            raise MicFormatError("empty lossless tile")
        xform = buf[0]
        pos = 1
        s = self.header.samples
        if xform not in (XFORM_NONE, XFORM_RCT) or (xform == XFORM_RCT and s != 3):
            raise MicFormatError(f"lossless tile: colour transform {xform} invalid here")
        planes = []
        for _ in range(s):
            p, pos = decode_plane(buf, pos, rows, cols)
            planes.append(p)
        if pos != len(buf):
            raise MicFormatError(f"lossless tile: {len(buf) - pos} unexpected trailing bytes")
        if xform == XFORM_RCT:
            return _rct_inverse(*planes)
        return np.stack(planes, axis=-1)
