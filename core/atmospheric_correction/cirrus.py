"""Cirrus removal with B10 (``Cirrus_Correction``, ``WV_Threshold_Cirrus``; ATCOR's method).

At 1.375 µm water vapour hides the ground, so B10 sees the cirrus layer above it. Over cirrus
pixels each band's TOA reflectance rises linearly with the cirrus reflectance ``rho_c`` of B10;
the slope ``1 / gamma`` of that regression gives the cirrus part of the band, which is removed
before the atmospheric correction (Richter, Schläpfer & Müller 2011; Sen2Cor fact sheet 3.4)::

    rho_toa' = rho_toa - rho_c / gamma

``rho_c`` is B10 minus its median over cirrus-free pixels (the residual ground signal); cirrus
pixels are those with B10 above ``T1_B10`` of the scene classification (Sen2Cor's thin-cirrus
threshold). The correction is skipped when the scene's water vapour is below
``WV_Threshold_Cirrus`` (B10 then sees the ground) or there are too few cirrus pixels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np

CIRRUS_BAND: Final = "B10"
MIN_CIRRUS_PIXELS: Final = 100
"""Fewest cirrus pixels for a regression ("no significant cirrus found" below)."""


@dataclass(frozen=True)
class CirrusRemoval:
    """What the removal does: per-band slopes ``1 / gamma``, the B10 ground level, the number
    of cirrus pixels."""

    applied: bool
    reason: str
    slopes: dict[str, float]
    cirrus_pixels: int
    ground_reflectance: float = 0.0
    """Median B10 of the cirrus-free pixels (the residual ground signal)."""

    def apply(self, toa: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """TOA bands (all but B10) with ``rho_c / gamma`` removed; unchanged when not applied.
        Works on any window of the cube the removal was fitted on."""
        others = {b: np.asarray(v) for b, v in toa.items() if b != CIRRUS_BAND}
        if not self.applied:
            return others
        b10 = np.asarray(toa[CIRRUS_BAND], dtype=np.float64)
        rho_c = np.maximum(np.where(np.isfinite(b10), b10 - self.ground_reflectance, 0.0), 0.0)
        return {
            band: (values - self.slopes[band] * rho_c).astype(np.float32)
            for band, values in others.items()
        }


def fit_cirrus(
    toa: Mapping[str, np.ndarray],
    *,
    valid: np.ndarray,
    mean_wv_cm: float,
    cirrus_threshold: float,
    wv_threshold_cm: float,
) -> CirrusRemoval:
    """The regression of every band (all but B10) on the cirrus reflectance (module docstring)."""
    if mean_wv_cm < wv_threshold_cm:
        reason = f"water vapour {mean_wv_cm:.2f} cm below WV_Threshold_Cirrus {wv_threshold_cm}"
        return CirrusRemoval(False, reason, {}, 0)
    b10 = np.asarray(toa[CIRRUS_BAND], dtype=np.float64)
    ok = valid & np.isfinite(b10)
    cirrus = ok & (b10 >= cirrus_threshold)
    clear = ok & ~cirrus
    count = int(cirrus.sum())
    if count < MIN_CIRRUS_PIXELS:
        return CirrusRemoval(False, "no significant cirrus found", {}, count)
    ground = float(np.median(b10[clear])) if clear.any() else 0.0
    x = np.maximum(b10[cirrus] - ground, 0.0)
    x_dev = x - x.mean()
    slopes = {}
    for band, values in toa.items():
        if band == CIRRUS_BAND:
            continue
        y = np.asarray(values)[cirrus].astype(np.float64)
        slopes[band] = max(float(np.dot(x_dev, y - y.mean()) / np.dot(x_dev, x_dev)), 0.0)
    return CirrusRemoval(True, "applied", slopes, count, ground)
