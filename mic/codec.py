"""The public codec functions: :func:`encode`, :func:`decode`, :func:`info`, :func:`check`.

The functions take and return plain numpy arrays (imagecodecs style).  The
stream says which mode, model and entropy coder made it; the decoder picks the
matching implementation from the header, never from global state.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .bitstream import (
    CODER_NAMES, LAYOUT_FRC, LAYOUT_FRCS, LAYOUT_NAMES, LAYOUT_RC, LAYOUT_RCS, MAGIC,
    MODE_LOSSLESS, MODE_LOSSY, MODE_NAMES, PHOTOMETRIC_MONOCHROME1, PHOTOMETRIC_MONOCHROME2,
    PHOTOMETRIC_NAMES, PHOTOMETRIC_RGB, Header, iter_tiles, read_stream, unpack_header,
)
from .bitstream.container import TAG_TILE, tile_prefix, write_stream
from .bitstream.samples import (
    bits_used, crc32_combine, crc32_power, crc32_repeat, sample_range, samples_crc32,
)
from .bitstream.schema import MAJORS, VERSION_MAJOR
from .errors import (
    MicChecksumError, MicInputError, MicLimitError, MicUnsupportedError,
)
from .models.registry import LOSSLESS_DESCRIPTION, LOSSLESS_NAME, describe

#: Default ceiling on decoded samples (frames x rows x cols x samples): 2**30 (2 GiB at 16 bit).
DEFAULT_MAX_PIXELS = 1 << 30
#: Largest rows or cols value accepted (the header allows 2**32-1; no modality needs more).
MAX_DIMENSION = 1 << 20

FLAG_SAMPLE_CRC = 1  # header.flags bit 0: sample_crc32 is meaningful and checked

_PHOTOMETRIC_BY_NAME = {v: k for k, v in PHOTOMETRIC_NAMES.items()}

if TYPE_CHECKING:  # (imported when used: decoding never imports the lossy encoder)
    from .lossy.enc_options import EncoderOptions


class TileEncoder(Protocol):
    def extra_segments(self) -> list[tuple[bytes, bytes]]: ...
    def encode_tile(self, tile: np.ndarray) -> bytes: ...


class TileDecoder(Protocol):
    def check_tile(self, payload: memoryview, rows: int, cols: int) -> tuple[int, ...] | None:
        """Check a tile without decoding it (SPEC 4.1); its samples if it is constant."""
    def decode_into(self, payload: memoryview, rows: int, cols: int, out: np.ndarray) -> None:
        """Decode a tile into ``out`` ((rows, cols, samples) of the output's dtype)."""
    def work_samples(self, rows: int, cols: int) -> int:
        """Samples of the planes a rows x cols tile is decoded through."""


@dataclass(frozen=True)
class MicInfo:
    """What a .mic header says, in plain words (returned by :func:`info`)."""

    version: str
    mode: str
    model_id: int
    #: the model's name (``wavelet-context``, ..., ``lossless-predictive``) and what it is
    model: str
    model_description: str
    coder: str
    dtype: str
    bits_stored: int
    signed: bool
    photometric: str
    shape: tuple[int, ...]
    frames: int
    rows: int
    cols: int
    samples_per_pixel: int
    tile_shape: tuple[int, int]
    tiles: int
    quality: int | None
    compressed_size: int
    sample_crc32: int | None

    @property
    def raw_size(self) -> int:
        """Bytes of the decoded array."""
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize

    @property
    def ratio(self) -> float:
        """Compression ratio against the decoded array's bytes."""
        return self.raw_size / max(1, self.compressed_size)

    @property
    def bits_per_pixel(self) -> float:
        """Compressed bits per pixel (a pixel counts all its samples)."""
        return 8.0 * self.compressed_size / (self.frames * self.rows * self.cols)


# ----------------------------------------------------------------------------- helpers
def _as_frcs(arr: np.ndarray, photometric: str | None) -> tuple[np.ndarray, int, int]:
    """View ``arr`` as (frames, rows, cols, samples); return it, the layout and photometric."""
    pm = None
    if photometric is not None:
        pm = _PHOTOMETRIC_BY_NAME.get(str(photometric).upper())
        if pm is None:
            raise MicInputError(
                f"photometric must be one of {sorted(_PHOTOMETRIC_BY_NAME)}, got {photometric!r}"
            )
    nd = arr.ndim
    if nd == 2:
        layout = LAYOUT_RC
    elif nd == 3:
        rgb_like = arr.shape[-1] == 3
        layout = LAYOUT_RCS if (pm == PHOTOMETRIC_RGB or (pm is None and rgb_like)) else LAYOUT_FRC
    elif nd == 4:
        layout = LAYOUT_FRCS
    else:
        raise MicInputError(
            f"expected a 2-D (rows, cols), 3-D (frames, rows, cols) or (rows, cols, 3), "
            f"or 4-D (frames, rows, cols, 3) array, got {nd}-D shape {arr.shape}"
        )
    if layout == LAYOUT_RC:
        v = arr[None, :, :, None]
    elif layout == LAYOUT_FRC:
        v = arr[:, :, :, None]
    elif layout == LAYOUT_RCS:
        v = arr[None]
    else:
        v = arr
    s = v.shape[3]
    if s not in (1, 3):
        raise MicInputError(f"samples per pixel must be 1 or 3, got {s} (shape {arr.shape})")
    if pm is None:
        pm = PHOTOMETRIC_RGB if s == 3 else PHOTOMETRIC_MONOCHROME2
    if (pm == PHOTOMETRIC_RGB) != (s == 3):
        raise MicInputError(
            f"photometric {PHOTOMETRIC_NAMES[pm]} does not fit {s} sample(s) per pixel"
        )
    if min(v.shape[:3]) < 1:
        raise MicInputError(f"array has an empty axis: shape {arr.shape}")
    if max(v.shape[1:3]) > MAX_DIMENSION:
        raise MicInputError(f"rows/cols above {MAX_DIMENSION} are not supported: {arr.shape}")
    return v, layout, pm


def _tile_arg(tile: Any) -> tuple[int, int]:
    if tile is None:
        return 0, 0
    if isinstance(tile, (int, np.integer)):
        tile = (int(tile), int(tile))
    try:
        th, tw = (int(t) for t in tile)
    except (TypeError, ValueError):
        raise MicInputError(f"tile must be an int or a (rows, cols) pair, got {tile!r}") from None
    if th < 1 or tw < 1 or th > MAX_DIMENSION or tw > MAX_DIMENSION:
        raise MicInputError(f"tile sides must be in 1..{MAX_DIMENSION}, got {tile!r}")
    return th, tw


# ----------------------------------------------------------------------------- API
def encode(
    array: np.ndarray,
    *,
    quality: int | None = None,
    bits_stored: int | None = None,
    photometric: str | None = None,
    tile: int | tuple[int, int] | None = None,
    stream_version: int = VERSION_MAJOR,
    options: EncoderOptions | None = None,
    **choices: Any,
) -> bytes:
    """Encode an image, a stack of frames or an RGB image to a .mic stream.

    Parameters
    ----------
    array:
        ``uint8``, ``uint16``, ``int8`` or ``int16`` samples shaped (rows, cols),
        (frames, rows, cols), (rows, cols, 3) or (frames, rows, cols, 3).  A 3-D
        array whose last axis is 3 is taken as RGB unless ``photometric`` says
        ``MONOCHROME1``/``MONOCHROME2``.
    quality:
        ``None`` (default) codes losslessly.  An integer selects the learned
        lossy mode at that quality (see ``mic.lossy``).
    bits_stored:
        Significant bits per sample (sign bit included for signed data).  The
        default is the fewest bits the data use.  Values outside the range are
        refused with :class:`MicInputError`.
    photometric:
        ``"MONOCHROME2"`` (default for 1 sample), ``"MONOCHROME1"`` or ``"RGB"``;
        recorded in the stream and returned by :func:`info`.
    tile:
        Code each frame as independent tiles of this size (int or (rows, cols)).
        ``None`` (unless ``options`` name a tile) codes each frame whole (lossless) or,
        lossy, codes a frame larger than 512 both in 512 x 512 tiles and in the fewest
        even tiles of at most 2048 a side and keeps the stream of lower rate + lambda *
        distortion (:func:`mic.lossy.tilings`; about twice the encode time of a fixed
        ``tile``).
    stream_version:
        The stream's major version: 2 (default), the compact layout (header fields,
        segment lengths, tile numbers and a lossy tile's fields as varints: about 30
        bytes less a lossless stream, 45 less a lossy one), or 1, the fixed-width
        layout, for decoders older than version 2 (SPEC.md section 1).  Lossless
        samples are the same in both; lossy v2 tiles may also carry tools v1 cannot
        (restoration classes split by direction, SPEC 6.7).
    options:
        A :class:`mic.EncoderOptions`: every choice of the lossy encoder (model, tools,
        tuned settings) and the tile size, as one value; ``None``: the defaults.  For
        lossless coding (``quality=None``) it may choose only the tile.
    choices:
        The lossy encoder's choices as keywords, e.g. ``model="wavelet-hyperprior"``, ``dq=False``,
        ``regions=False`` (the fields of :class:`mic.EncoderOptions`).  They fill in the
        fields ``options`` leave at their defaults; one that contradicts a value
        ``options`` set, or an unknown name, is a :class:`MicInputError`.

    Returns
    -------
    bytes
        The .mic stream.

    Example
    -------
    >>> import numpy as np, mic
    >>> ct = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 7) % 4096
    >>> blob = mic.encode(ct)
    >>> bool((mic.decode(blob) == ct).all()), mic.info(blob).bits_stored
    (True, 12)
    """
    if not isinstance(array, np.ndarray):
        try:
            array = np.asarray(array)
        except Exception as exc:  # noqa: BLE001 - anything not array-like
            raise MicInputError(f"cannot interpret input as an array: {exc}") from None
    dt = array.dtype
    if dt.kind not in "ui" or dt.itemsize not in (1, 2):
        raise MicInputError(
            f"unsupported dtype {dt}: mic codes uint8, uint16, int8 and int16 samples "
            "(cast wider integer data after checking its range)"
        )
    if isinstance(stream_version, bool) or not isinstance(stream_version, (int, np.integer)) \
            or stream_version not in MAJORS:
        raise MicInputError(f"stream_version must be one of {MAJORS}, got {stream_version!r}")
    v, layout, pm = _as_frcs(array, photometric)
    signed = dt.kind == "i"
    bits_alloc = 8 * dt.itemsize
    lo = int(v.min())
    hi = int(v.max())
    used = bits_used(lo, hi, signed)
    if bits_stored is None:
        bits_stored = used
    else:
        bits_stored = int(bits_stored)
        if not (2 if signed else 1) <= bits_stored <= bits_alloc:
            raise MicInputError(
                f"bits_stored={bits_stored} must be in {2 if signed else 1}..{bits_alloc} "
                f"for {dt}"
            )
        if used > bits_stored:
            raise MicInputError(
                f"values span [{lo}, {hi}], which needs {used} bits, more than "
                f"bits_stored={bits_stored}"
            )
    if options is not None:
        from .lossy.enc_options import EncoderOptions

        if not isinstance(options, EncoderOptions):
            raise MicInputError(f"options must be a mic.EncoderOptions, got {options!r}")
        if tile is not None:
            options = options.with_choices(tile=tile)
        tile = options.tile
    th, tw = _tile_arg(tile)
    f, r, c, s = v.shape
    header = Header(
        mode=MODE_LOSSLESS, model_id=0, coder_id=0, bits_allocated=bits_alloc, signed=int(signed),
        bits_stored=bits_stored, photometric=pm, layout=layout, samples=s, frames=f, rows=r,
        cols=c, tile_rows=th, tile_cols=tw, version_major=int(stream_version),
    )
    encoder: TileEncoder
    if quality is None:
        from .lossless import LosslessTileEncoder

        if choices:
            raise MicInputError(f"unknown lossless option(s): {', '.join(sorted(choices))}")
        if options is not None and not options.only_tile():
            raise MicInputError("options choose lossy encoder settings, but quality=None "
                                "codes losslessly (whose only choice is the tile)")
        encoder = LosslessTileEncoder(header)
        header.flags |= FLAG_SAMPLE_CRC
        header.sample_crc32 = samples_crc32(array)
    else:
        if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)):
            raise MicInputError(f"quality must be None (lossless) or an int, got {quality!r}")
        header.mode = MODE_LOSSY
        try:
            from .lossy.enc_options import EncoderOptions
            from .lossy.enc_tile import LossyTileEncoder
        except ImportError as exc:
            raise MicUnsupportedError(
                f"the lossy mode needs safetensors ({exc}); pip install safetensors"
            ) from None
        opts = (options or EncoderOptions()).with_choices(**choices)
        if tile is None:
            return _encode_lossy_best_tiling(v, header, int(quality), opts)
        lossy = LossyTileEncoder(header, int(quality), opts)
        lossy.plan(v)
        encoder = lossy
    return _assemble(v, header, encoder)


