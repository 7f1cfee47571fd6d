"""True-colour pictures of L1C scenes (simulated or real) side by side, to compare them by eye.

Pixels are encoded as Sen2Cor's TCI (:func:`core.product.quicklook.true_colour`: reflectance
0...0.25 -> 1...255, 0 = no data), so a preview looks like the product's own quick-look.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning

from core.product.quicklook import true_colour
from core.simulate.scene import SimulatedScene


def rgb_image(red: np.ndarray, green: np.ndarray, blue: np.ndarray) -> np.ndarray:
    """``(rows, cols, 3)`` uint8 picture of three reflectance arrays (TCI encoding)."""
    return np.moveaxis(true_colour(red, green, blue), 0, -1)


def scene_true_colour(scene: SimulatedScene) -> np.ndarray:
    """True-colour TOA picture of a simulated scene (B04, B03, B02 at 10 m)."""
    toa = scene.toa_reflectance
    return rgb_image(toa["B04"], toa["B03"], toa["B02"])


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
    """Write an RGB uint8 array as PNG with rasterio's PNG driver (a picture: no georeferencing)."""
    with (
        warnings.catch_warnings(category=NotGeoreferencedWarning, action="ignore"),
        rasterio.open(
            path, "w", driver="PNG", width=rgb.shape[1], height=rgb.shape[0], count=3, dtype="uint8"
        ) as dst,
    ):
        dst.write(np.moveaxis(rgb, -1, 0))
