"""Per-pixel Lambertian inversion without a table look-up per pixel.

The 6S table is evaluated once on a coarse node grid: geometry cells of about :data:`CELL_M`
(sun and view angles vary by < 0.05 deg per km across a tile), the table's own elevation nodes
spanning the scene, and a list of atmospheric states (AOT550 or water-vapour candidates). Each
node keeps four numbers: those of the inversion of :class:`core.atmosphere.lut.LutTerms`::

    y = a * toa - b,  rho = y / (1 + S * y)   with  a = 1/(Tg T_down T_up),  b = path/(T_down T_up)

and the adjacency ratio ``q = T_dif_up / T_dir_up``: with the environment TOA (the box mean over
``Adj_Km``, :mod:`core.atmospheric_correction.adjacency`) the pixel's reflectance is ATCOR's
``rho + q (rho - rho_env)`` (first order of the simulator's and 6S's forward model, whose
environment term is ``rho_env T_dif_up``). A numba kernel interpolates them per pixel (bilinear
between cell centres, linear between elevation nodes; ``ln a`` as the table interpolates its
transmittances in logarithm) and either evaluates the surface reflectance at a per-pixel state
or finds the state at which two bands balance, ``rho_a = k * rho_b + c`` (DDV: red = 0.5 SWIR;
APDA: B09 = B8A).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from core.atmosphere.lut import RadiativeTransferLut
from core.atmospheric_correction.observation import AngleField, Observation

CELL_M = 1500.0
"""Geometry cell size (m): MSI view zenith changes by ~0.04 deg/km across the swath and the sun
by less, so a cell's mean angles stand for all its pixels within 0.05 deg."""
N_COEFFICIENTS = 4
"""``ln a``, ``b``, ``S``, ``q`` (module docstring)."""
MAX_CELLS = 48
"""At most this many cells per axis (a whole 110 km tile: 2.3 km cells, still < 0.1 deg)."""


