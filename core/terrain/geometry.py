"""Terrain geometry on a working grid: slope, aspect, sky-view factor, solar incidence, cast shadow.

Slope and aspect come from Horn's 3x3 gradient, as ``gdaldem slope``/``aspect`` compute them
for Sen2Cor (edges repeat the nearest pixel). The sky-view factor integrates the horizon over
azimuths (Dozier & Frew 1990), which Sen2Cor's ``atc_skyview`` also does by azimuth steps; on an
open slope it equals the infinite-slope model ``(1 + cos s)/2``, in valleys it is lower.
``cos i = cos(theta_s) cos(s) + sin(theta_s) sin(s) cos(phi_s - A)`` is the ATCOR illumination
used by Sen2Cor's terrain correction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy import ndimage

from core.terrain.kernels import (
    HORIZON_AZIMUTHS,
    HORIZON_BLOCK_PX,
    HORIZON_NEAR_PX,
    cast_shadow_kernel,
    sky_view_kernel,
)

SKY_VIEW_GRID_M: Final = 60
"""Grid (m) the sky-view factor is computed on for finer grids (``sky_view_step``), by the
correction and by the simulator alike: Sen2Cor's ``atc_skyview`` works at 60 m too."""

_HORN_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64) / 8.0
"""Horn's eastward derivative (per pixel); the northward one is its transpose, sign-flipped."""


def horn_gradient(elevation_m: np.ndarray, resolution: float) -> tuple[np.ndarray, np.ndarray]:
    """Eastward and northward elevation gradients (m/m, float64) by Horn's 3x3 operator.

    Rows run southwards and columns eastwards; edges repeat the nearest pixel (``gdaldem``).
    """
    dem = np.asarray(elevation_m, dtype=np.float64)
    d_east = ndimage.correlate(dem, _HORN_X, mode="nearest") / resolution
    d_north = -ndimage.correlate(dem, _HORN_X.T, mode="nearest") / resolution
    return d_east, d_north


@dataclass(frozen=True)
class TerrainGeometry:
    """Per-pixel terrain quantities on one grid (rows southwards, columns eastwards)."""

    elevation_m: np.ndarray
    """float32 elevation above sea level (m)."""
    slope_deg: np.ndarray
    """float32 slope (deg)."""
    aspect_deg: np.ndarray
    """float32 direction the slope faces, clockwise from north (deg); 0 on flat ground."""
    sky_view: np.ndarray
    """float32 sky-view factor 0..1 (1 on flat open ground)."""
    resolution: float
    """Pixel size (m)."""

    def cos_incidence(
        self, sun_zenith_deg: np.ndarray | float, sun_azimuth_deg: np.ndarray | float
    ) -> np.ndarray:
        """Cosine of the local solar incidence angle on the slope (negative: self-shadow).

        ``cos i = cos(theta_s) cos(s) + sin(theta_s) sin(s) cos(phi_s - A)``; the sun angles are
        scalars or arrays broadcastable to the grid. float32.
        """
        zenith = np.radians(sun_zenith_deg)
        slope = np.radians(self.slope_deg.astype(np.float64))
        relative = np.radians(np.asarray(sun_azimuth_deg) - self.aspect_deg.astype(np.float64))
        cos_i = np.cos(zenith) * np.cos(slope) + np.sin(zenith) * np.sin(slope) * np.cos(relative)
        return cos_i.astype(np.float32)

    def cast_shadow(
        self, sun_zenith_deg: np.ndarray | float, sun_azimuth_deg: np.ndarray | float
    ) -> np.ndarray:
        """Bool mask of pixels in the shadow cast by surrounding terrain (ray march to the sun).

        Pixels facing away from the sun are also shaded by their own upslope neighbour, so the
        mask includes most self-shadow (``cos_incidence < 0``) too.
        """
        return cast_shadow(self.elevation_m, self.resolution, sun_zenith_deg, sun_azimuth_deg)


