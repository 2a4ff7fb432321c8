"""The encoder's public functions: :func:`encode` (array -> .mic stream) and
:func:`encode_target` (the lossy quality that meets a PSNR or a rate).  The decoder's
functions and the types both sides share are in :mod:`mic.codec`; this module adds the
encoder side on top of them (the lossy and lossless tile encoders are imported when
used).

>>> import numpy as np, mic
>>> img = np.array([[0, 1000], [-1000, 5]], dtype=np.int16)
>>> mic.decode(mic.encode(img)).tolist()
[[0, 1000], [-1000, 5]]
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .bitstream import (
    LAYOUT_FRC, LAYOUT_FRCS, LAYOUT_RC, LAYOUT_RCS, MODE_LOSSLESS, MODE_LOSSY,
    PHOTOMETRIC_MONOCHROME2, PHOTOMETRIC_NAMES, PHOTOMETRIC_RGB, Header, iter_tiles,
)
from .bitstream.container import TAG_TILE, tile_prefix, write_stream
from .bitstream.samples import bits_used, samples_crc32
from .bitstream.schema import MAJORS, VERSION_MAJOR
from .codec import FLAG_SAMPLE_CRC, MAX_DIMENSION, decode, info
from .errors import MicInputError, MicUnsupportedError
from .models.registry import is_conv, model_id
from .parallel import check_threads, run_tiles

if TYPE_CHECKING:  # (imported when used: the lossy encoder loads on the first lossy encode)
    from .lossy.enc_options import EncoderOptions

_PHOTOMETRIC_BY_NAME = {v: k for k, v in PHOTOMETRIC_NAMES.items()}


class TileEncoder(Protocol):
    def extra_segments(self) -> list[tuple[bytes, bytes]]: ...
    def encode_tile(self, tile: np.ndarray) -> bytes: ...


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
    effort: int | None = None,
    threads: int = 1,
    max_error: int | None = None,
    options: EncoderOptions | None = None,
    volume_group: int | None = None,
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
        ``tile``); the convolutional models (``vae``, ``ae``, ``cnn``) code 512 x 512 tiles.
    stream_version:
        The stream's major version: 2 (default), the compact layout (header fields,
        segment lengths, tile numbers and a lossy tile's fields as varints: about 30
        bytes less a lossless stream, 45 less a lossy one), or 1, the fixed-width
        layout, for decoders older than version 2 (SPEC.md section 1).  Lossless
        samples are the same in both; lossy v2 tiles may also carry tools v1 cannot
        (restoration classes split by direction, SPEC 6.7).
    effort:
        Lossy: 1 (fastest) .. 7 (smallest), default 3 (``mic.lossy.DEFAULT_EFFORT``): which
        encoder tools run (``mic.lossy.EFFORT_TOOLS``; a tool named explicitly wins).  The
        stream format is the same at every effort and one decoder reads them all.
        Lossless (mode 0): 1 or 2 selects the fast coder (model id 3, SPEC.md 5.6: median-edge
        prediction and static rANS, about twice as fast as the default and a few per cent
        larger; 2 also tries sparse planes without their palette and RGB without the colour
        transform); 3 (and ``None``) the fast NLMS coder (model id 14, SPEC.md 5.8: the same
        planes with the prediction corrected by two integer NLMS filters; a screen, 8-bit
        and mostly one value, or frames of at most 65,536 pixels are coded as effort 4 codes
        them, a screen also in 128 or 64 tiles where the fast coder's stream says so; RGB
        tiles may code channel differences, model id 15, SPEC 5.9); 4..7 code each plane by
        it and by the fast coder (7 also by model id 13's NLMS planes, SPEC 5.7), keeping the
        smallest; 5..7 also code an image given no ``tile`` in 256 x 256 tiles (7 also 128
        and 64), keeping the smallest stream.  Volumes (``volume_group``) use model
        id 14 too (model id 1 with ``nlms=False`` or ``fast_nlms=False``).  One decoder
        reads them all.
        Near-lossless: model id 17 (SPEC.md 7.7: the fast planes without filters at 1-2,
        with them from 3, and from 4 each plane also as model id 12's, the smaller kept);
        with ``fast_nlms=False`` 1-2 model id 2, from 3 model id 12.
        Out of range: :class:`MicInputError`.
    threads:
        Code up to this many tiles (or frames) at once (default 1); the bytes are the same
        for any count.
    max_error:
        Near-lossless coding (mode 2, SPEC.md section 7): every decoded sample is within
        ``max_error`` of the original, guaranteed (the JPEG-LS NEAR scheme: prediction
        residuals quantised with step ``2 k + 1``, predicting from the reconstruction).
        ``None`` or 0: lossless.  An int in ``1 .. 2**(bits_stored - 1) - 1``; anything
        else (negative, not an int, a bool, too large), or given together with
        ``quality``, is a :class:`MicInputError`.  Tiles, frames, RGB and signed data work
        as in the lossless mode; ``options`` may choose only the tile.
    options:
        A :class:`mic.EncoderOptions`: every choice of the lossy encoder (model, tools,
        tuned settings) and the tile size, as one value; ``None``: the defaults.  For
        lossless coding (``quality=None``) it may choose only the tile.
    choices:
        The lossy encoder's choices as keywords, e.g. ``model="wavelet-hyperprior"``, ``dq=False``,
        ``regions=False`` (the fields of :class:`mic.EncoderOptions`; with ``model="vae"``, ``"ae"`` or
        ``"cnn"`` only ``tile`` and ``long_model_segment`` apply, and another is a
        :class:`MicInputError`).  Lossless and near-lossless take the choice ``nlms``:
        ``None`` (default) follows the effort, ``False`` codes without the NLMS filters
        (model id 1, effort 4+: 3; near-lossless model id 17's kinds 3-4, or 2 with
        ``fast_nlms=False``), ``True`` with them (model id 14, near-lossless 17, or 12 with
        ``fast_nlms=False``; not at lossless efforts 1-2); lossless also ``fast_nlms``: ``None``
        or ``True`` (where the filters are on) the fast planes with the filters (model id 14,
        SPEC 5.8; ``True`` also at effort 3 for screens and small frames, which ``None``
        codes as effort 4 does), ``False`` model id 13's planes instead; near-lossless
        ``fast_nlms``: ``None`` (default) the fast coder's planes quantised (model id 17,
        SPEC 7.7; at every effort, with the filters from effort 3, and from effort 4 each
        plane also as model id 12's, the smaller kept), ``False`` model id 12's planes
        (2's at efforts 1-2), as written before 2026-12-07; and ``colour_diff``:
        ``None`` (default) lets RGB tiles of model id 14 code a channel less another where
        that is smaller (model id 15, SPEC 5.9), ``False`` never (a model-14 stream, for
        decoders from before model id 15); and ``priors``: ``None`` (default) starts the
        NLMS filters of those planes from fixed weights and lets a class use its built-in
        token table instead of sending one (model id 16, SPEC 5.10: smaller small images),
        ``False`` never (model id 14 or 15, for decoders from before model id 16); and
        ``bands``: ``None`` (default) lets those planes split their token tables into bands
        of the coded sample above where that is smaller (model id 18, SPEC 5.11), ``False``
        never (model id 16, for decoders from before model id 18); and ``low``: ``None``
        (default) lets those planes code their samples next to the plane's minimum (``(W + N
        + 1) >> 1`` below a count the plane chooses: count data, clipped noise, black
        backgrounds) as values, or near-lossless their grid indices, under tables of their
        own (model ids 20 and 21, SPEC 5.12, 7.9), ``False`` never (model id 18 or 19, for
        decoders from before them); and ``compact_tables``: ``None`` (default) writes those
        planes' table sections bit-packed (model ids 22 and 23, SPEC 5.13, 7.10: small
        images 1-3 % smaller), ``False`` never (model id 20 or 21); ``wrap``: ``None``
        (default) lets RGB trees wrap a difference modulo ``2**bits`` (model id 24, SPEC 5.14),
        ``False`` never (22).  They fill in the fields ``options`` leave at their defaults; one
        that contradicts a value ``options`` set, or an unknown name, is a :class:`MicInputError`.

    volume_group:
        Lossless, one sample per pixel, several frames (a series): code the frames as a
        volume in groups of this many (2..65536, e.g. 8).  Each frame after the first of
        its group may be predicted from the frame before it (SPEC 5.5, and 5.15: model id
        25, whose NLMS filters take it, unless ``inter_nlms=False``; the encoder keeps,
        per tile, whichever codes smallest), so decoding frame ``f`` decodes the frames of
        its group up to ``f``.  ``None`` (default): frames are independent.  ``array`` may
        then be a list of 2-D frames of one shape and dtype (else :class:`MicInputError`).

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
    >>> near = mic.encode(ct, max_error=2)
    >>> int(abs(mic.decode(near).astype(int) - ct).max()) <= 2, mic.info(near).max_error
    (True, 2)
    """
    if volume_group is not None:
        array = _volume_frames(array, volume_group, quality, max_error)
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
    threads = check_threads(threads)
    near = _max_error_arg(max_error, quality, bits_stored)
    if effort is not None:
        from .lossy.enc_options import check_effort

        effort = check_effort(effort)
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
        from .lossless.encoder import LosslessTileEncoder, plane_effort

        what = "near-lossless" if near else "lossless"
        # the (near-)lossless choices besides the effort
        lossless = {k: choices.pop(k, None) for k in ("nlms", "fast_nlms", "colour_diff",
                                                      "priors", "bands", "low",
                                                      "compact_tables", "wrap", "inter_nlms")}
        if (not near and not volume_group and lossless["nlms"] is not False
                and lossless["fast_nlms"] is None):
            effort = plane_effort(v, bits_stored, effort, r * c)  # screens, small: effort 4's
        if choices:
            raise MicInputError(f"unknown {what} option(s): {', '.join(sorted(choices))}")
        if options is not None and not options.only_tile():
            raise MicInputError(f"options choose lossy encoder settings, but quality=None "
                                f"codes {what}ly (whose only choice is the tile)")
        encoder = LosslessTileEncoder(header, near=near, group=int(volume_group or 0),
                                      effort=effort, **lossless)
        header.flags |= FLAG_SAMPLE_CRC
        if near:  # SPEC 7: the CRC-32 of the reconstruction, which the encoder makes exactly
            recon = np.empty(v.shape, dtype=dt)
            return _assemble(v, header, encoder, threads, recon=recon)
        header.sample_crc32 = samples_crc32(array)
        if th == 0 and not volume_group:
            return _encode_lossless_best_tiling(v, header, encoder, threads, effort, lossless)
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
        if effort is not None:
            choices["effort"] = effort
        opts = (options or EncoderOptions()).with_choices(**choices)
        if is_conv(model_id(opts.model)):  # learned convolutional transforms (SPEC 6.10)
            from .lossy.enc_conv import ConvTileEncoder, check_conv_options

            check_conv_options(options, choices)
            conv = ConvTileEncoder(header, int(quality), opts)
            conv.plan(v)
            return _assemble(v, header, conv, threads)
        from .lossy.enc_options import CONV_TOOLS

        given = sorted(k for k in CONV_TOOLS
                       if k in choices or (options is not None and k in options.explicit()))
        if given:
            raise MicInputError(f"encoder option(s) {given} apply only to the conv models "
                                f"(ae, vae, cnn, gan), not to {opts.model!r}")
        if tile is None:
            return _encode_lossy_best_tiling(v, header, int(quality), opts, threads)
        lossy = LossyTileEncoder(header, int(quality), opts)
        lossy.plan(v)
        encoder = lossy
    return _assemble(v, header, encoder, threads)


