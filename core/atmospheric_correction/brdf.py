"""Empirical BRDF correction of ATCOR/Sen2Cor (``BRDF_Correction``, ``BRDF_Lower_Bound``).

The Lambertian terrain correction over-brightens faintly illuminated slopes. Beyond a threshold
incidence angle ``beta_T`` the reflectance is multiplied by (Richter 1998, ATCOR manual 2.x
"empirical BRDF correction"; Sen2Cor fact sheet section 3.5)::

    G = (cos(i) / cos(beta_T)) ** b,   G >= g (BRDF_Lower_Bound),

with ``b = 1/2`` (mode 1) or ``b = 1`` (mode 2), and ``beta_T`` the sun zenith plus 20 deg below
45 deg, plus 15 deg up to 55 deg, plus 10 deg above. The cover-dependent modes (11, 12, 21, 22)
are refused: their exponent per digit is not documented.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numba import njit

from core.errors import NotAvailableError

EXPONENT_OF_MODE: Final = {1: 0.5, 2: 1.0}
"""ATCOR's cover-independent modes: square root (1) and linear (2) function of cos(i)."""

MAX_SNOW_SHARE: Final = 0.5
"""Sen2Cor switches the BRDF correction off when more than half the scene is snow or ice."""
SCL_SNOW: Final = 11

THRESHOLD_OFFSETS_DEG: Final = ((45.0, 20.0), (55.0, 15.0), (90.0, 10.0))
"""(sun zenith below, offset): ``beta_T = theta_s + offset`` (ATCOR's rule)."""


def threshold_angle_deg(sun_zenith_deg: float) -> float:
    """ATCOR's threshold incidence angle ``beta_T`` beyond which the correction applies."""
    for below, offset in THRESHOLD_OFFSETS_DEG:
        if sun_zenith_deg < below:
            return sun_zenith_deg + offset
    return sun_zenith_deg + THRESHOLD_OFFSETS_DEG[-1][1]


def too_snowy(scene_class: np.ndarray | None, valid: np.ndarray) -> bool:
    """Whether snow/ice (SCL 11) covers more than :data:`MAX_SNOW_SHARE` of the valid pixels."""
    if scene_class is None or not valid.any():
        return False
    return float(np.mean(scene_class[valid] == SCL_SNOW)) > MAX_SNOW_SHARE


def exponent(mode: int) -> float:
    """Exponent ``b`` of ``mode``; :class:`NotAvailableError` for the cover-dependent modes."""
    if mode not in EXPONENT_OF_MODE:
        raise NotAvailableError(
            f"BRDF_Correction {mode}: only the cover-independent modes 0, 1 and 2 are available "
            "(the vegetation exponents of modes 11-22 are not documented by Sen2Cor)"
        )
    return EXPONENT_OF_MODE[mode]


@njit(cache=True, nogil=True)
def _brdf_kernel(reflectance, cos_incidence, cos_threshold, b, lower_bound, out):  # noqa: PLR0917
    n_r, n_c = reflectance.shape
    for i in range(n_r):
        for j in range(n_c):
            c = cos_incidence[i, j]
            g = 1.0
            if c < cos_threshold:
                g = max(max(c, 0.0) / cos_threshold, 0.0) ** b
                g = max(g, lower_bound)
            out[i, j] = reflectance[i, j] * g


def apply_brdf(
    reflectance: np.ndarray,
    cos_incidence: np.ndarray,
    sun_zenith_deg: float,
    *,
    mode: int,
    lower_bound: float,
) -> np.ndarray:
    """``reflectance * G`` (module docstring); ``cos_incidence`` < 0 (self-shadow) gives ``g``."""
    out = np.empty(reflectance.shape, dtype=np.float32)
    cos_threshold = float(np.cos(np.radians(threshold_angle_deg(sun_zenith_deg))))
    _brdf_kernel(
        np.asarray(reflectance, dtype=np.float32),
        np.asarray(cos_incidence, dtype=np.float32),
        cos_threshold,
        exponent(mode),
        float(lower_bound),
        out,
    )
    return out
