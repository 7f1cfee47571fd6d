"""Per-pixel inversion of the Lambertian radiative transfer with adjacency and terrain.

The forward model (6S coupling, ATCOR's rugged-terrain irradiance; the same physics as the
simulator, :mod:`core.simulate.forward`)::

    E   = T_dir_down * cos(i) / cos(theta_s) + T_dif_down * V_sky
          + T_down * S * rho_env / (1 - S * rho_env)
    TOA = T_gas * (rho_path + E * (rho * T_dir_up + rho_env * T_dif_up))

is solved for the surface reflectance ``rho`` given the environment reflectance ``rho_env``::

    rho = ((TOA / T_gas - rho_path) / E - rho_env * T_dif_up) / T_dir_up

``cos(i) / cos(theta_s)`` (0 in shadow) and ``V_sky`` are 1 on flat ground. Without an
environment (the first pass) ``rho_env`` is the pixel's own reflectance: on flat ground 6S's
homogeneous inversion ``y / (1 + S y)``, ``y = (TOA / T_gas - rho_path) / (T_down T_up)``; on
terrain a few fixed-point steps of the equation above with ``rho_env = rho`` from there.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from core.atmosphere.lut import AOT_OFFSET
from core.atmospheric_correction.terms import WV_STEP_CM, TermGrid

_N_TERMS = 7
SELF_ENVIRONMENT_ITERATIONS = 4
"""Fixed-point steps of the first pass on terrain, environment = the pixel's own reflectance
(flat ground needs none: 6S's inversion is exact there)."""


@njit(cache=True, nogil=True)
def _locate(nodes: np.ndarray, step: float, x: float) -> tuple[int, float]:
    """Lower node and weight of ``x`` on ``nodes`` (``step`` apart but the last interval)."""
    n = nodes.shape[0]
    if n == 1:
        return 0, 0.0
    k = min(int(x / step), n - 2)
    k = max(k, 0)
    w = (x - nodes[k]) / (nodes[k + 1] - nodes[k])
    return k, min(max(w, 0.0), 1.0)


@njit(cache=True, nogil=True)
def _locate_sorted(nodes: np.ndarray, x: float) -> tuple[int, float]:
    """Lower node and weight of ``x`` on increasing ``nodes`` (clamped)."""
    n = nodes.shape[0]
    if n == 1:
        return 0, 0.0
    k = min(max(np.searchsorted(nodes, x, side="right") - 1, 0), n - 2)
    w = (x - nodes[k]) / (nodes[k + 1] - nodes[k])
    return k, min(max(w, 0.0), 1.0)


@njit(cache=True, nogil=True)
def _pixel(a: np.ndarray, i: int, j: int) -> float:
    """``a[i, j]``, or the single value of a 1 x 1 array (a constant field)."""
    if a.shape[0] == 1 and a.shape[1] == 1:
        return a[0, 0]
    return a[i, j]


@njit(cache=True, nogil=True)
def _terms_kernel(  # noqa: PLR0917 - numba kernels take positional arguments
    values: np.ndarray,
    row_nodes: np.ndarray,
    col_nodes: np.ndarray,
    z_nodes: np.ndarray,
    aot_nodes: np.ndarray,
    wv_nodes: np.ndarray,
    wv_step: float,
    step: float,
    row0: int,
    col0: int,
    elevation: np.ndarray,
    aot: np.ndarray,
    wv: np.ndarray,
    out: np.ndarray,
) -> None:
    """Terms ``out[term, i, j]`` of each window pixel from the node grid ``values``.

    ``aot_nodes`` are ``ln(AOT550 + AOT_OFFSET)``; ``wv_nodes`` the WV of the first WV layer at
    each x/y node, the second ``wv_step`` more. ``elevation``, ``aot`` and ``wv`` are window
    arrays or 1 x 1.
    """
    n_r, n_c = out.shape[1], out.shape[2]
    n_a = 2 if aot_nodes.shape[0] > 1 else 1
    n_z = 2 if z_nodes.shape[0] > 1 else 1
    c_first, _ = _locate(col_nodes, step, float(col0))
    c_last, _ = _locate(col_nodes, step, float(col0 + n_c - 1))
    # the node rows above and below the current pixel row, blended (x/y bilinear in two steps)
    row = np.empty((values.shape[0], values.shape[1], 2, c_last - c_first + 2, _N_TERMS))
    t = np.empty(_N_TERMS)
    for i in range(n_r):
        kr, wr = _locate(row_nodes, step, float(row0 + i))
        for a in range(values.shape[0]):
            for z in range(values.shape[1]):
                for w in range(2):
                    for c in range(row.shape[3]):
                        for m in range(_N_TERMS):
                            row[a, z, w, c, m] = (1.0 - wr) * values[
                                a, z, w, kr, c_first + c, m
                            ] + wr * values[a, z, w, kr + 1, c_first + c, m]
        for j in range(n_c):
            kc, wc = _locate(col_nodes, step, float(col0 + j))
            kz, wz = _locate_sorted(z_nodes, _pixel(elevation, i, j))
            ka, wa = _locate_sorted(aot_nodes, np.log(_pixel(aot, i, j) + AOT_OFFSET))
            w_top = wv_nodes[kr, kc] * (1.0 - wc) + wv_nodes[kr, kc + 1] * wc
            w_bottom = wv_nodes[kr + 1, kc] * (1.0 - wc) + wv_nodes[kr + 1, kc + 1] * wc
            ww = (_pixel(wv, i, j) - (w_top * (1.0 - wr) + w_bottom * wr)) / wv_step
            kc -= c_first
            for m in range(_N_TERMS):
                t[m] = 0.0
            for da in range(n_a):
                fa = wa if da else 1.0 - wa
                for dz in range(n_z):
                    fz = fa * (wz if dz else 1.0 - wz)
                    for dw in range(2):
                        fw = fz * (ww if dw else 1.0 - ww)
                        for dc in range(2):
                            f = fw * (wc if dc else 1.0 - wc)
                            if f == 0.0:
                                continue
                            corner = row[ka + da, kz + dz, dw, kc + dc]
                            for m in range(_N_TERMS):
                                t[m] += f * corner[m]
            for m in range(_N_TERMS):
                out[m, i, j] = t[m]


@njit(cache=True, nogil=True)
def _invert_kernel(toa, terms, environment, illumination, sky_view, out):  # noqa: PLR0917
    """Surface reflectance of a window (module docstring) from its per-pixel ``terms``; NaN TOA
    gives NaN. ``environment``, ``illumination`` (``cos(i)/cos(theta_s)``) and ``sky_view`` are
    window arrays, or 0 x 0 when absent (own reflectance as environment; flat ground)."""
    n_r, n_c = toa.shape
    has_env = environment.shape[0] > 0
    flat = illumination.shape[0] == 0
    for i in range(n_r):
        for j in range(n_c):
            rho_toa = toa[i, j]
            if np.isnan(rho_toa):
                out[i, j] = np.nan
                continue
            path, gas = terms[0, i, j], terms[1, i, j]
            d_dir, d_dif = terms[2, i, j], terms[3, i, j]
            u_dir, u_dif, sph = terms[4, i, j], terms[5, i, j], terms[6, i, j]
            x = rho_toa / gas - path
            d_tot = d_dir + d_dif
            if flat:
                direct = d_dir
                diffuse = d_dif
            else:
                direct = d_dir * illumination[i, j]
                diffuse = d_dif * sky_view[i, j]
            if has_env:
                env = environment[i, j]
                irradiance = direct + diffuse + d_tot * sph * env / (1.0 - sph * env)
                out[i, j] = (x / irradiance - env * u_dif) / u_dir
                continue
            y = x / (d_tot * (u_dir + u_dif))
            rho = y / (1.0 + sph * y)
            if not flat:
                for _ in range(SELF_ENVIRONMENT_ITERATIONS):
                    irradiance = direct + diffuse + d_tot * sph * rho / (1.0 - sph * rho)
                    rho = (x / irradiance - rho * u_dif) / u_dir
            out[i, j] = rho


_EMPTY = np.empty((0, 0), dtype=np.float32)


def _field(values: np.ndarray | float) -> np.ndarray:
    """A float64 window array, or a 1 x 1 array for one value."""
    array = np.asarray(values, dtype=np.float64)
    return array.reshape(1, 1) if array.ndim == 0 else array


def pixel_terms(
    terms: TermGrid,
    shape: tuple[int, int],
    window_offset: tuple[int, int],
    *,
    elevation_m: np.ndarray | float,
    aot550: np.ndarray | float,
    wv_cm: np.ndarray | float,
) -> np.ndarray:
    """float32 ``[term, row, col]`` (:data:`~.terms.TERMS`) of a ``shape`` window at
    ``window_offset`` (row, col) in the grid of ``terms``; the state arrays are window arrays
    or one value for all pixels."""
    out = np.empty((_N_TERMS, *shape), dtype=np.float32)
    _terms_kernel(
        terms.values,
        terms.row_nodes,
        terms.col_nodes,
        terms.elevation_nodes_m,
        np.log(terms.aot_nodes + AOT_OFFSET),
        terms.wv_nodes,
        WV_STEP_CM,
        float(terms.step),
        int(window_offset[0]),
        int(window_offset[1]),
        _field(elevation_m),
        _field(aot550),
        _field(wv_cm),
        out,
    )
    return out


def invert(
    toa: np.ndarray,
    terms: np.ndarray,
    *,
    environment: np.ndarray | None = None,
    terrain: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Surface reflectance (float32) of a TOA window with its :func:`pixel_terms`.

    Parameters
    ----------
    environment
        Environment reflectance ``rho_env`` (:mod:`core.atmospheric_correction.adjacency`);
        ``None``: each pixel's own flat homogeneous reflectance (no adjacency).
    terrain
        ``cos(i) / cos(theta_s)`` (0 in self or cast shadow) and the sky-view factor; ``None``:
        flat ground.
    """
    toa = np.asarray(toa, dtype=np.float32)
    out = np.empty(toa.shape, dtype=np.float32)
    illumination, sky_view = terrain if terrain is not None else (_EMPTY, _EMPTY)
    _invert_kernel(
        toa,
        terms,
        _EMPTY if environment is None else np.asarray(environment, dtype=np.float32),
        np.asarray(illumination, dtype=np.float32),
        np.asarray(sky_view, dtype=np.float32),
        out,
    )
    return out
