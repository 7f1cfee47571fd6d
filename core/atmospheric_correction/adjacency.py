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

from collections.abc import Iterator, Mapping

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
def _row_sums(reflectance, exclude, radius, i, value, valid, row_sum, row_count):  # noqa: PLR0917
    """Running box sums along row ``i`` (the row first copied into the mirrored, zero-filled
    buffers ``value`` and ``valid``) into ``row_sum`` and ``row_count`` (float32)."""
    n_c = reflectance.shape[1]
    has_exclude = exclude.shape[0] > 0
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
        row_sum[j] = total
        row_count[j] = count
        total += value[j + 2 * radius + 1] - value[j]
        count += valid[j + 2 * radius + 1] - valid[j]


@njit(cache=True, nogil=True, error_model="numpy")
def _box_mean_kernel(reflectance, exclude, radius, out):
    """``out``: mean of the finite, not excluded ``reflectance`` in the ``2 radius + 1`` box
    (the pixel's own masked value where the box holds none). ``exclude`` is 0 x 0 for none.

    Running sums along rows (:func:`_row_sums`), then along columns over whole rows
    (vectorised); float64 accumulators, float32 row sums. The row sums live in a ring of
    ``2 radius + 2`` rows (the column window plus the row entering it), not a whole-tile copy.
    """
    n_r, n_c = reflectance.shape
    has_exclude = exclude.shape[0] > 0
    slots = min(n_r, 2 * radius + 2)
    row_sum = np.empty((slots, n_c), dtype=np.float32)
    row_count = np.empty((slots, n_c), dtype=np.float32)
    held = np.full(slots, -1)
    leave_sum = np.empty(n_c, dtype=np.float32)
    leave_count = np.empty(n_c, dtype=np.float32)
    value = np.empty(n_c + 2 * radius + 1)
    valid = np.empty(n_c + 2 * radius + 1)
    total_col = np.zeros(n_c)
    count_col = np.zeros(n_c)
    for k in range(-radius, radius + 1):
        r = _mirror(k, n_r)
        s = r % slots
        if held[s] != r:
            _row_sums(reflectance, exclude, radius, r, value, valid, row_sum[s], row_count[s])
            held[s] = r
        for j in range(n_c):
            total_col[j] += row_sum[s, j]
            count_col[j] += row_count[s, j]
    for i in range(n_r):
        for j in range(n_c):
            if count_col[j] > 0.5:
                out[i, j] = total_col[j] / count_col[j]
            elif has_exclude and exclude[i, j]:
                out[i, j] = np.nan
            else:
                out[i, j] = reflectance[i, j]
        leave, enter = _mirror(i - radius, n_r), _mirror(i + radius + 1, n_r)
        s = leave % slots
        if held[s] != leave:
            _row_sums(reflectance, exclude, radius, leave, value, valid, row_sum[s], row_count[s])
            held[s] = leave
        leave_sum[:] = row_sum[s]
        leave_count[:] = row_count[s]
        s = enter % slots
        if held[s] != enter:
            _row_sums(reflectance, exclude, radius, enter, value, valid, row_sum[s], row_count[s])
            held[s] = enter
        for j in range(n_c):
            total_col[j] += row_sum[s, j] - leave_sum[j]
            count_col[j] += row_count[s, j] - leave_count[j]


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


class Environments(Mapping[str, np.ndarray]):
    """Environments (:func:`environment_reflectance`) of the bands of ``toa``, each computed on
    first use and kept until :meth:`release`: a retrieval inverts two or three bands at a time,
    and every environment of a 20 m tile takes 120 MB."""

    def __init__(
        self,
        toa: Mapping[str, np.ndarray],
        adjacency_km: float,
        resolution_m: float,
        *,
        exclude: np.ndarray | None = None,
    ) -> None:
        self._toa = toa
        self._box = (adjacency_km, resolution_m)
        self._exclude = exclude
        self._computed: dict[str, np.ndarray] = {}

    def __getitem__(self, band: str) -> np.ndarray:
        if band not in self._computed:
            self._computed[band] = environment_reflectance(
                self._toa[band], *self._box, exclude=self._exclude
            )
        return self._computed[band]

    def __iter__(self) -> Iterator[str]:
        return iter(self._toa)

    def __len__(self) -> int:
        return len(self._toa)

    def release(self, *bands: str) -> None:
        """Drop the environments of ``bands`` (computed again if asked for later)."""
        for band in bands:
            self._computed.pop(band, None)
