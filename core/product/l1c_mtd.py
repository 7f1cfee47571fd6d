"""MTD_MSIL1C.xml / MTD_TL.xml -> :class:`~core.product.metadata.L1CMetadata`.

Pure XML-to-model functions shared by the SAFE reader (:mod:`core.product.l1c`) and the AWS
layout (:mod:`core.product.aws_layout`). Level checks follow Sen2Cor's input rules (facts §1.1):
Level-2A and the old multi-tile format are refused with a specific message.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from affine import Affine

from core.angles import parse_tile_angles
from core.bands import BAND_NAMES, BY_ID
from core.errors import ProductFormatError, UnsupportedProductError
from core.io import storage
from core.io.xml import find, find_text, find_text_required, findall, local_name, parse_xml_bytes
from core.product.metadata import L1CMetadata, ProcessingBaseline, RasterGrid

OFFSET_BASELINE: Final = ProcessingBaseline(4, 0)
"""First baseline with ``RADIO_ADD_OFFSET`` (25 Jan 2022, PSD 14.8)."""
MIN_BASELINE: Final = ProcessingBaseline(2, 0)
"""Oldest baseline processed: 02.00 is the first operational L1C baseline (PSD 14); 01.xx are
commissioning-phase products that the supported PSD schemes do not describe."""
MISSIONS: Final = {"Sentinel-2A": "S2A", "Sentinel-2B": "S2B", "Sentinel-2C": "S2C"}
L2A_NAME = re.compile(r"^S2[A-D]_MSIL2A_|_L2A_|MSIL2A", re.IGNORECASE)
OLD_FORMAT_MESSAGE = (
    "is a pre-2017 multi-tile ('old standard' S2?_OPER_PRD_MSIL1C) product with tiles {tiles}; "
    "open one tile at a time: open_l1c(uri, tile='<tile id>')"
)
L2A_MESSAGE: Final = "is a Level-2A product; sen2cloud needs a Level-1C product as input"
_PSD_MINOR = re.compile(r"/schemas/(\d{2})\.(\d{2})\.\d{2}/PSD/")
_PSD_MAJOR = re.compile(r"psd-(\d{2})\.sentinel2")
_TILE_IN_ID = re.compile(r"_T(\d{2}[A-Z]{3})(?:_|$)")
_ORBIT_IN_ID = re.compile(r"_A(\d{6})_")


def _time(text: str, *, path: str, key: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError as err:
        raise ProductFormatError(f"{key} is not an ISO time: {text!r}", path=path) from err


def psd_version(root: ET.Element) -> str:
    """PSD version: namespace ``psd-14`` -> ``"14"``; ``"14.8"`` when the schema path says so."""
    namespace = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    major = _PSD_MAJOR.search(namespace)
    location = next((v for k, v in root.attrib.items() if k.endswith("schemaLocation")), "")
    minor = _PSD_MINOR.search(location)
    if major is None:
        return ""
    if minor is not None and int(minor.group(1)) == int(major.group(1)):
        return f"{int(minor.group(1))}.{int(minor.group(2))}"
    return major.group(1)


@dataclass(frozen=True, slots=True)
class ProductInfo:
    """What MTD_MSIL1C.xml says about the product (the tile part comes from MTD_TL.xml)."""

    product_uri: str
    spacecraft_name: str
    processing_baseline: ProcessingBaseline
    product_start_time: datetime
    product_stop_time: datetime
    generation_time: datetime
    datatake_sensing_start: datetime
    relative_orbit: int
    datastrip_id: str
    granule_id: str
    image_files: tuple[str, ...]
    granule_count: int
    """Tiles listed by the product (several only in the pre-2017 multi-tile format)."""
    quantification_value: float
    radio_add_offset: dict[str, float]
    u_earth_sun: float
    solar_irradiance: dict[str, float]
    cloud_coverage_assessment: float | None
    footprint_wkt: str | None
    psd_version: str


@dataclass(frozen=True, slots=True)
class TileInfo:
    """What MTD_TL.xml says about the tile (angles are parsed by :mod:`core.angles`)."""

    tile_id: str
    granule_id: str
    datastrip_id: str
    sensing_time: datetime
    absolute_orbit: int
    grids: dict[int, RasterGrid]
    cloudy_pixel_percentage: float | None
    psd_version: str


def check_level(root: ET.Element, *, path: str) -> None:
    """Refuse anything but a Level-1C product metadata document."""
    name = local_name(root.tag)
    level = find_text(root, "General_Info/Product_Info/PROCESSING_LEVEL") or ""
    if "Level-2A" in (name, level) or name.startswith("Level-2A"):
        raise UnsupportedProductError(L2A_MESSAGE, path=path)
    if name != "Level-1C_User_Product" or (level and level != "Level-1C"):
        raise UnsupportedProductError(
            f"unknown product level (root element {name!r}, PROCESSING_LEVEL {level!r}); "
            "expected a Sentinel-2 Level-1C product",
            path=path,
        )


def _footprint(root: ET.Element) -> str | None:
    text = find_text(
        root, "Geometric_Info/Product_Footprint/Product_Footprint/Global_Footprint/EXT_POS_LIST"
    )
    if not text:
        return None
    values = [float(v) for v in text.split()]
    pairs = ", ".join(f"{lon} {lat}" for lat, lon in zip(values[0::2], values[1::2], strict=True))
    return f"POLYGON (({pairs}))"


def _per_band(nodes: list[ET.Element], attribute: str, path: str) -> dict[str, float]:
    values = {}
    for node in nodes:
        try:
            values[BY_ID[int(node.get(attribute, ""))].name] = float(node.text or "")
        except (KeyError, ValueError) as err:
            raise ProductFormatError(
                f"bad per-band value in {node.tag!r} ({err})", path=path
            ) from err
    return values


def _granule(
    root: ET.Element, tile_id: str | None, path: str
) -> tuple[ET.Element, tuple[str, ...], int]:
    """The ``Granule`` of ``tile_id`` (or the only one) and its image files without extension.

    Compact products list one ``Granule`` with ``IMAGE_FILE`` paths; the old multi-tile format
    lists several ``Granules`` with ``IMAGE_ID`` names stored in ``GRANULE/<granule id>/IMG_DATA``.
    """
    organisation = "General_Info/Product_Info/Product_Organisation/Granule_List"
    granules = findall(root, f"{organisation}/Granule") + findall(root, f"{organisation}/Granules")
    tiles = [
        m.group(1) for g in granules if (m := _TILE_IN_ID.search(g.get("granuleIdentifier", "")))
    ]
    if not granules:
        raise ProductFormatError("Granule_List has no Granule", path=path)
    if tile_id is None and len(granules) > 1:
        raise UnsupportedProductError(OLD_FORMAT_MESSAGE.format(tiles=", ".join(tiles)), path=path)
    chosen = granules[0] if tile_id is None else None
    for granule, tile in zip(granules, tiles, strict=False):
        if tile_id is not None and tile == tile_id.upper().removeprefix("T"):
            chosen = granule
    if chosen is None:
        raise ProductFormatError(
            f"product metadata has no granule of tile {tile_id} (it lists {', '.join(tiles)})",
            path=path,
        )
    files = [f.text.strip() for f in findall(chosen, "IMAGE_FILE") if f.text]
    granule_dir = f"GRANULE/{chosen.get('granuleIdentifier', '')}/IMG_DATA"
    files += [f"{granule_dir}/{f.text.strip()}" for f in findall(chosen, "IMAGE_ID") if f.text]
    return chosen, tuple(files), len(granules)


def parse_product_metadata(
    root: ET.Element, *, path: str, tile_id: str | None = None
) -> ProductInfo:
    """Read MTD_MSIL1C.xml (already parsed) into :class:`ProductInfo`.

    Parameters
    ----------
    root : Element
        The parsed document.
    path : str
        Its URI, for messages.
    tile_id : str, optional
        The tile to describe (required for multi-tile old-format products; checked otherwise).

    Raises
    ------
    UnsupportedProductError
        Level-2A, unknown level, a baseline older than :data:`MIN_BASELINE`, or an old
        multi-tile product without ``tile_id``.
    ProductFormatError
        A required element is missing or malformed.
    """
    check_level(root, path=path)
    info = "General_Info/Product_Info"
    chars = "General_Info/Product_Image_Characteristics"
    text = lambda p: find_text_required(root, p, source=path)  # noqa: E731
    granule, image_files, granule_count = _granule(root, tile_id, path)
    baseline_text = text(f"{info}/PROCESSING_BASELINE")
    try:
        baseline = ProcessingBaseline.parse(baseline_text)
    except ValueError as err:
        raise ProductFormatError(str(err), path=path) from err
    if baseline < MIN_BASELINE:
        raise UnsupportedProductError(
            f"processing baseline {baseline} is not supported (oldest supported: {MIN_BASELINE})",
            path=path,
        )
    offsets = _per_band(
        findall(root, f"{chars}/Radiometric_Offset_List/RADIO_ADD_OFFSET"), "band_id", path
    )
    if baseline >= OFFSET_BASELINE and len(offsets) != len(BAND_NAMES):
        raise ProductFormatError(
            f"baseline {baseline} requires RADIO_ADD_OFFSET for all 13 bands, found {len(offsets)}",
            path=path,
        )
    irradiance = _per_band(
        findall(root, f"{chars}/Reflectance_Conversion/Solar_Irradiance_List/SOLAR_IRRADIANCE"),
        "bandId",
        path,
    )
    cloud = find_text(root, "Quality_Indicators_Info/Cloud_Coverage_Assessment")
    try:
        return ProductInfo(
            product_uri=text(f"{info}/PRODUCT_URI"),
            spacecraft_name=text(f"{info}/Datatake/SPACECRAFT_NAME"),
            processing_baseline=baseline,
            product_start_time=_time(
                text(f"{info}/PRODUCT_START_TIME"), path=path, key="PRODUCT_START_TIME"
            ),
            product_stop_time=_time(
                text(f"{info}/PRODUCT_STOP_TIME"), path=path, key="PRODUCT_STOP_TIME"
            ),
            generation_time=_time(
                text(f"{info}/GENERATION_TIME"), path=path, key="GENERATION_TIME"
            ),
            datatake_sensing_start=_time(
                text(f"{info}/Datatake/DATATAKE_SENSING_START"),
                path=path,
                key="DATATAKE_SENSING_START",
            ),
            relative_orbit=int(text(f"{info}/Datatake/SENSING_ORBIT_NUMBER")),
            datastrip_id=granule.get("datastripIdentifier", ""),
            granule_id=granule.get("granuleIdentifier", ""),
            image_files=image_files,
            granule_count=granule_count,
            quantification_value=float(text(f"{chars}/QUANTIFICATION_VALUE")),
            radio_add_offset={b: offsets.get(b, 0.0) for b in BAND_NAMES},
            u_earth_sun=float(text(f"{chars}/Reflectance_Conversion/U")),
            solar_irradiance=irradiance,
            cloud_coverage_assessment=None if cloud is None else float(cloud),
            footprint_wkt=_footprint(root),
            psd_version=psd_version(root),
        )
    except ValueError as err:
        raise ProductFormatError(f"malformed number ({err})", path=path) from err


def _grids(root: ET.Element, path: str) -> dict[int, RasterGrid]:
    geocoding = find(root, "Geometric_Info/Tile_Geocoding")
    if geocoding is None:
        raise ProductFormatError("Tile_Geocoding is missing", path=path)
    code = find_text_required(geocoding, "HORIZONTAL_CS_CODE", source=path)
    epsg = int(code.rsplit(":", 1)[-1])
    sizes = {int(n.get("resolution", "0")): n for n in findall(geocoding, "Size")}
    grids = {}
    for position in findall(geocoding, "Geoposition"):
        resolution = int(position.get("resolution", "0"))
        size = sizes.get(resolution)
        if size is None:
            raise ProductFormatError(f"no Size for resolution {resolution}", path=path)
        value = lambda node, key: float(find_text_required(node, key, source=path))  # noqa: E731
        grids[resolution] = RasterGrid(
            resolution=resolution,
            width=int(value(size, "NCOLS")),
            height=int(value(size, "NROWS")),
            transform=Affine(
                value(position, "XDIM"),
                0.0,
                value(position, "ULX"),
                0.0,
                value(position, "YDIM"),
                value(position, "ULY"),
            ),
            crs_epsg=epsg,
        )
    return grids


def parse_tile_metadata(root: ET.Element, *, path: str) -> TileInfo:
    """Read MTD_TL.xml (or the AWS tile ``metadata.xml``) into :class:`TileInfo`."""
    name = local_name(root.tag)
    if name.startswith("Level-2A"):
        raise UnsupportedProductError(L2A_MESSAGE, path=path)
    if name != "Level-1C_Tile_ID":
        raise UnsupportedProductError(
            f"unknown product level (tile root element {name!r}); expected Level-1C_Tile_ID",
            path=path,
        )
    tile_id = find_text_required(root, "General_Info/TILE_ID", source=path)
    tile = _TILE_IN_ID.search(tile_id)
    orbit = _ORBIT_IN_ID.search(tile_id)
    if tile is None or orbit is None:
        raise ProductFormatError(
            f"TILE_ID {tile_id!r} lacks the _A<orbit>_T<tile> parts", path=path
        )
    cloud = find_text(root, "Quality_Indicators_Info/Image_Content_QI/CLOUDY_PIXEL_PERCENTAGE")
    return TileInfo(
        tile_id=tile.group(1),
        granule_id=tile_id,
        datastrip_id=find_text(root, "General_Info/DATASTRIP_ID") or "",
        sensing_time=_time(
            find_text_required(root, "General_Info/SENSING_TIME", source=path),
            path=path,
            key="SENSING_TIME",
        ),
        absolute_orbit=int(orbit.group(1)),
        grids=_grids(root, path),
        cloudy_pixel_percentage=None if cloud is None else float(cloud),
        psd_version=psd_version(root),
    )


def build_metadata(
    product: ProductInfo, tile: TileInfo, tile_root: ET.Element, *, tile_path: str
) -> L1CMetadata:
    """Join the product and tile metadata into one :class:`L1CMetadata`."""
    angles = parse_tile_angles(tile_root, source=tile_path)
    mission = MISSIONS.get(product.spacecraft_name) or product.product_uri[:3]
    return L1CMetadata(
        product_uri=product.product_uri,
        mission_id=mission,
        spacecraft_name=product.spacecraft_name,
        processing_baseline=product.processing_baseline,
        product_start_time=product.product_start_time,
        product_stop_time=product.product_stop_time,
        generation_time=product.generation_time,
        datatake_sensing_start=product.datatake_sensing_start,
        sensing_time=tile.sensing_time,
        tile_id=tile.tile_id,
        relative_orbit=product.relative_orbit,
        absolute_orbit=tile.absolute_orbit,
        datastrip_id=product.datastrip_id or tile.datastrip_id,
        granule_id=product.granule_id or tile.granule_id,
        psd_version=product.psd_version or tile.psd_version,
        quantification_value=product.quantification_value,
        radio_add_offset=product.radio_add_offset,
        u_earth_sun=product.u_earth_sun,
        solar_irradiance=product.solar_irradiance,
        grids=tile.grids,
        sun_angles=angles.sun,
        mean_sun_zenith=angles.mean_sun_zenith,
        mean_sun_azimuth=angles.mean_sun_azimuth,
        viewing_angles=angles.viewing,
        mean_viewing_angles=angles.mean_viewing,
        # A multi-tile product's assessment covers all its tiles; the tile's own value is better.
        cloud_coverage_assessment=(
            tile.cloudy_pixel_percentage
            if product.granule_count > 1 or product.cloud_coverage_assessment is None
            else product.cloud_coverage_assessment
        ),
        footprint_wkt=product.footprint_wkt,
    )


def read_xml(uri: str) -> ET.Element:
    """Read and safely parse the XML document at ``uri``."""
    return parse_xml_bytes(storage.read_bytes(uri), path=uri)
