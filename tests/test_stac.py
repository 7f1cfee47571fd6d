"""STAC item, collection, static catalog and offline validation, against stactools-sentinel2.

The independent truth is stactools' own items in ``../shared/data/metadata/stactools-sentinel2``:
``expected_output.json`` of the real L1C T46RER (for every field derived from the L1C metadata:
id, datetime, angles, orbit, MGRS, footprint) and of the real L2A T01WCP (asset keys, raster
encodings, SCL classes, the antimeridian footprint).
"""

from __future__ import annotations

import copy
import json
import re
import socket
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pystac
import pytest
import shapely
from affine import Affine
from l2a_fixtures import L1C_T46RER, real_l1c, synthetic_layers
from pyproj import Transformer
from rasterio.features import rasterize
from shapely.geometry import shape

from core.errors import OutputError
from core.product.l1c import open_l1c
from core.product.l2a import L2ALayers
from core.product.l2a_quality import SceneClass, image_content_qi
from core.product.metadata import ProcessingBaseline, RasterGrid
from core.stac.assets import layer_assets
from core.stac.catalog import add_item
from core.stac.collection import COLLECTION_ID, create_collection
from core.stac.footprint import footprint, tile_outline, valid_data_outline
from core.stac.item import STAC_EXTENSIONS, create_item
from core.stac.validate import EXTENSION_SCHEMAS, SCHEMA_DIR, validate_item, validate_stac

STACTOOLS = "metadata/stactools-sentinel2"
L2A_T01WCP = f"{STACTOOLS}/S2A_MSIL2A_20230625T234621_N0509_R073_T01WCP_20230626T022157.SAFE"
GENERATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
ANGLE_TOLERANCE = 1e-9
"""Degrees: the same means of the same MTD_TL.xml values."""


def _expected(shared_data: Path, product: str) -> dict:
    return json.loads((shared_data / product / "expected_output.json").read_text())


def _hrefs(layers: L2ALayers) -> dict[str, str]:
    return {a.key: f"s3://cogs/scene/{a.file_name}" for a in layer_assets(layers)}


@pytest.fixture(scope="module")
def item_dict(shared_data: Path) -> dict:
    """Our item for the real T46RER L1C (grids cut to a sixth) with every synthetic layer."""
    l1c = real_l1c(shared_data)
    layers = synthetic_layers(l1c.metadata.grids)
    item = create_item(
        l1c,
        layers,
        _hrefs(layers),
        l1c_href="s3://l1c/T46RER.SAFE",
        generation_time=GENERATED,
        processing_baseline=ProcessingBaseline(5, 11),
    )
    return item.to_dict(include_self_link=False)


# --- the item against stactools ------------------------------------------------------------------


def test_l1c_derived_properties_equal_stactools(item_dict: dict, shared_data: Path) -> None:
    expected = _expected(shared_data, L1C_T46RER)
    assert item_dict["id"] == expected["id"].replace("_L1C", "_L2A")
    ours, theirs = item_dict["properties"], expected["properties"]
    for key in (
        "datetime",
        "platform",
        "constellation",
        "instruments",
        "grid:code",
        "mgrs:utm_zone",
        "mgrs:latitude_band",
        "mgrs:grid_square",
        "proj:code",
        "sat:orbit_state",
        "sat:relative_orbit",
        "s2:datatake_type",
        "s2:reflectance_conversion_factor",
        "s2:degraded_msi_data_percentage",
    ):
        assert ours[key] == theirs[key], key
    for key in ("view:azimuth", "view:incidence_angle", "view:sun_azimuth", "view:sun_elevation"):
        assert ours[key] == pytest.approx(theirs[key], abs=ANGLE_TOLERANCE), key
    # ids of the L2A this processor makes: the L1C's, at the L2A level, baseline and generation
    assert ours["s2:datatake_id"] == theirs["s2:datatake_id"].replace("N03.01", "N05.11")
    assert ours["s2:product_uri"] == (
        "S2A_MSIL2A_20210908T042701_N0511_R133_T46RER_20260102T030405.SAFE"
    )
    assert ours["s2:tile_id"] == "S2A_OPER_MSI_L2A_TL_VGS4_20260102T030405_A032448_T46RER_N05.11"
    assert ours["s2:generation_time"] == "2026-01-02T03:04:05.000000Z"
    assert ours["s2:product_type"] == "S2MSI2A"


def test_property_names_are_those_of_a_stactools_l2a_item(item_dict: dict, shared_data) -> None:
    """Every property of a real stactools L2A item is present; the extras are documented in
    core.stac.item (processing extension and the absolute orbit)."""
    theirs = set(_expected(shared_data, L2A_T01WCP)["properties"])
    ours = set(item_dict["properties"])
    assert theirs <= ours
    assert ours - theirs == {
        "processing:level",
        "processing:lineage",
        "processing:software",
        "sat:absolute_orbit",
    }
    assert item_dict["properties"]["processing:software"] == {"sen2cloud": "0.1.0"}


