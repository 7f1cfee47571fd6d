"""``L2A_GIPP.xml``: user-level processing parameters (Sen2Cor ``L2A_GIPP``, with the 2.10+ keys).

Field names are the XML tags in snake case; values come only from the XML files (our ``cfg/``
defaults, then a user file, then overrides; see :mod:`core.config.gipp`). Ranges and
enumerations are those of Sen2Cor's ``L2A_GIPP.xsd`` (2.8) and the 2.11 schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from core.config.binding import Facets

_SCHEME = r"S2.+"
_GIPP_SCHEME = r"L2.+"
_MAX_PIXEL_10M = 10979


@dataclass(frozen=True, slots=True)
class PsdScheme:
    """Metadata schema names of one Product Specification Document version."""

    psd_version: Annotated[str, Facets(pattern=r"[0-9][0-9]\.[0-9]", xml="attribute")]
    psd_reference: Annotated[str, Facets(pattern=_SCHEME, xml="attribute")]
    up_scheme_1c: Annotated[str, Facets(pattern=_SCHEME)]
    up_scheme_2a: Annotated[str, Facets(pattern=_SCHEME)]
    tile_scheme_1c: Annotated[str, Facets(pattern=_SCHEME)]
    tile_scheme_2a: Annotated[str, Facets(pattern=_SCHEME)]
    ds_scheme_1c: Annotated[str, Facets(pattern=_SCHEME)]
    ds_scheme_2a: Annotated[str, Facets(pattern=_SCHEME)]


@dataclass(frozen=True, slots=True)
class RegionOfInterest:
    """Sub-window of the tile in 10 m pixels (Sen2Cor 2.10+); ``OFF`` = whole tile."""

    row0: Annotated[Literal["OFF", "AUTO"] | int, Facets(0, _MAX_PIXEL_10M)]
    col0: Annotated[Literal["OFF", "AUTO"] | int, Facets(0, _MAX_PIXEL_10M)]
    nrow_win: Annotated[int, Facets(6, _MAX_PIXEL_10M + 1, multiple_of=6)]
    ncol_win: Annotated[int, Facets(6, _MAX_PIXEL_10M + 1, multiple_of=6)]


@dataclass(frozen=True, slots=True)
class CommonSection:
    """``Common_Section``: logging, threads, DEM, optional outputs, schemes."""

    log_level: Literal["NOTSET", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    nr_threads: Annotated[Literal["AUTO"] | int, Facets(1, 8)]
    dem_directory: str
    dem_reference: str
    generate_dem_output: bool
    generate_tci_output: bool
    generate_ddv_output: bool
    downsample_20_to_60: bool
    psd_scheme: tuple[PsdScheme, ...]
    gipp_scheme: Annotated[str, Facets(pattern=_GIPP_SCHEME)]
    sc_scheme: Annotated[str, Facets(pattern=_GIPP_SCHEME)]
    ac_scheme: Annotated[str, Facets(pattern=_GIPP_SCHEME)]
    pb_scheme: Annotated[str, Facets(pattern=_GIPP_SCHEME)]
    region_of_interest: RegionOfInterest
    product_doi: str
    product_generator: str
    psd_version: Annotated[str, Facets(pattern=r"DEFAULT|[0-9][0-9]\.[0-9]")]
    force_exit_on_dem_error: bool
    handle_l1c_qlt_mask: bool


@dataclass(frozen=True, slots=True)
class Filters:
    """``Scene_Classification/Filters``."""

    median_filter: Annotated[int, Facets(0, 10)]


@dataclass(frozen=True, slots=True)
class SceneClassificationSection:
    """``Scene_Classification`` of L2A_GIPP (the thresholds are in L2A_CAL_SC_GIPP)."""

    filters: Filters


@dataclass(frozen=True, slots=True)
class LookUpTables:
    """Radiative-transfer table choice: aerosol, season, ozone (DU; 0 = from AUX_ECMWFT)."""

    aerosol_type: Literal["RURAL", "MARITIME", "AUTO"]
    mid_latitude: Literal["SUMMER", "WINTER", "AUTO"]
    ozone_content: Literal[0, 250, 290, 330, 331, 370, 377, 410, 420, 450, 460]


@dataclass(frozen=True, slots=True)
class AtmosphericFlags:
    """``Atmospheric_Correction/Flags``."""

    wv_correction: Literal[0, 1]
    vis_update_mode: Literal[0, 1]
    wv_watermask: Literal[0, 1, 2]
    cirrus_correction: bool
    dem_terrain_correction: bool
    brdf_correction: Literal[0, 1, 2, 11, 12, 21, 22]
    brdf_lower_bound: Annotated[float, Facets(0.1, 0.25)]


@dataclass(frozen=True, slots=True)
class AtmosphericCalibration:
    """``Atmospheric_Correction/Calibration``: km, km, km, m, cm and a zlib level."""

    adj_km: Annotated[float, Facets(0.0, 10.0)]
    visibility: Annotated[float, Facets(5.0, 120.0)]
    altitude: Annotated[float, Facets(0.0, 2.5)]
    smooth_wv_map: Annotated[float, Facets(0.0, 300.0)]
    wv_threshold_cirrus: Annotated[float, Facets(0.1, 1.0)]
    database_compression_level: Annotated[int, Facets(0, 9)]


@dataclass(frozen=True, slots=True)
class AtmosphericCorrectionSection:
    """``Atmospheric_Correction`` of L2A_GIPP."""

    look_up_tables: LookUpTables
    flags: AtmosphericFlags
    calibration: AtmosphericCalibration


@dataclass(frozen=True, slots=True)
class L2AGipp:
    """The whole ``L2A_GIPP.xml``."""

    ROOT: ClassVar[str] = "Level-2A_Ground_Image_Processing_Parameter"

    common_section: CommonSection
    scene_classification: SceneClassificationSection
    atmospheric_correction: AtmosphericCorrectionSection
