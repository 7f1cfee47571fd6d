"""The ``truth/`` folder written beside a simulated SAFE: what the L2A processor should recover.

* ``BOA_<band>_<res>m.tif``: float32 surface reflectance at every resolution at least as coarse
  as the band's native one (as the L2A product's R10m/R20m/R60m sets), block-mean downsampled.
* ``CLASS_<res>m.tif``: uint8 SCL codes; 20/60 m by block majority (ties to the lower code).
* ``AOT_<res>m.tif``, ``WV_<res>m.tif`` (cm), ``DEM_<res>m.tif`` (m): float32 block means.
* ``scene.json``: the :class:`SceneSpec`.

All rasters share the product's CRS and transforms. GeoTIFFs are written without timestamps, so
the same scene gives byte-identical files.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC
from pathlib import Path
from typing import Final

import numpy as np
import rasterio
from rasterio.crs import CRS

from core.bands import BANDS, RESOLUTIONS
from core.product.metadata import RasterGrid
from core.resample import block_mean
from core.simulate.scene import SceneSpec, SimulatedScene

SCL_CLASSES: Final[int] = 12


def block_mode(classes: np.ndarray, factor: int) -> np.ndarray:
    """Most frequent class of each ``factor`` x ``factor`` block (lowest code on ties)."""
    if factor == 1:
        return classes.astype(np.uint8)
    rows, cols = classes.shape[0] // factor, classes.shape[1] // factor
    blocks = classes[: rows * factor, : cols * factor].reshape(rows, factor, cols, factor)
    counts = np.stack([(blocks == code).sum(axis=(1, 3)) for code in range(SCL_CLASSES)])
    return counts.argmax(axis=0).astype(np.uint8)


def spec_to_json(spec: SceneSpec) -> str:
    """The spec as JSON (baseline as ``dd.dd``, sensing time in ISO 8601)."""
    fields = asdict(spec)
    fields["baseline"] = str(spec.baseline)
    moment = spec.sensing_time
    fields["sensing_time"] = (moment.astimezone(UTC) if moment.tzinfo else moment).isoformat()
    return json.dumps(fields, indent=2, sort_keys=True)


def _write_tif(path: Path, array: np.ndarray, grid: RasterGrid) -> None:
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": 1,
        "dtype": array.dtype.name,
        "crs": CRS.from_epsg(grid.crs_epsg),
        "transform": grid.transform,
        "compress": "deflate",
        "tiled": True,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)


def write_truth(scene: SimulatedScene, folder: Path) -> None:
    """Write the truth rasters and ``scene.json`` of ``scene`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    grids = scene.geometry.grids
    for band in BANDS:
        for res in RESOLUTIONS:
            if res < band.resolution:
                continue
            boa = block_mean(scene.boa_reflectance[band.name], res // band.resolution)
            _write_tif(folder / f"BOA_{band.name}_{res}m.tif", boa, grids[res])
    for res in RESOLUTIONS:
        factor = res // 10
        _write_tif(folder / f"CLASS_{res}m.tif", block_mode(scene.scene_class, factor), grids[res])
        for name, layer in (("AOT", scene.aot550), ("WV", scene.wv_cm), ("DEM", scene.dem_m)):
            _write_tif(folder / f"{name}_{res}m.tif", block_mean(layer, factor), grids[res])
    (folder / "scene.json").write_text(spec_to_json(scene.spec) + "\n", encoding="utf-8")
