"""Water vapour by APDA (Schlaepfer et al. 1998) with B8A as window and B09 as absorption band.

APDA forms the ratio of the path-corrected signals of the absorption and the window band and
inverts it against the table's water-vapour series. Done in reflectance: per pixel the column is
the one at which the Lambertian inversions of B09 and B8A agree, ``rho(B09) = rho(B8A)`` (a
surface spectrally flat over 865-945 nm; the table's path, transmittances and spherical albedo
at that column and the pixel's AOT, geometry and elevation). Water pixels follow ``WV_Watermask``
(0 retrieved as is, 1 the land mean, 2 the land mean of their line); the map is then averaged
over a ``Smooth_WV_Map`` m box (facts §3.3).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from core.atmosphere.lut import RadiativeTransferLut
from core.atmospheric_correction.aerosol import Atmosphere
from core.atmospheric_correction.terms import spanning_nodes
from core.config.gipp import Gipp

WINDOW_BAND = "B8A"
ABSORPTION_BAND = "B09"
WV_STEP = 0.1
"""Spacing (cm) of the water-vapour candidates between the table's nodes."""


def wv_nodes(lut: RadiativeTransferLut) -> np.ndarray:
    """The table's water-vapour nodes, each interval split into steps of at most :data:`WV_STEP`."""
    axis = lut.axis("wv_cm")
    return spanning_nodes(axis, axis[0], axis[-1], WV_STEP)


def apda_available(toa: dict[str, np.ndarray]) -> bool:
    """Whether the bands APDA needs are present."""
    return WINDOW_BAND in toa and ABSORPTION_BAND in toa


def apda(
    toa: dict[str, np.ndarray],
    atmosphere: Atmosphere,
    aerosol: str,
    aot550: np.ndarray,
    *,
    mask: np.ndarray,
) -> np.ndarray:
    """Water vapour (cm) of each pixel of ``mask`` (NaN elsewhere); ``aot550`` per grid node
    (:meth:`.state_grid.StateGrid.node_mean`)."""
    nodes = wv_nodes(atmosphere.lut)
    grid = atmosphere.grid

    def coefficients(band: str) -> np.ndarray:
        return grid.coefficients(
            atmosphere.lut, aerosol, band,
            aot550=aot550, wv_cm=nodes, ozone_du=atmosphere.ozone_du,
        )  # fmt: skip

    return grid.balance(
        toa[ABSORPTION_BAND], coefficients(ABSORPTION_BAND),
        toa[WINDOW_BAND], coefficients(WINDOW_BAND), nodes,
        environment=atmosphere.pair(ABSORPTION_BAND, WINDOW_BAND), ratio=1.0, mask=mask,
    )  # fmt: skip


def water_vapour_map(
    wv_px: np.ndarray,
    *,
    gipp: Gipp,
    resolution: float,
    land: np.ndarray,
    water: np.ndarray,
    fallback_cm: float,
) -> np.ndarray:
    """The final map from per-pixel APDA columns: water pixels, gaps, smoothing (module docs).

    ``land`` and ``water`` mark the retrieved pixels of each kind; any other pixel (clouds, no
    data, failed retrievals) takes the land mean, or ``fallback_cm`` without land.
    """
    land = land & np.isfinite(wv_px)
    land_mean = float(wv_px[land].mean()) if land.any() else fallback_cm
    mode = gipp.l2a.atmospheric_correction.flags.wv_watermask
    keep = land | (water & np.isfinite(wv_px)) if mode == 0 else land
    filled = np.where(keep, wv_px, land_mean)
    if mode == 2:
        count = land.sum(axis=1)
        line = np.where(land, wv_px, 0.0).sum(axis=1) / np.maximum(count, 1)
        line = np.where(count > 0, line, land_mean)
        filled = np.where(water, line[:, None], filled)
    half = round(gipp.l2a.atmospheric_correction.calibration.smooth_wv_map / (2.0 * resolution))
    if half > 0:
        # in place where possible: float64 copies of a 20 m tile take 240 MB each
        size = 2 * half + 1
        weight = ndimage.uniform_filter(keep, size, output=np.float64, mode="nearest")
        total = np.where(keep, filled, 0.0)
        ndimage.uniform_filter(total, size, output=total, mode="nearest")  # line by line
        smoothed = keep & (weight > 0)
        np.maximum(weight, 1e-12, out=weight)
        np.divide(total, weight, out=weight)
        del total
        np.copyto(filled, weight, casting="same_kind", where=smoothed)
    return filled.astype(np.float32, copy=False)
