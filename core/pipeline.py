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
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import numpy as np
from rasterio.windows import Window

from core.atmosphere.lut import RadiativeTransferLut, load_lut
from core.atmospheric_correction import Observation
from core.atmospheric_correction.adjacency import box_width_px
from core.atmospheric_correction.brdf import too_snowy
from core.atmospheric_correction.cirrus import CIRRUS_BAND, CirrusRemoval
from core.atmospheric_correction.correct import (
    ENVIRONMENT_PASSES,
    CorrectionPlan,
    correct_window,
    fit_cirrus_removal,
    not_ground_mask,
    plan_correction,
    use_terrain,
)
from core.atmospheric_correction.retrieval import (
    RETRIEVAL_BANDS,
    AtmosphereRetrieval,
    retrieve_atmosphere,
)
from core.bands import BAND_NAMES
from core.config.gipp import Gipp
from core.config.options import ProcessingOptions
from core.errors import InputError, NotAvailableError
from core.io import storage
from core.io.block_reader import strip_windows
from core.io.block_writer import EncodePool, run_each
from core.memory import limit_heap_retention
from core.product.band_cache import decode_bands
from core.product.cloud_product import CloudProduct, write_cloud_product
from core.product.encoded_layers import EncodedLayers, EncodedRasters
from core.product.l1c import L1CProduct, open_l1c
from core.product.l2a import L2ALayers, L2AWriteOptions, write_l2a_product
from core.product.l2a_metadata import AuxiliaryReferences
from core.product.l2a_quality import AtmosphereSummary
from core.product.l2a_rasters import BOA_BANDS
from core.product.metadata import ProcessingBaseline
from core.resample import block_mean, upsample_bilinear
from core.scene_classification import classify
from core.scene_classification.aux_maps import load_sc_aux
from core.scene_classification.classify import CLASSIC_BANDS, OPTIONAL_BANDS
from core.scene_classification.morphology import downsample_scene_class
from core.stac.assets import TCI_BANDS
from core.terrain.dem import Dem, load_dem
from core.terrain.dem_tiles import grid_lonlat_bounds
from core.terrain.geometry import SKY_VIEW_GRID_M, TerrainGeometry, terrain_geometry
from core.terrain.illumination import (
    TerrainIllumination,
    TopographicSettings,
    terrain_illumination,
    topographic_settings,
)

QLT_NODATA_LAYERS = ("QT_NODATA_PIXELS",)
"""L1C quality-mask layers that make a pixel NO_DATA under ``Handle_L1C_QLT_Mask``."""
QLT_DEFECTIVE_LAYERS = ("QT_DEFECTIVE_PIXELS", "QT_SATURATED_PIXELS_L1A")
"""L1C quality-mask layers that make a pixel SATURATED_DEFECTIVE under ``Handle_L1C_QLT_Mask``."""

AUX_DIR_ENV = "SEN2CLOUD_AUX_DIR"
"""Environment variable naming Sen2Cor's auxiliary-data folder (ESA CCI maps, snow climatology)."""
ANGLE_GRID_M = 60
"""Grid the correction's sun and view angles are interpolated on: the 6S terms are sampled
every 600 m and sun angles vary by < 0.001 deg per 60 m, so finer angle fields only cost
memory (13 bands x 2 fields at 10 m would be 12 GB for a tile)."""
CONTEXT_READ_ROWS: Final = 1098
"""Rows of the working grid read at a time into the whole-tile context: a tenth of a 20 m
tile, a multiple of 6 (every band's native rows align, so the reads are those of the whole)."""
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
    settings = write_options(options, gipp)
    if options.cr_only:
        return write_l2a_product(l1c, output_dir, layers=None, options=settings)
    with workspace(l1c, options, settings.threads, report) as space:
        layers = l2a_layers(
            space.l1c, options, gipp, settings.resolutions, progress=report, workspace=space
        )
        report(0.8, "writing L2A product")
        product = write_l2a_product(space.l1c, output_dir, layers=layers, options=settings)
    report(1.0, "done")
    return product


