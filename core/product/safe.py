"""``manifest.safe`` of a SAFE product: the href of every data object, by its ID.

Sen2Cor and stactools locate the metadata files through the manifest's
``dataObjectSection/dataObject[@ID]/byteStream/fileLocation/@href`` (IDs such as
``S2_Level-1C_Product_Metadata``, ``S2_Level-1C_Tile1_Metadata``); folder names are never guessed
when a manifest exists.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from core.errors import ProductFormatError, UnsafeInputError
from core.io.xml import find, findall, parse_xml_bytes

PRODUCT_METADATA_IDS = {
    "S2_Level-1C_Product_Metadata": "Level-1C",
    "S2_Level-2A_Product_Metadata": "Level-2A",
}


@dataclass(frozen=True, slots=True)
class SafeManifest:
    """The data objects of a manifest: ID -> href relative to the product root (no ``./``)."""

    path: str
    hrefs: dict[str, str]

    def href(self, object_id: str) -> str | None:
        """Href of ``object_id`` or ``None``."""
        return self.hrefs.get(object_id)

    def first(self, prefix: str, suffix: str) -> str | None:
        """Href of the first object whose ID starts with ``prefix`` and ends with ``suffix``."""
        for object_id, href in self.hrefs.items():
            if object_id.startswith(prefix) and object_id.endswith(suffix):
                return href
        return None

    @property
    def level(self) -> str | None:
        """``Level-1C`` / ``Level-2A`` from the product-metadata object ID, if present."""
        for object_id, level in PRODUCT_METADATA_IDS.items():
            if object_id in self.hrefs:
                return level
        return None


def parse_manifest(data: bytes, *, path: str) -> SafeManifest:
    """Parse ``manifest.safe`` bytes.

    Raises
    ------
    ProductFormatError
        Malformed XML or no ``dataObjectSection``.
    UnsafeInputError
        An href leaves the product (absolute or ``..``).
    """
    root = parse_xml_bytes(data, path=path)
    section = find(root, "dataObjectSection")
    if section is None:
        raise ProductFormatError("manifest has no dataObjectSection", path=path)
    hrefs: dict[str, str] = {}
    for obj in findall(section, "dataObject"):
        location = find(obj, "byteStream/fileLocation")
        object_id = obj.get("ID")
        if location is None or object_id is None or not location.get("href"):
            continue
        hrefs[object_id] = _relative(str(location.get("href")), path)
    return SafeManifest(path=path, hrefs=hrefs)


def _relative(href: str, path: str) -> str:
    rel = posixpath.normpath(href.replace("\\", "/"))
    if rel.startswith(("/", "..")) or "://" in href:
        raise UnsafeInputError(f"manifest href {href!r} points outside the product", path=path)
    return rel
