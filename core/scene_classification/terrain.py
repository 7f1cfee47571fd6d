"""Slope and hill-shade of a DEM, as Sen2Cor's DEM cleaning step gets them from ``gdaldem``.

Sen2Cor runs ``gdaldem slope`` and ``gdaldem hillshade`` (tile-mean sun azimuth and elevation) on
the DEM warped to the working grid. rasterio does not expose ``gdaldem``, so the same formulas are
written here: Horn's 3x3 gradient and ``255 * cos(incidence)`` clipped at 0 (a numba kernel,
:func:`~core.scene_classification.kernels.hillshade_kernel`) (GDAL ``gdaldem``
documentation, "hillshade" with the default algorithm). Edges repeat the nearest pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.scene_classification import kernels
from core.terrain.geometry import horn_gradient


@dataclass(frozen=True, slots=True)
class Terrain:
    """Slope and hill-shade on the working grid."""

    slope_deg: np.ndarray
    """float32 slope in degrees."""
    hillshade: np.ndarray
    """uint8 hill-shade 0-255 (0 = facing away from the sun)."""


def terrain(
    dem_m: np.ndarray, resolution: int, *, sun_zenith_deg: float, sun_azimuth_deg: float
) -> Terrain:
    """Slope and hill-shade of ``dem_m`` (metres) for the mean sun position.

    Parameters
    ----------
    dem_m
        Elevation on the working grid (rows southwards, columns eastwards).
    resolution
        Pixel size in metres.
    sun_zenith_deg, sun_azimuth_deg
        Tile-mean sun angles (azimuth clockwise from north).
    """
    d_east, d_north = horn_gradient(dem_m, resolution)
    slope = np.empty(d_east.shape, dtype=np.float32)
    hillshade = np.empty(d_east.shape, dtype=np.uint8)
    kernels.hillshade_kernel(
        np.ascontiguousarray(d_east), np.ascontiguousarray(d_north),
        np.radians(sun_zenith_deg), np.radians(sun_azimuth_deg), slope, hillshade,
    )  # fmt: skip
    return Terrain(slope_deg=slope, hillshade=hillshade)
