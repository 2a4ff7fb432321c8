"""The learned lossy mode (mode 1): tile encoder/decoder used by :mod:`mic.codec`.

Each tile is coded independently, each sample plane (RGB: R, G, B) on its own:

1. normalise: ``x = (v - lo) / (2**b - 1)`` with ``lo`` the plane's minimum and ``b`` the
   bit length of its span (so any bit depth and signed data map to [0, 1]);
2. pad to a multiple of 64 (edge replication), analysis transform, multiply by the
   quality's gain vector;
3. hyper-latents ``z`` (rounded) coded with frozen per-channel factorized tables;
4. integer hyper-synthesis of ``z`` -> means and scale indexes (bit-exact everywhere,
   see :mod:`mic.models.intnet`); ``round(y - mu)`` coded with the scale index's frozen
   Gaussian table (one constriction call per table used);
5. decoder: ``y_hat = q + mu``, inverse gain, synthesis, de-normalise, crop.

A CRC-32 of all decoded symbols is stored per plane: a desync raises
:class:`~mic.MicChecksumError` instead of returning garbage.  The byte layout is in
SPEC.md section 6.

>>> from mic.lossy import available_models, qualities
>>> all(isinstance(q, int) for m in available_models() for q in qualities(m))
True
"""

from __future__ import annotations

import struct
import threading
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..bitstream import CODER_RANGE32, Header
from ..errors import MicChecksumError, MicFormatError, MicInputError, MicTruncatedError, \
    MicUnsupportedError
from ..models.registry import MODEL_IDS, MODEL_KINDS, model_id, model_name
from ..models.weights import load_tensors, registry

TAG_LMDL = b"LMDL"
#: model_id u16, weights sha256 (32 bytes), table id u32, number of qualities u8
LMDL = struct.Struct("<H32sIB")
#: per plane: lo i32, bits u8, symbols CRC-32 u32, number of 32-bit words u32
PLANE = struct.Struct("<iBII")
ALIGN = 64
DEFAULT_TILE = 512
DEFAULT_MODEL = "cnn"

__all__ = ["LossyTileEncoder", "LossyTileDecoder", "available_models", "qualities",
           "load_model", "clear_cache", "DEFAULT_MODEL"]


# ----------------------------------------------------------------------------- models
@dataclass
class LoadedModel:
    """A shipped model ready to code: float transforms + frozen integer parts."""

    name: str
    id: int
    kind: str
    sha256: bytes
    table_id: int
    n_qualities: int
    net: Any  # LossyModel (torch), densities/h_s unused
    gain: np.ndarray  # (Q, M) float32
    inv_gain: np.ndarray
    hs: Any  # IntHyperSynthesis or None
    thresholds: np.ndarray | None
    ybank: Any
    zbank: Any


_cache: dict[str, LoadedModel] = {}
_lock = threading.Lock()


def clear_cache() -> None:
    """Forget loaded models (after registering other weights)."""
    with _lock:
        _cache.clear()


def available_models() -> list[str]:
    """Names of the models that have weights in this build (ordered by model id).

    >>> set(available_models()) <= {"ae", "vae", "cnn"}
    True
    """
    reg = registry()
    return sorted((n for n in reg if n in MODEL_IDS), key=lambda n: MODEL_IDS[n])


def qualities(model: str = DEFAULT_MODEL) -> list[int]:
    """The quality values ``mic.encode(..., quality=q, model=model)`` accepts (0 = lowest rate).

    >>> qualities("cnn") == list(range(len(qualities("cnn"))))
    True
    """
    model_id(model)
    ent = registry().get(model)
    return list(range(int(ent["qualities"]))) if ent else []


