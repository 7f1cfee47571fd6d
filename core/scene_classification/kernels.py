"""Per-pixel numba kernels of the classic scene classification (Sen2Cor 2.8/2.9 ``L2A_SceneClass``).

Each kernel loops over C-contiguous arrays of equal shape, reads plain floats (numba freezes
globals at compile time, so thresholds are arguments) and writes into an explicit ``out``. They do
no validation, allocation or class bookkeeping: :mod:`core.scene_classification.steps` does that.
"""

from __future__ import annotations

import math

from numba import njit


@njit(cache=True, nogil=True, inline="always")
def ramp(value, low, high):
    """Linear confidence from 0 at ``low`` to 1 at ``high`` (either order), clipped to [0, 1]."""
    if high == low:
        return 1.0 if value >= high else 0.0
    return min(1.0, max(0.0, (value - low) / (high - low)))


@njit(cache=True, nogil=True, inline="always")
def _ratio(numerator, denominator):
    """``numerator / denominator``; +inf for a zero denominator (a pixel dark in that band)."""
    return numerator / denominator if denominator > 0.0 else math.inf


@njit(cache=True, nogil=True)
def brightness_kernel(b04, b8a, t1_b04, t2_b04, t_dark_b04, t_dark_b8a_low, t1_b8a, pc, dark):  # noqa: PLR0917
    """Step 1a: ``pc = ramp(B04)^2``; ``dark`` where B04 and B8A say "dark feature"."""
    r, n, p, d = b04.ravel(), b8a.ravel(), pc.ravel(), dark.ravel()
    for i in range(r.size):
        p[i] = ramp(r[i], t1_b04, t2_b04) ** 2
        d[i] = r[i] < t_dark_b04 and t_dark_b8a_low < n[i] < t1_b8a


@njit(cache=True, nogil=True)
def normalized_difference_ramp(first, second, low, high, out):
    """``ramp((first - second) / (first + second), low, high)`` (NDSI, NDVI; 0 if both are 0)."""
    a, b, o = first.ravel(), second.ravel(), out.ravel()
    for i in range(a.size):
        total = a[i] + b[i]
        o[i] = ramp((a[i] - b[i]) / total, low, high) if total != 0.0 else 0.0


@njit(cache=True, nogil=True)
def snow_confidence_kernel(  # noqa: PLR0917
    ndsi_snow, b02, b04, b05, b8a, pc,
    t_r_b05_b8a, t1_b8a, t2_b8a, t1_b02, t2_b02, t1_r_b02_b04, t2_r_b02_b04, ps,
):  # fmt: skip
    """Steps 2.1-2.4: NDSI ramp, B05/B8A cut, then times ramps on B8A, B02 and B02/B04."""
    s, g, r, re, n, p, o = (
        ndsi_snow.ravel(), b02.ravel(), b04.ravel(), b05.ravel(), b8a.ravel(), pc.ravel(),
        ps.ravel(),
    )  # fmt: skip
    for i in range(s.size):
        if p[i] == 0.0 or _ratio(re[i], n[i]) < t_r_b05_b8a:
            o[i] = 0.0
            continue
        o[i] = (
            s[i]
            * ramp(n[i], t1_b8a, t2_b8a)
            * ramp(g[i], t1_b02, t2_b02)
            * ramp(_ratio(g[i], r[i]), t1_r_b02_b04, t2_r_b02_b04)
        )


@njit(cache=True, nogil=True)
def soil_kernel(b02, b11, t11_b02, t12_b02, r_max, blue_min, blue_max, t11_r, t12_r, factor):  # noqa: PLR0917
    """Step 5.1: ``factor`` = 0 for soil (class 5), the B02/B11 ramp in the transition, else 1."""
    g, s, f = b02.ravel(), b11.ravel(), factor.ravel()
    for i in range(g.size):
        ratio = min(max(_ratio(g[i], s[i]), 0.0), r_max)
        blue_limit = min(max(t11_b02 * ratio + t12_b02, blue_min), blue_max)
        f[i] = ramp(ratio, t11_r, t12_r) if g[i] < blue_limit else 1.0


@njit(cache=True, nogil=True)
def water_kernel(  # noqa: PLR0917
    b02, b04, b8a, b11, b12,
    t21_b12, t22_b12, b12_min, b12_max, t21_r, t22_r, t_b02, t_b02_b04_diff, r_max, factor,
):  # fmt: skip
    """Step 5.2: ``factor`` = 0 for water (class 6), a falling B02/B11 ramp in between, else 1."""
    g, r, n, s, w, f = (
        b02.ravel(),
        b04.ravel(),
        b8a.ravel(),
        b11.ravel(),
        b12.ravel(),
        factor.ravel(),
    )
    for i in range(g.size):
        f[i] = 1.0
        if not (n[i] < r[i] and g[i] < t_b02):
            continue
        if g[i] - r[i] > t_b02_b04_diff:
            f[i] = 0.0
            continue
        ratio = min(max(_ratio(g[i], s[i]), 0.0), r_max)
        b12_limit = min(max(t21_b12 * ratio + t22_b12, b12_min), b12_max)
        if w[i] < b12_limit and ratio >= t21_r:
            f[i] = 1.0 - ramp(ratio, t21_r, t22_r)


