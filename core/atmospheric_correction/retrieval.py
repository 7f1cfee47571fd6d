"""Atmospheric state of a scene from its own pixels: AOT550, water vapour, ozone, aerosol type.

CONTRACT STUB (lead): the signatures below are fixed; the retrieval helper implements them
(splitting the work into ``aerosol.py``, ``water_vapour.py``, ``ozone.py`` as it sees fit).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from core.atmosphere.lut import RadiativeTransferLut
from core.atmospheric_correction.observation import Observation
from core.config.gipp import Gipp
from core.product.aux_data import AuxData
from core.product.l2a_quality import AtmosphereSummary


@dataclass(frozen=True)
class AtmosphereRetrieval:
    """The state the correction uses, on the working grid of the TOA cube."""

    aot550: np.ndarray
    """float32 aerosol optical thickness at 550 nm (smoothed as Sen2Cor does), no NaN."""
    wv_cm: np.ndarray
    """float32 water-vapour column in cm (sea-level referred, the table's convention), no NaN."""
    ozone_du: float
    aerosol: str
    """Table aerosol model actually used: ``rural`` or ``maritime``."""
    summary: AtmosphereSummary
    """Method, visibilities, DDV percentage, ozone source... for MTD_MSIL2A / L2A_QUALITY."""


def retrieve_atmosphere(
    toa: Mapping[str, np.ndarray],
    observation: Observation,
    *,
    gipp: Gipp,
    lut: RadiativeTransferLut,
    elevation_m: np.ndarray | float,
    valid: np.ndarray | None = None,
    scene_class: np.ndarray | None = None,
    aux: AuxData | None = None,
    aot550: np.ndarray | float | None = None,
    wv_cm: np.ndarray | float | None = None,
) -> AtmosphereRetrieval:
    """Retrieve what is not given: ozone, aerosol type, water vapour (APDA), AOT550 (DDV).

    ``toa`` maps band names to TOA reflectance on one grid (NaN = no data); ``valid`` marks
    pixels usable for retrieval (default: finite in every band); ``scene_class`` (SCL codes on
    the same grid) excludes clouds, shadows, snow and water from the DDV search when given.
    A given ``aot550`` or ``wv_cm`` is used as is (broadcast to the grid) and not retrieved.
    """
    raise NotImplementedError
