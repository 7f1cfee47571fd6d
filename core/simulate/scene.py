"""Typed objects exchanged between the simulator's physics and its product writer.

The physics side (:mod:`core.simulate.forward` and friends) produces a :class:`SimulatedScene`
from a :class:`SceneSpec` and a :class:`SceneGeometry`; the product side
(:mod:`core.simulate.l1c_safe`) encodes it as an L1C SAFE plus a ``truth/`` folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from core.product.metadata import AngleGrid, ProcessingBaseline, RasterGrid


@dataclass(frozen=True, slots=True)
class SceneSpec:
    """What to simulate. Everything random derives from ``seed``."""

    size: int
    """Width = height in 10 m pixels (a multiple of 6, at most 10980)."""
    seed: int
    tile_id: str = "32TQM"
    """MGRS tile without the ``T``; fixes the UTM zone and the upper-left corner."""
    sensing_time: datetime = datetime(2024, 7, 15, 10, 20, 21)
    mission_id: str = "S2A"
    baseline: ProcessingBaseline = ProcessingBaseline(5, 10)  # noqa: RUF009 - frozen value
    aerosol_type: str = "continental"
    """6S aerosol model: ``continental`` (Sen2Cor RURAL) or ``maritime``."""
    aot550_range: tuple[float, float] = (0.08, 0.25)
    wv_cm_range: tuple[float, float] = (1.0, 2.5)
    ozone_du: float = 330.0
    cloud_fraction: float = 0.15
    cirrus_fraction: float = 0.05
    cloud_height_m: tuple[float, float] = (1000.0, 4000.0)
    max_elevation_m: float = 1500.0
    adjacency_km: float = 1.0
    swath_edge: bool = False
    """Put the eastern edge of the MSI swath across the middle of the simulated area."""


@dataclass(frozen=True, slots=True)
class SceneGeometry:
    """Acquisition geometry on the tile's grids (degrees)."""

    grids: dict[int, RasterGrid]
    """Resolution (10, 20, 60) -> grid."""
    sun_angles: AngleGrid
    """23x23 tie points, 5 km apart (MTD_TL ``Sun_Angles_Grid``)."""
    viewing_angles: dict[str, dict[int, AngleGrid]]
    """Band -> detector id -> incidence angle grid (NaN outside the detector's footprint)."""
    detector_footprint: dict[str, np.ndarray]
    """Band -> uint8 detector id per pixel at the band's native resolution (0 = outside swath)."""


@dataclass(frozen=True, slots=True)
class SimulatedScene:
    """A simulated tile: TOA at the sensor and the truth it was made from."""

    spec: SceneSpec
    geometry: SceneGeometry
    toa_reflectance: dict[str, np.ndarray]
    """Band -> float32 TOA reflectance at the band's native resolution (NaN = no data)."""
    boa_reflectance: dict[str, np.ndarray]
    """Band -> float32 true surface reflectance at native resolution (cloud-free ground)."""
    scene_class: np.ndarray
    """uint8 true class of each 10 m pixel in SCL codes (0-11)."""
    aot550: np.ndarray
    """float32 true AOT at 550 nm, 10 m grid."""
    wv_cm: np.ndarray
    """float32 true water-vapour column (cm), 10 m grid."""
    dem_m: np.ndarray
    """float32 elevation (m), 10 m grid."""
    ozone_du: float
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    """Optional truth layers (cloud optical depth, cloud height, shadow mask, ...)."""
