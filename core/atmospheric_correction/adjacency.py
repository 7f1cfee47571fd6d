"""Environment reflectance for the adjacency correction (``Adj_Km``, L2A_GIPP Calibration).

The environment of a pixel is the mean surface reflectance of the square of half-width
``Adj_Km`` around it (a box filter, ``2 round(Adj_Km / pixel) + 1`` pixels wide): ATCOR/Sen2Cor
average the reflectance "within the adjacency range" with equal weights, and the simulator's
forward model defines ``rho_env`` the same way
(:func:`core.simulate.forward.environment_reflectance`).
No-data pixels are left out of the mean (normalised convolution); the box is mirrored at the
window edges, so a tile processed window by window needs an ``Adj_Km`` halo around each window.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def box_width_px(adjacency_km: float, resolution_m: float) -> int:
    """Width in pixels of the adjacency box (odd; 1 = no adjacency)."""
    return 2 * round(adjacency_km * 1000.0 / resolution_m) + 1


def environment_reflectance(
    reflectance: np.ndarray, adjacency_km: float, resolution_m: float
) -> np.ndarray:
    """Mean of ``reflectance`` (NaN = no data) over the adjacency box of each pixel (float32).

    Where the box holds no valid pixel the pixel's own value is kept.
    """
    width = box_width_px(adjacency_km, resolution_m)
    valid = np.isfinite(reflectance)
    filled = np.where(valid, reflectance, 0.0).astype(np.float64)
    total = ndimage.uniform_filter(filled, size=width, mode="reflect")
    count = ndimage.uniform_filter(valid.astype(np.float64), size=width, mode="reflect")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    return np.where(count > 1e-9, mean, reflectance).astype(np.float32)
