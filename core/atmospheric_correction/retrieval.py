"""Atmospheric state of a scene from its own pixels: AOT550, water vapour, ozone, aerosol type.

Order (Sen2Cor / ATCOR): ozone (AUX_ECMWFT or ``Ozone_Content``), water vapour by APDA at the
prior AOT (given, CAMS or the start visibility), then the aerosol type (``Aerosol_Type``; AUTO by
the blue double ratio over the reference pixels) and AOT550 by dark dense vegetation with that
water-vapour map; without enough reference pixels the CAMS AOD of AUX_CAMSFO, else the
``Visibility`` of the GIPP. Modules: :mod:`.ozone`, :mod:`.water_vapour`, :mod:`.aerosol`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.atmosphere.lut import RadiativeTransferLut
from core.atmospheric_correction.adjacency import Environments
from core.atmospheric_correction.aerosol import (
    SCL_WATER,
    Atmosphere,
    DdvSelection,
    aot_map,
    aot_of_visibility,
    blue_double_ratio,
    negative_reflectance_limit,
    pixel_aot,
    select_ddv,
    usable_pixels,
    vegetation_pixels,
    visibility_of_aot,
)
from core.atmospheric_correction.observation import Observation
from core.atmospheric_correction.ozone import ozone_column
from core.atmospheric_correction.season import season
from core.atmospheric_correction.state_grid import StateGrid
from core.atmospheric_correction.water_vapour import (
    ABSORPTION_BAND,
    WINDOW_BAND,
    apda,
    apda_available,
    water_vapour_map,
)
from core.config.gipp import Gipp
from core.errors import InputError
from core.product.aux_data import AuxData
from core.product.l2a_quality import AtmosphereSummary

logger = logging.getLogger(__name__)

AEROSOLS = {"RURAL": "rural", "MARITIME": "maritime"}
"""``Aerosol_Type`` -> table aerosol model (rural = 6S continental)."""
NIR_BANDS = ("B8A", "B08")
"""NIR band of the DDV NDVI test, first present."""
SWIR_BANDS = ("B12", "B11")
GIVEN_AOT_METHOD = "USER"
"""``AOT_RETRIEVAL_METHOD`` when the caller gives AOT550 (no retrieval; not a Sen2Cor value)."""
RETRIEVAL_BANDS = ("B02", "B04", *NIR_BANDS, "B09", *SWIR_BANDS)
"""Bands the retrievals invert (their adjacency environments are computed)."""
SCL_CLOUDS = (8, 9, 10)
"""Left out of the adjacency environment: the ground around a pixel, not the clouds above it."""


@dataclass(frozen=True)
class AtmosphereRetrieval:
    """The state the correction uses, on the working grid of the TOA cube."""

    aot550: np.ndarray
    """float32 aerosol optical thickness at 550 nm (smoothed as Sen2Cor does), no NaN."""
    wv_cm: np.ndarray
    """float32 water-vapour column in cm (sea-level referred, the table's convention), no NaN."""
    ozone_du: float
    aerosol: str
    """Table aerosol model actually used: ``rural`` or ``maritime``."""
    summary: AtmosphereSummary
    """Method, visibilities, DDV percentage, ozone source... for MTD_MSIL2A / L2A_QUALITY."""


def retrieve_atmosphere(
    toa: Mapping[str, np.ndarray],
    observation: Observation,
    *,
    gipp: Gipp,
    lut: RadiativeTransferLut,
    elevation_m: np.ndarray | float,
    valid: np.ndarray | None = None,
    scene_class: np.ndarray | None = None,
    aux: AuxData | None = None,
    aot550: np.ndarray | float | None = None,
    wv_cm: np.ndarray | float | None = None,
) -> AtmosphereRetrieval:
    """Retrieve what is not given: ozone, aerosol type, water vapour (APDA), AOT550 (DDV).

    ``toa`` maps band names to TOA reflectance on one grid (NaN = no data); ``valid`` marks
    pixels usable for retrieval (default: finite in every band); ``scene_class`` (SCL codes on
    the same grid) excludes clouds, shadows, snow and water from the DDV search when given.
    A given ``aot550`` or ``wv_cm`` is used as is (broadcast to the grid) and not retrieved.
    """
    if not toa:
        raise InputError("no TOA band to retrieve the atmosphere from", path="retrieve_atmosphere")
    shape = next(iter(toa.values())).shape
    bands = {name: np.asarray(values, dtype=np.float32) for name, values in toa.items()}
    if valid is None:
        valid = np.logical_and.reduce([np.isfinite(v) for v in bands.values()])
    constants = gipp.ac.classic_constants
    grid = StateGrid.build(
        observation, shape, elevation_m, lut,
        max_sun_zenith_deg=constants.max_sun_zenith_deg,
        max_view_zenith_deg=constants.max_view_zenith_deg,
    )  # fmt: skip
    ozone, ozone_source = ozone_column(gipp, observation, aux, lut)
    wv_start = _wv_start(gipp, observation, aux)
    configured = gipp.l2a.atmospheric_correction.look_up_tables.aerosol_type
    aerosol = AEROSOLS.get(configured, AEROSOLS["RURAL"])
    visibility = gipp.l2a.atmospheric_correction.calibration.visibility
    start_aot = aot_of_visibility(visibility)
    adjacency_km = gipp.l2a.atmospheric_correction.calibration.adj_km
    ground = valid if scene_class is None else valid & ~np.isin(scene_class, SCL_CLOUDS)
    retrieved = {name: values for name, values in bands.items() if name in RETRIEVAL_BANDS}
    environment = Environments(retrieved, adjacency_km, observation.resolution, exclude=~ground)
    del ground
    prior_wv = wv_start if wv_cm is None else grid.node_mean(wv_cm)
    prior = Atmosphere(grid, lut, prior_wv, ozone, environment)
    scene = _SceneMasks.build(
        bands,
        prior,
        aerosol=aerosol,
        start_aot=start_aot,
        gipp=gipp,
        valid=valid,
        scene_class=scene_class,
    )
    environment.release(*(b for b in SWIR_BANDS if scene.ddv is None or b != scene.ddv.swir_band))
    if aot550 is not None:
        prior_aot: np.ndarray | float = _broadcast(aot550, shape)
    elif aux is not None and aux.aod550 is not None:
        prior_aot = aux.aod550
    else:
        prior_aot = start_aot

    if wv_cm is not None:
        wv_map = _broadcast(wv_cm, shape)
    elif gipp.l2a.atmospheric_correction.flags.wv_correction == 0 or not apda_available(bands):
        logger.info("water vapour not retrieved: constant %.2f cm", wv_start)
        wv_map = np.full(shape, wv_start, dtype=np.float32)
    else:
        wv_px = apda(
            bands, prior, aerosol, grid.node_mean(prior_aot), mask=scene.land | scene.water
        )
        environment.release(ABSORPTION_BAND, WINDOW_BAND)
        wv_map = water_vapour_map(
            wv_px, gipp=gipp, resolution=observation.resolution,
            land=scene.land, water=scene.water, fallback_cm=wv_start,
        )  # fmt: skip
        del wv_px
    atmosphere = Atmosphere(grid, lut, grid.node_mean(wv_map), ozone, environment)

    ddv_visibility, ddv_percentage, ddv_range = float("nan"), 0.0, float("nan")
    if aot550 is not None:
        aot = _broadcast(aot550, shape)
        method = GIVEN_AOT_METHOD
    else:
        selection = scene.ddv
        if selection is not None:
            if configured == "AUTO":
                aerosol = _aerosol_type(bands, atmosphere, selection, gipp)
            aot_px = pixel_aot(bands, atmosphere, aerosol, selection)
            environment.release("B02", selection.swir_band)
            aot = aot_map(
                aot_px, selection.mask, gipp=gipp, resolution=observation.resolution,
                percentage=selection.percentage,
            )  # fmt: skip
            ddv_visibility = visibility_of_aot(float(np.median(aot_px[selection.mask])))
            del aot_px
            aot = negative_reflectance_limit(
                bands, atmosphere, aerosol, aot, gipp=gipp, vegetation=scene.vegetation,
                water=scene.water,
            )  # fmt: skip
            method = "SEN2COR_DDV"
            ddv_percentage, ddv_range = selection.percentage, selection.upper_threshold
        else:
            fallback = aux.aod550 if aux is not None and aux.aod550 is not None else None
            method = "DEFAULT" if fallback is None else "CAMS"
            logger.info("too few dark reference pixels: constant AOT550 from %s", method)
            aot = np.full(shape, start_aot if fallback is None else fallback, dtype=np.float32)
    environment.release(*environment)
    aot = np.clip(aot, 0.0, lut.axis("aot550")[-1]).astype(np.float32, copy=False)
    wv_nodes = lut.axis("wv_cm")
    wv_map = np.clip(wv_map, wv_nodes[0], wv_nodes[-1]).astype(np.float32, copy=False)
    final = aot[valid] if valid.any() else aot.ravel()
    return AtmosphereRetrieval(
        aot550=aot,
        wv_cm=wv_map,
        ozone_du=ozone,
        aerosol=aerosol,
        summary=AtmosphereSummary(
            ozone_du=ozone,
            ozone_source=ozone_source,
            aot_retrieval_method=method,
            start_visibility_km=visibility,
            ddv_visibility_km=ddv_visibility,
            final_visibility_km=visibility_of_aot(float(final.mean())),
            ddv_pixel_percentage=ddv_percentage,
            ddv_reflectance_range=ddv_range,
            lut_files=(Path(lut.path).name,),
        ),
    )


def _broadcast(values: np.ndarray | float, shape: tuple[int, ...]) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(np.asarray(values, dtype=np.float32), shape))