def _volume_frames(array: Any, group: Any, quality: Any, max_error: Any) -> np.ndarray:
    """``array`` as a (frames, rows, cols) volume for ``volume_group=group``, checked before
    anything is coded: a list of frames must share one shape and dtype (issue #22, "Bad
    input"); volumes are lossless only."""
    if isinstance(group, bool) or not isinstance(group, (int, np.integer)) \
            or not 2 <= group <= 1 << 16:
        raise MicInputError(f"volume_group must be an int in 2..65536, got {group!r}")
    if quality is not None or max_error:
        raise MicInputError("volume_group codes lossless volumes: not with quality or max_error")
    if isinstance(array, (list, tuple)):
        frames = [a if isinstance(a, np.ndarray) else np.asarray(a) for a in array]
        if not frames:
            raise MicInputError("volume_group: no frames")
        shapes = {a.shape for a in frames}
        dtypes = {a.dtype.str for a in frames}
        if len(shapes) > 1 or len(dtypes) > 1:
            raise MicInputError(f"volume frames must share one shape and dtype, got shapes "
                                f"{sorted(shapes)} and dtypes {sorted(dtypes)}")
        if frames[0].ndim != 2:
            raise MicInputError(f"volume frames must be 2-D, got shape {frames[0].shape}")
        array = np.stack(frames)
    if not isinstance(array, np.ndarray) or array.ndim != 3:
        raise MicInputError("volume_group needs a (frames, rows, cols) array or a list of "
                            f"2-D frames, got {getattr(array, 'shape', type(array).__name__)}")
    return array


