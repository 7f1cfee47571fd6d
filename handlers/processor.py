"""Processor function: one processing-queue work message -> one published scene.

The work message (:class:`handlers.events.WorkMessage`, queued by the dispatcher) is checked,
then :func:`core.pipeline.process_scene` writes the scene's COGs, thumbnail and STAC item (and,
with ``OUTPUT_FORMATS=cog,safe``, the Sen2Cor SAFE product) under a staging prefix unique to the
run, ``s3://<output>/staging/<scene>/<run id>/``, with asset hrefs already pointing at the
published prefix ``s3://<output>/<collection>/<scene>/``, and :class:`handlers.publish.Publisher`
publishes it (assets copied, item last, indexed, queued for the static catalog).

A tile with more strips than ``FAN_OUT_STRIPS`` is not processed here but fanned out
(:mod:`handlers.fanout`): the processor plans it (:func:`core.fanout.plan_tile`), records the
run's strip groups in the scene-state table and queues one message per group on the strip
queue; the assembly function publishes the scene once every group is done.

Runs are idempotent per scene id and software version (powertools, DynamoDB persistence). A
message is refused untouched (and retried) when less than ``MIN_REMAINING_SECONDS`` of the
invocation is left; any failure propagates, so the message returns to the queue and, after
``maxReceiveCount`` deliveries, goes to the processing dead-letter queue.
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

from core import __version__
from core.config.gipp import load_gipp
from core.config.options import ProcessingOptions
from core.fanout import plan_tile
from core.io.block_reader import strip_windows
from core.pipeline import process_scene
from core.product.l1c import open_l1c
from handlers import scene_state
from handlers.events import WorkMessage
from handlers.fanout import FanOutRun, StripTask, context_uri, parts_uri, strip_groups
from handlers.publish import Publisher
from handlers.settings import (
    FanOutSettings,
    ProcessorSettings,
    processing_options,
    too_little_time,
)

settings = ProcessorSettings.from_env()
fan_out = FanOutSettings.from_env()
logger = Logger()
tracer = Tracer()
metrics = Metrics()
batch = BatchProcessor(event_type=EventType.SQS, logger=logging.getLogger(logger.name))
"""Logs why a record failed (powertools' own JSON handler is on the service's standard logger)."""
idempotency = IdempotencyConfig(
    event_key_jmespath="[scene_id, version]", expires_after_seconds=settings.idempotency_expiry_s
)
dynamodb = boto3.client("dynamodb")
sqs = boto3.client("sqs")
publisher = Publisher(settings, s3=boto3.client("s3"), dynamodb=dynamodb, sqs=sqs)
gipp = load_gipp()
TILE_STRIP_RESOLUTION = 10
"""Grid whose strips decide the fan-out (a strip is the same number of metres at every grid)."""


@idempotent_function(
    data_keyword_argument="scene",
    persistence_store=DynamoDBPersistenceLayer(table_name=settings.state_table),
    config=idempotency,
)
def process_and_publish(scene: dict[str, str], run_id: str) -> dict[str, str]:
    """Process one scene (``scene_id``, ``version``, ``input_uri``) once per software version,
    in this invocation or fanned out across strip invocations."""
    scene_id, input_uri = scene["scene_id"], scene["input_uri"]
    staging = publisher.staging_uri(scene_id, run_id)
    logger.info("processing", extra=scene | {"staging": staging})
    options = processing_options(settings.mode, input_uri)
    if settings.mode == "l2a" and fan_out.strips_per_task:  # plan_tile corrects, sc_only does not
        grid = open_l1c(input_uri).metadata.grids[TILE_STRIP_RESOLUTION]
        if fan_out.fans_out(len(strip_windows(grid))):
            return fan_out_scene(scene_id, input_uri, options, run_id)
    outputs = publisher.outputs(scene_id, staging)
    result = process_scene(input_uri, outputs, options, gipp)
    published = publisher.publish(scene_id, staging, result)
    metrics.add_metric(name="ScenesPublished", unit=MetricUnit.Count, value=1)
    return published


def fan_out_scene(
    scene_id: str, input_uri: str, options: ProcessingOptions, run_id: str
) -> dict[str, str]:
    """Plan the tile, record its strip groups and queue one strip task per group."""
    root = settings.staging_uri(scene_id)
    plan = plan_tile(input_uri, options, gipp, context_uri(root, run_id))
    groups = strip_groups(plan.strip_count, fan_out.strips_per_task)
    run = FanOutRun(scene_id, __version__, run_id, plan, groups, parts_uri(root, run_id))
    scene_state.start_fan_out(
        dynamodb,
        settings.state_table,
        scene_id=scene_id,
        version=__version__,
        run_id=run_id,
        groups=len(groups),
    )
    for group in range(len(groups)):
        sqs.send_message(
            QueueUrl=fan_out.strip_queue_url, MessageBody=StripTask(run, group).to_json()
        )
    metrics.add_metric(name="ScenesFannedOut", unit=MetricUnit.Count, value=1)
    logger.info("fanned out", extra={"scene_id": scene_id, "groups": len(groups)})
    return {"scene_id": scene_id, "run_id": run_id, "groups": str(len(groups))}


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> None:
    """Process the scene of one work message, unless too little invocation time is left."""
    metrics.add_metric(name="WorkReceived", unit=MetricUnit.Count, value=1)
    work = WorkMessage.from_json(record.body, source=f"SQS message {record.message_id}")
    remaining_ms = lambda_context.get_remaining_time_in_millis()
    refusal = too_little_time(remaining_ms, settings.min_remaining_s, path=work.input_uri)
    if refusal is not None:
        metrics.add_metric(name="ScenesDeferred", unit=MetricUnit.Count, value=1)
        raise refusal
    scene = {"scene_id": work.scene_id, "version": __version__, "input_uri": work.input_uri}
    result = process_and_publish(scene=scene, run_id=lambda_context.aws_request_id)
    logger.info("done", extra=result)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """SQS batch entry point; failed records are reported back (``ReportBatchItemFailures``)."""
    idempotency.register_lambda_context(context)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=batch, context=context
    )
