"""The simulator's forward model: surface truth -> top-of-atmosphere reflectance per band.

Per pixel, at each band's native resolution (Lambertian ground, 6S terms ``T`` interpolated
multilinearly between 6S runs at :class:`NodeGrid` nodes of AOT550 x water vapour x elevation x
view zenith, at the tile's mean sun position and the band's mean view azimuth)::

    E   = T_down_dir * f_sun * cos(i) / cos(theta_s) + T_down_dif * V_sky
          + T_down * (1 - V_sky) * rho_terrain + T_down * S * rho_env / (1 - S * rho_env)
    TOA = rho_path + T_gas * E * (rho * T_up_dir + rho_env * T_up_dif)

The terrain factors are the correction's own (:func:`terrain_factors`, :mod:`core.terrain`),
evaluated on each band's grid from the DEM block-averaged to it: ``cos(i)`` the local solar
incidence from Horn slopes (0 in self shadow and where the terrain towards each pixel's sun
casts a shadow), ``V_sky`` the horizon-integrated sky-view factor; ``T_down (1 - V_sky)
rho_terrain`` is the light reflected by the surrounding terrain (ATCOR, Sen2Cor), with
``rho_terrain`` the surface reflectance averaged over :data:`TERRAIN_RANGE_KM`. ``f_sun`` is
the part of the direct beam that cloud shadows let through, and ``rho_env`` the surface
reflectance averaged over ``spec.adjacency_km`` (box filter; the ATCOR/Sen2Cor adjacency
range). On flat homogeneous ground this is exactly 6S's
``rho_path + T_gas T_down T_up rho / (1 - S rho)``.

Clouds seen along the band's line of sight (:mod:`core.simulate.clouds`) then mix with the ground::

    TOA' = T_gas^(exp(-h / H_wv)) * R_c + (1 - R_c)^2 * TOA / (1 - R_c * rho)

(reflection of the layer under the gases above it, plus the ground seen through it twice with
multiple reflections); cirrus is applied the same way on top. This model is the simulator's own
and is deliberately independent of any table the atmospheric correction uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from numba import njit, prange
from scipy import ndimage

from core.angles import combine_detectors
from core.bands import BAND_NAMES, BY_NAME
from core.errors import InputError
from core.product.metadata import AngleGrid
from core.resample import block_mean
from core.simulate.clouds import (
    ICE_ALBEDO,
    WATER_ALBEDO,
    CloudLayer,
    Clouds,
    direct_sun_fraction,
    make_clouds,
    reflectance,
    seen_optical_depth,
)
from core.simulate.landscape import (
    COARSE_M,
    FINE_M,
    SCL_OF_COVER,
    WV_SCALE_HEIGHT_M,
    make_landscape,
    sample_bilinear,
    upsample,
)
from core.simulate.scene import SceneGeometry, SceneSpec, SimulatedScene
from core.simulate.sixs import AEROSOL_MODELS, AtmosphereState, compute_terms
from core.simulate.spectra import surface_reflectance
from core.terrain.geometry import SKY_VIEW_GRID_M, terrain_geometry
from core.terrain.illumination import TerrainIllumination, terrain_illumination

TERMS: Final = (
    "path_reflectance",
    "gas_transmittance",
    "down_direct",
    "down_diffuse",
    "up_direct",
    "up_diffuse",
    "spherical_albedo",
)
SCENE_CLASS_BAND: Final = "B04"
"""Band whose line of sight places clouds in the ``scene_class`` truth."""
THICK_CLOUD_TAU: Final = 8.0
"""Water clouds thicker than this are SCL 9 (high probability), thinner down to 1 are SCL 8."""
THIN_CLOUD_TAU: Final = 1.0
CIRRUS_MIN_TAU: Final = 0.05
SHADOW_MAX_DIRECT: Final = 0.5
"""Ground receiving less than this share of the direct beam is SCL 3 (cloud shadow)."""
TIE_STEP_M: Final = 5000.0
TERRAIN_RANGE_KM: Final = 0.5
"""Half-width of the box whose mean surface reflectance lights slopes from the surrounding
terrain (``rho_terrain``): Sen2Cor's ``AC_Rng_Nbhd_Terrain_Corr`` default."""


