"""Scene classification (Sen2Cor classic sequence): kernels, steps, shadows and whole scenes.

Truth comes from outside the classifier: numpy re-implementations of the ramps, pixels built from
the GIPP thresholds, the sun geometry of a cloud blob and simulated scenes with known classes
(real pixels: ``test_scene_classification_real.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.io import MemoryFile
from rasterio.warp import transform_bounds
from scipy import ndimage

from core.angles import combine_detectors
from core.config.gipp import load_gipp
from core.config.sc_gipp import ScGipp
from core.errors import InputError, MissingBandError
from core.product.l2a_quality import SceneClass
from core.resample import block_mean
from core.scene_classification import (
    ScAux,
    classify,
    kernels,
    morphology,
    shadows,
    steps,
    topography,
)
from core.scene_classification.aux_maps import load_sc_aux
from core.scene_classification.classify import CLASSIC_BANDS, SceneClassification
from core.scene_classification.shadow_matching import towards
from core.scene_classification.terrain import terrain
from core.simulate.forward import NodeGrid, simulate_scene
from core.simulate.geometry import simulate_geometry
from core.simulate.landscape import LandCover, make_landscape
from core.simulate.scene import SceneGeometry, SceneSpec
from core.simulate.truth import block_mode, coarse_dem, true_scene_class

GIPP = load_gipp().sc
TH = GIPP.scene_classification.thresholds
CC = GIPP.scene_classification.classic_constants


def _ramp(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Independent numpy ramp: 0 at ``low``, 1 at ``high``."""
    return np.clip((x - low) / (high - low), 0.0, 1.0)


def _cube(pixels: dict[str, float], shape: tuple[int, int] = (1, 1)) -> dict[str, np.ndarray]:
    return {band: np.full(shape, value, dtype=np.float32) for band, value in pixels.items()}


def _classify_pixel(pixels: dict[str, float], gipp: ScGipp = GIPP) -> tuple[int, int, int]:
    result = classify(
        _cube(pixels), sun_zenith_deg=30.0, sun_azimuth_deg=150.0, gipp=gipp, resolution=20
    )
    return (
        int(result.scene_class[0, 0]),
        int(result.cloud_probability[0, 0]),
        int(result.snow_probability[0, 0]),
    )


# --- kernels against numpy ----------------------------------------------------------------------

reflectance = st.floats(0.0, 1.25, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(reflectance, reflectance), min_size=1, max_size=40),
    st.sampled_from([(TH.t1_ndsi_cld, TH.t2_ndsi_cld), (TH.t1_ndvi, TH.t2_ndvi)]),
)
def test_normalized_difference_ramp_matches_numpy(
    pairs: list[tuple[float, float]], limits: tuple[float, float]
) -> None:
    first, second = (np.array(v, dtype=np.float32) for v in zip(*pairs, strict=True))
    out = np.empty_like(first)
    kernels.normalized_difference_ramp(first, second, *limits, out)
    total = first.astype(np.float64) + second
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(total != 0, _ramp((first - second) / total, *limits), 0.0)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert ((out >= 0) & (out <= 1)).all()


def test_brightness_kernel_is_the_squared_red_ramp_and_the_dark_test() -> None:
    rng = np.random.default_rng(0)
    b04, b8a = rng.uniform(0, 0.4, (2, 50, 40)).astype(np.float32)
    cloud, dark = np.empty_like(b04), np.empty(b04.shape, dtype=bool)
    kernels.brightness_kernel(
        b04, b8a, TH.t1_b04, TH.t2_b04, CC.t_dark_b04, CC.t_dark_b8a_low, TH.t1_b8a, cloud, dark
    )
    np.testing.assert_allclose(cloud, _ramp(b04, TH.t1_b04, TH.t2_b04) ** 2, atol=1e-6)
    expected_dark = (b04 < CC.t_dark_b04) & (b8a > CC.t_dark_b8a_low) & (b8a < TH.t1_b8a)
    np.testing.assert_array_equal(dark, expected_dark)


def test_soil_kernel_follows_the_blue_limit_of_step_5_1() -> None:
    rng = np.random.default_rng(1)
    b02, b11 = rng.uniform(0.01, 0.5, (2, 80, 80)).astype(np.float32)
    factor = np.empty_like(b02)
    kernels.soil_kernel(
        b02, b11, TH.t11_b02, TH.t12_b02, CC.r_b02_b11_max, CC.t_soil_b02_min,
        CC.t_soil_b02_max, TH.t11_r_b02_b11, TH.t12_r_b02_b11, factor,
    )  # fmt: skip
    ratio = np.clip(b02.astype(np.float64) / b11, 0, CC.r_b02_b11_max)
    limit = np.clip(TH.t11_b02 * ratio + TH.t12_b02, CC.t_soil_b02_min, CC.t_soil_b02_max)
    expected = np.where(b02 < limit, _ramp(ratio, TH.t11_r_b02_b11, TH.t12_r_b02_b11), 1.0)
    np.testing.assert_allclose(factor, expected, atol=1e-5)
    assert (factor == 0).any() and (factor == 1).any()  # both branches exercised


def test_water_and_rock_sand_kernels_match_numpy() -> None:
    rng = np.random.default_rng(2)
    b02, b04, b8a, b11, b12 = rng.uniform(0.005, 0.4, (5, 60, 60)).astype(np.float64)
    water = np.empty_like(b02)
    kernels.water_kernel(
        b02, b04, b8a, b11, b12, TH.t21_b12, TH.t22_b12, CC.t_water_b12_min, CC.t_water_b12_max,
        TH.t21_r_b02_b11, TH.t22_r_b02_b11, CC.t_b02, CC.t_b02_b04_diff, CC.r_b02_b11_max, water,
    )  # fmt: skip
    ratio = np.clip(b02 / b11, 0, CC.r_b02_b11_max)
    b12_limit = np.clip(TH.t21_b12 * ratio + TH.t22_b12, CC.t_water_b12_min, CC.t_water_b12_max)
    side = (b8a < b04) & (b02 < CC.t_b02)
    falling = side & (b12 < b12_limit) & (ratio >= TH.t21_r_b02_b11)
    expected = np.where(falling, 1 - _ramp(ratio, TH.t21_r_b02_b11, TH.t22_r_b02_b11), 1.0)
    expected[side & (b02 - b04 > CC.t_b02_b04_diff)] = 0.0
    np.testing.assert_allclose(water, expected, atol=1e-9)
    rock = np.empty_like(b02)
    kernels.rock_sand_kernel(
        b02, b8a, b11, CC.t11_b8a_b11, CC.t12_b8a_b11, CC.t_rock_b02_min, CC.t_rock_b02_max,
        TH.t1_r_b8a_b11, TH.t2_r_b8a_b11, CC.t_rock_r_b02_b11, rock,
    )  # fmt: skip
    r_nir = b8a / b11
    blue_limit = np.clip(CC.t11_b8a_b11 * r_nir + CC.t12_b8a_b11, CC.t_rock_b02_min,
                         CC.t_rock_b02_max)  # fmt: skip
    tested = (b02 < blue_limit) & (b02 < CC.t_rock_r_b02_b11 * b11)
    np.testing.assert_allclose(
        rock, np.where(tested, _ramp(r_nir, TH.t1_r_b8a_b11, TH.t2_r_b8a_b11), 1.0), atol=1e-9
    )
    assert (water == 0).any() and (rock == 0).any()


