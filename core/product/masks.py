"""L1C quality masks (tile ``QI_DATA``) as rasters on a window, and ``GENERAL_QUALITY.xml``.

From baseline 04.00 the masks are JP2 rasters (facts §4): ``MSK_CLASSI_B00.jp2`` (60 m; layers
opaque cloud, cirrus, snow/ice), ``MSK_QUALIT_Bxx.jp2`` (native resolution, 8 layers ANC_LOST,
ANC_DEG, MSI_LOST, MSI_DEG, QT_DEFECTIVE_PIXELS, QT_NODATA_PIXELS, QT_PARTIALLY_CORRECTED_PIXELS,
QT_SATURATED_PIXELS_L1A) and ``MSK_DETFOO_Bxx.jp2`` (detector index, 0 outside). Before 04.00 the
same information is GML vector masks (``MSK_CLOUDS_B00``, ``MSK_DETFOO``, ``MSK_NODATA``,
``MSK_SATURA``, ``MSK_DEFECT``, ``MSK_TECQUA``), rasterised here with
:func:`rasterio.features.rasterize` on the requested window.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np
from affine import Affine
from rasterio.features import rasterize
from rasterio.windows import Window

from core.bands import band as band_info
from core.errors import ProductFormatError
from core.io import storage
from core.io.raster import read_nearest
from core.io.xml import find, find_text, findall, parse_xml_bytes
from core.product.metadata import RasterGrid

QUALIT_LAYERS = (
    "ANC_LOST",
    "ANC_DEG",
    "MSI_LOST",
    "MSI_DEG",
    "QT_DEFECTIVE_PIXELS",
    "QT_NODATA_PIXELS",
    "QT_PARTIALLY_CORRECTED_PIXELS",
    "QT_SATURATED_PIXELS_L1A",
)
"""Layer order of ``MSK_QUALIT_Bxx.jp2`` (band 1 = ANC_LOST)."""
CLASSI_LAYERS = ("OPAQUE", "CIRRUS", "SNOW_ICE")
"""Layer order of ``MSK_CLASSI_B00.jp2``."""
CLASSI_RESOLUTION = 60
"""``MSK_CLASSI_B00.jp2`` is on the 60 m grid."""
_GML_QUALITY_FILES = {
    "MSK_NODATA": ("QT_NODATA_PIXELS", "QT_PARTIALLY_CORRECTED_PIXELS"),
    "MSK_SATURA": ("QT_SATURATED_PIXELS_L1A",),
    "MSK_DEFECT": ("QT_DEFECTIVE_PIXELS",),
    "MSK_TECQUA": ("ANC_LOST", "ANC_DEG", "MSI_LOST", "MSI_DEG"),
}
_DETECTOR_ID = re.compile(r"-(\d{1,2})(?:-\d+)?$")


@dataclass(frozen=True, slots=True)
class MaskFeature:
    """One polygon of a GML mask, in the tile CRS."""

    mask_type: str
    exterior: np.ndarray
    """(n, 2) x/y vertices."""
    interiors: tuple[np.ndarray, ...]
    detector: int | None
    """Detector index (``MSK_DETFOO``), else ``None``."""

    def geojson(self) -> dict[str, object]:
        """GeoJSON polygon for :func:`rasterio.features.rasterize`."""
        rings = [self.exterior.tolist(), *(r.tolist() for r in self.interiors)]
        return {"type": "Polygon", "coordinates": rings}


@dataclass(frozen=True, slots=True)
class BandQualityMasks:
    """Quality flags of one band on one window (bool arrays; detector 0 = outside the swath)."""

    detector: np.ndarray
    layers: dict[str, np.ndarray]
    """:data:`QUALIT_LAYERS` name -> bool array."""


@dataclass(frozen=True, slots=True)
class QualityCheck:
    """One ``check`` of an OLQC report."""

    check_id: str
    status: str
    message: str


@dataclass(frozen=True, slots=True)
class QualityReport:
    """An OLQC report such as ``GENERAL_QUALITY.xml``."""

    name: str
    global_status: str
    checks: tuple[QualityCheck, ...]

    def status(self, check_id: str) -> str | None:
        """Status (``PASSED``/``FAILED``/...) of the check ``check_id``, or ``None``."""
        return next((c.status for c in self.checks if c.check_id == check_id), None)

    @property
    def data_loss(self) -> bool:
        """True when the ``Data_Loss`` (TECQUA) check failed."""
        return self.status("Data_Loss") == "FAILED"


def parse_quality_report(data: bytes, *, path: str) -> QualityReport:
    """Parse an OLQC report (``GENERAL_QUALITY.xml`` and the other ``*_QUALITY.xml``)."""
    root = parse_xml_bytes(data, path=path)
    report = find(root, "Data_Block/report")
    if report is None:
        raise ProductFormatError("not an OLQC report (no Data_Block/report)", path=path)
    checks = tuple(
        QualityCheck(
            check_id=inspection.get("id", ""),
            status=inspection.get("status", ""),
            message=find_text(check, "message") or "",
        )
        for check in findall(report, "checkList/check")
        if (inspection := find(check, "inspection")) is not None
    )
    return QualityReport(
        name=find_text(report, "checkList/name") or "",
        global_status=report.get("globalStatus", ""),
        checks=checks,
    )


def _pos_list(node: ET.Element, path: str) -> np.ndarray:
    pos = find(node, "LinearRing/posList")
    text = None if pos is None else pos.text
    if text is None or pos is None:
        raise ProductFormatError("GML ring without posList", path=path)
    dim = int(pos.get("srsDimension", "2"))
    values = np.array(text.split(), dtype=np.float64)
    if values.size % dim:
        raise ProductFormatError("GML posList length is not a multiple of its dimension", path=path)
    return values.reshape(-1, dim)[:, :2]


def parse_gml_mask(data: bytes, *, path: str) -> list[MaskFeature]:
    """Parse an L1C GML mask (``eop:Mask``) into polygons; an empty mask gives ``[]``."""
    root = parse_xml_bytes(data, path=path)
    features = []
    for member in findall(root, "maskMembers/MaskFeature"):
        polygon = find(member, "extentOf/Polygon")
        exterior = None if polygon is None else find(polygon, "exterior")
        if polygon is None or exterior is None:
            raise ProductFormatError("GML mask feature without a polygon", path=path)
        feature_id = next((v for k, v in member.attrib.items() if k.endswith("id")), "")
        detector = _DETECTOR_ID.search(feature_id) if "detector" in feature_id else None
        features.append(
            MaskFeature(
                mask_type=find_text(member, "maskType") or "",
                exterior=_pos_list(exterior, path),
                interiors=tuple(_pos_list(r, path) for r in findall(polygon, "interior")),
                detector=int(detector.group(1)) if detector else None,
            )
        )
    return features


def _burn(
    features: list[MaskFeature], values: list[int], grid: RasterGrid, window: Window
) -> np.ndarray:
    shape = (int(window.height), int(window.width))
    if not features:
        return np.zeros(shape, dtype=np.uint8)
    return rasterize(
        [(f.geojson(), v) for f, v in zip(features, values, strict=True)],
        out_shape=shape,
        transform=grid.transform @ Affine.translation(window.col_off, window.row_off),
        fill=0,
        dtype="uint8",
    )


def _qi_file(qi_files: dict[str, str], stem: str) -> tuple[str, str] | None:
    for suffix in (".jp2", ".gml"):
        if stem + suffix in qi_files:
            return qi_files[stem + suffix], suffix
    return None


def read_band_quality(
    qi_files: dict[str, str], band: str, grid: RasterGrid, window: Window
) -> BandQualityMasks:
    """Detector footprint and quality flags of ``band`` on ``window`` of ``grid``.

    Parameters
    ----------
    qi_files : dict
        File name -> URI of the tile's QI_DATA (:attr:`L1CSourceFiles.tile_qi`).
    band : str
        Band name, e.g. ``"B8A"``.
    grid : RasterGrid
        Target grid (any resolution of the tile).
    window : Window
        Window of ``grid``.

    Raises
    ------
    ProductFormatError
        The detector footprint mask is absent or unreadable.
    """
    info = band_info(band)
    suffix = f"_{info.name}"
    detfoo = _qi_file(qi_files, "MSK_DETFOO" + suffix)
    if detfoo is None:
        raise ProductFormatError(
            f"MSK_DETFOO{suffix} mask is missing from the tile QI_DATA",
            path=storage.parent(next(iter(qi_files.values()))) if qi_files else "QI_DATA",
        )
    shape = (int(window.height), int(window.width))
    if detfoo[1] == ".jp2":
        detector = read_nearest(
            detfoo[0], native_resolution=info.resolution, resolution=grid.resolution, window=window
        )[0]
        qualit = _qi_file(qi_files, "MSK_QUALIT" + suffix)
        stack = (
            read_nearest(
                qualit[0],
                native_resolution=info.resolution,
                resolution=grid.resolution,
                window=window,
                layers=len(QUALIT_LAYERS),
            )
            if qualit
            else np.zeros((len(QUALIT_LAYERS), *shape), dtype=np.uint8)
        )
        layers = {name: stack[i] > 0 for i, name in enumerate(QUALIT_LAYERS)}
        return BandQualityMasks(detector=detector.astype(np.uint8), layers=layers)
    features = parse_gml_mask(storage.read_bytes(detfoo[0]), path=detfoo[0])
    detector = _burn(features, [f.detector or 0 for f in features], grid, window)
    layers = {name: np.zeros(shape, dtype=bool) for name in QUALIT_LAYERS}
    for stem, names in _GML_QUALITY_FILES.items():
        found = _qi_file(qi_files, stem + suffix)
        if found is None:
            continue
        for feature in parse_gml_mask(storage.read_bytes(found[0]), path=found[0]):
            if feature.mask_type in names:
                layers[feature.mask_type] |= _burn([feature], [1], grid, window) > 0
    return BandQualityMasks(detector=detector, layers=layers)


def read_cloud_masks(
    qi_files: dict[str, str], grid: RasterGrid, window: Window
) -> dict[str, np.ndarray]:
    """L1C cloud/cirrus/snow masks on ``window``: :data:`CLASSI_LAYERS` name -> bool array.

    GML cloud masks (before 04.00) carry no snow layer; ``SNOW_ICE`` is then all False.
    """
    shape = (int(window.height), int(window.width))
    classi = _qi_file(qi_files, "MSK_CLASSI_B00")
    if classi is not None:
        stack = read_nearest(
            classi[0],
            native_resolution=CLASSI_RESOLUTION,
            resolution=grid.resolution,
            window=window,
            layers=len(CLASSI_LAYERS),
        )
        return {name: stack[i] > 0 for i, name in enumerate(CLASSI_LAYERS)}
    masks = {name: np.zeros(shape, dtype=bool) for name in CLASSI_LAYERS}
    clouds = _qi_file(qi_files, "MSK_CLOUDS_B00")
    if clouds is not None:
        for feature in parse_gml_mask(storage.read_bytes(clouds[0]), path=clouds[0]):
            if feature.mask_type in masks:
                masks[feature.mask_type] |= _burn([feature], [1], grid, window) > 0
    return masks
