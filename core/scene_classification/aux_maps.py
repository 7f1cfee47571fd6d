"""Sen2Cor's auxiliary maps for the scene classification, read onto the working grid.

Sen2Cor's aux package (``ESACCI-LC-L4-ALL-FOR-SEN2COR``) is one folder holding the files the
``References`` block of ``L2A_CAL_SC_GIPP.xml`` names (facts §2.2, §2.5):

* ``GlobalSnowMap.tiff``: 0.05 deg snow climatology; non-zero anywhere over the tile lets the snow
  tests run (step 2).
* ``ESACCI-LC-L4-WB-Map-150m-P13Y-2000-v4.0.tif``: water bodies (2 = water, step 11).
* ``ESACCI-LC-L4-LCCS-Map-300m-P1Y-2015-v2.0.7.tif``: land cover (LCCS codes, steps 15-17).
* ``ESACCI-LC-L4-Snow-Cond-500m-MONTHLY-2000-2012-v2.4/``: one snow-condition file per month
  (snow occurrence 0-100 %, 254 water, 255 invalid). Sen2Cor's own file names inside the folder
  are not documented in any source we could reach; the file of a month is the ``.tif`` whose
  name ends with the two-digit month (``..._07.tif``).

Every map is warped with nearest-neighbour resampling (class codes must not blend; Sen2Cor warps
WB and LC with a cubic spline, which smears class edges). A map that is absent is skipped and
logged; its :class:`~core.scene_classification.classify.ScAux` field stays ``None``.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.warp import reproject

from core.config.sc_gipp import ScGipp
from core.errors import AuxiliaryDataError
from core.io import storage
from core.io.raster import gdal_env
from core.product.metadata import RasterGrid
from core.scene_classification.classify import ScAux

logger = logging.getLogger(__name__)

_NO_VALUE = 255
"""Fill of the warped maps outside the map's coverage (CCI ``invalid``)."""


def _warp(uri: str, grid: RasterGrid) -> np.ndarray:
    """Band 1 of ``uri`` on ``grid`` (nearest neighbour, uint8, 255 where the map has no data)."""
    out = np.full((grid.height, grid.width), _NO_VALUE, dtype=np.uint8)
    try:
        with gdal_env(), rasterio.open(storage.gdal_path(uri)) as src:
            reproject(
                source=rasterio.band(src, 1),
                destination=out,
                dst_transform=grid.transform,
                dst_crs=CRS.from_epsg(grid.crs_epsg),
                dst_nodata=_NO_VALUE,
                resampling=Resampling.nearest,
            )
    except RasterioIOError as err:
        raise AuxiliaryDataError(
            f"cannot read the auxiliary map: {str(err).splitlines()[0]}", path=uri
        ) from err
    return out


def _optional(folder: str, name: str, grid: RasterGrid, what: str) -> np.ndarray | None:
    uri = storage.join(folder, name)
    if not storage.exists(uri):
        logger.warning("%s %s not found: the steps using it are skipped", what, uri)
        return None
    return _warp(uri, grid)


def _monthly_file(folder: str, month: int) -> str | None:
    """The snow-condition file of ``month`` in ``folder`` (name ending ``MM.tif``), if any."""
    if not storage.is_dir(folder):
        return None
    pattern = re.compile(rf"(?<!\d){month:02d}\.tiff?$", re.IGNORECASE)
    names = [name for name in storage.listdir(folder) if pattern.search(name)]
    return storage.join(folder, names[0]) if names else None


def load_sc_aux(folder: str | None, grid: RasterGrid, gipp: ScGipp, month: int) -> ScAux:
    """The auxiliary maps of the ``References`` block under ``folder``, on ``grid``.

    Parameters
    ----------
    folder
        Sen2Cor's aux-data folder (local path or ``s3://``); ``None``: no maps (all skipped).
    grid
        The working grid of the classification (20 or 60 m).
    gipp
        ``L2A_CAL_SC_GIPP`` (file names of the maps).
    month
        Sensing month (1-12): picks the monthly snow-condition file.

    Raises
    ------
    AuxiliaryDataError
        A map exists but cannot be read.
    """
    if folder is None:
        logger.warning("no auxiliary-data folder: ESA CCI and snow-map steps are skipped")
        return ScAux()
    refs = gipp.scene_classification.references
    snow_map = _optional(folder, refs.snow_map, grid, "snow climatology")
    water_bodies = _optional(folder, refs.esacci_waterbodies_map, grid, "ESA CCI water bodies")
    land_cover = _optional(folder, refs.esacci_landcover_map, grid, "ESA CCI land cover")
    monthly = _monthly_file(storage.join(folder, refs.esacci_snowcondition_map_dir), month)
    if monthly is None:
        logger.warning(
            "ESA CCI snow condition for month %02d not found under %s: skipped",
            month, storage.join(folder, refs.esacci_snowcondition_map_dir),
        )  # fmt: skip
    return ScAux(
        snow_possible=None
        if snow_map is None
        else bool(((snow_map > 0) & (snow_map != _NO_VALUE)).any()),
        water_bodies=water_bodies,
        snow_condition=None if monthly is None else _warp(monthly, grid),
        land_cover=land_cover,
    )
