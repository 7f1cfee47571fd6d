"""Metadata documents of a simulated L1C SAFE: MTD_MSIL1C.xml, MTD_TL.xml, MTD_DS.xml, QI reports.

Element names and order follow real compact-SAFE products (PSD 14, namespace
``https://psd-14.sentinel2.eo.esa.int/PSD/...``; baseline 04.00 product and tile metadata of
T32UPC / T29UNU, baseline 03.01 of T46RER): only the root's children carry the ``n1:`` prefix,
every deeper element is unqualified, angle grids are written as space-separated rows with the
literal ``NaN`` outside a detector's footprint.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np

from core.bands import BANDS
from core.product.metadata import AngleGrid, ProcessingBaseline, RasterGrid
from core.product.naming import ProductNames, compact_time
from core.simulate.scene import SimulatedScene

PSD_NS: Final[str] = "https://psd-14.sentinel2.eo.esa.int/PSD/"
XSI_NS: Final[str] = "http://www.w3.org/2001/XMLSchema-instance"
OFFSET_BASELINE: Final[ProcessingBaseline] = ProcessingBaseline(4, 0)
"""From this baseline on, L1C DNs carry ``RADIO_ADD_OFFSET`` = -1000 and masks are JP2."""
QUANTIFICATION_VALUE: Final[int] = 10000
RADIO_ADD_OFFSET: Final[int] = -1000
CENTRE: Final[str] = "SC2C"
"""Processing-centre code of simulated products (4 characters, ``^[A-Z0-9_]{4}$``)."""
GENERATION_DELAY: Final[timedelta] = timedelta(hours=1, minutes=30)
PRODUCT_DOI: Final[str] = "https://doi.org/10.5270/S2_-742ikth"

SOLAR_IRRADIANCE: Final[dict[str, tuple[float, ...]]] = {
    "S2A": (1884.69, 1959.66, 1823.24, 1512.06, 1424.64, 1287.61, 1162.08, 1041.63, 955.32,
            812.92, 367.15, 245.59, 85.25),
    "S2B": (1874.3, 1959.75, 1824.93, 1512.79, 1425.78, 1291.13, 1175.57, 1041.28, 953.93,
            817.58, 365.41, 247.08, 87.75),
}  # fmt: skip
"""W m-2 µm-1 per band id, from real S2A (02.09) and S2B (04.00) MTD_MSIL1C.xml; S2C uses S2A's."""

PHYSICAL_GAINS: Final[tuple[float, ...]] = (
    3.96573073, 3.81168047, 4.22155295, 4.7577648, 5.16740933, 5.06791991, 4.74549254,
    6.7928927, 5.73573264, 9.33142951, 56.40710278, 37.17074607, 108.67131723,
)  # fmt: skip
"""DN per radiance unit per band id, nominal values of a real S2B 04.00 product."""
GIPP_FILENAME: Final[str] = (
    "S2__OPER_GIP_PROBAS_SIM__20150101T000000_V20150101T000000_21000101T000000_B00"
)
GRI_FILENAME: Final[str] = "S2__OPER_GRI_MSIL1B_SIM__20150101T000000_S20150101T000000"
"""Placeholder auxiliary-file names matching the PSD's file-name patterns."""
QUALIT_LAYERS: Final[tuple[str, ...]] = (
    "ANC_LOST", "ANC_DEG", "MSI_LOST", "MSI_DEG", "QT_DEFECTIVE_PIXELS", "QT_NODATA_PIXELS",
    "QT_PARTIALLY_CORRECTED_PIXELS", "QT_SATURATED_PIXELS_L1A",
)  # fmt: skip
GML_MASK_TYPES: Final[tuple[str, ...]] = ("DEFECT", "DETFOO", "NODATA", "SATURA", "TECQUA")
"""Per-band GML masks of baselines before 04.00 (as listed in real 02.0x-03.0x MTD_TL.xml)."""
QI_REPORTS: Final[tuple[str, ...]] = (
    "FORMAT_CORRECTNESS", "GENERAL_QUALITY", "GEOMETRIC_QUALITY", "SENSOR_QUALITY",
)  # fmt: skip
DATASTRIP_QI_REPORTS: Final[tuple[str, ...]] = (*QI_REPORTS, "RADIOMETRIC_QUALITY")

ET.register_namespace("xsi", XSI_NS)


