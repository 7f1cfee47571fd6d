"""One L1C product to one L2A product: the entry point the command line and the handlers call.

Joins the L1C reader (:func:`core.product.l1c.open_l1c`) and the L2A writer
(:func:`core.product.l2a.write_l2a_product`) in Sen2Cor's TOOLBOX order (facts §1.1): open and
check the input, create the L2A product, then (per resolution) scene classification and
atmospheric correction. ``cr_only`` (create the product tree, Sen2Cor ``--cr_only``) and
``sc_only`` (scene classification only) run; atmospheric correction is not implemented yet, so any
other request stops with :class:`NotAvailableError` before anything is written. The PDGS modes
are refused the same way. Core never prints: progress goes to the ``progress`` callback.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from scipy import ndimage

from core.atmosphere.lut import load_lut
from core.atmospheric_correction import Observation, correct
from core.atmospheric_correction.cirrus import CIRRUS_BAND
from core.bands import BAND_NAMES
from core.config.gipp import Gipp
from core.config.options import ProcessingOptions
from core.errors import InputError, NotAvailableError
from core.io import storage
from core.product.cloud_product import CloudProduct, write_cloud_product
from core.product.l1c import L1CProduct, open_l1c
from core.product.l2a import L2ALayers, L2AWriteOptions, write_l2a_product
from core.product.l2a_metadata import AuxiliaryReferences
from core.product.l2a_rasters import BOA_BANDS
from core.product.metadata import ProcessingBaseline
from core.resample import block_mean
from core.scene_classification import classify
from core.scene_classification.aux_maps import load_sc_aux
from core.scene_classification.classify import CLASSIC_BANDS
from core.scene_classification.morphology import downsample_scene_class
from core.terrain.dem import Dem, load_dem
from core.terrain.dem_tiles import grid_lonlat_bounds
from core.terrain.geometry import TerrainGeometry, terrain_geometry

QLT_NODATA_LAYERS = ("QT_NODATA_PIXELS",)
"""L1C quality-mask layers that make a pixel NO_DATA under ``Handle_L1C_QLT_Mask``."""
QLT_DEFECTIVE_LAYERS = ("QT_DEFECTIVE_PIXELS", "QT_SATURATED_PIXELS_L1A")
"""L1C quality-mask layers that make a pixel SATURATED_DEFECTIVE under ``Handle_L1C_QLT_Mask``."""

AUX_DIR_ENV = "SEN2CLOUD_AUX_DIR"
"""Environment variable naming Sen2Cor's auxiliary-data folder (ESA CCI maps, snow climatology)."""
SKY_VIEW_RESOLUTION_M = 60
"""Grid of the terrain sky-view factor (:func:`core.terrain.geometry.terrain_geometry`)."""
SCENE_CLASS_VIEW_BAND = "B04"
"""Band whose viewing angles the classification's parallax-aware shadow matching uses."""

ProgressCallback = Callable[[float, str], None]
"""``progress(fraction_done, step)``: fraction in [0, 1] and a short step name."""


def process_product(
    input_uri: str,
    options: ProcessingOptions,
    gipp: Gipp,
    progress: ProgressCallback | None = None,
) -> str:
    """Process the L1C product ``input_uri`` and return the URI of the L2A product written.

    Parameters
    ----------
    input_uri
        L1C ``.SAFE`` folder, zip or ``s3://`` prefix.
    options
        The run options; ``options.output_dir`` defaults to the folder holding a local input.
    gipp
        The configuration (:func:`core.config.gipp.load_gipp`).
    progress
        Called with the fraction done and the step name.

    Raises
    ------
    InputError
        The input is missing or not a usable L1C product; no output folder for a remote input.
    NotAvailableError
        The requested mode or step is not implemented yet (nothing is written).
    OutputError
        The product could not be written (nothing partial is left behind).
    """
    report = progress or _ignore
    if options.mode != "TOOLBOX":
        raise NotAvailableError(
            f"mode {options.mode} (PDGS datastrip/tile processing) is not available yet; "
            "use TOOLBOX mode"
        )
    output_dir = options.output_dir or _default_output_dir(input_uri)
    report(0.0, "reading L1C metadata")
    l1c = open_l1c(input_uri)
    write_options = _write_options(options, gipp)
    layers = None
    if not options.cr_only:
        layers = l2a_layers(l1c, options, gipp, write_options.resolutions, progress=report)
    report(0.8, "writing L2A product")
    product = write_l2a_product(l1c, output_dir, layers=layers, options=write_options)
    report(1.0, "done")
    return product


