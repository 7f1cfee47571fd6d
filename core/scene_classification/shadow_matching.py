"""Default-mode cloud shadows: match each cloud's shadow by its height (sen2cloud addition).

Sen2Cor's classic shadow test (:mod:`core.scene_classification.shadows`) spreads every cloud
over all likely heights and then keeps only pixels close to a fixed shadow spectrum that are not
water-like, so deep shadows (blue path radiance over a black SWIR, B02/B11 above 6) are lost and
usually end up as WATER. Here each cloud piece (connected cloud pixels cut into squares of
SHADOW_MATCH_BLOCK_PX, so that a wide cloud field can hold clouds at several heights) is moved
along the anti-solar azimuth (plus the viewing parallax) over the candidate heights; the height
whose visible footprint holds most more dark pixels (darker than the shadow reference spectrum in
every band, or with ``SHADOW_MATCH_RELATIVE`` clearly darker than their lit surroundings) than lit
ones is the cloud's height, and the dark pixels under that footprint are its shadow, water-like or
not (switch ``SHADOW_MATCHING``). The footprint also gates the classic shadows
(``SHADOW_MATCH_GATE``, in :mod:`core.scene_classification.classify`); :func:`shadow_edges` then
adds the half-shaded rims (switch ``SHADOW_EDGE_GROWTH``). The ``classic`` mode runs none of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from core.config.sc_gipp import ScGipp
from core.scene_classification import kernels, morphology

_TINY = 1e-6
"""Floor of the lit-pixel weight of a window (no lit pixel: no background)."""


def _background(
    brightness: np.ndarray, lit: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Whether a ``size`` window holds ``lit`` pixels, and the mean ``brightness`` over them
    (in place where possible: each float32 copy of a 20 m tile takes 120 MB)."""
    weight = ndimage.uniform_filter(lit, size, output=np.float32)
    has_lit = weight > 0
    total = np.where(lit, brightness, np.float32(0.0))
    ndimage.uniform_filter(total, size, output=total)  # line by line: in place is safe
    return has_lit, np.divide(total, np.maximum(weight, _TINY, out=weight), out=total)


def relatively_dark(
    toa: Mapping[str, np.ndarray], dark: np.ndarray, excluded: np.ndarray, gipp: ScGipp
) -> np.ndarray:
    """Pixels clearly darker than their lit surroundings (bool), switch SHADOW_MATCH_RELATIVE.

    A cloud shadow keeps only the diffuse light: vegetation there stays brighter in B8A than
    the fixed SDW_REF spectrum but its B8A + B11 (little path radiance) falls well below that of
    the lit ground around it. Pixels whose B8A + B11 is below SHADOW_MATCH_RELATIVE_RATIO times
    the mean over the lit pixels (not ``dark``, not ``excluded``) of a
    SHADOW_MATCH_BACKGROUND_PX window, outside ``excluded`` (clouds, water: dark in B8A + B11
    in the sun too).
    """
    dm = gipp.scene_classification.default_mode
    brightness = toa["B8A"] + toa["B11"]
    has_lit, background = _background(brightness, ~dark & ~excluded, dm.shadow_match_background_px)
    limit = np.multiply(background, dm.shadow_match_relative_ratio, out=background)
    return ~excluded & has_lit & (brightness < limit)


