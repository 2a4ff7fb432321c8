"""The decoder's public functions: :func:`decode`, :func:`info`, :func:`check`,
:func:`verify`, and what both sides share (:class:`MicInfo`, the limits).  The encoder's
functions (:func:`mic.encode`, :func:`mic.encode_target`) are in :mod:`mic.encoder`,
above this module: decoding never imports encoder code.

The functions take and return plain numpy arrays (imagecodecs style).  The
stream says which mode, model and entropy coder made it; the decoder picks the
matching implementation from the header, never from global state.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from .bitstream import (
    CODER_NAMES, LAYOUT_NAMES, MAGIC, MODE_LOSSLESS, MODE_LOSSY, MODE_NAMES, MODE_NEAR_LOSSLESS,
    PHOTOMETRIC_NAMES, Header, iter_tiles, read_stream, unpack_header,
)
from .bitstream.samples import (
    bits_used, crc32_combine, crc32_power, crc32_repeat, sample_range, samples_crc32,
)
from .errors import (
    MicChecksumError, MicFormatError, MicInputError, MicLimitError, MicUnsupportedError,
)
from .models.registry import (
    LOSSLESS_DESCRIPTION, LOSSLESS_FAST_DESCRIPTION, LOSSLESS_FAST_LMS_CDIFF_DESCRIPTION,
    LOSSLESS_FAST_LMS_CDIFF_NAME, LOSSLESS_FAST_LMS_DESCRIPTION, LOSSLESS_FAST_LMS_NAME,
    LOSSLESS_FAST_LMS_BANDS_DESCRIPTION, LOSSLESS_FAST_LMS_BANDS_NAME,
    LOSSLESS_FAST_LMS_COMPACT_DESCRIPTION, LOSSLESS_FAST_LMS_COMPACT_NAME,
    LOSSLESS_FAST_LMS_INTER_DESCRIPTION, LOSSLESS_FAST_LMS_INTER_NAME,
    LOSSLESS_FAST_LMS_WRAP_DESCRIPTION, LOSSLESS_FAST_LMS_WRAP_NAME,
    LOSSLESS_FAST_LMS_LOW_DESCRIPTION, LOSSLESS_FAST_LMS_LOW_NAME,
    LOSSLESS_FAST_LMS_PRIOR_DESCRIPTION, LOSSLESS_FAST_LMS_PRIOR_NAME,
    LOSSLESS_FAST_NAME, LOSSLESS_LMS_DESCRIPTION, LOSSLESS_LMS_NAME, LOSSLESS_NAME,
    FLAG_GENERATIVE, NEAR_LOSSLESS_DESCRIPTION, NEAR_LOSSLESS_FAST_DESCRIPTION,
    NEAR_LOSSLESS_FAST_BANDS_DESCRIPTION, NEAR_LOSSLESS_FAST_BANDS_NAME,
    NEAR_LOSSLESS_FAST_COMPACT_DESCRIPTION, NEAR_LOSSLESS_FAST_COMPACT_NAME,
    NEAR_LOSSLESS_FAST_LOW_DESCRIPTION, NEAR_LOSSLESS_FAST_LOW_NAME,
    NEAR_LOSSLESS_FAST_NAME, NEAR_LOSSLESS_LMS_DESCRIPTION,
    NEAR_LOSSLESS_LMS_NAME, NEAR_LOSSLESS_NAME, describe, is_conv, is_generative,
)
from .parallel import check_threads, run_tiles

#: Default ceiling on decoded samples (frames x rows x cols x samples): 2**30 (2 GiB at 16 bit).
DEFAULT_MAX_PIXELS = 1 << 30
#: Largest rows or cols value accepted (the header allows 2**32-1; no modality needs more).
MAX_DIMENSION = 1 << 20

FLAG_SAMPLE_CRC = 1  # header.flags bit 0: sample_crc32 is meaningful and checked

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
    #: the largest absolute difference between a decoded and an original sample that the
    #: stream guarantees: 0 lossless, k near-lossless (mode 2), None lossy (no bound)
    max_error: int | None = None
    #: lossless volumes (SPEC 5.5): frames per group, each frame after a group's first may
    #: depend on the one before; 0 = every frame independent
    volume_group: int = 0
    #: header flag bit 1 (SPEC 3): a generative decoder (``gan``), which may synthesise
    #: texture that was not in the original -- not for primary diagnosis
    generative: bool = False

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


# ----------------------------------------------------------------------------- decoding
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


def check_generative_flag(header: Header) -> None:
    """SPEC 3: header flag bit 1 (generative decoder) is set exactly on the lossy streams of
    a generative model (``gan``, id 10); :class:`MicFormatError` otherwise."""
    lossy = header.mode == MODE_LOSSY
    want = is_generative(lossy, header.model_id)
    if bool(header.flags & FLAG_GENERATIVE) != want:
        what = f"model id {header.model_id}" if lossy else f"a {MODE_NAMES[header.mode]} stream"
        raise MicFormatError(
            f"header flag bit 1 (generative decoder) is {'clear' if want else 'set'}, but "
            f"{what} {'is' if want else 'is not'} generative: it must be "
            f"{'set' if want else 'clear'} (SPEC 3)")


def _decoder_for(header: Header, stream: Any) -> TileDecoder:
    if header.mode != MODE_NEAR_LOSSLESS and stream.segment(b"NEAR") is not None:
        raise MicFormatError("NEAR segment in a stream that is not near-lossless (SPEC 7.1)")
    if header.mode != MODE_LOSSLESS and stream.segment(b"LVOL") is not None:
        raise MicFormatError("LVOL segment in a stream that is not lossless (SPEC 5.5)")
    check_generative_flag(header)
    if header.mode in (MODE_LOSSLESS, MODE_NEAR_LOSSLESS):
        from .lossless.decoder import LosslessTileDecoder

        return LosslessTileDecoder(header, stream)
    if header.mode == MODE_LOSSY:
        try:
            if is_conv(header.model_id):  # learned convolutional transforms (SPEC 6.10)
                from .lossy.dec_conv import ConvTileDecoder

                return ConvTileDecoder(header, stream)
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
    threads: int = 1,
) -> np.ndarray:
    """Decode a .mic stream to a numpy array of the dtype and shape that was encoded.

    ``max_pixels`` bounds the decoded samples (frames x rows x cols x samples):
    a larger stream raises :class:`MicLimitError` before anything is allocated.
    ``region=(row0, row1, col0, col1)`` (half-open) decodes only that window of every
    frame, reading only the tiles it touches (encode with ``tile=`` to make that cheap);
    the result has the stream's layout with rows and cols cut to the window.  The
    whole-image sample CRC-32 of a lossless or near-lossless stream cannot be checked for
    a window (each tile's segment CRC and sample range still are).
    ``threads`` (default 1) decodes that many tiles (or frames) at once; the samples are
    the same for any count.
    Trailing bytes after the stream's end segment are ignored.  Any corruption
    raises a :class:`MicError` subclass; a lossless or near-lossless stream whose decoded
    samples do not match the stored CRC-32 raises :class:`MicChecksumError`.

    Example
    -------
    >>> import numpy as np, mic
    >>> img = np.array([[0, 1000], [-1000, 5]], dtype=np.int16)
    >>> mic.decode(mic.encode(img)).tolist()
    [[0, 1000], [-1000, 5]]
    """
    threads = check_threads(threads)
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
    def decode_tile(job: tuple[int, int, int, int, int, int]) -> None:
        fi, idx, r0, r1, c0, c1 = job
        a0, a1, b0, b1 = max(r0, rr0), min(r1, rr1), max(c0, cc0), min(c1, cc1)
        dst = v[fi, a0 - rr0:a1 - rr0, b0 - cc0:b1 - cc0, :]
        payload = stream.tiles[(fi, idx)]
        if (a0, a1, b0, b1) == (r0, r1, c0, c1):  # the whole tile: straight into the output
            decoder.decode_into(payload, r1 - r0, c1 - c0, dst)
        else:  # a tile the window cuts: through one tile buffer
            buf = np.empty((r1 - r0, c1 - c0, h.samples), dtype)
            decoder.decode_into(payload, r1 - r0, c1 - c0, buf)
            dst[...] = buf[a0 - r0:a1 - r0, b0 - c0:b1 - c0]

    group = getattr(decoder, "group", 0)
    if group:  # a volume (SPEC 5.5): each group's tiles decode in frame order, as chains
        run_tiles(lambda chain: _decode_chain(decoder, stream, v, chain, (rr0, rr1, cc0, cc1)),
                  _volume_chains(decoder, stream, todo, group), threads)
    else:
        run_tiles(decode_tile, todo, threads)  # each tile writes its own part of the output
    if whole and h.flags & FLAG_SAMPLE_CRC and not crc_checked \
            and samples_crc32(result) != h.sample_crc32:
        raise MicChecksumError(
            "decoded samples do not match the stream's CRC-32: corrupt data or a decoder mismatch"
        )
    return result


def _volume_chains(decoder: Any, stream: Any, todo: list[tuple[int, ...]], group: int
                   ) -> list[list[tuple[int, ...]]]:
    """The tiles of a volume (SPEC 5.5) as chains: tile ``t`` of the frames of one group, in
    frame order; an inter tile on a group's first frame is a :class:`MicFormatError`."""
    chains: dict[tuple[int, int], list[tuple[int, ...]]] = {}
    for job in todo:
        fi, idx = job[0], job[1]
        if fi % group == 0 and decoder.is_inter(stream.tiles[(fi, idx)]):
            raise MicFormatError(f"frame {fi} tile {idx}: an inter tile on the first frame "
                                 f"of a group of {group}")
        chains.setdefault((fi // group, idx), []).append(job)
    return list(chains.values())


def _decode_chain(decoder: Any, stream: Any, v: np.ndarray, chain: list[tuple[int, ...]],
                  window: tuple[int, int, int, int]) -> None:
    """Decode one chain of co-located tiles in frame order, each through an int32 tile
    buffer that the next frame's inter tile reads as its reference."""
    rr0, rr1, cc0, cc1 = window
    prev = None
    for fi, idx, r0, r1, c0, c1 in chain:
        payload = stream.tiles[(fi, idx)]
        buf = np.empty((r1 - r0, c1 - c0, v.shape[3]), np.int32)
        decoder.decode_into(payload, r1 - r0, c1 - c0, buf,
                            ref=prev if decoder.is_inter(payload) else None)
        a0, a1, b0, b1 = max(r0, rr0), min(r1, rr1), max(c0, cc0), min(c1, cc1)
        v[fi, a0 - rr0:a1 - rr0, b0 - cc0:b1 - cc0, :] = buf[a0 - r0:a1 - r0, b0 - c0:b1 - c0]
        prev = buf


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
    >>> i.mode, i.shape, i.dtype, i.max_error
    ('lossless', (2, 8, 8), 'uint16', 0)
    >>> mic.info(mic.encode(np.arange(64, dtype=np.uint8).reshape(8, 8), max_error=3)).max_error
    3
    """
    st = read_stream(data)
    h = st.header
    th, tw = h.tiles_per_frame
    max_error: int | None = None
    volume_group = 0
    if h.mode == MODE_LOSSLESS:
        from .lossless.syntax import (
            FAST_LMS_BANDS_MODEL_ID, FAST_LMS_CDIFF_MODEL_ID, FAST_LMS_COMPACT_MODEL_ID,
            FAST_LMS_INTER_MODEL_ID, FAST_LMS_LOW_MODEL_ID, FAST_LMS_MODEL_ID,
            FAST_LMS_PRIOR_MODEL_ID, FAST_LMS_WRAP_MODEL_ID, FAST_MODEL_ID, LMS_MODEL_ID,
            MODEL_ID)

        name, description = {
            MODEL_ID: (LOSSLESS_NAME, LOSSLESS_DESCRIPTION),
            FAST_MODEL_ID: (LOSSLESS_FAST_NAME, LOSSLESS_FAST_DESCRIPTION),
            LMS_MODEL_ID: (LOSSLESS_LMS_NAME, LOSSLESS_LMS_DESCRIPTION),
            FAST_LMS_MODEL_ID: (LOSSLESS_FAST_LMS_NAME, LOSSLESS_FAST_LMS_DESCRIPTION),
            FAST_LMS_CDIFF_MODEL_ID: (LOSSLESS_FAST_LMS_CDIFF_NAME,
                                      LOSSLESS_FAST_LMS_CDIFF_DESCRIPTION),
            FAST_LMS_PRIOR_MODEL_ID: (LOSSLESS_FAST_LMS_PRIOR_NAME,
                                      LOSSLESS_FAST_LMS_PRIOR_DESCRIPTION),
            FAST_LMS_BANDS_MODEL_ID: (LOSSLESS_FAST_LMS_BANDS_NAME,
                                      LOSSLESS_FAST_LMS_BANDS_DESCRIPTION),
            FAST_LMS_LOW_MODEL_ID: (LOSSLESS_FAST_LMS_LOW_NAME,
                                    LOSSLESS_FAST_LMS_LOW_DESCRIPTION),
            FAST_LMS_COMPACT_MODEL_ID: (LOSSLESS_FAST_LMS_COMPACT_NAME,
                                        LOSSLESS_FAST_LMS_COMPACT_DESCRIPTION),
            FAST_LMS_WRAP_MODEL_ID: (LOSSLESS_FAST_LMS_WRAP_NAME,
                                     LOSSLESS_FAST_LMS_WRAP_DESCRIPTION),
            FAST_LMS_INTER_MODEL_ID: (LOSSLESS_FAST_LMS_INTER_NAME,
                                      LOSSLESS_FAST_LMS_INTER_DESCRIPTION),
        }.get(h.model_id, (f"unknown({h.model_id})", "not a model of this build"))
        max_error = 0
        lvol = st.segment(b"LVOL")
        if lvol is not None:
            from .lossless.syntax import read_group

            volume_group = read_group(lvol)
    elif h.mode == MODE_NEAR_LOSSLESS:
        from .lossless.syntax import (
            NEAR_FAST_BANDS_MODEL_ID, NEAR_FAST_COMPACT_MODEL_ID, NEAR_FAST_LOW_MODEL_ID,
            NEAR_FAST_MODEL_ID, NEAR_LMS_MODEL_ID, NEAR_MODEL_ID, TAG_NEAR, read_near,
        )

        names = {NEAR_MODEL_ID: (NEAR_LOSSLESS_NAME, NEAR_LOSSLESS_DESCRIPTION),
                 NEAR_LMS_MODEL_ID: (NEAR_LOSSLESS_LMS_NAME, NEAR_LOSSLESS_LMS_DESCRIPTION),
                 NEAR_FAST_MODEL_ID: (NEAR_LOSSLESS_FAST_NAME, NEAR_LOSSLESS_FAST_DESCRIPTION),
                 NEAR_FAST_BANDS_MODEL_ID: (NEAR_LOSSLESS_FAST_BANDS_NAME,
                                            NEAR_LOSSLESS_FAST_BANDS_DESCRIPTION),
                 NEAR_FAST_LOW_MODEL_ID: (NEAR_LOSSLESS_FAST_LOW_NAME,
                                          NEAR_LOSSLESS_FAST_LOW_DESCRIPTION),
                 NEAR_FAST_COMPACT_MODEL_ID: (NEAR_LOSSLESS_FAST_COMPACT_NAME,
                                              NEAR_LOSSLESS_FAST_COMPACT_DESCRIPTION)}
        if h.model_id in names:
            name, description = names[h.model_id]
            max_error = read_near(st.segment(TAG_NEAR), h.bits_stored)
        else:  # decode refuses it (MicUnsupportedError); info only reports it
            name, description = f"unknown({h.model_id})", "not a model of this build"
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
        max_error=max_error,
        volume_group=volume_group,
        generative=bool(h.flags & FLAG_GENERATIVE),
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


__all__ = ["decode", "info", "check", "verify", "MicInfo", "DEFAULT_MAX_PIXELS",
           "sample_range", "bits_used", "samples_crc32", "unpack_header", "LAYOUT_NAMES"]
