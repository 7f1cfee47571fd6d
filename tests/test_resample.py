"""Block reductions of :mod:`core.resample` against numpy's reductions of the reshaped blocks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from core.resample import block_mean, block_mean_min_max, upsample_bilinear


@pytest.mark.parametrize("factor", [2, 3, 6])
def test_one_pass_block_statistics_match_numpy(factor: int) -> None:
    rng = np.random.default_rng(factor)
    # odd sizes: trailing rows and columns that fill no block are dropped
    dn = rng.integers(0, 65536, size=(6 * 7 + 1, 6 * 5 + 5), dtype=np.uint16)
    dn[:factor, :factor] = 0  # a no-data block
    mean, extremes = block_mean_min_max(dn, factor)
    rows, cols = dn.shape[0] // factor, dn.shape[1] // factor
    blocks = dn[: rows * factor, : cols * factor].reshape(rows, factor, cols, factor)
    assert mean.dtype == np.float32 and extremes.dtype == np.uint16
    np.testing.assert_array_equal(mean, block_mean(dn, factor))
    np.testing.assert_array_equal(extremes[0], blocks.min(axis=(1, 3)))
    np.testing.assert_array_equal(extremes[1], blocks.max(axis=(1, 3)))
    assert extremes[1, 0, 0] == 0


@pytest.mark.parametrize(("factor", "shape"), [(2, (7, 9)), (3, (4, 5)), (2, (1, 6))])
def test_bilinear_upsampling_is_scipy_zoom(factor: int, shape: tuple[int, int]) -> None:
    values = np.random.default_rng(factor).random(shape, dtype=np.float32)
    reference = ndimage.zoom(values, factor, order=1, mode="nearest", grid_mode=True)
    fine = upsample_bilinear(values, factor)
    assert fine.dtype == np.float32 and fine.shape == reference.shape
    np.testing.assert_allclose(fine, reference, rtol=0, atol=1e-6)
    # a linear ramp stays linear inside and flat beyond the outer pixel centres
    ramp = np.tile(np.arange(shape[1], dtype=np.float32), (shape[0], 1))
    row = upsample_bilinear(ramp, factor)[0]
    edge = factor // 2  # outputs beyond the outer pixel centres
    assert np.all(row[:edge] == 0) and np.all(row[-edge:] == shape[1] - 1)
    np.testing.assert_allclose(np.diff(row[factor:-factor]), 1.0 / factor, atol=1e-6)
