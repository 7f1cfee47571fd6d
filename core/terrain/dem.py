"""Digital elevation model for a tile: local tiles, Copernicus DEM, SRTM; resampled to the grid.

Sources, in Sen2Cor 2.12's order (configuration slides, "DEM configuration"):

1. ``DEM_Directory``: DEM files under a folder (local or ``s3://``; a relative path is taken
   under the configuration folder like a GIPP name). Files named as Copernicus DEM or CGIAR
   SRTM tiles are picked by name; any other GeoTIFF/DTED/COG, in any CRS, by its bounds.
2. ``DEM_Reference`` naming a base (``s3://``, ``http(s)://`` or an absolute folder) holding
   Copernicus DEM COGs in the public bucket layout (30 or 90 m, read from the reference, e.g.
   ``https://copernicus-dem-90m.s3.eu-central-1.amazonaws.com/``) or CGIAR SRTM 5x5 tiles
   (a reference containing ``srtm``): the tiles covering the grid are read in place through
   GDAL (``/vsis3/``, ``/vsicurl/``, ``/vsizip/``), no download.
3. Nothing found: flat terrain at ``Altitude`` (km) with a warning, or
   :class:`~core.errors.AuxiliaryDataError` when ``Force_Exit_On_DEM_Error`` is set.

The tiles of one CRS are mosaicked on their own pixel lattice (:func:`rasterio.merge.merge`)
and warped once, bilinearly, onto the tile grid (Sen2Cor uses ``gdalwarp``). Where no tile
exists the ground is sea at 0 m (the Copernicus DEM has no tiles over open sea); voids inside a
tile take the nearest valid elevation.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.io import DatasetReader, MemoryFile
from rasterio.merge import merge
from rasterio.transform import array_bounds, from_bounds
from rasterio.vrt import WarpedVRT
from rasterio.warp import reproject, transform_bounds
from scipy import ndimage

from core.config.gipp import Gipp, resolve_gipp_path
from core.errors import AuxiliaryDataError, ConfigError
from core.io import storage
from core.io.raster import gdal_env
from core.product.metadata import RasterGrid
from core.terrain.dem_tiles import (
    COPERNICUS_30,
    COPERNICUS_90,
    LOCAL,
    SRTM,
    LonLatBounds,
    canonical_name,
    copernicus_names,
    dem_type_of,
    grid_lonlat_bounds,
    srtm_names,
)

logger = logging.getLogger(__name__)

NONE_SETTING: Final[str] = "NONE"
"""``DEM_Directory``/``DEM_Reference`` value meaning "not configured" (any case)."""
FLAT: Final[str] = "NONE"
"""``dem_type`` of flat terrain at ``Altitude``."""
SEA_LEVEL_M: Final[float] = 0.0
"""Elevation where no DEM tile exists (open sea; Copernicus DEM readme)."""
DEM_EXTENSIONS: Final[tuple[str, ...]] = (".tif", ".tiff", ".dt1", ".dt2", ".zip")
"""Files considered in ``DEM_Directory`` (``.zip`` only for CGIAR SRTM tiles)."""
MOSAIC_MARGIN_PX: Final[int] = 2
"""Source pixels read beyond the grid's footprint so that bilinear edges have neighbours."""
WARP_TOLERANCE_PX: Final[float] = 0.01
"""Error allowed to GDAL's approximate transformer (source pixels). Its default, 0.125 px,
misplaces a slope of 9 m per source pixel by up to 1 m; 0.01 px keeps that below 0.1 m."""
_REMOTE = re.compile(r"^(s3|https?)://", re.IGNORECASE)
_RESOLUTION = re.compile(r"(?<!\d)(30|90)(?!\d)")


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
    common = gipp.l2a.common_section
    bounds = grid_lonlat_bounds(grid)
    looked_for: list[str] = []
    try:
        uris = _from_directory(common.dem_directory, grid, bounds, looked_for)
        if not uris:
            uris = _from_reference(common.dem_reference, bounds, looked_for)
        if uris:
            elevation = _warp_to_grid(uris, grid)
            types = {dem_type_of(storage.basename(uri)) for uri in uris}
            dem_type = types.pop() if len(types) == 1 else LOCAL
            logger.info("DEM %s from %d file(s): %s", dem_type, len(uris), ", ".join(uris))
            return Dem(elevation, grid, dem_type, tuple(uris))
        problem = "no DEM covers the tile: " + ("; ".join(looked_for) or "no DEM configured")
    except AuxiliaryDataError as err:
        problem = str(err)
        if common.force_exit_on_dem_error:
            raise
    if common.force_exit_on_dem_error:
        raise AuxiliaryDataError(f"{problem} (Force_Exit_On_DEM_Error is TRUE)")
    altitude_m = gipp.l2a.atmospheric_correction.calibration.altitude * 1000.0
    logger.warning("%s; flat terrain at Altitude %.0f m", problem, altitude_m)
    return Dem(
        elevation_m=np.full((grid.height, grid.width), altitude_m, dtype=np.float32),
        grid=grid,
        dem_type=FLAT,
        sources=(),
    )


