"""DICOM support: a transfer syntax whose encapsulated frames are .mic streams.

Importing this module registers :data:`MIC_TRANSFER_SYNTAX` with pydicom 3 as
a private transfer syntax (Explicit VR Little Endian dataset encoding,
encapsulated pixel data) and adds a decoder and an encoder for it to pydicom's
tables.  After that, plain pydicom works on .mic-compressed files::

    import pydicom, mic.dicom
    ds = pydicom.dcmread("ct_mic.dcm")        # no re-stamping of the transfer syntax
    ds.pixel_array                            # decoded by mic
    ds.decompress()                           # to Explicit VR Little Endian
    pydicom.pixels.pixel_array("ct_mic.dcm")  # also iter_pixels(...)
    ds2 = pydicom.dcmread("ct.dcm")
    ds2.compress(mic.dicom.MIC_TRANSFER_SYNTAX)               # lossless
    ds2.compress(mic.dicom.MIC_TRANSFER_SYNTAX, quality=4)    # lossy (needs mic's lossy mode)

pydicom's own ``ds.compress`` makes a new SOP Instance UID unless it is given
``generate_instance_uid=False`` (its default, even for lossless coding); with a
``quality`` it also gets the DICOM lossy attributes (see
:func:`apply_lossy_attributes`) when it compresses the dataset's own pixel data.

:func:`compress` / :func:`decompress` are the conversions ``mic dicom`` uses:
they keep the SOP Instance UID for lossless coding, apply the DICOM lossy rules
otherwise, keep the Planar Configuration as it was, and choose the offset
tables (see SPEC.md section 8).

>>> import pydicom, mic.dicom
>>> from pydicom.pixels import get_decoder, get_encoder
>>> uid = mic.dicom.MIC_TRANSFER_SYNTAX
>>> str(uid), uid.is_compressed, uid.is_little_endian, uid.is_implicit_VR
('2.25.145433054265595818355451599499300200824', True, True, False)
>>> get_decoder(uid).available_plugins, get_encoder(uid).available_plugins
(('mic',), ('mic',))
"""

from __future__ import annotations

import uuid

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, encapsulate_extended
from pydicom.uid import UID, ExplicitVRLittleEndian, register_transfer_syntax
from pydicom.valuerep import VR

from ..errors import MicError, MicInputError, MicUnsupportedError
from . import _plugin, syntaxes
from ._coders import (
    LOSSY_METHOD, MODEL_METHODS, MicDecoder, MicEncoder, apply_lossy_attributes, lossy_method,
    near_method, stored_values,
)

#: The fixed UUID the transfer syntax UID is derived from (never change it).
MIC_UUID = uuid.UUID("6d69632d-6469-436f-9d54-53796e746178")
#: The mic transfer syntax: ``2.25.`` + the UUID as a decimal integer (PS3.5 B.2).
MIC_TRANSFER_SYNTAX: UID = UID(f"2.25.{MIC_UUID.int}")
MIC_TRANSFER_SYNTAX.set_private_encoding(False, True)  # Explicit VR Little Endian dataset
#: pydicom minor versions this registration was written and tested against
TESTED_PYDICOM = ("3.0",)
#: Encapsulated multi-frame pixel data at least this large also get an Extended
#: Offset Table (and above 2**32 - 1 bytes it is required anyway).
EXTENDED_OFFSET_THRESHOLD = 1 << 30
#: Transfer syntaxes that are always lossy (JPEG baseline, JPEG extended, JPEG-LS
#: near-lossless); JPEG 2000 / HTJ2K may be either, and say so in the dataset.
LOSSY_SOURCE_SYNTAXES = syntaxes.LOSSY

_REGISTERED = False


