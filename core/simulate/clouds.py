"""Clouds of a simulated tile: water clouds, thin cirrus, their shadows and their band parallax.

* **Optical thickness.** Water clouds are the part of a power-law noise field above the quantile
  that gives ``spec.cloud_fraction``; the optical thickness grows with the excess, so cores are
  opaque (tau 20-100) and edges semi-transparent (tau < 5). Cirrus is a second, streakier field
  (``spec.cirrus_fraction``) with tau 0.02-0.6 at one height of 8-12 km.
* **Height.** Each connected cloud gets one top height from ``spec.cloud_height_m``, taken from
  :data:`N_HEIGHT_LEVELS` evenly spaced levels so the shifting kernels loop over a few heights.
* **Shadows and parallax.** A feature at height ``h`` is seen on the ground ``h * tan(theta)``
  away from the observer, i.e. towards the azimuth ``phi + 180`` where ``(theta, phi)`` is the
  sun's (shadow) or the band's viewing direction (parallax). MTD_TL azimuths point from the
  ground to the sun/satellite, clockwise from north. The kernels gather: the ground pixel ``q``
  sees the cloud column above ``q - d`` with ``d = -h tan(theta) (sin phi, cos phi)`` (east, north).
* **Reflectance.** Two-stream reflectance of a non-absorbing layer, ``R = a tau / (1 + a tau)``
  with ``a = 0.75 (1 - g)`` (Lacis & Hansen 1974; ``g`` = 0.85 for droplets, 0.75 for ice
  crystals), reduced in the SWIR where droplets and ice absorb. The direct solar beam under a cloud
  keeps ``exp(-(1 - g) tau / cos(theta_s))`` (delta-scaled transmission).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numba import njit, prange
from scipy import ndimage

from core.simulate.landscape import COARSE_M, fractal_noise, sample_bilinear
from core.simulate.scene import SceneSpec

N_HEIGHT_LEVELS: Final = 6
WATER_ASYMMETRY: Final = 0.85
ICE_ASYMMETRY: Final = 0.75
WATER_TAU_PER_SIGMA: Final = 40.0
"""Water-cloud optical thickness per standard deviation of noise above the cloud threshold."""
WATER_TAU_MAX: Final = 100.0
CIRRUS_TAU_PER_SIGMA: Final = 0.5
CIRRUS_TAU_MAX: Final = 0.6
CIRRUS_HEIGHT_M: Final = (8000.0, 12000.0)
CIRRUS_STRETCH: Final = 4.0
"""Anisotropy of the cirrus field (streaks this many times longer than wide)."""
# Single-scattering reduction of cloud reflectance per band (B01 ... B12): liquid water absorbs
# from 1.4 um on and strongly at 1.6 and 2.2 um, ice more so (Nakajima & King 1990).
WATER_ALBEDO: Final = np.array(
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 0.99, 0.95, 0.80, 0.55], dtype=np.float32
)
ICE_ALBEDO: Final = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 0.99, 0.9, 0.6, 0.45], dtype=np.float32)


@dataclass(frozen=True, slots=True)
class CloudLayer:
    """One family of clouds on the 60 m grid, at their nadir (true) positions."""

    potential: np.ndarray
    """float32 optical thickness before clipping at 0 (negative outside the clouds). Kernels
    sample it bilinearly and then clip, so cloud edges follow smooth contours, not 60 m cells."""
    level: np.ndarray
    """int8 index into ``heights_m`` of the cloud in (or nearest to) each cell; -1: no cloud."""
    heights_m: np.ndarray
    """float64 top height of each level (m)."""
    asymmetry: float

    @property
    def optical_depth(self) -> np.ndarray:
        """float32 optical thickness on the 60 m grid."""
        return np.maximum(self.potential, 0.0)


@dataclass(frozen=True, slots=True)
class Clouds:
    """Water clouds and cirrus of a tile."""

    water: CloudLayer
    cirrus: CloudLayer


def _cloud_field(
    noise: np.ndarray, fraction: float, tau_per_sigma: float, tau_max: float
) -> np.ndarray:
    """Optical-thickness potential: ``tau_per_sigma`` times the excess of ``noise`` over its
    ``1 - fraction`` quantile (capped at ``tau_max``; negative = clear)."""
    if fraction <= 0:
        return np.full(noise.shape, -1.0, dtype=np.float32)
    threshold = np.quantile(noise, 1.0 - fraction)
    return np.minimum(tau_per_sigma * (noise - threshold), tau_max).astype(np.float32)


def _water_layer(rng: np.random.Generator, spec: SceneSpec, n: int) -> CloudLayer:
    noise = fractal_noise(rng, (n, n), 3.0)
    potential = _cloud_field(noise, spec.cloud_fraction, WATER_TAU_PER_SIGMA, WATER_TAU_MAX)
    labels, n_clouds = ndimage.label(potential > 0)
    per_cloud = rng.integers(0, N_HEIGHT_LEVELS, size=n_clouds + 1)
    if n_clouds == 0:
        return CloudLayer(
            potential, np.full(noise.shape, -1, np.int8), np.zeros(1), WATER_ASYMMETRY
        )
    # clear cells take the level of the nearest cloud, so the bilinear taper of tau at a cloud's
    # edge belongs to that cloud (no 60 m staircase along the edges)
    _, (rows, cols) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    level = per_cloud[labels[rows, cols]].astype(np.int8)
    heights = np.linspace(*spec.cloud_height_m, N_HEIGHT_LEVELS)
    return CloudLayer(potential, level, heights, WATER_ASYMMETRY)


def _cirrus_layer(rng: np.random.Generator, spec: SceneSpec, n: int) -> CloudLayer:
    """Streaky cirrus at one height: noise elongated along a random direction."""
    angle = float(rng.uniform(0.0, np.pi))
    noise = fractal_noise(rng, (n, n), 3.0, stretch=CIRRUS_STRETCH, angle_rad=angle)
    potential = _cloud_field(noise, spec.cirrus_fraction, CIRRUS_TAU_PER_SIGMA, CIRRUS_TAU_MAX)
    return single_level_layer(potential, float(rng.uniform(*CIRRUS_HEIGHT_M)), ICE_ASYMMETRY)


def single_level_layer(potential: np.ndarray, height_m: float, asymmetry: float) -> CloudLayer:
    """A cloud layer at one height (level 0 everywhere, or -1 when it holds no cloud)."""
    level = np.full(potential.shape, 0 if (potential > 0).any() else -1, dtype=np.int8)
    return CloudLayer(potential, level, np.array([height_m]), asymmetry)


def make_clouds(spec: SceneSpec) -> Clouds:
    """Draw the clouds of ``spec`` (their own random stream: ``seed + 1``)."""
    rng = np.random.default_rng([spec.seed, 1])
    n = max(spec.size * 10 // int(COARSE_M), 2)
    return Clouds(water=_water_layer(rng, spec, n), cirrus=_cirrus_layer(rng, spec, n))


@njit(cache=True, nogil=True)
def seen_optical_depth(  # noqa: PLR0917 - numba kernels take positional arguments
    layer_potential: np.ndarray,
    layer_level: np.ndarray,
    heights: np.ndarray,
    y_m: float,
    x_m: float,
    tan_east: float,
    tan_north: float,
) -> tuple[float, float]:
    """Optical thickness and top height of the clouds on the line of sight through ``(y, x)``.

    ``(y_m, x_m)`` is the ground position (y down from the top edge); ``tan_east, tan_north``
    are ``tan(theta) * (sin(phi), cos(phi))`` of the direction towards the observer. Layers at
    several heights on the same line of sight add their optical thickness.
    """
    total = 0.0
    top = 0.0
    ny, nx = layer_level.shape
    for k in range(heights.shape[0]):
        h = heights[k]
        sx = x_m + h * tan_east
        sy = y_m - h * tan_north
        i = int(sy / COARSE_M)
        j = int(sx / COARSE_M)
        if sy < 0 or sx < 0 or i >= ny or j >= nx or layer_level[i, j] != k:
            continue
        tau = sample_bilinear(layer_potential, sy, sx, COARSE_M)
        if tau > 0:
            total += tau
            top = max(top, h)
    return total, top


@njit(cache=True, nogil=True)
def reflectance(tau: float, asymmetry: float, albedo: float) -> float:
    """Two-stream reflectance ``a tau / (1 + a tau)``, ``a = 0.75 (1 - g)``, times ``albedo``."""
    a = 0.75 * (1.0 - asymmetry) * tau
    return albedo * a / (1.0 + a)


@njit(cache=True, nogil=True, parallel=True)
def _shadow_kernel(  # noqa: PLR0917 - numba kernels take positional arguments
    water_tau: np.ndarray,
    water_level: np.ndarray,
    water_heights: np.ndarray,
    cirrus_tau: np.ndarray,
    cirrus_level: np.ndarray,
    cirrus_heights: np.ndarray,
    sun_east: np.ndarray,
    sun_north: np.ndarray,
    pixel_m: float,
    out: np.ndarray,
) -> None:
    n = out.shape[0]
    for i in prange(n):
        y = (i + 0.5) * pixel_m
        for j in range(n):
            x = (j + 0.5) * pixel_m
            te = sample_bilinear(sun_east, y, x, COARSE_M)
            tn = sample_bilinear(sun_north, y, x, COARSE_M)
            inv_mu = np.sqrt(1.0 + te * te + tn * tn)
            tw, _ = seen_optical_depth(water_tau, water_level, water_heights, y, x, te, tn)
            tc, _ = seen_optical_depth(cirrus_tau, cirrus_level, cirrus_heights, y, x, te, tn)
            depth = (1.0 - WATER_ASYMMETRY) * tw + (1.0 - ICE_ASYMMETRY) * tc
            out[i, j] = np.exp(-depth * inv_mu)


def direct_sun_fraction(
    clouds: Clouds, sun_east: np.ndarray, sun_north: np.ndarray, size: int, pixel_m: float
) -> np.ndarray:
    """float32 fraction of the direct solar beam reaching each ground pixel (1 = no shadow).

    Parameters
    ----------
    sun_east, sun_north
        ``tan(theta_s) * (sin(phi_s), cos(phi_s))`` on the 60 m grid.
    size, pixel_m
        Output grid: ``size`` x ``size`` pixels of ``pixel_m`` metres.
    """
    out = np.empty((size, size), dtype=np.float32)
    w, c = clouds.water, clouds.cirrus
    _shadow_kernel(
        w.potential, w.level, w.heights_m, c.potential, c.level, c.heights_m,
        sun_east, sun_north, pixel_m, out,
    )  # fmt: skip
    return out