def _assemble(v: np.ndarray, header: Header, encoder: TileEncoder) -> bytes:
    """The stream of ``v`` (frames, rows, cols, samples) tiled as ``header`` says.  The
    header is written last: encoders may still set model/coder ids while coding tiles."""
    segments = list(encoder.extra_segments())
    for fi in range(v.shape[0]):
        frame = v[fi]
        for idx, r0, r1, c0, c1 in iter_tiles(header):
            tile_arr = np.ascontiguousarray(frame[r0:r1, c0:c1, :], dtype=np.int32)
            segments.append((TAG_TILE, tile_prefix(fi, idx, header.version_major)
                             + encoder.encode_tile(tile_arr)))
    return write_stream(header, segments)


def _encode_lossy_best_tiling(v: np.ndarray, header: Header, quality: int,
                              options: EncoderOptions) -> bytes:
    """Lossy, no tile size given: code ``v`` with each of :func:`mic.lossy.tilings` and
    keep the stream of lowest rate + lambda * distortion (an encoder choice; the header
    records the tiles).  A frame of at most 512 a side has one candidate."""
    from .lossy.enc_tile import LossyTileEncoder, tilings

    shapes = tilings(header.rows, header.cols)
    best: tuple[float, bytes] | None = None
    for th, tw in shapes:
        h = replace(header, tile_rows=th, tile_cols=tw)
        enc = LossyTileEncoder(h, quality, options)
        enc.plan(v)
        blob = _assemble(v, h, enc)
        if len(shapes) == 1:
            return blob
        err = decode(blob).reshape(v.shape).astype(np.float64) - v
        cost = enc.rd_cost(len(blob), float(np.sum(err * err)))
        if best is None or cost < best[0]:
            best = (cost, blob)
    assert best is not None
    return best[1]