@dataclass(frozen=True)
class SceneOutputs:
    """Where :func:`process_scene` writes a scene's cloud product (and optionally its SAFE)."""

    cloud_uri: str
    """Folder or ``s3://`` prefix receiving the COGs, thumbnail and STAC item (item last)."""
    publish_uri: str | None = None
    """Final location the item's asset hrefs point to (default ``cloud_uri``): a caller that
    stages under ``cloud_uri`` copies the files there afterwards."""
    safe_dir: str | None = None
    """Also write the Sen2Cor SAFE product into this folder or prefix."""
    collection_id: str | None = None
    """STAC collection of the item (with its ``collection`` link to ``collection_href``)."""
    collection_href: str | None = None


@dataclass(frozen=True)
class SceneResult:
    """What :func:`process_scene` wrote."""

    cloud: CloudProduct
    safe_uri: str | None


def process_scene(
    input_uri: str,
    outputs: SceneOutputs,
    options: ProcessingOptions,
    gipp: Gipp,
    progress: ProgressCallback | None = None,
) -> SceneResult:
    """Process ``input_uri`` into a cloud product (COGs + STAC item), and a SAFE if asked.

    The same steps as :func:`process_product`; the layers computed once serve both outputs.
    """
    report = progress or _ignore
    report(0.0, "reading L1C metadata")
    l1c = open_l1c(input_uri)
    write_options = _write_options(options, gipp)
    layers = l2a_layers(l1c, options, gipp, write_options.resolutions, progress=report)
    generated = datetime.now(UTC)
    safe_uri = None
    if outputs.safe_dir is not None:
        report(0.7, "writing L2A SAFE product")
        safe_uri = write_l2a_product(
            l1c,
            outputs.safe_dir,
            layers=layers,
            options=write_options,
            generation_time=generated,
        )
    report(0.85, "writing cloud-optimised product")
    cloud = write_cloud_product(
        l1c,
        layers,
        outputs.cloud_uri,
        publish_uri=outputs.publish_uri,
        l1c_href=input_uri,
        generation_time=generated,
        processing_baseline=write_options.processing_baseline,
        collection_id=outputs.collection_id,
        collection_href=outputs.collection_href,
    )
    report(1.0, "done")
    return SceneResult(cloud=cloud, safe_uri=safe_uri)


@dataclass(frozen=True)
class TileContext:
    """What every step of one working resolution shares: DEM, TOA, L1C validity masks."""

    resolution: int
    dem: Dem
    toa: dict[str, np.ndarray]
    """TOA reflectance of the classification bands (decoded once, reused by the correction)."""
    nodata: np.ndarray
    saturated: np.ndarray


def l2a_layers(
    l1c: L1CProduct,
    options: ProcessingOptions,
    gipp: Gipp,
    resolutions: tuple[int, ...],
    progress: ProgressCallback | None = None,
) -> L2ALayers:
    """Every layer of the L2A product: the scene classification, then (unless ``sc_only``)
    the atmospheric correction at the working resolution and, if asked, 10 m (facts §1.1)."""
    report = progress or _ignore
    resolution = 60 if options.resolution == 60 else 20
    report(0.05, f"reading the DEM and quality masks at {resolution} m")
    context = tile_context(l1c, gipp, resolution)
    layers = scene_classification_layers(
        l1c, options, gipp, resolutions, progress=report, context=context
    )
    if options.sc_only:
        return layers
    return atmospheric_correction_layers(
        l1c, gipp, layers, resolutions, context=context, progress=report
    )


def tile_context(l1c: L1CProduct, gipp: Gipp, resolution: int) -> TileContext:
    """The DEM (:func:`core.terrain.dem.load_dem`) and the no-data / saturated masks of the
    classification bands (plus the L1C quality masks under ``Handle_L1C_QLT_Mask``)."""
    dem = load_dem(l1c.metadata.grids[resolution], gipp)
    toa = {}
    nodata = np.zeros((0, 0), dtype=bool)
    saturated = nodata
    for band in CLASSIC_BANDS:
        window = l1c.read_toa(band, resolution)
        toa[band] = window.reflectance
        nodata = window.nodata if nodata.size == 0 else nodata | window.nodata
        saturated = window.saturated if saturated.size == 0 else saturated | window.saturated
        if gipp.l2a.common_section.handle_l1c_qlt_mask:
            masks = l1c.quality_masks(band, resolution)
            nodata |= masks.detector == 0
            for name in QLT_NODATA_LAYERS:
                nodata |= masks.layers[name]
            for name in QLT_DEFECTIVE_LAYERS:
                saturated |= masks.layers[name]
    return TileContext(resolution=resolution, dem=dem, toa=toa, nodata=nodata, saturated=saturated)