def _cloud_pieces(cloud: np.ndarray, block_px: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Connected cloud objects cut into ``block_px`` squares, as the flat indices of the cloud
    pixels grouped by piece (raster order within each), the start of each piece's group in
    them (plus the end) and the number of pieces.

    A large cloud field merges clouds at different heights into one object; each piece then
    finds its own height. Arrays of the cloud pixels only, not label images of the tile.
    """
    objects, _ = ndimage.label(cloud)
    pixels = np.flatnonzero(cloud)
    rows, cols = np.divmod(pixels, cloud.shape[1])
    blocks_per_row = -(-cloud.shape[1] // block_px)
    block = (rows // block_px) * blocks_per_row + cols // block_px
    del rows, cols
    n_blocks = blocks_per_row * -(-cloud.shape[0] // block_px)
    _, piece = np.unique(objects.ravel()[pixels] * n_blocks + block, return_inverse=True)
    del objects, block
    piece = piece.ravel()
    count = int(piece.max()) + 1 if piece.size else 0
    grouped = np.argsort(piece, kind="stable")
    starts = np.searchsorted(piece[grouped], np.arange(count + 1))
    return pixels[grouped], starts, count


def towards(zenith_deg: float | np.ndarray, azimuth_deg: float | np.ndarray) -> np.ndarray:
    """Mean of ``tan(zenith) (sin(azimuth), cos(azimuth))``: the (east, north) offset per metre
    of height towards the sun or the satellite (MTD_TL azimuths point from the ground to them)."""
    zenith, azimuth = np.radians(zenith_deg), np.radians(azimuth_deg)
    tan = np.tan(zenith)
    return np.array([np.nanmean(tan * np.sin(azimuth)), np.nanmean(tan * np.cos(azimuth))])


def height_shifts(
    sun_zenith_deg: float,
    sun_azimuth_deg: float,
    resolution: int,
    gipp: ScGipp,
    view: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Row and column shift from a cloud as seen in the image to its shadow, per candidate height.

    Heights from SDW_CLOUD_HEIGHT_LOW_KM to SDW_CLOUD_HEIGHT_TOP_KM every
    SHADOW_MATCH_HEIGHT_STEP_M. A cloud at ``h`` above the ground point ``P`` shades
    ``P - h s`` and is seen at ``P - h v``, with ``s``, ``v`` the :func:`towards` offsets of the
    sun and of the satellite (``view``), so the shadow lies ``h (v - s)`` from the cloud's image
    (east, north; rows grow southwards). Without ``view`` the cloud is taken at nadir (Sen2Cor's
    kernel).
    """
    cc = gipp.scene_classification.classic_constants
    step_m = gipp.scene_classification.default_mode.shadow_match_height_step_m
    heights = np.arange(
        cc.sdw_cloud_height_low_km * 1e3, cc.sdw_cloud_height_top_km * 1e3 + step_m / 2, step_m
    )
    offset = -towards(sun_zenith_deg, sun_azimuth_deg)
    if view is not None:
        offset += view
    rows = np.rint(-heights * offset[1] / resolution).astype(np.int64)
    cols = np.rint(heights * offset[0] / resolution).astype(np.int64)
    return rows, cols


@dataclass(frozen=True, slots=True)
class MatchedShadow:
    """Result of :func:`matched_shadow_mask`."""

    shadow: np.ndarray
    """bool cloud shadow: the dark pixels under the footprints."""
    footprint: np.ndarray
    """bool footprints of the matched clouds at their heights (off clouds, with data)."""


def matched_shadow_mask(
    toa: Mapping[str, np.ndarray],
    darker: np.ndarray,
    cloud: np.ndarray,
    valid: np.ndarray,
    water: np.ndarray,
    *,
    sun_zenith_deg: float,
    sun_azimuth_deg: float,
    resolution: int,
    gipp: ScGipp,
    view: np.ndarray | None = None,
) -> MatchedShadow:
    """Cloud shadows found by matching each cloud object's height.

    Parameters
    ----------
    toa
        TOA reflectance (B8A and B11) on the working grid.
    darker
        Pixels darker than the SDW_REF shadow spectrum in every band
        (:func:`~core.scene_classification.shadows.shadow_spectrum`).
    cloud
        Cloud mask (classes 8 and 9).
    valid
        Pixels with data.
    water
        WATER pixels of the spectral tests (never "relatively dark", :func:`relatively_dark`).
    sun_zenith_deg, sun_azimuth_deg
        Tile-mean sun angles.
    view
        Mean :func:`towards` offset of the satellite for the bands of the cloud mask; ``None``:
        nadir.
    """
    dm = gipp.scene_classification.default_mode
    dark = darker & valid & ~cloud
    if dm.shadow_match_relative:
        dark |= relatively_dark(toa, dark, cloud | water | ~valid, gipp)
    order, starts, count = _cloud_pieces(cloud, dm.shadow_match_block_px)
    shift_rows, shift_cols = height_shifts(sun_zenith_deg, sun_azimuth_deg, resolution, gipp, view)
    share = np.empty(count, dtype=np.float64)
    index = np.empty(count, dtype=np.int64)
    kernels.match_shadow_shift(
        order, starts, np.ascontiguousarray(cloud), np.ascontiguousarray(dark), shift_rows,
        shift_cols, dm.shadow_match_min_visible_px, share, index,
    )  # fmt: skip
    index[share < dm.shadow_match_min_dark_share] = -1
    footprint = np.zeros(cloud.shape, dtype=bool)
    kernels.paint_shifted(order, starts, shift_rows, shift_cols, index, footprint)
    footprint &= valid & ~cloud
    shadow = morphology.dilate_diamond(footprint, dm.shadow_match_dilation_px) & dark
    return MatchedShadow(shadow=shadow, footprint=footprint)


def shadow_edges(
    toa: Mapping[str, np.ndarray],
    darker: np.ndarray,
    shadow: np.ndarray,
    excluded: np.ndarray,
    gipp: ScGipp,
) -> np.ndarray:
    """Half-shaded pixels around the cloud ``shadow`` (bool), switch SHADOW_EDGE_GROWTH.

    Where a cloud's edge hides only part of the sun the ground is not darker than the SDW_REF
    spectrum, but clearly darker than its lit surroundings: B8A + B11 (little path radiance)
    below SHADOW_EDGE_RATIO times their mean over the other pixels (not ``excluded``, not
    shadow, not ``darker`` than the SDW_REF spectrum) of a SHADOW_EDGE_BACKGROUND_PX window,
    within SHADOW_EDGE_PX (diamond) of ``shadow``. ``excluded`` pixels (clouds, cirrus, water:
    always dark in B8A + B11) are never added.
    """
    dm = gipp.scene_classification.default_mode
    brightness = toa["B8A"] + toa["B11"]
    lit = ~excluded & ~shadow & ~darker
    has_lit, background = _background(brightness, lit, dm.shadow_edge_background_px)
    rim = morphology.dilate_diamond(shadow, dm.shadow_edge_px) & ~shadow & ~excluded
    limit = np.multiply(background, dm.shadow_edge_ratio, out=background)
    return rim & has_lit & (brightness < limit)
