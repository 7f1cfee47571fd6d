"""The AWS open-data L1C layout: ``tiles/<zone>/<band>/<square>/<y>/<m>/<d>/<n>/``.

A tile folder holds ``tileInfo.json``, the tile ``metadata.xml`` (MTD_TL content),
``productInfo.json``, ``B01.jp2`` ... ``B12.jp2``, ``qi/`` (masks) and ``auxiliary/``. The product
metadata (MTD_MSIL1C content) lives at ``<bucket root>/<productPath>/metadata.xml``;
stactools-style copies keep it beside the tile as ``product_metadata.xml``. Without it the
radiometric constants (quantification, offsets, U, solar irradiance) are unknown and the tile
is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from core.bands import BAND_NAMES
from core.errors import ProductFormatError
from core.io import storage
from core.product.l1c_mtd import (
    build_metadata,
    parse_product_metadata,
    parse_tile_metadata,
    read_xml,
)
from core.product.metadata import L1CMetadata, L1CSourceFiles

TILE_INFO: Final = "tileInfo.json"
TILE_METADATA: Final = "metadata.xml"
PRODUCT_METADATA_COPY: Final = "product_metadata.xml"
MAX_JSON_BYTES: Final = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class AwsTileInfo:
    """The content of ``tileInfo.json``."""

    path: str
    tile_id: str
    """MGRS tile without the ``T``, e.g. ``19UDP``."""
    epsg: int
    timestamp: datetime
    cloudy_pixel_percentage: float | None
    data_coverage_percentage: float | None
    product_name: str
    product_path: str
    datastrip_id: str


def parse_tile_info(data: bytes, *, path: str) -> AwsTileInfo:
    """Parse ``tileInfo.json``.

    Raises
    ------
    ProductFormatError
        Not JSON, or a required key is missing.
    """
    try:
        info = json.loads(data)
        crs = info["tileGeometry"]["crs"]["properties"]["name"]
        return AwsTileInfo(
            path=info["path"],
            tile_id=f"{int(info['utmZone']):02d}{info['latitudeBand']}{info['gridSquare']}",
            epsg=int(crs.rsplit(":", 1)[-1]),
            timestamp=datetime.fromisoformat(info["timestamp"]),
            cloudy_pixel_percentage=info.get("cloudyPixelPercentage"),
            data_coverage_percentage=info.get("dataCoveragePercentage"),
            product_name=info.get("productName", ""),
            product_path=info.get("productPath", ""),
            datastrip_id=info.get("datastrip", {}).get("id", ""),
        )
    except (ValueError, KeyError, TypeError) as err:
        raise ProductFormatError(
            f"malformed tileInfo.json ({type(err).__name__}: {err})", path=path
        ) from err


def _product_metadata_uri(base: str, info: AwsTileInfo) -> str | None:
    candidates = [storage.join(base, PRODUCT_METADATA_COPY)]
    tile_path = info.path.strip("/")
    if info.product_path and base.rstrip("/").endswith(tile_path):
        root = base.rstrip("/")[: -len(tile_path)].rstrip("/")
        if root:
            candidates.append(storage.join(root, info.product_path, TILE_METADATA))
    return next((c for c in candidates if storage.exists(c)), None)


def _folder(base: str, name: str) -> dict[str, str]:
    uri = storage.join(base, name)
    if not storage.is_dir(uri):
        return {}
    return {n: storage.join(uri, n) for n in storage.listdir(uri)}


def open_aws_tile(base: str) -> tuple[L1CMetadata, L1CSourceFiles]:
    """Read the metadata and file locations of the AWS-layout tile folder ``base``.

    Raises
    ------
    ProductFormatError
        ``metadata.xml`` or the product metadata cannot be found.
    UnsupportedProductError
        The tile is Level-2A.
    """
    info_uri = storage.join(base, TILE_INFO)
    info = parse_tile_info(storage.read_bytes(info_uri, max_bytes=MAX_JSON_BYTES), path=info_uri)
    tile_uri = storage.join(base, TILE_METADATA)
    if not storage.exists(tile_uri):
        raise ProductFormatError(
            "AWS-layout tile has no metadata.xml (tile metadata with geocoding and angles); "
            "it cannot be processed",
            path=base,
        )
    tile_root = read_xml(tile_uri)
    tile = parse_tile_metadata(tile_root, path=tile_uri)
    product_uri = _product_metadata_uri(base, info)
    if product_uri is None:
        raise ProductFormatError(
            f"product metadata not found (neither {PRODUCT_METADATA_COPY} beside the tile nor "
            f"<bucket root>/{info.product_path}/{TILE_METADATA}); it holds the quantification, "
            "offsets and solar irradiance the correction needs",
            path=base,
        )
    product = parse_product_metadata(read_xml(product_uri), path=product_uri, tile_id=tile.tile_id)
    names = set(storage.listdir(base))
    files = L1CSourceFiles(
        product_metadata=product_uri,
        tile_metadata=tile_uri,
        bands={b: storage.join(base, f"{b}.jp2") for b in BAND_NAMES if f"{b}.jp2" in names},
        tile_qi=_folder(base, "qi"),
        aux={
            (n if n.startswith("AUX_") else f"AUX_{n}"): uri
            for n, uri in _folder(base, "auxiliary").items()
        },
        preview=storage.join(base, "preview.jp2") if "preview.jp2" in names else None,
    )
    return build_metadata(product, tile, tile_root, tile_path=tile_uri), files
