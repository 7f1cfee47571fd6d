"""Synthetic landscape truth: land cover, elevation, aerosol and water-vapour fields.

Every continuous field is drawn at a coarse 60 m grid (:data:`COARSE_M`) as power-law
("fractal") noise, whose spectrum ``P(k) ~ k^-beta`` is that of natural terrain and of
atmospheric fields (Mandelbrot 1982; ``beta ~ 3`` for topography), and then sampled bilinearly on
the 10 m grid by a numba kernel. Fine structure comes from an agricultural parcel pattern (a
jittered, rotated grid of fields 150-600 m wide, as in European cropland) drawn directly at 10 m.
Nothing depends on time or process: all randomness comes from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

import numpy as np
from numba import njit, prange

from core.simulate.scene import SceneSpec

COARSE_M: Final = 60.0
"""Pixel size (m) of the coarse grid every smooth field is drawn on."""
FINE_M: Final = 10.0
PARCEL_M: Final = (150.0, 600.0)
"""Range of agricultural parcel sizes (m)."""
PARCEL_MIX: Final = (0.5, 0.25, 0.25)
"""Share of crop, grass and bare-soil parcels."""
FOREST_SHARE: Final = 0.28
URBAN_SHARE: Final = 0.05
SAND_SHARE: Final = 0.015
LAKE_SHARE: Final = 0.03
RIVER_HALF_WIDTH: Final = 0.012
"""Half-width of rivers in units of the river field's standard deviation."""
SNOW_LINE: Final = 0.8
"""Snow covers terrain above this fraction of ``max_elevation_m`` (blurred by noise)."""
WV_SCALE_HEIGHT_M: Final = 2000.0
"""Water-vapour scale height: column above z is ``w0 * exp(-z / H)`` (standard atmospheres)."""


class LandCover(IntEnum):
    """Land-cover classes of the simulator (finer than SCL)."""

    CROP = 0
    GRASS = 1
    FOREST = 2
    BARE_SOIL = 3
    SAND = 4
    URBAN = 5
    WATER = 6
    SNOW = 7


SCL_OF_COVER: Final = np.array([4, 4, 4, 5, 5, 5, 6, 11], dtype=np.uint8)
"""SCL code of each :class:`LandCover` (4 vegetation, 5 not vegetated, 6 water, 11 snow)."""


@dataclass(frozen=True, slots=True)
class Landscape:
    """The ground truth of a simulated tile (10 m arrays unless stated)."""

    land_cover: np.ndarray
    """uint8 :class:`LandCover` codes."""
    mixing: np.ndarray
    """float32 in [0, 1]: position of each pixel between its class's two end-member spectra."""
    dem_m: np.ndarray
    aot550: np.ndarray
    wv_cm: np.ndarray
    dem_coarse_m: np.ndarray
    """float32 elevation on the 60 m grid (terrain illumination is computed there)."""
    aot550_coarse: np.ndarray
    wv_coarse_cm: np.ndarray


