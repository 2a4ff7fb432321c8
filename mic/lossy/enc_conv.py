"""The tile encoder of the learned convolutional-transform models (SPEC.md 6.10-6.12):
:class:`ConvTileEncoder`, and which encoder options apply to them.  Encoder only; it runs
the float analysis ``g_a`` and ``h_a`` in NumPy (:mod:`mic.models.conv_analysis`,
:mod:`mic.models.npnet`), the integer entropy path shared with the decoder, and
constriction range coding.

Per tile, each sample plane alone: normalise as the wavelet tiles do (SPEC 6.1: ``lo`` the
plane's minimum, ``bits`` the bit length of the image's largest span, as training
normalised its crops), pad to multiples of 64 by edge replication, ``y = g_a(x - 1/2) *
gain_q`` and ``z = h_a(|y|) * zgain_q``, both rounded (half to even); the hyper-latents
under their factorized tables, the latents under the Gaussian tables the integer ``h_s``
chooses (``cnn``, SPEC 6.12: ``z = h_a(y)``, as trained; the anchors' symbols
``round(y - mean)``, then the others', under the means and tables of the integer path
shared with the decoder).  A constant plane is sent as its value alone.  A large region
of one exact value (an MR's black bars, a collimator's shutter) is sent as SPEC 6.6's
shape and value, and filled smoothly before ``g_a`` so that the model codes no step edge
there (xform flag 16, :func:`conv_region`).  Text and graphics that the transform blurs
are set exactly after it by lossless planes (xform flag 64, :meth:`ConvTileEncoder._with_exact`).

Of :class:`~mic.lossy.enc_options.EncoderOptions` only the fields of
:data:`CONV_FIELDS` apply (``regions``: the constant regions, on from effort 3 as for the
wavelet models; ``region_search``, from effort 4: a tile with a region also coded without,
keeping the coding of lower rate + lambda * distortion; ``half_res``, from effort 3, and
``half_search``, from effort 4: tiles at half resolution, xform flag 32, where that is
cheaper; ``exact_samples``, from effort 3: the samples a tile decodes far from the original
set exactly by lossless planes, xform flag 64, where that is cheaper); the wavelet models'
other tools
(``rdo``, ``adapt``, ``restore``, ``means``, ``dq``, ``zadapt``, ``zopt``) and tuned
settings do not, and giving one explicitly with a conv model is a
:class:`~mic.MicInputError` (:func:`check_conv_options`).
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Any

import numpy as np

from ..bitstream import CODER_RANGE32, Header
from ..bitstream.varint import zigzag_array
from ..errors import MicInputError
from ..models.registry import FLAG_GENERATIVE
from .conv_model import LoadedConvModel
from .conv_syntax import (CONST_BITS, CONV_EXACT, CONV_HALF, CONV_REGIONS, CONV_XFORM_COLOUR,
                          CONV_XFORM_PLANES, ConvFields, colour_forward)
from .enc_options import EncoderOptions
from .enc_downsample import downsample2
from .enc_region import fill_region
from .model import load_model
from .syntax import model_segment, pack_region_record
from .upsample import upsample2

#: the tile side of a conv stream whose caller names none
CONV_TILE = 512
#: the EncoderOptions fields that apply to the conv models
CONV_FIELDS = ("model", "tile", "long_model_segment", "effort", "colour_transform", "regions",
               "region_search", "half_res", "half_search", "exact_samples")


def check_conv_options(options: EncoderOptions | None, choices: dict[str, Any]) -> None:
    """Refuse (:class:`MicInputError`) wavelet-only encoder choices given explicitly for a
    conv model: a keyword in ``choices`` other than those of :data:`CONV_FIELDS`
    (whatever its value), or an ``options`` field set
    away from its default (the tool switches the effort resolved are not "set")."""
    given = sorted(k for k in choices if k not in CONV_FIELDS)
    if options is not None:
        defaults = {f.name: f.default for f in dataclasses.fields(options)}
        given += sorted(k for k, v in options.explicit().items()
                        if k not in CONV_FIELDS and k not in given and v != defaults[k])
    if given:
        model = choices.get("model") or (options.model if options is not None else "?")
        raise MicInputError(
            f"encoder option(s) {given} apply only to the wavelet models; model {model!r} "
            f"(learned convolutional transforms) takes only {list(CONV_FIELDS)}")


#: the conv models' region rule (SPEC 6.10, xform flag 16): a region is sent only if its
#: shape costs at most this many bits per pixel it covers (solid regions with simple
#: borders: a fragmented one would cost more than the model saves); chosen on the train
#: sample, research/conv_regions.py
REGION_SHAPE_BITS = 0.02
#: no shape stream is smaller (its word count, five table indexes, one word)
SHAPE_MIN_BITS = 96
#: relaxation sweeps of the region's fill (:func:`mic.lossy.enc_region.fill_region`; the
#: wavelet tiles' 32 cost a 512 x 512 tile with a large region 40 ms for no gain here)
REGION_FILL_SWEEPS = 4
#: an empty shape: a region record without a region
NO_SHAPE = bytes(4)
#: ``half_res`` without ``half_search`` (effort 3) tries half resolution only in images at
#: least this many samples on both sides (on the train split only tiles of the large
#: radiographs and mammograms code better so: research/conv_downscale.py)
HALF_MIN_SIDE = 1024
#: ... and only in tiles whose planes, downsampled and upsampled uncoded, cost less than
#: this times the plain coding's bits in lambda * distortion (on the tiles of the train
#: images of at least 1024 x 1024, five qualities: 61 % of them tried, 123 of the 134 that
#: gain, 83 % of the gain in rate + lambda * distortion)
HALF_SCREEN = 1.0
#: ... and takes it without decoding either coding where that cost is below this times the
#: plain bits (on those tiles: 0.82 of the gain against 0.83 with every tried tile decoded,
#: for about 1.6 against 2.0 times the plain encode time)
HALF_ACCEPT = 0.3
#: ``exact_samples`` (xform flag 64): the error thresholds tried, in sample units as a
#: fraction of the sample range (``2^bits_stored - 1``), largest first, each while the
#: tile's rate + lambda * distortion keeps falling; none is tried unless some sample's
#: error exceeds the first.  On the train split's screens and ultrasounds (three images of
#: six sources, research/conv_exact.py) these two gain -2.78 % against -2.59 % for 1/4 to
#: 1/32, in less time, and never turn a quality into a jump of several times its rate
EXACT_THRESHOLDS = (1 / 4, 1 / 8)
#: ... tried (the tile decoded) only where at least this fraction of its samples are thin
#: and of high contrast (:func:`thin_fraction`: text strokes, graphics, markers); on the
#: train split screens have 0.5-1 %, natural ultrasound 0.1-0.9 %, CT and MR mostly 0
EXACT_GATE = 0.001


def conv_region(p: np.ndarray, options: EncoderOptions) -> tuple[int, np.ndarray, bytes] | None:
    """The constant region a conv tile's integer plane ``p`` sends (value, mask, shape), or
    None.  For each of the plane's most frequent values (:data:`~mic.lossy.enc_region.
    VALUES_TRIED`), its pixels opened by the squares of SPEC 6.6's candidates
    (:func:`mic.lossy.enc_region.opening`, radii :data:`~mic.lossy.enc_region.RADII`:
    3 x 3, 7 x 7, 13 x 13); a mask passes if it covers at least
    ``options.region_rule_fraction`` of the plane and its shape costs at most
    :data:`REGION_SHAPE_BITS` bits a covered pixel.  Each value's smoothest mask is tested
    (its others' shapes cost more for a few more pixels); of the values whose smoothest
    passes, the one covering most is sent, with its exact mask (3 x 3) where that passes
    too.  (Unlike the wavelet tiles' :func:`~mic.lossy.enc_region.constant_regions`, a
    frequent level of a flat field does not hide a solid region of another value.)

    >>> p = np.arange(256 * 256).reshape(256, 256) % 7; p[:, :64] = 0
    >>> v, m, _ = conv_region(p, EncoderOptions()); v, int(m.sum())
    (0, 16384)
    """
    from ..entropy.shape import encode_shape
    from .enc_region import RADII, VALUES_TRIED, opening, value_counts

    def passes(m: np.ndarray) -> bytes | None:
        n = int(m.sum())
        budget = REGION_SHAPE_BITS * n
        if n < options.region_rule_fraction * m.size or n == m.size or budget < SHAPE_MIN_BITS:
            return None
        # each transition that moves from the row above costs the shape more than a bit
        # (1.4 to 21 on the train sample's candidates): refuse without encoding the shape
        step = m[:, 1:] != m[:, :-1]
        if np.count_nonzero(step[1:] != step[:-1]) > budget:
            return None
        shape = encode_shape(m)
        return shape if 8 * len(shape) <= budget else None

    vals, counts = value_counts(p.reshape(-1).astype(np.int64))
    best = None
    for i in np.argsort(-counts, kind="stable")[:VALUES_TRIED]:
        if counts[i] < options.region_rule_fraction * p.size:
            break
        if best is not None and counts[i] <= int(best[1].sum()):
            break  # cannot cover more than it has pixels
        equal = p == vals[i]
        m = opening(equal, RADII[-1])
        shape = passes(m)
        if shape is not None:
            best = (int(vals[i]), m, shape, equal)
    if best is None:
        return None
    value, m, shape, equal = best
    exact = opening(equal, RADII[0])
    if not (exact == m).all():
        shape_e = passes(exact)
        if shape_e is not None:
            m, shape = exact, shape_e
    return value, m, shape


def thin_fraction(p: np.ndarray, span: int) -> float:
    """The fraction of the samples of a plane ``p`` (of a sample range ``span`` wide) at
    least 2 from its border that differ by more than ``span / 4`` from both samples 2 to
    their left and right, or from both 2 above and below: strokes and lines at most 3
    wide, of high contrast (a tile's text and graphics).

    >>> p = np.zeros((16, 16), np.int64); p[8, :] = 255
    >>> thin_fraction(p, 255)  # the 12 samples of the line 2 or more from the border
    0.046875
    """
    if min(p.shape) < 5:
        return 0.0
    x = p.astype(np.int64)
    t = span / 4
    c = x[2:-2, 2:-2]
    h = (np.abs(c - x[2:-2, :-4]) > t) & (np.abs(c - x[2:-2, 4:]) > t)
    v = (np.abs(c - x[:-4, 2:-2]) > t) & (np.abs(c - x[4:, 2:-2]) > t)
    return float(np.count_nonzero(h | v)) / p.size


def analysis_of(lm: LoadedConvModel) -> tuple[Any, Any]:
    """(``g_a`` with the latent gains, ``h_a`` or None for ae) of ``lm``, built once per
    loaded model."""
    got = lm.derived.get("analysis")
    if got is None:
        from ..models.conv_analysis import ConvAnalysis
        from ..models.npnet import HyperAnalysis

        got = lm.derived["analysis"] = (
            ConvAnalysis(lm.tensors, "g_a"),
            HyperAnalysis(lm.tensors, "h_a") if lm.uses_hyper else None)
    return got


class ConvTileEncoder:
    """Encode tiles with a conv model (``options.model``, e.g. ``"vae"``) at ``quality``."""

    def __init__(self, header: Header, quality: int, options: EncoderOptions) -> None:
        self.options = options
        lm = load_model(options.model)
        if not isinstance(lm, LoadedConvModel):
            raise MicInputError(f"model {options.model!r} is not a convolutional-transform model")
        self.lm: LoadedConvModel = lm
        if not 0 <= quality < lm.n_qualities:
            raise MicInputError(
                f"quality {quality} out of range for model {lm.name}: 0..{lm.n_qualities - 1}")
        self.quality = quality
        header.model_id = lm.id
        if lm.generative:  # SPEC 3, 6.13: exactly the generative models' streams set it
            header.flags |= FLAG_GENERATIVE
        header.coder_id = CODER_RANGE32
        header.quality = quality
        if header.tile_rows == 0 and header.tile_cols == 0:
            header.tile_rows = header.tile_cols = CONV_TILE
        self.header = header
        self.fields = ConvFields(header.version_major)
        #: normalisation bits shared by every tile (see :meth:`plan`); None: each tile's own
        self.span_bits: int | None = None
        #: ideal bits of the coded symbols so far (the tables' information content)
        self.information_bits = 0.0
        #: this stream's tile decoder, made when a tile is first coded two ways
        self._decoder: Any = None
        #: whether the image is large enough for ``half_res`` alone (:data:`HALF_MIN_SIDE`)
        self._half_image = False

    def plan(self, v: np.ndarray) -> None:
        """See the whole image ``v`` (frames, rows, cols, samples) before its tiles: every
        plane is normalised by the bits of the image's largest span (SPEC 6.1)."""
        self._half_image = min(v.shape[1:3]) >= HALF_MIN_SIDE
        if v.size:
            if self._colour(v.shape[-1]):  # the spans of the colour planes (xform 1)
                v = colour_forward(v.reshape(-1, v.shape[-2], 3))
                v = v.reshape(1, *v.shape)
            lo = v.min(axis=(0, 1, 2)).astype(np.int64)
            hi = v.max(axis=(0, 1, 2)).astype(np.int64)
            self.span_bits = max(1, int((hi - lo).max()).bit_length())

    def _colour(self, samples: int) -> bool:
        """Whether tiles of ``samples`` samples are coded as colour planes (xform 1)."""
        return samples == 3 and self.options.colour_transform

    def extra_segments(self) -> list[tuple[bytes, bytes]]:
        lm = self.lm
        return [model_segment(lm.id, lm.sha256, lm.table_id, lm.n_qualities,
                              self.options.long_model_segment)]

    def encode_tile(self, tile: np.ndarray) -> bytes:
        """int32 (h, w, S) native samples -> payload bytes: the xform, then per plane (the
        samples, or RGB's colour planes: xform 1) its norm record and, unless it is
        constant, its region record (xform flag 16) and its coded plane.  Codings tried
        beside the plain one, keeping the one of lower rate + lambda * distortion (the
        quality's training lambda; each decoded): with ``region_search`` (from effort 4) a
        tile with a region also without it; with ``half_search`` (effort 4) each of those
        at half resolution too (xform flag 32).  With ``half_res`` alone (effort 3), in an
        image of at least :data:`HALF_MIN_SIDE` on both sides, the half resolution where
        the upsampling's own error costs less than :data:`HALF_SCREEN` times the plain
        coding's bits, taken without a decode where it costs less than
        :data:`HALF_ACCEPT` times them."""
        opts = self.options
        colour = self._colour(tile.shape[2])
        xform = CONV_XFORM_COLOUR if colour else CONV_XFORM_PLANES
        planes = colour_forward(tile) if colour else tile
        regions = [conv_region(p, opts) if p.min() != p.max() and opts.regions
                   else None for p in (planes[:, :, c] for c in range(planes.shape[2]))]
        tries = [regions]
        if any(regions) and opts.region_search:
            tries.append([None] * len(regions))
        codings: list[tuple[bytes, float]] = []
        for regs in tries:
            prepared = self._prepared(planes, regs)
            codings.append(self._coded(prepared, xform, any(regs), False))
            coded = any(x is not None for _, _, x, _, _ in prepared)
            if opts.half_search and coded:
                codings.append(self._coded(prepared, xform, any(regs), True))
            elif opts.half_res and self._half_image and coded:
                plain_bits = 8 * len(codings[-1][0])
                ceiling = self._ceiling_cost(prepared)
                if ceiling < HALF_SCREEN * plain_bits:
                    half = self._coded(prepared, xform, any(regs), True)
                    if ceiling < HALF_ACCEPT * plain_bits and len(tries) == 1:
                        codings = [half]
                    else:
                        codings.append(half)
        if len(codings) > 1:
            costs = [self._cost(payload, planes, colour) for payload, _ in codings]
            codings = [codings[int(np.argmin(costs))]]
        payload, info = codings[0]
        if opts.exact_samples:
            payload = self._with_exact(payload, tile, planes, colour)
        self.information_bits += info
        return payload

    def _with_exact(self, payload: bytes, tile: np.ndarray, planes: np.ndarray,
                    colour: bool) -> bytes:
        """``payload``, or it with xform flag 64 and one lossless plane a sample setting
        exactly the samples whose decoded error exceeds a threshold
        (:data:`EXACT_THRESHOLDS`, largest first), whichever codes at the lowest rate +
        lambda * distortion (:meth:`_cost`'s measure; the distortion computed from the
        decoded tile, the exact samples' error 0).  Tried only in tiles with thin
        high-contrast structures (:data:`EXACT_GATE`), each decoded once."""
        from ..lossless.encoder_fast import encode_plane_fast

        lo_r, hi_r = self.sample_range
        span = hi_r - lo_r
        if not span or max(thin_fraction(tile[:, :, c], span)
                           for c in range(tile.shape[2])) < EXACT_GATE:
            return payload
        out = self._decode(payload, tile.shape)
        err = np.abs(out - tile)
        if err.max() <= EXACT_THRESHOLDS[0] * span:
            return payload
        best, best_cost = payload, self._cost_of(payload, out, planes, colour)
        f = self.fields
        flags, off = f.read_xform(memoryview(payload), 0)
        head, body = f.pack_xform(flags | CONV_EXACT), payload[off:]
        for frac in EXACT_THRESHOLDS:
            hit = err > frac * span
            fixed = np.where(hit, tile, out)
            extra = b"".join(
                encode_plane_fast(np.where(hit[:, :, c], tile[:, :, c] - lo_r + 1, 0)
                                  .astype(np.int32), 2, lms=True, prior=True)
                for c in range(tile.shape[2]))
            cand = head + body + extra
            cost = self._cost_of(cand, fixed, planes, colour)
            if cost >= best_cost:
                break
            best, best_cost = cand, cost
        return best

    @property
    def sample_range(self) -> tuple[int, int]:
        """The header's sample range ``(a, b)`` (SPEC 3)."""
        from ..bitstream.samples import sample_range

        return sample_range(self.header.bits_stored, bool(self.header.signed))

    def _decode(self, payload: bytes, shape: tuple[int, ...]) -> np.ndarray:
        """The tile ``payload`` decoded by this stream's tile decoder, int64 samples."""
        from .dec_conv import ConvTileDecoder

        if self._decoder is None:
            self._decoder = ConvTileDecoder.for_model(self.lm, self.header)
        out = np.empty(shape, np.int64)
        self._decoder.decode_into(memoryview(payload), shape[0], shape[1], out)
        return out

    def _coded(self, prepared: list, xform: int, flagged: bool, halved: bool
               ) -> tuple[bytes, float]:
        """(:meth:`_payload`, the information bits of its symbols), leaving
        :attr:`information_bits` as it was."""
        info0 = self.information_bits
        payload = self._payload(prepared, xform, flagged, halved)
        info, self.information_bits = self.information_bits - info0, info0
        return payload, info

    def _prepared(self, planes: np.ndarray, regions: list[tuple[int, np.ndarray, bytes] | None]
                  ) -> list[tuple[int, int, np.ndarray | None, tuple | None, list]]:
        """Per plane (lo, bits, its float image in [0, 1] units or None for a constant
        plane, its region, a one-item cache of its half-resolution plane)."""
        out = []
        for c, region in enumerate(regions):
            p = planes[:, :, c]
            lo, hi = int(p.min()), int(p.max())
            if lo == hi:
                out.append((lo, CONST_BITS, None, None, []))
                continue
            bits = self._plane_bits(lo, hi)
            x = p.astype(np.float64)
            if region is not None:  # the model codes a smooth fill where the region will be
                x = fill_region(x, region[1], REGION_FILL_SWEEPS)
            out.append((lo, bits, (x - lo) / float((1 << bits) - 1), region, []))
        return out

    @staticmethod
    def _half(cache: list, x: np.ndarray) -> np.ndarray:
        if not cache:
            cache.append(downsample2(x))
        return cache[0]

    def _ceiling_cost(self, prepared: list) -> float:
        """lambda * 255^2 * the squared error of the half-resolution planes upsampled,
        uncoded (about the least a half-resolution coding's distortion can cost: they are
        the least-squares half planes)."""
        err = 0.0
        for _, _, x, _, cache in prepared:
            if x is not None:
                err += float(np.sum((upsample2(self._half(cache, x), *x.shape) - x) ** 2))
        return self._lambda255() * err

    def _payload(self, prepared: list, xform: int, flagged: bool, halved: bool = False) -> bytes:
        """The payload of a tile's :meth:`_prepared` planes, with region records if
        ``flagged``, at half resolution if ``halved``."""
        f = self.fields
        flags = xform | (CONV_REGIONS if flagged else 0) | (CONV_HALF if halved else 0)
        out = [f.pack_xform(flags)]
        for lo, bits, x, region, cache in prepared:
            out.append(f.pack_norm(lo, bits))
            if x is None:
                continue
            if region is not None:
                out.append(pack_region_record([region[0]], region[2]))
            elif flagged:
                out.append(pack_region_record([0], NO_SHAPE))
            out.append(self.encode_plane(self._half(cache, x) if halved else x))
        return b"".join(out)

    def _plane_bits(self, lo: int, hi: int) -> int:
        """The normalisation bits of a plane of values ``lo..hi`` (SPEC 6.10: at least the
        bits of the image's largest span)."""
        return max(1, (hi - lo).bit_length(), self.span_bits or 1)

    def _cost(self, payload: bytes, planes: np.ndarray, colour: bool) -> float:
        """Bits + lambda * 255^2 * the squared error of ``payload`` decoded, in the coded
        planes' normalised units (``planes``: the tile's (h, w, S) samples, or its colour
        planes), the quality's training loss."""
        return self._cost_of(payload, self._decode(payload, planes.shape), planes, colour)

    def _cost_of(self, payload: bytes, out: np.ndarray, planes: np.ndarray,
                 colour: bool) -> float:
        """:meth:`_cost` of ``payload`` whose decoded samples are ``out``."""
        if colour:
            out = colour_forward(out)
        err = 0.0
        for c in range(planes.shape[2]):
            p = planes[:, :, c]
            bits = self._plane_bits(int(p.min()), int(p.max()))
            err += float(np.sum(((out[:, :, c] - p) / float((1 << bits) - 1)) ** 2))
        return 8.0 * len(payload) + self._lambda255() * err

    def _lambda255(self) -> float:
        """The quality's training lambda times 255^2: bits per unit of squared error in the
        planes' normalised units (:meth:`_cost`, :meth:`_ceiling_cost`)."""
        return float(self.lm.config["lambdas"][self.quality]) * 255.0 ** 2

    def latents(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A float plane -> (rounded hyper-latents, float gained latents ``y``): ``z =
        h_a(|y|)`` (vae) or ``h_a(y)`` (cnn, as trained) times ``zgain``, half to even."""
        from ..quant import quantize_residual

        lm, q = self.lm, self.quality
        a = lm.align
        h, w = x.shape
        xp = np.pad(x, ((0, (-h) % a), (0, (-w) % a)), mode="edge")
        g_a, h_a = analysis_of(lm)
        y = g_a(xp, q)
        if not lm.uses_hyper:  # ae: no hyper-latents
            return np.zeros((0, y.shape[1] // 4, y.shape[2] // 4), np.int32), y
        z = h_a(y if lm.uses_means else np.abs(y)) * np.float32(lm.zgain[q])
        return quantize_residual(z, np.zeros(z.shape)), y

    def coded_parts(self, x: np.ndarray) -> tuple[list[tuple[np.ndarray, np.ndarray, Any]],
                                                  np.ndarray, np.ndarray]:
        """A float plane -> (its parts in coding order, each (values, tables, bank);
        the hyper-latents; the latent symbols (M, Hp/16, Wp/16) the CRC covers)."""
        from ..models.conv_meanscale import MEAN_FRAC
        from ..quant import quantize_residual

        lm = self.lm
        zq, y = self.latents(x)
        ztab = np.repeat(np.arange(lm.nz, dtype=np.int32), zq.shape[1] * zq.shape[2])
        parts = [(zq, ztab, lm.zbank)] if lm.uses_hyper else []
        if not lm.uses_means:
            yq = quantize_residual(y, np.zeros(y.shape))
            return parts + [(yq, lm.latent_tables(zq, self.quality, yq.shape), lm.ybank)], zq, yq
        # cnn (SPEC 6.12): the anchors under ep(hf, 0), then the others under ep(hf, ctx)
        pl = lm.meanscale.plane(zq, self.quality)
        y2 = y.reshape(y.shape[0], -1)
        unit = 2.0 ** -MEAN_FRAC
        mean_a, tab_a = pl.anchor_params()
        sym_a = quantize_residual(y2[:, pl.anchors], mean_a * unit)
        mean_o, tab_o = pl.nonanchor_params(sym_a)
        sym_o = quantize_residual(y2[:, pl.others], mean_o * unit)
        parts += [(sym_a, tab_a, lm.ybank), (sym_o, tab_o, lm.ybank)]
        return parts, zq, pl.assemble(sym_a, sym_o)

    def encode_plane(self, x: np.ndarray) -> bytes:
        """A float plane (h, w) in [0, 1] units -> its coded plane (head and words)."""
        from ..entropy import encode_escapes, encode_grouped, information_bits, new_encoder, words
        from ..quant import split_escapes

        parts, zq, yq = self.coded_parts(x)
        enc = new_encoder()
        for v, tab, bank in parts:
            sym, esc = split_escapes(v.reshape(-1), tab.reshape(-1), bank.tables.half)
            encode_grouped(enc, sym, tab, bank)
            encode_escapes(enc, zigzag_array(esc, np.uint32))
            self.information_bits += information_bits(sym, tab, bank)
        crc = zlib.crc32(np.ascontiguousarray(yq, "<i4").tobytes(),
                         zlib.crc32(np.ascontiguousarray(zq, "<i4").tobytes()))
        w = words(enc).astype("<u4")
        return self.fields.pack_cplane(crc, w.size) + w.tobytes()


__all__ = ["CONV_FIELDS", "CONV_TILE", "ConvTileEncoder", "analysis_of", "check_conv_options",
           "thin_fraction"]
