"""The L2A product writer against real Sen2Cor 2.10 products: tree and file names (real
baseline-04.00 product and ``safe-layouts/L2A_04.00.csv``), element paths of MTD_MSIL2A.xml,
MTD_TL.xml and L2A_QUALITY.xml, QI percentages, staging and ``--cr_only``."""

from __future__ import annotations

import csv
import dataclasses
import re
import socket
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import boto3
import numpy as np
import pytest
import rasterio
from l2a_fixtures import L2A_REAL, real_l1c, simulated_l1c_0400, synthetic_layers
from moto.server import ThreadedMotoServer
from rio_cogeo import cog_validate

from core.errors import OutputError
from core.io.xml import find_text, local_name
from core.product.l2a import L2AWriteOptions, write_l2a_product
from core.product.l2a_quality import image_content_qi
from core.product.metadata import ProcessingBaseline
from core.product.safe import parse_manifest

GENERATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SCHEMAS = "sen2cor-2.8/cfg/S2-PDGS-TAS-DI-PSD-V14.5_Schema"
_NAME_FIELDS = re.compile(r"T\d{2}[A-Z]{3}_\d{8}T\d{6}_")
_DS_NAME = re.compile(r"DS_\w{4}_\d{8}T\d{6}_S\d{8}T\d{6}")


def _element_paths(path: Path) -> set[str]:
    paths: set[str] = set()

    def walk(node: ET.Element, prefix: str) -> None:
        here = f"{prefix}/{local_name(node.tag)}"
        paths.add(here)
        for child in node:
            if isinstance(child.tag, str):
                walk(child, here)

    walk(ET.parse(path).getroot(), "")
    return paths


def _granule_files(safe: Path) -> set[str]:
    """``IMG_DATA/R10m/<TILE_DATE_>B02_10m.jp2``-style names of a granule's image and QI files."""
    granule = next((safe / "GRANULE").iterdir())
    return {
        _NAME_FIELDS.sub("TILE_DATE_", p.relative_to(granule).as_posix())
        for p in granule.rglob("*")
        if p.is_file() and p.parent.name != "AUX_DATA"
    }


@pytest.fixture(scope="module")
def product(shared_data: Path, tmp_path_factory) -> Path:
    l1c = real_l1c(shared_data)
    options = L2AWriteOptions(
        processing_baseline=ProcessingBaseline(4, 0), schema_dir=str(shared_data / SCHEMAS)
    )
    out = tmp_path_factory.mktemp("l2a")
    path = write_l2a_product(
        l1c,
        str(out),
        layers=synthetic_layers(l1c.metadata.grids),
        options=options,
        generation_time=GENERATED,
    )
    return Path(path)


def test_product_name_and_top_level_tree_match_sen2cor(product, shared_data):
    assert product.name == "S2A_MSIL2A_20210908T042701_N0400_R133_T46RER_20260102T030405.SAFE"
    real = shared_data / L2A_REAL
    # the reference copy lacks HTML/ (not kept by its packager); the rest is identical
    assert {p.name for p in product.iterdir()} == {p.name for p in real.iterdir()} | {"HTML"}
    assert {p.name for p in (product / "rep_info").iterdir()} == {
        p.name for p in (real / "rep_info").iterdir()
    }
    assert {p.name for p in (product / "HTML").iterdir()} == {
        "UserProduct_index.html",
        "UserProduct_index.png",
    }
    assert (next((product / "DATASTRIP").iterdir()) / "MTD_DS.xml").is_file()
    assert [p.name for p in product.parent.iterdir()] == [product.name]  # no staging left


