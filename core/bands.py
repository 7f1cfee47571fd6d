"""The Sentinel-2 MSI band table, as data.

Band ids are written as Sentinel-2 writes them (``"B01"`` ... ``"B12"``, ``"B8A"``); ``band_id`` is
the index used in the metadata (``bandId="0"`` ... ``"12"``). Asset keys follow
stactools-sentinel2 / Earth Search v1. Central wavelengths and bandwidths are those of
Sen2Cor's ``L2A_CAL_AC_GIPP.xml`` (µm).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Band:
    """One MSI spectral band."""

    name: str
    band_id: int
    resolution: int
    """Native resolution in metres."""
    wavelength_um: float
    fwhm_um: float
    common_name: str
    asset_key: str


BANDS: Final[tuple[Band, ...]] = (
    Band("B01", 0, 60, 0.443, 0.020, "coastal", "coastal"),
    Band("B02", 1, 10, 0.490, 0.065, "blue", "blue"),
    Band("B03", 2, 10, 0.560, 0.035, "green", "green"),
    Band("B04", 3, 10, 0.665, 0.030, "red", "red"),
    Band("B05", 4, 20, 0.705, 0.015, "rededge", "rededge1"),
    Band("B06", 5, 20, 0.740, 0.015, "rededge", "rededge2"),
    Band("B07", 6, 20, 0.783, 0.020, "rededge", "rededge3"),
    Band("B08", 7, 10, 0.842, 0.115, "nir", "nir"),
    Band("B8A", 8, 20, 0.865, 0.020, "nir08", "nir08"),
    Band("B09", 9, 60, 0.945, 0.020, "nir09", "nir09"),
    Band("B10", 10, 60, 1.375, 0.030, "cirrus", "cirrus"),
    Band("B11", 11, 20, 1.610, 0.090, "swir16", "swir16"),
    Band("B12", 12, 20, 2.190, 0.180, "swir22", "swir22"),
)

BAND_NAMES: Final[tuple[str, ...]] = tuple(b.name for b in BANDS)
BY_NAME: Final[dict[str, Band]] = {b.name: b for b in BANDS}
BY_ID: Final[dict[int, Band]] = {b.band_id: b for b in BANDS}
RESOLUTIONS: Final[tuple[int, ...]] = (10, 20, 60)


def band(name: str) -> Band:
    """Return the band called ``name`` (``"B8A"``, ``"B01"``; ``"B1"`` is accepted)."""
    key = name.upper()
    if len(key) == 2 and key[1].isdigit():
        key = f"B0{key[1]}"
    try:
        return BY_NAME[key]
    except KeyError:
        raise KeyError(f"unknown Sentinel-2 band {name!r}; expected one of {BAND_NAMES}") from None
