"""The pydicom pixel-data plugin functions for the mic transfer syntax.

pydicom 3 drives decoding and encoding through *plugins*: modules that define
``is_available(uid)``, ``DECODER_DEPENDENCIES`` / ``ENCODER_DEPENDENCIES`` and a
function ``(src: bytes, runner) -> bytes`` that decodes or encodes one frame.
This module is that plugin for :data:`mic.dicom.MIC_TRANSFER_SYNTAX`; it is
added to pydicom's tables by :func:`mic.dicom.register`, never imported by
pydicom on its own.

pydicom wraps every exception a plugin raises in a ``RuntimeError``; the last
:class:`~mic.errors.MicError` raised here is remembered in a context variable so
that :class:`mic.dicom._coders.MicDecoder` / ``MicEncoder`` can re-raise the
real, specific error instead.
"""

from __future__ import annotations

import contextvars
from typing import Any

import numpy as np

from ..errors import MicError, MicFormatError, MicInputError, MicUnsupportedError

#: set by the frame functions when they fail; read by the coder classes
LAST_ERROR: contextvars.ContextVar[BaseException | None] = contextvars.ContextVar(
    "mic_dicom_last_error", default=None
)

#: Photometric Interpretation -> the ``photometric=`` value given to :func:`mic.encode`.
#: The first three are coded as they are; the last two are coded losslessly only
#: (their samples are stored bit-exactly; the DICOM attribute stays authoritative).
PHOTOMETRIC_MAP: dict[str, str] = {
    "MONOCHROME1": "MONOCHROME1",
    "MONOCHROME2": "MONOCHROME2",
    "RGB": "RGB",
    "PALETTE COLOR": "MONOCHROME2",
    "YBR_FULL": "RGB",
}
LOSSLESS_ONLY_PHOTOMETRIC = frozenset({"PALETTE COLOR", "YBR_FULL"})

# Filled in by mic.dicom.register(): {MIC_TRANSFER_SYNTAX: ()} (no optional dependencies).
DECODER_DEPENDENCIES: dict[Any, tuple[str, ...]] = {}
ENCODER_DEPENDENCIES: dict[Any, tuple[str, ...]] = {}


def is_available(uid: str) -> bool:
    """pydicom plugin hook: True for the mic transfer syntax (numpy is always present)."""
    return uid in DECODER_DEPENDENCIES


def _remember(exc: BaseException) -> None:
    LAST_ERROR.set(exc)


def check_pixel_module(
    bits_allocated: int, bits_stored: int, samples: int, photometric: str, quality: Any,
    max_error: Any = None,
) -> str:
    """Validate an Image Pixel description for mic; return the ``photometric=`` to encode with.

    Raises :class:`~mic.errors.MicUnsupportedError` for what mic cannot code
    (bits allocated other than 8/16, photometric interpretations other than
    MONOCHROME1/2 and RGB, plus PALETTE COLOR and YBR_FULL when lossless; lossy means a
    ``quality`` or a non-zero ``max_error``).

    >>> check_pixel_module(16, 12, 1, "MONOCHROME2", None)
    'MONOCHROME2'
    >>> check_pixel_module(32, 32, 1, "MONOCHROME2", None)
    Traceback (most recent call last):
    ...
    mic.errors.MicUnsupportedError: mic codes 8 or 16 bits allocated, not 32
    """
    if bits_allocated not in (8, 16):
        raise MicUnsupportedError(f"mic codes 8 or 16 bits allocated, not {bits_allocated}")
    if not 1 <= bits_stored <= bits_allocated:
        raise MicInputError(f"Bits Stored {bits_stored} not in 1..{bits_allocated}")
    pi = str(photometric).strip().upper()
    if pi not in PHOTOMETRIC_MAP:
        raise MicUnsupportedError(
            f"Photometric Interpretation {pi!r} is not supported by mic "
            f"(supported: {', '.join(sorted(PHOTOMETRIC_MAP))})"
        )
    if (quality is not None or max_error) and pi in LOSSLESS_ONLY_PHOTOMETRIC:
        what = "lossy" if quality is not None else "near-lossless"
        raise MicUnsupportedError(
            f"{what} coding of {pi} pixel data is refused (only lossless is meaningful for it)"
        )
    want_samples = 3 if PHOTOMETRIC_MAP[pi] == "RGB" else 1
    if samples != want_samples:
        raise MicInputError(f"{pi} needs {want_samples} sample(s) per pixel, not {samples}")
    return PHOTOMETRIC_MAP[pi]


def correct_unused_bits(arr: np.ndarray, bits_stored: int) -> np.ndarray:
    """Clear (unsigned) or sign-extend (signed) the bits above ``bits_stored``.

    DICOM says the bits above *Bits Stored* carry no pixel value (PS3.5 8.1.1);
    pydicom's ``pixel_array`` ignores them the same way.

    >>> import numpy as np
    >>> correct_unused_bits(np.array([0xF123, 0x0FFF], np.uint16), 12).tolist()
    [291, 4095]
    >>> correct_unused_bits(np.array([0x0FFF, 0x07FF], np.int16), 12).tolist()
    [-1, 2047]
    """
    shift = 8 * arr.dtype.itemsize - bits_stored
    if shift <= 0:
        return arr
    out = np.left_shift(arr, shift)
    np.right_shift(out, shift, out=out)
    return out


