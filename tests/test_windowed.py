"""Windowed processing (issue #7): decoded band copies, strips with adjacency halos, fan-out.

The strip loop must not change a single pixel: a tile corrected in several strips, each read
with its ``Adj_Km`` halo, equals the same tile corrected as one window; a tile fanned out as
groups of strips and assembled equals the one-process product.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from core.config.gipp import Gipp, load_gipp
from core.config.options import ProcessingOptions
from core.errors import ProcessingError, ProductFormatError
from core.fanout import TilePlan, assemble_tile, correct_strips, plan_tile
from core.io.block_reader import strip_windows
from core.io.block_writer import EncodePool
from core.pipeline import (
    SceneOutputs,
    correct_strips_into,
    process_scene,
    scene_classification_layers,
    tile_context,
    tile_correction,
)
from core.product.band_cache import decode_bands
from core.product.encoded_layers import EncodedKey, EncodedLayers
from core.product.l1c import open_l1c
from core.product.l2a_rasters import BOA_BANDS
from core.simulate.forward import simulate_scene
from core.simulate.geometry import simulate_geometry
from core.simulate.l1c_safe import write_l1c_safe
from core.simulate.scene import SceneSpec
from core.terrain.dem import load_dem

SIZE = 600
"""10 m pixels of the simulated tile: 6 km, two 3.84 km strips."""
STRIP_M = 3840
"""The smallest strip whose rows are whole 64-row scratch blocks at 10, 20 and 60 m."""
RESOLUTIONS = (10, 20, 60)
ROUNDING_DN = 1
ROUNDING_SHARE = 1e-4
"""A strip's environment box means are summed from its own first row, so their last bits
differ from the whole window's and a reflectance within 1e-7 of a DN boundary may round to
the neighbouring DN (measured: 1 pixel in 360 000 of 10 m B02)."""


@pytest.fixture(scope="module")
def l1c_safe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = SceneSpec(size=SIZE, seed=7, max_elevation_m=0.0, cloud_fraction=0.1)
    scene = simulate_scene(spec, simulate_geometry(spec))
    return Path(write_l1c_safe(scene, str(tmp_path_factory.mktemp("l1c"))))


@pytest.fixture(scope="module")
def gipp() -> Gipp:
    return load_gipp()


def test_decoded_band_copies_read_the_same_pixels(l1c_safe: Path, tmp_path: Path) -> None:
    l1c = open_l1c(str(l1c_safe))
    with ThreadPoolExecutor(2) as executor:
        decoded = decode_bands(l1c, tmp_path, executor)
    assert decoded.band_driver == "GTiff"
    for band, resolution in (("B02", 10), ("B02", 20), ("B8A", 20), ("B01", 20), ("B10", 60)):
        window = Window(5, 20, 60, 50) if resolution == 60 else Window(10, 130, 250, 170)
        original = l1c.read_toa(band, resolution, window)
        copy = decoded.read_toa(band, resolution, window)
        np.testing.assert_array_equal(copy.reflectance, original.reflectance, err_msg=band)
        np.testing.assert_array_equal(copy.nodata, original.nodata, err_msg=band)


def test_a_truncated_band_is_refused_naming_its_file(l1c_safe: Path, tmp_path: Path) -> None:
    copy = tmp_path / l1c_safe.name
    shutil.copytree(l1c_safe, copy)
    band = next(copy.glob("GRANULE/*/IMG_DATA/*_B03.jp2"))
    band.write_bytes(band.read_bytes()[: band.stat().st_size // 2])
    with ThreadPoolExecutor(2) as executor, pytest.raises(ProductFormatError, match=r"B03\.jp2"):
        decode_bands(open_l1c(str(copy)), tmp_path / "copies", executor)


def _boa_by_strips(
    l1c_safe: Path, gipp: Gipp, scratch: Path, strip_m: int | None
) -> dict[EncodedKey, np.ndarray]:
    """Every encoded layer of the tile corrected in ``strip_m`` strips (None: one window)."""
    l1c = open_l1c(str(l1c_safe))
    options = ProcessingOptions(input_dir=str(l1c_safe))
    context = tile_context(l1c, gipp, 20)
    layers = scene_classification_layers(l1c, options, gipp, RESOLUTIONS, context=context)
    correction = tile_correction(l1c, gipp, layers, context)
    grid = l1c.metadata.grids[20]
    windows = (
        [Window(0, 0, grid.width, grid.height)] if strip_m is None else strip_windows(grid, strip_m)
    )
    with (
        ThreadPoolExecutor(2) as executor,
        EncodePool(2) as pool,
        EncodedLayers(l1c.metadata.grids, scratch, pool=pool) as encoded,
    ):
        correct_strips_into(
            l1c, gipp, correction, RESOLUTIONS, windows, encoded=encoded, executor=executor
        )
        layers = encoded.keys()
        return {key: encoded.read(key) for key in layers}


def test_strips_with_halos_equal_one_window(l1c_safe: Path, gipp: Gipp, tmp_path: Path) -> None:
    whole = _boa_by_strips(l1c_safe, gipp, tmp_path, None)
    strips = _boa_by_strips(l1c_safe, gipp, tmp_path, STRIP_M)
    expected = {EncodedKey("boa", res, band) for res in RESOLUTIONS for band in BOA_BANDS[res]}
    assert expected <= set(whole)
    assert set(strips) == set(whole)
    for key, pixels in whole.items():
        difference = np.abs(strips[key].astype(np.int32) - pixels.astype(np.int32))
        assert difference.max() <= ROUNDING_DN, key
        assert np.mean(difference > 0) <= ROUNDING_SHARE, key


@pytest.fixture(scope="module")
def terrain_product(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Gipp]:
    """A tile with the simulator's relief and its own DEM configured: the terrain factors are
    computed beside the classification in one process, inside the fan-out's context step."""
    spec = SceneSpec(size=SIZE, seed=7, cloud_fraction=0.1)
    scene = simulate_scene(spec, simulate_geometry(spec))
    folder = tmp_path_factory.mktemp("terrain")
    safe = Path(write_l1c_safe(scene, str(folder)))
    dem = folder / "dem"
    dem.mkdir()
    shutil.copy(folder / "truth" / "DEM_20m.tif", dem)
    gipp = load_gipp(overrides={"l2a.common_section.dem_directory": str(dem)})
    grid = open_l1c(str(safe)).metadata.grids[20]
    assert load_dem(grid, gipp).dem_type == "LOCAL"
    assert float(np.ptp(scene.dem_m)) > 500.0  # relief enough for the terrain correction
    return safe, gipp


