"""Per-pixel terrain illumination of the rugged-terrain irradiance model (ATCOR, Sen2Cor).

The irradiance reaching a tilted pixel, in units of the flat-ground terms of the 6S coupling
(Richter 1998; Sen2Cor ATBD §3.3)::

    E = T_dir * cos(i) / cos(theta_s) + T_dif * V_sky + T_down * (1 - V_sky) * rho_terrain

``cos(i)`` is the local solar incidence (0 in self and cast shadow), ``V_sky`` the sky-view
factor, and the last term the light reflected by the terrain the pixel sees instead of sky:
``E_t = (1 - V_sky) rho_terrain E_global`` with ``E_global = T_down = T_dir + T_dif`` the
global irradiance of flat ground and ``rho_terrain`` the mean surface reflectance of the
surroundings (``AC_Rng_Nbhd_Terrain_Corr``). With ``k = (1 - V_sky) rho_terrain`` that is
``T_dir (cos(i)/cos(theta_s) + k) + T_dif (V_sky + k)``: a direct and a diffuse factor, which
:meth:`TerrainIllumination.with_terrain_light` gives to the inversion and the simulator's
forward model uses alike. The surface-atmosphere coupling ``T_down S rho_env / (1 - S rho_env)``
stays as on flat ground.

``rho_terrain`` comes from a first estimate of the surface reflectance and is refined a few
times (``AC_Terrain_Refl_Start``, ``AC_Max_Nr_Topo_Iter``, ``AC_Topo_Corr_Th``:
:class:`TopographicSettings`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numba import njit

from core.config.gipp import Gipp
from core.errors import ConfigError
from core.terrain.geometry import TerrainGeometry

UNSUPPORTED_DEFAULTS: Final = {"AC_Dem_P2p_Val": 50.0, "AC_Topo_Corr_Cutoff": 1.5}
"""Topographic GIPP keys whose use in Sen2Cor is not documented (facts §3.5 [U]): only their
default is accepted, so that a user's setting is never silently ignored. The quasi-flat test
uses ``AC_Slope_Th`` and ``Flat_Terrain_Height_Range_M`` instead of ``AC_Dem_P2p_Val``."""


@dataclass(frozen=True)
class TerrainIllumination:
    """Per-pixel terrain factors of the inversion on the working grid."""

    illumination: np.ndarray
    """float32 ``cos(i) / cos(theta_s)``, 0 in self and cast shadow."""
    sky_view: np.ndarray
    cos_incidence: np.ndarray
    """float32 ``cos(i)`` (negative: facing away from the sun), for the BRDF factor."""

    def with_terrain_light(self, terrain_reflectance: np.ndarray | float) -> TerrainIllumination:
        """The factors as the inversion takes them, with the light reflected by terrain of
        reflectance ``terrain_reflectance`` (one value or per pixel) added to both:
        ``cos(i)/cos(theta_s) + k`` and ``V_sky + k``, ``k = (1 - V_sky) rho_terrain`` (module
        docstring); ``cos_incidence`` unchanged."""
        illumination = np.ascontiguousarray(self.illumination, dtype=np.float32)
        sky_view = np.ascontiguousarray(self.sky_view, dtype=np.float32)
        rho = np.ascontiguousarray(terrain_reflectance, dtype=np.float32)
        if sky_view.shape != illumination.shape or rho.size not in (1, sky_view.size):
            raise ValueError(
                f"terrain factors {illumination.shape}/{sky_view.shape} and terrain "
                f"reflectance {rho.shape} are not on one grid"
            )
        lit, sky = np.empty_like(illumination), np.empty_like(sky_view)
        # one pass instead of numpy's four over a strip, with the same float32 arithmetic
        _add_terrain_light(illumination, sky_view, rho, lit, sky)
        return TerrainIllumination(illumination=lit, sky_view=sky, cos_incidence=self.cos_incidence)


@njit(cache=True, nogil=True)
def _add_terrain_light(illumination, sky_view, rho, lit, sky):
    """``lit = illumination + k``, ``sky = sky_view + k``, ``k = (1 - sky_view) rho`` (float32;
    ``rho`` one value or one per pixel)."""
    one = np.float32(1.0)
    flat_sky = sky_view.ravel()
    flat_lit_in, flat_rho = illumination.ravel(), rho.ravel()
    flat_lit, flat_out = lit.ravel(), sky.ravel()
    step = 0 if flat_rho.size == 1 else 1
    for i in range(flat_sky.size):
        reflected = (one - flat_sky[i]) * flat_rho[i * step]
        flat_lit[i] = flat_lit_in[i] + reflected
        flat_out[i] = flat_sky[i] + reflected


@njit(cache=True, nogil=True)
def _largest_change(current, previous):
    """Largest ``|current - previous|`` (float64) over the pixels where it is not NaN, 0 if none
    (``previous`` one value or one per pixel)."""
    largest = 0.0
    flat_current, flat_previous = current.ravel(), previous.ravel()
    step = 0 if flat_previous.size == 1 else 1
    for i in range(flat_current.size):
        change = abs(np.float64(flat_current[i]) - np.float64(flat_previous[i * step]))
        if change > largest:  # noqa: PLR1730 - False for NaN, which max() need not skip
            largest = change
    return largest


def terrain_illumination(
    terrain: TerrainGeometry,
    sun_zenith_deg: np.ndarray | float,
    sun_azimuth_deg: np.ndarray | float,
) -> TerrainIllumination:
    """Local illumination and sky view of ``terrain`` under the sun (angles per pixel or one
    value); cast shadows are traced towards each pixel's own sun."""
    sun_zenith = np.asarray(sun_zenith_deg, dtype=np.float64)
    sun_azimuth = np.asarray(sun_azimuth_deg, dtype=np.float64)
    cos_i = np.asarray(terrain.cos_incidence(sun_zenith, sun_azimuth), dtype=np.float64)
    shadow = terrain.cast_shadow(sun_zenith, sun_azimuth)
    lit = np.where(shadow, 0.0, np.maximum(cos_i, 0.0))
    return TerrainIllumination(
        illumination=(lit / np.cos(np.radians(sun_zenith))).astype(np.float32),
        sky_view=np.asarray(terrain.sky_view, dtype=np.float32),
        cos_incidence=cos_i.astype(np.float32),
    )


