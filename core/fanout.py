"""One tile across several invocations: a plan, groups of strips, an assembly (issue #7).

A full tile may not fit one function (Lambda's 15 minutes) or may be wanted sooner than one
function delivers. The work splits where the algorithm allows:

1. :func:`plan_tile` does what needs the whole tile, at the working resolution: the scene
   classification and the aerosol / water-vapour retrievals (:func:`core.pipeline.tile_correction`).
   It saves them under ``context_uri`` (one ``.npz`` of arrays, one JSON of scalars).
2. :func:`correct_strips` corrects a group of full-width strips
   (:func:`core.io.block_reader.strip_windows`) from that context, anywhere, and saves the
   group's encoded BOA/TCI/AOT/WVP rows as part files
   (:meth:`core.product.encoded_layers.EncodedLayers.save_parts`). Groups are independent.
3. :func:`assemble_tile` mosaics the parts of every group
   (:class:`core.product.encoded_layers.MosaicLayers`) and writes the products exactly as
   :func:`core.pipeline.process_scene` does.

The three run in one process too (the tests check that the result equals ``process_scene``'s).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Final

import numpy as np

from core.atmospheric_correction.cirrus import CirrusRemoval
from core.atmospheric_correction.retrieval import AtmosphereRetrieval
from core.config.gipp import Gipp
from core.config.options import ProcessingOptions
from core.errors import InputError, ProcessingError
from core.io import storage
from core.io.block_reader import STRIP_M, strip_windows
from core.io.block_writer import EncodePool
from core.memory import limit_heap_retention
from core.pipeline import (
    ProgressCallback,
    SceneOutputs,
    SceneResult,
    TileCorrection,
    correct_strips_into,
    not_ground_mask,
    release_classification_bands,
    scene_classification_layers,
    tile_context,
    tile_correction,
    with_atmosphere,
    write_options,
    write_scene,
)
from core.product.encoded_layers import EncodedLayers, MosaicLayers, row_band
from core.product.l1c import L1CProduct, open_l1c
from core.product.l2a import L2ALayers
from core.product.l2a_quality import AtmosphereSummary
from core.terrain.illumination import TerrainIllumination

CONTEXT_ARRAYS: Final = "context.npz"
CONTEXT_SCALARS: Final = "context.json"
_CLASS_LAYERS: Final = ("scene_class", "cloud_probability", "snow_probability")


@dataclass(frozen=True)
class TilePlan:
    """A planned tile: its input, where its context is saved and how many strips it has."""

    input_uri: str
    context_uri: str
    strip_count: int
    strip_m: int = STRIP_M
    """Strip height (:func:`core.io.block_reader.strip_windows`)."""

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> TilePlan:
        """Parse a plan from a message; :class:`InputError` naming what is wrong."""
        try:
            plan = cls(
                input_uri=str(document["input_uri"]),
                context_uri=str(document["context_uri"]),
                strip_count=int(document["strip_count"]),
                strip_m=int(document.get("strip_m", STRIP_M)),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"not a tile plan ({err!r})", path="plan") from err
        if plan.strip_count < 1:
            raise InputError(f"strip_count {plan.strip_count} < 1", path="plan")
        return plan


def plan_tile(
    input_uri: str,
    options: ProcessingOptions,
    gipp: Gipp,
    context_uri: str,
    *,
    strip_m: int = STRIP_M,
    progress: ProgressCallback | None = None,
) -> TilePlan:
    """Classify the tile and retrieve its atmosphere; save both under ``context_uri``."""
    if options.sc_only or options.cr_only:
        raise InputError("a tile is fanned out only for the atmospheric correction", path=input_uri)
    limit_heap_retention()
    l1c = open_l1c(input_uri)
    resolutions = write_options(options, gipp).resolutions
    resolution = 60 if options.resolution == 60 else 20
    context = tile_context(l1c, gipp, resolution)
    layers = scene_classification_layers(
        l1c, options, gipp, resolutions, progress=progress, context=context
    )
    release_classification_bands(context)
    correction = tile_correction(l1c, gipp, layers, context)
    _save_context(context_uri, layers, correction)
    count = len(strip_windows(l1c.metadata.grids[resolution], strip_m))
    return TilePlan(input_uri, context_uri, strip_count=count, strip_m=strip_m)


def correct_strips(
    plan: TilePlan,
    strips: range,
    parts_uri: str,
    options: ProcessingOptions,
    gipp: Gipp,
    *,
    progress: ProgressCallback | None = None,
) -> tuple[str, ...]:
    """Correct ``strips`` of the planned tile; save their rows as parts under ``parts_uri``.

    Returns the URIs written. The bands are read from the L1C directly (a group reads a few
    strips of each band, so decoding the whole bands ahead would cost more than it saves).
    """
    if not strips or strips.start < 0 or strips.stop > plan.strip_count or strips.step != 1:
        raise InputError(f"strips {strips} are not within 0..{plan.strip_count}", path="plan")
    l1c = open_l1c(plan.input_uri)
    opts = write_options(options, gipp)
    limit_heap_retention()
    _, correction = _load_context(plan.context_uri, l1c)
    grid = l1c.metadata.grids[correction.resolution]
    windows = strip_windows(grid, plan.strip_m)[strips.start : strips.stop]
    first = int(windows[0].row_off)
    rows = int(windows[-1].row_off + windows[-1].height) - first
    grids = {
        res: row_band(
            grid, first * correction.resolution // res, rows * correction.resolution // res
        )
        for res, grid in l1c.metadata.grids.items()
    }
    with (
        tempfile.TemporaryDirectory(prefix="sen2cloud-strips-", dir=options.work_dir) as folder,
        ThreadPoolExecutor(opts.threads, thread_name_prefix="sen2cloud-band") as executor,
        EncodePool(opts.threads) as pool,
        EncodedLayers(grids, folder, pool=pool) as encoded,
    ):
        correct_strips_into(
            l1c, gipp, correction, opts.resolutions, windows, encoded=encoded,
            executor=executor, row_origin=first, progress=progress,
        )  # fmt: skip
        return encoded.save_parts(parts_uri, part=part_name(strips))


def part_name(strips: range) -> str:
    """The name of a group's parts: its first and last strip."""
    return f"strips-{strips.start:03d}-{strips.stop - 1:03d}"


