"""Atmospheric correction of an in-memory TOA cube.

CONTRACT STUB (lead): the signatures below are fixed; the correction helper implements them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from core.atmosphere.lut import RadiativeTransferLut
from core.atmospheric_correction.observation import Observation
from core.atmospheric_correction.retrieval import AtmosphereRetrieval
from core.config.gipp import Gipp
from core.product.aux_data import AuxData
from core.terrain.geometry import TerrainGeometry


@dataclass(frozen=True)
class CorrectionResult:
    """BOA reflectance and the atmosphere it was computed with."""

    boa: dict[str, np.ndarray]
    """Band -> float32 surface reflectance (NaN where the input was NaN)."""
    atmosphere: AtmosphereRetrieval


def correct(
    toa: Mapping[str, np.ndarray],
    observation: Observation,
    *,
    gipp: Gipp,
    lut: RadiativeTransferLut | None = None,
    elevation_m: np.ndarray | float | None = None,
    terrain: TerrainGeometry | None = None,
    aot550: np.ndarray | float | None = None,
    wv_cm: np.ndarray | float | None = None,
    scene_class: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    aux: AuxData | None = None,
) -> CorrectionResult:
    """Correct ``toa`` (band -> TOA reflectance on one grid) to surface reflectance."""
    raise NotImplementedError