@dataclass(frozen=True, slots=True)
class L1CNames(ProductNames):
    """The names of one simulated L1C product and the times they derive from."""

    sensing_time: datetime
    generation_time: datetime

    @classmethod
    def simulated(
        cls,
        *,
        mission_id: str,
        tile_id: str,
        baseline: ProcessingBaseline,
        sensing_time: datetime,
        generation_time: datetime,
        absolute_orbit: int,
        relative_orbit: int,
    ) -> L1CNames:
        """Names of an L1C sensed at ``sensing_time`` (the datastrip starts with the datatake)."""
        return cls(
            level="L1C",
            mission_id=mission_id,
            tile_id=tile_id,
            datatake_start=compact_time(sensing_time),
            datastrip_sensing=compact_time(sensing_time),
            absolute_orbit=absolute_orbit,
            relative_orbit=relative_orbit,
            generation=compact_time(generation_time),
            baseline=baseline,
            centre=CENTRE,
            sensing_time=sensing_time,
            generation_time=generation_time,
        )


@dataclass(frozen=True, slots=True)
class SceneStats:
    """Scene-wide quality numbers derived from the truth."""

    cloud_percentage: float
    snow_percentage: float
    footprint_lonlat: tuple[tuple[float, float], ...]
    """Closed ring of (lon, lat) corners of the simulated area."""


def add_offset(baseline: ProcessingBaseline) -> int:
    """``RADIO_ADD_OFFSET`` of a baseline: -1000 from 04.00, 0 before (PSD 14.9 change)."""
    return RADIO_ADD_OFFSET if baseline >= OFFSET_BASELINE else 0


def earth_sun_u(moment: datetime) -> float:
    """Earth-Sun distance correction ``U = 1 / (1 - e cos(0.0172 (doy - 4)))^2`` (L1 ATBD)."""
    doy = moment.timetuple().tm_yday
    return 1.0 / (1.0 - 0.01672 * math.cos(0.0172 * (doy - 4))) ** 2


def psd_version(baseline: ProcessingBaseline) -> str:
    """Schema version written in ``schemaLocation`` (real 04.00 tiles cite 14.08, 05.09 14.09)."""
    if baseline >= ProcessingBaseline(5, 0):
        return "14.09.00"
    if baseline >= OFFSET_BASELINE:
        return "14.08.01"
    return "14.05.00"


