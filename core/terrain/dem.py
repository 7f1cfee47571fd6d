"""Digital elevation model for a tile: local tiles, Copernicus DEM, SRTM; resampled to the grid.

CONTRACT STUB (lead): the signatures below are fixed; the terrain helper implements them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.config.gipp import Gipp
from core.product.metadata import RasterGrid


@dataclass(frozen=True)
class Dem:
    """An elevation model resampled to a tile grid."""

    elevation_m: np.ndarray
    """float32 elevation on the grid (no NaN: voids filled)."""
    grid: RasterGrid
    dem_type: str
    """What L2A_QUALITY reports: ``COPERNICUS_30``, ``COPERNICUS_90``, ``SRTM``, ``LOCAL`` or
    ``NONE`` (flat terrain at ``Altitude``)."""
    sources: tuple[str, ...]
    """URIs of the DEM files used."""


def load_dem(grid: RasterGrid, gipp: Gipp) -> Dem:
    """The DEM of ``grid`` from ``DEM_Directory``/``DEM_Reference`` (flat at ``Altitude`` if none).

    Raises :class:`core.errors.AuxiliaryDataError` when no DEM is found and
    ``Force_Exit_On_DEM_Error`` is true.
    """
    raise NotImplementedError
