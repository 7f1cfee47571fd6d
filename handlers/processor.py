"""Processor function: one processing-queue work message -> one published scene.

The work message (:class:`handlers.events.WorkMessage`, queued by the dispatcher) is checked,
then :func:`core.pipeline.process_scene` writes the scene's COGs, thumbnail and STAC item (and,
with ``OUTPUT_FORMATS=cog,safe``, the Sen2Cor SAFE product) under a staging prefix unique to the
run, ``s3://<output>/staging/<scene>/<run id>/``, with asset hrefs already pointing at the
published prefix ``s3://<output>/<collection>/<scene>/``. Publishing is a server-side copy of
every staged asset to the same relative key under the published prefix, then the STAC item
(given its ``collection``) is written there, last; then the item is indexed
(:class:`handlers.stac_index.StacIndex`) and queued for the static catalog
(:class:`handlers.catalog_writer.CatalogEntry`), the scene is marked ``PUBLISHED``, objects of
earlier attempts under the published prefix are removed and the scene's staging prefix is
deleted. The item is the commit point: a run that dies earlier leaves no item, and its retry
rewrites the same keys.

Runs are idempotent per scene id and software version (powertools, DynamoDB persistence). A
message is refused untouched (and retried) when less than ``MIN_REMAINING_SECONDS`` of the
invocation is left; any failure propagates, so the message returns to the queue and, after
``maxReceiveCount`` deliveries, goes to the processing dead-letter queue.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Set
from typing import Any

import boto3
import pystac
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
from core.errors import ProcessingError
from core.pipeline import SceneOutputs, process_scene
from core.stac.collection import create_collection
from handlers import scene_state
from handlers.catalog_writer import CatalogEntry
from handlers.events import WorkMessage
from handlers.objects import delete_keys, list_keys, split_uri
from handlers.settings import ProcessorSettings
from handlers.stac_index import StacIndex

settings = ProcessorSettings.from_env()
logger = Logger()
tracer = Tracer()
metrics = Metrics()
batch = BatchProcessor(event_type=EventType.SQS, logger=logging.getLogger(logger.name))
"""Logs why a record failed (powertools' own JSON handler is on the service's standard logger)."""
idempotency = IdempotencyConfig(
    event_key_jmespath="[scene_id, version]", expires_after_seconds=settings.idempotency_expiry_s
)
s3 = boto3.client("s3")
dynamodb = boto3.client("dynamodb")
sqs = boto3.client("sqs")
gipp = load_gipp()
ITEM_MEDIA_TYPE = pystac.MediaType.GEOJSON


@idempotent_function(
    data_keyword_argument="scene",
    persistence_store=DynamoDBPersistenceLayer(table_name=settings.state_table),
    config=idempotency,
)
def process_and_publish(scene: dict[str, str], run_id: str) -> dict[str, str]:
    """Process one scene (``scene_id``, ``version``, ``input_uri``) once per software version."""
    scene_id = scene["scene_id"]
    staging = f"{settings.staging_uri(scene_id)}{run_id}/"
    publish = settings.publish_uri(scene_id)
    logger.info("processing", extra=scene | {"staging": staging})
    options = ProcessingOptions(input_dir=scene["input_uri"], sc_only=settings.mode == "sc_only")
    outputs = SceneOutputs(
        cloud_uri=staging,
        publish_uri=publish,
        safe_dir=staging if "safe" in settings.output_formats else None,
        collection_id=settings.collection_id,
        collection_href=settings.collection_uri(),
    )
    result = process_scene(scene["input_uri"], outputs, options, gipp)
    item = result.cloud.item.to_dict(include_self_link=False, transform_hrefs=False)
    put_collection()
    published = publish_staged(staging, publish, result.cloud.item_uri, item)
    item_uri = published[-1]
    StacIndex.from_env().put_item(item)
    entry = CatalogEntry(item_uri, item["id"], settings.collection_id, __version__)
    entry.send(sqs, settings.catalog_queue_url)
    scene_state.mark_published(
        dynamodb, settings.state_table, scene_id=scene_id, version=__version__, item_uri=item_uri
    )
    delete_objects(publish, keep=set(published))
    delete_objects(settings.staging_uri(scene_id))  # this run's and earlier failed runs' files
    metrics.add_metric(name="ScenesPublished", unit=MetricUnit.Count, value=1)
    return {"scene_id": scene_id, "item_id": item["id"], "item_uri": item_uri}


def put_collection() -> None:
    """Write the collection document the items link to (the same document at every call)."""
    collection = create_collection(collection_id=settings.collection_id)
    bucket, key = split_uri(settings.collection_uri())
    body = json.dumps(collection.to_dict(include_self_link=False, transform_hrefs=False))
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")


def publish_staged(staging: str, publish: str, staged_item: str, item: dict[str, Any]) -> list[str]:
    """Copy every object under ``staging`` but the item ``staged_item`` to the same relative key
    under ``publish`` (server side), then write ``item`` last; return the published URIs, item last.

    If the copy or the item write fails and the scene had no published item before, the assets
    copied so far are removed again (best effort) before the error propagates: a scene is never
    left half-published under its final prefix.
    """
    bucket, staging_key = split_uri(staging)
    _, publish_key = split_uri(publish)
    item_key = split_uri(staged_item)[1]
    keys = list_keys(s3, bucket, staging_key)
    if item_key not in keys:
        raise ProcessingError("the STAC item is not under the staging prefix", path=staged_item)
    target = publish_key + item_key.removeprefix(staging_key)
    republish = target in list_keys(s3, bucket, publish_key)
    copied: list[str] = []
    try:
        for key in keys:
            if key != item_key:
                copied.append(publish_key + key.removeprefix(staging_key))
                s3.copy({"Bucket": bucket, "Key": key}, bucket, copied[-1])
        s3.put_object(
            Bucket=bucket, Key=target, Body=json.dumps(item).encode(), ContentType=ITEM_MEDIA_TYPE
        )
    except Exception:
        if not republish:
            logger.warning("publish failed: removing the copied assets", extra={"scene": publish})
            delete_keys(s3, bucket, copied)
        raise
    return [*(f"s3://{bucket}/{key}" for key in copied), f"s3://{bucket}/{target}"]


def delete_objects(prefix: str, *, keep: Set[str] = frozenset()) -> None:
    """Delete every object under the ``s3://`` ``prefix`` whose URI is not in ``keep``.

    Under the published prefix this removes what earlier attempts left (a SAFE named after
    another generation time, assets the product no longer has).
    """
    bucket, key_prefix = split_uri(prefix)
    keys = [k for k in list_keys(s3, bucket, key_prefix) if f"s3://{bucket}/{k}" not in keep]
    delete_keys(s3, bucket, keys)


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> None:
    """Process the scene of one work message, unless too little invocation time is left."""
    metrics.add_metric(name="WorkReceived", unit=MetricUnit.Count, value=1)
    work = WorkMessage.from_json(record.body, source=f"SQS message {record.message_id}")
    remaining_s = lambda_context.get_remaining_time_in_millis() / 1000
    if remaining_s < settings.min_remaining_s:
        metrics.add_metric(name="ScenesDeferred", unit=MetricUnit.Count, value=1)
        raise ProcessingError(
            f"only {remaining_s:.0f} s left in the invocation, {settings.min_remaining_s} s "
            "needed to start: left for a later delivery",
            path=work.input_uri,
        )
    scene = {"scene_id": work.scene_id, "version": __version__, "input_uri": work.input_uri}
    result = process_and_publish(scene=scene, run_id=lambda_context.aws_request_id)
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
