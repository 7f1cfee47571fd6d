"""L2A metadata documents converted from the L1C ones, as Sen2Cor does.

Sen2Cor copies ``MTD_MSIL1C.xml`` to ``MTD_MSIL2A.xml`` and the L1C ``MTD_TL.xml`` into the L2A
granule, then converts them (``L2A_Product`` / ``L2A_Tables`` in Sen2Cor 2.8; structure of the
2.10 ground-segment products, facts §5.4):

* the root and the qualified top-level elements move to the Level-2A namespace;
* product identity (URI, level, type, baseline, generation time, DOI, long ids) is rewritten;
* ``QUANTIFICATION_VALUE`` becomes ``QUANTIFICATION_VALUES_LIST`` (BOA/AOT/WVP) and
  ``Radiometric_Offset_List`` becomes ``BOA_ADD_OFFSET_VALUES_LIST``;
* ``Scene_Classification_List``, the L2A GIPP/LUT/ESA-CCI references, the ``L2A_QUALITY`` check
  and the ``Image_Content_QI`` block are added.

Every function returns a new tree; the L1C documents are never modified.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET  # building documents only; parsing is in core.io.xml
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from core.bands import BANDS
from core.errors import ProductFormatError
from core.io.xml import find, find_required, find_text, findall, local_name
from core.product.l2a_quality import (
    SCENE_CLASS_TEXT,
    AtmosphereSummary,
    ImageContentQI,
    fmt,
    qi_elements,
    sub_element,
)
from core.product.l2a_rasters import (
    AOT_QUANTIFICATION_VALUE,
    BOA_QUANTIFICATION_VALUE,
    WVP_QUANTIFICATION_VALUE,
)
from core.product.metadata import L1CMetadata
from core.product.naming import ProductNames

XSI_NS: Final[str] = "http://www.w3.org/2001/XMLSchema-instance"
PSD_NS_ROOT: Final[str] = "https://psd-14.sentinel2.eo.esa.int/PSD/"
L2A_PRODUCT_NS: Final[str] = PSD_NS_ROOT + "User_Product_Level-2A.xsd"
L2A_TILE_NS: Final[str] = PSD_NS_ROOT + "S2_PDI_Level-2A_Tile_Metadata.xsd"
L2A_DATASTRIP_NS: Final[str] = PSD_NS_ROOT + "S2_PDI_Level-2A_Datastrip_Metadata.xsd"

CR_ONLY_NOTE: Final[str] = " --cr_only: product tree created without image data (Sen2Cor) "


@dataclass(frozen=True, slots=True)
class AuxiliaryReferences:
    """The L2A auxiliary references written in ``Auxiliary_Data_Info`` (Sen2Cor 2.10+ names)."""

    gipp_files: tuple[tuple[str, str, str], ...] = (
        ("GIP_L2ACSC", "2.12", "L2A_CAL_SC_GIPP"),
        ("GIP_L2ACAC", "2.12", "L2A_CAL_AC_GIPP"),
        ("GIP_PROBA2", "2.12", "L2A_PB_GIPP"),
    )
    """(type, version, name) of the scene-classification, AC and processing-baseline GIPPs."""
    lut_files: tuple[str, ...] = ("None",)
    snow_climatology_map: str = "GlobalSnowMap.tiff"
    esacci_water_bodies_map: str = "ESACCI-LC-L4-WB-Map-150m-P13Y-2000-v4.0.tif"
    esacci_land_cover_map: str = "ESACCI-LC-L4-LCCS-Map-300m-P1Y-2015-v2.0.7.tif"
    esacci_snow_condition_dir: str = "ESACCI-LC-L4-Snow-Cond-500m-MONTHLY-2000-2012-v2.4"


@dataclass(frozen=True, slots=True)
class ProductIdentity:
    """What identifies the L2A product in its metadata."""

    names: ProductNames
    generation_time: datetime
    product_doi: str
    boa_add_offset: int
    """-1000 from baseline 04.00 (``BOA_ADD_OFFSET``), else 0 (no offset list written)."""
    archiving_centre: str


def utc_text(moment: datetime) -> str:
    """``2022-10-05T16:44:54.000000Z`` (the GENERATION_TIME form)."""
    return f"{moment:%Y-%m-%dT%H:%M:%S.%f}Z"


def to_l2a_namespace(l1c_root: ET.Element, l2a_ns: str) -> ET.Element:
    """Deep-copy ``l1c_root`` with the root and qualified elements moved to ``l2a_ns``.

    Local names containing ``Level-1C`` become ``Level-2A`` (``Level-1C_User_Product``,
    ``Level-1C_Tile_ID``, ``Level-1C_DataStrip_ID``).
    """
    root = copy.deepcopy(l1c_root)
    l1c_ns = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        if node.tag.startswith(f"{{{l1c_ns}}}") or node is root:
            node.tag = f"{{{l2a_ns}}}{local_name(node.tag).replace('Level-1C', 'Level-2A')}"
    root.attrib = {f"{{{XSI_NS}}}schemaLocation": l2a_ns}
    return root


def product_metadata(
    l1c_root: ET.Element,
    *,
    source: str,
    identity: ProductIdentity,
    image_files: Iterable[str],
    image_format: str,
    qi: ImageContentQI | None,
    atmosphere: AtmosphereSummary | None,
    aux: AuxiliaryReferences,
) -> ET.Element:
    """Convert MTD_MSIL1C.xml into MTD_MSIL2A.xml.

    Parameters
    ----------
    l1c_root
        Parsed MTD_MSIL1C.xml (``source`` names it in errors).
    identity
        L2A names, generation time, DOI and BOA offset.
    image_files
        ``IMAGE_FILE`` entries (SAFE-relative, no extension) of the rasters written.
    image_format
        ``imageFormat`` attribute (``JPEG2000``, ``GEOTIFF``, ``RAW``).
    qi
        Image-content QIs; ``None`` for ``--cr_only`` (no QIs, a note in Product_Organisation).
    """
    root = to_l2a_namespace(l1c_root, L2A_PRODUCT_NS)
    names = identity.names
    info = find_required(root, "General_Info/Product_Info", source=source)
    _set_text(info, "PRODUCT_URI", names.product, source)
    _set_text(info, "PROCESSING_LEVEL", "Level-2A", source)
    _set_text(info, "PRODUCT_TYPE", "S2MSI2A", source)
    _set_text(info, "PROCESSING_BASELINE", str(names.baseline), source)
    _set_text(info, "GENERATION_TIME", utc_text(identity.generation_time), source)
    doi = find(info, "PRODUCT_DOI")
    if doi is None:
        doi = ET.Element("PRODUCT_DOI")
        info.insert(_index(info, "PROCESSING_BASELINE") + 1, doi)
    doi.text = identity.product_doi
    datatake = find_required(info, "Datatake", source=source)
    if "datatakeIdentifier" in datatake.attrib:
        datatake.set(
            "datatakeIdentifier", names.datatake_identifier(datatake.attrib["datatakeIdentifier"])
        )
    granule_list = find_required(info, "Product_Organisation/Granule_List", source=source)
    for old in list(granule_list):
        granule_list.remove(old)
    granule = sub_element(
        granule_list,
        "Granule",
        attrib={
            "datastripIdentifier": names.datastrip_long_id,
            "granuleIdentifier": names.tile_long_id,
            "imageFormat": image_format,
        },
    )
    for stem in image_files:
        sub_element(granule, "IMAGE_FILE", stem)
    if qi is None:
        granule.append(ET.Comment(CR_ONLY_NOTE))

    _convert_image_characteristics(root, source=source, boa_add_offset=identity.boa_add_offset)
    _add_auxiliary_references(root, source=source, aux=aux)
    quality = find_required(root, "Quality_Indicators_Info", source=source)
    snow = find(quality, "Snow_Coverage_Assessment")
    if snow is not None:
        quality.remove(snow)
    if qi is not None:
        _set_text(quality, "Cloud_Coverage_Assessment", fmt(qi.cloudy_percentage), source)
        inspections = find(quality, "Quality_Control_Checks/Quality_Inspections")
        if inspections is not None:
            _add_quality_check(inspections, "L2A_QUALITY")
        _append_qi(quality, qi_elements(qi, atmosphere))
    return root


def _convert_image_characteristics(root: ET.Element, *, source: str, boa_add_offset: int) -> None:
    chars = find_required(root, "General_Info/Product_Image_Characteristics", source=source)
    old_q = find(chars, "QUANTIFICATION_VALUE")
    position = _index(chars, "QUANTIFICATION_VALUE") if old_q is not None else len(chars)
    if old_q is not None:
        chars.remove(old_q)
    offsets = find(chars, "Radiometric_Offset_List")
    if offsets is not None:
        chars.remove(offsets)
    q_list = ET.Element("QUANTIFICATION_VALUES_LIST")
    sub_element(
        q_list, "BOA_QUANTIFICATION_VALUE", str(BOA_QUANTIFICATION_VALUE), attrib={"unit": "none"}
    )
    sub_element(
        q_list, "AOT_QUANTIFICATION_VALUE", str(AOT_QUANTIFICATION_VALUE), attrib={"unit": "none"}
    )
    sub_element(
        q_list, "WVP_QUANTIFICATION_VALUE", str(WVP_QUANTIFICATION_VALUE), attrib={"unit": "cm"}
    )
    chars.insert(position, q_list)
    if boa_add_offset:
        offset_list = ET.Element("BOA_ADD_OFFSET_VALUES_LIST")
        for b in BANDS:
            sub_element(
                offset_list,
                "BOA_ADD_OFFSET",
                str(boa_add_offset),
                attrib={"band_id": str(b.band_id)},
            )
        chars.insert(position + 1, offset_list)
    classes = sub_element(chars, "Scene_Classification_List")
    for code, text in SCENE_CLASS_TEXT.items():
        entry = sub_element(classes, "Scene_Classification_ID")
        sub_element(entry, "SCENE_CLASSIFICATION_TEXT", text)
        sub_element(entry, "SCENE_CLASSIFICATION_INDEX", str(int(code)))


def _add_auxiliary_references(root: ET.Element, *, source: str, aux: AuxiliaryReferences) -> None:
    aux_info = find_required(root, "Auxiliary_Data_Info", source=source)
    gipps = find(aux_info, "GIPP_List")
    if gipps is None:
        gipps = ET.Element("GIPP_List")
        aux_info.insert(0, gipps)
    for gipp_type, version, name in aux.gipp_files:
        sub_element(gipps, "GIPP_FILENAME", name, attrib={"type": gipp_type, "version": version})
    luts = sub_element(aux_info, "LUT_List")
    for lut in aux.lut_files:
        sub_element(luts, "LUT_FILENAME", lut)
    sub_element(aux_info, "SNOW_CLIMATOLOGY_MAP", aux.snow_climatology_map)
    sub_element(aux_info, "ESACCI_WaterBodies_Map", aux.esacci_water_bodies_map)
    sub_element(aux_info, "ESACCI_LandCover_Map", aux.esacci_land_cover_map)
    sub_element(aux_info, "ESACCI_SnowCondition_Map_Dir", aux.esacci_snow_condition_dir)


def tile_metadata(
    l1c_root: ET.Element,
    *,
    source: str,
    identity: ProductIdentity,
    l1c_granule_dir: str,
    qi: ImageContentQI | None,
    atmosphere: AtmosphereSummary | None,
    extra_masks: Iterable[tuple[str, str]],
    pvi_file: str | None,
) -> ET.Element:
    """Convert the L1C MTD_TL.xml into the L2A one.

    Adds ``L1C_TILE_ID``, rewrites the tile/datastrip ids and archiving info, replaces the
    L1C granule folder in mask paths, lists ``extra_masks`` (``(type, SAFE-relative path)``:
    MSK_CLDPRB / MSK_SNWPRB) and the L2A PVI, and writes the L2A ``Image_Content_QI``.
    """
    root = to_l2a_namespace(l1c_root, L2A_TILE_NS)
    names = identity.names
    general = find_required(root, "General_Info", source=source)
    tile_id = find_required(general, "TILE_ID", source=source)
    l1c_tile = ET.Element("L1C_TILE_ID", dict(tile_id.attrib))
    l1c_tile.text = tile_id.text
    general.insert(_index(general, "TILE_ID"), l1c_tile)
    tile_id.text = names.tile_long_id
    _set_text(general, "DATASTRIP_ID", names.datastrip_long_id, source)
    archiving = find(general, "Archiving_Info")
    if archiving is not None:
        _set_text(archiving, "ARCHIVING_CENTRE", identity.archiving_centre, source)
        _set_text(archiving, "ARCHIVING_TIME", utc_text(identity.generation_time), source)

    quality = find_required(root, "Quality_Indicators_Info", source=source)
    l2a_granule_dir = f"GRANULE/{names.granule}"
    for mask in findall(quality, "Pixel_Level_QI/MASK_FILENAME"):
        if mask.text:
            mask.text = mask.text.strip().replace(l1c_granule_dir, l2a_granule_dir)
    pixel_qi = find(quality, "Pixel_Level_QI")
    if pixel_qi is not None:
        for mask_type, path in extra_masks:
            sub_element(pixel_qi, "MASK_FILENAME", path, attrib={"type": mask_type})
    pvi = find(quality, "PVI_FILENAME")
    if pvi is not None:
        pvi.text = pvi_file or (pvi.text or "").strip().replace(l1c_granule_dir, l2a_granule_dir)
    if qi is not None:
        content = find(quality, "Image_Content_QI")
        degraded = "0"
        position = 0
        if content is not None:
            degraded = find_text(content, "DEGRADED_MSI_DATA_PERCENTAGE") or degraded
            position = list(quality).index(content)
            quality.remove(content)
        block = ET.Element("Image_Content_QI")
        for tag, text in qi_elements(qi, atmosphere, degraded_msi_percentage=degraded.strip()):
            sub_element(block, tag, text)
        quality.insert(position, block)
    return root


def datastrip_metadata(
    l1c_root: ET.Element | None,
    *,
    l1c: L1CMetadata,
    identity: ProductIdentity,
    aux: AuxiliaryReferences,
) -> ET.Element:
    """The L2A datastrip MTD_DS.xml.

    Converted from the L1C MTD_DS.xml when the input has one (datastrip, datatake and tile ids,
    baseline, processing/archiving centre and time rewritten, the L2A GIPPs added); otherwise
    a compact document carrying the same L2A identity, processing and quantification fields
    (the L1C datastrip metadata is absent from AWS-layout inputs).
    """
    names = identity.names
    if l1c_root is not None:
        root = to_l2a_namespace(l1c_root, L2A_DATASTRIP_NS)
        generated = utc_text(identity.generation_time)
        rewrites = {
            "DATASTRIP_ID": names.datastrip_long_id,
            "PROCESSING_BASELINE": str(names.baseline),
            "PROCESSING_CENTER": names.centre,
            "UTC_DATE_TIME": generated,
            "ARCHIVING_CENTRE": identity.archiving_centre,
            "ARCHIVING_TIME": generated,
        }
        for node in root.iter():
            if not isinstance(node.tag, str):
                continue
            tag = local_name(node.tag)
            if tag in rewrites:
                node.text = rewrites[tag]
            elif tag == "Datatake_Info" and "datatakeIdentifier" in node.attrib:
                node.set(
                    "datatakeIdentifier",
                    names.datatake_identifier(node.get("datatakeIdentifier", "")),
                )
            elif tag == "Tile" and "tileId" in node.attrib:
                node.set("tileId", names.tile_long_id)
    else:
        root = ET.Element(
            f"{{{L2A_DATASTRIP_NS}}}Level-2A_DataStrip_ID",
            {f"{{{XSI_NS}}}schemaLocation": L2A_DATASTRIP_NS},
        )
        general = sub_element(root, f"{{{L2A_DATASTRIP_NS}}}General_Info")
        ds_info = sub_element(general, "Datastrip_Info")
        sub_element(ds_info, "DATASTRIP_ID", names.datastrip_long_id)
        sub_element(ds_info, "DOWNLINK_PRIORITY", "NOMINAL")
        sub_element(ds_info, "DATATAKE_SENSING_START", utc_text(l1c.datatake_sensing_start))
        sub_element(ds_info, "SENSING_START", utc_text(l1c.product_start_time))
        sub_element(ds_info, "SENSING_STOP", utc_text(l1c.product_stop_time))
        sub_element(ds_info, "SPACECRAFT_NAME", l1c.spacecraft_name)
        processing = sub_element(general, "Processing_Info")
        sub_element(processing, "UTC_DATE_TIME", utc_text(identity.generation_time))
        sub_element(processing, "PROCESSING_CENTER", names.centre)
        sub_element(processing, "PROCESSING_BASELINE", str(names.baseline))
        archive = sub_element(general, "Archiving_Info")
        sub_element(archive, "ARCHIVING_CENTRE", identity.archiving_centre)
        sub_element(archive, "ARCHIVING_TIME", utc_text(identity.generation_time))
        image_data = sub_element(root, f"{{{L2A_DATASTRIP_NS}}}Image_Data_Info")
        chars = sub_element(image_data, "Radiometric_Info")
        q_list = sub_element(chars, "QUANTIFICATION_VALUES_LIST")
        sub_element(q_list, "BOA_QUANTIFICATION_VALUE", str(BOA_QUANTIFICATION_VALUE))
        sub_element(q_list, "AOT_QUANTIFICATION_VALUE", str(AOT_QUANTIFICATION_VALUE))
        sub_element(q_list, "WVP_QUANTIFICATION_VALUE", str(WVP_QUANTIFICATION_VALUE))
        sub_element(root, f"{{{L2A_DATASTRIP_NS}}}Auxiliary_Data_Info")
    aux_info = find(root, "Auxiliary_Data_Info")
    if aux_info is not None:
        gipps = find(aux_info, "GIPP_List")
        if gipps is None:
            gipps = sub_element(aux_info, "GIPP_List")
        for gipp_type, version, name in aux.gipp_files:
            sub_element(
                gipps, "GIPP_FILENAME", name, attrib={"type": gipp_type, "version": version}
            )
    return root


def _index(parent: ET.Element, name: str) -> int:
    for i, child in enumerate(parent):
        if isinstance(child.tag, str) and local_name(child.tag) == name:
            return i
    return len(parent)


def _set_text(parent: ET.Element, path: str, text: str, source: str) -> None:
    node = find(parent, path)
    if node is None:
        raise ProductFormatError(f"required element {path!r} is missing", path=source)
    node.text = text


def _add_quality_check(inspections: ET.Element, check_type: str) -> None:
    checks = [c for c in inspections if c.get("checkType") != check_type]
    new = ET.Element("quality_check", {"checkType": check_type})
    new.text = "PASSED"
    checks.append(new)
    for child in list(inspections):
        inspections.remove(child)
    inspections.extend(sorted(checks, key=lambda c: c.get("checkType", "")))


def _append_qi(quality: ET.Element, items: list[tuple[str, str]]) -> None:
    block = sub_element(quality, "Image_Content_QI")
    for tag, text in items:
        sub_element(block, tag, text)


def serialize(root: ET.Element) -> bytes:
    """Serialise a metadata tree with an XML declaration, indented like the real products.

    The root namespace gets the ``n1`` prefix of the PSD documents.
    """
    ET.register_namespace("n1", _namespace(root))
    ET.register_namespace("xsi", XSI_NS)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


def _namespace(root: ET.Element) -> str:
    return root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
