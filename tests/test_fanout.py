"""Fan-out of one tile across function invocations (issue #7): the strip-group countdown in the
scene-state table on a real DynamoDB endpoint (moto's server over HTTP), the fan-out messages,
and a simulated two-strip scene through the emulated stack with fan-out forced on (one strip
per group) against the same scene processed in one invocation.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
import rasterio

from core.config.gipp import load_gipp
from core.config.options import ProcessingOptions
from core.errors import InputError
from core.fanout import TilePlan
from core.pipeline import SceneOutputs, process_scene
from core.simulate.product import simulate_product
from core.simulate.scene import SceneSpec
from handlers import scene_state
from handlers.fanout import FanOutRun, StripTask, context_uri, parts_uri, strip_groups
from handlers.objects import delete_keys, list_keys, split_uri
from handlers.settings import staging_uri
from handlers.stac_index import StacIndex
from infra.emulation.context import EmulatedContext
from infra.emulation.demo import (
    DISPATCHER_EVENT,
    PROCESSOR_EVENT,
    STRIP_EVENT,
    published_item_uris,
    read_json,
    summarize_output,
    upload_safe,
)
from infra.emulation.event_source import EventSourceMapping, drain, sqs_event
from infra.emulation.runtime import Emulation, emulated_stack
from infra.emulation.stack import Stack

SCENE = "S2A_MSIL1C_20240715T102021_N0510_R008_T32TQM_20240715T115021"
VERSION = "test"
TWO_STRIPS_PX = 1200
"""12 km of 10 m pixels: two 11.52 km strips (:data:`core.io.block_reader.STRIP_M`)."""
FORCED = {"FanOutStrips": "1"}
"""One strip per strip invocation: the two-strip scene fans out into two groups."""
TIMEOUT_S = 240


# -- the countdown, on the state table of the emulated stack --------------------------------


@pytest.fixture
def state_table(aws_endpoint) -> tuple[Any, str]:
    """A fresh table shaped as the template's scene-state table, and a DynamoDB client."""
    table = f"state-{uuid.uuid4()}"
    props = Stack(endpoint=aws_endpoint).properties("SceneStateTable")
    dynamodb = boto3.client("dynamodb", endpoint_url=aws_endpoint)
    dynamodb.create_table(
        TableName=table,
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        BillingMode=props["BillingMode"],
    )
    return dynamodb, table


def _countdown(state_table: tuple[Any, str]):
    dynamodb, table = state_table

    def start(run_id: str, groups: int) -> None:
        scene_state.start_fan_out(
            dynamodb, table, scene_id=SCENE, version=VERSION, run_id=run_id, groups=groups
        )

    def mark(run_id: str, group: int) -> scene_state.GroupProgress:
        return scene_state.mark_group_done(
            dynamodb, table, scene_id=SCENE, version=VERSION, run_id=run_id, group=group
        )

    return start, mark


def test_a_redelivered_group_counts_once_and_the_last_group_completes(state_table):
    start, mark = _countdown(state_table)
    start("run-1", 2)
    first = mark("run-1", 0)
    assert first.counted and first.done == {0} and not first.complete
    again = mark("run-1", 0)  # the same group delivered twice
    assert not again.counted and again.done == {0} and not again.complete
    last = mark("run-1", 1)
    assert last.counted and last.complete and last.done == {0, 1}
    late = mark("run-1", 1)  # a redelivery after completion: complete, but not counted
    assert late.complete and not late.counted and not late.published


def test_exactly_one_concurrent_report_completes_the_run(state_table):
    start, mark = _countdown(state_table)
    groups = 8
    start("run-1", groups)
    reports = [g for g in range(groups) for _ in range(3)]  # every group reported three times
    with ThreadPoolExecutor(max_workers=8) as pool:
        progress = list(pool.map(lambda g: mark("run-1", g), reports))
    completing = [p for p in progress if p.counted and p.complete]
    assert len(completing) == 1
    assert sum(p.counted for p in progress) == groups
    assert all(p.done == set(range(groups)) for p in completing)


def test_groups_of_a_superseded_run_do_not_count(state_table):
    start, mark = _countdown(state_table)
    start("run-1", 2)
    mark("run-1", 0)
    start("run-2", 2)  # the processor retried and planned the tile again
    stale = mark("run-1", 1)
    assert not stale.current and not stale.counted and not stale.complete
    fresh = mark("run-2", 0)
    assert fresh.current and fresh.done == {0}  # run-1's group 0 was not carried over


# -- the messages ------------------------------------------------------------------------


