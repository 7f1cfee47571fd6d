"""The resources ``template.yaml`` declares, with the names and ARNs an emulated stack gives them.

The template is the only list of resources: it is read with cfn-lint's YAML loader (which
understands the ``!Ref`` / ``!GetAtt`` / ``!Sub`` tags) and the intrinsic functions the
emulation needs are resolved here. Physical names follow CloudFormation's habit of prefixing the
stack name when the template gives none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cfnlint.decode import cfn_yaml

from core.errors import ConfigError

TEMPLATE: Final[Path] = Path(__file__).resolve().parents[2] / "template.yaml"
ACCOUNT_ID: Final[str] = "123456789012"
"""moto's default account."""
NO_VALUE: Final = object()
"""What ``!Ref AWS::NoValue`` resolves to (removed from the enclosing list or mapping)."""
_SUB_VARIABLE: Final = re.compile(r"\$\{([^}!]+)\}")
_ARN_SERVICE: Final[dict[str, str]] = {
    "AWS::S3::Bucket": "s3",
    "AWS::SQS::Queue": "sqs",
    "AWS::DynamoDB::Table": "dynamodb",
    "AWS::Serverless::Function": "lambda",
    "AWS::IAM::Role": "iam",
    "AWS::Logs::LogGroup": "logs",
}
_NAME_PROPERTY: Final[dict[str, str]] = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Logs::LogGroup": "LogGroupName",
}


@dataclass(frozen=True, slots=True)
class Stack:
    """One deployment of the template: stack name, region, S3/SQS endpoint and parameters.

    Parameters not given take the template's ``Default``.
    """

    endpoint: str
    name: str = "sen2cloud-local"
    region: str = "us-east-1"
    parameters: dict[str, str] = field(default_factory=dict)
    template: dict[str, Any] = field(default_factory=lambda: load_template(TEMPLATE))

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        """Logical id -> resource of every resource of type ``kind`` that the stack creates
        (its ``Condition``, if any, holds)."""
        return {
            k: r
            for k, r in self.template["Resources"].items()
            if r["Type"] == kind and ("Condition" not in r or self.condition(r["Condition"]))
        }

    def condition(self, name: str) -> bool:
        """The value of the template's condition ``name``."""
        try:
            return self._truth(self.template["Conditions"][name])
        except KeyError as err:
            raise ConfigError("no such condition", path=str(TEMPLATE), key=name) from err

    def _truth(self, value: Any) -> bool:
        """``Fn::Equals``, ``Fn::Not``, ``Fn::And``, ``Fn::Or`` and ``Condition`` references."""
        (function, args), *_ = value.items()
        if function == "Condition":
            return self.condition(args)
        if function == "Fn::Equals":
            first, second = (self.resolve(a) for a in args)
            return bool(str(first) == str(second))
        if function == "Fn::Not":
            return not self._truth(args[0])
        if function in ("Fn::And", "Fn::Or"):
            results = [self._truth(a) for a in args]
            return all(results) if function == "Fn::And" else any(results)
        raise ConfigError(f"condition function {function} is not emulated", path=str(TEMPLATE))

    def properties(self, logical_id: str) -> dict[str, Any]:
        """The resolved ``Properties`` of resource ``logical_id``."""
        resolved = self.resolve(self.template["Resources"][logical_id].get("Properties", {}))
        assert isinstance(resolved, dict)
        return resolved

    def physical_name(self, logical_id: str) -> str:
        """Bucket, queue, table or function name of ``logical_id``."""
        resource = self._resource(logical_id)
        given = resource.get("Properties", {}).get(_NAME_PROPERTY.get(resource["Type"], ""))
        if given is not None:
            return str(self.resolve(given))
        name = f"{self.name}-{logical_id}"
        if resource["Type"] == "AWS::SQS::Queue" and self.is_fifo(logical_id):
            return f"{name}.fifo"  # CloudFormation's generated FIFO names end so, as SQS requires
        return name.lower() if resource["Type"] == "AWS::S3::Bucket" else name

    def is_fifo(self, logical_id: str) -> bool:
        """Whether queue ``logical_id`` is a FIFO queue (``FifoQueue: true``)."""
        fifo = self._resource(logical_id).get("Properties", {}).get("FifoQueue", False)
        return str(self.resolve(fifo)).lower() == "true"

    def ref(self, name: str) -> str:
        """``!Ref name``: a parameter's value, a pseudo parameter or a resource's physical id."""
        pseudo = {
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
            "AWS::StackName": self.name,
        }
        if name in pseudo:
            return pseudo[name]
        declared = self.template.get("Parameters", {})
        if name in declared:
            return str(self.parameters.get(name, declared[name].get("Default")))
        if self._resource(name)["Type"] == "AWS::SQS::Queue":
            return f"{self.endpoint}/{ACCOUNT_ID}/{self.physical_name(name)}"
        return self.physical_name(name)

    def get_att(self, logical_id: str, attribute: str) -> str:
        """``!GetAtt logical_id.attribute`` (``Arn``, ``QueueName``)."""
        kind = self._resource(logical_id)["Type"]
        name = self.physical_name(logical_id)
        if attribute == "QueueName" and kind == "AWS::SQS::Queue":
            return name
        if attribute != "Arn" or kind not in _ARN_SERVICE:
            raise ConfigError(f"{logical_id}.{attribute} is not emulated", path=str(TEMPLATE))
        service = _ARN_SERVICE[kind]
        if service == "s3":
            return f"arn:aws:s3:::{name}"
        if service == "iam":
            return f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"
        resource = {
            "dynamodb": f"table/{name}",
            "lambda": f"function:{name}",
            "logs": f"log-group:{name}:*",
        }.get(service, name)
        return f"arn:aws:{service}:{self.region}:{ACCOUNT_ID}:{resource}"

    def resolve(self, value: Any) -> Any:
        """``value`` with ``Ref``, ``Fn::GetAtt``, ``Fn::Sub`` and ``Fn::If`` replaced by their
        values; list entries and keys resolving to ``AWS::NoValue`` are dropped."""
        if isinstance(value, list):
            return [v for v in (self.resolve(v) for v in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((function, args),) = value.items()
            if function in ("Ref", "Fn::GetAtt", "Fn::Sub", "Fn::If"):
                return self._intrinsic(function, args)
        resolved = {str(k): self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _intrinsic(self, function: str, args: Any) -> Any:
        if function == "Ref":
            return NO_VALUE if args == "AWS::NoValue" else self.ref(args)
        if function == "Fn::GetAtt":
            logical_id, attribute = args.split(".", 1) if isinstance(args, str) else args
            return self.get_att(logical_id, attribute)
        if function == "Fn::Sub":
            return _SUB_VARIABLE.sub(lambda m: self._sub_variable(m[1]), args)
        condition, if_true, if_false = args
        return self.resolve(if_true if self.condition(condition) else if_false)

    def _sub_variable(self, name: str) -> str:
        if "." in name and not name.startswith("AWS::"):
            logical_id, attribute = name.split(".", 1)
            return self.get_att(logical_id, attribute)
        return self.ref(name)

    def _resource(self, logical_id: str) -> dict[str, Any]:
        try:
            resource: dict[str, Any] = self.template["Resources"][logical_id]
        except KeyError as err:
            raise ConfigError("no such resource", path=str(TEMPLATE), key=logical_id) from err
        return resource


def load_template(path: Path) -> dict[str, Any]:
    """The template at ``path`` as plain dictionaries (intrinsic-function tags expanded)."""
    template: dict[str, Any] = cfn_yaml.load(str(path))
    return template
