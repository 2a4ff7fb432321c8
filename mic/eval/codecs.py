"""The codecs ``mic bench`` runs: every mic mode that exists and the imagecodecs anchors.

A codec turns a :class:`~mic.eval.data.BenchImage` into a list of
:class:`Point` s (one per knob setting); each point knows how to encode, how to
decode and what the decoded array must be compared with.  A codec that cannot
take an image returns a reason string instead (it is reported, not hidden).

Anchors (imagecodecs), their input and their knob:

========== ============================== =========================================
codec      input                          lossy knob (swept for ~0.05-3 bpp)
========== ============================== =========================================
jpeg       unsigned, 8-bit or 12-bit only ``level`` = IJG quality
jpeg2000   native (int16 ok), OpenJPEG    ``level`` = target PSNR (dB at the
                                          precision's peak), 19 targets refined
                                          where the rate jumps; ``reversible``
                                          lossless
htj2k      native (int16 ok), OpenJPH     ``level`` = irreversible quantisation step
                                          (fraction of the 2^16 / 2^8 range)
jpegls     unsigned (no int16), CharLS    ``level`` = NEAR (max abs error); also
                                          NEAR = k for k in :data:`NEAR_K` (mode "near")
jpegxl     unsigned (no int16), libjxl e7 ``distance`` (Butteraugli); ``bitspersample``
png        unsigned (no int16)            lossless only
zstd       native bytes, level 19 (9 quick) lossless only
========== ============================== =========================================

"unsigned" is :attr:`BenchImage.unsigned`: the stored values of unsigned images,
``native - min`` of signed ones (the most favourable unsigned form; a constant
shift, so errors and metrics are unchanged); JPEG XL and JPEG are told the bits
its largest value needs (``ubits``).

Near-lossless (mode ``"near"``, knob ``k=K``): ``mic-near`` (``mic.encode(max_error=K)``)
and CharLS JPEG-LS with NEAR = K, each at every K of :data:`NEAR_K` (1, 2, 4 with
``--quick``), so the report compares them at equal maximum error; a point whose decoded
samples stray further than K is an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .data import BenchImage

__all__ = ["ANCHOR_NAMES", "NEAR_K", "Codec", "Point", "all_codecs", "lossy_models"]

#: the maximum errors at which mic-near and JPEG-LS NEAR are compared (``--quick``: 1, 2, 4)
NEAR_K = (1, 2, 3, 4, 5)
NEAR_K_QUICK = [1, 2, 4]


@dataclass
class Point:
    """One (codec, knob) setting for one image."""

    codec: str
    mode: str  # "lossless" | "lossy" | "near"
    knob: str
    encode: Callable[[], bytes]
    decode: Callable[[bytes], np.ndarray]
    reference: np.ndarray
    #: near-lossless points: the maximum absolute error the codec guarantees
    max_error: int | None = None


@dataclass
class Codec:
    """A codec with a function producing its points for an image (or a skip reason)."""

    name: str
    kind: str  # "mic" | "anchor"
    lossless: bool
    lossy: bool
    points: Callable[[BenchImage, bool], list[Point] | str]
    note: str = ""


def _grid(full: list, quick: bool, quick_pick: list | None = None) -> list:
    """The knob values to sweep: ``full``, or ``quick_pick`` (3 mid-range values) with --quick."""
    if quick and quick_pick is not None:
        return list(quick_pick)
    if quick and len(full) > 3:
        idx = np.linspace(0, len(full) - 1, 3).round().astype(int)
        return [full[i] for i in sorted(set(idx.tolist()))]
    return list(full)


def _ic():
    import imagecodecs

    return imagecodecs


def _container_bits(a: np.ndarray) -> int:
    return 8 * a.dtype.itemsize


# ----------------------------------------------------------------------------- anchors
def _jpeg_points(im: BenchImage, quick: bool) -> list[Point] | str:
    ic = _ic()
    a = im.unsigned
    if a.dtype == np.uint8:
        bps = 8
    elif im.ubits <= 12:
        bps = 12
    else:
        return f"values need {im.ubits} bits; libjpeg codes 8 or 12"
    kw: dict = {"bitspersample": bps}
    if im.samples == 3:
        kw["colorspace"] = "RGB"
    qs = _grid([2, 5, 10, 20, 35, 50, 70, 85, 95], quick, [10, 50, 90])
    return [Point("jpeg", "lossy", f"quality={q}",
                  (lambda q=q: ic.jpeg8_encode(a, level=q, **kw)), ic.jpeg8_decode, a) for q in qs]


#: JPEG 2000's PSNR-target sweep, dB relative to ~1 bpp (refined by :func:`refine_levels`)
J2K_OFFSETS = [-22, -19, -16, -13, -10, -8, -6, -4, -2, 0, 2, 4, 6, 8, 10, 13, 16, 20, 24]


def refine_levels(levels: list[float], size: Callable[[float], int], *, max_ratio: float = 1.6,
                  min_step: float = 0.1, max_points: int = 48) -> list[float]:
    """The knob ``levels`` (increasing, a quality such as a PSNR target) with midpoints
    (rounded to ``min_step``) added wherever neighbouring settings differ more than
    ``max_ratio`` in coded ``size(level)``, until none do, the knob steps are ``min_step``
    or there are ``max_points``: a PSNR-targeting encoder jumps in rate where an image's
    PSNR stalls (its noise floor), and a BD-rate interpolated across such a jump (log-rate,
    PCHIP) describes a curve the codec never made.

    A jump in size between levels 2.5 and 2.6, located to ``min_step``:

    >>> refine_levels([1.0, 2.0, 3.0], lambda lv: 100 if lv < 2.55 else 1000)
    [1.0, 2.0, 2.5, 2.6, 2.8, 3.0]
    """
    known = {lv: size(lv) for lv in levels}
    while len(known) < max_points:
        lv = sorted(known)
        gaps = [(a, b) for a, b in zip(lv, lv[1:])
                if max(known[a], known[b]) > max_ratio * max(1, min(known[a], known[b]))
                and b - a > 1.5 * min_step]
        mids = [m for a, b in gaps if (m := round(round((a + b) / 2 / min_step) * min_step, 1))
                not in known and a < m < b]
        if not mids:
            break
        for m in mids[:max_points - len(known)]:
            known[m] = size(m)
    return sorted(known)


def _j2k_points(im: BenchImage, quick: bool) -> list[Point] | str:
    ic = _ic()
    a = im.native
    cb = _container_bits(a)
    # precision = the image's bits when the samples fit them (what DICOM would state)
    prec = im.bits if (not im.signed and im.bits <= cb) else cb
    kw = {"bitspersample": prec, "numthreads": 1}
    pts = [Point("jpeg2000", "lossless", "reversible",
                 lambda: ic.jpeg2k_encode(a, level=0, reversible=True, **kw), ic.jpeg2k_decode, a)]
    # OpenJPEG 'level' is a PSNR target in dB at the peak 2^prec - 1.  At a given rate the
    # PSNR is roughly constant relative to the peak of the bits the data really use, so sweep
    # 28..74 dB relative to 2^eff_bits - 1 (~1 bpp is near 50 dB there).
    base = 50.0 + 20 * math.log10(((1 << prec) - 1) / ((1 << im.eff_bits) - 1))
    levels = [round(base + o, 1) for o in _grid(J2K_OFFSETS, quick, [-8, 0, 8])]
    if not quick:
        levels = refine_levels(levels, lambda lv: len(ic.jpeg2k_encode(
            a, level=lv, reversible=False, **kw)))
    for lv in levels:
        pts.append(Point("jpeg2000", "lossy", f"psnr={lv}",
                         (lambda lv=lv: ic.jpeg2k_encode(a, level=lv, reversible=False, **kw)),
                         ic.jpeg2k_decode, a))
    return pts


def _htj2k_points(im: BenchImage, quick: bool) -> list[Point] | str:
    ic = _ic()
    a = im.native
    cb = _container_bits(a)
    pts = [Point("htj2k", "lossless", "reversible",
                 lambda: ic.htj2k_encode(a, reversible=True), ic.htj2k_decode, a)]
    # quantisation step as a fraction of the container range 2^cb; sweep native steps from
    # 1/4 to 128 x the 8-bit-equivalent step of the image's effective range
    unit = (1 << im.eff_bits) / 256.0
    for g in _grid([0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128], quick, [1, 4, 16]):
        q = max(1.1e-5, min(1.0, g * unit / (1 << cb)))
        pts.append(Point("htj2k", "lossy", f"qstep={q:.3g}",
                         (lambda q=q: ic.htj2k_encode(a, level=q, reversible=False)),
                         ic.htj2k_decode, a))
    return pts


def _jpegls_points(im: BenchImage, quick: bool) -> list[Point] | str:
    ic = _ic()
    a = im.unsigned
    pts = [Point("jpegls", "lossless", "near=0", lambda: ic.jpegls_encode(a), ic.jpegls_decode, a)]
    unit = max(1.0, (1 << im.eff_bits) / 256.0)
    gs = _grid([0.125, 0.25, 0.5, 1, 2, 3, 5, 8, 12, 20, 32], quick, [0.25, 1, 4])
    for n in sorted({min(255, max(1, round(g * unit))) for g in gs}):
        pts.append(Point("jpegls", "lossy", f"near={n}",
                         (lambda n=n: ic.jpegls_encode(a, level=n)), ic.jpegls_decode, a))
    for k in _near_grid(im, quick):  # beside mic-near at equal k
        pts.append(Point("jpegls", "near", f"k={k}", (lambda k=k: ic.jpegls_encode(a, level=k)),
                         ic.jpegls_decode, a, max_error=k))
    return pts


def _near_grid(im: BenchImage, quick: bool) -> list[int]:
    """The k of the near-lossless points: :data:`NEAR_K` (quick: 1, 2, 4) below 2^(bits-1)."""
    ks = NEAR_K_QUICK if quick else list(NEAR_K)
    return [k for k in ks if k < 1 << (im.bits - 1)]


def _jpegxl_points(im: BenchImage, quick: bool) -> list[Point] | str:
    ic = _ic()
    a = im.unsigned
    # tell libjxl the range the values really use
    kw = {"effort": 7, "bitspersample": im.ubits, "numthreads": 1}
    pts = [Point("jpegxl", "lossless", "e7",
                 lambda: ic.jpegxl_encode(a, lossless=True, **kw), ic.jpegxl_decode, a)]
    for d in _grid([0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 3.0, 6.0, 12.0, 25.0], quick, [0.2, 1.0, 4.0]):
        pts.append(Point("jpegxl", "lossy", f"distance={d}",
                         (lambda d=d: ic.jpegxl_encode(a, distance=d, **kw)), ic.jpegxl_decode, a))
    return pts


def _jpegxl_e9_points(im: BenchImage, quick: bool) -> list[Point] | str:
    """JPEG XL lossless at effort 9 (its strongest lossless setting; slow)."""
    ic = _ic()
    a = im.unsigned
    kw = {"effort": 9, "bitspersample": im.ubits, "numthreads": 1}
    return [Point("jpegxl-e9", "lossless", "e9",
                  lambda: ic.jpegxl_encode(a, lossless=True, **kw), ic.jpegxl_decode, a)]


def _jpegxl_nobps_points(im: BenchImage, quick: bool) -> list[Point] | str:
    """JPEG XL lossy (effort 7) without ``bitspersample``: libjxl then sees the container's
    16 bits, which changes its quantisation; per image the better curve is kept
    (:mod:`mic.eval.best_anchor`)."""
    ic = _ic()
    a = im.unsigned
    kw = {"effort": 7, "numthreads": 1}
    return [Point("jpegxl-nobps", "lossy", f"distance={d}",
                  (lambda d=d: ic.jpegxl_encode(a, distance=d, **kw)), ic.jpegxl_decode, a)
            for d in _grid([0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 3.0, 6.0, 12.0, 25.0], quick,
                           [0.2, 1.0, 4.0])]


def _png_points(im: BenchImage, quick: bool) -> list[Point] | str:
    ic = _ic()
    a = im.unsigned
    return [Point("png", "lossless", "level=default", lambda: ic.png_encode(a), ic.png_decode, a)]


def _zstd_points(im: BenchImage, quick: bool) -> list[Point] | str:
    ic = _ic()
    a = np.ascontiguousarray(im.native)
    dt, shape = a.dtype, a.shape

    def dec(b: bytes) -> np.ndarray:
        return np.frombuffer(ic.zstd_decode(b), dtype=dt).reshape(shape)

    lv = 9 if quick else 19  # level 19 costs ~1 s/MP: full runs only
    return [Point("zstd", "lossless", f"level={lv}", lambda: ic.zstd_encode(a.tobytes(), level=lv),
                  dec, a)]


# ----------------------------------------------------------------------------- mic
def _mic_bits_kw(im: BenchImage) -> dict:
    return {"bits_stored": im.bits} if 1 <= im.bits <= 8 * im.native.dtype.itemsize else {}


def _mic_lossless_points(im: BenchImage, quick: bool) -> list[Point] | str:
    import mic

    a = im.native
    kw = _mic_bits_kw(im)
    return [Point("mic", "lossless", "lossless", lambda: mic.encode(a, **kw), mic.decode, a)]


def _mic_fast_points(im: BenchImage, quick: bool, effort: int = 1) -> list[Point] | str:
    import mic

    a = im.native
    kw = _mic_bits_kw(im)
    name = "mic-fast" if effort == 1 else f"mic-fast{effort}"
    return [Point(name, "lossless", f"effort={effort}",
                  lambda: mic.encode(a, effort=effort, **kw), mic.decode, a)]


def _mic_fast2_points(im: BenchImage, quick: bool) -> list[Point] | str:
    return _mic_fast_points(im, quick, 2)


def _mic_near_points(im: BenchImage, quick: bool) -> list[Point] | str:
    import mic

    a = im.native
    kw = _mic_bits_kw(im)
    return [Point("mic-near", "near", f"k={k}",
                  (lambda k=k: mic.encode(a, max_error=k, **kw)), mic.decode, a, max_error=k)
            for k in _near_grid(im, quick)]


def lossy_models() -> tuple[list[tuple[str, list[int]]], str]:
    """The mic lossy models and their qualities, or ([], reason) when there are none."""
    try:
        from mic import lossy
    except Exception as exc:  # noqa: BLE001 - any failure means "no lossy mode here"
        return [], f"mic.lossy not importable ({type(exc).__name__}: {exc})"
    if not hasattr(lossy, "available_models") or not hasattr(lossy, "qualities"):
        return [], "mic.lossy has no available_models()/qualities() registry"
    try:
        out = [(str(m), [int(q) for q in lossy.qualities(m)]) for m in lossy.available_models()]
    except Exception as exc:  # noqa: BLE001
        return [], f"mic.lossy registry failed ({type(exc).__name__}: {exc})"
    out = [(m, qs) for m, qs in out if qs]
    return out, ("" if out else "mic.lossy lists no models with weights")


def lossy_codec_name(model: str, effort: int | None = None) -> str:
    """``mic-MODEL`` (the default effort) or ``mic-MODEL-eN`` (effort N)."""
    return f"mic-{model}" if effort is None else f"mic-{model}-e{effort}"


def _mic_lossy_codec(model: str, quals: list[int], effort: int | None = None) -> Codec:
    name = lossy_codec_name(model, effort)
    ekw = {} if effort is None else {"effort": effort}

    def points(im: BenchImage, quick: bool) -> list[Point] | str:
        import mic

        a = im.native
        kw = {**_mic_bits_kw(im), **ekw}
        return [Point(name, "lossy", f"q={q}",
                      (lambda q=q: mic.encode(a, quality=q, model=model, **kw)), mic.decode, a)
                for q in _grid(sorted(quals), quick)]

    what = "default effort" if effort is None else f"effort {effort}"
    return Codec(name, "mic", False, True, points, note=f"{what}; qualities {sorted(quals)}")


#: Anchor codec names in table order.
ANCHOR_NAMES = ("jpegls", "jpeg2000", "htj2k", "jpegxl", "jpegxl-e9", "jpegxl-nobps", "jpeg",
                "png", "zstd")


def all_codecs(*, with_lossy_models: bool = True, efforts: Sequence[int] = ()
               ) -> tuple[list[Codec], list[str]]:
    """Every codec available here, and notes about what is missing; each lossy model at
    the default effort (``mic-MODEL``) and at each of ``efforts`` (``mic-MODEL-eN``)."""
    notes: list[str] = []
    codecs = [Codec("mic", "mic", True, False, _mic_lossless_points, note="lossless"),
              Codec("mic-fast", "mic", True, False, _mic_fast_points,
                    note="lossless at effort 1: the fast coder (model id 3, SPEC 5.6)"),
              Codec("mic-fast2", "mic", True, False, _mic_fast2_points,
                    note="lossless at effort 2: the fast coder with palettes (SPEC 5.6)"),
              Codec("mic-near", "mic", False, False, _mic_near_points,
                    note=f"near-lossless (mode 2), max_error k in {list(NEAR_K)}")]
    if with_lossy_models:
        models, why = lossy_models()
        if why:
            notes.append(f"mic lossy: skipped, {why}")
        for m, qs in models:
            codecs.append(_mic_lossy_codec(m, qs))
            codecs.extend(_mic_lossy_codec(m, qs, e) for e in efforts)
    codecs += [
        Codec("jpegls", "anchor", True, True, _jpegls_points,
              "CharLS; lossless and near-lossless (NEAR swept), and NEAR = k beside mic-near; "
              "unsigned input"),
        Codec("jpeg2000", "anchor", True, True, _j2k_points,
              "OpenJPEG; reversible 5/3 lossless, irreversible 9/7 with PSNR targets; int16 native"),
        Codec("htj2k", "anchor", True, True, _htj2k_points,
              "OpenJPH; reversible lossless, irreversible with a quantisation step; int16 native"),
        Codec("jpegxl", "anchor", True, True, _jpegxl_points,
              "libjxl effort 7; modular lossless, VarDCT distance sweep; unsigned input, "
              "bitspersample = bits used"),
        Codec("jpegxl-e9", "anchor", True, False, _jpegxl_e9_points,
              "libjxl effort 9 lossless (its strongest); with jpegxl, the best per image is "
              "reported as jpegxl-best"),
        Codec("jpegxl-nobps", "anchor", False, True, _jpegxl_nobps_points,
              "libjxl effort 7 lossy without bitspersample; with jpegxl, the better curve per "
              "image is reported as jpegxl-best"),
        Codec("jpeg", "anchor", False, True, _jpeg_points,
              "libjpeg(-turbo) baseline 8-bit / 12-bit, quality sweep; skipped above 12 bits"),
        Codec("png", "anchor", True, False, _png_points, "libpng default level; unsigned input"),
        Codec("zstd", "anchor", True, False, _zstd_points, "zstd on the raw samples, level 19 (level 9 with --quick)"),
    ]
    return codecs, notes
