"""Topographic cast shadow (SCL class 2 from processing baseline 04.00) from the DEM and the sun.

Default-mode addition (switch ``TOPOGRAPHIC_SHADOW``): Sen2Cor 2.10+ labels terrain shadow as
class 2 but its algorithm is not published (facts §2.6). Here a pixel is in topographic shadow
when its slope faces away from the sun (Sen2Cor's ``gdaldem`` hill-shade is 0,
:mod:`core.scene_classification.terrain`) or the terrain towards the sun hides it (the ray march
of :func:`core.terrain.geometry.cast_shadow` with the tile-mean sun, on the DEM
block-averaged to ``TOPO_SHADOW_GRID_M`` when that is coarser than the working grid). The lit
share is resampled bilinearly to the working grid; a pixel is shadow where less than half of it
is lit.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from core.resample import block_mean
from core.scene_classification.terrain import Terrain
from core.terrain.geometry import cast_shadow as terrain_cast_shadow

_LIT_SHARE_MIN = 0.5
"""A pixel with less than this share lit is in shadow (half the direct beam, as in the truth)."""


def cast_shadow(
    dem_m: np.ndarray,
    resolution: int,
    *,
    sun_zenith_deg: float,
    sun_azimuth_deg: float,
    grid_m: float,
) -> np.ndarray:
    """bool mask of the pixels whose sun the terrain hides, on the grid of ``dem_m``.

    Parameters
    ----------
    dem_m
        Elevation (m) on the working grid (rows southwards, columns eastwards).
    resolution
        Pixel size (m).
    sun_zenith_deg, sun_azimuth_deg
        Tile-mean sun angles (degrees).
    grid_m
        Resolution of the ray march (``TOPO_SHADOW_GRID_M``; at most ``resolution`` coarser).
    """
    factor = max(1, round(grid_m / resolution))
    factor = min(factor, *dem_m.shape)
    coarse = np.ascontiguousarray(block_mean(dem_m, factor, np.float64))
    shadow = terrain_cast_shadow(coarse, resolution * factor, sun_zenith_deg, sun_azimuth_deg)
    lit = (~shadow).astype(np.float64)
    if factor > 1:
        lit = ndimage.zoom(lit, factor, order=1, mode="nearest", grid_mode=True)
        pad = [(0, max(0, n - m)) for n, m in zip(dem_m.shape, lit.shape, strict=True)]
        lit = np.pad(lit, pad, mode="edge")[: dem_m.shape[0], : dem_m.shape[1]]
    return lit < _LIT_SHARE_MIN


def topographic_shadow(
    dem_m: np.ndarray,
    relief: Terrain,
    resolution: int,
    *,
    sun_zenith_deg: float,
    sun_azimuth_deg: float,
    grid_m: float,
) -> np.ndarray:
    """bool mask of self-shadow (hill-shade 0) or cast shadow (:func:`cast_shadow`)."""
    cast = cast_shadow(
        dem_m, resolution, sun_zenith_deg=sun_zenith_deg, sun_azimuth_deg=sun_azimuth_deg,
        grid_m=grid_m,
    )  # fmt: skip
    return cast | (relief.hillshade == 0)