def _cell_mean(field: AngleField, shape: tuple[int, int], block: int) -> np.ndarray:
    """NaN-aware mean of ``field`` over ``block`` x ``block`` cells (edge cells partial)."""
    values = np.broadcast_to(np.asarray(field, dtype=np.float64), shape)
    ny, nx = -(-shape[0] // block), -(-shape[1] // block)
    padded = np.full((ny * block, nx * block), np.nan)
    padded[: shape[0], : shape[1]] = values
    blocks = padded.reshape(ny, block, nx, block)
    finite = np.isfinite(blocks)
    count = finite.sum(axis=(1, 3))
    total = np.where(finite, blocks, 0.0).sum(axis=(1, 3))
    mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    overall = np.nanmean(values) if np.isfinite(values).any() else 0.0
    return np.where(np.isfinite(mean), mean, overall)


@dataclass(frozen=True)
class StateGrid:
    """Geometry cells and elevation nodes of one working grid (see the module docstring)."""

    observation: Observation
    shape: tuple[int, int]
    block: int
    """Working-grid pixels per cell side."""
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
        """Cells of about :data:`CELL_M` over ``shape``; geometry clamped as Sen2Cor does."""
        cell_px = max(1, round(CELL_M / observation.resolution))
        block = max(cell_px, -(-max(shape) // MAX_CELLS))
        z = np.asarray(elevation_m, dtype=np.float32)
        z = np.full(shape, float(z), np.float32) if z.ndim == 0 else np.ascontiguousarray(z)
        z = np.where(np.isfinite(z), z, np.nanmean(z) if np.isfinite(z).any() else 0.0)
        nodes = lut.axis("elevation_km") * 1000.0
        lo = int(np.searchsorted(nodes, float(z.min()), side="right")) - 1
        hi = int(np.searchsorted(nodes, float(z.max()), side="left"))
        levels = nodes[max(lo, 0) : min(max(hi, lo + 1), nodes.size - 1) + 1]
        return cls(
            observation, shape, block, z.astype(np.float32), levels.astype(np.float64),
            max_sun_zenith_deg, max_view_zenith_deg,
        )  # fmt: skip

    @property
    def cells(self) -> tuple[int, int]:
        """Number of cell rows and columns."""
        return -(-self.shape[0] // self.block), -(-self.shape[1] // self.block)

    def cell_mean(self, field: np.ndarray | float) -> np.ndarray:
        """Mean of a working-grid field (or a scalar) per cell, shape :attr:`cells`."""
        return _cell_mean(field, self.shape, self.block)

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
        """``[cell row, cell col, level, node, (ln a, b, S, q)]`` of ``band``.

        ``aot550`` and ``wv_cm`` broadcast to ``(cell rows, cell cols, node)``: a node axis of
        candidate states and/or per-cell values.
        """
        obs = self.observation
        view_zenith, _ = obs.view_angles(band)
        sun = np.minimum(self.cell_mean(obs.sun_zenith_deg), self.max_sun_zenith_deg)
        view = np.minimum(self.cell_mean(view_zenith), self.max_view_zenith_deg)
        azimuth = self.cell_mean(obs.relative_azimuth_deg(band))
        cell = (slice(None), slice(None), None, None)
        aot, wv = _node_states(aot550), _node_states(wv_cm)
        terms = lut.interpolate(
            obs.sensor, aerosol, band,
            sun_zenith_deg=sun[cell], view_zenith_deg=view[cell],
            relative_azimuth_deg=azimuth[cell], aot550=aot,
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
        shape = (*self.cells, self.levels_m.size, out.shape[3], N_COEFFICIENTS)
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
        state_map = np.broadcast_to(np.asarray(state, dtype=np.float32), self.shape)
        out = np.full(self.shape, np.nan, dtype=np.float32)
        _reflectance_kernel(
            np.ascontiguousarray(toa, dtype=np.float32), _environment(toa, environment),
            np.ascontiguousarray(state_map), self._mask(toa, mask), self.elevation_m, self.block,
            self.levels_m, coefficients, np.asarray(nodes, dtype=np.float64), out,
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
            self.elevation_m, self.block, self.levels_m, coefficients_a, coefficients_b,
            np.asarray(nodes, dtype=np.float64), out,
        )  # fmt: skip
        return out

    def _mask(self, toa: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        finite = np.isfinite(toa)
        return np.ascontiguousarray(finite if mask is None else finite & mask)


def subdivided(axis: np.ndarray, step: float) -> np.ndarray:
    """The nodes of ``axis`` with each interval split into steps of at most ``step``."""
    parts = [
        np.linspace(a, b, max(1, int(np.ceil((b - a) / step - 1e-9))) + 1)[:-1]
        for a, b in itertools.pairwise(axis)
    ]
    return np.concatenate([*parts, axis[-1:]])


def _environment(toa: np.ndarray, environment: np.ndarray | None) -> np.ndarray:
    """The environment TOA for the kernels (the pixel itself: no adjacency correction)."""
    source = toa if environment is None else environment
    return np.ascontiguousarray(source, dtype=np.float32)


def _node_states(values: np.ndarray | float) -> np.ndarray:
    """``(rows, cols, 1, node)`` from a scalar, a node vector, a cell map or a cell x node array."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim <= 1:
        return np.reshape(array, (1, 1, 1, -1))
    return array[:, :, None, None] if array.ndim == 2 else array[:, :, None, :]


@njit(cache=True, nogil=True)
def _position(shape, i, j, block, z, levels, out):  # noqa: PLR0917
    """Lower cell row/column/level of pixel ``(i, j)`` and their weights, into ``out[6]``."""
    ny, nx, nlev = shape[0], shape[1], levels.size
    fy = min(max((i + 0.5) / block - 0.5, 0.0), ny - 1.0)
    fx = min(max((j + 0.5) / block - 0.5, 0.0), nx - 1.0)
    out[0] = min(int(fy), max(ny - 2, 0))
    out[1] = min(int(fx), max(nx - 2, 0))
    out[3], out[4] = fy - out[0], fx - out[1]
    out[2], out[5] = 0.0, 0.0
    if nlev > 1:
        zc = min(max(z, levels[0]), levels[-1])
        k0 = min(np.searchsorted(levels, zc, side="right") - 1, nlev - 2)
        out[2], out[5] = k0, (zc - levels[k0]) / (levels[k0 + 1] - levels[k0])


@njit(cache=True, nogil=True)
def _node_coefficients(coefficients, position, node, out):
    """The coefficients of one node at a pixel's ``position``: trilinear over cells and levels."""
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
def _reflectance_kernel(toa, env, state, mask, z, block, levels, coefficients, nodes, out):  # noqa: PLR0917
    """Surface reflectance at a per-pixel state, linear between the bracketing nodes."""
    n_nodes = nodes.size
    for i in prange(toa.shape[0]):
        position = np.empty(6)
        c = np.empty(coefficients.shape[4])
        for j in range(toa.shape[1]):
            if not mask[i, j]:
                continue
            _position(coefficients.shape, i, j, block, z[i, j], levels, position)
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
    toa_a, env_a, toa_b, env_b, ratio, offset, clamp, mask, z, block, levels, coeff_a, coeff_b,
    nodes, out,
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
            _position(coeff_a.shape, i, j, block, z[i, j], levels, position)
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
