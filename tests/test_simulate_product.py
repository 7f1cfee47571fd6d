"""The simulator's geometry and L1C product writer, checked against real Sentinel-2 products."""

from __future__ import annotations

import re
import warnings
from datetime import datetime
from pathlib import Path

# isort: split
import eccodes
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from core.bands import BANDS
from core.cli.main import cli
from core.cli.simulate import build_spec, simulate
from core.errors import InputError, OutputError
from core.io.xml import find, find_text, findall, local_name, parse_xml_bytes
from core.product.l1c import open_l1c
from core.product.metadata import ProcessingBaseline
from core.resample import block_mean
from core.simulate.forward import NodeGrid, simulate_scene
from core.simulate.geometry import simulate_geometry, solar_position, tile_origin
from core.simulate.l1c_safe import write_l1c_safe
from core.simulate.preview import rgb_image
from core.simulate.realforward import simulate_from_l2a
from core.simulate.scene import SceneSpec, SimulatedScene
from core.simulate.truth import block_mode, true_scene_class

T29UNU_TL = (
    "l2a-real/S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE/GRANULE/"
    "L2A_T29UNU_A038058_20221005T115407/MTD_TL.xml"
)
REAL_L1C_MTD = (
    "metadata/ukis-pysat/satellite_data/"
    "S2B_MSIL1C_20220615T101559_N0400_R065_T32UPC_20220615T122549_MTD.xml"
)
REAL_L1C_TL_0301 = (
    "metadata/stactools-sentinel2/S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248"
    ".SAFE/GRANULE/L1C_T46RER_A032448_20210908T043714/MTD_TL.xml"
)
SIZE = 366


def _xml(path: Path):  # type: ignore[no-untyped-def]
    return parse_xml_bytes(path.read_bytes(), path=str(path))


def _grid_values(node) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.array(
        [[float(v) for v in row.text.split()] for row in findall(node, "Values_List/VALUES")]
    )


def _real_viewing(root) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:  # type: ignore[no-untyped-def]
    grids = {}
    for node in findall(root, "Geometric_Info/Tile_Angles/Viewing_Incidence_Angles_Grids"):
        key = (int(node.get("bandId")), int(node.get("detectorId")))
        grids[key] = (_grid_values(find(node, "Zenith")), _grid_values(find(node, "Azimuth")))
    return grids


def _element_paths(root) -> set[str]:  # type: ignore[no-untyped-def]
    paths: set[str] = set()

    def walk(node, prefix: str) -> None:  # type: ignore[no-untyped-def]
        path = f"{prefix}/{local_name(node.tag)}"
        paths.add(path)
        for child in node:
            walk(child, path)

    walk(root, "")
    return paths


def _t29unu_spec(**kwargs: object) -> SceneSpec:
    return SceneSpec(
        size=SIZE,
        seed=7,
        tile_id="29UNU",
        sensing_time=datetime(2022, 10, 5, 11, 56, 49, 581767),
        **kwargs,
    )  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def physics_scene(tmp_path_factory: pytest.TempPathFactory) -> SimulatedScene:
    """A real forward-simulated scene (1 node per 6S axis keeps it to 13 runs)."""
    spec = SceneSpec(size=SIZE, seed=11)
    cache = tmp_path_factory.mktemp("sixs")
    return simulate_scene(
        spec, simulate_geometry(spec), nodes=NodeGrid(1, 1, 1, 1), cache_dir=cache
    )


