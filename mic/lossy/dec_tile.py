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
from ..errors import MicChecksumError, MicFormatError, MicTruncatedError, MicUnsupportedError
from ..models.registry import MODEL_IDS, RETIRED_MODELS, model_name
from ..models.wavelet import ALIGN, NBANDS
from ..models.weights import registry
from .model import load_model
from .passes import Planes, reconstruct, rgb_to_samples, to_samples, z_channels
from .syntax import (
    BIAS_MAX, DQ_UNIT, NPASS_BIAS, PRED_ONE, REGION, WHOLE_TILE, XFORM_BIAS, XFORM_DQ,
    XFORM_FLAGS, XFORM_MEANS, XFORM_NONE, XFORM_PASS_BIAS, XFORM_REGION, XFORM_RESTORE,
    XFORM_RESTORE_DIR, XFORM_YCC, XFORM_YCC_REGION, XFORM_ZTAB, ZOFF_MAX, TileFields,
    read_model_segment, z_record_values,
)


class LossyTileDecoder:
    """Decode tiles of a lossy stream; refuses unknown models, weights or tables."""

    def __init__(self, header: Header, stream: Any) -> None:
        tag, mid, sha, table_id, nq = read_model_segment(stream.segments)
        if mid != header.model_id:
            raise MicFormatError(
                f"{tag} model id {mid} differs from the header's {header.model_id}")
        if mid in RETIRED_MODELS:
            raise MicUnsupportedError(
                f"stream uses retired lossy model id {mid} ({RETIRED_MODELS[mid]}); this build "
                f"decodes model ids {sorted(MODEL_IDS.values())}")
        name = model_name(mid)  # MicUnsupportedError naming an unknown id
        ent = registry().get(name)
        if ent is None:
            raise MicUnsupportedError(
                f"stream needs lossy model {name!r} (id {mid}), which has no weights in this build")
        if bytes.fromhex(ent["sha256"])[:len(sha)] != sha:  # LMDS: the first 8 bytes
            raise MicUnsupportedError(
                f"stream needs model {name!r} (id {mid}) with weights sha256 "
                f"{sha.hex()}{'' if len(sha) == 32 else '...'}; this build has {ent['sha256']}")
        self.lm = lm = load_model(name)
        if table_id != lm.table_id:
            raise MicUnsupportedError(
                f"stream needs probability tables {table_id:08x} of model {name!r}; this build "
                f"has {lm.table_id:08x}")
        if nq != lm.n_qualities or not 0 <= header.quality < nq:
            raise MicFormatError(f"quality {header.quality} invalid for model {name} ({nq})")
        self.quality = header.quality
        self.samples = header.samples
        self.sample_range = sample_range(header.bits_stored, bool(header.signed))
        self.fields = TileFields(header.version_major)

    def decode_tile(self, payload: memoryview, rows: int, cols: int) -> np.ndarray:
        out = np.empty((rows, cols, self.samples), np.int32)
        xform, off = self.fields.read_xform(payload, 0)
        biased = bool(xform & XFORM_BIAS)
        restored = bool(xform & XFORM_RESTORE)
        means = bool(xform & XFORM_MEANS)
        dq = bool(xform & XFORM_DQ)
        zadapt = bool(xform & XFORM_ZTAB)
        if zadapt and not self.lm.uses_hyper:
            raise MicFormatError(f"lossy hyper-latent tables flag in a tile of model "
                                 f"{self.lm.name}, which has no hyper-latents")
        if xform & XFORM_PASS_BIAS and not biased:
            raise MicFormatError("lossy per-pass table-bias flag without the table-bias flag")
        if xform & XFORM_RESTORE_DIR and not restored:
            raise MicFormatError("lossy restoration-direction flag without the restoration flag")
        biased = (NPASS_BIAS if xform & XFORM_PASS_BIAS else NBANDS) if biased else 0
        flags = xform & XFORM_FLAGS
        xform &= ~XFORM_FLAGS
        keep = np.zeros((rows, cols, self.samples), np.bool_)  # constant-region pixels
        bits_of: list[int] = []
        whole = False
        if xform in (XFORM_YCC, XFORM_YCC_REGION):
            if self.samples != 3:
                raise MicFormatError("lossy colour transform in a tile without 3 samples")
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
                planes = []
                for _ in range(3):
                    x, off = self._decode_plane(payload, off, rows, cols, biased, means, dq,
                                                zadapt)
                    planes.append(x)
                out[:] = rgb_to_samples(np.stack(planes, -1), float((1 << bits) - 1),
                                      [lo for lo, _ in norms], self.sample_range)
                if region is not None:
                    out[region[1]] = region[0]
                    keep[region[1]] = True
        elif xform in (XFORM_NONE, XFORM_REGION):
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
                                            zadapt)
                out[:, :, c] = to_samples(x, float((1 << bits) - 1), lo, self.sample_range)
                if region is not None:
                    out[:, :, c][region[1]] = region[0][0]
                    keep[:, :, c] = region[1]
        else:
            raise MicFormatError(f"unknown lossy colour transform {xform | flags}")
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
        from ..entropy.shape import HEAD, decode_shape_at

        if len(buf) - off < k * REGION.size + HEAD.size:
            raise MicTruncatedError("lossy tile payload truncated in a region record")
        values = tuple(REGION.unpack_from(buf, off + REGION.size * c)[0] for c in range(k))
        off += k * REGION.size
        (nw,) = HEAD.unpack_from(buf, off)
        if nw == 0:
            if any(values):
                raise MicFormatError(f"lossy region record without a shape has values {values}")
            return None, off + HEAD.size
        lo, hi = self.sample_range
        if not all(lo <= v <= hi for v in values):
            raise MicFormatError(f"lossy region value(s) {values} outside the sample range "
                                 f"[{lo}, {hi}]")
        if nw == WHOLE_TILE:
            return (values, None), off + HEAD.size
        mask, off = decode_shape_at(buf, off, rows, cols)
        return (values, mask), off

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
                      zadapt: bool = False) -> tuple[np.ndarray, int]:
        """``biased``: the number of table biases the words start with (0: none)."""
        from ..entropy import decode_escapes, decode_grouped, new_decoder
        from ..entropy.coder import read_words, uniform_decode
        from ..entropy.shape import decode_small
        from ..quant import merge_escapes

        lm, qual = self.lm, self.quality
        ll_mean, crc, nw, off = self.fields.read_plane(buf, off)
        w, off = read_words(buf, off, nw, "lossy tile payload")
        dec = new_decoder(w)
        bias = None
        if biased:
            bias = decode_small(dec, biased)
            if np.abs(bias).max() > BIAS_MAX:
                raise MicFormatError(f"lossy table bias beyond +-{BIAS_MAX}: {bias.tolist()}")
        hp, wp = rows + (-rows) % ALIGN, cols + (-cols) % ALIGN
        crc_now = 0
        h16 = None

        def merge(sym: np.ndarray, tab: np.ndarray, half: np.ndarray) -> np.ndarray:
            n_esc = int(np.count_nonzero(sym == 2 * half[tab] + 1))
            try:
                esc = unzigzag_array(decode_escapes(dec, n_esc), np.int32)
                return merge_escapes(sym, tab, half, esc)
            except ValueError as exc:
                raise MicFormatError(f"corrupt lossy escapes: {exc}") from None

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
            zs = [decode_grouped(dec, np.full(size, t, np.int32), bank) for bank, t, _ in chans]
            n_esc = [int(np.count_nonzero(s == 2 * bank.tables.half[t] + 1))
                     for s, (bank, t, _) in zip(zs, chans)]
            esc = unzigzag_array(decode_escapes(dec, sum(n_esc)), np.int32)
            at = np.concatenate(([0], np.cumsum(n_esc)))
            try:
                zq = np.stack([merge_escapes(s, np.full(size, t, np.int32), bank.tables.half,
                                             esc[at[c]:at[c + 1]]).astype(np.int64) + m
                               for c, (s, (bank, t, m)) in enumerate(zip(zs, chans))])
            except ValueError as exc:
                raise MicFormatError(f"corrupt lossy escapes: {exc}") from None
            zq = zq.reshape(zshape)
            if np.abs(zq).max(initial=0) >= 1 << 31:
                raise MicFormatError("lossy hyper-latent beyond the int32 range")
            zq = zq.astype(np.int32)
            crc_now = zlib.crc32(np.ascontiguousarray(zq, "<i4").tobytes(), crc_now)
            h16 = lm.hs(zq.astype(np.float64), int(lm.zk[qual]))
        state = {"crc": crc_now}

        def coder(_y: None, mu: np.ndarray, tab: np.ndarray, band: int) -> np.ndarray:
            tab = np.ascontiguousarray(tab, np.int32)
            sym = decode_grouped(dec, tab, lm.ybank)
            q = merge(sym, tab, lm.ybank.tables.half)
            state["crc"] = zlib.crc32(np.ascontiguousarray(q, "<i4").tobytes(), state["crc"])
            return q.astype(np.int64)

        n_tab = len(lm.ybank.tables.half)

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
