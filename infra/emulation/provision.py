"""Create the template's queues, tables and buckets on an emulated endpoint (moto over HTTP).

What is created is what the processing path depends on: queues with their visibility timeout,
retention, FIFO settings and redrive policy; tables with their keys, billing mode and TTL;
buckets with their queue notifications (S3 sends an ``s3:TestEvent`` to each queue when they
are set). Encryption,
public-access blocks, lifecycle rules and bucket policies are not applied: moto does not enforce
them, so the emulation would only pretend to have them.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from infra.emulation.stack import Stack

QUEUE_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "FifoQueue",
    "ContentBasedDeduplication",
)
"""Queue properties that carry over to ``CreateQueue`` (booleans as ``true``/``false``)."""


def provision(stack: Stack) -> None:
    """Create every queue, table and bucket of ``stack`` on ``stack.endpoint``."""
    session = boto3.session.Session(region_name=stack.region)
    _create_queues(stack, session.client("sqs", endpoint_url=stack.endpoint))
    _create_tables(stack, session.client("dynamodb", endpoint_url=stack.endpoint))
    _create_buckets(stack, session.client("s3", endpoint_url=stack.endpoint))


def _create_queues(stack: Stack, sqs: Any) -> None:
    queues = stack.resources("AWS::SQS::Queue")
    for logical_id in queues:  # dead-letter queues must exist before a redrive policy names them
        props = stack.properties(logical_id)
        attributes = {k: _attribute(props[k]) for k in QUEUE_ATTRIBUTES if k in props}
        sqs.create_queue(QueueName=stack.physical_name(logical_id), Attributes=attributes)
    for logical_id in queues:
        redrive = stack.properties(logical_id).get("RedrivePolicy")
        if redrive:
            sqs.set_queue_attributes(
                QueueUrl=stack.ref(logical_id), Attributes={"RedrivePolicy": json.dumps(redrive)}
            )


def _attribute(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _create_tables(stack: Stack, dynamodb: Any) -> None:
    for logical_id in stack.resources("AWS::DynamoDB::Table"):
        props = stack.properties(logical_id)
        name = stack.physical_name(logical_id)
        dynamodb.create_table(
            TableName=name,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode=props.get("BillingMode", "PROVISIONED"),
        )
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


def _create_buckets(stack: Stack, s3: Any) -> None:
    for logical_id in stack.resources("AWS::S3::Bucket"):
        name = stack.physical_name(logical_id)
        s3.create_bucket(Bucket=name)
        notifications = stack.properties(logical_id).get("NotificationConfiguration", {})
        queues = [
            {
                "QueueArn": config["Queue"],
                "Events": [config["Event"]],
                "Filter": {"Key": {"FilterRules": config["Filter"]["S3Key"]["Rules"]}},
            }
            for config in notifications.get("QueueConfigurations", [])
        ]
        if queues:
            s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration={"QueueConfigurations": queues}
            )
