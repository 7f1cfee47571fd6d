"""Processor function: one SQS record (an S3 arrival) -> one L2A product in the output bucket.

Each record's S3 notification is parsed and checked (:mod:`handlers.events`), gated on the
product name (Level-1C only; anything else is skipped), then the L1C is read from S3 and
processed by :func:`core.pipeline.process_product`, which uploads the L2A SAFE with its
``manifest.safe`` last. Runs are idempotent per scene id and software version (DynamoDB); a
failure propagates, so the record returns to the queue and, after ``maxReceiveCount``
deliveries, goes to the dead-letter queue. Settings are read once per cold start.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from core import __version__
from core.config.gipp import load_gipp
from core.config.options import ProcessingOptions
from core.pipeline import process_product
from handlers.events import l1c_arrival, parse_notification
from handlers.settings import Settings

settings = Settings.from_env()
logger = Logger()
tracer = Tracer()
metrics = Metrics()
batch = BatchProcessor(event_type=EventType.SQS)
idempotency = IdempotencyConfig(
    event_key_jmespath="[scene_id, version]", expires_after_seconds=settings.idempotency_expiry_s
)
gipp = load_gipp()


@idempotent_function(
    data_keyword_argument="scene",
    persistence_store=DynamoDBPersistenceLayer(table_name=settings.idempotency_table),
    config=idempotency,
)
def process_scene(scene: dict[str, str]) -> dict[str, str]:
    """Process one L1C scene (``scene_id``, ``version``, ``input_uri``) once per version."""
    logger.info("processing", extra=scene)
    options = ProcessingOptions(
        input_dir=scene["input_uri"],
        output_dir=settings.output_uri,
        sc_only=settings.mode == "sc_only",
        cr_only=settings.mode == "cr_only",
    )
    product = process_product(scene["input_uri"], options, gipp)
    metrics.add_metric(name="ScenesProcessed", unit=MetricUnit.Count, value=1)
    return {"scene_id": scene["scene_id"], "product": product}


def record_handler(record: SQSRecord) -> None:
    """Process every Level-1C arrival named by ``record``; skip other objects."""
    metrics.add_metric(name="RecordsReceived", unit=MetricUnit.Count, value=1)
    for obj in parse_notification(record.body, source=f"SQS message {record.message_id}"):
        arrival = l1c_arrival(obj)
        if arrival is None:
            logger.info("skipped: not a Level-1C arrival", extra={"object": obj.uri})
            metrics.add_metric(name="ObjectsSkipped", unit=MetricUnit.Count, value=1)
            continue
        result = process_scene(
            scene={
                "scene_id": arrival.scene_id,
                "version": __version__,
                "input_uri": arrival.product_uri,
            }
        )
        logger.info("published", extra=result)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """SQS batch entry point; failed records are reported back (``ReportBatchItemFailures``)."""
    idempotency.register_lambda_context(context)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=batch, context=context
    )
