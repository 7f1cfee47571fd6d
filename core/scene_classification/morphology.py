"""Morphology of the scene classification: median filters, dilations, rings, SCL downsampling.

``scipy.ndimage`` does the work (a numba kernel the 3 x 3 median); Sen2Cor 2.8 uses the same
operators (``median_filter``, ``binary_dilation`` with diamond/cross/square structuring
elements).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from core.scene_classification import kernels


def median(values: np.ndarray, size: int) -> np.ndarray:
    """``size`` x ``size`` median filter (``Median_Filter`` of L2A_GIPP; 0 or 1 = none).

    Edges repeat the nearest pixel; the 3 x 3 case (the shadow scores, the 60 m SCL) runs in
    :func:`~core.scene_classification.kernels.median3_kernel`.
    """
    if size <= 1:
        return values
    if size == 3:
        out = np.empty_like(values)
        kernels.median3_kernel(np.ascontiguousarray(values), out)
        return out
    return ndimage.median_filter(values, size=size, mode="nearest")


def dilate_diamond(mask: np.ndarray, radius_px: int) -> np.ndarray:
    """Dilate ``mask`` by a diamond (city-block ball) of ``radius_px`` (Sen2Cor snow rings)."""
    out = mask.copy()
    if radius_px <= 0 or not mask.any():
        return out
    # shifted ORs: ``ndimage.binary_dilation`` with the cross, ~20 times faster on a full tile
    for _ in range(radius_px):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


def local_minimum(values: np.ndarray, radius_px: int) -> np.ndarray:
    """Smallest value within ``radius_px`` (square window; edges repeat the nearest pixel)."""
    return ndimage.minimum_filter(values, size=2 * radius_px + 1, mode="nearest")


def ring(mask: np.ndarray, radius_px: int) -> np.ndarray:
    """Pixels within ``radius_px`` (diamond) of ``mask`` but outside it (steps 2.5 and 13)."""
    return dilate_diamond(mask, radius_px) & ~mask


def downsample_scene_class(scene_class: np.ndarray, factor: int) -> np.ndarray:
    """SCL at a ``factor`` times coarser grid: median filter of ``factor`` then nearest.

    Sen2Cor's 20 -> 60 m export (facts §1.3): 3x3 median filter, then nearest-neighbour
    resize, i.e. the filtered value at the centre of each 3x3 block.
    """
    filtered = median(scene_class, factor)
    centre = factor // 2
    rows, cols = scene_class.shape[0] // factor, scene_class.shape[1] // factor
    return np.ascontiguousarray(
        filtered[centre : rows * factor : factor, centre : cols * factor : factor]
    )