def _max_error_arg(max_error: Any, quality: Any, bits_stored: int) -> int:
    """``max_error`` checked (issue #22 "Bad input"): 0 for lossless (None or 0), else k."""
    if max_error is None:
        return 0
    if isinstance(max_error, bool) or not isinstance(max_error, (int, np.integer)):
        raise MicInputError(f"max_error must be None or an int, got {max_error!r}")
    if quality is not None:
        raise MicInputError("max_error (near-lossless) and quality (lossy) exclude each other")
    k = int(max_error)
    limit = (1 << (bits_stored - 1)) - 1
    if not 0 <= k <= limit:
        raise MicInputError(f"max_error={k} must be in 0..{limit} (below 2**(bits_stored-1) "
                            f"for bits_stored={bits_stored})")
    return k


def _assemble(v: np.ndarray, header: Header, encoder: TileEncoder, threads: int = 1,
              recon: np.ndarray | None = None) -> bytes:
    """The stream of ``v`` (frames, rows, cols, samples) tiled as ``header`` says, its
    tiles coded on up to ``threads`` threads (each thread codes with its own copy of
    ``encoder``, whose state is per tile; the bytes are the same for any count).  The
    header is written last: encoders may still set model/coder ids while coding tiles.
    ``recon`` (near-lossless): an array shaped like ``v`` that receives the samples the
    encoder leaves in each tile (the decoder's output); the header's sample CRC-32 is
    then theirs."""
    import copy
    import threading

    segments = list(encoder.extra_segments())
    group = getattr(encoder, "group", 0)
    jobs = [(fi, idx, r0, r1, c0, c1) for fi in range(v.shape[0])
            for idx, r0, r1, c0, c1 in iter_tiles(header)]
    local = threading.local()

    def code(job: tuple[int, int, int, int, int, int]) -> bytes:
        fi, idx, r0, r1, c0, c1 = job
        enc = encoder
        if threads > 1:
            enc = getattr(local, "encoder", None)
            if enc is None:
                enc = local.encoder = copy.copy(encoder)
        tile_arr = np.ascontiguousarray(v[fi, r0:r1, c0:c1, :], dtype=np.int32)
        if group and fi % group:  # SPEC 5.5: lossless, so the reference is the source
            payload = enc.encode_tile(tile_arr, ref=v[fi - 1, r0:r1, c0:c1, :])
        else:
            payload = enc.encode_tile(tile_arr)
        if recon is not None:
            recon[fi, r0:r1, c0:c1, :] = tile_arr
        return tile_prefix(fi, idx, header.version_major) + payload

    segments += [(TAG_TILE, p) for p in run_tiles(code, jobs, threads)]
    if recon is not None:
        header.sample_crc32 = samples_crc32(recon)
    return write_stream(header, segments)


