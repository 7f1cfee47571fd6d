"""Micro-benchmark of the atmospheric-correction kernels (issue #7): ns per pixel-band.

``python -m benchmarks.kernels [--size 2000] [--repeat 3] [--output FILE]`` prints one JSON
record: the median time of :func:`core.atmospheric_correction.correct.correct_band` on a
``size`` x ``size`` 10 m window (flat and terrain, 1 and 2 passes) and of
:func:`core.atmospheric_correction.adjacency.environment_reflectance` (``Adj_Km`` 1), in
nanoseconds per pixel (``*_ns`` wall, ``*_cpu_ns`` CPU time of the calling thread), after one
warm-up call (numba compilation). The inputs are synthetic
but shaped like a tile's: TOA 0.02-0.45 with 1 % no data, AOT550 0.1-0.3, WV 0.5-3 cm and
elevation 0-1500 m varying smoothly, angles of a mid-latitude summer scene, 5 % clouds.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numpy as np

from core.atmosphere.lut import load_lut
from core.atmospheric_correction.adjacency import environment_reflectance
from core.atmospheric_correction.correct import correct_band
from core.atmospheric_correction.observation import Observation
from core.atmospheric_correction.terms import band_terms
from core.terrain.illumination import TerrainIllumination

RESOLUTION_M = 10
BAND = "B04"
ADJACENCY_KM = 1.0


def _smooth(rng: np.random.Generator, size: int, low: float, high: float) -> np.ndarray:
    """A smooth random field between ``low`` and ``high`` (sum of a few long waves)."""
    axis = np.linspace(0.0, 1.0, size)
    field = np.zeros((size, size))
    for _ in range(4):
        fy, fx, phase = rng.uniform(0.5, 3.0), rng.uniform(0.5, 3.0), rng.uniform(0, 6.3)
        field += np.sin(2 * np.pi * (fy * axis[:, None] + fx * axis[None, :]) + phase)
    field = (field - field.min()) / (field.max() - field.min())
    return (low + (high - low) * field).astype(np.float32)


def _median_s(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``call`` (CPU: of this thread, which the numba kernels
    run on; steadier than wall time on a shared machine)."""
    call()
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.thread_time()
        call()
        wall.append(time.perf_counter() - start)
        cpu.append(time.thread_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def run(size: int, repeat: int) -> dict[str, Any]:
    """Timings of the kernels on a ``size`` x ``size`` window (see the module docstring)."""
    rng = np.random.default_rng(7)
    shape = (size, size)
    toa = rng.uniform(0.02, 0.45, shape).astype(np.float32)
    toa[rng.random(shape) < 0.01] = np.nan
    aot550 = _smooth(rng, size, 0.1, 0.3)
    wv_cm = _smooth(rng, size, 0.5, 3.0)
    elevation_m = _smooth(rng, size, 0.0, 1500.0)
    not_ground = rng.random(shape) < 0.05
    terrain = TerrainIllumination(
        illumination=rng.uniform(0.0, 1.6, shape).astype(np.float32),
        sky_view=rng.uniform(0.6, 1.0, shape).astype(np.float32),
        cos_incidence=rng.uniform(-0.2, 1.0, shape).astype(np.float32),
    )
    observation = Observation(
        sensor="S2A", resolution=RESOLUTION_M, sun_zenith_deg=35.0, sun_azimuth_deg=150.0,
        view_zenith_deg={BAND: 6.0}, view_azimuth_deg={BAND: 285.0},
        day_of_year=190, latitude_deg=46.0,
    )  # fmt: skip
    terms = band_terms(
        load_lut(), observation, BAND, aerosol="rural", ozone_du=330.0, shape=shape,
        max_sun_zenith_deg=70.0, max_view_zenith_deg=12.0, aot550=aot550, wv_cm=wv_cm,
        elevation_m=elevation_m,
    )  # fmt: skip

    def correct(lit: TerrainIllumination | None, passes: int) -> None:
        correct_band(
            toa, terms, elevation_m=elevation_m, aot550=aot550, wv_cm=wv_cm,
            adjacency_km=ADJACENCY_KM, resolution_m=RESOLUTION_M, terrain=lit, passes=passes,
            not_ground=not_ground,
        )  # fmt: skip

    pixels = float(size * size)
    timings: dict[str, float] = {}
    for name, lit in (("flat", None), ("terrain", terrain)):
        for passes in (1, 2):
            wall, cpu = _median_s(functools.partial(correct, lit, passes), repeat)
            timings[f"correct_band_{name}_{passes}_pass_ns"] = wall / pixels * 1e9
            timings[f"correct_band_{name}_{passes}_pass_cpu_ns"] = cpu / pixels * 1e9
    wall, cpu = _median_s(
        functools.partial(
            environment_reflectance, toa, ADJACENCY_KM, RESOLUTION_M, exclude=not_ground
        ),
        repeat,
    )
    timings["environment_reflectance_ns"] = wall / pixels * 1e9
    timings["environment_reflectance_cpu_ns"] = cpu / pixels * 1e9
    return {
        "size": size,
        "resolution_m": RESOLUTION_M,
        "band": BAND,
        "numba_threads": numba.get_num_threads(),
        "repeat": repeat,
        **{k: round(v, 2) for k, v in timings.items()},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2000, help="window side in pixels")
    parser.add_argument("--repeat", type=int, default=3, help="timed calls per kernel")
    parser.add_argument("--output", type=Path, help="also write the JSON record here")
    args = parser.parse_args(argv)
    record = json.dumps(run(args.size, args.repeat), indent=2)
    print(record)
    if args.output is not None:
        args.output.write_text(record + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
