"""Windowed raster reads through GDAL, and the GDAL environment for S3 access.

Resampling follows Sen2Cor's import rules (``L2A_Tables``; facts §1.3): a band read at a coarser
resolution is the block mean of its native pixels, a band read at a finer resolution is
interpolated bicubically (bilinearly for B09 and B10). The interpolation itself is GDAL's
(``out_shape`` + ``resampling`` on :meth:`rasterio.io.DatasetReader.read`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.session import AWSSession
from rasterio.windows import Window

from core.errors import MissingBandError, ProductFormatError
from core.io.storage import gdal_path, is_s3, is_zip_member, s3_endpoint_url, split_zip_uri
from core.resample import block_mean_min_max

if TYPE_CHECKING:
    from core.product.metadata import RasterGrid

JP2_DRIVER = "JP2OpenJPEG"
GEOTRANSFORM_TOLERANCE = 1e-3
"""Largest accepted difference between a raster's origin / pixel size and its grid's, in
pixels: MTD_TL.xml gives ULX/ULY and the pixel size in whole metres, GMLJP2 the same values."""


@contextmanager
def gdal_env(endpoint_url: str | None = None, **options: Any) -> Iterator[rasterio.Env]:
    """A :class:`rasterio.Env` able to read ``/vsis3/`` objects.

    Parameters
    ----------
    endpoint_url
        Custom S3 endpoint (``http://127.0.0.1:5000`` for moto); defaults to
        :func:`core.io.storage.s3_endpoint_url`. With a plain-http endpoint GDAL is told to use
        path-style addressing without TLS, as GDAL's own S3 driver requires.
    **options
        Extra GDAL configuration options.
    """
    endpoint_url = endpoint_url or s3_endpoint_url()
    session = AWSSession(boto3.Session())
    # rasterio.Env sets its options for the calling thread only; the JP2 driver decodes the
    # tiles of a multi-tile window on GDAL worker threads that would not see the endpoint and
    # read zeros. One decoding thread per read (bands are decoded in parallel by our threads).
    # GDAL keeps a /vsis3/ object's size and blocks in a process-wide cache keyed by path that
    # outlives the file handle: a warm Lambda container would read a re-uploaded product's
    # stale bytes. Non-cached prefixes still cache while a file is open, and drop it on close.
    settings: dict[str, Any] = {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "GDAL_NUM_THREADS": "1",
        "CPL_VSIL_CURL_NON_CACHED": "/vsis3/",
    }
    if endpoint_url:
        scheme, _, host = endpoint_url.partition("://")
        session = AWSSession(boto3.Session(), endpoint_url=host or scheme)
        settings |= {
            "AWS_VIRTUAL_HOSTING": "FALSE",
            "AWS_HTTPS": "NO" if scheme == "http" else "YES",
        }
    with rasterio.Env(session, **(settings | options)) as env:
        yield env


def needs_s3(uri: str) -> bool:
    """True if reading ``uri`` goes through S3 (directly or inside an archive on S3)."""
    return is_s3(split_zip_uri(uri)[0]) if is_zip_member(uri) else is_s3(uri)


def open_raster(uri: str, *, band: str | None = None) -> rasterio.io.DatasetReader:
    """Open ``uri`` with GDAL; a missing file is :class:`MissingBandError` when ``band`` is set."""
    try:
        return rasterio.open(gdal_path(uri))
    except RasterioIOError as err:
        message = str(err).split("\n", 1)[0]
        if band is not None and ("No such file" in message or "does not exist" in message):
            raise MissingBandError(f"band {band} file is missing", path=uri) from err
        raise ProductFormatError(f"not a readable raster ({message})", path=uri) from err


def read_resampled(
    uri: str,
    *,
    native_resolution: int,
    resolution: int,
    window: Window | None,
    upsampling: Resampling = Resampling.cubic,
    band_index: int = 1,
    expect_driver: str | None = JP2_DRIVER,
    band: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read ``window`` (pixels of ``resolution`` m) of a raster of ``native_resolution`` m pixels.

    Returns
    -------
    values : ndarray of float32
        Block mean (coarser target), the native values (same resolution) or GDAL ``upsampling``
        interpolation (finer target).
    native : ndarray
        The native-resolution pixels brought to the target grid by block reduction
        (``min`` and ``max`` stacked on axis 0, for no-data / saturation flags) or by repetition
        (nearest neighbour), in the file's dtype.

    Raises
    ------
    MissingBandError, ProductFormatError
        Missing file, not a ``expect_driver`` raster, window outside the raster.
    """
    with open_raster(uri, band=band) as src:
        if expect_driver is not None:
            check_driver(src, expect_driver, uri)
        scale = resolution / native_resolution
        target = window or Window(0, 0, round(src.width / scale), round(src.height / scale))
        _check_window(target, src.width / scale, src.height / scale, uri)
        if scale >= 1:
            factor = round(scale)
            if factor != scale:
                raise ProductFormatError(
                    f"{resolution} m is not a multiple of the native {native_resolution} m",
                    path=uri,
                )
            src_window = Window(
                target.col_off * factor,
                target.row_off * factor,
                target.width * factor,
                target.height * factor,
            )
            # The block mean is exactly GDAL's "average" on an aligned integer factor, and gives
            # min/max from the same decoded pixels (one JP2 decode instead of three).
            return block_mean_min_max(src.read(band_index, window=src_window), factor)
        factor = round(1 / scale)
        col0, row0 = int(target.col_off) // factor, int(target.row_off) // factor
        col1 = math.ceil((target.col_off + target.width) / factor)
        row1 = math.ceil((target.row_off + target.height) / factor)
        coarse = src.read(band_index, window=Window(col0, row0, col1 - col0, row1 - row0))
        fine = np.repeat(np.repeat(coarse, factor, axis=0), factor, axis=1)
        dr, dc = int(target.row_off) - row0 * factor, int(target.col_off) - col0 * factor
        nearest = fine[dr : dr + int(target.height), dc : dc + int(target.width)]
        src_window = Window(
            target.col_off / factor,
            target.row_off / factor,
            target.width / factor,
            target.height / factor,
        )
        values = src.read(
            band_index,
            window=src_window,
            out_shape=(int(target.height), int(target.width)),
            resampling=upsampling,
            out_dtype="float32",
        )
        return values, np.stack([nearest, nearest])


def read_nearest(
    uri: str, *, native_resolution: int, resolution: int, window: Window, layers: int = 1
) -> np.ndarray:
    """Nearest-neighbour read of ``layers`` bands of a categorical raster (masks, detector ids).

    Always decodes full-resolution pixels: the reduced-resolution levels of a JPEG 2000 file are
    wavelet averages, which would invent classes (e.g. detector 5 between detectors 4 and 6).
    Down-sampling takes the centre pixel of each block, up-sampling repeats pixels.

    Returns
    -------
    ndarray, shape (layers, window.height, window.width)
    """
    height, width = int(window.height), int(window.width)
    with open_raster(uri) as src:
        if src.count < layers:
            raise ProductFormatError(f"raster has {src.count} layers, expected {layers}", path=uri)
        indexes = list(range(1, layers + 1))
        if resolution >= native_resolution:
            factor = resolution // native_resolution
            src_window = Window(
                window.col_off * factor, window.row_off * factor, width * factor, height * factor
            )
            native = src.read(indexes, window=src_window, boundless=False)
            return native[:, factor // 2 :: factor, factor // 2 :: factor][:, :height, :width]
        factor = native_resolution // resolution
        col0, row0 = int(window.col_off) // factor, int(window.row_off) // factor
        col1 = math.ceil((window.col_off + width) / factor)
        row1 = math.ceil((window.row_off + height) / factor)
        coarse = src.read(indexes, window=Window(col0, row0, col1 - col0, row1 - row0))
        fine = np.repeat(np.repeat(coarse, factor, axis=1), factor, axis=2)
        dr, dc = int(window.row_off) - row0 * factor, int(window.col_off) - col0 * factor
        return fine[:, dr : dr + height, dc : dc + width]


def check_driver(src: rasterio.io.DatasetReader, driver: str, uri: str) -> None:
    """Refuse a raster that GDAL does not read with ``driver`` (e.g. a GeoTIFF named .jp2)."""
    if src.driver != driver:
        raise ProductFormatError(f"expected a {driver} raster, found {src.driver}", path=uri)


def check_grid(src: rasterio.io.DatasetReader, grid: RasterGrid, uri: str) -> None:
    """Refuse a raster whose size, CRS or geotransform differs from the tile ``grid``.

    The size is always checked; the CRS and geotransform only when the file carries
    georeferencing (a JP2 without GMLJP2/GeoJP2 boxes is placed by the tile metadata alone).

    Raises
    ------
    ProductFormatError
        Naming ``uri`` and both values.
    """
    if (src.width, src.height) != (grid.width, grid.height):
        raise ProductFormatError(
            f"raster is {src.width} x {src.height} px, the {grid.resolution} m tile grid of "
            f"the metadata is {grid.width} x {grid.height} px",
            path=uri,
        )
    if src.crs is None:
        return
    epsg = src.crs.to_epsg()
    if epsg != grid.crs_epsg:
        raise ProductFormatError(
            f"raster CRS is {f'EPSG:{epsg}' if epsg else src.crs.to_string()}, the tile "
            f"metadata's is EPSG:{grid.crs_epsg}",
            path=uri,
        )
    pixel = grid.resolution
    if not src.transform.almost_equals(grid.transform, precision=GEOTRANSFORM_TOLERANCE * pixel):
        raise ProductFormatError(
            f"raster geotransform {tuple(src.transform)[:6]} differs from the tile grid's "
            f"{tuple(grid.transform)[:6]}",
            path=uri,
        )


def _check_window(window: Window, width: float, height: float, uri: str) -> None:
    if (
        window.col_off < 0
        or window.row_off < 0
        or window.col_off + window.width > width + 1e-6
        or window.row_off + window.height > height + 1e-6
    ):
        raise ProductFormatError(
            f"window {window} is outside the raster ({width:g} x {height:g} at this resolution)",
            path=uri,
        )
