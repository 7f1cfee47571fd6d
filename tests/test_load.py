"""Load (issue #8 item 2): 50 small simulated scenes uploaded at once to the emulated stack.

Every scene must be published exactly once (one STAC item write under its own published prefix,
state ``PUBLISHED``), none lost (no dead letter, no scene left unpublished) and no function may
run more instances at once than the template's reserved concurrency. The scenes are one
simulated 60 px SAFE uploaded under 50 names (relative orbits 001-050). Throughput and per-scene
latency (manifest upload done -> processor invocation done) are written to ``load.json`` under
the test's temporary folder and printed; nothing is asserted on timing.

The emulation's event-source loop polls its queues one batch at a time in one thread, so the
functions never run concurrently here: the concurrency measured is that of the loop, the
limit is checked against it, and the report says so (``emulation_runs_functions_serially``).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hardening_helpers import (
    check_invariants,
    dead_letters,
    publish_prefix,
    scene_name,
    state_rows,
    upload_as,
)

from core.simulate.product import simulate_product
from core.simulate.scene import SceneSpec
from handlers.scene_state import PUBLISHED
from infra.emulation.event_source import EventSourceMapping, drain
from infra.emulation.runtime import Emulation, emulated_stack

SCENES = 50
UPLOAD_THREADS = 8
DRAIN_S = 600


@dataclasses.dataclass
class Invocations:
    """In-flight count and timings of the invocations of each function."""

    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    in_flight: dict[str, int] = dataclasses.field(default_factory=dict)
    peak: dict[str, int] = dataclasses.field(default_factory=dict)
    done_at: dict[str, float] = dataclasses.field(default_factory=dict)
    """Scene id -> when its processor invocation returned."""
    durations: list[float] = dataclasses.field(default_factory=list)

    def wrap(self, mapping: EventSourceMapping) -> EventSourceMapping:
        name = mapping.function_name
        handler = mapping.handler

        def counted(event: dict[str, Any], context: Any) -> Any:
            with self.lock:
                self.in_flight[name] = self.in_flight.get(name, 0) + 1
                self.peak[name] = max(self.peak.get(name, 0), self.in_flight[name])
            start = time.monotonic()
            try:
                return handler(event, context)
            finally:
                end = time.monotonic()
                with self.lock:
                    self.in_flight[name] -= 1
                    if name.endswith("ProcessorFunction"):
                        self.durations.append(end - start)
                        for record in event["Records"]:
                            self.done_at[json.loads(record["body"])["scene_id"]] = end

        return dataclasses.replace(mapping, handler=counted)


@pytest.fixture(scope="module")
def safe(tmp_path_factory) -> Path:
    return Path(simulate_product(str(tmp_path_factory.mktemp("l1c")), SceneSpec(size=60, seed=11)))


@pytest.fixture(scope="module")
def emulation(moto_endpoint) -> Iterator[Emulation]:
    """The stack, its output bucket versioned: every write of an item leaves a version."""
    with emulated_stack(endpoint=moto_endpoint) as running:
        running.client("s3").put_bucket_versioning(
            Bucket=running.bucket("OutputBucket"), VersioningConfiguration={"Status": "Enabled"}
        )
        yield running


def item_writes(emulation: Emulation, scene: str) -> int:
    """Writes of STAC items under the scene's published prefix (object versions, delete
    markers aside)."""
    pages = (
        emulation.client("s3")
        .get_paginator("list_object_versions")
        .paginate(Bucket=emulation.bucket("OutputBucket"), Prefix=publish_prefix(scene))
    )
    return sum(
        1
        for page in pages
        for version in page.get("Versions", [])
        if version["Key"].endswith(".json")
        and "/" not in version["Key"][len(publish_prefix(scene)) :]
    )


def test_fifty_scenes_at_once_are_each_published_exactly_once(emulation, safe, tmp_path):
    scenes = [scene_name(orbit) for orbit in range(1, SCENES + 1)]
    invocations = Invocations()
    mappings = [invocations.wrap(m) for m in emulation.mappings.values()]

    start = time.monotonic()
    uploaded_at: dict[str, float] = {}

    def upload(scene: str) -> None:
        upload_as(emulation, safe, scene)
        uploaded_at[scene] = time.monotonic()

    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        list(pool.map(upload, scenes))
    uploaded = time.monotonic()
    drain(mappings, DRAIN_S)
    finished = time.monotonic()

    rows = state_rows(emulation)
    lost = [s for s in scenes if rows.get(s, {}).get("status", {}).get("S") != PUBLISHED]
    writes = {s: item_writes(emulation, s) for s in scenes}
    duplicates = sum(n - 1 for n in writes.values() if n > 1)
    dead = {q: len(dead_letters(emulation, q)) for q in _dead_letter_queues(emulation)}
    latencies = sorted(invocations.done_at[s] - uploaded_at[s] for s in scenes if s in rows)
    limits = _concurrency_limits(emulation)
    report = {
        "scenes": SCENES,
        "scene_size_px": 60,
        "published": SCENES - len(lost),
        "lost": len(lost),
        "duplicates": duplicates,
        "dead_letters": dead,
        "upload_s": round(uploaded - start, 2),
        "drain_s": round(finished - uploaded, 2),
        "throughput_scenes_per_min": round(SCENES / (finished - start) * 60, 1),
        "latency_s": {
            "p50": round(statistics.median(latencies), 2),
            "p95": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
            "max": round(latencies[-1], 2),
        },
        "processor_invocation_s_mean": round(statistics.mean(invocations.durations), 2),
        "peak_concurrency": invocations.peak,
        "reserved_concurrency": limits,
        "emulation_runs_functions_serially": max(invocations.peak.values()) == 1,
    }
    (tmp_path / "load.json").write_text(json.dumps(report, indent=2))
    print(f"\nload: {json.dumps(report)}")

    assert lost == [] and duplicates == 0
    assert set(dead.values()) == {0}
    for scene in scenes:
        check_invariants(emulation, scene, expect="published")
    for function, peak in invocations.peak.items():
        assert peak <= limits[function], f"{function}: {peak} at once, limit {limits[function]}"


def _dead_letter_queues(emulation: Emulation) -> list[str]:
    return [
        logical_id
        for logical_id in emulation.stack.resources("AWS::SQS::Queue")
        if "DeadLetter" in logical_id
    ]


def _concurrency_limits(emulation: Emulation) -> dict[str, int]:
    """Function name -> the least of its reserved concurrency and its SQS events' maximum
    concurrency (unlimited functions: the account default, 1000)."""
    limits = {}
    for logical_id in emulation.stack.resources("AWS::Serverless::Function"):
        props = emulation.stack.properties(logical_id)
        caps = [int(props.get("ReservedConcurrentExecutions", 1000))]
        caps += [
            int(event["Properties"]["ScalingConfig"]["MaximumConcurrency"])
            for event in props.get("Events", {}).values()
            if event["Type"] == "SQS" and "ScalingConfig" in event["Properties"]
        ]
        limits[emulation.stack.physical_name(logical_id)] = min(caps)
    return limits
