"""The WGS84 footprint of a tile's valid data: item geometry, bbox and ``proj:centroid``.

The valid-data mask is vectorised on its UTM grid (GDAL polygonize through
:func:`rasterio.features.shapes`), simplified by one pixel, densified so that long edges follow
the curvature of the projection, and reprojected. A footprint crossing the antimeridian is split
there into a ``MultiPolygon`` whose parts stay within ±180° and its bbox has ``west > east``
(GeoJSON RFC 7946 §3.1.9 and §5.2), as stactools-sentinel2 does for tiles of UTM zones 1 and 60.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import shapely
from pyproj import Transformer
from rasterio.features import shapes
from rasterio.transform import array_bounds
from scipy.ndimage import binary_fill_holes
from shapely.affinity import translate
from shapely.geometry import box, mapping, shape
from shapely.geometry.base import BaseGeometry

from core.errors import OutputError
from core.product.metadata import RasterGrid

DENSIFY_M: Final[float] = 5000.0
"""Longest straight edge before reprojection (the tie-point spacing of the angle grids)."""
DECIMALS: Final[int] = 6
"""Decimal places of WGS84 coordinates (≈ 0.1 m)."""
CENTROID_DECIMALS: Final[int] = 5
"""Decimal places of ``proj:centroid`` (as stactools-sentinel2)."""


@dataclass(frozen=True, slots=True)
class Footprint:
    """A GeoJSON geometry with its bbox and centroid, in WGS84 longitude/latitude."""

    geometry: dict[str, Any]
    bbox: list[float]
    centroid: dict[str, float]
    """``{"lat": ..., "lon": ...}``."""


def valid_data_outline(valid: np.ndarray, grid: RasterGrid) -> BaseGeometry:
    """The outline of the ``valid`` pixels of ``grid`` as a (Multi)Polygon in grid coordinates:
    holes filled (a footprint bounds the data, as ESA's product footprint; scattered no-data
    pixels inside would make it megabytes long), simplified by one pixel.

    Raises
    ------
    OutputError
        No pixel is valid.
    """
    filled = binary_fill_holes(valid)
    mask = filled.astype(np.uint8)
    parts = [shape(geom) for geom, _ in shapes(mask, mask=filled, transform=grid.transform)]
    if not parts:
        raise OutputError("the tile has no valid pixel: no footprint")
    return shapely.unary_union(parts).simplify(grid.resolution)


def tile_outline(grid: RasterGrid) -> BaseGeometry:
    """The rectangle covered by ``grid`` in grid coordinates."""
    return box(*array_bounds(grid.height, grid.width, grid.transform))


def footprint(outline: BaseGeometry, crs_epsg: int) -> Footprint:
    """Reproject ``outline`` (in EPSG ``crs_epsg``) to WGS84, splitting it at the antimeridian."""
    to_wgs84 = Transformer.from_crs(crs_epsg, 4326, always_xy=True)
    dense = shapely.segmentize(outline, DENSIFY_M)
    lonlat = shapely.transform(dense, lambda xy: np.column_stack(to_wgs84.transform(*xy.T)))
    lon = shapely.get_coordinates(lonlat)[:, 0]
    crosses = lon.max() - lon.min() > 180.0
    if crosses:  # continuous in 0..360 longitudes, then cut at 180°
        lonlat = shapely.transform(
            lonlat,
            lambda xy: np.column_stack(
                (np.where(xy[:, 0] < 0, xy[:, 0] + 360, xy[:, 0]), xy[:, 1])
            ),
        )
    west, south, east, north = lonlat.bounds
    centre = lonlat.centroid
    centroid = {
        "lat": round(centre.y, CENTROID_DECIMALS),
        "lon": round(_wrap(centre.x), CENTROID_DECIMALS),
    }
    if crosses:
        eastern = lonlat.intersection(box(-180.0, -90.0, 180.0, 90.0))
        western = translate(lonlat.intersection(box(180.0, -90.0, 540.0, 90.0)), xoff=-360.0)
        lonlat = shapely.MultiPolygon([*_polygons(eastern), *_polygons(western)])
    geometry = shapely.set_precision(lonlat, 10.0**-DECIMALS)
    bbox = [round(_wrap(west), DECIMALS), round(south, DECIMALS)]
    bbox += [round(_wrap(east), DECIMALS), round(north, DECIMALS)]
    return Footprint(geometry=_geojson(geometry), bbox=bbox, centroid=centroid)


def _wrap(lon: float) -> float:
    return lon - 360.0 if lon > 180.0 else lon


def _polygons(geometry: BaseGeometry) -> list[shapely.Polygon]:
    if isinstance(geometry, shapely.Polygon):
        return [geometry] if not geometry.is_empty else []
    return [g for g in getattr(geometry, "geoms", []) if isinstance(g, shapely.Polygon)]


def _geojson(geometry: BaseGeometry) -> dict[str, Any]:
    """GeoJSON mapping with lists (not tuples), as JSON round-trips it."""
    return {
        "type": geometry.geom_type,
        "coordinates": _lists(mapping(geometry)["coordinates"]),
    }


def _lists(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_lists(v) for v in value]
    return float(value)
