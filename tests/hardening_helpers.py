"""Shared pieces of the hardening matrix: case tables, the outcome summary, the emulation's
invariants (nothing half-published, every scene accounted for) and uploads under other names."""

from __future__ import annotations

import json
import logging
import posixpath
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from handlers.objects import list_keys
from handlers.scene_state import PUBLISHED
from infra.emulation.fault_proxy import FaultProxy
from infra.emulation.runtime import Emulation

REFUSED: Final[str] = "refused with reason"
RETRIED: Final[str] = "retried and succeeded"
DEAD_LETTERED: Final[str] = "dead-lettered with reason"
PROCESSED: Final[str] = "processed"
OUTCOMES: Final[tuple[str, ...]] = (REFUSED, RETRIED, DEAD_LETTERED, PROCESSED)
SCENE: Final[str] = "S2A_MSIL1C_20240715T102021_N0510_R008_T32TQM_20240715T115021"
"""The name of the simulated product (``SceneSpec`` defaults); other scenes vary its orbit."""
INBOX: Final[str] = "inbox"
DEAD_LETTER_POLLS: Final[int] = 10


@dataclass(frozen=True)
class Case:
    """One row of a matrix: id, what to do, the outcome expected and a reason pattern."""

    id: str
    setup: Callable[..., Any] | None
    """Builds the case (``None``: the test function is the scenario)."""
    outcome: str
    reason: str = ""
    """Regular expression the recorded reason (error message or log) must match."""
    xfail: str | None = None
    """A bug in code this matrix does not own: the case asserts the correct behaviour."""


@dataclass
class Summary:
    """Cases per outcome, written as JSON and printed when the module ends."""

    name: str
    results: dict[str, str] = field(default_factory=dict)
    scenes: Counter[str] = field(default_factory=Counter)

    def record(self, case: Case, passed: bool = True) -> None:
        """Record ``case``: first as failed (or as a known bug), then as passed at its end."""
        failed = f"known bug, xfail ({case.outcome})" if case.xfail else f"FAILED ({case.outcome})"
        self.results[case.id] = case.outcome if passed else failed

    def write(self, folder: Path) -> Path:
        counts = Counter(self.results.values())
        report = {
            "matrix": self.name,
            "cases": len(self.results),
            "per_outcome": dict(sorted(counts.items())),
            **({"scenes": dict(self.scenes)} if self.scenes else {}),
            "results": self.results,
        }
        path = folder / f"{self.name}.json"
        path.write_text(json.dumps(report, indent=2))
        print(f"\n{self.name}: {json.dumps({k: v for k, v in report.items() if k != 'results'})}")
        return path


def scene_name(orbit: int) -> str:
    """:data:`SCENE` with relative orbit ``orbit`` (a distinct scene id of the same pixels)."""
    return SCENE.replace("_R008_", f"_R{orbit:03d}_")


def upload_as(emulation: Emulation, safe: Path, name: str, prefix: str = INBOX) -> str:
    """Upload the SAFE folder ``safe`` as ``prefix/<name>.SAFE/``, ``manifest.safe`` last."""
    s3, bucket = emulation.client("s3"), emulation.bucket("InputBucket")
    files = sorted(p for p in safe.rglob("*") if p.is_file())
    files.sort(key=lambda p: p.name == "manifest.safe")
    for path in files:
        s3.upload_file(str(path), bucket, f"{prefix}/{name}.SAFE/{path.relative_to(safe)}")
    return f"s3://{bucket}/{prefix}/{name}.SAFE"


def publish_prefix(scene: str) -> str:
    return f"sentinel-2-l2a/{scene}/"


def dead_letters(emulation: Emulation, queue: str) -> list[str]:
    """Bodies of the messages in the dead-letter queue ``queue`` (left visible)."""
    sqs, url = emulation.client("sqs"), emulation.queue_url(queue)
    count = int(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
    )
    bodies: dict[str, str] = {}
    handles = []
    for _ in range(DEAD_LETTER_POLLS):
        if len(bodies) >= count:
            break
        for message in sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60, WaitTimeSeconds=0
        ).get("Messages", []):
            bodies[message["MessageId"]] = message["Body"]
            handles.append(message["ReceiptHandle"])
    for handle in handles:  # visible again for the next look
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    return list(bodies.values())