def test_scene_class_properties_follow_image_content_qi(item_dict: dict, shared_data) -> None:
    scl20 = synthetic_layers(real_l1c(shared_data).metadata.grids).scene_class[20]
    qi = image_content_qi(scl20)
    properties = item_dict["properties"]
    assert properties["eo:cloud_cover"] == pytest.approx(qi.cloudy_percentage, abs=1e-6)
    assert properties["eo:snow_cover"] == pytest.approx(
        qi.class_percentages["SNOW_ICE_PERCENTAGE"], abs=1e-6
    )
    # counted here independently: medium + high probability clouds + cirrus over valid pixels
    valid = scl20[scl20 != SceneClass.NO_DATA]
    assert properties["eo:cloud_cover"] == pytest.approx(
        100 * np.isin(valid, (8, 9, 10)).mean(), abs=1e-6
    )
    assert properties["s2:water_percentage"] == pytest.approx(100 * (valid == 6).mean(), abs=1e-6)


def test_asset_keys_and_encodings_equal_stactools(item_dict: dict, shared_data: Path) -> None:
    expected = _expected(shared_data, L2A_T01WCP)["assets"]
    rasters = {k for k, a in expected.items() if "raster:bands" in a}
    # B08 at 20/60 m is not a layer of Sen2Cor 2.10+ products (facts §5.1), nor of stactools'
    assert rasters <= set(item_dict["assets"])
    for key in rasters:
        ours, theirs = item_dict["assets"][key], expected[key]
        assert ours["roles"] == theirs["roles"], key
        assert ours.get("gsd") == theirs.get("gsd"), key
        for mine, their in zip(ours["raster:bands"], theirs["raster:bands"], strict=True):
            for field in ("data_type", "nodata", "scale", "offset", "unit"):
                assert mine.get(field) == pytest.approx(their.get(field)), (key, field)
            assert [(c["value"], c["name"]) for c in mine.get("classification:classes", [])] == [
                (c["value"], c["name"]) for c in their.get("classification:classes", [])
            ]
        assert [b["name"] for b in ours.get("eo:bands", [])] == [
            b["name"] for b in theirs.get("eo:bands", [])
        ]
    blue = item_dict["assets"]["blue_20m"]
    assert blue["proj:shape"] == [915, 915]  # the fixture's grid: a sixth of the tile
    assert blue["proj:transform"] == [20.0, 0.0, 499980.0, 0.0, -20.0, 3100020.0]
    assert blue["proj:bbox"] == [499980.0, 3081720.0, 518280.0, 3100020.0]
    assert blue["href"] == "s3://cogs/scene/B02_20m.tif"
    assert "gsd" not in blue and item_dict["assets"]["blue"]["gsd"] == 10


def test_links_derived_from_and_license(item_dict: dict) -> None:
    rels = {link["rel"]: link["href"] for link in item_dict["links"]}
    assert rels["derived_from"] == "s3://l1c/T46RER.SAFE"
    assert rels["license"].endswith("Sentinel_Data_Legal_Notice")


# --- geometry -------------------------------------------------------------------------------------


def _iou(a, b) -> float:
    return shapely.area(shapely.intersection(a, b)) / shapely.area(shapely.union(a, b))


def test_geometry_is_the_valid_data_footprint(shared_data: Path) -> None:
    """Full-tile 60 m SCL whose valid pixels are ESA's footprint of T46RER (stactools' geometry,
    rasterised): our geometry must give that polygon back."""
    l1c = open_l1c(str(shared_data / L1C_T46RER))
    expected = _expected(shared_data, L1C_T46RER)
    grid = l1c.metadata.grids[60]
    to_utm = Transformer.from_crs(4326, grid.crs_epsg, always_xy=True)
    truth = shapely.transform(
        shape(expected["geometry"]), lambda xy: np.column_stack(to_utm.transform(*xy.T))
    )
    valid = rasterize([truth], out_shape=(grid.height, grid.width), transform=grid.transform)
    scl = np.where(valid == 1, SceneClass.VEGETATION, SceneClass.NO_DATA).astype(np.uint8)
    item = create_item(l1c, L2ALayers(scene_class={60: scl}), {}, l1c_href="l1c")
    assert _iou(shape(item.geometry), shape(expected["geometry"])) > 0.995
    np.testing.assert_allclose(item.bbox, expected["bbox"], atol=1e-3)  # 60 m ~ 6e-4 deg
    centroid = item.properties["proj:centroid"]
    assert centroid["lat"] == pytest.approx(
        expected["properties"]["proj:centroid"]["lat"], abs=1e-3
    )
    assert centroid["lon"] == pytest.approx(
        expected["properties"]["proj:centroid"]["lon"], abs=1e-3
    )