def test_granule_files_equal_a_real_baseline_0400_product(product, shared_data):
    """Every IMG_DATA file and every L2A-made QI file of the safe-layouts list, nothing more.

    The L1C masks and QI reports (MSK_DETFOO/QUALIT/CLASSI, *_QUALITY.xml) are copies of the
    input's files; the metadata-only L1C used here has none, so they are left out of both sides.
    """
    with (shared_data / "metadata" / "safe-layouts" / "L2A_04.00.csv").open() as stream:
        real = {
            _NAME_FIELDS.sub("TILE_DATE_", "/".join(row[1].split("/")[3:]))
            for row in csv.reader(stream, delimiter=";")
            if "/GRANULE/" in row[1] and "/AUX_DATA/" not in row[1]
        }
    copied_from_l1c = re.compile(
        r"QI_DATA/(MSK_(DETFOO|QUALIT|CLASSI)_|[A-Z]+_QUALITY\.xml|FORMAT_CORRECTNESS\.xml)"
    )
    real = {f for f in real if not copied_from_l1c.match(f)}
    assert _granule_files(product) == real
    # the real product of the reference data has the same layer set where its files are present
    present = _granule_files(shared_data / L2A_REAL)
    assert {f for f in present if not copied_from_l1c.match(f)} <= real


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("MTD_MSIL2A.xml", "MTD_MSIL2A.xml"),
        ("GRANULE/*/MTD_TL.xml", "GRANULE/*/MTD_TL.xml"),
        ("GRANULE/*/QI_DATA/L2A_QUALITY.xml", "GRANULE/*/QI_DATA/L2A_QUALITY.xml"),
    ],
)
def test_metadata_has_the_element_paths_of_the_real_documents(product, shared_data, ours, theirs):
    real = next((shared_data / L2A_REAL).glob(theirs))
    assert _element_paths(next(product.glob(ours))) == _element_paths(real)


def test_product_metadata_content(product):
    text = (product / "MTD_MSIL2A.xml").read_text()
    root = ET.fromstring(text.encode())
    assert (
        root.tag
        == "{https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd}Level-2A_User_Product"
    )
    info = "General_Info/Product_Info/"
    assert find_text(root, info + "PRODUCT_URI") == product.name
    assert find_text(root, info + "PROCESSING_LEVEL") == "Level-2A"
    assert find_text(root, info + "PRODUCT_TYPE") == "S2MSI2A"
    assert find_text(root, info + "PROCESSING_BASELINE") == "04.00"
    offsets = re.findall(r'<BOA_ADD_OFFSET band_id="(\d+)">(-?\d+)<', text)
    assert offsets == [(str(i), "-1000") for i in range(13)]
    image_files = re.findall(r"<IMAGE_FILE>([^<]+)<", text)
    on_disk = {
        p.relative_to(product).with_suffix("").as_posix()
        for p in product.glob("GRANULE/*/IMG_DATA/R*m/*.jp2")
    }
    assert len(image_files) == 36
    assert set(image_files) == on_disk
    assert "MSK_CLDPRB_20m" in (next(product.glob("GRANULE/*/MTD_TL.xml"))).read_text()


def test_image_content_qi_follows_the_scene_classification(product):
    """The QI block equals the class shares of the 20 m SCL written in the product."""
    scl_path = next(product.glob("GRANULE/*/IMG_DATA/R20m/*_SCL_20m.jp2"))
    with rasterio.open(scl_path) as src:
        scl = src.read(1)
    counts = np.bincount(scl.ravel(), minlength=12)
    root = ET.parse(product / "MTD_MSIL2A.xml").getroot()
    qi = "Quality_Indicators_Info/Image_Content_QI/"
    valid = counts[1:].sum()
    assert float(find_text(root, qi + "NODATA_PIXEL_PERCENTAGE")) == pytest.approx(
        100 * counts[0] / scl.size, abs=1e-6
    )
    assert float(find_text(root, qi + "VEGETATION_PERCENTAGE")) == pytest.approx(
        100 * counts[4] / valid, abs=1e-6
    )
    cloudy = 100 * counts[8:11].sum() / valid
    assert float(find_text(root, "Quality_Indicators_Info/Cloud_Coverage_Assessment")) == (
        pytest.approx(cloudy, abs=1e-6)
    )


