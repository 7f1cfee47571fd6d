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
_SUB_VARIABLE: Final = re.compile(r"\$\{([^}!]+)\}")
_ARN_SERVICE: Final[dict[str, str]] = {
    "AWS::S3::Bucket": "s3",
    "AWS::SQS::Queue": "sqs",
    "AWS::DynamoDB::Table": "dynamodb",
    "AWS::Serverless::Function": "lambda",
}
_NAME_PROPERTY: Final[dict[str, str]] = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Serverless::Function": "FunctionName",
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
        """Logical id -> resource of every resource of type ``kind``."""
        return {k: r for k, r in self.template["Resources"].items() if r["Type"] == kind}

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
        return name.lower() if resource["Type"] == "AWS::S3::Bucket" else name

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
        resource = {"dynamodb": f"table/{name}", "lambda": f"function:{name}"}.get(service, name)
        return f"arn:aws:{service}:{self.region}:{ACCOUNT_ID}:{resource}"

    def resolve(self, value: Any) -> Any:
        """``value`` with ``Ref``, ``Fn::GetAtt`` and ``Fn::Sub`` replaced by their values."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return self.ref(value["Ref"])
        if set(value) == {"Fn::GetAtt"}:
            target = value["Fn::GetAtt"]
            logical_id, attribute = target.split(".", 1) if isinstance(target, str) else target
            return self.get_att(logical_id, attribute)
        if set(value) == {"Fn::Sub"}:
            return _SUB_VARIABLE.sub(lambda m: self._sub_variable(m[1]), value["Fn::Sub"])
        return {str(k): self.resolve(v) for k, v in value.items()}

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
