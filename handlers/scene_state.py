"""Scene state records in the DynamoDB table the functions share with powertools idempotency.

One record per scene and software version (``id`` = ``scene#<scene id>#<version>``; powertools'
records use ``<function>.<module>.<function>#<hash>`` ids, so the two never collide). The
dispatcher claims a scene with a conditional put (``QUEUED``) before queuing it, which makes a
second arrival of the same scene a duplicate; the processor marks it ``PUBLISHED`` once its STAC
item is written. A claim is granted when there is no record, or when the scene is still
``QUEUED`` and either the same arrival message comes again (a retry of a dispatcher that failed
after claiming) or its record is older than every delivery of its work message (the scene failed
into the dead-letter queue). A published scene is processed again only by a new software version
(or after its record is deleted).
"""

from __future__ import annotations

import time
from typing import Any, Final

from handlers.events import L1CArrival

QUEUED: Final[str] = "QUEUED"
PUBLISHED: Final[str] = "PUBLISHED"


def state_id(scene_id: str, version: str) -> str:
    """Key of a scene's record."""
    return f"scene#{scene_id}#{version}"


def claim(
    dynamodb: Any,
    table: str,
    arrival: L1CArrival,
    *,
    version: str,
    message_id: str,
    requeue_after_s: int,
) -> bool:
    """Record ``arrival`` as ``QUEUED``; ``False`` when the scene is already queued or published."""
    now = int(time.time())
    try:
        dynamodb.put_item(
            TableName=table,
            Item={
                "id": {"S": state_id(arrival.scene_id, version)},
                "scene_id": {"S": arrival.scene_id},
                "version": {"S": version},
                "input_uri": {"S": arrival.product_uri},
                "status": {"S": QUEUED},
                "arrival_message": {"S": message_id},
                "queued_at": {"N": str(now)},
            },
            ConditionExpression=(
                "attribute_not_exists(#id) "
                "OR (#status = :queued AND (#message = :message OR #queued < :stale))"
            ),
            ExpressionAttributeNames={
                "#id": "id",
                "#message": "arrival_message",
                "#status": "status",
                "#queued": "queued_at",
            },
            ExpressionAttributeValues={
                ":message": {"S": message_id},
                ":queued": {"S": QUEUED},
                ":stale": {"N": str(now - requeue_after_s)},
            },
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    return True


def mark_published(
    dynamodb: Any, table: str, *, scene_id: str, version: str, item_uri: str
) -> None:
    """Record that the scene's STAC item is written (creates the record for a redriven scene)."""
    dynamodb.update_item(
        TableName=table,
        Key={"id": {"S": state_id(scene_id, version)}},
        UpdateExpression=(
            "SET #status = :published, #item = :item, #at = :now, #scene = :scene, "
            "#version = :version"
        ),
        ExpressionAttributeNames={
            "#status": "status",
            "#item": "item_uri",
            "#at": "published_at",
            "#scene": "scene_id",
            "#version": "version",
        },
        ExpressionAttributeValues={
            ":published": {"S": PUBLISHED},
            ":item": {"S": item_uri},
            ":now": {"N": str(int(time.time()))},
            ":scene": {"S": scene_id},
            ":version": {"S": version},
        },
    )