def _configured(setting: str) -> bool:
    return bool(setting.strip()) and setting.strip().upper() != NONE_SETTING


def _from_directory(
    setting: str, grid: RasterGrid, bounds: LonLatBounds, looked_for: list[str]
) -> list[str]:
    """Files under ``DEM_Directory`` covering the grid (named tiles by name, others by bounds)."""
    if not _configured(setting):
        return []
    folder = resolve_gipp_path(setting.strip())
    if not storage.is_dir(folder):
        looked_for.append(f"DEM_Directory {folder} does not exist")
        return []
    wanted = {*srtm_names(bounds)} | {
        name for kind in (COPERNICUS_30, COPERNICUS_90) for name in copernicus_names(bounds, kind)
    }
    chosen = []
    for uri in _dem_files(folder):
        name = canonical_name(storage.basename(uri))
        if name is None:
            if _overlaps(uri, grid):
                chosen.append(uri)
        elif name in wanted:
            chosen.append(_tile_uri(uri))
    if not chosen:
        looked_for.append(f"no file under DEM_Directory {folder} covers the tile")
    return chosen


def _dem_files(folder: str) -> Iterator[str]:
    """URIs of the DEM files under ``folder`` (recursively), sorted."""
    if storage.is_s3(folder):
        found = storage.s3_filesystem(storage.s3_endpoint_url()).find(folder)
        uris = [f"{storage.S3_PREFIX}{key}" for key in found]
    else:
        uris = [str(Path(root) / f) for root, _, files in os.walk(folder) for f in files]
    for uri in sorted(uris):
        lower = uri.lower()
        if lower.endswith(DEM_EXTENSIONS) and (
            not lower.endswith(".zip") or dem_type_of(storage.basename(uri)) == SRTM
        ):
            yield uri


def _tile_uri(uri: str) -> str:
    """A zipped CGIAR SRTM tile is read as its ``srtm_XX_YY.tif`` member."""
    if uri.lower().endswith(".zip"):
        return storage.zip_member_uri(uri, f"{storage.basename(uri)[:-4]}.tif")
    return uri


def _overlaps(uri: str, grid: RasterGrid) -> bool:
    """True if the raster ``uri`` (any CRS) overlaps the grid."""
    with _gdal_context([uri]), _open(uri) as src:
        left, bottom, right, top = _grid_bounds_in(src.crs, grid)
        return bool(
            left < src.bounds.right
            and src.bounds.left < right
            and bottom < src.bounds.top
            and src.bounds.bottom < top
        )


def _from_reference(setting: str, bounds: LonLatBounds, looked_for: list[str]) -> list[str]:
    """Copernicus DEM or CGIAR SRTM tiles under the ``DEM_Reference`` base; missing ones = sea."""
    base = setting.strip()
    if not _configured(base) or not (_REMOTE.match(base) or os.path.isabs(base)):
        return []  # a label such as CDSE-GLO-30 only names the DEM in the metadata
    base = base.rstrip("/")
    if "srtm" in base.lower():
        candidates = [
            [f"{base}/{name}.tif", storage.zip_member_uri(f"{base}/{name}.zip", f"{name}.tif")]
            for name in srtm_names(bounds)
        ]
    else:
        match = _RESOLUTION.search(base)
        if match is None:
            raise ConfigError(
                f"cannot tell Copernicus DEM 30 m or 90 m, or SRTM, from {setting!r}",
                key="DEM_Reference",
            )
        kind = COPERNICUS_30 if match[1] == "30" else COPERNICUS_90
        candidates = [[f"{base}/{name}/{name}.tif"] for name in copernicus_names(bounds, kind)]
    found = [uri for options in candidates if (uri := _first_existing(options))]
    if not found:
        looked_for.append(
            "DEM_Reference has none of " + ", ".join(options[0] for options in candidates)
        )
    return found


def _first_existing(options: list[str]) -> str | None:
    """The first readable raster of ``options``; ``None`` if none exists (sea).

    Raises
    ------
    AuxiliaryDataError
        A tile exists but cannot be read (network, permissions, corrupt file).
    """
    for uri in options:
        try:
            with _gdal_context([uri]), _open(uri):
                return uri
        except AuxiliaryDataError as err:
            if not _is_missing(str(err)):
                raise
    return None


def _is_missing(message: str) -> bool:
    """GDAL's wording for a file that does not exist (local, ``/vsis3/``, ``/vsicurl/`` 404)."""
    return any(text in message for text in ("No such file", "does not exist", "404"))


def _gdal_path(uri: str) -> str:
    """GDAL path of a local, ``s3://``, ``http(s)://`` or ``zip://member::archive`` URI."""
    if storage.is_zip_member(uri):
        archive, member = storage.split_zip_uri(uri)
        if _REMOTE.match(archive) and not storage.is_s3(archive):
            return f"/vsizip//vsicurl/{archive}/{member}"
    elif _REMOTE.match(uri) and not storage.is_s3(uri):
        return f"/vsicurl/{uri}"
    return storage.gdal_path(uri)