def cast_shadow(
    elevation_m: np.ndarray,
    resolution: float,
    sun_zenith_deg: np.ndarray | float,
    sun_azimuth_deg: np.ndarray | float,
) -> np.ndarray:
    """Bool mask of terrain cast shadow on a DEM (rows southwards), by a ray march to the sun.

    The sun angles are one value or one per pixel: across a 110 km tile the sun zenith changes
    by a few degrees, which moves a shadow edge cast by 1.5 km of relief by ~150 m. For callers
    that need only the shadow (no slope or sky view), e.g. on a coarser DEM.
    """
    dem = np.ascontiguousarray(elevation_m, dtype=np.float64)
    shadow = np.empty(dem.shape, dtype=np.bool_)
    cast_shadow_kernel(
        dem,
        _block_max(dem, HORIZON_BLOCK_PX),
        HORIZON_BLOCK_PX,
        float(resolution),
        _grid_field(np.tan(np.radians(sun_zenith_deg))),
        _grid_field(np.radians(sun_azimuth_deg)),
        shadow,
    )
    return shadow


def _grid_field(values: np.ndarray | float) -> np.ndarray:
    """A contiguous float32 grid array, or 1 x 1 for one value (the kernels' convention);
    float32 keeps a tile's per-pixel sun at half the memory, far within the march's accuracy."""
    array = np.asarray(values, dtype=np.float32)
    return np.ascontiguousarray(array.reshape(1, 1) if array.ndim == 0 else array)


def _block_max(dem: np.ndarray, block: int) -> np.ndarray:
    """Maximum of each ``block`` x ``block`` block and its one-pixel border (bilinear reach)."""
    rows, cols = -(-dem.shape[0] // block), -(-dem.shape[1] // block)
    padded = np.full((rows * block, cols * block), -np.inf)
    padded[: dem.shape[0], : dem.shape[1]] = ndimage.maximum_filter(dem, size=3, mode="nearest")
    return padded.reshape(rows, block, cols, block).max(axis=(1, 3))


def terrain_geometry(
    elevation_m: np.ndarray, resolution: float, *, sky_view_step: int = 1
) -> TerrainGeometry:
    """Slope, aspect and sky-view factor of ``elevation_m`` (metres) on a ``resolution`` grid.

    ``sky_view_step > 1`` computes the sky view on a grid that many times coarser (block mean of
    the DEM) and interpolates it bilinearly: the horizon march is the costly part (about 50 CPU-s
    for 1830^2 px of smooth relief) and the horizon of distant terrain varies slowly, so a 10 or
    20 m grid takes it from the 60 m grid (Sen2Cor's ``atc_skyview`` works at 60 m too).
    """
    dem = np.asarray(elevation_m, dtype=np.float64)
    d_east, d_north = horn_gradient(dem, resolution)
    slope = np.arctan(np.hypot(d_east, d_north))
    # the slope faces down the gradient: azimuth of (-d_east, -d_north); 0 where flat
    aspect = np.where(slope > 0.0, np.degrees(np.arctan2(-d_east, -d_north)) % 360.0, 0.0)
    if sky_view_step > 1:
        coarse = _block_mean(dem, sky_view_step)
        coarse_view = terrain_geometry(coarse, resolution * sky_view_step).sky_view
        zoom = (dem.shape[0] / coarse.shape[0], dem.shape[1] / coarse.shape[1])
        sky_view = np.clip(
            ndimage.zoom(
                coarse_view.astype(np.float64), zoom, order=1, grid_mode=True, mode="nearest"
            ),
            0.0,
            1.0,
        )
    else:
        sky_view = np.empty(dem.shape, dtype=np.float64)
        sky_view_kernel(
            dem,
            d_east,
            d_north,
            _block_max(dem, HORIZON_BLOCK_PX),
            HORIZON_BLOCK_PX,
            float(resolution),
            HORIZON_AZIMUTHS,
            HORIZON_NEAR_PX,
            sky_view,
        )
    return TerrainGeometry(
        elevation_m=dem.astype(np.float32),
        slope_deg=np.degrees(slope).astype(np.float32),
        aspect_deg=aspect.astype(np.float32),
        sky_view=sky_view.astype(np.float32),
        resolution=float(resolution),
    )


def _block_mean(dem: np.ndarray, block: int) -> np.ndarray:
    """Mean of each ``block`` x ``block`` block (edge blocks padded with their nearest pixels)."""
    rows, cols = -(-dem.shape[0] // block), -(-dem.shape[1] // block)
    padded = np.pad(
        dem, ((0, rows * block - dem.shape[0]), (0, cols * block - dem.shape[1])), mode="edge"
    )
    return padded.reshape(rows, block, cols, block).mean(axis=(1, 3))
