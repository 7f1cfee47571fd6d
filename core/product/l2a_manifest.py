"""``manifest.safe`` (XFDU) of an L2A product.

The manifest is written last, over the finished tree: one ``dataObject`` per file with its size
and SHA3-256 checksum (as real baseline-04.00 products), the ``metadataSection`` of the L1C
manifest carried over (acquisition period, orbit, platform, footprint) with the processing
entry rewritten for Level-2A, and an information package map pointing at every data object.
Data-object IDs use the names of real products for the files readers look up
(``S2_Level-2A_Product_Metadata``, ``S2_Level-2A_Tile1_Metadata``,
``IMG_DATA_Band_B02_10m_Tile1_Data``).
"""

from __future__ import annotations

import copy
import hashlib
import re
import xml.etree.ElementTree as ET  # building documents only; parsing is in core.io.xml
from datetime import datetime
from pathlib import Path
from typing import Final

from core.io.xml import findall
from core.product.l2a_metadata import utc_text

XFDU_NS: Final[str] = "urn:ccsds:schema:xfdu:1"
SAFE_NS: Final[str] = "http://www.esa.int/safe/sentinel/1.1"
GML_NS: Final[str] = "http://www.opengis.net/gml"
MANIFEST_VERSION: Final[str] = "esa/safe/sentinel/1.1/sentinel-2/msi/archive_l2a_user_product"

_IMAGE_RE: Final = re.compile(r"_(?P<layer>[A-Z0-9]{3})_(?P<res>\d+)m\.\w+$")
_FIXED_IDS: Final[dict[str, str]] = {
    "MTD_MSIL2A.xml": "S2_Level-2A_Product_Metadata",
    "INSPIRE.xml": "INSPIRE_Metadata",
    "HTML/UserProduct_index.html": "HTML_Presentation",
}


def data_object_id(relative: str) -> str:
    """The XFDU ``dataObject`` ID of a SAFE-relative file path."""
    if relative in _FIXED_IDS:
        return _FIXED_IDS[relative]
    parts = relative.split("/")
    if parts[0] == "DATASTRIP" and parts[-1] == "MTD_DS.xml":
        return "S2_Level-2A_Datastrip1_Metadata"
    if parts[0] == "GRANULE" and parts[-1] == "MTD_TL.xml":
        return "S2_Level-2A_Tile1_Metadata"
    image = _IMAGE_RE.search(relative)
    if "IMG_DATA" in parts and image:
        return f"IMG_DATA_Band_{image['layer']}_{image['res']}m_Tile1_Data"
    return re.sub(r"[^A-Za-z0-9_]", "_", relative)


def _mime_type(relative: str) -> str:
    if relative.endswith((".xml", ".xsd")):
        return "text/xml"
    if relative.endswith(".html"):
        return "text/html"
    return "application/octet-stream"


def manifest_safe(
    product_dir: Path, *, l1c_manifest: ET.Element | None, generation_time: datetime
) -> ET.Element:
    """Build the manifest of the finished tree in ``product_dir`` (``manifest.safe`` excluded)."""
    x = f"{{{XFDU_NS}}}"
    root = ET.Element(f"{x}XFDU", {"version": MANIFEST_VERSION})
    package = ET.SubElement(root, "informationPackageMap")
    product_unit = ET.SubElement(
        package,
        f"{x}contentUnit",
        {
            "dmdID": "acquisitionPeriod platform",
            "pdiID": "processing",
            "textInfo": "SENTINEL-2 MSI Level-2A User Product",
            "unitType": "Product_Level-2A",
        },
    )
    metadata = ET.SubElement(root, "metadataSection")
    if l1c_manifest is not None:
        for obj in findall(l1c_manifest, "metadataSection/metadataObject"):
            if obj.find("dataObjectPointer") is None:
                metadata.append(copy.deepcopy(obj))
    _rewrite_processing(metadata, generation_time)
    objects = ET.SubElement(root, "dataObjectSection")
    files = sorted(p for p in product_dir.rglob("*") if p.is_file() and p.name != "manifest.safe")
    for path in files:
        relative = path.relative_to(product_dir).as_posix()
        object_id = data_object_id(relative)
        unit = ET.SubElement(product_unit, f"{x}contentUnit", {"ID": f"{object_id}_Unit"})
        ET.SubElement(unit, "dataObjectPointer", {"dataObjectID": object_id})
        obj = ET.SubElement(objects, "dataObject", {"ID": object_id})
        stream = ET.SubElement(
            obj, "byteStream", {"mimeType": _mime_type(relative), "size": str(path.stat().st_size)}
        )
        ET.SubElement(stream, "fileLocation", {"href": f"./{relative}", "locatorType": "URL"})
        checksum = ET.SubElement(stream, "checksum", {"checksumName": "SHA3-256"})
        checksum.text = _sha3(path)
    return root


def _rewrite_processing(metadata: ET.Element, generation_time: datetime) -> None:
    for obj in list(metadata):
        if obj.get("ID") == "processing":
            metadata.remove(obj)
    obj = ET.SubElement(
        metadata,
        "metadataObject",
        {"ID": "processing", "category": "PDI", "classification": "PROVENANCE"},
    )
    wrap = ET.SubElement(
        obj,
        "metadataWrap",
        {"mimeType": "text/xml", "textInfo": "Processing", "vocabularyName": "Sentinel-SAFE"},
    )
    ET.SubElement(
        ET.SubElement(wrap, "xmlData"),
        f"{{{SAFE_NS}}}processing",
        {"name": "Generation of Level-2A User Product", "start": utc_text(generation_time)},
    )


def _sha3(path: Path) -> str:
    digest = hashlib.sha3_256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest().upper()


def serialize_manifest(root: ET.Element) -> bytes:
    """Serialise with the ``xfdu``/``safe``/``gml`` prefixes of real manifests."""
    for prefix, uri in (("xfdu", XFDU_NS), ("safe", SAFE_NS), ("gml", GML_NS)):
        ET.register_namespace(prefix, uri)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)
