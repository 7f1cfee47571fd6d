"""Terrain geometry on a working grid: slope, aspect, sky-view factor, solar incidence, cast shadow.

CONTRACT STUB (lead): the signatures below are fixed; the terrain helper implements them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
        """Cosine of the local solar incidence angle on the slope (negative: self-shadow)."""
        raise NotImplementedError

    def cast_shadow(self, sun_zenith_deg: float, sun_azimuth_deg: float) -> np.ndarray:
        """Bool mask of pixels in the shadow cast by surrounding terrain (ray march to the sun)."""
        raise NotImplementedError


def terrain_geometry(elevation_m: np.ndarray, resolution: float) -> TerrainGeometry:
    """Slope, aspect and sky-view factor of ``elevation_m`` (metres) on a ``resolution`` grid."""
    raise NotImplementedError