def test_snow_confidence_kernel_matches_numpy() -> None:
    rng = np.random.default_rng(4)
    b02, b03, b04, b05, b8a, b11 = rng.uniform(0.01, 1.0, (6, 60, 60))
    cloud = rng.choice([0.0, 0.5, 1.0], (60, 60))
    with np.errstate(divide="ignore", invalid="ignore"):
        ndsi = _ramp((b03 - b11) / (b03 + b11), TH.t1_ndsi_snw, TH.t2_ndsi_snw)
    snow = np.empty_like(b02)
    kernels.snow_confidence_kernel(
        ndsi, b02, b04, b05, b8a, cloud, CC.t_snow_r_b05_b8a, TH.t1_b8a, TH.t2_b8a, TH.t1_b02,
        TH.t2_b02, TH.t1_r_b02_b04, TH.t2_r_b02_b04, snow,
    )  # fmt: skip
    expected = (
        ndsi * _ramp(b8a, TH.t1_b8a, TH.t2_b8a) * _ramp(b02, TH.t1_b02, TH.t2_b02)
        * _ramp(b02 / b04, TH.t1_r_b02_b04, TH.t2_r_b02_b04)
    )  # fmt: skip
    expected[(cloud == 0) | (b05 / b8a < CC.t_snow_r_b05_b8a)] = 0.0
    np.testing.assert_allclose(snow, expected, atol=1e-9)
    assert (snow > TH.t1_snow).any()


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 12), st.integers(1, 12), st.sampled_from([np.float32, np.uint8]),
    st.integers(0, 2**32 - 1),
)  # fmt: skip
def test_median_kernel_and_dilation_match_scipy(
    rows: int, cols: int, dtype: type, seed: int
) -> None:
    """The 3 x 3 median network equals ``ndimage.median_filter`` (edges: nearest), and the
    shifted-OR dilation equals ``ndimage.binary_dilation`` with the iterated cross."""
    rng = np.random.default_rng(seed)
    values: np.ndarray = (rng.random((rows, cols)) * 20).astype(dtype)
    np.testing.assert_array_equal(
        morphology.median(values, 3), ndimage.median_filter(values, 3, mode="nearest")
    )
    mask = values > 15
    cross = ndimage.generate_binary_structure(2, 1)
    for radius in (1, 3):
        np.testing.assert_array_equal(
            morphology.dilate_diamond(mask, radius),
            ndimage.binary_dilation(mask, cross, iterations=radius) if mask.any() else mask,
        )


def test_cloud_height_weight_is_half_at_the_gipp_heights() -> None:
    low, high = CC.sdw_cloud_height_low_km * 1e3, CC.sdw_cloud_height_high_km * 1e3
    centre, half = (low + high) / 2, (high - low) / 2
    order = CC.sdw_cloud_height_order

    def weight(h: float) -> float:
        return float(kernels.cloud_height_weight(h, centre, half, order))

    assert weight(low) == pytest.approx(0.5) and weight(high) == pytest.approx(0.5)
    assert weight(centre) == pytest.approx(1.0)
    assert weight(CC.sdw_cloud_height_top_km * 1e3) < 0.05 and weight(0.0) < 0.5


# --- steps on pixels built from the thresholds ---------------------------------------------------


def _opaque_cloud() -> dict[str, float]:
    """Bright and flat: B04 above T2_B04, NDSI between the cloud and snow ramps, NDVI 0."""
    bright = min(1.0, 2 * TH.t2_b04)
    swir = bright * (1 + TH.t2_ndsi_cld) / (1 - TH.t2_ndsi_cld) * 1.05  # NDSI just above T2
    return {"B02": bright, "B03": bright, "B04": bright, "B05": bright, "B8A": bright,
            "B10": TH.t1_b10 / 2, "B11": swir, "B12": swir}  # fmt: skip


def _vegetation() -> dict[str, float]:
    """Dark red, bright NIR (NDVI far above T2_NDVI), blue below T_VEGETATION_B02."""
    red = TH.t1_b04 / 2
    return {"B02": CC.t_vegetation_b02 / 2, "B03": red * 1.5, "B04": red, "B05": 2 * red,
            "B8A": TH.t2_b8a, "B10": TH.t1_b10 / 4, "B11": TH.t2_b8a / 2,
            "B12": TH.t2_b8a / 4}  # fmt: skip


def _water() -> dict[str, float]:
    """B02/B11 above T22_R_B02_B11, B8A below B04, B02 below T_B02, B12 below its limit."""
    blue = CC.t_b02 / 2
    return {"B02": blue, "B03": 0.75 * blue, "B04": 0.5 * blue, "B05": 0.4 * blue,
            "B8A": 0.3 * blue, "B10": TH.t1_b10 / 10, "B11": blue / (2 * TH.t22_r_b02_b11),
            "B12": CC.t_water_b12_min / 2}  # fmt: skip


def _snow() -> dict[str, float]:
    """Bright in the visible and NIR, dark in SWIR: NDSI above T2_NDSI_SNW."""
    bright = 0.8
    swir = bright * (1 - TH.t2_ndsi_snw) / (1 + TH.t2_ndsi_snw) / 2
    return {"B02": bright, "B03": bright, "B04": bright * TH.t1_r_b02_b04, "B05": bright,
            "B8A": max(TH.t2_b8a, 0.9 * bright), "B10": TH.t1_b10 / 2, "B11": swir,
            "B12": swir}  # fmt: skip


def _bare_soil() -> dict[str, float]:
    """Reddish, bright SWIR (NDSI under T1_NDSI_CLD), B02/B11 under T11_R_B02_B11."""
    swir = 0.3
    return {"B02": swir * TH.t11_r_b02_b11 / 2, "B03": 0.12, "B04": 0.15, "B05": 0.17,
            "B8A": 0.22, "B10": TH.t1_b10 / 4, "B11": swir, "B12": 0.8 * swir}  # fmt: skip


def _dark_feature() -> dict[str, float]:
    """B04 under T_DARK_B04, B8A between T_DARK_B8A_LOW and T1_B8A; NDVI, B8A/B03 and B02/B11
    keep it out of the vegetation, water and soil recoveries."""
    red = CC.t_dark_b04 / 2
    nir = (CC.t_dark_b8a_low + TH.t1_b8a) / 2
    return {"B02": red, "B03": red, "B04": red, "B05": red, "B8A": min(nir, 1.2 * red),
            "B10": TH.t1_b10 / 10, "B11": red, "B12": red}  # fmt: skip


@pytest.mark.parametrize(
    ("pixel", "expected"),
    [
        (_dark_feature, SceneClass.DARK_FEATURES),
        (_opaque_cloud, SceneClass.HIGH_PROBA_CLOUDS),
        (_vegetation, SceneClass.VEGETATION),
        (_water, SceneClass.WATER),
        (_snow, SceneClass.SNOW_ICE),
        (_bare_soil, SceneClass.NOT_VEGETATED),
    ],
)
def test_hand_made_pixels_get_the_class_the_thresholds_imply(
    pixel: Callable[[], dict[str, float]], expected: SceneClass
) -> None:
    scene_class, cloud, snow = _classify_pixel(pixel())
    assert scene_class == expected
    assert (cloud >= TH.t_cloud_hp * 100) == (expected == SceneClass.HIGH_PROBA_CLOUDS)
    assert (snow > TH.t1_snow * 100) == (expected == SceneClass.SNOW_ICE)


def test_cirrus_on_b10_overrides_clear_classes() -> None:
    thin = {**_vegetation(), "B10": (TH.t1_b10 + TH.t2_b10) / 2}
    thick = {**_vegetation(), "B10": 1.5 * TH.t2_b10}
    assert _classify_pixel(thin)[0] == SceneClass.THIN_CIRRUS
    assert _classify_pixel(thick)[0] == SceneClass.MEDIUM_PROBA_CLOUDS


def test_thresholds_come_from_the_gipp() -> None:
    """Moving T_CLOUD_HP above the cloud's confidence turns high into medium probability."""
    sc = GIPP.scene_classification
    moved = dataclasses.replace(
        GIPP,
        scene_classification=dataclasses.replace(
            sc, thresholds=dataclasses.replace(TH, t_cloud_hp=1.5)
        ),
    )
    assert _classify_pixel(_opaque_cloud(), moved)[0] == SceneClass.MEDIUM_PROBA_CLOUDS
    no_dem_cut = {**_vegetation(), "B10": (TH.t1_b10 + TH.t2_b10) / 2}
    high = classify(
        _cube(no_dem_cut), sun_zenith_deg=30.0, sun_azimuth_deg=150.0, gipp=GIPP,
        resolution=20, dem_m=np.full((1, 1), CC.t_cirrus_dem_m + 1, dtype=np.float32),
    )  # fmt: skip
    assert high.scene_class[0, 0] == SceneClass.VEGETATION  # cirrus cut above T_CIRRUS_DEM_M


def test_cloud_classes_split_the_confidence_at_the_gipp_limits() -> None:
    values = np.array(
        [[TH.t_cloud_lp, TH.t_cloud_mp / 2, TH.t_cloud_mp, (TH.t_cloud_mp + TH.t_cloud_hp) / 2,
          TH.t_cloud_hp, 1.0]], dtype=np.float32,
    )  # fmt: skip
    state = steps.initial_state(np.zeros(values.shape, bool), np.zeros(values.shape, bool), GIPP)
    state = steps.cloud_classes(dataclasses.replace(state, cloud_probability=values), GIPP)
    assert state.scene_class.tolist() == [[steps.PENDING, 7, 8, 8, 9, 9]]