@dataclass(frozen=True)
class TopographicSettings:
    """The topographic keys of ``L2A_CAL_AC_GIPP`` (facts §3.5), checked."""

    slope_limit_deg: float
    """``AC_Slope_Th``: quasi-flat when every slope is below it ..."""
    relief_limit_m: float
    """... and the height range below ``Flat_Terrain_Height_Range_M``."""
    neighbourhood_km: float
    """``AC_Rng_Nbhd_Terrain_Corr``: half-width of the box ``rho_terrain`` is the mean over."""
    start_reflectance: float
    """``AC_Terrain_Refl_Start``: ``rho_terrain`` of the first estimate."""
    max_iterations: int
    """``AC_Max_Nr_Topo_Iter``: updates of ``rho_terrain`` after the first estimate."""
    convergence: float
    """``AC_Topo_Corr_Th``: stop once no ``rho_terrain`` changes by more than this."""

    def is_quasi_flat(self, terrain: TerrainGeometry) -> bool:
        """Sen2Cor's shortcut: no terrain correction when every slope is below
        ``AC_Slope_Th`` and the relief below ``Flat_Terrain_Height_Range_M``."""
        relief = float(np.nanmax(terrain.elevation_m) - np.nanmin(terrain.elevation_m))
        steepest = float(np.nanmax(terrain.slope_deg))
        return steepest < self.slope_limit_deg and relief < self.relief_limit_m

    def converged(self, previous: np.ndarray | float, current: np.ndarray) -> bool:
        """True when ``rho_terrain`` moved by at most ``AC_Topo_Corr_Th`` everywhere."""
        before = np.ascontiguousarray(previous)  # one value (the start) or the last estimate
        return bool(_largest_change(np.ascontiguousarray(current), before) <= self.convergence)


def topographic_settings(gipp: Gipp) -> TopographicSettings:
    """The checked topographic settings of ``gipp``; :class:`ConfigError` for a key given a
    value this implementation cannot honour (:data:`UNSUPPORTED_DEFAULTS`)."""
    ac = gipp.ac
    given = {
        "AC_Dem_P2p_Val": ac.acl_prio_1.ac_dem_p2p_val,
        "AC_Topo_Corr_Cutoff": ac.acl_prio_2.ac_topo_corr_cutoff,
    }
    for key, value in given.items():
        if value != UNSUPPORTED_DEFAULTS[key]:
            raise ConfigError(
                f"{value} is not supported (its use in Sen2Cor is undocumented); "
                f"only the default {UNSUPPORTED_DEFAULTS[key]} is accepted",
                path="L2A_CAL_AC_GIPP.xml",
                key=key,
            )
    return TopographicSettings(
        slope_limit_deg=ac.acl_prio_1.ac_slope_th,
        relief_limit_m=ac.classic_constants.flat_terrain_height_range_m,
        neighbourhood_km=ac.acl_prio_2.ac_rng_nbhd_terrain_corr,
        start_reflectance=ac.acl_prio_3.ac_terrain_refl_start,
        max_iterations=ac.acl_prio_2.ac_max_nr_topo_iter,
        convergence=ac.acl_prio_1.ac_topo_corr_th,
    )
