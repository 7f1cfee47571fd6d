"""Per-pixel Lambertian inversion for the retrievals, without a table look-up per pixel.

The 6S table is evaluated once on a coarse node grid: the pixel nodes of
:func:`.terms.node_positions` about :data:`NODE_SPACING_M` apart (sun and view angles vary by
< 0.05 deg per km across a tile; the angles at the nodes from :func:`.terms.sample_observation`),
the table's elevation nodes spanning the scene (:func:`.terms.spanning_nodes`), and a list of
atmospheric states (AOT550 or water-vapour candidates), which :mod:`.terms` (the correction's
grid, one state per pixel) has no axis for. Each node keeps four numbers: those of the inversion
of :class:`core.atmosphere.lut.LutTerms`::

    y = a * toa - b,  rho = y / (1 + S * y)   with  a = 1/(Tg T_down T_up),  b = path/(T_down T_up)

and the adjacency ratio ``q = T_dif_up / T_dir_up``: with the environment TOA (the box mean over
``Adj_Km``, :mod:`core.atmospheric_correction.adjacency`) the pixel's reflectance is ATCOR's
``rho + q (rho - rho_env)`` (first order of the simulator's and 6S's forward model, whose
environment term is ``rho_env T_dif_up``). A numba kernel interpolates them per pixel (bilinear
between nodes, linear between elevation nodes; ``ln a`` as the table interpolates its
transmittances in logarithm) and either evaluates the surface reflectance at a per-pixel state
or finds the state at which two bands balance, ``rho_a = k * rho_b + c`` (DDV: red = 0.5 SWIR;
APDA: B09 = B8A).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from core.atmosphere.lut import RadiativeTransferLut
from core.atmospheric_correction.observation import Observation
from core.atmospheric_correction.terms import (
    ELEVATION_STEP_M,
    node_positions,
    sample_observation,
    spanning_nodes,
)

NODE_SPACING_M = 1500.0
"""Node spacing: MSI view zenith changes by ~0.04 deg/km across the swath and the sun by less,
so bilinear angles between nodes this far apart are within 0.05 deg."""
N_COEFFICIENTS = 4
"""``ln a``, ``b``, ``S``, ``q`` (module docstring)."""
MAX_NODES = 48
"""At most this many nodes per axis (a whole 110 km tile: 2.3 km apart, still < 0.1 deg)."""


@dataclass(frozen=True)
class StateGrid:
    """Pixel nodes and elevation nodes of one working grid (see the module docstring)."""

    observation: Observation
    shape: tuple[int, int]
    step: int
    """Working-grid pixels between nodes (all but the last interval)."""
    rows: np.ndarray
    """float64 pixel row of each node row (:func:`.terms.node_positions`)."""
    cols: np.ndarray
    elevation_m: np.ndarray
    """float32 elevation of every pixel (m)."""
    levels_m: np.ndarray
    """Elevation nodes (m): the table's nodes spanning the scene's elevations."""
    max_sun_zenith_deg: float
    max_view_zenith_deg: float

    @classmethod
    def build(
        cls,
        observation: Observation,
        shape: tuple[int, int],
        elevation_m: np.ndarray | float,
        lut: RadiativeTransferLut,
        *,
        max_sun_zenith_deg: float,
        max_view_zenith_deg: float,
    ) -> StateGrid:
        """Nodes about :data:`NODE_SPACING_M` apart over ``shape``; geometry clamped as Sen2Cor
        does."""
        spacing = max(1, round(NODE_SPACING_M / observation.resolution))
        step = max(spacing, -(-(max(shape) - 1) // (MAX_NODES - 1)))
        z = np.asarray(elevation_m, dtype=np.float32)
        z = np.full(shape, float(z), np.float32) if z.ndim == 0 else np.ascontiguousarray(z)
        finite = np.isfinite(z)
        if not finite.all():  # a copy only then: the grid reads the caller's DEM otherwise
            z = np.where(finite, z, np.nanmean(z) if finite.any() else np.float32(0.0))
        del finite
        levels = spanning_nodes(
            lut.axis("elevation_km") * 1000.0, float(z.min()), float(z.max()), ELEVATION_STEP_M
        )
        return cls(
            observation, shape, step, node_positions(shape[0], step),
            node_positions(shape[1], step), z, levels,
            max_sun_zenith_deg, max_view_zenith_deg,
        )  # fmt: skip

    @property
    def nodes(self) -> tuple[int, int]:
        """Number of node rows and columns."""
        return self.rows.size, self.cols.size

    def node_mean(self, field: np.ndarray | float) -> np.ndarray:
        """A working-grid field (or a scalar) at the nodes, shape :attr:`nodes`: its NaN-aware
        mean over a node-spacing box around each node (the mean of all finite pixels where
        the box has none)."""
        if np.ndim(field) == 0:
            return np.full(self.nodes, float(np.asarray(field)))
        values = np.broadcast_to(np.asarray(field), self.shape)
        size = min(self.step, *self.shape)
        # The box of each node only (edge pixels repeated as ``uniform_filter``'s "nearest"
        # mode would): a band of ``size`` rows at a time, not float64 copies of the grid.
        offsets = np.arange(size) - size // 2
        rows = np.clip(self._pixels(self.rows, 0)[:, None] + offsets, 0, self.shape[0] - 1)
        cols = np.clip(self._pixels(self.cols, 1)[:, None] + offsets, 0, self.shape[1] - 1)
        total = np.empty(self.nodes)
        count = np.empty(self.nodes)
        for node_row, band_rows in enumerate(rows):
            band = values[band_rows].astype(np.float64)
            finite = np.isfinite(band)
            total[node_row] = np.where(finite, band, 0.0).sum(axis=0)[cols].sum(axis=1)
            count[node_row] = finite.sum(axis=0)[cols].sum(axis=1)
        if count.all():
            return total / count
        finite_values = values[np.isfinite(values)]
        overall = float(finite_values.mean(dtype=np.float64)) if finite_values.size else 0.0
        return np.where(count > 0, total / np.maximum(count, 1.0), overall)

    def _pixels(self, nodes: np.ndarray, axis: int) -> np.ndarray:
        """Pixel indices of ``nodes`` (a one-pixel axis has a second node beyond it)."""
        return np.minimum(nodes, self.shape[axis] - 1).astype(np.int64)

    def coefficients(
        self,
        lut: RadiativeTransferLut,
        aerosol: str,
        band: str,
        *,
        aot550: np.ndarray | float,
        wv_cm: np.ndarray | float,
        ozone_du: float,
    ) -> np.ndarray:
        """``[node row, node col, level, state, (ln a, b, S, q)]`` of ``band``.

        ``aot550`` and ``wv_cm`` broadcast to ``(node rows, node cols, state)``: a state axis of
        candidates and/or per-node values (:meth:`node_mean`).
        """
        own = (band,) if band in self.observation.view_zenith_deg else None  # else the mean
        obs = sample_observation(
            self.observation, self._pixels(self.rows, 0), self._pixels(self.cols, 1), bands=own
        )
        view_zenith, _ = obs.view_angles(band)
        field = np.zeros(self.nodes)
        sun = np.minimum(field + obs.sun_zenith_deg, self.max_sun_zenith_deg)
        view = np.minimum(field + view_zenith, self.max_view_zenith_deg)
        azimuth = field + obs.relative_azimuth_deg(band)
        node = (slice(None), slice(None), None, None)
        aot, wv = _node_states(aot550), _node_states(wv_cm)
        terms = lut.interpolate(
            obs.sensor, aerosol, band,
            sun_zenith_deg=sun[node], view_zenith_deg=view[node],
            relative_azimuth_deg=azimuth[node], aot550=aot,
            elevation_m=self.levels_m[None, None, :, None], wv_cm=wv, ozone_du=ozone_du,
            clamp=True,
        )  # fmt: skip
        transmittance = terms.down_total * terms.up_total
        out = np.stack(
            np.broadcast_arrays(
                -np.log(terms.gas_transmittance * transmittance),
                terms.path_reflectance / transmittance,
                terms.spherical_albedo,
                terms.up_total / terms.up_direct - 1.0,
            ),
            axis=-1,
        )
        shape = (*self.nodes, self.levels_m.size, out.shape[3], N_COEFFICIENTS)
        return np.ascontiguousarray(np.broadcast_to(out, shape), dtype=np.float64)

    def reflectance(
        self,
        toa: np.ndarray,
        coefficients: np.ndarray,
        nodes: np.ndarray,
        state: np.ndarray | float,
        *,
        mask: np.ndarray | None = None,
        environment: np.ndarray | None = None,
    ) -> np.ndarray:
        """float32 surface reflectance of ``toa`` at a per-pixel ``state`` on the ``nodes`` axis.

        ``environment``: the adjacency-box mean of ``toa`` (default: none, no adjacency). NaN
        outside ``mask`` (default: finite ``toa``).
        """
        # a broadcast view (numba reads strided arrays): no tile-sized copy of a scalar state
        state_map = np.broadcast_to(np.asarray(state, dtype=np.float32), self.shape)
        out = np.full(self.shape, np.nan, dtype=np.float32)
        _reflectance_kernel(
            np.ascontiguousarray(toa, dtype=np.float32), _environment(toa, environment),
            state_map, self._mask(toa, mask), self.elevation_m,
            self.rows, self.cols, self.step, self.levels_m, coefficients,
            np.asarray(nodes, dtype=np.float64), out,
        )  # fmt: skip
        return out

    def balance(
        self,
        toa_a: np.ndarray,
        coefficients_a: np.ndarray,
        toa_b: np.ndarray,
        coefficients_b: np.ndarray,
        nodes: np.ndarray,
        *,
        environment: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
        ratio: float,
        offset: float = 0.0,
        mask: np.ndarray | None = None,
        clamp: bool = True,
    ) -> np.ndarray:
        """Per pixel, the state on ``nodes`` where ``rho_a = ratio * rho_b + offset``.

        Linear between the bracketing nodes, found by bisection (one crossing where the
        mismatch is not monotonic). Where the two end nodes do not bracket a crossing: with
        ``clamp`` the end of the smaller mismatch (right for a monotonic mismatch), else NaN.
        NaN outside ``mask``. ``environment``: adjacency-box means of ``toa_a`` and ``toa_b``.
        """
        out = np.full(self.shape, np.nan, dtype=np.float32)
        mask = self._mask(toa_a, mask) & np.isfinite(toa_b)
        _balance_kernel(
            np.ascontiguousarray(toa_a, dtype=np.float32), _environment(toa_a, environment[0]),
            np.ascontiguousarray(toa_b, dtype=np.float32), _environment(toa_b, environment[1]),
            float(ratio), float(offset), clamp, mask,
            self.elevation_m, self.rows, self.cols, self.step, self.levels_m,
            coefficients_a, coefficients_b,
            np.asarray(nodes, dtype=np.float64), out,
        )  # fmt: skip
        return out

    def _mask(self, toa: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        finite = np.isfinite(toa)
        return np.ascontiguousarray(finite if mask is None else finite & mask)


def _environment(toa: np.ndarray, environment: np.ndarray | None) -> np.ndarray:
    """The environment TOA for the kernels (the pixel itself: no adjacency correction)."""
    source = toa if environment is None else environment
    return np.ascontiguousarray(source, dtype=np.float32)


def _node_states(values: np.ndarray | float) -> np.ndarray:
    """``(rows, cols, 1, state)`` from a scalar, a state vector, a node map or a node x state
    array."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim <= 1:
        return np.reshape(array, (1, 1, 1, -1))
    return array[:, :, None, None] if array.ndim == 2 else array[:, :, None, :]


