"""Read the 6S radiative-transfer table and interpolate it at per-pixel atmospheric states.

The terms returned serve the Lambertian inversion of 6S (Vermote et al. 1997)::

    y = (rho_toa / gas_transmittance - path_reflectance) / (down_total * up_total)
    rho = y / (1 + spherical_albedo * y)

``path_reflectance`` is 6S's intrinsic atmospheric reflectance divided by the two-way gas
transmittance. It is rebuilt from the dry scattering table as 6S couples absorption and
scattering: the molecular part attenuated by ``gas_path_rayleigh``, the aerosol part (the excess
over the aerosol-free path) by ``gas_path_aerosol`` (water vapour mixed with the aerosol layer).
Interpolation is multilinear; transmittances and gas factors are interpolated in logarithm
(Beer-Lambert) against air mass ``1/cos(zenith)`` and AOT (exact for the direct beam); path
reflectance and spherical albedo against ``ln(aot550 + AOT_OFFSET)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit

from core.config.gipp import cfg_dir
from core.errors import InputError, NotAvailableError, ProcessingError

AOT_OFFSET = 0.4
"""The AOT axis is interpolated in ``ln(aot550 + AOT_OFFSET)``: 1-D sweeps at sun zenith 70 deg
give a B04 path error of 0.0005 (0.0014 linear in AOT) and an albedo error of 0.15 % (1.1 %)."""

LUT_FILE = "sen2cloud_6s_lut.npz"
"""Name of the committed table under ``cfg/lut``."""


def default_lut_path() -> Path:
    """``<cfg>/lut/sen2cloud_6s_lut.npz`` (``cfg/`` or ``$SEN2CLOUD_CFG_DIR``)."""
    return cfg_dir() / "lut" / LUT_FILE


@dataclass(frozen=True, slots=True)
class LutTerms:
    """Interpolated radiative-transfer terms, one value per input state (dimensionless)."""

    path_reflectance: np.ndarray
    gas_transmittance: np.ndarray
    down_total: np.ndarray
    down_direct: np.ndarray
    up_total: np.ndarray
    up_direct: np.ndarray
    spherical_albedo: np.ndarray

    def surface_reflectance(self, toa_reflectance: np.ndarray) -> np.ndarray:
        """Lambertian surface reflectance of ``toa_reflectance`` (6S inversion, module docs)."""
        y = (toa_reflectance / self.gas_transmittance - self.path_reflectance) / (
            self.down_total * self.up_total
        )
        return np.asarray(y / (1.0 + self.spherical_albedo * y))


@njit(cache=True, nogil=True)
def _multilinear(
    table: np.ndarray,
    nodes: np.ndarray,
    sizes: np.ndarray,
    coords: np.ndarray,
    out: np.ndarray,
) -> None:
    """Multilinear interpolation of C-ordered ``table`` at ``coords`` (n, ndim).

    Axis ``d`` has ``sizes[d]`` increasing nodes, concatenated in ``nodes``; coordinates
    are inside the nodes (the wrapper checks or clamps); a NaN coordinate gives NaN.
    """
    ndim = sizes.size
    offsets = np.zeros(ndim, dtype=np.int64)
    offsets[1:] = np.cumsum(sizes)[:-1]
    strides = np.ones(ndim, dtype=np.int64)
    for d in range(ndim - 2, -1, -1):
        strides[d] = strides[d + 1] * sizes[d + 1]
    lower = np.empty(ndim, dtype=np.int64)
    weight = np.empty(ndim)
    for p in range(coords.shape[0]):
        valid = True
        for d in range(ndim):
            x = coords[p, d]
            if np.isnan(x):
                valid = False
                break
            axis = nodes[offsets[d] : offsets[d] + sizes[d]]
            i = min(max(np.searchsorted(axis, x, side="right") - 1, 0), sizes[d] - 2)
            lower[d] = i
            weight[d] = (x - axis[i]) / (axis[i + 1] - axis[i])
        if not valid:
            out[p] = np.nan
            continue
        total = 0.0
        for corner in range(1 << ndim):
            w = 1.0
            flat = 0
            for d in range(ndim):
                up = (corner >> d) & 1
                w *= weight[d] if up else 1.0 - weight[d]
                flat += (lower[d] + up) * strides[d]
            if w != 0.0:
                total += w * table[flat]
        out[p] = total


def _interpolate(table: np.ndarray, axes: list[np.ndarray], coords: list[np.ndarray]) -> np.ndarray:
    """Plain wrapper of :func:`_multilinear` for broadcast coordinate arrays."""
    shape = np.broadcast_shapes(*(c.shape for c in coords))
    flat = np.stack([np.broadcast_to(c, shape).ravel() for c in coords], axis=1)
    out = np.empty(flat.shape[0])
    _multilinear(
        np.ascontiguousarray(table, dtype=np.float64).ravel(),
        np.concatenate(axes).astype(np.float64),
        np.array([a.size for a in axes], dtype=np.int64),
        np.ascontiguousarray(flat, dtype=np.float64),
        out,
    )
    return out.reshape(shape)


def _log_interpolate(table: np.ndarray, axes: list[np.ndarray], at: list[np.ndarray]) -> np.ndarray:
    """Interpolate ``log(table)`` (Beer-Lambert: exact for one exponential term)."""
    return np.exp(_interpolate(np.log(table), axes, at))


def _aot_coordinate(aot550: np.ndarray) -> np.ndarray:
    return np.log(aot550 + AOT_OFFSET)


def _air_mass(zenith_deg: np.ndarray) -> np.ndarray:
    return 1.0 / np.cos(np.radians(zenith_deg))


@dataclass(frozen=True)
class RadiativeTransferLut:
    """The table: arrays and axes of a ``.npz`` written by :mod:`core.atmosphere.lut_build`."""

    path: str
    sensors: tuple[str, ...]
    """Sensors with their own slices (``S2A``, ``S2B``)."""
    response_of: Mapping[str, str]
    """Slice used per sensor (S2C -> S2A: no S2C response in 6S)."""
    aerosols: tuple[str, ...]
    bands: tuple[str, ...]
    header: Mapping[str, object]
    """The build header (model, grid digest, chunks done/total)."""
    arrays: Mapping[str, np.ndarray]

    def axis(self, name: str) -> np.ndarray:
        """Nodes of axis ``name`` (``sun_zenith_deg``, ``aot550``, ``elevation_km``, ...)."""
        return self.arrays[f"axis_{name}"]

    def covers(self, sensor: str, aerosol: str, band: str) -> bool:
        """Whether the scattering slice and the gas slice of this band are built."""
        i_sen, i_aer, i_band = self._indices(sensor, aerosol, band)
        return bool(
            self.arrays["scattering_complete"][i_sen, i_aer, i_band]
            and self.arrays["gas_complete"][i_sen, i_band]
        )

    def _indices(self, sensor: str, aerosol: str, band: str) -> tuple[int, int, int]:
        response = self.response_of.get(sensor, "")
        for value, allowed in (
            (response, self.sensors),
            (aerosol, self.aerosols),
            (band, self.bands),
        ):
            if value not in allowed:
                raise InputError(f"{self.path}: no table for {sensor}/{aerosol}/{band}")
        return self.sensors.index(response), self.aerosols.index(aerosol), self.bands.index(band)

    def _coordinate(self, name: str, values: np.ndarray, clamp: bool) -> np.ndarray:
        nodes = self.axis(name)
        lo, hi = float(nodes[0]), float(nodes[-1])
        if clamp:
            return np.clip(values, lo, hi)
        finite = values[np.isfinite(values)]
        if finite.size and (finite.min() < lo or finite.max() > hi):
            raise ProcessingError(
                f"{self.path}: {name} {finite.min():g}..{finite.max():g} outside the table's "
                f"range {lo:g}..{hi:g}"
            )
        return values

    def interpolate(
        self,
        sensor: str,
        aerosol: str,
        band: str,
        *,
        sun_zenith_deg: np.ndarray | float,
        view_zenith_deg: np.ndarray | float,
        relative_azimuth_deg: np.ndarray | float,
        aot550: np.ndarray | float,
        elevation_m: np.ndarray | float,
        wv_cm: np.ndarray | float,
        ozone_du: np.ndarray | float,
        clamp: bool = False,
    ) -> LutTerms:
        """Terms of ``band`` at per-pixel states (arrays broadcast together).

        Each term is interpolated on the broadcast shape of the states it depends on only
        (gas terms: no AOT or angles but the air mass; transmittances: no water vapour), so
        states given on separate axes (shapes with ones) cost the table look-ups of each term's
        own axes; the terms then broadcast together.

        Parameters
        ----------
        sensor, aerosol, band
            ``"S2A"``/``"S2B"``/``"S2C"``, ``"rural"``/``"maritime"``, ``"B01"``...``"B12"``.
        relative_azimuth_deg
            Difference of the sun and view azimuths (directions from the ground), any range; 0 is
            backscatter (sun behind the sensor).
        aot550
            AOT at 550 nm of the column above the ground (6S keeps it at every elevation).
        wv_cm
            Water-vapour column referred to sea level (6S's convention, as Sen2Cor's tables).
        clamp
            Clamp states to the table's range instead of raising :class:`ProcessingError`.
        """
        i_sen, i_aer, i_band = self._indices(sensor, aerosol, band)
        if not self.covers(sensor, aerosol, band):
            raise NotAvailableError(
                f"{self.path}: {sensor}/{aerosol}/{band} not built yet "
                f"({self.header['chunks_done']}/{self.header['chunks_total']} chunks)"
            )

        def coord(name: str, values: np.ndarray | float) -> np.ndarray:
            return self._coordinate(name, np.asarray(values, dtype=np.float64), clamp)

        azimuth = np.abs(
            (np.asarray(relative_azimuth_deg, dtype=np.float64) + 180.0) % 360.0 - 180.0
        )
        sza = coord("sun_zenith_deg", sun_zenith_deg)
        vza = coord("view_zenith_deg", view_zenith_deg)
        raa = coord("relative_azimuth_deg", azimuth)
        aot = coord("aot550", aot550)
        z_km = coord("elevation_km", np.asarray(elevation_m, dtype=np.float64) / 1000.0)
        wv = coord("wv_cm", wv_cm)
        ozone = coord("ozone_du", ozone_du)
        air_mass = self._coordinate("air_mass", _air_mass(sza) + _air_mass(vza), True)

        scat, gas_slice = (i_sen, i_aer, i_band), (i_sen, i_band)
        path_axes = [self.axis(n) for n in ("sun_zenith_deg", "view_zenith_deg")]
        aot_nodes = _aot_coordinate(self.axis("aot550"))
        path_axes += [self.axis("relative_azimuth_deg"), aot_nodes, self.axis("elevation_km")]
        aot_x = _aot_coordinate(aot)
        path_dry = _interpolate(self.arrays["path"][scat], path_axes, [sza, vza, raa, aot_x, z_km])
        path_rayleigh = _interpolate(  # no AOT dependence: computed without aot's axes
            self.arrays["path"][scat], path_axes, [sza, vza, raa, np.asarray(aot_nodes[0]), z_km]
        )
        gas_axes = [self.axis(n) for n in ("air_mass", "wv_cm", "ozone_du", "elevation_km")]
        gas_at = [air_mass, wv, ozone, z_km]
        gas, g_rayleigh, g_aerosol = (
            _log_interpolate(self.arrays[key][gas_slice], gas_axes, gas_at)
            for key in ("gas", "gas_path_rayleigh", "gas_path_aerosol")
        )
        path = path_rayleigh * g_rayleigh + (path_dry - path_rayleigh) * g_aerosol
        aot_z = [self.axis("aot550"), self.axis("elevation_km")]
        sun = ([_air_mass(self.axis("sun_zenith_deg")), *aot_z], [_air_mass(sza), aot, z_km])
        view = ([_air_mass(self.axis("view_zenith_deg")), *aot_z], [_air_mass(vza), aot, z_km])
        return LutTerms(
            path_reflectance=path / gas,
            gas_transmittance=gas,
            down_total=_log_interpolate(self.arrays["t_down"][scat], *sun),
            down_direct=_log_interpolate(self.arrays["t_down_direct"][scat], *sun),
            up_total=_log_interpolate(self.arrays["t_up"][scat], *view),
            up_direct=_log_interpolate(self.arrays["t_up_direct"][scat], *view),
            spherical_albedo=_interpolate(
                self.arrays["albedo"][scat], [aot_nodes, aot_z[1]], [aot_x, z_km]
            ),
        )


def load_lut(path: str | Path | None = None) -> RadiativeTransferLut:
    """Load the table (default :func:`default_lut_path`); a bad file raises :class:`InputError`."""
    source = Path(path) if path is not None else default_lut_path()
    try:
        with np.load(source) as data:
            arrays = {k: data[k] for k in data.files}
        header = json.loads(arrays.pop("header").tobytes())
        return RadiativeTransferLut(
            path=str(source),
            sensors=tuple(header["sensors"]),
            response_of=dict(header["response_of"]),
            aerosols=tuple(header["aerosols"]),
            bands=tuple(header["bands"]),
            header=header,
            arrays=arrays,
        )
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{source}: not a sen2cloud radiative-transfer table ({exc})") from exc