def test_qi_percentages_reproduce_the_real_product(shared_data):
    """Sen2Cor's own SCL_20m and AOT_20m give back the real MTD_MSIL2A.xml values."""
    granule = next((shared_data / L2A_REAL / "GRANULE").iterdir())
    with rasterio.open(next(granule.glob("IMG_DATA/R20m/*_SCL_20m.jp2"))) as src:
        scl = src.read(1)
    with rasterio.open(next(granule.glob("IMG_DATA/R20m/*_AOT_20m.jp2"))) as src:
        aot = src.read(1) / 1000.0
    qi = image_content_qi(scl, aot550=aot)
    root = ET.parse(shared_data / L2A_REAL / "MTD_MSIL2A.xml").getroot()
    block = "Quality_Indicators_Info/Image_Content_QI/"
    for name, value in qi.class_percentages.items():
        # Sen2Cor prints 6 decimals of single-precision ratios: agreement to 1e-5
        assert value == pytest.approx(float(find_text(root, block + name)), abs=1e-5), name
    assert qi.nodata_percentage == pytest.approx(
        float(find_text(root, block + "NODATA_PIXEL_PERCENTAGE")), abs=1e-5
    )
    assert qi.cloudy_percentage == pytest.approx(
        float(find_text(root, "Quality_Indicators_Info/Cloud_Coverage_Assessment")), abs=1e-5
    )
    assert qi.granule_mean_aot == pytest.approx(
        float(find_text(root, block + "GRANULE_MEAN_AOT")), abs=1e-6
    )


def test_rasters_decode_to_the_layers_written(shared_data, tmp_path):
    l1c = real_l1c(shared_data)
    layers = synthetic_layers(l1c.metadata.grids, seed=3)
    options = L2AWriteOptions(resolutions=(60,))
    safe = Path(write_l2a_product(l1c, str(tmp_path), layers=layers, options=options))
    img = next(safe.glob("GRANULE/*/IMG_DATA/R60m"))
    with rasterio.open(next(img.glob("*_B8A_60m.jp2"))) as src:
        dn = src.read(1)
        assert src.transform == l1c.metadata.grids[60].transform
    rho = layers.boa[60]["B8A"]
    decoded = np.where(dn == 0, np.nan, (dn.astype(np.float64) - 1000.0) / 10000.0)
    np.testing.assert_allclose(decoded, rho, atol=0.5e-4)  # NaN positions must agree too
    with rasterio.open(next(img.glob("*_SCL_60m.jp2"))) as src:
        np.testing.assert_array_equal(src.read(1), layers.scene_class[60])
    with rasterio.open(next(img.glob("*_AOT_60m.jp2"))) as src:
        aot = src.read(1) / 1000.0
    np.testing.assert_allclose(
        np.where(aot == 0, np.nan, aot), layers.aot550[60], atol=0.5e-3, rtol=0
    )


def test_tif_and_sc_cog_write_cloud_optimised_geotiffs(shared_data, tmp_path):
    l1c = real_l1c(shared_data)
    layers = synthetic_layers(l1c.metadata.grids)
    options = L2AWriteOptions(resolutions=(60,), image_format="TIF", sc_cog=True)
    safe = Path(write_l2a_product(l1c, str(tmp_path), layers=layers, options=options))
    img = next(safe.glob("GRANULE/*/IMG_DATA/R60m"))
    for layer in ("B02", "SCL", "AOT"):
        path = next(img.glob(f"*_{layer}_60m.tif"))
        assert cog_validate(str(path))[0], layer
    with rasterio.open(next(img.glob("*_B02_60m.tif"))) as src:
        assert (src.scales[0], src.offsets[0]) == pytest.approx((1e-4, -0.1))
    assert 'imageFormat="GEOTIFF"' in (safe / "MTD_MSIL2A.xml").read_text()


def test_sc_cog_with_jp2_bands(shared_data, tmp_path):
    l1c = real_l1c(shared_data)
    options = L2AWriteOptions(resolutions=(60,), sc_cog=True)
    layers = synthetic_layers(l1c.metadata.grids)
    safe = Path(write_l2a_product(l1c, str(tmp_path), layers=layers, options=options))
    img = next(safe.glob("GRANULE/*/IMG_DATA/R60m"))
    assert cog_validate(str(next(img.glob("*_SCL_60m.tif"))))[0]
    assert next(img.glob("*_B02_60m.jp2")).is_file()


def test_raw_writes_envi_files(shared_data, tmp_path):
    l1c = real_l1c(shared_data)
    options = L2AWriteOptions(resolutions=(60,), image_format="RAW")
    layers = synthetic_layers(l1c.metadata.grids)
    safe = Path(write_l2a_product(l1c, str(tmp_path), layers=layers, options=options))
    img = next(safe.glob("GRANULE/*/IMG_DATA/R60m"))
    raw = next(img.glob("*_B02_60m.rawl"))
    with rasterio.open(raw) as src:
        assert src.driver == "ENVI"
        assert src.crs.to_epsg() == l1c.metadata.grids[60].crs_epsg
    assert raw.with_suffix(".hdr").is_file()