def test_snow_ring_dilation_is_a_diamond_of_the_gipp_width() -> None:
    mask = np.zeros((15, 15), dtype=bool)
    mask[7, 7] = True
    ring = morphology.ring(mask, CC.snow_ring_px)
    rows, cols = np.nonzero(ring)
    distance = np.abs(rows - 7) + np.abs(cols - 7)
    assert distance.min() == 1 and distance.max() == CC.snow_ring_px
    assert ring.sum() == 2 * CC.snow_ring_px * (CC.snow_ring_px + 1)  # diamond area minus centre


def test_scl_downsampling_is_median_then_nearest() -> None:
    rng = np.random.default_rng(3)
    scl = rng.integers(0, 12, (30, 30), dtype=np.uint8)
    coarse = morphology.downsample_scene_class(scl, 3)
    expected = ndimage.median_filter(scl, size=3, mode="nearest")[1::3, 1::3]
    np.testing.assert_array_equal(coarse, expected)


# --- quality masks, errors ------------------------------------------------------------------------


def test_l1c_quality_masks_give_classes_0_and_1() -> None:
    cube = _cube(_vegetation(), (4, 4))
    cube["B03"][0, 0] = np.nan  # any band without data
    saturated = np.zeros((4, 4), dtype=bool)
    saturated[1, 1] = saturated[0, 0] = True
    nodata = np.zeros((4, 4), dtype=bool)
    nodata[3, 3] = True
    result = classify(
        cube, sun_zenith_deg=30.0, sun_azimuth_deg=150.0, gipp=GIPP, resolution=20,
        nodata=nodata, saturated=saturated,
    )  # fmt: skip
    expected = np.full((4, 4), SceneClass.VEGETATION)
    expected[0, 0] = expected[3, 3] = SceneClass.NO_DATA  # no-data wins over saturated
    expected[1, 1] = SceneClass.SATURATED_DEFECTIVE
    np.testing.assert_array_equal(result.scene_class, expected)
    assert np.isnan(cube["B03"][0, 0])  # the caller's arrays are left alone


def test_bad_inputs_are_refused_with_one_line() -> None:
    cube = _cube(_vegetation(), (3, 3))
    with pytest.raises(MissingBandError, match="B10"):
        classify({k: v for k, v in cube.items() if k != "B10"}, sun_zenith_deg=30.0,
                 sun_azimuth_deg=150.0, gipp=GIPP, resolution=20)  # fmt: skip
    with pytest.raises(InputError, match="20 or 60 m"):
        classify(cube, sun_zenith_deg=30.0, sun_azimuth_deg=150.0, gipp=GIPP, resolution=10)
    with pytest.raises(InputError, match="sun_zenith_deg"):
        classify(cube, sun_zenith_deg=np.zeros((2, 2)), sun_azimuth_deg=150.0, gipp=GIPP,
                 resolution=20)  # fmt: skip


def test_median_filter_smooths_the_final_scl() -> None:
    rng = np.random.default_rng(5)
    cube = {band: rng.uniform(0.0, 0.6, (40, 40)).astype(np.float32) for band in CLASSIC_BANDS}
    plain, filtered = (
        classify(
            cube, sun_zenith_deg=30.0, sun_azimuth_deg=150.0, gipp=GIPP, resolution=20,
            median_filter_px=size,
        ).scene_class
        for size in (0, 3)
    )  # fmt: skip
    np.testing.assert_array_equal(filtered, ndimage.median_filter(plain, 3, mode="nearest"))
    assert (filtered != plain).any()


def test_snow_tests_follow_the_snow_map_gate() -> None:
    gated = classify(
        _cube(_snow()), sun_zenith_deg=30.0, sun_azimuth_deg=150.0, gipp=GIPP, resolution=20,
        aux=ScAux(snow_possible=False),
    )  # fmt: skip
    assert gated.scene_class[0, 0] != SceneClass.SNOW_ICE
    assert gated.snow_probability[0, 0] == 0


# --- auxiliary data: DEM and ESA CCI water bodies ----------------------------------------------


@pytest.mark.parametrize(("slope_deg", "aspect_deg"), [(20.0, 180.0), (35.0, 0.0), (10.0, 90.0)])
def test_hillshade_of_a_plane_is_the_cosine_of_incidence(
    slope_deg: float, aspect_deg: float
) -> None:
    """A plane facing ``aspect_deg``: cos(i) = cos z cos s + sin z sin s cos(a_sun - aspect)."""
    resolution, zenith, azimuth = 20, 40.0, 160.0
    rows, cols = np.mgrid[0:20, 0:20] * resolution
    east, north = cols.astype(float), -rows.astype(float)
    downhill = np.radians(aspect_deg)  # the plane descends towards its aspect
    height = -np.tan(np.radians(slope_deg)) * (east * np.sin(downhill) + north * np.cos(downhill))
    relief = terrain(height, resolution, sun_zenith_deg=zenith, sun_azimuth_deg=azimuth)
    z, s = np.radians(zenith), np.radians(slope_deg)
    cos_i = np.cos(z) * np.cos(s) + np.sin(z) * np.sin(s) * np.cos(np.radians(azimuth - aspect_deg))
    inside = (slice(1, -1), slice(1, -1))  # the outer ring sees a repeated edge
    np.testing.assert_allclose(relief.slope_deg[inside], slope_deg, atol=1e-3)
    np.testing.assert_allclose(relief.hillshade[inside], np.rint(255 * max(cos_i, 0.0)), atol=1)


def test_dem_cleaning_turns_steep_shaded_water_into_dark_features() -> None:
    shape = (30, 30)
    cube = _cube(_water(), shape)
    # a north-facing 45 deg slope under a southern sun is in shade; the flat part is lit
    rows = np.mgrid[0 : shape[0], 0 : shape[1]][0]
    dem = (np.minimum(rows, 15) * 20.0).astype(np.float32)
    result = classify(
        cube, sun_zenith_deg=60.0, sun_azimuth_deg=180.0, gipp=GIPP, resolution=20, dem_m=dem
    )
    relief = terrain(dem, 20, sun_zenith_deg=60.0, sun_azimuth_deg=180.0)
    steep_shade = (relief.hillshade < CC.t_hillshade) & (relief.slope_deg > CC.t_slope_deg)
    assert steep_shade.any() and (~steep_shade).any()
    np.testing.assert_array_equal(
        result.scene_class, np.where(steep_shade, SceneClass.DARK_FEATURES, SceneClass.WATER)
    )


def test_default_mode_keeps_class_2_for_topographic_shadow_only() -> None:
    """A 45 deg north-facing slope under a sun 30 deg high in the south is self-shadowed."""
    shape = (30, 30)
    rows = np.mgrid[0 : shape[0], 0 : shape[1]][0]
    dem = (np.minimum(rows, 15) * 20.0).astype(np.float32)  # north-facing slope, then plateau
    result = classify(
        _cube(_dark_feature(), shape), sun_zenith_deg=60.0, sun_azimuth_deg=180.0, gipp=GIPP,
        resolution=20, dem_m=dem, classic=False,
    )  # fmt: skip
    pixel = _dark_feature()
    ndvi = (pixel["B8A"] - pixel["B04"]) / (pixel["B8A"] + pixel["B04"])
    lit = SceneClass.VEGETATION if ndvi > GIPP.scene_classification.default_mode.t_land_ndvi else (
        SceneClass.NOT_VEGETATED
    )  # fmt: skip
    np.testing.assert_array_equal(
        result.scene_class, np.where(rows < 15, SceneClass.DARK_FEATURES, lit)
    )