def test_strip_groups_cover_every_strip_once():
    assert strip_groups(10, 3) == (range(0, 3), range(3, 6), range(6, 9), range(9, 10))
    assert strip_groups(2, 1) == (range(0, 1), range(1, 2))
    assert strip_groups(2, 5) == (range(0, 2),)


def _run(bucket: str = "out", **changes) -> dict:
    root = staging_uri(bucket, SCENE)
    plan = TilePlan("s3://in/a.SAFE", context_uri(root, "r-1"), 3)
    run = FanOutRun(SCENE, VERSION, "r-1", plan, strip_groups(3, 2), parts_uri(root, "r-1"))
    return run.to_dict() | changes


def test_fan_out_messages_round_trip_and_refuse_what_is_out_of_place():
    task = StripTask(FanOutRun.from_dict(_run(), source="m", output_bucket="out"), 1)
    parsed = StripTask.from_json(task.to_json(), source="m", output_bucket="out")
    assert parsed == task and parsed.strips == range(2, 3)
    refused = {
        "parts elsewhere": _run(parts_uri="s3://out/sentinel-2-l2a/x/"),
        "another bucket": _run(bucket="other"),
        "a strip twice": _run(groups=[[0, 2], [1, 3]]),
        "a strip left out": _run(groups=[[0, 2]]),
        "hostile run id": _run(run_id="../r"),
        "not a scene": _run(scene_id="x"),
        "bad plan": _run(plan={"input_uri": "s3://in/a"}),
    }
    for case, doc in refused.items():
        with pytest.raises(InputError, match=r"^m: "):
            FanOutRun.from_dict(doc, source="m", output_bucket="out")
            pytest.fail(case)
    body = json.dumps({"run": _run(), "group": 2})
    with pytest.raises(InputError, match="group 2"):
        StripTask.from_json(body, source="m", output_bucket="out")


def test_the_sample_events_are_valid_fan_out_messages():
    events = Path(__file__).resolve().parents[1] / "events"
    (strip,) = json.loads((events / "strips-group.json").read_text())["Records"]
    (assembly,) = json.loads((events / "assembly-run.json").read_text())["Records"]
    bucket = "sen2cloud-local-outputbucket"  # the output bucket of a `make local` stack
    task = StripTask.from_json(strip["body"], source="strips-group.json", output_bucket=bucket)
    run = FanOutRun.from_json(assembly["body"], source="assembly-run.json", output_bucket=bucket)
    assert task.run == run and task.strips == range(9, 10)


# -- a two-strip scene through the emulated stack -----------------------------------------


@pytest.fixture(scope="module")
def safe(tmp_path_factory) -> Path:
    folder = str(tmp_path_factory.mktemp("l1c"))
    return Path(simulate_product(folder, SceneSpec(size=TWO_STRIPS_PX, seed=11)))


@pytest.fixture(scope="module")
def one_invocation(safe, tmp_path_factory) -> Path:
    """The same scene processed in one call of the core library (the processor's path)."""
    folder = tmp_path_factory.mktemp("one-invocation")
    options = ProcessingOptions(input_dir=str(safe))
    process_scene(str(safe), SceneOutputs(cloud_uri=str(folder)), options, load_gipp())
    return folder


def _fanned_out(emulation: Emulation, safe: Path) -> dict[int, dict]:
    """Upload the scene and run the dispatcher and processor; the strip messages by group,
    received (in flight) but not yet handled."""
    upload_safe(emulation, safe, emulation.bucket("InputBucket"))
    drain([emulation.mappings[DISPATCHER_EVENT], emulation.mappings[PROCESSOR_EVENT]], TIMEOUT_S)
    sqs, queue = emulation.client("sqs"), emulation.queue_url("StripQueue")
    messages = sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"],
        VisibilityTimeout=120, WaitTimeSeconds=1,
    )["Messages"]  # fmt: skip
    return {json.loads(m["Body"])["group"]: m for m in messages}


def _deliver(mapping: EventSourceMapping, message: dict) -> None:
    """One delivery of ``message`` to the strip function, as its event source would make it."""
    context = EmulatedContext(mapping.function_name, mapping.timeout_s, mapping.memory_mb)
    response = mapping.handler(sqs_event([message], mapping.queue_arn, "us-east-1"), context)
    assert response == {"batchItemFailures": []}
    mapping.sqs.delete_message(QueueUrl=mapping.queue_url, ReceiptHandle=message["ReceiptHandle"])


def _release(emulation: Emulation, message: dict) -> None:
    emulation.client("sqs").change_message_visibility(
        QueueUrl=emulation.queue_url("StripQueue"),
        ReceiptHandle=message["ReceiptHandle"],
        VisibilityTimeout=0,
    )


