"""``L2A_CAL_SC_GIPP.xml``: scene-classification parameters (Sen2Cor ``L2A_CAL_SC_GIPP``).

``Thresholds`` are Sen2Cor's keys (XSD type ``Th``: decimal in [-10, 10]). ``ClassicConstants``
is our extension block: the values Sen2Cor 2.8/2.9 hard-codes in ``L2A_SceneClass.py``; the
XML comment beside each key in ``cfg/L2A_CAL_SC_GIPP.xml`` names the step it belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from core.config.binding import Facets

Th = Annotated[float, Facets(-10.0, 10.0)]
"""Sen2Cor's ``Th`` simple type: a decimal in [-10, 10]."""
Reflectance = Annotated[float, Facets(0.0, 1.0)]
Byte = Annotated[int, Facets(0, 255)]
Percent = Annotated[float, Facets(0.0, 100.0)]
Pixels = Annotated[int, Facets(0, 50)]


@dataclass(frozen=True, slots=True)
class References:
    """Auxiliary maps (file names under the auxiliary-data folder)."""

    snow_map: str
    esacci_waterbodies_map: str
    esacci_landcover_map: str
    esacci_snowcondition_map_dir: str


@dataclass(frozen=True, slots=True)
class Classificators:
    """SCL class codes (fixed by the schema; each XSD enumeration has one value)."""

    no_data: Literal[0]
    saturated_defective: Literal[1]
    dark_features: Literal[2]
    cloud_shadows: Literal[3]
    vegetation: Literal[4]
    not_vegetated: Literal[5]
    water: Literal[6]
    unclassified: Literal[7]
    medium_proba_clouds: Literal[8]
    high_proba_clouds: Literal[9]
    thin_cirrus: Literal[10]
    snow_ice: Literal[11]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """TOA-reflectance thresholds and ratio limits; T1/T2 pairs are the ends of confidence ramps."""

    t1_b02: Th
    t2_b02: Th
    t1_b04: Th
    t2_b04: Th
    t1_b8a: Th
    t2_b8a: Th
    t1_b10: Th
    t2_b10: Th
    t1_b12: Th
    t2_b12: Th
    t_b02_b12: Th
    t_cloud_lp: Th
    t_cloud_mp: Th
    t_cloud_hp: Th
    t1_ndsi_cld: Th
    t2_ndsi_cld: Th
    t1_ndsi_snw: Th
    t2_ndsi_snw: Th
    t1_ndvi: Th
    t2_ndvi: Th
    t1_snow: Th
    t2_snow: Th
    t1_r_b02_b04: Th
    t2_r_b02_b04: Th
    t1_r_b8a_b03: Th
    t2_r_b8a_b03: Th
    t1_r_b8a_b11: Th
    t2_r_b8a_b11: Th
    t11_b02: Th
    t12_b02: Th
    t11_r_b02_b11: Th
    t12_r_b02_b11: Th
    t21_r_b02_b11: Th
    t22_r_b02_b11: Th
    t21_b12: Th
    t22_b12: Th
    rv_b2: Th
    rv_b3: Th
    rv_b4: Th
    rv_b8: Th
    rv_b11: Th
    rv_b12: Th
    t_sdw: Th


