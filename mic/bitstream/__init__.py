"""The .mic container: header schema, segments, CRCs and a bounds-checked reader."""

from .container import (
    TAG_END, TAG_TILE, Segment, Stream, iter_tiles, pack_segment, read_stream, write_stream,
)
from .schema import (
    CODER_NAMES, CODER_RANGE32, HEADER_FIELDS, HEADER_SIZE, LAYOUT_FRC, LAYOUT_FRCS,
    LAYOUT_NAMES, LAYOUT_RC, LAYOUT_RCS, MAGIC, MODE_LOSSLESS, MODE_LOSSY, MODE_NAMES,
    MODE_NEAR_LOSSLESS, PHOTOMETRIC_MONOCHROME1, PHOTOMETRIC_MONOCHROME2, PHOTOMETRIC_NAMES,
    PHOTOMETRIC_RGB, VERSION_MAJOR, VERSION_MINOR, Header, pack_header, unpack_header,
)

__all__ = [n for n in dir() if not n.startswith("_")]
