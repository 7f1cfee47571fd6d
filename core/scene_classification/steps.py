"""The steps of Sen2Cor's classic (2.8/2.9, ``--sc_classic``) scene classification.

One function per step of the decision sequence (facts §2.3, Sen2Cor 2.8 ``L2A_SceneClass.py``).
Each takes TOA reflectance arrays and a :class:`ClassState` and returns a new state; every
threshold comes from ``L2A_CAL_SC_GIPP.xml`` (``Thresholds`` and ``Classic_Constants``).
Pixels not yet classified carry :data:`PENDING` (Sen2Cor's working value 100), which
:func:`finalise` turns into UNCLASSIFIED.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final

import numpy as np

from core.config.sc_gipp import ScGipp
from core.scene_classification import kernels, morphology
from core.scene_classification.terrain import Terrain

PENDING: Final[int] = 255
"""Working class of a pixel no test has classified yet (Sen2Cor 2.8 uses 100)."""

_PERCENT: Final[int] = 100
"""Largest snow-occurrence value of the ESA CCI snow condition (values above are codes)."""

Toa = Mapping[str, np.ndarray]
"""Band name -> float32 TOA reflectance, all on the working grid."""


@dataclass(frozen=True, slots=True)
class ClassState:
    """The working state of the classification (all arrays of the working grid)."""

    scene_class: np.ndarray
    """uint8 SCL codes, :data:`PENDING` where not yet classified."""
    cloud_probability: np.ndarray
    """float32 cloud confidence ``Pc`` in [0, 1]."""
    snow_probability: np.ndarray
    """float32 snow confidence ``Ps`` in [0, 1]."""

    @property
    def pending(self) -> np.ndarray:
        """Pixels no test has classified yet."""
        return self.scene_class == PENDING


def _empty(like: np.ndarray) -> np.ndarray:
    return np.empty(like.shape, dtype=np.float32)


def classify_pixels(state: ClassState, mask: np.ndarray, code: int) -> ClassState:
    """``mask`` pixels get class ``code`` and zero cloud confidence."""
    if not mask.any():
        return state
    # np.where: one pass, no boolean fancy indexing (the steps run on full tiles)
    scene_class = np.where(mask, np.uint8(code), state.scene_class)
    cloud = state.cloud_probability
    if np.any(cloud, where=mask):  # a copy (120 MB at 20 m) only where a Pc is to be zeroed
        cloud = np.where(mask, np.float32(0.0), cloud)
    return replace(state, scene_class=scene_class, cloud_probability=cloud)


def _scale_cloud(state: ClassState, mask: np.ndarray, factor: np.ndarray) -> ClassState:
    """Multiply ``Pc`` by ``factor`` on ``mask``."""
    cloud = state.cloud_probability.copy()
    np.multiply(cloud, factor, out=cloud, where=mask)
    return replace(state, cloud_probability=cloud)


def initial_state(nodata: np.ndarray, saturated: np.ndarray, gipp: ScGipp) -> ClassState:
    """Step 0 and ``Handle_L1C_QLT_Mask``: no-data pixels are class 0, saturated/defective 1.

    Parameters
    ----------
    nodata, saturated
        bool arrays; no-data wins where both are set.
    """
    classes = gipp.scene_classification.classificators
    scene_class = np.full(nodata.shape, PENDING, dtype=np.uint8)
    scene_class[saturated] = classes.saturated_defective
    scene_class[nodata] = classes.no_data
    zeros = np.zeros(nodata.shape, dtype=np.float32)
    return ClassState(scene_class, zeros, zeros.copy())


def brightness_test(toa: Toa, state: ClassState, gipp: ScGipp) -> ClassState:
    """Step 1a: ``Pc = ramp(B04, T1_B04, T2_B04)^2``; dark pixels become DARK_FEATURES.

    Dark: B04 < T_DARK_B04 and T_DARK_B8A_LOW < B8A < T1_B8A (Sen2Cor ``L2A_CSND_1_1``).
    """
    sc = gipp.scene_classification
    th, cc = sc.thresholds, sc.classic_constants
    cloud, dark = _empty(toa["B04"]), np.empty(toa["B04"].shape, dtype=bool)
    kernels.brightness_kernel(
        toa["B04"], toa["B8A"], th.t1_b04, th.t2_b04, cc.t_dark_b04, cc.t_dark_b8a_low,
        th.t1_b8a, cloud, dark,
    )  # fmt: skip
    pending = state.pending
    cloud = np.where(pending, cloud, state.cloud_probability)
    state = replace(state, cloud_probability=cloud)
    return classify_pixels(state, pending & dark, sc.classificators.dark_features)


def ndsi_cloud_test(toa: Toa, state: ClassState, gipp: ScGipp) -> ClassState:
    """Step 1b: ``Pc *= ramp(NDSI, T1_NDSI_CLD, T2_NDSI_CLD)``, NDSI = (B03-B11)/(B03+B11)."""
    th = gipp.scene_classification.thresholds
    factor = _empty(toa["B03"])
    kernels.normalized_difference_ramp(
        toa["B03"], toa["B11"], th.t1_ndsi_cld, th.t2_ndsi_cld, factor
    )
    return _scale_cloud(state, state.pending, factor)


def snow_test(
    toa: Toa, state: ClassState, gipp: ScGipp, possible: np.ndarray | None = None
) -> ClassState:
    """Steps 2.1-2.5: snow confidence ``Ps``; ``Ps > T1_SNOW`` is SNOW_ICE.

    ``Ps`` = ramp(NDSI, T1/T2_NDSI_SNW) (0 where ``Pc`` = 0 or B05/B8A < T_SNOW_R_B05_B8A)
    x ramp(B8A, T1/T2_B8A) x ramp(B02, T1/T2_B02) x ramp(B02/B04, T1/T2_R_B02_B04), and 0 outside
    ``possible`` when given (:func:`snow_possible`). Snow pixels and a ring of SNOW_RING_PX pixels
    around snow where B12 < T2_SNOW get ``Pc`` = 0.
    """
    sc = gipp.scene_classification
    th, cc = sc.thresholds, sc.classic_constants
    ndsi = _empty(toa["B03"])
    kernels.normalized_difference_ramp(toa["B03"], toa["B11"], th.t1_ndsi_snw, th.t2_ndsi_snw, ndsi)
    snow_probability = _empty(ndsi)
    kernels.snow_confidence_kernel(
        ndsi, toa["B02"], toa["B04"], toa["B05"], toa["B8A"], state.cloud_probability,
        cc.t_snow_r_b05_b8a, th.t1_b8a, th.t2_b8a, th.t1_b02, th.t2_b02,
        th.t1_r_b02_b04, th.t2_r_b02_b04, snow_probability,
    )  # fmt: skip
    del ndsi  # 120 MB at 20 m
    pending = state.pending
    snow_probability[~pending] = 0.0
    if possible is not None:
        snow_probability[~possible] = 0.0
    snow = pending & (snow_probability > th.t1_snow)
    state = classify_pixels(state, snow, sc.classificators.snow_ice)
    ring = morphology.ring(snow, cc.snow_ring_px) & (toa["B12"] < th.t2_snow)
    cloud = state.cloud_probability.copy()
    cloud[ring] = 0.0
    return replace(state, cloud_probability=cloud, snow_probability=snow_probability)


def snow_possible(snow_condition: np.ndarray, gipp: ScGipp) -> np.ndarray:
    """Default mode (Sen2Cor 2.10+'s monthly maps): where snow can lie this month (bool).

    ESA CCI monthly snow condition: occurrence 0-100 % in 2000-2012, CCI_SNOW_WATER_VALUE for
    water, 255 invalid. Snow is possible where the occurrence exceeds T_SNOW_OCCURRENCE and where
    the map knows nothing (invalid); not over water (switch SNOW_CONDITION_GATE).
    """
    sc = gipp.scene_classification
    water = sc.classic_constants.cci_snow_water_value
    occurrence = (snow_condition <= _PERCENT) & (snow_condition > sc.default_mode.t_snow_occurrence)
    unknown = (snow_condition > _PERCENT) & (snow_condition != water)
    return occurrence | unknown


def snow_over_water(state: ClassState, snow_condition: np.ndarray, gipp: ScGipp) -> ClassState:
    """Step 2 (Sen2Cor 2.8): SNOW_ICE where the CCI snow condition says water
    (CCI_SNOW_WATER_VALUE) becomes MEDIUM_PROBA_CLOUDS (bright and NDSI-positive over a lake)."""
    sc = gipp.scene_classification
    classes = sc.classificators
    relabel = (state.scene_class == classes.snow_ice) & (
        snow_condition == sc.classic_constants.cci_snow_water_value
    )
    scene_class = state.scene_class.copy()
    scene_class[relabel] = classes.medium_proba_clouds
    snow = state.snow_probability.copy()
    snow[relabel] = 0.0
    return replace(state, scene_class=scene_class, snow_probability=snow)


def ndvi_test(toa: Toa, state: ClassState, gipp: ScGipp) -> ClassState:
    """Step 3: NDVI ramp (T1/T2_NDVI); 1 with B02 < T_VEGETATION_B02 is VEGETATION.

    Where the ramp is strictly between 0 and 1, ``Pc *= 1 - ramp``.
    """
    sc = gipp.scene_classification
    veg = _empty(toa["B8A"])
    kernels.normalized_difference_ramp(
        toa["B8A"], toa["B04"], sc.thresholds.t1_ndvi, sc.thresholds.t2_ndvi, veg
    )
    pending = state.pending
    vegetation = pending & (veg >= 1.0) & (toa["B02"] < sc.classic_constants.t_vegetation_b02)
    state = classify_pixels(state, vegetation, sc.classificators.vegetation)
    ramp = pending & (veg > 0.0) & (veg < 1.0)
    return _scale_cloud(state, ramp, np.subtract(1.0, veg, out=veg))


def _factor_step(state: ClassState, factor: np.ndarray, code: int) -> ClassState:
    """Pending pixels with ``factor`` 0 get class ``code``; the others ``Pc *= factor``."""
    pending = state.pending
    state = classify_pixels(state, pending & (factor == 0.0), code)
    return _scale_cloud(state, pending & (factor > 0.0), factor)


def soil_test(toa: Toa, state: ClassState, gipp: ScGipp) -> ClassState:
    """Step 5.1: bare soil from B02/B11 and a B02 limit falling with the ratio -> NOT_VEGETATED.

    R = clip(B02/B11, 0, R_B02_B11_MAX); limit = clip(T11_B02 R + T12_B02, T_SOIL_B02_MIN/MAX);
    B02 < limit: R < T11_R_B02_B11 is soil, up to T12_R_B02_B11 ``Pc *= ramp(R)``.
    """
    sc = gipp.scene_classification
    th, cc = sc.thresholds, sc.classic_constants
    factor = _empty(toa["B02"])
    kernels.soil_kernel(
        toa["B02"], toa["B11"], th.t11_b02, th.t12_b02, cc.r_b02_b11_max, cc.t_soil_b02_min,
        cc.t_soil_b02_max, th.t11_r_b02_b11, th.t12_r_b02_b11, factor,
    )  # fmt: skip
    return _factor_step(state, factor, sc.classificators.not_vegetated)


def water_test(toa: Toa, state: ClassState, gipp: ScGipp) -> ClassState:
    """Step 5.2: water from B02/B11 (R) and a B12 limit rising with R -> WATER.

    With B8A < B04 and B02 < T_B02: (B02-B04) > T_B02_B04_DIFF, or R >= T22_R_B02_B11 with
    B12 < clip(T21_B12 R + T22_B12, T_WATER_B12_MIN/MAX) is water; from T21_R_B02_B11 to
    T22_R_B02_B11 ``Pc`` falls linearly to 0.
    """
    sc = gipp.scene_classification
    th, cc = sc.thresholds, sc.classic_constants
    factor = _empty(toa["B02"])
    kernels.water_kernel(
        toa["B02"], toa["B04"], toa["B8A"], toa["B11"], toa["B12"], th.t21_b12, th.t22_b12,
        cc.t_water_b12_min, cc.t_water_b12_max, th.t21_r_b02_b11, th.t22_r_b02_b11, cc.t_b02,
        cc.t_b02_b04_diff, cc.r_b02_b11_max, factor,
    )  # fmt: skip
    return _factor_step(state, factor, sc.classificators.water)


def rock_sand_test(toa: Toa, state: ClassState, gipp: ScGipp) -> ClassState:
    """Step 6: rock and sand from B8A/B11 (R') -> NOT_VEGETATED.

    B02 < clip(T11_B8A_B11 R' + T12_B8A_B11, T_ROCK_B02_MIN/MAX) and B02 < T_ROCK_R_B02_B11 B11:
    R' < T1_R_B8A_B11 is rock/sand; up to T2_R_B8A_B11 ``Pc *= ramp(R')``.
    """
    sc = gipp.scene_classification
    th, cc = sc.thresholds, sc.classic_constants
    factor = _empty(toa["B02"])
    kernels.rock_sand_kernel(
        toa["B02"], toa["B8A"], toa["B11"], cc.t11_b8a_b11, cc.t12_b8a_b11, cc.t_rock_b02_min,
        cc.t_rock_b02_max, th.t1_r_b8a_b11, th.t2_r_b8a_b11, cc.t_rock_r_b02_b11, factor,
    )  # fmt: skip
    return _factor_step(state, factor, sc.classificators.not_vegetated)


def red_swir_ratio_test(toa: Toa, state: ClassState, gipp: ScGipp) -> ClassState:
    """Step 6bis: ``Pc *= 1 - ramp(B04/B11, T1_R_B04_B11, T2_R_B04_B11)`` (0 from the top)."""
    cc = gipp.scene_classification.classic_constants
    veg = _empty(toa["B04"])
    kernels.ratio_ramp(toa["B04"], toa["B11"], cc.t1_r_b04_b11, cc.t2_r_b04_b11, veg)
    return _scale_cloud(state, state.pending, 1.0 - veg)


def cloud_classes(state: ClassState, gipp: ScGipp) -> ClassState:
    """Step 7: pending pixels by ``Pc``: (T_CLOUD_LP, T_CLOUD_MP) -> 7, [MP, HP) -> 8, HP+ -> 9."""
    sc = gipp.scene_classification
    th, classes = sc.thresholds, sc.classificators
    pc, pending = state.cloud_probability, state.pending
    scene_class = state.scene_class.copy()
    scene_class[pending & (pc > th.t_cloud_lp) & (pc < th.t_cloud_mp)] = classes.unclassified
    scene_class[pending & (pc >= th.t_cloud_mp) & (pc < th.t_cloud_hp)] = (
        classes.medium_proba_clouds
    )
    scene_class[pending & (pc >= th.t_cloud_hp)] = classes.high_proba_clouds
    return replace(state, scene_class=scene_class)


def _valid(state: ClassState, gipp: ScGipp) -> np.ndarray:
    classes = gipp.scene_classification.classificators
    return (state.scene_class != classes.no_data) & (
        state.scene_class != classes.saturated_defective
    )


def cirrus_test(
    toa: Toa,
    state: ClassState,
    gipp: ScGipp,
    dem_m: np.ndarray | None = None,
    kept: np.ndarray | None = None,
) -> ClassState:
    """Step 7 (cirrus): B10 between T1_B10 and T2_B10 -> THIN_CIRRUS, above T2_B10 -> MEDIUM.

    Thin cirrus also needs B02 < T_CIRRUS_B02, ``Pc`` < T_CLOUD_MP and (with a DEM) an altitude
    below T_CIRRUS_DEM_M; thick cirrus (B10 >= T2_B10) needs ``Pc`` < T_CLOUD_HP. Both override
    earlier classes except no-data, saturated and the ``kept`` pixels (default mode:
    :func:`cloud_edge_b10`).
    """
    sc = gipp.scene_classification
    th, cc, classes = sc.thresholds, sc.classic_constants, sc.classificators
    b10, pc = toa["B10"], state.cloud_probability
    valid = _valid(state, gipp)
    if kept is not None:
        valid &= ~kept
    thin = valid & (b10 > th.t1_b10) & (b10 < th.t2_b10) & (toa["B02"] < cc.t_cirrus_b02)
    thin &= pc < th.t_cloud_mp
    if dem_m is not None:
        thin &= dem_m < cc.t_cirrus_dem_m
    thick = valid & (b10 >= th.t2_b10) & (pc < th.t_cloud_hp)
    scene_class = state.scene_class.copy()
    scene_class[thin] = classes.thin_cirrus
    scene_class[thick] = classes.medium_proba_clouds
    return replace(state, scene_class=scene_class)


def cloud_edge_b10(toa: Toa, state: ClassState, gipp: ScGipp, resolution: int) -> np.ndarray:
    """Default mode: pixels whose B10 the neighbouring opaque cloud raises (bool mask).

    B10 is a 60 m band, imported bilinearly on the 20 m grid (facts §1.3): an opaque cloud
    bright at 1.375 um lifts B10 above T1_B10, often above T2_B10, up to CIRRUS_EDGE_M beyond
    its edge, where the 20 m bands see no cloud. Such pixels have ``Pc`` < T_CLOUD_MP, lie
    within CIRRUS_EDGE_M (diamond, ``resolution`` m pixels) of a pixel with ``Pc`` >=
    T_CLOUD_HP and a B10 below T1_B10 lies within that reach (square window): the clear
    background is within the cloud's reach, so no cirrus field covers them (switch
    CIRRUS_EDGE_ATTRIBUTION).
    """
    sc = gipp.scene_classification
    th = sc.thresholds
    reach = round(sc.default_mode.cirrus_edge_m / resolution)
    pc = state.cloud_probability
    near = morphology.dilate_diamond(pc >= th.t_cloud_hp, reach) & (pc < th.t_cloud_mp)
    near &= _valid(state, gipp)
    if not near.any():
        return near
    return near & (morphology.local_minimum(toa["B10"], reach) < th.t1_b10)


def cloud_shadow_update(state: ClassState, shadow: np.ndarray, gipp: ScGipp) -> ClassState:
    """Step 8: ``shadow`` pixels (:mod:`core.scene_classification.shadows`) -> CLOUD_SHADOWS."""
    scene_class = state.scene_class.copy()
    scene_class[shadow & _valid(state, gipp)] = (
        gipp.scene_classification.classificators.cloud_shadows
    )
    return replace(state, scene_class=scene_class)


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` (float32; +inf where the denominator is 0)."""
    out = _empty(numerator)
    kernels.ratio_kernel(numerator, denominator, out)
    return out


def _ndvi(toa: Toa) -> np.ndarray:
    ndvi = _empty(toa["B8A"])
    kernels.normalized_difference_kernel(toa["B8A"], toa["B04"], ndvi)
    return ndvi


def dark_vegetation_recovery(toa: Toa, state: ClassState, gipp: ScGipp) -> ClassState:
    """Step 9: DARK_FEATURES or pending, NDVI > T2_NDVI or B8A/B03 > T2_R_B8A_B03 -> VEGETATION."""
    sc = gipp.scene_classification
    th = sc.thresholds
    green = _ndvi(toa) > th.t2_ndvi
    green |= ratio(toa["B8A"], toa["B03"]) > th.t2_r_b8a_b03
    candidates = state.pending | (state.scene_class == sc.classificators.dark_features)
    return classify_pixels(state, candidates & green, sc.classificators.vegetation)


def water_recovery(toa: Toa, state: ClassState, gipp: ScGipp) -> ClassState:
    """Step 10: DARK_FEATURES with B02/B11 > T22_R_B02_B11 and B8A < B04, and pending pixels
    with B8A < T_WATER_RECOVERY_B8A, become WATER."""
    sc = gipp.scene_classification
    th, classes = sc.thresholds, sc.classificators
    dark = state.scene_class == classes.dark_features
    recovered = (
        dark & (ratio(toa["B02"], toa["B11"]) > th.t22_r_b02_b11) & (toa["B8A"] < toa["B04"])
    )
    recovered |= state.pending & (toa["B8A"] < sc.classic_constants.t_water_recovery_b8a)
    return classify_pixels(state, recovered, classes.water)


def water_bodies_recovery(state: ClassState, water_bodies: np.ndarray, gipp: ScGipp) -> ClassState:
    """Step 11: ESA CCI water bodies (value CCI_WB_WATER_VALUE) on classes 2, 3, 7 or pending
    -> WATER."""
    sc = gipp.scene_classification
    classes = sc.classificators
    candidates = np.isin(
        state.scene_class,
        (classes.dark_features, classes.cloud_shadows, classes.unclassified, PENDING),
    )
    recovered = candidates & (water_bodies == sc.classic_constants.cci_wb_water_value)
    return classify_pixels(state, recovered, classes.water)


def dem_cleaning(
    toa: Toa,
    state: ClassState,
    relief: Terrain,
    gipp: ScGipp,
    water_bodies: np.ndarray | None = None,
) -> ClassState:
    """Step 12: DEM cleaning with Sen2Cor's ``gdaldem`` hill-shade and slope -> DARK_FEATURES.

    WATER on slopes above T_SLOPE_DEG with hill-shade below T_HILLSHADE; CLOUD_SHADOWS with a
    non-zero hill-shade below T_HILLSHADE_SHADOW; pending, UNCLASSIFIED or MEDIUM_PROBA pixels with
    hill-shade below T_HILLSHADE, (B02 - B04) > T_B02_B04_DIFF, B8A < B04 and B02 > T_B02 (shaded
    snow), outside ESA CCI water when the map is given.
    """
    sc = gipp.scene_classification
    cc, classes = sc.classic_constants, sc.classificators
    shade, scl = relief.hillshade, state.scene_class
    steep_water = (
        (scl == classes.water) & (shade < cc.t_hillshade) & (relief.slope_deg > cc.t_slope_deg)
    )
    deep = (scl == classes.cloud_shadows) & (shade > 0) & (shade < cc.t_hillshade_shadow)
    shaded_snow = (
        np.isin(scl, (PENDING, classes.unclassified, classes.medium_proba_clouds))
        & (shade < cc.t_hillshade)
        & (toa["B02"] - toa["B04"] > cc.t_b02_b04_diff)
        & (toa["B8A"] < toa["B04"])
        & (toa["B02"] > cc.t_b02)
    )
    if water_bodies is not None:
        shaded_snow &= water_bodies != cc.cci_wb_water_value
    return classify_pixels(state, steep_water | deep | shaded_snow, classes.dark_features)


def snow_recovery(
    toa: Toa, state: ClassState, gipp: ScGipp, possible: np.ndarray | None = None
) -> ClassState:
    """Step 13: pending pixels within SNOW_RING_PX (diamond) of snow with B11 < B03 -> SNOW_ICE
    (only inside ``possible`` when given, :func:`snow_possible`)."""
    sc = gipp.scene_classification
    snow = state.scene_class == sc.classificators.snow_ice
    near = morphology.ring(snow, sc.classic_constants.snow_ring_px)
    recovered = near & state.pending & (toa["B11"] < toa["B03"])
    if possible is not None:
        recovered &= possible
    return classify_pixels(state, recovered, sc.classificators.snow_ice)


def soil_recovery(toa: Toa, state: ClassState, gipp: ScGipp) -> ClassState:
    """Step 14: DARK_FEATURES with B02/B11 < T_SOIL_RECOVERY_R_B02_B11 -> NOT_VEGETATED."""
    sc = gipp.scene_classification
    limit = sc.classic_constants.t_soil_recovery_r_b02_b11
    dark = state.scene_class == sc.classificators.dark_features
    recovered = dark & (ratio(toa["B02"], toa["B11"]) < limit)
    return classify_pixels(state, recovered, sc.classificators.not_vegetated)


def topographic_shadow_update(state: ClassState, shadow: np.ndarray, gipp: ScGipp) -> ClassState:
    """Default mode: ``shadow`` pixels (:mod:`core.scene_classification.topography`) that are
    ground, cloud shadow, unclassified or pending become DARK_FEATURES (switch TOPOGRAPHIC_SHADOW).

    Clouds, cirrus, no-data and saturated pixels keep their class: what hides the ground there
    is not the terrain.
    """
    classes = gipp.scene_classification.classificators
    ground = np.isin(
        state.scene_class,
        (PENDING, classes.dark_features, classes.cloud_shadows, classes.vegetation,
         classes.not_vegetated, classes.water, classes.unclassified, classes.snow_ice),
    )  # fmt: skip
    return classify_pixels(state, ground & shadow, classes.dark_features)


def dark_feature_reassignment(
    toa: Toa, state: ClassState, gipp: ScGipp, topographic: np.ndarray | None = None
) -> ClassState:
    """Default mode: DARK_FEATURES that are no topographic shadow get a land class.

    From processing baseline 04.00 class 2 means "topographic cast shadow" (facts §2.1), while
    the classic dark test also catches dark fields and forests. Every such pixel outside
    ``topographic`` (the terrain-shadow mask; ``None``: no DEM, nothing is) becomes VEGETATION when
    its NDVI is above T1_NDVI and NOT_VEGETATED otherwise (switch DARK_FEATURE_REASSIGNMENT).
    """
    sc = gipp.scene_classification
    classes = sc.classificators
    dark = state.scene_class == classes.dark_features
    if topographic is not None:
        dark &= ~topographic
    green = _ndvi(toa) > sc.thresholds.t1_ndvi
    state = classify_pixels(state, dark & green, classes.vegetation)
    return classify_pixels(state, dark & ~green, classes.not_vegetated)


def low_probability_land(toa: Toa, state: ClassState, gipp: ScGipp) -> ClassState:
    """Default mode: unclassified pixels that look like land are land (switch LOW_PROBA_LAND).

    Pixels left pending or UNCLASSIFIED have ``Pc`` below T_CLOUD_MP. Where B02/B11 is below
    T12_R_B02_B11 (the top of the soil ramp of step 5.1: the blue is not raised as a cloud's
    whiteness raises it) they are bright soil, rock or urban surfaces that Sen2Cor recovers only
    with the ESA CCI land cover (steps 15 and 17); where the TOA NDVI exceeds T_LAND_NDVI the
    vegetation shows through (a cloud flattens the spectrum, NDVI near 0). Both become
    NOT_VEGETATED (the land split then makes the green ones VEGETATION).
    """
    sc = gipp.scene_classification
    th, classes = sc.thresholds, sc.classificators
    candidates = (state.pending | (state.scene_class == classes.unclassified)) & (
        state.cloud_probability < th.t_cloud_mp
    )
    land_like = ratio(toa["B02"], toa["B11"]) < th.t12_r_b02_b11
    land_like |= _ndvi(toa) > sc.default_mode.t_land_ndvi
    return classify_pixels(state, candidates & land_like, classes.not_vegetated)


def land_split(toa: Toa, state: ClassState, gipp: ScGipp) -> ClassState:
    """Default mode: land is VEGETATION above T_LAND_NDVI (TOA NDVI), else NOT_VEGETATED.

    Sen2Cor calls a pixel vegetation only above its NDVI ramp (T1/T2_NDVI, 0.36-0.42 on TOA
    reflectance); sparse or dry vegetation, whose TOA NDVI the path radiance lowers to 0.2-0.4,
    ends in the soil tests. Switch LAND_SPLIT.
    """
    sc = gipp.scene_classification
    classes = sc.classificators
    land = np.isin(state.scene_class, (classes.vegetation, classes.not_vegetated))
    green = _ndvi(toa) > sc.default_mode.t_land_ndvi
    scene_class = state.scene_class.copy()
    scene_class[land & green] = classes.vegetation
    scene_class[land & ~green] = classes.not_vegetated
    return replace(state, scene_class=scene_class)


def finalise(state: ClassState, gipp: ScGipp, median_filter_px: int = 0) -> ClassState:
    """Step 18: pending pixels -> UNCLASSIFIED, then the optional ``Median_Filter`` of the SCL."""
    scene_class = state.scene_class.copy()
    scene_class[state.pending] = gipp.scene_classification.classificators.unclassified
    return replace(state, scene_class=morphology.median(scene_class, median_filter_px))
