"""The lossy tile encoder (SPEC.md 6): :class:`LossyTileEncoder` (the tilings ``mic.encode``
chooses among: :mod:`mic.lossy.enc_tilings`).  Encoder only: its choices come in an
:class:`~mic.lossy.enc_options.EncoderOptions`; its estimates and searches are in
:mod:`mic.lossy.enc_rdo`, the constant regions in :mod:`mic.lossy.enc_region`, the
restoration fit in :mod:`mic.lossy.enc_restore`.
"""

from __future__ import annotations

import math
import struct
import zlib
from typing import Any

import numpy as np

from ..bitstream import CODER_RANGE32, Header
from ..bitstream.samples import sample_range
from ..bitstream.varint import zigzag_array
from ..errors import MicInputError
from ..models.wavelet import ALIGN, LEVELS
from .enc_options import EncoderOptions
from .enc_rdo import (
    SubbandBits, best_biases, choose_z_tables, fit_predictor, table_costs, z_channel_choice,
    z_channel_choices, z_record_bits, z_record_from,
)
from .enc_tilings import DEFAULT_TILE
from .model import load_model
from .passes import YCC, YCC_OFFSET, Planes, reconstruct, rgb_to_samples, to_samples, z_channels
from .syntax import (
    BIAS_MAX, DQ_ONE, DQ_UNIT, NPASS_BIAS, PRED_ONE, WHOLE_TILE, XFORM_BIAS, XFORM_DQ, XFORM_MEANS,
    XFORM_NONE, XFORM_PASS_BIAS, XFORM_REGION, XFORM_RESTORE, XFORM_RESTORE_DIR, XFORM_YCC,
    XFORM_INLINE_BIAS, XFORM_YCC_REGION, XFORM_ZTAB, ZOFF_MAX, TileFields, model_segment, pack_region_record,
    z_record_values,
)

def _up2(v: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(v, 2, 0), 2, 1)


