"""The fast atmospheric-correction kernels against plain numpy references (issue #7).

* :func:`~core.atmospheric_correction.inversion.first_pass` and
  :func:`~core.atmospheric_correction.correct.correct_band`: the node terms interpolated per pixel
  with numpy (16 corners gathered, weights from ``searchsorted``), inverted with the equations
  of the module docstring, the environment from ``scipy.ndimage.uniform_filter`` (normalised
  convolution): within 1e-5 on random windows with no-data, offsets and terrain;
* :func:`~core.atmospheric_correction.adjacency.environment_reflectance` against the scipy
  normalised convolution, boxes larger than the window included;
* an observation whose angles are on a 60 m grid gives the BOA of the per-pixel angles of a
  real tile within 1e-4, and its per-pixel sun angles within a few 1e-3 deg.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from rasterio.windows import Window
from scipy import ndimage

from core.angles import angle_fields, parse_tile_angles
from core.atmosphere.lut import AOT_OFFSET, load_lut
from core.atmospheric_correction.adjacency import box_width_px, environment_reflectance
from core.atmospheric_correction.correct import correct_band
from core.atmospheric_correction.inversion import SELF_ENVIRONMENT_ITERATIONS, first_pass
from core.atmospheric_correction.observation import Observation
from core.atmospheric_correction.terms import WV_STEP_CM, TermGrid, band_terms
from core.io.xml import parse_xml_bytes
from core.terrain.illumination import TerrainIllumination

RES = 20
SHAPE = (260, 230)
ADJ_KM = 0.6
TOLERANCE = 1e-5


def _smooth(rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    """A smooth random field over :data:`SHAPE` (Gaussian-filtered noise) from low to high."""
    field = ndimage.gaussian_filter(rng.standard_normal(SHAPE), 25.0)
    field = (field - field.min()) / (field.max() - field.min())
    return (low + (high - low) * field).astype(np.float32)


@pytest.fixture(scope="module")
def scene() -> dict:
    """TOA 0.01-0.5 with 3 % no data, AOT 0.02-0.6, WV 0.3-3.5 cm, elevation 0-2200 m with
    pixel noise, sun and view angles varying across the grid (B04's 6S terms)."""
    rng = np.random.default_rng(11)
    rows, cols = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]].astype(np.float32)
    observation = Observation(
        sensor="S2A", resolution=RES, sun_zenith_deg=30.0 + rows / 40.0,
        sun_azimuth_deg=150.0 + cols / 50.0, view_zenith_deg={"B04": 2.0 + cols / 30.0},
        view_azimuth_deg={"B04": 100.0 + 0 * rows}, day_of_year=180, latitude_deg=45.0,
    )  # fmt: skip
    state = {
        "aot550": _smooth(rng, 0.02, 0.6),
        "wv_cm": _smooth(rng, 0.3, 3.5),
        "elevation_m": _smooth(rng, 0.0, 2200.0) + rng.normal(0, 30, SHAPE).astype(np.float32),
    }
    terms = band_terms(
        load_lut(), observation, "B04", aerosol="rural", ozone_du=320.0, shape=SHAPE,
        max_sun_zenith_deg=70.0, max_view_zenith_deg=12.0, step_m=600.0, **state,
    )  # fmt: skip
    toa = rng.uniform(0.01, 0.5, SHAPE).astype(np.float32)
    toa[rng.random(SHAPE) < 0.03] = np.nan
    lit = rng.uniform(0.0, 1.6, SHAPE).astype(np.float32)
    lit[rng.random(SHAPE) < 0.1] = 0.0  # shadow
    terrain = TerrainIllumination(
        illumination=lit,
        sky_view=rng.uniform(0.5, 1.0, SHAPE).astype(np.float32),
        cos_incidence=lit,
    )
    return {
        "terms": terms, "state": state, "toa": toa, "terrain": terrain,
        "not_ground": rng.random(SHAPE) < 0.08,
    }  # fmt: skip


