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

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"


@pytest.fixture(scope="module")
def resources() -> dict:
    return cfn_yaml.load(str(TEMPLATE))["Resources"]


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
        assert all(
            block[k] is True
            for k in (
                "BlockPublicAcls",
                "BlockPublicPolicy",
                "IgnorePublicAcls",
                "RestrictPublicBuckets",
            )
        ), name
        assert name in tls_protected, f"{name} has no deny-non-TLS policy"


def test_queues_are_encrypted_and_work_queue_redrives_to_dlq(resources: dict) -> None:
    queues = _of_type(resources, "AWS::SQS::Queue")
    assert all(q["Properties"].get("SqsManagedSseEnabled") for q in queues.values())
    redriven = [q for q in queues.values() if "RedrivePolicy" in q["Properties"]]
    assert redriven, "no queue redrives failed messages to a dead-letter queue"
    for queue in redriven:
        target = queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert target in queues


def test_input_notifications_filter_on_l1c_arrivals(resources: dict) -> None:
    bucket = resources["InputBucket"]["Properties"]
    suffixes = {
        rule["Value"]
        for config in bucket["NotificationConfiguration"]["QueueConfigurations"]
        for rule in config["Filter"]["S3Key"]["Rules"]
        if rule["Name"] == "suffix"
    }
    assert suffixes == {"manifest.safe", ".zip"}


def _parameters() -> dict:
    return cfn_yaml.load(str(TEMPLATE))["Parameters"]


def test_visibility_timeout_is_at_least_six_function_timeouts(resources: dict) -> None:
    # Lambda refuses an SQS event source whose visibility timeout is under the function timeout;
    # AWS advises 6x. The parameter bounds keep every allowed combination valid.
    params = _parameters()
    function = resources["ProcessorFunction"]["Properties"]
    queue = resources["WorkQueue"]["Properties"]
    assert function["Timeout"] == {"Ref": "FunctionTimeoutSeconds"}
    assert queue["VisibilityTimeout"] == {"Ref": "QueueVisibilityTimeoutSeconds"}
    visibility, timeout = params["QueueVisibilityTimeoutSeconds"], params["FunctionTimeoutSeconds"]
    assert int(timeout["MaxValue"]) <= 900  # Lambda's limit
    assert int(visibility["MinValue"]) >= 6 * int(timeout["MaxValue"])
    assert int(visibility["Default"]) >= 6 * int(timeout["Default"])


def test_processor_is_a_container_image_fed_one_message_at_a_time(resources: dict) -> None:
    processor = resources["ProcessorFunction"]
    props = processor["Properties"]
    assert props["PackageType"] == "Image"
    dockerfile = TEMPLATE.parent / processor["Metadata"]["DockerContext"]
    dockerfile = dockerfile / processor["Metadata"]["Dockerfile"]
    command = props["ImageConfig"]["Command"]
    assert f"CMD {json.dumps(command)}" in dockerfile.read_text()
    module, function = command[0].rsplit(".", 1)
    assert importlib.util.find_spec(module) is not None and function == "lambda_handler"
    (event,) = props["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["WorkQueue", "Arn"]}
    assert event["Properties"]["BatchSize"] == 1
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["ReservedConcurrentExecutions"] == {"Ref": "ProcessorReservedConcurrency"}


def test_processor_permissions_are_specific_to_its_own_resources(resources: dict) -> None:
    statements = [
        statement
        for policy in resources["ProcessorFunction"]["Properties"]["Policies"]
        for statement in policy["Statement"]
    ]
    assert statements
    own = set(resources)
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        assert all("*" not in action for action in actions), statement["Sid"]
        resource = statement["Resource"]
        target = (
            resource["Fn::GetAtt"][0]
            if "Fn::GetAtt" in resource
            else resource["Fn::Sub"].split(".", 1)[0].removeprefix("${")
        )
        assert target in own, statement["Sid"]
        services = {action.split(":", 1)[0] for action in actions}
        assert services == {_SERVICE[resources[target]["Type"]]}, statement["Sid"]


_SERVICE = {"AWS::S3::Bucket": "s3", "AWS::DynamoDB::Table": "dynamodb"}


def test_idempotency_table_matches_the_powertools_persistence_layer(resources: dict) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")  # built offline, never called
    persistence = DynamoDBPersistenceLayer(table_name="unused", boto3_client=client)
    (name,) = [
        n
        for n, r in _of_type(resources, "AWS::DynamoDB::Table").items()
        if resources["ProcessorFunction"]["Properties"]["Environment"]["Variables"][
            "IDEMPOTENCY_TABLE"
        ]
        == {"Ref": n}
    ]
    props = resources[name]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": persistence.key_attr, "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {
        "AttributeName": persistence.expiry_attr,
        "Enabled": True,
    }
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"]["SSEEnabled"] is True


def test_dead_letter_queue_depth_raises_an_alarm(resources: dict) -> None:
    alarms = _of_type(resources, "AWS::CloudWatch::Alarm").values()
    watched = {
        dimension["Value"]["Fn::GetAtt"][0]
        for alarm in alarms
        if alarm["Properties"]["Namespace"] == "AWS/SQS"
        for dimension in alarm["Properties"]["Dimensions"]
    }
    dead_letter_queues = {
        q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for q in _of_type(resources, "AWS::SQS::Queue").values()
        if "RedrivePolicy" in q["Properties"]
    }
    assert dead_letter_queues <= watched