def _lossy_psnr(array: np.ndarray, blob: bytes) -> float:
    """PSNR (dB) of the decoded ``blob`` against ``array``, peak 2**bits_stored - 1."""
    peak = float((1 << info(blob).bits_stored) - 1)
    err = decode(blob).astype(np.float64) - np.asarray(array, np.float64)
    mse = float(np.mean(err * err))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak * peak / mse)


def encode_target(
    array: np.ndarray,
    *,
    psnr: float | None = None,
    bpp: float | None = None,
    model: str | None = None,
    **kwargs: Any,
) -> bytes:
    """Lossy-encode at the quality that meets a target: the lowest quality whose PSNR
    reaches ``psnr`` dB, or the highest quality whose size is within ``bpp`` bits per
    pixel (a pixel counts all its samples).  Give exactly one target.

    PSNR is measured on the decoded result with peak ``2**bits_stored - 1``.  Qualities
    are searched by bisection (about log2(Q) + 1 encodes), assuming rate and PSNR grow
    with quality.  A target no quality can meet raises :class:`MicInputError` naming
    the closest value reached (for PSNR beyond the model, code losslessly).
    Other keyword arguments go to :func:`encode` (``options=`` included; without
    ``model`` the options' model is used).

    Example
    -------
    >>> import numpy as np, mic
    >>> img = (np.add.outer(np.arange(64), np.arange(64)) * 30).astype(np.uint16)
    >>> blob = mic.encode_target(img, bpp=4.0)
    >>> mic.info(blob).bits_per_pixel <= 4.0
    True
    """
    if (psnr is None) == (bpp is None):
        raise MicInputError("give exactly one target: psnr=... (dB) or bpp=... (bits/pixel)")
    target = float(psnr if psnr is not None else bpp)  # type: ignore[arg-type]
    if not np.isfinite(target) or target <= 0:
        raise MicInputError(f"target must be a positive finite number, got {target!r}")
    from .lossy.model import DEFAULT_MODEL, qualities

    name = model or getattr(kwargs.get("options"), "model", DEFAULT_MODEL)
    qs = qualities(name)
    if not qs:
        raise MicUnsupportedError(f"no weights for lossy model {name!r} in this build")
    if "quality" in kwargs:
        raise MicInputError("encode_target chooses the quality itself; do not pass quality")
    arr = np.asarray(array)
    cache: dict[int, tuple[bytes, float]] = {}

    def measure(q: int) -> tuple[bytes, float]:
        if q not in cache:
            blob = encode(arr, quality=q, model=name, **kwargs)
            value = _lossy_psnr(arr, blob) if psnr is not None else info(blob).bits_per_pixel
            cache[q] = (blob, value)
        return cache[q]

    ok = (lambda v: v >= target) if psnr is not None else (lambda v: v <= target)
    if psnr is not None:  # lowest q with PSNR >= target
        lo, hi = 0, len(qs) - 1
        if not ok(measure(hi)[1]):
            raise MicInputError(
                f"model {name} reaches at most {measure(hi)[1]:.2f} dB on this image "
                f"(quality {hi}); target {target} dB needs lossless coding (quality=None)")
        while lo < hi:
            mid = (lo + hi) // 2
            if ok(measure(mid)[1]):
                hi = mid
            else:
                lo = mid + 1
        return measure(lo)[0]
    lo, hi = 0, len(qs) - 1  # highest q with bpp <= target
    if not ok(measure(lo)[1]):
        raise MicInputError(
            f"model {name} needs at least {measure(lo)[1]:.3f} bits/pixel on this image "
            f"(quality 0); target {target} is below that")
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(measure(mid)[1]):
            lo = mid
        else:
            hi = mid - 1
    return measure(lo)[0]