def _patch_private_uid_lookup() -> None:
    """Let *any* UID equal to a registered private transfer syntax know its encoding.

    pydicom 3.0 keeps a private syntax's dataset encoding on the one ``UID``
    object passed to ``register_transfer_syntax``; the ``UID`` that ``dcmread``
    builds for (0002,0010), or one made from a plain string, lacks it, so
    ``is_transfer_syntax``/``is_compressed`` raise "UID is not a transfer
    syntax" and ``ds.pixel_array`` fails on files read back.  This wraps
    ``UID.is_transfer_syntax`` so that such a UID picks the encoding up from
    ``pydicom.uid.PrivateTransferSyntaxes`` (UIDs not registered there are
    unaffected).  Idempotent.
    """
    prop = UID.__dict__.get("is_transfer_syntax")
    if not isinstance(prop, property) or getattr(prop.fget, "_mic_patched", False):
        return
    original = prop.fget

    def is_transfer_syntax(self: UID) -> bool:
        if not hasattr(self, "_PRIVATE_TS_ENCODING") and self.is_private:
            for reg in pydicom.uid.PrivateTransferSyntaxes:
                if reg == self and hasattr(reg, "_PRIVATE_TS_ENCODING"):
                    self._PRIVATE_TS_ENCODING = reg._PRIVATE_TS_ENCODING
                    break
        return bool(original(self))

    is_transfer_syntax._mic_patched = True  # type: ignore[attr-defined]
    is_transfer_syntax.__doc__ = original.__doc__
    UID.is_transfer_syntax = property(is_transfer_syntax)  # type: ignore[method-assign]


def register() -> None:
    """Register the mic transfer syntax, decoder and encoder with pydicom (idempotent).

    Called on import; call it again after something reset pydicom's tables.
    Also adds the optional ``"imagecodecs"`` decoding plugin to pydicom's JPEG-LS,
    JPEG Lossless and JPEG Extended decoders (:mod:`mic.dicom._imagecodecs`).
    Raises ``ImportError`` if this pydicom lacks the registry this relies on.
    """
    global _REGISTERED
    from pydicom.pixels.decoders import base as dec_base
    from pydicom.pixels.encoders import base as enc_base

    tables = (getattr(dec_base, "_PIXEL_DATA_DECODERS", None),
              getattr(enc_base, "_PIXEL_DATA_ENCODERS", None))
    if not all(isinstance(t, dict) for t in tables):
        raise ImportError(
            f"mic.dicom needs pydicom {' or '.join(TESTED_PYDICOM)}.x (its decoder/encoder "
            f"tables); found pydicom {pydicom.__version__}"
        )
    register_transfer_syntax(MIC_TRANSFER_SYNTAX)
    _patch_private_uid_lookup()
    _plugin.DECODER_DEPENDENCIES[MIC_TRANSFER_SYNTAX] = ()
    _plugin.ENCODER_DEPENDENCIES[MIC_TRANSFER_SYNTAX] = ()
    if MIC_TRANSFER_SYNTAX not in dec_base._PIXEL_DATA_DECODERS:
        dec = MicDecoder(MIC_TRANSFER_SYNTAX)
        dec.add_plugin("mic", ("mic.dicom._plugin", "_decode_frame"))
        dec_base._PIXEL_DATA_DECODERS[MIC_TRANSFER_SYNTAX] = (dec, "mic")
    if MIC_TRANSFER_SYNTAX not in enc_base._PIXEL_DATA_ENCODERS:
        enc = MicEncoder(MIC_TRANSFER_SYNTAX)
        enc.add_plugin("mic", ("mic.dicom._plugin", "_encode_frame"))
        enc_base._PIXEL_DATA_ENCODERS[MIC_TRANSFER_SYNTAX] = (enc, "mic")
    from . import _imagecodecs

    _imagecodecs.register()  # decode-first support for JPEG-LS / JPEG Lossless / 12-bit JPEG
    _REGISTERED = True


def is_mic(ds: Dataset) -> bool:
    """True if ``ds``'s file meta names the mic transfer syntax.

    >>> from pydicom.dataset import Dataset, FileMetaDataset
    >>> ds = Dataset(); ds.file_meta = FileMetaDataset()
    >>> ds.file_meta.TransferSyntaxUID = MIC_TRANSFER_SYNTAX
    >>> is_mic(ds)
    True
    """
    fm = getattr(ds, "file_meta", None)
    return fm is not None and fm.get("TransferSyntaxUID", "") == MIC_TRANSFER_SYNTAX


