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

One fused numba kernel interpolates the terms of each pixel from the node grid
(:mod:`~.terms`: bilinear in x/y, linear in elevation, ``ln(AOT550 + AOT_OFFSET)`` and water
vapour) and inverts at once: no per-pixel term array. The x/y part is hoisted out of the pixel
loop (node rows blended once per pixel row, node columns located once per window column); the
pixels of a row that share a node cell share its 16 corner values, so the interpolation runs as
contiguous arithmetic over them (vectorised by LLVM).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from core.atmosphere.lut import AOT_OFFSET
from core.atmospheric_correction.terms import WV_STEP_CM, TermGrid

_N_TERMS = 7

SELF_ENVIRONMENT_ITERATIONS = 4
"""Fixed-point steps of the first pass on terrain, environment = the pixel's own reflectance
(flat ground needs none: 6S's inversion is exact there)."""


_BLOCK = 16
"""Pixels per vectorised block of :func:`_row_terms` (one AVX-512 vector of float32)."""
_ONE = np.float32(1.0)
"""float32 one: a float64 literal would widen the float32 row arithmetic (and halve its SIMD
width)."""


@njit(cache=True, nogil=True, error_model="numpy")
def _locate(nodes: np.ndarray, step: float, x: float) -> tuple[int, float]:
    """Lower node and weight of ``x`` on ``nodes`` (``step`` apart but the last interval)."""
    n = nodes.shape[0]
    if n == 1:
        return 0, 0.0
    k = max(min(int(x / step), n - 2), 0)
    w = (x - nodes[k]) / (nodes[k + 1] - nodes[k])
    return k, min(max(w, 0.0), 1.0)


@njit(cache=True, nogil=True, error_model="numpy")
def _hunt(nodes: np.ndarray, x: float, k: int) -> int:
    """Lower node of ``x`` on increasing ``nodes`` (clamped to the last interval), searched from
    node ``k``: the previous pixel's, as neighbours are one or no node apart."""
    n = nodes.shape[0]
    while k > 0 and x < nodes[k]:
        k -= 1
    while k < n - 2 and x >= nodes[k + 1]:
        k += 1
    return k


@njit(cache=True, nogil=True, error_model="numpy")
def _log1p(u: float) -> float:
    """``ln(1 + u)`` to 1e-8 for ``|u| <= 0.125`` (Taylor series to ``u**7``: no libm call in
    the pixel loop); increasing in ``u``, so weights outside the interval still clamp right."""
    tail = 1 / 4 - u * (1 / 5 - u * (1 / 6 - u / 7))
    return u * (1.0 - u * (1 / 2 - u * (1 / 3 - u * tail)))


@njit(cache=True, nogil=True, error_model="numpy")
def _node_indices(kc, z_px, z_nodes, a_px, aot_nodes, ka, kz):  # noqa: PLR0917
    """Elevation and AOT node of each pixel of a row (searched from the previous pixel's)."""
    a, z = ka[0], kz[0]
    for j in range(kc.shape[0]):
        z = _hunt(z_nodes, z_px[j], z)
        a = _hunt(aot_nodes, a_px[j], a)
        kz[j], ka[j] = z, a


