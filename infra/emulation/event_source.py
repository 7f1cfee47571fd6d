"""An SQS event source mapping as Lambda runs it, polling a real (emulated) queue.

Each poll receives up to ``batch_size`` messages, builds the SQS event Lambda would send, calls
the handler in-process and deletes the messages the handler did not report in
``batchItemFailures``. A failed message is not deleted: it reappears when its visibility timeout
ends, and the queue's redrive policy moves it to the dead-letter queue after
``maxReceiveCount`` receives. A handler that raises fails the whole batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from infra.emulation.context import EmulatedContext

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]
IDLE_SLEEP_S = 0.5
"""Pause between polls when every queue is idle."""


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll did: messages received and messages that failed (left on the queue)."""

    received: int
    failed: int


@dataclass(frozen=True, slots=True)
class EventSourceMapping:
    """A queue feeding a function, with the settings of its SAM ``SQS`` event."""

    sqs: Any
    """boto3 SQS client of the emulated endpoint."""
    queue_url: str
    queue_arn: str
    handler: Handler
    function_name: str
    timeout_s: int
    memory_mb: int
    batch_size: int = 10
    region: str = "us-east-1"

    def poll(self, wait_s: int = 1) -> PollResult:
        """Receive one batch, invoke the handler, delete what succeeded."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=wait_s,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return PollResult(0, 0)
        context = EmulatedContext(self.function_name, self.timeout_s, self.memory_mb, self.region)
        try:
            response = self.handler(sqs_event(messages, self.queue_arn, self.region), context)
            failed = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
        except Exception:
            log.exception("%s failed the whole batch", self.function_name)
            failed = {m["MessageId"] for m in messages}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        log.info("%s: %d received, %d failed", self.function_name, len(messages), len(failed))
        return PollResult(len(messages), len(failed))

    def is_empty(self) -> bool:
        """No visible and no in-flight message on the queue."""
        counts = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return all(int(v) == 0 for v in counts.values())


def drain(mappings: Iterable[EventSourceMapping], timeout_s: float) -> int:
    """Poll every mapping in turn until all their queues are empty; return messages handled.

    A message that fails stays in flight until its visibility timeout ends, so draining waits
    for retries and dead-lettering too.

    Raises
    ------
    TimeoutError
        A queue is not empty after ``timeout_s`` seconds.
    """
    mappings = list(mappings)
    deadline = time.monotonic() + timeout_s
    handled = 0
    while time.monotonic() < deadline:
        received = sum(m.poll(wait_s=0).received for m in mappings)
        handled += received
        if not received:
            if all(m.is_empty() for m in mappings):
                return handled
            time.sleep(IDLE_SLEEP_S)
    queues = ", ".join(m.queue_url for m in mappings if not m.is_empty())
    raise TimeoutError(f"{queues}: not drained after {timeout_s:.0f} s")


def run_forever(mappings: Iterable[EventSourceMapping], stop: threading.Event) -> None:
    """Poll every mapping in turn, as Lambda's pollers do, until ``stop`` is set."""
    mappings = list(mappings)
    while not stop.is_set():
        if not sum(m.poll(wait_s=0).received for m in mappings):
            stop.wait(IDLE_SLEEP_S)


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The SQS event Lambda builds from messages received with all their attributes."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }
