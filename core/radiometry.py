"""Digital numbers <-> reflectance, as the L1C/L2A product specification defines them.

``rho = (DN + ADD_OFFSET) / QUANTIFICATION_VALUE`` (Sentinel-2 PSD; Sen2Cor facts §4 and §5.3):
``RADIO_ADD_OFFSET`` for L1C TOA (-1000 from baseline 04.00, 0 before) and ``BOA_ADD_OFFSET`` for
L2A. DN 0 is no-data and DN 65535 is saturated, in both directions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

NODATA_DN = 0
SATURATED_DN = 65535


@dataclass(frozen=True, slots=True)
class ToaWindow:
    """TOA reflectance of one band on one window, with its flags."""

    reflectance: np.ndarray
    """float32, NaN where ``nodata``."""
    nodata: np.ndarray
    """bool, DN 0 (L1C ``NODATA`` special value)."""
    saturated: np.ndarray
    """bool, DN 65535 (L1C ``SATURATED`` special value)."""


@njit(cache=True, nogil=True)
def _dn_to_reflectance(dn, nodata, quantification_value, add_offset, out):
    flat_dn = dn.ravel()
    flat_nodata = nodata.ravel()
    flat_out = out.ravel()
    for i in range(flat_dn.size):
        if flat_nodata[i]:
            flat_out[i] = np.nan
        else:
            flat_out[i] = (np.float64(flat_dn[i]) + add_offset) / quantification_value


@njit(cache=True, nogil=True)
def _reflectance_to_dn(rho, quantification_value, add_offset, out):
    flat_rho = rho.ravel()
    flat_out = out.ravel()
    for i in range(flat_rho.size):
        value = flat_rho[i]
        if np.isnan(value):
            flat_out[i] = 0
            continue
        dn = np.floor(value * quantification_value - add_offset + 0.5)
        if dn < 1.0:
            dn = 1.0
        elif dn > 65534.0:
            dn = 65534.0
        flat_out[i] = np.uint16(dn)


def toa_reflectance(
    dn: np.ndarray,
    quantification_value: float,
    add_offset: float = 0.0,
    *,
    nodata: np.ndarray | None = None,
    saturated: np.ndarray | None = None,
) -> ToaWindow:
    """Convert L1C digital numbers to TOA reflectance.

    Parameters
    ----------
    dn : ndarray
        Digital numbers (uint16, or float after resampling).
    quantification_value : float
        ``QUANTIFICATION_VALUE`` of MTD_MSIL1C.xml (10000).
    add_offset : float
        ``RADIO_ADD_OFFSET`` of the band (-1000 from baseline 04.00, else 0).
    nodata, saturated : ndarray of bool, optional
        Flags when ``dn`` was resampled (default: ``dn == 0`` and ``dn == 65535``).

    Returns
    -------
    ToaWindow
        float32 reflectance (NaN at no-data) with the no-data (DN 0) and saturation (DN 65535)
        flags. Saturated pixels keep their reflectance value.
    """
    values = np.ascontiguousarray(dn)  # converted pixel by pixel in the kernel, not copied
    nodata = values == NODATA_DN if nodata is None else np.asarray(nodata, dtype=bool)
    saturated = values == SATURATED_DN if saturated is None else np.asarray(saturated, dtype=bool)
    out = np.empty(values.shape, dtype=np.float32)
    _dn_to_reflectance(
        values, np.ascontiguousarray(nodata), float(quantification_value), float(add_offset), out
    )
    return ToaWindow(reflectance=out, nodata=nodata, saturated=saturated)


def reflectance_to_dn(
    rho: np.ndarray,
    quantification_value: float,
    add_offset: float = 0.0,
    *,
    saturated: np.ndarray | None = None,
) -> np.ndarray:
    """Encode reflectance as uint16 digital numbers: ``DN = rho * Q - offset`` (rounded).

    Valid values are clipped to 1..65534 so that 0 stays reserved for no-data (NaN in ``rho``)
    and 65535 for ``saturated`` pixels (if given).

    Parameters
    ----------
    rho : ndarray
        Reflectance (float), NaN for no-data.
    quantification_value : float
        ``QUANTIFICATION_VALUE`` (10000 for L1C TOA and L2A BOA).
    add_offset : float
        ``RADIO_ADD_OFFSET`` / ``BOA_ADD_OFFSET`` (-1000 from baseline 04.00).
    saturated : ndarray of bool, optional
        Pixels to encode as 65535.
    """
    values = np.ascontiguousarray(rho, dtype=np.float64)
    out = np.empty(values.shape, dtype=np.uint16)
    _reflectance_to_dn(values, float(quantification_value), float(add_offset), out)
    if saturated is not None:
        out[np.asarray(saturated, dtype=bool)] = SATURATED_DN
    return out
