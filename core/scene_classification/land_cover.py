"""Steps 15-17 of the scene classification: the recoveries that use the ESA CCI land cover.

Sen2Cor runs them when the ``ESACCI_LandCover_Map`` of the aux package is installed (facts
§2.3 steps 15-17, §2.5; ESA documents the package as improving "the classification over water,
urban and bare areas"). Every class code and statistic comes from the ``Classic_Constants``
block of ``L2A_CAL_SC_GIPP.xml``:

* step 15 (:func:`land_recovery`): clouds over land whose B10 (no high cloud) and B09/B8A (the
  water vapour above them is that of the ground) are as low as the land's are bright ground;
* step 16 (:func:`cirrus_recovery`): land and water whose B10 stands out of its class's
  statistics are thin cirrus;
* step 17 (:func:`urban_bare_recovery`): unclassified or cloudy blobs on urban and bare-area
  land cover, not surrounded by cloud, are bright ground.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage

from core.config.sc_gipp import ScGipp
from core.scene_classification.steps import ClassState, Toa, classify_pixels, ratio

logger = logging.getLogger(__name__)

_SQUARE = np.ones((3, 3), dtype=bool)
"""8-connectivity: blobs and their 1-pixel boundary ring (step 17)."""
_NO_VALUE = (0, 255)
"""CCI LCCS "no data" and the fill of the warped map outside its coverage."""


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    return float(values.mean(dtype=np.float64)), float(values.std(dtype=np.float64))


def _high_cloud_b10_threshold(  # noqa: PLR0917
    b10: np.ndarray,
    high: np.ndarray,
    n_valid: int,
    land_mean: float,
    resolution: int,
    gipp: ScGipp,
) -> float:
    """Step 15's B10 limit: from the high-probability clouds (``high``) and the land mean.

    HPC share (of the ``n_valid`` pixels with data) above HPC_HIGH_PERCENT:
    ``max(T_LAND_B10_MIN, min(land mean, HPC mean - HPC_B10_SIGMA sigma))``; below
    HPC_LOW_PERCENT: the land mean; in between the same formula over the HPC blobs of at least
    ``(HPC_BLOB_MIN_M / resolution)^2`` pixels (the land mean when there are none).
    """
    cc = gipp.scene_classification.classic_constants
    share = 100.0 * high.sum() / max(n_valid, 1)
    if share < cc.hpc_low_percent:
        return land_mean
    if share <= cc.hpc_high_percent:
        labels, _ = ndimage.label(high, structure=_SQUARE)
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        high = (sizes >= (cc.hpc_blob_min_m / resolution) ** 2)[labels]
        if not high.any():
            return land_mean
    mean, std = _mean_std(b10[high])
    return max(cc.t_land_b10_min, min(land_mean, mean - cc.hpc_b10_sigma * std))


def land_recovery(
    toa: Toa, state: ClassState, land_cover: np.ndarray, resolution: int, gipp: ScGipp
) -> ClassState:
    """Step 15: MEDIUM/HIGH_PROBA_CLOUDS with low B10 and B09/B8A -> NOT_VEGETATED.

    Runs when land (VEGETATION, NOT_VEGETATED) covers at least LAND_MIN_PERCENT of the valid
    pixels and LAND_MIN_AREA_KM2. Clouds where the map has a value other than CCI_LC_WATER,
    below both the B10 limit (:func:`_high_cloud_b10_threshold`) and the land's B09/B8A mean
    plus LAND_B09_B8A_SIGMA sigma, become NOT_VEGETATED: a cloud is high, so it is brighter in
    the cirrus band and has less water vapour above it (a higher 945/865 nm ratio) than the
    ground.
    """
    sc = gipp.scene_classification
    cc, classes = sc.classic_constants, sc.classificators
    scl = state.scene_class
    valid = (scl != classes.no_data) & (scl != classes.saturated_defective)
    land = (scl == classes.vegetation) | (scl == classes.not_vegetated)
    n_land = int(land.sum())
    area_km2 = n_land * resolution**2 / 1e6
    if n_land < cc.land_min_percent / 100.0 * valid.sum() or area_km2 < cc.land_min_area_km2:
        logger.info("land recovery (step 15) skipped: %.0f km2 of land is too little", area_km2)
        return state
    b10 = toa["B10"]
    water_vapour = ratio(toa["B09"], toa["B8A"])
    land_mean, _ = _mean_std(b10[land])
    high = (scl == classes.high_proba_clouds) & valid
    t_b10 = _high_cloud_b10_threshold(b10, high, int(valid.sum()), land_mean, resolution, gipp)
    mean, std = _mean_std(water_vapour[land & np.isfinite(water_vapour)])
    t_ratio = mean + cc.land_b09_b8a_sigma * std
    cloud = (scl == classes.medium_proba_clouds) | (scl == classes.high_proba_clouds)
    cloud &= ~np.isin(land_cover, (*_NO_VALUE, cc.cci_lc_water))
    ground = cloud & (b10 < t_b10) & (water_vapour < t_ratio)
    return classify_pixels(state, ground, classes.not_vegetated)


def _b10_limit(b10: np.ndarray, sigma: float, floor: float) -> float:
    """``max(mean + sigma std, floor)`` of ``b10`` (``floor`` when empty)."""
    if b10.size == 0:
        return floor
    mean, std = _mean_std(b10)
    return max(mean + sigma * std, floor)


def cirrus_recovery(
    toa: Toa, state: ClassState, gipp: ScGipp, dem_m: np.ndarray | None = None
) -> ClassState:
    """Step 16: land and water whose B10 stands out of their class -> THIN_CIRRUS.

    Land (VEGETATION, NOT_VEGETATED) above ``max(mean + CIRRUS_RECOVERY_LAND_SIGMA sigma,
    T_CIRRUS_RECOVERY_LAND_B10)`` of B10 over NOT_VEGETATED; WATER above ``max(mean +
    CIRRUS_RECOVERY_WATER_SIGMA sigma, T_CIRRUS_RECOVERY_WATER_B10)`` over WATER; with a DEM
    only below T_CIRRUS_DEM_M (as the classic cirrus test).
    """
    sc = gipp.scene_classification
    cc, classes = sc.classic_constants, sc.classificators
    scl, b10 = state.scene_class, toa["B10"]
    soil, water = scl == classes.not_vegetated, scl == classes.water
    land = soil | (scl == classes.vegetation)
    land_limit = _b10_limit(b10[soil], cc.cirrus_recovery_land_sigma, cc.t_cirrus_recovery_land_b10)
    water_limit = _b10_limit(
        b10[water], cc.cirrus_recovery_water_sigma, cc.t_cirrus_recovery_water_b10
    )
    cirrus = (land & (b10 > land_limit)) | (water & (b10 > water_limit))
    if dem_m is not None:
        cirrus &= dem_m < cc.t_cirrus_dem_m
    return classify_pixels(state, cirrus, classes.thin_cirrus)


def _ring_cloud_share(blobs: np.ndarray, cloudy: np.ndarray) -> np.ndarray:
    """Per blob label (index 0 unused) the share of cloudy pixels in its 1-pixel ring.

    Ring pixels touching two blobs count for both (the smallest and largest neighbour label).
    """
    labels, count = ndimage.label(blobs, structure=_SQUARE)
    ring = ndimage.binary_dilation(blobs, structure=_SQUARE) & ~blobs
    largest = ndimage.maximum_filter(labels, footprint=_SQUARE)[ring]
    marked = np.where(labels > 0, labels, count + 1)
    smallest = ndimage.minimum_filter(marked, footprint=_SQUARE)[ring]
    ring_cloudy = cloudy[ring]
    total = np.zeros(count + 2)
    hits = np.zeros(count + 2)
    for owner, extra in ((largest, None), (smallest, smallest != largest)):
        keep = slice(None) if extra is None else extra
        total += np.bincount(owner[keep], minlength=count + 2)
        hits += np.bincount(owner[keep], weights=ring_cloudy[keep], minlength=count + 2)
    share = np.divide(hits, total, out=np.ones_like(hits), where=total > 0)
    return share[labels]


def urban_bare_recovery(state: ClassState, land_cover: np.ndarray, gipp: ScGipp) -> ClassState:
    """Step 17: urban (CCI_LC_URBAN) and bare areas (CCI_LC_BARE_FIRST-LAST) -> NOT_VEGETATED.

    On each land-cover kind, UNCLASSIFIED pixels become NOT_VEGETATED, and so do the connected
    blobs of UNCLASSIFIED or MEDIUM_PROBA_CLOUDS pixels whose 1-pixel ring holds less than
    URBAN_RING_CLOUD_PERCENT of cloudy pixels (cloud shadow, unclassified, clouds, cirrus): a
    bright roof or dune alone in clear land, not the edge of a cloud field.
    """
    sc = gipp.scene_classification
    cc, classes = sc.classic_constants, sc.classificators
    scl = state.scene_class
    cloudy = np.isin(
        scl,
        (classes.cloud_shadows, classes.unclassified, classes.medium_proba_clouds,
         classes.high_proba_clouds, classes.thin_cirrus),
    )  # fmt: skip
    candidates = (scl == classes.unclassified) | (scl == classes.medium_proba_clouds)
    recovered = np.zeros(scl.shape, dtype=bool)
    urban = land_cover == cc.cci_lc_urban
    bare = (land_cover >= cc.cci_lc_bare_first) & (land_cover <= cc.cci_lc_bare_last)
    for kind in (urban, bare):
        blobs = kind & candidates
        isolated = _ring_cloud_share(blobs, cloudy) < cc.urban_ring_cloud_percent / 100.0
        recovered |= kind & (scl == classes.unclassified)
        recovered |= blobs & isolated
    return classify_pixels(state, recovered, classes.not_vegetated)


def land_cover_recoveries(
    toa: Toa,
    state: ClassState,
    land_cover: np.ndarray,
    gipp: ScGipp,
    *,
    resolution: int,
    dem_m: np.ndarray | None,
) -> ClassState:
    """Steps 15-17 in Sen2Cor's order (step 15 needs B09; skipped and logged without it)."""
    known = ~np.isin(land_cover, _NO_VALUE)
    if not known.any():
        logger.info("ESA CCI land cover has no value on the tile: steps 15-17 skipped")
        return state
    if "B09" in toa:
        state = land_recovery(toa, state, land_cover, resolution, gipp)
    else:
        logger.info("no B09: land recovery (step 15) skipped")
    state = cirrus_recovery(toa, state, gipp, dem_m)
    return urban_bare_recovery(state, land_cover, gipp)
