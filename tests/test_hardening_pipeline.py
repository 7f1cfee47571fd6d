"""Hardening matrix on the emulated stack (issue #8): S3 faults injected at the network level by a
fault proxy in front of moto's endpoint, queue and table faults, hostile arrivals.

Every case asserts its outcome (retried and succeeded / dead-lettered with the reason / refused)
and the two invariants (:func:`tests.hardening_helpers.check_invariants`): nothing partial under
the published prefix, and the scene accounted for (published once, or in a dead-letter queue).
Faulty scenes are the same simulated pixels uploaded under other names (orbits), so one drain
of the queues runs a whole table of cases; the summary (cases per outcome) is written as JSON
under the test's temporary folder and printed.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import stat
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError
from hardening_helpers import (
    DEAD_LETTERED,
    PROCESSED,
    REFUSED,
    RETRIED,
    Case,
    LogCapture,
    Summary,
    check_invariants,
    dead_letters,
    item_writes,
    publish_prefix,
    scene_name,
    upload_as,
)

from core import __version__
from core.simulate.product import simulate_product
from core.simulate.scene import SceneSpec
from handlers.events import WorkMessage
from handlers.objects import list_keys
from infra.emulation.context import EmulatedContext
from infra.emulation.demo import DISPATCHER_EVENT, PROCESSOR_EVENT
from infra.emulation.event_source import drain, sqs_event
from infra.emulation.fault_proxy import READS, WRITES, Fault, FaultProxy
from infra.emulation.runtime import Emulation, emulated_stack

DRAIN_S = 240
MB = 1024 * 1024


@dataclasses.dataclass
class Stack:
    emulation: Emulation
    proxy: FaultProxy
    logs: LogCapture
    input_bucket: str
    output_bucket: str


@pytest.fixture(scope="module")
def safe(tmp_path_factory) -> Path:
    return Path(simulate_product(str(tmp_path_factory.mktemp("l1c")), SceneSpec(size=60, seed=11)))


@pytest.fixture(scope="module")
def stack(moto_endpoint) -> Iterator[Stack]:
    """The emulated stack whose functions reach S3 through the fault proxy (test clients go to
    moto directly)."""
    with FaultProxy(moto_endpoint) as proxy:
        os.environ["AWS_ENDPOINT_URL_S3"] = proxy.url  # boto3, s3fs and GDAL of the functions
        try:
            with LogCapture() as logs, emulated_stack(endpoint=moto_endpoint) as emulation:
                yield Stack(
                    emulation,
                    proxy,
                    logs,
                    emulation.bucket("InputBucket"),
                    emulation.bucket("OutputBucket"),
                )
        finally:
            os.environ.pop("AWS_ENDPOINT_URL_S3", None)


@pytest.fixture(scope="module")
def summary(tmp_path_factory) -> Iterator[Summary]:
    collected = Summary("hardening-pipeline")
    yield collected
    collected.write(tmp_path_factory.mktemp("summary"))


# -- S3 faults on reads and writes, one drain for the whole table ---------------------------


def _input(scene: str, file: str) -> str:
    return rf"/{scene}\.SAFE/.*{file}$"


def _staging(scene: str) -> str:
    return rf"/staging/{scene}/"


def _published(scene: str, suffix: str) -> str:
    return rf"/{publish_prefix(scene)}[^/?]+{suffix}$"


S3_FAULTS = [
    # (id, orbit of its scene, fault kind, HTTP methods, path pattern(scene), times: None = always)
    ("read-503-metadata", 101, "slowdown", READS, lambda s: _input(s, "MTD_MSIL1C.xml"), 2),
    ("read-503-band", 102, "slowdown", READS, lambda s: _input(s, "_B04.jp2"), 1),
    ("read-reset-metadata", 103, "reset", READS, lambda s: _input(s, "MTD_TL.xml"), 2),
    ("read-reset-band", 104, "reset", READS, lambda s: _input(s, "_B11.jp2"), 1),
    ("write-503-staging", 105, "slowdown", WRITES, _staging, 2),
    ("write-reset-staging", 106, "reset", WRITES, _staging, 2),
    ("write-503-publish-copy", 107, "slowdown", ("PUT",), lambda s: _published(s, ".tif"), 1),
    ("write-reset-item", 108, "reset", ("PUT",), lambda s: _published(s, ".json"), 1),
    ("read-503-persistent", 109, "slowdown", READS, lambda s: _input(s, "_B8A.jp2"), None),
    ("item-write-fails", 110, "slowdown", ("PUT",), lambda s: _published(s, ".json"), None),
]
S3_CASES = [
    Case(
        id=case_id,
        setup=lambda scene, kind=kind, methods=methods, path=path, times=times: Fault(
            kind, path(scene), methods=methods, times=times
        ),
        outcome=RETRIED if times else DEAD_LETTERED,
        reason="SlowDown|B8A|503" if case_id == "read-503-persistent" else "SlowDown",
    )
    for case_id, _, kind, methods, path, times in S3_FAULTS
]
ORBITS = {case_id: orbit for case_id, orbit, *_ in S3_FAULTS}
CONTROL_ORBIT = 100
"""A scene uploaded with the faulty ones and never hit: the result every retry must converge to."""


@pytest.fixture(scope="module")
def s3_faults(stack, safe) -> dict[str, Fault]:
    """Inject every fault of :data:`S3_CASES`, upload each case's scene, drain the queues."""
    faults = {}
    for case in S3_CASES:
        assert case.setup is not None
        faults[case.id] = stack.proxy.inject(case.setup(scene_name(ORBITS[case.id])))
        upload_as(stack.emulation, safe, scene_name(ORBITS[case.id]))
    upload_as(stack.emulation, safe, scene_name(CONTROL_ORBIT))
    drain(stack.emulation.mappings.values(), DRAIN_S)
    return faults


