"""Write a :class:`SimulatedScene` as an L1C SAFE product plus its ``truth/`` folder.

The tree is that of real compact L1C products (``metadata/safe-layouts/L1C_04.00.csv``)::

    S2A_MSIL1C_<datatake>_N<bbbb>_R<orbit>_T<tile>_<generation>.SAFE/
      MTD_MSIL1C.xml  manifest.safe  INSPIRE.xml  rep_info/
      DATASTRIP/DS_<centre>_<generation>_S<datatake>/MTD_DS.xml + QI_DATA/*.xml
      GRANULE/L1C_T<tile>_A<orbit>_<datatake>/
        MTD_TL.xml  AUX_DATA/  IMG_DATA/T<tile>_<datatake>_{B01..B12,B8A,TCI}.jp2
        QI_DATA/  MSK_DETFOO/QUALIT_Bxx.jp2 + MSK_CLASSI_B00.jp2 (>= 04.00) or GML masks,
                  FORMAT_CORRECTNESS/GENERAL/GEOMETRIC/SENSOR_QUALITY.xml, <stem>_PVI.jp2

DNs follow the baseline's encoding (``DN = rho * 10000 - RADIO_ADD_OFFSET``) through
:func:`core.radiometry.reflectance_to_dn`; every raster is written through
:func:`core.io.jp2.write_jp2`. Generation times derive from the sensing time, so the same spec
gives byte-identical rasters.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import numpy as np
import rasterio
from affine import Affine
from pyproj import Transformer

from core.bands import BANDS
from core.errors import OutputError
from core.io.jp2 import write_jp2
from core.product.metadata import RasterGrid
from core.radiometry import reflectance_to_dn
from core.resample import block_mean
from core.simulate import l1c_metadata as mtd
from core.simulate.aux_grib import write_aux_files
from core.simulate.geometry import orbit_numbers
from core.simulate.l1c_gml import detector_footprint_gml, empty_mask_gml
from core.simulate.l1c_manifest import inspire_metadata, manifest
from core.simulate.scene import SceneSpec, SimulatedScene
from core.simulate.truth import write_truth

TCI_MAX_REFLECTANCE: Final[float] = 0.25
"""TCI maps TOA reflectance 0..0.25 to 1..255 (0 = no data), as L1C true-colour images."""
PVI_RESOLUTION: Final[int] = 320
"""The preview image is 343 px over the 109.8 km tile."""
OPAQUE_CLOUD_CLASSES: Final[tuple[int, ...]] = (8, 9)
CIRRUS_CLASS: Final[int] = 10
SNOW_CLASS: Final[int] = 11
NODATA_QUALIT_LAYER: Final[int] = mtd.QUALIT_LAYERS.index("QT_NODATA_PIXELS")


def product_names(spec: SceneSpec) -> mtd.L1CNames:
    """Names and identifiers of the product simulated from ``spec``."""
    absolute, relative = orbit_numbers(spec.mission_id, spec.sensing_time)
    return mtd.L1CNames.simulated(
        mission_id=spec.mission_id,
        tile_id=spec.tile_id.removeprefix("T"),
        baseline=spec.baseline,
        sensing_time=spec.sensing_time,
        generation_time=spec.sensing_time + mtd.GENERATION_DELAY,
        absolute_orbit=absolute,
        relative_orbit=relative,
    )


def _stats(scene: SimulatedScene) -> mtd.SceneStats:
    classes = scene.scene_class
    valid = classes != 0
    total = max(int(valid.sum()), 1)
    cloudy = np.isin(classes, (*OPAQUE_CLOUD_CLASSES, CIRRUS_CLASS)).sum()
    grid = scene.geometry.grids[10]
    left, top = grid.transform.c, grid.transform.f
    right = left + grid.width * grid.resolution
    bottom = top - grid.height * grid.resolution
    to_lonlat = Transformer.from_crs(grid.crs_epsg, 4326, always_xy=True)
    xs = [left, right, right, left, left]
    ys = [top, top, bottom, bottom, top]
    lons, lats = to_lonlat.transform(xs, ys)
    return mtd.SceneStats(
        cloud_percentage=100.0 * float(cloudy) / total,
        snow_percentage=100.0 * float((classes == SNOW_CLASS).sum()) / total,
        footprint_lonlat=tuple((float(lo), float(la)) for lo, la in zip(lons, lats, strict=True)),
    )


def _tci(scene: SimulatedScene) -> np.ndarray:
    rgb = np.stack([scene.toa_reflectance[b] for b in ("B04", "B03", "B02")])
    scaled = np.clip(np.rint(rgb / TCI_MAX_REFLECTANCE * 255.0), 1, 255)
    return np.where(np.isnan(rgb), 0, scaled).astype(np.uint8)


def _pvi(tci: np.ndarray, grid10: RasterGrid) -> tuple[np.ndarray, RasterGrid]:
    step = PVI_RESOLUTION // grid10.resolution
    pvi = np.ascontiguousarray(tci[:, step // 2 :: step, step // 2 :: step])
    grid = RasterGrid(
        resolution=PVI_RESOLUTION,
        width=pvi.shape[2],
        height=pvi.shape[1],
        transform=Affine(
            PVI_RESOLUTION, 0.0, grid10.transform.c, 0.0, -PVI_RESOLUTION, grid10.transform.f
        ),
        crs_epsg=grid10.crs_epsg,
    )
    return pvi, grid


def _classi(scene: SimulatedScene) -> np.ndarray:
    """MSK_CLASSI_B00 at 60 m: opaque clouds, cirrus, snow (majority of the 6x6 10 m block)."""
    classes = scene.scene_class
    layers = [
        np.isin(classes, OPAQUE_CLOUD_CLASSES),
        classes == CIRRUS_CLASS,
        classes == SNOW_CLASS,
    ]
    return np.stack([block_mean(layer, 6) >= 0.5 for layer in layers]).astype(np.uint8)


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _write_granule(
    scene: SimulatedScene, names: mtd.L1CNames, granule: Path, stats: mtd.SceneStats, threads: int
) -> None:
    geometry = scene.geometry
    offset = mtd.add_offset(names.baseline)
    img, qi = granule / "IMG_DATA", granule / "QI_DATA"
    img.mkdir(parents=True)
    qi.mkdir(parents=True)
    for band in BANDS:
        grid = geometry.grids[band.resolution]
        toa = scene.toa_reflectance[band.name]
        dn = reflectance_to_dn(toa, mtd.QUANTIFICATION_VALUE, offset)
        write_jp2(str(img / f"{names.image_stem(band.name)}.jp2"), dn, grid, threads=threads)
        footprint = geometry.detector_footprint[band.name]
        if names.baseline >= mtd.OFFSET_BASELINE:
            write_jp2(str(qi / f"MSK_DETFOO_{band.name}.jp2"), footprint, grid, nodata=None)
            qualit = np.zeros((len(mtd.QUALIT_LAYERS), *toa.shape), dtype=np.uint8)
            qualit[NODATA_QUALIT_LAYER] = np.isnan(toa)
            write_jp2(str(qi / f"MSK_QUALIT_{band.name}.jp2"), qualit, grid, nodata=None)
        else:
            for kind in mtd.GML_MASK_TYPES:
                gml = (
                    detector_footprint_gml(footprint, grid, band.name)
                    if kind == "DETFOO"
                    else empty_mask_gml(grid, f"MSK_{kind}", band.name)
                )
                _write_file(qi / f"MSK_{kind}_{band.name}.gml", gml)
    tci = _tci(scene)
    write_jp2(str(img / f"{names.image_stem('TCI')}.jp2"), tci, geometry.grids[10], threads=threads)
    pvi, pvi_grid = _pvi(tci, geometry.grids[10])
    write_jp2(str(qi / f"{names.image_stem('PVI')}.jp2"), pvi, pvi_grid)
    if names.baseline >= mtd.OFFSET_BASELINE:
        write_jp2(str(qi / "MSK_CLASSI_B00.jp2"), _classi(scene), geometry.grids[60], nodata=None)
    else:
        _write_file(
            qi / "MSK_CLOUDS_B00.gml", empty_mask_gml(geometry.grids[10], "MSK_CLOUDS", "B00")
        )
    for report in mtd.QI_REPORTS:
        _write_file(qi / f"{report}.xml", mtd.qi_report(names, report, names.tile_long_id))
    _write_file(granule / "MTD_TL.xml", mtd.tile_metadata(names, scene, stats))


def _write_product(
    scene: SimulatedScene, names: mtd.L1CNames, safe: Path, *, with_aux: bool, threads: int
) -> None:
    stats = _stats(scene)
    granule = safe / "GRANULE" / names.granule
    _write_granule(scene, names, granule, stats, threads)
    aux = granule / "AUX_DATA"
    aux.mkdir()
    if with_aux:
        write_aux_files(scene, aux, with_cams=names.baseline >= mtd.OFFSET_BASELINE)
    datastrip = safe / "DATASTRIP" / names.datastrip
    for report in mtd.DATASTRIP_QI_REPORTS:
        _write_file(
            datastrip / "QI_DATA" / f"{report}.xml",
            mtd.qi_report(names, report, names.datastrip_long_id),
        )
    _write_file(datastrip / "MTD_DS.xml", mtd.datastrip_metadata(names))
    (safe / "rep_info").mkdir()
    _write_file(safe / "MTD_MSIL1C.xml", mtd.product_metadata(names, stats))
    _write_file(safe / "INSPIRE.xml", inspire_metadata(names, stats))
    _write_file(safe / "manifest.safe", manifest(safe, names, stats))
    write_truth(scene, safe.parent / "truth")


def write_l1c_safe(
    scene: SimulatedScene, output_dir: str, *, with_aux: bool = False, threads: int = 1
) -> str:
    """Write ``scene`` as an L1C SAFE in ``output_dir`` and its truth in ``output_dir/truth``.

    Parameters
    ----------
    scene
        The simulated tile (TOA at native resolutions, truth layers, geometry).
    output_dir
        Local folder; created if needed. An existing product of the same name is refused.
    with_aux
        Also write ``AUX_DATA/AUX_ECMWFT`` and ``AUX_CAMSFO`` GRIB files from the truth.
    threads
        OpenJPEG encoder threads.

    Returns
    -------
    str
        Path of the ``.SAFE`` folder.

    Raises
    ------
    OutputError
        The product folder exists already or a file cannot be written.
    """
    names = product_names(scene.spec)
    safe = Path(output_dir) / names.product
    if safe.exists():
        raise OutputError("product exists already; choose another output folder", path=str(safe))
    try:
        # no .aux.xml side-car files: real products have none (no-data is a metadata value)
        with rasterio.Env(GDAL_PAM_ENABLED="NO"):
            _write_product(scene, names, safe, with_aux=with_aux, threads=threads)
    except OSError as err:
        raise OutputError(f"cannot write the simulated product ({err})", path=str(safe)) from err
    return os.fspath(safe)