def test_antimeridian_tile_is_split_like_stactools(shared_data: Path) -> None:
    expected = _expected(shared_data, L2A_T01WCP)  # nodata 7e-6 %: the footprint is the tile
    grid = RasterGrid(60, 1830, 1830, Affine(60, 0, 300000, 0, -60, 7400040), 32601)
    place = footprint(tile_outline(grid), grid.crs_epsg)
    assert place.geometry["type"] == "MultiPolygon"
    lon = shapely.get_coordinates(shape(place.geometry))[:, 0]
    assert lon.min() >= -180 and lon.max() <= 180
    np.testing.assert_allclose(place.bbox, expected["bbox"], atol=1e-4)
    assert place.bbox[0] > place.bbox[2]  # west > east across the antimeridian
    assert _iou(shape(place.geometry), shape(expected["geometry"])) > 0.99


def test_scattered_no_data_pixels_leave_no_holes() -> None:
    """5 % isolated no-data pixels inside the swath: the footprint is the swath outline."""
    grid = RasterGrid(60, 1830, 1830, Affine(60, 0, 600000, 0, -60, 5000040), 32633)
    valid = np.random.default_rng(0).random((1830, 1830)) > 0.05
    valid[:, :300] = False  # outside the swath
    outline = valid_data_outline(valid, grid)
    assert outline.geom_type == "Polygon" and not outline.interiors
    assert outline.area == pytest.approx(1830 * 1530 * 60.0**2, rel=1e-3)
    assert len(json.dumps(footprint(outline, grid.crs_epsg).geometry)) < 5000


# --- offline validation ---------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("validation tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_item_validates_offline(item_dict: dict, no_network) -> None:
    validate_item(item_dict)
    assert item_dict["stac_extensions"] == list(STAC_EXTENSIONS)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["properties"].update({"eo:cloud_cover": "12.5"}), "eo:cloud_cover"),
        (lambda d: d["properties"].update({"eo:cloud_cover": 120.0}), "eo:cloud_cover"),
        (lambda d: d["properties"].pop("mgrs:grid_square"), "mgrs:grid_square"),
        (lambda d: d["properties"].update({"grid:code": "MGRS 46RER"}), "grid:code"),
        (lambda d: d["assets"]["scl"]["raster:bands"][0].update({"nodata": "none"}), "nodata"),
        (lambda d: d["properties"].pop("datetime"), "datetime"),
    ],
)
def test_invalid_items_fail(item_dict: dict, no_network, change, message: str) -> None:
    broken = copy.deepcopy(item_dict)
    change(broken)
    with pytest.raises(OutputError, match=message) as caught:
        validate_item(broken)
    assert caught.value.path == item_dict["id"]


def test_an_undeclared_schema_is_refused_not_fetched(item_dict: dict, no_network) -> None:
    other = copy.deepcopy(item_dict)
    other["stac_extensions"].append("https://stac-extensions.github.io/file/v2.1.0/schema.json")
    with pytest.raises(OutputError, match="no vendored schema"):
        validate_item(other)


def test_vendored_schemas_match_their_urls() -> None:
    """Each file is the version its URL names: ``$id`` and the ``stac_extensions`` constant the
    schema requires both equal the URL items declare."""
    for url, name in EXTENSION_SCHEMAS.items():
        text = (SCHEMA_DIR / name).read_text()
        assert json.loads(text)["$id"].rstrip("#") == url, name
        assert re.search(rf'"const":\s*"{re.escape(url)}"', text), name
    assert set(STAC_EXTENSIONS) <= set(EXTENSION_SCHEMAS)


def test_stactools_items_validate_with_the_vendored_schemas(shared_data: Path) -> None:
    """A real stactools item (sentinel-2 extension dropped: not vendored) passes; so the
    vendored schemas are not stricter than the published ones on real data."""
    document = _expected(shared_data, L2A_T01WCP)
    document["stac_extensions"] = [u for u in document["stac_extensions"] if "sentinel-2" not in u]
    validate_item(document)


# --- collection and static catalog ----------------------------------------------------------------


def test_collection_describes_the_item_assets(item_dict: dict, no_network) -> None:
    collection = create_collection()
    document = collection.to_dict(include_self_link=False)
    validate_stac(document)
    plain = {key for key in item_dict["assets"] if not re.search(r"_\d+m$", key)}
    assert set(document["item_assets"]) == plain | {"thumbnail"}
    assert document["item_assets"]["blue"]["raster:bands"][0]["offset"] == -0.1
    assert document["summaries"]["gsd"] == [10, 20, 60]
    assert document["license"] == "other"