@dataclass(frozen=True)
class Workspace:
    """Scratch of one run: the decoded L1C bands, the threads, the encoded output layers."""

    l1c: L1CProduct
    """The product, reading its decoded band copies (``decode_bands``)."""
    folder: Path
    executor: Executor
    """Threads decoding and correcting bands (GDAL and the numba kernels release the GIL)."""
    encoded: EncodedLayers


@contextmanager
def workspace(
    l1c: L1CProduct,
    options: ProcessingOptions,
    threads: int,
    progress: ProgressCallback | None = None,
) -> Iterator[Workspace]:
    """A scratch folder (under ``--work_dir`` when given) deleted on exit, whatever happens.

    Without the atmospheric correction (``--sc_only``) the bands are read once anyway, so they
    are not decoded ahead. The allocator is set up to give freed strips back first
    (:func:`core.memory.limit_heap_retention`).
    """
    limit_heap_retention()
    with (
        tempfile.TemporaryDirectory(prefix="sen2cloud-", dir=options.work_dir) as folder,
        ThreadPoolExecutor(threads, thread_name_prefix="sen2cloud-band") as executor,
        EncodePool(threads, max_pending=ENCODE_PENDING_PER_THREAD * threads) as pool,
    ):
        scratch = Path(folder)
        if not options.sc_only:
            (progress or _ignore)(0.02, "decoding the L1C bands")
        decoded = l1c if options.sc_only else decode_bands(l1c, scratch, executor)
        encoded = EncodedLayers(l1c.metadata.grids, scratch, pool=pool)
        try:
            yield Workspace(decoded, scratch, executor, encoded)
        finally:
            encoded.close()


ENCODE_PENDING_PER_THREAD: Final = 4
"""Windows queued per encoder thread before a strip's producer waits (bounds the memory of
windows not yet stored: a 10 m band strip is ~25 MB)."""


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
    settings = write_options(options, gipp)
    with workspace(l1c, options, settings.threads, report) as space:
        layers = l2a_layers(
            space.l1c, options, gipp, settings.resolutions, progress=report, workspace=space
        )
        result = write_scene(
            space.l1c, layers, input_uri, outputs, settings=settings, report=report
        )
    report(1.0, "done")
    return result


def write_scene(
    l1c: L1CProduct,
    layers: L2ALayers,
    input_uri: str,
    outputs: SceneOutputs,
    *,
    settings: L2AWriteOptions,
    report: ProgressCallback,
) -> SceneResult:
    """The SAFE product (when asked) and the cloud product of ``layers``."""
    generated = datetime.now(UTC)
    safe_uri = None
    if outputs.safe_dir is not None:
        report(0.8, "writing L2A SAFE product")
        safe_uri = write_l2a_product(
            l1c, outputs.safe_dir, layers=layers, options=settings, generation_time=generated
        )
    report(0.9, "writing cloud-optimised product")
    cloud = write_cloud_product(
        l1c,
        layers,
        outputs.cloud_uri,
        publish_uri=outputs.publish_uri,
        l1c_href=input_uri,
        generation_time=generated,
        processing_baseline=settings.processing_baseline,
        collection_id=outputs.collection_id,
        collection_href=outputs.collection_href,
    )
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
    *,
    progress: ProgressCallback | None = None,
    workspace: Workspace | None = None,
) -> L2ALayers:
    """Every layer of the L2A product (Sen2Cor's order, facts §1.1), window by window.

    The scene classification, then (unless ``sc_only``) the atmospheric correction:
    :func:`tile_correction` retrieves the atmosphere on the whole tile at the working
    resolution (20 m, or 60 m with ``--resolution 60``), :func:`correct_strips_into` corrects
    the tile in full-width strips. BOA, TCI and the 10 m AOT/WVP go to ``workspace.encoded``
    strip by strip, so memory holds the 20 m context and a few strips whatever the tile size;
    AOT and WVP at 20 and 60 m stay in the returned layers.
    """
    report = progress or _ignore
    resolution = 60 if options.resolution == 60 else 20
    report(0.05, f"reading the DEM and quality masks at {resolution} m")
    context = tile_context(l1c, gipp, resolution, workspace.executor if workspace else None)
    layers = scene_classification_layers(
        l1c, options, gipp, resolutions, progress=report, context=context
    )
    if options.sc_only:
        return layers
    if workspace is None:
        raise ValueError("the atmospheric correction writes into a Workspace; none was given")
    report(0.4, f"aerosol and water-vapour retrieval at {resolution} m")
    release_classification_bands(context)
    correction = tile_correction(l1c, gipp, layers, context)
    del context  # the classification bands: the strips read their own rows
    correct_strips_into(
        l1c, gipp, correction, resolutions, strip_windows(l1c.metadata.grids[resolution]),
        encoded=workspace.encoded, executor=workspace.executor, progress=report,
    )  # fmt: skip
    return with_atmosphere(layers, correction, resolutions, workspace.encoded)