@njit(cache=True, nogil=True, error_model="numpy")
def _row_terms(  # noqa: PLR0917
    row, kc, wc, ka, kz, z_px, a_px, w_px, wv_row, wv_step, z_nodes, z_scale, aot_nodes,
    aot_scale, aot_span, weights, terms,
):  # fmt: skip
    """``terms[term, j]`` (float32) of the pixels of one row from its y-blended node row ``row``
    ``[AOT, elevation, WV layer, column node, term]``.

    Runs of pixels sharing their node cell (column, AOT, elevation) share its 16 corner values,
    so the loops over a run's pixels are plain arithmetic on contiguous rows, which LLVM
    vectorises (per-pixel gathers of the corners would not be). They run in blocks of
    :data:`_BLOCK` pixels, the last one past the run's end (the next run overwrites those
    pixels; the scratch rows are :data:`_BLOCK` longer than the window): a constant trip count
    leaves LLVM no scalar remainder loop, which would otherwise take most of a 30-60 pixel run.

    The weights: linear in elevation; in WV from the node's first layer (bilinear ``wv_row``)
    ``wv_step`` apart; in ``ln(AOT550 + AOT_OFFSET)``, i.e. ``ln(1 + (aot - A_k) / (A_k +
    AOT_OFFSET)) / ln((A_k+1 + AOT_OFFSET) / (A_k + AOT_OFFSET))`` with ``aot_scale`` and
    ``aot_span`` the reciprocals of the denominators (sub-nodes ``AOT_STEP`` = 0.05 apart keep
    the series argument < 0.125).
    """
    n_a, n_z, n_c = row.shape[0], row.shape[1], kc.shape[0]
    j0 = 0
    while j0 < n_c:
        c, a0, z0 = kc[j0], ka[j0], kz[j0]
        j1 = j0 + 1
        while j1 < n_c and kc[j1] == c and ka[j1] == a0 and kz[j1] == z0:
            j1 += 1
        a1, z1 = min(a0 + 1, n_a - 1), min(z0 + 1, n_z - 1)
        z_low, z_inv = z_nodes[z0], z_scale[z0]
        a_low, a_inv, a_span = aot_nodes[a0], aot_scale[a0], aot_span[a0]
        wv_low, wv_slope = wv_row[c], wv_row[c + 1] - wv_row[c]
        for b in range(j0, j1, _BLOCK):
            x, zw, aw, ww = wc[b:], weights[0, b:], weights[1, b:], weights[2, b:]
            z_run, a_run, w_run = z_px[b:], a_px[b:], w_px[b:]
            for j in range(_BLOCK):
                zw[j] = min(max((z_run[j] - z_low) * z_inv, 0.0), 1.0)
                aw[j] = min(max(_log1p((a_run[j] - a_low) * a_inv) * a_span, 0.0), 1.0)
                ww[j] = (w_run[j] - (wv_low + x[j] * wv_slope)) / wv_step
        for m in range(_N_TERMS):
            v000, v001 = row[a0, z0, 0, c, m], row[a0, z0, 1, c, m]
            v100, v101 = row[a1, z0, 0, c, m], row[a1, z0, 1, c, m]
            d000, d001 = row[a0, z0, 0, c + 1, m] - v000, row[a0, z0, 1, c + 1, m] - v001
            d100, d101 = row[a1, z0, 0, c + 1, m] - v100, row[a1, z0, 1, c + 1, m] - v101
            v010, v011 = row[a0, z1, 0, c, m], row[a0, z1, 1, c, m]
            v110, v111 = row[a1, z1, 0, c, m], row[a1, z1, 1, c, m]
            d010, d011 = row[a0, z1, 0, c + 1, m] - v010, row[a0, z1, 1, c + 1, m] - v011
            d110, d111 = row[a1, z1, 0, c + 1, m] - v110, row[a1, z1, 1, c + 1, m] - v111
            for b in range(j0, j1, _BLOCK):
                x, zw, aw, ww = wc[b:], weights[0, b:], weights[1, b:], weights[2, b:]
                out = terms[m, b:]
                if z1 == z0:  # one elevation layer (flat ground): 8 corners
                    for j in range(_BLOCK):
                        e0 = v000 + x[j] * d000
                        e0 += ww[j] * (v001 + x[j] * d001 - e0)
                        e1 = v100 + x[j] * d100
                        e1 += ww[j] * (v101 + x[j] * d101 - e1)
                        out[j] = e0 + aw[j] * (e1 - e0)
                    continue
                for j in range(_BLOCK):
                    e00 = v000 + x[j] * d000
                    e00 += ww[j] * (v001 + x[j] * d001 - e00)
                    e01 = v010 + x[j] * d010
                    e01 += ww[j] * (v011 + x[j] * d011 - e01)
                    e10 = v100 + x[j] * d100
                    e10 += ww[j] * (v101 + x[j] * d101 - e10)
                    e11 = v110 + x[j] * d110
                    e11 += ww[j] * (v111 + x[j] * d111 - e11)
                    e00 += zw[j] * (e01 - e00)
                    e10 += zw[j] * (e11 - e10)
                    out[j] = e00 + aw[j] * (e10 - e00)
        j0 = j1