@dataclass(frozen=True, slots=True)
class NodeGrid:
    """Number of 6S nodes per axis; axes span the spec's ranges (one node = the range's low end)."""

    aot: int = 3
    wv: int = 3
    elevation: int = 3
    view_zenith: int = 2
    max_view_zenith_deg: float = 12.0
    """MSI view zenith angles stay below about 11.5 deg."""


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """What the forward model needs besides geometry: surface and atmosphere truth."""

    boa_reflectance: dict[str, np.ndarray]
    """Band -> float32 surface reflectance at the band's native resolution."""
    aot550_coarse: np.ndarray
    wv_coarse_cm: np.ndarray
    dem_coarse_m: np.ndarray
    """60 m grids (:data:`core.simulate.landscape.COARSE_M`)."""
    clouds: Clouds


def _nodes(lo: float, hi: float, count: int) -> np.ndarray:
    if count <= 1 or hi <= lo:
        return np.array([lo], dtype=np.float64)
    return np.linspace(lo, hi, count)


def _components(grid: AngleGrid) -> np.ndarray:
    """``tan(zenith) * (sin(azimuth), cos(azimuth))`` of a gap-filled grid, ``[2, ny, nx]``."""
    filled = combine_detectors({0: grid})
    zen = np.deg2rad(filled.zenith)
    az = np.deg2rad(filled.azimuth)
    return np.stack([np.tan(zen) * np.sin(az), np.tan(zen) * np.cos(az)]).astype(np.float64)


def _view_stack(detectors: dict[int, AngleGrid]) -> np.ndarray:
    """``[detector id, 2, ny, nx]`` components; index 0 (outside the swath): detectors merged."""
    stack = np.zeros((max(detectors) + 1, 2, *next(iter(detectors.values())).zenith.shape))
    stack[0] = _components(combine_detectors(detectors))
    for det, grid in detectors.items():
        stack[det] = _components(grid) if np.isfinite(grid.zenith).any() else stack[0]
    return stack


def _mean_angles(components: np.ndarray) -> tuple[float, float]:
    """Zenith and azimuth (deg, rounded to 0.01 deg so 6S cache keys repeat) of mean components."""
    east, north = float(components[0].mean()), float(components[1].mean())
    zenith = np.rad2deg(np.arctan(np.hypot(east, north)))
    azimuth = np.rad2deg(np.arctan2(east, north)) % 360.0
    return round(float(zenith), 2), round(float(azimuth), 2)


@njit(cache=True, nogil=True, parallel=True)
def _tie_to_grid(tie: np.ndarray, n: int, pixel_m: float) -> np.ndarray:
    """Bilinear values of a 5 km tie-point grid at the centres of an ``n`` x ``n`` grid."""
    out = np.empty((n, n), dtype=np.float32)
    half = TIE_STEP_M / 2.0
    for i in prange(n):
        for j in range(n):
            y = (i + 0.5) * pixel_m + half
            out[i, j] = sample_bilinear(tie, y, (j + 0.5) * pixel_m + half, TIE_STEP_M)
    return out