def assemble_tile(
    plan: TilePlan,
    parts_uri: str,
    groups: Sequence[range],
    outputs: SceneOutputs,
    *,
    options: ProcessingOptions,
    gipp: Gipp,
    progress: ProgressCallback | None = None,
) -> SceneResult:
    """Write the products of the planned tile from the parts of ``groups`` (covering every
    strip once) as :func:`core.pipeline.process_scene` does."""
    covered = sorted(strip for group in groups for strip in group)
    if covered != list(range(plan.strip_count)):
        raise ProcessingError(
            f"the groups cover strips {covered}, not 0..{plan.strip_count - 1} once each",
            path=parts_uri,
        )
    l1c = open_l1c(plan.input_uri)
    opts = write_options(options, gipp)
    layers, correction = _load_context(plan.context_uri, l1c)
    mosaic = MosaicLayers.from_parts(
        l1c.metadata.grids, parts_uri, [part_name(group) for group in groups]
    )
    try:
        full = with_atmosphere(layers, correction, opts.resolutions, mosaic)
        return write_scene(
            l1c, full, plan.input_uri, outputs, settings=opts,
            report=progress or (lambda fraction, step: None),
        )  # fmt: skip
    finally:
        mosaic.close()


def _save_context(uri: str, layers: L2ALayers, correction: TileCorrection) -> None:
    arrays: dict[str, np.ndarray] = {
        "aot550": correction.atmosphere.aot550,
        "wv_cm": correction.atmosphere.wv_cm,
        "elevation_m": correction.elevation_m,
        "valid": correction.valid,
    }
    for name in _CLASS_LAYERS:
        for res, values in getattr(layers, name).items():
            arrays[f"{name}_{res}"] = values
    if correction.illumination is not None:
        arrays |= {f"illumination_{k}": v for k, v in asdict(correction.illumination).items()}
    scalars = {
        "resolution": correction.resolution,
        "ozone_du": correction.atmosphere.ozone_du,
        "aerosol": correction.atmosphere.aerosol,
        "retrieval_summary": asdict(correction.atmosphere.summary),
        "summary": asdict(correction.summary),
        "brdf": correction.brdf,
        "cirrus": None if correction.cirrus is None else asdict(correction.cirrus),
    }
    with tempfile.TemporaryDirectory(prefix="sen2cloud-context-") as folder:
        local = Path(folder)
        np.savez(local / CONTEXT_ARRAYS, **arrays)  # type: ignore[arg-type]  # numpy's stub
        (local / CONTEXT_SCALARS).write_text(json.dumps(scalars), encoding="utf-8")
        for name in (CONTEXT_ARRAYS, CONTEXT_SCALARS):
            storage.put_file(local / name, storage.join(uri, name))