def tile_context(
    l1c: L1CProduct, gipp: Gipp, resolution: int, executor: Executor | None = None
) -> TileContext:
    """The DEM (:func:`core.terrain.dem.load_dem`), the classification bands and their no-data /
    saturated masks (plus the L1C quality masks under ``Handle_L1C_QLT_Mask``).

    With an ``executor`` the bands are read on its threads (GDAL releases the GIL while
    reading); their masks are merged in band order as they arrive. Each band is read
    :data:`CONTEXT_READ_ROWS` rows at a time into its tile array, so the temporaries of the
    reads (a 10 m band's pixels, its block extremes) stay a strip's, not a tile's.
    """
    dem = load_dem(l1c.metadata.grids[resolution], gipp)
    quality = gipp.l2a.common_section.handle_l1c_qlt_mask

    grid = l1c.metadata.grids[resolution]

    def read(band: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        reflectance = np.empty((grid.height, grid.width), dtype=np.float32)
        nodata = np.empty(reflectance.shape, dtype=bool)
        saturated = np.empty(reflectance.shape, dtype=bool)
        for top in range(0, grid.height, CONTEXT_READ_ROWS):
            window = Window(0, top, grid.width, min(CONTEXT_READ_ROWS, grid.height - top))
            rows = slice(top, top + int(window.height))
            part = l1c.read_toa(band, resolution, window)
            reflectance[rows], nodata[rows], saturated[rows] = (
                part.reflectance,
                part.nodata,
                part.saturated,
            )
            if quality:
                masks = l1c.quality_masks(band, resolution, window)
                nodata[rows] |= masks.detector == 0
                for name in QLT_NODATA_LAYERS:
                    nodata[rows] |= masks.layers[name]
                for name in QLT_DEFECTIVE_LAYERS:
                    saturated[rows] |= masks.layers[name]
        return reflectance, nodata, saturated

    bands = (*CLASSIC_BANDS, *OPTIONAL_BANDS)
    reads = map(read, bands) if executor is None else executor.map(read, bands)
    results = zip(bands, reads, strict=True)
    first, (reflectance, nodata, saturated) = next(results)
    toa = {first: reflectance}
    for band, (reflectance, band_nodata, band_saturated) in results:
        toa[band] = reflectance
        nodata |= band_nodata
        saturated |= band_saturated
    return TileContext(resolution=resolution, dem=dem, toa=toa, nodata=nodata, saturated=saturated)


def release_classification_bands(context: TileContext) -> None:
    """Drop the bands only the classification reads (the retrieval keeps
    :data:`~core.atmospheric_correction.retrieval.RETRIEVAL_BANDS`): 120 MB each at 20 m."""
    for band in set(context.toa) - set(RETRIEVAL_BANDS):
        del context.toa[band]


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


def with_atmosphere(
    layers: L2ALayers,
    correction: TileCorrection,
    resolutions: tuple[int, ...],
    encoded: EncodedRasters,
) -> L2ALayers:
    """``layers`` with the AOT and WVP of the working (and 60 m) grid, the scalar results and
    the ``encoded`` BOA rasters."""
    work = correction.resolution
    atmosphere = correction.atmosphere
    layers.aot550[work] = atmosphere.aot550
    layers.wvp_cm[work] = atmosphere.wv_cm
    if work == 20 and 60 in resolutions:
        layers.aot550[60] = block_mean(atmosphere.aot550, 3)
        layers.wvp_cm[60] = block_mean(atmosphere.wv_cm, 3)
    return replace(layers, atmosphere=correction.summary, encoded=encoded)


@dataclass(frozen=True)
class TileCorrection:
    """The whole-tile part of the atmospheric correction: what every strip needs."""

    resolution: int
    """The working grid (20 or 60 m) of every array here."""
    atmosphere: AtmosphereRetrieval
    summary: AtmosphereSummary
    """The atmosphere's summary with the DEM and table fields of L2A_QUALITY."""
    elevation_m: np.ndarray
    valid: np.ndarray
    """Not no-data, not saturated/defective (the classification bands and the L1C masks)."""
    not_ground: np.ndarray | None
    """Left out of the adjacency environment (:func:`not_ground_mask`)."""
    illumination: TerrainIllumination | None
    brdf: bool
    """Whether the empirical BRDF factor applies (terrain correction on, not too snowy)."""
    cirrus: CirrusRemoval | None


def tile_correction(
    l1c: L1CProduct, gipp: Gipp, layers: L2ALayers, context: TileContext
) -> TileCorrection:
    """Retrieve the atmosphere on the whole working grid and derive the terrain factors, the
    BRDF switch and the cirrus regression."""
    work = context.resolution
    lut = load_lut()
    observation = _observation(l1c, work, bands=RETRIEVAL_BANDS)
    valid = ~(context.nodata | context.saturated)
    scene_class = layers.scene_class[work]
    atmosphere = retrieve_atmosphere(
        context.toa,  # the classification bands include APDA's B09 (OPTIONAL_BANDS)
        observation, gipp=gipp, lut=lut, elevation_m=context.dem.elevation_m, valid=valid,
        scene_class=scene_class, aux=l1c.aux(),
    )  # fmt: skip
    lit = _terrain_illumination(context, observation, gipp)
    brdf = lit is not None and bool(gipp.l2a.atmospheric_correction.flags.brdf_correction)
    return TileCorrection(
        resolution=work,
        atmosphere=atmosphere,
        summary=replace(
            atmosphere.summary,
            dem_type=context.dem.dem_type,
            dem_mean_altitude_km=float(np.mean(context.dem.elevation_m)) / 1000.0,
            lut_files=(Path(lut.path).name,),
        ),
        elevation_m=context.dem.elevation_m,
        valid=valid,
        not_ground=not_ground_mask(scene_class),
        illumination=lit,
        brdf=brdf and not too_snowy(scene_class, valid),
        cirrus=_cirrus_removal(l1c, gipp, context, atmosphere.wv_cm),
    )


def correct_strips_into(
    l1c: L1CProduct,
    gipp: Gipp,
    correction: TileCorrection,
    resolutions: tuple[int, ...],
    windows: Sequence[Window],
    *,
    encoded: EncodedLayers,
    executor: Executor,
    row_origin: int = 0,
    progress: ProgressCallback | None = None,
) -> None:
    """Correct the strip ``windows`` (full-width rows of the working grid) into ``encoded``,
    whose grids start at working-grid row ``row_origin``.

    Every band is corrected at the working resolution (:func:`correct_window`, the strip read
    with an ``Adj_Km`` halo so the adjacency environment is the tile's), the 60 m output of a
    20 m run being the 3x3 block mean; the 10 m bands at 10 m with the 20 m AOT, water vapour,
    elevation and terrain factors upsampled (bilinear; nearest for masks).
    """
    report = progress or _ignore
    strips = StripCorrection(
        l1c=l1c,
        correction=correction,
        plans=_StripPlans.build(l1c, gipp, correction, resolutions),
        resolutions=resolutions,
        encoded=encoded,
        executor=executor,
        row_origin=row_origin,
    )
    for number, window in enumerate(windows):
        report(0.45 + 0.35 * number / len(windows), f"correcting strip {number + 1}/{len(windows)}")
        strips.correct(window)


@dataclass(frozen=True)
class _StripPlans:
    """Builds the correction plan of one strip: the table terms of its node rows only (their
    values are the whole grid's there), so the terms in memory do not grow with the tile."""

    gipp: Gipp
    lut: RadiativeTransferLut
    observation: Observation
    atmosphere: AtmosphereRetrieval
    """The tile's, with AOT550 reduced to its span (it only sets the term grid's AOT nodes)."""
    elevation_span_m: np.ndarray
    shape: tuple[int, int]
    """The working grid's."""
    bands: tuple[str, ...]
    """Corrected at the working resolution (with the 60 m output's)."""
    brdf: bool
    cirrus: CirrusRemoval | None
    fine: bool
    """Whether the 10 m bands are corrected (20 m working grid, 10 m output)."""
    adjacency_km: float
    topography: TopographicSettings

    @classmethod
    def build(
        cls, l1c: L1CProduct, gipp: Gipp, correction: TileCorrection, resolutions: tuple[int, ...]
    ) -> _StripPlans:
        work = correction.resolution
        grid = l1c.metadata.grids[work]
        atmosphere = correction.atmosphere
        return cls(
            gipp=gipp,
            lut=load_lut(),
            observation=_observation(l1c, work),
            atmosphere=replace(atmosphere, aot550=_span(atmosphere.aot550)),
            elevation_span_m=_span(correction.elevation_m),
            shape=(grid.height, grid.width),
            bands=tuple(sorted({*BOA_BANDS[work], *(BOA_BANDS[60] if 60 in resolutions else ())})),
            brdf=correction.brdf,
            cirrus=correction.cirrus,
            fine=work == 20 and 10 in resolutions,
            adjacency_km=gipp.l2a.atmospheric_correction.calibration.adj_km,
            topography=topographic_settings(gipp),
        )

    def plan(self, top: int, bottom: int, factor: int = 1) -> CorrectionPlan:
        """The plan of working-grid rows ``top .. bottom`` on the working grid, or (``factor``
        2) of the 10 m bands on the 10 m grid under the 20 m atmosphere (the observation's
        angles are on the 60 m grid whatever its resolution)."""
        observation = self.observation
        bands: tuple[str, ...] = self.bands
        if factor != 1:
            observation = replace(observation, resolution=observation.resolution // factor)
            bands = BOA_BANDS[10]
        return plan_correction(
            observation, bands, self.atmosphere, gipp=self.gipp, lut=self.lut,
            shape=(self.shape[0] * factor, self.shape[1] * factor),
            elevation_m=self.elevation_span_m, brdf=self.brdf, cirrus=self.cirrus,
            strip_rows=(top * factor, bottom * factor),
        )  # fmt: skip


@dataclass(frozen=True)
class _StripState:
    """The tile's state on one strip's pixels (the working grid's, or the 10 m grid's)."""

    elevation_m: np.ndarray
    aot550: np.ndarray
    wv_cm: np.ndarray
    valid: np.ndarray
    not_ground: np.ndarray | None
    terrain: TerrainIllumination | None


@dataclass(frozen=True)
class StripCorrection:
    """Corrects one strip of a tile at every output resolution into ``encoded``."""

    l1c: L1CProduct
    correction: TileCorrection
    plans: _StripPlans
    resolutions: tuple[int, ...]
    encoded: EncodedLayers
    executor: Executor
    row_origin: int
    """Working-grid row of the first row of ``encoded``'s grids."""

    def correct(self, window: Window) -> None:
        """BOA of the strip ``window`` (rows of the working grid, full width)."""
        work = self.correction.resolution
        grid = self.l1c.metadata.grids[work]
        topography = self.plans.topography if self.correction.illumination is not None else None
        halo = strip_halo_px(self.plans.adjacency_km, work, topography)
        top = max(int(window.row_off) - halo, 0)
        bottom = min(int(window.row_off + window.height) + halo, grid.height)
        inner = slice(int(window.row_off) - top, int(window.row_off) - top + int(window.height))
        rows = slice(top, bottom)
        plan = self.plans.plan(top, bottom)
        boa = self._correct(plan, work, Window(0, top, grid.width, bottom - top), self._state(rows))
        del plan
        row = int(window.row_off) - self.row_origin
        for band in BOA_BANDS[work]:
            self.encoded.write_boa(work, band, boa[band][inner], row)
        self._write_visual(work, boa, inner, row)
        if work == 20 and 60 in self.resolutions:
            coarse = {band: block_mean(boa[band][inner], 3) for band in BOA_BANDS[60]}
            for band in BOA_BANDS[60]:
                self.encoded.write_boa(60, band, coarse[band], row // 3)
            self._write_visual(60, coarse, slice(None), row // 3)
        del boa
        if self.plans.fine:
            read = Window(0, 2 * top, 2 * grid.width, 2 * (bottom - top))
            state = self._state(rows, upsample=2)
            fine = self._correct(self.plans.plan(top, bottom, 2), 10, read, state)
            fine_inner = slice(2 * inner.start, 2 * inner.stop)
            for band in BOA_BANDS[10]:
                self.encoded.write_boa(10, band, fine[band][fine_inner], 2 * row)
            self._write_visual(10, fine, fine_inner, 2 * row)
            del fine
            self.encoded.write_scaled("aot", 10, state.aot550[fine_inner], 2 * row)
            self.encoded.write_scaled("wvp", 10, state.wv_cm[fine_inner], 2 * row)

    def _state(self, rows: slice, upsample: int = 1) -> _StripState:
        """The tile's state on the working-grid ``rows``, ``upsample`` times finer (bilinear;
        nearest for the masks)."""
        correction = self.correction

        def at(values: np.ndarray, order: int = 1) -> np.ndarray:
            window = values[rows]
            return window if upsample == 1 else _upsample(window, upsample, order=order)

        lit = correction.illumination
        terrain = None
        if lit is not None:
            terrain = TerrainIllumination(
                illumination=at(lit.illumination),
                sky_view=at(lit.sky_view),
                cos_incidence=at(lit.cos_incidence),
            )
        ground = correction.not_ground
        return _StripState(
            elevation_m=at(correction.elevation_m),
            aot550=at(correction.atmosphere.aot550),
            wv_cm=at(correction.atmosphere.wv_cm),
            valid=at(correction.valid, order=0),
            not_ground=None if ground is None else at(ground, order=0),
            terrain=terrain,
        )

    def _correct(
        self, plan: CorrectionPlan, resolution: int, read: Window, state: _StripState
    ) -> dict[str, np.ndarray]:
        """BOA of ``plan``'s bands on the window ``read`` at ``resolution`` under ``state``
        (on the same pixels); the bands are read and corrected on the executor's threads."""
        bands = [*plan.terms, *((CIRRUS_BAND,) if plan.cirrus is not None else ())]
        toa = run_each(
            lambda band: self.l1c.read_toa(band, resolution, read).reflectance,
            bands,
            self.executor,
        )
        extra = {CIRRUS_BAND: toa[CIRRUS_BAND]} if plan.cirrus is not None else {}
        origin = next(iter(plan.terms.values())).row_origin  # the strip's first node row

        def one_band(band: str) -> np.ndarray:
            return correct_window(
                replace(plan, terms={band: plan.terms[band]}), {band: toa[band], **extra},
                window_offset=(int(read.row_off) - origin, 0), elevation_m=state.elevation_m,
                aot550=state.aot550, wv_cm=state.wv_cm, valid=state.valid,
                terrain=state.terrain, not_ground=state.not_ground,
            )[band]  # fmt: skip

        return run_each(one_band, list(plan.terms), self.executor)

    def _write_visual(
        self, resolution: int, boa: dict[str, np.ndarray], rows: slice, row_off: int
    ) -> None:
        if resolution in self.resolutions and all(band in boa for band in TCI_BANDS):
            red, green, blue = (boa[band][rows] for band in TCI_BANDS)
            self.encoded.write_visual(resolution, red, green, blue, row_off)


def strip_halo_px(
    adjacency_km: float, resolution: int, topography: TopographicSettings | None = None
) -> int:
    """Rows a strip is read beyond its edges so that its pixels are the whole tile's: the
    reach of every box mean a pixel's reflectance depends on.

    Each inversion takes ``ENVIRONMENT_PASSES - 1`` adjacency box means (``Adj_Km``); on
    terrain (``topography``) up to ``AC_Max_Nr_Topo_Iter`` updates of the terrain reflectance
    each add a box mean over ``AC_Rng_Nbhd_Terrain_Corr`` and another inversion. With the
    defaults that is 25 rows at 20 m on flat ground and 136 on terrain (the halos of terrain
    tiles cost about a third more pixels: a shorter halo changes the pixels near strip edges,
    by up to 22 DN in a 60 m band on the simulator's 1.5 km relief).
    """
    adjacency = (ENVIRONMENT_PASSES - 1) * (box_width_px(adjacency_km, resolution) // 2)
    if topography is None:
        return adjacency
    updates = topography.max_iterations
    terrain = box_width_px(topography.neighbourhood_km, resolution) // 2
    return (updates + 1) * adjacency + updates * terrain


def _terrain_illumination(
    context: TileContext, observation: Observation, gipp: Gipp
) -> TerrainIllumination | None:
    """Terrain factors of the whole working grid, when the DEM and the GIPP call for them."""
    if context.dem.dem_type == "NONE":
        return None
    terrain = _terrain(context.dem.elevation_m, context.resolution)
    if not use_terrain(terrain, gipp):
        return None
    return terrain_illumination(terrain, *observation.sun_angles(context.dem.elevation_m.shape))


def _cirrus_removal(
    l1c: L1CProduct, gipp: Gipp, context: TileContext, wv_cm: np.ndarray
) -> CirrusRemoval | None:
    """The cirrus regression fitted on the 60 m cube (every band, read whole at 60 m)."""
    if not gipp.l2a.atmospheric_correction.flags.cirrus_correction:
        return None
    factor = 60 // context.resolution
    toa = {band: l1c.read_toa(band, 60).reflectance for band in BAND_NAMES}
    valid = block_mean((context.nodata | context.saturated).astype(np.float32), factor) == 0
    return fit_cirrus_removal(toa, gipp, valid=valid, wv_cm=block_mean(wv_cm, factor))


def _observation(
    l1c: L1CProduct, resolution: int, bands: tuple[str, ...] | None = None
) -> Observation:
    """The geometry of the whole tile at ``resolution``, angles on the :data:`ANGLE_GRID_M`
    grid (sampled bilinearly where the correction needs them); the viewing angles of ``bands``
    only when given (each band's pair is 27 MB for a tile)."""
    meta = l1c.metadata
    bounds = grid_lonlat_bounds(meta.grids[resolution])
    return Observation.from_angle_fields(
        l1c.angles(ANGLE_GRID_M, bands=bands),
        sensor=meta.mission_id,
        resolution=resolution,
        angle_resolution=ANGLE_GRID_M,
        day_of_year=meta.sensing_time.timetuple().tm_yday,
        latitude_deg=(bounds.south + bounds.north) / 2.0,
    )


def _span(values: np.ndarray) -> np.ndarray:
    """The finite minimum and maximum of ``values`` (what sets the span of the term grids)."""
    return np.array([np.nanmin(values), np.nanmax(values)], dtype=np.float64)


def _terrain(elevation_m: np.ndarray, resolution: int) -> TerrainGeometry:
    """Terrain geometry with the sky view from the 60 m grid (its costly horizon march)."""
    return terrain_geometry(elevation_m, resolution, sky_view_step=SKY_VIEW_GRID_M // resolution)


def _cirrus_on(gipp: Gipp) -> bool:
    return bool(gipp.l2a.atmospheric_correction.flags.cirrus_correction)


def _upsample(values: np.ndarray, factor: int, *, order: int) -> np.ndarray:
    """``values`` on a ``factor`` times finer grid: bilinear (``order=1``) or nearest (0)."""
    if order == 0:
        return np.repeat(np.repeat(values, factor, axis=0), factor, axis=1)
    return upsample_bilinear(values, factor)


def write_options(options: ProcessingOptions, gipp: Gipp) -> L2AWriteOptions:
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
