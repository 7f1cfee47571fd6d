"""Decoded copies of the L1C bands on local scratch: every JPEG 2000 band decoded exactly once.

JPEG 2000 decoding is most of a tile's input cost (perf anchors: ~52 CPU-s of the 13 bands of
a 10980² tile), and the L2A reads the bands several times: the classification and the aerosol
and water-vapour retrievals need the whole tile at 20 m, the correction reads it again strip by
strip at 10, 20 and 60 m, with halos. Decoding a JP2 window costs its whole code-blocks, so
each of those reads would decode again. Instead each band is decoded once, row of JP2 tiles
after row of tiles (no tile decoded twice), into an uncompressed striped GeoTIFF of its DN,
which GDAL then reads as windows at memory speed. The bands are decoded on the executor's
threads (GDAL releases the GIL while decoding: band-level parallelism, perf anchors B.1).
The copies take 2 bytes a pixel: ~1.4 GB of local disk for a full tile (Lambda's ephemeral
storage is configured for it in ``template.yaml``).
"""

from __future__ import annotations

from concurrent.futures import Executor
from pathlib import Path
from typing import Final

import rasterio
from rasterio.windows import Window

from core.errors import OutputError, ProductFormatError
from core.io.block_writer import run_each
from core.io.raster import gdal_env, needs_s3, open_raster
from core.product.l1c import L1CProduct

DECODED_DRIVER: Final[str] = "GTiff"


def decode_bands(
    l1c: L1CProduct, folder: str | Path, executor: Executor, bands: tuple[str, ...] | None = None
) -> L1CProduct:
    """``l1c`` reading decoded copies of ``bands`` (default all) written under ``folder``.

    The band files are checked first (:meth:`L1CProduct.check_bands`), so a bad band refuses
    the product before any decoding.

    Raises
    ------
    ProductFormatError
        A band file cannot be decoded (truncated or corrupt), naming it.
    OutputError
        The scratch folder cannot be written.
    """
    names = tuple(l1c.files.bands) if bands is None else bands
    l1c.check_bands()
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create the scratch folder ({err})", path=str(folder)) from err
    copies = run_each(lambda band: _decode(l1c.files.bands[band], folder / f"{band}.tif"),
                      names, executor)  # fmt: skip
    return l1c.with_band_files(copies, DECODED_DRIVER)


def _decode(uri: str, path: Path) -> str:
    """Decode the JP2 ``uri`` into the uncompressed GeoTIFF ``path``, one row of tiles at a time."""
    env = gdal_env() if needs_s3(uri) and not rasterio.env.hasenv() else rasterio.Env()
    with env, open_raster(uri) as src:
        profile = {
            "driver": DECODED_DRIVER,
            "width": src.width,
            "height": src.height,
            "count": 1,
            "dtype": src.dtypes[0],
            "crs": src.crs,
            "transform": src.transform,
            "tiled": False,
            "BIGTIFF": "IF_SAFER",
        }
        tile_rows = src.block_shapes[0][0]
        try:
            dst = rasterio.open(path, "w", **profile)
        except (rasterio.errors.RasterioError, OSError) as err:
            raise OutputError(f"cannot write a decoded band copy ({err})", path=str(path)) from err
        with dst:
            for row in range(0, src.height, tile_rows):
                window = Window(0, row, src.width, min(tile_rows, src.height - row))
                try:
                    pixels = src.read(1, window=window)
                except rasterio.errors.RasterioError as err:
                    message = str(err).split("\n", 1)[0]
                    raise ProductFormatError(
                        f"cannot decode rows {row}.. ({message})", path=uri
                    ) from err
                dst.write(pixels, 1, window=window)
    return str(path)