def _locate(nodes: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower node and clamped weight of each ``x`` on increasing ``nodes``."""
    x = np.asarray(x, dtype=np.float64)
    if nodes.size == 1:
        return np.zeros(x.shape, int), np.zeros(x.shape)
    k = np.clip(np.searchsorted(nodes, x, side="right") - 1, 0, nodes.size - 2)
    return k, np.clip((x - nodes[k]) / (nodes[k + 1] - nodes[k]), 0.0, 1.0)


def reference_terms(
    terms: TermGrid, offset: tuple[int, int], shape: tuple[int, int], state: dict
) -> np.ndarray:
    """``[row, col, term]`` of a window: the 16 node corners of each pixel, gathered and
    weighted (bilinear x/y, linear elevation, ln(AOT + offset), WV from the node layers)."""
    kr, wr = _locate(terms.row_nodes, offset[0] + np.arange(shape[0]))
    kc, wc = _locate(terms.col_nodes, offset[1] + np.arange(shape[1]))
    kr, wr, kc, wc = kr[:, None], wr[:, None], kc[None, :], wc[None, :]
    elevation, aot, wv = (
        np.broadcast_to(state[k], shape) for k in ("elevation_m", "aot550", "wv_cm")
    )
    kz, wz = _locate(terms.elevation_nodes_m, elevation)
    ka, wa = _locate(np.log(terms.aot_nodes + AOT_OFFSET), np.log(aot + AOT_OFFSET))
    base = sum(
        (wr if dr else 1 - wr) * (wc if dc else 1 - wc) * terms.wv_nodes[kr + dr, kc + dc]
        for dr, dc in itertools.product((0, 1), repeat=2)
    )
    ww = (wv - base) / WV_STEP_CM
    n_a, n_z = terms.values.shape[:2]
    total = np.zeros((*shape, 7))
    for da, dz, dw, dr, dc in itertools.product((0, 1), repeat=5):
        weight = (
            (wa if da else 1 - wa) * (wz if dz else 1 - wz) * (ww if dw else 1 - ww)
            * (wr if dr else 1 - wr) * (wc if dc else 1 - wc)
        )  # fmt: skip
        corner = terms.values[
            np.minimum(ka + da, n_a - 1), np.minimum(kz + dz, n_z - 1), dw, kr + dr, kc + dc
        ]
        total += weight[..., None] * corner
    return total


def reference_inversion(
    toa: np.ndarray,
    t: np.ndarray,
    terrain: tuple[np.ndarray, np.ndarray] | None,
    environment: np.ndarray | None = None,
) -> np.ndarray:
    """The inversion module's equations, term by term."""
    path, gas, d_dir, d_dif, u_dir, u_dif, sph = np.moveaxis(t, -1, 0)
    x = toa / gas - path
    d_tot = d_dir + d_dif
    lit, sky = terrain if terrain is not None else (1.0, 1.0)
    direct, diffuse = d_dir * lit, d_dif * sky
    if environment is not None:
        e = environment
        irradiance = direct + diffuse + d_tot * sph * e / (1 - sph * e)
        return (x / irradiance - e * u_dif) / u_dir
    y = x / (d_tot * (u_dir + u_dif))
    rho = y / (1 + sph * y)
    if terrain is not None:
        for _ in range(SELF_ENVIRONMENT_ITERATIONS):
            irradiance = direct + diffuse + d_tot * sph * rho / (1 - sph * rho)
            rho = (x / irradiance - rho * u_dif) / u_dir
    return rho


def reference_environment(
    rho: np.ndarray, exclude: np.ndarray | None, adjacency_km: float, resolution_m: float
) -> np.ndarray:
    """Normalised box convolution with scipy (mirrored edges), own value where no neighbour."""
    ground = rho if exclude is None else np.where(exclude, np.nan, rho)
    valid = np.isfinite(ground)
    width = box_width_px(adjacency_km, resolution_m)
    total = ndimage.uniform_filter(np.where(valid, ground, 0.0).astype(np.float64), width)
    count = ndimage.uniform_filter(valid.astype(np.float64), width)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 1e-9, total / count, ground)


