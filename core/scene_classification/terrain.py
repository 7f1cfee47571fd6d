"""Slope and hill-shade of a DEM, as Sen2Cor's DEM cleaning step gets them from ``gdaldem``.

Sen2Cor runs ``gdaldem slope`` and ``gdaldem hillshade`` (tile-mean sun azimuth and elevation) on
the DEM warped to the working grid. rasterio does not expose ``gdaldem``, so the same formulas are
written here: Horn's 3x3 gradient and ``255 * cos(incidence)`` clipped at 0 (GDAL ``gdaldem``
documentation, "hillshade" with the default algorithm). Edges repeat the nearest pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    slope = np.arctan(np.hypot(d_east, d_north))
    # surface normal (-d_east, -d_north, 1) normalised, sun vector (sin z sin a, sin z cos a, cos z)
    zenith, azimuth = np.radians(sun_zenith_deg), np.radians(sun_azimuth_deg)
    cos_incidence = (
        np.cos(zenith) - np.sin(zenith) * (d_east * np.sin(azimuth) + d_north * np.cos(azimuth))
    ) * np.cos(slope)
    hillshade = np.rint(255.0 * np.clip(cos_incidence, 0.0, 1.0)).astype(np.uint8)
    return Terrain(slope_deg=np.degrees(slope).astype(np.float32), hillshade=hillshade)
