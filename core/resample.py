"""Sen2Cor's downsampling rule for in-memory arrays (facts §1.3).

Reflectances, AOT, WVP and probabilities go to a coarser grid by the mean of each block
(2x2 for 10 -> 20 m, 3x3 for 20 -> 60 m, 6x6 for 10 -> 60 m). Reading a band at another
resolution from its file is GDAL's job (:mod:`core.io.raster`); this is for arrays already
computed in memory. Going the other way, the whole-tile state (AOT, water vapour, terrain
factors) is brought to the 10 m grid bilinearly (:func:`upsample_bilinear`).
"""

from __future__ import annotations

import numpy as np
from numba import njit


def block_mean(values: np.ndarray, factor: int, dtype: type = np.float32) -> np.ndarray:
    """Mean of ``factor`` x ``factor`` blocks, accumulated in float64 and returned as ``dtype``.

    Trailing rows/columns that do not fill a whole block are dropped.
    """
    if factor == 1:
        return values.astype(dtype)
    rows, cols = values.shape[0] // factor, values.shape[1] // factor
    blocks = values[: rows * factor, : cols * factor].reshape(rows, factor, cols, factor)
    return blocks.mean(axis=(1, 3), dtype=np.float64).astype(dtype)


def block_mean_min_max(values: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 :func:`block_mean` of an integer raster and its block minimum and maximum
    (stacked on axis 0, in the raster's dtype), in one pass over the pixels.

    What the reader needs of a 10 m band read at 20 or 60 m: the mean reflectance and whether
    any pixel of the block is no-data (0) or saturated. numpy's three reductions over the
    reshaped blocks read the band three times and allocate a float64 mean; this kernel reads it
    once. The mean is the same to the bit (integer sums are exact in float64).
    """
    rows, cols = values.shape[0] // factor, values.shape[1] // factor
    mean = np.empty((rows, cols), dtype=np.float32)
    extremes = np.empty((2, rows, cols), dtype=values.dtype)
    _block_mean_min_max(np.ascontiguousarray(values), factor, mean, extremes)
    return mean, extremes


@njit(cache=True, nogil=True)
def _block_mean_min_max(values, factor, mean, extremes):
    count = factor * factor
    for i in range(mean.shape[0]):
        for j in range(mean.shape[1]):
            first = values[i * factor, j * factor]
            total, low, high = 0.0, first, first
            for di in range(factor):
                for dj in range(factor):
                    value = values[i * factor + di, j * factor + dj]
                    total += value
                    low = min(low, value)
                    high = max(high, value)
            mean[i, j] = total / count
            extremes[0, i, j] = low
            extremes[1, i, j] = high


def upsample_bilinear(values: np.ndarray, factor: int) -> np.ndarray:
    """``values`` on a ``factor`` times finer grid, bilinear between pixel centres and constant
    beyond the outer ones: ``scipy.ndimage.zoom(values, factor, order=1, mode="nearest",
    grid_mode=True)``, in the input's dtype.

    Hand-written because ``ndimage.zoom`` is a generic spline resampler holding the GIL: on a
    10 m strip this kernel is several times faster and can run beside the band threads. The
    weights are those of the pixel-centre mapping ``x = (o + 0.5) / factor - 0.5`` (float64).
    """
    out = np.empty((values.shape[0] * factor, values.shape[1] * factor), dtype=values.dtype)
    rows = _linear_weights(values.shape[0], factor)
    cols = _linear_weights(values.shape[1], factor)
    _bilinear(np.ascontiguousarray(values), *rows, *cols, out)
    return out


def _linear_weights(size: int, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower source index and weight of the upper one for each of ``size * factor`` outputs."""
    x = np.clip((np.arange(size * factor) + 0.5) / factor - 0.5, 0.0, size - 1.0)
    lower = np.minimum(np.floor(x).astype(np.int64), max(size - 2, 0))
    return lower, x - lower


@njit(cache=True, nogil=True)
def _bilinear(values, row0, row_w, col0, col_w, out):  # noqa: PLR0917 - numba kernel
    last_row, last_col = values.shape[0] - 1, values.shape[1] - 1
    for o in range(out.shape[0]):
        i, wy = row0[o], row_w[o]
        i1 = min(i + 1, last_row)
        for p in range(out.shape[1]):
            j, wx = col0[p], col_w[p]
            j1 = min(j + 1, last_col)
            top = (1.0 - wx) * values[i, j] + wx * values[i, j1]
            bottom = (1.0 - wx) * values[i1, j] + wx * values[i1, j1]
            out[o, p] = (1.0 - wy) * top + wy * bottom
