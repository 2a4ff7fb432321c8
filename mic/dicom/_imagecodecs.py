"""An optional pydicom decoder plugin backed by imagecodecs, for decode-first conversion.

pydicom 3.0 decodes JPEG-LS, JPEG Lossless (process 14, the most common lossless
syntax in PACS archives) and 12-bit JPEG Extended only with pylibjpeg, GDCM or
pyjpegls, none of which mic depends on.  When ``imagecodecs`` is installed (it is
in mic's ``test`` and ``bench`` extras), :func:`mic.dicom.register` adds this
module as plugin ``"imagecodecs"`` to pydicom's decoders for those syntaxes
(:data:`mic.dicom.syntaxes.PLUGIN`, the one table of foreign syntaxes), so
that ``mic dicom compress`` can decode such inputs first instead of keeping
them as they are.  imagecodecs is imported only when a frame is decoded.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from .syntaxes import PLUGIN, SYNTAXES

DECODER_DEPENDENCIES = {uid: ("imagecodecs",) for uid in PLUGIN}


def is_available(uid: str) -> bool:
    """pydicom plugin hook: True if imagecodecs is importable and ``uid`` is one we decode."""
    return uid in PLUGIN and importlib.util.find_spec("imagecodecs") is not None


def _decode_frame(src: bytes, runner: Any) -> bytes:
    """Decode one frame; return its samples in the Bits Allocated container, interleaved."""
    import imagecodecs

    syntax = SYNTAXES[str(runner.transfer_syntax)]
    arr = getattr(imagecodecs, syntax.decoder)(src)
    rows, cols, spp = int(runner.rows), int(runner.columns), int(runner.samples_per_pixel)
    if arr.size != rows * cols * spp:
        raise ValueError(f"decoded {arr.shape}, expected {rows}x{cols}x{spp}")
    if spp > 1:
        runner.set_option("planar_configuration", 0)
    if syntax.codec == "jpegls":
        # DICOM's Bits Stored, not the codestream's precision (encoders often write
        # P = 16 for 12-bit data), says where the sign bit of signed samples is.
        runner.set_option("jls_precision", int(runner.bits_stored))
    itemsize = max(1, int(runner.bits_allocated) // 8)
    return np.ascontiguousarray(arr, dtype=np.dtype(f"<u{itemsize}")).tobytes()


def register() -> None:
    """Add the plugin to pydicom's decoders (idempotent; nothing without imagecodecs)."""
    from pydicom.pixels import get_decoder

    for uid in sorted(PLUGIN):
        dec = get_decoder(uid)
        if "imagecodecs" in dec._available or "imagecodecs" in dec._unavailable:
            continue
        dec.add_plugin("imagecodecs", ("mic.dicom._imagecodecs", "_decode_frame"))
