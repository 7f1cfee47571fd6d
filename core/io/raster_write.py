"""What every raster writer shares: the band stack checked against its grid, and the profile
that georeferences it (driver-specific creation options are added by each writer)."""

from __future__ import annotations

from typing import Any

import numpy as np
from rasterio.crs import CRS

from core.errors import OutputError
from core.product.metadata import RasterGrid


def band_stack(array: np.ndarray, grid: RasterGrid, *, path: str) -> np.ndarray:
    """Return ``array`` as ``(bands, rows, cols)``; raise :class:`OutputError` if off the grid."""
    bands = array[np.newaxis] if array.ndim == 2 else array
    if bands.ndim != 3 or bands.shape[1:] != (grid.height, grid.width):
        raise OutputError(
            f"array of shape {array.shape} does not match the {grid.height}x{grid.width} grid",
            path=path,
        )
    return bands


def grid_profile(
    driver: str, bands: np.ndarray, grid: RasterGrid, nodata: int | None
) -> dict[str, Any]:
    """The rasterio profile placing ``bands`` (from :func:`band_stack`) on ``grid``."""
    return {
        "driver": driver,
        "width": grid.width,
        "height": grid.height,
        "count": bands.shape[0],
        "dtype": bands.dtype.name,
        "crs": CRS.from_epsg(grid.crs_epsg),
        "transform": grid.transform,
        "nodata": nodata,
    }
