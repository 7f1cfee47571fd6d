"""What the atmospheric correction needs to know about an acquisition besides its TOA bands.

Angles are degrees, as in MTD_TL.xml: zeniths from the vertical, azimuths clockwise from north,
both the directions *from the ground* towards the sun and the sensor. Every field is either a
scalar (one value for the whole cube) or an array on the working grid of the TOA cube, or on a
coarser grid of the same extent (``angle_resolution``): angles vary by < 0.05 deg per km, so
per-pixel angle fields of a 10 m tile (120 M pixels x 28 fields) are not worth computing; the
correction samples the coarse fields bilinearly where it needs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from core.angles import AngleFields, interpolate_at

AngleField = np.ndarray | float
"""A per-pixel angle field on the working grid (or the coarser angle grid), or one value for
every pixel."""

AZIMUTH_PERIOD_DEG = 360.0
"""Azimuths are interpolated along the shorter arc of this period (359 and 1 deg -> 0 deg)."""


@dataclass(frozen=True)
class Observation:
    """Sensor, date and per-pixel geometry of a TOA cube (all bands on one grid)."""

    sensor: str
    """``S2A``, ``S2B`` or ``S2C`` (the spectral responses of the radiative-transfer table)."""
    resolution: int
    """Pixel size of the working grid in metres (10, 20 or 60 for a tile; any for the API)."""
    sun_zenith_deg: AngleField
    sun_azimuth_deg: AngleField
    view_zenith_deg: Mapping[str, AngleField]
    """Band name -> view zenith; a band missing here uses the mean of the others."""
    view_azimuth_deg: Mapping[str, AngleField]
    day_of_year: int
    """Of the sensing date: summer/winter ozone and water-vapour starts (``Mid_Latitude``)."""
    latitude_deg: float
    """Of the tile centre: ``Mid_Latitude = AUTO`` and the seasons of the southern hemisphere."""
    angle_resolution: int | None = None
    """Pixel size (m) of the angle fields' grid when coarser than ``resolution`` (both grids
    start at the same corner, pixel centres at ``(k + 0.5) * size``); ``None``: the working
    grid."""

    def angles_at(
        self, field: AngleField, rows: np.ndarray, cols: np.ndarray, *, azimuth: bool = False
    ) -> np.ndarray | float:
        """``field`` of this observation at the working-grid pixels ``rows`` x ``cols`` (outer
        product; a scalar stays a scalar): a slice on the working grid, else bilinear in the
        coarse grid (azimuths along the shorter arc)."""
        values = np.asarray(field)
        if values.ndim == 0:
            return float(values)
        if self.angle_resolution is None:
            return np.asarray(values[np.ix_(np.asarray(rows, int), np.asarray(cols, int))])
        scale = self.resolution / self.angle_resolution
        return interpolate_at(
            values,
            (np.asarray(rows, dtype=np.float64) + 0.5) * scale - 0.5,
            (np.asarray(cols, dtype=np.float64) + 0.5) * scale - 0.5,
            period=AZIMUTH_PERIOD_DEG if azimuth else 0.0,
        )

    def sun_angles(
        self, shape: tuple[int, int], window_offset: tuple[int, int] = (0, 0)
    ) -> tuple[np.ndarray | float, np.ndarray | float]:
        """Sun zenith and azimuth (deg) of each pixel of a ``shape`` window at ``window_offset``
        (row, col) of the working grid, e.g. for
        :func:`core.terrain.illumination.terrain_illumination`."""
        rows = window_offset[0] + np.arange(shape[0])
        cols = window_offset[1] + np.arange(shape[1])
        return (
            self.angles_at(self.sun_zenith_deg, rows, cols),
            self.angles_at(self.sun_azimuth_deg, rows, cols, azimuth=True),
        )

    def view_angles(self, band: str) -> tuple[AngleField, AngleField]:
        """View zenith and azimuth of ``band`` (the mean over the other bands when absent)."""
        if band in self.view_zenith_deg:
            return self.view_zenith_deg[band], self.view_azimuth_deg[band]
        zeniths = [np.asarray(v, dtype=np.float64) for v in self.view_zenith_deg.values()]
        azimuths = [np.asarray(v, dtype=np.float64) for v in self.view_azimuth_deg.values()]
        return np.mean(np.stack(np.broadcast_arrays(*zeniths)), axis=0), _mean_azimuth(azimuths)

    def relative_azimuth_deg(self, band: str) -> AngleField:
        """Sun azimuth minus view azimuth of ``band`` (0 = backscatter), in 0..180 deg."""
        _, view_azimuth = self.view_angles(band)
        diff = np.asarray(self.sun_azimuth_deg, dtype=np.float64) - np.asarray(view_azimuth)
        relative = np.abs((diff + 180.0) % 360.0 - 180.0)
        return float(relative) if relative.ndim == 0 else relative

    @classmethod
    def from_angle_fields(
        cls,
        angles: AngleFields,
        *,
        sensor: str,
        resolution: int,
        day_of_year: int,
        latitude_deg: float,
        angle_resolution: int | None = None,
    ) -> Observation:
        """An observation from the per-pixel angles of an L1C window (``L1CProduct.angles``),
        computed at ``angle_resolution`` when coarser than ``resolution``."""
        return cls(
            sensor=sensor,
            resolution=resolution,
            sun_zenith_deg=angles.sun_zenith_deg,
            sun_azimuth_deg=angles.sun_azimuth_deg,
            view_zenith_deg=angles.view_zenith_deg,
            view_azimuth_deg=angles.view_azimuth_deg,
            day_of_year=day_of_year,
            latitude_deg=latitude_deg,
            angle_resolution=None if angle_resolution == resolution else angle_resolution,
        )


def _mean_azimuth(azimuths: list[np.ndarray]) -> np.ndarray:
    """Circular mean of azimuth fields in degrees (0..360)."""
    stacked = np.radians(np.stack(np.broadcast_arrays(*azimuths)))
    mean = np.degrees(np.arctan2(np.sin(stacked).mean(axis=0), np.cos(stacked).mean(axis=0)))
    return np.asarray(mean % 360.0)