def hyper_input(ys: list[np.ndarray]) -> np.ndarray:
    """Encoder-side input of ``h_a`` (mirror of ``WaveletModel.hyper_input``)."""
    maps = []
    for i, y in enumerate(ys):
        lvl = LEVELS if i == 0 else (i - 1) // 3 + 1
        m = np.log2(1 + np.abs(y)).astype(np.float32)
        s = 4 - lvl
        if s > 0:
            k = 1 << s
            m = m.reshape(m.shape[0] // k, k, m.shape[1] // k, k).mean(axis=(1, 3))
        elif s < 0:
            m = _up2(m)
        maps.append(m)
    return np.stack(maps)


def _pad(x: np.ndarray) -> np.ndarray:
    h, w = x.shape
    ph, pw = (-h) % ALIGN, (-w) % ALIGN
    return np.pad(x, ((0, ph), (0, pw)), mode="edge") if ph or pw else x


class LossyTileEncoder:
    """Encode tiles with a learned model (see :mod:`mic.lossy`) as ``options`` (an
    :class:`~mic.lossy.enc_options.EncoderOptions`) say, the keyword ``choices`` filled in
    (:meth:`~mic.lossy.enc_options.EncoderOptions.with_choices`).

    The choices: ``model`` (``"wavelet-context"`` default, ``"wavelet-hyperprior"``, ``"wavelet-factorized"``); ``rdo`` (default True):
    rate-distortion optimised rounding of the subbands (the decoder is the same either
    way); ``regions`` (default True): try coding a plane's exact-constant region (CT
    padding, black bars, the outside of an ultrasound sector) as a shape and a value,
    keeping whichever costs less in rate + lambda * distortion (SPEC 6.6; the encoder
    then codes each such plane up to four times); ``adapt`` (default True): per tile,
    bias each band's table indexes where that codes the tile in fewer bits (SPEC 6.4; a
    second coding pass); ``restore`` (default True): fit a restoration filter to the
    decoded tile and send it where it lowers rate + lambda * distortion (SPEC 6.7,
    :mod:`mic.lossy.enc_restore`); ``means`` (default True): code each detail band's
    non-anchors about a mean predicted from their four anchors by two weights fitted to
    the band and sent where they save bits (SPEC 6.4; a tile flag, and a bit per band
    whose anchors are not all zero even where the band uses none); ``dq`` (default True):
    code the detail bands with the dependent quantiser (SPEC 6.8: a tile flag; each pass's
    symbols chosen by a Viterbi search, about 10-20 % more encode time); ``zadapt``
    (default True, hyperprior models): per plane, code hyper-latent channels about an offset under
    a latents' table where that saves bits (SPEC 6.9: a tile flag, set only where some plane
    of the tile has such a channel); ``zopt`` (default True, hyperprior models): per plane, send
    as 0 the hyper-latent channels whose bits buy fewer bits of the subbands than they
    cost (an encoder choice, SPEC 6.9; about 1.4 times the encode time).

    ``measure=True`` also keeps :attr:`information_bits`, the ideal code length of every
    symbol coded so far (a check of the range coder; no choice depends on it).
    """

    def __init__(self, header: Header, quality: int, options: EncoderOptions | None = None,
                 measure: bool = False, **choices: Any) -> None:
        if options is not None and not isinstance(options, EncoderOptions):
            raise MicInputError(f"options must be an EncoderOptions, got {options!r}")
        self.options = o = (options or EncoderOptions()).with_choices(**choices)
        if not o.colour_transform:
            raise MicInputError("colour_transform=False applies to the conv models; the "
                                "wavelet models code RGB through SPEC 6.1's colour transform")
        self.lm = lm = load_model(o.model)
        if not 0 <= quality < lm.n_qualities:
            raise MicInputError(
                f"quality {quality} out of range for model {o.model}: 0..{lm.n_qualities - 1}")
        self.quality = quality
        self.zadapt = o.zadapt and lm.uses_hyper  # (the ae has no hyper-latents)
        self.zopt = o.zopt and lm.uses_hyper
        self._zrecord = False  # this tile's planes carry hyper-latent records (SPEC 6.9)
        self._fronts: list[tuple[np.ndarray, Any]] = []  # the tile's analysed planes (_front)
        self._zdrops: dict[int, np.ndarray] = {}  # per plane of the tile: zopt's zeroed channels
        #: the training loss's lambda * 255^2 (per unit of squared error in pixel units)
        self.lam = float(lm.config["lambdas"][quality]) * 255.0 ** 2
        header.model_id = lm.id
        self.sample_range = sample_range(header.bits_stored, bool(header.signed))
        header.coder_id = CODER_RANGE32
        header.quality = quality
        if header.tile_rows == 0 and header.tile_cols == 0:
            header.tile_rows = header.tile_cols = DEFAULT_TILE
        self.header = header
        self.fields = TileFields(header.version_major)
        #: the tiles' passes may carry their own table biases (XFORM_INLINE_BIAS, stream
        #: version 2 only); :meth:`encode_tile` sets :attr:`inline` per tile (tiles of at
        #: least ``inline_min_pixels``); ``adapt``'s per-plane biases go to the others
        self.inline_ok = bool(o.inline_biases) and self.fields.v2
        self.inline = self.inline_ok
        #: normalisation bits shared by every tile (see :meth:`plan`); None: each tile's own
        self.span_bits: int | None = None
        #: with ``measure``: ideal bits of the coded symbols so far (the tables' information
        #: content, and each escape's code), a check of the range coder for tests and
        #: research; it decides nothing, so by default it is not kept (summing it held the
        #: GIL for about a tenth of a two-thread encode's GIL time)
        self.measure = bool(measure)
        self.information_bits = 0.0
        #: the squared error of each coded tile's decoded samples against the input, where
        #: the encoder made them (restoration or a region: the decoder's exact output), or
        #: None where it did not; one list shared by the per-thread copies of _assemble
        #: (:attr:`sse`, the tiling choice's distortion without a decode)
        self.tile_sse: list[float | None] = []

    def plan(self, v: np.ndarray) -> None:
        """See the whole image ``v`` (frames, rows, cols, samples) before its tiles: every
        tile is then normalised by the bits of the image's largest span, so one quality
        quantises every tile with the same step (a tile normalised by its own smaller span
        would get a finer one, spending bits where they buy the least PSNR)."""
        if v.size:
            lo = v.min(axis=(0, 1, 2)).astype(np.int64)
            hi = v.max(axis=(0, 1, 2)).astype(np.int64)
            self.span_bits = max(1, int((hi - lo).max()).bit_length())

    def sample_lam(self, scale: float) -> float:
        """The quality's lambda per squared sample unit of a plane normalised by ``scale``
        (``2**bits - 1``)."""
        return self.lam / (scale * scale)

    def rd_cost(self, nbytes: int, sse: float) -> float:
        """Rate + lambda * distortion of a whole stream of ``nbytes`` whose decoded samples
        differ from the input by the squared error ``sse`` (after :meth:`plan`; the
        lambda of the quality, per squared sample unit of the image's normalisation)."""
        return 8.0 * nbytes + self.sample_lam(float((1 << (self.span_bits or 1)) - 1)) * sse

    @property
    def sse(self) -> float | None:
        """The squared error of every tile coded so far against its input, as the decoder
        will reconstruct it, or None if some tile's decoded samples were not made."""
        if any(e is None for e in self.tile_sse):
            return None
        return float(sum(self.tile_sse))

    def _bits(self, span: int) -> int:
        """Normalisation bits of a tile whose largest span is ``span``."""
        return max(1, span.bit_length(), self.span_bits or 1)

    def extra_segments(self) -> list[tuple[bytes, bytes]]:
        lm = self.lm
        return [model_segment(lm.id, lm.sha256, lm.table_id, lm.n_qualities,
                              self.options.long_model_segment)]

    def encode_tile(self, tile: np.ndarray) -> bytes:
        """int32 (h, w, S) native samples -> payload bytes."""
        from .enc_restore import fit_filters

        o = self.options
        rgb = tile.shape[2] == 3  # else one sample: a grey plane
        self.inline = self.inline_ok and tile.shape[0] * tile.shape[1] >= o.inline_min_pixels
        self._fronts = []
        self._zdrops = {}
        self._zrecord = self._wants_zrecord(tile)
        region, body, bias, rec, mask = self._choose(
            tile, self._code_rgb if rgb else self._code_gray)
        flag = XFORM_BIAS if bias is not None else 0
        if bias is not None and bias[0].size == NPASS_BIAS:
            flag |= XFORM_PASS_BIAS
        if not (region is not None and rec is None):  # planes follow
            flag |= (XFORM_MEANS if o.means else 0) | (XFORM_DQ if o.dq else 0) | \
                (XFORM_ZTAB if self._zrecord else 0) | (XFORM_INLINE_BIAS if self.inline else 0)
        f = self.fields
        bits, k = [], 0  # the norms' bits at the start of the body, and where they end
        for _ in range(tile.shape[2]):
            _, b, k = f.read_norm(body, k)
            bits.append(b)
        out = rec
        if o.restore and rec is not None:
            lam = self.sample_lam(float((1 << bits[0]) - 1))
            record, out, directional = fit_filters(rec, tile, mask, bits, lam,
                                                   self.sample_range,
                                                   f.v2 and o.restore_directions,
                                                   o.restore_search)
            if record is not None:
                flag |= XFORM_RESTORE | (XFORM_RESTORE_DIR if directional else 0)
                body += record  # after the last plane (SPEC 6.7)
        if region is not None and rec is None:  # one value: exact
            self.tile_sse.append(0.0)
        elif out is not None:
            err = np.asarray(out, np.float64) - tile
            self.tile_sse.append(float(np.sum(err * err)))
        else:
            self.tile_sse.append(None)
        if region is None:
            return f.pack_xform((XFORM_YCC if rgb else XFORM_NONE) | flag) + body
        return (f.pack_xform((XFORM_YCC_REGION if rgb else XFORM_REGION) | flag)
                + body[:k] + region + body[k:])

    def _code_gray(self, t: np.ndarray, recon: bool, bias: Any = "auto"
                   ) -> tuple[bytes, np.ndarray | None, float, Any]:
        """(norm + plane, decoded samples or None, normalisation scale, table biases used)
        of an (h, w, 1) tile; ``bias`` as :meth:`_encode_planes`."""
        xs, (lo,), bits, scale = self._normalise(t)
        coded, bias = self._encode_planes(xs, recon, bias)
        data, rec = coded[0]
        out = None if rec is None else to_samples(rec, scale, lo, self.sample_range)[:, :, None]
        return self.fields.pack_norm(lo, bits) + data, out, scale, bias

    def _code_rgb(self, t: np.ndarray, recon: bool, bias: Any = "auto"
                  ) -> tuple[bytes, np.ndarray | None, float, Any]:
        """(norms + Y, C1, C2 planes, decoded samples or None, scale, table biases used) of
        an (h, w, 3) tile."""
        xs, lo, bits, scale = self._normalise(t)
        coded, bias = self._encode_planes(xs, recon, bias)
        body = b"".join(self.fields.pack_norm(lo[c], bits) for c in range(3)) + \
            b"".join(d for d, _ in coded)
        if not recon:
            return body, None, scale, bias
        return body, rgb_to_samples(np.stack([r for _, r in coded], -1), scale, lo,
                                  self.sample_range), scale, bias

    def _encode_planes(self, xs: list[np.ndarray], recon: bool, bias: Any
                       ) -> tuple[list[tuple[bytes, np.ndarray | None]], Any]:
        """Code a tile's float planes; ``bias`` = ``None`` (no table biases), a list of
        per-plane bias vectors, or ``"auto"``: a first pass with none, then, if biasing the
        tables (SPEC 6.4) codes the first pass's symbols in fewer bits than the biases cost,
        a second pass with the best bias per band (``adapt=False``, or a tile with inline
        biases: never)."""
        if isinstance(bias, str):
            if not self.options.adapt or self.inline:  # adapt where no inline biases
                bias = None
            else:
                info0 = self.information_bits
                records: list[list] = [[] for _ in xs]
                first = [self._encode_plane(x, recon, record=r, plane=k)
                         for k, (x, r) in enumerate(zip(xs, records))]
                o = self.options
                forms = [[best_biases(r, self.lm, per_pass) for r in records]
                         for per_pass in ((False, True) if o.pass_biases else (False,))]
                picks = max(forms, key=lambda f: sum(saved for _, saved in f))
                if sum(saved for _, saved in picks) <= o.bias_min_gain_bits * len(xs):
                    return first, None
                info1 = self.information_bits
                self.information_bits = info0
                bias = [b for b, _ in picks]
                second = [self._encode_plane(x, recon, b, plane=k)
                          for k, (x, b) in enumerate(zip(xs, bias))]
                if sum(len(d) for d, _ in second) >= sum(len(d) for d, _ in first):
                    self.information_bits = info1  # the RD rounding ate the estimate
                    return first, None
                return second, bias
        if bias is None:
            return [self._encode_plane(x, recon, plane=k) for k, x in enumerate(xs)], None
        return [self._encode_plane(x, recon, b, plane=k)
                for k, (x, b) in enumerate(zip(xs, bias))], bias

    def _choose(self, t: np.ndarray, code  # noqa: ANN001
                ) -> tuple[bytes | None, bytes, Any, np.ndarray | None, np.ndarray | None]:
        """(region record or None, body, table biases, decoded samples or None, region mask
        or None) of a tile's planes ``t`` (h, w, k) coded by ``code``: plainly, or with one
        of the constant-region candidates (SPEC 6.6) if that costs less in rate + lambda *
        distortion."""
        from ..entropy.shape import encode_shape
        from .enc_region import RADII, constant_regions, edge_contrast, fill_region, rule_candidate

        o = self.options
        if o.regions and t.size and all(int(t[:, :, c].min()) == int(t[:, :, c].max())
                                           for c in range(t.shape[2])):
            # one value in every plane: the record alone, no plane (SPEC 6.6)
            k = t.shape[2]
            values = [int(t[0, 0, c]) for c in range(k)]
            norms = b"".join(self.fields.pack_norm(v, 1) for v in values)
            record = pack_region_record(values, struct.pack("<I", WHOLE_TILE))
            return record, norms, None, None, None
        info0 = self.information_bits
        if o.regions and not o.region_search:  # by rule, one coding (EncoderOptions)
            big = t.shape[0] * t.shape[1] >= o.region_rule_pixels

            def takes(values: tuple[int, ...], m: np.ndarray) -> bool:
                return bool(m.mean() >= o.region_rule_fraction and edge_contrast(t, values, m)
                            >= o.region_rule_contrast * self._rmse())

            cand = rule_candidate(t, o.region_rule_exact_ratio, o.region_rule_fraction,
                                  takes) if big else []
            if cand:  # a candidate the rule takes
                return self._code_region(t, code, cand[0])
            body, rec, _, bias = code(t, o.restore)
            return None, body, bias, rec, None
        body, rec, scale, bias = code(t, o.regions or o.restore)
        if not o.regions:
            return None, body, bias, rec, None
        masks = ([(v, m) for v, m, _ in rule_candidate(t, o.region_rule_exact_ratio)]
                 if o.region_radii == (RADII[-1],) else constant_regions(t, o.region_radii))
        if not masks:
            return None, body, bias, rec, None
        lam = o.region_lambda_scale * self.sample_lam(scale)

        def cost(nbytes: int, out: np.ndarray) -> float:
            err = out.astype(np.float64) - t
            return lam * float(np.sum(err * err)) + 8.0 * nbytes

        best = (cost(len(body), rec), None, body, self.information_bits - info0, rec, None)
        for values, m in masks:
            self.information_bits = info0
            shape = encode_shape(m)
            filled = np.stack([np.rint(fill_region(t[:, :, c], m)) for c in range(t.shape[2])],
                              -1).astype(np.int32)
            body_f, rec_f, _, _ = code(filled, True, bias)  # the plain coding's biases
            rec_f[m] = values
            record = pack_region_record(values, shape)
            j = cost(len(body_f) + len(record), rec_f)
            if j < best[0]:
                best = (j, record, body_f, self.information_bits - info0 + 8.0 * len(shape),
                        rec_f, m)
            if 8.0 * len(shape) < o.region_stop * best[0]:
                break  # the smoother candidates mainly save shape bits: too few to matter
        self.information_bits = info0 + best[3]
        return best[1], best[2], bias, best[4], best[5]

    def _rmse(self) -> float:
        """The RMS error (sample units) the quality's lambda implies at high rate: where
        rate falls by ``lambda`` bits per unit of squared error, ``D = 1 / (2 ln 2
        lambda)`` per sample."""
        lam = self.sample_lam(float((1 << (self.span_bits or 1)) - 1))
        return math.sqrt(1.0 / (2.0 * math.log(2.0) * max(lam, 1e-300)))

    def _code_region(self, t: np.ndarray, code, cand  # noqa: ANN001
                     ) -> tuple[bytes | None, bytes, Any, np.ndarray | None, np.ndarray | None]:
        """:meth:`_choose`'s result for the planes ``t`` coded once, with the constant-region
        candidate ``cand`` = (values, mask, its encoded shape or None)."""
        from ..entropy.shape import encode_shape
        from .enc_region import fill_region

        values, m, shape = cand
        shape = encode_shape(m) if shape is None else shape
        filled = np.stack([np.rint(fill_region(t[:, :, c], m)) for c in range(t.shape[2])],
                          -1).astype(np.int32)
        body, rec, _, bias = code(filled, True)
        rec[m] = values
        self.information_bits += 8.0 * len(shape)
        return pack_region_record(values, shape), body, bias, rec, m

    def _front(self, x: np.ndarray, plane: int = 0
               ) -> tuple[list[np.ndarray], int, int, Any, Any]:
        """(scaled subbands ``y_b`` in band order, padded rows, cols, rounded hyper-latents
        (hyperprior models; else None), and with ``zadapt`` their record choice (record, net gain
        in bits)) of a float plane, the tile's ``plane``-th.  Kept for the tile: the
        records' check, the plain coding and the table-bias second pass see the same
        planes; with ``zopt`` the hyper-latents are the encoder's choice (the first coding
        of the tile's ``plane``-th plane makes it, its constant-region candidates reuse it)."""
        from ..models.wavelet import dwt97
        from ..quant import quantize_residual

        for key, got in self._fronts:
            if key is x or (key.shape == x.shape and np.array_equal(key, x)):
                return got
        lm = self.lm
        xp = _pad(x) - 0.5
        ll, bands = dwt97(xp, LEVELS)
        g = np.exp(lm.log_gain[self.quality]) * lm.norms
        ys = [ll * g[0]] + [bands[lv][o] * g[1 + 3 * lv + o] for lv in range(LEVELS)
                            for o in range(3)]
        zq = zrec = None
        if lm.uses_hyper:
            z = lm.h_a(hyper_input(ys)) * np.float32(lm.zgain[self.quality])
            zq = quantize_residual(z, np.zeros(z.shape))
            if self.zopt:  # the tile's first coding of this plane chooses; the others
                # (its constant-region candidates) zero the same channels
                if plane not in self._zdrops:
                    opt = self._optimise_z(ys, xp.shape[0], xp.shape[1], zq)
                    self._zdrops[plane] = np.flatnonzero(zq.any(axis=(1, 2)) &
                                                         ~opt.any(axis=(1, 2)))
                zq = zq.copy()
                zq[self._zdrops[plane]] = 0
            zrec = choose_z_tables(zq, lm) if self.zadapt else None
        got = (ys, xp.shape[0], xp.shape[1], zq, zrec)
        self._fronts.append((x, got))
        return got

    def _z_bits(self, choices: list[tuple[float, float, int, int]]) -> float:
        """Ideal bits of a plane's rounded hyper-latents from their channels'
        :func:`~mic.lossy.enc_rdo.z_channel_choice`: under their learned priors, less what a
        hyper-latent record saves where it would be sent."""
        bits = sum(ch[0] for ch in choices)
        if self.zadapt:
            gain = z_record_from(choices, self.lm)[1]
            if gain > self.options.zrec_min_gain_bits:
                bits -= gain
        return bits

    def _optimise_z(self, ys: list[np.ndarray], hp: int, wp: int, zq: np.ndarray
                    ) -> np.ndarray:
        """The encoder's choice of hyper-latents (``zopt``; the decoder reads whatever it
        is sent): greedily, channel by channel from the costliest, set a channel to 0
        where its bits buy fewer bits of the subbands than they cost (estimated by
        :meth:`_z_bits` + :class:`~mic.lossy.enc_rdo.SubbandBits`).  At low rates on large
        smooth images some channels cost more than they tell the tables."""
        lm = self.lm
        choices = z_channel_choices(zq, lm)
        cands = [c for c in np.argsort([-ch[0] for ch in choices]) if zq[c].any()]
        if not cands:
            return zq
        zero = np.zeros(zq[0].size, np.int64)
        est = SubbandBits(lm, self.quality, self.options.dq, ys, hp, wp, zq)
        best = self._z_bits(choices) + est.total
        for c in cands:
            trial, tried = zq.copy(), list(choices)
            trial[c] = 0
            tried[c] = z_channel_choice(zero, c, lm)
            ybits, change = est.trial(trial)
            cost = self._z_bits(tried) + ybits
            if cost < best:
                best, zq, choices = cost, trial, tried
                est.keep(change)
        return zq

    def _wants_zrecord(self, t: np.ndarray) -> bool:
        """Whether the records of the tile's planes, normalised as the plain coding does,
        save more than the options' ``zrec_min_gain_bits`` (SPEC 6.9): the tile then
        carries flag 128 and every plane its record, else neither (no bit spent where they
        would not pay)."""
        if not self.zadapt or all(int(t[:, :, c].min()) == int(t[:, :, c].max())
                                  for c in range(t.shape[2])):
            return False
        return sum(self._front(x, k)[4][1] for k, x in enumerate(self._normalise(t)[0])) \
            > self.options.zrec_min_gain_bits

    def _normalise(self, t: np.ndarray) -> tuple[list[np.ndarray], list[int], int, float]:
        """(float planes, per-sample minima, normalisation bits, scale) of a tile (h, w, S):
        one grey plane, or the Y, C1, C2 planes of an RGB tile (SPEC 6.1)."""
        k = t.shape[2]
        lo = [int(t[:, :, c].min()) for c in range(k)]
        bits = self._bits(max(int(t[:, :, c].max()) - lo[c] for c in range(k)))
        scale = float((1 << bits) - 1)
        if k == 1:
            return [(t[:, :, 0].astype(np.float64) - lo[0]) / scale], lo, bits, scale
        ycc = (t.astype(np.float64) - np.array(lo, np.float64)) / scale @ YCC.T + YCC_OFFSET
        return [ycc[:, :, c] for c in range(3)], lo, bits, scale

    def _inline_bias(self, q: np.ndarray, tab: np.ndarray) -> int:
        """The table bias in [-BIAS_MAX, BIAS_MAX] that codes a pass's values ``q`` (under
        its tables ``tab``) in the fewest ideal bits, its own symbol included."""
        from ..entropy.shape import HALF, small_bits_each
        from ..quant.kernels import bias_bits

        each = small_bits_each()  # -HALF..HALF
        bits = bias_bits(q, tab, self.lm.ybank, BIAS_MAX) + \
            each[HALF - BIAS_MAX:HALF + BIAS_MAX + 1]
        return int(np.argmin(bits)) - BIAS_MAX

    def _encode_plane(self, x: np.ndarray, recon: bool = False, bias: np.ndarray | None = None,
                      record: list | None = None, plane: int = 0
                      ) -> tuple[bytes, np.ndarray | None]:
        """A float plane in normalised units -> (plane bytes, and with ``recon`` the
        decoder's float reconstruction of it).  ``bias``: the table biases to code first
        and apply (SPEC 6.4); ``record``: receives (band, q, table) of every MLP-coded pass.
        With the ``means`` option every detail band's non-anchor pass is preceded by its
        mean-predictor record (the tile gets XFORM_MEANS)."""
        from ..entropy import (
            encode_escapes, encode_grouped, escape_bits, information_bits, new_encoder, words,
        )
        from ..entropy.coder import uniform_encode
        from ..entropy.shape import encode_small
        from ..quant import quantize_dq, quantize_rdo, quantize_residual, split_escapes

        lm, qual, o = self.lm, self.quality, self.options
        ys, hp, wp, zq, zrec = self._front(x, plane)
        enc = new_encoder()
        if bias is not None:
            self.information_bits += encode_small(enc, bias)
        crc = 0
        h16 = None
        if lm.uses_hyper:
            rec = zrec[0] if self._zrecord else None
            if rec is not None:  # the record (SPEC 6.9)
                zvals = z_record_values(rec)
                uniform_encode(enc, zvals[:1], 2)
                if zvals[0]:
                    used = rec[rec[:, 0] == 1]
                    uniform_encode(enc, rec[:, 0], 2)
                    uniform_encode(enc, used[:, 1] + ZOFF_MAX, 2 * ZOFF_MAX + 1)
                    uniform_encode(enc, used[:, 2], len(lm.ybank.tables.half))
                self.information_bits += z_record_bits(rec, lm)
                crc = zlib.crc32(zvals.astype("<i4").tobytes(), crc)
            zesc = []
            for c, (bank, t, m) in enumerate(z_channels(rec, lm, zq.shape[0])):
                v = zq[c].reshape(-1) - m
                tab = np.full(v.size, t, np.int32)
                zs, e = split_escapes(v, tab, bank.tables.half)
                encode_grouped(enc, zs, tab, bank)
                if self.measure:
                    self.information_bits += information_bits(zs, tab, bank)
                zesc.append(e)
            zesc = zigzag_array(np.concatenate(zesc), np.uint32)
            encode_escapes(enc, zesc)
            if self.measure:
                self.information_bits += escape_bits(zesc)
            crc = zlib.crc32(np.ascontiguousarray(zq, "<i4").tobytes(), crc)
            h16 = lm.hs(zq.astype(np.float64), int(lm.zk[qual]))
        ll_mean = int(np.rint(ys[0].mean()))
        state = {"crc": crc}

        n_tab = len(lm.ybank.tables.half)
        gains = np.exp(lm.log_gain[qual])
        # the decoder reconstructs a detail symbol q at shrink * q (in units of y): the
        # rounding is chosen for that value (SPEC 6.9)
        shrink = np.exp(lm.log_shrink_of(qual))

        def rounding(yv: np.ndarray, mu: np.ndarray, tab: np.ndarray, band: int
                     ) -> np.ndarray:
            if o.dq and band >= 1:  # mu in symbol units
                s = float(shrink[band])
                lam = o.rdo_lambda_scale * self.lam * s * s / gains[band] ** 2 if o.rdo else 1e12
                return quantize_dq(yv / s, mu, tab, lm.ybank.tables, lam, DQ_UNIT / DQ_ONE)
            if o.rdo and band >= 0:  # mu in symbol units (band 0: shrink 1)
                s = float(shrink[band])
                return quantize_rdo(yv / s, mu, tab, lm.ybank.tables,
                                    o.rdo_lambda_scale * self.lam * s * s / gains[band] ** 2)
            # band -1: the LL anchors, whose values the table choice assumed (the RD
            # rounding leaves them as they are: measured 2026-12-03, +0.0 to +0.06 % BD)
            return quantize_residual(yv, mu.astype(np.float64))

        def coder(yv: np.ndarray, mu: np.ndarray, tab: np.ndarray, band: int) -> np.ndarray:
            q = rounding(yv, mu, tab, band)
            if self.inline and band >= 0:  # the pass's own table bias (SPEC 6.4)
                d = self._inline_bias(q, tab)
                tried = {0}
                while d not in tried and o.bias_rdo and o.rdo:  # round again knowing the bias
                    tried.add(d)
                    q = rounding(yv, mu, np.clip(tab + d, 0, n_tab - 1).astype(np.int32), band)
                    d = self._inline_bias(q, tab)
                self.information_bits += encode_small(enc, np.array([d]))
                if d:
                    tab = np.clip(tab + d, 0, n_tab - 1).astype(np.int32)
            sym, esc = split_escapes(q, tab, lm.ybank.tables.half)
            encode_grouped(enc, sym, tab, lm.ybank)
            zesc = zigzag_array(esc, np.uint32) if esc.size else None  # (mostly none)
            if zesc is not None:
                encode_escapes(enc, zesc)
            if self.measure:
                self.information_bits += information_bits(sym, tab, lm.ybank) + \
                    (escape_bits(zesc) if zesc is not None else 0.0)
            state["crc"] = zlib.crc32(np.ascontiguousarray(q, "<i4"), state["crc"])  # no copy
            if record is not None and band >= 0:
                record.append((band, q, tab))
            return q  # (int32 or int64: Planes.run widens where it must)

        def ll_table(res: np.ndarray) -> int:
            t = int(np.argmin(table_costs(res, lm.ybank.tables)))
            uniform_encode(enc, np.array([t]), n_tab)
            self.information_bits += float(np.log2(n_tab))
            return t

        def predictor(band: int, pairs: np.ndarray, yv: np.ndarray, tab: np.ndarray
                      ) -> np.ndarray | None:
            weights = fit_predictor(pairs, yv / float(shrink[band]), tab, lm.ybank)
            record = np.zeros(1, np.int32) if weights is None else \
                np.concatenate([[1], weights]).astype(np.int32)
            uniform_encode(enc, record[:1], 2)
            if weights is not None:
                uniform_encode(enc, weights + PRED_ONE, 2 * PRED_ONE)
            self.information_bits += 1.0 + (0.0 if weights is None else 14.0)
            state["crc"] = zlib.crc32(record.astype("<i4").tobytes(), state["crc"])
            return weights

        yhat = Planes(lm, qual, hp, wp, bias).run(coder, ll_mean, h16, ys, ll_table,
                                                  predictor if o.means else None,
                                                  DQ_UNIT if o.dq else 0)
        w = words(enc).astype("<u4")
        rec = reconstruct(lm, qual, yhat)[:x.shape[0], :x.shape[1]] if recon else None
        return self.fields.pack_plane(ll_mean, state["crc"], w.size) + w.tobytes(), rec


__all__ = ["LossyTileEncoder", "hyper_input"]
