"""True-colour image (TCI), preview image (PVI), SCL pictures and the product's HTML page.

TCI encoding, checked pixel by pixel against a real Sen2Cor 2.10 product (``TCI_60m`` from the
``B04/B03/B02_60m`` files of the baseline-04.00 reference, 100 % agreement): per channel,
reflectance ρ ≤ 0 or no-data → 0, else ``floor(min(ρ·10000, 2500) · 254 / 2500) + 1``, i.e.
reflectance 0…0.25 stretched to 1…255. The PVI is the 60 m TCI reduced to 320 m pixels
(343×343 for a full tile) by area averaging.
"""

from __future__ import annotations

import html
import warnings
from typing import Final

import numpy as np
import rasterio
from affine import Affine
from numba import njit
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

from core.product.metadata import RasterGrid

TCI_REFLECTANCE_MAX: Final[float] = 0.25
"""Reflectance mapped to 255 (Sen2Cor: DN 2500 at quantification 10000)."""
TCI_LEVELS: Final[int] = 254
TCI_BANDS: Final[tuple[str, str, str]] = ("B04", "B03", "B02")
"""Red, green, blue: the BOA bands of the TCI channels."""
PVI_PIXEL_M: Final[int] = 320
"""PVI pixel size: a 109.8 km tile becomes 343×343 pixels, as in real products."""
SCL_COLOURS: Final[tuple[str, ...]] = (
    "#000000", "#ff0000", "#2f2f2f", "#643200", "#00a000", "#ffe65a",
    "#0000ff", "#808080", "#c0c0c0", "#ffffff", "#64c8ff", "#ff96ff",
)  # fmt: skip
"""Sen2Cor's colour of each SCL class 0-11 (facts §2.1)."""


@njit(cache=True, nogil=True)
def _tci_kernel(rho: np.ndarray, rho_max: float, levels: int, out: np.ndarray) -> None:
    flat_in = rho.ravel()
    flat_out = out.ravel()
    for i in range(flat_in.size):
        value = flat_in[i]
        if not value > 0.0:  # also catches NaN (no-data)
            flat_out[i] = 0
        else:
            flat_out[i] = int(np.floor(min(value, rho_max) * levels / rho_max)) + 1


def true_colour(red: np.ndarray, green: np.ndarray, blue: np.ndarray) -> np.ndarray:
    """Encode BOA reflectance (float, NaN = no-data) of B04/B03/B02 as a ``(3, rows, cols)`` TCI.

    Returns
    -------
    numpy.ndarray
        uint8, 0 = no-data or non-positive reflectance, 1…255 = reflectance 0…0.25.
    """
    out = np.empty((3, *red.shape), dtype=np.uint8)
    for channel, rho in enumerate((red, green, blue)):
        _tci_kernel(
            np.ascontiguousarray(rho, dtype=np.float32),
            TCI_REFLECTANCE_MAX,
            TCI_LEVELS,
            out[channel],
        )
    return out


def scl_colour(scene_class: np.ndarray) -> np.ndarray:
    """``(3, rows, cols)`` uint8 picture of SCL codes in Sen2Cor's colours (:data:`SCL_COLOURS`);
    codes above 11 are black."""
    table = np.zeros((256, 3), dtype=np.uint8)
    table[: len(SCL_COLOURS)] = [
        [int(colour[i : i + 2], 16) for i in (1, 3, 5)] for colour in SCL_COLOURS
    ]
    return np.moveaxis(table[scene_class], -1, 0)


def preview_grid(grid: RasterGrid) -> RasterGrid:
    """The PVI grid of ``grid``: 320 m pixels over the same extent (343×343 for a tile),
    labelled with exact 320 m pixels as Sen2Cor's PVI (the whole tile is resized)."""
    factor = PVI_PIXEL_M / grid.resolution
    return RasterGrid(
        resolution=PVI_PIXEL_M,
        width=max(1, round(grid.width / factor)),
        height=max(1, round(grid.height / factor)),
        transform=grid.transform @ Affine.scale(factor),
        crs_epsg=grid.crs_epsg,
    )


def preview(
    tci: np.ndarray, grid: RasterGrid, *, nodata: int | None = None
) -> tuple[np.ndarray, RasterGrid]:
    """Reduce a TCI on ``grid`` to the PVI grid (320 m pixels, area average through GDAL).

    Sen2Cor's PVI averages no-data (0) pixels in (``nodata=None``); with ``nodata=0`` they are
    left out of the averages, as a reduced read of an encoded TCI does.

    Returns the ``(3, rows, cols)`` uint8 preview and its grid.
    """
    pvi_grid = preview_grid(grid)
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": tci.shape[0],
        "dtype": "uint8",
        "crs": CRS.from_epsg(grid.crs_epsg),
        "transform": grid.transform,
        "nodata": nodata,
    }
    # GDAL's area-weighted averaging handles the non-integer 60 m -> 320 m factor.
    with MemoryFile() as memory, memory.open(**profile) as dataset:
        dataset.write(tci)
        reduced = dataset.read(
            out_shape=(tci.shape[0], pvi_grid.height, pvi_grid.width),
            resampling=Resampling.average,
        )
    return reduced, pvi_grid


def write_png(path: str, image: np.ndarray) -> None:
    """Write a ``(3, rows, cols)`` uint8 picture as PNG (the HTML page's quick-look)."""
    profile = {
        "driver": "PNG",
        "width": image.shape[2],
        "height": image.shape[1],
        "count": image.shape[0],
        "dtype": "uint8",
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a PNG picture has no CRS
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(image)


def index_html(product_name: str, picture: str | None, files: list[str]) -> str:
    """The ``HTML/UserProduct_index.html`` page: product name, quick-look and file list."""
    name = html.escape(product_name)
    items = "\n".join(f"<li>{html.escape(f)}</li>" for f in files)
    image = f'<img src="{html.escape(picture)}" alt="Quick-look of {name}"/>' if picture else ""
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"/>'
        f"<title>{name}</title></head>\n<body>\n<h1>Sentinel-2 Level-2A User Product</h1>\n"
        f"<h2>{name}</h2>\n{image}\n<ul>\n{items}\n</ul>\n</body></html>\n"
    )
