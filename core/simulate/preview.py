"""True-colour previews of simulated (and real) scenes, to compare them by eye.

A preview is an ``(rows, cols, 3)`` uint8 array: B04/B03/B02 reflectance scaled linearly so that
``max_reflectance`` is white, then gamma-encoded (sRGB-like 1/2.2), the usual look of S2 quicklooks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import rasterio

from core.simulate.scene import SimulatedScene

MAX_REFLECTANCE: Final = 0.3
GAMMA: Final = 1.0 / 2.2


def true_colour(
    red: np.ndarray,
    green: np.ndarray,
    blue: np.ndarray,
    *,
    max_reflectance: float = MAX_REFLECTANCE,
) -> np.ndarray:
    """RGB uint8 image of three reflectance arrays (NaN -> black)."""
    rgb = np.stack([red, green, blue], axis=-1).astype(np.float32) / max_reflectance
    rgb = np.clip(np.nan_to_num(rgb, nan=0.0), 0.0, 1.0) ** GAMMA
    return np.round(rgb * 255.0).astype(np.uint8)


def scene_true_colour(
    scene: SimulatedScene, *, max_reflectance: float = MAX_REFLECTANCE
) -> np.ndarray:
    """True-colour TOA preview of a simulated scene (B04, B03, B02 at 10 m)."""
    toa = scene.toa_reflectance
    return true_colour(toa["B04"], toa["B03"], toa["B02"], max_reflectance=max_reflectance)


def side_by_side(*images: np.ndarray, gap: int = 8) -> np.ndarray:
    """Place RGB images left to right on a black canvas, top-aligned, ``gap`` pixels apart."""
    rows = max(im.shape[0] for im in images)
    cols = sum(im.shape[1] for im in images) + gap * (len(images) - 1)
    canvas = np.zeros((rows, cols, 3), dtype=np.uint8)
    col = 0
    for im in images:
        canvas[: im.shape[0], col : col + im.shape[1]] = im
        col += im.shape[1] + gap
    return canvas


def write_png(path: str | Path, rgb: np.ndarray) -> None:
    """Write an RGB uint8 array as PNG with rasterio's PNG driver."""
    with rasterio.open(
        path, "w", driver="PNG", width=rgb.shape[1], height=rgb.shape[0], count=3, dtype="uint8"
    ) as dst:
        dst.write(np.moveaxis(rgb, -1, 0))
