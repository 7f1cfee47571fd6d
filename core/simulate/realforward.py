"""Scenes with real spatial structure: a real L2A product run forward to the top of atmosphere.

The product's 60 m BOA reflectance, AOT and water vapour (WVP), its SCL and the sun/viewing grids
of its MTD_TL.xml go through the simulator's own forward model (:mod:`core.simulate.forward`).
The truth is then the product itself. Choices where the product lacks something:

* 10/20 m bands are the 60 m BOA resampled bilinearly (the product here ships only R60m);
  B08, absent at 60 m, is taken as B8A (both sample the NIR plateau; B8A is B08's narrow twin).
* B10 has no BOA: its surface reflectance is ``0.9 * B11`` (spectral-library ratio of the
  1375/1610 nm reflectance of vegetation and soils; at the sensor that band is almost fully
  absorbed by water vapour anyway). Where SCL says thin cirrus (10), a cirrus layer of optical
  thickness :data:`CIRRUS_TAU` at :data:`CIRRUS_HEIGHT_M` is added, which gives the B10 signal.
* Clouds of the product stay as bright "surface" (Sen2Cor writes BOA over clouds too); no water
  cloud layer is added. The ground is flat (an L2A carries no DEM): elevation 0.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Final

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.windows import Window

from core.angles import parse_tile_angles
from core.bands import BAND_NAMES, BY_NAME
from core.errors import MissingBandError, ProductFormatError
from core.io.xml import find_text_required, findall, parse_xml_bytes
from core.product.metadata import ProcessingBaseline
from core.simulate.clouds import ICE_ASYMMETRY, WATER_ASYMMETRY, Clouds, single_level_layer
from core.simulate.forward import GroundTruth, NodeGrid, render_toa
from core.simulate.geometry import tile_grids
from core.simulate.landscape import COARSE_M, FINE_M, upsample
from core.simulate.scene import SceneGeometry, SceneSpec, SimulatedScene

CIRRUS_TAU: Final = 0.3
CIRRUS_HEIGHT_M: Final = 10000.0
B10_FROM_B11: Final = 0.9
STAND_INS: Final = {"B08": "B8A"}
"""Bands missing from R60m and the band whose BOA stands in."""
SCL_CIRRUS: Final = 10


def _granule(safe: Path) -> Path:
    granules = sorted((safe / "GRANULE").glob("*/MTD_TL.xml"))
    if len(granules) != 1:
        raise ProductFormatError(f"expected one granule, found {len(granules)}", path=str(safe))
    return granules[0].parent


def _image(granule: Path, name: str) -> Path:
    found = sorted((granule / "IMG_DATA" / "R60m").glob(f"*_{name}_60m.jp2"))
    if not found:
        raise MissingBandError(f"no {name} at 60 m", path=str(granule))
    return found[0]


def _read(path: Path, n: int, out_n: int | None = None) -> np.ndarray:
    """The upper-left ``n`` x ``n`` window of band 1 (decimated to ``out_n`` by nearest)."""
    with rasterio.open(path) as src:
        size = out_n or n
        return src.read(
            1, window=Window(0, 0, n, n), out_shape=(size, size), resampling=Resampling.nearest
        )


def _quantification(root, path: str) -> tuple[float, float, float, dict[int, float]]:
    base = "General_Info/Product_Image_Characteristics"
    boa, aot, wvp = (
        float(find_text_required(root, f"{base}/QUANTIFICATION_VALUES_LIST/{key}", source=path))
        for key in (
            "BOA_QUANTIFICATION_VALUE", "AOT_QUANTIFICATION_VALUE", "WVP_QUANTIFICATION_VALUE"
        )
    )  # fmt: skip
    offsets = {
        int(node.get("band_id", "-1")): float(node.text or 0)
        for node in findall(root, f"{base}/BOA_ADD_OFFSET_VALUES_LIST/BOA_ADD_OFFSET")
    }
    return boa, aot, wvp, offsets


def _footprints(granule: Path, size: int) -> dict[str, np.ndarray]:
    """Detector id per pixel at each band's native resolution (MSK_DETFOO rasters)."""
    out = {}
    for name, band in BY_NAME.items():
        path = granule / "QI_DATA" / f"MSK_DETFOO_{name}.jp2"
        if not path.is_file():
            raise MissingBandError(f"no detector footprint for {name}", path=str(granule))
        with rasterio.open(path) as src:
            n_src = size * 10 // round(src.res[0])
        out[name] = _read(path, n_src, size * 10 // band.resolution).astype(np.uint8)
    return out


def simulate_from_l2a(
    safe_path: str | Path,
    *,
    size: int = 1830,
    bands: tuple[str, ...] = BAND_NAMES,
    nodes: NodeGrid | None = None,
    cache_dir: Path | None = None,
    workers: int | None = None,
) -> SimulatedScene:
    """Run the upper-left ``size`` x ``size`` (10 m px) corner of a real L2A SAFE forward to TOA.

    Parameters
    ----------
    safe_path
        The ``.SAFE`` folder of an L2A product with R60m BOA, AOT, WVP and SCL rasters.
    size
        Scene width in 10 m pixels (a multiple of 6, at most 10980).
    bands, nodes, cache_dir, workers
        As for :func:`core.simulate.forward.simulate_scene`.
    """
    safe = Path(safe_path)
    granule = _granule(safe)
    mtd_path = safe / "MTD_MSIL2A.xml"
    root = parse_xml_bytes(mtd_path.read_bytes(), path=str(mtd_path))
    tile_path = granule / "MTD_TL.xml"
    tile_root = parse_xml_bytes(tile_path.read_bytes(), path=str(tile_path))
    q_boa, q_aot, q_wvp, offsets = _quantification(root, str(mtd_path))
    n60 = size * 10 // int(COARSE_M)
    boa60 = {}
    for name in (b for b in BAND_NAMES if b != "B10"):
        dn = _read(_image(granule, STAND_INS.get(name, name)), n60).astype(np.float32)
        offset = offsets.get(BY_NAME[STAND_INS.get(name, name)].band_id, 0.0)
        boa60[name] = np.clip((dn + offset) / q_boa, 0.0, None)
    boa60["B10"] = B10_FROM_B11 * boa60["B11"]
    aot = _read(_image(granule, "AOT"), n60).astype(np.float32) / q_aot
    wv = _read(_image(granule, "WVP"), n60).astype(np.float32) / q_wvp
    scl = _read(_image(granule, "SCL"), n60).astype(np.uint8)
    footprint = _footprints(granule, size)
    valid = scl > 0
    aot_valid, wv_valid = aot[valid], wv[valid]
    if aot_valid.size == 0:
        raise ProductFormatError("no valid pixel in the requested window", path=str(granule))
    aot = np.where(valid, aot, np.median(aot_valid)).astype(np.float32)
    wv = np.where(valid, wv, np.median(wv_valid)).astype(np.float32)
    tile_id = find_text_required(tile_root, "General_Info/TILE_ID", source=str(tile_path))
    sensing = find_text_required(tile_root, "General_Info/SENSING_TIME", source=str(tile_path))
    baseline = find_text_required(
        root, "General_Info/Product_Info/PROCESSING_BASELINE", source=str(mtd_path)
    )
    ozone = find_text_required(
        tile_root, "Quality_Indicators_Info/Image_Content_QI/OZONE_VALUE", source=str(tile_path)
    )
    spec = SceneSpec(
        size=size,
        seed=0,
        tile_id=tile_id.split("_T")[-1].split("_")[0],
        sensing_time=datetime.fromisoformat(sensing.replace("Z", "+00:00")).replace(tzinfo=None),
        mission_id=tile_id[:3],
        baseline=ProcessingBaseline.parse(baseline),
        aot550_range=(float(aot_valid.min()), float(aot_valid.max())),
        wv_cm_range=(float(wv_valid.min()), float(wv_valid.max())),
        ozone_du=float(ozone),
        cloud_fraction=0.0,
        cirrus_fraction=float(np.mean(scl[valid] == SCL_CIRRUS)),
        max_elevation_m=0.0,
    )
    angles = parse_tile_angles(tile_root, source=str(tile_path))
    for name, det in footprint.items():
        res = BY_NAME[name].resolution
        per60 = int(COARSE_M) // res
        no_data = np.repeat(np.repeat(~valid, per60, 0), per60, 1)
        det[no_data] = 0
    geometry = SceneGeometry(
        grids=tile_grids(spec.tile_id, size),
        sun_angles=angles.sun,
        viewing_angles=angles.viewing,
        detector_footprint=footprint,
    )
    boa = {
        name: upsample(boa60[name], size * 10 // BY_NAME[name].resolution,
                       float(BY_NAME[name].resolution), COARSE_M)
        for name in bands
    }  # fmt: skip
    no_cloud = single_level_layer(np.full(aot.shape, -1.0, np.float32), 0.0, WATER_ASYMMETRY)
    cirrus_mask = scl == SCL_CIRRUS
    cirrus = single_level_layer(
        np.where(cirrus_mask, CIRRUS_TAU, -CIRRUS_TAU).astype(np.float32),
        CIRRUS_HEIGHT_M,
        ICE_ASYMMETRY,
    )
    truth = GroundTruth(boa, aot, wv, np.zeros_like(aot), Clouds(no_cloud, cirrus))
    toa, layers = render_toa(
        spec, geometry, truth, bands=bands, nodes=nodes, cache_dir=cache_dir, workers=workers
    )
    scl10 = np.repeat(np.repeat(scl, 6, 0), 6, 1)
    return SimulatedScene(
        spec=spec,
        geometry=geometry,
        toa_reflectance=toa,
        boa_reflectance=boa,
        scene_class=scl10,
        aot550=upsample(aot, size, FINE_M, COARSE_M),
        wv_cm=upsample(wv, size, FINE_M, COARSE_M),
        dem_m=np.zeros((size, size), dtype=np.float32),
        ozone_du=spec.ozone_du,
        extras={
            **layers,
            "cirrus_optical_depth": np.repeat(np.repeat(cirrus.optical_depth, 6, 0), 6, 1),
        },
    )