def test_an_error_mid_write_leaves_neither_product_nor_staging(shared_data, tmp_path):
    l1c = real_l1c(shared_data)
    layers = synthetic_layers(l1c.metadata.grids)
    broken = dataclasses.replace(layers, wvp_cm={**layers.wvp_cm, 60: np.zeros((3, 3))})
    with pytest.raises(OutputError, match="does not match"):
        write_l2a_product(
            l1c, str(tmp_path), layers=broken, options=L2AWriteOptions(resolutions=(20, 60))
        )
    assert list(tmp_path.iterdir()) == []


def test_an_existing_product_is_not_overwritten_silently(shared_data, tmp_path):
    l1c = real_l1c(shared_data)
    options = L2AWriteOptions(resolutions=())
    first = write_l2a_product(
        l1c, str(tmp_path), layers=None, options=options, generation_time=GENERATED
    )
    marker = Path(first) / "MTD_MSIL2A.xml"
    marker.write_text("old")
    with pytest.raises(OutputError, match="already exists"):
        write_l2a_product(
            l1c, str(tmp_path), layers=None, options=options, generation_time=GENERATED
        )
    assert marker.read_text() == "old"
    again = write_l2a_product(
        l1c,
        str(tmp_path),
        layers=None,
        options=dataclasses.replace(options, overwrite=True),
        generation_time=GENERATED,
    )
    assert again == first
    assert marker.read_text() != "old"
    assert [p.name for p in tmp_path.iterdir()] == [Path(first).name]


def test_cr_only_creates_the_tree_and_metadata_without_rasters(shared_data, tmp_path):
    l1c = real_l1c(shared_data)
    safe = Path(write_l2a_product(l1c, str(tmp_path), layers=None, options=L2AWriteOptions()))
    granule = next((safe / "GRANULE").iterdir())
    for res in (10, 20, 60):
        assert (granule / "IMG_DATA" / f"R{res}m").is_dir()
        assert list((granule / "IMG_DATA" / f"R{res}m").iterdir()) == []
    assert not list(safe.rglob("*.jp2"))
    assert {p.name for p in safe.iterdir()} >= {"MTD_MSIL2A.xml", "manifest.safe", "INSPIRE.xml"}
    text = (safe / "MTD_MSIL2A.xml").read_text()
    assert "<IMAGE_FILE>" not in text
    assert "--cr_only" in text
    assert "Image_Content_QI" not in text
    tile = (granule / "MTD_TL.xml").read_text()
    assert "GRANULE/L1C_" not in tile  # masks and PVI point into the L2A granule
    assert f"GRANULE/{granule.name}/QI_DATA/" in tile
    assert not (granule / "QI_DATA" / "L2A_QUALITY.xml").exists()
    assert "_N9999_" in safe.name


def test_manifest_lists_every_file_with_size(product):
    manifest = ET.parse(product / "manifest.safe").getroot()
    listed = {
        loc.get("href", "")[2:]: int(stream.get("size", "-1"))
        for stream in manifest.iter("byteStream")
        for loc in stream.iter("fileLocation")
    }
    on_disk = {
        p.relative_to(product).as_posix(): p.stat().st_size
        for p in product.rglob("*")
        if p.is_file() and p.name != "manifest.safe"
    }
    assert listed == on_disk
    # the project's SAFE reader finds the L2A documents through it, as through a real manifest
    parsed = parse_manifest((product / "manifest.safe").read_bytes(), path="manifest.safe")
    assert parsed.level == "Level-2A"
    assert parsed.href("S2_Level-2A_Product_Metadata") == "MTD_MSIL2A.xml"
    assert parsed.first("S2_Level-2A_Tile", "_Metadata") == next(
        p.relative_to(product).as_posix() for p in product.glob("GRANULE/*/MTD_TL.xml")
    )