def _progress(emulation: Emulation, message: dict) -> scene_state.GroupProgress:
    run = json.loads(message["Body"])["run"]
    return scene_state.fan_out_progress(
        emulation.client("dynamodb"),
        emulation.table("SceneStateTable"),
        scene_id=run["scene_id"],
        version=run["version"],
        run_id=run["run_id"],
    )


def _queued(emulation: Emulation, queue: str) -> int:
    attributes = emulation.client("sqs").get_queue_attributes(
        QueueUrl=emulation.queue_url(queue),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


def _read_raster(emulation: Emulation, uri: str) -> np.ndarray:
    bucket, key = split_uri(uri)
    body = emulation.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with rasterio.MemoryFile(body) as memory, memory.open() as dataset:
        return dataset.read()


def test_a_two_strip_scene_fans_out_and_publishes_what_one_invocation_publishes(
    safe, one_invocation, moto_endpoint
):
    with emulated_stack(parameters=FORCED, endpoint=moto_endpoint) as emulation:
        strips = emulation.mappings[STRIP_EVENT]
        messages = _fanned_out(emulation, safe)
        assert sorted(messages) == [0, 1]
        assert published_item_uris(emulation) == []  # the processor only planned the tile

        _deliver(strips, messages[0])
        duplicate = dict(messages[0], MessageId="duplicate-delivery")
        _deliver(strips, duplicate)  # SQS delivers at least once
        progress = _progress(emulation, messages[0])
        assert progress.done == {0} and progress.total == 2 and not progress.complete
        assert _queued(emulation, "AssemblyQueue") == 0

        _release(emulation, messages[1])
        drain(emulation.mappings.values(), TIMEOUT_S)  # group 1, the assembly, the catalog
        summary = summarize_output(emulation)
        assert set(summary.dead_letters.values()) == {0}
        (item_uri,) = summary.items
        assert _progress(emulation, messages[1]).published

        item = read_json(emulation, item_uri)
        reference = json.loads(next(one_invocation.glob("*_L2A.json")).read_text())
        assert item["id"] == reference["id"]
        assert item["assets"].keys() == reference["assets"].keys()
        for key, asset in reference["assets"].items():
            with rasterio.open(asset["href"]) as local:
                expected = local.read()
            assert np.array_equal(_read_raster(emulation, item["assets"][key]["href"]), expected)
        index = StacIndex(emulation.table("CatalogIndexTable"), emulation.client("dynamodb"))
        assert index.get_item(item["collection"], item["id"]) == item
        s3, out = emulation.client("s3"), emulation.bucket("OutputBucket")
        prefix = f"{item['collection']}/{safe.stem}/"
        published = {k.removeprefix(prefix) for k in list_keys(s3, out, prefix)}
        assert published == {p.name for p in one_invocation.iterdir()}  # one item, no parts
        assert len(list_keys(s3, out, "catalog/")) == 3  # catalog, collection, the one item
        assert list_keys(s3, out, "staging/") == []  # the plan and the parts went with it


def test_a_failing_strip_group_is_dead_lettered_and_nothing_is_published(safe, moto_endpoint):
    with emulated_stack(parameters=FORCED, endpoint=moto_endpoint) as emulation:
        messages = _fanned_out(emulation, safe)
        _deliver(emulation.mappings[STRIP_EVENT], messages[0])
        # group 1 then finds no plan: every delivery of it fails
        s3, out = emulation.client("s3"), emulation.bucket("OutputBucket")
        run = json.loads(messages[1]["Body"])["run"]
        _, context = split_uri(run["plan"]["context_uri"])
        delete_keys(s3, out, list_keys(s3, out, context))
        _release(emulation, messages[1])
        drain(emulation.mappings.values(), TIMEOUT_S)

        summary = summarize_output(emulation)
        assert summary.dead_letters["StripDeadLetterQueue"] == 1
        assert {q: n for q, n in summary.dead_letters.items() if n} == {"StripDeadLetterQueue": 1}
        sqs = emulation.client("sqs")
        (dead,) = sqs.receive_message(
            QueueUrl=emulation.queue_url("StripDeadLetterQueue"), WaitTimeSeconds=1
        )["Messages"]
        assert json.loads(dead["Body"])["group"] == 1
        assert summary.items == ()
        assert _progress(emulation, messages[1]).done == {0}
        assert list_keys(s3, out, f"{emulation.stack.ref('CollectionId')}/") == []
        assert not _progress(emulation, messages[1]).published
        index = StacIndex(emulation.table("CatalogIndexTable"), emulation.client("dynamodb"))
        assert index.collections() == []
        assert _queued(emulation, "AssemblyQueue") == 0
