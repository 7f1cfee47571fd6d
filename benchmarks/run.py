"""Stage timings of what exists today: simulate an L1C tile, read it, create the L2A tree.

Each tile size runs in a fresh process so that its peak RSS is its own. Prints one JSON document
(a list with one record per size) on stdout and writes it to ``--output``.

Records: ``size`` (10 m pixels per side), ``total_s``, ``peak_rss_mb`` and ``stages``: per stage
``wall_s``, ``cpu_s`` and ``peak_rss_mb`` (the process peak reached by the end of the stage).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.bands import BANDS
from core.config.gipp import load_gipp
from core.config.options import ProcessingOptions
from core.pipeline import process_product
from core.product.l1c import open_l1c
from core.simulate.product import simulate_product
from core.simulate.scene import SceneSpec


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed(stages: dict[str, dict[str, float]], name: str, func: Callable[[], Any]) -> Any:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    result = func()
    stages[name] = {
        "wall_s": round(time.perf_counter() - wall0, 3),
        "cpu_s": round(time.process_time() - cpu0, 3),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }
    print(f"  {name}: {stages[name]['wall_s']:.2f} s", file=sys.stderr)
    return result


def _bench_size(size: int, seed: int, queue: multiprocessing.Queue) -> None:
    stages: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix=f"sen2cloud-bench-{size}-") as tmp:
        work = Path(tmp)
        safe = _timed(
            stages,
            "simulate_l1c",
            lambda: simulate_product(str(work / "l1c"), SceneSpec(size=size, seed=seed)),
        )
        product = _timed(stages, "open_l1c", lambda: open_l1c(safe))

        def read_all_toa() -> None:
            for band in BANDS:
                product.read_toa(band.name, band.resolution)

        _timed(stages, "decode_toa_all_bands", read_all_toa)
        options = ProcessingOptions(input_dir=safe, output_dir=str(work / "l2a"), cr_only=True)
        _timed(stages, "create_l2a_tree", lambda: process_product(safe, options, load_gipp()))
    queue.put(
        {
            "size": size,
            "total_s": round(sum(s["wall_s"] for s in stages.values()), 3),
            "peak_rss_mb": round(_peak_rss_mb(), 1),
            "stages": stages,
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1830", help="comma-separated tile sizes (10 m px)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", default="bench-results.json")
    args = parser.parse_args(argv)
    records = []
    context = multiprocessing.get_context("spawn")
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"size {size}:", file=sys.stderr)
        queue: multiprocessing.Queue = context.Queue()
        worker = context.Process(target=_bench_size, args=(size, args.seed, queue))
        worker.start()
        worker.join()
        if worker.exitcode != 0:
            print(f"benchmark of size {size} failed (exit {worker.exitcode})", file=sys.stderr)
            return 1
        records.append(queue.get())
        Path(args.output).write_text(json.dumps(records, indent=2) + "\n")
    print(json.dumps(records, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
