"""The compressed DICOM transfer syntaxes of other codecs that mic reads: one table.

Used by :mod:`mic.io` (reading a DICOM file whose pixel data pydicom cannot decode here:
imagecodecs decodes the frames), by :mod:`mic.dicom._imagecodecs` (the pydicom decoder
plugin added for the syntaxes pydicom 3.0 decodes only with pylibjpeg, GDCM or pyjpegls)
and by :mod:`mic.dicom` (the syntaxes that are always lossy, for the DICOM lossy rules).
Plain strings: importing this module imports nothing else.

>>> s = SYNTAXES["1.2.840.10008.1.2.4.80"]
>>> s.name, s.decoder, s.lossy, s.plugin
('JPEG-LS Lossless', 'jpegls_decode', False, True)
>>> sorted(uid[-2:] for uid in LOSSY)
['50', '51', '81']
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LOSSY", "PLUGIN", "SYNTAXES", "Syntax"]


@dataclass(frozen=True)
class Syntax:
    """A compressed transfer syntax that imagecodecs decodes.

    ``codec``: imagecodecs' name (``<codec>_decode`` decodes one frame); ``lossy``: always
    lossy (True), never (False) or either, as the dataset says (None); ``plugin``: mic adds
    its imagecodecs decoder to pydicom's for it, since pydicom 3.0 decodes it only with
    pylibjpeg, GDCM or pyjpegls (its Pillow plugin does baseline JPEG and JPEG 2000).
    """

    uid: str
    name: str
    codec: str
    lossy: bool | None
    plugin: bool

    @property
    def decoder(self) -> str:
        return f"{self.codec}_decode"


#: transfer syntax UID -> :class:`Syntax`
SYNTAXES: dict[str, Syntax] = {s.uid: s for s in (
    Syntax("1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)", "jpeg8", True, False),
    Syntax("1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 and 4)", "jpeg8", True, True),
    # JPEG lossless, any predictor (process 14) or predictor 1 (SV1)
    Syntax("1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)",
           "jpegsof3", False, True),
    Syntax("1.2.840.10008.1.2.4.70", "JPEG Lossless, Non-Hierarchical, First-Order "
           "Prediction (Process 14 [Selection Value 1])", "jpegsof3", False, True),
    Syntax("1.2.840.10008.1.2.4.80", "JPEG-LS Lossless", "jpegls", False, True),
    Syntax("1.2.840.10008.1.2.4.81", "JPEG-LS Near-Lossless", "jpegls", True, True),
    Syntax("1.2.840.10008.1.2.4.90", "JPEG 2000 (Lossless Only)", "jpeg2k", False, False),
    Syntax("1.2.840.10008.1.2.4.91", "JPEG 2000", "jpeg2k", None, False),
)}
#: syntaxes that are always lossy (JPEG 2000 and HTJ2K may be either and say so in the dataset)
LOSSY = frozenset(uid for uid, s in SYNTAXES.items() if s.lossy)
#: syntaxes given mic's imagecodecs decoder plugin in pydicom
PLUGIN = frozenset(uid for uid, s in SYNTAXES.items() if s.plugin)
