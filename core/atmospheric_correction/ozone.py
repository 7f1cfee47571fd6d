"""Total ozone column of a scene (facts §3.1, Sen2Cor 2.8 ``L2A_Config``).

``Ozone_Content = 0``: the AUX_ECMWFT mean ``tco3`` (:attr:`AuxData.ozone_du`), else the standard
ozone of the season (``Ozone_Default_Summer_Du`` / ``Ozone_Default_Winter_Du``); any other value
is used as configured. Sen2Cor snaps the value to the nearest of its tables (250 ... 460 DU); our
table has an ozone axis, so the column is used as is, clamped to the axis' range.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from core.atmosphere.lut import RadiativeTransferLut
from core.atmospheric_correction.observation import Observation
from core.atmospheric_correction.season import season
from core.config.gipp import Gipp
from core.product.aux_data import AuxData

OzoneSource = Literal["AUX_ECMWFT", "CONFIG"]


def ozone_column(
    gipp: Gipp, observation: Observation, aux: AuxData | None, lut: RadiativeTransferLut
) -> tuple[float, OzoneSource]:
    """Ozone (DU) for the table look-ups and its ``OZONE_SOURCE`` (``AUX_ECMWFT | CONFIG``)."""
    configured = gipp.l2a.atmospheric_correction.look_up_tables.ozone_content
    constants = gipp.ac.classic_constants
    source: OzoneSource = "CONFIG"
    if configured != 0:
        value = float(configured)
    elif aux is not None and aux.ozone_du is not None:
        value, source = aux.ozone_du, "AUX_ECMWFT"
    elif season(gipp, observation) == "SUMMER":
        value = float(constants.ozone_default_summer_du)
    else:
        value = float(constants.ozone_default_winter_du)
    nodes = lut.axis("ozone_du")
    return float(np.clip(value, nodes[0], nodes[-1])), source