def fractal_noise(
    rng: np.random.Generator,
    shape: tuple[int, int],
    beta: float,
    stretch: float = 1.0,
    angle_rad: float = 0.0,
) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian noise with power spectrum ``k^-beta`` (FFT synthesis).

    ``stretch > 1`` elongates the features ``stretch`` times along the direction ``angle_rad``
    (cirrus streaks). The lowest frequency is the array size.
    """
    white = rng.standard_normal(shape)
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    along = kx * np.cos(angle_rad) + ky * np.sin(angle_rad)
    across = -kx * np.sin(angle_rad) + ky * np.cos(angle_rad)
    k = np.hypot(along * stretch, across)
    k[0, 0] = np.inf
    field = np.fft.irfft2(np.fft.rfft2(white) * k ** (-beta / 2.0), s=shape)
    field -= field.mean()
    std = field.std()
    return (field / std if std > 0 else field).astype(np.float32)


@njit(cache=True, nogil=True)
def sample_bilinear(coarse: np.ndarray, y_m: float, x_m: float, cell_m: float) -> float:
    """Bilinear value of a coarse pixel-centred grid at map offset ``(y_m, x_m)`` (edge-clamped)."""
    fy = y_m / cell_m - 0.5
    fx = x_m / cell_m - 0.5
    ny, nx = coarse.shape
    fy = min(max(fy, 0.0), ny - 1.0)
    fx = min(max(fx, 0.0), nx - 1.0)
    i0 = min(int(fy), ny - 2) if ny > 1 else 0
    j0 = min(int(fx), nx - 2) if nx > 1 else 0
    i1 = min(i0 + 1, ny - 1)
    j1 = min(j0 + 1, nx - 1)
    wy = fy - i0
    wx = fx - j0
    top = coarse[i0, j0] * (1.0 - wx) + coarse[i0, j1] * wx
    bottom = coarse[i1, j0] * (1.0 - wx) + coarse[i1, j1] * wx
    return top * (1.0 - wy) + bottom * wy


@njit(cache=True, nogil=True, parallel=True)
def upsample(coarse: np.ndarray, size: int, pixel_m: float, cell_m: float) -> np.ndarray:
    """Bilinear resampling of a coarse grid onto a ``size`` x ``size`` grid of ``pixel_m`` pixels.

    Hand-written rather than ``scipy.ndimage.zoom`` so that a 10980^2 field costs one parallel
    pass with pixel-centre alignment and no float64 temporaries.
    """
    out = np.empty((size, size), dtype=np.float32)
    for i in prange(size):
        y = (i + 0.5) * pixel_m
        for j in range(size):
            out[i, j] = sample_bilinear(coarse, y, (j + 0.5) * pixel_m, cell_m)
    return out


@njit(cache=True, nogil=True, parallel=True)
def _cover_kernel(  # noqa: PLR0917 - numba kernels take positional arguments
    size: int,
    parcel_class: np.ndarray,
    parcel_mix: np.ndarray,
    parcel_m: float,
    angle_rad: float,
    jitter: np.ndarray,
    forest: np.ndarray,
    urban: np.ndarray,
    sand: np.ndarray,
    lake: np.ndarray,
    river: np.ndarray,
    dem: np.ndarray,
    texture: np.ndarray,
    thresholds: np.ndarray,
    snow_m: float,
    land_cover: np.ndarray,
    mixing: np.ndarray,
) -> None:
    """Per 10 m pixel: parcel class, overridden by forest, urban, sand, water and snow masks."""
    forest_t, urban_t, sand_t, lake_t, river_t = thresholds
    n_cells = parcel_class.shape[0]
    ca = np.cos(angle_rad)
    sa = np.sin(angle_rad)
    for i in prange(size):
        y = (i + 0.5) * FINE_M
        for j in range(size):
            x = (j + 0.5) * FINE_M
            u = (x * ca - y * sa) / parcel_m + n_cells / 2
            v = (x * sa + y * ca) / parcel_m + n_cells / 2
            cu = min(max(int(u + jitter[int(v) % n_cells]), 0), n_cells - 1)
            cv = min(max(int(v), 0), n_cells - 1)
            cover = parcel_class[cv, cu]
            mix = parcel_mix[cv, cu]
            tex = sample_bilinear(texture, y, x, COARSE_M)
            if sample_bilinear(forest, y, x, COARSE_M) > forest_t:
                cover = 2
            if sample_bilinear(urban, y, x, COARSE_M) > urban_t:
                cover = 5
            if sample_bilinear(sand, y, x, COARSE_M) > sand_t:
                cover = 4
            z = sample_bilinear(dem, y, x, COARSE_M)
            if z > snow_m + 0.05 * snow_m * tex:
                cover = 7
            wet = sample_bilinear(lake, y, x, COARSE_M) > lake_t
            if wet or abs(sample_bilinear(river, y, x, COARSE_M)) < river_t:
                cover = 6
            land_cover[i, j] = cover
            mixing[i, j] = min(max(mix + 0.15 * tex, 0.0), 1.0)


def _scaled(field: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map a noise field linearly onto ``[lo, hi]``."""
    span = float(field.max() - field.min()) or 1.0
    return (lo + (hi - lo) * (field - field.min()) / span).astype(np.float32)


