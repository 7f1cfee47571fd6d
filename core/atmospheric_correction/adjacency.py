"""Environment reflectance for the adjacency correction (``Adj_Km``, L2A_GIPP Calibration).

The environment of a pixel is the mean surface reflectance of the square of half-width
``Adj_Km`` around it (a box filter, ``2 round(Adj_Km / pixel) + 1`` pixels wide): ATCOR/Sen2Cor
average the reflectance "within the adjacency range" with equal weights, and the simulator's
forward model defines ``rho_env`` the same way
(:func:`core.simulate.forward.environment_reflectance`).
No-data pixels are left out of the mean (normalised convolution); the box is mirrored at the
window edges (``d c b a | a b c d | d c b a``, scipy.ndimage's ``reflect``), so a tile processed
window by window needs an ``Adj_Km`` halo around each window.

The box sums are running sums, one pass per axis, in a numba kernel: scipy.ndimage's
``uniform_filter`` needs float64 copies of the data and of the valid mask (about 10 times the
memory traffic and time of this kernel at a 10 m tile's box widths).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_EMPTY_MASK = np.zeros((0, 0), dtype=np.bool_)


def box_width_px(adjacency_km: float, resolution_m: float) -> int:
    """Width in pixels of the adjacency box (odd; 1 = no adjacency)."""
    return 2 * round(adjacency_km * 1000.0 / resolution_m) + 1


@njit(cache=True, nogil=True, error_model="numpy")
def _mirror(i: int, n: int) -> int:
    """Index ``i`` of an axis of ``n`` pixels extended by mirroring (period ``2 n``)."""
    i %= 2 * n
    return i if i < n else 2 * n - 1 - i


@njit(cache=True, nogil=True, error_model="numpy")
def _box_mean_kernel(reflectance, exclude, radius, out):
    """``out``: mean of the finite, not excluded ``reflectance`` in the ``2 radius + 1`` box
    (the pixel's own masked value where the box holds none). ``exclude`` is 0 x 0 for none.

    Running sums along rows (each row first copied into a mirrored, zero-filled buffer), then
    along columns over whole rows (vectorised); float64 accumulators, float32 row sums."""
    n_r, n_c = reflectance.shape
    has_exclude = exclude.shape[0] > 0
    row_sum = np.empty((n_r, n_c), dtype=np.float32)
    row_count = np.empty((n_r, n_c), dtype=np.float32)
    value = np.empty(n_c + 2 * radius + 1)
    valid = np.empty(n_c + 2 * radius + 1)
    for i in range(n_r):
        row = reflectance[i]
        for j in range(n_c):
            ok = not np.isnan(row[j]) and not (has_exclude and exclude[i, j])
            value[radius + j] = row[j] if ok else 0.0
            valid[radius + j] = 1.0 if ok else 0.0
        for k in range(radius):  # the mirrored margins
            value[k] = value[radius + _mirror(k - radius, n_c)]
            valid[k] = valid[radius + _mirror(k - radius, n_c)]
            far = radius + n_c + k
            value[far] = value[radius + _mirror(n_c + k, n_c)]
            valid[far] = valid[radius + _mirror(n_c + k, n_c)]
        value[-1] = valid[-1] = 0.0
        total = 0.0
        count = 0.0
        for k in range(2 * radius + 1):
            total += value[k]
            count += valid[k]
        for j in range(n_c):
            row_sum[i, j] = total
            row_count[i, j] = count
            total += value[j + 2 * radius + 1] - value[j]
            count += valid[j + 2 * radius + 1] - valid[j]
    total_col = np.zeros(n_c)
    count_col = np.zeros(n_c)
    for k in range(-radius, radius + 1):
        r = _mirror(k, n_r)
        for j in range(n_c):
            total_col[j] += row_sum[r, j]
            count_col[j] += row_count[r, j]
    for i in range(n_r):
        for j in range(n_c):
            if count_col[j] > 0.5:
                out[i, j] = total_col[j] / count_col[j]
            elif has_exclude and exclude[i, j]:
                out[i, j] = np.nan
            else:
                out[i, j] = reflectance[i, j]
        enter, leave = row_sum[_mirror(i + radius + 1, n_r)], row_sum[_mirror(i - radius, n_r)]
        enter_n = row_count[_mirror(i + radius + 1, n_r)]
        leave_n = row_count[_mirror(i - radius, n_r)]
        for j in range(n_c):
            total_col[j] += enter[j] - leave[j]
            count_col[j] += enter_n[j] - leave_n[j]


def environment_reflectance(
    reflectance: np.ndarray,
    adjacency_km: float,
    resolution_m: float,
    *,
    exclude: np.ndarray | None = None,
) -> np.ndarray:
    """Mean of ``reflectance`` (NaN = no data) over the adjacency box of each pixel (float32).

    ``exclude`` marks pixels left out of the mean besides NaN (clouds: not the ground's
    reflectance). Where the box holds no valid pixel the pixel's own value (NaN if excluded) is
    kept.
    """
    values = np.ascontiguousarray(reflectance, dtype=np.float32)
    out = np.empty(values.shape, dtype=np.float32)
    mask = _EMPTY_MASK if exclude is None else np.ascontiguousarray(exclude, dtype=np.bool_)
    _box_mean_kernel(values, mask, box_width_px(adjacency_km, resolution_m) // 2, out)
    return out