@njit(cache=True, nogil=True, error_model="numpy")
def _invert_row(i, toa, t, illumination, sky_view, out, coefficients):  # noqa: PLR0917
    """First-pass surface reflectance of window row ``i`` from its terms ``t`` (module
    docstring; NaN TOA gives NaN); ``illumination`` (``cos(i)/cos(theta_s)``) and ``sky_view``
    are window arrays, or 0 x 0 on flat ground. Unless 0 x 0 x 0, ``coefficients`` receives the
    row's ``a, S, q`` (and ``b`` on terrain) of :func:`_adjacent_kernel`.

    One branch-free float32 loop per case, the terms indexed as ``t[term, j]`` (one array for
    LLVM's alias checks, which it gives up on beyond 8 arrays): LLVM vectorises each loop."""
    toa_row, out_row = toa[i], out[i]
    n_c = toa_row.shape[0]
    keep = coefficients.shape[0] > 0
    if illumination.shape[0] == 0:
        for j in range(n_c):
            y = (toa_row[j] / t[1, j] - t[0, j]) / ((t[2, j] + t[3, j]) * (t[4, j] + t[5, j]))
            out_row[j] = y / (_ONE + t[6, j] * y)
    else:
        lit_row, sky_row = illumination[i], sky_view[i]
        for j in range(n_c):
            x = toa_row[j] / t[1, j] - t[0, j]
            d_tot = t[2, j] + t[3, j]
            y = x / (d_tot * (t[4, j] + t[5, j]))
            rho = y / (_ONE + t[6, j] * y)
            lit = t[2, j] * lit_row[j] + t[3, j] * sky_row[j]
            for _ in range(SELF_ENVIRONMENT_ITERATIONS):
                irradiance = lit + d_tot * t[6, j] * rho / (_ONE - t[6, j] * rho)
                rho = (x / irradiance - rho * t[5, j]) / t[4, j]
            out_row[j] = rho
    if keep:
        for j in range(n_c):
            d_tot = t[2, j] + t[3, j]
            coefficients[0, i, j] = (toa_row[j] / t[1, j] - t[0, j]) / (d_tot * t[4, j])
            coefficients[1, i, j] = t[6, j]
            coefficients[2, i, j] = t[5, j] / t[4, j]
        if illumination.shape[0] > 0:
            lit_row, sky_row = illumination[i], sky_view[i]
            for j in range(n_c):
                lit = t[2, j] * lit_row[j] + t[3, j] * sky_row[j]
                coefficients[3, i, j] = lit / (t[2, j] + t[3, j])


@njit(cache=True, nogil=True, error_model="numpy")
def _adjacent_kernel(coefficients, environment, out):
    """Surface reflectance with the environment ``e`` (module docstring) from the first pass's
    per-pixel ``a = (TOA / T_gas - rho_path) / (T_down T_dir_up)``, ``S``, ``q = T_dif_up /
    T_dir_up`` and (terrain) ``b = (T_dir_down cos(i) / cos(theta_s) + T_dif_down V_sky) /
    T_down``::

        rho = a / (b + S e / (1 - S e)) - q e      (flat: b = 1, rho = a (1 - S e) - q e)
    """
    flat = coefficients.shape[0] == 3
    for i in range(out.shape[0]):
        a, sph, q = coefficients[0, i], coefficients[1, i], coefficients[2, i]
        env = environment[i]
        row = out[i]
        if flat:
            for j in range(row.shape[0]):
                row[j] = a[j] * (_ONE - sph[j] * env[j]) - q[j] * env[j]
        else:
            b = coefficients[3, i]
            for j in range(row.shape[0]):
                e = env[j]
                row[j] = a[j] / (b[j] + sph[j] * e / (_ONE - sph[j] * e)) - q[j] * e


