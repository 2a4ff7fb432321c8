"""The mic exception family.

Every error mic raises on purpose is a :class:`MicError`.  Callers that only
want to know "was this a codec problem?" catch ``MicError``; callers that care
why catch a subclass.  All of them are also ``ValueError`` so that code written
for imagecodecs-style APIs keeps working.

>>> import mic
>>> try:
...     mic.decode(b"not a mic stream")
... except mic.MicFormatError as exc:
...     print(type(exc).__name__)
MicFormatError
"""

from __future__ import annotations

__all__ = [
    "MicError",
    "MicFormatError",
    "MicTruncatedError",
    "MicChecksumError",
    "MicVersionError",
    "MicUnsupportedError",
    "MicLimitError",
    "MicInputError",
]


class MicError(ValueError):
    """Base class of every error raised by mic."""


class MicFormatError(MicError):
    """The bytes are not a well-formed .mic stream (bad magic, bad field, bad segment)."""


class MicTruncatedError(MicFormatError):
    """The stream ends before a field or segment it announces."""


class MicChecksumError(MicFormatError):
    """A CRC of the header or of a segment, or the decoded-sample checksum, does not match."""


class MicVersionError(MicFormatError):
    """The stream's major version is not one this decoder implements."""


class MicUnsupportedError(MicError):
    """The stream (or the request) names a mode, model, coder or feature this build does not have."""


class MicLimitError(MicError):
    """Decoding would exceed a safety limit (``max_pixels``, dimensions, segment count)."""


class MicInputError(MicError):
    """The array or options given to :func:`mic.encode` are not acceptable."""