def compress(
    ds: Dataset,
    quality: int | None = None,
    *,
    model: str | None = None,
    max_error: int | None = None,
    encapsulate_ext: bool | None = None,
) -> Dataset:
    """Compress ``ds``'s pixel data to the mic transfer syntax, in place; return ``ds``.

    * ``quality=None`` codes losslessly and keeps every attribute, the SOP
      Instance UID and any Lossy Image Compression flag as they were;
    * an integer ``quality`` uses mic's lossy mode and applies the DICOM rules
      (:func:`apply_lossy_attributes`);
    * ``model`` names the lossy model (``None``: mic's default, ``wavelet-context-fast``; with
      ``quality`` only, else :class:`~mic.errors.MicInputError`); the Lossy Image
      Compression Method is the model's (:func:`lossy_method`): ``MIC_GAN`` for the
      generative ``gan`` -- whose decoder may synthesise texture that was not in the
      original: not for primary diagnosis -- and ``MIC_LEARNED`` for the others;
    * ``max_error=k`` (k >= 1) uses mic's near-lossless mode (every sample within ``k``)
      and applies the same rules, with the method ``MIC_NEAR_K<k>`` (Lossy Image
      Compression "01": the pixels are no longer the original ones);
    * already-compressed pixel data (JPEG, JPEG 2000, RLE, ...) is first decoded
      by pydicom when a plugin for it is installed (colour YBR is converted to
      RGB, as pydicom does); otherwise pydicom's error propagates.
    * ``encapsulate_ext``: ``None`` adds an Extended Offset Table only to
      multi-frame data of at least :data:`EXTENDED_OFFSET_THRESHOLD` bytes
      (or above 4 GiB, where it is required); ``True``/``False`` force it.

    Raises :class:`~mic.errors.MicUnsupportedError` for pixel data mic cannot
    code (bits allocated other than 8/16, unsupported photometric
    interpretation, float pixel data) and ``AttributeError`` without Pixel Data.

    >>> import numpy as np, pydicom, mic.dicom
    >>> from pydicom.data import get_testdata_file
    >>> ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    >>> before, uid = ds.pixel_array.copy(), ds.SOPInstanceUID
    >>> _ = mic.dicom.compress(ds)
    >>> ds.file_meta.TransferSyntaxUID == mic.dicom.MIC_TRANSFER_SYNTAX, ds.SOPInstanceUID == uid
    (True, True)
    >>> bool((ds.pixel_array == before).all())
    True
    """
    if model is not None and quality is None:
        raise MicInputError(f"model={model!r} names a lossy model: give quality= too")
    if "PixelData" not in ds:
        raise AttributeError("the dataset has no (7FE0,0010) Pixel Data to compress")
    fm = getattr(ds, "file_meta", None)
    tsyntax = fm.get("TransferSyntaxUID") if fm is not None else None
    if not tsyntax:
        raise AttributeError("the dataset has no (0002,0010) Transfer Syntax UID")
    if tsyntax == MIC_TRANSFER_SYNTAX:
        if quality is None and not max_error:
            return ds  # already mic
        decompress(ds)
    elif UID(tsyntax).is_compressed:
        decode_foreign(ds)
    encoder = _encoder()
    extra = {"model": model} if model is not None else {}
    frames = list(encoder.iter_encode(ds, quality=quality, max_error=max_error or None, **extra))
    total = sum(len(f) + 8 for f in frames)
    large = len(frames) > 1 and total >= EXTENDED_OFFSET_THRESHOLD
    if total > 2**32 - 1 or (large if encapsulate_ext is None else encapsulate_ext):
        ds.PixelData, ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = (
            encapsulate_extended(frames)
        )
    else:
        for kw in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
            if kw in ds:
                del ds[kw]
        ds.PixelData = encapsulate(frames, has_bot=True)
    elem = ds["PixelData"]
    elem.is_undefined_length = True
    elem.VR = VR.OB
    ds.file_meta.TransferSyntaxUID = MIC_TRANSFER_SYNTAX
    ds._pixel_array = None
    ds._pixel_id = {}
    return ds