@njit(cache=True, nogil=True, error_model="numpy")
def _correct_kernel(  # noqa: PLR0917 - numba kernels take positional arguments
    toa, values, row_nodes, col_nodes, step, row0, col0, z_nodes, z_scale, aot_nodes, aot_scale,
    aot_span, wv_nodes, wv_step, elevation, aot, wv, illumination, sky_view, pixel_rows,
    weights, terms, out, coefficients,
):  # fmt: skip
    """First-pass surface reflectance ``out`` of the TOA window at ``(row0, col0)`` of the node
    grid.

    ``values`` ``[AOT, elevation, WV layer, row node, column node, term]`` (:class:`TermGrid`);
    ``z_scale`` the reciprocal elevation node spacings (0 for one node), ``aot_scale`` and
    ``aot_span`` those of :func:`_row_terms`; ``wv_nodes`` the WV of the first layer at each
    node, the second ``wv_step`` more. ``elevation``, ``aot`` and ``wv`` are window arrays or
    1 x 1; see :func:`_invert_row` for the others. ``pixel_rows`` (zeros), ``weights`` (3 x
    columns + :data:`_BLOCK`) and ``terms`` (7 x columns + :data:`_BLOCK`) are float32 scratch
    rows, passed in rather than allocated here: LLVM vectorises the row loops only then.
    """
    n_r, n_c = toa.shape
    n_a, n_z = values.shape[0], values.shape[1]
    c_first, _ = _locate(col_nodes, step, float(col0))
    c_last, _ = _locate(col_nodes, step, float(col0 + n_c - 1))
    n_cells = c_last - c_first + 2
    kc = np.empty(n_c, dtype=np.int64)
    wc = np.zeros(n_c + _BLOCK, dtype=np.float32)
    for j in range(n_c):
        k, w = _locate(col_nodes, step, float(col0 + j))
        kc[j], wc[j] = k - c_first, w
    ka, kz = np.zeros(n_c, dtype=np.int64), np.zeros(n_c, dtype=np.int64)
    z_px, a_px, w_px = pixel_rows[0], pixel_rows[1], pixel_rows[2]
    fields = (elevation, aot, wv)
    for f in range(3):
        if fields[f].size == 1:
            pixel_rows[f, :] = fields[f][0, 0]
    # x/y bilinear hoisted: per pixel row, the node rows above (``top``) and below blended once
    shape = (n_a, n_z, 2, n_cells, _N_TERMS)
    top, down = np.empty(shape, dtype=np.float32), np.empty(shape, dtype=np.float32)
    row = np.empty(shape, dtype=np.float32)
    row_flat, top_flat, down_flat = row.ravel(), top.ravel(), down.ravel()
    wv_row = np.empty(n_cells)
    k_top = -1
    for i in range(n_r):
        kr, wr = _locate(row_nodes, step, float(row0 + i))
        if kr != k_top:
            k_top = kr
            for a in range(n_a):
                for z in range(n_z):
                    for w in range(2):
                        for c in range(n_cells):
                            for m in range(_N_TERMS):
                                upper = values[a, z, w, kr, c_first + c, m]
                                lower = values[a, z, w, kr + 1, c_first + c, m]
                                top[a, z, w, c, m], down[a, z, w, c, m] = upper, lower - upper
        weight = np.float32(wr)
        for k in range(row_flat.size):
            row_flat[k] = top_flat[k] + weight * down_flat[k]
        for c in range(n_cells):
            wv_row[c] = (1.0 - wr) * wv_nodes[kr, c_first + c] + wr * wv_nodes[kr + 1, c_first + c]
        for f in range(3):
            if fields[f].size > 1:
                pixel_rows[f, :n_c] = fields[f][i]
        _node_indices(kc, z_px, z_nodes, a_px, aot_nodes, ka, kz)
        _row_terms(
            row, kc, wc, ka, kz, z_px, a_px, w_px, wv_row, wv_step, z_nodes, z_scale, aot_nodes,
            aot_scale, aot_span, weights, terms,
        )  # fmt: skip
        _invert_row(i, toa, terms, illumination, sky_view, out, coefficients)


