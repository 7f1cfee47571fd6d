"""Image-content quality indicators of an L2A tile and its ``QI_DATA/L2A_QUALITY.xml`` report.

Percentages follow Sen2Cor's rules as checked on real products (facts §5.4): the no-data share is
relative to all pixels, every class share is relative to valid (non-no-data) pixels, and
``CLOUDY_PIXEL_PERCENTAGE`` = medium + high probability clouds + thin cirrus (also written as
``Cloud_Coverage_Assessment``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # building documents only
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import Final

import numpy as np

from core.errors import ProcessingError

L2A_QUALITY_NS: Final[str] = "http://gs2.esa.int/DATA_STRUCTURE/l2aqiReport"
XSI_NS: Final[str] = "http://www.w3.org/2001/XMLSchema-instance"


class SceneClass(IntEnum):
    """SCL codes, named as in the ``Classificators`` of ``L2A_CAL_SC_GIPP.xml`` (facts §2.1)."""

    NO_DATA = 0
    SATURATED_DEFECTIVE = 1
    DARK_FEATURES = 2
    CLOUD_SHADOWS = 3
    VEGETATION = 4
    NOT_VEGETATED = 5
    WATER = 6
    UNCLASSIFIED = 7
    MEDIUM_PROBA_CLOUDS = 8
    HIGH_PROBA_CLOUDS = 9
    THIN_CIRRUS = 10
    SNOW_ICE = 11


SCENE_CLASS_TEXT: Final[dict[SceneClass, str]] = {
    SceneClass.NO_DATA: "SC_NODATA",
    SceneClass.SATURATED_DEFECTIVE: "SC_SATURATED_DEFECTIVE",
    SceneClass.DARK_FEATURES: "SC_DARK_FEATURE_SHADOW",
    SceneClass.CLOUD_SHADOWS: "SC_CLOUD_SHADOW",
    SceneClass.VEGETATION: "SC_VEGETATION",
    SceneClass.NOT_VEGETATED: "SC_NOT_VEGETATED",
    SceneClass.WATER: "SC_WATER",
    SceneClass.UNCLASSIFIED: "SC_UNCLASSIFIED",
    SceneClass.MEDIUM_PROBA_CLOUDS: "SC_CLOUD_MEDIUM_PROBA",
    SceneClass.HIGH_PROBA_CLOUDS: "SC_CLOUD_HIGH_PROBA",
    SceneClass.THIN_CIRRUS: "SC_THIN_CIRRUS",
    SceneClass.SNOW_ICE: "SC_SNOW_ICE",
}
"""``SCENE_CLASSIFICATION_TEXT`` of MTD_MSIL2A.xml."""

_CLASS_QI: Final[tuple[tuple[str, SceneClass], ...]] = (
    ("SATURATED_DEFECTIVE_PIXEL_PERCENTAGE", SceneClass.SATURATED_DEFECTIVE),
    ("DARK_FEATURES_PERCENTAGE", SceneClass.DARK_FEATURES),
    ("CLOUD_SHADOW_PERCENTAGE", SceneClass.CLOUD_SHADOWS),
    ("VEGETATION_PERCENTAGE", SceneClass.VEGETATION),
    ("NOT_VEGETATED_PERCENTAGE", SceneClass.NOT_VEGETATED),
    ("WATER_PERCENTAGE", SceneClass.WATER),
    ("UNCLASSIFIED_PERCENTAGE", SceneClass.UNCLASSIFIED),
    ("MEDIUM_PROBA_CLOUDS_PERCENTAGE", SceneClass.MEDIUM_PROBA_CLOUDS),
    ("HIGH_PROBA_CLOUDS_PERCENTAGE", SceneClass.HIGH_PROBA_CLOUDS),
    ("THIN_CIRRUS_PERCENTAGE", SceneClass.THIN_CIRRUS),
    ("SNOW_ICE_PERCENTAGE", SceneClass.SNOW_ICE),
)
_CLOUDY: Final = (
    SceneClass.MEDIUM_PROBA_CLOUDS,
    SceneClass.HIGH_PROBA_CLOUDS,
    SceneClass.THIN_CIRRUS,
)


@dataclass(frozen=True, slots=True)
class AtmosphereSummary:
    """Scalar results of the atmospheric correction reported in the L2A metadata.

    ``visibility_*`` and ``ddv_*`` feed ``L2A_QUALITY.xml``; ``lut_files`` its look-up-table list.
    """

    ozone_du: float
    ozone_source: str = "AUX_ECMWFT"
    """``AUX_ECMWFT | CONFIG | OTHER``."""
    aot_retrieval_method: str = "SEN2COR_DDV"
    """``SEN2COR_DDV | CAMS | DEFAULT``."""
    start_visibility_km: float = float("nan")
    ddv_visibility_km: float = float("nan")
    final_visibility_km: float = float("nan")
    ddv_pixel_percentage: float = 0.0
    ddv_reflectance_range: float = float("nan")
    blue_path_radiance_rescaling: float = 1.0
    dem_type: str = "NONE"
    dem_mean_altitude_km: float = 0.0
    dem_mean_slope_deg: float = 0.0
    lut_files: tuple[str, ...] = ()
    aux_files: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ImageContentQI:
    """The ``Image_Content_QI`` block (percentages in %, means in physical units)."""

    nodata_percentage: float
    class_percentages: dict[str, float]
    """``*_PERCENTAGE`` element name -> share of valid pixels."""
    cloudy_percentage: float
    cloudy_over_land_percentage: float
    granule_mean_aot: float
    granule_mean_wv: float
    negative_boa_percentage: dict[str, float] = field(default_factory=dict)
    """Band name -> share of valid pixels with a negative BOA reflectance."""


def image_content_qi(
    scene_class: np.ndarray,
    *,
    aot550: np.ndarray | None = None,
    wvp_cm: np.ndarray | None = None,
    boa: dict[str, np.ndarray] | None = None,
) -> ImageContentQI:
    """Compute the image-content QIs from a scene classification (and AOT / WV / BOA maps).

    Parameters
    ----------
    scene_class
        SCL codes 0-11 (uint8) of the resolution Sen2Cor classified at (20 m, or 60 m).
    aot550, wvp_cm
        AOT at 550 nm and water vapour (cm) on the same grid; their means over valid pixels
        are ``GRANULE_MEAN_AOT`` and ``GRANULE_MEAN_WV``.
    boa
        BOA reflectance per band on the same grid, for the negative-pixel statistics.

    Raises
    ------
    ProcessingError
        ``scene_class`` holds a code outside 0-11.

    Notes
    -----
    ``CLOUDY_PIXEL_OVER_LAND_PERCENTAGE`` is defined here as the cloudy share of valid pixels
    that are not classified water; Sen2Cor's exact land mask is not documented (facts §5.4 [U]).
    """
    counts = np.bincount(scene_class.ravel(), minlength=len(SceneClass))
    if counts.size > len(SceneClass):
        raise ProcessingError(f"scene classification holds codes above {max(SceneClass)}")
    total = max(int(scene_class.size), 1)
    valid_mask = scene_class != SceneClass.NO_DATA
    valid = max(int(counts[1:].sum()), 1)
    shares = {name: 100.0 * counts[code] / valid for name, code in _CLASS_QI}
    cloudy = int(sum(counts[c] for c in _CLOUDY))
    land = max(valid - int(counts[SceneClass.WATER]), 1)
    negatives = {
        name: 100.0 * float(np.count_nonzero(rho[valid_mask] < 0.0)) / valid
        for name, rho in (boa or {}).items()
    }
    return ImageContentQI(
        nodata_percentage=100.0 * counts[SceneClass.NO_DATA] / total,
        class_percentages=shares,
        cloudy_percentage=100.0 * cloudy / valid,
        cloudy_over_land_percentage=100.0 * cloudy / land,
        granule_mean_aot=_valid_mean(aot550, valid_mask),
        granule_mean_wv=_valid_mean(wvp_cm, valid_mask),
        negative_boa_percentage=negatives,
    )


def _valid_mean(values: np.ndarray | None, valid_mask: np.ndarray) -> float:
    if values is None:
        return float("nan")
    selected = values[valid_mask & np.isfinite(values)]
    return float(selected.mean()) if selected.size else float("nan")


def fmt(value: float) -> str:
    """Format a QI value as Sen2Cor does (6 decimals)."""
    return f"{value:.6f}"


def qi_elements(
    qi: ImageContentQI,
    atmosphere: AtmosphereSummary | None,
    *,
    degraded_msi_percentage: str | None = None,
) -> list[tuple[str, str]]:
    """The ordered ``Image_Content_QI`` children of MTD_MSIL2A.xml (or of MTD_TL.xml).

    ``degraded_msi_percentage`` is given for the tile document, which also lists
    ``CLOUDY_PIXEL_PERCENTAGE`` and ``DEGRADED_MSI_DATA_PERCENTAGE`` first.
    """
    items: list[tuple[str, str]] = []
    if degraded_msi_percentage is not None:
        items.append(("CLOUDY_PIXEL_PERCENTAGE", fmt(qi.cloudy_percentage)))
    items.append(("CLOUDY_PIXEL_OVER_LAND_PERCENTAGE", fmt(qi.cloudy_over_land_percentage)))
    if degraded_msi_percentage is not None:
        items.append(("DEGRADED_MSI_DATA_PERCENTAGE", degraded_msi_percentage))
    items.append(("NODATA_PIXEL_PERCENTAGE", fmt(qi.nodata_percentage)))
    items.extend((name, fmt(qi.class_percentages[name])) for name, _ in _CLASS_QI)
    items += [
        ("RADIATIVE_TRANSFER_ACCURACY", "0.0"),
        ("WATER_VAPOUR_RETRIEVAL_ACCURACY", "0.0"),
        ("AOT_RETRIEVAL_ACCURACY", "0.0"),
        ("AOT_RETRIEVAL_METHOD", atmosphere.aot_retrieval_method if atmosphere else "DEFAULT"),
        ("GRANULE_MEAN_AOT", fmt(qi.granule_mean_aot)),
        ("GRANULE_MEAN_WV", fmt(qi.granule_mean_wv)),
        ("OZONE_SOURCE", atmosphere.ozone_source if atmosphere else "CONFIG"),
        ("OZONE_VALUE", fmt(atmosphere.ozone_du) if atmosphere else fmt(float("nan"))),
    ]
    return items


def l2a_quality_xml(
    qi: ImageContentQI,
    atmosphere: AtmosphereSummary | None,
    *,
    mission_id: str,
    tile_long_id: str,
    degraded_msi_percentage: str,
    average_sun_zenith_deg: float,
    creation_time: datetime,
    software_version: str,
) -> ET.Element:
    """Build ``QI_DATA/L2A_QUALITY.xml`` (Sen2Cor's ``L2A_QLINFO`` report).

    Three check lists, as in real products: ``SCENE_CLASS_QUALITY`` (percentages),
    ``ATMOSPHERIC_CORRECTION_QUALITY`` (AOT/WV/visibility, control flags, negative BOA pixels,
    LUT files) and ``AUX_DATA_QUALITY`` (DEM and ozone sources).
    """
    # The report's elements live in its default namespace; ElementTree cannot write a default
    # namespace next to unqualified attributes, so the declaration is set as a plain attribute.
    q = ""
    root = ET.Element(
        f"{q}L2A_Quality_File",
        {
            "xmlns": L2A_QUALITY_NS,
            f"{{{XSI_NS}}}schemaLocation": f"{L2A_QUALITY_NS} L2A_QUALITY.xsd",
        },
    )
    header = sub_element(sub_element(root, f"{q}L2A_Quality_Header"), f"{q}Fixed_Header")
    sub_element(header, f"{q}File_Name", "L2A_QUALITY")
    sub_element(header, f"{q}File_Description", "Quality information obtained from Sen2Cor")
    sub_element(header, f"{q}Notes")
    sub_element(header, f"{q}Mission", mission_id)
    sub_element(header, f"{q}File_Class", "USER")
    sub_element(header, f"{q}File_Type", "L2A_QLINFO")
    validity = sub_element(header, f"{q}Validity_Period")
    sub_element(validity, f"{q}Validity_Start", "UTC=2015-06-22T00:00:00")
    sub_element(validity, f"{q}Validity_Stop", "UTC=2100-01-01T00:00:00")
    sub_element(header, f"{q}File_Version", "1")
    source = sub_element(header, f"{q}Source")
    sub_element(source, f"{q}System", "Sen2Cor")
    sub_element(source, f"{q}Creator", "Sen2Cor")
    sub_element(source, f"{q}Creator_Version", software_version)
    sub_element(source, f"{q}Creation_Date", f"UTC={creation_time:%Y-%m-%dT%H:%M:%S}")
    report = sub_element(
        sub_element(root, f"{q}Data_Block", attrib={"type": "xml"}),
        f"{q}report",
        attrib={
            "gippVersion": software_version,
            "globalStatus": "PASSED",
            "date": f"{creation_time:%Y-%m-%dT%H:%M:%SZ}",
        },
    )
    sc_values = [
        ("CLOUDY_PIXEL_PERCENTAGE", fmt(qi.cloudy_percentage)),
        ("CLOUDY_PIXEL_OVER_LAND_PERCENTAGE", fmt(qi.cloudy_over_land_percentage)),
        ("DEGRADED_MSI_DATA_PERCENTAGE", degraded_msi_percentage),
        ("NODATA_PIXEL_PERCENTAGE", fmt(qi.nodata_percentage)),
        *((name, fmt(qi.class_percentages[name])) for name, _ in _CLASS_QI),
    ]
    a = atmosphere or AtmosphereSummary(ozone_du=float("nan"), ozone_source="CONFIG")
    ac_values = [
        ("AOT_RETRIEVAL_ACCURACY", fmt(0.0)),
        ("GRANULE_MEAN_AOT", fmt(qi.granule_mean_aot)),
        ("WV_RETRIEVAL_ACCURACY", fmt(0.0)),
        ("GRANULE_MEAN_WV", fmt(qi.granule_mean_wv)),
        ("OZONE_VALUE", fmt(a.ozone_du)),
        ("START_VISIBILITY_KM", fmt(a.start_visibility_km)),
        ("VISIBILITY_FROM_DDV_KM", fmt(a.ddv_visibility_km)),
        ("FINAL_VISIBILITY_KM", fmt(a.final_visibility_km)),
        ("AVERAGE_SOLAR_ZENITH_ANGLE", fmt(average_sun_zenith_deg)),
        ("DDV_PIXEL_PERCENTAGE", fmt(a.ddv_pixel_percentage)),
        ("DDV_REFLECTANCE_RANGE", fmt(a.ddv_reflectance_range)),
        ("BLUE_PATH_RADIANCE_RESCALING_FACTOR", fmt(a.blue_path_radiance_rescaling)),
    ]
    control_values = [
        ("WV_RETRIEVAL_METHOD", "SEN2COR_APDA"),
        ("AOT_RETRIEVAL_METHOD", a.aot_retrieval_method),
        ("VISIBILITY_LESS_THAN_5_KM", str(bool(a.final_visibility_km < 5.0))),
        ("AOT_ABOVE_1", str(bool(qi.granule_mean_aot > 1.0))),
        ("GRANULE_WV_ABOVE_5_CM", str(bool(qi.granule_mean_wv > 5.0))),
    ]
    aux_values = [
        ("DEM_TYPE", a.dem_type),
        ("DEM_MEAN_ALTITUDE_KM", fmt(a.dem_mean_altitude_km)),
        ("DEM_MEAN_SLOPE", fmt(a.dem_mean_slope_deg)),
        ("GROUND_ELEVATION_ABOVE_3_KM", str(a.dem_mean_altitude_km > 3.0)),
        ("SOLAR_ZENITH_ANGLE_ABOVE_70_DEG", str(average_sun_zenith_deg > 70.0)),
        ("OZONE_SOURCE", a.ozone_source),
    ]
    checks = (
        ("L2A_SC", "SCENE_CLASS_QUALITY", [('"Percentage of classified pixels"', sc_values)]),
        (
            "L2A_AC",
            "ATMOSPHERIC_CORRECTION_QUALITY",
            [
                ("Atmospheric correction quality values", ac_values),
                ("Atmospheric correction quality control", control_values),
                (
                    "Percentage of negative BOA pixels",
                    [(b, fmt(v)) for b, v in qi.negative_boa_percentage.items()],
                ),
                ("Look up table file list", [("LUT_DATA_FILES", str(list(a.lut_files)))]),
            ],
        ),
        (
            "L2A_AUX",
            "AUX_DATA_QUALITY",
            [
                ("AUX related parameters", aux_values),
                ("AUX data file list", [("AUX_DATA_FILES", str(list(a.aux_files)))]),
            ],
        ),
    )
    for parent_id, name, groups in checks:
        check_list = sub_element(report, f"{q}checkList")
        sub_element(check_list, f"{q}parentID", parent_id)
        sub_element(check_list, f"{q}name", name)
        sub_element(check_list, f"{q}version", software_version)
        sub_element(
            check_list,
            f"{q}item",
            attrib={
                "class": "http://www.esa.int/s2#pdi_level_2a_tile_container",
                "className": "PDI Level 2A Tile Folder",
                "name": tile_long_id,
                "url": "AUX_DATA",
            },
        )
        for message, values in groups:
            check = sub_element(check_list, f"{q}check")
            sub_element(check, f"{q}message", message, attrib={"contentType": "text/plain"})
            extra = sub_element(check, f"{q}extraValues")
            for key, value in values:
                sub_element(extra, f"{q}value", value, attrib={"name": key})
    return root


def sub_element(
    parent: ET.Element, tag: str, text: str | None = None, *, attrib: dict[str, str] | None = None
) -> ET.Element:
    """Append a ``tag`` child with optional text and attributes to ``parent`` and return it."""
    node = ET.SubElement(parent, tag, attrib or {})
    if text is not None:
        node.text = text
    return node