def _published_names(stack: Stack, scene: str) -> set[str]:
    s3 = stack.emulation.client("s3")
    keys = list_keys(s3, stack.output_bucket, publish_prefix(scene))
    return {k.removeprefix(publish_prefix(scene)) for k in keys}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in S3_CASES])
def test_s3_faults(case, stack, s3_faults, summary):
    scene = scene_name(ORBITS[case.id])
    fault = s3_faults[case.id]
    assert fault.hits, f"{case.id}: the fault never fired"
    if case.outcome == DEAD_LETTERED:
        assert len(fault.hits) > 1  # retried (SDK and redelivery) before giving up
        assert stack.logs.find(case.reason), f"{case.id}: no recorded reason"
        summary.record(case, passed=False)
        check_invariants(stack.emulation, scene, expect="dead-lettered", proxy=stack.proxy)
    else:
        summary.record(case, passed=False)
        check_invariants(stack.emulation, scene, expect="published", proxy=stack.proxy)
        # Recovery converges: the same deterministic keys as the scene no fault touched.
        assert _published_names(stack, scene) == _published_names(stack, scene_name(CONTROL_ORBIT))
    summary.record(case)


# -- hostile and malformed arrivals, one drain ----------------------------------------------


def _s3_event(bucket: str, key: str) -> str:
    return json.dumps({"Records": [{"s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]})


def _zip(safe: Path, name: str, extra: dict[str, bytes], link: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in safe.rglob("*") if p.is_file()):
            zf.write(path, f"{name}.SAFE/{path.relative_to(safe).as_posix()}")
        for member, data in extra.items():
            zf.writestr(member, data)
        if link is not None:
            info = zipfile.ZipInfo(f"{name}.SAFE/link")
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, link)
    return buffer.getvalue()


def _bomb() -> dict[str, bytes]:
    return {"bomb.bin": b"\0" * (16 * MB)}  # deflates about 1000:1


ARRIVALS = [
    # (id, what arrives: ("queue", body) or ("s3", key, body), reason)
    ("event-not-json", lambda b, s: ("queue", "{not json event-not-json"), "not JSON"),
    ("event-not-object", lambda b, s: ("queue", '["event-not-object"]'), "not a JSON object"),
    (
        "event-oversized",
        lambda b, s: ("queue", json.dumps({"Records": "event-oversized" + "A" * 250_000})),
        "no Records",
    ),
    (
        "event-record-without-object",
        lambda b, s: (
            "queue",
            json.dumps({"Records": [{"s3": {"event": "event-record-without-object"}}]}),
        ),
        "without bucket/object",
    ),
    (
        "sns-unexpected-message",
        lambda b, s: (
            "queue",
            json.dumps({"Type": "Notification", "Message": '{"sns-unexpected-message": 1}'}),
        ),
        "no Records",
    ),
    (
        "sns-message-not-json",
        lambda b, s: (
            "queue",
            json.dumps({"Type": "Notification", "Message": "sns-message-not-json"}),
        ),
        "not JSON",
    ),
    ("key-dotdot", lambda b, s: ("queue", _s3_event(b, f"..%2F{s}.zip")), "'\\.\\.' segment"),
    ("key-absolute", lambda b, s: ("queue", _s3_event(b, f"%2Fetc%2F{s}.zip")), "absolute"),
    (
        "key-percent-encoded-dotdot",
        lambda b, s: ("queue", _s3_event(b, f"inbox%2F%2E%2E%2F{s}.zip")),
        "'\\.\\.' segment",
    ),
    ("key-not-utf8", lambda b, s: ("queue", _s3_event(b, f"caf%E9%2F{s}.zip")), "UTF-8"),
    (
        "key-1025-bytes",
        lambda b, s: ("queue", _s3_event(b, "k" * (1025 - len(s) - 4) + f"{s}.zip")),
        "longer than 1024",
    ),
    ("s3-key-dotdot", lambda b, s: ("s3", f"inbox/../{s}.zip", b"PK"), "'\\.\\.' segment"),
    ("s3-key-empty-segment", lambda b, s: ("s3", f"inbox//{s}.zip", b"PK"), "empty"),
    (
        "zip-path-traversal",
        lambda b, s: ("s3z", f"inbox/{s}.zip", {"../../evil.txt": b"x"}, None),
        "escapes the archive",
    ),
    (
        "zip-absolute-member",
        lambda b, s: ("s3z", f"inbox/{s}.zip", {"/etc/cron.d/evil": b"x"}, None),
        "escapes the archive",
    ),
    ("zip-symlink", lambda b, s: ("s3z", f"inbox/{s}.zip", {}, "/etc/passwd"), "symbolic link"),
    ("zip-bomb", lambda b, s: ("s3z", f"inbox/{s}.zip", _bomb(), None), "zip bomb"),
]
ARRIVAL_ORBITS = {case_id: 120 + i for i, (case_id, *_) in enumerate(ARRIVALS)}
ARRIVAL_CASES = [
    Case(id=case_id, setup=setup, outcome=DEAD_LETTERED, reason=reason)
    for case_id, setup, reason in ARRIVALS
]


@pytest.fixture(scope="module")
def arrivals(stack, safe) -> dict[str, str]:
    """Send every hostile arrival of :data:`ARRIVAL_CASES`; drain; return case id -> marker."""
    sqs, s3 = stack.emulation.client("sqs"), stack.emulation.client("s3")
    markers = {}
    for case in ARRIVAL_CASES:
        scene = scene_name(ARRIVAL_ORBITS[case.id])
        assert case.setup is not None
        what = case.setup(stack.input_bucket, scene)
        if what[0] == "queue":
            queue = stack.emulation.queue_url("ArrivalQueue")
            sqs.send_message(QueueUrl=queue, MessageBody=what[1])
            markers[case.id] = scene if scene in what[1] else case.id
        elif what[0] == "s3":
            s3.put_object(Bucket=stack.input_bucket, Key=what[1], Body=what[2])
            markers[case.id] = scene
        else:
            body = _zip(safe, scene, what[2], what[3])
            s3.put_object(Bucket=stack.input_bucket, Key=what[1], Body=body)
            markers[case.id] = scene
    drain(stack.emulation.mappings.values(), DRAIN_S)
    return markers


@pytest.mark.parametrize("case", ARRIVAL_CASES, ids=[c.id for c in ARRIVAL_CASES])
def test_hostile_arrivals_are_dead_lettered_with_their_reason(case, stack, arrivals, summary):
    summary.record(case, passed=False)
    marker = arrivals[case.id]
    dead = [b for b in dead_letters(stack.emulation, "ArrivalDeadLetterQueue") if marker in b]
    assert len(dead) == 1, f"{case.id}: {len(dead)} dead letters carry {marker!r}"
    assert stack.logs.find(case.reason), f"{case.id}: reason {case.reason!r} never recorded"
    scene = scene_name(ARRIVAL_ORBITS[case.id])
    s3 = stack.emulation.client("s3")
    keys = s3.list_objects_v2(Bucket=stack.output_bucket, Prefix=publish_prefix(scene))
    assert keys.get("KeyCount", 0) == 0
    assert not any(scene in b for b in dead_letters(stack.emulation, "ProcessingDeadLetterQueue"))
    summary.record(case)


# -- hostile work messages on the processing queue ------------------------------------------

WORK_CASES = [
    Case(
        "work-hostile-input-uri",
        lambda b, s: json.dumps({"scene_id": s, "input_uri": f"s3://{b}/a/../{s}", "version": "1"}),
        DEAD_LETTERED,
        r"'\.\.' segment",
    ),
    Case(
        "work-extra-fields",
        lambda b, s: json.dumps(
            {"scene_id": s, "input_uri": f"s3://{b}/{s}", "version": "1", "cmd": "rm -rf /"}
        ),
        DEAD_LETTERED,
        "exactly the string fields",
    ),
]


def test_hostile_work_messages_are_dead_lettered(stack, summary):
    sqs = stack.emulation.client("sqs")
    scenes = {c.id: scene_name(150 + i) for i, c in enumerate(WORK_CASES)}
    for case in WORK_CASES:
        assert case.setup is not None
        body = case.setup(stack.input_bucket, scenes[case.id])
        sqs.send_message(QueueUrl=stack.emulation.queue_url("ProcessingQueue"), MessageBody=body)
    drain([stack.emulation.mappings[PROCESSOR_EVENT]], DRAIN_S)
    for case in WORK_CASES:
        summary.record(case, passed=False)
        assert stack.logs.find(case.reason), case.id
        check_invariants(stack.emulation, scenes[case.id], expect="dead-lettered")
        summary.record(case)


# -- queue, table and timing faults, one scenario each ---------------------------------------


def _redrive(emulation: Emulation, scene: str) -> None:
    """The README runbook: move the scene's dead letter back to the processing queue."""
    sqs = emulation.client("sqs")
    dlq = emulation.queue_url("ProcessingDeadLetterQueue")
    for _ in range(10):
        for message in sqs.receive_message(
            QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=30
        ).get("Messages", []):
            if scene in message["Body"]:
                sqs.send_message(
                    QueueUrl=emulation.queue_url("ProcessingQueue"), MessageBody=message["Body"]
                )
                sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
                return
    raise AssertionError(f"{scene} is not in the processing dead-letter queue")


def _queued(stack: Stack, safe: Path, scene: str) -> dict:
    """Upload ``scene``, run the dispatcher, receive the work message (as a worker would)."""
    upload_as(stack.emulation, safe, scene)
    drain([stack.emulation.mappings[DISPATCHER_EVENT]], DRAIN_S)
    sqs = stack.emulation.client("sqs")
    (message,) = sqs.receive_message(
        QueueUrl=stack.emulation.queue_url("ProcessingQueue"),
        MessageSystemAttributeNames=["All"],
        WaitTimeSeconds=1,
    )["Messages"]
    return message


def test_little_time_left_defers_to_the_dead_letter_queue_and_redrive_publishes(
    stack, safe, summary
):
    """Function timeout: an invocation with less than MIN_REMAINING_SECONDS left (powertools'
    remaining time) refuses to start; after maxReceiveCount deliveries the scene is
    dead-lettered, and the runbook's redrive publishes it."""
    case = Case("timeout-remaining-time", None, DEAD_LETTERED, "left for a later delivery")
    summary.record(case, passed=False)
    scene = scene_name(160)
    upload_as(stack.emulation, safe, scene)
    short = dataclasses.replace(stack.emulation.mappings[PROCESSOR_EVENT], timeout_s=1)
    drain([stack.emulation.mappings[DISPATCHER_EVENT], short], DRAIN_S)
    assert stack.logs.find(scene, case.reason)
    check_invariants(stack.emulation, scene, expect="dead-lettered")
    _redrive(stack.emulation, scene)
    drain(stack.emulation.mappings.values(), DRAIN_S)
    check_invariants(stack.emulation, scene, expect="published", proxy=stack.proxy)
    summary.record(case)


def test_duplicate_arrival_fails_the_conditional_claim_and_publishes_once(stack, safe, summary):
    """The second arrival of a scene fails the dispatcher's DynamoDB conditional put."""
    case = Case("dynamodb-conditional-check", None, REFUSED, "duplicate")
    summary.record(case, passed=False)
    scene = scene_name(161)
    upload_as(stack.emulation, safe, scene, prefix="inbox/first")
    upload_as(stack.emulation, safe, scene, prefix="inbox/second")
    drain(stack.emulation.mappings.values(), DRAIN_S)
    runs = {r.path.split("/")[4] for r in stack.proxy.requests("PUT", f"/staging/{scene}/")}
    assert len(runs) == 1, runs  # one work message, one processing run
    check_invariants(stack.emulation, scene, expect="published", proxy=stack.proxy)
    summary.record(case)


def test_work_redelivered_after_the_visibility_timeout_is_processed_once(stack, safe, summary):
    """A worker took the message and died: it reappears after the visibility timeout."""
    case = Case("sqs-redelivery-after-visibility-timeout", None, RETRIED)
    summary.record(case, passed=False)
    scene = scene_name(162)
    message = _queued(stack, safe, scene)
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    drain(stack.emulation.mappings.values(), DRAIN_S)
    check_invariants(stack.emulation, scene, expect="published", proxy=stack.proxy)
    summary.record(case)


def test_work_redelivered_after_success_is_not_published_again(stack, safe, summary):
    """A worker published the scene but its delete was lost: the redelivery is answered from
    the idempotency record."""
    case = Case("sqs-redelivery-after-success", None, PROCESSED)
    summary.record(case, passed=False)
    scene = scene_name(163)
    message = _queued(stack, safe, scene)
    mapping = stack.emulation.mappings[PROCESSOR_EVENT]
    context = EmulatedContext(mapping.function_name, mapping.timeout_s, mapping.memory_mb)
    response = mapping.handler(sqs_event([message], mapping.queue_arn, "us-east-1"), context)
    assert response == {"batchItemFailures": []}
    drain(stack.emulation.mappings.values(), DRAIN_S)  # the message comes back, nothing runs
    check_invariants(stack.emulation, scene, expect="published", proxy=stack.proxy)
    summary.record(case)


def test_the_same_scene_on_two_workers_at_once_is_published_once(stack, safe, summary):
    """Two workers start the same scene together: powertools' idempotency record (a DynamoDB
    conditional put) lets one run; the other is refused while it is in progress."""
    case = Case("two-workers-same-scene", None, REFUSED, "already in progress")
    summary.record(case, passed=False)
    scene = scene_name(164)
    input_uri = upload_as(stack.emulation, safe, scene, prefix="direct")
    processor = __import__("handlers.processor", fromlist=["process_and_publish"])
    mapping = stack.emulation.mappings[PROCESSOR_EVENT]
    processor.idempotency.register_lambda_context(
        EmulatedContext(mapping.function_name, mapping.timeout_s, mapping.memory_mb)
    )
    slow = stack.proxy.inject(
        Fault("delay", _input(scene, "MTD_MSIL1C.xml"), methods=("GET",), times=1, delay_s=2)
    )
    work = WorkMessage(scene, input_uri, __version__)
    outcomes: dict[str, object] = {}

    def worker(name: str) -> None:
        scene_doc = {"scene_id": work.scene_id, "version": __version__, "input_uri": input_uri}
        try:
            outcomes[name] = processor.process_and_publish(scene=scene_doc, run_id=name)
        except Exception as err:
            outcomes[name] = err

    first = threading.Thread(target=worker, args=("first",))
    first.start()
    deadline = time.monotonic() + 60
    while not slow.hits and time.monotonic() < deadline:  # the first worker is mid-run
        time.sleep(0.05)
    assert slow.hits, "the first worker never read its input"
    worker("second")
    first.join()
    assert isinstance(outcomes["first"], dict), outcomes["first"]
    assert type(outcomes["second"]).__name__ == "IdempotencyAlreadyInProgressError"
    check_invariants(stack.emulation, scene, expect="published", proxy=stack.proxy)
    summary.record(case)


def test_no_item_is_written_twice_across_the_matrix(stack, s3_faults):
    """Duplicates across every scene the proxy saw: at most one successful item write each."""
    for case_id, orbit in ORBITS.items():
        assert item_writes(stack.proxy, stack.emulation, scene_name(orbit)) <= 1, case_id


KILLED_WORKER = """
import json, sys
import boto3
import handlers.processor as processor
from infra.emulation.context import EmulatedContext
from infra.emulation.event_source import sqs_event
queue_url, queue_arn, timeout_s = sys.argv[1], sys.argv[2], int(sys.argv[3])
(message,) = boto3.client("sqs").receive_message(
    QueueUrl=queue_url, MessageSystemAttributeNames=["All"], VisibilityTimeout=300,
    WaitTimeSeconds=5,
)["Messages"]
context = EmulatedContext("processor", timeout_s, 1024)
print(json.dumps({"receipt": message["ReceiptHandle"]}), flush=True)
processor.lambda_handler(sqs_event([message], queue_arn, "us-east-1"), context)
"""
"""A processor instance in its own process, so that it can be killed mid-run."""
KILLED_TIMEOUT_S = 4
"""Timeout of the killed invocation: its idempotency record stays in progress until then."""


def test_a_worker_killed_mid_run_leaves_nothing_published_and_the_redelivery_publishes(
    stack, safe, summary
):
    """Function timeout mid-run: the processor is killed (SIGKILL, as Lambda ends a timed-out
    invocation) while writing its staging files. Its message comes back after the visibility
    timeout, later than the invocation's deadline (as 6 x the timeout guarantees), and the
    redelivery runs past the expired in-progress idempotency record."""
    case = Case("killed-mid-run", None, RETRIED)
    summary.record(case, passed=False)
    scene = scene_name(165)
    upload_as(stack.emulation, safe, scene)
    drain([stack.emulation.mappings[DISPATCHER_EVENT]], DRAIN_S)
    mid_run = stack.proxy.inject(
        Fault("delay", _staging(scene), methods=("PUT",), times=1, delay_s=3)
    )
    mapping = stack.emulation.mappings[PROCESSOR_EVENT]
    env = stack.emulation.environment("ProcessorFunction") | {"MIN_REMAINING_SECONDS": "0"}
    root = Path(__file__).resolve().parents[1]
    arguments = (mapping.queue_url, mapping.queue_arn, str(KILLED_TIMEOUT_S))
    worker = subprocess.Popen(
        [sys.executable, "-c", KILLED_WORKER, *arguments],
        cwd=root,
        env=env | {"PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert worker.stdout is not None
        receipt = json.loads(worker.stdout.readline())["receipt"]
        started = time.monotonic()
        while not mid_run.hits and worker.poll() is None and time.monotonic() < started + 120:
            time.sleep(0.05)
        assert mid_run.hits, "the worker never wrote to staging"
    finally:
        worker.kill()
        worker.wait()
    s3 = stack.emulation.client("s3")
    assert list_keys(s3, stack.output_bucket, publish_prefix(scene)) == []
    time.sleep(max(0.0, started + KILLED_TIMEOUT_S - time.monotonic()))  # its deadline passed
    stack.emulation.client("sqs").change_message_visibility(
        QueueUrl=mapping.queue_url, ReceiptHandle=receipt, VisibilityTimeout=0
    )
    drain(stack.emulation.mappings.values(), DRAIN_S)
    check_invariants(stack.emulation, scene, expect="published", proxy=stack.proxy)
    summary.record(case)


def test_the_proxy_answers_as_s3_and_the_network_would(moto_endpoint):
    """The injected faults are what the cases call them (SDK retries off to see each one)."""
    with FaultProxy(moto_endpoint) as proxy:
        s3 = boto3.client(
            "s3",
            endpoint_url=proxy.url,
            region_name="us-east-1",
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket="proxy-check")
        s3.put_object(Bucket="proxy-check", Key="a/b.txt", Body=b"payload")
        proxy.inject(Fault("slowdown", r"/a/b\.txt$", methods=("GET",)))
        with pytest.raises(ClientError) as throttled:
            s3.get_object(Bucket="proxy-check", Key="a/b.txt")
        assert throttled.value.response["Error"]["Code"] == "SlowDown"
        assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        proxy.inject(Fault("reset", r"/a/c\.txt$", methods=("PUT",)))
        with pytest.raises(ConnectionClosedError):
            s3.put_object(Bucket="proxy-check", Key="a/c.txt", Body=b"lost")
        assert "Contents" not in s3.list_objects_v2(Bucket="proxy-check", Prefix="a/c")
        proxy.inject(Fault("delay", r"/a/b\.txt$", methods=("GET",), delay_s=0.5))
        start = time.monotonic()
        assert s3.get_object(Bucket="proxy-check", Key="a/b.txt")["Body"].read() == b"payload"
        assert time.monotonic() - start >= 0.5
        outcomes = [(r.method, r.outcome) for r in proxy.requests("GET", r"/a/b\.txt$")]
        assert outcomes == [("GET", "slowdown"), ("GET", "200")]
