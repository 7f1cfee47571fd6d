"""Sun and viewing angles: the 5 km tie-point grids of MTD_TL.xml -> per-pixel fields.

MTD_TL.xml ``Tile_Angles`` gives the sun zenith/azimuth and, per band and detector, the viewing
incidence zenith/azimuth on a 23 x 23 grid whose first node is the tile's upper-left corner
(``COL_STEP``/``ROW_STEP`` 5000 m); nodes a detector does not see are ``NaN``. Sen2Cor uses the sun
grids in the atmospheric correction and the mean angles for shadow geometry (facts §4).

Here the detectors of a band are merged into one grid (NaN-aware mean; azimuths through their
sines and cosines), nodes no detector sees are filled from the nearest seen node, and the grid
is interpolated bilinearly to pixel centres. Azimuths are interpolated through sin/cos so that
359° and 1° average to 0°, not 180°.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np
from numba import njit
from rasterio.windows import Window
from scipy import ndimage

from core.bands import BY_ID
from core.errors import ProductFormatError
from core.io.xml import find, find_text, findall
from core.product.metadata import AngleGrid


@dataclass(frozen=True, slots=True)
class TileAngles:
    """The angle content of one MTD_TL.xml."""

    sun: AngleGrid
    mean_sun_zenith: float
    mean_sun_azimuth: float
    viewing: dict[str, dict[int, AngleGrid]]
    """Band name -> detector id -> grid."""
    mean_viewing: dict[str, tuple[float, float]]
    """Band name -> (mean zenith, mean azimuth)."""


@dataclass(frozen=True, slots=True)
class AngleFields:
    """Per-pixel angles of one window, degrees, float32."""

    sun_zenith_deg: np.ndarray
    sun_azimuth_deg: np.ndarray
    view_zenith_deg: dict[str, np.ndarray]
    view_azimuth_deg: dict[str, np.ndarray]


def _values(node: ET.Element, source: str) -> tuple[np.ndarray, float, float]:
    rows = [row.text or "" for row in findall(node, "Values_List/VALUES")]
    col_step = find_text(node, "COL_STEP")
    row_step = find_text(node, "ROW_STEP")
    if not rows or col_step is None or row_step is None:
        raise ProductFormatError(f"angle grid {node.tag!r} is incomplete", path=source)
    try:
        values = np.array([[float(v) for v in row.split()] for row in rows], dtype=np.float64)
    except ValueError as err:
        raise ProductFormatError(
            f"angle grid has a non-numeric value ({err})", path=source
        ) from err
    return values, float(col_step), float(row_step)


def _grid(node: ET.Element, source: str) -> AngleGrid:
    zen_node, az_node = find(node, "Zenith"), find(node, "Azimuth")
    if zen_node is None or az_node is None:
        raise ProductFormatError("angle grid lacks Zenith or Azimuth", path=source)
    zenith, col_step, row_step = _values(zen_node, source)
    azimuth, _, _ = _values(az_node, source)
    if zenith.shape != azimuth.shape:
        raise ProductFormatError("zenith and azimuth grids differ in shape", path=source)
    return AngleGrid(zenith=zenith, azimuth=azimuth, col_step=col_step, row_step=row_step)


def _mean_pair(node: ET.Element | None) -> tuple[float, float]:
    if node is None:
        return float("nan"), float("nan")
    return (
        float(find_text(node, "ZENITH_ANGLE") or "nan"),
        float(find_text(node, "AZIMUTH_ANGLE") or "nan"),
    )


def parse_tile_angles(tile_root: ET.Element, *, source: str) -> TileAngles:
    """Read ``Geometric_Info/Tile_Angles`` of an MTD_TL.xml (or AWS tile ``metadata.xml``).

    Raises
    ------
    ProductFormatError
        No sun angle grid, or a malformed grid.
    """
    angles = find(tile_root, "Geometric_Info/Tile_Angles")
    sun_node = None if angles is None else find(angles, "Sun_Angles_Grid")
    if angles is None or sun_node is None:
        raise ProductFormatError("Tile_Angles/Sun_Angles_Grid is missing", path=source)
    viewing: dict[str, dict[int, AngleGrid]] = {}
    for node in findall(angles, "Viewing_Incidence_Angles_Grids"):
        name = BY_ID[int(node.get("bandId", "-1"))].name
        viewing.setdefault(name, {})[int(node.get("detectorId", "0"))] = _grid(node, source)
    mean_viewing = {
        BY_ID[int(node.get("bandId", "-1"))].name: _mean_pair(node)
        for node in findall(
            angles, "Mean_Viewing_Incidence_Angle_List/Mean_Viewing_Incidence_Angle"
        )
    }
    mean_zenith, mean_azimuth = _mean_pair(find(angles, "Mean_Sun_Angle"))
    return TileAngles(
        sun=_grid(sun_node, source),
        mean_sun_zenith=mean_zenith,
        mean_sun_azimuth=mean_azimuth,
        viewing=viewing,
        mean_viewing=mean_viewing,
    )


def _fill_nearest(values: np.ndarray) -> np.ndarray:
    """Replace NaN nodes by the nearest finite node (scipy's Euclidean distance transform)."""
    missing = ~np.isfinite(values)
    if not missing.any() or missing.all():
        return values
    _, (rows, cols) = ndimage.distance_transform_edt(missing, return_indices=True)
    return values[rows, cols]


def combine_detectors(grids: dict[int, AngleGrid]) -> AngleGrid:
    """Merge the per-detector grids of one band into one gap-free grid.

    Overlapping detectors are averaged (zenith: NaN-aware mean; azimuth: mean direction of the
    unit vectors); nodes no detector covers take the nearest covered node's value.
    """
    first = next(iter(grids.values()))
    zenith = np.stack([g.zenith for g in grids.values()])
    azimuth = np.deg2rad(np.stack([g.azimuth for g in grids.values()]))
    seen = np.isfinite(zenith) & np.isfinite(azimuth)
    count = seen.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_zenith = np.where(seen, zenith, 0.0).sum(axis=0) / count
        sin_sum = np.where(seen, np.sin(azimuth), 0.0).sum(axis=0)
        cos_sum = np.where(seen, np.cos(azimuth), 0.0).sum(axis=0)
    mean_azimuth = np.where(count > 0, np.rad2deg(np.arctan2(sin_sum, cos_sum)) % 360.0, np.nan)
    return AngleGrid(
        zenith=_fill_nearest(np.where(count > 0, mean_zenith, np.nan)),
        azimuth=_fill_nearest(mean_azimuth),
        col_step=first.col_step,
        row_step=first.row_step,
    )


@njit(cache=True, nogil=True)
def _bilinear(grid, grid_rows, grid_cols, period, out):
    """``out[i, j]``: ``grid`` bilinear at the fractional node coordinates ``grid_rows[i]``,
    ``grid_cols[j]`` (clamped to the grid). With ``period > 0`` the values are angles of that
    period, interpolated along the shorter arc and returned in ``[0, period)``.

    Separable: each output row blends two grid rows once, then each pixel two nodes."""
    n_rows, n_cols = grid.shape
    c_low = np.empty(grid_cols.size, dtype=np.int64)
    c_weight = np.empty(grid_cols.size)
    for j in range(grid_cols.size):
        c = min(max(grid_cols[j], 0.0), n_cols - 1.0)
        c_low[j] = min(int(c), n_cols - 2) if n_cols > 1 else 0
        c_weight[j] = c - c_low[j]
    line = np.empty(n_cols)
    for i in range(grid_rows.size):
        r = min(max(grid_rows[i], 0.0), n_rows - 1.0)
        r0 = min(int(r), n_rows - 2) if n_rows > 1 else 0
        r1 = min(r0 + 1, n_rows - 1)
        fr = r - r0
        for c in range(n_cols):
            step = np.float64(grid[r1, c]) - np.float64(grid[r0, c])  # float64 whatever the grid
            if period > 0.0:
                step -= period * np.floor(step / period + 0.5)
            line[c] = grid[r0, c] + fr * step
        for j in range(grid_cols.size):
            c0 = c_low[j]
            c1 = min(c0 + 1, n_cols - 1)
            step = line[c1] - line[c0]
            if period > 0.0:
                step -= period * np.floor(step / period + 0.5)
            value = line[c0] + c_weight[j] * step
            out[i, j] = value - period * np.floor(value / period) if period > 0.0 else value


def interpolate_at(
    grid: np.ndarray, rows: np.ndarray, cols: np.ndarray, *, period: float = 0.0
) -> np.ndarray:
    """float32 ``grid`` bilinear at fractional node rows x columns (clamped to the grid); with
    ``period`` (e.g. 360 for azimuths) along the shorter arc, in ``[0, period)``."""
    rows = np.ascontiguousarray(rows, dtype=np.float64).ravel()
    cols = np.ascontiguousarray(cols, dtype=np.float64).ravel()
    out = np.empty((rows.size, cols.size), dtype=np.float32)
    if grid.dtype not in (np.float32, np.float64):
        grid = grid.astype(np.float64)
    # no float64 copy of a float32 field: the kernel reads it in float64 (a tile's 60 m field
    # is 27 MB, and the correction samples nodes of it for every band of every strip)
    _bilinear(np.ascontiguousarray(grid), rows, cols, float(period), out)
    return out


def interpolate_grid(
    grid: AngleGrid, y_m: np.ndarray, x_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate ``grid`` bilinearly at distances from the tile's upper-left corner.

    Parameters
    ----------
    grid : AngleGrid
        Gap-free grid (see :func:`combine_detectors`).
    y_m, x_m : ndarray
        1-D distances (metres) south and east of the upper-left corner.

    Returns
    -------
    zenith, azimuth : ndarray of float32, shape (len(y_m), len(x_m))
        Azimuth is interpolated through sin/cos and returned in [0, 360).
    """
    rows = np.asarray(y_m, dtype=np.float64) / grid.row_step
    cols = np.asarray(x_m, dtype=np.float64) / grid.col_step
    azimuth = np.deg2rad(grid.azimuth)
    sin_az = interpolate_at(np.sin(azimuth), rows, cols)
    cos_az = interpolate_at(np.cos(azimuth), rows, cols)
    azimuth_deg = np.rad2deg(np.arctan2(sin_az, cos_az)) % np.float32(360.0)
    return interpolate_at(grid.zenith, rows, cols), azimuth_deg.astype(np.float32)


def pixel_centres(resolution: int, window: Window, length: int, axis: int) -> np.ndarray:
    """Distances (m) from the tile corner of the pixel centres of ``window`` along ``axis``."""
    offset = window.row_off if axis == 0 else window.col_off
    return (offset + np.arange(length) + 0.5) * resolution


def angle_fields(
    sun: AngleGrid,
    viewing: dict[str, dict[int, AngleGrid]],
    resolution: int,
    window: Window,
    bands: tuple[str, ...] | None = None,
) -> AngleFields:
    """Per-pixel sun and viewing angles of ``window`` (pixels of ``resolution`` metres).

    Parameters
    ----------
    sun : AngleGrid
        Sun grid of MTD_TL.xml.
    viewing : dict
        Band -> detector -> viewing grid (MTD_TL.xml ``Viewing_Incidence_Angles_Grids``).
    resolution : int
        Pixel size in metres.
    window : Window
        Window of the tile grid at ``resolution``.
    bands : tuple of str, optional
        Bands whose viewing angles are wanted (default: all present).
    """
    height, width = int(window.height), int(window.width)
    y_m = pixel_centres(resolution, window, height, axis=0)
    x_m = pixel_centres(resolution, window, width, axis=1)
    sun_zenith, sun_azimuth = interpolate_grid(
        AngleGrid(
            _fill_nearest(sun.zenith), _fill_nearest(sun.azimuth), sun.col_step, sun.row_step
        ),
        y_m,
        x_m,
    )
    view_zenith: dict[str, np.ndarray] = {}
    view_azimuth: dict[str, np.ndarray] = {}
    for name in bands or tuple(viewing):
        view_zenith[name], view_azimuth[name] = interpolate_grid(
            combine_detectors(viewing[name]), y_m, x_m
        )
    return AngleFields(sun_zenith, sun_azimuth, view_zenith, view_azimuth)
