"""Acquisition geometry of a simulated Sentinel-2 tile: grids, sun and viewing angles, detectors.

* **Tile grids.** The MGRS tile id is decoded with the NGA MGRS rules (100 km column letters in
  sets of eight per zone, row letters cycling every 2000 km, offset by five letters in even zones,
  the latitude band resolving the cycle). The Sentinel-2 tile is 109.8 km square; its upper-left
  corner is the 100 km square's west edge and north edge + 100 km, snapped to the 60 m lattice of
  the tiling grid (easting down, northing up, both counted from the equator). This reproduces the
  ``ULX``/``ULY`` of every real MTD_TL.xml in the reference data (see the tests).
* **Sun angles.** NOAA's solar-position algorithm (the "General Solar Position Calculations" of
  the NOAA Global Monitoring Division spreadsheet, after Meeus), geometric (no refraction), at the
  tile's sensing time and each tie point's latitude/longitude.
* **Viewing angles.** MSI pushbroom on a sun-synchronous orbit (786 km, inclination 98.62°,
  descending): the ground track's heading follows from the inclination and the Earth's rotation;
  12 detectors, 290 km swath, detector 1 on the west edge. The cross-track incidence comes from
  spherical-Earth geometry; the staggered focal plane adds an along-track tilt, ``+split`` for
  even and ``-split`` for odd detectors plus a common offset, with per-band values fitted on the
  real T29UNU (baseline 04.00) grids. Azimuths are taken in the UTM grid (grid convergence is
  neglected, < 2° inside a zone).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Final

import numpy as np
from affine import Affine
from numba import njit
from pyproj import Transformer

from core.bands import BANDS
from core.errors import InputError
from core.product.metadata import AngleGrid, RasterGrid
from core.simulate.scene import SceneGeometry, SceneSpec

TILE_SIZE_M: Final[float] = 109_800.0
TIE_POINTS: Final[int] = 23
TIE_STEP_M: Final[float] = 5000.0
TILE_LATTICE_M: Final[float] = 60.0

ORBIT_ALTITUDE_KM: Final[float] = 786.0
EARTH_RADIUS_KM: Final[float] = 6371.0
INCLINATION_DEG: Final[float] = 98.62
ORBIT_SPEED_KM_S: Final[float] = 6.8
"""Ground speed of the sub-satellite point."""
EARTH_ROTATION_KM_S: Final[float] = 0.4651
"""Equatorial surface speed of the Earth's rotation."""
SWATH_KM: Final[float] = 290.0
DETECTORS: Final[int] = 12
DETECTOR_GRID_MARGIN_M: Final[float] = 3000.0
"""Real detector grids extend about 0.6 tie-point step beyond the detector's stripe."""
DEFAULT_CENTRE_OFFSET_KM: Final[float] = 70.0
"""Cross-track distance (east) of the tile centre from nadir: the whole tile lies in the swath."""

ALONG_TRACK_OFFSET_DEG: Final[float] = 0.22
ALONG_TRACK_SPLIT_DEG: Final[dict[str, float]] = {
    "B01": 1.885, "B02": 0.619, "B03": 0.904, "B04": 1.167, "B05": 1.310, "B06": 1.453,
    "B07": 1.597, "B08": 0.761, "B8A": 1.740, "B09": 2.032, "B10": 1.090, "B11": 1.433,
    "B12": 1.774,
}  # fmt: skip
"""Half the along-track angle between odd and even detectors, fitted on T29UNU (04.00)."""

_LETTERS: Final[str] = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_ROW_LETTERS: Final[str] = "ABCDEFGHJKLMNPQRSTUV"
_BANDS_LAT: Final[str] = "CDEFGHJKLMNPQRSTUVWX"


