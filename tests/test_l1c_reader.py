"""open_l1c on every real metadata set, and windowed reads of a small real-metadata SAFE."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from l1c_helpers import (
    GRANULE,
    SOURCE,
    ULX,
    ULY,
    band_dn,
    build_mini_safe,
    fit_tile_grid,
    write_jp2,
    zip_safe,
)
from rasterio.windows import Window

from core.errors import MissingBandError, ProductFormatError, UnsupportedProductError
from core.io.xml import parse_xml_bytes
from core.product.aws_layout import parse_tile_info
from core.product.l1c import open_l1c
from core.product.l1c_mtd import parse_product_metadata, parse_tile_metadata

META = "metadata"
L2A_MESSAGE = "is a Level-2A product"
OLD_MESSAGE = "pre-2017 multi-tile"
OLD_PRODUCT = "S2A_OPER_PRD_MSIL1C_PDMC_20160905T104813_R002_V20160905T005712_20160905T010424.SAFE"
AWS_L1C = "S2A_OPER_MSI_L1C_TL_SGS__20181231T203637_A018414_T10SDG"


def _candidates(shared: Path) -> list[Path]:
    """Every product-like entry of the real metadata sets and of l1c-real."""
    found = []
    folders = ("stactools-sentinel2", "s2reader", "s2reader/compact_safe", "s2reader/safe")
    for folder in (*folders, "s2reader/zipped_safe"):
        for path in sorted((shared / META / folder).iterdir()):
            if path.suffix.upper() in (".SAFE", ".ZIP") or (path / "tileInfo.json").exists():
                found.append(path)
    found += sorted((shared / "l1c-real").iterdir())
    return found


def _first_group(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match is not None, pattern
    return match.group(1)


def _xml_value(text: str, tag: str) -> str:
    return _first_group(rf"<{tag}(?:\s[^>]*)?>\s*([^<]+?)\s*</{tag}>", text)


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _check_against_xml(product, mtd_text: str, tl_text: str) -> None:
    m = product.metadata
    assert m.product_uri == _xml_value(mtd_text, "PRODUCT_URI")
    assert f"_T{m.tile_id}_" in m.product_uri or m.tile_id in m.granule_id
    assert str(m.processing_baseline) == _xml_value(mtd_text, "PROCESSING_BASELINE")
    assert m.product_start_time == _iso(_xml_value(mtd_text, "PRODUCT_START_TIME"))
    assert m.generation_time == _iso(_xml_value(mtd_text, "GENERATION_TIME"))
    assert m.sensing_time == _iso(_xml_value(tl_text, "SENSING_TIME"))
    assert m.relative_orbit == int(_xml_value(mtd_text, "SENSING_ORBIT_NUMBER"))
    assert m.spacecraft_name == _xml_value(mtd_text, "SPACECRAFT_NAME")
    assert m.mission_id == m.product_uri[:3]
    assert m.quantification_value == float(_xml_value(mtd_text, "QUANTIFICATION_VALUE"))
    assert m.u_earth_sun == float(_xml_value(mtd_text, "U"))
    epsg = int(_xml_value(tl_text, "HORIZONTAL_CS_CODE").split(":")[1])
    assert {g.crs_epsg for g in m.grids.values()} == {epsg}
    assert m.grids[10].width == m.grids[60].width * 6 == 10980
    assert m.grids[10].transform.c == float(_xml_value(tl_text, "ULX"))
    mean_sun = _first_group(r"<Mean_Sun_Angle>\s*<ZENITH_ANGLE[^>]*>([\d.]+)<", tl_text)
    assert m.mean_sun_zenith == float(mean_sun)
    assert m.cloud_coverage_assessment == float(_xml_value(mtd_text, "Cloud_Coverage_Assessment"))
    assert m.sun_angles is not None and m.sun_angles.zenith.shape == (23, 23)
    assert len(m.viewing_angles) == 13 and len(m.mean_viewing_angles) == 13
    assert len(m.solar_irradiance) == 13 and len(product.files.bands) == 13
    assert m.psd_version.startswith(_first_group(r"psd-(\d\d)", mtd_text))
    assert m.footprint_wkt.startswith("POLYGON ((")


def _text_of(uri: str) -> str:
    if uri.startswith("zip://"):
        member, archive = uri[len("zip://") :].split("::")
        with zipfile.ZipFile(archive) as zf:
            return zf.read(member).decode()
    return Path(uri).read_text()


def test_every_real_metadata_set_parses_or_is_refused(shared_data):
    parsed, refused = [], []
    for path in _candidates(shared_data):
        name = path.name
        try:
            product = open_l1c(str(path))
        except UnsupportedProductError as err:
            message = str(err)
            assert str(path) in message
            if "OPER_PRD_MSIL1C" in name:
                assert OLD_MESSAGE in message
            else:
                assert "L2A" in name.upper() and L2A_MESSAGE in message
            refused.append(name)
            continue
        except ProductFormatError as err:
            # Only metadata-incomplete folders may fail: an AWS-layout tile without metadata.xml
            # or product metadata, or a pixel crop that has no XML at all.
            assert (path / "tileInfo.json").exists() or not list(path.glob("*.xml")), err
            assert "metadata" in str(err) and str(path) in str(err)
            refused.append(name)
            continue
        _check_against_xml(
            product, _text_of(product.files.product_metadata), _text_of(product.files.tile_metadata)
        )
        expected = path / "expected_output.json"
        if expected.exists():
            props = json.loads(expected.read_text())["properties"]
            m = product.metadata
            assert m.product_start_time == _iso(props["datetime"])
            assert m.cloud_coverage_assessment == pytest.approx(props["eo:cloud_cover"])
            assert f"EPSG:{m.grids[10].crs_epsg}" == props["proj:code"]
            assert str(m.processing_baseline) == props["s2:processing_baseline"]
            assert m.granule_id == props["s2:tile_id"]
            assert 90.0 - m.mean_sun_zenith == pytest.approx(props["view:sun_elevation"])
            assert m.mean_sun_azimuth == pytest.approx(props["view:sun_azimuth"])
        parsed.append(name)
    # Compact L1C: 2 stactools (incl. the antimeridian T01LAC), s2reader folder x2 + 3 zips.
    assert len(parsed) == 7, parsed
    assert sum(OLD_MESSAGE in n or "OPER_PRD" in n for n in refused) == 2


def test_loose_hls_metadata_files(shared_data):
    folder = shared_data / META / "hls-utilities"
    mtd = folder / "MTD_MSIL1C.xml"
    product = parse_product_metadata(
        parse_xml_bytes(mtd.read_bytes(), path=str(mtd)), path=str(mtd)
    )
    text = mtd.read_text()
    assert str(product.processing_baseline) == _xml_value(text, "PROCESSING_BASELINE")
    assert product.solar_irradiance["B12"] == float(
        _first_group(r'bandId="12"[^>]*>([\d.]+)<', text)
    )
    tl = folder / "MTD_TL.xml"
    tile = parse_tile_metadata(parse_xml_bytes(tl.read_bytes(), path=str(tl)), path=str(tl))
    assert tile.tile_id == "19XEL" and tile.grids[20].crs_epsg == 32619
    espa = folder / "S2A_MSI_L1C_T17RKP_20200426_20200426.xml"
    with pytest.raises(UnsupportedProductError, match="unknown product level"):
        parse_product_metadata(parse_xml_bytes(espa.read_bytes(), path=str(espa)), path=str(espa))


def test_aws_layout_tile_info_and_refusals(shared_data):
    aws_l1c = shared_data / META / "stactools-sentinel2" / AWS_L1C
    for folder in (shared_data / "l1c-real" / "T19UDP_20170729_overview", aws_l1c):
        raw = json.loads((folder / "tileInfo.json").read_text())
        info = parse_tile_info((folder / "tileInfo.json").read_bytes(), path=str(folder))
        assert info.tile_id == f"{raw['utmZone']}{raw['latitudeBand']}{raw['gridSquare']}"
        assert info.epsg == int(raw["tileOrigin"]["crs"]["properties"]["name"].rsplit(":", 1)[1])
        assert info.cloudy_pixel_percentage == raw["cloudyPixelPercentage"]
        with pytest.raises(ProductFormatError, match="metadata"):
            open_l1c(str(folder))
    # The AWS tile metadata.xml itself parses (tile id, EPSG, sun angles vs stactools' item).
    folder = aws_l1c
    tile = parse_tile_metadata(
        parse_xml_bytes((folder / "metadata.xml").read_bytes(), path="m"), path="m"
    )
    props = json.loads((folder / "expected_output.json").read_text())["properties"]
    assert tile.granule_id == props["s2:tile_id"] and tile.tile_id == "10SDG"
    assert f"EPSG:{tile.grids[60].crs_epsg}" == props["proj:code"]
    assert tile.sensing_time == _iso(props["datetime"])


@pytest.fixture
def mini_safe(shared_data, tmp_path) -> Path:
    return build_mini_safe(shared_data, tmp_path)


def test_windowed_toa_follows_sen2cor_resampling(mini_safe):
    product = open_l1c(str(mini_safe))
    dn10 = band_dn("B02", 10)
    assert (product.read_dn("B02", 10) == dn10).all()
    # native: rho = DN / 10000 (baseline 02.04 has no offset)
    toa = product.read_toa("B02", 10, Window(0, 0, 8, 4))
    expected = dn10[:4, :8] / 10000.0
    assert toa.nodata[0, :3].all() and not toa.nodata[1:].any()
    np.testing.assert_allclose(toa.reflectance[~toa.nodata], expected[~toa.nodata], rtol=1e-6)
    # 10 -> 20 m: 2x2 block mean; a block touching DN 0 is no-data, touching 65535 is saturated
    toa20 = product.read_toa("B02", 20)
    blocks = dn10.reshape(60, 2, 60, 2).astype(float).mean(axis=(1, 3)) / 10000.0
    assert toa20.nodata[0, :2].all() and toa20.saturated[-1, -1]
    valid = ~toa20.nodata
    np.testing.assert_allclose(toa20.reflectance[valid], blocks[valid], rtol=1e-6)
    # 20 -> 10 m: bicubic; at the centre of a 2x2 block of a constant region it is that value,
    # and every value stays within the physically possible range.
    toa_up = product.read_toa("B8A", 10, Window(10, 10, 40, 40))
    assert toa_up.reflectance.shape == (40, 40)
    assert np.isfinite(toa_up.reflectance).all()
    dn20 = band_dn("B8A", 20)[5:25, 5:25] / 10000.0
    assert abs(toa_up.reflectance.mean() - dn20.mean()) < 0.01
    # B09 (60 m) to 20 m uses bilinear: bounded by the native extremes
    b09 = product.read_toa("B09", 20, Window(3, 3, 30, 30))
    native = band_dn("B09", 60)[1:11, 1:11] / 10000.0
    assert (
        native.min() - 1e-6 <= b09.reflectance.min()
        and b09.reflectance.max() <= native.max() + 1e-6
    )


def test_zipped_safe_reads_like_the_folder(mini_safe, tmp_path):
    archive = zip_safe(mini_safe, tmp_path / "product.zip")
    zipped = open_l1c(str(archive))
    folder = open_l1c(str(mini_safe))
    assert zipped.metadata.tile_id == folder.metadata.tile_id == "32TNM"
    assert zipped.files.bands["B11"].startswith("zip://")
    window = Window(5, 7, 20, 10)
    np.testing.assert_array_equal(
        zipped.read_dn("B11", 20, window), folder.read_dn("B11", 20, window)
    )


def test_missing_product_metadata(mini_safe):
    (mini_safe / "MTD_MSIL1C.xml").unlink()
    with pytest.raises(ProductFormatError, match=r"MTD_MSIL1C\.xml: file not found"):
        open_l1c(str(mini_safe))
    (mini_safe / "manifest.safe").unlink()
    with pytest.raises(ProductFormatError, match=r"no MTD_MSIL1C\.xml"):
        open_l1c(str(mini_safe))


def test_truncated_and_corrupt_xml(mini_safe):
    tile = mini_safe / GRANULE / "MTD_TL.xml"
    tile.write_bytes(tile.read_bytes()[:5000])
    with pytest.raises(ProductFormatError, match=r"MTD_TL\.xml: malformed XML"):
        open_l1c(str(mini_safe))
    (mini_safe / "MTD_MSIL1C.xml").write_bytes(b"\x00\x01garbage")
    with pytest.raises(ProductFormatError, match=r"MTD_MSIL1C\.xml: malformed XML"):
        open_l1c(str(mini_safe))


def test_missing_and_non_jp2_band(mini_safe):
    product = open_l1c(str(mini_safe))
    b03 = Path(product.files.bands["B03"])
    b03.unlink()
    with pytest.raises(MissingBandError, match=r"B03\.jp2: band B03 file is missing"):
        product.read_toa("B02", 10)  # every band is checked before the first read
    write_jp2(b03, band_dn("B03", 10), 10)
    b04 = Path(product.files.bands["B04"])
    b04.unlink()
    with rasterio.open(
        b04,
        "w",
        driver="GTiff",
        width=12,
        height=12,
        count=1,
        dtype="uint16",
        crs="EPSG:32632",
        transform=Affine(10, 0, ULX, 0, -10, ULY),
    ) as dst:
        dst.write(np.ones((1, 12, 12), dtype=np.uint16))
    with pytest.raises(
        ProductFormatError, match=r"B04\.jp2: expected a JP2OpenJPEG raster, found GTiff"
    ):
        product.read_dn("B04", 10)


def test_level_2a_content_is_refused_even_when_renamed(shared_data, tmp_path):
    source = (
        shared_data
        / META
        / "stactools-sentinel2"
        / "S2B_MSIL2A_20220413T150759_N0400_R025_T33XWJ_20220414T082126.SAFE"
    )
    renamed = tmp_path / SOURCE
    shutil.copytree(source, renamed)
    with pytest.raises(UnsupportedProductError, match=L2A_MESSAGE):
        open_l1c(str(renamed))


def test_aws_layout_tile_with_bucket_product_metadata(shared_data, tmp_path):
    """A bucket-shaped copy of the real T32TNM product: its MTD_TL.xml as the tile
    ``metadata.xml``, its MTD_MSIL1C.xml under ``products/<productPath>/metadata.xml``, a
    ``tileInfo.json`` with the keys of the real T19UDP one, and tiny JP2 bands ``B05.jp2``."""
    source = shared_data / META / "s2reader" / SOURCE
    info = json.loads(
        (shared_data / "l1c-real" / "T19UDP_20170729_overview" / "tileInfo.json").read_text()
    )
    name = SOURCE.removesuffix(".SAFE")
    info |= {
        "path": "tiles/32/T/NM/2017/2/26/0",
        "utmZone": 32,
        "latitudeBand": "T",
        "gridSquare": "NM",
        "timestamp": "2017-02-26T10:24:58.000Z",
        "productName": name,
        "productPath": f"products/2017/2/26/{name}",
    }
    info["tileGeometry"]["crs"]["properties"]["name"] = "urn:ogc:def:crs:EPSG:8.8.1:32632"
    tile = tmp_path / info["path"]
    tile.mkdir(parents=True)
    (tile / "tileInfo.json").write_text(json.dumps(info))
    shutil.copyfile(source / GRANULE / "MTD_TL.xml", tile / "metadata.xml")
    fit_tile_grid(tile / "metadata.xml")
    product_dir = tmp_path / info["productPath"]
    product_dir.mkdir(parents=True)
    shutil.copyfile(source / "MTD_MSIL1C.xml", product_dir / "metadata.xml")
    write_jp2(tile / "B05.jp2", band_dn("B05", 20), 20)
    product = open_l1c(str(tile))
    assert product.files.product_metadata == str(product_dir / "metadata.xml")
    assert product.files.tile_metadata == str(tile / "metadata.xml")
    assert list(product.files.bands) == ["B05"]
    m = product.metadata
    tl_text = (source / GRANULE / "MTD_TL.xml").read_text()
    assert m.tile_id == "32TNM" and m.grids[20].crs_epsg == 32632
    assert m.sensing_time == _iso(_xml_value(tl_text, "SENSING_TIME"))
    toa = product.read_toa("B05", 60, Window(0, 0, 20, 20))
    expected = band_dn("B05", 20).reshape(20, 3, 20, 3).astype(float).mean(axis=(1, 3)) / 10000.0
    np.testing.assert_allclose(toa.reflectance[~toa.nodata], expected[~toa.nodata], rtol=1e-6)
    # product metadata of another tile is refused, naming both
    shutil.copyfile(
        shared_data / META / "hls-utilities" / "MTD_MSIL1C.xml", product_dir / "metadata.xml"
    )
    with pytest.raises(ProductFormatError, match="no granule of tile 32TNM"):
        open_l1c(str(tile))


def test_old_multi_tile_product_tile_by_tile(shared_data):
    base = shared_data / META / "s2reader" / OLD_PRODUCT
    with pytest.raises(UnsupportedProductError, match=r"tiles 53HLA, 53HMA, .*tile='<tile id>'"):
        open_l1c(str(base))
    product = open_l1c(str(base), tile="T53HPA")
    tl_path = next((base / "GRANULE").glob("*_T53HPA_*/*.xml"))
    tl_text = tl_path.read_text()
    m = product.metadata
    assert product.files.tile_metadata == str(tl_path)
    assert m.tile_id == "53HPA" and m.granule_id == _xml_value(tl_text, "TILE_ID")
    assert m.sensing_time == _iso(_xml_value(tl_text, "SENSING_TIME"))
    assert m.grids[10].crs_epsg == int(_xml_value(tl_text, "HORIZONTAL_CS_CODE").split(":")[1])
    assert m.cloud_coverage_assessment == float(_xml_value(tl_text, "CLOUDY_PIXEL_PERCENTAGE"))
    assert product.files.bands["B8A"].endswith(
        f"{m.granule_id}/IMG_DATA/{m.granule_id[:-7]}_B8A.jp2"
    )
    with pytest.raises(ProductFormatError, match="no granule of tile 33UUU"):
        open_l1c(str(base), tile="33UUU")


def test_upsampling_is_pixel_centre_aligned(mini_safe):
    """Cubic convolution reproduces a linear ramp exactly, so up-sampled values reveal any
    half-pixel shift: the 10 m pixel centre (c + 0.5) * 10 m lies at 20 m pixel coordinate
    (c + 0.5) / 2 - 0.5 from the first 20 m pixel centre. GDAL rounds interpolated values to
    the file's integer type (0.5 DN at most); a half-pixel shift would cost 2.5 to 5 DN."""
    rows, cols = np.mgrid[0:60, 0:60]
    ramp = (1000 + 10 * cols + 20 * rows).astype(np.uint16)
    product = open_l1c(str(mini_safe))
    write_jp2(Path(product.files.bands["B8A"]), ramp, 20)
    window = Window(21, 31, 40, 30)  # odd offsets: the window starts inside a 20 m pixel
    dn = product.read_toa("B8A", 10, window).reflectance * 10000.0
    r10, c10 = np.mgrid[31:61, 21:61]
    expected = 1000 + 10 * ((c10 + 0.5) / 2 - 0.5) + 20 * ((r10 + 0.5) / 2 - 0.5)
    np.testing.assert_allclose(dn, expected, atol=0.51)


