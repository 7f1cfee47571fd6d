"""Sen2Cor's downsampling rule for in-memory arrays (facts §1.3).

Reflectances, AOT, WVP and probabilities go to a coarser grid by the mean of each block
(2x2 for 10 -> 20 m, 3x3 for 20 -> 60 m, 6x6 for 10 -> 60 m). Reading a band at another
resolution from its file is GDAL's job (:mod:`core.io.raster`); this is for arrays already
computed in memory.
"""

from __future__ import annotations

import numpy as np


def block_mean(values: np.ndarray, factor: int, dtype: type = np.float32) -> np.ndarray:
    """Mean of ``factor`` x ``factor`` blocks, accumulated in float64 and returned as ``dtype``.

    Trailing rows/columns that do not fill a whole block are dropped.
    """
    if factor == 1:
        return values.astype(dtype)
    rows, cols = values.shape[0] // factor, values.shape[1] // factor
    blocks = values[: rows * factor, : cols * factor].reshape(rows, factor, cols, factor)
    return blocks.mean(axis=(1, 3), dtype=np.float64).astype(dtype)
