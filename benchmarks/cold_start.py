"""Cold start of the processor function, with and without a warm numba cache (issue #7 item 5).

A cold Lambda instance imports the handler and runs its first invocation; without a cache every
numba kernel the invocation reaches is compiled first. The container image compiles them at
build time (``infra/warm_up.py``) and seeds ``NUMBA_CACHE_DIR`` from that on a cold start
(:mod:`handlers.numba_cache`). Here each case runs in a fresh Python process: the processor
handler is imported and invoked once on a small simulated scene through the emulated stack
(moto's server over HTTP), first with an empty ``NUMBA_CACHE_DIR`` (what a function without the
baked cache pays), then with the cache that first run left (what the image gives).

``python -m benchmarks.cold_start`` prints the JSON record of :func:`cold_start_s`.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from core import __version__
from core.simulate.product import simulate_product
from core.simulate.scene import SceneSpec
from handlers.events import WorkMessage
from infra.emulation.demo import upload_safe
from infra.emulation.runtime import Emulation, emulated_stack, moto_server

ROOT: Final[Path] = Path(__file__).resolve().parents[1]
SCENE_SIZE: Final[int] = 120
"""Side of the simulated scene in 10 m pixels (1.2 km): enough to reach every kernel."""
INVOCATION: Final[str] = """
import json, sys, time
start = time.perf_counter()
import handlers.processor as processor
imported = time.perf_counter()
from infra.emulation.context import EmulatedContext
from infra.emulation.event_source import sqs_event
message, queue_arn = json.loads(sys.argv[1]), sys.argv[2]
event = sqs_event([message], queue_arn, "us-east-1")
response = processor.lambda_handler(event, EmulatedContext("processor", 900, 10240))
done = time.perf_counter()
print(json.dumps({"import_s": imported - start, "first_invocation_s": done - imported,
                  "failures": len(response["batchItemFailures"])}))
"""
"""Run in the fresh process: import the handler, invoke it once, print the timings."""


def cold_start_s(size: int = SCENE_SIZE) -> dict[str, Any]:
    """Seconds of import + first invocation of the processor handler in a fresh process.

    Returns
    -------
    dict
        ``cold_cache`` and ``warm_cache``: ``import_s`` (import of the handler module),
        ``first_invocation_s`` (its first invocation, the scene processed and published) and
        ``total_s`` (the process from start to exit, interpreter start-up included); plus
        ``size`` (scene side in pixels) and ``speedup`` (cold / warm ``total_s``).
    """
    with tempfile.TemporaryDirectory(prefix="sen2cloud-cold-start-") as tmp:
        safe = Path(simulate_product(str(Path(tmp) / "l1c"), SceneSpec(size=size, seed=0)))
        cache = Path(tmp) / "numba-cache"  # absent: the first run compiles and fills it
        record: dict[str, Any] = {"size": size}
        with moto_server() as endpoint:
            for case in ("cold_cache", "warm_cache"):
                with emulated_stack(endpoint=endpoint) as emulation:  # a fresh account each
                    record[case] = _first_invocation(emulation, safe, cache)
    record["speedup"] = record["cold_cache"]["total_s"] / record["warm_cache"]["total_s"]
    return record


def _first_invocation(emulation: Emulation, safe: Path, cache: Path) -> dict[str, float]:
    input_uri = upload_safe(emulation, safe, emulation.bucket("InputBucket"))
    sqs, queue = emulation.client("sqs"), emulation.queue_url("ProcessingQueue")
    body = WorkMessage(safe.stem, input_uri, __version__).to_json()
    sqs.send_message(QueueUrl=queue, MessageBody=body)
    (message,) = sqs.receive_message(
        QueueUrl=queue, MessageSystemAttributeNames=["All"], VisibilityTimeout=900
    )["Messages"]
    environment = emulation.environment("ProcessorFunction") | {
        "NUMBA_CACHE_DIR": str(cache),
        "PYTHONPATH": str(ROOT),
    }
    arn = emulation.stack.get_att("ProcessingQueue", "Arn")
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", INVOCATION, json.dumps(message), arn],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    total_s = time.perf_counter() - started
    if result.returncode != 0 or '"failures": 0' not in result.stdout:
        raise RuntimeError(f"the processor failed the scene: {result.stderr[-3000:]}")
    timings = json.loads(result.stdout.strip().splitlines()[-1])
    del timings["failures"]
    return {**timings, "total_s": total_s}


if __name__ == "__main__":
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's access log
    print(json.dumps(cold_start_s(), indent=2))