def load_model(name: str) -> LoadedModel:
    """Load (once per process) the weights of model ``name``."""
    with _lock:
        lm = _cache.get(name)
        if lm is not None:
            return lm
    mid = model_id(name)
    ent = registry().get(name)
    if ent is None:
        raise MicUnsupportedError(
            f"no weights for lossy model {name!r} (id {mid}) in this build; "
            f"available: {available_models()}")
    import torch

    from ..entropy import ModelBank, TableSet
    from ..models.intnet import IntHyperSynthesis
    from ..models.nets import LossyModel

    ent = dict(ent, name=name)
    t = load_tensors(ent)
    cfg = dict(ent["config"])
    net = LossyModel(**cfg)
    sd = {k: torch.from_numpy(np.array(v)) for k, v in t.items()
          if k.startswith(("g_a.", "g_s.", "h_a.", "log_gain", "log_inv_gain"))}
    missing = [k for k in net.state_dict() if k.startswith(("g_a.", "g_s.", "h_a."))
               and k not in sd]
    if missing:
        raise MicUnsupportedError(f"weights of {name} lack tensors {missing[:3]}...")
    net.load_state_dict(sd, strict=False)
    net.eval()
    kind = MODEL_KINDS[mid]
    hs = thr = zbank = None
    if kind != "factorized":
        hs = IntHyperSynthesis.from_tensors(t, "hs")
        hs.assert_exact_bounds()
        thr = np.asarray(t["thresholds"], np.int64)
        zbank = ModelBank(TableSet.from_tensors(t, "tab_z"))
    lm = LoadedModel(
        name=name, id=mid, kind=kind, sha256=bytes.fromhex(ent["sha256"]),
        table_id=int(ent["table_id"], 16), n_qualities=int(ent["qualities"]), net=net,
        gain=np.exp(t["log_gain"]).astype(np.float32),
        inv_gain=np.exp(t["log_inv_gain"]).astype(np.float32), hs=hs, thresholds=thr,
        ybank=ModelBank(TableSet.from_tensors(t, "tab_y")), zbank=zbank)
    with _lock:
        _cache[name] = lm
    return lm


# ----------------------------------------------------------------------------- helpers
def _plane_norm(v: np.ndarray) -> tuple[int, int]:
    lo = int(v.min())
    return lo, max(1, (int(v.max()) - lo).bit_length())


def _pad(x: np.ndarray) -> np.ndarray:
    h, w = x.shape
    ph, pw = (-h) % ALIGN, (-w) % ALIGN
    return np.pad(x, ((0, ph), (0, pw)), mode="edge") if ph or pw else x


def _channel_tab(c: int, h: int, w: int) -> np.ndarray:
    return np.repeat(np.arange(c, dtype=np.int32), h * w)