def decode_foreign(ds: Dataset) -> Dataset:
    """Decode ``ds``'s compressed (non-mic) pixel data to Explicit VR Little Endian, in place.

    Uses pydicom's installed decoders (``get_decoder(ts).as_array``): YBR colour
    is converted to RGB and Planar Configuration becomes 0, as pydicom's own
    ``decompress`` does; the SOP Instance UID is kept.  If the source transfer
    syntax is a lossy one, (0028,2110) Lossy Image Compression is set to "01"
    when it was missing.  A missing decoder raises pydicom's ``RuntimeError``.
    """
    from pydicom.pixels import get_decoder

    tsyntax = UID(ds.file_meta.TransferSyntaxUID)
    arr, props = get_decoder(tsyntax).as_array(ds, as_rgb=True)
    ba = int(ds.BitsAllocated)
    kind = "<i" if int(ds.PixelRepresentation) else "<u"
    ds.PhotometricInterpretation = props["photometric_interpretation"]
    if int(props["samples_per_pixel"]) > 1:
        ds.PlanarConfiguration = int(props["planar_configuration"])
    if str(tsyntax) in LOSSY_SOURCE_SYNTAXES and ds.get("LossyImageCompression") != "01":
        ds.LossyImageCompression = "01"
    return _set_native_pixel_data(ds, arr, np.dtype(kind + str(max(1, ba // 8))))


def _set_native_pixel_data(ds: Dataset, arr: np.ndarray, dtype: np.dtype) -> Dataset:
    """Store ``arr`` as native (Explicit VR Little Endian) Pixel Data of ``ds``: padded to
    even length, OB/OW by Bits Allocated, Extended Offset Table elements removed."""
    data = np.ascontiguousarray(arr, dtype=dtype).tobytes()
    if len(data) % 2:
        data += b"\x00"
    for kw in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
        if kw in ds:
            del ds[kw]
    ds.PixelData = data
    elem = ds["PixelData"]
    elem.is_undefined_length = False
    elem.VR = VR.OB if int(ds.BitsAllocated) <= 8 else VR.OW
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds._pixel_array = None
    ds._pixel_id = {}
    return ds


def _encoder() -> MicEncoder:
    """The registered :class:`MicEncoder` (pydicom's ``get_encoder(MIC_TRANSFER_SYNTAX)``)."""
    from pydicom.pixels import get_encoder

    return get_encoder(MIC_TRANSFER_SYNTAX)  # type: ignore[return-value]


def decompress(ds: Dataset) -> Dataset:
    """Decode a mic-compressed ``ds`` to Explicit VR Little Endian, in place; return ``ds``.

    Unlike pydicom's ``ds.decompress()`` (which also works), this keeps the SOP
    Instance UID and writes the samples back in the dataset's own Planar
    Configuration, so ``decompress(compress(ds))`` restores the original
    element values exactly (lossless).  Extended Offset Table elements are
    removed.  Corrupt frames raise a :class:`~mic.errors.MicError`.

    >>> import pydicom, mic.dicom
    >>> from pydicom.data import get_testdata_file
    >>> ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    >>> raw = ds.PixelData
    >>> mic.dicom.decompress(mic.dicom.compress(ds)).PixelData == raw
    True
    """
    if not is_mic(ds):
        raise MicUnsupportedError("the dataset is not in the mic transfer syntax")
    arr = ds.pixel_array
    nframes = int(ds.get("NumberOfFrames", 1) or 1)
    spp = int(ds.SamplesPerPixel)
    ba = int(ds.BitsAllocated)
    if spp > 1 and int(ds.get("PlanarConfiguration", 0)) == 1:
        arr = arr.reshape(nframes, int(ds.Rows), int(ds.Columns), spp).transpose(0, 3, 1, 2)
    dtype = np.dtype(("<i" if int(ds.PixelRepresentation) else "<u") + str(ba // 8))
    return _set_native_pixel_data(ds, arr, dtype)


register()

__all__ = [
    "EXTENDED_OFFSET_THRESHOLD",
    "LOSSY_METHOD",
    "MODEL_METHODS",
    "lossy_method",
    "near_method",
    "MIC_TRANSFER_SYNTAX",
    "MIC_UUID",
    "TESTED_PYDICOM",
    "MicDecoder",
    "MicEncoder",
    "MicError",
    "apply_lossy_attributes",
    "compress",
    "decode_foreign",
    "decompress",
    "is_mic",
    "register",
    "stored_values",
]
