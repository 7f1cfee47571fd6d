"""The strips a tile is processed in, and how to decode the band windows of one strip.

Windowed processing (issue #7) walks a tile in strips of :data:`STRIP_M` metres: the windows
of one strip cover the same ground at 10, 20 and 60 m, so a strip's outputs at every resolution
can be computed together and handed to :class:`core.io.block_writer.BlockWriter` without
partial blocks. JPEG 2000 decoding dominates the read cost and GDAL releases the GIL while
decoding, so the bands of a strip are decoded on threads with
:func:`core.io.block_writer.run_each` (band-level parallelism, perf anchors B.1: ~2× on two
cores).

A strip is not aligned to the 1024-pixel JP2 tiles of the inputs: :class:`StripReader` decodes
each row of tiles once and hands out strips from it.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
from rasterio.windows import Window

from core.product.metadata import RasterGrid

STRIP_M: Final[int] = 11520
"""Strip height: 1152 / 576 / 192 rows at 10 / 20 / 60 m, whole multiples of the 60 m pixel
(10 m windows down-sample exactly) and of the scratch block rows
(:data:`core.io.block_writer.SCRATCH_BLOCK`) at every resolution."""


def strip_windows(grid: RasterGrid, strip_m: int = STRIP_M) -> list[Window]:
    """Full-width windows of ``strip_m`` metres (the last one shorter) covering ``grid``."""
    rows = strip_m // grid.resolution
    if rows < 1 or rows * grid.resolution != strip_m:
        raise ValueError(f"a {strip_m} m strip is not a whole number of {grid.resolution} m rows")
    return [
        Window(0, row, grid.width, min(rows, grid.height - row))
        for row in range(0, grid.height, rows)
    ]


class StripReader:
    """Consecutive full-width strips of one band, decoding each row of JP2 tiles once.

    Strips are not aligned to the tiles of the L1C files (1024 rows at every resolution).
    Reading each strip as a window makes GDAL decode the tile rows a strip boundary crosses
    twice unless its block cache still holds them, and at 10980² the cache would need one row
    of tiles of every band plus the scratch blocks of the writers (> 500 MB). This reader
    decodes whole tile rows in order and keeps the rows not yet handed out: at most one tile
    row plus one strip of the band (48 MB for a 10 m band). On the 10980² floor benchmark it
    cut the CPU of decoding the 13 bands by strips from 81.6 s to 52.2 s.

    Parameters
    ----------
    dataset
        An open raster (a rasterio dataset); strips are read from its band ``band_index``.
    """

    def __init__(self, dataset: Any, band_index: int = 1) -> None:
        self._dataset = dataset
        self._band_index = band_index
        self._tile_rows = dataset.block_shapes[band_index - 1][0]
        self._rows = np.empty((0, dataset.width), dtype=dataset.dtypes[band_index - 1])
        self._first_row = 0

    def read(self, window: Window) -> np.ndarray:
        """The pixels of ``window``: full width, at or below the previous window's top."""
        start, stop = int(window.row_off), int(window.row_off + window.height)
        if window.col_off != 0 or window.width != self._dataset.width:
            raise ValueError(f"strip {window} does not span the {self._dataset.width} columns")
        if start < self._first_row or stop > self._dataset.height:
            raise ValueError(f"strip {window} is above an earlier strip or below the raster")
        next_row = self._first_row + self._rows.shape[0]
        kept = self._rows[max(start - self._first_row, 0) :]
        parts = [kept]
        while next_row < stop:
            tile_end = min(
                (next_row // self._tile_rows + 1) * self._tile_rows, self._dataset.height
            )
            decode_from = max(next_row, start)
            if decode_from < tile_end:
                rows = Window(0, decode_from, self._dataset.width, tile_end - decode_from)
                parts.append(self._dataset.read(self._band_index, window=rows))
            next_row = tile_end
        self._rows = np.concatenate(parts) if len(parts) > 1 else kept
        self._first_row = start
        return self._rows[: stop - start]
