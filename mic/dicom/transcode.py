"""Hand a stored instance to a peer in a transfer syntax the peer accepted.

Used by ``mic dicom serve`` for C-GET and C-MOVE.  Order of preference (:data:`PREFERENCE`):

1. the stored syntax itself, when the peer accepted it (a mic-aware peer gets the ``.mic``
   file as stored; an instance kept in its original lossy syntax goes out as it came in);
2. mic's transfer syntax;
3. JPEG-LS lossless, then JPEG 2000 lossless, where imagecodecs can encode them here
   (unsigned 8/16-bit pixel data; JPEG 2000 for one sample per pixel);
4. Explicit VR Little Endian, then Implicit VR Little Endian.

Every JPEG-LS / JPEG 2000 result is decoded again (pydicom, mic's imagecodecs plugin) and
compared with the stored pixels before it is sent; where it differs, the next syntax is
used.  So the pixels a peer receives always equal the stored pixels.

>>> from pydicom.uid import ExplicitVRLittleEndian as ELE, JPEGLSLossless as JLS
>>> from . import MIC_TRANSFER_SYNTAX as MIC
>>> [str(u) for u in choose_order(MIC, {ELE, JLS})] == [JLS, ELE]
True
>>> choose_order(MIC, {MIC, ELE})[0] == MIC
True
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
)
from pydicom.valuerep import VR

from . import MIC_TRANSFER_SYNTAX, decode_foreign, decompress

__all__ = ["PREFERENCE", "NoAcceptedSyntax", "choose_order", "encodable_here", "for_peer",
           "offered_syntaxes"]

#: mic's preference among the syntaxes a peer accepted (after the stored syntax itself)
PREFERENCE: tuple[UID, ...] = (MIC_TRANSFER_SYNTAX, JPEGLSLossless, JPEG2000Lossless,
                               ExplicitVRLittleEndian, ImplicitVRLittleEndian)
_IMAGECODECS = {str(JPEGLSLossless), str(JPEG2000Lossless)}


class NoAcceptedSyntax(ValueError):
    """None of the syntaxes the peer accepted can carry this instance."""


def encodable_here() -> set[str]:
    """The JPEG-LS / JPEG 2000 lossless syntaxes this installation can encode (imagecodecs)."""
    try:
        import imagecodecs
    except ImportError:
        return set()
    out = set()
    if getattr(imagecodecs, "JPEGLS", None) is not None and imagecodecs.JPEGLS.available:
        out.add(str(JPEGLSLossless))
    if getattr(imagecodecs, "JPEG2K", None) is not None and imagecodecs.JPEG2K.available:
        out.add(str(JPEG2000Lossless))
    return out


def offered_syntaxes() -> list[UID]:
    """The syntaxes a node proposes for C-MOVE sub-associations, in preference order."""
    here = encodable_here()
    return [u for u in PREFERENCE if str(u) not in _IMAGECODECS or str(u) in here]


def choose_order(stored: str, accepted: Collection[str]) -> list[UID]:
    """The syntaxes to try, best first, for an instance stored in ``stored`` and a peer that
    accepted ``accepted``."""
    acc = {str(u) for u in accepted}
    out = [UID(stored)] if str(stored) in acc else []
    here = encodable_here()
    out += [u for u in PREFERENCE if str(u) in acc and u != stored
            and (str(u) not in _IMAGECODECS or str(u) in here)]
    return out


def _native(ds: Dataset) -> Dataset:
    """``ds`` with native pixel data (in place): mic decoded exactly, others by pydicom."""
    ts = UID(ds.file_meta.TransferSyntaxUID)
    if "PixelData" not in ds or not ts.is_compressed:
        return ds
    if ts == MIC_TRANSFER_SYNTAX:
        return decompress(ds)
    return decode_foreign(ds)


def _encode_imagecodecs(ds: Dataset, target: UID, pixels: np.ndarray) -> Dataset | None:
    """A copy of native ``ds`` with its pixels coded in ``target`` by imagecodecs, or None
    where that does not apply here or the result does not decode to ``pixels``."""
    import imagecodecs
    from pydicom.pixels import pixel_array

    spp = int(ds.get("SamplesPerPixel", 1))
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 8)))
    if int(ds.get("PixelRepresentation", 0)) or int(ds.BitsAllocated) not in (8, 16):
        return None
    if spp == 3 and (target == JPEG2000Lossless or ds.PhotometricInterpretation != "RGB"):
        return None
    if spp not in (1, 3):
        return None
    nframes = int(ds.get("NumberOfFrames", 1) or 1)
    frames = pixels.reshape((nframes, *pixels.shape[-3 if spp == 3 else -2:]))
    dtype = np.uint8 if int(ds.BitsAllocated) == 8 else np.uint16
    coded = []
    for f in frames:
        f = np.ascontiguousarray(f, dtype=dtype)
        if target == JPEGLSLossless:
            coded.append(imagecodecs.jpegls_encode(f, level=0))
        else:
            coded.append(imagecodecs.jpeg2k_encode(f, level=0, codecformat="J2K",
                                                   reversible=True, bitspersample=bits))
    out = copy.deepcopy(ds)  # (Dataset.copy() would share the elements with ds)
    out.PixelData = encapsulate(coded, has_bot=True)
    out["PixelData"].is_undefined_length = True
    out["PixelData"].VR = VR.OB
    if spp == 3:
        out.PlanarConfiguration = 0
    out.file_meta.TransferSyntaxUID = target
    try:
        back = pixel_array(out)
    except Exception:  # noqa: BLE001 - no decoder here or a codec quirk: use the next syntax
        return None
    if back.shape != pixels.shape or not np.array_equal(back, pixels):
        return None
    return out


def for_peer(path: str, accepted: Collection[str]) -> tuple[Dataset, UID]:
    """The stored instance at ``path`` ready to send to a peer that accepted ``accepted``
    (transfer syntax UIDs for this instance's SOP class), and the syntax it is in.

    Raises :class:`NoAcceptedSyntax` when none fits (e.g. only a compressed syntax that
    cannot be made here was accepted)."""
    import pydicom

    ds = pydicom.dcmread(path)
    stored = UID(ds.file_meta.TransferSyntaxUID)
    order = choose_order(stored, accepted)
    if order and order[0] == stored:
        return ds, stored
    has_pixels = "PixelData" in ds
    _native(ds)
    pixels = ds.pixel_array if has_pixels else None
    for target in order:
        if str(target) in _IMAGECODECS:
            if pixels is None:
                continue
            coded = _encode_imagecodecs(ds, target, pixels)
            if coded is not None:
                return coded, target
        elif target == MIC_TRANSFER_SYNTAX:
            if not has_pixels:
                continue
            from . import compress

            try:
                return compress(ds), target
            except Exception:  # noqa: BLE001 - pixel data mic does not code: next syntax
                _native(ds)
                continue
        elif not target.is_compressed:
            # pynetdicom re-encodes an Explicit VR Little Endian dataset in any accepted
            # uncompressed syntax
            return ds, ExplicitVRLittleEndian if target == ExplicitVRLittleEndian else target
    raise NoAcceptedSyntax(
        f"the peer accepted none of the syntaxes this instance can be sent in "
        f"(stored as {stored.name}; accepted: "
        f"{', '.join(sorted(UID(u).name for u in accepted)) or 'none'})")


def accepted_for(contexts: Any, sop_class: str, role: str = "scu") -> list[str]:
    """The transfer syntaxes accepted for ``sop_class`` in an association's accepted
    presentation contexts, where this side may act in ``role`` (``scu``: send C-STORE)."""
    out = []
    for cx in contexts:
        if str(cx.abstract_syntax) != str(sop_class):
            continue
        if role == "scu" and cx.as_scu is False:
            continue
        out.extend(str(t) for t in cx.transfer_syntax)
    return out
