"""Terrain geometry against analytic surfaces (planes, a trench, a wall and its shadow), the
topographic GIPP keys, and the terrain correction against the simulator's truth.

The simulator renders each band at its native resolution with the correction's own terrain
geometry (:mod:`core.terrain`) and terrain-reflected light; the scenes here are inverted on the
same grids with the true AOT/WV, and the BOA compared per slope class with the truth.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import pytest
from rasterio.windows import Window

from core.angles import angle_fields
from core.atmosphere.lut import load_lut
from core.atmospheric_correction import Observation, correct
from core.atmospheric_correction.correct import correct_band, iterate_terrain_light
from core.atmospheric_correction.terms import TermGrid, band_terms
from core.bands import BY_NAME
from core.config.gipp import Gipp, load_gipp
from core.errors import ConfigError
from core.product.aux_data import AuxData
from core.product.metadata import AngleGrid
from core.resample import block_mean
from core.scene_classification.terrain import terrain
from core.simulate.forward import NodeGrid, simulate_scene
from core.simulate.geometry import simulate_geometry
from core.simulate.scene import SceneGeometry, SceneSpec, SimulatedScene
from core.terrain.geometry import SKY_VIEW_GRID_M, TerrainGeometry, terrain_geometry
from core.terrain.illumination import (
    TerrainIllumination,
    terrain_illumination,
    topographic_settings,
)

PIXEL_M = 30.0
INNER = (slice(2, -2), slice(2, -2))
"""Horn's gradient repeats edge pixels, so analytic checks skip a 2-pixel border."""


def _plane(slope_deg: float, aspect_deg: float, size: int = 48) -> np.ndarray:
    """Elevation of a plane facing ``aspect_deg`` (downhill direction, clockwise from north)."""
    tan_s = np.tan(np.radians(slope_deg))
    east = (np.arange(size) + 0.5) * PIXEL_M
    north = -(np.arange(size) + 0.5)[:, None] * PIXEL_M
    a = np.radians(aspect_deg)
    # falls by tan(s) per metre along (sin a, cos a)
    return 2000.0 - tan_s * (east * np.sin(a) + north * np.cos(a))


def _sun_cosine(slope_deg, aspect_deg, zenith_deg, azimuth_deg):
    """cos(i) as the dot product of the unit surface normal and the unit sun vector."""
    s, a = np.radians(slope_deg), np.radians(aspect_deg)
    z, phi = np.radians(zenith_deg), np.radians(azimuth_deg)
    normal = np.array([np.sin(s) * np.sin(a), np.sin(s) * np.cos(a), np.cos(s)])
    sun = np.stack(np.broadcast_arrays(np.sin(z) * np.sin(phi), np.sin(z) * np.cos(phi), np.cos(z)))
    return np.tensordot(normal, sun, axes=1)


@pytest.mark.parametrize(("slope_deg", "aspect_deg"), [(10.0, 0.0), (25.0, 135.0), (40.0, 250.0)])
def test_inclined_plane_slope_aspect_incidence_sky_view(slope_deg, aspect_deg):
    """Slope/aspect exact (1e-3 deg), cos(i) = n.s (1e-5), sky view (1 + cos s)/2 (1e-4)."""
    geometry = terrain_geometry(_plane(slope_deg, aspect_deg), PIXEL_M)
    np.testing.assert_allclose(geometry.slope_deg[INNER], slope_deg, atol=1e-3)
    np.testing.assert_allclose(geometry.aspect_deg[INNER], aspect_deg, atol=1e-3)
    for zenith, azimuth in [(30.0, 160.0), (65.0, aspect_deg + 180.0)]:
        np.testing.assert_allclose(
            geometry.cos_incidence(zenith, azimuth)[INNER],
            _sun_cosine(slope_deg, aspect_deg, zenith, azimuth),
            atol=1e-5,
        )
    # per-pixel sun angles: a zenith ramp across the grid
    zenith_ramp = np.linspace(10.0, 70.0, 48)[None, :].repeat(48, axis=0)
    np.testing.assert_allclose(
        geometry.cos_incidence(zenith_ramp, 200.0)[INNER],
        _sun_cosine(slope_deg, aspect_deg, zenith_ramp, 200.0)[INNER],
        atol=1e-5,
    )
    expected_sky = (1.0 + np.cos(np.radians(slope_deg))) / 2.0
    np.testing.assert_allclose(geometry.sky_view[INNER], expected_sky, atol=1e-4)


