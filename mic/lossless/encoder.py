"""The lossless predictive coder's encoder (model ids 1, 3, 13 and 14; 2 and 12
near-lossless): tiles -> bytes.  Model id 14's planes (kinds 5 and 6, the default) are
coded by :mod:`.encoder_fast`; what follows describes model 1's kinds 1 and 2.

Per plane of a tile (see SPEC.md section 5):

1. subtract the plane's minimum; where at most half of the values in ``[min, max]``
   occur, or under 70 % of those between its 1st and 99th percentile (a histogram spread
   by a lookup table), also code indexes into the sorted set of used values and keep the
   smaller (sparse histograms are common in CT/MR/NM/PET/CR);
2. :func:`mic.lossless.kernels.code_plane` predicts every pixel from its causal
   neighbours and turns the residual into a token plus raw extra bits;
3. each 16x16 block picks one of the frozen token tables (the one that codes it
   cheapest); the class map is coded as deltas from a causal prediction;
4. one range coder (coder id 1) carries the class map, then the tokens of each
   class in turn (one vectorised call per table, never one per pixel).

RGB tiles go through the reversible colour transform of JPEG 2000 first.

Near-lossless (mode 2, SPEC section 7, ``near`` = k > 0) runs the same steps on the same
planes with the residuals quantised in the kernel (step ``2k + 1``), predicting from the
reconstruction; no palettes; a plane whose values span at most ``2k`` is one constant; RGB
tiles may code G, then R and B minus the reconstructed G (:mod:`.encoder_near`, which also
writes model id 17's fast planes).  The encoder ends with the exact samples the decoder will
produce (:meth:`LosslessTileEncoder.encode_tile` writes them back into the tile it is given).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..bitstream import CODER_RANGE32, MODE_LOSSLESS, MODE_NEAR_LOSSLESS, Header
from ..bitstream.samples import sample_range
from ..bitstream.varint import pack_uvarints
from ..errors import MicFormatError, MicInputError
from . import kernels as K
from . import kernels_classes as KC
from .encoder_inter import inter_worth_trying
from .encoder_rgb import encode_rgb, rct_forward
from .syntax import (
    BLOCK_LOG2, FAST_LMS_BANDS_MODEL_ID, FAST_LMS_CDIFF_MODEL_ID, FAST_LMS_COMPACT_MODEL_ID,
    FAST_LMS_INTER_MODEL_ID, FAST_LMS_LOW_MODEL_ID, FAST_LMS_MODEL_ID, FAST_LMS_PRIOR_MODEL_ID,
    FAST_LMS_WRAP_MODEL_ID, FAST_MODEL_ID,
    LARGE_PLANE, LMS_MODEL_ID, MAX_GROUP, MODEL_ID, NEAR_FAST_BANDS_MODEL_ID,
    NEAR_FAST_COMPACT_MODEL_ID, NEAR_FAST_LOW_MODEL_ID, NEAR_FAST_MODEL_ID, NEAR_LMS_MODEL_ID,
    NEAR_MODEL_ID, PLANE_CODED, PLANE_CONST, PLANE_PALETTE, TAG_NEAR, TAG_VOL, XFORM_CDIFF,
    XFORM_INTER, XFORM_INTER_FAST, XFORM_NONE, XFORM_RCT, XFORM_WRAP, max_error_limit,
    pack_group, pack_near, plane_head, reference_plane, token_block_costs, token_cdfs,
)


#: the lowest effort whose near-lossless planes add the NLMS filters (model id 12, SPEC 7.6:
#: about 3 % fewer bits for about a quarter more time); below it, model id 2 (SPEC 7.1-7.5)
NEAR_LMS_EFFORT_MIN = 3
#: near-lossless sparse planes are also coded through a covering palette at every effort,
#: and from this effort every plane (mic.lossless.near_palette)
NEAR_COVER_ALL_EFFORT = 5

#: the lowest effort whose lossless planes add NLMS filters: model id 14's fast planes (SPEC
#: 5.8, the default, volumes included) or with ``fast_nlms=False`` model id 13's kinds 1 and 2
#: (SPEC 5.7: about 2.4 % fewer bits than model 1 on the train split, a quarter more time);
#: below it, the fast coder (model id 3).
LMS_EFFORT_MIN = 3

#: the highest effort that selects the fast coder (model id 3, SPEC 5.6)
FAST_EFFORT_MAX = 2
#: from this effort each plane is coded by both coders, keeping the smaller (model id 3)
MIXED_EFFORT_MIN = 4
#: with the NLMS coder (model id 14 and those that extend it), model 1's coder (kinds 0-2)
#: is the third of the mixed coders only from this effort (the max): on the train split it
#: was the smallest for 21 of the 1,478 planes the default codes mixed (small frames and
#: screens), 0.001 % of their bytes for 47 % of their time, and for none of 62 larger
#: frames at effort 4 (research/lossless_small_frames.py, benches/results/2026-12-08-mixed)
MIXED_MODEL1_EFFORT_MIN = 7
#: from this effort a lossless image given no tile size is also coded in TILING_SIDE tiles
#: (each with its own planes, tables, palettes and coder choice), keeping the smaller
#: stream: screens with text and graphics, as ultrasound stores them, code 4-11 % smaller
#: that way on the train split, and everything else 0.3-1.1 % larger (so not by default;
#: ``research/lossless_tiling.py``, benches/results/2026-12-05-lossless-tiling.md)
TILING_EFFORT_MIN = 5
TILING_SIDE = 256
#: the tile sides each effort from TILING_EFFORT_MIN tries beside the whole frames (those
#: below the frame's larger side), keeping the smallest stream: effort 7 (max) also 128
#: and 64, where screens whose text and graphics sit in a few small tiles code far smaller
#: (an ultrasound screen of the train split -10 % at 128, a 16-bit CT -0.4 %;
#: benches/results/2026-12-05-restore-default/lossless-tiles.txt)
TILING_SIDES = {5: (TILING_SIDE,), 6: (TILING_SIDE,), 7: (TILING_SIDE, 128, 64)}
#: from effort 3 a **screen** (samples of at most SCREEN_BITS bits, at least
#: SCREEN_BACKGROUND of them one value: the black around an ultrasound sector, with text
#: and graphics on it) is also tried in these tiles: on the train split the two frames
#: that qualify code 10.4 % and 0.7 % smaller, and no other train image qualifies
SCREEN_SIDES = (128, 64)
#: how effort 3 (the default) codes a plane of more than SMALL_FRAME samples whose histogram
#: is sparse (:func:`offer_palette`; :func:`mic.lossless.encoder_fast.encode_plane_fast`'s
#: ``palette``): 1, through its palette.  Coding it both ways and keeping the smaller (2) is
#: effort 4's, and effort 3's for smaller planes, whose palette can cost more than it saves
#: (a 64 x 64 crop of full-range noise codes 45 % larger through it).  On the train split's
#: 45 such planes both ways saved 765 bytes of 10.45 MB (0.007 %) for twice their time; on
#: the eval split's 5 (two CT, an MR, a CR, a DX) the palette was smaller every time
#: (``research/lossless_palette_rank.py``).  Over whole splits, with the palette's bitmap
#: then compressed at zstd level 3 (19 costs up to 0.3 ms for 3 bytes): train +762 bytes
#: of 134.8 MB (+0.0006 %), eval +24 of 6.45 MB (benches/results/2026-12-07-encode)
DEFAULT_PALETTE = 1
#: frames of at most this many pixels are coded at the default effort with effort 4's
#: coders per plane (:func:`plane_effort`)
SMALL_FRAME = 1 << 16
SCREEN_BITS = 8
SCREEN_BACKGROUND = 0.5


def is_screen(v: np.ndarray, bits_stored: int) -> bool:
    """Whether samples ``v`` (any shape) look like a screen (see :data:`SCREEN_SIDES`).

    >>> a = np.zeros((64, 64), np.uint8); a[:10, :20] = 255
    >>> is_screen(a, 8), is_screen(a + 1 + np.arange(64, dtype=np.uint8), 8)
    (True, False)
    """
    if bits_stored > SCREEN_BITS or v.dtype.itemsize != 1 or not v.size:
        return False
    counts = np.bincount(np.ascontiguousarray(v).view(np.uint8).reshape(-1), minlength=256)
    return int(counts.max()) >= SCREEN_BACKGROUND * v.size


def plane_effort(v: np.ndarray, bits_stored: int, effort: int | None,
                 frame_pixels: int) -> int | None:
    """The effort whose plane coders a lossless image given ``effort`` gets (model id 14,
    the default; ``mic.encode`` asks only then, not with ``fast_nlms=True``, which keeps
    effort 3's planes): at the default effort a screen (see
    :data:`SCREEN_SIDES`) or frames of at most :data:`SMALL_FRAME` pixels get
    :data:`MIXED_EFFORT_MIN`'s, each plane the smallest of its coders; everything
    else its own.  On the train split's two screens that is 1.3 % and 1.6 % smaller than
    model id 14's planes alone, on its small images 0-2.3 % (a 128 x 128 PET 2.3 %, an 80
    x 80 MR 1.8 %), for 1.1-3 x their time (a few milliseconds).

    >>> plane_effort(np.zeros((8, 8), np.uint8), 8, None, 64)
    4
    >>> plane_effort(np.ones((512, 512)), 12, 3, 512 * 512), plane_effort(np.ones(4), 12, 5, 4)
    (3, 5)
    """
    e = LMS_EFFORT_MIN if effort is None else effort
    if e == LMS_EFFORT_MIN and (frame_pixels <= SMALL_FRAME or is_screen(v, bits_stored)):
        return MIXED_EFFORT_MIN
    return effort


def tiling_sides(v: np.ndarray, bits_stored: int, effort: int | None) -> tuple[int, ...]:
    """The tile sides an encoder given no tile size tries beside whole frames, keeping
    the smallest stream: :data:`TILING_SIDES` from effort 5, and :data:`SCREEN_SIDES` for
    a screen from effort 3 (None: the default, 3), so that no effort codes a screen larger
    than a lower one does; none otherwise.

    >>> tiling_sides(np.zeros((8, 8), np.uint8), 8, None), tiling_sides(np.ones(4), 12, 7)
    ((128, 64), (256, 128, 64))
    >>> tiling_sides(np.zeros((8, 8), np.uint8), 8, 5)
    (256, 128, 64)
    """
    e = LMS_EFFORT_MIN if effort is None else effort
    sides = TILING_SIDES[e] if e >= TILING_EFFORT_MIN else ()
    if e >= LMS_EFFORT_MIN and is_screen(v, bits_stored):
        sides = tuple(sorted(set(sides) | set(SCREEN_SIDES), reverse=True))
    return sides


# ----------------------------------------------------------------------------- planes
def plane_tokens(plane: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Tokens of one (h, w) plane after the offset/palette step (used to fit tables)."""
    x, maxval, _ = _prepare(plane.astype(np.int32))
    h, w = x.shape
    tokens = np.empty(h * w, np.int32)
    bits = np.empty(2 * h * w + 16, np.uint8)
    K.code_plane(x, maxval, False, tokens, bits)
    return tokens, h, w


