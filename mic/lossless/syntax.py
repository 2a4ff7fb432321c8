"""The lossless predictive coder's stream syntax (model id 1, SPEC.md section 5), shared by
its encoder and decoder: the plane kinds and colour transforms, the frozen token tables as
constriction models and their exact costs, and a plane's fields (:class:`PlaneHead`, read
and checked without decoding, SPEC 4.1).

>>> from mic.lossless.syntax import MODEL_ID, PLANE_CODED, plane_head
>>> MODEL_ID, plane_head(PLANE_CODED, -3, 100)
(1, b'\\x01\\x05d')
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ..bitstream.varint import pack_uvarint, read_uvarint, unzigzag, zigzag
from ..entropy.bounds import categorical_costs, check_words
from ..errors import MicFormatError, MicTruncatedError, MicUnsupportedError
from . import kernels as K

MODEL_ID = 1  # permanent: "mic lossless v1" (predictor, token scheme, tables of _tables_v1)
#: permanent id of mode 2's coder: model 1's predictor, token scheme and tables, with the
#: near-lossless quantiser (SPEC 7).  Not 1, so a mode-2 header over a model-1 stream is refused.
NEAR_MODEL_ID = 2
#: permanent id of mode 2's second coder (SPEC 7.6): model id 2 with the prediction of every
#: near-lossless plane corrected by two integer NLMS filters; what ``mic.encode(a,
#: max_error=k)`` writes from effort 3 (the default).  Decoders read both 2 and 12.
NEAR_LMS_MODEL_ID = 12
#: permanent id of mode 0's fast coder (SPEC 5.6): model 1's tiles and planes plus plane kind 3
#: (median-edge prediction, static rANS); what ``mic.encode(a, effort=1)`` or ``2`` writes.
FAST_MODEL_ID = 3
#: permanent id of mode 0's NLMS coder (SPEC 5.7): model 3's tiles and plane kinds with every
#: kind-1 and kind-2 plane predicted by model 12's two NLMS filters (SPEC 7.6 at k = 0); what
#: ``mic.encode(a)`` writes from effort 3 (the default).  Decoders read 1, 3 and 13.
LMS_MODEL_ID = 13
#: permanent id of mode 0's fast NLMS coder (SPEC 5.8): model 13's tiles and plane kinds plus
#: kinds 5 and 6 (kinds 3 and 4 with their prediction corrected by two integer NLMS filters);
#: what ``mic.encode(a)`` writes from effort 3 (the default).  Decoders read 1, 3, 13 and 14.
FAST_LMS_MODEL_ID = 14
#: permanent id of model 14 with one more colour transform, xform 5 (SPEC 5.9): an RGB tile
#: coded as one channel and the other two either as themselves or less a channel coded
#: before them; what ``mic.encode(a)`` writes (from effort 3) where an RGB tile codes
#: smaller that way.  Decoders read 1, 3, 13, 14 and 15.
FAST_LMS_CDIFF_MODEL_ID = 15
#: permanent id of model 15 with priors (SPEC 5.10): in kinds 5 and 6 the NLMS filters start
#: from fixed weights, and a class may use its fixed built-in token table instead of one the
#: plane sends (``_tables_v16.py``); what ``mic.encode(a)`` writes from effort 3 (the
#: default).  Decoders read 1, 3, 13, 14, 15 and 16.
FAST_LMS_PRIOR_MODEL_ID = 16
#: permanent id of mode 2's fast coder (SPEC 7.7): model id 12's stream whose near-lossless
#: planes are of kinds 3-6 (model 16's fast planes, kinds 5 and 6 with its priors) with the
#: residuals quantised to step 2k+1; what ``mic.encode(a, max_error=k)`` writes (kinds 3 and 4
#: at efforts 1-2, 5 and 6 from effort 3).  Decoders read 2, 12 and 17.
NEAR_FAST_MODEL_ID = 17
#: permanent id of model 16 whose kind-5/6 planes split their tables into bands of the
#: coded sample above (SPEC 5.11); lossless
FAST_LMS_BANDS_MODEL_ID = 18
#: permanent id of model 17 whose kind-5/6 planes split their tables into bands of the
#: reconstruction above (SPEC 7.8, 5.11); near-lossless
NEAR_FAST_BANDS_MODEL_ID = 19
#: permanent id of model 18 whose kind-5/6 planes may also code their low samples (those
#: whose ``(W + N + 1) >> 1`` is below a count the plane sends) as values under tables of
#: their own (SPEC 5.12); lossless.  What ``mic.encode(a)`` writes from effort 3 (the
#: default) since 2026-12-07.  Decoders read 1, 3, 13-16, 18 and 20.
FAST_LMS_LOW_MODEL_ID = 20
#: permanent id of model 19 whose kind-5/6 planes may also code their low samples as grid
#: indices of their values under tables of their own (SPEC 7.9, 5.12); near-lossless.  What
#: ``mic.encode(a, max_error=k)`` writes from effort 3 since 2026-12-07.
NEAR_FAST_LOW_MODEL_ID = 21
#: permanent id of model 20 whose kind-5/6 planes write each table section bit-packed
#: (SPEC 5.13: the class map as runs, each table's frequencies as bit lengths and a precision
#: the encoder chooses); lossless.  What ``mic.encode(a)`` writes from effort 3 (the
#: default) since 2026-12-07 (``compact_tables=False``: model id 20).
FAST_LMS_COMPACT_MODEL_ID = 22
#: permanent id of model 21 whose kind-5/6 planes write their table sections as model 22's
#: do (SPEC 7.10, 5.13); near-lossless.  What ``mic.encode(a, max_error=k)`` writes from
#: effort 3 since 2026-12-07 (``compact_tables=False``: model id 21).
NEAR_FAST_COMPACT_MODEL_ID = 23
#: permanent id of model 22 with one more colour transform, xform 6 (SPEC 5.14): xform 5's
#: trees whose difference planes may be wrapped modulo ``2**bits_stored`` about a base the
#: tile sends; lossless.  What ``mic.encode(a)`` writes (from effort 3) where an RGB tile
#: codes smaller that way, since 2026-12-07; decoders read it beside 22.
FAST_LMS_WRAP_MODEL_ID = 24
#: permanent id of model 22 whose volumes may also have inter tiles of xform 7 (SPEC 5.15):
#: a kind-5 plane whose NLMS filters take the previous frame's prediction P5; what
#: ``mic.encode(a, volume_group=G)`` writes where such a tile codes smaller, since
#: 2026-12-07 (``inter_nlms=False``: model id 22); decoders read it beside 22.
FAST_LMS_INTER_MODEL_ID = 25
TAG_NEAR = b"NEAR"  # mode 2's critical segment: varint(k), the maximum absolute error
BLOCK_LOG2 = 3  # 8x8 blocks choose the token table
LARGE_PLANE = 1 << 20  # planes above this many pixels also try 16x16 blocks (cheaper class map)
MAX_VALUE = (1 << 17) - 2  # largest plane span (RCT chroma of 16-bit data)
CHUNK = 1 << 20  # the decoder decodes (and meters, SPEC 4.1) at most this many tokens a call

PLANE_CONST = 0
PLANE_CODED = 1
PLANE_PALETTE = 2
PLANE_FAST = 3  # model 3 only (SPEC 5.6)
PLANE_FAST_PALETTE = 4  # model 3 only: kind 2's palette over a kind-3 body (SPEC 5.6)
PLANE_FAST_LMS = 5  # model 14 only: kind 3 with the NLMS prediction (SPEC 5.8)
PLANE_FAST_LMS_PALETTE = 6  # model 14 only: kind 2's palette over a kind-5 body (SPEC 5.8)
#: the plane kinds whose body is fast (SPEC 5.6, 5.8), and those with a palette
FAST_KINDS = (PLANE_FAST, PLANE_FAST_PALETTE, PLANE_FAST_LMS, PLANE_FAST_LMS_PALETTE)
PALETTE_KINDS = (PLANE_PALETTE, PLANE_FAST_PALETTE, PLANE_FAST_LMS_PALETTE)

XFORM_NONE = 0
XFORM_RCT = 1  # mode 0 only: the reversible colour transform of JPEG 2000
XFORM_GDIFF = 2  # mode 2 only: G near-lossless, then R - G and B - G exactly (SPEC 7.3)
XFORM_INTER = 4  # mode 0, S = 1, streams with an LVOL segment: predicted from frame f - 1 (SPEC 5.5)
XFORM_CDIFF = 5  # model 15 only, S = 3: channel differences, a tree byte follows (SPEC 5.9)
XFORM_WRAP = 6  # model 24 only, S = 3: xform 5 with wrapped differences (SPEC 5.14)
XFORM_INTER_FAST = 7  # model 25, LVOL: a kind-5 plane given the previous frame's P5 (5.15)
TAG_VOL = b"LVOL"  # mode 0's critical volume segment: varint(G), frames per group (SPEC 5.5)
MAX_GROUP = 1 << 16


def pack_group(g: int) -> bytes:
    """The payload of the ``LVOL`` segment: the group size ``G`` as a varint (SPEC 5.5).

    >>> pack_group(8)
    b'\\x08'
    """
    return pack_uvarint(g)


def pack_tree(order: tuple[int, int, int], refs: tuple[int, int, int]) -> int:
    """The tree byte of an xform-5 tile (SPEC 5.9): planes code channels ``order`` (a
    permutation of 0, 1, 2 = R, G, B), plane ``k`` less the channel of plane ``refs[k]``
    (an earlier plane; -1: nothing subtracted; ``refs[0]`` is -1).

    >>> pack_tree((1, 0, 2), (-1, 0, 0)), read_tree(0x31)
    (49, ((1, 0, 2), (-1, 0, 0)))
    """
    return order[0] | order[1] << 2 | (refs[1] + 1) << 4 | (refs[2] + 1) << 5


def read_tree(b: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """The channel order and the references (see :func:`pack_tree`) of tree byte ``b``;
    :class:`MicFormatError` if ``b`` names no tree."""
    c0, c1, r1, r2 = b & 3, b >> 2 & 3, b >> 4 & 1, b >> 5 & 3
    if c0 > 2 or c1 > 2 or c0 == c1 or r2 > 2 or b >> 7:
        raise MicFormatError(f"lossless tile: colour-difference tree byte {b:#04x} is invalid")
    return (c0, c1, 3 - c0 - c1), (-1, r1 - 1, r2 - 1)


def wrap_field(base: int | None) -> bytes:
    """An xform-6 tile's wrap field of one plane (SPEC 5.14): 0 where the plane holds a
    plain difference (or no difference), else ``zigzag(base) + 1``, as a varint.

    >>> wrap_field(None), wrap_field(-1), wrap_field(300)
    (b'\\x00', b'\\x02', b'\\xd9\\x04')
    """
    return pack_uvarint(0 if base is None else zigzag(base) + 1)


def pack_wraps(bases: tuple[int | None, int | None]) -> bytes:
    """The two wrap fields of an xform-6 tile (SPEC 5.14), of planes 1 and 2
    (:func:`wrap_field`).

    >>> pack_wraps((None, -1)), pack_wraps((3, None))
    (b'\\x00\\x02', b'\\x07\\x00')
    """
    return wrap_field(bases[0]) + wrap_field(bases[1])


def read_wraps(buf: memoryview, pos: int, refs: tuple[int, int, int], bits_stored: int
               ) -> tuple[tuple[int | None, int | None], int]:
    """The bases of an xform-6 tile's planes 1 and 2 (None: not wrapped) read at ``pos``,
    and the position after them; :class:`MicFormatError` for a field that is not a varint
    of at most 3 bytes, a base of magnitude ``2**bits_stored`` or more, or a wrapped plane
    that subtracts no channel (SPEC 5.14)."""
    out: list[int | None] = []
    m = 1 << bits_stored
    for k in (1, 2):
        try:
            v, pos = read_uvarint(buf, pos, "xform 6 wrap field", 2 * m, max_bytes=3)
        except MicTruncatedError:
            raise MicFormatError("lossless tile: xform 6 cut inside its wrap fields") from None
        if v == 0:
            out.append(None)
            continue
        base = unzigzag(v - 1)
        if refs[k] < 0 or abs(base) >= m:
            raise MicFormatError(f"lossless tile: xform 6 wrap field {v} of plane {k} is "
                                 "invalid")
        out.append(base)
    return (out[0], out[1]), pos


def wrap_plane(d: np.ndarray, base: int, bits_stored: int) -> np.ndarray:
    """A difference plane ``d`` wrapped about ``base`` (SPEC 5.14): ``(d - base) mod
    2**bits_stored``, int32.

    >>> wrap_plane(np.array([-1, 0, 1, -5]), -1, 3).tolist()
    [0, 1, 2, 4]
    """
    return ((np.asarray(d, np.int64) - base) & ((1 << bits_stored) - 1)).astype(np.int32)


def unwrap_channel(p: Any, base: int, ref: Any, lo: int, bits_stored: int) -> Any:
    """The channel of a wrapped plane ``p`` (values in ``0 .. 2**bits_stored - 1``) less
    channel ``ref`` (SPEC 5.14): ``((p + base + ref - lo) mod 2**bits_stored) + lo``, with
    ``lo`` the smallest sample (0 unsigned, ``-2**(bits_stored - 1)`` signed); arrays or ints.

    >>> unwrap_channel(np.array([0, 1, 2, 4]), -1, 10, 0, 8).tolist()
    [9, 10, 11, 13]
    """
    return ((p + (base - lo) + ref) & ((1 << bits_stored) - 1)) + lo


def reference_plane(ref: np.ndarray, lo: int, maxval: int) -> np.ndarray:
    """The reference of an inter plane (SPEC 5.5): the previous frame's co-located samples
    minus the plane's offset, clamped to ``[0, maxval]``, as a contiguous int32 plane.

    >>> reference_plane(np.array([[5, 20, 90]]), 10, 50).tolist()
    [[0, 10, 50]]
    """
    r = ref.astype(np.int64) - lo
    np.clip(r, 0, maxval, out=r)
    return np.ascontiguousarray(r, dtype=np.int32)


def read_group(payload: Any) -> int:
    """``G`` from an ``LVOL`` segment's payload, checked: one shortest-form varint filling
    the payload, ``2 <= G <= 65536``; :class:`MicFormatError` otherwise.

    >>> read_group(b"\\x10")
    16
    """
    buf = memoryview(payload)
    try:
        g, end = read_uvarint(buf, 0, "LVOL group size", MAX_GROUP, max_bytes=3)
    except MicTruncatedError:
        raise MicFormatError("LVOL segment: empty or cut inside its varint") from None
    if end != len(buf):
        raise MicFormatError(f"LVOL segment: {len(buf) - end} unexpected trailing bytes")
    if not 2 <= g <= MAX_GROUP:
        raise MicFormatError(f"LVOL segment: group size {g} outside 2..{MAX_GROUP}")
    return g


def _read_uv(buf: memoryview, pos: int) -> tuple[int, int]:
    """A plane field's varint (SPEC 5.2: at most 5 bytes, any form) and the position after it."""
    return read_uvarint(buf, pos, "lossless plane", (1 << 35) - 1, max_bytes=5, shortest=False)