@pytest.mark.parametrize(("zenith", "azimuth"), [(60.0, 180.0), (45.0, 135.0), (70.0, 225.0)])
def test_topographic_cast_shadow_has_the_length_of_the_sun_geometry(
    zenith: float, azimuth: float
) -> None:
    """A 200 m tower on flat ground shades ``200 m tan(zenith)`` of it, away from the sun."""
    size, resolution, height = 120, 20, 200.0
    dem = np.zeros((size, size), dtype=np.float32)
    dem[57:63, 57:63] = height  # whole 3 x 3 blocks: the coarse DEM keeps the height
    shade = topography.cast_shadow(
        dem, resolution, sun_zenith_deg=zenith, sun_azimuth_deg=azimuth, grid_m=resolution
    )
    rows, cols = np.nonzero(shade & (dem == 0))
    east, north = (cols - 59.5) * resolution, -(rows - 59.5) * resolution
    anti_solar = np.radians(azimuth + 180.0)
    along = east * np.sin(anti_solar) + north * np.cos(anti_solar)
    reach = height * np.tan(np.radians(zenith))
    # the tower's far corner, half its width from the centre along each axis
    corner = 3 * resolution * (abs(np.sin(anti_solar)) + abs(np.cos(anti_solar)))
    assert along.min() > 0  # all down-sun of the tower
    assert along.max() == pytest.approx(reach + corner, abs=2 * resolution)
    # on a DEM three times coarser (TOPO_SHADOW_GRID_M) the shadow is as long, at its accuracy
    coarse = topography.cast_shadow(
        dem, resolution, sun_zenith_deg=zenith, sun_azimuth_deg=azimuth, grid_m=3 * resolution
    )
    rows, cols = np.nonzero(coarse & (dem == 0))
    east, north = (cols - 59.5) * resolution, -(rows - 59.5) * resolution
    along = east * np.sin(anti_solar) + north * np.cos(anti_solar)
    assert along.min() > 0
    assert along.max() == pytest.approx(reach + corner, abs=2 * 3 * resolution)


def test_ground_at_cloud_edges_keeps_its_class_where_only_the_cloud_lifts_b10() -> None:
    """An opaque cloud (B10 0.05) over vegetation, 2 pixels from a thin-cirrus field (B10 0.02),
    B10 averaged to 60 m and read back bilinearly as the product reader does. The classic
    sequence flags the vegetation round the cloud as cirrus; the default mode keeps it
    vegetation, yet flags the whole cirrus field and every 60 m B10 pixel above T1_B10."""
    size = 90
    reach = round(GIPP.scene_classification.default_mode.cirrus_edge_m / 20)
    cube = _cube(_vegetation(), (size, size))
    cloud = np.zeros((size, size), dtype=bool)
    cloud[31:47, 31:47] = True  # not aligned with the 60 m cells: some hold cloud and ground
    cirrus = np.zeros((size, size), dtype=bool)
    cirrus[:, 49:] = True
    for band, value in _opaque_cloud().items():
        cube[band][cloud] = value
    b10 = np.where(cloud, 0.05, np.where(cirrus, (TH.t1_b10 + TH.t2_b10) / 2, 0.001))
    b10_60m = block_mean(b10.astype(np.float32), 3)
    cube["B10"] = _to_20m(b10_60m, 60)
    lifted = morphology.ring(cloud, reach) & ~morphology.dilate_diamond(cirrus, reach)
    lifted &= cube["B10"] >= TH.t1_b10  # ground whose B10 the cloud lifts
    assert lifted.sum() > 40
    scl = {
        classic: classify(
            cube, sun_zenith_deg=30.0, sun_azimuth_deg=150.0, gipp=GIPP, resolution=20,
            classic=classic,
        ).scene_class
        for classic in (True, False)
    }  # fmt: skip
    assert np.isin(scl[True][lifted], (8, 10)).all()
    assert (scl[False][lifted] == SceneClass.VEGETATION).all()
    field = cirrus & ~morphology.dilate_diamond(cloud, 2 * reach)
    assert (scl[False][field] == SceneClass.THIN_CIRRUS).all()
    assert (scl[False][cloud] == SceneClass.HIGH_PROBA_CLOUDS).all()
    assert _cirrus_flagged(b10_60m, scl[False]) == 1.0


def test_land_split_follows_the_gipp_ndvi() -> None:
    """Dry grass (TOA NDVI between T_LAND_NDVI and T1_NDVI) is vegetation in the default mode."""
    t_land = GIPP.scene_classification.default_mode.t_land_ndvi
    ndvi = (t_land + TH.t1_ndvi) / 2
    red, swir = 0.10, 0.25  # B02/B11 under T11_R_B02_B11: the classic soil test takes it
    nir = red * (1 + ndvi) / (1 - ndvi)
    grass = {"B02": 0.08, "B03": 0.09, "B04": red, "B05": 0.12, "B8A": nir,
             "B10": TH.t1_b10 / 4, "B11": swir, "B12": 0.7 * swir}  # fmt: skip
    modes = {
        classic: classify(
            _cube(grass), sun_zenith_deg=30.0, sun_azimuth_deg=150.0, gipp=GIPP, resolution=20,
            classic=classic,
        ).scene_class[0, 0]
        for classic in (True, False)
    }  # fmt: skip
    assert modes == {True: SceneClass.NOT_VEGETATED, False: SceneClass.VEGETATION}


def test_cci_water_bodies_recover_dark_features() -> None:
    cube = _cube(_dark_feature(), (2, 2))
    water_bodies = np.array([[CC.cci_wb_water_value, 0], [0, 0]], dtype=np.uint8)
    result = classify(
        cube, sun_zenith_deg=30.0, sun_azimuth_deg=150.0, gipp=GIPP, resolution=20,
        aux=ScAux(water_bodies=water_bodies),
    )  # fmt: skip
    assert result.scene_class.tolist() == [[6, 2], [2, 2]]


def test_monthly_snow_condition_gates_snow_and_relabels_snow_over_water() -> None:
    """ESA CCI snow condition: occurrence 0 % (no snow this month), 50 %, water, invalid."""
    water = CC.cci_snow_water_value
    condition = np.array([[0, 50, water, 255]], dtype=np.uint8)
    cube = _cube(_snow(), condition.shape)
    classes = {
        classic: classify(
            cube, sun_zenith_deg=30.0, sun_azimuth_deg=150.0, gipp=GIPP, resolution=20,
            aux=ScAux(snow_condition=condition), classic=classic,
        ).scene_class[0].tolist()
        for classic in (True, False)
    }  # fmt: skip
    snow, cloud = SceneClass.SNOW_ICE, SceneClass.MEDIUM_PROBA_CLOUDS
    assert classes[True] == [snow, snow, cloud, snow]  # Sen2Cor 2.8: only snow over water
    # 2.10+ monthly gate: no snow where it never lies this month nor over water
    assert classes[False][1] == classes[False][3] == snow
    assert classes[False][0] != snow and classes[False][2] != snow


def _write_map(path: Path, values: np.ndarray, bounds: tuple[float, float, float, float]) -> None:
    """A lon/lat GeoTIFF covering ``bounds`` (west, south, east, north)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    west, south, east, north = bounds
    rows, cols = values.shape
    transform = Affine((east - west) / cols, 0.0, west, 0.0, -(north - south) / rows, north)
    with rasterio.open(
        path, "w", driver="GTiff", width=values.shape[1], height=values.shape[0], count=1,
        dtype="uint8", crs="EPSG:4326", transform=transform,
    ) as dst:  # fmt: skip
        dst.write(values, 1)


def test_aux_maps_in_sen2cor_layout_are_warped_to_the_grid(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Water bodies, snow map and the month's snow condition; a missing map is logged."""
    grid = simulate_geometry(SceneSpec(size=120, seed=0)).grids[60]  # 32TQM, 20 x 20 cells
    west, south, east, north = transform_bounds(
        CRS.from_epsg(grid.crs_epsg), "EPSG:4326",
        *rasterio.transform.array_bounds(grid.height, grid.width, grid.transform),
    )  # fmt: skip
    box = (west - 0.01, south - 0.01, east + 0.01, north + 0.01)
    half = np.zeros((100, 100), dtype=np.uint8)
    half[:, 50:] = CC.cci_wb_water_value  # eastern half of the box is water
    refs = GIPP.scene_classification.references
    _write_map(tmp_path / refs.esacci_waterbodies_map, half, box)
    monthly = tmp_path / refs.esacci_snowcondition_map_dir
    for month, value in ((6, 10), (7, 0)):
        _write_map(
            monthly / f"snow_condition_{month:02d}.tif", np.full((4, 4), value, np.uint8), box
        )
    with caplog.at_level("WARNING"):
        aux = load_sc_aux(str(tmp_path), grid, GIPP, month=7)
    assert aux.snow_possible is None and refs.snow_map in caplog.text  # absent: tests run
    _write_map(tmp_path / refs.snow_map, np.full((4, 4), 3, dtype=np.uint8), box)
    aux = load_sc_aux(str(tmp_path), grid, GIPP, month=7)
    assert aux.snow_possible is True
    assert aux.snow_condition is not None and (aux.snow_condition == 0).all()  # July, not June
    assert aux.water_bodies is not None and aux.water_bodies.shape == (grid.height, grid.width)
    # each cell's centre: water where its longitude is east of the box's middle
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width]
    x, y = rasterio.transform.xy(grid.transform, rows.ravel(), cols.ravel())
    lon, _ = Transformer.from_crs(grid.crs_epsg, 4326, always_xy=True).transform(x, y)
    east_half = np.reshape(lon, rows.shape) > (box[0] + box[2]) / 2
    margin = np.abs(np.reshape(lon, rows.shape) - (box[0] + box[2]) / 2) > 0.002
    np.testing.assert_array_equal(
        aux.water_bodies[margin], np.where(east_half, CC.cci_wb_water_value, 0)[margin]
    )
    # the water bodies reach the classification: dark features over CCI water become water
    cube = _cube(_dark_feature(), (grid.height, grid.width))
    scl = classify(
        cube, sun_zenith_deg=30.0, sun_azimuth_deg=150.0, gipp=GIPP, resolution=60, aux=aux
    ).scene_class
    np.testing.assert_array_equal(
        scl[margin], np.where(east_half, SceneClass.WATER, SceneClass.DARK_FEATURES)[margin]
    )
    assert load_sc_aux(None, grid, GIPP, month=7) == ScAux()


