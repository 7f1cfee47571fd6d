"""Which rasters an L2A product holds per resolution, how they are encoded and written.

Layer sets are those of real Sen2Cor 2.10+ products (facts §5.1, ``safe-layouts/L2A_04.00``):
no B08 at 20/60 m, no B10, no B09 at 10/20 m, no SCL at 10 m, probabilities at 20/60 m only.
Encodings (facts §5.3): BOA uint16 ``ρ·10000 − BOA_ADD_OFFSET``, AOT and WVP uint16 ×1000,
SCL and probabilities uint8; 0 is no-data everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal

import numpy as np
import rasterio

from core.errors import OutputError
from core.io.cog import LayerKind, describe_bands, write_cog
from core.io.jp2 import write_jp2
from core.io.raster_write import band_stack, grid_profile
from core.product.metadata import RasterGrid
from core.radiometry import reflectance_to_dn

if TYPE_CHECKING:  # encoded_layers encodes with this module's functions
    from core.product.encoded_layers import EncodedLayer

ImageFormat = Literal["JP2", "TIF", "RAW"]

BOA_BANDS: Final[dict[int, tuple[str, ...]]] = {
    10: ("B02", "B03", "B04", "B08"),
    20: ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B11", "B12"),
    60: ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B09", "B11", "B12"),
}
SCL_RESOLUTIONS: Final[tuple[int, ...]] = (20, 60)
PROBABILITY_RESOLUTIONS: Final[tuple[int, ...]] = (20, 60)

EXTENSIONS: Final[dict[str, str]] = {"JP2": ".jp2", "TIF": ".tif", "RAW": ".rawl"}
"""``--raw`` writes ``.rawl`` files with an ENVI header, ``--tif`` GeoTIFF (here: COG)."""
IMAGE_FORMAT_ATTRIBUTE: Final[dict[str, str]] = {
    "JP2": "JPEG2000",
    "TIF": "GEOTIFF",
    "RAW": "RAW",
}
BOA_ADD_OFFSET: Final[int] = -1000
"""``BOA_ADD_OFFSET`` of every band from baseline 04.00 (facts §5.3)."""
BOA_QUANTIFICATION_VALUE: Final[int] = 10000
AOT_QUANTIFICATION_VALUE: Final[float] = 1000.0
WVP_QUANTIFICATION_VALUE: Final[float] = 1000.0
"""Encodings of facts §5.3 (also written in ``QUANTIFICATION_VALUES_LIST``)."""


def encode_boa(rho: np.ndarray, quantification: float, add_offset: int) -> np.ndarray:
    """BOA reflectance (NaN = no-data) -> uint16 DN with ``ρ = (DN + add_offset) / Q``."""
    return reflectance_to_dn(rho, quantification, add_offset)


def encode_scaled(values: np.ndarray, quantification: float) -> np.ndarray:
    """AOT550 or WVP (cm) -> uint16 ``value × Q`` (0 kept for no-data / NaN)."""
    return reflectance_to_dn(values, quantification, 0.0)


def write_layer(
    path: str,
    array: np.ndarray | EncodedLayer,
    grid: RasterGrid,
    *,
    image_format: ImageFormat,
    kind: LayerKind,
    scale: float | None = None,
    offset: float | None = None,
    threads: int = 1,
) -> None:
    """Write one encoded layer in the product's format (JP2, GeoTIFF/COG or ENVI raw), from
    pixels in memory or from an encoded raster assembled window by window (whose scale,
    offset and overview resampling are its own: ``kind``, ``scale``, ``offset`` apply to
    arrays)."""
    if not isinstance(array, np.ndarray):
        if image_format == "JP2":
            array.rasters.to_jp2(array.key, path, threads=threads)
        elif image_format == "TIF":
            array.rasters.to_cog(array.key, path, threads=threads)
        else:
            array.rasters.to_envi(array.key, path)
    elif image_format == "JP2":
        write_jp2(path, array, grid, threads=threads)
    elif image_format == "TIF":
        write_cog(path, array, grid, kind=kind, scale=scale, offset=offset)
    else:
        write_envi(path, array, grid, scale=scale, offset=offset)


def write_envi(
    path: str,
    array: np.ndarray,
    grid: RasterGrid,
    *,
    scale: float | None = None,
    offset: float | None = None,
) -> None:
    """Write ``array`` as an ENVI raw file plus ``.hdr`` header (Sen2Cor ``--raw``), with
    ``data gain/offset values`` when ``scale``/``offset`` are given."""
    bands = band_stack(array, grid, path=path)
    profile = grid_profile("ENVI", bands, grid, 0)
    try:
        # no PAM side-car (.aux.xml): Sen2Cor's --raw writes the raw file and its header only
        with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(path, "w", **profile) as dst:
            dst.write(bands)
            describe_bands(dst, scale=scale, offset=offset)
    except rasterio.errors.RasterioError as err:
        raise OutputError(f"ENVI write failed ({err})", path=path) from err