def max_error_limit(bits_stored: int) -> int:
    """The largest ``k`` mode 2 allows for ``bits_stored``: ``2**(bits_stored - 1) - 1``.

    >>> max_error_limit(8), max_error_limit(1)
    (127, 0)
    """
    return (1 << (bits_stored - 1)) - 1


def pack_near(k: int) -> bytes:
    """The payload of mode 2's ``NEAR`` segment: ``k`` as a varint (SPEC 7.1).

    >>> pack_near(2), pack_near(300)
    (b'\\x02', b'\\xac\\x02')
    """
    return pack_uvarint(k)


def read_near(payload: Any, bits_stored: int) -> int:
    """``k`` from a ``NEAR`` segment's payload (``None``: the segment is missing), checked:
    one shortest-form varint filling the payload, ``1 <= k <= 2**(bits_stored - 1) - 1``;
    :class:`MicFormatError` otherwise.

    >>> read_near(b"\\x02", 12)
    2
    """
    if payload is None:
        raise MicFormatError("near-lossless stream without its NEAR segment")
    buf = memoryview(payload)
    try:
        k, end = read_uvarint(buf, 0, "NEAR max error", (1 << 16) - 1, max_bytes=3)
    except MicTruncatedError:
        raise MicFormatError("NEAR segment: empty or cut inside its varint") from None
    if end != len(buf):
        raise MicFormatError(f"NEAR segment: {len(buf) - end} unexpected trailing bytes")
    if not 1 <= k <= max_error_limit(bits_stored):
        raise MicFormatError(f"NEAR segment: max error {k} outside "
                             f"1..{max_error_limit(bits_stored)} for {bits_stored} bits stored")
    return k