def _encode_lossy_best_tiling(v: np.ndarray, header: Header, quality: int,
                              options: EncoderOptions, threads: int = 1) -> bytes:
    """Lossy, no tile size given: code ``v`` with each of :func:`mic.lossy.tilings` and
    keep the stream of lowest rate + lambda * distortion (an encoder choice; the header
    records the tiles).  A frame of at most 512 a side has one candidate; so has every
    frame when ``options.tilings`` is off (512 x 512 tiles)."""
    from .lossy.enc_tile import LossyTileEncoder
    from .lossy.enc_tilings import tilings

    shapes = tilings(header.rows, header.cols)[:None if options.tilings else 1]
    best: tuple[float, bytes] | None = None
    for th, tw in shapes:
        h = replace(header, tile_rows=th, tile_cols=tw)
        enc = LossyTileEncoder(h, quality, options)
        enc.plan(v)
        blob = _assemble(v, h, enc, threads)
        if len(shapes) == 1:
            return blob
        sse = enc.sse  # the decoded tiles' error, where the encoder made them
        if sse is None:
            err = decode(blob, threads=threads).reshape(v.shape).astype(np.float64) - v
            sse = float(np.sum(err * err))
        cost = enc.rd_cost(len(blob), sse)
        if best is None or cost < best[0]:
            best = (cost, blob)
    assert best is not None
    return best[1]


