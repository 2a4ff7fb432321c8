"""The learned lossy mode (mode 1): tile encoder/decoder used by :mod:`mic.codec`.

No torch at coding time: the transforms are NumPy/Numba, the entropy parameters integer
networks.  Each tile is coded independently; per tile:

1. normalise: ``x = (v - lo) / (2**b - 1)`` with ``lo`` the tile's minimum and ``b`` the
   bit length of the image's largest span (the same for every tile, so one quality is one
   quantiser step; any bit depth, signed data included).  RGB tiles share one
   normalisation and go through an orthonormal colour transform (Y, C1, C2), so each
   component is coded as a grayscale plane and squared errors add up as in RGB;
2. pad to a multiple of 64 (edge replication); 5-level CDF 9/7 wavelet; each subband
   times its synthesis norm and the quality's learned gain;
3. (vae, cnn) hyper-latents ``z = h_a(...)`` rounded and coded with frozen factorized
   tables; the integer hyper-synthesis gives hyper features;
4. subbands coded in passes (LL, then coarse to fine, anchors then non-anchors of a
   checkerboard); each symbol's scale index comes from the integer context MLP over
   exact integer features of what is already decoded (:mod:`mic.models.wcm`); values
   ``round(y - mu)`` coded with frozen Gaussian-scale-mixture tables, escapes after
   each pass;
5. decoder: the same passes, then inverse gains, inverse wavelet, the learned
   post-filter, de-normalise, round and clip.

Six encoder tools the stream records per tile (the decoder only obeys): a **constant
region** (:mod:`mic.lossy.region`: an exact-valued area such as CT padding, sent as a
shape, :mod:`mic.entropy.shape`, filled smoothly before step 2 and written back after
step 5; SPEC 6.6), **table biases** (one per band, or per pass: a band's anchors and
non-anchors apart, added to the MLP's scale indexes in step 4, chosen from a first
coding pass; SPEC 6.4), **predicted means** of the detail non-anchors (two weights per
band on the sums of their left + right and upper + lower decoded anchors, fitted by
least squares and sent where they save bits; SPEC 6.4), a **restoration filter**
(:mod:`mic.lossy.restore`: integer diamond filters with activity classes run over the
decoded samples after step 5, fitted to the original by least squares; SPEC 6.7), and
**dependent quantisation** of the detail bands (two interleaved quantisers switched by a
4-state machine on the parity of each symbol, the symbols chosen by a Viterbi search of
rate + lambda * distortion over each pass; SPEC 6.8), and a **hyper-latent record**
(per channel an offset and one of the latents' tables instead of the learned prior, where
an image's hyper-latents sit far from it; SPEC 6.9).  The encoder keeps each only where
it lowers rate + lambda * distortion (regions, filter) or the size (biases, means);
dependent quantisation is on unless ``dq=False``, the hyper-latent record unless
``zadapt=False``.  Not a stream tool but an encoder choice: ``zopt`` sends as 0 the
hyper-latent channels that cost more bits than they save (``zopt=False``: as analysed).

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
from collections.abc import Iterator
from contextlib import contextmanager
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..bitstream import CODER_RANGE32, Header
from ..bitstream.samples import sample_range
from ..bitstream.varint import U32_MAX, pack_uvarint, read_uvarint, unzigzag, unzigzag_array, \
    zigzag, zigzag_array
from ..errors import MicChecksumError, MicFormatError, MicInputError, MicTruncatedError, \
    MicUnsupportedError
from ..models.registry import (
    MODEL_IDS, MODEL_KINDS, RETIRED_MODELS, kind_uses_context, kind_uses_hyper, model_id,
    model_name,
)
from ..models.wavelet import ALIGN, LEVELS, NBANDS
from ..models.weights import generation, load_tensors, registry

TAG_LMDL = b"LMDL"
#: model_id u16, weights sha256 (32 bytes), table id u32, number of qualities u8
LMDL = struct.Struct("<H32sIB")
#: the short model segment (SPEC 6): as LMDL with the first 8 bytes of the weights sha256
TAG_LMDS = b"LMDS"
LMDS = struct.Struct("<H8sIB")
#: the encoder writes the short model segment (24 bytes less a stream); True: LMDL, as
#: encoders before it did
LONG_MODEL_SEGMENT = False
#: in streams of version 2 the encoder's restoration fit may split classes by direction
#: (XFORM_RESTORE_DIR); False: activity classes only, as encoders before it did
RESTORE_DIRECTIONS = True


@contextmanager
def encoder_constants(**values: Any) -> Iterator[None]:
    """Set encoder-only constants of this module (choices a decoder never needs, such as
    ``PASS_BIASES`` or ``RESTORE_DIRECTIONS``) for a block, then restore them: how the
    vector generator makes streams as earlier encoders did and benches compare a tool on
    and off.  Not thread-safe (module state).

    >>> import mic.lossy
    >>> with encoder_constants(RESTORE_DIRECTIONS=False):
    ...     mic.lossy.RESTORE_DIRECTIONS
    False
    >>> mic.lossy.RESTORE_DIRECTIONS
    True
    """
    g = globals()
    unknown = [k for k in values if k not in g or not k.isupper()]
    if unknown:
        raise MicInputError(f"no encoder constant(s) {unknown} in mic.lossy")
    saved = {k: g[k] for k in values}
    g.update(values)
    try:
        yield
    finally:
        g.update(saved)
#: tile: colour transform u8 (0 none, 1 orthonormal RGB -> Y C1 C2)
TILE_HEAD = struct.Struct("<B")
#: per normalisation group: lo i32, bits u8
NORM = struct.Struct("<iB")
#: per coded plane: LL mean i32, symbols CRC-32 u32, number of 32-bit words u32
PLANE = struct.Struct("<iII")
XFORM_NONE, XFORM_YCC, XFORM_REGION, XFORM_YCC_REGION = 0, 1, 2, 3
#: xform flag: every plane's words start with its table biases (SPEC 6.4)
XFORM_BIAS = 4
#: xform flag: a restoration filter record follows the last plane (SPEC 6.7)
XFORM_RESTORE = 8
#: xform flag: each detail band's non-anchor pass is preceded by its mean-predictor
#: record, and its values are coded about the predicted means (SPEC 6.4)
XFORM_MEANS = 16
#: a mean predictor's two weights (horizontal, vertical pair of anchors) are integers in
#: [-PRED_ONE, PRED_ONE - 1], in units of 1 / PRED_ONE
PRED_ONE = 64
#: xform flag (only beside XFORM_BIAS): the table biases are per pass, not per band
XFORM_PASS_BIAS = 32
#: tile flag: the detail bands are coded with the dependent quantiser (SPEC 6.8)
XFORM_DQ = 64
#: the dependent quantiser's levels are in units of 1 / DQ_ONE of a symbol ...
DQ_ONE = 128
#: ... and its half step is DQ_UNIT of them (the quantisers' step: 2 * DQ_UNIT / DQ_ONE)
DQ_UNIT = 80
#: tile flag (vae, cnn): each plane's hyper-latents start with a record that may code a
#: channel about an offset under a table of the latents' bank (SPEC 6.9)
XFORM_ZTAB = 128
#: largest magnitude of a hyper-latent channel's offset
ZOFF_MAX = 15
#: tile flag (stream version 2, only beside XFORM_RESTORE): the restoration record's
#: channels may split their activity classes by direction (SPEC 6.7)
XFORM_RESTORE_DIR = 256
#: the flags a tile's xform may carry beside its colour transform
XFORM_FLAGS = XFORM_BIAS | XFORM_RESTORE | XFORM_MEANS | XFORM_PASS_BIAS | XFORM_DQ | \
    XFORM_ZTAB | XFORM_RESTORE_DIR
#: table biases lie in [-BIAS_MAX, BIAS_MAX], one per band
BIAS_MAX = 7
#: a plane's constant-region record (xform 2): the value, then a shape stream
REGION = struct.Struct("<i")
#: a plane's symbols CRC-32 in a v2 plane head (between its varints)
CRC32 = struct.Struct("<I")


def _fixed(st: struct.Struct, buf: Any, off: int, what: str) -> tuple[tuple, int]:
    """The fields of ``st`` at ``buf[off:]`` and the offset after them;
    :class:`MicTruncatedError` ``what`` when the buffer is shorter."""
    if len(buf) - off < st.size:
        raise MicTruncatedError(what)
    return st.unpack_from(buf, off), off + st.size


class TileFields:
    """The fixed-size fields of a lossy tile payload (SPEC 6.1) in one stream version, one
    place for the encoder and the decoder: the xform, each ``norm`` (lo, bits) and each
    plane's head (LL mean, symbols CRC-32, number of words).  Version 1: ``u8``, ``i32 u8``
    and ``i32 u32 u32``; version 2: a varint xform, ``lo`` and the LL mean as zigzag varints,
    ``bits`` a u8, the CRC a u32 and the word count a varint.

    >>> f = TileFields(2)
    >>> f.pack_norm(-1024, 12) + f.pack_plane(3, 0xDEADBEEF, 300)
    b'\\xff\\x0f\\x0c\\x06\\xef\\xbe\\xad\\xde\\xac\\x02'
    >>> f.read_norm(f.pack_norm(-1024, 12), 0), f.read_xform(f.pack_xform(196), 0)
    ((-1024, 12, 3), (196, 2))
    """

    def __init__(self, major: int) -> None:
        self.v2 = major >= 2

    def pack_xform(self, xform: int) -> bytes:
        return pack_uvarint(xform) if self.v2 else TILE_HEAD.pack(xform)

    def read_xform(self, buf: Any, off: int) -> tuple[int, int]:
        if not self.v2:
            (xform,), off = _fixed(TILE_HEAD, buf, off,
                                   "lossy tile payload truncated before its header")
            return xform, off
        return read_uvarint(buf, off, "lossy tile xform", U32_MAX)

    def pack_norm(self, lo: int, bits: int) -> bytes:
        return pack_uvarint(zigzag(lo)) + bytes((bits,)) if self.v2 else NORM.pack(lo, bits)

    def read_norm(self, buf: Any, off: int) -> tuple[int, int, int]:
        """(lo, bits, offset after them)."""
        what = "lossy tile payload truncated in a normalisation header"
        if not self.v2:
            (lo, bits), off = _fixed(NORM, buf, off, what)
            return lo, bits, off
        try:
            u, off = read_uvarint(buf, off, "lossy normalisation lo", U32_MAX)
        except MicTruncatedError:
            raise MicTruncatedError(what) from None
        if off >= len(buf):
            raise MicTruncatedError(what)
        return unzigzag(u), buf[off], off + 1

    def pack_plane(self, ll_mean: int, crc: int, n_words: int) -> bytes:
        if not self.v2:
            return PLANE.pack(ll_mean, crc, n_words)
        return pack_uvarint(zigzag(ll_mean)) + CRC32.pack(crc) + pack_uvarint(n_words)

    def read_plane(self, buf: Any, off: int) -> tuple[int, int, int, int]:
        """(LL mean, symbols CRC-32, number of words, offset after them)."""
        what = "lossy tile payload truncated in a plane header"
        if not self.v2:
            (ll_mean, crc, nw), off = _fixed(PLANE, buf, off, what)
            return ll_mean, crc, nw, off
        try:
            u, off = read_uvarint(buf, off, "lossy plane LL mean", U32_MAX)
            (crc,), off = _fixed(CRC32, buf, off, what)
            nw, off = read_uvarint(buf, off, "lossy plane word count", U32_MAX)
        except MicTruncatedError:
            raise MicTruncatedError(what) from None
        return unzigzag(u), crc, nw, off


#: a region record's word count meaning "the whole tile holds the value; no plane follows"
WHOLE_TILE = 0xFFFFFFFF

#: per-pass table biases: band 0's non-anchors, each detail band's anchors (entries 1..15)
#: and non-anchors (entries 16..30)
NPASS_BIAS = 2 * NBANDS - 1
#: the tile side of a :class:`LossyTileEncoder` whose header names none
DEFAULT_TILE = 512
#: the side of the large tiling :func:`tilings` offers beside DEFAULT_TILE.  Train
#: (research/tile_gain.py, 7 large images): large tiles alone were +0.2 % BD on average
#: against 512 (a 1416 x 1420 DX -8.0 %, a 3062 x 2394 mammogram +7.1 %: the one
#: tiling that wins everywhere does not exist), so mic.encode tries both
LARGE_TILE = 2048
DEFAULT_MODEL = "cnn"
ACT_FRAC = 10
#: orthonormal colour transform (rows: Y, C1, C2) and the offsets centring C1, C2
YCC = np.array([[1, 1, 1], [1, 0, -1], [1, -2, 1]], np.float64) / \
    np.sqrt([3.0, 2.0, 6.0])[:, None]
YCC_OFFSET = np.array([0.0, 0.5, 0.5])

__all__ = ["LossyTileEncoder", "LossyTileDecoder", "available_models", "qualities",
           "load_model", "clear_cache", "DEFAULT_MODEL", "tilings", "even_tiles"]


# ----------------------------------------------------------------------------- models
@dataclass
class LoadedModel:
    """A shipped model ready to code (all NumPy)."""

    name: str
    id: int
    kind: str
    sha256: bytes
    table_id: int
    n_qualities: int
    config: dict[str, Any]
    log_gain: np.ndarray  # (Q, NBANDS) float64
    log_shrink: np.ndarray
    norms: np.ndarray  # (NBANDS,) synthesis norms
    mlp: Any  # IntMLP
    thresholds: np.ndarray
    ybank: Any
    h_a: Any = None  # HyperAnalysis (vae, cnn)
    hs: Any = None  # IntHyperSynthesis (vae, cnn)
    zgain: np.ndarray | None = None  # (Q,) encoder: z scale before rounding
    zk: np.ndarray | None = None  # (Q,) int: h_s input = z_hat * zk[q] (8 fractional bits)
    zbank: Any = None
    post: Any = None  # PostFilter

    def __post_init__(self) -> None:
        self.uses_hyper = kind_uses_hyper(self.kind)
        self.uses_context = kind_uses_context(self.kind)

    def log_shrink_of(self, q: int) -> np.ndarray:
        """Per-band log shrink the decoder applies at quality ``q`` (none on LL)."""
        return self.log_shrink[q] * (np.arange(NBANDS) > 0)

    def step_scale(self, q: int) -> float:
        return float(np.exp(np.float32(self.log_gain[q].astype(np.float32).mean())))


#: name -> loaded model, valid for the weights registry's generation ``_cache_gen``
_cache: dict[str, LoadedModel] = {}
_cache_gen = -1
#: held while a model is looked up or loaded: each model is loaded once, by one thread
_lock = threading.Lock()


def clear_cache() -> None:
    """Forget loaded models (the next :func:`load_model` reads the weights again;
    registering other weights does this by itself)."""
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
    """The weights of model ``name``, loaded once per process and registry generation
    (:func:`mic.models.weights.generation`); thread-safe."""
    global _cache_gen
    with _lock:
        if _cache_gen != generation():
            _cache.clear()
            _cache_gen = generation()
        lm = _cache.get(name)
        if lm is None:
            lm = _cache[name] = _load(name)
        return lm


def _load(name: str) -> LoadedModel:
    mid = model_id(name)
    ent = registry().get(name)
    if ent is None:
        raise MicUnsupportedError(
            f"no weights for lossy model {name!r} (id {mid}) in this build; "
            f"available: {available_models()}")
    from ..entropy import ModelBank, TableSet
    from ..models.intnet import IntHyperSynthesis, IntMLP
    from ..models.npnet import HyperAnalysis, PostFilter
    from ..models.wavelet import synthesis_norms

    ent = dict(ent, name=name)
    cfg = dict(ent["config"])
    if cfg.get("arch") != "wavelet":
        raise MicUnsupportedError(f"weights of {name} are of an architecture this build "
                                  f"cannot run ({cfg.get('arch', 'block')})")
    t = load_tensors(ent)
    kind = MODEL_KINDS[mid]
    nll, nb = synthesis_norms(LEVELS)
    mlp = IntMLP.from_tensors(t, "ctx")
    lm = LoadedModel(
        name=name, id=mid, kind=kind, sha256=bytes.fromhex(ent["sha256"]),
        table_id=int(ent["table_id"], 16), n_qualities=int(ent["qualities"]), config=cfg,
        log_gain=np.asarray(t["log_gain"], np.float64),
        log_shrink=np.asarray(t["log_shrink"], np.float64),
        norms=np.array([nll] + [nb[lv][o] for lv in range(LEVELS) for o in range(3)]),
        mlp=mlp, thresholds=np.asarray(t["thresholds"], np.int64),
        ybank=ModelBank(TableSet.from_tensors(t, "tab_y")))
    if kind != "factorized":
        lm.h_a = HyperAnalysis(t, "h_a")
        lm.hs = IntHyperSynthesis.from_tensors(t, "hs")
        lm.zgain = np.asarray(t["zgain"], np.float64)
        lm.zk = np.asarray(t["zk"], np.int64)
        lm.hs.assert_exact_bounds(int(lm.zk.max()))
        lm.zbank = ModelBank(TableSet.from_tensors(t, "tab_z"))
    if "post.qout" in t:
        lm.post = PostFilter(t, "post")
    return lm


# ----------------------------------------------------------------------------- features
def _logmag(v: np.ndarray) -> np.ndarray:
    from ..models.logmag import logmag

    return logmag(v).astype(np.int64)


_box_kernel = None


def _box(v: np.ndarray) -> np.ndarray:
    """Sum over each 3x3 neighbourhood, edges replicated (int64)."""
    global _box_kernel
    if _box_kernel is None:
        import numba as nb

        @nb.njit(cache=True, nogil=True)
        def k(a, out):  # pragma: no cover - numba
            h, w = a.shape
            for i in range(h):
                for j in range(w):
                    t = 0
                    for di in (-1, 0, 1):
                        ii = min(max(i + di, 0), h - 1)
                        for dj in (-1, 0, 1):
                            t += a[ii, min(max(j + dj, 0), w - 1)]
                    out[i, j] = t

        _box_kernel = k
    a = np.ascontiguousarray(v, np.int64)
    out = np.empty_like(a)
    _box_kernel(a, out)
    return out


def _nb4(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    p = np.pad(v, 1, mode="reflect")
    return p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]


def _up2(v: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(v, 2, 0), 2, 1)


def _checker(h: int, w: int) -> np.ndarray:
    """True at anchors ((i + j) even)."""
    return (np.add.outer(np.arange(h), np.arange(w)) % 2) == 0


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


class _Planes:
    """The pass structure shared by the encoder and the decoder of one plane.

    ``run(coder, ys)`` visits the passes in coding order; for each it computes the
    integer features of the pass's positions from what is decoded so far, the scale
    indexes and means, and lets ``coder(ys_pass, mu, tab, band) -> q`` code (encoder:
    quantise and encode; decoder: decode) the symbols.  Returns the decoded subbands (band
    order, int64); the coders keep the symbols' CRC.
    """

    def __init__(self, lm: LoadedModel, quality: int, hp: int, wp: int,
                 bias: np.ndarray | None = None) -> None:
        self.lm, self.q = lm, quality
        self.bias = bias
        self.shapes = [(hp >> LEVELS, wp >> LEVELS)] + [
            (hp >> (lv + 1), wp >> (lv + 1)) for lv in range(LEVELS) for _ in range(3)]

    def _positions(self, h: int, w: int, parity: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of the anchors (parity 0) or non-anchors of an h x w band, C order."""
        key = (h, w, parity)
        got = _POSITIONS.get(key)
        if got is None:
            ii, jj = np.nonzero(_checker(h, w) == (parity == 0))
            got = _POSITIONS[key] = (ii.astype(np.int64), jj.astype(np.int64))
        return got

    def cells(self, level: int, ii: np.ndarray, jj: np.ndarray) -> np.ndarray:
        """The hyper-feature cell (flat index) that each position (ii, jj) of a band of
        wavelet level ``level`` reads (SPEC 6.4)."""
        w16 = self.h16.shape[2]
        s = 4 - level
        return ((ii >> s) * w16 + (jj >> s)) if s >= 0 else ((2 * ii) * w16 + 2 * jj)

    def _scales(self, level: int, ii: np.ndarray, jj: np.ndarray, ctx: np.ndarray,
                band: int, anchor: bool) -> np.ndarray:
        """Scale indexes at positions (ii, jj) of a band of wavelet level ``level`` with
        context features ``ctx`` (N, 8) (already in ACT_FRAC fixed point)."""
        from ..models.intnet import mlp_scale_index

        lm = self.lm
        hyper = cells = None
        if self.h16 is not None:
            hyper = self.hyper
            cells = self.cells(level, ii, jj)
        tab = mlp_scale_index(lm.mlp, hyper, cells if cells is not None else np.zeros(0),
                              ctx, self.q, band, 0 if anchor else 1, lm.thresholds)
        if self.bias is not None:
            k = band if (anchor or band == 0 or self.bias.size == NBANDS) else NBANDS - 1 + band
            if self.bias[k]:
                tab = np.clip(tab + int(self.bias[k]), 0, len(lm.ybank) - 1).astype(np.int32)
        return tab

    def run(self, coder, ll_mean: int, h16: np.ndarray | None,  # noqa: ANN001
            ys: list[np.ndarray] | None = None, ll_table=None,  # noqa: ANN001
            predictor=None, dq_unit: int = 0) -> list[np.ndarray]:  # noqa: ANN001
        """``ll_table(residuals or None) -> table index`` codes the LL anchors' table (the
        encoder chooses it from the residuals, the decoder reads it).  ``predictor(band,
        pairs, y or None, tab) -> weights or None`` (only for tiles with XFORM_MEANS)
        codes each detail band's mean-predictor record before its non-anchor pass: the
        encoder fits and chooses it from the pass's values ``y``, the decoder reads it;
        a band whose anchors are all zero has no record (nothing to predict from).
        The means are passed to ``coder`` in symbol units; a band coded with a predictor
        is returned as float64 (its non-anchors ``q + mu``), the others as int64.
        ``dq_unit`` (tiles with XFORM_DQ: DQ_UNIT) decodes every detail symbol as a level
        of the dependent quantiser (SPEC 6.8); those bands are float64 too."""
        from ..quant import dq_place

        ctx = self.lm.uses_context
        self.h16 = h16
        self.hyper = None if h16 is None else np.ascontiguousarray(h16.reshape(h16.shape[0], -1).T)
        yhat: list[np.ndarray] = [None] * NBANDS  # type: ignore[list-item]

        # LL band: anchors row by row, each predicted from the previous row's anchors,
        # all with one table chosen by the encoder (SPEC 6.4)
        h, w = self.shapes[0]
        anc = _checker(h, w)
        y = ys[0] if ys is not None else None
        out = np.zeros((h, w), np.int64)
        if y is not None:  # encoder: the anchors are round(y) whatever the means (integers)
            target = np.rint(y).astype(np.int64)
            res = np.concatenate([target[i, i % 2::2] - _ll_pred(target, i, ll_mean)
                                  for i in range(h)])
            t_ll = ll_table(res)
        else:
            t_ll = ll_table(None)
        for i in range(h):
            js = np.arange(i % 2, w, 2)
            if js.size:
                mu_i = _ll_pred(out, i, ll_mean)
                tab = np.full(js.size, t_ll, np.int32)
                out[i, js] = coder(y[i, js] if y is not None else None, mu_i, tab, -1) + mu_i
        ii, jj = self._positions(h, w, 1)
        u, d, lf, r = _nb4(np.where(anc, out, 0))
        u, d, lf, r = u[ii, jj], d[ii, jj], lf[ii, jj], r[ii, jj]
        mu = (u + d + lf + r + 2) // 4  # every kind: the mean of the 4 decoded anchors
        feats = np.zeros((ii.size, 8), np.float64)
        if ctx:
            rng = np.maximum(np.maximum(u, d), np.maximum(lf, r)) - \
                np.minimum(np.minimum(u, d), np.minimum(lf, r))
            feats[:, 6] = _logmag(rng) * _FIX
            feats[:, 7] = _logmag(np.abs(u - d) + np.abs(lf - r)) * _FIX
        tab = self._scales(LEVELS, ii, jj, feats, 0, False)
        out[ii, jj] = coder(y[ii, jj] if y is not None else None, mu, tab, 0) + mu
        yhat[0] = out
        # detail bands, coarse to fine
        empty = np.zeros((1, 1), np.int64)
        lm_prev: list[np.ndarray] | None = None
        for lv in range(LEVELS - 1, -1, -1):
            lm_here: list[np.ndarray] = []
            for o in range(3):
                b = 1 + 3 * lv + o
                h, w = self.shapes[b]
                y = ys[b] if ys is not None else None
                flags = 0
                p = pb = s0 = s0b = s1 = s1b = empty
                if ctx:
                    if lm_prev is not None:
                        p, pb, flags = lm_prev[o], _box(lm_prev[o]), flags | 1
                    if o >= 1:
                        s0, s0b, flags = lm_here[0], _box(lm_here[0]), flags | 2
                    if o >= 2:
                        s1, s1b, flags = lm_here[1], _box(lm_here[1]), flags | 4
                out = np.zeros((h, w), np.int64)
                fine = None
                for parity in (0, 1):
                    ii, jj = self._positions(h, w, parity)
                    lma = _logmag(out) if (ctx and parity == 1) else empty
                    feats = _band_ctx(ii, jj, p, pb, s0, s0b, s1, s1b, lma,
                                      flags | (8 if (ctx and parity == 1) else 0))
                    tab = self._scales(lv + 1, ii, jj, feats, b, parity == 0)
                    yp = y[ii, jj] if y is not None else None
                    weights = None
                    if predictor is not None and parity == 1 and out.any():
                        pairs = anchor_pairs(out, ii, jj)  # (all-zero anchors: no record)
                        weights = predictor(b, pairs, yp, tab)
                    if weights is None and not dq_unit:
                        out[ii, jj] = coder(yp, np.zeros(ii.size, np.int64), tab, b)
                        continue
                    mu = np.zeros(ii.size, np.int64) if weights is None else \
                        pairs @ np.asarray(weights, np.int64)  # in 1 / PRED_ONE
                    k = coder(yp, mu / PRED_ONE, tab, b)
                    if fine is None:
                        fine = out.astype(np.float64)
                    if dq_unit:  # values in 1 / DQ_ONE (SPEC 6.8)
                        dq_place(k, mu, dq_unit, DQ_ONE // PRED_ONE, DQ_ONE, ii, jj, out, fine)
                        continue
                    v = k * PRED_ONE + mu
                    out[ii, jj] = np.sign(v) * ((np.abs(v) + PRED_ONE // 2) // PRED_ONE)
                    fine[ii, jj] = v / PRED_ONE
                yhat[b] = out if fine is None else fine
                lm_here.append(_logmag(out) if ctx else out)
            lm_prev = lm_here
        return yhat


_POSITIONS: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}


_pairs_kernel = None


def anchor_pairs(out: np.ndarray, ii: np.ndarray, jj: np.ndarray) -> np.ndarray:
    """(N, 2) int64: for the non-anchors (ii, jj) of a band whose anchors ``out`` holds,
    the sums of the left + right and of the upper + lower anchors (mirrored at the
    borders, where the mirror of a non-anchor's neighbour is again an anchor)."""
    global _pairs_kernel
    if _pairs_kernel is None:
        import numba as nb

        @nb.njit(cache=True, nogil=True)
        def k(out, ii, jj, res):  # pragma: no cover - numba
            h, w = out.shape
            for n in range(ii.size):
                i, j = ii[n], jj[n]
                iu = i - 1 if i > 0 else min(1, h - 1)
                idn = i + 1 if i + 1 < h else max(h - 2, 0)
                jl = j - 1 if j > 0 else min(1, w - 1)
                jr = j + 1 if j + 1 < w else max(w - 2, 0)
                res[n, 0] = out[i, jl] + out[i, jr]
                res[n, 1] = out[iu, j] + out[idn, j]

        _pairs_kernel = k
    res = np.empty((ii.size, 2), np.int64)
    _pairs_kernel(np.ascontiguousarray(out, np.int64), ii, jj, res)
    return res


_FIX = float(1 << (ACT_FRAC - 4))  # logmag (4 fractional bits) -> ACT_FRAC fixed point
_ctx_kernel = None


def _band_ctx(ii: np.ndarray, jj: np.ndarray, p: np.ndarray, pb: np.ndarray, s0: np.ndarray,
              s0b: np.ndarray, s1: np.ndarray, s1b: np.ndarray, lma: np.ndarray,
              flags: int) -> np.ndarray:
    """Context features c_1..c_8 (SPEC 6.4) of a detail band at positions (ii, jj), in
    ACT_FRAC fixed point: flags 1 parent (p, pb at half resolution), 2 sibling 0, 4 sibling
    1, 8 neighbours (logmag of the decoded anchors ``lma``, mirrored at the borders)."""
    global _ctx_kernel
    if _ctx_kernel is None:
        import numba as nb

        @nb.njit(cache=True, nogil=True)
        def k(ii, jj, p, pb, s0, s0b, s1, s1b, lma, flags, fix, out):  # pragma: no cover
            h, w = lma.shape
            for n in range(ii.size):
                i, j = ii[n], jj[n]
                if flags & 1:
                    out[n, 0] = p[i >> 1, j >> 1] * fix
                    out[n, 1] = pb[i >> 1, j >> 1] * fix
                if flags & 2:
                    out[n, 2] = s0[i, j] * fix
                    out[n, 3] = s0b[i, j] * fix
                if flags & 4:
                    out[n, 4] = s1[i, j] * fix
                    out[n, 5] = s1b[i, j] * fix
                if flags & 8:
                    iu = i - 1 if i > 0 else (1 if h > 1 else 0)
                    idn = i + 1 if i + 1 < h else (h - 2 if h > 1 else 0)
                    jl = j - 1 if j > 0 else (1 if w > 1 else 0)
                    jr = j + 1 if j + 1 < w else (w - 2 if w > 1 else 0)
                    a, b, c, d = lma[iu, j], lma[idn, j], lma[i, jl], lma[i, jr]
                    out[n, 6] = (a + b + c + d) * fix
                    out[n, 7] = max(max(a, b), max(c, d)) * fix

        _ctx_kernel = k
    out = np.zeros((ii.size, 8), np.float64)
    _ctx_kernel(ii, jj, p, pb, s0, s0b, s1, s1b, lma, flags, _FIX, out)
    return out


def fit_predictor(pairs: np.ndarray, u: np.ndarray, tab: np.ndarray, bank  # noqa: ANN001
                  ) -> np.ndarray | None:
    """Encoder: the mean-predictor weights (int64 (2,), in 1 / PRED_ONE) of a non-anchor
    pass whose values in symbol units are ``u``, from the anchor sums ``pairs`` (see
    :func:`anchor_pairs`): least squares, rounded and clipped to the record's range; or
    None where coding ``round(u - mu)`` under the pass's tables ``tab`` of ``bank`` would
    not save more information than the weights cost (14 bits)."""
    a = pairs.astype(np.float64)
    if u.size < 2 or not a.any():
        return None
    c, *_ = np.linalg.lstsq(a, u, rcond=None)
    weights = np.clip(np.rint(c * PRED_ONE), -PRED_ONE, PRED_ONE - 1).astype(np.int64)
    if not weights.any():
        return None
    mu = (pairs @ weights) / PRED_ONE
    saved = _coded_bits(np.rint(u), tab, bank) - _coded_bits(np.rint(u - mu), tab, bank)
    return weights if saved > 14.0 else None


def _coded_bits(q: np.ndarray, tab: np.ndarray, bank) -> float:  # noqa: ANN001 - ModelBank
    """Ideal bits of the integer values ``q``, element i under table ``tab[i]`` of
    ``bank``: the symbols (escape symbol included) and the escape coding."""
    from ..entropy import escape_bits, information_bits
    from ..quant import split_escapes

    sym, esc = split_escapes(q, tab, bank.tables.half)
    return information_bits(sym, tab, bank) + (escape_bits(zigzag_array(esc, np.uint32)) if esc.size else 0.0)


def _ll_pred(v: np.ndarray, i: int, ll_mean: int) -> np.ndarray:
    """Prediction of the LL anchors of row ``i`` (columns ``i % 2, i % 2 + 2, ...``) from
    the decoded anchors of row ``i - 1`` (its diagonal neighbours), else of row ``i - 2``,
    else ``ll_mean``: the rounded-down mean of the available ones."""
    h, w = v.shape
    js = np.arange(i % 2, w, 2)
    if i == 0:
        return np.full(js.size, ll_mean, np.int64)
    left, right = js - 1, js + 1
    vl, vr = left >= 0, right < w
    s = np.where(vl, v[i - 1, np.clip(left, 0, w - 1)], 0) + \
        np.where(vr, v[i - 1, np.clip(right, 0, w - 1)], 0)
    n = vl.astype(np.int64) + vr
    alt = v[i - 2, js] if i >= 2 else np.full(js.size, ll_mean, np.int64)
    return np.where(n > 0, (s + n // 2) // np.maximum(n, 1), alt)


def _bits_each(q: np.ndarray, tab: np.ndarray, tables) -> np.ndarray:  # noqa: ANN001
    """Bits of each value ``q`` (int64) under its own table ``tab`` of ``tables`` (a
    TableSet): its symbol, and beyond the table the escape symbol plus its escape code
    (SPEC 6.3: the bit length k of zigzag(q) as Uniform(33), then k - 1 bits; frexp's
    exponent is that bit length, exactly, for these integers)."""
    from ..entropy import FREQ_BITS
    half = tables.half[tab].astype(np.int64)
    inside = np.abs(q) <= half
    sym = np.where(inside, q + half, 2 * half + 1)
    bits = FREQ_BITS - np.log2(tables.flat[tables.offsets[tab] + sym].astype(np.float64))
    if not inside.all():
        k = np.frexp(zigzag_array(q[~inside], np.uint32).astype(np.float64))[1]
        bits[~inside] += np.log2(33.0) + np.maximum(k - 1, 0)
    return bits


def _value_bits_under(v: np.ndarray, tables, t: int) -> np.ndarray:  # noqa: ANN001 - TableSet
    """Bits of each value ``v`` (int64) under table ``t`` of ``tables``: its symbol, and
    for a value beyond the table the escape symbol plus its escape code."""
    return _bits_each(v, np.full(v.shape, t, np.int64), tables)


def _table_costs(res: np.ndarray, tables) -> np.ndarray:  # noqa: ANN001 - TableSet
    """Bits of the values ``res`` under each table of ``tables`` (escapes included)."""
    res = np.asarray(res, np.int64)
    return np.array([float(_value_bits_under(res, tables, t).sum())
                     for t in range(len(tables.half))])


def _reconstruct(lm: LoadedModel, quality: int, yhat: list[np.ndarray]) -> np.ndarray:
    """Decoded subbands -> float plane in normalised units (padded size)."""
    from ..models.wavelet import idwt97

    inv = np.exp(-lm.log_gain[quality] + lm.log_shrink_of(quality))
    sc = [yhat[b].astype(np.float64) * (inv[b] / lm.norms[b]) for b in range(NBANDS)]
    bands = [tuple(sc[1 + 3 * lv + o] for o in range(3)) for lv in range(LEVELS)]
    x = idwt97(sc[0], bands) + 0.5
    if lm.post is not None:
        x = lm.post(x, quality, lm.step_scale(quality))
    return x


def even_tiles(rows: int, cols: int, side: int = LARGE_TILE) -> tuple[int, int]:
    """Per axis the fewest tiles of at most ``side`` pixels, cut evenly, sides rounded up
    to a multiple of ``ALIGN`` (never beyond the frame).

    >>> even_tiles(2500, 2048), even_tiles(600, 10), even_tiles(4000, 3000)
    ((1280, 2048), (600, 10), (2048, 1536))
    """
    def one(n: int) -> int:
        k = -(-n // side)
        return min(n, -(-(-(-n // k)) // ALIGN) * ALIGN)

    return one(rows), one(cols)


def tilings(rows: int, cols: int) -> list[tuple[int, int]]:
    """The tile shapes ``mic.encode`` tries when the caller names none: DEFAULT_TILE
    squares and, for a frame larger than that, the fewest even tiles of at most
    LARGE_TILE a side (fewer tiles: less side information per tile and longer-range
    correlation, which wins at low rates on uniform radiographs; smaller tiles adapt
    their regions, table biases and filters locally, which wins beside large
    backgrounds).  The encoder keeps the stream of lower rate + lambda * distortion.

    >>> tilings(512, 512), tilings(1416, 1420)
    ([(512, 512)], [(512, 512), (1416, 1420)])
    """
    out = [(DEFAULT_TILE, DEFAULT_TILE)]
    if rows > DEFAULT_TILE or cols > DEFAULT_TILE:
        out.append(even_tiles(rows, cols))
    return out


def _pad(x: np.ndarray) -> np.ndarray:
    h, w = x.shape
    ph, pw = (-h) % ALIGN, (-w) % ALIGN
    return np.pad(x, ((0, ph), (0, pw)), mode="edge") if ph or pw else x


#: hyper-latent values (after the offset) whose bits under every latents' table are kept
#: in a lookup (the encoder's record choice); rarer ones are costed directly
ZBITS_SPAN = 64
_zbits_cache: dict[int, np.ndarray] = {}


def _value_bits(lm: LoadedModel) -> np.ndarray:
    """(S, 2 ZBITS_SPAN + 1): bits of each value -ZBITS_SPAN..ZBITS_SPAN under each table
    of the latents' bank, escapes included."""
    got = _zbits_cache.get(id(lm))
    if got is None:
        tables = lm.ybank.tables
        v = np.arange(-ZBITS_SPAN, ZBITS_SPAN + 1)
        got = np.stack([_value_bits_under(v, tables, t) for t in range(len(tables.half))])
        _zbits_cache[id(lm)] = got
    return got


def _z_record_values(rec: np.ndarray) -> np.ndarray:
    """The record's values in coding order (SPEC 6.9): ``any``, then (if any) every
    channel's ``use`` and the used channels' offsets and tables."""
    if not rec[:, 0].any():
        return np.zeros(1, np.int64)
    used = rec[rec[:, 0] == 1]
    return np.concatenate([[1], rec[:, 0], used[:, 1], used[:, 2]]).astype(np.int64)


def _z_channel_side_bits(lm: LoadedModel) -> float:
    """Bits of a used channel's offset and table in the record (SPEC 6.9)."""
    return float(np.log2(2 * ZOFF_MAX + 1) + np.log2(len(lm.ybank.tables.half)))


def _z_record_bits(rec: np.ndarray, lm: LoadedModel) -> float:
    """Bits of the record ``rec``: ``any``, and if set the ``use`` bits and the used
    channels' offsets and tables."""
    k = int(rec[:, 0].sum())
    return 1.0 + (0.0 if not k else rec.shape[0] + k * _z_channel_side_bits(lm))


def _z_channels(rec: np.ndarray | None, lm: LoadedModel, n: int) -> list[tuple[Any, int, int]]:
    """(bank, table, offset) of each hyper-latent channel: its own factorized table, or
    the record's table of the latents' bank about its offset."""
    return [(lm.ybank, int(rec[c, 2]), int(rec[c, 1])) if rec is not None and rec[c, 0]
            else (lm.zbank, c, 0) for c in range(n)]


#: a tile carries hyper-latent records only where its channels save more than this many
#: bits net of the record (one 32-bit range-coder word: smaller savings often vanish in the
#: word rounding of a small plane's stream)
ZREC_MIN_GAIN_BITS = 32.0


def _z_channel_choice(v: np.ndarray, c: int, lm: LoadedModel) -> tuple[float, float, int, int]:
    """(bits under its learned prior, least bits about an offset under a latents' table
    with the offset and table in the record, that offset, that table) of the values ``v``
    (int64) of hyper-latent channel ``c``; the offset is tried at the channel's median and
    one either side (a channel too spread for the lookup keeps its prior: inf)."""
    base = _coded_bits(v, np.full(v.size, c, np.int32), lm.zbank)
    med = int(np.median(v))
    best = (np.inf, 0, 0)
    for m in range(max(-ZOFF_MAX, med - 1), min(ZOFF_MAX, med + 1) + 1):
        vals, counts = np.unique(v - m, return_counts=True)
        if np.abs(vals).max() > ZBITS_SPAN:
            continue  # a channel this spread keeps its own table
        costs = _value_bits(lm)[:, vals + ZBITS_SPAN] @ counts
        t = int(np.argmin(costs))
        if costs[t] + _z_channel_side_bits(lm) < best[0]:
            best = (costs[t] + _z_channel_side_bits(lm), m, t)
    return base, best[0], best[1], best[2]


def _z_record_from(choices: list[tuple[float, float, int, int]], lm: LoadedModel
                   ) -> tuple[np.ndarray, float]:
    """The record and its net saving in bits from the channels' :func:`_z_channel_choice`."""
    rec = np.zeros((len(choices), 3), np.int64)
    saved = 0.0
    for c, (base, cost, m, t) in enumerate(choices):
        if cost < base:
            rec[c] = (1, m, t)
            saved += base - cost
    return rec, saved - _z_record_bits(rec, lm)


def choose_z_tables(zq: np.ndarray, lm: LoadedModel) -> tuple[np.ndarray, float]:
    """The encoder's hyper-latent record (SPEC 6.9) and the ideal bits it saves net of its
    own: (n, 3) int64 rows ``(use, m, t)``; a channel is coded as ``z - m`` under the
    latents' table ``t`` (``use`` = 1) where that saves more bits than the offset and
    table cost (:func:`_z_channel_choice`)."""
    return _z_record_from([_z_channel_choice(zq[c].reshape(-1).astype(np.int64), c, lm)
                           for c in range(zq.shape[0])], lm)


def _sample_range(header: Header) -> tuple[int, int]:
    return sample_range(header.bits_stored, bool(header.signed))


def _samples(x: np.ndarray, scale: float, lo: int, rng: tuple[int, int]) -> np.ndarray:
    """A decoded float plane -> int32 samples clipped to the header's range ``rng``."""
    return np.clip(np.rint(x * scale + lo), rng[0], rng[1]).astype(np.int32)


def _rgb_samples(ycc: np.ndarray, scale: float, lo: list[int],
                 rng: tuple[int, int]) -> np.ndarray:
    """Decoded Y, C1, C2 float planes (h, w, 3) -> int32 R, G, B samples (SPEC 6.1)."""
    rgb = (ycc - YCC_OFFSET) @ YCC  # YCC is orthonormal: its inverse is its transpose
    return np.stack([_samples(rgb[:, :, c], scale, lo[c], rng) for c in range(3)], -1)


def _region_record(values: list[int] | tuple[int, ...], shape: bytes) -> bytes:
    """A region record: the values, then a shape stream (or its bare word count)."""
    return b"".join(REGION.pack(v) for v in values) + shape


# ----------------------------------------------------------------------------- encoder
#: the encoder may send table biases per pass (XFORM_PASS_BIAS) where they save more than
#: per band (False: per band only; for measuring them, research/pass_bias_gain.py)
PASS_BIASES = True
#: table biases are sent only if they save more than this many bits per plane
BIAS_MIN_GAIN_BITS = 16.0


def _best_biases(record: list, lm: LoadedModel, per_pass: bool = False
                 ) -> tuple[np.ndarray, float]:
    """Per band (``per_pass``: per pass, NPASS_BIAS entries), the table bias in
    [-BIAS_MAX, BIAS_MAX] that codes the recorded symbols (band, q, table; a detail band's
    anchors before its non-anchors) in the fewest ideal bits, and the bits that saves net
    of coding the biases."""
    from ..entropy.shape import small_bits

    bias = np.zeros(NPASS_BIAS if per_pass else NBANDS, np.int64)
    saved = 0.0
    n_tab = len(lm.ybank)
    by_key: dict[int, list] = {}
    passes: dict[int, int] = {}
    for band, q, tab in record:
        n = passes[band] = passes.get(band, 0) + 1
        key = NBANDS - 1 + band if (per_pass and band > 0 and n % 2 == 0) else band
        by_key.setdefault(key, []).append((q, tab))
    for key, parts in by_key.items():
        q = np.concatenate([p[0] for p in parts]).astype(np.int32)
        tab = np.concatenate([p[1] for p in parts]).astype(np.int32)
        costs = [_coded_bits(q, np.clip(tab + d, 0, n_tab - 1).astype(np.int32), lm.ybank)
                 for d in range(-BIAS_MAX, BIAS_MAX + 1)]
        k = int(np.argmin(costs))
        bias[key] = k - BIAS_MAX
        saved += costs[BIAS_MAX] - costs[k]
    return bias, saved - small_bits(bias)


# ----------------------------------------------------------------------------- tile encoder
#: the RD rounding's Lagrangian relative to the training lambda (encoder-only; tuned on the
#: corpus train split, runs of research/rdo_tune.py)
RDO_LAMBDA_SCALE = 1.4
#: the encoder tries the smoother constant-region candidates only while the last one's
#: shape cost at least this fraction of the best rate + lambda * distortion so far
REGION_STOP = 0.02
#: the region decision's Lagrangian relative to the training lambda (train region images,
#: runs of x0.6 and x1.6: +0.08 % and +0.02 % BD against x1)
REGION_LAMBDA_SCALE = 1.0


class _SubbandBits:
    """The encoder's estimate of a plane's subband bits under the tables that given
    hyper-latents select (``zopt``): the values rounded plainly (detail bands at the
    dependent quantiser's mean level spacing when it is on), so they and their context
    features do not depend on the hyper-latents and are computed once; a trial recomputes
    the hyper features and the table indexes only of the positions whose hyper-feature
    cell changed (the LL anchors, whose table does not depend on them, are left out)."""

    def __init__(self, enc: LossyTileEncoder, ys: list[np.ndarray], hp: int, wp: int,
                 zq: np.ndarray) -> None:
        lm, qual = enc.lm, enc.quality
        self.lm, self.q, self.zk = lm, qual, int(lm.zk[qual])
        self.h16 = lm.hs(zq.astype(np.float64), self.zk)
        shrink = np.exp(lm.log_shrink_of(qual))
        spacing = 2.0 * DQ_UNIT / DQ_ONE if enc.dq else 1.0
        passes: list[list] = []

        class _Recorder(_Planes):
            def _scales(self, level, ii, jj, ctx, band, anchor):  # noqa: ANN001, ANN202
                tab = super()._scales(level, ii, jj, ctx, band, anchor)
                passes.append([self.cells(level, ii, jj), np.array(ctx), band,
                               0 if anchor else 1, tab])
                return tab

        def coder(yv: np.ndarray, mu: np.ndarray, tab: np.ndarray, band: int) -> np.ndarray:
            if band < 0:
                return np.rint(yv - mu).astype(np.int64)
            step = float(shrink[band]) * (spacing if band >= 1 else 1.0)
            q = np.rint(yv / step - mu).astype(np.int64)
            passes[-1].append(q)
            return q

        _Recorder(lm, qual, hp, wp).run(coder, int(np.rint(ys[0].mean())), self.h16, ys,
                                        lambda res: 0)
        #: per pass, fixed: (cells, context features, band, pass, values); current:
        #: the table indexes and each value's bits under them
        self.passes = [(cells, ctx, band, npass, q) for cells, ctx, band, npass, _, q in passes]
        self.tabs = [tab for *_, tab, _ in passes]
        self.bits = [_bits_each(q, tab, lm.ybank.tables) for *_, tab, q in passes]
        self.total = float(sum(b.sum() for b in self.bits))

    def trial(self, zq: np.ndarray) -> tuple[float, Any]:
        """(estimated subband bits under the tables of ``zq``, the change to keep it)."""
        from ..models.intnet import mlp_scale_index

        lm = self.lm
        h16 = lm.hs(zq.astype(np.float64), self.zk)
        moved = (h16 != self.h16).any(axis=0).reshape(-1)
        total, news = self.total, []
        if moved.any():
            hyper = np.ascontiguousarray(h16.reshape(h16.shape[0], -1).T)
            for k, (cells, ctx, band, npass, q) in enumerate(self.passes):
                m = moved[cells]
                if m.any():
                    tab = mlp_scale_index(lm.mlp, hyper, cells[m], ctx[m], self.q, band,
                                          npass, lm.thresholds)
                    b = _bits_each(q[m], tab, lm.ybank.tables)
                    total += float(b.sum() - self.bits[k][m].sum())
                    news.append((k, m, tab, b))
        return total, (h16, total, news)

    def keep(self, change: Any) -> None:
        """Make a trial's hyper-latents the current ones."""
        self.h16, self.total, news = change
        for k, m, tab, b in news:
            self.tabs[k][m] = tab
            self.bits[k][m] = b


class LossyTileEncoder:
    """Encode tiles with a learned model (see module docstring).

    Options: ``model`` (``"cnn"`` default, ``"vae"``, ``"ae"``); ``rdo`` (default True):
    rate-distortion optimised rounding of the subbands (the decoder is the same either
    way); ``regions`` (default True): try coding a plane's exact-constant region (CT
    padding, black bars, the outside of an ultrasound sector) as a shape and a value,
    keeping whichever costs less in rate + lambda * distortion (SPEC 6.6; the encoder
    then codes each such plane up to four times); ``adapt`` (default True): per tile,
    bias each band's table indexes where that codes the tile in fewer bits (SPEC 6.4; a
    second coding pass); ``restore`` (default True): fit a restoration filter to the
    decoded tile and send it where it lowers rate + lambda * distortion (SPEC 6.7,
    :mod:`mic.lossy.restore`); ``means`` (default True): code each detail band's
    non-anchors about a mean predicted from their four anchors by two weights fitted to
    the band and sent where they save bits (SPEC 6.4; a tile flag, and a bit per band
    whose anchors are not all zero even where the band uses none); ``dq`` (default True):
    code the detail bands with the dependent quantiser (SPEC 6.8: a tile flag; each pass's
    symbols chosen by a Viterbi search, about 10-20 % more encode time); ``zadapt``
    (default True, vae and cnn): per plane, code hyper-latent channels about an offset under
    a latents' table where that saves bits (SPEC 6.9: a tile flag, set only where some plane
    of the tile has such a channel); ``zopt`` (default True, vae and cnn): per plane, send
    as 0 the hyper-latent channels whose bits buy fewer bits of the subbands than they
    cost (an encoder choice, SPEC 6.9; about 1.4 times the encode time).
    """

    def __init__(self, header: Header, quality: int, model: str = DEFAULT_MODEL,
                 rdo: bool = True, regions: bool = True, adapt: bool = True,
                 restore: bool = True, means: bool = True, dq: bool = True,
                 zadapt: bool = True, zopt: bool = True, **options: Any) -> None:
        if options:
            raise MicInputError(f"unknown lossy option(s): {sorted(options)}")
        if not isinstance(model, str):
            raise MicInputError(f"model must be a name like 'cnn', got {model!r}")
        self.lm = lm = load_model(model)
        if not 0 <= quality < lm.n_qualities:
            raise MicInputError(
                f"quality {quality} out of range for model {model}: 0..{lm.n_qualities - 1}")
        self.quality = quality
        self.rdo = bool(rdo)
        self.regions = bool(regions)
        self.adapt = bool(adapt)
        self.restore = bool(restore)
        self.means = bool(means)
        self.dq = bool(dq)
        self.zadapt = bool(zadapt) and lm.uses_hyper
        self.zopt = bool(zopt) and lm.uses_hyper
        self._zrecord = False  # this tile's planes carry hyper-latent records (SPEC 6.9)
        self._fronts: list[tuple[np.ndarray, Any]] = []  # the tile's analysed planes (_front)
        self._zdrops: dict[int, np.ndarray] = {}  # per plane of the tile: zopt's zeroed channels
        #: the training loss's lambda * 255^2 (per unit of squared error in pixel units)
        self.lam = float(lm.config["lambdas"][quality]) * 255.0 ** 2
        header.model_id = lm.id
        self.sample_range = _sample_range(header)
        header.coder_id = CODER_RANGE32
        header.quality = quality
        if header.tile_rows == 0 and header.tile_cols == 0:
            header.tile_rows = header.tile_cols = DEFAULT_TILE
        self.header = header
        self.fields = TileFields(header.version_major)
        #: normalisation bits shared by every tile (see :meth:`plan`); None: each tile's own
        self.span_bits: int | None = None
        #: ideal bits of the coded symbols so far (tables' information content + 32 per escape)
        self.information_bits = 0.0

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

    def _bits(self, span: int) -> int:
        """Normalisation bits of a tile whose largest span is ``span``."""
        return max(1, span.bit_length(), self.span_bits or 1)

    def extra_segments(self) -> list[tuple[bytes, bytes]]:
        lm = self.lm
        if LONG_MODEL_SEGMENT:
            return [(TAG_LMDL, LMDL.pack(lm.id, lm.sha256, lm.table_id, lm.n_qualities))]
        return [(TAG_LMDS, LMDS.pack(lm.id, lm.sha256[:8], lm.table_id, lm.n_qualities))]

    def encode_tile(self, tile: np.ndarray) -> bytes:
        """int32 (h, w, S) native samples -> payload bytes."""
        from .restore import fit_filters

        rgb = tile.shape[2] == 3  # else one sample: a grey plane
        self._fronts = []
        self._zdrops = {}
        self._zrecord = self._wants_zrecord(tile)
        region, body, bias, rec, mask = self._choose(
            tile, self._code_rgb if rgb else self._code_gray)
        flag = XFORM_BIAS if bias is not None else 0
        if bias is not None and bias[0].size == NPASS_BIAS:
            flag |= XFORM_PASS_BIAS
        if not (region is not None and rec is None):  # planes follow
            flag |= (XFORM_MEANS if self.means else 0) | (XFORM_DQ if self.dq else 0) | \
                (XFORM_ZTAB if self._zrecord else 0)
        f = self.fields
        bits, k = [], 0  # the norms' bits at the start of the body, and where they end
        for _ in range(tile.shape[2]):
            _, b, k = f.read_norm(body, k)
            bits.append(b)
        if self.restore and rec is not None:
            lam = self.sample_lam(float((1 << bits[0]) - 1))
            record, _, directional = fit_filters(rec, tile, mask, bits, lam, self.sample_range,
                                                 directions=f.v2 and RESTORE_DIRECTIONS)
            if record is not None:
                flag |= XFORM_RESTORE | (XFORM_RESTORE_DIR if directional else 0)
                body += record  # after the last plane (SPEC 6.7)
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
        out = None if rec is None else _samples(rec, scale, lo, self.sample_range)[:, :, None]
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
        return body, _rgb_samples(np.stack([r for _, r in coded], -1), scale, lo,
                                  self.sample_range), scale, bias

    def _encode_planes(self, xs: list[np.ndarray], recon: bool, bias: Any
                       ) -> tuple[list[tuple[bytes, np.ndarray | None]], Any]:
        """Code a tile's float planes; ``bias`` = ``None`` (no table biases), a list of
        per-plane bias vectors, or ``"auto"``: a first pass with none, then, if biasing the
        tables (SPEC 6.4) codes the first pass's symbols in fewer bits than the biases cost,
        a second pass with the best bias per band (``adapt=False``: never)."""
        if isinstance(bias, str):
            if not self.adapt:
                bias = None
            else:
                info0 = self.information_bits
                records: list[list] = [[] for _ in xs]
                first = [self._encode_plane(x, recon, record=r, plane=k)
                         for k, (x, r) in enumerate(zip(xs, records))]
                forms = [[_best_biases(r, self.lm, per_pass) for r in records]
                         for per_pass in ((False, True) if PASS_BIASES else (False,))]
                picks = max(forms, key=lambda f: sum(saved for _, saved in f))
                if sum(saved for _, saved in picks) <= BIAS_MIN_GAIN_BITS * len(xs):
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
        from .region import constant_regions, fill_region

        if self.regions and t.size and all(int(t[:, :, c].min()) == int(t[:, :, c].max())
                                           for c in range(t.shape[2])):
            # one value in every plane: the record alone, no plane (SPEC 6.6)
            k = t.shape[2]
            values = [int(t[0, 0, c]) for c in range(k)]
            norms = b"".join(self.fields.pack_norm(v, 1) for v in values)
            return _region_record(values, struct.pack("<I", WHOLE_TILE)), norms, None, None, None
        info0 = self.information_bits
        body, rec, scale, bias = code(t, self.regions or self.restore)
        if not self.regions:
            return None, body, bias, rec, None
        masks = constant_regions(t)
        if not masks:
            return None, body, bias, rec, None
        lam = REGION_LAMBDA_SCALE * self.sample_lam(scale)

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
            record = _region_record(values, shape)
            j = cost(len(body_f) + len(record), rec_f)
            if j < best[0]:
                best = (j, record, body_f, self.information_bits - info0 + 8.0 * len(shape),
                        rec_f, m)
            if 8.0 * len(shape) < REGION_STOP * best[0]:
                break  # the smoother candidates mainly save shape bits: too few to matter
        self.information_bits = info0 + best[3]
        return best[1], best[2], bias, best[4], best[5]

    def _front(self, x: np.ndarray, plane: int = 0
               ) -> tuple[list[np.ndarray], int, int, Any, Any]:
        """(scaled subbands ``y_b`` in band order, padded rows, cols, rounded hyper-latents
        (vae, cnn; else None), and with ``zadapt`` their record choice (record, net gain
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
        :func:`_z_channel_choice`: under their learned priors, less what a hyper-latent
        record saves where it would be sent."""
        bits = sum(ch[0] for ch in choices)
        if self.zadapt:
            gain = _z_record_from(choices, self.lm)[1]
            if gain > ZREC_MIN_GAIN_BITS:
                bits -= gain
        return bits

    def _optimise_z(self, ys: list[np.ndarray], hp: int, wp: int, zq: np.ndarray
                    ) -> np.ndarray:
        """The encoder's choice of hyper-latents (``zopt``; the decoder reads whatever it
        is sent): greedily, channel by channel from the costliest, set a channel to 0
        where its bits buy fewer bits of the subbands than they cost (estimated by
        :meth:`_z_bits` + :class:`_SubbandBits`).  At low rates on large smooth images some
        channels cost more than they tell the tables."""
        lm = self.lm
        choices = [_z_channel_choice(zq[c].reshape(-1).astype(np.int64), c, lm)
                   for c in range(zq.shape[0])]
        cands = [c for c in np.argsort([-ch[0] for ch in choices]) if zq[c].any()]
        if not cands:
            return zq
        zero = np.zeros(zq[0].size, np.int64)
        est = _SubbandBits(self, ys, hp, wp, zq)
        best = self._z_bits(choices) + est.total
        for c in cands:
            trial, tried = zq.copy(), list(choices)
            trial[c] = 0
            tried[c] = _z_channel_choice(zero, c, lm)
            ybits, change = est.trial(trial)
            cost = self._z_bits(tried) + ybits
            if cost < best:
                best, zq, choices = cost, trial, tried
                est.keep(change)
        return zq

    def _wants_zrecord(self, t: np.ndarray) -> bool:
        """Whether the records of the tile's planes, normalised as the plain coding does,
        save more than ZREC_MIN_GAIN_BITS (SPEC 6.9): the tile then carries flag 128 and
        every plane its record, else neither (no bit spent where they would not pay)."""
        if not self.zadapt or all(int(t[:, :, c].min()) == int(t[:, :, c].max())
                                  for c in range(t.shape[2])):
            return False
        return sum(self._front(x, k)[4][1] for k, x in enumerate(self._normalise(t)[0])) \
            > ZREC_MIN_GAIN_BITS

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

        lm, qual, means = self.lm, self.quality, self.means
        ys, hp, wp, zq, zrec = self._front(x, plane)
        enc = new_encoder()
        if bias is not None:
            self.information_bits += encode_small(enc, bias)
        crc = 0
        h16 = None
        if lm.uses_hyper:
            rec = zrec[0] if self._zrecord else None
            if rec is not None:  # the record (SPEC 6.9)
                zvals = _z_record_values(rec)
                uniform_encode(enc, zvals[:1], 2)
                if zvals[0]:
                    used = rec[rec[:, 0] == 1]
                    uniform_encode(enc, rec[:, 0], 2)
                    uniform_encode(enc, used[:, 1] + ZOFF_MAX, 2 * ZOFF_MAX + 1)
                    uniform_encode(enc, used[:, 2], len(lm.ybank.tables.half))
                self.information_bits += _z_record_bits(rec, lm)
                crc = zlib.crc32(zvals.astype("<i4").tobytes(), crc)
            zesc = []
            for c, (bank, t, m) in enumerate(_z_channels(rec, lm, zq.shape[0])):
                v = zq[c].reshape(-1) - m
                tab = np.full(v.size, t, np.int32)
                zs, e = split_escapes(v, tab, bank.tables.half)
                encode_grouped(enc, zs, tab, bank)
                self.information_bits += information_bits(zs, tab, bank)
                zesc.append(e)
            zesc = np.concatenate(zesc)
            encode_escapes(enc, zigzag_array(zesc, np.uint32))
            self.information_bits += escape_bits(zigzag_array(zesc, np.uint32))
            crc = zlib.crc32(np.ascontiguousarray(zq, "<i4").tobytes(), crc)
            h16 = lm.hs(zq.astype(np.float64), int(lm.zk[qual]))
        ll_mean = int(np.rint(ys[0].mean()))
        state = {"crc": crc}

        gains = np.exp(lm.log_gain[qual])
        # the decoder reconstructs a detail symbol q at shrink * q (in units of y): the
        # rounding is chosen for that value (SPEC 6.9)
        shrink = np.exp(lm.log_shrink_of(qual))

        def coder(yv: np.ndarray, mu: np.ndarray, tab: np.ndarray, band: int) -> np.ndarray:
            if self.dq and band >= 1:  # mu in symbol units
                s = float(shrink[band])
                lam = RDO_LAMBDA_SCALE * self.lam * s * s / gains[band] ** 2 if self.rdo else 1e12
                q = quantize_dq(yv / s, mu, tab, lm.ybank.tables, lam, DQ_UNIT / DQ_ONE)
            elif self.rdo and band >= 0:  # mu in symbol units (band 0: shrink 1)
                s = float(shrink[band])
                q = quantize_rdo(yv / s, mu, tab, lm.ybank.tables,
                                 RDO_LAMBDA_SCALE * self.lam * s * s / gains[band] ** 2)
            else:  # band -1: the LL anchors, whose values the table choice assumed (the RD
                # rounding leaves them as they are: measured 2026-12-03, +0.0 to +0.06 % BD)
                q = quantize_residual(yv, mu.astype(np.float64))
            sym, esc = split_escapes(q, tab, lm.ybank.tables.half)
            encode_grouped(enc, sym, tab, lm.ybank)
            encode_escapes(enc, zigzag_array(esc, np.uint32))
            self.information_bits += information_bits(sym, tab, lm.ybank) + escape_bits(zigzag_array(esc, np.uint32))
            state["crc"] = zlib.crc32(np.ascontiguousarray(q, "<i4").tobytes(), state["crc"])
            if record is not None and band >= 0:
                record.append((band, q, tab))
            return q.astype(np.int64)

        n_tab = len(lm.ybank.tables.half)

        def ll_table(res: np.ndarray) -> int:
            t = int(np.argmin(_table_costs(res, lm.ybank.tables)))
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

        yhat = _Planes(lm, qual, hp, wp, bias).run(coder, ll_mean, h16, ys, ll_table,
                                                   predictor if means else None,
                                                   DQ_UNIT if self.dq else 0)
        w = words(enc).astype("<u4")
        rec = _reconstruct(lm, qual, yhat)[:x.shape[0], :x.shape[1]] if recon else None
        return self.fields.pack_plane(ll_mean, state["crc"], w.size) + w.tobytes(), rec


# ----------------------------------------------------------------------------- decoder
class LossyTileDecoder:
    """Decode tiles of a lossy stream; refuses unknown models, weights or tables."""

    def __init__(self, header: Header, stream: Any) -> None:
        found = [s for s in stream.segments if s.tag in (TAG_LMDL, TAG_LMDS)]
        if len(found) != 1:
            raise MicFormatError(f"lossy stream with {len(found)} model segments (LMDL or "
                                 f"LMDS), needs exactly one")
        tag, seg = found[0].tag.decode(), memoryview(found[0].payload)
        form = LMDL if tag == "LMDL" else LMDS
        if len(seg) < form.size:
            raise MicTruncatedError(f"{tag} segment has {len(seg)} bytes, needs {form.size}")
        mid, sha, table_id, nq = form.unpack_from(seg, 0)
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
        self.sample_range = _sample_range(header)
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
                out[:] = _rgb_samples(np.stack(planes, -1), float((1 << bits) - 1),
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
                out[:, :, c] = _samples(x, float((1 << bits) - 1), lo, self.sample_range)
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
                return merge_escapes(sym, tab, half, unzigzag_array(decode_escapes(dec, n_esc), np.int32))
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
                crc_now = zlib.crc32(_z_record_values(rec).astype("<i4").tobytes())
            chans = _z_channels(rec, lm, zshape[0])
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

        yhat = _Planes(lm, qual, hp, wp, bias).run(coder, ll_mean, h16, None, ll_table,
                                                   predictor if means else None,
                                                   DQ_UNIT if dq else 0)
        if state["crc"] != crc:
            raise MicChecksumError(
                "lossy tile: CRC-32 of the decoded symbols does not match (corrupt data or a "
                "model/table mismatch)")
        return _reconstruct(lm, qual, yhat)[:rows, :cols], off
