"""Stage timings per tile size and the I/O floor they are judged against (issue #7).

Each tile size runs in a fresh process so that its figures are its own. Prints one JSON
document (a list with one record per size) on stdout and writes it to ``--output``, rewritten
after every stage so that a long run can be followed.

The L1C input is simulated (:func:`core.simulate.product.simulate_product`) up to 1830², and
for larger sizes that are multiples of 1830 (5490², 10980²) made by
:func:`benchmarks.synthetic.synthetic_product` (the 1830² simulation upsampled with noise;
``--l1c`` overrides the choice). ``--cache DIR`` keeps the L1C products between runs.

Record: ``size`` (10 m pixels per side), ``l1c`` (``simulated`` or ``synthetic``), ``dem``
(whether the scene's own DEM was configured: terrain correction and topographic shadows run),
``threads``, ``total_s`` (the whole L2A processing with COG + STAC outputs,
:func:`core.pipeline.process_scene`) and ``ratio`` (total / floor), ``total_safe_s`` and
``ratio_safe`` (with the SAFE/JP2 product too), each pipeline stage with ``steps``: the wall
time of each step the pipeline reports (decoding, classification, retrieval, strips, writing). The
floor (:mod:`benchmarks.floor`): ``floor_decode_s``
(decode the 13 L1C bands), ``floor_cog_s`` and ``floor_jp2_s`` (encode the L2A rasters as COG,
as JP2), ``floor_s`` = decode + COG (the COG + STAC target) and ``floor_safe_s`` = decode +
COG + JP2 (the target with the SAFE/JP2 product too); ``peak_rss_mb`` (process peak) and
``stages``: per stage ``wall_s``, ``cpu_s`` (all threads) and ``peak_rss_mb`` (the peak during
the stage where Linux can reset it, else the process peak so far), plus stage details.
The two processing stages also report ``disk_peak_mb``: the most disk their scratch folder
(``--work_dir``) and outputs held at once, sampled every half second; ``disk_peak_mb`` of the
record is the larger (the ``/tmp`` a Lambda function needs for the tile).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.classify import classify_inputs, run_classify
from benchmarks.cold_start import cold_start_s
from benchmarks.floor import IoFloor
from benchmarks.synthetic import BASE_SIZE, synthetic_product
from core.bands import BANDS
from core.config.gipp import Gipp, load_gipp
from core.config.options import ProcessingOptions
from core.pipeline import SceneOutputs, process_product, process_scene
from core.product.l1c import open_l1c
from core.simulate.product import simulate_product
from core.simulate.scene import SceneSpec

FULL_TILE = 10980
"""Size at which the record also holds ``classify_20m`` (the scene classification of a full
tile at 20 m, :mod:`benchmarks.classify`) and ``cold_start`` (import + first invocation of the
processor handler with a cold and a warm numba cache, :mod:`benchmarks.cold_start`)."""
NAIVE_DECODE_MAX_SIZE = 5490
"""Largest tile whose bands are also read whole by ``read_toa`` (``decode_toa_all_bands``: the
decode without strips, for comparison; at 10980² it holds 3 GB and takes minutes)."""
SCENE_DEM = "DEM_20m.tif"
"""The simulated scene's DEM used as ``DEM_Directory`` (:func:`scene_dem`)."""
DEM_KEY = "l2a.common_section.dem_directory"
GDAL_CACHE_MB = 256
"""GDAL block cache (JP2 tiles being copied out, scratch blocks awaiting their write), set for
the benchmark process unless ``GDAL_CACHEMAX`` is already set. GDAL's default is 5 % of RAM."""
_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def _process_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _reset_peak() -> bool:
    """Reset the process's peak RSS (Linux ``clear_refs`` 5); False where not supported."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _peak_since_reset_mb() -> float:
    for line in _STATUS.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return _process_peak_mb()


class _Stages:
    """Times stages into ``record["stages"]`` and reports the record after each."""

    def __init__(self, record: dict[str, Any], report: Callable[[dict[str, Any]], None]) -> None:
        self.record = record
        self.report = report
        record["stages"] = {}

    def run(self, name: str, func: Callable[[], Any]) -> Any:
        resettable = _reset_peak()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        result = func()
        stage = {
            "wall_s": round(time.perf_counter() - wall0, 3),
            "cpu_s": round(time.process_time() - cpu0, 3),
            "peak_rss_mb": round(_peak_since_reset_mb() if resettable else _process_peak_mb(), 1),
        }
        if isinstance(result, dict):
            stage |= result
        self.record["stages"][name] = stage
        # the kernel's two peak counters can differ by a few MB after a reset
        self.record["peak_rss_mb"] = max(
            self.record.get("peak_rss_mb", 0.0), round(_process_peak_mb(), 1), stage["peak_rss_mb"]
        )
        print(f"  {name}: {stage['wall_s']:.2f} s", file=sys.stderr)
        self.report(self.record)
        return result

    def wall(self, *names: str) -> float:
        return round(sum(self.record["stages"][name]["wall_s"] for name in names), 3)


def _folder_mb(folder: Path) -> float:
    """Disk held under ``folder`` (allocated blocks), skipping files removed while walking."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:
                continue
    return total / 2**20