def plane_head(kind: int, lo: int, maxval: int | None = None) -> bytes:
    tail = b"" if maxval is None else pack_uvarint(maxval)
    return bytes((kind,)) + pack_uvarint(zigzag(lo)) + tail


@lru_cache(maxsize=1)
def token_probabilities() -> tuple[np.ndarray, np.ndarray]:
    """The float64 probabilities every coder of the frozen tables uses (SPEC 5.3): the 24
    token tables (24, 68), ``TOKEN_FREQS / TOTAL``, and the class-map model,
    ``CLASS_DELTA_FREQS / sum``.  The models, CDFs and costs below all start from these."""
    from . import _tables_v1 as T

    freqs = np.asarray(T.TOKEN_FREQS, dtype=np.float64)
    if freqs.shape[1] != K.N_TOKENS:
        raise MicUnsupportedError("lossless tables do not match the token alphabet")
    delta = np.asarray(T.CLASS_DELTA_FREQS, dtype=np.float64)
    return freqs / T.TOTAL, delta / delta.sum()


@lru_cache(maxsize=1)
def token_block_costs() -> np.ndarray:
    """(24, 68): ``-log2`` of each token's probability under each token table, what the
    encoder's per-block table choice weighs (its choice is sent: floats are fine here)."""
    tok, _ = token_probabilities()
    return -np.log2(tok / tok.sum(1, keepdims=True))


