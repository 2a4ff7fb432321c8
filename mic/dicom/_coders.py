"""pydicom ``Decoder``/``Encoder`` subclasses for the mic transfer syntax.

They behave exactly like pydicom's own coders (same runner, same options, same
plugin mechanism) with three additions:

* a :class:`~mic.errors.MicError` raised by the plugin reaches the caller as
  itself (chained from pydicom's generic ``RuntimeError``), so a truncated or
  corrupt fragment raises e.g. :class:`~mic.errors.MicTruncatedError`;
* :meth:`MicEncoder.iter_encode` given a :class:`~pydicom.dataset.Dataset`
  first reads its stored values with pydicom's native decoder (which handles
  big-endian files, planar configuration 1 and unused high bits), and for a
  lossy ``quality`` applies the DICOM lossy-compression attribute rules to the
  dataset (:func:`apply_lossy_attributes`);
* the ``quality`` encoding option (``None`` = lossless) and the ``max_error`` one
  (near-lossless, ``k``) are passed to :func:`mic.encode`; near-lossless coding of a
  Dataset applies the same lossy rules with the method :func:`near_method` ``(k)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels.decoders.base import Decoder
from pydicom.pixels.encoders.base import Encoder
from pydicom.pixels.utils import as_pixel_options
from pydicom.uid import generate_uid

from ..errors import MicError, MicUnsupportedError
from . import _plugin

#: (0028,2114) Lossy Image Compression Method defined term written for mic's lossy mode.
LOSSY_METHOD = "MIC_LEARNED"
#: ... for the lossy models that have their own term: the generative ``gan`` (SPEC 6.13;
#: its decoder may synthesise texture that was not in the original), so that a reader of
#: the DICOM attributes can tell such an image from the other learned models' (legal CS
#: values: upper case, digits, underscore, at most 16 characters)
MODEL_METHODS: dict[str, str] = {"gan": "MIC_GAN"}
#: ... and the prefix of the one written for mic's near-lossless mode (see :func:`near_method`).
NEAR_METHOD_PREFIX = "MIC_NEAR_K"


def lossy_method(model: str | None = None) -> str:
    """(0028,2114) Lossy Image Compression Method for mic's lossy mode with lossy model
    ``model`` (``None``: the default model): its own term (:data:`MODEL_METHODS`), else
    :data:`LOSSY_METHOD`.

    >>> lossy_method(), lossy_method("cnn"), lossy_method("gan")
    ('MIC_LEARNED', 'MIC_LEARNED', 'MIC_GAN')
    """
    return MODEL_METHODS.get(model or "", LOSSY_METHOD)


def near_method(k: int) -> str:
    """(0028,2114) Lossy Image Compression Method for mic's near-lossless mode with maximum
    error ``k``: ``MIC_NEAR_K<k>``, a legal CS value (upper case, digits, underscore; at most
    15 of the 16 characters CS allows, as ``k <= 32767``).

    >>> near_method(2)
    'MIC_NEAR_K2'
    """
    return f"{NEAR_METHOD_PREFIX}{int(k)}"


def _unwrap(exc: RuntimeError) -> BaseException:
    err = _plugin.LAST_ERROR.get()
    _plugin.LAST_ERROR.set(None)
    if isinstance(err, MicError):
        err.__cause__ = exc
        return err
    return exc


class MicDecoder(Decoder):
    """pydicom ``Decoder`` for :data:`mic.dicom.MIC_TRANSFER_SYNTAX` (see module doc)."""

    def as_array(self, src: Any, **kwargs: Any) -> tuple[np.ndarray, dict[str, str | int]]:
        _plugin.LAST_ERROR.set(None)
        try:
            return super().as_array(src, **kwargs)
        except RuntimeError as exc:
            raise _unwrap(exc) from None

    def as_buffer(self, src: Any, **kwargs: Any) -> tuple[Any, dict[str, str | int]]:
        _plugin.LAST_ERROR.set(None)
        try:
            return super().as_buffer(src, **kwargs)
        except RuntimeError as exc:
            raise _unwrap(exc) from None

    def iter_array(self, src: Any, **kwargs: Any) -> Iterator[tuple[np.ndarray, dict]]:
        _plugin.LAST_ERROR.set(None)
        try:
            yield from super().iter_array(src, **kwargs)
        except RuntimeError as exc:
            raise _unwrap(exc) from None

    def iter_buffer(self, src: Any, **kwargs: Any) -> Iterator[tuple[Any, dict]]:
        _plugin.LAST_ERROR.set(None)
        try:
            yield from super().iter_buffer(src, **kwargs)
        except RuntimeError as exc:
            raise _unwrap(exc) from None


def stored_values(ds: Dataset) -> np.ndarray:
    """The stored pixel values of a natively encoded dataset, as pydicom reads them.

    Big-endian data are byte-swapped, planar configuration 1 is returned
    interleaved, bits above *Bits Stored* are cleared or sign-extended, and no
    colour conversion is applied (``raw=True``).
    """
    from pydicom.pixels import get_decoder

    tsyntax = ds.file_meta.TransferSyntaxUID
    if tsyntax.is_compressed:
        raise MicUnsupportedError(f"{tsyntax.name} pixel data must be decompressed first")
    arr, _ = get_decoder(tsyntax).as_array(ds, raw=True)
    return arr


def apply_lossy_attributes(ds: Dataset, ratio: float, method: str = LOSSY_METHOD) -> None:
    """Apply the DICOM rules for a lossy-compressed instance to ``ds`` (in place).

    * (0028,2110) Lossy Image Compression = ``"01"`` (it is never reset to "00");
    * (0028,2112) Lossy Image Compression Ratio and (0028,2114) Method: this
      compression's values are *appended* to any already there;
    * (0008,0008) Image Type value 1 becomes ``DERIVED`` (when Image Type exists);
    * a new (0008,0018) SOP Instance UID (and Media Storage SOP Instance UID).

    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset(); ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    >>> ds.SOPInstanceUID = "1.2.3"; ds.LossyImageCompressionRatio = 2.5
    >>> ds.LossyImageCompressionMethod = "ISO_10918_1"
    >>> apply_lossy_attributes(ds, 12.345)
    >>> ds.LossyImageCompression, list(ds.ImageType), ds.SOPInstanceUID != "1.2.3"
    ('01', ['DERIVED', 'PRIMARY', 'AXIAL'], True)
    >>> [float(r) for r in ds.LossyImageCompressionRatio], list(ds.LossyImageCompressionMethod)
    ([2.5, 12.35], ['ISO_10918_1', 'MIC_LEARNED'])
    """
    ds.LossyImageCompression = "01"
    ratios = _as_list(ds.get("LossyImageCompressionRatio"))
    methods = _as_list(ds.get("LossyImageCompressionMethod"))
    ratios.append(f"{ratio:.2f}"[:16])
    methods.append(method)
    ds.LossyImageCompressionRatio = ratios if len(ratios) > 1 else ratios[0]
    ds.LossyImageCompressionMethod = methods if len(methods) > 1 else methods[0]
    if "ImageType" in ds:
        it = _as_list(ds.ImageType)
        if it:
            it[0] = "DERIVED"
            ds.ImageType = it if len(it) > 1 else it[0]
    uid = generate_uid()
    ds.SOPInstanceUID = uid
    if hasattr(ds, "file_meta"):
        ds.file_meta.MediaStorageSOPInstanceUID = uid


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return [value]
    return list(value)


class MicEncoder(Encoder):
    """pydicom ``Encoder`` for :data:`mic.dicom.MIC_TRANSFER_SYNTAX` (see module doc)."""

    def encode(self, src: Any, **kwargs: Any) -> bytes:
        _plugin.LAST_ERROR.set(None)
        try:
            return super().encode(src, **kwargs)
        except RuntimeError as exc:
            raise _unwrap(exc) from None

    def iter_encode(self, src: Any, **kwargs: Any) -> Iterator[bytes]:
        _plugin.LAST_ERROR.set(None)
        quality = kwargs.get("quality")
        max_error = kwargs.get("max_error") or None
        ds: Dataset | None = None
        if isinstance(src, Dataset):
            ds = src
            opts = as_pixel_options(ds)
            # Refuse what mic cannot code before reading any pixels.
            _plugin.check_pixel_module(
                int(opts.get("bits_allocated", 0)), int(opts.get("bits_stored", 0)),
                int(opts.get("samples_per_pixel", 1)),
                str(opts.get("photometric_interpretation", "")), quality, max_error,
            )
            opts.update(kwargs)
            src, kwargs = stored_values(ds), opts
        elif quality is not None or max_error:
            warnings.warn(
                "lossy or near-lossless mic encoding of a bare array: the caller must set "
                "Lossy Image Compression, its Ratio and Method, Image Type and a new SOP "
                "Instance UID (mic.dicom.compress does this for a Dataset)",
                stacklevel=2,
            )
        raw = int(np.prod(src.shape)) * (int(kwargs.get("bits_allocated", 16)) // 8) \
            if isinstance(src, np.ndarray) else 0
        total = 0
        try:
            for frame in super().iter_encode(src, **kwargs):
                total += len(frame)
                yield frame
        except RuntimeError as exc:
            raise _unwrap(exc) from None
        if ds is not None and total and (quality is not None or max_error):
            apply_lossy_attributes(ds, raw / total, lossy_method(kwargs.get("model"))
                                   if quality is not None else near_method(max_error))
