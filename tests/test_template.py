"""The SAM template is the deployable truth: it lints clean and keeps its security invariants."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from cfnlint.decode import cfn_yaml

from handlers.settings import (
    CATALOG_PREFIX,
    CatalogWriterSettings,
    DispatcherSettings,
    FanOutSettings,
    ProcessorSettings,
    StripSettings,
)
from infra.emulation.stack import Stack

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"
XRAY_WRITE = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
"""X-Ray's write actions support no resource-level permissions: the one allowed ``*``."""


@pytest.fixture(scope="module")
def template() -> dict:
    return cfn_yaml.load(str(TEMPLATE))


@pytest.fixture(scope="module")
def resources(template: dict) -> dict:
    return template["Resources"]


def test_cfn_lint_reports_nothing() -> None:
    result = subprocess.run(
        [_cfn_lint(), str(TEMPLATE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _cfn_lint() -> str:
    beside_python = Path(sys.executable).with_name("cfn-lint")
    found = str(beside_python) if beside_python.exists() else shutil.which("cfn-lint")
    assert found, "cfn-lint is not installed (it is a dev dependency)"
    return found


def _of_type(resources: dict, kind: str) -> dict:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def _target(value) -> str:
    """The logical id (or parameter) an ARN expression names (in a ``!Sub``, its first
    variable that is not a pseudo parameter: the bucket, not a key prefix)."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return value["Fn::GetAtt"][0]
    if isinstance(value, dict) and "Ref" in value:
        return value["Ref"]
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    names = [part.split("}")[0] for part in text.split("${")[1:]]
    return next(n for n in names if not n.startswith("AWS::")).split(".")[0]


def test_buckets_are_encrypted_private_and_tls_only(resources: dict) -> None:
    buckets = _of_type(resources, "AWS::S3::Bucket")
    assert buckets
    policies = _of_type(resources, "AWS::S3::BucketPolicy")
    tls_protected = set()
    for policy in policies.values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            condition = statement.get("Condition", {}).get("Bool", {})
            if statement["Effect"] == "Deny" and condition.get("aws:SecureTransport") == "false":
                tls_protected.add(policy["Properties"]["Bucket"]["Ref"])
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"], name
        block = props["PublicAccessBlockConfiguration"]
        flags = (
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        )
        assert all(block[k] is True for k in flags), name
        assert name in tls_protected, f"{name} has no deny-non-TLS policy"


def test_abandoned_staging_expires(resources: dict) -> None:
    (rule,) = resources["OutputBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["Prefix"] == "staging/" and rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] >= 1  # well beyond one processor run (15 min at most)


def test_queues_are_encrypted_and_redrive_to_dead_letter_queues(resources: dict) -> None:
    queues = _of_type(resources, "AWS::SQS::Queue")
    assert all(q["Properties"].get("SqsManagedSseEnabled") for q in queues.values())
    redriven = {n: q for n, q in queues.items() if "RedrivePolicy" in q["Properties"]}
    assert set(redriven) == {
        "ArrivalQueue",
        "ProcessingQueue",
        "CatalogQueue",
        "StripQueue",
        "AssemblyQueue",
    }
    targets = {
        name: q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for name, q in redriven.items()
    }
    assert len(set(targets.values())) == len(redriven)
    assert set(targets.values()) <= set(queues) - set(redriven)
    for name, target in targets.items():  # a FIFO queue's dead-letter queue is FIFO too
        fifo = queues[name]["Properties"].get("FifoQueue", False)
        assert queues[target]["Properties"].get("FifoQueue", False) == fifo, name


def test_input_notifications_filter_on_l1c_arrivals(resources: dict) -> None:
    bucket = resources["InputBucket"]["Properties"]
    configs = bucket["NotificationConfiguration"]["QueueConfigurations"]
    suffixes = {
        rule["Value"]
        for c in configs
        for rule in c["Filter"]["S3Key"]["Rules"]
        if rule["Name"] == "suffix"
    }
    assert suffixes == {"manifest.safe", ".zip"}
    assert {c["Queue"]["Fn::GetAtt"][0] for c in configs} == {"ArrivalQueue"}


def test_l1c_topic_subscription_is_optional_and_scoped(template: dict, resources: dict) -> None:
    subscription = resources["L1CTopicSubscription"]
    assert template["Parameters"]["L1CTopicArn"]["Default"] == ""
    assert subscription["Condition"] == "SubscribeToL1CTopic"
    assert template["Conditions"]["SubscribeToL1CTopic"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "L1CTopicArn"}, ""]}]
    }
    props = subscription["Properties"]
    assert props["Protocol"] == "sqs" and props["Endpoint"] == {
        "Fn::GetAtt": ["ArrivalQueue", "Arn"]
    }
    # SNS subscriptions must be made in the topic's region (eu-west-1 for the public topic).
    assert props["Region"] == {"Fn::Select": [3, {"Fn::Split": [":", {"Ref": "L1CTopicArn"}]}]}
    prefixes = {p["prefix"] for p in props["FilterPolicy"]["name"]}
    assert {f"S2{unit}_MSIL1C_" for unit in "ABC"} <= prefixes
    statements = resources["ArrivalQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (sns,) = [s["Fn::If"][1] for s in statements if "Fn::If" in s]
    assert sns["Principal"] == {"Service": "sns.amazonaws.com"}
    assert sns["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Ref": "L1CTopicArn"}


def _parameters() -> dict:
    return cfn_yaml.load(str(TEMPLATE))["Parameters"]


@pytest.mark.parametrize(
    ("function", "queue"),
    [
        ("ProcessorFunction", "ProcessingQueue"),
        ("DispatcherFunction", "ArrivalQueue"),
        ("CatalogWriterFunction", "CatalogQueue"),
        ("StripFunction", "StripQueue"),
        ("AssemblyFunction", "AssemblyQueue"),
    ],
)
def test_visibility_timeout_is_at_least_six_function_timeouts(resources, function, queue) -> None:
    # Lambda refuses an SQS event source whose visibility timeout is under the function timeout;
    # AWS advises 6x. The parameter bounds keep every allowed combination valid.
    params = _parameters()

    def bounds(value) -> tuple[int, int]:
        if isinstance(value, int):
            return value, value
        declared = params[value["Ref"]]
        return int(declared.get("MinValue", declared["Default"])), int(
            declared.get("MaxValue", declared["Default"])
        )

    timeout = resources[function]["Properties"]["Timeout"]
    visibility = resources[queue]["Properties"]["VisibilityTimeout"]
    assert bounds(timeout)[1] <= 900  # Lambda's limit
    assert bounds(visibility)[0] >= 6 * bounds(timeout)[1]


@pytest.mark.parametrize(
    ("function", "queue", "batch_size"),
    [
        ("ProcessorFunction", "ProcessingQueue", 1),
        ("DispatcherFunction", "ArrivalQueue", 10),
        ("StripFunction", "StripQueue", 1),
        ("AssemblyFunction", "AssemblyQueue", 1),
    ],
)
def test_functions_are_container_images_fed_by_their_queue(
    resources, function, queue, batch_size
) -> None:
    props = resources[function]["Properties"]
    metadata = resources[function]["Metadata"]
    assert props["PackageType"] == "Image"
    dockerfile = TEMPLATE.parent / metadata["DockerContext"] / metadata["Dockerfile"]
    assert dockerfile.is_file()
    (handler,) = props["ImageConfig"]["Command"]
    module, name = handler.rsplit(".", 1)
    assert importlib.util.find_spec(module) is not None and name == "lambda_handler"
    (event,) = props["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": [queue, "Arn"]}
    assert event["Properties"]["BatchSize"] == batch_size
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "Ref" in props["ReservedConcurrentExecutions"]
    # Pollers no faster than the reserved concurrency: throttled deliveries would count as
    # receives and could dead-letter healthy scenes.
    scaling = event["Properties"]["ScalingConfig"]["MaximumConcurrency"]
    assert scaling == props["ReservedConcurrentExecutions"]


def test_catalog_writer_is_the_single_consumer_of_a_fifo_queue(resources) -> None:
    props = resources["CatalogWriterFunction"]["Properties"]
    assert props["PackageType"] == "Image"
    (handler,) = props["ImageConfig"]["Command"]
    module, name = handler.rsplit(".", 1)
    assert importlib.util.find_spec(module) is not None and name == "lambda_handler"
    # add_item rewrites the shared catalog.json: one writer at a time, whatever the collection
    assert props["ReservedConcurrentExecutions"] == 1
    (event,) = props["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["CatalogQueue", "Arn"]}
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = resources["CatalogQueue"]["Properties"]
    assert queue["FifoQueue"] is True
    assert queue["ContentBasedDeduplication"] is False  # the sender's id: item id and version
    processor = resources["ProcessorFunction"]["Properties"]["Environment"]["Variables"]
    assert processor["CATALOG_QUEUE_URL"] == {"Ref": "CatalogQueue"}


def test_image_default_command_is_the_processor(resources) -> None:
    dockerfile = (TEMPLATE.parent / "infra" / "Dockerfile").read_text()
    command = resources["ProcessorFunction"]["Properties"]["ImageConfig"]["Command"]
    assert f"CMD {json.dumps(command)}" in dockerfile


def _statements(resources: dict, function: str) -> list[dict]:
    """Every IAM statement granting ``function`` something (its explicit role's inline
    policies, or the SAM ``Policies`` statements of a generated role)."""
    props = resources[function]["Properties"]
    if "Role" not in props:
        return [s for p in props.get("Policies", []) for s in p["Statement"]]
    role = resources[props["Role"]["Fn::GetAtt"][0]]
    assert role["Type"] == "AWS::IAM::Role"
    assert not role["Properties"].get("ManagedPolicyArns"), function
    statements = [
        s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]
    ]
    return [s["Fn::If"][1] if "Fn::If" in s else s for s in statements]


def test_functions_have_least_privilege(template: dict, resources: dict) -> None:
    tracing = template.get("Globals", {}).get("Function", {}).get("Tracing")
    functions = _of_type(resources, "AWS::Serverless::Function")
    assert functions
    for function, resource in functions.items():
        if tracing == "Active" or resource["Properties"].get("Tracing") == "Active":
            # SAM would attach AWSXrayWriteOnlyAccess (Resource "*") to a role it generates.
            assert "Role" in resource["Properties"], f"{function}: traced without explicit role"
        for statement in _statements(resources, function):
            sid = f"{function}.{statement.get('Sid')}"
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            assert statement["Effect"] == "Allow", sid
            assert all("*" not in action for action in actions), sid
            targets = (
                statement["Resource"]
                if isinstance(statement["Resource"], list)
                else [statement["Resource"]]
            )
            if targets == ["*"]:
                assert set(actions) <= XRAY_WRITE, sid
                continue
            for target in targets:
                name = _target(target)
                assert name in resources or name in template["Parameters"], sid


def _reach(resources: dict, function: str) -> dict[str, set[str]]:
    """Resource or parameter -> actions ``function`` is allowed on it."""
    reach: dict[str, set[str]] = {}
    for statement in _statements(resources, function):
        targets = (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
        for target in targets:
            if target != "*":
                reach.setdefault(_target(target), set()).update(statement["Action"])
    return reach


def test_each_function_reaches_only_its_own_resources(resources: dict) -> None:
    dispatcher = _reach(resources, "DispatcherFunction")
    processor = _reach(resources, "ProcessorFunction")
    writer = _reach(resources, "CatalogWriterFunction")
    assert set(dispatcher) == {
        "DispatcherLogGroup",
        "ArrivalQueue",
        "ProcessingQueue",
        "SceneStateTable",
        "InputBucket",
    }
    assert dispatcher["ProcessingQueue"] == {"sqs:SendMessage"}
    assert dispatcher["InputBucket"] == {"s3:GetObject"}  # a zip's central directory
    assert not any(a.startswith("sqs:Send") for a in processor.get("ProcessingQueue", ()))
    assert "OutputBucket" not in dispatcher and "ArrivalQueue" not in processor
    assert {
        a for a in processor["InputBucket"] if not a.startswith("s3:Get") and a != "s3:ListBucket"
    } == set()
    assert processor["CatalogQueue"] == {"sqs:SendMessage"}
    assert processor["StripQueue"] == {"sqs:SendMessage"}
    assert set(writer) == {"CatalogWriterLogGroup", "CatalogQueue", "OutputBucket"}
    assert not any(a.startswith("sqs:Send") for a in writer["CatalogQueue"])
    assert writer["OutputBucket"] == {"s3:GetObject", "s3:PutObject", "s3:ListBucket"}
    statements = {s["Sid"]: s for s in _statements(resources, "CatalogWriterFunction")}
    # it writes the catalog prefix only, and lists only there
    assert statements["WriteStaticCatalog"]["Resource"] == {
        "Fn::Sub": f"${{OutputBucket.Arn}}/{CATALOG_PREFIX}/*"
    }
    assert statements["FindStaticCatalogDocuments"]["Condition"] == {
        "StringLike": {"s3:prefix": f"{CATALOG_PREFIX}/*"}
    }
    assert "s3:PutObject" not in statements["ReadPublishedItems"]["Action"]


def test_fan_out_functions_reach_only_their_part(resources: dict) -> None:
    strips = _reach(resources, "StripFunction")
    assembly = _reach(resources, "AssemblyFunction")
    processor = _reach(resources, "ProcessorFunction")
    # strips: read the L1C, the plan and write parts under staging/ only, count groups down,
    # queue the assembly; never publish, index or touch the catalog
    assert set(strips) == {
        "StripLogGroup",
        "StripQueue",
        "InputBucket",
        "L1CTopicBucket",
        "OutputBucket",
        "SceneStateTable",
        "AssemblyQueue",
    }
    assert strips["AssemblyQueue"] == {"sqs:SendMessage"}
    assert strips["SceneStateTable"] == {"dynamodb:GetItem", "dynamodb:UpdateItem"}
    assert "s3:DeleteObject" not in strips["OutputBucket"]
    statements = {s["Sid"]: s for s in _statements(resources, "StripFunction")}
    assert statements["ReadPlanWriteParts"]["Resource"] == {
        "Fn::Sub": "${OutputBucket.Arn}/staging/*"
    }
    assert statements["ListStaging"]["Condition"] == {"StringLike": {"s3:prefix": "staging/*"}}
    # assembly: publishes as the processor does, fed by its own queue, queues no strips
    assert set(assembly) == set(processor) - {
        "ProcessorLogGroup",
        "ProcessingQueue",
        "StripQueue",
    } | {
        "AssemblyLogGroup",
        "AssemblyQueue",
    }
    assert not any(a.startswith("sqs:Send") for a in assembly["AssemblyQueue"])
    for name in ("OutputBucket", "CatalogIndexTable", "CatalogQueue", "SceneStateTable"):
        assert assembly[name] == processor[name], name
    assert "StripQueue" not in assembly and "AssemblyQueue" not in processor


def test_every_variable_the_handlers_read_is_set(resources: dict) -> None:
    stack = Stack(endpoint="http://127.0.0.1:1")
    for function, settings in (
        ("DispatcherFunction", DispatcherSettings),
        ("ProcessorFunction", ProcessorSettings),
        ("CatalogWriterFunction", CatalogWriterSettings),
        ("ProcessorFunction", FanOutSettings),
        ("StripFunction", StripSettings),
        ("AssemblyFunction", ProcessorSettings),
    ):
        variables = stack.properties(function)["Environment"]["Variables"]
        settings.from_env({k: str(v) for k, v in variables.items()})  # raises naming a missing one


def test_state_table_matches_the_powertools_persistence_layer(resources: dict) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")  # built offline, never called
    persistence = DynamoDBPersistenceLayer(table_name="unused", boto3_client=client)
    variables = resources["ProcessorFunction"]["Properties"]["Environment"]["Variables"]
    props = resources[variables["STATE_TABLE"]["Ref"]]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": persistence.key_attr, "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {
        "AttributeName": persistence.expiry_attr,
        "Enabled": True,
    }
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"]["SSEEnabled"] is True
    dispatcher = resources["DispatcherFunction"]["Properties"]["Environment"]["Variables"]
    assert dispatcher["STATE_TABLE"] == variables["STATE_TABLE"]
    for function in ("StripFunction", "AssemblyFunction"):  # the countdown lives there too
        others = resources[function]["Properties"]["Environment"]["Variables"]
        assert others["STATE_TABLE"] == variables["STATE_TABLE"], function


def test_dead_letter_queues_and_function_errors_raise_alarms(resources: dict) -> None:
    alarms = [a["Properties"] for a in _of_type(resources, "AWS::CloudWatch::Alarm").values()]
    watched = {
        (alarm["Namespace"], _target(dimension["Value"]))
        for alarm in alarms
        for dimension in alarm["Dimensions"]
    }
    dead_letter_queues = {
        q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for q in _of_type(resources, "AWS::SQS::Queue").values()
        if "RedrivePolicy" in q["Properties"]
    }
    assert {("AWS/SQS", q) for q in dead_letter_queues} <= watched
    functions = {
        "DispatcherFunction",
        "ProcessorFunction",
        "CatalogWriterFunction",
        "StripFunction",
        "AssemblyFunction",
    }
    assert {("AWS/Lambda", f) for f in functions} <= watched


@pytest.mark.parametrize("topic", ["", "arn:aws:sns:eu-west-1:214830741341:NewSentinel2Product"])
def test_topic_parameter_switches_the_subscription_and_requester_pays(topic: str) -> None:
    stack = Stack(endpoint="http://127.0.0.1:1", parameters={"L1CTopicArn": topic})
    subscribed = bool(topic)
    assert ("L1CTopicSubscription" in stack.resources("AWS::SNS::Subscription")) == subscribed
    topic_bucket = f"arn:aws:s3:::{stack.ref('L1CTopicBucket')}/*"
    for function, role in (
        ("ProcessorFunction", "ProcessorRole"),
        ("StripFunction", "StripRole"),
        ("AssemblyFunction", "AssemblyRole"),
    ):  # every function that reads the L1C
        variables = stack.properties(function)["Environment"]["Variables"]
        # GDAL reads the public L1C bucket only with requester-pays requests.
        assert variables.get("AWS_REQUEST_PAYER") == ("requester" if subscribed else None)
        statements = stack.properties(role)["Policies"][0]["PolicyDocument"]["Statement"]
        assert any(topic_bucket in s["Resource"] for s in statements) == subscribed, role
