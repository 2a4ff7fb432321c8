"""The tile decoder of the learned convolutional-transform models (SPEC.md 6.10-6.12):
:class:`ConvTileDecoder`.  It imports nothing of the encoder, and no torch: the entropy
path is integer (:meth:`~mic.lossy.conv_model.LoadedConvModel.scale_indexes`), the
synthesis ``g_s`` NumPy float32 (:mod:`mic.models.conv_synthesis`).

Per coded plane: the hyper-latents ``z`` under their factorized tables, the integer
hyper-synthesis gives every latent's table, the latents ``y`` under those Gaussian
tables (``ae``, SPEC 6.11: no ``z``; the latents under the factorized table of their
quality and channel; ``cnn``, SPEC 6.12: the anchors, then the other latents, each under
the mean and table the integer path of :mod:`mic.models.conv_meanscale` gives), a CRC-32
of all the symbols (any desync: :class:`~mic.MicChecksumError`), then ``g_s`` and the
plane's normalisation back to samples, clipped to the stored range.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from ..bitstream import Header
from ..bitstream.samples import sample_range
from ..bitstream.varint import unzigzag_array
from ..errors import MicChecksumError, MicFormatError, MicTruncatedError
from .conv_model import LoadedConvModel
from .conv_syntax import (CONST_BITS, CONV_EXACT, CONV_HALF, CONV_REGIONS, CONV_XFORM_COLOUR,
                          CONV_XFORM_PLANES, ConvFields, colour_inverse)
from .model import model_of_stream
from .syntax import read_region_record
from .upsample import half_size, upsample2


class ConvTileDecoder:
    """Decode the tiles of a conv model's lossy stream (``mic.codec`` picks it by the
    header's model id); refuses unknown models, weights or tables as the wavelet tiles'
    decoder does."""

    def __init__(self, header: Header, stream: Any) -> None:
        lm = model_of_stream(header, stream)
        if not isinstance(lm, LoadedConvModel):
            raise MicFormatError(f"model id {header.model_id} names {lm.name}, which is not a "
                                 "convolutional-transform model")
        self._setup(lm, header)

    def _setup(self, lm: LoadedConvModel, header: Header) -> None:
        self.lm: LoadedConvModel = lm
        self.quality = header.quality
        self.samples = header.samples
        self.sample_range = sample_range(header.bits_stored, bool(header.signed))
        self.fields = ConvFields(header.version_major)

    @classmethod
    def for_model(cls, lm: LoadedConvModel, header: Header) -> ConvTileDecoder:
        """A decoder of ``lm``'s tiles in a stream ``header`` describes, without a stream to
        read the model from (the encoder decodes its own tiles with it)."""
        self = cls.__new__(cls)
        self._setup(lm, header)
        return self

    # ------------------------------------------------------------------ checks (SPEC 4.1)
    def _padded(self, rows: int, cols: int) -> tuple[int, int]:
        a = self.lm.align
        return rows + (-rows) % a, cols + (-cols) % a

    def work_samples(self, rows: int, cols: int) -> int:
        """Samples of working planes a rows x cols tile is decoded through: its planes at
        the padded size and ``g_s``'s float activations, at most ``(n1 + 32) / 4`` per
        padded pixel (SPEC 6.10), and for RGB the colour planes' float64 values (xform 1:
        6 a pixel); cnn adds ``10 M + 3 ne`` per latent position for its integer path's
        features (SPEC 6.12)."""
        lm = self.lm
        hp, wp = self._padded(rows, cols)
        n = hp * wp * (self.samples + (int(lm.config["n1"]) + 32) // 4)
        if self.samples == 3:
            n += hp * wp * 6
        if lm.uses_means:
            n += (hp // lm.stride) * (wp // lm.stride) * (10 * lm.m + 3 * int(lm.config["ne"]))
        return n

    def plane_min_bits(self, rows: int, cols: int) -> float:
        """The fewest bits of information the words of a coded rows x cols plane carry:
        ``Hp/64 * Wp/64`` hyper-latents of each channel ``c`` (none for ae), each at least
        the cheapest symbol of its own table ``c``, and ``M * Hp/16 * Wp/16`` latents, each
        at least the cheapest symbol of the latent tables (escapes may be absent: not
        counted)."""
        lm = self.lm
        hp, wp = self._padded(rows, cols)
        n_y = lm.m * (hp // lm.stride) * (wp // lm.stride)
        if not lm.uses_hyper:
            return n_y * lm.ybank.min_cost
        cells = (hp // lm.align) * (wp // lm.align)
        z_cell = float(lm.zbank.table_min_costs[:lm.nz].sum())
        return cells * z_cell + n_y * lm.ybank.min_cost

    def _value_range(self, xform: int) -> tuple[int, int]:
        """The range of a plane's values: the sample range ``[a, b]``, for xform 1 that of
        the colour planes, ``[min(4a, -2(b - a)), max(4b, 2(b - a))]``."""
        a, b = self.sample_range
        if xform == CONV_XFORM_COLOUR:
            return min(4 * a, -2 * (b - a)), max(4 * b, 2 * (b - a))
        return a, b

    def _norm(self, buf: memoryview, off: int, xform: int) -> tuple[int, int, int]:
        """(lo, bits, offset after them) of a plane's norm record (bits 0: a constant
        plane of value lo, which must lie in the sample range, or for xform 1 in the
        range of the colour planes: ``[4 min, 4 max]`` widened to ``+-2 (max - min)``)."""
        lo, bits, off = self.fields.read_norm(buf, off)
        if not 0 <= bits <= 31:
            raise MicFormatError(f"conv plane normalisation bits {bits} out of range")
        if not -(1 << 31) <= lo < 1 << 31:
            raise MicFormatError(f"conv plane normalisation lo {lo} beyond the int32 range")
        a, b = self._value_range(xform)
        what = "colour planes' range" if xform == CONV_XFORM_COLOUR else "sample range"
        if bits == CONST_BITS and not a <= lo <= b:
            raise MicFormatError(f"conv constant plane value {lo} outside the {what} {(a, b)}")
        return lo, bits, off

    def _layout(self, buf: memoryview, rows: int, cols: int) -> tuple[int, list[Any]]:
        """:meth:`_fields` without the exact-sample planes (checked all the same)."""
        xform, planes, _ = self._fields(buf, rows, cols)
        return xform, planes

    def _fields(self, buf: memoryview, rows: int, cols: int
                ) -> tuple[int, list[Any], list[Any]]:
        """Read a tile's fields without decoding: its xform (flags 16 and 64 cleared, flag
        32 kept), per plane ``(lo, bits, (CRC, words offset, number of words) or None for a
        constant plane, (region value, offset of its record) or None)``, and under flag 64
        the heads of the exact-sample planes (else an empty list); checks the xform, the
        region records (their values, and that their shapes' words are present), that
        every coded plane's words are present and can hold the symbols its size (halved
        under flag 32) implies (SPEC 4.1), the exact-sample planes' structure (SPEC 5.2,
        4.1), and that nothing follows the last plane."""
        from ..entropy.bounds import check_words

        flags, off = self.fields.read_xform(buf, 0)
        xform = flags & ~(CONV_REGIONS | CONV_HALF | CONV_EXACT)
        if flags & CONV_HALF:  # the coded planes are half the tile's size
            crows, ccols = half_size(rows), half_size(cols)
        else:
            crows, ccols = rows, cols
        if xform != CONV_XFORM_PLANES and not (xform == CONV_XFORM_COLOUR and self.samples == 3):
            raise MicFormatError(f"unknown conv tile xform {flags} for {self.samples} samples")
        out: list[Any] = []
        min_bits = None
        for _ in range(self.samples):
            lo, bits, off = self._norm(buf, off, xform)
            if bits == CONST_BITS:
                out.append((lo, bits, None, None))
                continue
            region = None
            if flags & CONV_REGIONS:  # SPEC 6.6's record, its shape checked, not decoded
                at = off
                values, where, off = read_region_record(buf, off, rows, cols, 1,
                                                        self._value_range(xform), False)
                if where is True:
                    raise MicFormatError("conv plane with a whole-tile region (a constant "
                                         "plane is bits 0)")
                region = None if values is None else (values[0], at)
            crc, nw, off = self.fields.read_cplane(buf, off)
            if len(buf) - off < 4 * nw:
                raise MicTruncatedError(f"conv tile payload truncated: {nw} words announced")
            if min_bits is None:
                min_bits = self.plane_min_bits(crows, ccols)
            check_words(nw, min_bits, "conv plane")
            out.append((lo, bits, (crc, off, nw), region))
            off += 4 * nw
        exact: list[Any] = []
        if flags & CONV_EXACT:  # one lossless plane a sample after the planes (SPEC 6.10)
            from ..lossless.syntax import FAST_KINDS, PLANE_CONST, parse_plane

            for _ in range(self.samples):
                ph = parse_plane(buf, off, rows, cols, 3)
                if ph.kind not in (PLANE_CONST,) + FAST_KINDS:
                    raise MicFormatError(f"conv exact-sample plane of kind {ph.kind} (0 or 3-6 "
                                         "only)")
                exact.append(ph)
                off = ph.end
        if off != len(buf):
            raise MicFormatError(f"conv tile payload has {len(buf) - off} unexpected trailing "
                                 "bytes")
        return xform | (flags & CONV_HALF), out, exact

    def check_tile(self, payload: memoryview, rows: int, cols: int) -> tuple[int, ...] | None:
        """Check a tile without decoding it (SPEC 4.1); its samples if every plane is
        constant, else None."""
        xform, planes, exact = self._fields(memoryview(payload), rows, cols)
        if any(p is not None for _, _, p, _ in planes) or exact:
            return None
        if xform & ~CONV_HALF == CONV_XFORM_COLOUR:
            v = colour_inverse(np.array([[[float(lo) for lo, *_ in planes]]]))[0, 0]
            return tuple(int(u) for u in np.clip(np.rint(v), *self.sample_range))
        return tuple(lo for lo, *_ in planes)

    # ------------------------------------------------------------------ decoding
    def decode_into(self, payload: memoryview, rows: int, cols: int, out: np.ndarray) -> None:
        """Decode a tile into ``out`` ((rows, cols, samples) of the stream's dtype)."""
        buf = memoryview(payload)
        lo_r, hi_r = self.sample_range
        xform, planes, exact = self._fields(buf, rows, cols)
        halved = bool(xform & CONV_HALF)
        xform &= ~CONV_HALF
        # xform 0: each plane's values are samples; xform 1: P0, P1, P2 (SPEC 6.10)
        vals = np.empty((rows, cols, len(planes)), np.float64) \
            if xform == CONV_XFORM_COLOUR else out
        for c, (lo, bits, coded, region) in enumerate(planes):
            if coded is None:
                vals[:, :, c] = lo
                continue
            crc, start, nw = coded
            if halved:  # flag 32: coded at half resolution, upsampled (SPEC 6.10)
                x = self.decode_plane(buf, start, nw, crc, half_size(rows), half_size(cols))
                x = np.clip(upsample2(x, rows, cols), 0.0, 1.0)
            else:
                x = self.decode_plane(buf, start, nw, crc, rows, cols)
            v = np.asarray(x, np.float64) * float((1 << bits) - 1) + lo
            vals[:, :, c] = v if vals is not out else np.clip(np.rint(v), lo_r, hi_r)
            if region is not None:  # a constant region (SPEC 6.10 flag 16, 6.6)
                value, at = region
                _, mask, _ = read_region_record(buf, at, rows, cols, 1,
                                                self._value_range(xform), True)
                vals[:, :, c][mask] = value
        if vals is not out:
            out[...] = np.clip(np.rint(colour_inverse(vals)), lo_r, hi_r)
        if exact:
            from ..lossless.decoder import decode_coded
        for c, ph in enumerate(exact):  # flag 64: samples set exactly (SPEC 6.10)
            if ph.kind == 0:  # a constant plane
                v = np.full((1, 1), ph.lo, np.int64)
            else:
                v = decode_coded(buf, ph, rows, cols)
            if v.min() < 0 or v.max() - 1 > hi_r - lo_r:
                raise MicFormatError("conv exact-sample plane value outside 0..(sample range "
                                     "+ 1)")
            if v.size == 1:
                if v[0, 0]:
                    out[:, :, c] = v[0, 0] - 1 + lo_r
                continue
            hit = v > 0
            out[:, :, c][hit] = v[hit] - 1 + lo_r

    def decode_symbols(self, buf: memoryview, start: int, n_words: int, crc: int, rows: int,
                       cols: int) -> tuple[np.ndarray, np.ndarray]:
        """The decoded hyper-latents (nz, Hp/64, Wp/64; ae: none, nz = 0) and latent
        symbols (M, Hp/16, Wp/16; vae, ae: the latents, cnn: ``round(y - mean)``), int32,
        of a coded plane whose words start at ``buf[start]``; checks their CRC-32."""
        zq, yq, _ = self.decode_latents(buf, start, n_words, crc, rows, cols)
        return zq, yq

    def decode_latents(self, buf: memoryview, start: int, n_words: int, crc: int, rows: int,
                       cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`decode_symbols` and the dequantised latents ``y_hat`` g_s reads (vae,
        ae: the symbols; cnn: symbols + means, SPEC 6.12)."""
        from ..entropy import decode_escapes, decode_grouped, new_decoder
        from ..entropy.coder import read_words
        from ..models.conv_meanscale import MEAN_FRAC
        from ..quant import merge_escapes

        lm, q = self.lm, self.quality
        w, _ = read_words(buf, start, n_words, "conv tile payload")
        dec = new_decoder(w, "conv plane")  # metered: refuses once its symbols exceed w

        def symbols(tab: np.ndarray, bank: Any) -> np.ndarray:
            tab = tab.reshape(-1)
            sym = decode_grouped(dec, tab, bank)
            half = bank.tables.half
            n_esc = int(np.count_nonzero(sym == 2 * half[tab] + 1))
            esc = unzigzag_array(decode_escapes(dec, n_esc), np.int32)
            try:
                return merge_escapes(sym, tab, half, esc)
            except ValueError as exc:
                raise MicFormatError(f"corrupt conv escapes: {exc}") from None

        hp, wp = self._padded(rows, cols)
        if lm.uses_hyper:
            zshape = (lm.nz, hp // lm.align, wp // lm.align)
            ztab = np.repeat(np.arange(lm.nz, dtype=np.int32), zshape[1] * zshape[2])
            zq = symbols(ztab, lm.zbank).reshape(zshape)
        else:  # ae: no hyper-latents; the CRC below covers the latents alone
            zq = np.zeros((0, hp // lm.align, wp // lm.align), np.int32)
        yshape = (lm.m, hp // lm.stride, wp // lm.stride)
        if lm.uses_means:  # cnn: anchors, then the others from the decoded anchors
            pl = lm.meanscale.plane(zq, q)
            mean_a, tab_a = pl.anchor_params()
            sym_a = symbols(tab_a, lm.ybank).reshape(tab_a.shape)
            mean_o, tab_o = pl.nonanchor_params(sym_a)
            sym_o = symbols(tab_o, lm.ybank).reshape(tab_o.shape)
            yq = pl.assemble(sym_a, sym_o)
            y_hat = yq + pl.assemble(mean_a, mean_o) * 2.0 ** -MEAN_FRAC
        else:
            yq = y_hat = symbols(lm.latent_tables(zq, q, yshape), lm.ybank).reshape(yshape)
        got = zlib.crc32(np.ascontiguousarray(yq, "<i4").tobytes(),
                         zlib.crc32(np.ascontiguousarray(zq, "<i4").tobytes()))
        if got != crc:
            raise MicChecksumError(
                "conv tile: CRC-32 of the decoded symbols does not match (corrupt data or a "
                "model/table mismatch)")
        return zq, yq, y_hat

    def decode_plane(self, buf: memoryview, start: int, n_words: int, crc: int, rows: int,
                     cols: int) -> np.ndarray:
        """A coded plane -> its float reconstruction (rows, cols) in [0, 1] units: the
        latents (:meth:`decode_latents`), then ``g_s`` in float32, clamped."""
        _, _, y_hat = self.decode_latents(buf, start, n_words, crc, rows, cols)
        with np.errstate(over="ignore", invalid="ignore"):  # forged symbols may overflow
            x = self.lm.g_s(y_hat, self.quality, clamp=False)[:rows, :cols]
            x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=0.0)
        return np.clip(x, 0.0, 1.0)


__all__ = ["ConvTileDecoder"]
