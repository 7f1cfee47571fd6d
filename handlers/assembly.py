"""Assembly function: one assembly-queue message -> one fanned-out scene published.

The message (:class:`handlers.fanout.FanOutRun`) is queued by the strip invocation that
completed the run's strip groups. :func:`core.fanout.assemble_tile` mosaics the part files
into the scene's cloud product (and SAFE, with ``OUTPUT_FORMATS=cog,safe``) under the run's
staging prefix, exactly as :func:`core.pipeline.process_scene` writes it in one invocation, and
:class:`handlers.publish.Publisher` publishes it as the processor does (assets copied, item
last, indexed, queued for the static catalog); publishing deletes the run's plan and parts with
the rest of the scene's staging prefix.

Runs are idempotent per scene, version and fan-out run (powertools, DynamoDB persistence): a
second assembly message of the same run, which a redelivered last group sends, is answered from
the first one's record. A message of a run that is not the scene's current one, or whose groups
are not all done, is refused (and dead-lettered after ``maxReceiveCount`` deliveries).
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
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from core.config.gipp import load_gipp
from core.errors import ProcessingError
from core.fanout import assemble_tile
from handlers import scene_state
from handlers.fanout import FanOutRun
from handlers.publish import Publisher
from handlers.settings import ProcessorSettings, processing_options, too_little_time

settings = ProcessorSettings.from_env()
logger = Logger()
tracer = Tracer()
metrics = Metrics()
batch = BatchProcessor(event_type=EventType.SQS, logger=logging.getLogger(logger.name))
idempotency = IdempotencyConfig(
    event_key_jmespath="[scene_id, version, run_id]",
    expires_after_seconds=settings.idempotency_expiry_s,
)
dynamodb = boto3.client("dynamodb")
publisher = Publisher(settings, s3=boto3.client("s3"), dynamodb=dynamodb, sqs=boto3.client("sqs"))
gipp = load_gipp()


@idempotent_function(
    data_keyword_argument="run",
    persistence_store=DynamoDBPersistenceLayer(table_name=settings.state_table),
    config=idempotency,
)
def assemble_and_publish(run: dict[str, Any]) -> dict[str, str]:
    """Assemble and publish the scene of one fan-out run (:meth:`FanOutRun.to_dict`)."""
    fan_out = FanOutRun.from_dict(run, source="assembly", output_bucket=settings.output_bucket)
    scene_id = fan_out.scene_id
    progress = scene_state.fan_out_progress(
        dynamodb,
        settings.state_table,
        scene_id=scene_id,
        version=fan_out.version,
        run_id=fan_out.run_id,
    )
    if not progress.complete:
        raise ProcessingError(
            f"run {fan_out.run_id} is not the scene's current run or has groups left "
            f"({len(progress.done)} of {progress.total} done)",
            path=fan_out.plan.input_uri,
        )
    staging = publisher.staging_uri(scene_id, fan_out.run_id)
    outputs = publisher.outputs(scene_id, staging)
    options = processing_options(settings.mode, fan_out.plan.input_uri)
    result = assemble_tile(
        fan_out.plan, fan_out.parts_uri, fan_out.groups, outputs, options=options, gipp=gipp
    )
    published = publisher.publish(scene_id, staging, result)
    metrics.add_metric(name="ScenesPublished", unit=MetricUnit.Count, value=1)
    return published


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> None:
    """Assemble and publish the scene of one message, unless too little time is left."""
    source = f"SQS message {record.message_id}"
    run = FanOutRun.from_json(record.body, source=source, output_bucket=settings.output_bucket)
    remaining_ms = lambda_context.get_remaining_time_in_millis()
    refusal = too_little_time(remaining_ms, settings.min_remaining_s, path=run.plan.input_uri)
    if refusal is not None:
        raise refusal
    result = assemble_and_publish(run=run.to_dict())
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