#: a plane whose values between its 1st and 99th percentile use less than this share of
#: that range is also tried through a palette, whatever share of ``[min, max]`` occurs (a
#: histogram spread by a lookup table, every other value missing, codes smaller as
#: indices), provided it has at least :data:`PALETTE_MIN_DENSITY` samples per value of its
#: range (fewer, and values go missing by chance: small PET planes lost 3 % that way).
#: Chosen on the train split (``research/lossless_palette_rule.py``,
#: benches/results/2026-12-05-lossless-palette-rule.md).
PALETTE_CORE = 0.7
PALETTE_MIN_DENSITY = 16


def core_used(counts: np.ndarray) -> float:
    """The share of the values between the 1st and the 99th percentile of a plane that
    occur, from its histogram ``counts`` (of values 0..span)."""
    cum = np.cumsum(counts)
    n = int(cum[-1])
    a = int(np.searchsorted(cum, n // 100))
    b = int(np.searchsorted(cum, n - n // 100))
    return float(np.count_nonzero(counts[a:b + 1])) / (b - a + 1)


def offer_palette(counts: np.ndarray) -> bool:
    """Whether a plane whose histogram is ``counts`` (values 0..span) is also tried through
    a palette of its used values: at most half its range occurs, or (see
    :data:`PALETTE_CORE`) its core range is sparse.

    >>> offer_palette(np.array([9, 0, 9, 0, 9])), offer_palette(np.array([9, 9, 0, 9]))
    (False, False)
    >>> offer_palette(np.array([100, 0] * 50 + [100]))
    True
    """
    n_used = int(np.count_nonzero(counts))
    if 2 * n_used <= counts.size:
        return True
    return (n_used < counts.size and int(counts.sum()) >= PALETTE_MIN_DENSITY * counts.size
            and core_used(counts) < PALETTE_CORE)


def _prepare(plane: np.ndarray, core: bool = True) -> tuple[np.ndarray, int, bytes | None]:
    """Offset the plane to start at 0; offer a palette where :func:`offer_palette` says
    (``core=False``: only where at most half the values of its range occur)."""
    lo = int(plane.min())
    span = int(plane.max()) - lo
    x = (plane - lo).astype(np.int32)
    if span < 3:
        return x, span, None
    counts = np.bincount(x.ravel(), minlength=span + 1)
    used = counts > 0
    n_used = int(used.sum())
    if (offer_palette(counts) if core else 2 * n_used <= span + 1):
        lut = np.cumsum(used, dtype=np.int32) - 1
        return lut[x], n_used - 1, np.packbits(used).tobytes()
    return x, span, None


def palette_plane(lo: int, span: int, bitmap: bytes, idx: np.ndarray, maxval: int,
                  near: int = 0, lms: bool = False) -> bytes:
    """A kind-2 payload (SPEC 5.2, 7.2): the head, the zstd-coded bitmap of the ``span + 1``
    values from ``lo`` and the index image ``idx`` (``maxval`` its largest index) coded with
    maximum error ``near`` (0: losslessly)."""
    import zstandard

    zb = zstandard.ZstdCompressor(level=19).compress(bitmap)
    return b"".join((plane_head(PLANE_PALETTE, lo, maxval), pack_uvarints(span, len(zb)), zb,
                     _encode_coded(idx, maxval, near, lms=lms)))


def encode_plane(plane: np.ndarray, lms: bool = False) -> bytes:
    """One (h, w) int32 plane -> its payload (SPEC.md 5.2); ``lms``: kinds 1 and 2 predicted
    with model id 13's NLMS filters (SPEC 5.7), else model id 1's prediction (SPEC 5.4)."""
    lo = int(plane.min())
    hi = int(plane.max())
    if lo == hi:
        return plane_head(PLANE_CONST, lo)
    x, maxval, bitmap = _prepare(plane)
    if bitmap is None:
        return plane_head(PLANE_CODED, lo, maxval) + _encode_coded(x, maxval, lms=lms)
    # A sparse histogram: the palette pays only if the index image codes smaller by
    # more than the palette costs, so try both and keep the smaller.
    with_palette = palette_plane(lo, hi - lo, bitmap, x, maxval, lms=lms)
    plain = (plane - lo).astype(np.int32)
    without = plane_head(PLANE_CODED, lo, hi - lo) + _encode_coded(plain, hi - lo, lms=lms)
    return with_palette if len(with_palette) < len(without) else without


def encode_plane_inter(plane: np.ndarray, ref: np.ndarray) -> bytes:
    """One (h, w) int32 plane predicted with the previous frame's co-located (h, w) samples
    ``ref`` -> its payload (SPEC 5.5: a constant or coded plane, no palette)."""
    lo = int(plane.min())
    hi = int(plane.max())
    if lo == hi:
        return plane_head(PLANE_CONST, lo)
    x = (plane - lo).astype(np.int32)
    return plane_head(PLANE_CODED, lo, hi - lo) + _encode_coded(
        x, hi - lo, ref=reference_plane(ref, lo, hi - lo))


def _encode_coded(x: np.ndarray, maxval: int, near: int = 0,
                  ref: np.ndarray | None = None, lms: bool = False) -> bytes:
    h, w = x.shape
    tokens = np.empty(h * w, np.int32)
    bits = np.empty(2 * h * w + 16, np.uint8)
    if ref is None:
        status, nbits = K.code_plane_near(x, maxval, near, False, tokens, bits, lms)
    else:
        from .kernels_volume import code_plane_inter

        status, nbits = code_plane_inter(x, ref, maxval, False, tokens, bits)
    if status != K.OK:  # pragma: no cover - the encoder cannot fail on valid input
        raise MicFormatError(f"internal: lossless kernel status {status}")
    # Large planes: 16x16 blocks may win (the class map costs less); keep the smaller stream.
    sizes = (BLOCK_LOG2, BLOCK_LOG2 + 1) if h * w > LARGE_PLANE else (BLOCK_LOG2,)
    words = min((_range_code(tokens, h, w, blog) for blog in sizes), key=lambda t: len(t[1]))
    return b"".join((bytes((words[0],)), pack_uvarints(len(words[1]), nbits), words[1].tobytes(),
                     bits[:nbits].tobytes()))


def _range_code(tokens: np.ndarray, h: int, w: int, blog: int) -> tuple[int, np.ndarray]:
    """Class map + tokens of one plane through one range coder, with 2**blog blocks."""
    from ..entropy.rangeenc import RangeEncoder

    cost = token_block_costs()
    cdfs, delta_cdf = token_cdfs()
    bs = 1 << blog
    classes = KC.block_costs_classes(tokens, h, w, bs, cost)
    enc = RangeEncoder()
    enc.encode_cdf(KC.class_map_symbols(classes, -(-w // bs), len(cdfs)), delta_cdf)
    grouped, counts = KC.group_by_class(tokens, classes, h, w, bs, len(cdfs))
    off = 0
    for k, n in enumerate(counts):
        if n:
            enc.encode_cdf(grouped[off:off + n], cdfs[k])
            off += n
    return blog, enc.get_compressed().astype("<u4")


# ----------------------------------------------------------------------------- tiles
#: RGB tiles of model id 14/15 below effort RGB_EVERY_WAY_EFFORT: how many of xforms 0, 1
#: and 5 (its best tree), ranked by the fast coder's sizes of their planes, are coded for
#: real (LosslessTileEncoder._encode_rgb_trees).  On the train split's 6 RGB images 1 codes
#: 0.06 % more than coding every plane of every way (2: 0.02 %) in half the time (2: 83 %),
#: and in 0.62 of model 14's time (xforms 0 and 1 both coded); research/lossless_cdiff.py
RGB_FINALISTS = 1
#: from this effort every plane of every way is coded (no estimate)
RGB_EVERY_WAY_EFFORT = 5

class LosslessTileEncoder:
    """Codes (rows, cols, samples) int32 tiles losslessly (``near`` = 0, mode 0) or
    near-lossless with maximum error ``near`` (mode 2; SPEC 7); used by :func:`mic.encode`.

    >>> import numpy as np
    >>> from mic.bitstream import Header
    >>> h = Header(mode=0, model_id=0, coder_id=0, bits_allocated=8, signed=0, bits_stored=8,
    ...            photometric=0, layout=0, samples=1, frames=1, rows=2, cols=3)
    >>> enc = LosslessTileEncoder(h, near=1)
    >>> tile = np.array([[10, 13, 40], [9, 90, 31]], np.int32)[:, :, None]
    >>> orig = tile.copy()
    >>> payload = enc.encode_tile(tile)  # tile now holds the reconstruction
    >>> h.mode, int(np.abs(tile - orig).max()) <= 1
    (2, True)
    """

    def __init__(self, header: Header, near: int = 0, group: int = 0, effort: int | None = None,
                 nlms: bool | None = None, fast_nlms: bool | None = None,
                 colour_diff: bool | None = None, priors: bool | None = None,
                 bands: bool | None = None, low: bool | None = None,
                 compact_tables: bool | None = None, wrap: bool | None = None,
                 inter_nlms: bool | None = None, **options: Any) -> None:
        if options:
            raise MicInputError(f"unknown lossless option(s): {', '.join(sorted(options))}")
        for name, v in (("nlms", nlms), ("fast_nlms", fast_nlms), ("colour_diff", colour_diff),
                        ("priors", priors), ("bands", bands), ("low", low),
                        ("compact_tables", compact_tables), ("wrap", wrap),
                        ("inter_nlms", inter_nlms)):
            if v is not None and not isinstance(v, bool):
                raise MicInputError(f"{name} must be None, True or False, got {v!r}")
        if near and not 1 <= near <= max_error_limit(header.bits_stored):
            limit = max_error_limit(header.bits_stored)
            raise MicInputError(f"max_error={near} must be in 1..{limit} "
                                f"for {header.bits_stored} bits stored")
        #: effort 1 or 2 (mode 0): the fast planes of model id 3 (SPEC 5.6); 2 also tries RGB
        #: without the colour transform.  Other efforts: model id 14 (or 13 or 1, see below).
        self.fast = 0 if near or effort is None or effort > FAST_EFFORT_MAX else int(effort)
        if self.fast and group:
            raise MicInputError(f"effort={effort} (the fast lossless coder) has no volumes: "
                                f"volume_group needs effort {FAST_EFFORT_MAX + 1} or more")
        header.mode = MODE_NEAR_LOSSLESS if near else MODE_LOSSLESS
        #: model id 12 (SPEC 7.6): NLMS-corrected prediction in near-lossless planes, from
        #: effort NEAR_LMS_EFFORT_MIN (the default); efforts 1-2 write model id 2
        #: model id 13 (SPEC 5.7): the same filters in lossless kind-1/2 planes, from effort
        #: LMS_EFFORT_MIN (the default); ``nlms`` given (True or False) wins over the effort
        by_effort = effort is None or effort >= (NEAR_LMS_EFFORT_MIN if near else LMS_EFFORT_MIN)
        if nlms and self.fast:
            raise MicInputError("nlms=True: the fast lossless coder (efforts 1-2) has no NLMS "
                                "filters")
        lms = (by_effort if nlms is None else nlms) and not self.fast
        #: model id 14 (SPEC 5.8): where the NLMS filters are on (lossless), the planes are
        #: fast ones with the filters (kinds 5 and 6; effort 4 and up: the smallest of kinds
        #: 1-2, 3-4 and 5-6), volumes included; ``fast_nlms=False`` keeps model id 13's, which
        #: has no volumes (a volume is then model id 1)
        if fast_nlms and not lms:
            raise MicInputError("fast_nlms=True: coding with the NLMS filters only "
                                f"(effort {LMS_EFFORT_MIN} or more, nlms not False)")
        self.fast_lms = bool(lms and not near and fast_nlms is not False)
        #: model id 17 (SPEC 7.7): near-lossless planes of the fast coder (kinds 3-4 at
        #: efforts 1-2, 5-6 with model 16's priors from effort 3); ``fast_nlms=False`` keeps
        #: model id 12's planes (2's at efforts 1-2)
        self.near_fast = bool(near and fast_nlms is not False)
        #: ... and from effort 4 each of its near-lossless planes also as model id 12's
        #: (kinds 1 and 2 with the filters, which model 17 allows), keeping the smaller
        self.near_mixed = (self.near_fast and lms and effort is not None
                           and effort >= MIXED_EFFORT_MIN)
        #: model id 15 (SPEC 5.9): RGB tiles of model 14 may code channel differences;
        #: model id 16 (SPEC 5.10): model 15 with priors in kinds 5 and 6
        for name, v, mid in (("colour_diff", colour_diff, 15), ("priors", priors, 16)):
            if v and not self.fast_lms:
                raise MicInputError(f"{name}=True: model id {mid} extends model 14's lossless "
                                    f"coder (effort {LMS_EFFORT_MIN} or more, nlms and "
                                    "fast_nlms not False)")
        self.colour_diff = self.fast_lms and colour_diff is not False
        self.priors = self.fast_lms and priors is not False
        #: model id 18 (SPEC 5.11): model 16 whose kind-5/6 planes may split their tables
        #: into bands of the coded sample above
        if bands and not (self.priors or (near and self.near_fast and lms)):
            raise MicInputError("bands=True: model ids 18 and 19 extend model 16's lossless "
                                f"and model 17's near-lossless coders (effort {LMS_EFFORT_MIN} "
                                "or more; nlms, fast_nlms and priors not False)")
        #: model id 19 (SPEC 7.8): model 17 whose kind-5/6 planes have those bands (with
        #: the filters: effort 3 and up)
        self.near_bands = self.near_fast and lms and bands is not False
        self.bands = self.priors and bands is not False
        #: model id 20 (SPEC 5.12): model 18 whose kind-5/6 planes may code their low
        #: samples as values under tables of their own; model id 21 (SPEC 7.9): model 19's
        #: near-lossless planes with them (their grid indices)
        if low and not (self.bands or self.near_bands):
            raise MicInputError("low=True: model ids 20 and 21 extend model 18's lossless and "
                                f"19's near-lossless coders (effort {LMS_EFFORT_MIN} or more; "
                                "nlms, fast_nlms, priors and bands not False)")
        self.low = self.bands and low is not False
        self.near_low = self.near_bands and low is not False
        #: model ids 22 and 23 (SPEC 5.13, 7.10): models 20 and 21, table sections bit-packed
        if compact_tables and not (self.low or self.near_low):
            raise MicInputError("compact_tables=True: model ids 22 and 23 extend model 20's "
                                "lossless and 21's near-lossless coders (low not False)")
        self.compact = (self.low or self.near_low) and compact_tables is not False
        #: model id 24 (SPEC 5.14): model 22 whose RGB trees may wrap their differences
        if wrap and not (self.compact and not near and self.colour_diff):
            raise MicInputError("wrap=True: model id 24 extends model 22's lossless coder "
                                "(compact_tables and colour_diff not False)")
        self.wrap = self.compact and not near and wrap is not False
        #: model id 25 (SPEC 5.15): model 22 whose volume tiles may give the previous frame's
        #: prediction to the NLMS filters (xform 7)
        if inter_nlms and not (self.compact and not near):
            raise MicInputError("inter_nlms=True: model id 25 extends model 22's lossless coder "
                                "(compact_tables not False)")
        self.inter_fast = self.compact and not near and inter_nlms is not False
        #: below effort 4 a volume's tile is coded from the previous frame only where
        #: :func:`.encoder_inter.inter_worth_trying` says so
        self.inter_always = effort is not None and effort >= MIXED_EFFORT_MIN
        self.rgb_finalists = 0 if effort is not None and effort >= RGB_EVERY_WAY_EFFORT \
            else RGB_FINALISTS
        if nlms and group and not self.fast_lms:
            raise MicInputError("nlms=True with fast_nlms=False: model id 13 has no volumes")
        self.lms = lms and (self.fast_lms or not group)
        #: effort 4 and up (mode 0; a volume only under model id 14): each plane coded by
        #: every coder, keeping the smallest (model ids 3, 13 and 14 allow the plane kinds)
        self.mixed = (not near and (not group or self.fast_lms) and effort is not None
                      and effort >= MIXED_EFFORT_MIN)
        #: the mixed planes' third coder, model 1's, beside the NLMS coder
        self.mixed_model1 = effort is not None and effort >= MIXED_MODEL1_EFFORT_MIN
        if near:
            header.model_id = (NEAR_FAST_COMPACT_MODEL_ID if self.compact else
                               NEAR_FAST_LOW_MODEL_ID if self.near_low else
                               NEAR_FAST_BANDS_MODEL_ID if self.near_bands else
                               NEAR_FAST_MODEL_ID if self.near_fast else
                               NEAR_LMS_MODEL_ID if self.lms else NEAR_MODEL_ID)
        elif self.fast_lms:
            header.model_id = (FAST_LMS_COMPACT_MODEL_ID if self.compact else
                               FAST_LMS_LOW_MODEL_ID if self.low else
                               FAST_LMS_BANDS_MODEL_ID if self.bands else
                               FAST_LMS_PRIOR_MODEL_ID if self.priors else FAST_LMS_MODEL_ID)
        elif self.lms:
            header.model_id = LMS_MODEL_ID
        else:
            header.model_id = FAST_MODEL_ID if self.fast or self.mixed else MODEL_ID
        header.coder_id = CODER_RANGE32
        header.quality = 0
        if group and (near or header.samples != 1 or not 2 <= group <= MAX_GROUP):
            raise MicInputError(f"volume group={group!r}: inter-frame coding needs lossless "
                                f"one-sample frames and 2 <= group <= {MAX_GROUP}")
        self.header = header
        self.near = int(near)
        self.cover = 2 if effort is not None and effort >= NEAR_COVER_ALL_EFFORT else 1
        self.group = int(group)  # 0: frames independent; G: groups of G frames (SPEC 5.5)

    def extra_segments(self) -> list[tuple[bytes, bytes]]:
        if self.group:
            return [(TAG_VOL, pack_group(self.group))]
        return [(TAG_NEAR, pack_near(self.near))] if self.near else []

    def encode_tile(self, tile: np.ndarray, ref: np.ndarray | None = None) -> bytes:
        """The payload of one (rows, cols, samples) int32 tile.  Near-lossless: ``tile`` is
        overwritten with the samples the decoder will produce.  ``ref`` (volumes, a frame
        that is not the first of its group): the previous frame's co-located tile; the tile
        is coded without it, as xform 7 (model id 25, SPEC 5.15) and, up to SMALL_FRAME
        pixels or without model 25, as xform 4 (SPEC 5.5), keeping the smallest; below
        effort 4 the last two only where :func:`.encoder_inter.inter_worth_trying` says."""
        if self.near:
            return self._encode_tile_near(tile)
        if self.fast:
            return self._encode_tile_fast(tile)
        lms = self.lms
        if self.mixed:
            def code(p: np.ndarray) -> bytes:
                return self._plane_mixed(p, lms, self.fast_lms, self.priors, self.bands,
                                         self.low, self.compact, self.mixed_model1)
        elif self.fast_lms:
            code = self._code_fast_lms
        else:
            def code(p: np.ndarray) -> bytes:
                return encode_plane(p, lms)
        if tile.shape[2] == 1:
            plane = np.ascontiguousarray(tile[..., 0])
            intra = bytes((XFORM_NONE,)) + code(plane)
            if ref is None or self.group == 0:
                return intra
            if not self.inter_always and not inter_worth_trying(plane, ref[..., 0]):
                return intra
            ways = [intra]
            if self.inter_fast:  # model id 25 (SPEC 5.15): kind 5 with the reference's P5
                from .encoder_fast import encode_plane_fast

                ways.append(bytes((XFORM_INTER_FAST,)) + encode_plane_fast(
                    plane, ref=np.ascontiguousarray(ref[..., 0])))
            if not self.inter_fast or plane.size <= SMALL_FRAME:
                # SPEC 5.5's tiles: past SMALL_FRAME pixels xform 7 codes smaller
                ways.append(bytes((XFORM_INTER,)) + encode_plane_inter(plane, ref[..., 0]))
            best = min(ways, key=len)
            if best[0] == XFORM_INTER_FAST:
                self.header.model_id = FAST_LMS_INTER_MODEL_ID
            return best
        # RGB: the colour transform usually wins; keep whichever is smaller.
        if self.colour_diff:  # and model id 15's channel differences (SPEC 5.9), 24's wraps
            blob = encode_rgb(tile, code, self.rgb_finalists,
                              self.header.bits_stored if self.wrap else 0,
                              self._code_fast_lms)
            if blob[0] == XFORM_CDIFF and self.header.model_id == FAST_LMS_MODEL_ID:
                self.header.model_id = FAST_LMS_CDIFF_MODEL_ID  # (model id 16 allows it too)
            if blob[0] == XFORM_WRAP:
                self.header.model_id = FAST_LMS_WRAP_MODEL_ID
            return blob
        rct = bytes((XFORM_RCT,)) + b"".join(code(p) for p in rct_forward(tile))
        plain = bytes((XFORM_NONE,)) + b"".join(
            code(np.ascontiguousarray(tile[..., i])) for i in range(3))
        return rct if len(rct) <= len(plain) else plain

    def _code_fast_lms(self, p: np.ndarray) -> bytes:
        """A plane by the kind-5/6 coder with this encoder's models (model id 14 and the
        ones that extend it): the plane coder from effort 3 and, for model id 24, of every
        wrapped difference plane (SPEC 5.14) even where the tile's planes are coded the three
        ways of :meth:`_plane_mixed` (the wrap is for its low classes; the other two coders
        would triple its time)."""
        from .encoder_fast import encode_plane_fast

        pal = DEFAULT_PALETTE if p.size > SMALL_FRAME else 2
        return encode_plane_fast(p, pal, lms=True, prior=self.priors, bands=self.bands,
                                 low=self.low, compact=self.compact)

    @staticmethod
    def _plane_mixed(plane: np.ndarray, lms: bool = False, fast_lms: bool = False,
                     prior: bool = False, bands: bool = False, low: bool = False,
                     compact: bool = False, model1: bool = True) -> bytes:
        """The smallest of the plane coded by the default coder (kinds 0-2; ``lms``: model id
        13's), by the fast coder (kinds 0, 3, 4; palette where it codes smaller) and, with
        ``fast_lms`` (model id 14), by the fast coder with the NLMS filters (kinds 0, 5, 6):
        effort 4 and up; ``prior``: the last with model id 16's priors (SPEC 5.10),
        ``bands``: and model id 18's bands (SPEC 5.11), ``low``: and model id 20's low classes
        (SPEC 5.12), ``compact``: and model id 22's packed tables (SPEC 5.13).  With
        ``fast_lms``, the default coder only with ``model1`` (:data:`MIXED_MODEL1_EFFORT_MIN`)."""
        from .encoder_fast import encode_plane_fast

        ways = [encode_plane(plane, lms)] if model1 or not fast_lms else []
        ways.append(encode_plane_fast(plane, 2))
        if fast_lms:
            ways.append(encode_plane_fast(plane, 2, lms=True, prior=prior, bands=bands, low=low,
                                          compact=compact))
        return min(ways, key=len)

    def _encode_tile_fast(self, tile: np.ndarray) -> bytes:
        """Model id 3 (SPEC 5.6): every plane fast (kind 0, 3, or 4 where fewer than half of
        its range occurs); RGB through the colour transform.  Effort 2 codes sparse planes
        with and without the palette and RGB with and without the transform, keeping the
        smaller."""
        from .encoder_fast import encode_plane_fast

        pal = self.fast  # 1: a palette for sparse planes; 2: only where it codes smaller
        if tile.shape[2] == 1:
            return bytes((XFORM_NONE,)) + encode_plane_fast(np.ascontiguousarray(tile[..., 0]),
                                                            pal)
        rct = bytes((XFORM_RCT,)) + b"".join(encode_plane_fast(p, pal)
                                             for p in rct_forward(tile))
        if self.fast < 2:
            return rct
        plain = bytes((XFORM_NONE,)) + b"".join(
            encode_plane_fast(np.ascontiguousarray(tile[..., i]), pal) for i in range(3))
        return rct if len(rct) <= len(plain) else plain

    def _encode_tile_near(self, tile: np.ndarray) -> bytes:
        from .encoder_near import encode_tile_near

        return encode_tile_near(tile, self.near, self.lms, self.cover, self.near_fast,
                                self.near_mixed,
                                sample_range(self.header.bits_stored, bool(self.header.signed)),
                                self.near_bands, self.near_low, self.compact)
