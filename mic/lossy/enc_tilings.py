"""The tile shapes of a lossy frame when the caller names none (SPEC.md 6): 512 x 512
tiles, and for a larger frame also the fewest even large tiles; ``mic.encode`` keeps the
stream of lower rate + lambda * distortion (the ``tilings`` tool, EncoderOptions).
Encoder only: the header records the tiles.
"""

from __future__ import annotations

from ..models.wavelet import ALIGN

#: the tile side of a :class:`LossyTileEncoder` whose header names none
DEFAULT_TILE = 512
#: the side of the large tiling :func:`tilings` offers beside DEFAULT_TILE.  Train
#: (research/tile_gain.py, 7 large images): large tiles alone were +0.2 % BD on average
#: against 512 (a 1416 x 1420 DX -8.0 %, a 3062 x 2394 mammogram +7.1 %: the one
#: tiling that wins everywhere does not exist), so mic.encode tries both
LARGE_TILE = 2048


def even_tiles(rows: int, cols: int, side: int = LARGE_TILE) -> tuple[int, int]:
    """Per axis the fewest tiles of at most ``side`` pixels, cut evenly, sides rounded up
    to a multiple of ``ALIGN`` (never beyond the frame).

    >>> even_tiles(2500, 2048), even_tiles(600, 10), even_tiles(4000, 3000)
    ((1280, 2048), (600, 10), (2048, 1536))
    """
    def one(n: int) -> int:
        k = -(-n // side)
        return min(n, -(-(-(-n // k)) // ALIGN) * ALIGN)

    return one(rows), one(cols)


def tilings(rows: int, cols: int) -> list[tuple[int, int]]:
    """The tile shapes ``mic.encode`` tries when the caller names none: DEFAULT_TILE
    squares and, for a frame larger than that, the fewest even tiles of at most
    LARGE_TILE a side (fewer tiles: less side information per tile and longer-range
    correlation, which wins at low rates on uniform radiographs; smaller tiles adapt
    their regions, table biases and filters locally, which wins beside large
    backgrounds).  The encoder keeps the stream of lower rate + lambda * distortion.

    >>> tilings(512, 512), tilings(1416, 1420)
    ([(512, 512)], [(512, 512), (1416, 1420)])
    """
    out = [(DEFAULT_TILE, DEFAULT_TILE)]
    if rows > DEFAULT_TILE or cols > DEFAULT_TILE:
        out.append(even_tiles(rows, cols))
    return out


__all__ = ["DEFAULT_TILE", "LARGE_TILE", "even_tiles", "tilings"]
