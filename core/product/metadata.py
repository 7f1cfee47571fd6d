"""Typed metadata of an L1C tile, shared by the reader, the L2A writer and the simulator.

The reader (:mod:`core.product.l1c`) fills these frozen objects from MTD_MSIL1C.xml,
MTD_TL.xml, MTD_DS.xml / the AWS ``tileInfo.json`` + ``metadata.xml``; the writer
(:mod:`core.product.l2a`) and the scene simulator read them. Nothing here touches files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import total_ordering

import numpy as np
from affine import Affine

_BASELINE_RE = re.compile(r"^(?:N)?(\d{2})\.?(\d{2})$")


@total_ordering
@dataclass(frozen=True, slots=True)
class ProcessingBaseline:
    """A processing baseline such as ``04.00``, compared numerically (never as strings)."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> ProcessingBaseline:
        """Parse ``"04.00"``, ``"0400"`` or ``"N0400"``."""
        match = _BASELINE_RE.match(text.strip())
        if match is None:
            raise ValueError(f"not a processing baseline: {text!r} (expected dd.dd)")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.major:02d}.{self.minor:02d}"

    @property
    def n_code(self) -> str:
        """The product-name form, ``N0400``."""
        return f"N{self.major:02d}{self.minor:02d}"

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, ProcessingBaseline):
            return NotImplemented
        return (self.major, self.minor) < (other.major, other.minor)


@dataclass(frozen=True, slots=True)
class RasterGrid:
    """The georeferencing of one resolution of a tile (``Tile_Geocoding`` of MTD_TL.xml)."""

    resolution: int
    width: int
    height: int
    transform: Affine
    crs_epsg: int


@dataclass(frozen=True, slots=True)
class AngleGrid:
    """A zenith/azimuth pair on the 5 km tie-point grid of MTD_TL.xml (degrees, NaN = absent).

    ``zenith[i, j]`` is the value at the tie point ``x = ulx + j*col_step``,
    ``y = uly - i*row_step`` where ``(ulx, uly)`` is the tile's upper-left corner.
    """

    zenith: np.ndarray
    azimuth: np.ndarray
    col_step: float = 5000.0
    row_step: float = 5000.0


@dataclass(frozen=True, slots=True)
class L1CMetadata:
    """Everything about one L1C tile that processing and product writing need."""

    # identity
    product_uri: str
    """e.g. ``S2A_MSIL1C_20221005T115411_N0400_R023_T29UNU_20221005T134447.SAFE``."""
    mission_id: str
    """``S2A``, ``S2B`` or ``S2C``."""
    spacecraft_name: str
    """``Sentinel-2A`` ..."""
    processing_baseline: ProcessingBaseline
    product_start_time: datetime
    product_stop_time: datetime
    generation_time: datetime
    datatake_sensing_start: datetime
    sensing_time: datetime
    """Tile ``SENSING_TIME`` (MTD_TL.xml)."""
    tile_id: str
    """MGRS tile without the ``T`` prefix, e.g. ``29UNU``."""
    relative_orbit: int
    absolute_orbit: int
    datastrip_id: str
    granule_id: str
    """Long granule identifier (``S2A_OPER_MSI_L1C_TL_...``)."""
    psd_version: str
    """Product Specification Document version read from the namespace, e.g. ``14.9``."""

    # radiometry
    quantification_value: float
    radio_add_offset: dict[str, float]
    """Per band name; all 0 before baseline 04.00."""
    u_earth_sun: float
    solar_irradiance: dict[str, float]
    """Per band name, W m-2 µm-1."""
    nodata_value: int = 0
    saturated_value: int = 65535

    # geometry
    grids: dict[int, RasterGrid] = field(default_factory=dict)
    sun_angles: AngleGrid | None = None
    mean_sun_zenith: float = float("nan")
    mean_sun_azimuth: float = float("nan")
    viewing_angles: dict[str, dict[int, AngleGrid]] = field(default_factory=dict)
    """Band name -> detector id -> incidence angle grid."""
    mean_viewing_angles: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Band name -> (mean zenith, mean azimuth)."""

    # quality
    cloud_coverage_assessment: float | None = None
    footprint_wkt: str | None = None
    """Product footprint in EPSG:4326 (``EXT_POS_LIST``), when present."""


@dataclass(frozen=True, slots=True)
class L1CSourceFiles:
    """Where the files of an L1C tile are, as URIs readable by :mod:`core.io.storage`.

    URIs are local paths, ``s3://bucket/key`` or ``zip://member::archive`` style paths, whatever
    the reader resolved; the writer copies the metadata and QI files it names into the L2A
    product (Sen2Cor copies ``AUX_DATA``, ``QI_DATA``, ``rep_info``, ``INSPIRE.xml`` and
    ``manifest.safe`` from the L1C).
    """

    product_metadata: str
    """MTD_MSIL1C.xml (or the AWS-layout product ``metadata.xml`` when present)."""
    tile_metadata: str
    """MTD_TL.xml (AWS layout: the tile ``metadata.xml``)."""
    bands: dict[str, str]
    """Band name -> JP2 URI."""
    datastrip_metadata: str | None = None
    manifest: str | None = None
    inspire: str | None = None
    tile_qi: dict[str, str] = field(default_factory=dict)
    """File name -> URI of every file in the tile's QI_DATA (masks and QI XML reports)."""
    datastrip_qi: dict[str, str] = field(default_factory=dict)
    """File name -> URI of every file in the datastrip's QI_DATA."""
    aux: dict[str, str] = field(default_factory=dict)
    """File name -> URI of the tile AUX_DATA files (AUX_ECMWFT, AUX_CAMSFO)."""
    rep_info: dict[str, str] = field(default_factory=dict)
    """File name -> URI of the rep_info schema files."""
    preview: str | None = None
    """The L1C TCI or PVI, when present."""
