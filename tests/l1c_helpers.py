"""Build small but real L1C SAFE products for tests: real metadata XML + tiny lossless JP2 bands."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from core.bands import BANDS

SOURCE = "S2A_MSIL1C_20170226T102021_N0204_R065_T32TNM_20170226T102458.SAFE"
"""A real compact L1C (baseline 02.04) whose XML metadata is in ../shared/data/metadata/s2reader."""
GRANULE = "GRANULE/L1C_T32TNM_A008785_20170226T102458"
SIZE_10M = 120
"""Tiny band files: 120 x 120 px at 10 m, 60 x 60 at 20 m, 20 x 20 at 60 m (same 1.2 km corner)."""
ULX, ULY = 499980, 4700040
"""Upper-left corner of the T32TNM tile (``Geoposition`` of its MTD_TL.xml)."""


def band_dn(name: str, resolution: int) -> np.ndarray:
    """The deterministic DN pattern written for ``name`` (with no-data and saturated pixels)."""
    size = SIZE_10M * 10 // resolution
    rng = np.random.default_rng(sum(map(ord, name)))
    dn = rng.integers(200, 9000, size=(size, size), dtype=np.uint16)
    dn[0, :3] = 0
    dn[-1, -2:] = 65535
    return dn


def write_jp2(path: Path, dn: np.ndarray, resolution: int) -> None:
    """Write ``dn`` as a lossless (reversible) JPEG 2000 on the T32TNM grid corner."""
    profile = {
        "driver": "JP2OpenJPEG",
        "width": dn.shape[1],
        "height": dn.shape[0],
        "count": 1,
        "dtype": "uint16",
        "crs": "EPSG:32632",
        "transform": Affine(resolution, 0, ULX, 0, -resolution, ULY),
        "QUALITY": 100,
        "REVERSIBLE": "YES",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(dn, 1)


def build_mini_safe(shared_data: Path, target: Path) -> Path:
    """Copy the real XML of :data:`SOURCE` into ``target``, add tiny JP2 bands, return the SAFE."""
    source = shared_data / "metadata" / "s2reader" / SOURCE
    safe = target / SOURCE
    (safe / GRANULE / "IMG_DATA").mkdir(parents=True)
    for rel in ("MTD_MSIL1C.xml", "manifest.safe", "INSPIRE.xml", f"{GRANULE}/MTD_TL.xml"):
        shutil.copyfile(source / rel, safe / rel)
    fit_tile_grid(safe / GRANULE / "MTD_TL.xml")
    for band in BANDS:
        write_jp2(
            safe / GRANULE / "IMG_DATA" / f"T32TNM_20170226T102021_{band.name}.jp2",
            band_dn(band.name, band.resolution),
            band.resolution,
        )
    return safe


def fit_tile_grid(tile_xml: Path) -> None:
    """Shrink the tile grid of a copy of the T32TNM MTD_TL.xml to the tiny bands (the reader
    refuses a band whose size differs from the grid of its resolution)."""
    text = tile_xml.read_text()
    for resolution in (10, 20, 60):
        size = SIZE_10M * 10 // resolution
        text = re.sub(
            rf'(<Size resolution="{resolution}">\s*<NROWS>)\d+(</NROWS>\s*<NCOLS>)\d+(</NCOLS>)',
            rf"\g<1>{size}\g<2>{size}\g<3>",
            text,
        )
    tile_xml.write_text(text)


def zip_safe(safe: Path, archive: Path) -> Path:
    """Zip ``safe`` as ESA distributes products (the .SAFE folder at the archive root)."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(safe.rglob("*")):
            zf.write(path, path.relative_to(safe.parent).as_posix())
    return archive
