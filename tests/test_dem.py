"""DEM loading: synthetic Copernicus/SRTM/local tiles warped to a real Sentinel-2 tile grid.

Every tile samples one analytic elevation ``_height(lon, lat)`` at its pixel centres; the
loaded DEM is compared with the same function at the grid's pixel centres (projected with
pyproj, independently of the loader).
"""

from __future__ import annotations

import logging
import os
import socket
import zipfile
from pathlib import Path

import boto3
import numpy as np
import pytest
import rasterio
from affine import Affine
from moto.server import ThreadedMotoServer
from pyproj import Transformer
from rasterio.transform import from_bounds

from core.config.gipp import load_gipp
from core.errors import AuxiliaryDataError
from core.product.metadata import RasterGrid
from core.simulate.geometry import tile_grids
from core.terrain.dem import load_dem
from core.terrain.dem_tiles import (
    COPERNICUS_30,
    COPERNICUS_90,
    LonLatBounds,
    canonical_name,
    copernicus_names,
    srtm_names,
)

BUCKET = "copernicus-dem-30m"
TILE_PX = 360
"""Synthetic 1x1 deg tiles of 10 arc-seconds (~215 x 278 m here)."""
FINE_TOLERANCE_M = 0.25
"""Bilinear error of ``_height`` on 10" pixels (h^2/8 |f''| ~ 0.07 m) plus the warp's 0.01 px
transformer error (~0.1 m); misplacing the tiles by half a pixel would cost up to 4 m."""