@pytest.fixture(scope="module")
def product(physics_scene: SimulatedScene, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(write_l1c_safe(physics_scene, str(tmp_path_factory.mktemp("out")), with_aux=True))


# --- geometry against real tiles ----------------------------------------------------------------


def test_tile_origin_matches_every_real_tile(shared_data: Path) -> None:
    checked = 0
    for path in sorted(shared_data.rglob("MTD_TL.xml")):
        root = _xml(path)
        tile = re.search(r"_T(\d{2}[A-Z]{3})_N", find_text(root, "General_Info/TILE_ID") or "")
        if tile is None:
            continue
        code = find_text(root, "Geometric_Info/Tile_Geocoding/HORIZONTAL_CS_CODE")
        ulx = float(find_text(root, "Geometric_Info/Tile_Geocoding/Geoposition/ULX") or "nan")
        uly = float(find_text(root, "Geometric_Info/Tile_Geocoding/Geoposition/ULY") or "nan")
        assert tile_origin(tile.group(1)) == (int(code.split(":")[1]), ulx, uly), path
        checked += 1
    assert checked >= 8


def test_sun_angles_match_the_real_t29unu_grid(shared_data: Path) -> None:
    root = _xml(shared_data / T29UNU_TL)
    sun = find(root, "Geometric_Info/Tile_Angles/Sun_Angles_Grid")
    ours = simulate_geometry(_t29unu_spec()).sun_angles
    np.testing.assert_allclose(ours.zenith, _grid_values(find(sun, "Zenith")), atol=0.05)
    np.testing.assert_allclose(ours.azimuth, _grid_values(find(sun, "Azimuth")), atol=0.1)


def test_solar_position_noon_equinox_is_colatitude() -> None:
    zenith, _ = solar_position(datetime(2024, 3, 20, 12, 7), np.array([45.0]), np.array([0.0]))
    assert zenith[0] == pytest.approx(45.0, abs=0.3)


def test_viewing_grids_match_real_detectors(shared_data: Path) -> None:
    real = _real_viewing(_xml(shared_data / T29UNU_TL))
    ours = simulate_geometry(_t29unu_spec()).viewing_angles
    for band in BANDS:
        for detector in (10, 11):  # fully inside the real tile and ours
            real_zen, real_az = real[(band.band_id, detector)]
            grid = ours[band.name][detector]
            assert np.nanmin(grid.zenith) == pytest.approx(np.nanmin(real_zen), abs=0.4)
            assert np.nanmax(grid.zenith) == pytest.approx(np.nanmax(real_zen), abs=0.4)
            assert np.nanmean(grid.azimuth) == pytest.approx(np.nanmean(real_az), abs=3.0)
    for band_grids in ours.values():
        zenith = np.stack([g.zenith for g in band_grids.values()])
        assert np.nanmax(zenith) < 12.5
        for grid in band_grids.values():  # each detector covers one contiguous stripe
            for row in ~np.isnan(grid.zenith):
                columns = np.flatnonzero(row)
                if columns.size:
                    assert columns[-1] - columns[0] + 1 == columns.size <= 7
            assert np.array_equal(np.isnan(grid.zenith), np.isnan(grid.azimuth))


def test_swath_edge_option_puts_no_data_in_the_scene() -> None:
    inside = simulate_geometry(SceneSpec(size=SIZE, seed=1))
    edge = simulate_geometry(SceneSpec(size=SIZE, seed=1, swath_edge=True))
    for band in BANDS:
        assert inside.detector_footprint[band.name].min() > 0
        footprint = edge.detector_footprint[band.name]
        assert footprint.dtype == np.uint8
        assert footprint.shape == (SIZE * 10 // band.resolution,) * 2
        assert 0.3 < (footprint == 0).mean() < 0.7
        assert footprint.max() == 12


# --- the product ------------------------------------------------------------------------------


def _normalised(relative: str) -> str:
    relative = re.sub(r"^[^/]+\.SAFE/", "", relative)
    relative = re.sub(r"L1C_T\w{5}_A\d{6}_\d{8}T\d{6}", "<granule>", relative)
    relative = re.sub(r"DS_\w{4}_\d{8}T\d{6}_S\d{8}T\d{6}", "<datastrip>", relative)
    return re.sub(r"T\d{2}[A-Z]{3}_\d{8}T\d{6}_", "<stem>_", relative)


@pytest.mark.parametrize("baseline", ["02.07", "03.01", "04.00"])
def test_layout_matches_real_l1c(shared_data: Path, tmp_path: Path, baseline: str) -> None:
    lines = (shared_data / f"metadata/safe-layouts/L1C_{baseline}.csv").read_text().split()
    real = {_normalised(line.split(";")[1]) for line in lines if ";" in line}
    spec = SceneSpec(size=SIZE, seed=2, baseline=ProcessingBaseline.parse(baseline))
    safe = Path(write_l1c_safe(_handmade(spec), str(tmp_path), with_aux=True))
    ours = {
        _normalised(f"x.SAFE/{p.relative_to(safe).as_posix()}")
        for p in safe.rglob("*")
        if p.is_file()
    }
    assert ours == real


def test_manifest_lists_every_file_with_its_size(product: Path) -> None:
    root = _xml(product / "manifest.safe")
    listed = {
        find(obj, "byteStream/fileLocation").get("href")[2:]: int(
            find(obj, "byteStream").get("size")
        )
        for obj in findall(root, "dataObjectSection/dataObject")
    }
    files = {
        p.relative_to(product).as_posix(): p.stat().st_size
        for p in product.rglob("*")
        if p.is_file()
    }
    files.pop("manifest.safe")
    assert listed == files


def test_metadata_elements_exist_in_real_products(shared_data: Path, product: Path) -> None:
    real_mtd = _element_paths(_xml(shared_data / REAL_L1C_MTD))
    ours_mtd = _element_paths(_xml(product / "MTD_MSIL1C.xml"))
    assert ours_mtd <= real_mtd, ours_mtd - real_mtd
    assert len(ours_mtd) >= 0.8 * len(real_mtd)
    real_tl = _element_paths(_xml(shared_data / T29UNU_TL)) | _element_paths(
        _xml(shared_data / REAL_L1C_TL_0301)
    )
    ours_tl = _element_paths(_xml(next(product.glob("GRANULE/*/MTD_TL.xml"))))
    assert {p.replace("Level-1C", "") for p in ours_tl} <= {
        p.replace("Level-2A", "").replace("Level-1C", "") for p in real_tl
    }


def test_gml_masks_before_04_00(shared_data: Path, tmp_path: Path) -> None:
    spec = SceneSpec(size=SIZE, seed=2, baseline=ProcessingBaseline(2, 7))
    safe = Path(write_l1c_safe(_handmade(spec), str(tmp_path)))
    qi = next(safe.glob("GRANULE/*/QI_DATA"))
    real_qi = next(
        (shared_data / "metadata/s2reader/compact_safe").glob("*.SAFE/GRANULE/*/QI_DATA")
    )
    real = {p.name for p in real_qi.glob("MSK_*.gml")}
    assert {p.name for p in qi.glob("MSK_*.gml")} == real
    footprint = _xml(qi / "MSK_DETFOO_B02.gml")
    assert findall(footprint, "maskMembers/MaskFeature")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        l1c = open_l1c(str(safe))
        # rasterio.windows.window_transform trips affine's own PendingDeprecationWarning
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        masks = l1c.quality_masks("B02", 10)
    assert l1c.metadata.radio_add_offset["B02"] == 0.0
    np.testing.assert_array_equal(
        masks.detector, _handmade(spec).geometry.detector_footprint["B02"]
    )
    with rasterio.open(next(safe.glob("GRANULE/*/IMG_DATA/*_B02.jp2"))) as src:
        dn = src.read(1).astype(float)
    np.testing.assert_allclose(
        dn / 10000.0, _handmade(spec).toa_reflectance["B02"], atol=0.5e-4 + 1e-7
    )


def test_metadata_validates_against_the_official_psd_14_5(
    shared_data: Path, tmp_path: Path
) -> None:
    xmlschema = pytest.importorskip("xmlschema", reason="xmlschema validates against the PSD XSDs")
    schemas = shared_data / "sen2cor-2.8/cfg/S2-PDGS-TAS-DI-PSD-V14.5_Schema"
    spec = SceneSpec(size=SIZE, seed=2, baseline=ProcessingBaseline(2, 7))
    safe = Path(write_l1c_safe(_handmade(spec), str(tmp_path)))
    for xsd, pattern in (
        ("S2_User_Product_Level-1C_Metadata.xsd", "MTD_MSIL1C.xml"),
        ("S2_PDI_Level-1C_Tile_Metadata.xsd", "GRANULE/*/MTD_TL.xml"),
    ):
        errors = list(
            xmlschema.XMLSchema(str(schemas / xsd)).iter_errors(str(next(safe.glob(pattern))))
        )
        assert not errors, [e.reason for e in errors]
    schema = xmlschema.XMLSchema(str(schemas / "S2_PDI_Level-1C_Datastrip_Metadata.xsd"))
    reasons = [e.reason for e in schema.iter_errors(str(next(safe.glob("DATASTRIP/*/MTD_DS.xml"))))]
    # only the acquisition-wide sections (sensor configuration, ephemeris) are not simulated
    assert all("Sensor_Configuration" in r or "Satellite_Ancillary_Data_Info" in r for r in reasons)


def test_jp2_decode_to_the_scene_toa(product: Path, physics_scene: SimulatedScene) -> None:
    for band in ("B01", "B02", "B8A", "B10", "B12"):
        with rasterio.open(next(product.glob(f"GRANULE/*/IMG_DATA/*_{band}.jp2"))) as src:
            dn = src.read(1).astype(float)
            assert src.crs.to_epsg() == 32632
        toa = physics_scene.toa_reflectance[band]
        assert dn.shape == toa.shape
        np.testing.assert_allclose((dn - 1000.0) / 10000.0, toa, atol=1e-4)


def test_truth_rasters(product: Path, physics_scene: SimulatedScene) -> None:
    truth = product.parent / "truth"
    for res in (10, 20, 60):
        grid = physics_scene.geometry.grids[res]
        names = [f"CLASS_{res}m", f"AOT_{res}m", f"WV_{res}m", f"DEM_{res}m"]
        names += [f"BOA_{b.name}_{res}m" for b in BANDS if b.resolution <= res]
        for name in names:
            with rasterio.open(truth / f"{name}.tif") as src:
                assert (src.height, src.width) == (grid.height, grid.width), name
                assert src.crs.to_epsg() == grid.crs_epsg
                assert src.transform == grid.transform
    with rasterio.open(truth / "CLASS_60m.tif") as src:
        np.testing.assert_array_equal(src.read(1), block_mode(true_scene_class(physics_scene), 6))
    with rasterio.open(truth / "BOA_B8A_60m.tif") as src:
        boa = physics_scene.boa_reflectance["B8A"].astype(float)
        expected = boa.reshape(61, 3, 61, 3).mean(axis=(1, 3))
        np.testing.assert_allclose(src.read(1), expected, rtol=1e-6)
    assert '"seed": 11' in (truth / "scene.json").read_text()


def test_block_helpers_on_known_arrays() -> None:
    classes = np.array([[4, 4, 9, 9], [4, 6, 9, 8]], dtype=np.uint8)
    np.testing.assert_array_equal(block_mode(classes, 2), [[4, 9]])
    np.testing.assert_allclose(block_mean(np.arange(8.0).reshape(2, 4), 2), [[2.5, 4.5]])


def test_same_seed_gives_identical_files(
    physics_scene: SimulatedScene, product: Path, tmp_path: Path
) -> None:
    again = simulate_scene(
        physics_scene.spec,
        simulate_geometry(physics_scene.spec),
        nodes=NodeGrid(1, 1, 1, 1),
        cache_dir=tmp_path / "sixs",
    )
    safe = Path(write_l1c_safe(again, str(tmp_path), with_aux=True))
    for pattern in ("GRANULE/*/IMG_DATA/*.jp2", "GRANULE/*/QI_DATA/*.jp2", "../truth/*.tif"):
        firsts = sorted(product.glob(pattern))
        assert firsts
        for first in firsts:
            assert (safe / first.relative_to(product)).read_bytes() == first.read_bytes(), (
                first.name
            )


def test_reader_opens_the_product_without_warning(
    product: Path, physics_scene: SimulatedScene
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        l1c = open_l1c(str(product))
        meta = l1c.metadata
        toa = l1c.read_toa("B04", 10)
        masks = l1c.quality_masks("B8A", 20)
        aux = l1c.aux()
        clouds = l1c.cloud_masks(60)
    np.testing.assert_array_equal(masks.detector, physics_scene.geometry.detector_footprint["B8A"])
    spec = physics_scene.spec
    assert meta.tile_id == spec.tile_id and meta.processing_baseline == spec.baseline
    assert meta.radio_add_offset == {b.name: -1000.0 for b in BANDS}
    assert meta.quantification_value == 10000
    assert meta.grids == physics_scene.geometry.grids
    np.testing.assert_allclose(
        meta.sun_angles.zenith, physics_scene.geometry.sun_angles.zenith, atol=1e-3
    )
    for band in BANDS:
        assert set(meta.viewing_angles[band.name]) == set(
            physics_scene.geometry.viewing_angles[band.name]
        )
    np.testing.assert_allclose(toa.reflectance, physics_scene.toa_reflectance["B04"], atol=1e-4)
    opaque = np.isin(physics_scene.scene_class, (8, 9)).reshape(61, 6, 61, 6).mean(axis=(1, 3))
    assert 0.0 < clouds["OPAQUE"].mean() < 1.0
    np.testing.assert_array_equal(clouds["OPAQUE"], opaque >= 0.5)
    assert aux is not None
    assert aux.ozone_du == pytest.approx(spec.ozone_du, rel=1e-3)
    assert aux.water_vapour_cm == pytest.approx(float(physics_scene.wv_cm.mean()), rel=0.2)


def test_real_l2a_forward_scene_keeps_the_real_angle_grids(
    shared_data: Path, tmp_path: Path
) -> None:
    real_safe = shared_data / T29UNU_TL.split("/GRANULE", maxsplit=1)[0]
    scene = simulate_from_l2a(
        real_safe, size=SIZE, nodes=NodeGrid(1, 1, 1, 1), cache_dir=tmp_path / "c"
    )
    safe = write_l1c_safe(scene, str(tmp_path / "out"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        meta = open_l1c(safe).metadata
    root = _xml(shared_data / T29UNU_TL)
    sun = find(root, "Geometric_Info/Tile_Angles/Sun_Angles_Grid")
    np.testing.assert_allclose(meta.sun_angles.zenith, _grid_values(find(sun, "Zenith")), atol=1e-4)
    for (band_id, detector), (zenith, azimuth) in _real_viewing(root).items():
        grid = meta.viewing_angles[BANDS[band_id].name][detector]
        np.testing.assert_allclose(grid.zenith, zenith, atol=1e-4, equal_nan=True)
        np.testing.assert_allclose(grid.azimuth, azimuth, atol=1e-3, equal_nan=True)
    assert (meta.grids[10].transform.c, meta.grids[10].transform.f) == (499980.0, 5900040.0)
    assert (meta.absolute_orbit, meta.relative_orbit) == (38058, 23)


def test_aux_grib_has_the_real_fields(shared_data: Path, product: Path) -> None:
    real_aux = next((shared_data / "l2a-real").glob("*.SAFE/GRANULE/*/AUX_DATA"))
    for name in ("AUX_ECMWFT", "AUX_CAMSFO"):
        fields: dict[str, list[str]] = {}
        for folder, key in ((real_aux, "real"), (next(product.glob("GRANULE/*/AUX_DATA")), "ours")):
            with (folder / name).open("rb") as handle:
                names = []
                while (msg := eccodes.codes_grib_new_from_file(handle)) is not None:
                    names.append(eccodes.codes_get(msg, "shortName"))
                    assert (eccodes.codes_get(msg, "Ni"), eccodes.codes_get(msg, "Nj")) == (9, 9)
                    eccodes.codes_release(msg)
            fields[key] = names
        assert fields["ours"] == fields["real"]


def test_bad_requests_fail_with_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="multiple of 6"):
        simulate_geometry(SceneSpec(size=100, seed=0))
    with pytest.raises(InputError, match="not an MGRS tile id"):
        tile_origin("32TIM")
    scene = _handmade(SceneSpec(size=SIZE, seed=3))
    write_l1c_safe(scene, str(tmp_path))
    with pytest.raises(OutputError, match="exists already") as error:
        write_l1c_safe(scene, str(tmp_path))
    assert "\n" not in str(error.value) and ".SAFE" in str(error.value)


def test_cli_options_map_to_the_spec() -> None:
    spec = build_spec(
        size=732, seed=5, baseline="04.00", tile="T33UUP", date="2023-04-01T10:00:31Z",
        mission="S2B", aot="0.05,0.3", wv="0.5,3", clouds=0.2, cirrus=None, swath_edge=True,
    )  # fmt: skip
    assert (spec.size, spec.seed, spec.tile_id, spec.mission_id) == (732, 5, "33UUP", "S2B")
    assert spec.baseline == ProcessingBaseline(4, 0)
    assert spec.sensing_time == datetime(2023, 4, 1, 10, 0, 31)
    assert (spec.aot550_range, spec.wv_cm_range, spec.cloud_fraction) == (
        (0.05, 0.3),
        (0.5, 3.0),
        0.2,
    )
    assert spec.cirrus_fraction == SceneSpec(size=6, seed=0).cirrus_fraction
    assert spec.swath_edge


def test_cli_rejects_a_bad_range(tmp_path: Path) -> None:
    result = CliRunner().invoke(simulate, [str(tmp_path), "--aot", "0.3,0.1"])
    assert result.exit_code == 2
    assert "--aot expects MIN <= MAX" in result.output


# --- a small hand-made scene for format checks that need no physics ----------------------------


def _handmade(spec: SceneSpec) -> SimulatedScene:
    geometry = simulate_geometry(spec)
    rng = np.random.default_rng(spec.seed)
    n = spec.size
    toa = {
        b.name: rng.uniform(0.01, 0.9, (n * 10 // b.resolution,) * 2).astype(np.float32)
        for b in BANDS
    }
    return SimulatedScene(
        spec=spec,
        geometry=geometry,
        toa_reflectance=toa,
        boa_reflectance={k: v * 0.9 for k, v in toa.items()},
        scene_class=rng.integers(1, 12, (n, n)).astype(np.uint8),
        aot550=np.full((n, n), 0.1, np.float32),
        wv_cm=np.full((n, n), 1.5, np.float32),
        dem_m=np.zeros((n, n), np.float32),
        ozone_du=330.0,
    )


def test_preview_command_puts_products_side_by_side(product: Path, tmp_path: Path) -> None:
    """``sen2cloud preview`` renders each product's B04/B03/B02 TOA as TCI pixels, left to right."""
    png = tmp_path / "side.png"
    result = CliRunner().invoke(
        cli, ["preview", str(png), str(product), str(product), "--resolution", "60"]
    )
    assert result.exit_code == 0, result.output
    l1c = open_l1c(str(product))
    expected = rgb_image(*(l1c.read_toa(b, 60).reflectance for b in ("B04", "B03", "B02")))
    with rasterio.open(png) as src:
        picture = np.moveaxis(src.read(), 0, -1)
    rows, cols = expected.shape[:2]
    assert picture.shape == (rows, 2 * cols + 8, 3)
    assert np.array_equal(picture[:, :cols], expected)
    assert np.array_equal(picture[:, cols + 8 :], expected)
    assert not picture[:, cols : cols + 8].any()
