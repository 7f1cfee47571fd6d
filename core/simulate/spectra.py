"""Surface reflectance spectra of the simulator's land-cover classes at the 13 MSI bands.

Each :class:`~core.simulate.landscape.LandCover` class has two end members; a pixel's reflectance is
``brightness * ((1 - m) * A + m * B)`` with ``m`` the landscape's per-pixel mixing value, so the
spectra vary continuously between e.g. sparse and dense vegetation.

The numbers are rounded values typical of the USGS Spectral Library v7 (Kokaly et al. 2017,
``splib07``) and the ECOSTRESS/ASTER library (Meerdink et al. 2019) read at the band centres of
:mod:`core.bands`; they are not exact convolutions with the MSI responses. The features they keep:
green vegetation with the chlorophyll well at B04, the red-edge rise B05-B07 and a NIR plateau of
0.3-0.45 (leaf water lowers B11/B12); water below 0.05, falling to ~0 in the SWIR; snow bright in
the visible and dark in B11/B12 (ice absorption); sand bright and rising into the SWIR. B10
(1375 nm) values follow the SWIR shape; at the sensor that band is almost entirely absorbed by
water vapour.

The dense vegetation members (both FOREST members, the dense CROP and GRASS members: the dark
dense vegetation, DDV, that Sen2Cor's AOT retrieval takes as reference) follow the empirical
relations of real dense vegetation, ``rho(0.66 um) = 0.5 rho(2.2 um)`` and ``rho(0.47 um) =
0.25 rho(2.2 um)``, i.e. blue = 0.5 red (Kaufman et al. 1997, IEEE TGRS 35(5), 1286-1298, from
AVIRIS scenes of vegetated land; MODIS Collection 5 dark target, Levy et al. 2007, JGR 112,
D13211: ``rho_blue = 0.49 rho_red + 0.005``): Sen2Cor's ``AC_Swir_22um_Red_Refl_Ratio`` and
``AC_Red_Blue_Refl_Ratio`` (facts §3.2). Mixing and the brightness factor are linear, so every
mixture of two such members obeys them too. The sparse/stressed CROP and GRASS members are no
DDV (B12 above ``AC_Ddv_Swir_Refl_Th3``) and keep their library shapes.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numba import njit, prange

from core.bands import BAND_NAMES
from core.simulate.landscape import LandCover

# Band order: B01 B02 B03 B04 B05 B06 B07 B08 B8A B09 B10 B11 B12
_END_MEMBERS: Final[dict[LandCover, tuple[tuple[float, ...], tuple[float, ...]]]] = {
    LandCover.CROP: (  # stressed/sparse crop -> dense green crop (splib07 "Corn", "Wheat")
        (0.05, 0.06, 0.09, 0.09, 0.14, 0.22, 0.26, 0.28, 0.29, 0.29, 0.22, 0.28, 0.18),
        (0.0175, 0.0175, 0.07, 0.035, 0.10, 0.30, 0.40, 0.43, 0.45, 0.44, 0.16, 0.18, 0.07),
    ),
    LandCover.GRASS: (  # dry grass -> green meadow (splib07 "Grass dry", "Lawn grass")
        (0.06, 0.07, 0.10, 0.12, 0.16, 0.22, 0.25, 0.27, 0.28, 0.28, 0.25, 0.33, 0.24),
        (0.025, 0.025, 0.08, 0.05, 0.11, 0.25, 0.32, 0.34, 0.35, 0.35, 0.16, 0.22, 0.10),
    ),
    LandCover.FOREST: (  # conifer -> broadleaf canopy (ECOSTRESS "Pinus", "Quercus" canopies)
        (0.0125, 0.0125, 0.045, 0.025, 0.06, 0.16, 0.21, 0.23, 0.24, 0.24, 0.09, 0.12, 0.05),
        (0.0175, 0.0175, 0.06, 0.035, 0.09, 0.28, 0.36, 0.38, 0.40, 0.40, 0.13, 0.18, 0.07),
    ),
    LandCover.BARE_SOIL: (  # moist dark soil -> dry bright soil (ECOSTRESS soils)
        (0.06, 0.07, 0.09, 0.11, 0.13, 0.14, 0.15, 0.16, 0.17, 0.17, 0.20, 0.22, 0.18),
        (0.10, 0.12, 0.16, 0.21, 0.24, 0.26, 0.27, 0.28, 0.29, 0.29, 0.35, 0.38, 0.33),
    ),
    LandCover.SAND: (  # quartz dune sand (splib07 "Sand", ECOSTRESS "Entisol")
        (0.15, 0.18, 0.25, 0.33, 0.37, 0.39, 0.41, 0.43, 0.44, 0.45, 0.50, 0.52, 0.48),
        (0.20, 0.23, 0.30, 0.38, 0.42, 0.45, 0.47, 0.49, 0.50, 0.51, 0.55, 0.58, 0.52),
    ),
    LandCover.URBAN: (  # asphalt -> concrete / bright roofs (ECOSTRESS man-made materials)
        (0.07, 0.08, 0.09, 0.10, 0.11, 0.12, 0.13, 0.14, 0.14, 0.14, 0.15, 0.17, 0.16),
        (0.15, 0.17, 0.20, 0.22, 0.23, 0.24, 0.25, 0.26, 0.26, 0.26, 0.27, 0.28, 0.25),
    ),
    LandCover.WATER: (  # clear deep -> turbid inland water (splib07 "Water", sediment-laden)
        (
            0.050,
            0.045,
            0.035,
            0.018,
            0.012,
            0.006,
            0.004,
            0.003,
            0.002,
            0.002,
            0.001,
            0.001,
            0.0005,
        ),
        (0.045, 0.045, 0.050, 0.040, 0.032, 0.016, 0.011, 0.009, 0.008, 0.006, 0.002, 0.002, 0.001),
    ),
    LandCover.SNOW: (  # old granular snow -> fresh snow (splib07 "Snow", "Melting snow")
        (0.80, 0.82, 0.80, 0.78, 0.75, 0.72, 0.70, 0.65, 0.63, 0.58, 0.15, 0.06, 0.05),
        (0.95, 0.96, 0.95, 0.93, 0.91, 0.89, 0.87, 0.84, 0.82, 0.78, 0.25, 0.10, 0.08),
    ),
}

END_MEMBERS: Final = np.array([_END_MEMBERS[c] for c in LandCover], dtype=np.float32).transpose(
    0, 2, 1
)
"""float32 array ``[class, band, end member]`` in :data:`core.bands.BAND_NAMES` order."""

BRIGHTNESS_SPREAD: Final = 0.08
"""Relative standard deviation of the per-pixel brightness factor (illumination-free texture)."""


def band_index(band: str) -> int:
    """Index of ``band`` in :data:`END_MEMBERS`."""
    return BAND_NAMES.index(band)


@njit(cache=True, nogil=True)
def pixel_noise(row: int, col: int, key: int) -> float:
    """Uniform [0, 1) value of pixel ``(row, col)``: the SplitMix64 finaliser of its index.

    A stateless hash instead of a stored random array: a 10980^2 float field would cost 480 MB
    for a texture that only has to be reproducible.
    """
    z = np.uint64(row) * np.uint64(1_000_003) + np.uint64(col) + np.uint64(key)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) / 9007199254740992.0


@njit(cache=True, nogil=True, parallel=True)
def _surface_kernel(  # noqa: PLR0917 - numba kernels take positional arguments
    land_cover: np.ndarray,
    mixing: np.ndarray,
    key: int,
    members: np.ndarray,
    factor: int,
    out: np.ndarray,
) -> None:
    """Block-average the 10 m reflectance of one band onto a grid ``factor`` times coarser."""
    n_out = out.shape[0]
    norm = 1.0 / (factor * factor)
    for i in prange(n_out):
        for j in range(n_out):
            acc = 0.0
            for di in range(factor):
                for dj in range(factor):
                    r = i * factor + di
                    c = j * factor + dj
                    k = land_cover[r, c]
                    m = mixing[r, c]
                    rho = (1.0 - m) * members[k, 0] + m * members[k, 1]
                    bright = 1.0 + BRIGHTNESS_SPREAD * 3.4641 * (pixel_noise(r, c, key) - 0.5)
                    acc += min(rho * bright, 1.0)
            out[i, j] = acc * norm


def surface_reflectance(
    land_cover: np.ndarray, mixing: np.ndarray, seed: int, band: str, factor: int
) -> np.ndarray:
    """float32 surface reflectance of ``band`` at ``10 * factor`` m (mean of its 10 m pixels).

    Parameters
    ----------
    land_cover, mixing
        10 m class codes and end-member mixing in [0, 1].
    seed
        Key of the per-pixel brightness texture (uniform, relative std ``BRIGHTNESS_SPREAD``).
    band
        MSI band name.
    factor
        Native resolution of the band divided by 10 m (1, 2 or 6).
    """
    n_out = land_cover.shape[0] // factor
    out = np.empty((n_out, n_out), dtype=np.float32)
    members = END_MEMBERS[:, band_index(band), :].copy()
    _surface_kernel(land_cover, mixing, seed, members, factor, out)
    return out