def state_rows(emulation: Emulation) -> dict[str, dict[str, Any]]:
    """Scene id -> its state-table row (the scene rows, not powertools' idempotency rows)."""
    rows = emulation.client("dynamodb").scan(TableName=emulation.table("SceneStateTable"))["Items"]
    return {r["scene_id"]["S"]: r for r in rows if r["id"]["S"].startswith("scene#")}


def published_items(emulation: Emulation, scene: str) -> list[str]:
    """Keys of the STAC items under the scene's published prefix."""
    keys = list_keys(
        emulation.client("s3"), emulation.bucket("OutputBucket"), publish_prefix(scene)
    )
    return [k for k in keys if posixpath.dirname(k) + "/" == publish_prefix(scene) and _item(k)]


def _item(key: str) -> bool:
    return key.endswith(".json")


def item_writes(proxy: FaultProxy, emulation: Emulation, scene: str) -> int:
    """Successful writes of a STAC item under the scene's published prefix (through the proxy)."""
    pattern = f"^/{re.escape(emulation.bucket('OutputBucket'))}/{re.escape(publish_prefix(scene))}"
    return sum(
        1
        for r in proxy.requests("PUT", pattern + r"[^/]+\.json$")
        if r.outcome == "200" and "?" not in r.path
    )


def check_invariants(
    emulation: Emulation, scene: str, *, expect: str, proxy: FaultProxy | None = None
) -> str:
    """Assert the two invariants for ``scene``; return how it is accounted for.

    No partial publication: the published prefix is empty, or holds exactly one STAC item (and
    its assets). Accounted for: published exactly once (state ``PUBLISHED`` naming the item, one
    successful item write when ``proxy`` saw the traffic), or its message is in a dead-letter
    queue. ``expect`` is ``"published"`` or ``"dead-lettered"``.
    """
    keys = list_keys(
        emulation.client("s3"), emulation.bucket("OutputBucket"), publish_prefix(scene)
    )
    items = published_items(emulation, scene)
    assert not keys or len(items) == 1, f"{scene}: partial publication {sorted(keys)[:5]}"
    row = state_rows(emulation).get(scene)
    published = row is not None and row["status"]["S"] == PUBLISHED
    dead = [
        q
        for q in ("ArrivalDeadLetterQueue", "ProcessingDeadLetterQueue")
        if any(scene in body for body in dead_letters(emulation, q))
    ]
    if expect == "published":
        assert row is not None and published, f"{scene}: not published ({row})"
        assert len(items) == 1, f"{scene}: {len(items)} items under the published prefix"
        assert row["item_uri"]["S"].endswith(items[0]), scene
        assert not dead, f"{scene}: published but also dead-lettered in {dead}"
        if proxy is not None:
            assert item_writes(proxy, emulation, scene) == 1, f"{scene}: item written twice"
        return "published"
    assert expect == "dead-lettered", expect
    assert not published and not keys, f"{scene}: dead-lettered yet published {keys[:3]}"
    assert len(dead) == 1, f"{scene}: in no dead-letter queue (or in both)"
    return dead[0]


class LogCapture(logging.Handler):
    """Collects the formatted records (tracebacks included) of some loggers at DEBUG."""

    LOGGERS: Final = ("infra.emulation.event_source", "aws_lambda_powertools.utilities.batch")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        self._levels: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))

    def __enter__(self) -> LogCapture:
        for name in self.LOGGERS:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.setLevel(logging.DEBUG)
            logger.addHandler(self)
        return self

    def __exit__(self, *_: object) -> None:
        for name, level in self._levels.items():
            logging.getLogger(name).removeHandler(self)
            logging.getLogger(name).setLevel(level)

    def find(self, *patterns: str) -> list[str]:
        """The records that match every pattern (``re.search``)."""
        return [r for r in self.records if all(re.search(p, r, re.S) for p in patterns)]