def _load_context(uri: str, l1c: L1CProduct) -> tuple[L2ALayers, TileCorrection]:
    """The classification layers and the correction state saved by :func:`plan_tile`."""
    scalars_uri = storage.join(uri, CONTEXT_SCALARS)
    arrays_uri = storage.join(uri, CONTEXT_ARRAYS)
    try:
        scalars = json.loads(storage.read_bytes(scalars_uri))
        with tempfile.TemporaryDirectory(prefix="sen2cloud-context-") as folder:
            local = storage.get_file(arrays_uri, Path(folder) / CONTEXT_ARRAYS)
            with np.load(local) as saved:
                arrays = {name: saved[name] for name in saved.files}
    except (ValueError, KeyError, OSError) as err:
        raise ProcessingError(f"unreadable tile context ({err})", path=uri) from err
    by_name: dict[str, dict[int, np.ndarray]] = {name: {} for name in _CLASS_LAYERS}
    for key, values in arrays.items():
        name, _, res = key.rpartition("_")
        if name in by_name:
            by_name[name][int(res)] = values
    layers = L2ALayers(
        scene_class=by_name["scene_class"],
        cloud_probability=by_name["cloud_probability"],
        snow_probability=by_name["snow_probability"],
    )
    work = int(scalars["resolution"])
    grid = l1c.metadata.grids[work]
    if arrays["aot550"].shape != (grid.height, grid.width):
        raise ProcessingError(f"the context is not of {l1c.metadata.product_uri}", path=uri)
    summary = _summary(scalars["summary"])
    illumination = None
    if "illumination_sky_view" in arrays:
        illumination = TerrainIllumination(**{
            key.removeprefix("illumination_"): arrays[key]
            for key in arrays if key.startswith("illumination_")
        })  # fmt: skip
    cirrus = scalars["cirrus"]
    correction = TileCorrection(
        resolution=work,
        atmosphere=AtmosphereRetrieval(
            aot550=arrays["aot550"],
            wv_cm=arrays["wv_cm"],
            ozone_du=float(scalars["ozone_du"]),
            aerosol=str(scalars["aerosol"]),
            summary=_summary(scalars["retrieval_summary"]),
        ),
        summary=summary,
        elevation_m=arrays["elevation_m"],
        valid=arrays["valid"],
        not_ground=not_ground_mask(layers.scene_class[work]),
        illumination=illumination,
        brdf=bool(scalars["brdf"]),
        cirrus=None if cirrus is None else CirrusRemoval(**cirrus),
    )
    return layers, correction


def _summary(document: Mapping[str, Any]) -> AtmosphereSummary:
    fields = dict(document)
    for name in ("lut_files", "aux_files"):
        fields[name] = tuple(fields.get(name, ()))
    return replace(AtmosphereSummary(ozone_du=float(fields.pop("ozone_du"))), **fields)
