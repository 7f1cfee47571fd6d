"""Per-pixel terrain illumination factors of the surface-reflectance inversion.

On tilted ground the direct irradiance scales with ``cos(i) / cos(theta_s)`` (``i`` the local
incidence angle from the slope normal; 0 in self shadow and in cast shadow) and the diffuse sky
irradiance with the sky-view factor (Richter 1998, ATCOR; Sen2Cor ATBD §3.3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.terrain.geometry import TerrainGeometry


@dataclass(frozen=True)
class TerrainIllumination:
    """Per-pixel terrain factors of the inversion on the working grid."""

    illumination: np.ndarray
    """float32 ``cos(i) / cos(theta_s)``, 0 in self and cast shadow."""
    sky_view: np.ndarray
    cos_incidence: np.ndarray
    """float32 ``cos(i)`` (negative: facing away from the sun), for the BRDF factor."""


def terrain_illumination(
    terrain: TerrainGeometry,
    sun_zenith_deg: np.ndarray | float,
    sun_azimuth_deg: np.ndarray | float,
) -> TerrainIllumination:
    """Local illumination and sky view of ``terrain`` under the sun (angles per pixel or one
    value); cast shadows are traced with the mean sun direction."""
    sun_zenith = np.asarray(sun_zenith_deg, dtype=np.float64)
    sun_azimuth = np.asarray(sun_azimuth_deg, dtype=np.float64)
    cos_i = np.asarray(terrain.cos_incidence(sun_zenith, sun_azimuth), dtype=np.float64)
    shadow = terrain.cast_shadow(float(np.mean(sun_zenith)), float(np.mean(sun_azimuth)))
    lit = np.where(shadow, 0.0, np.maximum(cos_i, 0.0))
    return TerrainIllumination(
        illumination=(lit / np.cos(np.radians(sun_zenith))).astype(np.float32),
        sky_view=np.asarray(terrain.sky_view, dtype=np.float32),
        cos_incidence=cos_i.astype(np.float32),
    )