def tile_origin(tile_id: str) -> tuple[int, float, float]:
    """Return ``(epsg, ulx, uly)`` of the Sentinel-2 tile ``tile_id`` (e.g. ``"32TQM"``).

    Raises
    ------
    InputError
        ``tile_id`` is not an MGRS 100 km square id.
    """
    tile = tile_id.removeprefix("T").upper()
    if (
        len(tile) != 5
        or not tile[:2].isdigit()
        or not 1 <= int(tile[:2]) <= 60
        or tile[2] not in _BANDS_LAT
        or tile[3] not in _LETTERS
        or tile[4] not in _ROW_LETTERS
    ):
        raise InputError(f"not an MGRS tile id: {tile_id!r} (expected e.g. 32TQM)")
    zone, band, col, row = int(tile[:2]), tile[2], tile[3], tile[4]
    south = band < "N"
    epsg = (32700 if south else 32600) + zone
    set_index = (zone - 1) % 3
    col_index = _LETTERS.index(col) - 8 * set_index
    if not 0 <= col_index < 8:
        raise InputError(f"not an MGRS tile id: {tile_id!r} (column {col} is not in zone {zone})")
    easting = (col_index + 1) * 100_000.0
    row_index = (_ROW_LETTERS.index(row) - (5 if zone % 2 == 0 else 0)) % 20
    northing = row_index * 100_000.0
    band_min_lat = -80.0 + 8.0 * _BANDS_LAT.index(band)
    to_utm = Transformer.from_crs(4326, epsg, always_xy=True)
    central_lon = -183.0 + 6.0 * zone
    _, band_northings = to_utm.transform(
        [central_lon - 3.0, central_lon, central_lon + 3.0], [band_min_lat] * 3
    )
    band_floor = math.floor(min(band_northings) / 100_000.0) * 100_000.0 - 100_000.0
    while northing < band_floor:
        northing += 2_000_000.0
    false_northing = 10_000_000.0 if south else 0.0
    ulx = math.floor(easting / TILE_LATTICE_M) * TILE_LATTICE_M
    top = northing + 100_000.0 - false_northing
    uly = math.ceil(top / TILE_LATTICE_M) * TILE_LATTICE_M + false_northing
    return epsg, ulx, uly


def tile_grids(tile_id: str, size: int) -> dict[int, RasterGrid]:
    """The 10/20/60 m grids of a ``size`` x ``size`` (10 m px) area at the tile's UL corner."""
    if size <= 0 or size % 6 or size > 10980:
        raise InputError(f"scene size {size} must be a positive multiple of 6, at most 10980")
    epsg, ulx, uly = tile_origin(tile_id)
    return {
        res: RasterGrid(
            resolution=res,
            width=size * 10 // res,
            height=size * 10 // res,
            transform=Affine(res, 0.0, ulx, 0.0, -res, uly),
            crs_epsg=epsg,
        )
        for res in (10, 20, 60)
    }