def _region_arg(region: Any, rows: int, cols: int) -> tuple[int, int, int, int]:
    if region is None:
        return 0, rows, 0, cols
    try:
        r0, r1, c0, c1 = (int(x) for x in region)
    except (TypeError, ValueError):
        raise MicInputError(f"region must be (row0, row1, col0, col1), got {region!r}") from None
    if not (0 <= r0 < r1 <= rows and 0 <= c0 < c1 <= cols):
        raise MicInputError(
            f"region {(r0, r1, c0, c1)} is empty or outside the {rows}x{cols} image")
    return r0, r1, c0, c1


def _cut_shape(h: Header, rows: int, cols: int) -> tuple[int, ...]:
    """``h.shape`` with its rows and cols replaced (one schema for every layout)."""
    return replace(h, rows=rows, cols=cols).shape


def _decoder_for(header: Header, stream: Any) -> TileDecoder:
    if header.mode == MODE_LOSSLESS:
        from .lossless import LosslessTileDecoder

        return LosslessTileDecoder(header, stream)
    if header.mode == MODE_LOSSY:
        try:
            from .lossy.dec_tile import LossyTileDecoder
        except ImportError as exc:
            raise MicUnsupportedError(
                f"this stream is lossy (model id {header.model_id}); decoding it needs "
                f"safetensors ({exc})"
            ) from None
        return LossyTileDecoder(header, stream)
    raise MicUnsupportedError(f"{MODE_NAMES.get(header.mode, header.mode)} mode is not implemented")


