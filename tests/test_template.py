"""The SAM template is the deployable truth: it lints clean and keeps its security invariants."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
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