@njit(cache=True, nogil=True)
def _lower(nodes, step, x):
    """Lower node of ``x`` on ``nodes`` (``step`` apart but the last interval) and its weight."""
    k = min(int(x / step), nodes.size - 2)
    return k, min(max((x - nodes[k]) / (nodes[k + 1] - nodes[k]), 0.0), 1.0)


@njit(cache=True, nogil=True)
def _position(rows, cols, step, i, j, z, levels, out):  # noqa: PLR0917
    """Lower node row/column/level of pixel ``(i, j)`` and their weights, into ``out[6]``."""
    nlev = levels.size
    out[0], out[3] = _lower(rows, step, i)
    out[1], out[4] = _lower(cols, step, j)
    out[2], out[5] = 0.0, 0.0
    if nlev > 1:
        zc = min(max(z, levels[0]), levels[-1])
        k0 = min(np.searchsorted(levels, zc, side="right") - 1, nlev - 2)
        out[2], out[5] = k0, (zc - levels[k0]) / (levels[k0 + 1] - levels[k0])


@njit(cache=True, nogil=True)
def _node_coefficients(coefficients, position, node, out):
    """The coefficients of one state at a pixel's ``position``: trilinear over nodes and
    levels."""
    i0, j0, k0 = int(position[0]), int(position[1]), int(position[2])
    wy, wx, wz = position[3], position[4], position[5]
    out[:] = 0.0
    for di in range(2):
        w_i = wy if di else 1.0 - wy
        if w_i == 0.0:
            continue
        for dj in range(2):
            w_ij = w_i * (wx if dj else 1.0 - wx)
            if w_ij == 0.0:
                continue
            for dk in range(2):
                w = w_ij * (wz if dk else 1.0 - wz)
                if w == 0.0:
                    continue
                corner = coefficients[i0 + di, j0 + dj, k0 + dk, node]
                for m in range(out.size):
                    out[m] += w * corner[m]


