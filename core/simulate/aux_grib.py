"""``AUX_ECMWFT`` and ``AUX_CAMSFO`` GRIB files of a simulated tile, from the truth.

Real L1C tiles carry GRIB 1 messages on a 9 x 9 regular latitude/longitude grid (about 0.2°
spacing) covering the tile: ECMWF ``tcwv`` (kg m-2), ``msl`` (Pa), ``tco3`` (kg m-2), ``10u``,
``10v``, ``r``; CAMS ``z`` (m2 s-2), ``aod469/550/670/865/1240`` and the species' AOD at 550 nm.
The values here sample the truth maps (nearest pixel, clamped to the simulated area): water
vapour 1 cm = 10 kg m-2, ozone 1 DU = 2.1415e-5 kg m-2; AOD at other wavelengths follows an
Ångström exponent of 1.3 and the species shares are fixed per aerosol type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import eccodes
import numpy as np
from pyproj import Transformer

from core.simulate.scene import SimulatedScene

GRID_POINTS: Final[int] = 9
DU_TO_KG_M2: Final[float] = 2.1415e-5
CM_TO_KG_M2: Final[float] = 10.0
STANDARD_MSL_PA: Final[float] = 101325.0
GRAVITY: Final[float] = 9.80665
ANGSTROM_EXPONENT: Final[float] = 1.3
AOD_WAVELENGTHS_NM: Final[tuple[int, ...]] = (469, 550, 670, 865, 1240)
SPECIES_SHARES: Final[dict[str, dict[str, float]]] = {
    "continental": {"bcaod550": 0.05, "duaod550": 0.10, "omaod550": 0.30, "ssaod550": 0.15,
                    "suaod550": 0.40},
    "maritime": {"bcaod550": 0.01, "duaod550": 0.04, "omaod550": 0.05, "ssaod550": 0.75,
                 "suaod550": 0.15},
}  # fmt: skip


def _lattice(scene: SimulatedScene) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    """Pixel row/col of each grid point and the grid's (lat0, lon0, lat1, lon1)."""
    grid = scene.geometry.grids[10]
    to_lonlat = Transformer.from_crs(grid.crs_epsg, 4326, always_xy=True)
    left, top = grid.transform.c, grid.transform.f
    right, bottom = left + grid.width * 10.0, top - grid.height * 10.0
    lons, lats = to_lonlat.transform([left, right, right, left], [top, top, bottom, bottom])
    lat0, lat1 = round(max(lats), 3), round(min(lats), 3)
    lon0, lon1 = round(min(lons), 3), round(max(lons), 3)
    lat = np.linspace(lat0, lat1, GRID_POINTS)
    lon = np.linspace(lon0, lon1, GRID_POINTS)
    lon2, lat2 = np.meshgrid(lon, lat)
    to_utm = Transformer.from_crs(4326, grid.crs_epsg, always_xy=True)
    x, y = to_utm.transform(lon2, lat2)
    cols = np.clip(((x - left) / 10.0).astype(int), 0, grid.width - 1)
    rows = np.clip(((top - y) / 10.0).astype(int), 0, grid.height - 1)
    return rows, cols, (lat0, lon0, lat1, lon1)


def _message(short_name: str, values: np.ndarray, corners: tuple[float, ...], date: int) -> bytes:
    handle = eccodes.codes_grib_new_from_samples("regular_ll_sfc_grib1")
    try:
        lat0, lon0, lat1, lon1 = corners
        eccodes.codes_set_key_vals(
            handle,
            {
                "centre": "ecmf",
                "Ni": GRID_POINTS,
                "Nj": GRID_POINTS,
                "latitudeOfFirstGridPointInDegrees": lat0,
                "longitudeOfFirstGridPointInDegrees": lon0,
                "latitudeOfLastGridPointInDegrees": lat1,
                "longitudeOfLastGridPointInDegrees": lon1,
                "iDirectionIncrementInDegrees": round((lon1 - lon0) / (GRID_POINTS - 1), 3),
                "jDirectionIncrementInDegrees": round((lat0 - lat1) / (GRID_POINTS - 1), 3),
                "dataDate": date,
                "dataTime": 0,
                "shortName": short_name,
                "bitsPerValue": 16,
            },
        )
        eccodes.codes_set_values(handle, values.astype(np.float64).ravel())
        return bytes(eccodes.codes_get_message(handle))
    finally:
        eccodes.codes_release(handle)


def write_aux_files(scene: SimulatedScene, folder: Path, *, with_cams: bool = True) -> None:
    """Write ``folder/AUX_ECMWFT`` and (``with_cams``, baselines >= 04.00) ``AUX_CAMSFO``."""
    rows, cols, corners = _lattice(scene)
    date = int(scene.spec.sensing_time.strftime("%Y%m%d"))
    shape = (GRID_POINTS, GRID_POINTS)
    aot = scene.aot550[rows, cols].astype(np.float64)
    ecmwf = {
        "tcwv": scene.wv_cm[rows, cols] * CM_TO_KG_M2,
        "msl": np.full(shape, STANDARD_MSL_PA),
        "tco3": np.full(shape, scene.ozone_du * DU_TO_KG_M2),
        "10u": np.full(shape, 3.0),
        "10v": np.full(shape, 1.0),
        "r": np.full(shape, 60.0),
    }
    cams = {"z": scene.dem_m[rows, cols] * GRAVITY}
    for wavelength in AOD_WAVELENGTHS_NM:
        cams[f"aod{wavelength}"] = aot * (wavelength / 550.0) ** -ANGSTROM_EXPONENT
    shares = SPECIES_SHARES.get(scene.spec.aerosol_type, SPECIES_SHARES["continental"])
    cams.update({name: aot * share for name, share in sorted(shares.items())})
    files = {"AUX_ECMWFT": ecmwf, "AUX_CAMSFO": cams} if with_cams else {"AUX_ECMWFT": ecmwf}
    for file_name, fields in files.items():
        data = b"".join(_message(name, values, corners, date) for name, values in fields.items())
        (folder / file_name).write_bytes(data)