class _DiskPeak:
    """Samples the disk held under a folder on a thread while the ``with`` block runs."""

    def __init__(self, folder: Path, interval_s: float = 0.5) -> None:
        self.folder = folder
        self.interval_s = interval_s
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        stopping = False
        while not stopping:
            stopping = self._stop.wait(self.interval_s)
            self.peak_mb = max(self.peak_mb, _folder_mb(self.folder))

    def __enter__(self) -> _DiskPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class _StepTimer:
    """A pipeline progress callback recording the wall time of each reported step."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.steps: list[tuple[float, str]] = []

    def __call__(self, fraction: float, step: str) -> None:
        self.steps.append((time.perf_counter(), _step_kind(step)))

    def result(self, _: object) -> dict[str, Any]:
        """``{"steps": {step: wall_s}}``: each step lasts until the next one is reported."""
        durations: dict[str, float] = {}
        for (start, step), (end, _next) in zip(self.steps, self.steps[1:], strict=False):
            durations[step] = round(durations.get(step, 0.0) + end - start, 3)
        return {"steps": durations}


def _timed_scene(
    safe: str, outputs: SceneOutputs, options: ProcessingOptions, gipp: Gipp, disk: Path
) -> Callable[[], dict[str, Any]]:
    """A stage running :func:`process_scene` and returning its step timings and the peak disk
    under ``disk`` (the folder holding its scratch and outputs)."""

    def run() -> dict[str, Any]:
        steps = _StepTimer()
        with _DiskPeak(disk) as peak:
            result = steps.result(process_scene(safe, outputs, options, gipp, progress=steps))
        return result | {"disk_peak_mb": round(peak.peak_mb, 1)}

    return run


def _step_kind(step: str) -> str:
    """A step name without its counter (``correcting strip 3/10`` -> ``correcting strip``)."""
    words = step.split()
    return " ".join(w for w in words if not (w[0].isdigit() and "/" in w))


def scene_dem(l1c_folder: Path, folder: Path) -> Path | None:
    """A ``DEM_Directory`` holding the simulated scene's own 20 m DEM (its ``truth/``), so the
    benchmark runs the terrain steps (illumination, sky view, topographic shadow) as a
    mountain tile does; ``None`` when the L1C folder has no truth."""
    source = l1c_folder / "truth" / SCENE_DEM
    if not source.exists():
        return None
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SCENE_DEM).symlink_to(source.resolve())
    return folder


def l1c_kind(size: int, choice: str) -> str:
    """``simulated`` or ``synthetic`` for ``size`` (``auto``: synthetic above 1830²)."""
    if choice != "auto":
        return choice
    return "synthetic" if size > BASE_SIZE and size % BASE_SIZE == 0 else "simulated"


def _make_l1c(spec: SceneSpec, kind: str, folder: Path, threads: int) -> str:
    if kind == "synthetic":
        return synthetic_product(str(folder), spec, threads=threads)
    return simulate_product(str(folder), spec)


def _bench_size(size: int, args: argparse.Namespace, queue: multiprocessing.Queue) -> None:
    os.environ.setdefault("GDAL_CACHEMAX", str(GDAL_CACHE_MB))
    kind = l1c_kind(size, args.l1c)
    record: dict[str, Any] = {
        "size": size,
        "l1c": kind,
        "threads": args.threads,
        "total_s": None,
        "ratio": None,
    }
    stages = _Stages(record, lambda r: queue.put(("progress", r)))
    spec = SceneSpec(size=size, seed=args.seed)
    with tempfile.TemporaryDirectory(prefix=f"sen2cloud-bench-{size}-") as tmp:
        work = Path(tmp)
        cached = Path(args.cache) / f"{size}-seed{args.seed}-{kind}" if args.cache else None
        marker = cached / ".complete" if cached else None
        if marker is not None and marker.exists():
            safe = marker.read_text().strip()
        else:
            folder = cached or work / "l1c"
            folder.mkdir(parents=True, exist_ok=True)
            safe = stages.run("simulate_l1c", lambda: _make_l1c(spec, kind, folder, args.threads))
            if marker is not None:
                marker.write_text(safe + "\n")
        product = stages.run("open_l1c", lambda: open_l1c(safe))
        dem = scene_dem(Path(safe).parent, work / "dem") if args.dem else None
        record["dem"] = dem is not None

        def read_all_toa() -> None:
            for band in BANDS:
                product.read_toa(band.name, band.resolution)

        if size <= NAIVE_DECODE_MAX_SIZE:
            stages.run("decode_toa_all_bands", read_all_toa)
        options = ProcessingOptions(input_dir=safe, output_dir=str(work / "l2a"), cr_only=True)
        stages.run("create_l2a_tree", lambda: process_product(safe, options, load_gipp()))
        gipp = load_gipp(overrides={DEM_KEY: str(dem)} if dem is not None else None)
        for name, with_safe in (("process_cog_stac", False), ("process_cog_stac_safe", True)):
            outputs = SceneOutputs(
                cloud_uri=str(work / name / "cog"),
                safe_dir=str(work / name / "safe") if with_safe else None,
            )
            (work / name / "scratch").mkdir(parents=True)
            l2a = ProcessingOptions(input_dir=safe, work_dir=str(work / name / "scratch"))
            stages.run(name, _timed_scene(safe, outputs, l2a, gipp, work / name))
            record["disk_peak_mb"] = max(
                record.get("disk_peak_mb", 0.0), record["stages"][name]["disk_peak_mb"]
            )
        if size == FULL_TILE:
            cube = classify_inputs()
            stages.run("classify_20m", lambda: run_classify(cube))
            del cube
            stages.run("cold_start", cold_start_s)
        floor = IoFloor(product, work / "floor", threads=args.threads)
        try:
            stages.run("floor_decode", floor.decode)
            stages.run("floor_encode_cog", lambda: floor.encode("cog"))
            stages.run("floor_encode_jp2", lambda: floor.encode("jp2"))
        finally:
            floor.close()
    record["floor_decode_s"] = stages.wall("floor_decode")
    record["floor_cog_s"] = stages.wall("floor_encode_cog")
    record["floor_jp2_s"] = stages.wall("floor_encode_jp2")
    record["floor_s"] = stages.wall("floor_decode", "floor_encode_cog")
    record["floor_safe_s"] = stages.wall("floor_decode", "floor_encode_cog", "floor_encode_jp2")
    record["total_s"] = stages.wall("process_cog_stac")
    record["ratio"] = record["total_s"] / record["floor_s"]
    record["total_safe_s"] = stages.wall("process_cog_stac_safe")
    record["ratio_safe"] = record["total_safe_s"] / record["floor_safe_s"]
    queue.put(("done", record))


def _run_size(
    size: int, args: argparse.Namespace, records: list[dict[str, Any]], output: Path
) -> bool:
    context = multiprocessing.get_context("spawn")
    messages: multiprocessing.Queue = context.Queue()
    worker = context.Process(target=_bench_size, args=(size, args, messages))
    worker.start()
    done = False
    while not done:
        try:
            kind, record = messages.get(timeout=5)
        except queue.Empty:
            if not worker.is_alive():
                break
            continue
        done = kind == "done"
        output.write_text(json.dumps([*records, record], indent=2) + "\n")
    worker.join()
    if not done or worker.exitcode != 0:
        print(f"benchmark of size {size} failed (exit {worker.exitcode})", file=sys.stderr)
        return False
    records.append(record)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1830", help="comma-separated tile sizes (10 m px)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", default="bench-results.json")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="decode/encode threads"
    )
    parser.add_argument(
        "--l1c",
        choices=("auto", "simulated", "synthetic"),
        default="auto",
        help="how to make the L1C input (auto: synthetic for multiples of 1830 above it)",
    )
    parser.add_argument("--cache", help="folder keeping the L1C products between runs")
    parser.add_argument(
        "--dem",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="configure the scene's own DEM (terrain correction and shadows run; the default)",
    )
    args = parser.parse_args(argv)
    records: list[dict[str, Any]] = []
    output = Path(args.output)
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"size {size}:", file=sys.stderr)
        if not _run_size(size, args, records, output):
            return 1
    output.write_text(json.dumps(records, indent=2) + "\n")
    print(json.dumps(records, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
