"""Strip function: one strip-queue message -> one strip group of a fanned-out tile corrected.

The message (:class:`handlers.fanout.StripTask`, queued by the processor) names the run's tile
plan and the group's strips; :func:`core.fanout.correct_strips` writes their BOA, AOT, WVP and
TCI part files under the run's parts prefix. The group is then counted done in the scene-state
table (:func:`handlers.scene_state.mark_group_done`, a conditional update: a redelivered group
neither runs again nor counts twice) and the report that completes the run queues it on the
assembly queue. A group of a run the scene has moved on from (a retried processor planned it
again) is dropped. Failures propagate: the message is retried and, after ``maxReceiveCount``
deliveries, goes to the strip dead-letter queue; the scene is then not published.
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

from core.config.gipp import load_gipp
from core.fanout import correct_strips
from handlers import scene_state
from handlers.fanout import StripTask
from handlers.settings import StripSettings, processing_options, too_little_time

settings = StripSettings.from_env()
logger = Logger()
tracer = Tracer()
metrics = Metrics()
batch = BatchProcessor(event_type=EventType.SQS, logger=logging.getLogger(logger.name))
dynamodb = boto3.client("dynamodb")
sqs = boto3.client("sqs")
gipp = load_gipp()


def run_group(task: StripTask) -> scene_state.GroupProgress:
    """Correct the group's strips (unless the run counted it already) and count it done."""
    run = task.run
    key = {"scene_id": run.scene_id, "version": run.version, "run_id": run.run_id}
    before = scene_state.fan_out_progress(dynamodb, settings.state_table, **key)
    if not before.current:
        return before  # superseded: nothing to do
    if task.group in before.done:
        logger.info("group already done", extra=key | {"group": task.group})
    else:
        options = processing_options(settings.mode, run.plan.input_uri)
        correct_strips(run.plan, task.strips, run.parts_uri, options, gipp)
    return scene_state.mark_group_done(dynamodb, settings.state_table, group=task.group, **key)


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> None:
    """Run the strip group of one message; queue the assembly when it completes the run."""
    source = f"SQS message {record.message_id}"
    task = StripTask.from_json(record.body, source=source, output_bucket=settings.output_bucket)
    remaining_ms = lambda_context.get_remaining_time_in_millis()
    refusal = too_little_time(remaining_ms, settings.min_remaining_s, path=task.run.plan.input_uri)
    if refusal is not None:
        raise refusal
    progress = run_group(task)
    extra = {"scene_id": task.run.scene_id, "group": task.group, "done": len(progress.done)}
    if not progress.current:
        logger.warning("group of a superseded run dropped", extra=extra)
        return
    metrics.add_metric(name="StripGroupsDone", unit=MetricUnit.Count, value=progress.counted)
    logger.info("group done", extra=extra | {"total": progress.total})
    # A redelivery of the last group queues the assembly again (its first report may have died
    # before sending); the assembly is idempotent per run.
    if progress.complete and not progress.published:
        sqs.send_message(QueueUrl=settings.assembly_queue_url, MessageBody=task.run.to_json())


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """SQS batch entry point; failed records are reported back (``ReportBatchItemFailures``)."""
    return process_partial_response(
        event=event, record_handler=record_handler, processor=batch, context=context
    )
