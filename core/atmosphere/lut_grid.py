"""The node grid of the radiative-transfer table and the 6S states of each build chunk.

Design (one 6S run costs 0.05-0.5 s): gaseous absorption is separated from scattering, as 6S
itself treats it (Vermote et al. 1997, 6S manual, "coupling of absorption and scattering").

* Scattering table, per (sensor, aerosol, band), computed dry (water vapour and ozone = 0): path
  reflectance over (sun zenith, view zenith, relative azimuth, AOT550, elevation); downward
  transmittances over (sun zenith, AOT550, elevation) and upward over (view zenith, AOT550,
  elevation) come from the same runs, the spherical albedo over (AOT550, elevation).
* Gas table, per (sensor, band): over (two-way air mass ``1/mu_s + 1/mu_v``, water vapour, ozone,
  elevation) the two-way gaseous transmittance and the two factors by which 6S attenuates the
  molecular and the aerosol part of the path reflectance (6S mixes water vapour with the aerosol
  layer but not with the molecular one, so the B09/B10 path depends on water vapour).

Node spacings come from 1-D interpolation-error sweeps (README in ``cfg/lut``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.simulate.sixs import AtmosphereState

TABLE_SENSORS = ("S2A", "S2B")
"""Sensors with their own slices; S2C has no 6S response and reads S2A's (``RESPONSE_OF``)."""

RESPONSE_OF = {"S2A": "S2A", "S2B": "S2B", "S2C": "S2A"}
"""Spectral response used for each sensor (stored in the table metadata)."""

AEROSOLS = ("rural", "maritime")
"""Sen2Cor aerosol types; rural is 6S ``continental``."""

SIXS_AEROSOL = {"rural": "continental", "maritime": "maritime"}

BUILD_BANDS = (
    "B02",
    "B03",
    "B04",
    "B8A",
    "B11",
    "B12",
    "B05",
    "B06",
    "B07",
    "B08",
    "B09",
    "B01",
    "B10",
)
"""Build order: the aerosol-retrieval and 10 m bands first, the cirrus band last."""

AOT_GAS_REFERENCE = 0.4
"""AOT550 of the run that separates the aerosol part of the path reflectance in the gas table."""


@dataclass(frozen=True, slots=True)
class LutGrid:
    """The nodes of every table axis (angles in degrees, elevation in km, ozone in DU)."""

    sun_zenith_deg: tuple[float, ...] = (0.0, 15.0, 30.0, 40.0, 50.0, 57.5, 65.0, 70.0)
    view_zenith_deg: tuple[float, ...] = (0.0, 12.0)
    relative_azimuth_deg: tuple[float, ...] = (0.0, 45.0, 90.0, 135.0, 180.0)
    aot550: tuple[float, ...] = (0.0, 0.1, 0.2, 0.4, 0.6, 0.8, 1.2)
    elevation_km: tuple[float, ...] = (0.0, 1.5, 3.0)
    air_mass: tuple[float, ...] = (2.0, 2.5, 3.2, 4.0)
    wv_cm: tuple[float, ...] = (0.2, 0.6, 1.2, 2.0, 3.2, 5.0)
    ozone_du: tuple[float, ...] = (250.0, 450.0)


DEFAULT_GRID = LutGrid()


@dataclass(frozen=True, slots=True)
class Chunk:
    """One resumable unit of work: a scattering slice or a gas slice of one band."""

    kind: str
    """``"scattering"`` (one elevation of one sensor/aerosol/band) or ``"gas"``."""
    sensor: str
    band: str
    aerosol: str = ""
    elevation_index: int = 0

    @property
    def name(self) -> str:
        """File stem of the chunk in the work directory."""
        if self.kind == "gas":
            return f"gas_{self.sensor}_{self.band}"
        return f"scat_{self.sensor}_{self.aerosol}_{self.band}_z{self.elevation_index}"


def chunks(grid: LutGrid) -> list[Chunk]:
    """Every chunk, in build priority: S2A rural with the gas slices band by band (each band is
    usable as soon as its chunks are done), S2A maritime, then S2B likewise."""
    out: list[Chunk] = []
    for sensor in TABLE_SENSORS:
        for aerosol in AEROSOLS:
            for band in BUILD_BANDS:
                if aerosol == AEROSOLS[0]:
                    out.append(Chunk("gas", sensor, band))
                out.extend(
                    Chunk("scattering", sensor, band, aerosol, k)
                    for k in range(len(grid.elevation_km))
                )
    return out


def _state(
    sensor: str,
    band: str,
    aerosol: str,
    *,
    aot: float,
    sza: float,
    vza: float,
    raa: float,
    elevation_km: float,
    wv: float = 0.0,
    ozone: float = 0.0,
) -> AtmosphereState:
    return AtmosphereState(
        mission_id=sensor,
        band=band,
        aot550=aot,
        aerosol_type=SIXS_AEROSOL[aerosol],
        wv_cm=wv,
        ozone_du=ozone,
        elevation_m=elevation_km * 1000.0,
        sun_zenith_deg=sza,
        sun_azimuth_deg=0.0,
        view_zenith_deg=vza,
        view_azimuth_deg=raa,
    )


def scattering_states(grid: LutGrid, chunk: Chunk) -> list[AtmosphereState]:
    """Dry states of a scattering chunk, ordered (sun zenith, view zenith, azimuth, AOT).

    At nadir view the azimuth is irrelevant: those states repeat the azimuth-0 state, so the
    builder runs each distinct state once.
    """
    z = grid.elevation_km[chunk.elevation_index]
    return [
        _state(
            chunk.sensor,
            chunk.band,
            chunk.aerosol,
            aot=aot,
            sza=sza,
            vza=vza,
            raa=raa if vza > 0.0 else 0.0,
            elevation_km=z,
        )
        for sza in grid.sun_zenith_deg
        for vza in grid.view_zenith_deg
        for raa in grid.relative_azimuth_deg
        for aot in grid.aot550
    ]


def air_mass_sun_zenith(air_mass: float) -> float:
    """Sun zenith (degrees) giving two-way air mass ``air_mass`` with a nadir view."""
    return math.degrees(math.acos(1.0 / (air_mass - 1.0)))


def gas_states(grid: LutGrid, chunk: Chunk) -> list[list[AtmosphereState]]:
    """Per gas node (air mass, water vapour, ozone, elevation): four states.

    Wet and dry (water vapour and ozone = 0) runs, each without aerosol and at
    :data:`AOT_GAS_REFERENCE` (rural), at a nadir view.
    """
    nodes = []
    for m in grid.air_mass:
        sza = air_mass_sun_zenith(m)
        for wv in grid.wv_cm:
            for ozone in grid.ozone_du:
                for z in grid.elevation_km:
                    nodes.append(
                        [
                            _state(
                                chunk.sensor,
                                chunk.band,
                                "rural",
                                aot=aot,
                                sza=sza,
                                vza=0.0,
                                raa=0.0,
                                elevation_km=z,
                                wv=w,
                                ozone=o,
                            )
                            for w, o in ((wv, ozone), (0.0, 0.0))
                            for aot in (0.0, AOT_GAS_REFERENCE)
                        ]
                    )
    return nodes