def iso_time(moment: datetime, digits: int = 3) -> str:
    """``2024-07-15T10:20:21.000Z`` with ``digits`` fractional digits (naive times are UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return f"{text[: len(text) - 6 + digits]}Z"


def _root(schema: str) -> ET.Element:
    ns = PSD_NS + schema
    ET.register_namespace("n1", ns)
    root = ET.Element(f"{{{ns}}}{_ROOT_TAGS[schema]}")
    root.set(f"{{{XSI_NS}}}schemaLocation", ns)
    return root


_ROOT_TAGS: Final[dict[str, str]] = {
    "User_Product_Level-1C.xsd": "Level-1C_User_Product",
    "S2_PDI_Level-1C_Tile_Metadata.xsd": "Level-1C_Tile_ID",
    "S2_PDI_Level-1C_Datastrip_Metadata.xsd": "Level-1C_DataStrip_ID",
}


def _top(root: ET.Element, tag: str, **attrib: str) -> ET.Element:
    ns = root.tag[1:].split("}")[0]
    return ET.SubElement(root, f"{{{ns}}}{tag}", attrib)


def _sub(parent: ET.Element, tag: str, text: object = None, **attrib: str) -> ET.Element:
    node = ET.SubElement(parent, tag, attrib)
    if text is not None:
        node.text = str(text)
    return node


def to_bytes(root: ET.Element) -> bytes:
    """Serialise with indentation and an XML declaration."""
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


def _datatake(parent: ET.Element, names: L1CNames) -> None:
    node = _sub(parent, "Datatake", datatakeIdentifier=names.datatake_id)
    _sub(node, "SPACECRAFT_NAME", f"Sentinel-{names.mission_id[1:]}")
    _sub(node, "DATATAKE_TYPE", "INS-NOBS")
    _sub(node, "DATATAKE_SENSING_START", iso_time(names.sensing_time))
    _sub(node, "SENSING_ORBIT_NUMBER", names.relative_orbit)
    _sub(node, "SENSING_ORBIT_DIRECTION", "DESCENDING")


def _irradiance(parent: ET.Element, names: L1CNames) -> None:
    values = SOLAR_IRRADIANCE.get(names.mission_id, SOLAR_IRRADIANCE["S2A"])
    conversion = _sub(parent, "Reflectance_Conversion")
    _sub(conversion, "U", repr(earth_sun_u(names.sensing_time)))
    irradiances = _sub(conversion, "Solar_Irradiance_List")
    for band in BANDS:
        _sub(irradiances, "SOLAR_IRRADIANCE", values[band.band_id], bandId=str(band.band_id),
             unit="W/m²/µm")  # fmt: skip


def _display_order(parent: ET.Element) -> None:
    order = _sub(parent, "Image_Display_Order")
    for channel, value in (("RED_CHANNEL", 3), ("GREEN_CHANNEL", 2), ("BLUE_CHANNEL", 1)):
        _sub(order, channel, value)


def _offsets(parent: ET.Element, baseline: ProcessingBaseline) -> None:
    if baseline < OFFSET_BASELINE:
        return
    offsets = _sub(parent, "Radiometric_Offset_List")
    for band in BANDS:
        _sub(offsets, "RADIO_ADD_OFFSET", RADIO_ADD_OFFSET, band_id=str(band.band_id))


def _spectral_information(parent: ET.Element) -> None:
    """Band limits from the band table; the response is a unit box over [MIN, MAX] (1 nm step)."""
    info_list = _sub(parent, "Spectral_Information_List")
    for band in BANDS:
        info = _sub(info_list, "Spectral_Information", bandId=str(band.band_id),
                    physicalBand=band.name.replace("B0", "B"))  # fmt: skip
        _sub(info, "RESOLUTION", band.resolution)
        low = round((band.wavelength_um - band.fwhm_um / 2) * 1000)
        high = round((band.wavelength_um + band.fwhm_um / 2) * 1000)
        wavelength = _sub(info, "Wavelength")
        _sub(wavelength, "MIN", low, unit="nm")
        _sub(wavelength, "MAX", high, unit="nm")
        _sub(wavelength, "CENTRAL", round(band.wavelength_um * 1000, 1), unit="nm")
        response = _sub(info, "Spectral_Response")
        _sub(response, "STEP", 1, unit="nm")
        _sub(response, "VALUES", " ".join(["1"] * (high - low + 1)))


def product_metadata(names: L1CNames, stats: SceneStats) -> bytes:
    """MTD_MSIL1C.xml."""
    root = _root("User_Product_Level-1C.xsd")
    general = _top(root, "General_Info")
    info = _sub(general, "Product_Info")
    _sub(info, "PRODUCT_START_TIME", iso_time(names.sensing_time))
    _sub(info, "PRODUCT_STOP_TIME", iso_time(names.sensing_time))
    _sub(info, "PRODUCT_URI", names.product)
    _sub(info, "PROCESSING_LEVEL", "Level-1C")
    _sub(info, "PRODUCT_TYPE", "S2MSI1C")
    _sub(info, "PROCESSING_BASELINE", str(names.baseline))
    if names.baseline >= OFFSET_BASELINE:
        _sub(info, "PRODUCT_DOI", PRODUCT_DOI)
    _sub(info, "GENERATION_TIME", iso_time(names.generation_time, 6))
    _sub(info, "PREVIEW_IMAGE_URL", "Not applicable")
    _sub(info, "PREVIEW_GEO_INFO", "Not applicable")
    _datatake(info, names)
    query = _sub(info, "Query_Options", completeSingleTile="true")
    _sub(query, "PRODUCT_FORMAT", "SAFE_COMPACT")
    organisation = _sub(info, "Product_Organisation")
    granules = _sub(organisation, "Granule_List")
    granule = _sub(granules, "Granule", datastripIdentifier=names.datastrip_long_id,
                   granuleIdentifier=names.tile_long_id, imageFormat="JPEG2000")  # fmt: skip
    for layer in (*(b.name for b in BANDS), "TCI"):
        _sub(granule, "IMAGE_FILE", f"GRANULE/{names.granule}/IMG_DATA/{names.image_stem(layer)}")
    image = _sub(general, "Product_Image_Characteristics")
    for text, index in (("NODATA", 0), ("SATURATED", 65535)):
        special = _sub(image, "Special_Values")
        _sub(special, "SPECIAL_VALUE_TEXT", text)
        _sub(special, "SPECIAL_VALUE_INDEX", index)
    _display_order(image)
    _sub(image, "QUANTIFICATION_VALUE", QUANTIFICATION_VALUE, unit="none")
    _offsets(image, names.baseline)
    _irradiance(image, names)
    _spectral_information(image)
    for band in BANDS:
        _sub(image, "PHYSICAL_GAINS", PHYSICAL_GAINS[band.band_id], bandId=str(band.band_id))
    _sub(image, "REFERENCE_BAND", 3)
    geometric = _top(root, "Geometric_Info")
    outer = _sub(geometric, "Product_Footprint")
    inner = _sub(outer, "Product_Footprint")
    footprint = _sub(inner, "Global_Footprint")
    ring = " ".join(f"{lat!r} {lon!r}" for lon, lat in stats.footprint_lonlat)
    _sub(footprint, "EXT_POS_LIST", ring + " ")
    _sub(outer, "RASTER_CS_TYPE", "POINT")
    _sub(outer, "PIXEL_ORIGIN", 1)
    crs = _sub(geometric, "Coordinate_Reference_System")
    _sub(crs, "GEO_TABLES", "EPSG", version="1")
    _sub(crs, "HORIZONTAL_CS_TYPE", "GEOGRAPHIC")
    aux = _top(root, "Auxiliary_Data_Info")
    gipps = _sub(aux, "GIPP_List")
    _sub(gipps, "GIPP_FILENAME", GIPP_FILENAME, type="GIP_PROBAS", version="0001")
    _sub(aux, "PRODUCTION_DEM_TYPE", "S2__OPER_DEM_GLOBEF_PDMC_19800101T000000_S19800101T000000")
    _sub(aux, "IERS_BULLETIN_FILENAME", "None")
    gri = _sub(aux, "GRI_List")
    _sub(gri, "GRI_FILENAME", GRI_FILENAME)
    _sub(aux, "ECMWF_DATA_REF", f"S2__OPER_AUX_ECMWFD_SIM__{names.datatake_start}")
    quality = _top(root, "Quality_Indicators_Info")
    _sub(quality, "Cloud_Coverage_Assessment", repr(stats.cloud_percentage))
    if names.baseline >= OFFSET_BASELINE:
        _sub(quality, "Snow_Coverage_Assessment", repr(stats.snow_percentage))
    technical = _sub(quality, "Technical_Quality_Assessment")
    _sub(technical, "DEGRADED_ANC_DATA_PERCENTAGE", "0.0")
    _sub(technical, "DEGRADED_MSI_DATA_PERCENTAGE", 0)
    checks = _sub(quality, "Quality_Control_Checks")
    inspections = _sub(checks, "Quality_Inspections")
    for report in sorted(DATASTRIP_QI_REPORTS):
        _sub(inspections, "quality_check", "PASSED", checkType=report)
    _sub(checks, "Failed_Inspections")
    return to_bytes(root)


def _values(parent: ET.Element, array: np.ndarray) -> None:
    _sub(parent, "COL_STEP", 5000, unit="m")
    _sub(parent, "ROW_STEP", 5000, unit="m")
    values = _sub(parent, "Values_List")
    for row in array:
        _sub(values, "VALUES", " ".join("NaN" if np.isnan(v) else f"{v:.6g}" for v in row))


def _angle_grid(parent: ET.Element, grid: AngleGrid) -> None:
    _values(_sub(parent, "Zenith"), grid.zenith)
    _values(_sub(parent, "Azimuth"), grid.azimuth)


def _circular_mean(azimuth_deg: np.ndarray) -> float:
    rad = np.radians(azimuth_deg[~np.isnan(azimuth_deg)])
    return float(np.degrees(np.arctan2(np.sin(rad).mean(), np.cos(rad).mean())) % 360.0)


def mean_viewing_angles(grids: dict[int, AngleGrid]) -> tuple[float, float]:
    """Mean zenith and (circular) mean azimuth over every detector's valid tie points."""
    zenith = np.concatenate([g.zenith.ravel() for g in grids.values()])
    azimuth = np.concatenate([g.azimuth.ravel() for g in grids.values()])
    return float(np.nanmean(zenith)), _circular_mean(azimuth)


