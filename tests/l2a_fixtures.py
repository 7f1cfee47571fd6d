"""Test helpers for the L2A writer: a real L1C metadata product and synthetic L2A layers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

# pyproj must initialise its PROJ database before eccodes is loaded (core.product.l1c ->
# aux_data); the other order crashes pyproj (used by rio-cogeo) with 'no database context'.
import pyproj  # noqa: F401

from core.bands import BANDS
from core.product.l1c import L1CProduct, open_l1c
from core.product.l2a import L2ALayers
from core.product.l2a_quality import AtmosphereSummary
from core.product.l2a_rasters import BOA_BANDS, PROBABILITY_RESOLUTIONS, SCL_RESOLUTIONS
from core.product.metadata import ProcessingBaseline, RasterGrid
from core.simulate.geometry import simulate_geometry
from core.simulate.l1c_safe import write_l1c_safe
from core.simulate.scene import SceneSpec, SimulatedScene

L1C_T46RER = (
    "metadata/stactools-sentinel2/S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248.SAFE"
)
L2A_REAL = "l2a-real/S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE"
SHRINK = 6
"""The real 10980/5490/1830 px grids are cut to their upper-left sixth (1830/915/305 px)."""


def real_l1c(shared_data: Path) -> L1CProduct:
    """The real T46RER L1C metadata, with grids shrunk by :data:`SHRINK` and source files
    restricted to those present in the metadata-only test product."""
    product = open_l1c(str(shared_data / L1C_T46RER))
    meta = product.metadata
    grids = {
        res: dataclasses.replace(g, width=g.width // SHRINK, height=g.height // SHRINK)
        for res, g in meta.grids.items()
    }
    files = product.files

    def present(mapping: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in mapping.items() if Path(v).is_file()}

    files = dataclasses.replace(
        files,
        tile_qi=present(files.tile_qi),
        datastrip_qi=present(files.datastrip_qi),
        aux=present(files.aux),
        datastrip_metadata=files.datastrip_metadata
        if files.datastrip_metadata and Path(files.datastrip_metadata).is_file()
        else None,
    )
    return dataclasses.replace(
        product, metadata=dataclasses.replace(meta, grids=grids), files=files
    )


def synthetic_layers(grids: dict[int, RasterGrid], seed: int = 0) -> L2ALayers:
    """Every layer Sen2Cor writes, on ``grids``: smooth random reflectances with a no-data
    border, AOT/WVP fields, an SCL covering all classes, probabilities 0..100."""
    rng = np.random.default_rng(seed)
    boa: dict[int, dict[str, np.ndarray]] = {}
    aot: dict[int, np.ndarray] = {}
    wvp: dict[int, np.ndarray] = {}
    scl: dict[int, np.ndarray] = {}
    cld: dict[int, np.ndarray] = {}
    snw: dict[int, np.ndarray] = {}
    for res, grid in grids.items():
        shape = (grid.height, grid.width)
        border = np.zeros(shape, dtype=bool)
        border[:, : max(1, grid.width // 10)] = True
        boa[res] = {}
        for band in BOA_BANDS[res]:
            rho = rng.uniform(-0.02, 0.9, shape).astype(np.float32)
            rho[border] = np.nan
            boa[res][band] = rho
        aot[res] = np.where(border, np.nan, rng.uniform(0.05, 0.6, shape)).astype(np.float32)
        wvp[res] = np.where(border, np.nan, rng.uniform(0.2, 4.0, shape)).astype(np.float32)
        if res in SCL_RESOLUTIONS:
            classes = rng.integers(1, 12, shape).astype(np.uint8)
            classes[border] = 0
            scl[res] = classes
        if res in PROBABILITY_RESOLUTIONS:
            cld[res] = rng.integers(0, 101, shape).astype(np.uint8)
            snw[res] = rng.integers(0, 101, shape).astype(np.uint8)
    return L2ALayers(
        boa=boa,
        aot550=aot,
        wvp_cm=wvp,
        scene_class=scl,
        cloud_probability=cld,
        snow_probability=snw,
        atmosphere=AtmosphereSummary(ozone_du=321.75),
    )


def simulated_l1c_0400(target: Path) -> L1CProduct:
    """A complete baseline-04.00 L1C SAFE written by the project's scene simulator (JP2 masks,
    QI reports, AUX GRIBs, datastrip), with uniform random TOA reflectance: the input whose
    QI/AUX files an L2A product copies."""
    spec = SceneSpec(size=366, seed=5, tile_id="29UNU", baseline=ProcessingBaseline(4, 0))
    rng = np.random.default_rng(spec.seed)
    n = spec.size
    toa = {
        b.name: rng.uniform(0.01, 0.9, (n * 10 // b.resolution,) * 2).astype(np.float32)
        for b in BANDS
    }
    scene = SimulatedScene(
        spec=spec,
        geometry=simulate_geometry(spec),
        toa_reflectance=toa,
        boa_reflectance=toa,
        scene_class=rng.integers(1, 12, (n, n)).astype(np.uint8),
        aot550=np.full((n, n), 0.1, np.float32),
        wv_cm=np.full((n, n), 1.5, np.float32),
        dem_m=np.zeros((n, n), np.float32),
        ozone_du=spec.ozone_du,
    )
    return open_l1c(write_l1c_safe(scene, str(target), with_aux=True))