def _wv_start(gipp: Gipp, observation: Observation, aux: AuxData | None) -> float:
    """AUX_ECMWFT ``tcwv`` when present, else ``AC_Wv_Iter_Start_Summer/Winter`` of the season."""
    if aux is not None and aux.water_vapour_cm is not None:
        return aux.water_vapour_cm
    prio2 = gipp.ac.acl_prio_2
    summer = season(gipp, observation) == "SUMMER"
    return prio2.ac_wv_iter_start_summer if summer else prio2.ac_wv_iter_start_winter


def _aerosol_type(
    toa: dict[str, np.ndarray], atmosphere: Atmosphere, selection: DdvSelection, gipp: Gipp
) -> str:
    """AUTO: rural (Sen2Cor's default) unless its blue double ratio misses 1 by more than
    ``AC_Aerosol_Type_Ratio_Th`` and maritime's misses it by less."""
    if "B02" not in toa:
        return AEROSOLS["RURAL"]
    miss = {}
    for aerosol in AEROSOLS.values():
        aot_px = pixel_aot(toa, atmosphere, aerosol, selection)
        ratio = blue_double_ratio(toa, atmosphere, aerosol, selection, aot_px, gipp=gipp)
        miss[aerosol] = abs(ratio - 1.0)
    logger.info("aerosol type double-ratio misses: %s", miss)
    threshold = gipp.ac.acl_prio_1.ac_aerosol_type_ratio_th
    rural, maritime = AEROSOLS["RURAL"], AEROSOLS["MARITIME"]
    return maritime if miss[rural] > threshold and miss[maritime] < miss[rural] else rural