def _geocoding(parent: ET.Element, grids: dict[int, RasterGrid]) -> None:
    epsg = grids[10].crs_epsg
    zone, hemisphere = epsg % 100, "N" if epsg < 32700 else "S"
    geocoding = _sub(parent, "Tile_Geocoding", metadataLevel="Brief")
    _sub(geocoding, "HORIZONTAL_CS_NAME", f"WGS84 / UTM zone {zone:02d}{hemisphere}")
    _sub(geocoding, "HORIZONTAL_CS_CODE", f"EPSG:{epsg}")
    for res, grid in grids.items():
        size = _sub(geocoding, "Size", resolution=str(res))
        _sub(size, "NROWS", grid.height)
        _sub(size, "NCOLS", grid.width)
    for res, grid in grids.items():
        position = _sub(geocoding, "Geoposition", resolution=str(res))
        _sub(position, "ULX", f"{grid.transform.c:.0f}")
        _sub(position, "ULY", f"{grid.transform.f:.0f}")
        _sub(position, "XDIM", res)
        _sub(position, "YDIM", -res)


def tile_metadata(names: L1CNames, scene: SimulatedScene, stats: SceneStats) -> bytes:
    """MTD_TL.xml with geocoding, sun/viewing angle grids and the pixel-level QI file names."""
    root = _root("S2_PDI_Level-1C_Tile_Metadata.xsd")
    schema = "S2_PDI_Level-1C_Tile_Metadata.xsd"
    location = f"{PSD_NS}{schema} schemas/{psd_version(names.baseline)}/PSD/{schema}"
    root.set(f"{{{XSI_NS}}}schemaLocation", location)
    general = _top(root, "General_Info")
    _sub(general, "TILE_ID", names.tile_long_id, metadataLevel="Brief")
    _sub(general, "DATASTRIP_ID", names.datastrip_long_id, metadataLevel="Standard")
    _sub(general, "DOWNLINK_PRIORITY", "NOMINAL", metadataLevel="Standard")
    _sub(general, "SENSING_TIME", iso_time(names.sensing_time, 6), metadataLevel="Standard")
    archiving = _sub(general, "Archiving_Info", metadataLevel="Expertise")
    _sub(archiving, "ARCHIVING_CENTRE", CENTRE)
    _sub(archiving, "ARCHIVING_TIME", iso_time(names.generation_time, 6))
    geometric = _top(root, "Geometric_Info")
    geometry = scene.geometry
    _geocoding(geometric, geometry.grids)
    angles = _sub(geometric, "Tile_Angles", metadataLevel="Standard")
    _angle_grid(_sub(angles, "Sun_Angles_Grid"), geometry.sun_angles)
    mean_sun = _sub(angles, "Mean_Sun_Angle")
    _sub(mean_sun, "ZENITH_ANGLE", repr(float(np.mean(geometry.sun_angles.zenith))), unit="deg")
    _sub(mean_sun, "AZIMUTH_ANGLE", repr(_circular_mean(geometry.sun_angles.azimuth)), unit="deg")
    for band in BANDS:
        for detector, grid in sorted(geometry.viewing_angles[band.name].items()):
            node = _sub(angles, "Viewing_Incidence_Angles_Grids", bandId=str(band.band_id),
                        detectorId=str(detector))  # fmt: skip
            _angle_grid(node, grid)
    means = _sub(angles, "Mean_Viewing_Incidence_Angle_List")
    for band in BANDS:
        zenith, azimuth = mean_viewing_angles(geometry.viewing_angles[band.name])
        mean = _sub(means, "Mean_Viewing_Incidence_Angle", bandId=str(band.band_id))
        _sub(mean, "ZENITH_ANGLE", repr(zenith), unit="deg")
        _sub(mean, "AZIMUTH_ANGLE", repr(azimuth), unit="deg")
    quality = _top(root, "Quality_Indicators_Info", metadataLevel="Standard")
    content = _sub(quality, "Image_Content_QI")
    _sub(content, "CLOUDY_PIXEL_PERCENTAGE", f"{stats.cloud_percentage:.4f}")
    _sub(content, "DEGRADED_MSI_DATA_PERCENTAGE", 0)
    pixel_qi = _sub(quality, "Pixel_Level_QI", geometry="FULL_RESOLUTION")
    for band_id, kind, name in qi_mask_files(names.baseline):
        attrib = {"bandId": str(band_id)} if band_id is not None else {}
        _sub(pixel_qi, "MASK_FILENAME", f"GRANULE/{names.granule}/QI_DATA/{name}", type=kind,
             **attrib)  # fmt: skip
    _sub(quality, "PVI_FILENAME", f"GRANULE/{names.granule}/QI_DATA/{names.image_stem('PVI')}.jp2")
    return to_bytes(root)