@dataclass(frozen=True, slots=True)
class ClassicConstants:
    """Constants hard-coded in Sen2Cor's classic classifier (sen2cloud extension block).

    The last fields switch and tune sen2cloud's default-mode additions (not ``--sc_classic``).
    """

    t_dark_b04: Reflectance
    t_dark_b8a_low: Reflectance
    cci_snow_water_value: Byte
    cci_snow_water_mean_limit: Annotated[float, Facets(0.0, 255.0)]
    t_snow_r_b05_b8a: Th
    snow_ring_px: Pixels
    t_vegetation_b02: Reflectance
    r_b02_b11_max: Annotated[float, Facets(0.0, 1000.0)]
    t_soil_b02_min: Reflectance
    t_soil_b02_max: Reflectance
    t_water_b12_min: Reflectance
    t_water_b12_max: Reflectance
    t_b02: Reflectance
    t_b02_b04_diff: Th
    t11_b8a_b11: Th
    t12_b8a_b11: Th
    t_rock_b02_min: Reflectance
    t_rock_b02_max: Reflectance
    t_rock_r_b02_b11: Th
    t1_r_b04_b11: Annotated[float, Facets(0.0, 100.0)]
    t2_r_b04_b11: Annotated[float, Facets(0.0, 100.0)]
    t_cirrus_b02: Reflectance
    t_cirrus_dem_m: Annotated[float, Facets(0.0, 9000.0)]
    sdw_ref_b02: Reflectance
    sdw_ref_b03: Reflectance
    sdw_ref_b04: Reflectance
    sdw_ref_b8a: Reflectance
    sdw_ref_b11: Reflectance
    sdw_ref_b12: Reflectance
    sdw_median_px: Pixels
    sdw_water_r_b02_b11: Annotated[float, Facets(0.0, 100.0)]
    sdw_cloud_proba: Reflectance
    sdw_gauss_sigma_px: Annotated[float, Facets(0.0, 50.0)]
    sdw_score: Reflectance
    sdw_cloud_dilation_px: Pixels
    sdw_cloud_height_low_km: Annotated[float, Facets(0.0, 20.0)]
    sdw_cloud_height_high_km: Annotated[float, Facets(0.0, 20.0)]
    sdw_cloud_height_top_km: Annotated[float, Facets(0.0, 20.0)]
    sdw_kernel_grid_m: Annotated[float, Facets(1.0, 1000.0)]
    sdw_cloud_height_order: Annotated[int, Facets(1, 10)]
    t_water_recovery_b8a: Reflectance
    cci_wb_water_value: Byte
    t_hillshade: Byte
    t_hillshade_shadow: Byte
    t_slope_deg: Annotated[float, Facets(0.0, 90.0)]
    t_soil_recovery_r_b02_b11: Th
    land_min_percent: Percent
    land_min_area_km2: Annotated[float, Facets(0.0, 12100.0)]
    hpc_high_percent: Percent
    hpc_low_percent: Percent
    t_land_b10_min: Reflectance
    hpc_b10_sigma: Annotated[float, Facets(0.0, 10.0)]
    land_b09_b8a_sigma: Annotated[float, Facets(0.0, 10.0)]
    hpc_blob_min_m: Annotated[float, Facets(0.0, 10000.0)]
    cirrus_recovery_land_sigma: Annotated[float, Facets(0.0, 10.0)]
    cirrus_recovery_water_sigma: Annotated[float, Facets(0.0, 10.0)]
    t_cirrus_recovery_land_b10: Reflectance
    t_cirrus_recovery_water_b10: Reflectance
    cci_lc_urban: Byte
    cci_lc_bare_first: Byte
    cci_lc_bare_last: Byte
    cci_lc_water: Byte
    urban_ring_cloud_percent: Percent


@dataclass(frozen=True, slots=True)
class DefaultMode:
    """Switchable steps the default mode (not ``--sc_classic``) adds (sen2cloud extension block)."""

    shadow_matching: bool
    shadow_match_height_step_m: Annotated[float, Facets(10.0, 1000.0)]
    shadow_match_min_dark_share: Reflectance
    shadow_match_min_visible_px: Annotated[int, Facets(1, 10000)]
    shadow_match_dilation_px: Pixels
    shadow_match_block_px: Annotated[int, Facets(1, 100000)]
    shadow_match_relative: bool
    shadow_match_relative_ratio: Reflectance
    shadow_match_background_px: Annotated[int, Facets(3, 501)]
    shadow_match_gate: bool
    shadow_match_gate_px: Pixels
    shadow_edge_growth: bool
    shadow_edge_px: Pixels
    shadow_edge_ratio: Reflectance
    shadow_edge_background_px: Annotated[int, Facets(3, 501)]
    dark_feature_reassignment: bool
    topographic_shadow: bool
    topo_shadow_grid_m: Annotated[float, Facets(10.0, 1000.0)]
    low_proba_land: bool
    snow_condition_gate: bool
    t_snow_occurrence: Percent
    land_split: bool
    t_land_ndvi: Th
    cirrus_edge_attribution: bool
    cirrus_edge_m: Annotated[float, Facets(0.0, 1000.0)]


@dataclass(frozen=True, slots=True)
class SceneClassification:
    """``Scene_Classification`` of L2A_CAL_SC_GIPP."""

    references: References
    classificators: Classificators
    thresholds: Thresholds
    classic_constants: ClassicConstants
    default_mode: DefaultMode


@dataclass(frozen=True, slots=True)
class ScGipp:
    """The whole ``L2A_CAL_SC_GIPP.xml``."""

    ROOT: ClassVar[str] = "Level-2A_CAL_SC_Ground_Image_Processing_Parameter"

    scene_classification: SceneClassification
