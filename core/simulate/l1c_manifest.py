"""``manifest.safe`` (XFDU) and ``INSPIRE.xml`` (ISO 19139) of a simulated L1C product.

The manifest lists every file of the product with its ``./``-relative href, byte size and
SHA3-256 checksum, under the data-object IDs real L1C manifests use
(``S2_Level-1C_Product_Metadata``, ``S2_Level-1C_Tile1_Metadata``,
``IMG_DATA_Band_10m_1_Tile1_Data`` ...), so that readers locate the metadata through it
(never by globbing).
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Final

from core.bands import BY_NAME
from core.simulate import l1c_metadata as mtd

XFDU_NS: Final[str] = "urn:ccsds:schema:xfdu:1"
SAFE_NS: Final[str] = "http://www.esa.int/safe/sentinel/1.1"
GMD_NS: Final[str] = "http://www.isotc211.org/2005/gmd"
GCO_NS: Final[str] = "http://www.isotc211.org/2005/gco"
GML_NS: Final[str] = "http://www.opengis.net/gml"

for _prefix, _uri in (("xfdu", XFDU_NS), ("safe", SAFE_NS), ("gmd", GMD_NS), ("gco", GCO_NS)):
    ET.register_namespace(_prefix, _uri)

_REPORT_IDS: Final[dict[str, str]] = {
    "FORMAT_CORRECTNESS": "Format",
    "GENERAL_QUALITY": "General",
    "GEOMETRIC_QUALITY": "Geometric",
    "RADIOMETRIC_QUALITY": "Radiometric",
    "SENSOR_QUALITY": "Sensor",
}


_FIXED_IDS: Final[dict[str, str]] = {
    "MTD_MSIL1C.xml": "S2_Level-1C_Product_Metadata",
    "INSPIRE.xml": "INSPIRE_Metadata",
    "MTD_DS.xml": "S2_Level-1C_Datastrip1_Metadata",
    "MTD_TL.xml": "S2_Level-1C_Tile1_Metadata",
    "AUX_ECMWFT": "ECMWF_Tile1_Data",
    "AUX_CAMSFO": "CAMS_Tile1_Data",
}


def _band_object_id(layer: str) -> str:
    if layer == "TCI":
        return "IMG_DATA_Band_TCI_Tile1_Data"
    band = BY_NAME[layer]
    same_res = sorted(b.band_id for b in BY_NAME.values() if b.resolution == band.resolution)
    return f"IMG_DATA_Band_{band.resolution}m_{same_res.index(band.band_id) + 1}_Tile1_Data"


def object_id(relative: str) -> str:
    """Data-object ID of the product file at ``relative`` (POSIX path inside the SAFE)."""
    parts = relative.split("/")
    name = parts[-1]
    stem = name.rsplit(".", 1)[0]
    unit = "Datastrip1" if parts[0] == "DATASTRIP" else "Tile1"
    if name in _FIXED_IDS:
        ident = _FIXED_IDS[name]
    elif stem in _REPORT_IDS:
        ident = f"{_REPORT_IDS[stem]}_OLQC_Report_{unit}_InformationData"
    elif "IMG_DATA" in parts:
        ident = _band_object_id(stem.rsplit("_", 1)[-1])
    elif stem.endswith("_PVI"):
        ident = "Preview_0_Tile1_Data"
    else:
        ident = f"{stem}_{unit}_Data"
    return ident


def _files(safe: Path) -> list[Path]:
    return sorted(p for p in safe.rglob("*") if p.is_file() and p.name != "manifest.safe")


def manifest(safe: Path, names: mtd.L1CNames, stats: mtd.SceneStats) -> bytes:
    """``manifest.safe`` listing every file already written under ``safe``."""
    root = ET.Element(
        f"{{{XFDU_NS}}}XFDU",
        version="esa/safe/sentinel/1.1/sentinel-2/msi/archive_l1c_user_product",
    )
    package = ET.SubElement(root, "informationPackageMap")
    product_unit = ET.SubElement(
        package,
        f"{{{XFDU_NS}}}contentUnit",
        dmdID="acquisitionPeriod platform",
        pdiID="processing",
        textInfo="SENTINEL-2 MSI Level-1C User Product",
        unitType="Product_Level-1C",
    )
    metadata = ET.SubElement(root, "metadataSection")
    period = _wrapped(metadata, "acquisitionPeriod", "Acquisition Period")
    acquisition = ET.SubElement(period, f"{{{SAFE_NS}}}acquisitionPeriod")
    ET.SubElement(acquisition, f"{{{SAFE_NS}}}startTime").text = mtd.iso_time(names.sensing_time)
    orbit = ET.SubElement(
        _wrapped(metadata, "measurementOrbitReference", "Orbit Reference"),
        f"{{{SAFE_NS}}}orbitReference",
    )
    ET.SubElement(
        orbit, f"{{{SAFE_NS}}}orbitNumber", groundTrackDirection="descending", type="start"
    ).text = f"{names.absolute_orbit:06d}"
    ET.SubElement(orbit, f"{{{SAFE_NS}}}relativeOrbitNumber", type="start").text = str(
        names.relative_orbit
    )
    platform = ET.SubElement(
        _wrapped(metadata, "platform", "Platform Description"), f"{{{SAFE_NS}}}platform"
    )
    ET.SubElement(platform, f"{{{SAFE_NS}}}familyName").text = "SENTINEL"
    ET.SubElement(platform, f"{{{SAFE_NS}}}number").text = names.mission_id[1:]
    frame = ET.SubElement(
        ET.SubElement(
            _wrapped(metadata, "measurementFrameSet", "Frame Set"), f"{{{SAFE_NS}}}frameSet"
        ),
        f"{{{SAFE_NS}}}footPrint",
        srsName="http://www.opengis.net/gml/srs/epsg.xml#4326",
    )
    ET.SubElement(frame, f"{{{GML_NS}}}coordinates").text = " ".join(
        f"{lat!r} {lon!r}" for lon, lat in stats.footprint_lonlat
    )
    section = ET.SubElement(root, "dataObjectSection")
    for path in _files(safe):
        relative = path.relative_to(safe).as_posix()
        ident = object_id(relative)
        unit = ET.SubElement(product_unit, f"{{{XFDU_NS}}}contentUnit", ID=f"{ident}_Unit")
        ET.SubElement(unit, "dataObjectPointer", dataObjectID=ident)
        data = path.read_bytes()
        obj = ET.SubElement(section, "dataObject", ID=ident)
        mime = "text/xml" if path.suffix in (".xml", ".gml") else "application/octet-stream"
        stream = ET.SubElement(obj, "byteStream", mimeType=mime, size=str(len(data)))
        ET.SubElement(stream, "fileLocation", href=f"./{relative}", locatorType="URL")
        ET.SubElement(stream, "checksum", checksumName="SHA3-256").text = hashlib.sha3_256(
            data
        ).hexdigest()
    return mtd.to_bytes(root)


def _wrapped(section: ET.Element, ident: str, text: str) -> ET.Element:
    obj = ET.SubElement(
        section, "metadataObject", ID=ident, category="DMD", classification="DESCRIPTION"
    )
    wrap = ET.SubElement(
        obj, "metadataWrap", mimeType="text/xml", textInfo=text, vocabularyName="Sentinel-SAFE"
    )
    return ET.SubElement(wrap, "xmlData")


def inspire_metadata(names: mtd.L1CNames, stats: mtd.SceneStats) -> bytes:
    """``INSPIRE.xml``: title, date and geographic bounding box of the product (ISO 19139)."""
    root = ET.Element(f"{{{GMD_NS}}}MD_Metadata")
    identifier = ET.SubElement(root, f"{{{GMD_NS}}}fileIdentifier")
    ET.SubElement(identifier, f"{{{GCO_NS}}}CharacterString").text = names.product
    stamp = ET.SubElement(root, f"{{{GMD_NS}}}dateStamp")
    ET.SubElement(stamp, f"{{{GCO_NS}}}Date").text = names.generation_time.strftime("%Y-%m-%d")
    info = ET.SubElement(ET.SubElement(root, f"{{{GMD_NS}}}identificationInfo"),
                         f"{{{GMD_NS}}}MD_DataIdentification")  # fmt: skip
    citation = ET.SubElement(ET.SubElement(info, f"{{{GMD_NS}}}citation"),
                             f"{{{GMD_NS}}}CI_Citation")  # fmt: skip
    title = ET.SubElement(citation, f"{{{GMD_NS}}}title")
    ET.SubElement(title, f"{{{GCO_NS}}}CharacterString").text = names.product.removesuffix(".SAFE")
    extent = ET.SubElement(ET.SubElement(info, f"{{{GMD_NS}}}extent"), f"{{{GMD_NS}}}EX_Extent")
    box = ET.SubElement(ET.SubElement(extent, f"{{{GMD_NS}}}geographicElement"),
                        f"{{{GMD_NS}}}EX_GeographicBoundingBox")  # fmt: skip
    lons = [lon for lon, _ in stats.footprint_lonlat]
    lats = [lat for _, lat in stats.footprint_lonlat]
    for tag, value in (
        ("westBoundLongitude", min(lons)),
        ("eastBoundLongitude", max(lons)),
        ("southBoundLatitude", min(lats)),
        ("northBoundLatitude", max(lats)),
    ):
        ET.SubElement(ET.SubElement(box, f"{{{GMD_NS}}}{tag}"), f"{{{GCO_NS}}}Decimal").text = repr(
            value
        )
    return mtd.to_bytes(root)
