"""AOT550 by dark dense vegetation (DDV), as Sen2Cor configures it (facts §3.2).

Reference pixels: usable land with NDVI >= ``AC_Swir_Refl_Ndvi_Th`` whose B12 surface reflectance
(at the start visibility) lies between ``AC_Swir_Refl_Lower_Th`` and ``AC_Ddv_Swir_Refl_Th1``; the
upper limit is raised to ``Th2`` then ``Th3`` until they cover ``AC_Min_Ddv_Area`` % of the valid
pixels, then B11 with ``AC_Ddv_16um_Refl_Th1..3``. Per reference pixel the AOT is the one whose
inversion gives ``rho(B04) = AC_Swir_22um_Red_Refl_Ratio * rho(B12)`` (Kaufman et al. 1997),
both with the adjacency correction over ``Adj_Km``; with B11 the ratio is scaled by
``Th1(2.2) / Th1(1.6)`` (= 0.25: the two threshold sets imply rho(1.6) ~ 2 rho(2.2)). The AOT
is then lowered (the visibility raised, at most to the tables' 120 km) until at most
``AC_Cut_Off_Aot_Iter_Vegetation`` of the scene's vegetation pixels are negative in B04. Sen2Cor's
AC (ATCOR) tells vegetation by its NIR/red ratio (``AC_Vegetation_Index_Th``), not by the scene
classification, so vegetation in cloud shadow counts: on T29UNU (60 % clouds, 10 % shadows) the
shadowed vegetation sets Sen2Cor's AOT (103 km, 0.089; 1.2 % of its vegetation is negative in
B04) well below what its reference pixels' red/SWIR fit alone gives (0.12-0.14: their red/B12
is 0.6, not 0.5). The water test, ``AC_Cut_Off_Aot_Iter_Water`` (water pixels negative in the
NIR), applies likewise when set to a share; Sen2Cor's GIPP value -0.005 is none and switches it
off (:func:`negative_reflectance_limit`).

``VIS_Update_Mode = 1`` maps the reference AOTs: medians over :data:`MAP_M` cells; when the DDV
share lies outside ``Ddv_Triangulation_Min/Max_Percent`` (Sen2Cor's ``itriang = 0``) first a
normalised box average over the smoothing window; cells still empty are filled by Delaunay
triangulation (Sen2Cor's ``itriang``), then a box filter of ``AC_Ddv_Smooting_Window`` km.
``0`` keeps the scene median. (T29UNU, 2.29 % DDV, has one visibility: its AOT map varies by
0.002 (std) over its clear land; a scene median below 5 % would follow it, but costs simulated
scenes whose AOT varies 0.05-0.4 their accuracy.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy import interpolate, ndimage, spatial

from core.atmosphere.lut import RadiativeTransferLut
from core.atmospheric_correction.state_grid import StateGrid
from core.atmospheric_correction.terms import spanning_nodes
from core.config.gipp import Gipp

KOSCHMIEDER = 3.912
"""``-ln(0.02)``: the 2 % contrast threshold of Koschmieder's visibility (Middleton 1952)."""
AEROSOL_SCALE_HEIGHT_KM = 1.79
AOT_BACKGROUND = 0.028
"""``AOT550 = KOSCHMIEDER * H / V + AOT_BACKGROUND``: least-squares fit (within 0.004) to the
visibility -> AOT550 pairs of Sen2Cor's rural tables matched to ours (cfg/lut/README.md:
10, 23, 40, 80, 120 km -> 0.727, 0.336, 0.204, 0.114, 0.084)."""
VISIBILITY_RANGE_KM = (5.0, 120.0)
"""Visibilities of Sen2Cor's tables (facts §3.1), the range of ``Visibility``."""
MAP_M = 200.0
"""Cell of the DDV AOT map before smoothing (the 1 km window spans five of them)."""
AOT_STEP = 0.05
"""Spacing of the AOT candidates between the table's nodes (inversion linear in between)."""
SCL_USABLE = (4, 5, 7)
"""SCL codes searched for reference pixels: vegetation, not vegetated, unclassified."""
SCL_GROUND = (3, *SCL_USABLE)
"""SCL codes searched for the vegetation of the negative-reflectance iteration: the usable ones
and cloud shadows (Sen2Cor's AC tests vegetation by NIR/red alone; T29UNU shows them counted).
Not topographic shadows (2): Sen2Cor's AC lights them from the DEM, our retrieval inverts flat."""
SCL_WATER = 6


def aot_of_visibility(visibility_km: float) -> float:
    """AOT550 of a horizontal visibility (Koschmieder form, constants above)."""
    return KOSCHMIEDER * AEROSOL_SCALE_HEIGHT_KM / visibility_km + AOT_BACKGROUND