def decode(
    data: bytes | bytearray | memoryview,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    out: np.ndarray | None = None,
    region: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Decode a .mic stream to a numpy array of the dtype and shape that was encoded.

    ``max_pixels`` bounds the decoded samples (frames x rows x cols x samples):
    a larger stream raises :class:`MicLimitError` before anything is allocated.
    ``region=(row0, row1, col0, col1)`` (half-open) decodes only that window of every
    frame, reading only the tiles it touches (encode with ``tile=`` to make that cheap);
    the result has the stream's layout with rows and cols cut to the window.  The
    whole-image sample CRC-32 of a lossless stream cannot be checked for a window (each
    tile's segment CRC and sample range still are).
    Trailing bytes after the stream's end segment are ignored.  Any corruption
    raises a :class:`MicError` subclass; a lossless stream whose decoded samples
    do not match the stored CRC-32 raises :class:`MicChecksumError`.

    Example
    -------
    >>> import numpy as np, mic
    >>> img = np.array([[0, 1000], [-1000, 5]], dtype=np.int16)
    >>> mic.decode(mic.encode(img)).tolist()
    [[0, 1000], [-1000, 5]]
    """
    stream = read_stream(data)  # every segment's CRC, the tile set (SPEC 1, 4)
    h = stream.header
    rr0, rr1, cc0, cc1 = _region_arg(region, h.rows, h.cols)
    n_out = h.frames * (rr1 - rr0) * (cc1 - cc0) * h.samples
    if n_out > max_pixels:
        raise MicLimitError(
            f"stream holds {h.n_samples} samples ({h.shape}), above max_pixels={max_pixels}"
        )
    if max(h.rows, h.cols) > MAX_DIMENSION:
        raise MicLimitError(f"{h.rows}x{h.cols} exceeds the {MAX_DIMENSION} dimension limit")
    if h.coder_id not in CODER_NAMES:
        raise MicUnsupportedError(f"unknown entropy coder id {h.coder_id}")
    dtype = np.dtype(h.dtype_str)
    want_shape = _cut_shape(h, rr1 - rr0, cc1 - cc0)
    if out is not None and (out.shape != want_shape or out.dtype != dtype):
        raise MicInputError(f"out must be {dtype} {want_shape}, got {out.dtype} {out.shape}")
    decoder = _decoder_for(h, stream)
    th, tw = h.tile_shape
    work = decoder.work_samples(min(th, h.rows), min(tw, h.cols))
    if work > max(max_pixels, DEFAULT_MAX_PIXELS):
        raise MicLimitError(f"a {th}x{tw} tile is decoded through {work} samples of working "
                            f"planes, above max_pixels={max(max_pixels, DEFAULT_MAX_PIXELS)}")
    whole = (rr0, rr1, cc0, cc1) == (0, h.rows, 0, h.cols)
    todo = [(fi, idx, r0, r1, c0, c1) for fi in range(h.frames)
            for idx, r0, r1, c0, c1 in iter_tiles(h)
            if not (r1 <= rr0 or r0 >= rr1 or c1 <= cc0 or c0 >= cc1)]
    # SPEC 4.1: every tile this decode reads is checked before the output is allocated
    # (its fields, and that its words can hold the symbols its size implies)
    consts: dict[tuple[int, int], tuple[int, ...]] = {}
    for fi, idx, r0, r1, c0, c1 in todo:
        value = decoder.check_tile(stream.tiles[(fi, idx)], r1 - r0, c1 - c0)
        if value is not None:
            consts[(fi, idx)] = value
    crc_checked = False
    if whole and h.flags & FLAG_SAMPLE_CRC and len(consts) == len(todo):
        # every tile is one value: the samples' CRC-32 is known without the samples, so a
        # forged header over constant planes fails here, before any allocation
        if _constant_tiles_crc32(h, consts, dtype) != h.sample_crc32:
            raise MicChecksumError(
                "decoded samples do not match the stream's CRC-32: corrupt data or a decoder "
                "mismatch")
        crc_checked = True
    result = out if out is not None else np.empty(want_shape, dtype=dtype)
    v = result.reshape(h.frames, rr1 - rr0, cc1 - cc0, h.samples)
    for fi, idx, r0, r1, c0, c1 in todo:
        a0, a1, b0, b1 = max(r0, rr0), min(r1, rr1), max(c0, cc0), min(c1, cc1)
        dst = v[fi, a0 - rr0:a1 - rr0, b0 - cc0:b1 - cc0, :]
        payload = stream.tiles[(fi, idx)]
        if (a0, a1, b0, b1) == (r0, r1, c0, c1):  # the whole tile: straight into the output
            decoder.decode_into(payload, r1 - r0, c1 - c0, dst)
        else:  # a tile the window cuts: through one tile buffer
            buf = np.empty((r1 - r0, c1 - c0, h.samples), dtype)
            decoder.decode_into(payload, r1 - r0, c1 - c0, buf)
            dst[...] = buf[a0 - r0:a1 - r0, b0 - c0:b1 - c0]
            del buf
    if whole and h.flags & FLAG_SAMPLE_CRC and not crc_checked \
            and samples_crc32(result) != h.sample_crc32:
        raise MicChecksumError(
            "decoded samples do not match the stream's CRC-32: corrupt data or a decoder mismatch"
        )
    return result


def _constant_tiles_crc32(h: Header, consts: dict[tuple[int, int], tuple[int, ...]],
                          dtype: np.dtype) -> int:
    """CRC-32 of the samples (C order, little-endian) of an image whose every tile holds one
    value per sample (``consts[(frame, tile)]``), without building it: each band of tiles is
    ``height`` copies of one row of runs (:func:`crc32_power`), identical bands are computed
    once."""
    le = dtype.newbyteorder("<")
    row_len = h.cols * h.samples * le.itemsize
    pats: dict[tuple[int, ...], bytes] = {}
    memo: dict[tuple, tuple[int, int]] = {}
    crc = 0
    for fi in range(h.frames):
        band: list[tuple[tuple[int, ...], int]] = []
        for idx, r0, r1, c0, c1 in iter_tiles(h):
            band.append((consts[(fi, idx)], c1 - c0))
            if c1 < h.cols:
                continue
            key = (tuple(band), r1 - r0)
            got = memo.get(key)
            if got is None:
                rc = 0
                for vals, width in band:
                    pat = pats.get(vals)
                    if pat is None:
                        pat = pats[vals] = np.array(vals, le).tobytes()
                    rc = zlib.crc32(pat * width, rc) if width * len(pat) <= 1 << 16 else \
                        crc32_repeat(pat, width, rc)
                got = memo[key] = (crc32_power(rc, row_len, r1 - r0), row_len * (r1 - r0))
            crc = crc32_combine(crc, *got)
            band = []
    return crc


def info(data: bytes | bytearray | memoryview) -> MicInfo:
    """Read the header (and walk the segments) of a .mic stream without decoding pixels.

    Example
    -------
    >>> import numpy as np, mic
    >>> i = mic.info(mic.encode(np.zeros((2, 8, 8), np.uint16)))
    >>> i.mode, i.shape, i.dtype
    ('lossless', (2, 8, 8), 'uint16')
    """
    st = read_stream(data)
    h = st.header
    th, tw = h.tiles_per_frame
    if h.mode == MODE_LOSSLESS:
        name, description = LOSSLESS_NAME, LOSSLESS_DESCRIPTION
    else:
        name, description = describe(h.model_id)
    return MicInfo(
        version=f"{h.version_major}.{h.version_minor}",
        mode=MODE_NAMES[h.mode],
        model_id=h.model_id,
        model=name,
        model_description=description,
        coder=CODER_NAMES.get(h.coder_id, f"unknown({h.coder_id})"),
        dtype=str(np.dtype(h.dtype_str)),
        bits_stored=h.bits_stored,
        signed=bool(h.signed),
        photometric=PHOTOMETRIC_NAMES[h.photometric],
        shape=h.shape,
        frames=h.frames,
        rows=h.rows,
        cols=h.cols,
        samples_per_pixel=h.samples,
        tile_shape=h.tile_shape,
        tiles=h.frames * th * tw,
        quality=h.quality if h.mode == MODE_LOSSY else None,
        compressed_size=st.size,
        sample_crc32=h.sample_crc32 if h.flags & FLAG_SAMPLE_CRC else None,
    )


def check(data: bytes | bytearray | memoryview) -> bool:
    """True if ``data`` starts like a .mic stream (magic bytes); cheap, no validation.

    >>> import mic
    >>> mic.check(b"\\x8bMIC\\r\\n\\x1a\\n...."), mic.check(b"\\x89PNG")
    (True, False)
    """
    return bytes(memoryview(data)[:8]) == MAGIC


def verify(data: bytes | bytearray | memoryview, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> MicInfo:
    """Fully decode ``data`` and check every CRC; return its :class:`MicInfo` or raise."""
    decode(data, max_pixels=max_pixels)
    return info(data)


__all__ = ["encode", "decode", "info", "check", "verify", "MicInfo", "DEFAULT_MAX_PIXELS",
           "sample_range", "bits_used", "samples_crc32", "unpack_header", "LAYOUT_NAMES"]