@pytest.fixture
def s3_bucket(monkeypatch):
    """A real S3 API (moto's HTTP server on a free local port) with an empty bucket."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for key, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket="l2a-output")
    yield client
    server.stop()


def test_s3_output_holds_the_local_product_and_is_not_overwritten(shared_data, s3_bucket, tmp_path):
    l1c = real_l1c(shared_data)
    options = L2AWriteOptions(resolutions=(60,))
    layers = synthetic_layers(l1c.metadata.grids)
    uri = write_l2a_product(
        l1c, "s3://l2a-output/out", layers=layers, options=options, generation_time=GENERATED
    )
    local = Path(
        write_l2a_product(
            l1c, str(tmp_path), layers=layers, options=options, generation_time=GENERATED
        )
    )
    assert uri == f"s3://l2a-output/out/{local.name}"
    keys = [o["Key"] for o in s3_bucket.list_objects_v2(Bucket="l2a-output")["Contents"]]
    expected = {
        f"out/{local.name}/{p.relative_to(local).as_posix()}"
        for p in local.rglob("*")
        if p.is_file()
    }
    assert set(keys) == expected
    with pytest.raises(OutputError, match="already exists"):
        write_l2a_product(
            l1c, "s3://l2a-output/out", layers=layers, options=options, generation_time=GENERATED
        )


@pytest.mark.parametrize(
    ("xsd", "document"),
    [
        ("S2_User_Product_Level-2A_Metadata.xsd", "MTD_MSIL2A.xml"),
        ("S2_PDI_Level-2A_Tile_Metadata.xsd", "GRANULE/*/MTD_TL.xml"),
    ],
)
def test_metadata_breaks_the_official_schema_only_where_sen2cor_does(
    product, shared_data, xsd, document
):
    """Validated against the official PSD 14.5 L2A schema: the real Sen2Cor 2.10 documents
    (PSD 14.8 content) fail it on newer elements; ours must fail on nothing else."""
    xmlschema = pytest.importorskip("xmlschema", reason="xmlschema validates XML Schema 1.0")
    schema = xmlschema.XMLSchema(str(shared_data / SCHEMAS / xsd))

    def errors(path: Path) -> set[tuple[str | None, str | None]]:
        return {(e.path, e.reason) for e in schema.iter_errors(str(path))}

    ours = errors(next(product.glob(document)))
    real = errors(next((shared_data / L2A_REAL).glob(document)))
    assert ours <= real


def test_product_from_a_complete_0400_l1c_has_every_file_of_a_real_product(shared_data, tmp_path):
    """From a full baseline-04.00 L1C (simulated, with JP2 masks and QI reports), the granule
    holds exactly the files of the real products listed in ``safe-layouts/L2A_04.00.csv``,
    copied L1C masks and reports included."""
    l1c = simulated_l1c_0400(tmp_path / "l1c")
    layers = synthetic_layers(l1c.metadata.grids, seed=9)
    options = L2AWriteOptions(processing_baseline=ProcessingBaseline(4, 0))
    safe = Path(write_l2a_product(l1c, str(tmp_path / "l2a"), layers=layers, options=options))
    with (shared_data / "metadata" / "safe-layouts" / "L2A_04.00.csv").open() as stream:
        rows = [row[1].split("/", 1)[1] for row in csv.reader(stream, delimiter=";")]
    real_granule = {
        _NAME_FIELDS.sub("TILE_DATE_", "/".join(r.split("/")[2:]))
        for r in rows
        if r.startswith("GRANULE/")
    }
    assert _granule_files(safe) == {f for f in real_granule if not f.startswith("AUX_DATA/")}
    granule = next((safe / "GRANULE").iterdir())
    assert sorted(p.name for p in (granule / "AUX_DATA").iterdir()) == ["AUX_CAMSFO", "AUX_ECMWFT"]
    real_ds = {_DS_NAME.sub("DS", r) for r in rows if r.startswith("DATASTRIP/")}
    ours_ds = {
        _DS_NAME.sub("DS", p.relative_to(safe).as_posix())
        for p in (safe / "DATASTRIP").rglob("*")
        if p.is_file()
    }
    assert ours_ds == real_ds
    tile = ET.parse(next(safe.glob("GRANULE/*/MTD_TL.xml"))).getroot()
    listed = [
        node.text
        for node in tile.iter()
        if local_name(node.tag) in ("MASK_FILENAME", "PVI_FILENAME")
    ]
    real_tile = next((shared_data / L2A_REAL).glob("GRANULE/*/MTD_TL.xml")).read_text()
    assert len(listed) == real_tile.count("<MASK_FILENAME") + real_tile.count("<PVI_FILENAME")
    assert all((safe / str(path)).is_file() for path in listed)
