"""Sen2Cor's ``Mid_Latitude`` season: summer or winter standard atmosphere (facts §3.1).

``AUTO`` (Sen2Cor 2.8 ``L2A_Config``): summer within ``Mid_Latitude_Auto_Lat_Deg`` of the
equator; north of it summer from ``Summer_Start_Doy`` (1 April) to ``Summer_End_Doy`` (1 October),
south of it the reverse.
"""

from __future__ import annotations

from typing import Literal

from core.atmospheric_correction.observation import Observation
from core.config.gipp import Gipp

Season = Literal["SUMMER", "WINTER"]


def season(gipp: Gipp, observation: Observation) -> Season:
    """The season of the ozone and water-vapour defaults for this acquisition."""
    chosen = gipp.l2a.atmospheric_correction.look_up_tables.mid_latitude
    if chosen != "AUTO":
        return chosen
    constants = gipp.ac.classic_constants
    if abs(observation.latitude_deg) < constants.mid_latitude_auto_lat_deg:
        return "SUMMER"
    northern_summer = (
        constants.summer_start_doy <= observation.day_of_year < constants.summer_end_doy
    )
    return "SUMMER" if northern_summer == (observation.latitude_deg > 0) else "WINTER"
