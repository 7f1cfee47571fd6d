"""Cloud-optimised GeoTIFF writing through GDAL's COG driver.

The profile follows rio-cogeo's ``zstd``/``deflate`` profiles (512×512 blocks, internal
overviews) with a horizontal predictor for integer layers. Overviews are averaged for
reflectance and continuous layers (AOT, WVP, probabilities) and take the most frequent class
(``MODE``) for the scene classification, so no invented class codes appear in overviews. The
GDAL COG driver writes the file in one pass (tiles, then overviews, in COG order), compressing
on all CPUs (``NUM_THREADS``; a Lambda has up to 6); rio-cogeo's
:func:`rio_cogeo.cog_validate` is the acceptance check.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import numpy as np
import rasterio
from numpy.typing import DTypeLike
from rasterio.enums import ColorInterp

from core.errors import OutputError
from core.io.raster_write import band_stack, grid_profile
from core.product.metadata import RasterGrid

COG_BLOCK: Final[int] = 512
COG_COMPRESSION: Final[str] = "ZSTD"
RGB: Final[tuple[ColorInterp, ...]] = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
"""Colour interpretation of 3-band rasters (TCI, PVI), as Sen2Cor's TCI files declare."""
COG_LEVEL: Final[int] = 1
"""ZSTD level 1: ~3× faster than level 9 for a few percent more bytes (perf anchors B)."""

LayerKind = Literal["reflectance", "classification", "continuous"]
OverviewResampling = Literal["AVERAGE", "NEAREST", "MODE"]

OVERVIEW_RESAMPLING: Final[dict[LayerKind, OverviewResampling]] = {
    "reflectance": "AVERAGE",
    "continuous": "AVERAGE",
    "classification": "MODE",
}
"""GDAL overview resampling of each kind of layer."""


def cog_creation_options(
    dtype: DTypeLike, *, overview_resampling: OverviewResampling, threads: int | str = "ALL_CPUS"
) -> dict[str, Any]:
    """Creation options of GDAL's COG driver for ``dtype`` pixels: :data:`COG_BLOCK` blocks,
    ZSTD level :data:`COG_LEVEL`, horizontal predictor for integers, internal overviews
    resampled by ``overview_resampling`` (``AVERAGE``, ``NEAREST``, ``MODE``), ``threads``
    compression threads. Shared by :func:`write_cog` and the streaming writers."""
    return {
        "BLOCKSIZE": COG_BLOCK,
        "COMPRESS": COG_COMPRESSION,
        "LEVEL": COG_LEVEL,
        "PREDICTOR": "YES" if np.issubdtype(dtype, np.integer) else "NO",
        "OVERVIEWS": "AUTO",
        "OVERVIEW_RESAMPLING": overview_resampling,
        "BIGTIFF": "IF_SAFER",
        "NUM_THREADS": threads,
    }


def describe_bands(
    dataset: Any, *, scale: float | None = None, offset: float | None = None
) -> None:
    """Label the bands of an open writable ``dataset`` as every writer does (so rasters written
    whole and copied from a GeoTIFF scratch agree): a 3-band raster is red-green-blue
    (:data:`RGB`), a single band grey (GDAL's GeoTIFF defaults), and value = DN × ``scale`` +
    ``offset`` when either is given."""
    if dataset.count == len(RGB):
        dataset.colorinterp = RGB
    elif dataset.count == 1:
        dataset.colorinterp = (ColorInterp.gray,)
    if scale is not None:
        dataset.scales = (scale,) * dataset.count
    if offset:  # 0 is every format's default (GDAL's copies leave it out)
        dataset.offsets = (offset,) * dataset.count


def write_cog(
    path: str,
    array: np.ndarray,
    grid: RasterGrid,
    *,
    kind: LayerKind,
    scale: float | None = None,
    offset: float | None = None,
    nodata: int | None = 0,
) -> None:
    """Write ``array`` (``(rows, cols)`` or ``(bands, rows, cols)``) as a COG.

    Parameters
    ----------
    path
        Destination (local path or a GDAL ``/vsi`` path).
    array
        Integer pixels on ``grid``.
    grid
        Georeferencing of the array.
    kind
        Chooses the overview resampling: ``AVERAGE`` for reflectance/continuous, ``MODE`` for
        classification.
    scale, offset
        Physical value = DN × scale + offset, stored as band metadata (e.g. BOA: 1e-4, -0.1).
    nodata
        No-data value, or ``None``.

    Raises
    ------
    OutputError
        The array does not fit the grid or GDAL fails.
    """
    bands = band_stack(array, grid, path=path)
    profile = grid_profile("COG", bands, grid, nodata) | cog_creation_options(
        bands.dtype, overview_resampling=OVERVIEW_RESAMPLING[kind]
    )
    try:
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(bands)
            describe_bands(dst, scale=scale, offset=offset)
    except rasterio.errors.RasterioError as err:
        raise OutputError(f"COG write failed ({err})", path=path) from err