@njit(cache=True, nogil=True)
def rock_sand_kernel(  # noqa: PLR0917
    b02, b8a, b11, t11, t12, blue_min, blue_max, t1_r, t2_r, t_r_b02_b11, factor,
):  # fmt: skip
    """Step 6: ``factor`` = 0 for rock/sand (class 5), the B8A/B11 ramp in between, else 1."""
    g, n, s, f = b02.ravel(), b8a.ravel(), b11.ravel(), factor.ravel()
    for i in range(g.size):
        ratio = _ratio(n[i], s[i])
        blue_limit = min(max(t11 * ratio + t12, blue_min), blue_max)
        f[i] = 1.0
        if g[i] < blue_limit and g[i] < t_r_b02_b11 * s[i]:
            f[i] = ramp(ratio, t1_r, t2_r)


@njit(cache=True, nogil=True)
def ratio_kernel(numerator, denominator, out):
    """``numerator / denominator`` (+inf where the denominator is 0)."""
    a, b, o = numerator.ravel(), denominator.ravel(), out.ravel()
    for i in range(a.size):
        o[i] = _ratio(a[i], b[i])


@njit(cache=True, nogil=True)
def normalized_difference_kernel(first, second, out):
    """``(first - second) / (first + second)`` (0 where both are 0)."""
    a, b, o = first.ravel(), second.ravel(), out.ravel()
    for i in range(a.size):
        total = a[i] + b[i]
        o[i] = (a[i] - b[i]) / total if total != 0.0 else 0.0


@njit(cache=True, nogil=True)
def ratio_ramp(numerator, denominator, low, high, out):
    """``ramp(numerator / denominator, low, high)`` (step 6bis B04/B11)."""
    a, b, o = numerator.ravel(), denominator.ravel(), out.ravel()
    for i in range(a.size):
        o[i] = ramp(_ratio(a[i], b[i]), low, high)


@njit(cache=True, nogil=True)
def shadow_spectrum_score(bands, reference, score, darker):
    """Radiometric shadow score (facts §2.4): ``1 - mean |band - reference|`` over the bands.

    ``bands`` is a tuple of flat (raveled) arrays, ``reference`` the shadow spectrum (one
    value per band); ``darker`` is set where every band is below the reference.
    """
    n_bands = len(bands)
    s, d = score.ravel(), darker.ravel()
    for i in range(s.size):
        total = 0.0
        below = True
        for k in range(n_bands):
            value = bands[k][i]
            total += abs(value - reference[k])
            below = below and value < reference[k]
        s[i] = 1.0 - total / n_bands
        d[i] = below


@njit(cache=True, nogil=True, inline="always")
def _median9(p0, p1, p2, p3, p4, p5, p6, p7, p8):  # noqa: PLR0917
    """Median of nine values by the 19 compare-exchanges of Paeth's ``opt_med9`` network."""
    p1, p2 = min(p1, p2), max(p1, p2)
    p4, p5 = min(p4, p5), max(p4, p5)
    p7, p8 = min(p7, p8), max(p7, p8)
    p0, p1 = min(p0, p1), max(p0, p1)
    p3, p4 = min(p3, p4), max(p3, p4)
    p6, p7 = min(p6, p7), max(p6, p7)
    p1, p2 = min(p1, p2), max(p1, p2)
    p4, p5 = min(p4, p5), max(p4, p5)
    p7, p8 = min(p7, p8), max(p7, p8)
    p3 = max(p0, p3)
    p5 = min(p5, p8)
    p4, p7 = min(p4, p7), max(p4, p7)
    p6 = max(p3, p6)
    p4 = max(p1, p4)
    p2 = min(p2, p5)
    p4 = min(p4, p7)
    p4, p2 = min(p4, p2), max(p4, p2)
    p4 = max(p6, p4)
    return min(p4, p2)


@njit(cache=True, nogil=True)
def median3_kernel(values, out):
    """3 x 3 median with edges repeating the nearest pixel (``scipy.ndimage.median_filter``
    ``size=3, mode="nearest"``): a sorting network per pixel, where scipy's generic rank filter
    takes about 3 s per full 20 m tile."""
    rows, cols = values.shape
    for r in range(rows):
        up, down = max(r - 1, 0), min(r + 1, rows - 1)
        for c in range(cols):
            left, right = max(c - 1, 0), min(c + 1, cols - 1)
            out[r, c] = _median9(
                values[up, left], values[up, c], values[up, right],
                values[r, left], values[r, c], values[r, right],
                values[down, left], values[down, c], values[down, right],
            )  # fmt: skip


