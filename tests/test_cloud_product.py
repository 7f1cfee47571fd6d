"""``write_cloud_product``: COG assets against the simulator's truth, the item, S3 output.

The scene is a small simulated L1C (600 px at 10 m, swath edge inside so there is no-data); its
layers are the project's scene classification plus the simulator's true BOA, AOT and water
vapour, so every encoded pixel can be checked against an independent value.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import boto3
import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from core.bands import band as band_info
from core.config.gipp import load_gipp
from core.config.options import ProcessingOptions
from core.io.raster import gdal_env
from core.pipeline import scene_classification_layers
from core.product.cloud_product import THUMBNAIL_FILE, write_cloud_product
from core.product.l1c import L1CProduct, open_l1c
from core.product.l2a import L2ALayers
from core.product.l2a_quality import SceneClass, image_content_qi
from core.product.l2a_rasters import BOA_BANDS
from core.product.metadata import ProcessingBaseline, RasterGrid
from core.simulate.forward import NodeGrid, simulate_scene
from core.simulate.geometry import simulate_geometry
from core.simulate.l1c_safe import write_l1c_safe
from core.simulate.scene import SceneSpec
from core.stac.assets import LayerAsset
from core.stac.catalog import add_item
from core.stac.collection import COLLECTION_ID, create_collection
from core.stac.validate import validate_item

SIZE = 600
"""10 m pixels: 600/300/100 px grids, so the 10 m COGs have one overview level."""
BOA_TOLERANCE = 0.5e-4 + 1e-6
"""Half a DN of 0.0001 (rounding) plus float32 noise."""
SCALED_TOLERANCE = 0.5e-3 + 1e-6
"""Half a DN of 0.001 (AOT, WVP)."""
HOLE = (slice(0, 12), slice(0, 12))
"""A block of 60 m pixels (and the 10/20 m pixels under it) set to no-data in the BOA."""


def _read_tif(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[L1CProduct, L2ALayers, Path]:
    """The simulated L1C, its layers (SC + true BOA/AOT/WV with a no-data hole) and truth/."""
    spec = SceneSpec(size=SIZE, seed=11, swath_edge=True, cloud_fraction=0.2)
    simulated = simulate_scene(
        spec,
        simulate_geometry(spec),
        nodes=NodeGrid(1, 1, 1, 1),
        cache_dir=tmp_path_factory.mktemp("sixs"),
    )
    safe = Path(write_l1c_safe(simulated, str(tmp_path_factory.mktemp("l1c"))))
    truth = safe.parent / "truth"
    l1c = open_l1c(str(safe))
    options = ProcessingOptions(input_dir=str(safe), sc_only=True)
    classified = scene_classification_layers(l1c, options, load_gipp(), (20, 60))
    boa: dict[int, dict[str, np.ndarray]] = {}
    for res, bands in BOA_BANDS.items():
        factor = 60 // res
        hole = (slice(0, 12 * factor), slice(0, 12 * factor))
        boa[res] = {}
        for band in (b for b in bands if band_info(b).resolution <= res):  # truth: no upsampling
            rho = _read_tif(truth / f"BOA_{band}_{res}m.tif").astype(np.float32)
            rho[hole] = np.nan
            boa[res][band] = rho
    layers = dataclasses.replace(
        classified,
        boa=boa,
        aot550={res: _read_tif(truth / f"AOT_{res}m.tif") for res in (20, 60)},
        wvp_cm={res: _read_tif(truth / f"WV_{res}m.tif") for res in (20, 60)},
    )
    return l1c, layers, truth


@pytest.fixture(scope="module")
def product(scene, tmp_path_factory):
    l1c, layers, _ = scene
    out = tmp_path_factory.mktemp("cloud")
    return write_cloud_product(
        l1c,
        layers,
        str(out),
        publish_uri="s3://published/l2a/scene",
        l1c_href="s3://input/l1c.SAFE",
        processing_baseline=ProcessingBaseline(5, 11),
    ), out


def test_every_file_is_a_valid_cog_with_512_blocks(product) -> None:
    result, out = product
    cogs = [Path(f) for f in result.files if f.endswith(".tif")]
    assert len(cogs) == len(list(out.glob("*.tif"))) > 30
    for path in cogs:
        valid, errors, _ = cog_validate(str(path), quiet=True)
        assert valid, (path.name, errors)
        with rasterio.open(path) as src:
            assert src.block_shapes[0] == (512, 512)
            assert src.nodata == 0
            assert src.compression.name in ("zstd", "deflate")
            assert src.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "2"
    with rasterio.open(out / "B02.tif") as src:
        assert src.overviews(1) == [2]  # 600 px > one 512 block


def test_boa_dn_round_trips_to_the_true_reflectance(product, scene) -> None:
    result, out = product
    _, layers, _ = scene
    checked = 0
    for res, bands in layers.boa.items():
        for band, rho in bands.items():
            asset = LayerAsset("boa", res, band)
            with rasterio.open(out / asset.file_name) as src:
                dn = src.read(1)
                scale, offset = src.scales[0], src.offsets[0]
            assert (scale, offset) == (pytest.approx(1e-4), pytest.approx(-0.1))
            stac = result.item.assets[asset.key].extra_fields["raster:bands"][0]
            assert (stac["scale"], stac["offset"]) == (scale, offset)  # same in STAC and TIFF
            nodata = ~np.isfinite(rho)
            np.testing.assert_array_equal(dn == 0, nodata)
            back = dn.astype(np.float64) * scale + offset
            np.testing.assert_allclose(back[~nodata], rho[~nodata], atol=BOA_TOLERANCE, rtol=0)
            checked += 1
    assert checked == sum(len(b) for b in layers.boa.values()) > 20


def test_aot_and_wvp_scaled_by_1000(product, scene) -> None:
    result, out = product
    _, layers, _ = scene
    for key, name, truth in (
        ("aot", "AOT.tif", layers.aot550[20]),
        ("wvp", "WVP.tif", layers.wvp_cm[20]),
    ):
        with rasterio.open(out / name) as src:
            value = src.read(1) * src.scales[0] + src.offsets[0]
            assert src.scales[0] == pytest.approx(1e-3)
        np.testing.assert_allclose(value, truth, atol=SCALED_TOLERANCE, rtol=0)
        assert result.item.assets[key].extra_fields["raster:bands"][0]["scale"] == pytest.approx(
            1e-3
        )
    assert result.item.assets["wvp"].extra_fields["raster:bands"][0]["unit"] == "cm"


def test_scl_and_probabilities_are_written_unchanged(product, scene) -> None:
    _, out = product
    _, layers, _ = scene
    np.testing.assert_array_equal(_read_tif(out / "SCL.tif"), layers.scene_class[20])
    np.testing.assert_array_equal(_read_tif(out / "SCL_60m.tif"), layers.scene_class[60])
    np.testing.assert_array_equal(_read_tif(out / "CLD.tif"), layers.cloud_probability[20])
    np.testing.assert_array_equal(_read_tif(out / "SNW_60m.tif"), layers.snow_probability[60])


def test_visual_cog_and_thumbnail(product, scene) -> None:
    result, out = product
    _, layers, _ = scene
    with rasterio.open(out / "TCI.tif") as src:
        tci = src.read()
    # Sen2Cor's TCI: reflectance 0..0.25 -> 1..255 (red, green, blue), 0 = no-data
    red = layers.boa[10]["B04"]
    expected = np.where(red > 0, np.floor(np.minimum(red, 0.25) * 254 / 0.25) + 1, 0)
    np.testing.assert_array_equal(tci[0], np.nan_to_num(expected).astype(np.uint8))
    with rasterio.open(out / THUMBNAIL_FILE) as src:
        assert src.driver == "PNG" and src.count == 3
        assert src.width == round(SIZE * 10 / 320)  # the PVI's 320 m pixels
    assert result.item.assets["thumbnail"].roles == ["thumbnail"]
    assert result.item.assets["visual"].roles == ["visual"]


def test_item_is_written_last_and_validates(product) -> None:
    result, out = product
    assert result.item_uri == result.files[-1] and result.item_uri.endswith(".json")
    assert sorted(Path(f).name for f in result.files) == sorted(p.name for p in out.iterdir())
    mtimes = [Path(f).stat().st_mtime_ns for f in result.files]
    assert mtimes[-1] == max(mtimes)
    document = json.loads(Path(result.item_uri).read_text())
    validate_item(document)
    assert document["assets"]["blue"]["href"] == "s3://published/l2a/scene/B02.tif"
    derived = [link for link in document["links"] if link["rel"] == "derived_from"]
    assert [link["href"] for link in derived] == ["s3://input/l1c.SAFE"]
    assert document["properties"]["s2:processing_baseline"] == "05.11"


def test_item_percentages_agree_with_image_content_qi(product, scene) -> None:
    result, _ = product
    _, layers, _ = scene
    properties = result.item.properties
    qi = image_content_qi(layers.scene_class[20])
    assert properties["eo:cloud_cover"] == pytest.approx(qi.cloudy_percentage, abs=1e-6)
    assert properties["s2:nodata_pixel_percentage"] == pytest.approx(qi.nodata_percentage, abs=1e-6)
    assert properties["s2:nodata_pixel_percentage"] > 1.0  # the swath edge is inside
    for name, share in qi.class_percentages.items():
        assert properties[f"s2:{name.lower()}"] == pytest.approx(share, abs=1e-6)
    # independent count: medium + high probability clouds + thin cirrus over valid pixels
    scl = layers.scene_class[20]
    valid = scl != SceneClass.NO_DATA
    cloudy = np.isin(scl[valid], (8, 9, 10)).mean() * 100
    assert properties["eo:cloud_cover"] == pytest.approx(cloudy, abs=1e-6)


def test_scene_classification_only_product_is_valid(scene, tmp_path) -> None:
    l1c, layers, _ = scene
    sc_only = dataclasses.replace(layers, boa={}, aot550={}, wvp_cm={})
    result = write_cloud_product(l1c, sc_only, str(tmp_path), l1c_href="l1c.SAFE")
    validate_item(json.loads(Path(result.item_uri).read_text()))
    assert set(result.item.assets) == {"scl", "scl_60m", "cloud", "cloud_60m", "snow", "snow_60m"}
    assert not (tmp_path / THUMBNAIL_FILE).exists()


def test_overviews_average_reflectance_and_take_the_mode_of_classes(scene, tmp_path) -> None:
    """1024 px at 20 m: one overview level, 2x2 blocks each of 3 equal classes + 1 other, so
    the mode is unambiguous and any averaging would invent values."""
    l1c, _, _ = scene
    size = 1024
    grid20 = l1c.metadata.grids[20]
    grid = RasterGrid(20, size, size, grid20.transform, grid20.crs_epsg)
    meta = dataclasses.replace(l1c.metadata, grids={20: grid})
    rng = np.random.default_rng(3)
    major = rng.integers(1, 12, (size // 2, size // 2)).astype(np.uint8)
    scl = np.kron(major, np.ones((2, 2), np.uint8))
    scl[::2, ::2] = (major % 11) + 1  # the odd one out in each block
    rho = rng.uniform(0.0, 0.8, (size, size)).astype(np.float32)
    layers = L2ALayers(boa={20: {"B05": rho}}, scene_class={20: scl})
    write_cloud_product(
        dataclasses.replace(l1c, metadata=meta), layers, str(tmp_path), l1c_href="l1c.SAFE"
    )
    with rasterio.open(tmp_path / "SCL.tif", overview_level=0) as src:
        np.testing.assert_array_equal(src.read(1), major)
    with rasterio.open(tmp_path / "B05.tif") as src:
        dn = src.read(1).astype(np.float64)
    with rasterio.open(tmp_path / "B05.tif", overview_level=0) as src:
        overview = src.read(1).astype(np.float64)
    block_mean = dn.reshape(size // 2, 2, size // 2, 2).mean(axis=(1, 3))
    assert np.abs(overview - block_mean).max() <= 0.5 + 1e-9  # rounded to the nearest DN


# --- S3 through moto's HTTP server ----------------------------------------------------------------


@pytest.fixture
def s3_bucket(aws_endpoint: str):
    """The session's moto server (real S3 API over HTTP) with an empty bucket; its client."""
    client = boto3.client("s3", endpoint_url=aws_endpoint)
    client.create_bucket(Bucket="l2a-cogs")
    yield client
    _empty(client, "l2a-cogs")


