"""The emulated arrival of one simulated L1C product, and what the output bucket then holds."""

from __future__ import annotations

import logging
import posixpath
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from core.io.staging import COMMIT_MARKER
from infra.emulation.runtime import Emulation

log = logging.getLogger(__name__)

PROCESSOR_EVENT: Final[str] = "ProcessorFunction.L1CArrival"
"""The event source mapping of the processor (``<function>.<event>`` of ``template.yaml``)."""
INBOX: Final[str] = "inbox"
"""Prefix of uploaded products in the input bucket."""


@dataclass(frozen=True, slots=True)
class OutputSummary:
    """What the output bucket holds after a run."""

    products: tuple[str, ...]
    """``s3://`` URIs of the complete products (their ``manifest.safe`` is present)."""
    files: dict[str, int]
    """Folder (key prefix) -> number of objects directly in it."""
    dead_letters: int
    """Messages in the dead-letter queue."""


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
    """The complete products, object counts and dead letters of the emulated stack."""
    bucket = emulation.bucket("OutputBucket")
    keys = list_keys(emulation.client("s3"), bucket)
    products = tuple(
        f"s3://{bucket}/{key.rsplit('/', 1)[0]}"
        for key in keys
        if key.endswith(f".SAFE/{COMMIT_MARKER}")
    )
    dead = emulation.client("sqs").get_queue_attributes(
        QueueUrl=emulation.queue_url("DeadLetterQueue"),
        AttributeNames=["ApproximateNumberOfMessages"],
    )["Attributes"]["ApproximateNumberOfMessages"]
    return OutputSummary(
        products=products,
        files=dict(sorted(Counter(posixpath.dirname(key) for key in keys).items())),
        dead_letters=int(dead),
    )


def list_keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    """Every object key under ``prefix`` in ``bucket``."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]