def _window(scene: dict, part: tuple[slice, slice]) -> dict:
    return {k: v[part] for k, v in scene["state"].items()}


def _factors(scene: dict, part: tuple[slice, slice], on: bool) -> tuple | None:
    terrain = scene["terrain"]
    return (terrain.illumination[part], terrain.sky_view[part]) if on else None


def _assert_close(fast: np.ndarray, reference: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(reference))
    error = float(np.nanmax(np.abs(fast - reference)))
    assert error < TOLERANCE, error


@pytest.mark.parametrize("on_terrain", [False, True])
@pytest.mark.parametrize(
    "part",
    [(slice(0, 260), slice(0, 230)), (slice(37, 201), slice(91, 229)), (slice(5, 6), slice(3, 90))],
)
def test_first_pass_equals_per_pixel_reference(scene: dict, part: tuple, on_terrain: bool) -> None:
    """Whole grid, an offset window and a one-row window; flat and terrain; NaN stays NaN."""
    offset = (part[0].start, part[1].start)
    state = _window(scene, part)
    toa = scene["toa"][part]
    factors = _factors(scene, part, on_terrain)
    fast, _ = first_pass(toa, scene["terms"], offset, terrain=factors, **state)
    t = reference_terms(scene["terms"], offset, toa.shape, state)
    assert np.isfinite(t).all()
    _assert_close(fast, reference_inversion(toa, t, factors))


def test_constant_state_equals_reference(scene: dict) -> None:
    """Scalars for AOT, WV and elevation (one AOT and one elevation layer: table nodes) give
    the reference too."""
    state = {"aot550": 0.2, "wv_cm": 1.4, "elevation_m": 0.0}
    terms = band_terms(
        load_lut(), Observation("S2B", RES, 41.0, 160.0, {"B04": 7.0}, {"B04": 290.0}, 100, 10.0),
        "B04", aerosol="maritime", ozone_du=300.0, shape=SHAPE, max_sun_zenith_deg=70.0,
        max_view_zenith_deg=12.0, **state,
    )  # fmt: skip
    assert terms.values.shape[:2] == (1, 1)
    fast, _ = first_pass(scene["toa"], terms, **state)
    _assert_close(
        fast, reference_inversion(scene["toa"], reference_terms(terms, (0, 0), SHAPE, state), None)
    )


@pytest.mark.parametrize("on_terrain", [False, True])
def test_two_passes_equal_reference_with_environment(scene: dict, on_terrain: bool) -> None:
    """:func:`correct_band` (first pass, environment box mean without the not-ground pixels,
    second pass from the kept coefficients) on an offset window, against the reference."""
    part = (slice(20, 250), slice(11, 200))
    offset = (part[0].start, part[1].start)
    state = _window(scene, part)
    toa, not_ground = scene["toa"][part], scene["not_ground"][part]
    terrain = scene["terrain"]
    lit = TerrainIllumination(
        terrain.illumination[part], terrain.sky_view[part], terrain.cos_incidence[part]
    )
    fast = correct_band(
        toa, scene["terms"], adjacency_km=ADJ_KM, resolution_m=RES, window_offset=offset,
        terrain=lit if on_terrain else None, not_ground=not_ground, **state,
    )  # fmt: skip
    factors = _factors(scene, part, on_terrain)
    t = reference_terms(scene["terms"], offset, toa.shape, state)
    first = reference_inversion(toa, t, factors)
    environment = reference_environment(first, not_ground, ADJ_KM, RES)
    _assert_close(fast, reference_inversion(toa, t, factors, environment))


