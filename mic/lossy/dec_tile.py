"""The lossy tile decoder (SPEC.md 6): reads a tile's fields, decodes its planes through
the shared pass schedule (:mod:`mic.lossy.passes`), writes back constant regions and runs
the restoration filter (:mod:`mic.lossy.restore`).  It imports nothing of the encoder.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from ..bitstream import Header
from ..bitstream.samples import sample_range
from ..bitstream.varint import unzigzag_array
from ..errors import MicChecksumError, MicFormatError, MicTruncatedError
from ..models.wavelet import ALIGN, NBANDS
from .model import model_of_stream
from .passes import Planes, reconstruct, rgb_to_samples, to_samples, z_channels
from .syntax import (
    BIAS_MAX, DQ_UNIT, NPASS_BIAS, PRED_ONE, XFORM_BIAS, XFORM_DQ,
    XFORM_FLAGS, XFORM_INLINE_BIAS, XFORM_MEANS, XFORM_NONE, XFORM_PASS_BIAS, XFORM_REGION, XFORM_RESTORE,
    XFORM_RESTORE_DIR, XFORM_YCC, XFORM_YCC_REGION, XFORM_ZTAB, ZOFF_MAX, TileFields,
    read_region_record, z_record_values,
)


class LossyTileDecoder:
    """Decode tiles of a lossy stream; refuses unknown models, weights or tables."""

    def __init__(self, header: Header, stream: Any) -> None:
        self.lm = model_of_stream(header, stream)
        self.quality = header.quality
        self.samples = header.samples
        self.sample_range = sample_range(header.bits_stored, bool(header.signed))
        self.fields = TileFields(header.version_major)

    # ------------------------------------------------------------------ checks (SPEC 4.1)
    def work_samples(self, rows: int, cols: int) -> int:
        """Samples of the coefficient planes a rows x cols tile is decoded through (each
        plane padded to multiples of 64, SPEC 6.2)."""
        return (rows + (-rows) % ALIGN) * (cols + (-cols) % ALIGN) * self.samples

    def plane_min_bits(self, rows: int, cols: int, biased: int, zadapt: bool) -> float:
        """The fewest bits of information the words of a coded rows x cols plane carry
        (SPEC 4.1): ``biased`` table biases (each at least the cheapest symbol of shape
        table 3), the hyper-latents (models with them: ``n * Hp/64 * Wp/64`` symbols of
        their tables, or, with the record, of the latents' tables too, plus the record's first
        ``Uniform(2)``), the LL table index (``Uniform(S)``) and one symbol per coefficient
        (``Hp * Wp``, each at least the cheapest symbol of the latents' tables).  Escapes,
        predictor records and the record's optional fields may be absent: not counted."""
        from ..entropy.bounds import uniform_cost
        from ..entropy.shape import SMALL_TABLE, _bank

        lm = self.lm
        hp, wp = rows + (-rows) % ALIGN, cols + (-cols) % ALIGN
        ymin = lm.ybank.min_cost
        bits = hp * wp * ymin + uniform_cost(len(lm.ybank))
        if biased:
            sb = _bank()
            t = sb.tables
            bits += biased * float(sb.costs[t.offsets[SMALL_TABLE]:t.offsets[SMALL_TABLE + 1]].min())
        if lm.uses_hyper:
            zmin = min(lm.zbank.min_cost, ymin) if zadapt else lm.zbank.min_cost
            bits += lm.config["n"] * (hp // 64) * (wp // 64) * zmin
            if zadapt:
                bits += uniform_cost(2)
        return bits

    def _flags(self, payload: memoryview) -> tuple[int, int, int, int]:
        """(colour transform, flags, number of table biases, offset after the xform)."""
        xform, off = self.fields.read_xform(payload, 0)
        if xform & XFORM_ZTAB and not self.lm.uses_hyper:
            raise MicFormatError(f"lossy hyper-latent tables flag in a tile of model "
                                 f"{self.lm.name}, which has no hyper-latents")
        if xform & XFORM_PASS_BIAS and not xform & XFORM_BIAS:
            raise MicFormatError("lossy per-pass table-bias flag without the table-bias flag")
        if xform & XFORM_INLINE_BIAS and xform & XFORM_BIAS:
            raise MicFormatError("lossy inline table-bias flag beside the table-bias flag")
        if xform & XFORM_RESTORE_DIR and not xform & XFORM_RESTORE:
            raise MicFormatError("lossy restoration-direction flag without the restoration flag")
        biased = (NPASS_BIAS if xform & XFORM_PASS_BIAS else NBANDS) if xform & XFORM_BIAS else 0
        flags = xform & XFORM_FLAGS
        xform &= ~XFORM_FLAGS
        if xform not in (XFORM_YCC, XFORM_YCC_REGION, XFORM_NONE, XFORM_REGION):
            raise MicFormatError(f"unknown lossy colour transform {xform | flags}")
        if xform in (XFORM_YCC, XFORM_YCC_REGION) and self.samples != 3:
            raise MicFormatError("lossy colour transform in a tile without 3 samples")
        return xform, flags, biased, off

    def _skip_plane(self, buf: memoryview, off: int, rows: int, cols: int, biased: int,
                    zadapt: bool) -> int:
        """Check a coded plane's head and words (present, and enough for its symbols) and
        return the offset after it, decoding nothing."""
        from ..entropy.bounds import check_words

        _, _, nw, off = self.fields.read_plane(buf, off)
        if len(buf) - off < 4 * nw:
            raise MicTruncatedError(f"lossy tile payload truncated: {nw} words announced")
        check_words(nw, self.plane_min_bits(rows, cols, biased, zadapt), "lossy plane")
        return off + 4 * nw

    def _skip_region(self, buf: memoryview, off: int, rows: int, cols: int, k: int
                     ) -> tuple[tuple[int, ...] | None, bool, int]:
        """Check a region record without decoding its shape: (values, whole tile?, offset
        after it); values None for no region."""
        values, where, off = read_region_record(buf, off, rows, cols, k, self.sample_range,
                                                False)
        return values, where is True, off

    def check_tile(self, payload: memoryview, rows: int, cols: int) -> tuple[int, ...] | None:
        """Check a tile without decoding it (SPEC 4.1): its fields and flags, that every
        coded plane's and shape's words can hold the symbols the tile's size implies, the
        restoration record, no trailing bytes.  Returns the samples of a tile that is one
        whole-tile region (every sample plane), else None."""
        buf = memoryview(payload)
        xform, flags, biased, off = self._flags(buf)
        zadapt = bool(flags & XFORM_ZTAB)
        values: list[int] = []
        whole = coded = False
        if xform in (XFORM_YCC, XFORM_YCC_REGION):
            bits = []
            for _ in range(3):
                _, b, off = self._norm(buf, off)
                bits.append(b)
            if any(b != bits[0] for b in bits):
                raise MicFormatError("lossy colour tile with differing normalisation bits")
            w = False
            if xform == XFORM_YCC_REGION:
                vals, w, off = self._skip_region(buf, off, rows, cols, 3)
                if w:
                    values, whole = list(vals), True  # type: ignore[arg-type]
            if not w:
                coded = True
                for _ in range(3):
                    off = self._skip_plane(buf, off, rows, cols, biased, zadapt)
        else:
            for _ in range(self.samples):
                _, _, off = self._norm(buf, off)
                w = False
                if xform == XFORM_REGION:
                    vals, w, off = self._skip_region(buf, off, rows, cols, 1)
                    if w:
                        values.append(vals[0])  # type: ignore[index]
                        whole = True
                if not w:
                    coded = True
                    off = self._skip_plane(buf, off, rows, cols, biased, zadapt)
        if whole and flags & XFORM_MEANS:
            raise MicFormatError("lossy mean predictors on a whole-tile region")
        if whole and flags & XFORM_DQ:
            raise MicFormatError("lossy dependent quantisation on a whole-tile region")
        if whole and zadapt:
            raise MicFormatError("lossy hyper-latent tables flag on a whole-tile region")
        if flags & XFORM_RESTORE:
            from .restore import parse_record

            if whole:
                raise MicFormatError("lossy restoration filter on a whole-tile region")
            _, off = parse_record(buf, self.samples, off, bool(flags & XFORM_RESTORE_DIR))
        if off != len(buf):
            raise MicFormatError(f"lossy tile payload has {len(buf) - off} unexpected "
                                 "trailing bytes")
        return None if coded else tuple(values)

    # ------------------------------------------------------------------ decoding
    def decode_into(self, payload: memoryview, rows: int, cols: int, out: np.ndarray) -> None:
        """Decode a tile into ``out`` ((rows, cols, samples) of the stream's dtype): a
        whole-tile region is written straight into it; otherwise the tile goes through its
        planes and one int32 tile."""
        value = self.check_tile(payload, rows, cols)
        if value is not None:
            out[...] = np.array(value, np.int64).astype(out.dtype)
            return
        tile = self.decode_tile(payload, rows, cols)
        lo, hi = self.sample_range
        np.clip(tile, lo, hi, out=tile)
        out[...] = tile

    def decode_tile(self, payload: memoryview, rows: int, cols: int) -> np.ndarray:
        """The tile as a (rows, cols, samples) int32 array."""
        xform, flags, biased, off = self._flags(memoryview(payload))
        restored = bool(flags & XFORM_RESTORE)
        means = bool(flags & XFORM_MEANS)
        dq = bool(flags & XFORM_DQ)
        zadapt = bool(flags & XFORM_ZTAB)
        inline = bool(flags & XFORM_INLINE_BIAS)
        out = np.empty((rows, cols, self.samples), np.int32)
        keep: np.ndarray | None = None  # constant-region pixels, made when there is one
        bits_of: list[int] = []
        whole = False
        if xform in (XFORM_YCC, XFORM_YCC_REGION):
            norms = []
            for _ in range(3):
                lo, bits, off = self._norm(payload, off)
                norms.append((lo, bits))
            bits = norms[0][1]
            if any(b != bits for _, b in norms):
                raise MicFormatError("lossy colour tile with differing normalisation bits")
            region = None
            if xform == XFORM_YCC_REGION:
                region, off = self._region(payload, off, rows, cols, 3)
            bits_of = [bits] * 3
            if region is not None and region[1] is None:  # the whole tile
                out[:] = np.array(region[0], np.int32)
                whole = True
            else:
                planes = np.empty((rows, cols, 3), np.float64)
                for c in range(3):
                    planes[:, :, c], off = self._decode_plane(payload, off, rows, cols, biased,
                                                              means, dq, zadapt, inline)
                out[:] = rgb_to_samples(planes, float((1 << bits) - 1),
                                        [lo for lo, _ in norms], self.sample_range)
                del planes
                if region is not None:
                    out[region[1]] = region[0]
                    keep = region[1]
        else:
            for c in range(self.samples):
                lo, bits, off = self._norm(payload, off)
                bits_of.append(bits)
                region = None
                if xform == XFORM_REGION:
                    region, off = self._region(payload, off, rows, cols, 1)
                if region is not None and region[1] is None:  # the whole tile
                    out[:, :, c] = region[0][0]
                    whole = True
                    continue
                x, off = self._decode_plane(payload, off, rows, cols, biased, means, dq,
                                            zadapt, inline)
                out[:, :, c] = to_samples(x, float((1 << bits) - 1), lo, self.sample_range)
                del x
                if region is not None:
                    out[:, :, c][region[1]] = region[0][0]
                    if keep is None:
                        keep = np.zeros((rows, cols, self.samples), np.bool_)
                    keep[:, :, c] = region[1]
        if whole and means:
            raise MicFormatError("lossy mean predictors on a whole-tile region")
        if whole and dq:
            raise MicFormatError("lossy dependent quantisation on a whole-tile region")
        if whole and zadapt:
            raise MicFormatError("lossy hyper-latent tables flag on a whole-tile region")
        if restored:
            from .restore import apply_filters, parse_record

            if whole:
                raise MicFormatError("lossy restoration filter on a whole-tile region")
            filters, off = parse_record(payload, self.samples, off,
                                        bool(flags & XFORM_RESTORE_DIR))
            out[:] = apply_filters(out, filters, keep, bits_of, self.sample_range)
        if off != len(payload):
            raise MicFormatError(f"lossy tile payload has {len(payload) - off} unexpected "
                                 "trailing bytes")
        return out

    def _region(self, buf: memoryview, off: int, rows: int, cols: int,
                k: int) -> tuple[tuple[tuple[int, ...], np.ndarray | None] | None, int]:
        """A constant-region record of ``k`` values (SPEC 6.6): ((values, mask, or None for
        the whole tile) or None, offset after it)."""
        values, where, off = read_region_record(buf, off, rows, cols, k, self.sample_range,
                                                True)
        if values is None:
            return None, off
        return (values, None if where is True else where), off

    def _norm(self, buf: memoryview, off: int) -> tuple[int, int, int]:
        """(lo, bits, offset after them) of a normalisation record."""
        lo, bits, off = self.fields.read_norm(buf, off)
        if not 1 <= bits <= 31:
            raise MicFormatError(f"lossy plane normalisation bits {bits} out of range")
        if not -(1 << 31) <= lo < 1 << 31:
            raise MicFormatError(f"lossy plane normalisation lo {lo} beyond the int32 range")
        return lo, bits, off

    def _decode_plane(self, buf: memoryview, off: int, rows: int, cols: int,
                      biased: int = 0, means: bool = False, dq: bool = False,
                      zadapt: bool = False, inline: bool = False) -> tuple[np.ndarray, int]:
        """``biased``: the number of table biases the words start with (0: none);
        ``inline``: each pass coded with the context model's tables starts with its own
        table bias (XFORM_INLINE_BIAS)."""
        from ..entropy import decode_escapes, new_decoder
        from ..entropy.coder import decode_runs, decode_values, read_words, uniform_decode
        from ..entropy.rangedec import ESCAPED
        from ..entropy.shape import decode_small
        from ..quant import merge_escapes

        from ..entropy.bounds import check_words

        lm, qual = self.lm, self.quality
        ll_mean, crc, nw, off = self.fields.read_plane(buf, off)
        w, off = read_words(buf, off, nw, "lossy tile payload")
        check_words(nw, self.plane_min_bits(rows, cols, biased, zadapt), "lossy plane")
        dec = new_decoder(w, "lossy plane")  # metered: refuses once its symbols exceed w
        bias = None
        if biased:
            bias = decode_small(dec, biased)
            if np.abs(bias).max() > BIAS_MAX:
                raise MicFormatError(f"lossy table bias beyond +-{BIAS_MAX}: {bias.tolist()}")
        hp, wp = rows + (-rows) % ALIGN, cols + (-cols) % ALIGN
        crc_now = 0
        h16 = None

        if lm.uses_hyper:
            zshape = (lm.config["n"], hp // 64, wp // 64)
            rec = None
            if zadapt:  # the record (SPEC 6.9)
                n = zshape[0]
                rec = np.zeros((n, 3), np.int64)
                if uniform_decode(dec, 1, 2)[0]:
                    rec[:, 0] = uniform_decode(dec, n, 2)
                    k = int(rec[:, 0].sum())
                    rec[rec[:, 0] == 1, 1] = uniform_decode(dec, k, 2 * ZOFF_MAX + 1) - ZOFF_MAX
                    rec[rec[:, 0] == 1, 2] = uniform_decode(dec, k, len(lm.ybank.tables.half))
                crc_now = zlib.crc32(z_record_values(rec).astype("<i4").tobytes())
            chans = z_channels(rec, lm, zshape[0])
            size = zshape[1] * zshape[2]
            parts, r = [], 0  # channels in turn, a kernel call per run of one bank's tables
            while r < len(chans):
                e = r
                while e < len(chans) and chans[e][0] is chans[r][0]:
                    e += 1
                parts.append(decode_runs(dec, [t for _, t, _ in chans[r:e]], size, chans[r][0]))
                r = e
            zs = np.concatenate(parts).reshape(len(chans), size).astype(np.int64)
            half = np.array([int(bank.tables.half[t]) for bank, t, _ in chans], np.int64)
            n_esc = (zs == 2 * half[:, None] + 1).sum(axis=1)
            if not n_esc.any():  # no escapes (the usual case): value = symbol - half + offset
                zq = zs - half[:, None] + np.array([m for *_, m in chans], np.int64)[:, None]
            else:
                esc = unzigzag_array(decode_escapes(dec, int(n_esc.sum())), np.int32)
                at = np.concatenate(([0], np.cumsum(n_esc)))
                try:
                    zq = np.stack([merge_escapes(zs[c].astype(np.int32), np.full(size, t, np.int32),
                                                 bank.tables.half, esc[at[c]:at[c + 1]])
                                   .astype(np.int64) + m
                                   for c, (bank, t, m) in enumerate(chans)])
                except ValueError as exc:
                    raise MicFormatError(f"corrupt lossy escapes: {exc}") from None
            zq = zq.reshape(zshape)
            if np.abs(zq).max(initial=0) >= 1 << 31:
                raise MicFormatError("lossy hyper-latent beyond the int32 range")
            zq = zq.astype(np.int32)
            crc_now = zlib.crc32(np.ascontiguousarray(zq, "<i4").tobytes(), crc_now)
            h16 = lm.hs(zq.astype(np.float64), int(lm.zk[qual]))
        state = {"crc": crc_now}

        n_tab = len(lm.ybank.tables.half)

        def coder(_y: None, mu: np.ndarray, tab: np.ndarray, band: int) -> np.ndarray:
            d = 0
            if inline and band >= 0:  # the pass's table bias (SPEC 6.4), added and clamped
                d = int(decode_small(dec, 1)[0])  # by the range decoder's kernel
                if abs(d) > BIAS_MAX:
                    raise MicFormatError(f"lossy inline table bias {d} beyond +-{BIAS_MAX}")
            q, n_esc = decode_values(dec, tab, lm.ybank, d)
            if n_esc:  # the escapes' values follow the pass's symbols (SPEC 6.3)
                try:
                    q[q == ESCAPED] = unzigzag_array(decode_escapes(dec, n_esc), np.int32)
                except ValueError as exc:
                    raise MicFormatError(f"corrupt lossy escapes: {exc}") from None
            state["crc"] = zlib.crc32(np.ascontiguousarray(q, "<i4"), state["crc"])  # no copy
            return q  # (int32: Planes.run widens where it must)

        def ll_table(_res: None) -> int:
            return int(uniform_decode(dec, 1, n_tab)[0])

        def predictor(_band: int, _pairs: np.ndarray, _y: None, _tab: np.ndarray
                      ) -> np.ndarray | None:
            record = uniform_decode(dec, 1, 2)
            if record[0]:
                record = np.concatenate([record, uniform_decode(dec, 2, 2 * PRED_ONE) - PRED_ONE])
            state["crc"] = zlib.crc32(record.astype("<i4").tobytes(), state["crc"])
            return record[1:] if record[0] else None

        yhat = Planes(lm, qual, hp, wp, bias).run(coder, ll_mean, h16, None, ll_table,
                                                   predictor if means else None,
                                                   DQ_UNIT if dq else 0)
        if state["crc"] != crc:
            raise MicChecksumError(
                "lossy tile: CRC-32 of the decoded symbols does not match (corrupt data or a "
                "model/table mismatch)")
        return reconstruct(lm, qual, yhat)[:rows, :cols], off


__all__ = ["LossyTileDecoder"]
