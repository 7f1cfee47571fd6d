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

A scene that fans out (:mod:`handlers.fanout`) counts its strip groups down in the same record:
the processor records the run and its number of groups, each strip invocation adds its group id
to the run's set of done groups with a conditional update (a redelivered group is not added
twice), and the update that completes the set queues the assembly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class GroupProgress:
    """The countdown of a fan-out run as the scene's record holds it."""

    done: frozenset[int]
    """Groups of the run counted done so far."""
    total: int
    current: bool
    """Whether the run is the scene's current fan-out run (a later run supersedes it)."""
    published: bool
    counted: bool = False
    """Whether the report that returned this added its group (``False``: a redelivery)."""

    @property
    def complete(self) -> bool:
        """Every group of the current run is done."""
        return self.current and len(self.done) == self.total


def start_fan_out(
    dynamodb: Any, table: str, *, scene_id: str, version: str, run_id: str, groups: int
) -> None:
    """Record that run ``run_id`` split the scene into ``groups`` strip groups, none done yet
    (a later run of the scene replaces an earlier one, whose groups then no longer count)."""
    dynamodb.update_item(
        TableName=table,
        Key={"id": {"S": state_id(scene_id, version)}},
        UpdateExpression=(
            "SET #run = :run, #total = :total, #scene = :scene, #version = :version REMOVE #done"
        ),
        ExpressionAttributeNames={
            "#run": "fan_out_run",
            "#total": "groups_total",
            "#done": "groups_done",
            "#scene": "scene_id",
            "#version": "version",
        },
        ExpressionAttributeValues={
            ":run": {"S": run_id},
            ":total": {"N": str(groups)},
            ":scene": {"S": scene_id},
            ":version": {"S": version},
        },
    )


def mark_group_done(
    dynamodb: Any, table: str, *, scene_id: str, version: str, run_id: str, group: int
) -> GroupProgress:
    """Add ``group`` to the done groups of run ``run_id``, unless it is there already or the
    scene has moved on to another run; return the countdown as it then stands."""
    try:
        record = dynamodb.update_item(
            TableName=table,
            Key={"id": {"S": state_id(scene_id, version)}},
            UpdateExpression="ADD #done :group",
            ConditionExpression="#run = :run AND NOT contains(#done, :id)",
            ExpressionAttributeNames={"#run": "fan_out_run", "#done": "groups_done"},
            ExpressionAttributeValues={
                ":group": {"SS": [str(group)]},
                ":id": {"S": str(group)},
                ":run": {"S": run_id},
            },
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return fan_out_progress(dynamodb, table, scene_id=scene_id, version=version, run_id=run_id)
    return _progress(record, run_id, counted=True)


def fan_out_progress(
    dynamodb: Any, table: str, *, scene_id: str, version: str, run_id: str
) -> GroupProgress:
    """The countdown of run ``run_id`` (strongly consistent read)."""
    record = dynamodb.get_item(
        TableName=table, Key={"id": {"S": state_id(scene_id, version)}}, ConsistentRead=True
    ).get("Item", {})
    return _progress(record, run_id, counted=False)


def _progress(record: dict[str, Any], run_id: str, *, counted: bool) -> GroupProgress:
    return GroupProgress(
        done=frozenset(int(g) for g in record.get("groups_done", {}).get("SS", [])),
        total=int(record.get("groups_total", {}).get("N", "0")),
        current=record.get("fan_out_run", {}).get("S") == run_id,
        published=record.get("status", {}).get("S") == PUBLISHED,
        counted=counted,
    )
