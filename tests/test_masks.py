"""L1C quality masks: real JP2 masks (baseline 04.00), real GML masks (before), OLQC reports."""

from __future__ import annotations

import re

import numpy as np
import pytest
from affine import Affine
from rasterio.windows import Window

from core.angles import parse_tile_angles
from core.errors import ProductFormatError
from core.io.xml import parse_xml_bytes
from core.product.masks import (
    QUALIT_LAYERS,
    parse_gml_mask,
    parse_quality_report,
    read_band_quality,
    read_cloud_masks,
)
from core.product.metadata import RasterGrid

L2A = "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE"
GML_PRODUCT = "esa_S2B_MSIL2A_20210122T133229_N0214_R081_T22HBD_20210122T155500.SAFE"


def _granule(root):
    return next((root / "GRANULE").iterdir())


def _grid_from_tile_xml(text: str, resolution: int) -> RasterGrid:
    ulx = float(
        re.search(rf'<Geoposition resolution="{resolution}">\s*<ULX>([\d.]+)<', text).group(1)
    )
    uly = float(
        re.search(rf'<Geoposition resolution="{resolution}">.*?<ULY>([\d.]+)<', text, re.S).group(1)
    )
    epsg = int(re.search(r"<HORIZONTAL_CS_CODE>EPSG:(\d+)<", text).group(1))
    size = 10980 * 10 // resolution
    return RasterGrid(resolution, size, size, Affine(resolution, 0, ulx, 0, -resolution, uly), epsg)


