"""Meteorological auxiliary data of an L1C tile: ``AUX_ECMWFT`` and ``AUX_CAMSFO`` (GRIB).

``AUX_ECMWFT`` holds ECMWF forecasts of total column ozone ``tco3`` (kg m-2), total column water
vapour ``tcwv`` (kg m-2) and mean sea-level pressure ``msl`` (Pa) (+ ``10u``, ``10v``, ``r`` from
04.00); ``AUX_CAMSFO`` (PSD >= 14.8) holds CAMS aerosol optical depths (``aod550``, ...).
Sen2Cor with ``Ozone_Content = 0`` takes the mean positive ``tco3`` converted to Dobson units
with the factor 300 / 6.428e-3 (facts §3.1: 300 DU = 6.428 g m-2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import eccodes
import numpy as np

from core.errors import ProductFormatError
from core.io import storage

DU_PER_KG_M2: Final[float] = 300.0 / 6.428e-3
"""Sen2Cor's ozone conversion (300 x 155.5694 = 46 670.8 DU per kg m-2)."""
MAX_GRIB_BYTES: Final[int] = 64 * 1024 * 1024
"""Real AUX files are a few kB to a few MB."""


@dataclass(frozen=True, slots=True)
class AuxData:
    """Tile means of the auxiliary fields (``None`` when the file or variable is absent)."""

    ozone_du: float | None
    """Mean positive ``tco3`` in Dobson units."""
    water_vapour_cm: float | None
    """Mean ``tcwv`` in cm of precipitable water (1 kg m-2 = 0.1 cm)."""
    msl_hpa: float | None
    """Mean sea-level pressure in hPa."""
    aod550: float | None
    """CAMS mean total aerosol optical depth at 550 nm."""
    means: dict[str, float] = field(default_factory=dict)
    """Every GRIB ``shortName`` -> mean over all its messages and grid points."""
    grids: dict[str, np.ndarray] = field(default_factory=dict)
    """Every ``shortName`` -> values of its first message, shape (Nj, Ni)."""


def read_grib_fields(data: bytes, *, path: str) -> dict[str, list[np.ndarray]]:
    """Decode every GRIB message of ``data``: ``shortName`` -> list of (Nj, Ni) value grids.

    Raises
    ------
    ProductFormatError
        Not GRIB, or a message that cannot be decoded.
    """
    fields: dict[str, list[np.ndarray]] = {}
    offset = 0
    while (start := data.find(b"GRIB", offset)) >= 0:
        try:
            handle = eccodes.codes_new_from_message(data[start:])
        except eccodes.GribInternalError as err:
            raise ProductFormatError(f"undecodable GRIB message ({err})", path=path) from err
        try:
            name = str(eccodes.codes_get(handle, "shortName"))
            length = int(eccodes.codes_get(handle, "totalLength"))
            shape = (int(eccodes.codes_get(handle, "Nj")), int(eccodes.codes_get(handle, "Ni")))
            values = np.asarray(eccodes.codes_get_values(handle), dtype=np.float64)
            missing = float(eccodes.codes_get(handle, "missingValue"))
        except eccodes.GribInternalError as err:
            raise ProductFormatError(f"undecodable GRIB message ({err})", path=path) from err
        finally:
            eccodes.codes_release(handle)
        end = start + length
        if end > len(data) or data[end - 4 : end] != b"7777":
            raise ProductFormatError(
                f"truncated GRIB message '{name}' ({length} bytes declared, "
                f"{len(data) - start} present)",
                path=path,
            )
        values = np.where(values == missing, np.nan, values)
        fields.setdefault(name, []).append(
            values.reshape(shape) if values.size == shape[0] * shape[1] else values
        )
        offset = end
    if not fields:
        raise ProductFormatError("no GRIB message found", path=path)
    return fields


def _positive_mean(grids: list[np.ndarray] | None) -> float | None:
    if not grids:
        return None
    values = np.concatenate([g.ravel() for g in grids])
    values = values[np.isfinite(values) & (values > 0)]
    return float(values.mean()) if values.size else None


def read_aux(aux_files: dict[str, str]) -> AuxData | None:
    """Read ``AUX_ECMWFT`` / ``AUX_CAMSFO`` from the tile's AUX_DATA (name -> URI).

    Returns ``None`` when neither file is present.
    """
    fields: dict[str, list[np.ndarray]] = {}
    for name in ("AUX_ECMWFT", "AUX_CAMSFO"):
        if name in aux_files:
            uri = aux_files[name]
            fields |= read_grib_fields(storage.read_bytes(uri, max_bytes=MAX_GRIB_BYTES), path=uri)
    if not fields:
        return None
    tco3 = _positive_mean(fields.get("tco3"))
    tcwv = _positive_mean(fields.get("tcwv"))
    msl = _positive_mean(fields.get("msl"))
    means = {
        name: float(np.nanmean(np.concatenate([g.ravel() for g in grids])))
        for name, grids in fields.items()
    }
    return AuxData(
        ozone_du=None if tco3 is None else tco3 * DU_PER_KG_M2,
        water_vapour_cm=None if tcwv is None else tcwv / 10.0,
        msl_hpa=None if msl is None else msl / 100.0,
        aod550=_positive_mean(fields.get("aod550")),
        means=means,
        grids={name: grids[0] for name, grids in fields.items()},
    )
