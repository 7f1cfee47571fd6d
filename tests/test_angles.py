"""Angle grids of real MTD_TL.xml files -> per-pixel fields."""

from __future__ import annotations

import re

import numpy as np
import pytest
from rasterio.windows import Window

from core.angles import angle_fields, combine_detectors, interpolate_grid, parse_tile_angles
from core.io.xml import parse_xml_bytes
from core.product.metadata import AngleGrid

L2A = "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE"


def _tile_files(shared_data):
    return [
        shared_data / "metadata" / "hls-utilities" / "MTD_TL.xml",
        next((shared_data / "l2a-real" / L2A / "GRANULE").glob("*/MTD_TL.xml")),
    ]


@pytest.fixture(params=[0, 1], ids=["hls-T19XEL", "l2a-T29UNU"])
def tile(request, shared_data):
    path = _tile_files(shared_data)[request.param]
    text = path.read_text()
    return text, parse_tile_angles(parse_xml_bytes(text.encode(), path=str(path)), source=str(path))


def test_parsed_grids_match_xml_text(tile):
    text, angles = tile
    sun_block = text[text.index("<Sun_Angles_Grid>") : text.index("</Sun_Angles_Grid>")]
    zenith_block = sun_block[: sun_block.index("<Azimuth>")]
    first_row = re.search(r"<VALUES>([^<]*)</VALUES>", zenith_block).group(1).split()
    np.testing.assert_array_equal(angles.sun.zenith[0], np.array(first_row, dtype=float))
    assert angles.sun.zenith.shape == (len(re.findall("<VALUES>", zenith_block)), len(first_row))
    grids = re.findall(r'<Viewing_Incidence_Angles_Grids bandId="(\d+)" detectorId="(\d+)"', text)
    assert sum(len(d) for d in angles.viewing.values()) == len(grids)
    mean_sun = re.search(r"<Mean_Sun_Angle>\s*<ZENITH_ANGLE[^>]*>([\d.]+)<", text).group(1)
    assert angles.mean_sun_zenith == float(mean_sun)


def test_interpolation_equals_grid_at_tie_points(tile):
    _, angles = tile
    sun = angles.sun
    rows, cols = sun.zenith.shape
    y = np.arange(rows) * sun.row_step
    x = np.arange(cols) * sun.col_step
    zenith, azimuth = interpolate_grid(sun, y, x)
    np.testing.assert_allclose(zenith, sun.zenith, atol=1e-4)
    difference = (azimuth - sun.azimuth + 180.0) % 360.0 - 180.0
    assert np.abs(difference).max() < 1e-3
    for band in ("B02", "B8A", "B12"):
        combined = combine_detectors(angles.viewing[band])
        zen, _ = interpolate_grid(combined, y, x)
        np.testing.assert_allclose(zen, combined.zenith, atol=1e-4)


def test_fields_stay_within_grid_range_and_match_mean(tile):
    _, angles = tile
    fields = angle_fields(angles.sun, angles.viewing, 60, Window(0, 0, 1830, 1830), ("B04", "B11"))
    sun_zenith = fields.sun_zenith_deg
    assert sun_zenith.shape == (1830, 1830) and sun_zenith.dtype == np.float32
    assert np.nanmin(angles.sun.zenith) - 1e-4 <= sun_zenith.min()
    assert sun_zenith.max() <= np.nanmax(angles.sun.zenith) + 1e-4
    # The tile mean of the per-pixel field reproduces MTD_TL's Mean_Sun_Angle.
    assert float(sun_zenith.mean()) == pytest.approx(angles.mean_sun_zenith, abs=0.05)
    for band in ("B04", "B11"):
        grid = np.stack([g.zenith for g in angles.viewing[band].values()])
        view = fields.view_zenith_deg[band]
        assert np.isfinite(view).all()
        assert np.nanmin(grid) - 1e-4 <= view.min() and view.max() <= np.nanmax(grid) + 1e-4
        assert ((fields.view_azimuth_deg[band] >= 0) & (fields.view_azimuth_deg[band] < 360)).all()


def test_window_is_a_slice_of_the_full_field(tile):
    _, angles = tile
    full = angle_fields(angles.sun, angles.viewing, 60, Window(0, 0, 1830, 1830), ("B02",))
    part = angle_fields(angles.sun, angles.viewing, 60, Window(100, 200, 50, 40), ("B02",))
    np.testing.assert_allclose(
        part.sun_zenith_deg, full.sun_zenith_deg[200:240, 100:150], atol=1e-5
    )
    np.testing.assert_allclose(
        part.view_zenith_deg["B02"], full.view_zenith_deg["B02"][200:240, 100:150], atol=1e-5
    )


def test_detector_merge_is_nan_aware_and_circular():
    nan = np.nan
    a = AngleGrid(np.array([[5.0, nan], [nan, nan]]), np.array([[359.0, nan], [nan, nan]]))
    b = AngleGrid(np.array([[7.0, 9.0], [nan, nan]]), np.array([[1.0, 90.0], [nan, nan]]))
    merged = combine_detectors({1: a, 2: b})
    assert merged.zenith[0, 0] == pytest.approx(6.0)
    assert merged.zenith[0, 1] == pytest.approx(9.0)  # only detector 2 sees it
    assert min(merged.azimuth[0, 0], 360 - merged.azimuth[0, 0]) == pytest.approx(0.0, abs=1e-9)
    assert np.isfinite(merged.zenith).all()  # unseen nodes filled from the nearest seen node
    assert merged.zenith[1, 1] == pytest.approx(9.0)
    _, azimuth = interpolate_grid(
        AngleGrid(np.zeros((2, 2)), np.array([[350.0, 10.0], [350.0, 10.0]])),
        np.array([0.0]),
        np.array([2500.0]),
    )
    assert min(azimuth[0, 0], 360 - azimuth[0, 0]) == pytest.approx(0.0, abs=1e-4)
