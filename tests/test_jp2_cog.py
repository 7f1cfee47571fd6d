"""JPEG 2000 and COG writers, checked on real L2A rasters (round trip, georeferencing,
tiling, COG validity, overview resampling, BOA/TCI encodings)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from l2a_fixtures import L2A_REAL
from rio_cogeo import cog_validate

from core.errors import OutputError
from core.io.cog import write_cog
from core.io.jp2 import write_jp2
from core.product.l2a_rasters import encode_boa
from core.product.metadata import RasterGrid
from core.product.quicklook import preview, true_colour

R60 = "IMG_DATA/R60m/T29UNU_20221005T115411_{}_60m.jp2"


def _read_real(shared_data: Path, layer: str) -> tuple[np.ndarray, RasterGrid]:
    path = next((shared_data / L2A_REAL / "GRANULE").iterdir()) / R60.format(layer)
    with rasterio.open(path) as src:
        grid = RasterGrid(60, src.width, src.height, src.transform, src.crs.to_epsg())
        return src.read(), grid


def test_jp2_round_trip_of_a_real_band_is_lossless_georeferenced_and_tiled(shared_data, tmp_path):
    dn, grid = _read_real(shared_data, "B04")
    out = tmp_path / "B04.jp2"
    write_jp2(str(out), dn[0], grid)
    with rasterio.open(out) as src:
        assert src.driver == "JP2OpenJPEG"
        np.testing.assert_array_equal(src.read(1), dn[0])
        assert src.crs.to_epsg() == grid.crs_epsg == 32629
        assert src.transform == grid.transform
        assert src.block_shapes == [(1024, 1024)]
        assert src.overviews(1) == [2, 4, 8, 16]  # 5 resolution levels
        assert src.tags(ns="IMAGE_STRUCTURE")["COMPRESSION_REVERSIBILITY"] == "LOSSLESS"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["B04.jp2"]  # no .aux.xml side-car


def test_jp2_three_band_tci_round_trip(shared_data, tmp_path):
    tci, grid = _read_real(shared_data, "TCI")
    write_jp2(str(tmp_path / "TCI.jp2"), tci, grid, nodata=None)
    with rasterio.open(tmp_path / "TCI.jp2") as src:
        assert (src.count, src.dtypes[0]) == (3, "uint8")
        np.testing.assert_array_equal(src.read(), tci)


def test_jp2_refuses_an_array_that_does_not_fit_the_grid(tmp_path):
    grid = RasterGrid(60, 10, 10, Affine(60, 0, 0, 0, -60, 0), 32629)
    with pytest.raises(OutputError, match=r"x.jp2: .*does not match the 10x10 grid"):
        write_jp2(str(tmp_path / "x.jp2"), np.zeros((9, 10), np.uint16), grid)
    with pytest.raises(OutputError, match="uint8 or uint16"):
        write_jp2(str(tmp_path / "x.jp2"), np.zeros((10, 10), np.float32), grid)


def test_boa_encoding_reproduces_the_real_digital_numbers(shared_data):
    """ρ = (DN + BOA_ADD_OFFSET) / 10000 read from the real product and re-encoded."""
    dn, _ = _read_real(shared_data, "B8A")
    rho = np.where(dn[0] == 0, np.nan, (dn[0].astype(np.float64) - 1000.0) / 10000.0)
    np.testing.assert_array_equal(encode_boa(rho, 10000, -1000), dn[0])


def test_tci_encoding_reproduces_the_real_tci(shared_data):
    """Sen2Cor's TCI_60m recomputed from its own B04/B03/B02_60m reflectances."""
    channels = []
    for band in ("B04", "B03", "B02"):
        dn, _ = _read_real(shared_data, band)
        channels.append(np.where(dn[0] == 0, np.nan, (dn[0] - 1000.0) / 10000.0))
    real, _ = _read_real(shared_data, "TCI")
    np.testing.assert_array_equal(true_colour(*channels), real)


def test_cog_of_real_boa_is_valid_and_carries_scale_and_offset(shared_data, tmp_path):
    dn, grid = _read_real(shared_data, "B02")
    out = tmp_path / "B02.tif"
    write_cog(str(out), dn[0], grid, kind="reflectance", scale=1e-4, offset=-0.1)
    assert cog_validate(str(out)) == (True, [], [])
    with rasterio.open(out) as src:
        np.testing.assert_array_equal(src.read(1), dn[0])
        assert (src.scales, src.offsets) == ((1e-4,), (-0.1,))
        assert src.block_shapes == [(512, 512)]
        assert src.transform == grid.transform
        assert src.nodata == 0


def test_classification_cog_overviews_invent_no_class(shared_data, tmp_path):
    """MODE overviews of the real SCL hold only codes of the full-resolution map."""
    scl, grid = _read_real(shared_data, "SCL")
    out = tmp_path / "SCL.tif"
    write_cog(str(out), scl[0], grid, kind="classification")
    assert cog_validate(str(out))[0]
    with rasterio.open(out) as src:
        assert src.overviews(1)
        reduced = src.read(1, out_shape=(grid.height // 4, grid.width // 4))
    assert set(np.unique(reduced)) <= set(np.unique(scl))


def test_pvi_from_the_real_tci_matches_the_real_pvi(shared_data):
    """Same 343x343 grid of 320 m pixels as Sen2Cor's PVI; values agree to a few DN (Sen2Cor's
    exact reduction filter is not documented, area averaging is the closest of GDAL's)."""
    tci, grid = _read_real(shared_data, "TCI")
    ours, pvi_grid = preview(tci, grid)
    granule = next((shared_data / L2A_REAL / "GRANULE").iterdir())
    with rasterio.open(next(granule.glob("QI_DATA/*_PVI.jp2"))) as src:
        real = src.read()
        assert (pvi_grid.width, pvi_grid.height) == (src.width, src.height) == (343, 343)
        assert pvi_grid.transform.almost_equals(src.transform, precision=1e-6)
    assert np.abs(ours.astype(int) - real).mean() < 4.0