def test_plane_cast_shadow_is_self_shadow():
    """An open plane shades only itself: the ray-march mask equals cos(i) < 0 inside."""
    geometry = terrain_geometry(_plane(35.0, 0.0), PIXEL_M)
    # sun low in the south, behind a north-facing 35 deg slope: everything self-shadowed
    behind = geometry.cast_shadow(60.0, 180.0)
    assert (geometry.cos_incidence(60.0, 180.0)[INNER] < 0).all()
    assert behind[1:-1, 1:-1].all()  # the last row has nothing towards the sun to march over
    # sun in front (north) or high in the south: lit everywhere
    assert not geometry.cast_shadow(60.0, 0.0).any()
    assert not geometry.cast_shadow(40.0, 180.0).any()


def test_flat_ground():
    """Flat: slope 0, aspect 0, sky view 1, cos(i) = cos(sun zenith), no shadow."""
    geometry = terrain_geometry(np.full((20, 20), 350.0), PIXEL_M)
    assert (geometry.slope_deg == 0).all() and (geometry.aspect_deg == 0).all()
    np.testing.assert_allclose(geometry.sky_view, 1.0, atol=1e-6)
    np.testing.assert_allclose(geometry.cos_incidence(40.0, 123.0), np.cos(np.radians(40.0)))
    assert not geometry.cast_shadow(80.0, 90.0).any()


@pytest.mark.parametrize("side_slope_deg", [30.0, 45.0])
def test_valley_floor_sky_view_matches_analytic_integral(side_slope_deg):
    """Floor of a V-shaped valley with sides of slope b: V = cos(b) (1e-3).

    Across-axis the terrain rises along azimuth ``phi`` (from the axis) at ``tan(b) sin(phi)``,
    so the horizon elevation is ``e = atan(tan(b) |sin(phi)|)`` at every distance and
    ``V = 1/(2 pi) integral cos^2(e) dphi = 1/sqrt(1 + tan^2 b) = cos(b)``.
    """
    size = 81
    centre = size // 2
    across = np.abs(np.arange(size) - centre) * PIXEL_M
    dem = np.tile(across * np.tan(np.radians(side_slope_deg)), (size, 1))
    geometry = terrain_geometry(dem, PIXEL_M)
    assert geometry.slope_deg[centre, centre] == 0.0
    expected = np.cos(np.radians(side_slope_deg))
    assert geometry.sky_view[centre, centre] == pytest.approx(expected, abs=1e-3)
    # on a side the opposite slope hides sky that an open plane of the same slope would see
    open_plane = (1.0 + np.cos(np.radians(side_slope_deg))) / 2.0
    assert geometry.sky_view[centre, centre + 10] < open_plane - 0.05


