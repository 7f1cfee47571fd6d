"""``classify``: scene classification of an in-memory TOA reflectance cube.

Runs Sen2Cor's classic decision sequence (facts §2.3, :mod:`core.scene_classification.steps`)
on band arrays of one grid; no product on disk is needed. Steps that need auxiliary data (ESA
CCI water bodies, land cover and snow condition; the DEM) are skipped and logged when the data are
absent.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np

from core.config.sc_gipp import ScGipp
from core.errors import InputError, MissingBandError
from core.scene_classification import morphology, steps
from core.scene_classification.land_cover import land_cover_recoveries
from core.scene_classification.shadow_matching import matched_shadow_mask, shadow_edges, towards
from core.scene_classification.shadows import cloud_shadow_mask, shadow_spectrum
from core.scene_classification.terrain import Terrain, terrain
from core.scene_classification.topography import topographic_shadow

logger = logging.getLogger(__name__)

CLASSIC_BANDS: Final[tuple[str, ...]] = (
    "B02", "B03", "B04", "B05", "B8A", "B10", "B11", "B12",
)  # fmt: skip
"""Bands the classic sequence reads."""
OPTIONAL_BANDS: Final[tuple[str, ...]] = ("B09",)
"""Bands read when given: B09 for the water-vapour ratio of the land recovery (step 15)."""
SC_RESOLUTIONS: Final[tuple[int, ...]] = (20, 60)
"""Sen2Cor classifies only at 20 m or 60 m (facts §1.1 step 8)."""
_SOURCE: Final[str] = "<toa>"
"""``path`` of errors about the in-memory input."""


@dataclass(frozen=True, slots=True)
class ScAux:
    """Auxiliary maps on the working grid (facts §2.5); ``None`` = not available."""

    snow_possible: bool | None = None
    """Whether ``GlobalSnowMap.tiff`` allows snow in the tile (``None``: no map, tests run)."""
    water_bodies: np.ndarray | None = None
    """ESA CCI water bodies (uint8, CCI_WB_WATER_VALUE = water)."""
    snow_condition: np.ndarray | None = None
    """ESA CCI monthly snow condition of the sensing month (uint8: occurrence 0-100 %,
    CCI_SNOW_WATER_VALUE = water, 255 invalid)."""
    land_cover: np.ndarray | None = None
    """ESA CCI land cover (uint8 LCCS codes: CCI_LC_URBAN, CCI_LC_BARE_FIRST-LAST, CCI_LC_WATER,
    ...; 0 and 255 = no value); enables steps 15-17."""


@dataclass(frozen=True, slots=True)
class SceneClassification:
    """Result of :func:`classify` on the working grid."""

    scene_class: np.ndarray
    """uint8 SCL codes 0-11."""
    cloud_probability: np.ndarray
    """uint8 cloud probability in % (``MSK_CLDPRB``)."""
    snow_probability: np.ndarray
    """uint8 snow probability in % (``MSK_SNWPRB``)."""


def _percent(confidence: np.ndarray) -> np.ndarray:
    percent = np.clip(confidence, 0.0, 1.0)
    percent *= 100.0
    return np.rint(percent, out=percent).astype(np.uint8)


def _bands(toa: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    missing = [band for band in CLASSIC_BANDS if band not in toa]
    if missing:
        raise MissingBandError(f"scene classification needs bands {missing}", path=_SOURCE)
    names = CLASSIC_BANDS + tuple(band for band in OPTIONAL_BANDS if band in toa)
    shapes = {toa[band].shape for band in names}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise InputError(
            f"bands must be 2-D arrays of one shape, got {sorted(shapes)}", path=_SOURCE
        )
    return {band: np.ascontiguousarray(toa[band], dtype=np.float32) for band in names}


def _check_shape(values: float | np.ndarray, shape: tuple[int, ...], name: str) -> None:
    """Arrays must match the bands; scalars are fine."""
    if np.ndim(values) and np.shape(values) != shape:
        raise InputError(f"{name} has shape {np.shape(values)}, bands {shape}", path=_SOURCE)


def _mask(mask: np.ndarray | None, shape: tuple[int, ...], name: str) -> np.ndarray:
    if mask is None:
        return np.zeros(shape, dtype=bool)
    _check_shape(mask, shape, name)
    return mask.astype(bool)


def classify(
    toa: Mapping[str, np.ndarray],
    *,
    sun_zenith_deg: float | np.ndarray,
    sun_azimuth_deg: float | np.ndarray,
    view_zenith_deg: float | np.ndarray | None = None,
    view_azimuth_deg: float | np.ndarray | None = None,
    dem_m: np.ndarray | None = None,
    aux: ScAux | None = None,
    gipp: ScGipp,
    resolution: int,
    classic: bool = True,
    nodata: np.ndarray | None = None,
    saturated: np.ndarray | None = None,
    median_filter_px: int = 0,
) -> SceneClassification:
    """Classify a TOA reflectance cube into Sen2Cor's 12 SCL classes.

    Parameters
    ----------
    toa
        Band name (``"B02"``, ``"B8A"``, ...) -> TOA reflectance (0-1) on the working grid; NaN =
        no data. :data:`CLASSIC_BANDS` are required, :data:`OPTIONAL_BANDS` used when given.
    sun_zenith_deg, sun_azimuth_deg
        Sun angles in degrees: scalars (tile mean) or per-pixel arrays.
    view_zenith_deg, view_azimuth_deg
        Viewing angles (scalars or arrays; MTD_TL convention, azimuth towards the satellite).
        The classic sequence does not use them; the default-mode shadow matching takes the
        cloud's parallax into account with their mean (both needed; NaN outside the swath).
    dem_m
        Elevation (m) on the working grid; enables the cirrus altitude cut (step 7), and the
        hill-shade cleaning (step 12, classic) or the topographic cast shadow (default mode),
        both with the tile-mean sun as in Sen2Cor.
    aux
        Auxiliary maps (:class:`ScAux`); steps needing absent maps are skipped and logged. With
        the ESA CCI land cover steps 15-17 run (:mod:`core.scene_classification.land_cover`;
        step 15 needs B09).
    gipp
        ``L2A_CAL_SC_GIPP`` (:func:`core.config.gipp.load_gipp` ``.sc``).
    resolution
        Pixel size in metres: 20 or 60 (Sen2Cor refuses 10 m).
    classic
        ``--sc_classic``: Sen2Cor 2.9's sequence only. Otherwise (default mode) the additions
        switched on in the GIPP ``Default_Mode`` block run too: Sen2Cor 2.10+'s known ones in
        our own form (``TOPOGRAPHIC_SHADOW`` from the DEM, the monthly ``SNOW_CONDITION_GATE``)
        and sen2cloud's (``CIRRUS_EDGE_ATTRIBUTION``, ``SHADOW_MATCHING`` with
        ``SHADOW_MATCH_RELATIVE`` and ``SHADOW_MATCH_GATE``, ``SHADOW_EDGE_GROWTH``,
        ``DARK_FEATURE_REASSIGNMENT``, ``LOW_PROBA_LAND``, ``LAND_SPLIT``).
    nodata, saturated
        L1C no-data (class 0) and saturated/defective (class 1) pixels (``Handle_L1C_QLT_Mask``).
    median_filter_px
        ``Median_Filter`` of L2A_GIPP applied to the final SCL (0 = none).

    Returns
    -------
    SceneClassification
        SCL, cloud and snow probabilities (uint8 arrays of the bands' shape).

    Raises
    ------
    MissingBandError
        A band of :data:`CLASSIC_BANDS` is missing.
    InputError
        Bad resolution, or arrays whose shapes differ.
    """
    if resolution not in SC_RESOLUTIONS:
        raise InputError(
            f"scene classification runs at 20 or 60 m, not {resolution} m", path=_SOURCE
        )
    bands = _bands(toa)
    shape = bands["B02"].shape
    for name, values in (
        ("sun_zenith_deg", sun_zenith_deg),
        ("sun_azimuth_deg", sun_azimuth_deg),
        ("view_zenith_deg", view_zenith_deg),
        ("view_azimuth_deg", view_azimuth_deg),
        ("dem_m", dem_m),
        ("water_bodies", aux.water_bodies if aux else None),
        ("snow_condition", aux.snow_condition if aux else None),
        ("land_cover", aux.land_cover if aux else None),
    ):
        if values is not None:
            _check_shape(values, shape, name)
    if not classic:
        logger.info(
            "default mode: classic sequence plus the switchable additions of the GIPP "
            "Default_Mode block"
        )
    aux = aux or ScAux()
    view = None
    if view_zenith_deg is not None and view_azimuth_deg is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: no valid view angle
            view = towards(view_zenith_deg, view_azimuth_deg)
        view = view if np.isfinite(view).all() else None
    sun = _Sun(sun_zenith_deg, sun_azimuth_deg, resolution, view)
    invalid = _mask(nodata, shape, "nodata")
    for name, band in bands.items():
        missing = np.isnan(band)
        if missing.any():  # a zeroed copy: the caller's arrays stay untouched
            invalid |= missing
            bands[name] = np.where(missing, np.float32(0.0), band)
    snow_gate = (
        steps.snow_possible(aux.snow_condition, gipp)
        if aux.snow_condition is not None
        and not classic
        and gipp.scene_classification.default_mode.snow_condition_gate
        else None
    )
    dm = gipp.scene_classification.default_mode
    # Each stage gets the state handed over (popped from ``running``): no local name keeps the
    # arrays a stage replaces alive while it runs (120 MB each for a float32 20 m tile).
    running = [
        _spectral_tests(
            bands, steps.initial_state(invalid, _mask(saturated, shape, "saturated"), gipp),
            gipp, aux, dem_m=dem_m, snow_gate=snow_gate,
            cloud_edges=not classic and dm.cirrus_edge_attribution, resolution=resolution,
        )
    ]  # fmt: skip
    running.append(_cloud_shadows(bands, running.pop(), gipp, sun, invalid, classic=classic))
    relief = None if dem_m is None else terrain(dem_m, resolution, **sun.mean())
    cleaning = relief if classic or not dm.topographic_shadow else None
    running.append(
        _recoveries(
            bands, running.pop(), gipp, aux, relief=cleaning, snow_gate=snow_gate, dem_m=dem_m,
            resolution=resolution,
        )
    )  # fmt: skip
    if not classic:
        running.append(
            _default_mode(bands, running.pop(), gipp, sun=sun, dem_m=dem_m, relief=relief)
        )
    state = steps.finalise(running.pop(), gipp, median_filter_px)
    return SceneClassification(
        scene_class=state.scene_class,
        cloud_probability=_percent(state.cloud_probability),
        snow_probability=_percent(state.snow_probability),
    )


@dataclass(frozen=True, slots=True)
class _Sun:
    """Sun angles (scalars or per-pixel arrays, degrees) on a grid of ``resolution`` metres."""

    zenith_deg: float | np.ndarray
    azimuth_deg: float | np.ndarray
    resolution: int
    view: np.ndarray | None = None
    """Mean (east, north) offset towards the satellite per metre of height (``None``: nadir)."""

    def mean(self) -> dict[str, float]:
        """Tile-mean angles as keyword arguments (Sen2Cor's hill-shade uses the mean sun)."""
        return {
            "sun_zenith_deg": float(np.mean(self.zenith_deg)),
            "sun_azimuth_deg": float(np.mean(self.azimuth_deg)),
        }


def _spectral_tests(
    bands: steps.Toa,
    state: steps.ClassState,
    gipp: ScGipp,
    aux: ScAux,
    *,
    dem_m: np.ndarray | None,
    snow_gate: np.ndarray | None,
    cloud_edges: bool,
    resolution: int,
) -> steps.ClassState:
    """Steps 1-7: brightness, NDSI, snow, NDVI, soil, water, rock/sand, cloud classes, cirrus
    (``cloud_edges``, default mode: pixels whose B10 a cloud lifts skip the cirrus tests)."""
    state = steps.brightness_test(bands, state, gipp)
    state = steps.ndsi_cloud_test(bands, state, gipp)
    if aux.snow_possible is False:
        logger.info("snow map rules out snow in the tile: snow tests skipped")
    else:
        if aux.snow_possible is None:
            logger.info("no snow map: snow tests run everywhere (steps 2.1-2.5)")
        state = _snow(bands, state, gipp, aux, snow_gate)
    state = steps.ndvi_test(bands, state, gipp)
    state = steps.soil_test(bands, state, gipp)
    state = steps.water_test(bands, state, gipp)
    state = steps.rock_sand_test(bands, state, gipp)
    state = steps.red_swir_ratio_test(bands, state, gipp)
    state = steps.cloud_classes(state, gipp)
    if dem_m is None:
        logger.info("no DEM: cirrus altitude cut and DEM cleaning skipped (steps 7, 12)")
    kept = steps.cloud_edge_b10(bands, state, gipp, resolution) if cloud_edges else None
    return steps.cirrus_test(bands, state, gipp, dem_m, kept)


def _snow(
    bands: steps.Toa,
    state: steps.ClassState,
    gipp: ScGipp,
    aux: ScAux,
    snow_gate: np.ndarray | None,
) -> steps.ClassState:
    """Step 2 with the ESA CCI snow condition when present (``snow_gate``: default mode)."""
    if aux.snow_condition is None:
        logger.info("no ESA CCI snow condition: snow over water is not relabelled (step 2.1)")
        return steps.snow_test(bands, state, gipp)
    state = steps.snow_test(bands, state, gipp, snow_gate)
    return steps.snow_over_water(state, aux.snow_condition, gipp)


def _cloud_shadows(
    bands: steps.Toa,
    state: steps.ClassState,
    gipp: ScGipp,
    sun: _Sun,
    invalid: np.ndarray,
    *,
    classic: bool,
) -> steps.ClassState:
    """Step 8 (classic shadow score); in default mode the shadow matching, which gates the
    classic shadows by the matched footprints (``SHADOW_MATCH_GATE``), and the shadow edges."""
    classes = gipp.scene_classification.classificators
    spectrum = shadow_spectrum(bands, gipp)
    shadow = cloud_shadow_mask(
        bands,
        spectrum,
        state.cloud_probability,
        state.scene_class == classes.thin_cirrus,
        invalid,
        sun_zenith_deg=sun.zenith_deg,
        sun_azimuth_deg=sun.azimuth_deg,
        resolution=sun.resolution,
        gipp=gipp,
    )
    darker = spectrum.darker
    del spectrum  # its score (120 MB at 20 m) served the classic shadows only
    dm = gipp.scene_classification.default_mode
    if classic or not dm.shadow_matching:
        return steps.cloud_shadow_update(state, shadow, gipp)
    cloud = np.isin(state.scene_class, (classes.medium_proba_clouds, classes.high_proba_clouds))
    water = state.scene_class == classes.water
    matched = matched_shadow_mask(
        bands, darker, cloud, ~invalid, water, resolution=sun.resolution, gipp=gipp,
        view=sun.view, **sun.mean(),
    )  # fmt: skip
    if dm.shadow_match_gate:
        shadow &= morphology.dilate_diamond(matched.footprint, dm.shadow_match_gate_px)
    state = steps.cloud_shadow_update(state, shadow | matched.shadow, gipp)
    if not dm.shadow_edge_growth:
        return state
    excluded = cloud | np.isin(state.scene_class, (classes.thin_cirrus, classes.water))
    edges = shadow_edges(bands, darker, matched.shadow, excluded, gipp)
    return steps.cloud_shadow_update(state, edges, gipp)


def _default_mode(
    bands: steps.Toa,
    state: steps.ClassState,
    gipp: ScGipp,
    *,
    sun: _Sun,
    dem_m: np.ndarray | None,
    relief: Terrain | None,
) -> steps.ClassState:
    """sen2cloud's switchable additions after the recoveries (GIPP ``Default_Mode``)."""
    sc = gipp.scene_classification
    dm = sc.default_mode
    keep_dark = None if relief is None else relief.hillshade < sc.classic_constants.t_hillshade
    if dem_m is not None and relief is not None and dm.topographic_shadow:
        keep_dark = topographic_shadow(
            dem_m, relief, sun.resolution, grid_m=dm.topo_shadow_grid_m, **sun.mean()
        )
        state = steps.topographic_shadow_update(state, keep_dark, gipp)
    elif dm.topographic_shadow:
        logger.info("no DEM: topographic cast shadows skipped")
    if dm.dark_feature_reassignment:
        state = steps.dark_feature_reassignment(bands, state, gipp, keep_dark)
    if dm.low_proba_land:
        state = steps.low_probability_land(bands, state, gipp)
    if dm.land_split:
        state = steps.land_split(bands, state, gipp)
    return state


def _recoveries(
    bands: steps.Toa,
    state: steps.ClassState,
    gipp: ScGipp,
    aux: ScAux,
    *,
    relief: Terrain | None,
    snow_gate: np.ndarray | None,
    dem_m: np.ndarray | None,
    resolution: int,
) -> steps.ClassState:
    """Steps 9-17: the recoveries; those needing absent auxiliary data are skipped and logged."""
    state = steps.dark_vegetation_recovery(bands, state, gipp)
    state = steps.water_recovery(bands, state, gipp)
    if aux.water_bodies is None:
        logger.info("no ESA CCI water bodies: water-bodies recovery skipped (step 11)")
    else:
        state = steps.water_bodies_recovery(state, aux.water_bodies, gipp)
    if relief is not None:
        state = steps.dem_cleaning(bands, state, relief, gipp, aux.water_bodies)
    if aux.snow_possible is not False:
        state = steps.snow_recovery(bands, state, gipp, snow_gate)
    state = steps.soil_recovery(bands, state, gipp)
    if aux.land_cover is None:
        logger.info("no ESA CCI land cover: land, cirrus and urban recoveries skipped (15-17)")
        return state
    return land_cover_recoveries(
        bands, state, aux.land_cover, gipp, resolution=resolution, dem_m=dem_m
    )