@pytest.mark.parametrize("relief", [False, True], ids=["flat", "terrain"])
def test_a_fanned_out_tile_equals_the_one_process_product(
    relief: bool,
    l1c_safe: Path,
    gipp: Gipp,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    if relief:
        l1c_safe, gipp = request.getfixturevalue("terrain_product")
    options = ProcessingOptions(input_dir=str(l1c_safe))
    plan = plan_tile(str(l1c_safe), options, gipp, str(tmp_path / "context"), strip_m=STRIP_M)
    assert plan.strip_count == 2
    assert TilePlan.from_json(json.loads(json.dumps(plan.to_json()))) == plan
    groups = [range(0, 1), range(1, 2)]
    for group in reversed(groups):  # groups finish in any order
        correct_strips(plan, group, str(tmp_path / "parts"), options, gipp)
    with pytest.raises(ProcessingError, match="cover"):
        assemble_tile(plan, str(tmp_path / "parts"), groups[:1], SceneOutputs(
            cloud_uri=str(tmp_path / "never")), options=options, gipp=gipp)  # fmt: skip
    fanned = assemble_tile(
        plan, str(tmp_path / "parts"), groups, SceneOutputs(cloud_uri=str(tmp_path / "fanned")),
        options=options, gipp=gipp,
    )  # fmt: skip
    single = process_scene(
        str(l1c_safe), SceneOutputs(cloud_uri=str(tmp_path / "single")), options, gipp
    )
    names = sorted(Path(uri).name for uri in single.cloud.files)
    assert sorted(Path(uri).name for uri in fanned.cloud.files) == names
    for name in names:
        if name.endswith(".tif"):
            with (
                rasterio.open(tmp_path / "fanned" / name) as a,
                rasterio.open(tmp_path / "single" / name) as b,
            ):
                difference = np.abs(a.read().astype(np.int32) - b.read().astype(np.int32))
            assert difference.max() <= ROUNDING_DN, name
            assert np.mean(difference > 0) <= ROUNDING_SHARE, name