def _dem(rng: np.random.Generator, n: int, max_elevation_m: float) -> np.ndarray:
    """Ridged fractal terrain: ``1 - |noise|`` sharpens crests, squaring widens the valleys."""
    ridged = 1.0 - np.abs(fractal_noise(rng, (n, n), 3.2)) / 3.0
    base = fractal_noise(rng, (n, n), 3.6)
    relief = np.clip(0.6 * _scaled(base, 0.0, 1.0) + 0.4 * np.clip(ridged, 0, 1), 0, 1) ** 2
    return _scaled(relief, 0.0, max_elevation_m)


def _parcels(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Parcel classes (crop/grass/bare soil), mixing values and the parcel size (m)."""
    parcel_m = float(rng.uniform(*PARCEL_M))
    # rotated cell coordinates span [0.5, 2.9] tile widths once offset by half the grid
    n_cells = int(np.ceil(size * FINE_M * 3.0 / parcel_m)) + 2
    draw = rng.uniform(size=(n_cells, n_cells))
    crop, grass, _ = np.cumsum(PARCEL_MIX)
    classes = np.where(draw < crop, 0, np.where(draw < grass, 1, 3)).astype(np.uint8)
    return classes, rng.uniform(size=(n_cells, n_cells)).astype(np.float32), parcel_m


def make_landscape(spec: SceneSpec) -> Landscape:
    """Draw the land cover, DEM, AOT550 and water-vapour truth of ``spec`` (deterministic per seed).

    AOT550 is a smooth field over ``spec.aot550_range``; the water-vapour column is a smooth
    field over ``spec.wv_cm_range`` whose excess over the range's low end is scaled by
    ``exp(-z / 2000 m)``, so it falls with elevation and stays inside the range. Snow lies above
    ``SNOW_LINE * max_elevation_m``; lakes fill low ground, rivers follow the zero line of a
    smooth field (a meandering curve).
    """
    rng = np.random.default_rng(spec.seed)
    n = max(spec.size * int(FINE_M) // int(COARSE_M), 2)
    dem_c = _dem(rng, n, spec.max_elevation_m)
    forest, urban, sand, lake, river, texture, aot_n, wv_n = (
        fractal_noise(rng, (n, n), beta) for beta in (3.0, 3.4, 3.4, 3.6, 3.8, 2.0, 4.0, 4.0)
    )
    low = 1.0 - dem_c / max(spec.max_elevation_m, 1.0)
    lake = lake + 2.0 * low
    thresholds = np.array(
        [
            np.quantile(forest - 1.5 * low, 1.0 - FOREST_SHARE),
            np.quantile(urban, 1.0 - URBAN_SHARE),
            np.quantile(sand, 1.0 - SAND_SHARE),
            np.quantile(lake, 1.0 - LAKE_SHARE),
            RIVER_HALF_WIDTH,
        ],
        dtype=np.float32,
    )
    forest = forest - 1.5 * low
    parcel_class, parcel_mix, parcel_m = _parcels(rng, spec.size)
    jitter = np.asarray(rng.uniform(-0.3, 0.3, size=parcel_class.shape[0]), dtype=np.float32)
    angle = float(rng.uniform(0.0, np.pi / 2))
    land_cover = np.empty((spec.size, spec.size), dtype=np.uint8)
    mixing = np.empty((spec.size, spec.size), dtype=np.float32)
    snow_m = SNOW_LINE * spec.max_elevation_m if spec.max_elevation_m > 0 else np.inf
    _cover_kernel(
        spec.size, parcel_class, parcel_mix, parcel_m, angle, jitter, forest, urban, sand,
        lake, river, dem_c, texture, thresholds, float(snow_m), land_cover, mixing,
    )  # fmt: skip
    aot_c = _scaled(aot_n, *spec.aot550_range)
    wv_lo, wv_hi = spec.wv_cm_range
    fall = np.exp(-dem_c / WV_SCALE_HEIGHT_M)
    wv_c = (wv_lo + (wv_hi - wv_lo) * _scaled(wv_n, 0.0, 1.0) * fall).astype(np.float32)
    return Landscape(
        land_cover=land_cover,
        mixing=mixing,
        dem_m=upsample(dem_c, spec.size, FINE_M, COARSE_M),
        aot550=upsample(aot_c, spec.size, FINE_M, COARSE_M),
        wv_cm=upsample(wv_c, spec.size, FINE_M, COARSE_M),
        dem_coarse_m=dem_c,
        aot550_coarse=aot_c,
        wv_coarse_cm=wv_c,
    )