def _empty(client, bucket: str) -> None:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=entry["Key"])
    client.delete_bucket(Bucket=bucket)


def test_s3_output_uploads_every_file_item_last(scene, s3_bucket) -> None:
    l1c, layers, _ = scene
    small = dataclasses.replace(
        layers,
        boa={60: layers.boa[60]},
        aot550={},
        wvp_cm={},
        cloud_probability={},
        snow_probability={},
    )
    prefix = "s3://l2a-cogs/sentinel-2-l2a/32/T/QM/scene"
    result = write_cloud_product(l1c, small, prefix, l1c_href="s3://in/l1c.SAFE")
    keys = {o["Key"] for o in s3_bucket.list_objects_v2(Bucket="l2a-cogs")["Contents"]}
    assert {f"s3://l2a-cogs/{k}" for k in keys} == set(result.files)
    assert result.item_uri == result.files[-1] == f"{prefix}/{result.item.id}.json"
    head = s3_bucket.head_object(Bucket="l2a-cogs", Key=result.item_uri[len("s3://l2a-cogs/") :])
    assert head["ContentType"] == "application/geo+json"
    document = json.loads(
        s3_bucket.get_object(Bucket="l2a-cogs", Key=result.item_uri[len("s3://l2a-cogs/") :])[
            "Body"
        ].read()
    )
    validate_item(document)
    href = document["assets"]["coastal"]["href"]
    assert href == f"{prefix}/B01.tif"
    with gdal_env(), rasterio.open(href.replace("s3://", "/vsis3/")) as src:  # GDAL reads it back
        assert src.scales[0] == pytest.approx(1e-4)
        np.testing.assert_array_equal(src.read(1) == 0, ~np.isfinite(layers.boa[60]["B01"]))
    # the static catalog on S3 too, twice (idempotent)
    for _ in range(2):
        item_uri = add_item("s3://l2a-cogs/stac", result.item, create_collection())
    keys = {
        o["Key"] for o in s3_bucket.list_objects_v2(Bucket="l2a-cogs", Prefix="stac/")["Contents"]
    }
    assert keys == {
        "stac/catalog.json",
        f"stac/{COLLECTION_ID}/collection.json",
        item_uri.removeprefix("s3://l2a-cogs/"),
    }
    stored = json.loads(
        s3_bucket.get_object(Bucket="l2a-cogs", Key=f"stac/{COLLECTION_ID}/collection.json")[
            "Body"
        ].read()
    )
    assert [link["rel"] for link in stored["links"]].count("item") == 1
