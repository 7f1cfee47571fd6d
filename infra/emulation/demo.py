"""The emulated arrival of one simulated L1C product, and what the stack then holds."""

from __future__ import annotations

import json
import logging
import posixpath
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from core.io.staging import COMMIT_MARKER
from handlers.objects import list_keys, split_uri
from handlers.scene_state import PUBLISHED
from infra.emulation.runtime import Emulation

log = logging.getLogger(__name__)

DISPATCHER_EVENT: Final[str] = "DispatcherFunction.L1CArrival"
"""The event source mapping of the dispatcher (``<function>.<event>`` of ``template.yaml``)."""
PROCESSOR_EVENT: Final[str] = "ProcessorFunction.SceneWork"
"""The event source mapping of the processor."""
CATALOG_WRITER_EVENT: Final[str] = "CatalogWriterFunction.CatalogEntries"
"""The event source mapping of the catalog writer (static STAC catalog)."""
STRIP_EVENT: Final[str] = "StripFunction.StripGroups"
"""The event source mapping of the strip function (a fanned-out tile's strip groups)."""
INBOX: Final[str] = "inbox"
"""Prefix of uploaded products in the input bucket."""
STATE_TABLE: Final[str] = "SceneStateTable"


@dataclass(frozen=True, slots=True)
class OutputSummary:
    """What the stack holds after a run."""

    items: tuple[str, ...]
    """``s3://`` URIs of the published STAC items (scenes marked ``PUBLISHED``)."""
    files: dict[str, int]
    """Folder (key prefix) of the output bucket -> number of objects directly in it."""
    dead_letters: dict[str, int]
    """Dead-letter queue (logical id) -> messages in it."""


def upload_safe(emulation: Emulation, safe: Path, bucket: str, prefix: str = INBOX) -> str:
    """Upload the SAFE folder ``safe`` under ``prefix/``, ``manifest.safe`` last; return its URI.

    The input bucket notifies on ``manifest.safe``, so the product is complete when it is queued.
    """
    s3 = emulation.client("s3")
    files = sorted(p for p in safe.rglob("*") if p.is_file())
    files.sort(key=lambda p: p.name == COMMIT_MARKER)  # stable: the marker goes last
    for path in files:
        s3.upload_file(str(path), bucket, f"{prefix}/{safe.name}/{path.relative_to(safe)}")
    log.info("uploaded %d files of %s to s3://%s/%s/", len(files), safe.name, bucket, prefix)
    return f"s3://{bucket}/{prefix}/{safe.name}"


def summarize_output(emulation: Emulation) -> OutputSummary:
    """The published items, output objects per folder and dead letters of the emulated stack."""
    keys = list_keys(emulation.client("s3"), emulation.bucket("OutputBucket"))
    sqs = emulation.client("sqs")
    dead = {
        logical_id: int(
            sqs.get_queue_attributes(
                QueueUrl=emulation.queue_url(logical_id),
                AttributeNames=["ApproximateNumberOfMessages"],
            )["Attributes"]["ApproximateNumberOfMessages"]
        )
        for logical_id in dead_letter_queues(emulation)
    }
    return OutputSummary(
        items=tuple(published_item_uris(emulation)),
        files=dict(sorted(Counter(posixpath.dirname(key) for key in keys).items())),
        dead_letters=dead,
    )


def published_item_uris(emulation: Emulation) -> list[str]:
    """The item URI of every scene the state table marks ``PUBLISHED``."""
    rows = emulation.client("dynamodb").scan(TableName=emulation.table(STATE_TABLE))["Items"]
    return sorted(
        row["item_uri"]["S"]
        for row in rows
        if row.get("status", {}).get("S") == PUBLISHED and "item_uri" in row
    )


def read_json(emulation: Emulation, uri: str) -> dict[str, Any]:
    """The JSON object stored at the ``s3://`` ``uri`` of the emulated endpoint."""
    bucket, key = split_uri(uri)
    body = emulation.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    value: dict[str, Any] = json.loads(body)
    return value


def dead_letter_queues(emulation: Emulation) -> list[str]:
    """Logical ids of the queues some redrive policy sends failed messages to."""
    queues = emulation.stack.resources("AWS::SQS::Queue")
    targets = {
        props["RedrivePolicy"]["deadLetterTargetArn"].rsplit(":", 1)[1]
        for props in (emulation.stack.properties(q) for q in queues)
        if "RedrivePolicy" in props
    }
    return [q for q in queues if emulation.stack.physical_name(q) in targets]