def _encode_lossless_best_tiling(v: np.ndarray, header: Header, encoder: TileEncoder,
                                 threads: int, effort: int | None,
                                 choices: dict[str, Any]) -> bytes:
    """Lossless, no tile size given: the whole frames, and the tiles of each side of
    :func:`~mic.lossless.encoder.tiling_sides` smaller than a frame (from effort 5; a
    screen's from effort 3), keeping the smallest stream (an encoder choice; the
    header records the tiles).  Below :data:`~mic.lossless.encoder.TILING_EFFORT_MIN` the
    candidates are ranked by the size of the fast coder's stream of each (effort 1, about
    ten times faster) and only the first is coded: on the train split's two screens (and
    the eval split's one) that ranking picks the tiling that codes smallest, in a third of
    the time (benches/results/2026-12-06-lossless-15/screens.txt)."""
    from .lossless.encoder import (
        LMS_EFFORT_MIN, TILING_EFFORT_MIN, LosslessTileEncoder, tiling_sides)

    sides = [0] + [s for s in tiling_sides(v, header.bits_stored, effort)
                   if max(header.rows, header.cols) > s]  # 0: whole frames

    def coded(side: int, fast: bool = False) -> bytes:  # fast: the effort-1 estimate
        if not side and not fast:
            return _assemble(v, header, encoder, threads)
        h = replace(header, tile_rows=side, tile_cols=side)
        enc = LosslessTileEncoder(h, effort=1) if fast else \
            LosslessTileEncoder(h, effort=effort, **choices)
        return _assemble(v, h, enc, threads)

    if len(sides) > 1 and (LMS_EFFORT_MIN if effort is None else effort) < TILING_EFFORT_MIN:
        return coded(min(sides, key=lambda s: len(coded(s, fast=True))))
    return min((coded(s) for s in sides), key=len)  # the first of equals


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
    from .lossy.enc_options import EncoderOptions
    from .lossy.model import qualities

    opts = kwargs.get("options") or EncoderOptions()
    name = model or opts.with_choices(effort=kwargs.get("effort") or opts.effort).model
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


__all__ = ["encode", "encode_target"]
