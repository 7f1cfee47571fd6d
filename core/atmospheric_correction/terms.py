"""Radiative-transfer terms of one band on a coarse node grid x AOT, elevation and WV layers.

Angles vary slowly across a tile, so the 6S table is interpolated only at nodes every
:data:`NODE_STEP_M` metres (and the last row/column of the grid). Elevation follows the DEM and
AOT550 and water vapour vary at the pixel scale too:

* elevation and AOT550 get axes of their own: the table's nodes spanning the scene's range, with
  sub-nodes; the kernel interpolates linearly in elevation and in ``ln(AOT550 + AOT_OFFSET)``
  (the table's own AOT coordinate);
* water vapour (which only acts through the gas terms) gets two layers per node, at the node's
  own WV ``W`` and at ``W +`` :data:`WV_STEP_CM`; the kernel interpolates (or extrapolates)
  linearly between them from the pixel's WV minus the bilinear ``W`` of the nodes.

The per-pixel kernel (:mod:`core.atmospheric_correction.inversion`) interpolates the nodes
bilinearly in x/y. Node positions are in pixels of the whole working grid (a tile), so any window
of it can be corrected with its row/column offset.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final

import numpy as np

from core.atmosphere.lut import RadiativeTransferLut
from core.atmospheric_correction.observation import AngleField, Observation

TERMS: Final = (
    "path_reflectance",
    "gas_transmittance",
    "down_direct",
    "down_diffuse",
    "up_direct",
    "up_diffuse",
    "spherical_albedo",
)
"""Order of the terms on the last axis of :attr:`TermGrid.values` (those of
:class:`core.atmosphere.lut.LutTerms`, total transmittances split into direct and diffuse)."""

NODE_STEP_M: Final = 600.0
"""Node spacing in x/y. Measured against per-pixel table interpolation on the simulator's 6 km
terrain scene (angles of its granule, AOT 0.1-0.2, WV 0.6-2 cm falling with a 1.5 km relief;
``tests/test_atmospheric_correction.py``): max BOA difference 1.0e-4 (B11) to 1.7e-4 (B04),
the issue allows 5e-4. Sampling WV at the nodes instead of the two WV layers gave 7e-4 (B04,
snow)."""

ELEVATION_STEP_M: Final = 500.0
"""Elevation sub-nodes between the table's nodes (1.5 km apart): the table interpolates its
transmittances in log, the kernel linearly; with 500 m the difference is < 1e-5 (measured)."""

AOT_STEP: Final = 0.05
"""AOT550 sub-nodes between the table's nodes (0.1 to 0.4 apart): the kernel interpolates the
transmittances linearly where the table does in log; at 0.1 that cost up to 5e-4 (B04, sun
zenith 54 deg), at 0.05 1.3e-4 (measured)."""

WV_STEP_CM: Final = 0.25
"""Water-vapour offset of the second layer (the local slope of the gas terms)."""


@dataclass(frozen=True)
class TermGrid:
    """The terms of one band at coarse nodes of a working grid (pixel units of the whole grid)."""

    band: str
    values: np.ndarray
    """float64 ``[AOT node, elevation node, WV layer, row node, column node, term]``
    (:data:`TERMS`)."""
    row_nodes: np.ndarray
    """float64 pixel row of each node row: ``0, step, 2 step, ..., rows - 1``."""
    col_nodes: np.ndarray
    elevation_nodes_m: np.ndarray
    """float64 increasing elevations of the node layers (one layer: flat at that elevation)."""
    aot_nodes: np.ndarray
    """float64 increasing AOT550 of the node layers."""
    wv_nodes: np.ndarray
    """float64 ``[row node, column node]`` water vapour of the first WV layer (the second is
    :data:`WV_STEP_CM` more)."""
    step: int
    """Node spacing in pixels (all but the last interval)."""
    row_origin: int = 0
    """Grid row of the first node row (a strip's terms, :func:`band_terms` ``rows``):
    ``row_nodes`` are relative to it, so a window at grid row ``r`` is at ``r - row_origin``."""


def node_positions(size: int, step: int) -> np.ndarray:
    """Pixel positions ``0, step, 2 step, ...`` closed by the last pixel ``size - 1`` (at least
    two nodes: a one-pixel axis gets a second node at pixel 1, sampled at pixel 0)."""
    inner = np.arange(0, max(size - 1, 1), step, dtype=np.float64)
    return np.unique(np.append(inner, float(max(size - 1, 1))))


def node_rows_spanning(nodes: np.ndarray, step: int, top: int, bottom: int) -> slice:
    """The node rows whose intervals hold grid rows ``top .. bottom - 1``, and the next one
    (the kernel reads both bracketing rows of a pixel, even at weight 0)."""
    first = min(top // step, nodes.size - 2)
    last = int(np.searchsorted(nodes, bottom - 1, side="left")) + 1
    return slice(first, min(max(last, first + 1), nodes.size - 1) + 1)


def spanning_nodes(axis: np.ndarray, low: float, high: float, max_step: float) -> np.ndarray:
    """Nodes spanning ``low..high`` (clamped to ``axis``): the axis' nodes, each interval split
    into equal sub-nodes at most ``max_step`` apart, from the last at or below ``low`` to the
    first at or above ``high``."""
    nodes = np.asarray(axis, dtype=np.float64)
    low = float(np.clip(low, nodes[0], nodes[-1]))
    high = float(np.clip(high, nodes[0], nodes[-1]))
    first = int(np.searchsorted(nodes, low, side="right")) - 1
    last = int(np.searchsorted(nodes, high, side="left"))
    span = nodes[first : max(last, first) + 1]
    if span.size == 1:
        return span
    parts = [
        np.linspace(a, b, max(math.ceil((b - a) / max_step - 1e-9), 1) + 1)[:-1]
        for a, b in itertools.pairwise(span)
    ]
    fine = np.append(np.concatenate(parts), span[-1])
    first = int(np.searchsorted(fine, low, side="right")) - 1
    last = int(np.searchsorted(fine, high, side="left"))
    return fine[first : max(last, first) + 1]


def _at(
    field: np.ndarray | float, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]
) -> np.ndarray | float:
    """A ``shape`` working-grid ``field`` at the node pixels (a scalar stays a scalar).

    A field on a grid an integer factor coarser (the 20 m water vapour of the 10 m bands) is
    read at the coarse pixel holding each node: its nearest-neighbour upsampling (Sen2Cor's
    rule for WVP, facts §1.2) at the nodes, without upsampling the whole field. Only the
    node pixels are converted to float64.
    """
    values = np.asarray(field)
    if values.ndim == 0:
        return float(values)
    factor = max(shape[0] // max(values.shape[0], 1), 1)
    if values.shape != shape and values.shape != (shape[0] // factor, shape[1] // factor):
        raise ValueError(f"a {values.shape} field does not cover a {shape} grid")
    return values[np.ix_(rows // factor, cols // factor)].astype(np.float64)


def sample_observation(
    observation: Observation,
    rows: np.ndarray,
    cols: np.ndarray,
    bands: tuple[str, ...] | None = None,
) -> Observation:
    """The observation's angle fields at the working-grid pixels ``rows`` x ``cols`` (bilinear
    from a coarser angle grid, :meth:`Observation.angles_at`); the viewing angles of ``bands``
    only when given (those of the others are not needed, and a tile has 13)."""

    def at(field: AngleField, azimuth: bool = False) -> np.ndarray | float:
        return observation.angles_at(field, rows, cols, azimuth=azimuth)

    def viewed(fields: Mapping[str, AngleField], azimuth: bool) -> dict[str, np.ndarray | float]:
        return {b: at(v, azimuth) for b, v in fields.items() if bands is None or b in bands}

    return replace(
        observation,
        sun_zenith_deg=at(observation.sun_zenith_deg),
        sun_azimuth_deg=at(observation.sun_azimuth_deg, azimuth=True),
        view_zenith_deg=viewed(observation.view_zenith_deg, azimuth=False),
        view_azimuth_deg=viewed(observation.view_azimuth_deg, azimuth=True),
        angle_resolution=None,
    )


def _range(values: np.ndarray | float) -> tuple[float, float]:
    array = np.asarray(values)  # no float64 copy of a whole field: min/max are exact anyway
    return float(np.nanmin(array)), float(np.nanmax(array))


def band_terms(
    lut: RadiativeTransferLut,
    observation: Observation,
    band: str,
    *,
    aerosol: str,
    aot550: np.ndarray | float,
    wv_cm: np.ndarray | float,
    ozone_du: float,
    shape: tuple[int, int],
    elevation_m: np.ndarray | float,
    max_sun_zenith_deg: float,
    max_view_zenith_deg: float,
    step_m: float = NODE_STEP_M,
    strip_rows: tuple[int, int] | None = None,
) -> TermGrid:
    """Terms of ``band`` at the nodes of a ``shape`` working grid of ``observation.resolution``.

    ``wv_cm`` is a scalar or an array of ``shape`` or of a grid an integer factor coarser
    (sampled at the nodes, :func:`_at`); ``aot550`` and
    ``elevation_m`` (scalars or any arrays) only set the span of their node layers. Angles are
    clipped to the configured maxima (Sen2Cor clamps the sun zenith to 70 deg and the view
    zenith to 12 deg) and the atmospheric state to the table's range. ``strip_rows`` (top,
    bottom):
    only the node rows of those grid rows (a strip, :func:`node_rows_spanning`), the same
    values as the whole grid's there, with their :attr:`TermGrid.row_origin`; the node layers
    still span the whole ``aot550`` and ``elevation_m``, so pass their spans (two values).
    """
    step = max(round(step_m / observation.resolution), 1)
    rows, cols = node_positions(shape[0], step), node_positions(shape[1], step)
    if strip_rows is not None:
        rows = rows[node_rows_spanning(rows, step, *strip_rows)]
    origin = int(rows[0])
    r_idx = np.minimum(rows, shape[0] - 1).astype(np.int64)
    c_idx = np.minimum(cols, shape[1] - 1).astype(np.int64)
    own = (band,) if band in observation.view_zenith_deg else None  # else the others' mean
    nodes = sample_observation(observation, r_idx, c_idx, bands=own)
    view_zenith, _ = nodes.view_angles(band)
    z_nodes = spanning_nodes(
        lut.axis("elevation_km") * 1000.0, *_range(elevation_m), ELEVATION_STEP_M
    )
    aot_nodes = spanning_nodes(lut.axis("aot550"), *_range(aot550), AOT_STEP)
    wv_axis = lut.axis("wv_cm")
    wv_base = np.clip(
        np.broadcast_to(_at(wv_cm, r_idx, c_idx, shape), (rows.size, cols.size)),
        wv_axis[0],
        wv_axis[-1] - WV_STEP_CM,
    ).astype(np.float64)
    # each state on its own axis of [AOT, elevation, WV layer, row, column]: the table is
    # looked up on each term's own axes only (LutTerms broadcast), not on the whole grid
    node_shape = (1, 1, 1, rows.size, cols.size)
    angles = {
        "sun_zenith_deg": np.minimum(np.asarray(nodes.sun_zenith_deg), max_sun_zenith_deg),
        "view_zenith_deg": np.minimum(np.asarray(view_zenith), max_view_zenith_deg),
        "relative_azimuth_deg": np.asarray(nodes.relative_azimuth_deg(band)),
    }
    terms = lut.interpolate(
        observation.sensor,
        aerosol,
        band,
        **{
            k: np.broadcast_to(v, (rows.size, cols.size)).reshape(node_shape)
            for k, v in angles.items()
        },
        wv_cm=np.stack([wv_base, wv_base + WV_STEP_CM])[None, None],
        aot550=aot_nodes[:, None, None, None, None],
        elevation_m=z_nodes[None, :, None, None, None],
        ozone_du=ozone_du,
        clamp=True,
    )
    values = np.stack(
        np.broadcast_arrays(
            terms.path_reflectance,
            terms.gas_transmittance,
            terms.down_direct,
            terms.down_total - terms.down_direct,
            terms.up_direct,
            terms.up_total - terms.up_direct,
            terms.spherical_albedo,
        ),
        axis=-1,
    )
    return TermGrid(
        band, np.ascontiguousarray(values), rows - origin, cols, z_nodes, aot_nodes, wv_base,
        step, origin,
    )  # fmt: skip
