"""Terrain geometry against analytic surfaces: planes, a trench, a wall and its shadow."""

from __future__ import annotations

import numpy as np
import pytest

from core.scene_classification.terrain import terrain
from core.terrain.geometry import terrain_geometry

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