def _gdal_context(uris: list[str]) -> ExitStack:
    """:func:`core.io.raster.gdal_env` when one of ``uris`` is remote (S3 or HTTP), else nothing.

    Its ``GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR`` also keeps ``/vsicurl/`` from listing the
    base's folders on every open.
    """
    stack = ExitStack()
    if any(
        _REMOTE.match(storage.split_zip_uri(u)[0] if storage.is_zip_member(u) else u) for u in uris
    ):
        stack.enter_context(gdal_env())
    return stack


def _open(uri: str) -> DatasetReader:
    try:
        return rasterio.open(_gdal_path(uri))
    except RasterioIOError as err:
        message = str(err).split("\n", 1)[0]
        raise AuxiliaryDataError(f"DEM file not readable ({message})", path=uri) from err


def _grid_bounds_in(crs: CRS, grid: RasterGrid) -> tuple[float, float, float, float]:
    """The grid's bounds in ``crs`` (edges densified)."""
    bounds = array_bounds(grid.height, grid.width, grid.transform)
    return transform_bounds(CRS.from_epsg(grid.crs_epsg), crs, *bounds, densify_pts=21)


def _lattice_bounds(src: DatasetReader, grid: RasterGrid) -> tuple[float, float, float, float]:
    """The grid's footprint in ``src``'s CRS, widened onto ``src``'s pixel lattice plus a margin."""
    left, bottom, right, top = _grid_bounds_in(src.crs, grid)
    res_x, res_y = src.res
    x0, y0 = src.transform.c, src.transform.f
    return (
        x0 + (math.floor((left - x0) / res_x) - MOSAIC_MARGIN_PX) * res_x,
        y0 - (math.ceil((y0 - bottom) / res_y) + MOSAIC_MARGIN_PX) * res_y,
        x0 + (math.ceil((right - x0) / res_x) + MOSAIC_MARGIN_PX) * res_x,
        y0 - (math.floor((y0 - top) / res_y) - MOSAIC_MARGIN_PX) * res_y,
    )


def _warp_to_grid(uris: list[str], grid: RasterGrid) -> np.ndarray:
    """Mosaic ``uris`` per CRS, warp bilinearly to ``grid``; sea (0 m) outside, voids filled."""
    shape = (grid.height, grid.width)
    dst_crs = CRS.from_epsg(grid.crs_epsg)
    elevation = np.full(shape, np.nan, dtype=np.float32)
    covered = np.zeros(shape, dtype=np.uint8)
    with ExitStack() as stack:
        stack.enter_context(_gdal_context(uris))
        sources = [stack.enter_context(_open(uri)) for uri in uris]
        for crs in {src.crs for src in sources}:
            group = [src for src in sources if src.crs == crs]
            mosaic, transform = merge(
                group,
                bounds=_lattice_bounds(group[0], grid),
                nodata=np.nan,
                dtype="float32",
                resampling=Resampling.bilinear,
            )
            warped = _warp_mosaic(mosaic, transform, crs, grid)
            elevation = np.where(np.isnan(elevation), warped, elevation)
            for src in group:  # the footprint of each file: a 1x1 raster of its bounds
                reproject(
                    np.ones((1, 1), dtype=np.uint8),
                    covered,
                    src_transform=from_bounds(*src.bounds, width=1, height=1),
                    src_crs=crs,
                    src_nodata=0,
                    dst_transform=grid.transform,
                    dst_crs=dst_crs,
                    dst_nodata=0,
                    init_dest_nodata=False,
                    resampling=Resampling.nearest,
                )
    elevation[(covered == 0) & np.isnan(elevation)] = SEA_LEVEL_M
    return _fill_voids(elevation)


def _warp_mosaic(mosaic: np.ndarray, transform: Affine, crs: CRS, grid: RasterGrid) -> np.ndarray:
    """Bilinear warp of a ``(1, rows, cols)`` float32 mosaic (NaN = no data) onto ``grid``."""
    profile = {
        "driver": "GTiff",
        "width": mosaic.shape[2],
        "height": mosaic.shape[1],
        "count": 1,
        "dtype": "float32",
        "crs": crs,
        "transform": transform,
        "nodata": np.nan,
    }
    with MemoryFile() as memory:
        with memory.open(**profile) as dataset:
            dataset.write(mosaic)
        with (
            memory.open() as dataset,
            WarpedVRT(
                dataset,
                crs=CRS.from_epsg(grid.crs_epsg),
                transform=grid.transform,
                width=grid.width,
                height=grid.height,
                resampling=Resampling.bilinear,
                tolerance=WARP_TOLERANCE_PX,
            ) as vrt,
        ):
            return vrt.read(1)


def _fill_voids(elevation: np.ndarray) -> np.ndarray:
    """Replace NaN by the nearest valid elevation (all-void: sea level)."""
    void = np.isnan(elevation)
    if not void.any():
        return elevation
    if void.all():
        return np.full_like(elevation, SEA_LEVEL_M)
    nearest = ndimage.distance_transform_edt(void, return_distances=False, return_indices=True)
    return elevation[tuple(nearest)]