@njit(cache=True, nogil=True)
def _flat(toa, c):
    """Lambertian surface reflectance from one node's ``(ln a, b, S)``."""
    y = np.exp(c[0]) * toa - c[1]
    return y / (1.0 + c[2] * y)


@njit(cache=True, nogil=True)
def _surface(toa, environment, coefficients, position, node, c):  # noqa: PLR0917
    """Surface reflectance at one node with ATCOR's adjacency correction ``rho + q (rho -
    rho_env)``."""
    _node_coefficients(coefficients, position, node, c)
    rho = _flat(toa, c)
    return rho + c[3] * (rho - _flat(environment, c))


@njit(cache=True, nogil=True, parallel=True)
def _reflectance_kernel(  # noqa: PLR0917 - numba kernels take positional arguments
    toa, env, state, mask, z, rows, cols, step, levels, coefficients, nodes, out
):
    """Surface reflectance at a per-pixel state, linear between the bracketing nodes."""
    n_nodes = nodes.size
    for i in prange(toa.shape[0]):
        position = np.empty(6)
        c = np.empty(coefficients.shape[4])
        for j in range(toa.shape[1]):
            if not mask[i, j]:
                continue
            _position(rows, cols, step, i, j, z[i, j], levels, position)
            t, e = toa[i, j], env[i, j]
            if n_nodes == 1:
                out[i, j] = _surface(t, e, coefficients, position, 0, c)
                continue
            s = min(max(state[i, j], nodes[0]), nodes[-1])
            k = min(np.searchsorted(nodes, s, side="right") - 1, n_nodes - 2)
            w = (s - nodes[k]) / (nodes[k + 1] - nodes[k])
            low = _surface(t, e, coefficients, position, k, c)
            high = _surface(t, e, coefficients, position, k + 1, c)
            out[i, j] = (1.0 - w) * low + w * high


