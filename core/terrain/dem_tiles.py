"""Names of the public DEM tiles covering a grid: Copernicus DEM 1x1 deg, CGIAR SRTM 5x5 deg.

* Copernicus DEM COGs (AWS open data ``copernicus-dem-30m``/``-90m``; Sen2Cor 2.12
  ``DEM_Reference``):
  ``Copernicus_DSM_COG_10_N45_00_E006_00_DEM/Copernicus_DSM_COG_10_N45_00_E006_00_DEM.tif``,
  ``10`` = 1 arc-second (30 m), ``30`` = 3 arc-seconds (90 m); the name gives the south-west
  corner of the cell. CDSE DGED downloads drop ``_COG``. Tiles over open sea do not exist.
* CGIAR-CSI SRTM v4.1 5x5 deg tiles ``srtm_XX_YY`` (``.tif``, or ``.zip`` holding it): ``XX`` =
  1..72 eastwards from 180 W, ``YY`` = 1..24 southwards from 60 N.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final

from rasterio.transform import array_bounds
from rasterio.warp import transform_bounds

from core.product.metadata import RasterGrid

COPERNICUS_30: Final[str] = "COPERNICUS_30"
COPERNICUS_90: Final[str] = "COPERNICUS_90"
SRTM: Final[str] = "SRTM"
LOCAL: Final[str] = "LOCAL"

_COPERNICUS_ARCSEC: Final[dict[str, int]] = {COPERNICUS_30: 10, COPERNICUS_90: 30}
"""Resolution code in the Copernicus names: 10 = 1 arc-second (30 m), 30 = 3 arc-seconds (90 m)."""
SRTM_TILE_DEG: Final[int] = 5
"""CGIAR SRTM tile size (degrees)."""
SRTM_NORTH_DEG: Final[int] = 60
"""Northern edge of the CGIAR SRTM tile rows (SRTM covers 60 N to 60 S)."""

_COPERNICUS_NAME = re.compile(
    r"Copernicus_DSM_(?:COG_)?(?P<code>10|30)_(?P<ns>[NS])(?P<lat>\d{2})_00_(?P<ew>[EW])(?P<lon>\d{3})_00",
    re.IGNORECASE,
)
_SRTM_NAME = re.compile(r"srtm_(?P<x>\d{2})_(?P<y>\d{2})", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class LonLatBounds:
    """Geographic bounds (degrees); ``west > east`` when the area crosses the antimeridian."""

    west: float
    south: float
    east: float
    north: float


def grid_lonlat_bounds(grid: RasterGrid) -> LonLatBounds:
    """Bounds of ``grid`` in longitude/latitude (edges densified, so curved edges are enclosed)."""
    bounds = array_bounds(grid.height, grid.width, grid.transform)
    west, south, east, north = transform_bounds(grid.crs_epsg, 4326, *bounds, densify_pts=21)
    return LonLatBounds(west, south, east, north)


def _degree_range(low: float, high: float, step: int, origin: int) -> list[int]:
    """South-west corners (``origin`` + k ``step``) of the cells spanning ``low..high``."""
    first = origin + step * math.floor((low - origin) / step)
    return list(range(first, origin + step * math.ceil((high - origin) / step), step))


def _longitudes(bounds: LonLatBounds, step: int) -> list[int]:
    if bounds.west <= bounds.east:
        return _degree_range(bounds.west, bounds.east, step, -180)
    return _degree_range(bounds.west, 180.0, step, -180) + _degree_range(
        -180.0, bounds.east, step, -180
    )


def copernicus_name(lat: int, lon: int, dem_type: str) -> str:
    """Copernicus DEM COG tile name of the 1x1 deg cell with south-west corner ``(lat, lon)``."""
    ns, ew = ("N" if lat >= 0 else "S"), ("E" if lon >= 0 else "W")
    code = _COPERNICUS_ARCSEC[dem_type]
    return f"Copernicus_DSM_COG_{code}_{ns}{abs(lat):02d}_00_{ew}{abs(lon):03d}_00_DEM"


def copernicus_names(bounds: LonLatBounds, dem_type: str) -> list[str]:
    """Names of the Copernicus DEM tiles covering ``bounds``."""
    lats = _degree_range(bounds.south, bounds.north, 1, -90)
    return [copernicus_name(lat, lon, dem_type) for lat in lats for lon in _longitudes(bounds, 1)]


def srtm_names(bounds: LonLatBounds) -> list[str]:
    """Names of the CGIAR SRTM 5x5 deg tiles covering ``bounds`` (none beyond 60 N/S)."""
    south, north = max(bounds.south, -SRTM_NORTH_DEG), min(bounds.north, SRTM_NORTH_DEG)
    if south >= north:
        return []
    names = []
    for lat in _degree_range(south, north, SRTM_TILE_DEG, -SRTM_NORTH_DEG):
        row = (SRTM_NORTH_DEG - lat) // SRTM_TILE_DEG  # 1-based row of the cell below lat+5
        for lon in _longitudes(bounds, SRTM_TILE_DEG):
            column = (lon + 180) // SRTM_TILE_DEG + 1
            names.append(f"srtm_{column:02d}_{row:02d}")
    return names


def dem_type_of(name: str) -> str:
    """``COPERNICUS_30``/``COPERNICUS_90``/``SRTM`` from a tile file name, else ``LOCAL``."""
    if match := _COPERNICUS_NAME.search(name):
        return COPERNICUS_30 if match["code"] == "10" else COPERNICUS_90
    return SRTM if _SRTM_NAME.search(name) else LOCAL


def canonical_name(name: str) -> str | None:
    """The :func:`copernicus_name`/:func:`srtm_names` form of a tile file name (``None``: other).

    Folds the CDSE DGED spelling (no ``_COG``), case and file extension.
    """
    if match := _COPERNICUS_NAME.search(name):
        lat = int(match["lat"]) * (1 if match["ns"].upper() == "N" else -1)
        lon = int(match["lon"]) * (1 if match["ew"].upper() == "E" else -1)
        return copernicus_name(lat, lon, dem_type_of(name))
    if match := _SRTM_NAME.search(name):
        return f"srtm_{match['x']}_{match['y']}"
    return None