def _height(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Smooth relief (wavelengths ~60 km) on a northward ramp: 200..1700 m around 46 N 7 E."""
    wave = np.sin(2 * np.pi * (lon - 6.5) / 0.8) * np.cos(2 * np.pi * (lat - 45.8) / 0.6)
    return 900.0 + 400.0 * wave + 500.0 * (lat - 45.5)


@pytest.fixture(scope="module")
def grid() -> RasterGrid:
    """60 m, 600 x 600 px window of tile 32TLR, 20 km east of its corner: spans 46 N and 7 E."""
    tile = tile_grids("32TLR", 3600)[60]
    ulx, uly = tile.transform.c + 20_000.0, tile.transform.f
    return RasterGrid(60, 600, 600, Affine(60.0, 0.0, ulx, 0.0, -60.0, uly), tile.crs_epsg)


@pytest.fixture(scope="module")
def lonlat(grid) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude of the grid's pixel centres."""
    cols, rows = np.meshgrid(np.arange(grid.width) + 0.5, np.arange(grid.height) + 0.5)
    x, y = grid.transform @ (cols, rows)
    return Transformer.from_crs(grid.crs_epsg, 4326, always_xy=True).transform(x, y)


def _write_lonlat_tile(
    path: Path, cell: LonLatBounds, size: int, dtype: str = "float32", nodata=None
) -> np.ndarray:
    """A north-up EPSG:4326 GeoTIFF of ``_height`` over ``cell``; returns the values written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lon = cell.west + (np.arange(size) + 0.5) * (cell.east - cell.west) / size
    lat = cell.north - (np.arange(size) + 0.5) * (cell.north - cell.south) / size
    values = _height(lon[None, :], lat[:, None]).astype(dtype)
    transform = from_bounds(cell.west, cell.south, cell.east, cell.north, size, size)
    with rasterio.open(
        path, "w", driver="GTiff", width=size, height=size, count=1, dtype=dtype,
        crs="EPSG:4326", transform=transform, nodata=nodata, tiled=True,
    ) as dst:  # fmt: skip
        dst.write(values, 1)
    return values


def _copernicus_tiles(root: Path, code: int, cells: list[tuple[int, int]], layout: str) -> None:
    """Copernicus-named tiles (``aws``: ``NAME/NAME.tif``; ``dged``: ``NAME.tif`` without COG)."""
    for lat, lon in cells:
        name = f"Copernicus_DSM_COG_{code}_N{lat:02d}_00_E{lon:03d}_00_DEM"
        path = root / name / f"{name}.tif"
        if layout == "dged":
            path = root / f"{name.replace('_COG', '')}.tif"
        _write_lonlat_tile(path, LonLatBounds(lon, lat, lon + 1, lat + 1), TILE_PX)


def _gipp(directory: str = "NONE", reference: str = "NONE", extra: dict | None = None):
    overrides = {
        "l2a.common_section.dem_directory": directory,
        "l2a.common_section.dem_reference": reference,
    }
    return load_gipp(overrides=overrides | {f"l2a.{k}": v for k, v in (extra or {}).items()})


ALL_CELLS = [(45, 6), (45, 7), (46, 6), (46, 7)]


def test_tile_names_follow_the_public_naming():
    """Copernicus names give the SW corner; CGIAR SRTM counts 5 deg from 180 W and 60 N."""
    assert copernicus_names(LonLatBounds(6.2, 45.1, 6.8, 45.9), COPERNICUS_30) == [
        "Copernicus_DSM_COG_10_N45_00_E006_00_DEM"
    ]
    assert copernicus_names(LonLatBounds(-73.5, -0.5, -73.2, -0.2), COPERNICUS_90) == [
        "Copernicus_DSM_COG_30_S01_00_W074_00_DEM"
    ]
    # across the antimeridian: one cell each side
    names = copernicus_names(LonLatBounds(179.5, 10.2, -179.5, 10.4), COPERNICUS_30)
    assert [name[22:] for name in names] == ["N10_00_E179_00_DEM", "N10_00_W180_00_DEM"]
    assert srtm_names(LonLatBounds(6.7, 45.7, 7.1, 46.0)) == ["srtm_38_03"]  # Alps
    assert srtm_names(LonLatBounds(-0.2, 51.4, 0.1, 51.6)) == ["srtm_36_02", "srtm_37_02"]
    assert srtm_names(LonLatBounds(-179.9, 55.5, -179.0, 59.0)) == ["srtm_01_01"]
    assert srtm_names(LonLatBounds(10.0, 61.0, 11.0, 62.0)) == []  # SRTM stops at 60 N
    assert canonical_name("Copernicus_DSM_10_N45_00_E006_00_DEM.tif") == (
        "Copernicus_DSM_COG_10_N45_00_E006_00_DEM"
    )
    assert canonical_name("SRTM_38_03.zip") == "srtm_38_03"
    assert canonical_name("my_lidar.tif") is None


@pytest.mark.parametrize(("code", "layout"), [(30, "aws"), (10, "dged")])
def test_directory_tiles_mosaicked_across_tile_boundaries(tmp_path, grid, lonlat, code, layout):
    """Four Copernicus tiles meeting at 46 N 7 E, a far tile ignored: analytic within 0.25 m."""
    lon, lat = lonlat
    assert lon.min() < 7.0 < lon.max() and lat.min() < 46.0 < lat.max()
    _copernicus_tiles(tmp_path / "dem", code, [*ALL_CELLS, (10, 100)], layout)
    dem = load_dem(grid, _gipp(str(tmp_path / "dem")))
    assert dem.dem_type == (COPERNICUS_30 if code == 10 else COPERNICUS_90)
    assert len(dem.sources) == 4 and not any("N10_00_E100" in s for s in dem.sources)
    assert dem.elevation_m.dtype == np.float32 and dem.elevation_m.shape == (600, 600)
    np.testing.assert_allclose(dem.elevation_m, _height(lon, lat), atol=FINE_TOLERANCE_M)


def test_zipped_srtm_tile_with_voids(tmp_path, grid, lonlat):
    """A CGIAR int16 SRTM tile (30", -32768 voids) in a zip: analytic within 3 m, voids filled.

    3 m: bilinear error on 30" pixels (~0.6 m) plus int16 rounding (0.5 m). A void patch
    takes the nearest valid height: within its radius times the steepest slope (~0.05 m/m).
    """
    cell = LonLatBounds(5, 45, 10, 50)
    size = 600
    lon_px = cell.west + (np.arange(size) + 0.5) * 5 / size
    lat_px = cell.north - (np.arange(size) + 0.5) * 5 / size
    tif = tmp_path / "srtm_38_03.tif"
    values = _write_lonlat_tile(tif, cell, size, dtype="int16", nodata=-32768)
    void = (np.abs(lon_px[None, :] - 6.9) < 0.03) & (np.abs(lat_px[:, None] - 45.85) < 0.03)
    values[void] = -32768
    with rasterio.open(tif, "r+") as dst:
        dst.write(values, 1)
    (tmp_path / "srtm").mkdir()
    with zipfile.ZipFile(tmp_path / "srtm" / "srtm_38_03.zip", "w") as archive:
        archive.write(tif, "srtm_38_03.tif")
    dem = load_dem(grid, _gipp(str(tmp_path / "srtm")))
    assert dem.dem_type == "SRTM" and dem.sources[0].startswith("zip://srtm_38_03.tif::")
    lon, lat = lonlat
    truth = _height(lon, lat)
    in_void = (np.abs(lon - 6.9) < 0.045) & (np.abs(lat - 45.85) < 0.045)
    assert in_void.sum() > 100
    np.testing.assert_allclose(dem.elevation_m[~in_void], truth[~in_void], atol=3.0)
    void_radius_m = 0.045 * 111_000.0
    assert np.abs(dem.elevation_m[in_void] - truth[in_void]).max() < 0.05 * void_radius_m


def test_local_dem_in_another_crs(tmp_path, grid, lonlat):
    """An unnamed GeoTIFF in ETRS89-LAEA (EPSG:3035) with 100 m pixels is found by its bounds."""
    to_laea = Transformer.from_crs(4326, 3035, always_xy=True)
    x0, y0 = to_laea.transform(6.55, 46.15)
    size, pixel = 600, 100.0
    x = x0 + (np.arange(size) + 0.5) * pixel
    y = y0 - (np.arange(size) + 0.5) * pixel
    lon, lat = Transformer.from_crs(3035, 4326, always_xy=True).transform(*np.meshgrid(x, y))
    path = tmp_path / "lidar" / "survey.tif"
    path.parent.mkdir()
    with rasterio.open(
        path, "w", driver="GTiff", width=size, height=size, count=1, dtype="float32",
        crs="EPSG:3035", transform=Affine(pixel, 0, x0, 0, -pixel, y0),
    ) as dst:  # fmt: skip
        dst.write(_height(lon, lat).astype(np.float32), 1)
    dem = load_dem(grid, _gipp(str(tmp_path / "lidar")))
    assert dem.dem_type == "LOCAL" and dem.sources == (str(path),)
    # 100 m pixels: bilinear error ~0.05 m on this relief
    np.testing.assert_allclose(dem.elevation_m, _height(*lonlat), atol=FINE_TOLERANCE_M)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's S3 server on a free port, with the environment GDAL and boto3 read."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    settings = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_copernicus_reference_on_s3_missing_tile_is_sea(tmp_path, grid, lonlat, s3_endpoint):
    """DEM_Reference s3://copernicus-dem-30m/ (/vsis3/) or its HTTP URL (/vsicurl/); the absent
    N46 E007 tile is sea at 0 m."""
    _copernicus_tiles(tmp_path, 10, ALL_CELLS[:3], "aws")
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    for path in tmp_path.rglob("*.tif"):
        key = path.relative_to(tmp_path).as_posix()
        client.upload_file(str(path), BUCKET, key, ExtraArgs={"ACL": "public-read"})
    dem = load_dem(grid, _gipp(reference=f"s3://{BUCKET}/"))
    assert dem.dem_type == COPERNICUS_30 and len(dem.sources) == 3
    assert all(s.startswith(f"s3://{BUCKET}/Copernicus_DSM_COG_10_") for s in dem.sources)
    lon, lat = lonlat
    sea = (lon > 7.0) & (lat > 46.0)
    margin = 0.01  # a source pixel or two along the coast line is interpolated across it
    land = ~((lon > 7.0 - margin) & (lat > 46.0 - margin))
    assert sea.sum() > 1000
    assert (dem.elevation_m[sea & (lon > 7.0 + margin) & (lat > 46.0 + margin)] == 0.0).all()
    np.testing.assert_allclose(
        dem.elevation_m[land], _height(lon, lat)[land], atol=FINE_TOLERANCE_M
    )
    # the same bucket as an https-style base (moto serves it over plain HTTP): /vsicurl/
    over_http = load_dem(grid, _gipp(reference=f"{s3_endpoint}/{BUCKET}/"))
    assert over_http.sources[0].startswith(f"{s3_endpoint}/{BUCKET}/Copernicus_DSM_COG_10_")
    np.testing.assert_array_equal(over_http.elevation_m, dem.elevation_m)


def test_no_dem_is_flat_at_altitude_with_a_warning(tmp_path, grid, caplog):
    """Nothing covering the tile: flat at Altitude (km -> m), dem_type NONE, logged."""
    _copernicus_tiles(tmp_path / "dem", 30, [(10, 100)], "aws")
    gipp = _gipp(str(tmp_path / "dem"), extra={"atmospheric_correction.calibration.altitude": 0.35})
    with caplog.at_level(logging.WARNING, logger="core.terrain.dem"):
        dem = load_dem(grid, gipp)
    assert dem.dem_type == "NONE" and dem.sources == ()
    assert (dem.elevation_m == np.float32(350.0)).all()
    assert str(tmp_path / "dem") in caplog.text and "flat terrain" in caplog.text
    assert load_dem(grid, _gipp()).elevation_m.max() == pytest.approx(100.0)  # cfg default


def test_force_exit_on_dem_error_names_what_was_looked_for(tmp_path, grid):
    """Force_Exit_On_DEM_Error: AuxiliaryDataError naming the folder and the reference tiles."""
    gipp = _gipp(
        str(tmp_path / "missing"),
        str(tmp_path / "copernicus-dem-90m"),
        extra={"common_section.force_exit_on_dem_error": True},
    )
    with pytest.raises(AuxiliaryDataError) as raised:
        load_dem(grid, gipp)
    message = str(raised.value)
    assert str(tmp_path / "missing") in message
    assert "Copernicus_DSM_COG_30_N46_00_E007_00_DEM" in message
