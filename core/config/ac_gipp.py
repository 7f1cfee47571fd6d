"""``L2A_CAL_AC_GIPP.xml``: atmospheric-correction calibration (Sen2Cor ``L2A_CAL_AC_GIPP``).

Ranges are those of Sen2Cor's ``L2A_CAL_AC_GIPP.xsd``. ``ClassicConstants`` is our extension
block: values Sen2Cor hard-codes in its configuration code (geometry clamps, season, ozone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar

from core.config.binding import Facets

_N_BANDS = 13
"""Sen2Cor lists B01..B08, B8A, B09..B12."""


Unit = Annotated[float, Facets(0.0, 1.0)]
SignedUnit = Annotated[float, Facets(-1.0, 1.0)]


@dataclass(frozen=True, slots=True)
class CalibrationFlags:
    """``Flags``: blue path-radiance rescaling and second reflectance-retrieval step."""

    scaling_limiter: bool
    scaling_disabler: bool
    rho_retrieval_step2: bool


@dataclass(frozen=True, slots=True)
class AcReferences:
    """``References``: look-up-table folder."""

    lib_dir: str


@dataclass(frozen=True, slots=True)
class FwhmList:
    """Full widths at half maximum [µm] of the 13 bands."""

    fwhm: Annotated[tuple[float, ...], Facets(0.0, 1.0, length=_N_BANDS)]


@dataclass(frozen=True, slots=True)
class Wavelength:
    """Centre wavelength [µm] and radiance calibration ``L = c0 + c1 * DN``."""

    value: Annotated[float, Facets(0.0, 10.0, xml="text")]
    c0: Annotated[float, Facets(0.0, 1.0, xml="attribute")]
    c1: Annotated[float, Facets(0.0, 1.0, xml="attribute")]


@dataclass(frozen=True, slots=True)
class WavelengthList:
    """The 13 band wavelengths."""

    wavelength: Annotated[tuple[Wavelength, ...], Facets(length=_N_BANDS)]


@dataclass(frozen=True, slots=True)
class SensorResolution:
    """``Sensor/Resolution``."""

    band_list: FwhmList


@dataclass(frozen=True, slots=True)
class SensorCalibration:
    """``Sensor/Calibration``: limits of the blue path-radiance scale factor and the wavelengths."""

    min_sc_blu: Annotated[float, Facets(0.0, 1.0, exclusive=True)]
    max_sc_blu: Annotated[float, Facets(1.0, 2.0, exclusive=True)]
    band_list: WavelengthList


@dataclass(frozen=True, slots=True)
class Sensor:
    """``Sensor``."""

    resolution: SensorResolution
    calibration: SensorCalibration


@dataclass(frozen=True, slots=True)
class AclPrio1:
    """First-priority parameters: DDV reference pixels, negative-reflectance cut-offs, terrain."""

    ac_min_ddv_area: Annotated[float, Facets(0.0, 100.0)]
    ac_swir_refl_lower_th: Unit
    ac_swir_22um_red_refl_ratio: Annotated[float, Facets(0.4, 0.6)]
    ac_red_blue_refl_ratio: SignedUnit
    ac_cut_off_aot_iter_vegetation: SignedUnit
    ac_cut_off_aot_iter_water: SignedUnit
    ac_aerosol_type_ratio_th: SignedUnit
    ac_topo_corr_th: Unit
    ac_slope_th: Annotated[float, Facets(0.0, 90.0)]
    ac_dem_p2p_val: Annotated[float, Facets(0.0, 300.0)]


@dataclass(frozen=True, slots=True)
class AclPrio2:
    """Second-priority parameters: DDV/DBV thresholds, water-vapour start, topographic iteration."""

    ac_swir_refl_ndvi_th: Unit
    ac_ddv_swir_refl_th1: Unit
    ac_ddv_swir_refl_th2: Unit
    ac_ddv_swir_refl_th3: Unit
    ac_ddv_16um_refl_th1: Unit
    ac_ddv_16um_refl_th2: Unit
    ac_ddv_16um_refl_th3: Unit
    ac_dbv_nir_refl_th: Unit
    ac_dbv_ndvi_th: Unit
    ac_red_ref_refl_th: Unit
    ac_dbv_red_veget_tst_ndvi_th: Unit
    ac_dbv_red_veget_refl_th: Unit
    ac_wv_iter_start_summer: Annotated[float, Facets(0.0, 5.0)]
    ac_wv_iter_start_winter: Annotated[float, Facets(0.0, 5.0)]
    ac_rng_nbhd_terrain_corr: Unit
    ac_max_nr_topo_iter: Annotated[int, Facets(0, 9)]
    ac_topo_corr_cutoff: Annotated[float, Facets(0.0, 10.0)]
    ac_vegetation_index_th: Annotated[float, Facets(1.0, 10.0)]


@dataclass(frozen=True, slots=True)
class AclPrio3:
    """Third-priority parameters: path-radiance scaling area, DDV smoothing, terrain start."""

    ac_limit_area_path_rad_scale: Annotated[float, Facets(0.0, 90.0)]
    ac_ddv_smooting_window: Annotated[float, Facets(0.0, 10.0)]
    ac_terrain_refl_start: Unit
    ac_spr_refl_percentage: Unit
    ac_spr_refl_promille: Unit


@dataclass(frozen=True, slots=True)
class AcClassicConstants:
    """Values hard-coded in Sen2Cor's configuration code (sen2cloud extension block)."""

    max_sun_zenith_deg: Annotated[float, Facets(0.0, 90.0)]
    max_view_zenith_deg: Annotated[float, Facets(0.0, 90.0)]
    mid_latitude_auto_lat_deg: Annotated[float, Facets(0.0, 90.0)]
    summer_start_doy: Annotated[int, Facets(1, 366)]
    summer_end_doy: Annotated[int, Facets(1, 366)]
    ozone_kg_m2_to_du: Annotated[float, Facets(0.0, 1.0e6, exclusive=True)]
    ozone_default_summer_du: Annotated[int, Facets(100, 600)]
    ozone_default_winter_du: Annotated[int, Facets(100, 600)]
    ddv_triangulation_min_percent: Annotated[float, Facets(0.0, 100.0)]
    ddv_triangulation_max_percent: Annotated[float, Facets(0.0, 100.0)]
    ddv_min_cell_percent: Annotated[float, Facets(0.0, 100.0)]
    flat_terrain_height_range_m: Annotated[float, Facets(0.0, 9000.0)]


@dataclass(frozen=True, slots=True)
class AcGipp:
    """The whole ``L2A_CAL_AC_GIPP.xml``."""

    ROOT: ClassVar[str] = "Level-2A_CAL_AC_Ground_Image_Processing_Parameter"

    flags: CalibrationFlags
    references: AcReferences
    sensor: Sensor
    acl_prio_1: AclPrio1
    acl_prio_2: AclPrio2
    acl_prio_3: AclPrio3
    classic_constants: AcClassicConstants