def solar_position(
    moment: datetime, lat_deg: np.ndarray, lon_deg: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sun zenith and azimuth (degrees, azimuth clockwise from north) by NOAA's algorithm.

    Geometric angles (no atmospheric refraction), as in the MTD_TL ``Sun_Angles_Grid``.
    """
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    julian_day = moment.timestamp() / 86400.0 + 2440587.5
    t = (julian_day - 2451545.0) / 36525.0
    mean_long = math.radians((280.46646 + t * (36000.76983 + t * 0.0003032)) % 360.0)
    mean_anom = math.radians(357.52911 + t * (35999.05029 - 0.0001537 * t))
    ecc = 0.016708634 - t * (0.000042037 + 0.0000001267 * t)
    centre = math.radians(
        math.sin(mean_anom) * (1.914602 - t * (0.004817 + 0.000014 * t))
        + math.sin(2 * mean_anom) * (0.019993 - 0.000101 * t)
        + math.sin(3 * mean_anom) * 0.000289
    )
    omega = math.radians(125.04 - 1934.136 * t)
    app_long = mean_long + centre - math.radians(0.00569 + 0.00478 * math.sin(omega))
    mean_obliq = (
        23.0 + (26.0 + (21.448 - t * (46.815 + t * (0.00059 - t * 0.001813))) / 60.0) / 60.0
    )
    obliq = math.radians(mean_obliq + 0.00256 * math.cos(omega))
    declination = math.asin(math.sin(obliq) * math.sin(app_long))
    y = math.tan(obliq / 2) ** 2
    eq_time_min = 4.0 * math.degrees(
        y * math.sin(2 * mean_long)
        - 2 * ecc * math.sin(mean_anom)
        + 4 * ecc * y * math.sin(mean_anom) * math.cos(2 * mean_long)
        - 0.5 * y * y * math.sin(4 * mean_long)
        - 1.25 * ecc * ecc * math.sin(2 * mean_anom)
    )
    minutes = moment.hour * 60.0 + moment.minute + (moment.second + moment.microsecond / 1e6) / 60.0
    true_solar = (minutes + eq_time_min + 4.0 * np.asarray(lon_deg)) % 1440.0
    hour_angle = np.radians(true_solar / 4.0 - 180.0)
    lat = np.radians(np.asarray(lat_deg))
    cos_zen = np.sin(lat) * math.sin(declination) + np.cos(lat) * math.cos(declination) * np.cos(
        hour_angle
    )
    zenith = np.arccos(np.clip(cos_zen, -1.0, 1.0))
    cos_az = (np.sin(lat) * np.cos(zenith) - math.sin(declination)) / (np.cos(lat) * np.sin(zenith))
    azimuth = np.degrees(np.arccos(np.clip(cos_az, -1.0, 1.0)))
    azimuth = np.where(hour_angle > 0, (azimuth + 180.0) % 360.0, (540.0 - azimuth) % 360.0)
    return np.degrees(zenith), azimuth


def ground_track_heading_deg(lat_deg: float) -> float:
    """Heading of the descending ground track (clockwise from north) at ``lat_deg``.

    The inertial track makes ``asin(-cos i / cos lat)`` with the meridian; the Earth's rotation
    under the satellite adds a westward drift of ``v_earth cos lat``.
    """
    cos_lat = math.cos(math.radians(lat_deg))
    sin_beta = min(1.0, -math.cos(math.radians(INCLINATION_DEG)) / cos_lat)
    beta = math.asin(sin_beta)
    west = ORBIT_SPEED_KM_S * math.sin(beta) + EARTH_ROTATION_KM_S * cos_lat
    south = ORBIT_SPEED_KM_S * math.cos(beta)
    return 180.0 + math.degrees(math.atan2(west, south))


@njit(cache=True, nogil=True)
def _view_angles_kernel(  # noqa: PLR0917 - numba kernels take positional arguments
    cross_m: np.ndarray,
    along_tilt_deg: float,
    back_az_deg: float,
    radius: float,
    altitude: float,
    out: np.ndarray,
) -> None:
    """View zenith/azimuth of ground points ``cross_m`` metres east of nadir.

    Spherical Earth of ``radius``, satellite at ``altitude`` (m): a point at ground arc ``s``
    sees the satellite at ``tan(theta) = sin(g) (R + H) / ((R + H) cos(g) - R)``, ``g = s / R``.
    """
    tilt = math.tan(math.radians(along_tilt_deg))
    back = math.radians(back_az_deg)
    # unit vector towards the track (perpendicular to the heading, pointing west for s > 0)
    perp = back - math.pi / 2.0
    for i in range(cross_m.size):
        s = cross_m.flat[i]
        gamma = abs(s) / radius
        cross = (
            math.sin(gamma) * (radius + altitude) / ((radius + altitude) * math.cos(gamma) - radius)
        )
        sign = 1.0 if s >= 0.0 else -1.0
        east = sign * cross * math.sin(perp) + tilt * math.sin(back)
        north = sign * cross * math.cos(perp) + tilt * math.cos(back)
        out[0].flat[i] = math.degrees(math.atan(math.hypot(east, north)))
        out[1].flat[i] = math.degrees(math.atan2(east, north)) % 360.0


@njit(cache=True, nogil=True)
def _detector_kernel(
    col_cross: np.ndarray,
    row_cross: np.ndarray,
    half_swath_m: float,
    width_m: float,
    out: np.ndarray,
) -> None:
    """Detector id (1 = west edge ... 12 = east edge, 0 = outside the swath) per pixel.

    The cross-track distance is affine in x and y, so it is the sum of a per-column and a
    per-row term (no full-size coordinate arrays for a 10980 x 10980 tile).
    """
    for i in range(row_cross.size):
        for j in range(col_cross.size):
            s = col_cross[j] + row_cross[i]
            if abs(s) > half_swath_m:
                out[i, j] = 0
            else:
                out[i, j] = min(int((s + half_swath_m) / width_m) + 1, 12)


class _Track:
    """The nadir line in the tile's UTM plane: cross-track coordinate of any point."""

    def __init__(self, centre_x: float, centre_y: float, offset_m: float, heading_deg: float):
        self.heading = heading_deg
        rad = math.radians(heading_deg)
        # unit vector 90° left of the heading: east-ish for the descending (south-going) track
        self._right = (math.sin(rad - math.pi / 2), math.cos(rad - math.pi / 2))
        self._origin = (
            centre_x - offset_m * self._right[0],
            centre_y - offset_m * self._right[1],
        )

    def cross_terms(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The x and y parts of :meth:`cross` (their sum is the distance)."""
        return (x - self._origin[0]) * self._right[0], (y - self._origin[1]) * self._right[1]

    def cross(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Signed distance (m) from nadir; positive on the east side of the descending track."""
        x_part, y_part = self.cross_terms(x, y)
        return x_part + y_part


def _track(spec: SceneSpec, grid10: RasterGrid, lat_deg: float) -> _Track:
    tr = grid10.transform
    tile_cx = tr.c + TILE_SIZE_M / 2
    tile_cy = tr.f - TILE_SIZE_M / 2
    heading = ground_track_heading_deg(lat_deg)
    if not spec.swath_edge:
        return _Track(tile_cx, tile_cy, DEFAULT_CENTRE_OFFSET_KM * 1000.0, heading)
    scene_cx = tr.c + grid10.width * 10.0 / 2
    scene_cy = tr.f - grid10.height * 10.0 / 2
    return _Track(scene_cx, scene_cy, SWATH_KM * 1000.0 / 2, heading)


def _tie_points(grid10: RasterGrid) -> tuple[np.ndarray, np.ndarray]:
    steps = np.arange(TIE_POINTS) * TIE_STEP_M
    return np.meshgrid(grid10.transform.c + steps, grid10.transform.f - steps)


def _viewing_grids(track: _Track, x: np.ndarray, y: np.ndarray) -> dict[str, dict[int, AngleGrid]]:
    cross = track.cross(x, y)
    half = SWATH_KM * 500.0
    width = SWATH_KM * 1000.0 / DETECTORS
    back_az = (track.heading + 180.0) % 360.0
    grids: dict[str, dict[int, AngleGrid]] = {}
    for band in BANDS:
        per_detector: dict[int, AngleGrid] = {}
        for det in range(1, DETECTORS + 1):
            lo = -half + (det - 1) * width - DETECTOR_GRID_MARGIN_M
            hi = -half + det * width + DETECTOR_GRID_MARGIN_M
            inside = (
                (cross >= lo) & (cross <= hi) & (np.abs(cross) <= half + DETECTOR_GRID_MARGIN_M)
            )
            if not inside.any():
                continue
            parity = 1.0 if det % 2 == 0 else -1.0
            tilt = ALONG_TRACK_OFFSET_DEG + parity * ALONG_TRACK_SPLIT_DEG[band.name]
            angles = np.empty((2, *cross.shape))
            _view_angles_kernel(
                cross, tilt, back_az, EARTH_RADIUS_KM * 1e3, ORBIT_ALTITUDE_KM * 1e3, angles
            )
            angles[:, ~inside] = np.nan
            per_detector[det] = AngleGrid(zenith=angles[0], azimuth=angles[1])
        grids[band.name] = per_detector
    return grids


def _footprints(track: _Track, grids: dict[int, RasterGrid]) -> dict[str, np.ndarray]:
    footprints: dict[str, np.ndarray] = {}
    for band in BANDS:
        grid = grids[band.resolution]
        cols = grid.transform.c + (np.arange(grid.width) + 0.5) * grid.resolution
        rows = grid.transform.f - (np.arange(grid.height) + 0.5) * grid.resolution
        col_cross, row_cross = track.cross_terms(cols, rows)
        ids = np.empty((grid.height, grid.width), dtype=np.uint8)
        _detector_kernel(col_cross, row_cross, SWATH_KM * 500.0, SWATH_KM * 1000.0 / DETECTORS, ids)
        footprints[band.name] = ids
    return footprints


def simulate_geometry(spec: SceneSpec) -> SceneGeometry:
    """Grids, sun angles, viewing incidence grids and detector footprints for ``spec``.

    The tie-point grids cover the whole tile (23 x 23 points, 5 km apart, from the tile's
    upper-left corner), as in MTD_TL.xml; the grids and footprints cover the simulated
    ``spec.size`` x ``spec.size`` area anchored at that corner.
    """
    grids = tile_grids(spec.tile_id, spec.size)
    x, y = _tie_points(grids[10])
    to_lonlat = Transformer.from_crs(grids[10].crs_epsg, 4326, always_xy=True)
    lon, lat = to_lonlat.transform(x, y)
    sun_zenith_deg, sun_azimuth_deg = solar_position(spec.sensing_time, lat, lon)
    track = _track(spec, grids[10], float(np.mean(lat)))
    return SceneGeometry(
        grids=grids,
        sun_angles=AngleGrid(zenith=sun_zenith_deg, azimuth=sun_azimuth_deg),
        viewing_angles=_viewing_grids(track, x, y),
        detector_footprint=_footprints(track, grids),
    )


def orbit_numbers(mission_id: str, moment: datetime) -> tuple[int, int]:
    """``(absolute, relative)`` orbit of ``mission_id`` at ``moment``.

    Sentinel-2 repeats its ground track every 143 orbits in 10 days; the numbering is anchored
    on a real product of each unit (S2A: A038058/R023 on 2022-10-05T11:54:11, S2B: A027547/R065
    on 2022-06-15T10:15:59). S2C shares S2A's orbit and uses S2A's anchor (an approximation).
    """
    anchors = {
        "S2A": (datetime(2022, 10, 5, 11, 54, 11, tzinfo=UTC), 38058, 23),
        "S2B": (datetime(2022, 6, 15, 10, 15, 59, tzinfo=UTC), 27547, 65),
    }
    when, absolute, relative = anchors.get(mission_id, anchors["S2A"])
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    period_s = 10 * 86400.0 / 143
    orbits = round((moment - when).total_seconds() / period_s)
    return absolute + orbits, (relative - 1 + orbits) % 143 + 1
