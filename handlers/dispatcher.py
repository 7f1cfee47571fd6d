"""Dispatcher function: arrival-queue messages -> one processing-queue work message per scene.

Each record (an S3 notification, or a message of the public Sentinel-2 L1C topic) is parsed and
checked (:mod:`handlers.events`) and gated cheaply, reading no more than the product name: the
product level (Level-1C only), the processing baseline (``MIN_L1C_BASELINE``), a zip's central
directory (hostile archives are refused) and duplicates (a conditional put on the scene-state
table, :mod:`handlers.scene_state`). Skipped objects succeed; malformed messages and hostile
keys or archives fail their record with the reason (``ReportBatchItemFailures``) and, after
``maxReceiveCount`` deliveries, go to the arrival dead-letter queue.
"""

from __future__ import annotations

import logging
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from core import __version__
from core.io import storage
from handlers import scene_state
from handlers.events import L1CArrival, WorkMessage, parse_arrivals
from handlers.settings import DispatcherSettings

settings = DispatcherSettings.from_env()
logger = Logger()
tracer = Tracer()
metrics = Metrics()
batch = BatchProcessor(event_type=EventType.SQS, logger=logging.getLogger(logger.name))
"""Logs why a record failed (powertools' own JSON handler is on the service's standard logger)."""
sqs = boto3.client("sqs")
dynamodb = boto3.client("dynamodb")
NOT_L1C = "not a Level-1C product"


def record_handler(record: SQSRecord) -> None:
    """Queue every new Level-1C scene ``record`` announces; skip the rest."""
    metrics.add_metric(name="ArrivalsReceived", unit=MetricUnit.Count, value=1)
    source = f"SQS message {record.message_id}"
    for announced in parse_arrivals(record.body, source=source, topic_bucket=settings.topic_bucket):
        arrival = announced.arrival
        reason = NOT_L1C if arrival is None else skip_reason(arrival)
        if arrival is None or reason is not None:
            logger.info("skipped", extra={"object": announced.uri, "reason": reason})
            metrics.add_metric(name="ObjectsSkipped", unit=MetricUnit.Count, value=1)
            continue
        dispatch(arrival, message_id=record.message_id)


def skip_reason(arrival: L1CArrival) -> str | None:
    """Why a Level-1C arrival is not queued (``None``: queue it).

    Raises
    ------
    UnsafeInputError
        A zipped arrival's central directory is hostile (path traversal, links, zip bomb).
    """
    baseline = arrival.name.processing_baseline
    if baseline < settings.min_baseline:
        return f"processing baseline {baseline} is older than {settings.min_baseline}"
    if arrival.product_uri.endswith(".zip"):
        storage.zip_names(arrival.product_uri)  # reads the central directory only
    return None


def dispatch(arrival: L1CArrival, *, message_id: str) -> None:
    """Claim the scene in the state table and queue its work message, once per version."""
    if not scene_state.claim(
        dynamodb,
        settings.state_table,
        arrival,
        version=__version__,
        message_id=message_id,
        requeue_after_s=settings.requeue_after_s,
    ):
        logger.info("duplicate: already queued or published", extra={"scene": arrival.scene_id})
        metrics.add_metric(name="DuplicatesSkipped", unit=MetricUnit.Count, value=1)
        return
    work = WorkMessage(arrival.scene_id, arrival.product_uri, __version__)
    sqs.send_message(QueueUrl=settings.processing_queue_url, MessageBody=work.to_json())
    logger.info("queued", extra={"scene": arrival.scene_id, "input": arrival.product_uri})
    metrics.add_metric(name="ScenesQueued", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """SQS batch entry point; failed records are reported back (``ReportBatchItemFailures``)."""
    return process_partial_response(
        event=event, record_handler=record_handler, processor=batch, context=context
    )