def _shoelace(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def test_jp2_detector_mask_agrees_with_viewing_angle_grids(shared_data):
    granule = _granule(shared_data / "l2a-real" / L2A)
    qi = {p.name: str(p) for p in (granule / "QI_DATA").iterdir()}
    text = (granule / "MTD_TL.xml").read_text()
    angles = parse_tile_angles(
        parse_xml_bytes(text.encode(), path="MTD_TL.xml"), source="MTD_TL.xml"
    )
    cases = [
        ("B01", 60, Window(0, 0, 1830, 1830)),
        ("B8A", 20, Window(2000, 0, 900, 5490)),
        ("B02", 10, Window(4000, 3000, 1500, 1500)),
    ]
    for band, resolution, window in cases:
        masks = read_band_quality(qi, band, _grid_from_tile_xml(text, resolution), window)
        assert masks.detector.shape == (window.height, window.width)
        detectors = set(np.unique(masks.detector).tolist()) - {0}
        assert len(detectors) >= 2
        assert detectors <= set(angles.viewing[band])  # ids of MTD_TL's per-detector grids
        # Where the mask says detector d, d's viewing grid is defined at a surrounding tie point.
        rows, cols = np.nonzero(masks.detector[::30, ::30])
        step = 5000 / resolution
        consistent = []
        for r, c in zip(rows, cols, strict=True):
            zenith = angles.viewing[band][int(masks.detector[r * 30, c * 30])].zenith
            i = (window.row_off + r * 30 + 0.5) / step
            j = (window.col_off + c * 30 + 0.5) / step
            around = zenith[int(i) : int(i) + 2, int(j) : int(j) + 2]
            consistent.append(np.isfinite(around).any())
        assert np.mean(consistent) > 0.95
        assert set(masks.layers) == set(QUALIT_LAYERS)
        assert all(layer.dtype == bool for layer in masks.layers.values())


def test_jp2_cloud_mask_on_a_20m_window(shared_data):
    granule = _granule(shared_data / "l2a-real" / L2A)
    qi = {p.name: str(p) for p in (granule / "QI_DATA").iterdir()}
    grid = _grid_from_tile_xml((granule / "MTD_TL.xml").read_text(), 20)
    masks = read_cloud_masks(qi, grid, Window(300, 600, 90, 60))
    assert set(masks) == {"OPAQUE", "CIRRUS", "SNOW_ICE"}
    assert all(m.shape == (60, 90) and m.dtype == bool for m in masks.values())
    full = read_cloud_masks(
        qi, _grid_from_tile_xml((granule / "MTD_TL.xml").read_text(), 60), Window(0, 0, 1830, 1830)
    )
    # 60 m mask up-sampled by nearest neighbour: each 60 m pixel is a 3x3 block at 20 m
    np.testing.assert_array_equal(masks["OPAQUE"][::3, ::3], full["OPAQUE"][200:220, 100:130])


def test_gml_detector_footprint_area_matches_polygons(shared_data):
    granule = _granule(shared_data / "metadata" / "stactools-sentinel2" / GML_PRODUCT)
    qi = {p.name: str(p) for p in (granule / "QI_DATA").iterdir()}
    features = parse_gml_mask((granule / "QI_DATA" / "MSK_DETFOO_B08.gml").read_bytes(), path="x")
    ids = re.findall(
        r'gml:id="detector_footprint-B08-(\d+)-\d+"',
        (granule / "QI_DATA" / "MSK_DETFOO_B08.gml").read_text(),
    )
    assert sorted(f.detector for f in features) == sorted(int(i) for i in ids)
    grid = RasterGrid(60, 1830, 1830, Affine(60, 0, 199980, 0, -60, 5900020), 32722)
    masks = read_band_quality(qi, "B08", grid, Window(0, 0, 1830, 1830))
    assert set(np.unique(masks.detector).tolist()) - {0} == {int(i) for i in ids}
    for feature in features:
        burnt = (masks.detector == feature.detector).sum() * 60.0 * 60.0
        assert burnt == pytest.approx(_shoelace(feature.exterior), rel=0.02)


def test_gml_cloud_mask_area(shared_data):
    granule = _granule(shared_data / "metadata" / "stactools-sentinel2" / GML_PRODUCT)
    qi = {p.name: str(p) for p in (granule / "QI_DATA").iterdir()}
    features = parse_gml_mask((granule / "QI_DATA" / "MSK_CLOUDS_B00.gml").read_bytes(), path="x")
    assert {f.mask_type for f in features} == {"OPAQUE"}
    grid = RasterGrid(20, 5490, 5490, Affine(20, 0, 199980, 0, -20, 5900020), 32722)
    masks = read_cloud_masks(qi, grid, Window(0, 0, 5490, 5490))
    expected = sum(_shoelace(f.exterior) for f in features)
    assert masks["OPAQUE"].sum() * 400.0 == pytest.approx(expected, rel=0.05)
    assert not masks["CIRRUS"].any() and not masks["SNOW_ICE"].any()


def test_empty_gml_and_missing_detector_mask(shared_data):
    empty = shared_data / "metadata" / "s2reader" / "zipped_safe" / "MSK_NODATA_B01.gml"
    assert parse_gml_mask(empty.read_bytes(), path=str(empty)) == []
    grid = RasterGrid(60, 10, 10, Affine(60, 0, 0, 0, -60, 600), 32632)
    with pytest.raises(ProductFormatError, match="MSK_DETFOO_B05 mask is missing"):
        read_band_quality({}, "B05", grid, Window(0, 0, 10, 10))


def test_general_quality_reports(shared_data):
    folder = shared_data / "metadata" / "hls-utilities" / "quality-mask"
    reports = sorted(folder.glob("*/QI_DATA/GENERAL_QUALITY.xml"))
    assert len(reports) == 3
    for path in reports:
        text = path.read_text()
        report = parse_quality_report(text.encode(), path=str(path))
        assert report.name == "GENERAL_QUALITY"
        assert report.global_status == re.search(r'globalStatus="(\w+)"', text).group(1)
        assert report.data_loss == ("There is data loss" in text)
        assert report.status("Solar_Angle_Zenith") == "PASSED"
    with pytest.raises(ProductFormatError, match="not an OLQC report"):
        parse_quality_report(b"<a><b/></a>", path="GENERAL_QUALITY.xml")
