"""numba kernels of the terrain geometry: horizon sky-view factor and cast-shadow ray march.

Both march from each pixel centre over the DEM sampled bilinearly (rows southwards, columns
eastwards; bilinear sampling keeps planes exact, so an inclined plane never shades itself).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

HORIZON_AZIMUTHS = 16
"""Azimuths of the sky-view horizon integration (Dozier & Frew 1990 use 8-32; with 16 the
azimuth sum of the analytic integrand is within 1e-5 of (1 + cos s)/2 on planes up to 60 deg and
within 5e-4 of 1/sqrt(1 + a^2) in a trench of depth/half-width a <= 2)."""
HORIZON_NEAR_PX = 16.0
"""The horizon search steps one pixel up to this distance (pixels), then by ``1 / HORIZON_NEAR_PX``
of the distance: distant terrain subtends small angles, so it is sampled sparsely and the
search over a whole tile stays at about a hundred samples per azimuth."""
HORIZON_BLOCK_PX = 16
"""Block size of the maxima the horizon and cast-shadow marches use to jump over terrain too
low to matter."""


@njit(cache=True, nogil=True, inline="always")
def _sample(dem, r, c):
    """Bilinear value of ``dem`` at fractional (row, column); the caller keeps it inside."""
    n_rows, n_cols = dem.shape
    r0 = min(int(r), n_rows - 2) if n_rows > 1 else 0
    c0 = min(int(c), n_cols - 2) if n_cols > 1 else 0
    r1 = min(r0 + 1, n_rows - 1)
    c1 = min(c0 + 1, n_cols - 1)
    fr = r - r0
    fc = c - c0
    top = dem[r0, c0] * (1.0 - fc) + dem[r0, c1] * fc
    bottom = dem[r1, c0] * (1.0 - fc) + dem[r1, c1] * fc
    return top * (1.0 - fr) + bottom * fr


@njit(cache=True, nogil=True, inline="always")
def _unit_direction(azimuth_rad):
    """East and north components of an azimuth, exactly 0 along the axes: a float32 azimuth
    is off by up to 1e-7 rad, which would otherwise walk a ray along a grid edge off the grid."""
    east = math.sin(azimuth_rad)
    north = math.cos(azimuth_rad)
    return (0.0 if abs(east) < 1e-6 else east), (0.0 if abs(north) < 1e-6 else north)


@njit(cache=True, nogil=True)
def _exit_distance(r, c, d_row, d_col, row0, col0, size):  # noqa: PLR0917
    """Distance along the unit step ``(d_row, d_col)`` from ``(r, c)`` out of a square block."""
    exit_r = np.inf
    if d_row > 0.0:
        exit_r = (row0 + size - r) / d_row
    elif d_row < 0.0:
        exit_r = (r - row0) / -d_row
    exit_c = np.inf
    if d_col > 0.0:
        exit_c = (col0 + size - c) / d_col
    elif d_col < 0.0:
        exit_c = (c - col0) / -d_col
    return min(exit_r, exit_c)


@njit(cache=True, nogil=True, parallel=True)
def sky_view_kernel(dem, d_east, d_north, block_max, block_px, pixel_m, n_azimuths, near_px, out):  # noqa: PLR0917
    """Sky-view factor by horizon integration (Dozier & Frew 1990, eq. 7).

    ``V = 1/(2 pi) sum_phi [cos s sin^2 H + sin s cos(phi - A) (H - sin H cos H)] dphi`` with
    ``H`` the zenith angle of the horizon in azimuth ``phi``: the highest of the terrain, the
    pixel's own tangent plane and the horizontal (below the horizontal lies ground, not sky).
    With ``p, q`` the east/north gradient, ``g = p sin phi + q cos phi`` the rise of the tangent
    plane along ``phi`` and ``N = sqrt(1 + p^2 + q^2)``: ``cos s = 1/N`` and
    ``sin s cos(phi - A) = -g/N``. On an open plane this is ``(1 + cos s)/2``.

    The march in each azimuth steps one pixel up to ``near_px``, then ``1/near_px`` of the
    distance; it jumps over a ``block_px`` block whose highest point (``block_max``, taken
    over the block and a one-pixel border) cannot raise the horizon, and stops when even the
    DEM's highest point could not.
    """
    n_rows, n_cols = dem.shape
    top = dem.max()
    reach = (block_px + 2.0) * math.sqrt(2.0)  # farthest a block point lies behind the ray tip
    easts = np.empty(n_azimuths)
    norths = np.empty(n_azimuths)
    for k in range(n_azimuths):
        easts[k], norths[k] = _unit_direction(2.0 * math.pi * k / n_azimuths)
    for i in prange(n_rows):  # rows are independent: the march only reads the DEM
        for j in range(n_cols):
            z0 = dem[i, j]
            p = d_east[i, j]
            q = d_north[i, j]
            total = 0.0
            for k in range(n_azimuths):
                east = easts[k]
                north = norths[k]
                g = p * east + q * north
                tan_max = max(g, 0.0)
                d = 1.0
                while (top - z0) > tan_max * d * pixel_m:
                    r = i - d * north
                    c = j + d * east
                    if r < 0.0 or c < 0.0 or r > n_rows - 1.0 or c > n_cols - 1.0:
                        break
                    bi = int(r) // block_px
                    bj = int(c) // block_px
                    if block_max[bi, bj] - z0 <= tan_max * (d - reach) * pixel_m:
                        d += (
                            _exit_distance(
                                r, c, -north, east, bi * block_px, bj * block_px, block_px
                            )
                            + 1e-6
                        )
                        continue
                    rise = (_sample(dem, r, c) - z0) / (d * pixel_m)
                    tan_max = max(tan_max, rise)
                    d += max(1.0, d / near_px)
                if tan_max == 0.0:  # horizontal horizon: H = pi/2
                    total += 1.0 - g * 0.5 * math.pi
                    continue
                h = 0.5 * math.pi - math.atan(tan_max)
                sin_h = math.sin(h)
                total += sin_h * sin_h - g * (h - sin_h * math.cos(h))
            norm = math.sqrt(1.0 + p * p + q * q)
            out[i, j] = min(max(total / (n_azimuths * norm), 0.0), 1.0)


@njit(cache=True, nogil=True, inline="always")
def _at(a, i, j):
    """``a[i, j]``, or the single value of a 1 x 1 array (one sun for the whole grid)."""
    if a.shape[0] == 1 and a.shape[1] == 1:
        return a[0, 0]
    return a[i, j]


@njit(cache=True, nogil=True)
def cast_shadow_kernel(dem, block_max, block_px, pixel_m, tan_zenith, sun_azimuth_rad, out):  # noqa: PLR0917
    """True where terrain between a pixel and the sun rises above the sun ray.

    ``tan_zenith`` and ``sun_azimuth_rad`` are grid arrays (the sun of each pixel) or 1 x 1. The
    ray leaves the pixel centre towards its sun azimuth, one pixel per step along the dominant
    axis, and climbs ``step / tan(sun zenith)``; it steps over a ``block_px`` block whose highest
    point (``block_max``, block and one-pixel border) is below the ray (the ray only rises), and
    stops once above the DEM's highest point or off the grid.
    """
    n_rows, n_cols = dem.shape
    top = dem.max()
    for i in range(n_rows):
        for j in range(n_cols):
            out[i, j] = False
            tan_z = _at(tan_zenith, i, j)
            if tan_z <= 0.0:
                continue
            east, north = _unit_direction(_at(sun_azimuth_rad, i, j))
            scale = 1.0 / max(abs(east), abs(north))
            d_col = east * scale
            d_row = -north * scale
            climb = scale * pixel_m / tan_z
            ray = dem[i, j]
            r = float(i)
            c = float(j)
            while ray < top:
                r += d_row
                c += d_col
                ray += climb
                if r < 0.0 or c < 0.0 or r > n_rows - 1.0 or c > n_cols - 1.0:
                    break
                bi = int(r) // block_px
                bj = int(c) // block_px
                if block_max[bi, bj] <= ray:
                    # every later sample inside this block stays below the rising ray
                    exit_steps = _exit_distance(
                        r, c, d_row, d_col, bi * block_px, bj * block_px, block_px
                    )
                    skip = max(math.ceil(exit_steps) - 1, 0)
                    r += skip * d_row
                    c += skip * d_col
                    ray += skip * climb
                    continue
                if _sample(dem, r, c) > ray:
                    out[i, j] = True
                    break
