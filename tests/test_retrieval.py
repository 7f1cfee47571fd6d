"""Atmospheric retrievals (AOT550 by DDV, water vapour by APDA, ozone) against simulated truth
and the real AUX files of the operational L2A product."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from rasterio.windows import Window
from scipy import ndimage

from core.angles import angle_fields
from core.atmosphere.lut import RadiativeTransferLut, load_lut
from core.atmospheric_correction.adjacency import Environments, box_width_px
from core.atmospheric_correction.aerosol import (
    _block_counts,
    _block_medians,
    aot_map,
    aot_of_visibility,
)
from core.atmospheric_correction.correct import correct
from core.atmospheric_correction.observation import Observation
from core.atmospheric_correction.ozone import ozone_column
from core.atmospheric_correction.retrieval import AtmosphereRetrieval, retrieve_atmosphere
from core.bands import BY_NAME
from core.config.gipp import Gipp, load_gipp
from core.product.aux_data import AuxData, read_aux
from core.resample import block_mean
from core.simulate.forward import NodeGrid, simulate_scene
from core.simulate.geometry import simulate_geometry
from core.simulate.landscape import LandCover
from core.simulate.realforward import simulate_from_l2a
from core.simulate.scene import SceneSpec, SimulatedScene
from core.simulate.spectra import END_MEMBERS, band_index

BANDS = ("B02", "B04", "B8A", "B09", "B11", "B12")
REAL_BANDS = BANDS[1:]
BOA_BANDS = ("B04", "B8A", "B11", "B12")
RESOLUTION = 60
NODES = NodeGrid(aot=2, wv=3, elevation=2, view_zenith=1)
REAL_NODES = NodeGrid(aot=2, wv=7, elevation=1, view_zenith=1)
"""Three WV nodes: the simulator's B09 gas transmittance is linear between them (< 0.05 cm)."""
L2A = "l2a-real/S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE"
CLOUDY = (8, 9, 10)
SHADOW = 3
BOA_RMSE = 0.01
"""Issue #4: the real product run forward is corrected back within 0.01 RMSE per band."""


@dataclass(frozen=True)
class Case:
    """A simulated scene on the 60 m working grid with its truth."""

    toa: dict[str, np.ndarray]
    observation: Observation
    scene_class: np.ndarray
    land_cover: np.ndarray
    boa: dict[str, np.ndarray]
    aot550: np.ndarray
    wv_cm: np.ndarray
    elevation_m: np.ndarray
    clear_sky: np.ndarray
    """60 m pixels none of whose 10 m pixels sees a simulated cloud or cirrus layer or lies in
    its shadow (the simulator's truth layers)."""

    @property
    def clear_land(self) -> np.ndarray:
        return np.isin(self.scene_class, (4, 5)) & np.isfinite(self.toa["B04"])

    @property
    def clear_forest(self) -> np.ndarray:
        """Clear forest pixels: where the dark dense vegetation is."""
        return self.clear_land & (self.land_cover == LandCover.FOREST)


def _case(spec: SceneSpec) -> Case:
    return _case_of(simulate_scene(spec, simulate_geometry(spec), bands=BANDS, nodes=NODES))


