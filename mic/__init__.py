"""mic — a medical image codec.

Lossless (predictive coder, bit-exact), near-lossless (every sample within ``max_error``)
and learned lossy compression of 8-16 bit medical images to a versioned, self-describing
``.mic`` stream (see SPEC.md).

>>> import numpy as np, mic
>>> img = np.random.default_rng(0).integers(0, 4096, (32, 32), dtype=np.uint16)
>>> blob = mic.encode(img)            # lossless by default
>>> bool((mic.decode(blob) == img).all())
True
>>> near = mic.encode(img, max_error=2)   # near-lossless: |decoded - img| <= 2 everywhere
>>> int(abs(mic.decode(near).astype(int) - img).max()) <= 2
True

``import mic`` never imports PyTorch, and neither does coding: the lossy mode runs on
NumPy/Numba (torch is only for training, ``mic train``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .codec import DEFAULT_MAX_PIXELS, MicInfo, check, decode, info, verify
from .errors import (
    MicChecksumError, MicError, MicFormatError, MicInputError, MicLimitError, MicTruncatedError,
    MicUnsupportedError, MicVersionError,
)

if TYPE_CHECKING:
    from .encoder import encode, encode_target
    from .lossy.enc_options import EncoderOptions

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # The encoder's functions (mic.encoder) and EncoderOptions (with the lossy encoder) are
    # imported on first use: `import mic` and decoding never load encoder code
    if name in ("encode", "encode_target"):
        from . import encoder

        value = getattr(encoder, name)
    elif name == "EncoderOptions":
        from .lossy.enc_options import EncoderOptions as value
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = [
    "encode", "encode_target", "decode", "info", "check", "verify", "MicInfo",
    "EncoderOptions", "DEFAULT_MAX_PIXELS",
    "MicError", "MicFormatError", "MicTruncatedError", "MicChecksumError", "MicVersionError",
    "MicUnsupportedError", "MicLimitError", "MicInputError", "__version__",
]