def _hyper(lm: LoadedModel, zq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mu float64 (M,h,w), scale index int32 (M,h,w)) from integer z (N,hz,wz)."""
    from ..quant import scale_index

    acc = lm.hs(zq.astype(np.float64))
    m = lm.net.m
    ofrac = lm.hs.out_frac
    if lm.kind == "meanscale":
        mu = acc[:m] * 2.0 ** -ofrac
        ls = acc[m:]
    else:
        mu = np.zeros_like(acc)
        ls = acc
    return mu, scale_index(ls, lm.thresholds)


# ----------------------------------------------------------------------------- encoder
class LossyTileEncoder:
    """Encode tiles with a learned model (see module docstring).

    Options: ``model`` (``"cnn"`` default, ``"vae"``, ``"ae"``).
    """

    def __init__(self, header: Header, quality: int, model: str = DEFAULT_MODEL,
                 **options: Any) -> None:
        if options:
            raise MicInputError(f"unknown lossy option(s): {sorted(options)}")
        if not isinstance(model, str):
            raise MicInputError(f"model must be a name like 'cnn', got {model!r}")
        self.lm = lm = load_model(model)
        if not 0 <= quality < lm.n_qualities:
            raise MicInputError(
                f"quality {quality} out of range for model {model}: 0..{lm.n_qualities - 1}")
        self.quality = quality
        header.model_id = lm.id
        header.coder_id = CODER_RANGE32
        header.quality = quality
        if header.tile_rows == 0 and header.tile_cols == 0:
            header.tile_rows = header.tile_cols = DEFAULT_TILE
        self.header = header
        #: ideal bits of the coded symbols so far (tables' information content + 32 per escape)
        self.information_bits = 0.0

    def extra_segments(self) -> list[tuple[bytes, bytes]]:
        lm = self.lm
        return [(TAG_LMDL, LMDL.pack(lm.id, lm.sha256, lm.table_id, lm.n_qualities))]

    def encode_tile(self, tile: np.ndarray) -> bytes:
        """int32 (h, w, S) native samples -> payload bytes."""
        return b"".join(self._encode_plane(np.asarray(tile[:, :, s]))
                        for s in range(tile.shape[2]))

    def _encode_plane(self, v: np.ndarray) -> bytes:
        import torch

        from ..entropy import encode_grouped, encode_uint32, information_bits, new_encoder, words
        from ..quant import quantize_residual, split_escapes, zigzag

        lm = self.lm
        lo, bits = _plane_norm(v)
        x = _pad((v.astype(np.float64) - lo) / float((1 << bits) - 1)).astype(np.float32)
        with torch.inference_mode():
            xt = torch.from_numpy(x)[None, None]
            g = torch.from_numpy(lm.gain[self.quality]).view(1, -1, 1, 1)
            y = lm.net.g_a(xt - 0.5) * g
            z = lm.net.h_a(y) if lm.kind != "factorized" else None
        y = y[0].numpy()
        enc = new_encoder()
        parts: list[np.ndarray] = []
        if lm.kind == "factorized":
            q = quantize_residual(y, np.zeros(y.shape))
            tab = _channel_tab(*y.shape)
        else:
            zq = quantize_residual(z[0].numpy(), np.zeros(z.shape[1:]))
            ztab = _channel_tab(*zq.shape)
            zs, zesc = split_escapes(zq, ztab, lm.zbank.tables.half)
            encode_grouped(enc, zs, ztab, lm.zbank)
            encode_uint32(enc, zigzag(zesc))
            self.information_bits += information_bits(zs, ztab, lm.zbank) + 32 * zesc.size
            parts.append(zq)
            mu, tab = _hyper(lm, zq)
            q = quantize_residual(y, mu)
        sym, esc = split_escapes(q, tab, lm.ybank.tables.half)
        encode_grouped(enc, sym, tab, lm.ybank)
        encode_uint32(enc, zigzag(esc))
        self.information_bits += information_bits(sym, tab, lm.ybank) + 32 * esc.size
        parts.append(q)
        crc = 0
        for p in parts:
            crc = zlib.crc32(np.ascontiguousarray(p, "<i4").tobytes(), crc)
        w = words(enc).astype("<u4")
        return PLANE.pack(lo, bits, crc, w.size) + w.tobytes()


# ----------------------------------------------------------------------------- decoder
class LossyTileDecoder:
    """Decode tiles of a lossy stream; refuses unknown models, weights or tables."""

    def __init__(self, header: Header, stream: Any) -> None:
        seg = stream.segment(TAG_LMDL)
        if seg is None:
            raise MicFormatError("lossy stream without its LMDL (model) segment")
        if len(seg) < LMDL.size:
            raise MicTruncatedError(f"LMDL segment has {len(seg)} bytes, needs {LMDL.size}")
        mid, sha, table_id, nq = LMDL.unpack_from(seg, 0)
        if mid != header.model_id:
            raise MicFormatError(f"LMDL model id {mid} differs from the header's {header.model_id}")
        name = model_name(mid)  # MicUnsupportedError naming an unknown id
        ent = registry().get(name)
        if ent is None:
            raise MicUnsupportedError(
                f"stream needs lossy model {name!r} (id {mid}), which has no weights in this build")
        if bytes.fromhex(ent["sha256"]) != sha:
            raise MicUnsupportedError(
                f"stream needs model {name!r} (id {mid}) with weights sha256 {sha.hex()}; "
                f"this build has {ent['sha256']}")
        self.lm = lm = load_model(name)
        if table_id != lm.table_id:
            raise MicUnsupportedError(
                f"stream needs probability tables {table_id:08x} of model {name!r}; this build "
                f"has {lm.table_id:08x}")
        if nq != lm.n_qualities or not 0 <= header.quality < nq:
            raise MicFormatError(f"quality {header.quality} invalid for model {name} ({nq})")
        self.quality = header.quality
        self.samples = header.samples

    def decode_tile(self, payload: memoryview, rows: int, cols: int) -> np.ndarray:
        out = np.empty((rows, cols, self.samples), np.int32)
        off = 0
        for s in range(self.samples):
            out[:, :, s], off = self._decode_plane(payload, off, rows, cols)
        if off != len(payload):
            raise MicFormatError(f"lossy tile payload has {len(payload) - off} unexpected "
                                 "trailing bytes")
        return out

    def _decode_plane(self, buf: memoryview, off: int, rows: int,
                      cols: int) -> tuple[np.ndarray, int]:
        import torch

        from ..entropy import decode_grouped, decode_uint32, new_decoder
        from ..quant import merge_escapes, unzigzag

        lm = self.lm
        if len(buf) - off < PLANE.size:
            raise MicTruncatedError("lossy tile payload truncated in a plane header")
        lo, bits, crc, nw = PLANE.unpack_from(buf, off)
        off += PLANE.size
        if not 1 <= bits <= 31:
            raise MicFormatError(f"lossy plane normalisation bits {bits} out of range")
        if len(buf) - off < 4 * nw:
            raise MicTruncatedError(f"lossy tile payload truncated: {nw} words announced")
        w = np.frombuffer(buf, dtype="<u4", count=nw, offset=off).astype(np.uint32)
        off += 4 * nw
        dec = new_decoder(w)
        hp, wp = rows + (-rows) % ALIGN, cols + (-cols) % ALIGN
        m = lm.net.m
        yshape = (m, hp // 16, wp // 16)
        crc_now = 0
        if lm.kind == "factorized":
            mu = np.zeros(yshape)
            tab = _channel_tab(*yshape)
        else:
            zshape = (lm.net.n, hp // 64, wp // 64)
            ztab = _channel_tab(*zshape)
            zs = decode_grouped(dec, ztab, lm.zbank)
            half = lm.zbank.tables.half
            n_esc = int(np.count_nonzero(zs == 2 * half[ztab] + 1))
            zq = self._merge(zs, ztab, half, decode_uint32(dec, n_esc), unzigzag, merge_escapes)
            zq = zq.reshape(zshape)
            crc_now = zlib.crc32(np.ascontiguousarray(zq, "<i4").tobytes())
            mu, tab = _hyper(lm, zq)
        tab = tab.reshape(-1)
        ys = decode_grouped(dec, tab, lm.ybank)
        half = lm.ybank.tables.half
        n_esc = int(np.count_nonzero(ys == 2 * half[tab] + 1))
        q = self._merge(ys, tab, half, decode_uint32(dec, n_esc), unzigzag, merge_escapes)
        crc_now = zlib.crc32(np.ascontiguousarray(q, "<i4").tobytes(), crc_now)
        if crc_now != crc:
            raise MicChecksumError(
                "lossy tile: CRC-32 of the decoded symbols does not match (corrupt data or a "
                "model/table mismatch)")
        y_hat = (q.reshape(yshape) + mu).astype(np.float32)
        with torch.inference_mode():
            ig = torch.from_numpy(lm.inv_gain[self.quality]).view(1, -1, 1, 1)
            x = lm.net.g_s(torch.from_numpy(y_hat)[None] * ig)[0, 0].numpy()
        scale = float((1 << bits) - 1)
        v = np.rint((x[:rows, :cols].astype(np.float64) + 0.5) * scale + lo)
        v = np.clip(v, -(1 << 31), (1 << 31) - 1)
        return v.astype(np.int32), off

    @staticmethod
    def _merge(sym, tab, half, esc_u, unzigzag, merge_escapes) -> np.ndarray:  # noqa: ANN001
        try:
            return merge_escapes(sym, tab, half, unzigzag(esc_u))
        except ValueError as exc:
            raise MicFormatError(f"corrupt lossy escapes: {exc}") from None