def visibility_of_aot(aot550: float) -> float:
    """Visibility (km) of an AOT550, clipped to :data:`VISIBILITY_RANGE_KM`."""
    excess = aot550 - AOT_BACKGROUND
    if not excess > 0.0:
        return VISIBILITY_RANGE_KM[1]
    return float(np.clip(KOSCHMIEDER * AEROSOL_SCALE_HEIGHT_KM / excess, *VISIBILITY_RANGE_KM))


def aot_nodes(lut: RadiativeTransferLut) -> np.ndarray:
    """The table's AOT nodes, each interval split into steps of at most :data:`AOT_STEP`."""
    axis = lut.axis("aot550")
    return spanning_nodes(axis, axis[0], axis[-1], AOT_STEP)


@dataclass(frozen=True)
class Atmosphere:
    """What every inversion of one scene shares besides the AOT."""

    grid: StateGrid
    lut: RadiativeTransferLut
    wv_cm: np.ndarray | float
    """Per node (:meth:`StateGrid.node_mean`) or one value."""
    ozone_du: float
    environment: Mapping[str, np.ndarray]
    """Band -> adjacency-box mean of its TOA (``Adj_Km``); a band missing here: no adjacency."""

    def coefficients(self, aerosol: str, band: str, aot550: np.ndarray | float) -> np.ndarray:
        """Inversion coefficients of ``band`` at ``aot550`` (candidates or per-node values)."""
        return self.grid.coefficients(
            self.lut, aerosol, band, aot550=aot550, wv_cm=self.wv_cm, ozone_du=self.ozone_du
        )

    def reflectance(
        self, toa: np.ndarray, aerosol: str, band: str, aot550: float, mask: np.ndarray
    ) -> np.ndarray:
        """Surface reflectance of ``band`` at one AOT for the whole scene."""
        coefficients = self.coefficients(aerosol, band, aot550)
        return self.grid.reflectance(
            toa, coefficients, np.array([aot550]), aot550, mask=mask,
            environment=self.environment.get(band),
        )  # fmt: skip

    def pair(self, band_a: str, band_b: str) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Environments of two bands for :meth:`StateGrid.balance`."""
        return self.environment.get(band_a), self.environment.get(band_b)


@dataclass(frozen=True)
class DdvSelection:
    """The dark reference pixels and the rule that selected them."""

    mask: np.ndarray
    swir_band: str
    red_ratio: float
    """Assumed ``rho(B04) / rho(swir_band)``."""
    upper_threshold: float
    """Upper SWIR reflectance limit used (``DDV_REFLECTANCE_RANGE``)."""
    percentage: float
    """Reference pixels in % of the usable pixels."""


def usable_pixels(valid: np.ndarray, scene_class: np.ndarray | None) -> np.ndarray:
    """Valid pixels that are not cloud, shadow, snow or water (when a classification is given)."""
    if scene_class is None:
        return valid
    return valid & np.isin(scene_class, SCL_USABLE)


def vegetation_pixels(
    red: np.ndarray,
    nir: np.ndarray,
    *,
    gipp: Gipp,
    valid: np.ndarray,
    scene_class: np.ndarray | None,
) -> np.ndarray:
    """Vegetation of the negative-reflectance iteration: ground pixels (:data:`SCL_GROUND`)
    whose NIR/red reflectance ratio exceeds ``AC_Vegetation_Index_Th`` (ATCOR's vegetation
    index, which separates vegetation from soil and sand)."""
    ground = valid if scene_class is None else valid & np.isin(scene_class, SCL_GROUND)
    with np.errstate(invalid="ignore"):
        return ground & (nir > gipp.ac.acl_prio_2.ac_vegetation_index_th * red)


def select_ddv(
    swir_reflectance: dict[str, np.ndarray],
    *,
    gipp: Gipp,
    usable: np.ndarray,
    valid: np.ndarray,
    ndvi: np.ndarray,
) -> DdvSelection | None:
    """Reference pixels by Sen2Cor's threshold sequence (module docs); ``None`` when too few.

    ``swir_reflectance`` holds B12 and/or B11 surface reflectance at the start visibility; the
    reference pixels are searched in ``usable`` and counted in % of ``valid`` (Sen2Cor's QI
    percentages are shares of the valid pixels: T29UNU reports 2.29 %, we count 3.5 % of its
    valid pixels at 60 m and 12 % of its clear land).
    """
    prio1, prio2 = gipp.ac.acl_prio_1, gipp.ac.acl_prio_2
    th22 = (prio2.ac_ddv_swir_refl_th1, prio2.ac_ddv_swir_refl_th2, prio2.ac_ddv_swir_refl_th3)
    th16 = (prio2.ac_ddv_16um_refl_th1, prio2.ac_ddv_16um_refl_th2, prio2.ac_ddv_16um_refl_th3)
    ratio22 = prio1.ac_swir_22um_red_refl_ratio
    options = (("B12", th22, ratio22), ("B11", th16, ratio22 * th22[0] / th16[0]))
    candidates = usable & (ndvi >= prio2.ac_swir_refl_ndvi_th)
    n_valid = int(valid.sum())
    if not usable.any():
        return None
    for band, thresholds, ratio in options:
        if band not in swir_reflectance:
            continue
        rho = swir_reflectance[band]
        dark = candidates & (rho >= prio1.ac_swir_refl_lower_th)
        for upper in thresholds:
            mask = dark & (rho <= upper)
            percentage = 100.0 * int(mask.sum()) / n_valid
            if percentage >= prio1.ac_min_ddv_area:
                return DdvSelection(mask, band, ratio, upper, percentage)
    return None


def pixel_aot(
    toa: dict[str, np.ndarray], atmosphere: Atmosphere, aerosol: str, selection: DdvSelection
) -> np.ndarray:
    """AOT550 of each reference pixel (NaN elsewhere) from ``rho(B04) = ratio * rho(SWIR)``."""
    nodes = aot_nodes(atmosphere.lut)
    return atmosphere.grid.balance(
        toa["B04"], atmosphere.coefficients(aerosol, "B04", nodes),
        toa[selection.swir_band], atmosphere.coefficients(aerosol, selection.swir_band, nodes),
        nodes, environment=atmosphere.pair("B04", selection.swir_band),
        ratio=selection.red_ratio, mask=selection.mask,
    )  # fmt: skip


def blue_double_ratio(
    toa: dict[str, np.ndarray],
    atmosphere: Atmosphere,
    aerosol: str,
    selection: DdvSelection,
    aot_px: np.ndarray,
    *,
    gipp: Gipp,
) -> float:
    """Scene / model blue path reflectance with the AOT fitted in the red (Sen2Cor's AUTO test).

    The scene's blue path is the model's plus what the reference pixels' B02 reflectance exceeds
    ``AC_Red_Blue_Refl_Ratio * rho(B04)``; 1 when the model's spectral shape fits the scene.
    """
    nodes = aot_nodes(atmosphere.lut)
    grid, mask = atmosphere.grid, selection.mask

    def rho(band: str) -> np.ndarray:
        coefficients = atmosphere.coefficients(aerosol, band, nodes)
        state = np.nan_to_num(aot_px)
        environment = atmosphere.environment.get(band)
        return grid.reflectance(
            toa[band], coefficients, nodes, state, mask=mask, environment=environment
        )[mask]

    blue_assumed = gipp.ac.acl_prio_1.ac_red_blue_refl_ratio * selection.red_ratio
    excess = float(np.median(rho("B02") - blue_assumed * rho(selection.swir_band)))
    scene_aot = float(np.nanmedian(aot_px))
    path = atmosphere.coefficients(aerosol, "B02", scene_aot)[..., 0, 1]
    return 1.0 + excess / float(np.median(path))


NEGATIVE_TEST_NIR_BANDS = ("B08", "B8A")
"""NIR band of the water test, first present (Sen2Cor names B08; its 20/60 m runs lack it)."""


def negative_reflectance_limit(
    toa: dict[str, np.ndarray],
    atmosphere: Atmosphere,
    aerosol: str,
    aot: np.ndarray,
    *,
    gipp: Gipp,
    vegetation: np.ndarray,
    water: np.ndarray,
) -> np.ndarray:
    """``aot`` lowered until at most ``AC_Cut_Off_Aot_Iter_Vegetation`` of ``vegetation`` is
    negative in B04 and at most ``AC_Cut_Off_Aot_Iter_Water`` of ``water`` in the NIR
    (:data:`NEGATIVE_TEST_NIR_BANDS`), but not below the AOT of the largest visibility of
    Sen2Cor's tables.

    The XSD documents both keys as the largest share of negative pixels (default 0.01). Sen2Cor's
    own GIPP sets the water one to -0.005, which no share can meet: read literally it would
    raise the visibility to the tables' limit over any water, yet T29UNU (1.2 % water) ends at
    103 km, not 120. A negative share therefore switches the water test off; a share >= 0
    applies it as the vegetation one.
    """
    prio1 = gipp.ac.acl_prio_1
    tests = [("B04", vegetation, prio1.ac_cut_off_aot_iter_vegetation)]
    nir = next((b for b in NEGATIVE_TEST_NIR_BANDS if b in toa), None)
    if nir is not None and prio1.ac_cut_off_aot_iter_water >= 0.0:
        tests.append((nir, water, prio1.ac_cut_off_aot_iter_water))
    drops = []
    for band, pixels, share in tests:
        drop = _excess_at_share(
            toa, atmosphere, aerosol, aot, band=band, pixels=pixels, share=share
        )
        if drop is not None:
            drops.append(drop)
    if not drops:
        return aot
    floor = np.minimum(aot, aot_of_visibility(VISIBILITY_RANGE_KM[1]))
    return np.maximum(aot - max(*drops, 0.0), floor).astype(np.float32)


def _excess_at_share(
    toa: dict[str, np.ndarray],
    atmosphere: Atmosphere,
    aerosol: str,
    aot: np.ndarray,
    *,
    band: str,
    pixels: np.ndarray,
    share: float,
) -> float | None:
    """How far ``aot`` must drop for at most ``share`` of ``pixels`` to be negative in ``band``
    (``None`` without such pixels).

    Per pixel the AOT at which its reflectance reaches 0 is its ceiling (the lowest AOT node
    for a pixel negative at every AOT, the highest for one positive at every AOT); the map is
    lowered by the excess over the ceilings at that share, which is what raising the visibility
    step by step converges to.
    """
    if not pixels.any():
        return None
    pixels = _even_sample(pixels, QUANTILE_SAMPLE_PIXELS)
    nodes = aot_nodes(atmosphere.lut)
    coefficients = atmosphere.coefficients(aerosol, band, nodes)
    ceiling = atmosphere.grid.balance(
        toa[band], coefficients, toa[band], coefficients, nodes,
        environment=atmosphere.pair(band, band), ratio=0.0, mask=pixels, clamp=False,
    )  # fmt: skip
    unbracketed = pixels & ~np.isfinite(ceiling)
    if unbracketed.any():
        clearest = atmosphere.grid.reflectance(
            toa[band], coefficients, nodes, nodes[0], mask=unbracketed,
            environment=atmosphere.environment.get(band),
        )  # fmt: skip
        ceiling[unbracketed] = np.where(clearest[unbracketed] < 0.0, nodes[0], nodes[-1])
    sampled = pixels & np.isfinite(ceiling)
    excess = aot[sampled] - ceiling[sampled]
    if excess.size == 0:
        return None
    return float(np.quantile(excess, 1.0 - share))


QUANTILE_SAMPLE_PIXELS: Final = 250_000
"""Vegetation pixels whose B04 ceilings estimate the cut-off quantile of
:func:`negative_reflectance_limit`: every k-th pixel of a larger mask. The 1 % quantile of
250 000 draws is within 0.05 % of rank of the full set's (binomial standard error), while a
full tile at 20 m holds up to 30 M vegetation pixels (a third of the retrieval's time)."""


def _even_sample(mask: np.ndarray, count: int) -> np.ndarray:
    """``mask`` thinned to about ``count`` of its pixels, evenly spaced in raster order."""
    total = int(np.count_nonzero(mask))
    if total <= count:
        return mask
    flat = np.flatnonzero(mask)[:: total // count]
    thinned = np.zeros(mask.size, dtype=bool)
    thinned[flat] = True
    return thinned.reshape(mask.shape)


def _block_medians(values: np.ndarray, mask: np.ndarray, factor: int) -> np.ndarray:
    """Median of ``values[mask]`` per ``factor`` x ``factor`` block, NaN where it has none.

    The median, not the mean: a few reference pixels off the assumed red/SWIR ratio (shadowed
    or mixed pixels) otherwise drag a cell's AOT. One row of blocks at a time: a float64 copy
    of a whole 20 m tile would take 240 MB.
    """
    ny, nx = -(-values.shape[0] // factor), -(-values.shape[1] // factor)
    medians = np.full((ny, nx), np.nan)
    band = np.empty((factor, nx * factor))
    for row in range(ny):
        rows = slice(row * factor, (row + 1) * factor)
        chunk = np.where(mask[rows], values[rows], np.nan)
        band.fill(np.nan)
        band[: chunk.shape[0], : chunk.shape[1]] = chunk
        blocks = band.reshape(factor, nx, factor).transpose(1, 0, 2).reshape(nx, -1)
        has = np.isfinite(blocks).any(axis=1)
        if has.any():
            medians[row, has] = np.nanmedian(blocks[has], axis=1)
    return medians


def _block_counts(mask: np.ndarray, factor: int) -> np.ndarray:
    """Number of ``mask`` pixels per ``factor`` x ``factor`` block (the cells of
    :func:`_block_medians`)."""
    ny, nx = -(-mask.shape[0] // factor), -(-mask.shape[1] // factor)
    padded = np.zeros((ny * factor, nx * factor), dtype=bool)
    padded[: mask.shape[0], : mask.shape[1]] = mask
    return padded.reshape(ny, factor, nx, factor).sum(axis=(1, 3))


def _fill_by_triangulation(cells: np.ndarray, default: float, window: int) -> np.ndarray:
    """NaN cells filled from the known cells' medians over ``window`` x ``window`` blocks (the
    smoothing window): empty blocks linearly over the Delaunay triangulation of the others
    (nearest outside its hull; ``default`` with fewer than three), then bilinear back to cells.
    """
    known = np.isfinite(cells)
    if known.all():
        return cells
    blocks = _block_medians(cells, known, window)
    has = np.isfinite(blocks)
    if has.sum() < 3:
        return np.where(known, cells, default)
    if not has.all():
        blocks[~has] = _triangulate(np.argwhere(has), blocks[has], np.argwhere(~has))
    fine = _upsample(blocks, window, cells.shape)
    return np.where(known, cells, fine)


def _triangulate(points: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Linear interpolation over the Delaunay triangulation of ``points``, nearest outside it.

    Barycentric weights from a brute-force simplex search: scipy's directed walk crawls on
    the degenerate (co-circular) triangles of a regular grid.
    """
    nearest = interpolate.NearestNDInterpolator(points, values)(wanted)
    try:
        triangulation = spatial.Delaunay(points.astype(np.float64))
    except spatial.QhullError:  # collinear points: no triangle
        return nearest
    simplex = triangulation.find_simplex(wanted.astype(np.float64), bruteforce=True)
    inside = simplex >= 0
    transform = triangulation.transform[simplex[inside]]
    weights = np.einsum("ijk,ik->ij", transform[:, :2], wanted[inside] - transform[:, 2])
    weights = np.column_stack([weights, 1.0 - weights.sum(axis=1)])
    corners = values[triangulation.simplices[simplex[inside]]]
    nearest[inside] = (corners * weights).sum(axis=1)
    return nearest


def _upsample(
    values: np.ndarray, factor: int, shape: tuple[int, ...], dtype: type = np.float64
) -> np.ndarray:
    """Bilinear, pixel-centre aligned ``factor`` times finer, cropped to ``shape``; ``dtype``
    is the output's (scipy interpolates in float64 and rounds once on output)."""
    fine = ndimage.zoom(values, factor, output=dtype, order=1, mode="nearest", grid_mode=True)
    return fine[: shape[0], : shape[1]]


def aot_map(
    aot_px: np.ndarray,
    mask: np.ndarray,
    *,
    gipp: Gipp,
    resolution: float,
    percentage: float,
) -> np.ndarray:
    """Working-grid AOT550 from the reference pixels' AOT (``VIS_Update_Mode``, module docs)."""
    scene_aot = float(np.median(aot_px[mask]))
    if gipp.l2a.atmospheric_correction.flags.vis_update_mode == 0:
        return np.full(aot_px.shape, scene_aot, dtype=np.float32)
    constants = gipp.ac.classic_constants
    factor = max(1, round(MAP_M / resolution))
    cells = _block_medians(aot_px, mask, factor)
    min_count = np.ceil(constants.ddv_min_cell_percent / 100.0 * factor * factor)
    cells[_block_counts(mask, factor) < min_count] = np.nan
    window_km = gipp.ac.acl_prio_3.ac_ddv_smooting_window
    window = 2 * round(window_km * 1000.0 / (2.0 * factor * resolution)) + 1  # odd: centred
    has = np.isfinite(cells)
    triangulate = (
        constants.ddv_triangulation_min_percent <= percentage
        <= constants.ddv_triangulation_max_percent
    )  # fmt: skip
    coarse = cells
    if not triangulate:
        weight = ndimage.uniform_filter(has.astype(np.float64), window, mode="nearest")
        summed = ndimage.uniform_filter(np.where(has, cells, 0.0), window, mode="nearest")
        coarse = np.where(weight > 1e-9, summed / np.maximum(weight, 1e-12), np.nan)
    coarse = _fill_by_triangulation(coarse, scene_aot, window)
    smooth = ndimage.uniform_filter(coarse, window, mode="nearest")
    return np.ascontiguousarray(_upsample(smooth, factor, aot_px.shape, np.float32))
