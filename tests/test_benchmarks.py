"""`make bench` keeps working: one JSON record per size with every stage and the I/O floor
(no timing asserted), and the synthetic full-size L1C behind its large sizes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from benchmarks.floor import floor_layers
from benchmarks.run import l1c_kind, main
from benchmarks.synthetic import NOISE_REFLECTANCE, upscale_scene
from core.product.l1c import open_l1c
from core.product.l2a_rasters import BOA_BANDS, SCL_RESOLUTIONS
from core.resample import block_mean
from core.simulate.forward import simulate_scene
from core.simulate.geometry import simulate_geometry
from core.simulate.l1c_safe import write_l1c_safe
from core.simulate.scene import SceneSpec, SimulatedScene

STAGES = {
    "simulate_l1c",
    "open_l1c",
    "decode_toa_all_bands",
    "create_l2a_tree",
    "process_cog_stac",
    "process_cog_stac_safe",
    "floor_decode",
    "floor_encode_cog",
    "floor_encode_jp2",
}
LAYERS = sum(len(b) for b in BOA_BANDS.values()) + len(SCL_RESOLUTIONS) + 2 * 3


def stages_wall(record: dict, name: str) -> float:
    return record["stages"][name]["wall_s"]


def test_benchmark_writes_one_record_per_size(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    args = ["--sizes", "96,120", "--seed", "2", "--threads", "2", "--output", str(output)]
    assert main([*args, "--cache", str(tmp_path / "cache")]) == 0
    records = json.loads(output.read_text())
    assert [r["size"] for r in records] == [96, 120]
    for record in records:
        assert set(record["stages"]) == STAGES
        assert record["l1c"] == "simulated" and record["threads"] == 2 and record["dem"]
        assert record["total_s"] == stages_wall(record, "process_cog_stac")
        assert record["ratio"] == pytest.approx(record["total_s"] / record["floor_s"])
        assert record["total_safe_s"] == stages_wall(record, "process_cog_stac_safe")
        stages = record["stages"]
        # the disk sampler sees at least the finished outputs (sampled once more at the end)
        disk = [
            stages[name]["disk_peak_mb"] for name in ("process_cog_stac", "process_cog_stac_safe")
        ]
        assert min(disk) > 0 and record["disk_peak_mb"] == max(disk)
        assert record["floor_s"] == pytest.approx(
            stages["floor_decode"]["wall_s"] + stages["floor_encode_cog"]["wall_s"], abs=2e-3
        )
        assert record["floor_safe_s"] == pytest.approx(
            record["floor_s"] + stages["floor_encode_jp2"]["wall_s"], abs=2e-3
        )
        assert stages["floor_encode_cog"]["files"] == LAYERS
        assert stages["floor_encode_jp2"]["files"] == LAYERS
        for stage in stages.values():
            assert stage["wall_s"] >= 0 and stage["cpu_s"] >= 0
            assert 0 < stage["peak_rss_mb"] <= record["peak_rss_mb"]
    # a second run re-uses the cached L1C products
    assert main([*args, "--cache", str(tmp_path / "cache")]) == 0
    assert all("simulate_l1c" not in r["stages"] for r in json.loads(output.read_text()))


def test_floor_writes_every_sen2cor_raster() -> None:
    names = {layer.name for layer in floor_layers()}
    assert {"B02_10m", "B8A_20m", "B09_60m", "SCL_20m", "AOT_10m", "WVP_60m"} <= names
    assert not {"B08_20m", "B10_60m", "SCL_10m"} & names
    assert len(names) == LAYERS


def test_large_sizes_use_the_synthetic_l1c() -> None:
    assert [l1c_kind(s, "auto") for s in (120, 1830, 5490, 10980)] == [
        "simulated",
        "simulated",
        "synthetic",
        "synthetic",
    ]


@pytest.fixture(scope="module")
def small_scene() -> SimulatedScene:
    spec = SceneSpec(size=120, seed=3)
    return simulate_scene(spec, simulate_geometry(spec))


def test_upscaled_scene_keeps_the_small_scene_plus_noise(small_scene: SimulatedScene) -> None:
    big = upscale_scene(small_scene, 360, seed=3)
    assert big.geometry.grids[10].width == 360 and big.geometry.grids[60].height == 60
    for band, factor in (("B02", 3), ("B11", 3), ("B09", 3)):
        toa = big.toa_reflectance[band]
        small = small_scene.toa_reflectance[band]
        assert toa.shape == (small.shape[0] * factor, small.shape[1] * factor)
        np.testing.assert_array_equal(toa, big.toa_reflectance[band])  # same noise each access
        noise = toa - np.repeat(np.repeat(small, factor, axis=0), factor, axis=1)
        valid = np.isfinite(noise)
        assert abs(float(noise[valid].std()) - NOISE_REFLECTANCE) < 0.05 * NOISE_REFLECTANCE
        # block means recover the small scene within the noise of a block mean
        mean = block_mean(np.nan_to_num(toa), factor)
        assert np.nanmax(np.abs(mean - np.nan_to_num(small))) < 5 * NOISE_REFLECTANCE
    np.testing.assert_array_equal(big.scene_class[::3, ::3], small_scene.scene_class)
    with pytest.raises(ValueError, match="multiple"):
        upscale_scene(small_scene, 200, seed=3)


def test_upscaled_product_is_a_readable_l1c(tmp_path: Path, small_scene: SimulatedScene) -> None:
    safe = write_l1c_safe(upscale_scene(small_scene, 240, seed=3), str(tmp_path))
    product = open_l1c(safe)
    assert product.metadata.grids[20].width == 120
    with rasterio.open(product.files.bands["B8A"]) as src:
        assert (src.width, src.height) == (120, 120)
    toa = product.read_toa("B04", 10).reflectance
    assert toa.shape == (240, 240) and np.isfinite(toa).mean() > 0.5