def _bright_roof() -> dict[str, float]:
    """Flat and bright like a thin cloud: red B04 = 0.2 gives ``Pc`` = 0.54 (medium), NDSI just
    above T2_NDSI_CLD, B02/B11 and B8A/B11 above the soil and rock ramps."""
    return {**_opaque_cloud(), **{band: 0.2 for band in ("B02", "B03", "B04", "B05", "B8A")},
            "B11": 0.2 / 1.315, "B12": 0.2 / 1.315}  # fmt: skip


def test_cci_land_cover_in_sen2cor_layout_recovers_isolated_urban_blobs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Step 17: a bright blob on CCI urban land cover in clear land is ground; the same blob
    on cropland, or on urban land but inside a cloud, stays a cloud; no map: step skipped."""
    grid = simulate_geometry(SceneSpec(size=120, seed=0)).grids[60]  # 20 x 20 cells
    west, south, east, north = transform_bounds(
        CRS.from_epsg(grid.crs_epsg), "EPSG:4326",
        *rasterio.transform.array_bounds(grid.height, grid.width, grid.transform),
    )  # fmt: skip
    box = (west - 0.01, south - 0.01, east + 0.01, north + 0.01)
    cover = np.full((100, 100), 10, dtype=np.uint8)  # CCI LCCS 10: cropland
    cover[:, :50] = CC.cci_lc_urban  # western half of the box is urban
    refs = GIPP.scene_classification.references
    with caplog.at_level("WARNING"):
        assert load_sc_aux(str(tmp_path), grid, GIPP, month=7).land_cover is None
    assert refs.esacci_landcover_map in caplog.text
    _write_map(tmp_path / refs.esacci_landcover_map, cover, box)
    aux = load_sc_aux(str(tmp_path), grid, GIPP, month=7)
    assert aux.land_cover is not None
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width]
    x, y = rasterio.transform.xy(grid.transform, rows.ravel(), cols.ravel())
    lon, _ = Transformer.from_crs(grid.crs_epsg, 4326, always_xy=True).transform(x, y)
    lon = np.reshape(lon, rows.shape)
    margin = np.abs(lon - (box[0] + box[2]) / 2) > 0.002
    urban = np.where(lon < (box[0] + box[2]) / 2, CC.cci_lc_urban, 10)
    np.testing.assert_array_equal(aux.land_cover[margin], urban[margin])
    cube = _cube(_vegetation(), (grid.height, grid.width))
    blobs = {"urban": (slice(8, 11), slice(2, 5)), "crop": (slice(8, 11), slice(15, 18)),
             "urban in cloud": (slice(15, 18), slice(2, 5))}  # fmt: skip
    cloud = np.zeros(rows.shape, dtype=bool)
    cloud[13:20, 0:7] = True
    for band, value in _opaque_cloud().items():
        cube[band][cloud] = value
    for where in blobs.values():
        for band, value in _bright_roof().items():
            cube[band][where] = value
    assert (urban[blobs["urban"]] == CC.cci_lc_urban).all()  # the blobs lie off the margin
    assert (urban[blobs["crop"]] == 10).all() and (urban[blobs["urban in cloud"]] != 10).all()

    def scene_class(aux: ScAux) -> np.ndarray:
        return classify(
            cube, sun_zenith_deg=30.0, sun_azimuth_deg=150.0, gipp=GIPP, resolution=60, aux=aux
        ).scene_class

    with caplog.at_level("INFO"):
        without = scene_class(ScAux())
    assert "no ESA CCI land cover" in caplog.text
    with_map = scene_class(aux)
    for name, where in blobs.items():
        assert (without[where] == SceneClass.MEDIUM_PROBA_CLOUDS).all()
        expected = SceneClass.NOT_VEGETATED if name == "urban" else SceneClass.MEDIUM_PROBA_CLOUDS
        assert (with_map[where] == expected).all(), name
    assert (with_map[cloud & ~np.isin(rows, range(15, 18))] == SceneClass.HIGH_PROBA_CLOUDS).all()


def test_land_and_cirrus_recoveries_use_b10_and_water_vapour() -> None:
    """Steps 15-16 on 144 km2 of cropland (60 m): bright ground that the spectral tests call a
    high-probability cloud, but with the land's B10 and water vapour (B09/B8A), is ground;
    real clouds (higher B10, less water vapour above them) stay; vegetation whose B10 stands
    out of the NOT_VEGETATED statistics, under T1_B10, is thin cirrus."""
    size = 200
    rng = np.random.default_rng(6)
    cube = _cube({**_vegetation(), "B10": 0.001}, (size, size))
    vapour = rng.uniform(0.30, 0.40, (size, size)).astype(np.float32)  # land B09/B8A
    clouds = np.zeros((size, size), dtype=bool)
    clouds[20:60, 20:60] = clouds[120:160, 100:140] = True  # 8 %, blobs above HPC_BLOB_MIN_M
    ground = np.zeros((size, size), dtype=bool)
    ground[100:130, 20:50] = True
    cirrus = np.zeros((size, size), dtype=bool)
    cirrus[170:180, 170:180] = True
    for band, value in _opaque_cloud().items():
        cube[band][clouds | ground] = value
    cube["B10"][clouds] = 0.008  # a low cloud: under T1_B10, far above the land
    vapour[clouds] = 0.8
    cube["B10"][ground] = 0.0005
    vapour[ground] = 0.33
    cube["B10"][cirrus] = 0.006  # under T1_B10, above T_CIRRUS_RECOVERY_LAND_B10
    cube["B09"] = vapour * cube["B8A"]
    land_cover = np.full((size, size), 10, dtype=np.uint8)

    def scene_class(toa: dict[str, np.ndarray], aux: ScAux) -> np.ndarray:
        return classify(
            toa, sun_zenith_deg=30.0, sun_azimuth_deg=150.0, gipp=GIPP, resolution=60, aux=aux
        ).scene_class

    no_b09 = {band: values for band, values in cube.items() if band != "B09"}
    runs = {
        "map": scene_class(cube, ScAux(land_cover=land_cover)),
        "no map": scene_class(cube, ScAux()),
        "no B09": scene_class(no_b09, ScAux(land_cover=land_cover)),
    }
    high, soil = SceneClass.HIGH_PROBA_CLOUDS, SceneClass.NOT_VEGETATED
    assert (runs["map"][ground] == soil).all() and (runs["map"][clouds] == high).all()
    assert (runs["map"][cirrus] == SceneClass.THIN_CIRRUS).all()
    assert (runs["no map"][ground] == high).all()
    assert (runs["no map"][cirrus] == SceneClass.VEGETATION).all()
    assert (runs["no B09"][ground] == high).all()  # step 15 skipped
    # step 16 runs: no NOT_VEGETATED pixel, the limit is T_CIRRUS_RECOVERY_LAND_B10
    assert (runs["no B09"][cirrus] == SceneClass.THIN_CIRRUS).all()
    rest = ~(clouds | ground | cirrus)
    assert (runs["map"][rest] == SceneClass.VEGETATION).mean() > 0.99


# --- cloud shadows: geometry of the sun ----------------------------------------------------------


@pytest.mark.parametrize(("zenith", "azimuth"), [(30.0, 150.0), (55.0, 200.0), (40.0, 90.0)])
def test_shadow_is_cast_away_from_the_sun_at_cloud_height(zenith: float, azimuth: float) -> None:
    resolution = 20
    size = 300
    probability = np.zeros((size, size), dtype=np.float32)
    probability[140:160, 140:160] = 1.0
    geometric = shadows.geometric_score(
        probability, np.zeros((size, size), bool), sun_zenith_deg=zenith, sun_azimuth_deg=azimuth,
        resolution=resolution, gipp=GIPP,
    )  # fmt: skip
    rows, cols = np.nonzero(geometric > 0.5)
    east = (cols - 149.5) * resolution  # metres from the cloud centre
    north = -(rows - 149.5) * resolution
    anti_solar = np.radians(azimuth + 180.0)
    along = east * np.sin(anti_solar) + north * np.cos(anti_solar)
    across = -east * np.cos(anti_solar) + north * np.sin(anti_solar)
    tan_z = np.tan(np.radians(zenith))
    # the shadow of the band of likely heights lies down-sun, within the cloud's half width across
    mid = np.average(along, weights=geometric[rows, cols])
    low, high = CC.sdw_cloud_height_low_km * 1e3, CC.sdw_cloud_height_high_km * 1e3
    assert low * tan_z < mid < high * tan_z
    assert np.abs(across).max() < 10 * resolution + 3 * CC.sdw_gauss_sigma_px * resolution
    # per-pixel angles equal to the scalar ones give the same projection
    per_pixel = shadows.geometric_score(
        probability, np.zeros((size, size), bool),
        sun_zenith_deg=np.full((size, size), zenith),
        sun_azimuth_deg=np.full((size, size), azimuth), resolution=resolution, gipp=GIPP,
    )  # fmt: skip
    # float32 FFT round-off: 1e-5 against the SDW_SCORE decision level of 0.05
    np.testing.assert_allclose(per_pixel, geometric, atol=1e-5)


def test_shadow_matching_recovers_a_deep_shadow_at_the_cloud_height() -> None:
    """A cloud 2.5 km up over vegetation casts a deep (water-like) shadow where geometry says."""
    size, resolution, zenith, azimuth, height_m = 200, 20, 35.0, 160.0, 2500.0
    cube = _cube(_vegetation(), (size, size))
    cloud = np.zeros((size, size), dtype=bool)
    cloud[120:150, 90:115] = True  # its shadow lies inside the image (np.roll wraps)
    reach = height_m * np.tan(np.radians(zenith)) / resolution
    d_row = round(reach * np.cos(np.radians(azimuth)))
    d_col = round(-reach * np.sin(np.radians(azimuth)))
    shadow = np.roll(cloud, (d_row, d_col), axis=(0, 1)) & ~cloud
    reference = shadows.shadow_reference(GIPP)
    deep = {band: 0.5 * value for band, value in zip(shadows.SHADOW_BANDS, reference, strict=True)}
    deep["B11"] = deep["B02"] / (2 * CC.sdw_water_r_b02_b11)  # water-like: classic drops it
    for band, value in {**_opaque_cloud(), "B10": TH.t1_b10 / 2}.items():
        cube[band][cloud] = value
    for band, value in deep.items():
        cube[band][shadow] = value
    found = {
        mode: classify(
            cube, sun_zenith_deg=zenith, sun_azimuth_deg=azimuth, gipp=GIPP, resolution=resolution,
            classic=mode,
        ).scene_class == SceneClass.CLOUD_SHADOWS
        for mode in (True, False)
    }  # fmt: skip
    assert found[False][shadow].mean() > 0.95 and not found[True][shadow].any()
    assert not (found[False] & ~shadow).any()
    # view angles without a valid value (outside the swath) leave the cloud at nadir
    nadir = classify(
        cube, sun_zenith_deg=zenith, sun_azimuth_deg=azimuth, gipp=GIPP, resolution=resolution,
        classic=False, view_zenith_deg=np.full((size, size), np.nan), view_azimuth_deg=100.0,
    ).scene_class == SceneClass.CLOUD_SHADOWS  # fmt: skip
    np.testing.assert_array_equal(nadir, found[False])


def test_radiometric_score_rejects_water_and_accepts_darker_than_reference() -> None:
    reference = [CC.sdw_ref_b02, CC.sdw_ref_b03, CC.sdw_ref_b04, CC.sdw_ref_b8a, CC.sdw_ref_b11,
                 CC.sdw_ref_b12]  # fmt: skip
    darker = dict(zip(shadows.SHADOW_BANDS, [0.9 * r for r in reference], strict=True))
    water = {**darker, "B11": darker["B02"] / (2 * CC.sdw_water_r_b02_b11)}
    bright = dict(zip(shadows.SHADOW_BANDS, [r + 0.1 for r in reference], strict=True))
    for pixels, expected in ((darker, 1.0), (water, 0.0), (bright, 0.0)):
        cube = _cube(pixels, (5, 5))
        spectrum = shadows.shadow_spectrum(cube, GIPP)
        score = shadows.radiometric_score(cube, spectrum, np.zeros((5, 5), bool), GIPP)
        np.testing.assert_allclose(score, expected)


def _to_20m(values: np.ndarray, native_m: int) -> np.ndarray:
    """Sen2Cor's 20 m band set as the product reader builds it (facts §1.3,
    :func:`core.io.raster.read_resampled`): 10 m block mean, 60 m (B10) bilinear through GDAL."""
    if native_m == 10:
        return block_mean(values, 2)
    if native_m == 60:
        rows, cols = values.shape
        profile = {"driver": "GTiff", "width": cols, "height": rows, "count": 1,
                   "dtype": "float32", "crs": "EPSG:32633",
                   "transform": Affine(60.0, 0.0, 0.0, 0.0, -60.0, 0.0)}  # fmt: skip
        with MemoryFile() as memory, memory.open(**profile) as dataset:
            dataset.write(values.astype(np.float32), 1)
            return dataset.read(1, out_shape=(3 * rows, 3 * cols), resampling=Resampling.bilinear)
    return values.astype(np.float32)


# --- simulated scenes with truth -----------------------------------------------------------------

SCENES = {
    "summer-alps": SceneSpec(size=732, seed=1),
    "spring-berlin": SceneSpec(
        size=732, seed=7, tile_id="33UUU", sensing_time=datetime(2024, 3, 20, 10, 20),
        cloud_fraction=0.3,
    ),
    "autumn-spain": SceneSpec(
        size=732, seed=11, tile_id="30SVG", sensing_time=datetime(2024, 10, 10, 11, 0),
        cloud_fraction=0.1, cloud_height_m=(2000.0, 6000.0),
    ),
    "june-toulouse": SceneSpec(
        size=732, seed=21, tile_id="31TCJ", sensing_time=datetime(2024, 6, 1, 10, 30),
        cloud_fraction=0.25, cloud_height_m=(500.0, 3000.0),
    ),
}  # fmt: skip
"""Four geometries and seasons (sun zenith 24, 54, 47 and 28 deg), cloud tops from 0.5 to 6 km.
The GIPP's default-mode settings were tuned on the first three; the fourth was held out."""
MODES = ("classic", "default", "default+dem")
"""``--sc_classic``; the default mode without and with the scene's DEM."""
CLEAR = (4, 5, 6, 11)
"""Clear classes of the issue's overall accuracy."""