@lru_cache(maxsize=1)
def token_cdfs() -> tuple[list[np.ndarray], np.ndarray]:
    """The range coder's CDFs (:mod:`mic.entropy.rangedec`, :mod:`mic.entropy.rangeenc`)
    of the 24 token tables and of the class-map model, from :func:`token_probabilities`
    (constriction's ``Categorical(..., perfect=False)`` quantisation of them)."""
    from ..entropy.rangedec import cdf_of

    tok, cls = token_probabilities()
    return [cdf_of(p) for p in tok], cdf_of(cls)


def guarded(fn, *args):
    """Run an entropy-coder call; turn any failure (constriction's panics included) into
    MicFormatError."""
    try:
        return fn(*args)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # pyo3 panics derive from BaseException
        raise MicFormatError(f"entropy decoder failed on corrupt data: {exc}") from None


@lru_cache(maxsize=1)
def model16_priors() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model id 16's fixed priors (SPEC 5.10, ``_tables_v16.py``): the first filter's
    starting weights (12,), the second's (4, 8) and the built-in tables (24, 68), int64 (copy
    the weights before coding with them)."""
    from . import _tables_v16 as T

    out = (np.array(T.LMS_A0, np.int64), np.array(T.LMS_B0, np.int64),
           np.array(T.BUILTIN_FREQS, np.int64))
    for a in out:
        a.setflags(write=False)
    return out


@lru_cache(maxsize=1)
def token_costs() -> tuple[np.ndarray, np.ndarray, float, float]:
    """Exact costs in bits of every token under each of the 24 token tables (24, 68) and of
    every class-map symbol, under the models of :func:`token_cdfs`, and the
    cheapest of each (SPEC 4.1): a coded plane of ``h x w`` pixels in ``n_b`` blocks holds
    symbols of at least ``h*w*min_token + n_b*min_class`` bits of information."""
    probs, delta = token_probabilities()
    tok = np.stack([categorical_costs(p) for p in probs])
    cls = categorical_costs(delta)
    return tok, cls, float(tok.min()), float(cls.min())


@dataclass
class PlaneHead:
    """The fields of one plane (SPEC 5.2) read without decoding it: ``kind``, ``lo`` (the
    offset), and for coded planes ``maxval``, the palette frame (``span``, bytes
    ``zstart:zend``), ``blog``, ``nwords`` words at ``words_at``, ``nbits`` extra bytes;
    ``end`` is where the next plane starts."""

    kind: int
    lo: int
    end: int
    maxval: int = 0
    span: int = 0
    zstart: int = 0
    zend: int = 0
    blog: int = 0
    nwords: int = 0
    nbits: int = 0
    words_at: int = 0
    tables: Any = None  # kind 3: (tabmap, freq) as parsed (built-in tables added)
    prior: bool = False  # model id 16's kinds 5 and 6: the filters start from SPEC 5.10's weights
    bands: Any = None  # model id 18's kinds 5 and 6: the band thresholds (SPEC 5.11), padded
    low: int = 0  # model id 20's kinds 5 and 6: the low classes (SPEC 5.12; 0: none)


def _parse_fast(buf: memoryview, pos: int, ph: PlaneHead, prior: bool = False,
                bands: bool = False, low: bool = False, compact: bool = False) -> PlaneHead:
    """The rest of a kind-3 plane (SPEC 5.6) after its ``maxval``: tables, then
    ``varint(nwords) varint(nbytes)``, 16-bit words and extra bytes.  ``prior``: a kind-5
    or 6 plane of model id 16 (SPEC 5.10: built-in tables allowed, the filters' prior);
    ``bands``: of model id 18 (SPEC 5.11: the tables in bands of the coded sample above);
    ``low``: of model id 20 (SPEC 5.12: and the low classes' section); ``compact``: of
    model id 22 (SPEC 5.13: each table section bit-packed)."""
    arr = np.frombuffer(buf, np.uint8)
    ph.prior = prior
    if bands:
        pos = _parse_bands(buf, arr, pos, ph, low, compact)
    else:
        ph.tables, pos = _read_tables(arr, pos, prior)
    ph.nwords, pos = _read_uv(buf, pos)
    ph.nbits, pos = _read_uv(buf, pos)
    if ph.nwords < 2:
        raise MicFormatError("fast lossless plane: fewer than 2 words")
    if pos + 2 * ph.nwords + ph.nbits > len(buf):
        raise MicFormatError("lossless plane truncated in entropy-coded data")
    ph.words_at = pos
    ph.end = pos + 2 * ph.nwords + ph.nbits
    return ph


def _read_tables(arr: np.ndarray, pos: int, prior: bool, compact: bool = False
                 ) -> tuple[Any, int]:
    """One table section at ``arr[pos:]`` (SPEC 5.6; ``prior``: 5.10's, built-in tables
    added; ``compact``: 5.13's bit-packed form of 5.10's): ((tabmap, freq), the position
    after it)."""
    from . import kernels_fast as KF
    from . import kernels_tables as KT

    if compact:
        status, pos, tabmap, freq = KT.read_compact(arr, pos, len(arr))
    else:
        status, pos, tabmap, freq = KT.read_tables(arr, pos, len(arr), prior)
    if status != KF.OK:
        raise MicFormatError(f"fast lossless plane: bad or truncated tables (status {status})")
    return (KT.with_builtin(tabmap, freq, model16_priors()[2]) if prior else (tabmap, freq)), pos


def _parse_bands(buf: memoryview, arr: np.ndarray, pos: int, ph: PlaneHead,
                 low: bool = False, compact: bool = False) -> int:
    """Model id 18's table section of a kind-5/6 plane (SPEC 5.11) at ``buf[pos:]``: the band
    count ``B`` (1..8), ``B - 1`` increasing thresholds in ``1..maxval``, then each band's
    model-16 table section; ``low`` (model id 20, SPEC 5.12): then the low class count
    ``nl`` (0..N_CLASS) and, if not 0, one more model-16 section, the low classes';
    ``compact`` (model id 22, SPEC 5.13): each section in its bit-packed form.  Sets
    ``ph.tables`` (the class map, ``N_CLASS`` entries a band and for the low section, over
    the sections' tables joined, built-in ones added), ``ph.bands`` and ``ph.low``; returns
    the position after the section."""
    from . import kernels_fast as KF
    from . import kernels_tables as KT

    if pos >= len(buf):
        raise MicFormatError("fast lossless plane truncated in its band count")
    nb = buf[pos]
    if not 1 <= nb <= KF.MAX_BANDS:
        raise MicFormatError(f"fast lossless plane: {nb} bands (1..{KF.MAX_BANDS} allowed)")
    pos += 1
    th = np.full(KF.MAX_BANDS - 1, ph.maxval + 1, np.int64)
    prev = 0
    for i in range(nb - 1):
        t, pos = _read_uv(buf, pos)
        if not prev < t <= ph.maxval:
            raise MicFormatError(f"fast lossless plane: band threshold {t} not in "
                                 f"{prev + 1}..{ph.maxval}")
        th[i] = prev = t
    sections = []
    for _ in range(nb):
        section, pos = _read_tables(arr, pos, True, compact)
        sections.append(section)
    if low:
        if pos >= len(buf):
            raise MicFormatError("fast lossless plane truncated in its low class count")
        ph.low = buf[pos]
        if ph.low > KF.N_CLASS:
            raise MicFormatError(f"fast lossless plane: {ph.low} low classes "
                                 f"(0..{KF.N_CLASS} allowed)")
        pos += 1
        if ph.low:
            section, pos = _read_tables(arr, pos, True, compact)
            sections.append(section)
    ph.tables = KT.join_bands(sections)
    ph.bands = th
    return pos


def parse_plane(buf: memoryview, pos: int, h: int, w: int, fast: int = 0) -> PlaneHead:
    """Read and check one plane's fields at ``buf[pos:]`` for an ``h x w`` tile: the
    structure (SPEC 5.2) and, for a coded plane, that its words can hold the symbols an
    ``h x w`` plane needs (SPEC 4.1); nothing is decoded or allocated.  ``fast`` 1 (model
    ids 3 and 13): plane kinds 3 and 4 (SPEC 5.6) are allowed too; 2 (model ids 14 and 15):
    also kinds 5 and 6 (SPEC 5.8); 3 (model ids 16, 17): those with SPEC 5.10's priors; 4
    (model id 18): and SPEC 5.11's bands; 5 (model id 20): and SPEC 5.12's low classes; 6
    (model id 22): with SPEC 5.13's bit-packed table sections."""
    end = len(buf)

    def need(n: int, what: str) -> None:
        if pos + n > end:
            raise MicFormatError(f"lossless plane truncated in {what}")

    need(1, "plane header")
    kind = buf[pos]
    zlo, pos = _read_uv(buf, pos + 1)
    lo = unzigzag(zlo)
    if not -(1 << 17) <= lo < (1 << 17):
        raise MicFormatError(f"lossless plane: offset {lo} out of range")
    if kind == PLANE_CONST:
        return PlaneHead(kind, lo, pos)
    maxval, pos = _read_uv(buf, pos)
    kinds = (PLANE_CODED, PLANE_PALETTE) + FAST_KINDS[:2 * fast]
    if kind not in kinds or not 1 <= maxval <= MAX_VALUE:
        raise MicFormatError(f"lossless plane: bad kind {kind} or span {maxval}")
    ph = PlaneHead(kind, lo, 0, maxval)
    if kind in PALETTE_KINDS:
        span, pos = _read_uv(buf, pos)
        zlen, pos = _read_uv(buf, pos)
        need(zlen, "palette")
        if span > MAX_VALUE or maxval > span:
            raise MicFormatError("lossless plane: bad palette span")
        ph.span, ph.zstart, ph.zend = span, pos, pos + zlen
        pos += zlen
    if kind in FAST_KINDS:
        lms = kind >= PLANE_FAST_LMS
        return _parse_fast(buf, pos, ph, fast >= 3 and lms, fast >= 4 and lms, fast >= 5 and lms,
                           fast == 6 and lms)
    need(1, "coded header")
    ph.blog = blog = buf[pos]
    ph.nwords, pos = _read_uv(buf, pos + 1)
    ph.nbits, pos = _read_uv(buf, pos)
    if not 2 <= blog <= 10:
        raise MicFormatError(f"lossless plane: bad block size 2**{blog}")
    need(4 * ph.nwords + ph.nbits, "entropy-coded data")
    ph.words_at = pos
    ph.end = pos + 4 * ph.nwords + ph.nbits
    # SPEC 4.1: h*w tokens and one class symbol per block, each at least its table's
    # cheapest symbol, must fit in 32 * nwords bits (the extra bits may be none)
    _, _, min_tok, min_cls = token_costs()
    bs = 1 << blog
    nblocks = -(-w // bs) * -(-h // bs)
    check_words(ph.nwords, h * w * min_tok + nblocks * min_cls, "lossless plane")
    return ph

