"""Atmospheric correction: TOA reflectance -> surface (BOA) reflectance on our 6S tables.

Public API: :func:`correct` (an in-memory TOA cube in, BOA plus the AOT550 and water vapour it
used out) and :class:`Observation` (sensor, date and per-pixel geometry).
"""

from core.atmospheric_correction.correct import CorrectionResult, correct
from core.atmospheric_correction.observation import Observation

__all__ = ["CorrectionResult", "Observation", "correct"]