def _rewrite_b05(product, *, size: int = 60, crs: str | None = "EPSG:32632", uly: float = ULY):
    """B05 (20 m) rewritten with ``size`` px, ``crs`` and upper-left y (no georeferencing if
    ``crs`` is None)."""
    georef = {"crs": crs, "transform": Affine(20, 0, ULX, 0, -20, uly)} if crs else {}
    with rasterio.open(
        product.files.bands["B05"],
        "w",
        driver="JP2OpenJPEG",
        width=size,
        height=size,
        count=1,
        dtype="uint16",
        QUALITY=100,
        REVERSIBLE="YES",
        **georef,
    ) as dst:
        dst.write(band_dn("B05", 20)[:size, :size], 1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"size": 55}, r"B05\.jp2: raster is 55 x 55 px, the 20 m tile grid .* is 60 x 60 px"),
        ({"crs": "EPSG:32631"}, r"B05\.jp2: raster CRS is EPSG:32631, .* is EPSG:32632"),
        ({"uly": ULY + 20}, r"B05\.jp2: raster geotransform .* differs from the tile grid"),
    ],
)
def test_band_off_the_tile_grid_is_refused_before_any_read(mini_safe, change, message):
    """The 20 m grid of the (shrunk) MTD_TL.xml is 60 x 60 px in EPSG:32632 at (ULX, ULY); a
    B05 that differs in size, CRS or origin (one 20 m pixel) refuses a read of any band."""
    product = open_l1c(str(mini_safe))
    _rewrite_b05(product, **change)
    with pytest.raises(ProductFormatError, match=message):
        product.read_toa("B02", 20)


def test_band_without_georeferencing_is_placed_by_the_tile_grid(mini_safe):
    product = open_l1c(str(mini_safe))
    _rewrite_b05(product, crs=None)
    with rasterio.open(product.files.bands["B05"]) as src:
        assert src.crs is None
    np.testing.assert_array_equal(product.read_dn("B05", 20), band_dn("B05", 20))


@pytest.mark.parametrize(("baseline", "refused"), [("01.00", True), ("02.00", False)])
def test_baselines_before_02_00_are_refused(shared_data, baseline, refused):
    """02.00 is the first operational L1C baseline (PSD 14); newer ones stay accepted."""
    path = shared_data / META / "s2reader" / SOURCE / "MTD_MSIL1C.xml"
    text = re.sub(
        r"<PROCESSING_BASELINE>[^<]*<", f"<PROCESSING_BASELINE>{baseline}<", path.read_text()
    )
    root = parse_xml_bytes(text.encode(), path=str(path))
    if refused:
        with pytest.raises(UnsupportedProductError, match=rf"MTD_MSIL1C\.xml: .*{baseline}"):
            parse_product_metadata(root, path=str(path))
    else:
        assert str(parse_product_metadata(root, path=str(path)).processing_baseline) == baseline