def qi_mask_files(baseline: ProcessingBaseline) -> list[tuple[int | None, str, str]]:
    """``(bandId, type, file name)`` of every pixel-level QI mask of the baseline's format."""
    if baseline >= OFFSET_BASELINE:
        files: list[tuple[int | None, str, str]] = [
            (band.band_id, f"MSK_{kind}", f"MSK_{kind}_{band.name}.jp2")
            for band in BANDS
            for kind in ("DETFOO", "QUALIT")
        ]
        return [*files, (None, "MSK_CLASSI", "MSK_CLASSI_B00.jp2")]
    files = [
        (band.band_id, f"MSK_{kind}", f"MSK_{kind}_{band.name}.gml")
        for band in BANDS
        for kind in GML_MASK_TYPES
    ]
    return [*files, (None, "MSK_CLOUDS", "MSK_CLOUDS_B00.gml")]


def datastrip_metadata(names: L1CNames) -> bytes:
    """MTD_DS.xml: identification and radiometric information (quantification, offsets, E0, U).

    The children follow the PSD 14.5 order; the sensor, ephemeris and attitude sections of real
    datastrips (which describe the whole acquisition, not the tile) are not simulated.
    """
    root = _root("S2_PDI_Level-1C_Datastrip_Metadata.xsd")
    general = _top(root, "General_Info")
    datatake = _sub(general, "Datatake_Info", datatakeIdentifier=names.datatake_id)
    _sub(datatake, "SPACECRAFT_NAME", f"Sentinel-{names.mission_id[1:]}")
    _sub(datatake, "DATATAKE_TYPE", "INS-NOBS")
    _sub(datatake, "DATATAKE_SENSING_START", iso_time(names.sensing_time))
    _sub(datatake, "SENSING_ORBIT_NUMBER", names.relative_orbit)
    _sub(datatake, "SENSING_ORBIT_DIRECTION", "DESCENDING")
    times = _sub(general, "Datastrip_Time_Info")
    _sub(times, "DATASTRIP_SENSING_START", iso_time(names.sensing_time))
    _sub(times, "DATASTRIP_SENSING_STOP", iso_time(names.sensing_time))
    processing = _sub(general, "Processing_Info")
    _sub(processing, "PROCESSING_BASELINE", str(names.baseline))
    _sub(processing, "PROCESSING_CENTER", CENTRE)
    _sub(processing, "UTC_DATE_TIME", iso_time(names.generation_time))
    downlink = _sub(general, "Downlink_Info")
    _sub(downlink, "RECEPTION_STATION", CENTRE)
    _sub(downlink, "DOWNLINK_ORBIT_NUMBER", names.absolute_orbit)
    archiving = _sub(general, "Archiving_Info")
    _sub(archiving, "ARCHIVING_CENTRE", CENTRE)
    _sub(archiving, "ARCHIVING_TIME", iso_time(names.generation_time))
    image = _top(root, "Image_Data_Info")
    tiles = _sub(_sub(image, "Tiles_Information"), "Tile_List")
    _sub(tiles, "Tile", tileId=names.tile_long_id)
    radiometric = _sub(image, "Radiometric_Info")
    _sub(radiometric, "SWIR_REARRANGEMENT_PROC", "true")
    _sub(radiometric, "SATURATED_PIXELS_PROC", "true")
    _spectral_information(radiometric)
    _display_order(radiometric)
    _sub(radiometric, "QUANTIFICATION_VALUE", QUANTIFICATION_VALUE, unit="none")
    _offsets(radiometric, names.baseline)
    _irradiance(radiometric, names)
    return to_bytes(root)


def qi_report(names: L1CNames, check: str, item: str) -> bytes:
    """A passed on-line quality-control report (``Earth_Explorer_File`` with one check)."""
    root = ET.Element("Earth_Explorer_File")
    header = _sub(root, "Earth_Explorer_Header")
    fixed = _sub(header, "Fixed_Header")
    _sub(fixed, "File_Name", f"{names.mission_id}_OPER_{check}_{names.generation}")
    _sub(fixed, "File_Type", check)
    data = _sub(root, "Data_Block", type="xml")
    report = _sub(data, "report", date=iso_time(names.generation_time))
    check_list = _sub(report, "checkList")
    _sub(check_list, "parentID", names.datastrip_long_id)
    _sub(check_list, "name", check)
    _sub(check_list, "item", name=item, url=item)
    _sub(check_list, "check", "PASSED")
    return to_bytes(root)