def _encode_frame(src: bytes, runner: Any) -> bytes:
    """pydicom encoder plugin: one frame of raw little-endian samples -> one .mic stream.

    ``src`` holds the frame as pydicom hands it to plugins: samples in a 1-byte
    container when *Bits Stored* <= 8, else 2 bytes, little-endian; interleaved
    for array sources, in the dataset's *Planar Configuration* otherwise.  The
    ``quality`` runner option (``None`` = lossless) or ``max_error`` (near-lossless)
    selects the mode, and ``model`` (``None``: the default) the lossy model.
    """
    import mic

    try:
        quality = runner.get_option("quality", None)
        max_error = runner.get_option("max_error", None) or None
        bits_allocated = int(runner.bits_allocated)
        bits_stored = int(runner.bits_stored)
        spp = int(runner.samples_per_pixel)
        rows, cols = int(runner.rows), int(runner.columns)
        signed = int(runner.pixel_representation) == 1
        photometric = check_pixel_module(
            bits_allocated, bits_stored, spp, str(runner.photometric_interpretation), quality,
            max_error,
        )
        if runner.get_option("byteorder", "<") != "<":
            raise MicUnsupportedError("only little-endian source samples are accepted")
        itemsize = 1 if bits_stored <= 8 else 2
        kind = "i" if signed else "u"
        want = rows * cols * spp * itemsize
        if len(src) != want:
            raise MicInputError(f"frame has {len(src)} bytes, {want} expected")
        a = np.frombuffer(src, dtype=np.dtype(f"<{kind}{itemsize}"))
        if spp == 3:
            if not runner.is_array and runner.planar_configuration == 1:
                a = a.reshape(3, rows, cols).transpose(1, 2, 0)
            else:
                a = a.reshape(rows, cols, 3)
        else:
            a = a.reshape(rows, cols)
        a = np.ascontiguousarray(a, dtype=np.dtype(f"{kind}{bits_allocated // 8}"))
        a = correct_unused_bits(a, bits_stored)
        model = runner.get_option("model", None)
        return mic.encode(a, quality=quality, bits_stored=bits_stored, photometric=photometric,
                          max_error=max_error, **({"model": model} if model else {}))
    except MicError as exc:
        _remember(exc)
        raise


def caller_limit(runner: Any) -> int:
    """The caller's ceiling on a frame's decoded samples: the runner's ``max_pixels``
    option, else :data:`mic.DEFAULT_MAX_PIXELS` (never a value taken from the dataset)."""
    import mic

    value = runner.get_option("max_pixels", None)
    if value is None:
        return mic.DEFAULT_MAX_PIXELS
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise MicInputError(f"max_pixels must be a positive int, got {value!r}")
    return int(value)


def _decode_frame(src: bytes, runner: Any) -> bytes:
    """pydicom decoder plugin: one .mic stream -> one frame of raw samples.

    Returns the samples in the container of *Bits Allocated*, little-endian,
    interleaved (it sets the runner's *Planar Configuration* to 0 for RGB, as
    pydicom's own RLE plugin does for its layout).  The stream's shape, sample
    count and signedness must match the dataset's Image Pixel module: its header is
    checked against it before anything is decoded.

    The frame is decoded with ``max_pixels`` = the smaller of the dataset's
    Rows x Columns x Samples and the caller's limit: the ``max_pixels`` decoding
    option (e.g. ``ds.pixel_array_options(max_pixels=...)``) or else
    :data:`mic.DEFAULT_MAX_PIXELS`.  A dataset that claims a huge frame never raises
    the limit above the caller's.
    """
    import mic

    try:
        rows, cols = int(runner.rows), int(runner.columns)
        spp = int(runner.samples_per_pixel)
        limit = max(1, min(rows * cols * spp, caller_limit(runner)))
        head = mic.info(src)  # the header against the dataset, before any decoding
        if (head.frames, head.rows, head.cols, head.samples_per_pixel) != (1, rows, cols, spp):
            raise MicFormatError(
                f"the .mic frame's header says {head.frames} frame(s) of {head.rows}x"
                f"{head.cols} with {head.samples_per_pixel} sample(s) per pixel; the dataset "
                f"says one frame of {rows}x{cols} with {spp}")
        if head.signed != (runner.pixel_dtype.kind == "i"):
            raise MicFormatError(
                f"the .mic frame's header says {'signed' if head.signed else 'unsigned'} "
                f"samples but Pixel Representation is {runner.pixel_representation}")
        arr = mic.decode(src, max_pixels=limit)
        if arr.size != rows * cols * spp or (arr.ndim >= 2 and arr.shape[:2] != (rows, cols)):
            raise MicFormatError(
                f"the .mic frame holds an array of shape {arr.shape}; the dataset says "
                f"{rows}x{cols} with {spp} sample(s) per pixel"
            )
        target = runner.pixel_dtype
        if arr.dtype.kind != target.kind:
            raise MicFormatError(
                f"the .mic frame is {arr.dtype} but Pixel Representation "
                f"{runner.pixel_representation} needs {target.kind}-typed samples"
            )
        if spp > 1:
            runner.set_option("planar_configuration", 0)
        return np.ascontiguousarray(arr, dtype=target).tobytes()
    except MicError as exc:
        _remember(exc)
        raise