@dataclass(frozen=True)
class _SceneMasks:
    """Land, water, vegetation and the dark reference pixels (reflectance at the start
    visibility); water from the SCL when given, else where the SWIR reflectance is below
    ``AC_Swir_Refl_Lower_Th``."""

    land: np.ndarray
    water: np.ndarray
    vegetation: np.ndarray
    """Vegetation of the negative-reflectance iteration (:func:`.aerosol.vegetation_pixels`)."""
    ddv: DdvSelection | None

    @classmethod
    def build(
        cls,
        toa: dict[str, np.ndarray],
        atmosphere: Atmosphere,
        *,
        aerosol: str,
        start_aot: float,
        gipp: Gipp,
        valid: np.ndarray,
        scene_class: np.ndarray | None,
    ) -> _SceneMasks:
        nir_band = next((b for b in NIR_BANDS if b in toa), "")
        swir = [b for b in SWIR_BANDS if b in toa]
        usable = usable_pixels(valid, scene_class)

        def rho(band: str) -> np.ndarray:
            return atmosphere.reflectance(toa[band], aerosol, band, start_aot, valid)

        swir_rho: dict[str, np.ndarray] = {}
        if scene_class is not None:
            water = valid & (scene_class == SCL_WATER)
        elif swir:
            swir_rho[swir[0]] = rho(swir[0])
            water = valid & (swir_rho[swir[0]] < gipp.ac.acl_prio_1.ac_swir_refl_lower_th)
        else:
            water = np.zeros_like(valid)
        land = usable & ~water
        if not nir_band or "B04" not in toa or not swir:
            return cls(land, water, np.zeros_like(valid), None)
        red, nir = rho("B04"), rho(nir_band)
        vegetation = vegetation_pixels(
            red, nir, gipp=gipp, valid=valid & ~water, scene_class=scene_class
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            ndvi = nir - red  # (nir - red) / (nir + red) in place: 120 MB each at 20 m
            np.divide(ndvi, np.add(nir, red, out=nir), out=ndvi)
        del red, nir
        np.nan_to_num(ndvi, copy=False, nan=-1.0)
        ddv = None
        for band in swir:  # the next SWIR band only when the previous ones found too few
            if band not in swir_rho:
                swir_rho[band] = rho(band)
            ddv = select_ddv(swir_rho, gipp=gipp, usable=land, valid=valid, ndvi=ndvi)
            if ddv is not None:
                break
        return cls(land, water, vegetation, ddv)
