"""GML quality masks of L1C baselines before 04.00 (``eop:Mask`` documents, GML 3.2).

Modelled on real 02.04-02.14 masks: an ``eop:Mask`` whose ``gml:id`` is the long mask id, a
``gml:boundedBy`` envelope in the tile's EPSG code and one ``eop:MaskFeature`` per polygon with
a 3-D ``posList``. Empty masks (no defective, saturated ... pixels) have an empty
``eop:maskMembers``, as in real products. Detector footprints are traced along pixel edges with
:func:`rasterio.features.shapes`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Final

import numpy as np
from rasterio.features import shapes

from core.product.metadata import RasterGrid

EOP_NS: Final[str] = "http://www.opengis.net/eop/2.0"
GML_NS: Final[str] = "http://www.opengis.net/gml/3.2"

ET.register_namespace("eop", EOP_NS)
ET.register_namespace("gml", GML_NS)


def _mask(grid: RasterGrid, kind: str, band: str) -> tuple[ET.Element, ET.Element]:
    mask_id = f"{kind}_{band}_MSIL1C"
    root = ET.Element(f"{{{EOP_NS}}}Mask", {f"{{{GML_NS}}}id": mask_id})
    ET.SubElement(root, f"{{{GML_NS}}}name").text = f"{kind} pixels mask {mask_id}"
    bounded = ET.SubElement(root, f"{{{GML_NS}}}boundedBy")
    envelope = ET.SubElement(
        bounded, f"{{{GML_NS}}}Envelope", srsName=f"urn:ogc:def:crs:EPSG:8.7:{grid.crs_epsg}"
    )
    left, top = grid.transform.c, grid.transform.f
    right = left + grid.width * grid.resolution
    bottom = top - grid.height * grid.resolution
    ET.SubElement(envelope, f"{{{GML_NS}}}lowerCorner").text = f"{left:.0f} {bottom:.0f} 0"
    ET.SubElement(envelope, f"{{{GML_NS}}}upperCorner").text = f"{right:.0f} {top:.0f} 0"
    members = ET.SubElement(root, f"{{{EOP_NS}}}maskMembers")
    return root, members


def _bytes(root: ET.Element) -> bytes:
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


def empty_mask_gml(grid: RasterGrid, kind: str, band: str) -> bytes:
    """A mask document with no member (no flagged pixel)."""
    root, _ = _mask(grid, kind, band)
    return _bytes(root)


def detector_footprint_gml(footprint: np.ndarray, grid: RasterGrid, band: str) -> bytes:
    """``MSK_DETFOO_<band>.gml``: one ``DETECTOR_FOOTPRINT`` polygon per detector stripe."""
    root, members = _mask(grid, "MSK_DETFOO", band)
    polygons = shapes(footprint, mask=footprint > 0, transform=grid.transform)
    for index, (geometry, detector) in enumerate(polygons):
        feature = ET.SubElement(
            members,
            f"{{{EOP_NS}}}MaskFeature",
            {f"{{{GML_NS}}}id": f"detector_footprint-{band}-{int(detector):02d}-{index}"},
        )
        kind = ET.SubElement(feature, f"{{{EOP_NS}}}maskType", codeSpace="urn:gs2:S2PDGS:maskType")
        kind.text = "DETECTOR_FOOTPRINT"
        extent = ET.SubElement(feature, f"{{{EOP_NS}}}extentOf")
        polygon = ET.SubElement(
            extent, f"{{{GML_NS}}}Polygon", {f"{{{GML_NS}}}id": f"DETECTOR_FOOTPRINT.{index}"}
        )
        ring = ET.SubElement(
            ET.SubElement(polygon, f"{{{GML_NS}}}exterior"), f"{{{GML_NS}}}LinearRing"
        )
        positions = " ".join(f"{x:.0f} {y:.0f} 0" for x, y in geometry["coordinates"][0])
        ET.SubElement(ring, f"{{{GML_NS}}}posList", srsDimension="3").text = positions
    return _bytes(root)
