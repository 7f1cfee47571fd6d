"""Physics of the scene simulator against independent truth: direct 6S runs, sun/view geometry,
terrain illumination, and real Sentinel-2 L1C statistics."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from Py6S import GroundReflectance
from scipy import ndimage

from core.angles import interpolate_grid
from core.bands import BY_NAME
from core.errors import InputError, ProductFormatError
from core.product.metadata import AngleGrid
from core.simulate.forward import NodeGrid, simulate_scene, terrain_factors
from core.simulate.geometry import tile_grids
from core.simulate.landscape import LandCover
from core.simulate.preview import scene_true_colour, side_by_side, write_png
from core.simulate.realforward import simulate_from_l2a
from core.simulate.scene import SceneGeometry, SceneSpec
from core.simulate.sixs import AtmosphereState, build_sixs

SUN = (35.0, 150.0)
# Per-band constant viewing direction (zenith, azimuth): B02 and B04 look from opposite sides,
# as odd and even MSI detectors do, so a cloud lands at different ground positions in each.
VIEW = {"B02": (9.0, 100.0), "B04": (3.0, 280.0)}
DEFAULT_VIEW = (5.0, 105.0)
FAST_NODES = NodeGrid(aot=2, wv=2, elevation=2, view_zenith=2)
# Fewer 6S runs where the atmosphere does not matter (geometry tests: one node) or matters
# little (realism: the elevation and view-zenith nodes change TOA by ~1 %), to keep the file
# fast on a cold 6S cache.
ONE_NODE = NodeGrid(aot=1, wv=1, elevation=1, view_zenith=1)
REALISM_NODES = NodeGrid(aot=2, wv=2, elevation=1, view_zenith=1)


def _grid(value: float) -> np.ndarray:
    return np.full((23, 23), value)


def constant_geometry(
    spec: SceneSpec, *, margin: int = 0, sun: tuple[float, float] = SUN
) -> SceneGeometry:
    """Flat-Earth test geometry: constant sun and per-band view angles, one detector.

    ``margin`` 10 m pixels along the right edge lie outside the swath (detector 0).
    """
    grids = tile_grids(spec.tile_id, spec.size)
    viewing, footprint = {}, {}
    for name, band in BY_NAME.items():
        zen, az = VIEW.get(name, DEFAULT_VIEW)
        viewing[name] = {1: AngleGrid(_grid(zen), _grid(az))}
        n = spec.size * 10 // band.resolution
        det = np.ones((n, n), dtype=np.uint8)
        det[:, n - margin * 10 // band.resolution :] = 0 if margin else 1
        footprint[name] = det
    return SceneGeometry(grids, AngleGrid(_grid(sun[0]), _grid(sun[1])), viewing, footprint)


def _shift_px(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """Integer (row, col) shift that best maps mask ``a`` onto mask ``b`` (zero-padded FFT
    cross-correlation, so nothing wraps around)."""
    shape = (2 * a.shape[0], 2 * a.shape[1])
    fa = np.fft.rfft2(a.astype(float), s=shape)
    fb = np.fft.rfft2(b.astype(float), s=shape)
    corr = np.fft.irfft2(np.conj(fa) * fb, s=shape)
    row, col = np.unravel_index(np.argmax(corr), corr.shape)
    return (row - shape[0] if row > a.shape[0] else row), (
        col - shape[1] if col > a.shape[1] else col
    )


def _displacement_px(height_m: float, zenith: float, azimuth: float) -> np.ndarray:
    """Where a feature at ``height_m`` appears, (row, col) in 10 m pixels: towards azimuth+180."""
    d = height_m * math.tan(math.radians(zenith))
    az = math.radians(azimuth)
    return np.array([d * math.cos(az), -d * math.sin(az)]) / 10.0


@pytest.fixture(scope="module")
def clear_flat_scene():
    spec = SceneSpec(
        size=366, seed=11, cloud_fraction=0.0, cirrus_fraction=0.0, max_elevation_m=0.0,
        aot550_range=(0.05, 0.4), wv_cm_range=(0.8, 3.0),
    )  # fmt: skip
    bands = ("B02", "B11")
    return simulate_scene(spec, constant_geometry(spec, margin=30), bands=bands, nodes=FAST_NODES)


def test_toa_matches_direct_6s_runs_at_pixel_state(clear_flat_scene):
    """Flat, cloud-free, homogeneous neighbourhood: TOA = 6S at the pixel's exact state.

    Pixels are taken where the surface is uniform over the adjacency range (so the
    environment term equals the pixel), with AOT and WV between the nodes (worst case for the
    interpolation). Tolerance 1 %: 2-node linear interpolation over AOT 0.05-0.4, WV 0.8-3 cm
    and view zenith 0-12 deg is convex-curvature error (path radiance and transmittance in AOT,
    gas transmittance ~ exp(-k sqrt(w))), measured at up to 0.45 % in B02 and 0.1 % in B11
    over such pixels; plus 0.001 absolute for the residual adjacency
    (``T_up_dif`` <= 0.2 times a 1 km-mean mismatch below 0.002, and 60 m cells vs box).
    """
    scene = clear_flat_scene
    # 1 km box means of the surface, per band (the adjacency range of the spec)
    env = {
        band: ndimage.uniform_filter(scene.boa_reflectance[band], 201 * 10 // res)
        for band, res in (("B02", 10), ("B11", 20))
    }
    mismatch = np.maximum(
        np.abs(env["B02"] - scene.boa_reflectance["B02"])[::2, ::2],
        np.abs(env["B11"] - scene.boa_reflectance["B11"]),
    )
    mismatch[:, 140:] = np.inf  # away from the no-data margin and the reflecting edge
    mismatch[:, :40] = mismatch[:40, :] = mismatch[-40:, :] = np.inf
    rows, cols = np.nonzero(mismatch < 0.002)
    assert rows.size >= 3
    pick = np.random.default_rng(0).choice(rows.size, size=3, replace=False)
    checked = 0
    for r20, c20 in zip(rows[pick], cols[pick], strict=True):
        for band in ("B02", "B11"):
            f = 2 // (BY_NAME[band].resolution // 10)  # 10 m pixels per 20 m pixel side
            r, c = r20 * f, c20 * f
            block = np.s_[2 * r20 : 2 * r20 + 3 - f, 2 * c20 : 2 * c20 + 3 - f]
            rho = float(scene.boa_reflectance[band][r, c])
            state = AtmosphereState(
                "S2A", band, float(scene.aot550[block].mean()), "continental",
                float(scene.wv_cm[block].mean()), 330.0, 0.0, *SUN, *VIEW.get(band, DEFAULT_VIEW),
            )  # fmt: skip
            model = build_sixs(state)
            model.ground_reflectance = GroundReflectance.HomogeneousLambertian(rho)
            model.run()
            expected = float(model.outputs.apparent_reflectance)
            got = float(scene.toa_reflectance[band][r, c])
            assert got == pytest.approx(expected, rel=0.01, abs=0.001), (band, r, c, rho)
            checked += 1
    assert checked == 6


def test_no_data_outside_detector_footprint(clear_flat_scene):
    toa = clear_flat_scene.toa_reflectance
    assert np.isnan(toa["B02"][:, -30:]).all() and np.isfinite(toa["B02"][:, :-30]).all()
    assert np.isnan(toa["B11"][:, -15:]).all() and np.isfinite(toa["B11"][:, :-15]).all()
    assert (clear_flat_scene.scene_class[:, -30:] == 0).all()


@pytest.fixture(scope="module")
def cloudy_scene():
    spec = SceneSpec(
        size=600, seed=5, cloud_fraction=0.06, cirrus_fraction=0.0,
        cloud_height_m=(3000.0, 3000.0), max_elevation_m=0.0,
    )  # fmt: skip
    geometry = constant_geometry(spec)
    return simulate_scene(spec, geometry, bands=("B02", "B04", "B08"), nodes=ONE_NODE)


def test_cloud_shadow_offset_follows_the_sun(cloudy_scene):
    """Shadow = cloud moved h tan(theta_s) towards the anti-solar azimuth."""
    cloud = cloudy_scene.extras["cloud_optical_depth"] > 1.0
    shadow = cloudy_scene.extras["direct_sun_fraction"] < 0.5
    expected = _displacement_px(3000.0, *SUN)
    assert np.abs(np.array(_shift_px(cloud, shadow)) - expected).max() <= 2.0
    # and the shadowed, cloud-free ground is darker at the sensor in the NIR
    seen = cloudy_scene.extras["seen_cloud_optical_depth"] > 0.0
    nir = cloudy_scene.toa_reflectance["B08"]
    ratio = nir / cloudy_scene.boa_reflectance["B08"]
    assert np.median(ratio[shadow & ~seen]) < 0.6 * np.median(ratio[~shadow & ~seen])


def test_cloud_parallax_between_bands(cloudy_scene):
    """B02 and B04 see the same cloud displaced by h tan(theta_v) along their view azimuths."""
    b02 = cloudy_scene.toa_reflectance["B02"] > 0.35
    b04 = cloudy_scene.toa_reflectance["B04"] > 0.35
    expected = _displacement_px(3000.0, *VIEW["B04"]) - _displacement_px(3000.0, *VIEW["B02"])
    assert np.hypot(*expected) > 40  # a real test: the clouds are far apart
    assert np.abs(np.array(_shift_px(b02, b04)) - expected).max() <= 2.0


def test_sunlit_slopes_brighter_than_shaded_slopes():
    spec = SceneSpec(size=600, seed=8, cloud_fraction=0.0, cirrus_fraction=0.0,
                     max_elevation_m=3000.0)  # fmt: skip
    scene = simulate_scene(spec, constant_geometry(spec), bands=("B08",), nodes=ONE_NODE)
    # incidence from the truth DEM, computed here independently of the simulator
    d_row, d_col = np.gradient(scene.dem_m.astype(float), 10.0)
    zen, az = np.radians(SUN[0]), np.radians(SUN[1])
    norm = np.sqrt(1 + d_col**2 + d_row**2)
    sun = np.array([np.sin(zen) * np.sin(az), np.sin(zen) * np.cos(az), np.cos(zen)])
    cos_i = (-d_col * sun[0] + d_row * sun[1] + sun[2]) / norm
    forest = scene.extras["land_cover"] == LandCover.FOREST
    ratio = scene.toa_reflectance["B08"] / scene.boa_reflectance["B08"]
    lit = forest & (cos_i > np.cos(zen) + 0.15)
    shaded = forest & (cos_i < np.cos(zen) - 0.15)
    assert lit.sum() > 500 and shaded.sum() > 500
    assert np.median(ratio[lit]) > 1.15 * np.median(ratio[shaded])


def test_same_seed_same_arrays_other_seed_differs(tmp_path: Path):
    spec = SceneSpec(size=120, seed=21)
    geometry = constant_geometry(spec)
    a = simulate_scene(spec, geometry, bands=("B03", "B12"), nodes=ONE_NODE)
    b = simulate_scene(spec, geometry, bands=("B03", "B12"), nodes=ONE_NODE)
    c = simulate_scene(replace(spec, seed=22), geometry, bands=("B03", "B12"), nodes=ONE_NODE)
    for name in ("B03", "B12"):
        assert a.toa_reflectance[name].tobytes() == b.toa_reflectance[name].tobytes()
        assert not np.array_equal(a.toa_reflectance[name], c.toa_reflectance[name])
    for layer in ("scene_class", "aot550", "wv_cm", "dem_m"):
        assert getattr(a, layer).tobytes() == getattr(b, layer).tobytes()


def _real_l1c(folder: Path, pattern: str, bands: tuple[str, ...]) -> dict[str, np.ndarray]:
    """TOA reflectance of real L1C JP2s (baseline 02.0x: DN / 10000, no offset; 0 = no data)."""
    out = {}
    for name in bands:
        with rasterio.open(folder / pattern.format(band=name)) as src:
            out[name] = src.read(1).astype(np.float64) / 10000.0
    return out


def _iqr(values: np.ndarray, q: tuple[float, float] = (25, 75)) -> tuple[float, float]:
    lo, hi = np.percentile(values, q)
    return float(lo), float(hi)


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


@pytest.fixture(scope="module")
def summer_scene():
    # clean boreal summer air, as over the real T19UDP scene (Quebec/Maine, 29 July)
    spec = SceneSpec(
        size=1200, seed=3, cloud_fraction=0.15, cirrus_fraction=0.05, aot550_range=(0.03, 0.12)
    )
    bands = ("B02", "B03", "B04", "B08", "B8A", "B10")
    return simulate_scene(spec, constant_geometry(spec), bands=bands, nodes=REALISM_NODES)


def _ndvi(nir: np.ndarray, red: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return (nir - red) / (nir + red)


def test_summer_toa_statistics_overlap_real_l1c(summer_scene, shared_data):
    """Per-class TOA of a simulated July scene against the real T19UDP July L1C (160 m).

    Real classes by simple spectral rules (vegetation: NDVI > 0.3 and B02 < 0.12; water:
    NDWI(B03, B8A) > 0.2 and B8A < 0.1; bright cloud: B02 > 0.3). Bounds: the inter-quartile
    ranges of simulated and real values overlap, and the medians differ by less than 0.15 NDVI,
    0.02 in water B8A and 0.2 in cloud B02.
    """
    real = _real_l1c(
        shared_data / "l1c-real" / "T19UDP_20170729_overview" / "preview",
        "{band}.jp2",
        ("B02", "B03", "B04", "B08", "B8A", "B10"),
    )
    valid = real["B02"] > 0
    real_ndvi = _ndvi(real["B08"], real["B04"])
    real_veg = valid & (real_ndvi > 0.3) & (real["B02"] < 0.12)
    real_water = valid & (_ndvi(real["B03"], real["B8A"]) > 0.2) & (real["B8A"] < 0.1)
    real_cloud = valid & (real["B02"] > 0.3)

    sim, scl = summer_scene.toa_reflectance, summer_scene.scene_class
    sim_veg = (scl == 4) & (summer_scene.extras["direct_sun_fraction"] > 0.99)
    sim_ndvi = _ndvi(sim["B08"], sim["B04"])[sim_veg]
    # open water, at least 400 m from any shore (the real water pixels are 160 m lake pixels)
    open_water = ndimage.binary_erosion(
        summer_scene.extras["land_cover"] == LandCover.WATER, iterations=40
    )
    water20 = open_water[::2, ::2] & (scl == 6)[::2, ::2]
    sim_cloud = scl == 9

    pairs = (
        (sim_ndvi, real_ndvi[real_veg], 0.15),
        (sim["B8A"][water20], real["B8A"][real_water], 0.02),
        (sim["B02"][sim_cloud], real["B02"][real_cloud], 0.2),
    )
    for simulated, observed, tol in pairs:
        assert simulated.size > 200 and observed.size > 200
        sim_range, real_range = _iqr(simulated), _iqr(observed)
        assert _overlap(sim_range, real_range), (sim_range, real_range)
        assert abs(np.median(simulated) - np.median(observed)) < tol
    # B10: almost no ground signal under a summer atmosphere; real clear land reads ~0.001-0.002
    clear60 = (summer_scene.scene_class[::6, ::6] == 4) & (
        summer_scene.extras["seen_cirrus_optical_depth"][::6, ::6] == 0
    )
    assert np.median(sim["B10"][clear60]) < 0.01
    assert np.median(real["B10"][real_veg]) < 0.01


def test_winter_toa_statistics_overlap_real_l1c(shared_data):
    """A February scene near Berlin (sun zenith 66 deg, hazy winter air) against the real
    T33UUU crop of 16 February 2017 at 10 m. Checked: the blue band over land (dominated by
    path radiance at this low sun) and open water in B08: the 10-90 % ranges overlap (the real
    crop is lossily re-encoded in steps of ~0.003, and its lakes may be partly frozen) and the
    medians agree within 0.03."""
    spec = SceneSpec(
        size=600, seed=11, tile_id="33UUU", sensing_time=datetime(2017, 2, 16, 10, 21, 1),
        cloud_fraction=0.0, cirrus_fraction=0.0, aot550_range=(0.15, 0.35),
        wv_cm_range=(0.5, 1.0), max_elevation_m=100.0,
    )  # fmt: skip
    geometry = constant_geometry(spec, sun=(66.3, 160.0))
    scene = simulate_scene(spec, geometry, bands=("B02", "B08"), nodes=REALISM_NODES)
    real = _real_l1c(
        shared_data / "l1c-real" / "T33UUU_20170216_crop",
        "T33UUU_20170216T102101_{band}.jp2",
        ("B02", "B03", "B08"),
    )
    real_water = _ndvi(real["B03"], real["B08"]) > 0.1
    cover = scene.extras["land_cover"]
    sim_water = ndimage.binary_erosion(cover == LandCover.WATER, iterations=20)  # 200 m
    sim_land = (cover != LandCover.WATER) & (cover != LandCover.SNOW)
    pairs = (
        (scene.toa_reflectance["B02"][sim_land], real["B02"][~real_water], 0.03),
        (scene.toa_reflectance["B08"][sim_water], real["B08"][real_water], 0.03),
    )
    for simulated, observed, tol in pairs:
        assert simulated.size > 200 and observed.size > 200
        sim_range, real_range = _iqr(simulated, (10, 90)), _iqr(observed, (10, 90))
        assert _overlap(sim_range, real_range), (sim_range, real_range)
        assert abs(np.median(simulated) - np.median(observed)) < tol


L2A_REAL = "l2a-real/S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE"


def test_real_l2a_forward_matches_6s_and_carries_its_truth(shared_data):
    """The real T29UNU L2A (60 m BOA, AOT, WVP, MTD_TL angles) run forward to TOA.

    At two uniform pixels, TOA must equal a direct 6S run with the product's own AOT/WVP at that
    pixel and the angles interpolated from its MTD_TL grids. Tolerance 3 % + 0.002: the model
    runs 6S at the tile-mean sun and band-mean view azimuth (the tile corner is ~0.5 deg off the
    mean), two nodes per axis, and a 1 km environment that differs slightly from the pixel.
    """
    safe = shared_data / L2A_REAL
    bands = ("B02", "B11")
    scene = simulate_from_l2a(safe, size=1200, bands=bands, nodes=FAST_NODES)
    assert scene.spec.tile_id == "29UNU" and scene.spec.ozone_du == pytest.approx(321.75, abs=0.01)
    # truth layers come from the product: SCL codes, AOT ~0.1 and WV in cm
    assert set(np.unique(scene.scene_class)) <= set(range(12))
    assert 0.05 < float(np.median(scene.aot550)) < 0.3
    assert 0.5 < float(np.median(scene.wv_cm)) < 4.0
    b11 = scene.boa_reflectance["B11"]
    env = ndimage.uniform_filter(b11, 101)
    mismatch = np.abs(env - b11) + np.where(scene.scene_class[::2, ::2] == 4, 0.0, np.inf)
    mismatch[:60, :] = mismatch[-60:, :] = mismatch[:, :60] = mismatch[:, -60:] = np.inf
    flat = np.argsort(mismatch, axis=None)[:2]
    for r20, c20 in zip(*np.unravel_index(flat, mismatch.shape), strict=True):
        y, x = np.array([r20 * 20.0 + 10.0]), np.array([c20 * 20.0 + 10.0])
        sun_z, sun_a = interpolate_grid(scene.geometry.sun_angles, y, x)
        for band in bands:
            f = 2 // (BY_NAME[band].resolution // 10)
            r, c = r20 * f, c20 * f
            det = int(scene.geometry.detector_footprint[band][r, c])
            view_z, view_a = interpolate_grid(scene.geometry.viewing_angles[band][det], y, x)
            block = np.s_[2 * r20 : 2 * r20 + 2, 2 * c20 : 2 * c20 + 2]
            state = AtmosphereState(
                "S2A", band, float(scene.aot550[block].mean()), "continental",
                float(scene.wv_cm[block].mean()), scene.ozone_du, 0.0, float(sun_z[0, 0]),
                float(sun_a[0, 0]), float(view_z[0, 0]), float(view_a[0, 0]),
            )  # fmt: skip
            model = build_sixs(state)
            rho = float(scene.boa_reflectance[band][r, c])
            model.ground_reflectance = GroundReflectance.HomogeneousLambertian(rho)
            model.run()
            expected = float(model.outputs.apparent_reflectance)
            got = float(scene.toa_reflectance[band][r, c])
            assert got == pytest.approx(expected, rel=0.03, abs=0.002), (band, r, c, rho)


def test_true_colour_preview_png_round_trip(summer_scene, tmp_path: Path):
    """The preview maps B04/B03/B02 to RGB (clouds white, vegetation darker and greener than
    red-blue) and survives a PNG write/read through GDAL."""
    rgb = scene_true_colour(summer_scene)
    assert rgb.shape == (1200, 1200, 3) and rgb.dtype == np.uint8
    cloud = summer_scene.scene_class == 9
    veg = (summer_scene.scene_class == 4) & (summer_scene.extras["direct_sun_fraction"] > 0.99)
    assert rgb[cloud].mean() > 200 and rgb[veg].mean() < rgb[cloud].mean() - 80
    assert np.median(rgb[veg][:, 1]) > np.median(rgb[veg][:, 0])  # green above red
    canvas = side_by_side(rgb, rgb[:600, :300])
    path = tmp_path / "preview.png"
    write_png(path, canvas)
    with rasterio.open(path) as src:
        assert src.driver == "PNG"
        assert np.array_equal(np.moveaxis(src.read(), 0, -1), canvas)


def test_bad_inputs_fail_with_one_line_errors(tmp_path: Path):
    with pytest.raises(InputError, match="size 100 must be a positive multiple of 6"):
        simulate_scene(SceneSpec(size=100, seed=1), constant_geometry(SceneSpec(size=96, seed=1)))
    with pytest.raises(InputError, match="aerosol_type 'desert'"):
        spec = SceneSpec(size=96, seed=1, aerosol_type="desert")
        simulate_scene(spec, constant_geometry(spec))
    not_l2a = tmp_path / "S2A_MSIL2A_X.SAFE"
    (not_l2a / "GRANULE").mkdir(parents=True)
    with pytest.raises(ProductFormatError, match=r"S2A_MSIL2A_X\.SAFE: expected one granule"):
        simulate_from_l2a(not_l2a)


def test_terrain_casts_shadow_of_length_h_tan_theta():
    """A 600 m north-south wall with the sun in the east at 45 deg shades 600 m west of it
    (the simulator's terrain factors: :mod:`core.terrain`)."""
    dem = np.zeros((50, 50))
    dem[:, 30] = 600.0
    lit = terrain_factors(dem, 60.0, 45.0, 90.0)
    row = lit.illumination[25]
    first = int(np.nonzero(row[:30] == 0)[0].min())  # westmost shaded cell
    assert abs((30 - first) * 60.0 - 600.0) <= 60.0  # one 60 m cell of discretisation
    assert (row[first:30] == 0).all() and row[:first] == pytest.approx(1.0)
    # the wall hides sky, more so closer to it; at its foot (30-60 m from a 600 m face) an
    # infinite wall leaves V = 1/2 + 1/(2 sqrt(1 + (h/d)^2)) = 0.52-0.55, a 3 km one a bit more
    sky_view = lit.sky_view[25]
    assert sky_view[5] > sky_view[10] > sky_view[20] > sky_view[29]
    assert 0.5 < sky_view[29] < 0.65