@dataclasses.dataclass(frozen=True)
class Simulated:
    """A simulated scene at 20 m and its classifications."""

    name: str
    toa: dict[str, np.ndarray]
    truth: np.ndarray
    """True SCL (:func:`true_scene_class`: terrain shadow is class 2)."""
    cover: np.ndarray
    results: dict[str, SceneClassification]
    """Mode of :data:`MODES` -> classification."""
    angles: tuple[float, float, float, float]
    """Mean sun zenith and azimuth, view zenith and azimuth (deg)."""
    dem: np.ndarray
    b10_60m: np.ndarray
    """B10 TOA reflectance on its own 60 m grid."""

    def classify(self, gipp: ScGipp, *, classic: bool, dem: bool) -> SceneClassification:
        """Classify the scene at 20 m with its mean angles (and its DEM when ``dem``)."""
        sun_zenith, sun_azimuth, view_zenith, view_azimuth = self.angles
        return classify(
            self.toa, sun_zenith_deg=sun_zenith, sun_azimuth_deg=sun_azimuth,
            view_zenith_deg=view_zenith, view_azimuth_deg=view_azimuth, gipp=gipp,
            resolution=20, classic=classic, dem_m=self.dem if dem else None,
        )  # fmt: skip


def _mean_view(geometry: SceneGeometry, size: int) -> tuple[float, float]:
    """Zenith and azimuth of the mean B04 viewing direction over the simulated area."""
    grid = combine_detectors(geometry.viewing_angles["B04"])
    nodes = size * 10 // int(grid.col_step) + 2  # tie points around the area
    east, north = towards(grid.zenith[:nodes, :nodes], grid.azimuth[:nodes, :nodes])
    return float(np.degrees(np.arctan(np.hypot(east, north)))), float(
        np.degrees(np.arctan2(east, north)) % 360.0
    )