def scene_classification_layers(
    l1c: L1CProduct,
    options: ProcessingOptions,
    gipp: Gipp,
    resolutions: tuple[int, ...],
    *,
    progress: ProgressCallback | None = None,
    context: TileContext | None = None,
) -> L2ALayers:
    """SCL, MSK_CLDPRB and MSK_SNWPRB of ``l1c`` for the output ``resolutions``.

    Sen2Cor classifies at 20 m (60 m with ``--resolution 60``), never at 10 m (facts §1.1). A
    60 m output of a 20 m run is the 3x3 median + nearest SCL and the 3x3 block mean of the
    probabilities (facts §1.3); the 10 m product carries no SCL. The whole tile is read into
    memory (a 20 m tile needs about 1 GB of float32 bands). The DEM (topographic shadows,
    cirrus altitude cut) and Sen2Cor's auxiliary maps under ``$SEN2CLOUD_AUX_DIR`` are used
    when present.
    """
    report = progress or _ignore
    resolution = 60 if options.resolution == 60 else 20
    context = context or tile_context(l1c, gipp, resolution)
    report(0.1, f"reading TOA reflectance at {resolution} m")
    toa = context.toa
    angles = l1c.angles(resolution, bands=(SCENE_CLASS_VIEW_BAND,))
    grid = l1c.metadata.grids[resolution]
    aux = load_sc_aux(
        os.environ.get(AUX_DIR_ENV), grid, gipp.sc, month=l1c.metadata.sensing_time.month
    )
    report(0.3, f"scene classification at {resolution} m")
    result = classify(
        toa,
        sun_zenith_deg=angles.sun_zenith_deg,
        sun_azimuth_deg=angles.sun_azimuth_deg,
        view_zenith_deg=angles.view_zenith_deg[SCENE_CLASS_VIEW_BAND],
        view_azimuth_deg=angles.view_azimuth_deg[SCENE_CLASS_VIEW_BAND],
        dem_m=context.dem.elevation_m if context.dem.dem_type != "NONE" else None,
        aux=aux,
        gipp=gipp.sc,
        resolution=resolution,
        classic=options.sc_classic,
        nodata=context.nodata,
        saturated=context.saturated,
        median_filter_px=gipp.l2a.scene_classification.filters.median_filter,
    )
    layers = L2ALayers(
        scene_class={resolution: result.scene_class},
        cloud_probability={resolution: result.cloud_probability},
        snow_probability={resolution: result.snow_probability},
    )
    if resolution == 20 and 60 in resolutions:
        layers.scene_class[60] = downsample_scene_class(result.scene_class, 60 // resolution)
        for name in ("cloud_probability", "snow_probability"):
            percent = block_mean(getattr(result, name), 60 // resolution, np.float64)
            getattr(layers, name)[60] = np.rint(percent).astype(np.uint8)
    return layers


def atmospheric_correction_layers(
    l1c: L1CProduct,
    gipp: Gipp,
    layers: L2ALayers,
    resolutions: tuple[int, ...],
    *,
    context: TileContext,
    progress: ProgressCallback | None = None,
) -> L2ALayers:
    """``layers`` with BOA, AOT550 and WVP added (Sen2Cor's order, facts §1.1).

    At the working resolution (20 m, or 60 m with ``--resolution 60``) every band is corrected
    with the atmosphere retrieved there (:func:`core.atmospheric_correction.correct`); a 60 m
    output of a 20 m run is the 3x3 block mean; the 10 m bands are corrected at 10 m with the
    20 m AOT and water vapour, upsampled. The whole tile is held in memory.
    """
    report = progress or _ignore
    work = context.resolution
    lut = load_lut()
    terrain_on = gipp.l2a.atmospheric_correction.flags.dem_terrain_correction
    flat = context.dem.dem_type == "NONE"
    report(0.45, f"atmospheric correction at {work} m")
    toa = {
        band: context.toa[band] if band in context.toa else l1c.read_toa(band, work).reflectance
        for band in BAND_NAMES
    }
    result = correct(
        toa,
        _observation(l1c, work),
        gipp=gipp,
        lut=lut,
        elevation_m=context.dem.elevation_m,
        terrain=None if flat or not terrain_on else _terrain(context.dem.elevation_m, work),
        scene_class=layers.scene_class[work],
        valid=~(context.nodata | context.saturated),
        aux=l1c.aux(),
    )
    atmosphere = result.atmosphere
    layers.boa[work] = {band: result.boa[band] for band in BOA_BANDS[work]}
    layers.aot550[work] = atmosphere.aot550
    layers.wvp_cm[work] = atmosphere.wv_cm
    summary = replace(
        atmosphere.summary,
        dem_type=context.dem.dem_type,
        dem_mean_altitude_km=float(np.mean(context.dem.elevation_m)) / 1000.0,
        lut_files=(Path(lut.path).name,),
    )
    if work == 20 and 60 in resolutions:
        layers.boa[60] = {band: block_mean(result.boa[band], 3) for band in BOA_BANDS[60]}
        layers.aot550[60] = block_mean(atmosphere.aot550, 3)
        layers.wvp_cm[60] = block_mean(atmosphere.wv_cm, 3)
    if work == 20 and 10 in resolutions:
        report(0.65, "atmospheric correction at 10 m")
        bands = BOA_BANDS[10] + ((CIRRUS_BAND,) if _cirrus_on(gipp) else ())
        elevation = _upsample(context.dem.elevation_m, 2, order=1)
        fine = correct(
            {band: l1c.read_toa(band, 10).reflectance for band in bands},
            _observation(l1c, 10),
            gipp=gipp,
            lut=lut,
            elevation_m=elevation,
            terrain=None if flat or not terrain_on else _terrain(elevation, 10),
            aot550=_upsample(atmosphere.aot550, 2, order=1),
            wv_cm=_upsample(atmosphere.wv_cm, 2, order=1),
            scene_class=_upsample(layers.scene_class[20], 2, order=0),
        )
        layers.boa[10] = {band: fine.boa[band] for band in BOA_BANDS[10]}
        layers.aot550[10] = fine.atmosphere.aot550
        layers.wvp_cm[10] = fine.atmosphere.wv_cm
    return replace(layers, atmosphere=summary)


def _observation(l1c: L1CProduct, resolution: int) -> Observation:
    """Per-pixel geometry of the whole tile at ``resolution``."""
    meta = l1c.metadata
    bounds = grid_lonlat_bounds(meta.grids[resolution])
    return Observation.from_angle_fields(
        l1c.angles(resolution),
        sensor=meta.mission_id,
        resolution=resolution,
        day_of_year=meta.sensing_time.timetuple().tm_yday,
        latitude_deg=(bounds.south + bounds.north) / 2.0,
    )


def _terrain(elevation_m: np.ndarray, resolution: int) -> TerrainGeometry:
    """Terrain geometry with the sky view from the 60 m grid (its costly horizon march)."""
    return terrain_geometry(
        elevation_m, resolution, sky_view_step=SKY_VIEW_RESOLUTION_M // resolution
    )


def _cirrus_on(gipp: Gipp) -> bool:
    return bool(gipp.l2a.atmospheric_correction.flags.cirrus_correction)


def _upsample(values: np.ndarray, factor: int, *, order: int) -> np.ndarray:
    """``values`` on a ``factor`` times finer grid: bilinear (``order=1``) or nearest (0)."""
    if order == 0:
        return np.repeat(np.repeat(values, factor, axis=0), factor, axis=1)
    return np.asarray(
        ndimage.zoom(values, factor, order=1, mode="nearest", grid_mode=True), dtype=values.dtype
    )


def _write_options(options: ProcessingOptions, gipp: Gipp) -> L2AWriteOptions:
    """The writer's settings from the command line and the GIPP files."""
    common = gipp.l2a.common_section
    references = gipp.sc.scene_classification.references
    threads = common.nr_threads
    return L2AWriteOptions(
        processing_baseline=ProcessingBaseline.parse(gipp.pb.data.baseline_version),
        image_format="RAW" if options.raw else "TIF" if options.tif else "JP2",
        sc_cog=options.sc_cog,
        resolutions=output_resolutions(options.resolution, common.downsample_20_to_60),
        processing_centre=options.processing_centre,
        archiving_centre=options.archiving_centre,
        generate_tci=common.generate_tci_output,
        threads=(os.cpu_count() or 1) if threads == "AUTO" else threads,
        product_doi=common.product_doi,
        aux=AuxiliaryReferences(
            snow_climatology_map=references.snow_map,
            esacci_water_bodies_map=references.esacci_waterbodies_map,
            esacci_land_cover_map=references.esacci_landcover_map,
            esacci_snow_condition_dir=references.esacci_snowcondition_map_dir,
        ),
    )


def output_resolutions(resolution: int | None, downsample_20_to_60: bool) -> tuple[int, ...]:
    """Resolutions a run produces (Sen2Cor rules, facts §1.2).

    No ``--resolution``: 20 m then 10 m; ``10``: the 20 m run first, then 10 m; ``20``: 20 m;
    each time plus 60 m by downsampling if ``Downsample_20_to_60``. ``60``: native 60 m only.
    """
    if resolution == 60:
        return (60,)
    runs = (20,) if resolution == 20 else (10, 20)
    return (*runs, 60) if downsample_20_to_60 else runs


def _default_output_dir(input_uri: str) -> str:
    """Sen2Cor writes next to the input; a remote input needs an explicit output folder."""
    if storage.is_s3(input_uri) or storage.is_zip_member(input_uri):
        raise InputError("an output folder is required for a remote input", path=input_uri)
    return posixpath.dirname(input_uri.rstrip("/")) or "."


def _ignore(fraction: float, step: str) -> None:
    """Progress sink when the caller passes none."""