@pytest.mark.parametrize(
    ("zenith_deg", "azimuth_deg"), [(30.0, 180.0), (60.0, 180.0), (55.0, 150.0)]
)
def test_wall_casts_shadow_of_length_h_tan_zenith(zenith_deg, azimuth_deg):
    """An east-west wall of height h shades the ground north of it over h tan(z) |cos(phi_s)|.

    Tolerance one pixel: the wall face lies between pixel centres.
    """
    size, wall_row, height = 80, 60, 600.0
    dem = np.zeros((size, size))
    dem[wall_row : wall_row + 3, :] = height
    geometry = terrain_geometry(dem, PIXEL_M)
    shadow = geometry.cast_shadow(zenith_deg, azimuth_deg)
    length_m = height * np.tan(np.radians(zenith_deg)) * abs(np.cos(np.radians(azimuth_deg)))
    column = shadow[:wall_row, size // 2]
    shaded_px = column[::-1].argmin()  # contiguous shaded pixels just north of the wall
    assert column[: wall_row - shaded_px].sum() == 0
    assert abs(shaded_px * PIXEL_M - length_m) <= PIXEL_M
    assert not shadow[wall_row:].any()  # the wall top and the sunlit side


def test_scene_classification_terrain_uses_the_same_slope():
    """The classification's gdaldem-style slope/hill-shade agree with the terrain geometry."""
    dem = _plane(20.0, 300.0) + 50.0 * np.sin(np.arange(48) / 5.0)[None, :]
    geometry = terrain_geometry(dem, PIXEL_M)
    relief = terrain(dem, int(PIXEL_M), sun_zenith_deg=35.0, sun_azimuth_deg=140.0)
    np.testing.assert_allclose(relief.slope_deg, geometry.slope_deg, atol=1e-4)
    hillshade = np.rint(255.0 * np.clip(geometry.cos_incidence(35.0, 140.0), 0.0, 1.0))
    assert np.abs(relief.hillshade.astype(int) - hillshade).max() <= 1


def test_sky_view_from_a_coarser_grid_matches_the_full_march() -> None:
    """The pipeline takes the sky view from the 60 m grid for 10/20 m work (its costly part)."""
    y, x = np.mgrid[0:180, 0:180] * 20.0
    hills = 400.0 * np.sin(x / 900.0) * np.cos(y / 1300.0) + 0.1 * x
    full = terrain_geometry(hills, 20.0)
    coarse = terrain_geometry(hills, 20.0, sky_view_step=3)
    np.testing.assert_array_equal(coarse.slope_deg, full.slope_deg)
    assert full.sky_view.min() < 0.95  # the relief matters
    inner = (slice(6, -6), slice(6, -6))
    assert np.abs(coarse.sky_view - full.sky_view)[inner].mean() < 0.01


def test_cast_shadow_follows_each_pixels_sun() -> None:
    """With a sun zenith that changes across the grid, each column's shadow behind an east-west
    wall has its own length h tan(theta_s) (one pixel of tolerance)."""
    size, wall_row, height = 80, 60, 600.0
    dem = np.zeros((size, size))
    dem[wall_row : wall_row + 3, :] = height
    zenith = np.linspace(20.0, 60.0, size)[None, :].repeat(size, axis=0)
    shadow = terrain_geometry(dem, PIXEL_M).cast_shadow(zenith, 180.0)
    for col in (5, 40, 75):
        shaded_px = shadow[:wall_row, col][::-1].argmin()
        length_m = height * np.tan(np.radians(zenith[0, col]))
        assert abs(shaded_px * PIXEL_M - length_m) <= PIXEL_M


# --- topographic GIPP keys -------------------------------------------------------------------


def test_topographic_keys_are_read_or_refused() -> None:
    """Every topographic key of L2A_CAL_AC_GIPP reaches the settings; the two whose Sen2Cor use
    is undocumented are refused unless at their default, naming the key."""
    settings = topographic_settings(load_gipp())
    gipp = load_gipp().ac
    assert settings.slope_limit_deg == gipp.acl_prio_1.ac_slope_th
    assert settings.convergence == gipp.acl_prio_1.ac_topo_corr_th
    assert settings.neighbourhood_km == gipp.acl_prio_2.ac_rng_nbhd_terrain_corr
    assert settings.max_iterations == gipp.acl_prio_2.ac_max_nr_topo_iter
    assert settings.start_reflectance == gipp.acl_prio_3.ac_terrain_refl_start
    assert settings.relief_limit_m == gipp.classic_constants.flat_terrain_height_range_m
    for override, key, value in (
        ("acl_prio_1.ac_dem_p2p_val", "AC_Dem_P2p_Val", 80.0),
        ("acl_prio_2.ac_topo_corr_cutoff", "AC_Topo_Corr_Cutoff", 2.0),
    ):
        with pytest.raises(ConfigError, match=rf"AC_GIPP.xml: {key}: {value} is not supported"):
            topographic_settings(load_gipp(overrides={f"ac.{override}": value}))


@pytest.mark.parametrize(("slope_deg", "flat"), [(2.0, True), (10.0, False)])
def test_quasi_flat_shortcut(slope_deg: float, flat: bool) -> None:
    """Quasi-flat when all slopes are below AC_Slope_Th (6 deg) and the relief below 300 m
    (a 48 x 30 m plane rises 50 m at 2 deg, 250 m at 10 deg)."""
    settings = topographic_settings(load_gipp())
    geometry = terrain_geometry(_plane(slope_deg, 90.0), PIXEL_M)
    assert float(np.ptp(geometry.elevation_m)) < settings.relief_limit_m
    assert settings.is_quasi_flat(geometry) is flat


# --- the correction against the simulator's truth ----------------------------------------------

SCENE_BANDS = ("B02", "B8A")
"""A 10 m visible band (largest path share) and a 20 m NIR band (brightest surroundings)."""
SUNS = {
    "july": datetime(2024, 7, 20, 10, 20, 21),
    "october": datetime(2024, 10, 20, 10, 20, 21),
    "december": datetime(2024, 12, 10, 10, 20, 21),
}
"""Sun zenith ~25, ~54 and ~67 deg over the 32TQM tile (46 N)."""
MIN_SLOPE_DEG = 10.0
OVERRIDES = "l2a.atmospheric_correction.look_up_tables"


@dataclass(frozen=True)
class BandCase:
    """One band of a simulated terrain scene on its native grid, with what the correction needs."""

    toa: np.ndarray
    truth: np.ndarray
    observation: Observation
    terms: TermGrid
    elevation_m: np.ndarray
    aot550: np.ndarray
    wv_cm: np.ndarray
    geometry: TerrainGeometry
    lit: TerrainIllumination
    classes: dict[str, np.ndarray]

    def rmse(self, boa: np.ndarray) -> dict[str, float]:
        return {
            name: float(np.sqrt(np.mean((boa[mask] - self.truth[mask]) ** 2)))
            for name, mask in self.classes.items()
        }


TerrainScene = tuple[str, dict[str, BandCase]]
"""Sun name of :data:`SUNS` and band -> case."""


def _gipp() -> Gipp:
    return load_gipp(
        overrides={f"{OVERRIDES}.ozone_content": 0, f"{OVERRIDES}.aerosol_type": "MARITIME"}
    )


def _band_case(scene: SimulatedScene, band: str, gipp: Gipp) -> BandCase:
    res = BY_NAME[band].resolution
    factor = res // 10
    toa = scene.toa_reflectance[band]
    n = toa.shape[0]
    elevation = block_mean(scene.dem_m, factor, np.float64)
    aot550, wv_cm = block_mean(scene.aot550, factor), block_mean(scene.wv_cm, factor)
    fields = angle_fields(
        scene.geometry.sun_angles, scene.geometry.viewing_angles, res, Window(0, 0, n, n), (band,)
    )
    observation = Observation.from_angle_fields(
        fields, sensor=scene.spec.mission_id, resolution=res,
        day_of_year=scene.spec.sensing_time.timetuple().tm_yday, latitude_deg=46.0,
    )  # fmt: skip
    aux = AuxData(ozone_du=scene.ozone_du, water_vapour_cm=None, msl_hpa=None, aod550=None)
    atmosphere = correct(
        {band: toa}, observation, gipp=gipp, aux=aux, aot550=aot550, wv_cm=wv_cm,
        elevation_m=elevation,
    ).atmosphere  # fmt: skip
    constants = gipp.ac.classic_constants
    terms = band_terms(
        load_lut(), observation, band, aerosol=atmosphere.aerosol, aot550=aot550, wv_cm=wv_cm,
        ozone_du=atmosphere.ozone_du, shape=toa.shape, elevation_m=elevation,
        max_sun_zenith_deg=constants.max_sun_zenith_deg,
        max_view_zenith_deg=constants.max_view_zenith_deg,
    )  # fmt: skip
    geometry = terrain_geometry(elevation, res, sky_view_step=SKY_VIEW_GRID_M // res)
    sun = (observation.sun_zenith_deg, observation.sun_azimuth_deg)
    lit = terrain_illumination(geometry, *sun)
    clear = np.isin(scene.scene_class[::factor, ::factor], (4, 5))
    cast = geometry.cast_shadow(*sun) & (lit.cos_incidence > 0)
    classes = {
        "sunlit": clear & (lit.illumination > 0) & (geometry.slope_deg >= MIN_SLOPE_DEG),
        "self-shadow": clear & (lit.cos_incidence <= 0),
        "cast-shadow": clear & cast,
    }
    truth = scene.boa_reflectance[band]
    return BandCase(
        toa, truth, observation, terms, elevation, aot550, wv_cm, geometry, lit, classes
    )


def _circular_mean_deg(values: np.ndarray) -> float:
    radians = np.radians(values[np.isfinite(values)])
    return float(np.degrees(np.arctan2(np.sin(radians).mean(), np.cos(radians).mean())) % 360.0)


def _one_sun_and_view_azimuth(geometry: SceneGeometry, size: int) -> SceneGeometry:
    """``geometry`` with the sun and each band's view azimuth fixed at their means over the
    ``size`` x ``size`` (10 m) scene; view zeniths unchanged.

    Over 3 km they vary by < 0.05 deg, but the simulator takes its 6S terms at the mean of the
    whole 23 x 23 tie-point grid (the 110 km tile): 0.6 deg of sun zenith and 50-80 deg of view
    azimuth away from this corner's own angles, which the correction uses (and the simulator's
    terrain illumination too). Measured with those tile means: shaded B02 RMSE 0.008-0.013, B8A
    0.003-0.005; december B02 0.0121, 0.0055 with the corner's sun, 0.0039 with its view
    azimuth too.
    """
    n = size // 6
    fields = angle_fields(
        geometry.sun_angles, geometry.viewing_angles, 60, Window(0, 0, n, n), SCENE_BANDS
    )
    tie_shape = geometry.sun_angles.zenith.shape
    sun = AngleGrid(
        np.full(tie_shape, float(np.mean(fields.sun_zenith_deg))),
        np.full(tie_shape, _circular_mean_deg(fields.sun_azimuth_deg)),
    )
    viewing = {
        band: {
            detector: replace(
                grid,
                azimuth=np.where(
                    np.isfinite(grid.azimuth),
                    _circular_mean_deg(fields.view_azimuth_deg[band]),
                    np.nan,
                ),
            )
            for detector, grid in geometry.viewing_angles[band].items()
        }
        for band in SCENE_BANDS
    }
    return replace(geometry, sun_angles=sun, viewing_angles={**geometry.viewing_angles, **viewing})


@pytest.fixture(scope="module", params=sorted(SUNS))
def terrain_scene(request: pytest.FixtureRequest) -> TerrainScene:
    """3 km of 1.5 km relief, cloud-free, maritime aerosol, uniform AOT 0.12 / WV 1.2 cm (one
    6S node each: the simulator's terms are then 6S's own, not interpolated), under one sun and
    view azimuth (:func:`_one_sun_and_view_azimuth`)."""
    spec = SceneSpec(
        size=300, seed=8, cloud_fraction=0.0, cirrus_fraction=0.0, max_elevation_m=1500.0,
        sensing_time=SUNS[request.param], aerosol_type="maritime",
        aot550_range=(0.12, 0.12), wv_cm_range=(1.2, 1.2),
    )  # fmt: skip
    geometry = _one_sun_and_view_azimuth(simulate_geometry(spec), spec.size)
    scene = simulate_scene(spec, geometry, bands=SCENE_BANDS, nodes=NodeGrid(1, 1, 3, 2))
    gipp = _gipp()
    return request.param, {band: _band_case(scene, band, gipp) for band in SCENE_BANDS}


def correct_with_terrain_light(
    case: BandCase, gipp: Gipp, *, terrain_light: bool = True
) -> np.ndarray:
    """BOA of ``case`` with terrain-reflected light, the loop of ``correct``: invert
    (:func:`correct_band`) with ``rho_terrain = AC_Terrain_Refl_Start``, then again with the
    ``AC_Rng_Nbhd_Terrain_Corr`` mean of the result while it changes by more than
    ``AC_Topo_Corr_Th``, at most ``AC_Max_Nr_Topo_Iter`` times. ``terrain_light=False``:
    ``rho_terrain = 0`` (the correction without terrain-reflected light)."""
    ac = gipp.l2a.atmospheric_correction

    def invert(lit: TerrainIllumination) -> np.ndarray:
        return correct_band(
            case.toa, case.terms, elevation_m=case.elevation_m, aot550=case.aot550,
            wv_cm=case.wv_cm, adjacency_km=ac.calibration.adj_km,
            resolution_m=case.geometry.resolution, terrain=lit,
        )  # fmt: skip

    if not terrain_light:
        return invert(case.lit.with_terrain_light(0.0))
    return iterate_terrain_light(
        invert, case.lit, topographic_settings(gipp), case.geometry.resolution, None
    )


SUNLIT_RMSE = 0.005
"""Issue #4's clear-land BOA target."""
SHADOW_RMSE = 0.01
"""Issue #4's target on shaded slopes, where only diffuse and terrain-reflected light arrive
(a fifth of the sunlit irradiance or less), so any error of the path reflectance is amplified
about five times. Measured (self / cast shadow): B02 0.0039-0.0050, B8A 0.0010-0.0015. What
B02 keeps is our 6S table against the simulator's own 6S runs: its path reflectance is 0.0006-
0.0008 (1 %) higher at these states (sun-zenith, AOT and elevation interpolation); with the
simulator's terms in the inversion the shaded B02 RMSE is 0.0005-0.0012."""
NIR_SHADOW_RMSE = SUNLIT_RMSE
"""B8A's path reflectance is small (0.012-0.017), so its shaded slopes meet the clear-land
target too, once the terrain reflectance has converged: 0.0010-0.0015 with Wegstein's update
of :func:`~core.atmospheric_correction.correct.iterate_terrain_light`, 0.0034-0.0066 with the
plain update after ``AC_Max_Nr_Topo_Iter`` = 3."""


def test_terrain_correction_on_sunlit_and_shaded_slopes(terrain_scene: TerrainScene) -> None:
    """Per slope class, BOA vs truth with the terrain correction and terrain-reflected light:
    sunlit slopes within the issue's 0.005, self and cast shadow within :data:`SHADOW_RMSE`
    (B8A: :data:`NIR_SHADOW_RMSE`); without the terrain-reflected light the shaded NIR is several
    times worse (the test can tell)."""
    name, cases = terrain_scene
    gipp = _gipp()
    for band, case in cases.items():
        assert case.classes["sunlit"].sum() > 1000
        rmse = case.rmse(correct_with_terrain_light(case, gipp))
        dark = case.rmse(correct_with_terrain_light(case, gipp, terrain_light=False))
        print(f"{name} {band} RMSE", {k: round(v, 4) for k, v in rmse.items()},
              "without terrain light", {k: round(v, 4) for k, v in dark.items()})  # fmt: skip
        assert rmse["sunlit"] <= SUNLIT_RMSE
        for shade in ("self-shadow", "cast-shadow"):
            if case.classes[shade].sum() > 200:
                assert rmse[shade] <= SHADOW_RMSE
                if band == "B8A":
                    assert rmse[shade] <= NIR_SHADOW_RMSE
                    assert dark[shade] > 3 * rmse[shade]


def test_correct_on_sunlit_slopes(terrain_scene: TerrainScene) -> None:
    """:func:`correct` itself (terrain geometry given) meets the sunlit target."""
    _, cases = terrain_scene
    gipp = _gipp()
    for band, case in cases.items():
        boa = correct(
            {band: case.toa}, case.observation, gipp=gipp, terrain=case.geometry,
            elevation_m=case.elevation_m, aot550=case.aot550, wv_cm=case.wv_cm,
        ).boa[band]  # fmt: skip
        assert case.rmse(boa)["sunlit"] <= SUNLIT_RMSE