def simulate_and_classify(name: str, cache_dir: Path | None = None) -> Simulated:
    """Simulate scene ``name`` of :data:`SCENES` and classify it at 20 m in every mode."""
    spec = SCENES[name]
    geometry = simulate_geometry(spec)
    scene = simulate_scene(spec, geometry, nodes=NodeGrid(1, 1, 1, 1), cache_dir=cache_dir)
    toa = {
        band: _to_20m(
            scene.toa_reflectance[band], spec.size * 10 // scene.toa_reflectance[band].shape[0]
        )
        for band in CLASSIC_BANDS
    }
    sun = geometry.sun_angles
    view_zenith, view_azimuth = _mean_view(geometry, spec.size)
    angles = (float(sun.zenith.mean()), float(sun.azimuth.mean()), view_zenith, view_azimuth)
    truth = block_mode(true_scene_class(scene), 2)
    cover = block_mode(scene.extras["land_cover"], 2)
    simulated = Simulated(
        name, toa, truth, cover, {}, angles, block_mean(scene.dem_m, 2),
        scene.toa_reflectance["B10"],
    )  # fmt: skip
    for mode in MODES:
        simulated.results[mode] = simulated.classify(
            GIPP, classic=mode == "classic", dem=mode.endswith("dem")
        )
    return simulated


@pytest.fixture(scope="module", params=sorted(SCENES))
def simulated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Simulated:
    """A simulated scene at 20 m: TOA (B10 bilinear from 60 m), truth classes and land cover."""
    return simulate_and_classify(request.param, tmp_path_factory.mktemp("sixs"))


def _share(values: np.ndarray, classes: tuple[int, ...]) -> float:
    return float(np.isin(values, classes).mean())


def _accuracy(truth: np.ndarray, scl: np.ndarray, classes: tuple[int, ...]) -> float:
    inside = np.isin(truth, classes)
    return float((scl[inside] == truth[inside]).mean())


def _away_from_clouds(truth: np.ndarray) -> np.ndarray:
    """Clear pixels farther than EDGE_PX from any cloud or cirrus pixel of the truth.

    At the edges the truth's 20 m majority and the classifier's 60 m B10 mix cloud and ground.
    """
    cloudy = ndimage.binary_dilation(np.isin(truth, (8, 9, 10)), iterations=EDGE_PX)
    return np.isin(truth, CLEAR) & ~cloudy


EDGE_PX = 2
"""Mixed-pixel margin around clouds (one 60 m B10 pixel at 20 m)."""

TARGETS = {
    # (scene, mode): clear OA, clear OA off cloud edges, opaque recall, bright false cloud max,
    # shadow recall, class 2 accuracy
    ("summer-alps", "classic"): (0.84, 0.87, 0.97, 0.03, 0.52, 0.29),
    ("summer-alps", "default"): (0.95, 0.96, 0.97, 0.03, 0.85, 0.0),
    ("summer-alps", "default+dem"): (0.95, 0.96, 0.97, 0.03, 0.85, 0.57),
    ("spring-berlin", "classic"): (0.82, 0.87, 0.97, 0.03, 0.40, 0.36),
    ("spring-berlin", "default"): (0.95, 0.96, 0.97, 0.03, 0.85, 0.0),
    ("spring-berlin", "default+dem"): (0.95, 0.96, 0.97, 0.03, 0.85, 0.84),
    ("autumn-spain", "classic"): (0.865, 0.875, 0.97, 0.03, 0.58, 0.47),
    ("autumn-spain", "default"): (0.95, 0.96, 0.97, 0.03, 0.85, 0.0),
    ("autumn-spain", "default+dem"): (0.95, 0.96, 0.97, 0.03, 0.85, 0.81),
    ("june-toulouse", "classic"): (0.865, 0.875, 0.97, 0.03, 0.59, 0.34),
    ("june-toulouse", "default"): (0.95, 0.96, 0.97, 0.03, 0.85, 0.0),
    ("june-toulouse", "default+dem"): (0.95, 0.96, 0.97, 0.03, 0.85, 0.61),
}
"""The issue's targets in the default mode: clear OA 0.95 over all truly clear pixels, shadow
recall 0.85 (with and without DEM), opaque recall 0.97 and bright-surface false cloud 0.03
(every mode); elsewhere the measured level minus about 0.01-0.02 (closing note). The default
mode measures a clear OA of 0.953-0.972 (B10 bilinear from 60 m, as the product reader does).

Clear OA off cloud edges leaves out the clear pixels within EDGE_PX of a cloud or cirrus pixel
of the truth (4-9 % of the clear pixels). The truth's 20 m majority calls a pixel half covered
by cloud clear (ties go to the lower code), and calls clear the water-cloud rims of optical
thickness 0.3-1 (3-10 % reflectance added; clouds start at tau 1): most of the remaining errors
lie there. The cirrus target is checked at B10's own 60 m (:func:`_cirrus_flagged`): the default
mode lets ground within CIRRUS_EDGE_PX of an opaque cloud keep its class where only the cloud
lifts the 60 m B10 (CIRRUS_EDGE_ATTRIBUTION)."""


def _cirrus_flagged(b10_60m: np.ndarray, scl: np.ndarray) -> float:
    """Share of the 60 m B10 pixels at or above T1_B10 whose 3 x 3 block of 20 m pixels holds
    cloud or cirrus (8, 9, 10): B10 cannot place a cloud more finely than its own pixel."""
    rows, cols = b10_60m.shape
    blocks = np.isin(scl, (8, 9, 10))[: 3 * rows, : 3 * cols].reshape(rows, 3, cols, 3)
    flagged = np.any(blocks, axis=(1, 3))
    return float(np.mean(flagged, where=b10_60m >= TH.t1_b10))


def _class_accuracies(truth: np.ndarray, scl: np.ndarray) -> dict[int, float]:
    """Share of each truth class (2-6, 11) that the classification gets right."""
    return {c: _accuracy(truth, scl, (c,)) for c in (2, 3, 4, 5, 6, 11) if (truth == c).any()}


@pytest.mark.parametrize("mode", MODES)
def test_accuracy_on_simulated_scenes(
    simulated: Simulated, mode: str, record_property: Callable[[str, object], None]
) -> None:
    truth, scl = simulated.truth, simulated.results[mode].scene_class
    oa_min, edge_oa_min, opaque_min, false_max, shadow_min, topo_min = TARGETS[simulated.name, mode]
    away = _away_from_clouds(truth)
    bright_surface = away & np.isin(
        simulated.cover, (LandCover.BARE_SOIL, LandCover.SAND, LandCover.URBAN)
    )
    per_class = _class_accuracies(truth, scl)
    measured = {
        "clear_oa": _accuracy(truth, scl, CLEAR),
        "clear_oa_off_edges": float((scl[away] == truth[away]).mean()),
        "opaque_recall": _share(scl[truth == SceneClass.HIGH_PROBA_CLOUDS], (8, 9)),
        "bright_false_cloud": _share(scl[bright_surface], (8, 9)),
        "shadow_recall": _share(scl[truth == SceneClass.CLOUD_SHADOWS], (3,)),
        "cirrus_flagged": _cirrus_flagged(simulated.b10_60m, scl),
        "cirrus_20m": _share(scl[simulated.toa["B10"] >= TH.t1_b10], (8, 9, 10)),
        **{f"class_{code}": round(value, 4) for code, value in per_class.items()},
    }
    record_property(f"{simulated.name}/{mode}", measured)  # the closing note's table
    print(simulated.name, mode, measured)
    assert measured["clear_oa"] >= oa_min
    assert measured["clear_oa_off_edges"] >= edge_oa_min
    assert _share(scl[truth == SceneClass.HIGH_PROBA_CLOUDS], (8, 9)) >= opaque_min
    assert _share(scl[bright_surface], (8, 9)) <= false_max
    assert _share(scl[truth == SceneClass.CLOUD_SHADOWS], (3,)) >= shadow_min
    assert _accuracy(truth, scl, (2,)) >= topo_min
    # thin cirrus flagged where B10 >= T1_B10, at B10's own 60 m
    assert _cirrus_flagged(simulated.b10_60m, scl) >= 0.97