def _case_of(scene: SimulatedScene, latitude_deg: float = 45.0) -> Case:
    spec, geometry = scene.spec, scene.geometry
    n = spec.size * 10 // RESOLUTION
    f = RESOLUTION // 10

    def coarse(values: np.ndarray, band: str) -> np.ndarray:
        return block_mean(values, RESOLUTION // BY_NAME[band].resolution)

    fields = angle_fields(geometry.sun_angles, geometry.viewing_angles, RESOLUTION,
                          Window(0, 0, n, n), BANDS)  # fmt: skip
    observation = Observation.from_angle_fields(
        fields, sensor=spec.mission_id, resolution=RESOLUTION,
        day_of_year=spec.sensing_time.timetuple().tm_yday, latitude_deg=latitude_deg,
    )  # fmt: skip
    scl = scene.scene_class[::f, ::f].copy()
    # a 60 m pixel is cloud shadow, or cloudy, when any of its 10 m pixels is
    blocks = scene.scene_class.reshape(n, f, n, f)
    scl[(blocks == SHADOW).any(axis=(1, 3))] = SHADOW
    scl[np.isin(blocks, CLOUDY).any(axis=(1, 3))] = 9
    cover = scene.extras.get("land_cover")
    layers = scene.extras
    untouched = (
        (layers["direct_sun_fraction"] >= 1.0)
        & (layers["seen_cloud_optical_depth"] <= 0.0)
        & (layers["seen_cirrus_optical_depth"] <= 0.0)
    )
    return Case(
        toa={b: coarse(v, b) for b, v in scene.toa_reflectance.items()},
        observation=observation,
        scene_class=scl,
        land_cover=np.full((n, n), 255, np.uint8) if cover is None else cover[::f, ::f],
        boa={b: coarse(v, b) for b, v in scene.boa_reflectance.items()},
        aot550=block_mean(scene.aot550, f),
        wv_cm=block_mean(scene.wv_cm, f),
        elevation_m=block_mean(scene.dem_m, f),
        clear_sky=untouched.reshape(n, f, n, f).all(axis=(1, 3)),
    )


@pytest.fixture(scope="module")
def lut() -> RadiativeTransferLut:
    return load_lut()


@pytest.fixture(scope="module")
def gipp() -> Gipp:
    return load_gipp()


@pytest.fixture(scope="module")
def rural_case() -> Case:
    """12 km, flat, rural (6S continental), AOT 0.08-0.30, WV 1.0-2.8 cm, 10 % clouds."""
    spec = SceneSpec(
        size=1200, seed=3, cloud_fraction=0.1, cirrus_fraction=0.0, max_elevation_m=0.0,
        aot550_range=(0.08, 0.3), wv_cm_range=(1.0, 2.8),
    )  # fmt: skip
    return _case(spec)


@pytest.fixture(scope="module")
def maritime_case() -> Case:
    """12 km, flat, 6S maritime aerosol, AOT 0.15-0.40, WV 1.5-3.5 cm, 5 % clouds."""
    spec = SceneSpec(
        size=1200, seed=4, aerosol_type="maritime", cloud_fraction=0.05, cirrus_fraction=0.0,
        max_elevation_m=0.0, aot550_range=(0.15, 0.4), wv_cm_range=(1.5, 3.5),
    )  # fmt: skip
    return _case(spec)


@pytest.fixture(scope="module")
def aux(shared_data: Path) -> AuxData:
    folder = next((shared_data / L2A / "GRANULE").glob("*/AUX_DATA"))
    data = read_aux({name: str(folder / name) for name in ("AUX_ECMWFT", "AUX_CAMSFO")})
    assert data is not None
    return data


def _retrieve(case: Case, gipp: Gipp, lut: RadiativeTransferLut, **kwargs):
    return retrieve_atmosphere(
        case.toa, case.observation, gipp=gipp, lut=lut, elevation_m=case.elevation_m,
        scene_class=case.scene_class, **kwargs,
    )  # fmt: skip


def test_apda_water_vapour_within_target(rural_case: Case, gipp: Gipp, lut) -> None:
    """Issue target: WV error <= 0.2 cm or 10 % (95 % of the clear land pixels; measured rms
    0.04 cm, 95th percentile 0.07 cm)."""
    result = _retrieve(rural_case, gipp, lut)
    land = rural_case.clear_land
    error = np.abs(result.wv_cm - rural_case.wv_cm)[land]
    allowed = np.maximum(0.2, 0.1 * rural_case.wv_cm[land])
    assert np.quantile(error / allowed, 0.95) <= 1.0
    assert abs(float(np.mean(result.wv_cm[land] - rural_case.wv_cm[land]))) < 0.1
    assert result.wv_cm.dtype == np.float32 and np.isfinite(result.wv_cm).all()


def test_wv_correction_off_uses_the_start_value(rural_case: Case, lut) -> None:
    """``WV_Correction = 0``: no APDA; the summer start ``AC_Wv_Iter_Start_Summer`` everywhere."""
    gipp = load_gipp(overrides={"l2a.atmospheric_correction.flags.wv_correction": 0})
    result = _retrieve(rural_case, gipp, lut, aot550=0.2)
    assert np.all(result.wv_cm == pytest.approx(gipp.ac.acl_prio_2.ac_wv_iter_start_summer))


@pytest.mark.parametrize(
    ("cover", "member"),
    [(LandCover.CROP, 1), (LandCover.GRASS, 1), (LandCover.FOREST, 0), (LandCover.FOREST, 1)],
)
def test_dense_vegetation_follows_the_ddv_relations(
    cover: LandCover, member: int, gipp: Gipp
) -> None:
    """The simulator's dense vegetation end members are DDV as Sen2Cor assumes it (Kaufman et
    al. 1997): red / B12 and blue / red within 10 % of the GIPP's ratios, and dark enough in B12
    to be selected (at most ``AC_Ddv_Swir_Refl_Th3``)."""
    dense = END_MEMBERS[cover, :, member]
    blue, red, swir = (dense[band_index(b)] for b in ("B02", "B04", "B12"))
    prio1 = gipp.ac.acl_prio_1
    assert red / swir == pytest.approx(prio1.ac_swir_22um_red_refl_ratio, rel=0.1)
    assert blue / red == pytest.approx(prio1.ac_red_blue_refl_ratio, rel=0.1)
    assert swir <= gipp.ac.acl_prio_2.ac_ddv_swir_refl_th3


def _aot_within_target(case: Case, aot550: np.ndarray) -> float:
    """Share of the clear forest pixels whose AOT550 error is within the issue's 0.03 + 10 %."""
    forest = case.clear_forest
    error = np.abs(aot550 - case.aot550)[forest]
    return float(np.mean(error <= 0.03 + 0.1 * case.aot550[forest]))


def test_ddv_aot_within_target(rural_case: Case, gipp: Gipp, lut) -> None:
    """DDV with Sen2Cor's default ratios: >= 95 % of the forest pixels within 0.03 + 10 %
    (measured 99 %, mean error -0.008, rms 0.015: the shadowed vegetation of the iteration
    lowers it by 0.007); the map is smoothed over 1 km."""
    result = _retrieve(rural_case, gipp, lut)
    assert result.summary.aot_retrieval_method == "SEN2COR_DDV"
    assert result.summary.ddv_pixel_percentage >= gipp.ac.acl_prio_1.ac_min_ddv_area
    assert _aot_within_target(rural_case, result.aot550) >= 0.95
    forest = rural_case.clear_forest
    assert abs(float(np.mean((result.aot550 - rural_case.aot550)[forest]))) < 0.01
    assert result.aerosol == "rural"
    assert 5.0 <= result.summary.final_visibility_km <= 120.0


def test_aerosol_type_auto_picks_the_simulated_type(
    rural_case: Case, maritime_case: Case, lut
) -> None:
    """``Aerosol_Type = AUTO`` (blue double ratio over the reference pixels, Sen2Cor's default
    ratios): rural for the 6S continental scene, maritime for the maritime one, whose AOT550
    then meets the target too (measured 100 % of the forest pixels, mean error -0.009; the rural
    model on that scene is +0.10 off). Water vapour (APDA) within 0.2 cm on both."""
    gipp = load_gipp(overrides={"l2a.atmospheric_correction.look_up_tables.aerosol_type": "AUTO"})
    for case, expected in ((rural_case, "rural"), (maritime_case, "maritime")):
        result = _retrieve(case, gipp, lut)
        assert result.aerosol == expected
        assert _aot_within_target(case, result.aot550) >= 0.95
        land = case.clear_land
        assert np.quantile(np.abs(result.wv_cm - case.wv_cm)[land], 0.95) <= 0.2


def test_constant_visibility_mode_and_water_vapour_over_water(rural_case: Case, lut) -> None:
    """``VIS_Update_Mode = 0``: one AOT550 for the scene. ``WV_Watermask``: water pixels (SCL 6)
    keep their own APDA column (0), take the land mean (1) or the land mean of their line (2)."""

    def run(**overrides: int):
        keys = {f"l2a.atmospheric_correction.flags.{k}": v for k, v in overrides.items()}
        return _retrieve(rural_case, load_gipp(overrides=keys), lut)

    constant = run(vis_update_mode=0)
    assert constant.summary.aot_retrieval_method == "SEN2COR_DDV"
    assert np.ptp(constant.aot550) == 0.0
    water = rural_case.scene_class == 6
    land = rural_case.clear_land
    assert water.sum() > 100
    wv = {mode: run(wv_watermask=mode, vis_update_mode=0).wv_cm for mode in (0, 1, 2)}
    smoothing_px = 1  # Smooth_WV_Map 100 m at 60 m: a 3-pixel box, so look one pixel inside
    inner = water & ~ndimage.binary_dilation(~water, iterations=smoothing_px)
    assert np.ptp(wv[1][inner]) < 1e-5
    assert wv[1][inner][0] == pytest.approx(float(wv[1][land].mean()), abs=0.05)
    rows = np.unique(np.nonzero(inner)[0])
    assert np.ptp(wv[2][inner]) > np.ptp(wv[1][inner])
    assert all(np.ptp(wv[2][row][inner[row]]) < 1e-5 for row in rows)
    assert np.ptp(wv[0][inner]) > 0.0


def test_water_cut_off_of_the_negative_reflectance_iteration(rural_case: Case, lut) -> None:
    """``AC_Cut_Off_Aot_Iter_Water`` set to a share: the AOT is lowered until at most that share
    of the water pixels (SCL 6) is negative in the NIR. Over this scene's lakes the AOT map,
    interpolated from the land's reference pixels, is 0.05 too high: with Sen2Cor's GIPP value
    (-0.005, no share: the test off) 52 % of them are negative in B8A, with 0.01 0.9 % (the
    correction's two-pass adjacency inversion counts slightly differently from the
    retrieval's)."""
    water = (rural_case.scene_class == 6) & np.isfinite(rural_case.toa["B8A"])
    assert water.sum() > 100

    def negative_share(gipp: Gipp) -> float:
        result = _retrieve(rural_case, gipp, lut)
        nir = correct(
            {"B8A": rural_case.toa["B8A"]}, rural_case.observation, gipp=gipp, lut=lut,
            elevation_m=rural_case.elevation_m, aot550=result.aot550, wv_cm=result.wv_cm,
            scene_class=rural_case.scene_class,
        ).boa["B8A"]  # fmt: skip
        return float(np.mean(nir[water] < 0.0))

    share = 0.01
    assert load_gipp().ac.acl_prio_1.ac_cut_off_aot_iter_water < 0.0
    assert negative_share(load_gipp()) > 10 * share
    key = "ac.acl_prio_1.ac_cut_off_aot_iter_water"
    assert negative_share(load_gipp(overrides={key: share})) <= 1.5 * share


@pytest.mark.parametrize("percentage", [3.0, 6.0])
def test_aot_map_reproduces_a_plane_from_sparse_reference_pixels(
    gipp: Gipp, percentage: float
) -> None:
    """``VIS_Update_Mode = 1``: an AOT550 plane sampled at 3 % random reference pixels is mapped
    back without bias and within 0.003 wherever the 1 km smoothing box lies inside the grid,
    by triangulation (DDV share within 5-20 %) or a box average first (outside): a plane is its
    own box mean; a 180 m cell's one or two samples sit up to 1 px off its centre, 0.0012 per
    px of gradient. ``Ddv_Min_Cell_Percent`` 0 keeps every cell with a sample."""
    rows, cols = np.mgrid[0:240, 0:240]
    plane = (0.1 + 0.0008 * rows + 0.0004 * cols).astype(np.float32)
    mask = np.random.default_rng(1).random(plane.shape) < 0.03
    every_cell = load_gipp(overrides={"ac.classic_constants.ddv_min_cell_percent": 0.0})
    mapped = aot_map(plane, mask, gipp=every_cell, resolution=RESOLUTION, percentage=percentage)
    inner = np.s_[40:-40, 40:-40]
    assert np.abs(mapped - plane)[inner].max() < 0.003
    assert abs(float((mapped - plane)[inner].mean())) < 0.0005
    assert mapped.shape == plane.shape and mapped.dtype == np.float32


def test_isolated_reference_pixels_do_not_set_the_aot_map(gipp: Gipp) -> None:
    """A cell holding fewer dark reference pixels than ``Ddv_Min_Cell_Percent`` of its pixels is
    not used: a few isolated pixels with a wrong AOT (vegetation mixed with water) do not spread
    over the map, which follows the densely sampled half of the grid."""
    true_aot = np.full((240, 240), 0.15, dtype=np.float32)
    mask = np.zeros(true_aot.shape, dtype=bool)
    mask[:, :120] = np.random.default_rng(2).random((240, 120)) < 0.5  # dense DDV on the left
    aot_px = true_aot.copy()
    isolated = np.zeros_like(mask)
    isolated[::15, 150::15] = True  # one pixel in every other 180 m cell on the right
    aot_px[isolated] = 0.45
    mapped = aot_map(aot_px, mask | isolated, gipp=gipp, resolution=RESOLUTION, percentage=25.0)
    assert np.abs(mapped - true_aot).max() < 0.01
    every_cell = load_gipp(overrides={"ac.classic_constants.ddv_min_cell_percent": 0.0})
    spread = aot_map(
        aot_px, mask | isolated, gipp=every_cell, resolution=RESOLUTION, percentage=25.0
    )
    assert np.abs(spread - true_aot)[:, 150:].mean() > 0.1  # without the rule they would


def test_no_dark_reference_falls_back_to_cams_then_visibility(
    rural_case: Case, gipp: Gipp, lut, aux: AuxData
) -> None:
    """Without SWIR bands there is no DDV: the CAMS AOD of AUX_CAMSFO, else ``Visibility``."""
    no_swir = replace(rural_case, toa={b: rural_case.toa[b] for b in ("B02", "B04", "B8A", "B09")})
    cams = _retrieve(no_swir, gipp, lut, aux=aux)
    assert cams.summary.aot_retrieval_method == "CAMS"
    assert np.all(cams.aot550 == pytest.approx(aux.aod550, abs=1e-6))
    default = _retrieve(no_swir, gipp, lut)
    assert default.summary.aot_retrieval_method == "DEFAULT"
    expected = aot_of_visibility(gipp.l2a.atmospheric_correction.calibration.visibility)
    assert np.all(default.aot550 == pytest.approx(expected, abs=1e-6))
    assert default.summary.ddv_pixel_percentage == 0.0


def test_given_aot_and_wv_are_used_as_is(rural_case: Case, gipp: Gipp, lut) -> None:
    result = _retrieve(rural_case, gipp, lut, aot550=0.3, wv_cm=rural_case.wv_cm)
    assert result.summary.aot_retrieval_method == "USER"
    assert np.all(result.aot550 == np.float32(0.3))
    assert np.array_equal(result.wv_cm, rural_case.wv_cm.astype(np.float32))


def test_ozone_from_the_real_aux_ecmwft_and_the_config(gipp: Gipp, lut, aux: AuxData) -> None:
    """AUX_ECMWFT mean 321.75 DU (the product's OZONE_VALUE); without it the season's standard
    ozone, by latitude and day of year with ``Mid_Latitude = AUTO``; a configured value as is."""
    obs = Observation("S2A", 60, 30.0, 150.0, {"B04": 5.0}, {"B04": 100.0}, 200, 50.0)
    assert ozone_column(gipp, obs, aux, lut) == (pytest.approx(321.75, abs=0.05), "AUX_ECMWFT")
    constants = gipp.ac.classic_constants
    assert ozone_column(gipp, obs, None, lut) == (constants.ozone_default_summer_du, "CONFIG")
    auto = load_gipp(overrides={"l2a.atmospheric_correction.look_up_tables.mid_latitude": "AUTO"})
    winter = replace(obs, day_of_year=20)
    assert ozone_column(auto, winter, None, lut)[0] == constants.ozone_default_winter_du
    south = replace(obs, latitude_deg=-40.0)
    assert ozone_column(auto, south, None, lut)[0] == constants.ozone_default_winter_du
    fixed = load_gipp(overrides={"l2a.atmospheric_correction.look_up_tables.ozone_content": 370})
    assert ozone_column(fixed, obs, aux, lut) == (370.0, "CONFIG")


@pytest.fixture(scope="module")
def real_case(shared_data: Path) -> Case:
    """The upper-left 24 km of the real T29UNU L2A run forward: the smallest corner with cloud
    shadows (8 % of it; the tile has 10 %). Seven WV nodes: its WVP spans 0.2-2.6 cm and the B09
    gas transmittance is far from linear over that range. No B02 (10 m, not needed)."""
    scene = simulate_from_l2a(shared_data / L2A, size=2400, bands=REAL_BANDS, nodes=REAL_NODES)
    return _case_of(scene, latitude_deg=53.5)


@pytest.fixture(scope="module")
def real_retrieval(real_case: Case, gipp: Gipp, lut, aux: AuxData) -> AtmosphereRetrieval:
    """The real product run forward, retrieved back with our defaults and its AUX files."""
    return _retrieve(real_case, gipp, lut, aux=aux)


def test_real_product_run_forward_gives_back_its_wv(
    real_case: Case, real_retrieval: AtmosphereRetrieval
) -> None:
    """WV within 0.2 cm or 10 % on 95 % of the clear land (measured bias -0.02 cm), ozone from
    the product's AUX_ECMWFT."""
    land = real_case.clear_land
    wv_error = np.abs(real_retrieval.wv_cm - real_case.wv_cm)[land]
    assert np.quantile(wv_error / np.maximum(0.2, 0.1 * real_case.wv_cm[land]), 0.95) <= 1.0
    assert real_retrieval.summary.ozone_source == "AUX_ECMWFT"


def test_real_product_run_forward_gives_back_its_aot_and_boa(
    real_case: Case, real_retrieval: AtmosphereRetrieval, gipp: Gipp, lut, aux: AuxData
) -> None:
    """Sen2Cor's AOT back from its own BOA run forward, and its BOA from ours within the
    issue's 0.01 RMSE per band on the clear land.

    The product's dark reference pixels do not follow red = 0.5 B12 (median 0.6; 0.75 below
    B12 0.02): alone they give AOT 0.106 here. What sets Sen2Cor's 0.089 (visibility 103 km) is
    the negative-reflectance iteration over all vegetation by NIR/red, cloud-shadowed vegetation
    included (over the whole tile its 1 % ceiling is 0.084), down to the tables' 120 km.
    Measured: 0.0905 against the product's 0.0894 on the clear land (0.074 without the 120 km
    limit, 0.106 with the shadows labelled cloud). Tolerance 0.01: the product's AOT spans
    0.084-0.102 over this corner.

    BOA: clear land whose sky the simulator left clear. It lays the product's cirrus (SCL 10) as
    a layer 10 km up, whose shadow falls 16 km away (sun zenith 58 deg) on 1 090 pixels of clear
    land, as bright as B8A 0.66: B8A RMSE 0.0105 with them, 0.0096 without; with the product's
    own AOT and WV there 0.0042 and 0.0006. What is left is the DDV AOT map: the reference
    pixels are 6.3 % of this corner, so it is triangulated and follows their scatter (std 0.06,
    where the product's tile-wide 2.29 % gave one visibility). Measured B04 0.0047, B8A 0.0096,
    B11 0.0016, B12 0.0007.
    """
    land = real_case.clear_land
    truth = float(real_case.aot550[land].mean())
    assert real_retrieval.summary.aot_retrieval_method == "SEN2COR_DDV"
    assert float(real_retrieval.aot550[land].mean()) == pytest.approx(truth, abs=0.01)
    boa = correct(
        real_case.toa, real_case.observation, gipp=gipp, lut=lut,
        elevation_m=real_case.elevation_m, aot550=real_retrieval.aot550,
        wv_cm=real_retrieval.wv_cm, scene_class=real_case.scene_class,
    ).boa  # fmt: skip
    clear = land & real_case.clear_sky
    assert clear.sum() > 0.9 * land.sum()
    for band in BOA_BANDS:
        rmse = float(np.sqrt(np.mean((boa[band] - real_case.boa[band])[clear] ** 2)))
        assert rmse <= BOA_RMSE, (band, rmse)
    unshadowed = np.where(real_case.scene_class == SHADOW, 9, real_case.scene_class)
    no_shadow = _retrieve(replace(real_case, scene_class=unshadowed), gipp, lut, aux=aux)
    assert float(no_shadow.aot550[land].mean()) > truth + 0.01


def test_environments_are_computed_on_demand_and_released() -> None:
    """Each band's adjacency environment is the box mean of its ground pixels, computed when
    first asked for, dropped by ``release`` and the same when asked for again."""
    rng = np.random.default_rng(4)
    toa = {band: rng.uniform(0.0, 0.4, (60, 70)).astype(np.float32) for band in ("B04", "B12")}
    clouds = rng.random((60, 70)) < 0.2
    environments = Environments(toa, 0.2, RESOLUTION, exclude=clouds)
    assert set(environments) == {"B04", "B12"} and environments.get("B09") is None
    first = environments["B04"]
    assert environments["B04"] is first  # kept
    width = box_width_px(0.2, RESOLUTION)
    ground = np.where(clouds, 0.0, toa["B04"])
    box_sum = ndimage.uniform_filter(ground.astype(np.float64), width, mode="reflect")
    box_count = ndimage.uniform_filter((~clouds).astype(np.float64), width, mode="reflect")
    np.testing.assert_allclose(first, box_sum / box_count, rtol=1e-5)
    environments.release("B04")
    again = environments["B04"]
    assert again is not first
    np.testing.assert_array_equal(again, first)


def test_block_medians_are_the_median_of_each_cell() -> None:
    """The AOT map's cells: the median of the reference pixels of each block (the last row and
    column of blocks cut by the grid edge), NaN where a block holds none."""
    rng = np.random.default_rng(5)
    values = rng.uniform(0.05, 0.5, (47, 53)).astype(np.float32)
    mask = rng.random(values.shape) < 0.1
    mask[:10, :10] = False  # an empty block
    factor = 10
    medians = _block_medians(values, mask, factor)
    assert medians.shape == (5, 6)
    for row in range(5):
        for col in range(6):
            block = np.s_[row * factor : (row + 1) * factor, col * factor : (col + 1) * factor]
            chosen = values[block][mask[block]]
            expected = np.median(chosen.astype(np.float64)) if chosen.size else np.nan
            np.testing.assert_equal(medians[row, col], expected)
    counts = _block_counts(mask, factor)
    assert counts.sum() == mask.sum() and counts[0, 0] == 0
