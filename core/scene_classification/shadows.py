"""Cloud-shadow detection of the classic scene classification (facts §2.4, Sen2Cor ``L2A_CSHD``).

A pixel is CLOUD_SHADOWS when a radiometric score (its spectrum is close to a fixed shadow
spectrum) times a geometric score (a cloud can cast a shadow there) exceeds SDW_SCORE.

The geometric score projects the cloud mask along the anti-solar azimuth over a range of cloud
heights weighted by a band-pass kernel. Sen2Cor convolves the mask with one kernel built from the
tile-mean sun angles (by FFT); so does :func:`geometric_score` for scalar angles (the kernel is
the cast of one pixel). For per-pixel angles every cloud pixel is cast along its own sun
direction (:func:`core.scene_classification.kernels.project_shadow_kernel`), which follows the
sun across the tile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy import ndimage, signal

from core.config.sc_gipp import ScGipp
from core.scene_classification import kernels, morphology

SHADOW_BANDS: Final[tuple[str, ...]] = ("B02", "B03", "B04", "B8A", "B11", "B12")
"""Bands compared with the shadow reference spectrum (SDW_REF_*)."""


def shadow_reference(gipp: ScGipp) -> np.ndarray:
    """The SDW_REF_* shadow spectrum (TOA reflectance) in the order of :data:`SHADOW_BANDS`."""
    cc = gipp.scene_classification.classic_constants
    return np.array(
        [cc.sdw_ref_b02, cc.sdw_ref_b03, cc.sdw_ref_b04, cc.sdw_ref_b8a, cc.sdw_ref_b11,
         cc.sdw_ref_b12],
        dtype=np.float32,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ShadowSpectrum:
    """Each pixel against the SDW_REF shadow spectrum (:func:`shadow_spectrum`)."""

    score: np.ndarray
    """float32 ``1 - mean |TOA - SDW_REF|`` over :data:`SHADOW_BANDS`."""
    darker: np.ndarray
    """bool: darker than the reference in every band."""


def shadow_spectrum(toa: Mapping[str, np.ndarray], gipp: ScGipp) -> ShadowSpectrum:
    """Compare every pixel with the shadow spectrum (once per classification: the classic
    score and the default-mode matching both use it)."""
    shape = toa[SHADOW_BANDS[0]].shape
    score = np.empty(shape, dtype=np.float32)
    darker = np.empty(shape, dtype=bool)
    flat = tuple(np.ascontiguousarray(toa[band]).ravel() for band in SHADOW_BANDS)
    kernels.shadow_spectrum_score(flat, shadow_reference(gipp), score, darker)
    return ShadowSpectrum(score=score, darker=darker)


def radiometric_score(
    toa: Mapping[str, np.ndarray], spectrum: ShadowSpectrum, cirrus: np.ndarray, gipp: ScGipp
) -> np.ndarray:
    """How shadow-like each pixel's spectrum is (float32 in [0, 1]).

    ``1 - mean |TOA - SDW_REF|`` over :data:`SHADOW_BANDS` (``spectrum``), median filtered
    (SDW_MEDIAN_PX); below ``1 - T_B02_B12`` it is 0; pixels darker than the reference in every
    band score 1; water-like pixels (B02/B11 > SDW_WATER_R_B02_B11) and ``cirrus`` pixels
    score 0.
    """
    sc = gipp.scene_classification
    cc = sc.classic_constants
    score = morphology.median(spectrum.score, cc.sdw_median_px)
    score[score < 1.0 - sc.thresholds.t_b02_b12] = 0.0
    score[spectrum.darker] = 1.0
    ratio = np.empty_like(score)
    kernels.ratio_kernel(toa["B02"], toa["B11"], ratio)
    score[(ratio > cc.sdw_water_r_b02_b11) | cirrus] = 0.0
    return score


_ANGLE_ROWS: Final[int] = 256
"""Rows of per-pixel sun angles converted to float64 radians at a time (a whole 20 m tile of
them would take 240 MB per angle)."""


def _as_grid(angle_deg: float | np.ndarray) -> np.ndarray:
    """Angles as a float64 C array: (1, 1) for a scalar, else the per-pixel array."""
    return np.ascontiguousarray(np.atleast_2d(np.asarray(angle_deg, dtype=np.float64)))


def _project(  # noqa: PLR0917
    cloud: np.ndarray,
    tan_zenith: np.ndarray,
    azimuth: np.ndarray,
    first_row: int,
    resolution: int,
    gipp: ScGipp,
    out: np.ndarray,
) -> None:
    """Add to ``out`` the cast of the ``cloud`` pixels of the rows the angles cover (from
    ``first_row``) along the anti-solar azimuth, weighted by the cloud height."""
    cc = gipp.scene_classification.classic_constants
    low_m, high_m = cc.sdw_cloud_height_low_km * 1e3, cc.sdw_cloud_height_high_km * 1e3
    kernels.project_shadow_kernel(
        cloud, tan_zenith, azimuth, first_row, min(cc.sdw_kernel_grid_m, float(resolution)),
        float(resolution), cc.sdw_cloud_height_top_km * 1e3, (low_m + high_m) / 2,
        (high_m - low_m) / 2, cc.sdw_cloud_height_order, out,
    )  # fmt: skip


def _cast_per_pixel(
    cloud: np.ndarray,
    sun_zenith_deg: float | np.ndarray,
    sun_azimuth_deg: float | np.ndarray,
    resolution: int,
    gipp: ScGipp,
) -> np.ndarray:
    """Every ``cloud`` pixel cast along its own sun (per-pixel angles, :data:`_ANGLE_ROWS` rows
    of them in float64 at a time)."""
    cast = np.zeros(cloud.shape, dtype=np.float32)
    zenith = np.broadcast_to(np.asarray(sun_zenith_deg), cloud.shape)
    azimuth = np.broadcast_to(np.asarray(sun_azimuth_deg), cloud.shape)
    for first in range(0, cloud.shape[0], _ANGLE_ROWS):
        rows = slice(first, first + _ANGLE_ROWS)
        tan_zenith = np.tan(np.radians(zenith[rows].astype(np.float64)))
        _project(
            cloud, tan_zenith, np.radians(azimuth[rows].astype(np.float64)), first, resolution,
            gipp, cast,
        )  # fmt: skip
    return cast


def geometric_score(
    cloud_probability: np.ndarray,
    nodata: np.ndarray,
    *,
    sun_zenith_deg: float | np.ndarray,
    sun_azimuth_deg: float | np.ndarray,
    resolution: int,
    gipp: ScGipp,
) -> np.ndarray:
    """Where a cloud can cast its shadow (float32 in [0, 1]).

    Cloud mask = median-filtered (SDW_MEDIAN_PX) ``Pc`` > SDW_CLOUD_PROBA, dilated by a cross of
    SDW_CLOUD_DILATION_PX; projected along the anti-solar azimuth over cloud heights up to
    SDW_CLOUD_HEIGHT_TOP_KM, weighted by a band-pass of order SDW_CLOUD_HEIGHT_ORDER that is 0.5
    at SDW_CLOUD_HEIGHT_LOW_KM and SDW_CLOUD_HEIGHT_HIGH_KM
    (:func:`~core.scene_classification.kernels.cloud_height_weight`); then clipped to [0, 1],
    minus the cloud mask, Gaussian-smoothed (SDW_GAUSS_SIGMA_PX) and 0 on no-data.
    """
    cc = gipp.scene_classification.classic_constants
    smoothed = morphology.median(cloud_probability, cc.sdw_median_px)
    cloud = morphology.dilate_diamond(smoothed > cc.sdw_cloud_proba, cc.sdw_cloud_dilation_px)
    del smoothed
    if np.size(sun_zenith_deg) == 1:
        # one sun for the tile: the projection is a convolution with the cast of one pixel
        tan_zenith = np.tan(np.radians(_as_grid(sun_zenith_deg)))
        azimuth = np.radians(_as_grid(sun_azimuth_deg))
        reach = int(np.ceil(cc.sdw_cloud_height_top_km * 1e3 * tan_zenith[0, 0] / resolution))
        single = np.zeros((2 * reach + 3, 2 * reach + 3), dtype=bool)
        single[reach + 1, reach + 1] = True
        one = np.zeros(single.shape, dtype=np.float32)
        _project(
            single, np.broadcast_to(tan_zenith, single.shape),
            np.broadcast_to(azimuth[:1, :1], single.shape), 0, resolution, gipp, one,
        )  # fmt: skip
        cast = signal.fftconvolve(cloud.astype(np.float32), one, mode="same")
    else:
        cast = _cast_per_pixel(
            np.ascontiguousarray(cloud), sun_zenith_deg, sun_azimuth_deg, resolution, gipp
        )
    # in place: each full-tile temporary of a 20 m tile takes 120 MB
    np.clip(cast, 0.0, 1.0, out=cast)
    np.subtract(cast, cloud, out=cast)
    np.clip(cast, 0.0, 1.0, out=cast)
    score = ndimage.gaussian_filter(cast, cc.sdw_gauss_sigma_px)
    del cast
    score[nodata] = 0.0
    return score.astype(np.float32, copy=False)


def cloud_shadow_mask(
    toa: Mapping[str, np.ndarray],
    spectrum: ShadowSpectrum,
    cloud_probability: np.ndarray,
    cirrus: np.ndarray,
    nodata: np.ndarray,
    *,
    sun_zenith_deg: float | np.ndarray,
    sun_azimuth_deg: float | np.ndarray,
    resolution: int,
    gipp: ScGipp,
) -> np.ndarray:
    """Step 8: radiometric x geometric score > SDW_SCORE (bool)."""
    geometric = geometric_score(
        cloud_probability,
        nodata,
        sun_zenith_deg=sun_zenith_deg,
        sun_azimuth_deg=sun_azimuth_deg,
        resolution=resolution,
        gipp=gipp,
    )
    score = radiometric_score(toa, spectrum, cirrus, gipp)
    score *= geometric
    return score > gipp.scene_classification.classic_constants.sdw_score