@pytest.mark.parametrize(
    ("shape", "adjacency_km", "resolution_m"),
    [((300, 257), 1.0, 20.0), ((37, 45), 1.0, 60.0), ((9, 4), 0.5, 10.0), ((64, 64), 0.0, 20.0)],
)
def test_environment_equals_scipy_normalised_convolution(shape, adjacency_km, resolution_m) -> None:
    """NaN and excluded pixels left out, mirrored edges (boxes wider than the window too), the
    pixel's own value where its box holds nothing valid."""
    rng = np.random.default_rng(sum(shape))
    reflectance = rng.uniform(0.0, 0.6, shape).astype(np.float32)
    reflectance[rng.random(shape) < 0.2] = np.nan
    reflectance[: shape[0] // 3, : shape[1] // 3] = np.nan  # a no-data corner
    exclude = rng.random(shape) < 0.1
    for mask in (None, exclude):
        fast = environment_reflectance(reflectance, adjacency_km, resolution_m, exclude=mask)
        reference = reference_environment(reflectance, mask, adjacency_km, resolution_m)
        assert fast.dtype == np.float32
        np.testing.assert_array_equal(np.isnan(fast), np.isnan(reference))
        assert np.nanmax(np.abs(fast - reference)) < 1e-6


@pytest.fixture(scope="module")
def tile_angles(shared_data: Path):
    path = shared_data / "metadata" / "hls-utilities" / "MTD_TL.xml"
    return parse_tile_angles(parse_xml_bytes(path.read_bytes(), path=str(path)), source=str(path))


def test_coarse_angle_observation_gives_the_same_boa(tile_angles) -> None:
    """A 24 km x 18 km corner of a real tile at 20 m: angles on the 60 m grid (9 x fewer
    pixels) against per-pixel angles, same TOA and atmosphere: BOA within 1e-4 (three bands'
    view angles), sun angles upsampled per pixel within 1e-3
    deg (zenith) and 5e-3 deg (azimuth)."""
    shape, band_names = (1200, 900), ("B02", "B8A", "B12")
    fine = angle_fields(
        tile_angles.sun, tile_angles.viewing, 20, Window(0, 0, shape[1], shape[0]), band_names
    )
    coarse = angle_fields(
        tile_angles.sun,
        tile_angles.viewing,
        60,
        Window(0, 0, shape[1] // 3, shape[0] // 3),
        band_names,
    )
    common = {"sensor": "S2A", "day_of_year": 200, "latitude_deg": 45.0}
    full = Observation.from_angle_fields(fine, resolution=20, **common)
    sparse = Observation.from_angle_fields(coarse, resolution=20, angle_resolution=60, **common)
    # a window of the grid: its pixels' sun angles, upsampled from the 60 m grid
    zenith, azimuth = sparse.sun_angles((300, 200), (700, 650))
    part = (slice(700, 1000), slice(650, 850))
    assert np.abs(zenith - fine.sun_zenith_deg[part]).max() < 1e-3  # measured 2.5e-4
    assert np.abs(azimuth - fine.sun_azimuth_deg[part]).max() < 5e-3  # measured 1.3e-3
    rng = np.random.default_rng(4)
    toa = rng.uniform(0.02, 0.4, shape).astype(np.float32)
    state = {"aot550": 0.3, "wv_cm": 2.0, "elevation_m": 200.0}
    lut = load_lut()
    for band in band_names:
        boa = [
            correct_band(
                toa,
                band_terms(
                    lut,
                    observation,
                    band,
                    aerosol="rural",
                    ozone_du=330.0,
                    shape=shape,
                    max_sun_zenith_deg=70.0,
                    max_view_zenith_deg=12.0,
                    **state,
                ),
                adjacency_km=1.0,
                resolution_m=20,
                **state,
            )
            for observation in (full, sparse)
        ]
        error = float(np.abs(boa[0] - boa[1]).max())
        print(f"{band}: BOA with 60 m angles vs per-pixel angles, max |d rho| {error:.1e}")
        assert error < 1e-4