def _second_item(item_dict: dict) -> pystac.Item:
    later = copy.deepcopy(item_dict)
    later["id"] = later["id"].replace("20210908T043714", "20210918T043714")
    later["properties"]["datetime"] = "2021-09-18T04:27:01.024000Z"
    later["bbox"] = [92.0, 27.0, 93.5, 28.5]
    return pystac.Item.from_dict(later)


def test_static_catalog_is_idempotent_and_relative(item_dict: dict, tmp_path: Path) -> None:
    item = pystac.Item.from_dict(item_dict)
    collection = create_collection()
    first = Path(add_item(str(tmp_path), item, collection))
    tree = {p: p.read_bytes() for p in tmp_path.rglob("*.json")}
    assert Path(add_item(str(tmp_path), item, collection)) == first
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.json")} == tree  # idempotent
    assert first == tmp_path / COLLECTION_ID / "items" / item.id / f"{item.id}.json"
    add_item(str(tmp_path), _second_item(item_dict), collection)

    catalog = pystac.Catalog.from_file(str(tmp_path / "catalog.json"))
    assert sorted(i.id for i in catalog.get_items(recursive=True)) == sorted(
        [item.id, _second_item(item_dict).id]
    )
    for path in tmp_path.rglob("*.json"):
        document = json.loads(path.read_text())
        validate_stac(document)
        for link in document["links"]:
            if link["rel"] in ("root", "parent", "child", "item", "collection"):
                assert link["href"].startswith(("./", "../")), (path.name, link)
                assert (path.parent / link["href"]).resolve().is_file(), link
    stored = json.loads((tmp_path / COLLECTION_ID / "collection.json").read_text())
    assert [link["rel"] for link in stored["links"]].count("item") == 2
    extent = stored["extent"]
    assert extent["temporal"]["interval"] == [
        ["2021-09-08T04:27:01.024000Z", "2021-09-18T04:27:01.024000Z"]
    ]
    west, south, east, north = extent["spatial"]["bbox"][0]
    assert (west, south, north) == (92.0, 27.0, 28.5) and east == max(93.5, item.bbox[2])
    assert json.loads(first.read_text())["collection"] == COLLECTION_ID


def test_static_catalog_refuses_an_invalid_item(item_dict: dict, tmp_path: Path) -> None:
    broken = copy.deepcopy(item_dict)
    broken["properties"]["eo:cloud_cover"] = -5.0
    with pytest.raises(OutputError, match="eo:cloud_cover"):
        add_item(str(tmp_path), pystac.Item.from_dict(broken), create_collection())
    assert not list(tmp_path.rglob("*.json"))  # nothing written


def test_asset_projection_comes_from_the_grid_of_its_resolution(shared_data: Path) -> None:
    l1c = real_l1c(shared_data)
    grid = l1c.metadata.grids[60]
    layers = L2ALayers(scene_class={60: np.full((grid.height, grid.width), 4, np.uint8)})
    item = create_item(l1c, layers, {"scl_60m": "s3://x/SCL_60m.tif"}, l1c_href="l1c")
    asset = item.assets["scl_60m"].to_dict()
    assert asset["proj:shape"] == [grid.height, grid.width]
    assert asset["proj:transform"] == list(grid.transform)[:6]
    assert asset["gsd"] == 60  # stactools: every SCL asset has a gsd (bands only at native)
    with pytest.raises(OutputError, match="not a layer"):
        create_item(l1c, layers, {"scl": "s3://x/SCL.tif"}, l1c_href="l1c")


def test_collection_field_comes_with_its_link(shared_data: Path, no_network) -> None:
    """STAC 1.1: an item has ``collection`` exactly when it has a ``collection`` link."""
    l1c = real_l1c(shared_data)
    layers = synthetic_layers(l1c.metadata.grids)
    item = create_item(
        l1c,
        layers,
        {},
        l1c_href="l1c",
        collection_id=COLLECTION_ID,
        collection_href="https://stac.example/collections/sentinel-2-l2a",
    )
    document = item.to_dict(include_self_link=False)
    validate_item(document)
    assert document["collection"] == COLLECTION_ID
    unlinked = copy.deepcopy(document)
    unlinked["links"] = [link for link in unlinked["links"] if link["rel"] != "collection"]
    with pytest.raises(OutputError):
        validate_item(unlinked)
    with pytest.raises(OutputError, match="together"):
        create_item(l1c, layers, {}, l1c_href="l1c", collection_id=COLLECTION_ID)
