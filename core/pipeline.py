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
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from core.config.gipp import Gipp
from core.config.options import ProcessingOptions
from core.errors import InputError, NotAvailableError
from core.io import storage
from core.product.cloud_product import CloudProduct, write_cloud_product
from core.product.l1c import L1CProduct, open_l1c
from core.product.l2a import L2ALayers, L2AWriteOptions, write_l2a_product
from core.product.l2a_metadata import AuxiliaryReferences
from core.product.metadata import ProcessingBaseline
from core.resample import block_mean
from core.scene_classification import classify
from core.scene_classification.classify import CLASSIC_BANDS
from core.scene_classification.morphology import downsample_scene_class

QLT_NODATA_LAYERS = ("QT_NODATA_PIXELS",)
"""L1C quality-mask layers that make a pixel NO_DATA under ``Handle_L1C_QLT_Mask``."""
QLT_DEFECTIVE_LAYERS = ("QT_DEFECTIVE_PIXELS", "QT_SATURATED_PIXELS_L1A")
"""L1C quality-mask layers that make a pixel SATURATED_DEFECTIVE under ``Handle_L1C_QLT_Mask``."""

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
    if not (options.cr_only or options.sc_only):
        raise NotAvailableError(
            "atmospheric correction is not available yet; only --cr_only (create the L2A "
            "product tree) and --sc_only (scene classification) run"
        )
    write_options = _write_options(options, gipp)
    layers = None
    if options.sc_only:
        layers = scene_classification_layers(
            l1c, options, gipp, write_options.resolutions, progress=report
        )
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
    if not options.sc_only:
        raise NotAvailableError(
            "atmospheric correction is not available yet; the cloud product needs sc_only"
        )
    write_options = _write_options(options, gipp)
    layers = scene_classification_layers(
        l1c, options, gipp, write_options.resolutions, progress=report
    )
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


def scene_classification_layers(
    l1c: L1CProduct,
    options: ProcessingOptions,
    gipp: Gipp,
    resolutions: tuple[int, ...],
    progress: ProgressCallback | None = None,
) -> L2ALayers:
    """SCL, MSK_CLDPRB and MSK_SNWPRB of ``l1c`` for the output ``resolutions``.

    Sen2Cor classifies at 20 m (60 m with ``--resolution 60``), never at 10 m (facts §1.1). A
    60 m output of a 20 m run is the 3x3 median + nearest SCL and the 3x3 block mean of the
    probabilities (facts §1.3); the 10 m product carries no SCL. The whole tile is read into
    memory (a 20 m tile needs about 1 GB of float32 bands).
    """
    report = progress or _ignore
    resolution = 60 if options.resolution == 60 else 20
    report(0.1, f"reading TOA reflectance at {resolution} m")
    toa = {band: l1c.read_toa(band, resolution) for band in CLASSIC_BANDS}
    nodata = np.any([window.nodata for window in toa.values()], axis=0)
    saturated = np.any([window.saturated for window in toa.values()], axis=0)
    if gipp.l2a.common_section.handle_l1c_qlt_mask:
        for band in CLASSIC_BANDS:
            masks = l1c.quality_masks(band, resolution)
            nodata |= masks.detector == 0
            for name in QLT_NODATA_LAYERS:
                nodata |= masks.layers[name]
            for name in QLT_DEFECTIVE_LAYERS:
                saturated |= masks.layers[name]
    angles = l1c.angles(resolution)
    report(0.4, f"scene classification at {resolution} m")
    result = classify(
        {band: window.reflectance for band, window in toa.items()},
        sun_zenith_deg=angles.sun_zenith_deg,
        sun_azimuth_deg=angles.sun_azimuth_deg,
        gipp=gipp.sc,
        resolution=resolution,
        classic=options.sc_classic,
        nodata=nodata,
        saturated=saturated,
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
