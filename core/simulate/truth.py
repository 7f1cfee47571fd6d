"""The ``truth/`` folder written beside a simulated SAFE: what the L2A processor should recover.

* ``BOA_<band>_<res>m.tif``: float32 surface reflectance at every resolution at least as coarse
  as the band's native one (as the L2A product's R10m/R20m/R60m sets), block-mean downsampled.
* ``CLASS_<res>m.tif``: uint8 SCL codes (:func:`true_scene_class`: the forward model's classes
  plus topographic cast shadow, class 2); 20/60 m by block majority (ties to the lower code).
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
from scipy import linalg

from core.bands import BANDS, RESOLUTIONS
from core.product.metadata import RasterGrid
from core.resample import block_mean
from core.simulate.forward import _components, sun_angles, terrain_factors
from core.simulate.landscape import COARSE_M, FINE_M
from core.simulate.scene import SceneSpec, SimulatedScene

SCL_CLASSES: Final[int] = 12
TOPOGRAPHIC_SHADOW: Final[int] = 2
"""SCL code of topographic cast shadow (processing baseline 04.00 on, facts §2.1)."""
SHADED_CLASSES: Final[tuple[int, ...]] = (3, 4, 5, 6, 11)
"""Truth classes that terrain shadow replaces: the ground classes and cloud shadow (where the
terrain already blocks the direct beam a cloud cannot shade it)."""


def coarse_dem(dem_m: np.ndarray) -> np.ndarray:
    """The 60 m landscape DEM (:func:`~core.simulate.landscape.make_landscape`), recovered from
    its 10 m bilinear upsampling.

    :func:`~core.simulate.landscape.upsample` puts each 60 m value at its cell centre, between
    the middle two of the cell's six 10 m pixels; their mean is ``11/12`` of the cell's value
    plus ``1/24`` of each neighbour's (at the grid's edges the clamped sample is the cell
    itself). That tridiagonal map is inverted along both axes (float64).
    """
    factor = int(COARSE_M // FINE_M)
    n = dem_m.shape[0] // factor
    blocks = dem_m[: n * factor, : n * factor].reshape(n, factor, n, factor)
    middle = slice(factor // 2 - 1, factor // 2 + 1)
    means = blocks[:, middle, :, middle].mean(axis=(1, 3), dtype=np.float64)
    off = 0.5 / factor / 2  # weight of a neighbour in the mean of the two middle pixels
    bands = np.zeros((3, n))
    bands[0, 1:] = off  # upper diagonal
    bands[1] = 1.0 - 2 * off
    bands[2, :-1] = off  # lower diagonal
    bands[1, [0, -1]] = 1.0 - off  # the clamped edge sample is the cell itself
    rows = linalg.solve_banded((1, 1), bands, means)
    return linalg.solve_banded((1, 1), bands, rows.T).T


def terrain_shadow(scene: SimulatedScene) -> np.ndarray:
    """bool 10 m mask of the ground the terrain hides from the direct sun (self or cast shadow):
    where the forward model's direct factor (:func:`~core.simulate.forward.terrain_factors` on
    the 10 m DEM under each pixel's sun) is 0."""
    zenith, azimuth = sun_angles(
        _components(scene.geometry.sun_angles), scene.dem_m.shape[0], FINE_M
    )
    return terrain_factors(scene.dem_m, FINE_M, zenith, azimuth).illumination <= 0.0


def true_scene_class(scene: SimulatedScene) -> np.ndarray:
    """uint8 10 m SCL truth: the forward model's classes with terrain shadow as class 2.

    The forward model marks cloud shadow (3) but not the shadow of the terrain; from baseline
    04.00 class 2 is exactly that, so ground and cloud-shadow pixels in :func:`terrain_shadow`
    become class 2 (clouds, cirrus and no-data stay).
    """
    scl = scene.scene_class.copy()
    scl[terrain_shadow(scene) & np.isin(scl, SHADED_CLASSES)] = TOPOGRAPHIC_SHADOW
    return scl


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
    scene_class = true_scene_class(scene)
    for res in RESOLUTIONS:
        factor = res // 10
        _write_tif(folder / f"CLASS_{res}m.tif", block_mode(scene_class, factor), grids[res])
        for name, layer in (("AOT", scene.aot550), ("WV", scene.wv_cm), ("DEM", scene.dem_m)):
            _write_tif(folder / f"{name}_{res}m.tif", block_mean(layer, factor), grids[res])
    (folder / "scene.json").write_text(spec_to_json(scene.spec) + "\n", encoding="utf-8")