@njit(cache=True, nogil=True)
def hillshade_kernel(d_east, d_north, sun_zenith_rad, sun_azimuth_rad, slope_deg, hillshade):  # noqa: PLR0917
    """Slope (degrees) and ``gdaldem`` hill-shade ``255 cos(incidence)`` (0 when facing away).

    Surface normal ``(-d_east, -d_north, 1)`` normalised, sun vector
    ``(sin z sin a, sin z cos a, cos z)``.
    """
    e, n, sl, hs = d_east.ravel(), d_north.ravel(), slope_deg.ravel(), hillshade.ravel()
    cos_z, sin_z = math.cos(sun_zenith_rad), math.sin(sun_zenith_rad)
    sin_a, cos_a = math.sin(sun_azimuth_rad), math.cos(sun_azimuth_rad)
    for i in range(e.size):
        slope = math.atan(math.hypot(e[i], n[i]))
        sl[i] = math.degrees(slope)
        cos_i = (cos_z - sin_z * (e[i] * sin_a + n[i] * cos_a)) * math.cos(slope)
        hs[i] = round(255.0 * min(max(cos_i, 0.0), 1.0))


@njit(cache=True, nogil=True)
def cloud_height_weight(height, centre, half_width, order):
    """Cloud-height weight: band-pass ``1 / (1 + ((h - centre) / half_width)^(2 order))``.

    0.5 at ``centre +- half_width``, near 1 between, falling to 0 outside (Butterworth shape).
    """
    return 1.0 / (1.0 + ((height - centre) / half_width) ** (2 * order))


@njit(cache=True, nogil=True)
def project_shadow_kernel(  # noqa: PLR0917
    cloud, tan_sun_zenith, sun_azimuth_rad, first_row, step_m, pixel_m, top_m, centre_m,
    half_width_m, order, out,
):  # fmt: skip
    """Cast every cloud pixel along the anti-solar azimuth, weighted by the cloud height.

    A cloud at height ``h`` shades the ground ``h * tan(sun_zenith)`` away from it, towards
    ``sun_azimuth + 180`` (rows grow southwards, columns eastwards). Heights run up to ``top_m``
    in ground steps of ``step_m``, weighted by :func:`cloud_height_weight`. The sun angles are
    given for the cloud rows ``first_row`` to ``first_row + len(tan_sun_zenith)`` (a block of
    rows, or broadcast views), which alone are cast. ``out`` accumulates the weights (Sen2Cor
    convolves the cloud mask with the kernel; the caller clips to [0, 1]).
    """
    rows, cols = cloud.shape
    for r in range(first_row, first_row + tan_sun_zenith.shape[0]):
        for c in range(cols):
            if not cloud[r, c]:
                continue
            ar, ac = r - first_row, c
            tan_z = tan_sun_zenith[ar, ac]
            if tan_z <= 0.0:
                continue
            az = sun_azimuth_rad[ar, ac]
            d_col, d_row = -math.sin(az) / pixel_m, math.cos(az) / pixel_m
            distance = step_m
            while distance <= top_m * tan_z:
                rr = r + round(d_row * distance)
                cc = c + round(d_col * distance)
                if rr < 0 or rr >= rows or cc < 0 or cc >= cols:
                    break
                out[rr, cc] += cloud_height_weight(distance / tan_z, centre_m, half_width_m, order)
                distance += step_m


@njit(cache=True, nogil=True)
def match_shadow_shift(  # noqa: PLR0917
    order, starts, cloud, dark, shift_rows, shift_cols, min_visible, out_share, out_index,
):  # fmt: skip
    """For each cloud object, the shift whose projected footprint best matches dark pixels.

    ``order`` lists flat pixel indices grouped by object, object ``k`` owning
    ``order[starts[k]:starts[k + 1]]``. For every candidate shift (one per cloud height), the
    footprint moved by ``(shift_rows[h], shift_cols[h])`` is scored over its pixels inside the
    image and outside ``cloud`` by the number of ``dark`` pixels minus the number of lit ones, so
    that a shift showing many shadow pixels beats one showing a few (a footprint mostly hidden
    by clouds or the image edge). ``out_index[k]`` gets the best shift and ``out_share[k]`` the
    share of dark pixels under it (-1 and 0 when no shift has ``min_visible`` such pixels).
    """
    rows, cols = cloud.shape
    for k in range(starts.size - 1):
        out_share[k] = 0.0
        out_index[k] = -1
        best = 0
        for h in range(shift_rows.size):
            seen = 0
            hits = 0
            for i in range(starts[k], starts[k + 1]):
                r = order[i] // cols + shift_rows[h]
                c = order[i] % cols + shift_cols[h]
                if r < 0 or r >= rows or c < 0 or c >= cols or cloud[r, c]:
                    continue
                seen += 1
                hits += dark[r, c]
            score = 2 * hits - seen
            if seen >= min_visible and (out_index[k] < 0 or score > best):
                best = score
                out_share[k] = hits / seen
                out_index[k] = h


@njit(cache=True, nogil=True)
def paint_shifted(order, starts, shift_rows, shift_cols, index, out):  # noqa: PLR0917
    """Set ``out`` under each object's footprint moved by its chosen shift (``index`` >= 0)."""
    rows, cols = out.shape
    for k in range(starts.size - 1):
        h = index[k]
        if h < 0:
            continue
        for i in range(starts[k], starts[k + 1]):
            r = order[i] // cols + shift_rows[h]
            c = order[i] % cols + shift_cols[h]
            if 0 <= r < rows and 0 <= c < cols:
                out[r, c] = True