@njit(cache=True, nogil=True, parallel=True)
def _balance_kernel(  # noqa: PLR0917 - numba kernels take positional arguments
    toa_a, env_a, toa_b, env_b, ratio, offset, clamp, mask, z, rows, cols, step, levels,
    coeff_a, coeff_b, nodes, out,
):  # fmt: skip
    """State where ``rho_a - ratio * rho_b - offset`` changes sign (:meth:`StateGrid.balance`):
    bisection over the nodes between the two ends, then linear between the bracketing pair."""
    n_nodes = nodes.size
    for i in prange(toa_a.shape[0]):
        position = np.empty(6)
        c = np.empty(coeff_a.shape[4])
        for j in range(toa_a.shape[1]):
            if not mask[i, j]:
                continue
            _position(rows, cols, step, i, j, z[i, j], levels, position)
            ta, ea, tb, eb = toa_a[i, j], env_a[i, j], toa_b[i, j], env_b[i, j]
            low, high = 0, n_nodes - 1
            f_low = (
                _surface(ta, ea, coeff_a, position, low, c)
                - ratio * _surface(tb, eb, coeff_b, position, low, c)
                - offset
            )
            f_high = (_surface(ta, ea, coeff_a, position, high, c)
                      - ratio * _surface(tb, eb, coeff_b, position, high, c) - offset)  # fmt: skip
            if (f_low <= 0.0) == (f_high <= 0.0):
                result = np.nan
                if clamp:
                    result = nodes[low] if abs(f_low) <= abs(f_high) else nodes[high]
                out[i, j] = result
                continue
            while high - low > 1:
                mid = (low + high) // 2
                f_mid = _surface(ta, ea, coeff_a, position, mid, c) - offset
                f_mid -= ratio * _surface(tb, eb, coeff_b, position, mid, c)
                if (f_mid <= 0.0) == (f_low <= 0.0):
                    low, f_low = mid, f_mid
                else:
                    high, f_high = mid, f_mid
            out[i, j] = nodes[low] + (nodes[high] - nodes[low]) * f_low / (f_low - f_high)