def test_default_mode_beats_classic(simulated: Simulated) -> None:
    """Shadow matching, dark-feature reassignment and the land split: better clear OA and shadow
    recall at no loss of shadow precision; with the DEM, class 2 is found and the accuracy over
    the clear classes plus class 2 improves again."""
    truth, results = simulated.truth, simulated.results
    shadow = truth == SceneClass.CLOUD_SHADOWS

    def recall_precision(scl: np.ndarray) -> tuple[float, float]:
        found = scl == SceneClass.CLOUD_SHADOWS
        return float(found[shadow].mean()), float(shadow[found].mean())

    classic, default = results["classic"].scene_class, results["default"].scene_class
    assert _accuracy(truth, default, CLEAR) > _accuracy(truth, classic, CLEAR) + 0.05
    classic_recall, classic_precision = recall_precision(classic)
    recall, precision = recall_precision(default)
    assert recall > classic_recall + 0.25 and precision >= classic_precision
    with_dem = results["default+dem"].scene_class
    ground = (2, *CLEAR)
    assert _accuracy(truth, with_dem, ground) > _accuracy(truth, default, ground)
    assert not (default == SceneClass.DARK_FEATURES).any()  # no DEM: no topographic shadow


def _shadow_recall(truth: np.ndarray, scl: np.ndarray) -> float:
    return float((scl[truth == SceneClass.CLOUD_SHADOWS] == SceneClass.CLOUD_SHADOWS).mean())


SWITCHES = {
    # Default_Mode switch: (with the DEM, metric, least loss when switched off)
    "shadow_matching": (False, _shadow_recall, 0.25),
    "shadow_match_relative": (False, _shadow_recall, 0.015),
    "shadow_match_gate": (False, lambda t, s: _accuracy(t, s, CLEAR), 0.003),
    "shadow_edge_growth": (False, _shadow_recall, 0.01),
    "dark_feature_reassignment": (False, lambda t, s: _accuracy(t, s, CLEAR), 0.04),
    "low_proba_land": (False, lambda t, s: _accuracy(t, s, CLEAR), 0.01),
    "land_split": (False, lambda t, s: _accuracy(t, s, CLEAR), 0.005),
    "cirrus_edge_attribution": (False, lambda t, s: _accuracy(t, s, CLEAR), 0.004),
    "topographic_shadow": (True, lambda t, s: _accuracy(t, s, (2, *CLEAR)), 0.02),
}
"""What each default-mode addition buys at least, on every scene (see the closing note for the
measured losses). SNOW_CONDITION_GATE needs a snow-condition map: tested above."""


@pytest.mark.parametrize("switch", sorted(SWITCHES))
def test_each_default_mode_switch_helps(simulated: Simulated, switch: str) -> None:
    with_dem, metric, least_loss = SWITCHES[switch]
    sc = GIPP.scene_classification
    off = dataclasses.replace(
        GIPP,
        scene_classification=dataclasses.replace(
            sc, default_mode=dataclasses.replace(sc.default_mode, **{switch: False})
        ),
    )
    mode = "default+dem" if with_dem else "default"
    without = simulated.classify(off, classic=False, dem=with_dem).scene_class
    truth = simulated.truth
    assert metric(truth, simulated.results[mode].scene_class) >= metric(truth, without) + least_loss


def test_default_mode_changes_only_shadows_and_land(simulated: Simulated) -> None:
    """Without a DEM the additions find cloud shadows, give dark features, unclassified and
    land pixels a land class, give classic shadows far from every matched cloud footprint
    (SHADOW_MATCH_GATE) back the ground or cloud class of the spectral tests, and give ground
    at opaque-cloud edges, where the classic cirrus tests flag the cloud's 60 m B10, back its
    ground class (CIRRUS_EDGE_ATTRIBUTION); other clouds, cirrus and snow stay as the classic
    sequence has them (but for a few pixels of the snow recovery, whose ring shrinks where snow
    edges become shadow)."""
    classic, default = (simulated.results[m].scene_class for m in ("classic", "default"))
    changed = default != classic
    shadows_found = default[changed] == SceneClass.CLOUD_SHADOWS
    land = np.isin(classic[changed], (2, 4, 5, 7)) & np.isin(default[changed], (4, 5))
    gated = (classic[changed] == SceneClass.CLOUD_SHADOWS) & np.isin(
        default[changed], (*CLEAR, SceneClass.MEDIUM_PROBA_CLOUDS, SceneClass.HIGH_PROBA_CLOUDS)
    )
    edges = np.isin(classic[changed], (8, 10)) & np.isin(default[changed], (*CLEAR, 7))
    assert (shadows_found | land | gated | edges).mean() > 0.999
    assert edges.any()


def test_truth_recovers_the_forward_models_60m_dem() -> None:
    """The truth's terrain shadow is cast on the DEM the forward model used: the 60 m landscape
    DEM, recovered from the scene's 10 m (bilinear) DEM."""
    land = make_landscape(SceneSpec(size=120, seed=3, max_elevation_m=2500.0))
    np.testing.assert_allclose(coarse_dem(land.dem_m), land.dem_coarse_m, atol=1e-2)


def test_truth_marks_terrain_shadow_as_class_2(simulated: Simulated) -> None:
    """The corrected truth: vegetation the terrain hides from the sun is far darker in B8A (only
    diffuse light) than lit vegetation, so class 2 there is what the forward model rendered."""
    truth, cover, b8a = simulated.truth, simulated.cover, simulated.toa["B8A"]
    green = np.isin(cover, (LandCover.CROP, LandCover.GRASS, LandCover.FOREST))
    shaded, lit = green & (truth == 2), green & (truth == SceneClass.VEGETATION)
    assert shaded.sum() > 200  # enough pixels for a median
    assert np.median(b8a[shaded]) < 0.5 * np.median(b8a[lit])


@pytest.mark.parametrize("mode", MODES)
def test_probabilities_follow_the_cloud_classes(simulated: Simulated, mode: str) -> None:
    toa, result = simulated.toa, simulated.results[mode]
    scl, cloud = result.scene_class, result.cloud_probability.astype(int)
    assert (cloud[scl == SceneClass.HIGH_PROBA_CLOUDS] >= TH.t_cloud_hp * 100).all()
    assert (cloud[scl == SceneClass.UNCLASSIFIED] <= TH.t_cloud_mp * 100).all()
    # class 8 also holds thick cirrus (B10 >= T2_B10) whatever its probability
    medium = cloud[(scl == SceneClass.MEDIUM_PROBA_CLOUDS) & (toa["B10"] < TH.t2_b10)]
    assert medium.size and (medium >= TH.t_cloud_mp * 100).all()
    assert (medium <= TH.t_cloud_hp * 100).all()
    assert (cloud[np.isin(scl, (4, 5, 6, 11))] == 0).all()


def test_per_pixel_shadow_cast_does_not_depend_on_the_angle_row_blocks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The per-pixel sun is converted to radians a block of rows at a time (memory): clouds
    next to a block edge, cast across it with a sun that changes along the rows, give exactly
    the cast of one block for the whole tile."""
    rows, cols = 2 * shadows._ANGLE_ROWS + 40, 90
    probability = np.zeros((rows, cols), dtype=np.float32)
    for edge in (shadows._ANGLE_ROWS, 2 * shadows._ANGLE_ROWS):
        probability[edge - 6 : edge + 4, 30:50] = 1.0
    zenith = np.broadcast_to(np.linspace(30.0, 50.0, rows, dtype=np.float32)[:, None], (rows, cols))
    azimuth = np.broadcast_to(np.linspace(140.0, 170.0, cols, dtype=np.float32), (rows, cols))

    def score() -> np.ndarray:
        return shadows.geometric_score(
            probability, np.zeros((rows, cols), bool), sun_zenith_deg=zenith,
            sun_azimuth_deg=azimuth, resolution=20, gipp=GIPP,
        )  # fmt: skip

    blocks = score()
    monkeypatch.setattr(shadows, "_ANGLE_ROWS", rows)
    whole = score()
    assert (blocks > 0.5).any()
    np.testing.assert_array_equal(blocks, whole)