def sun_angles(sun_tie: np.ndarray, size: int, pixel_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Sun zenith and azimuth (deg, float64) at the centres of a ``size`` x ``size`` grid, from
    the tie-point components (:func:`_components`) interpolated bilinearly."""
    east = _tie_to_grid(sun_tie[0], size, pixel_m).astype(np.float64)
    north = _tie_to_grid(sun_tie[1], size, pixel_m).astype(np.float64)
    zenith = np.degrees(np.arctan(np.hypot(east, north)))
    return zenith, np.degrees(np.arctan2(east, north)) % 360.0


def terrain_factors(
    dem_m: np.ndarray,
    resolution: float,
    sun_zenith_deg: np.ndarray | float,
    sun_azimuth_deg: np.ndarray | float,
) -> TerrainIllumination:
    """The terrain factors of the forward model on a grid of ``resolution`` metres: the
    correction's terrain geometry (:func:`core.terrain.geometry.terrain_geometry`, sky view from
    the :data:`~core.terrain.geometry.SKY_VIEW_GRID_M` grid) under each pixel's sun."""
    step = max(1, int(SKY_VIEW_GRID_M // resolution))
    terrain = terrain_geometry(dem_m, resolution, sky_view_step=step)
    return terrain_illumination(terrain, sun_zenith_deg, sun_azimuth_deg)


def environment_reflectance(surface: np.ndarray, factor: int, range_km: float) -> np.ndarray:
    """Surface reflectance averaged over ``range_km`` around each 60 m cell (box filter): the
    environment of the adjacency effect (``spec.adjacency_km``) and the terrain that lights a
    slope (:data:`TERRAIN_RANGE_KM`)."""
    block = int(COARSE_M / FINE_M) // factor
    n = surface.shape[0] // block
    coarse = surface[: n * block, : n * block].reshape(n, block, n, block).mean(axis=(1, 3))
    width = 2 * round(range_km * 1000.0 / COARSE_M) + 1
    return ndimage.uniform_filter(coarse, size=width, mode="reflect").astype(np.float32)


@njit(cache=True, nogil=True)
def _locate(axis: np.ndarray, value: float) -> tuple[int, float]:
    """Lower node index and weight of ``value`` on ``axis`` (clamped to the axis)."""
    if axis.shape[0] == 1:
        return 0, 0.0
    v = min(max(value, axis[0]), axis[-1])
    k = min(np.searchsorted(axis, v, side="right") - 1, axis.shape[0] - 2)
    return k, (v - axis[k]) / (axis[k + 1] - axis[k])


@njit(cache=True, nogil=True)
def _interp_terms(table, axes_a, axes_w, axes_e, axes_v, a, w, e, v, out):  # noqa: PLR0917
    """Multilinear interpolation of the ``[a, w, e, v, term]`` table at one state."""
    ka, fa = _locate(axes_a, a)
    kw, fw = _locate(axes_w, w)
    ke, fe = _locate(axes_e, e)
    kv, fv = _locate(axes_v, v)
    for m in range(out.shape[0]):
        out[m] = 0.0
    for da in range(2):
        wa = fa if da else 1.0 - fa
        if wa == 0.0:
            continue
        for dw in range(2):
            ww = wa * (fw if dw else 1.0 - fw)
            if ww == 0.0:
                continue
            for de in range(2):
                we = ww * (fe if de else 1.0 - fe)
                if we == 0.0:
                    continue
                for dv in range(2):
                    wt = we * (fv if dv else 1.0 - fv)
                    if wt == 0.0:
                        continue
                    corner = table[ka + da, kw + dw, ke + de, kv + dv]
                    for m in range(out.shape[0]):
                        out[m] += wt * corner[m]


@njit(cache=True, nogil=True)
def _through_cloud(toa, rho, tau, height, asymmetry, albedo, gas):  # noqa: PLR0917
    """TOA reflectance with a cloud layer of optical thickness ``tau`` at ``height`` on top."""
    r = reflectance(tau, asymmetry, albedo)
    gas_above = gas ** np.exp(-height / WV_SCALE_HEIGHT_M)
    return gas_above * r + (1.0 - r) * (1.0 - r) * toa / (1.0 - r * rho)


@njit(cache=True, nogil=True, parallel=True)
def _toa_kernel(  # noqa: PLR0917 - numba kernels take positional arguments
    surface, pixel_m, footprint, view, illumination, sky_view, terrain_env, env,
    aot, wv, dem, axes_a, axes_w, axes_e, axes_v, table, sun_fraction,
    water, cirrus, water_albedo, ice_albedo, out,
):  # fmt: skip
    """TOA reflectance of one band (see the module docstring); NaN outside the footprint."""
    w_tau, w_level, w_heights, w_g = water
    c_tau, c_level, c_heights, c_g = cirrus
    n = out.shape[0]
    half = TIE_STEP_M / 2.0
    for i in prange(n):
        terms = np.empty(table.shape[-1])
        y = (i + 0.5) * pixel_m
        for j in range(n):
            det = footprint[i, j]
            if det == 0:
                out[i, j] = np.nan
                continue
            x = (j + 0.5) * pixel_m
            te = sample_bilinear(view[det, 0], y + half, x + half, TIE_STEP_M)
            tn = sample_bilinear(view[det, 1], y + half, x + half, TIE_STEP_M)
            view_zenith = np.rad2deg(np.arctan(np.hypot(te, tn)))
            _interp_terms(
                table, axes_a, axes_w, axes_e, axes_v,
                sample_bilinear(aot, y, x, COARSE_M), sample_bilinear(wv, y, x, COARSE_M),
                sample_bilinear(dem, y, x, COARSE_M), view_zenith, terms,
            )  # fmt: skip
            path, gas, d_dir, d_dif, u_dir, u_dif, sph = terms
            rho = surface[i, j]
            rho_env = sample_bilinear(env, y, x, COARSE_M)
            v_sky = sky_view[i, j]
            direct = d_dir * sun_fraction[i, j] * illumination[i, j]
            diffuse = d_dif * v_sky
            reflected = (1.0 - v_sky) * sample_bilinear(terrain_env, y, x, COARSE_M)
            multiple = sph * rho_env / (1.0 - sph * rho_env)
            irradiance = direct + diffuse + (d_dir + d_dif) * (reflected + multiple)
            toa = path + gas * irradiance * (rho * u_dir + rho_env * u_dif)
            tau, top = seen_optical_depth(w_tau, w_level, w_heights, y, x, te, tn)
            if tau > 0.0:
                toa = _through_cloud(toa, rho, tau, top, w_g, water_albedo, gas)
            tau, top = seen_optical_depth(c_tau, c_level, c_heights, y, x, te, tn)
            if tau > 0.0:
                toa = _through_cloud(toa, rho, tau, top, c_g, ice_albedo, gas)
            out[i, j] = toa


@njit(cache=True, nogil=True, parallel=True)
def _seen_kernel(water, cirrus, view, footprint, out_water, out_cirrus):  # noqa: PLR0917
    """Water-cloud and cirrus optical thickness on each 10 m line of sight of one band."""
    w_tau, w_level, w_heights, _ = water
    c_tau, c_level, c_heights, _ = cirrus
    half = TIE_STEP_M / 2.0
    n = out_water.shape[0]
    for i in prange(n):
        y = (i + 0.5) * FINE_M
        for j in range(n):
            det = footprint[i, j]
            x = (j + 0.5) * FINE_M
            te = sample_bilinear(view[det, 0], y + half, x + half, TIE_STEP_M)
            tn = sample_bilinear(view[det, 1], y + half, x + half, TIE_STEP_M)
            out_water[i, j] = seen_optical_depth(w_tau, w_level, w_heights, y, x, te, tn)[0]
            out_cirrus[i, j] = seen_optical_depth(c_tau, c_level, c_heights, y, x, te, tn)[0]


def _layer_args(layer: CloudLayer) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    return layer.potential, layer.level, layer.heights_m, layer.asymmetry


def band_tables(
    spec: SceneSpec,
    sun: tuple[float, float],
    view_azimuth: dict[str, float],
    nodes: NodeGrid,
    *,
    cache_dir: Path | None = None,
    workers: int | None = None,
) -> tuple[tuple[np.ndarray, ...], dict[str, np.ndarray]]:
    """6S node axes ``(aot, wv, elevation, view zenith)`` and each band's ``[a, w, e, v, 7]``
    table of :data:`TERMS`."""
    axes = (
        _nodes(*spec.aot550_range, nodes.aot),
        _nodes(*spec.wv_cm_range, nodes.wv),
        _nodes(0.0, spec.max_elevation_m, nodes.elevation),
        _nodes(0.0, nodes.max_view_zenith_deg, nodes.view_zenith),
    )
    grid = [(a, w, e, v) for a in axes[0] for w in axes[1] for e in axes[2] for v in axes[3]]
    states = [
        AtmosphereState(
            spec.mission_id,
            band,
            float(a),
            spec.aerosol_type,
            float(w),
            spec.ozone_du,
            float(e),
            sun[0],
            sun[1],
            float(v),
            view_azimuth[band],
        )
        for band in view_azimuth
        for a, w, e, v in grid
    ]
    terms = compute_terms(states, cache_dir=cache_dir, workers=workers)
    values = np.array([[getattr(t, name) for name in TERMS] for t in terms], dtype=np.float64)
    shape = (*(len(a) for a in axes), len(TERMS))
    tables = {band: values[k * len(grid) : (k + 1) * len(grid)].reshape(shape)
              for k, band in enumerate(view_azimuth)}  # fmt: skip
    return axes, tables


def render_toa(
    spec: SceneSpec,
    geometry: SceneGeometry,
    truth: GroundTruth,
    *,
    bands: tuple[str, ...] = BAND_NAMES,
    nodes: NodeGrid | None = None,
    cache_dir: Path | None = None,
    workers: int | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """TOA reflectance of ``bands`` from ground truth, plus 10 m truth layers of the clouds.

    Returns
    -------
    toa, layers
        Band -> float32 TOA at native resolution; ``layers`` holds ``direct_sun_fraction``,
        ``seen_cloud_optical_depth`` and ``seen_cirrus_optical_depth`` (10 m, as seen by
        :data:`SCENE_CLASS_BAND`).
    """
    n_coarse = truth.dem_coarse_m.shape[0]
    sun_tie = _components(geometry.sun_angles)
    sun_east = _tie_to_grid(sun_tie[0], n_coarse, COARSE_M)
    sun_north = _tie_to_grid(sun_tie[1], n_coarse, COARSE_M)
    dem10 = upsample(truth.dem_coarse_m, spec.size, FINE_M, COARSE_M)
    views = {b: _view_stack(geometry.viewing_angles[b]) for b in {*bands, SCENE_CLASS_BAND}}
    for name, stack in views.items():
        if int(geometry.detector_footprint[name].max()) >= stack.shape[0]:
            raise InputError(
                f"detector footprint of {name} names a detector without viewing angles",
                path="scene geometry",
            )
    # 6S runs at the scene's own mean angles, not the whole tie grid's (110 km): over a small
    # scene these differ by up to a degree of sun zenith and tens of degrees of view azimuth.
    view_azimuth = {
        b: _mean_angles(np.stack([_tie_to_grid(c, n_coarse, COARSE_M) for c in views[b][0]]))[1]
        for b in bands
    }
    axes, tables = band_tables(
        spec, _mean_angles(np.stack([sun_east, sun_north])), view_azimuth,
        nodes or NodeGrid(), cache_dir=cache_dir, workers=workers,
    )  # fmt: skip
    water, cirrus = _layer_args(truth.clouds.water), _layer_args(truth.clouds.cirrus)
    fractions: dict[int, np.ndarray] = {}
    terrain: dict[int, TerrainIllumination] = {}
    toa: dict[str, np.ndarray] = {}
    for name in bands:
        res = BY_NAME[name].resolution
        surface = truth.boa_reflectance[name]
        if res not in fractions:
            fractions[res] = direct_sun_fraction(
                truth.clouds, sun_east, sun_north, surface.shape[0], float(res)
            )
            zenith, azimuth = sun_angles(sun_tie, surface.shape[0], float(res))
            dem = block_mean(dem10, res // int(FINE_M), np.float64)
            terrain[res] = terrain_factors(dem, float(res), zenith, azimuth)
        out = np.empty(surface.shape, dtype=np.float32)
        k = BY_NAME[name].band_id
        _toa_kernel(  # type: ignore[call-arg]
            surface, float(res), geometry.detector_footprint[name], views[name],
            terrain[res].illumination, terrain[res].sky_view,
            environment_reflectance(surface, res // 10, TERRAIN_RANGE_KM),
            environment_reflectance(surface, res // 10, spec.adjacency_km),
            truth.aot550_coarse, truth.wv_coarse_cm, truth.dem_coarse_m, *axes, tables[name],
            fractions[res], water, cirrus, float(WATER_ALBEDO[k]), float(ICE_ALBEDO[k]), out,
        )  # fmt: skip
        toa[name] = out
    footprint10 = geometry.detector_footprint[SCENE_CLASS_BAND]
    seen_water = np.empty(footprint10.shape, dtype=np.float32)
    seen_cirrus = np.empty(footprint10.shape, dtype=np.float32)
    _seen_kernel(water, cirrus, views[SCENE_CLASS_BAND], footprint10, seen_water, seen_cirrus)
    if 10 not in fractions:
        fractions[10] = direct_sun_fraction(
            truth.clouds, sun_east, sun_north, footprint10.shape[0], FINE_M
        )
    layers = {
        "direct_sun_fraction": fractions[10],
        "seen_cloud_optical_depth": seen_water,
        "seen_cirrus_optical_depth": seen_cirrus,
    }
    return toa, layers


def scene_class_truth(
    cover_scl: np.ndarray, layers: dict[str, np.ndarray], footprint: np.ndarray
) -> np.ndarray:
    """SCL truth: ground class, then shadows (3), cirrus (10), thin (8) and thick (9) clouds."""
    scl = cover_scl.copy()
    scl[layers["direct_sun_fraction"] < SHADOW_MAX_DIRECT] = 3
    scl[layers["seen_cirrus_optical_depth"] >= CIRRUS_MIN_TAU] = 10
    water = layers["seen_cloud_optical_depth"]
    scl[water >= THIN_CLOUD_TAU] = 8
    scl[water >= THICK_CLOUD_TAU] = 9
    scl[footprint == 0] = 0
    return scl


def check_spec(spec: SceneSpec) -> None:
    """Refuse a spec the simulator cannot honour (:class:`~core.errors.InputError`, one line)."""
    where = f"scene spec (seed {spec.seed})"
    if spec.size <= 0 or spec.size % 6 or spec.size > 10980:
        raise InputError(
            f"size {spec.size} must be a positive multiple of 6, at most 10980", path=where
        )
    if spec.aerosol_type not in AEROSOL_MODELS:
        raise InputError(
            f"aerosol_type {spec.aerosol_type!r} is not one of {sorted(AEROSOL_MODELS)}", path=where
        )
    for name in ("aot550_range", "wv_cm_range", "cloud_height_m"):
        lo, hi = getattr(spec, name)
        if not 0 <= lo <= hi:
            raise InputError(f"{name} {(lo, hi)} must satisfy 0 <= low <= high", path=where)
    for name in ("cloud_fraction", "cirrus_fraction"):
        if not 0 <= getattr(spec, name) < 1:
            raise InputError(f"{name} {getattr(spec, name)} must lie in [0, 1)", path=where)


def simulate_scene(
    spec: SceneSpec,
    geometry: SceneGeometry,
    *,
    bands: tuple[str, ...] = BAND_NAMES,
    nodes: NodeGrid | None = None,
    cache_dir: Path | None = None,
    workers: int | None = None,
) -> SimulatedScene:
    """Simulate the TOA reflectance of a synthetic tile and keep the truth it was made from.

    Parameters
    ----------
    spec, geometry
        What to simulate and the acquisition geometry (see :mod:`core.simulate.geometry`).
    bands
        Bands to simulate (all 13 by default).
    nodes
        6S node counts of the forward model (:class:`NodeGrid` by default).
    cache_dir, workers
        6S cache directory and process count (:func:`core.simulate.sixs.compute_terms`).
    """
    check_spec(spec)
    land = make_landscape(spec)
    clouds = make_clouds(spec)
    boa = {
        name: surface_reflectance(
            land.land_cover, land.mixing, spec.seed, name, BY_NAME[name].resolution // 10
        )
        for name in bands
    }
    truth = GroundTruth(boa, land.aot550_coarse, land.wv_coarse_cm, land.dem_coarse_m, clouds)
    toa, layers = render_toa(
        spec, geometry, truth, bands=bands, nodes=nodes, cache_dir=cache_dir, workers=workers
    )
    n = spec.size
    water, cirrus = clouds.water, clouds.cirrus
    heights = np.concatenate([water.heights_m, [0.0]]).astype(np.float32)
    extras = {
        **layers,
        "land_cover": land.land_cover,
        "cloud_optical_depth": np.maximum(upsample(water.potential, n, FINE_M, COARSE_M), 0.0),
        "cloud_top_height_m": np.repeat(
            np.repeat(np.where(water.optical_depth > 0, heights[water.level], 0.0), 6, 0), 6, 1
        )[:n, :n],
        "cirrus_optical_depth": np.maximum(upsample(cirrus.potential, n, FINE_M, COARSE_M), 0.0),
    }
    return SimulatedScene(
        spec=spec,
        geometry=geometry,
        toa_reflectance=toa,
        boa_reflectance=boa,
        scene_class=scene_class_truth(
            SCL_OF_COVER[land.land_cover], layers, geometry.detector_footprint[SCENE_CLASS_BAND]
        ),
        aot550=land.aot550,
        wv_cm=land.wv_cm,
        dem_m=land.dem_m,
        ozone_du=spec.ozone_du,
        extras=extras,
    )