_EMPTY = np.empty((0, 0), dtype=np.float32)


def _reciprocal_spacing(nodes: np.ndarray) -> np.ndarray:
    """``1 / (nodes[k + 1] - nodes[k])`` per node (0 after the last, and for one node)."""
    return np.append(1.0 / np.diff(nodes), 0.0)


def _field(values: np.ndarray | float) -> np.ndarray:
    """A float32 C-ordered window array, or a 1 x 1 array for one value."""
    array = np.asarray(values, dtype=np.float32)
    return np.ascontiguousarray(array.reshape(1, 1) if array.ndim == 0 else array)


@dataclass(frozen=True)
class AdjacencyCoefficients:
    """Per-pixel float32 ``[a, S, q]`` (flat) or ``[a, S, q, b]`` (terrain) of a window, from
    its first pass: the inversion with any environment is then a few operations per pixel
    (:func:`_adjacent_kernel`, :func:`with_environment`), not another term interpolation."""

    values: np.ndarray


def first_pass(
    toa: np.ndarray,
    terms: TermGrid,
    window_offset: tuple[int, int] = (0, 0),
    *,
    elevation_m: np.ndarray | float,
    aot550: np.ndarray | float,
    wv_cm: np.ndarray | float,
    terrain: tuple[np.ndarray, np.ndarray] | None = None,
    keep: bool = False,
) -> tuple[np.ndarray, AdjacencyCoefficients | None]:
    """Surface reflectance (float32) of a TOA window at ``window_offset`` (row, col) of the grid
    of ``terms``, each pixel its own environment (module docstring).

    Parameters
    ----------
    elevation_m, aot550, wv_cm
        The atmospheric state: window arrays or one value for all pixels.
    terrain
        ``cos(i) / cos(theta_s)`` (0 in self or cast shadow) and the sky-view factor; ``None``:
        flat ground.
    keep
        Also return the pixels' :class:`AdjacencyCoefficients` (for :func:`with_environment`).
    """
    toa = np.ascontiguousarray(toa, dtype=np.float32)
    out = np.empty(toa.shape, dtype=np.float32)
    rows, columns = toa.shape
    illumination, sky_view = terrain if terrain is not None else (_EMPTY, _EMPTY)
    coefficients = np.empty(
        (3 if terrain is None else 4, rows, columns) if keep else (0, 0, 0), dtype=np.float32
    )
    _correct_kernel(
        toa,
        terms.values,
        terms.row_nodes,
        terms.col_nodes,
        float(terms.step),
        int(window_offset[0]),
        int(window_offset[1]),
        terms.elevation_nodes_m,
        _reciprocal_spacing(terms.elevation_nodes_m),
        terms.aot_nodes,
        1.0 / (terms.aot_nodes + AOT_OFFSET),
        _reciprocal_spacing(np.log(terms.aot_nodes + AOT_OFFSET)),
        terms.wv_nodes,
        WV_STEP_CM,
        _field(elevation_m),
        _field(aot550),
        _field(wv_cm),
        np.ascontiguousarray(illumination, dtype=np.float32),
        np.ascontiguousarray(sky_view, dtype=np.float32),
        np.zeros((3, columns + _BLOCK), dtype=np.float32),
        np.empty((3, columns + _BLOCK), dtype=np.float32),
        np.empty((_N_TERMS, columns + _BLOCK), dtype=np.float32),
        out,
        coefficients,
    )
    return out, AdjacencyCoefficients(coefficients) if keep else None


def with_environment(coefficients: AdjacencyCoefficients, environment: np.ndarray) -> np.ndarray:
    """Surface reflectance (float32) of the window of ``coefficients`` given its environment
    reflectance ``rho_env`` (:mod:`core.atmospheric_correction.adjacency`)."""
    out = np.empty(coefficients.values.shape[1:], dtype=np.float32)
    _adjacent_kernel(coefficients.values, np.ascontiguousarray(environment, dtype=np.float32), out)
    return out
