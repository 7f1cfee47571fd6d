"""Catalog-writer function: adds each published item to the static STAC catalog for browsing.

The processor queues a :class:`CatalogEntry` on a FIFO queue once an item is published and
indexed. This function reads the item from the output bucket and adds it with
:func:`core.stac.catalog.add_item` to the tree ``s3://<output>/catalog/`` (``catalog.json`` ->
``<collection>/collection.json`` -> ``<collection>/items/<id>/<id>.json``, relative links).
``add_item`` is a read-modify-write of the collection and catalog documents, so writes are
serialised: one message group per collection (in-order delivery, one batch in flight per
group), deduplicated on item id and software version, and a reserved concurrency of 1 so that
two collections never rewrite ``catalog.json`` at once. Adding an item again replaces it
(idempotent), so a redelivery is harmless. A FIFO batch stops at its first failure and reports
it and every later record as failed (order kept); after ``maxReceiveCount`` deliveries the
message goes to the catalog dead-letter queue.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Final

import pystac
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from core.errors import InputError
from core.io import storage
from core.stac.catalog import add_item
from core.stac.collection import create_collection
from handlers.events import check_key
from handlers.objects import S3_PREFIX, split_uri
from handlers.settings import CatalogWriterSettings
from handlers.stac_index import COLLECTION_ID

MAX_DEDUPLICATION_CHARS: Final[int] = 128
"""SQS limit on a ``MessageDeduplicationId``; longer ids are replaced by their SHA-256."""

logger = Logger()
tracer = Tracer()
metrics = Metrics()
batch = SqsFifoPartialProcessor()


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """The catalog-queue message for one published item."""

    item_uri: str
    """``s3://<output>/<collection>/<scene>/<item id>.json``, written by the processor."""
    item_id: str
    collection: str
    version: str
    """Software version that published the item."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def group_id(self) -> str:
        """FIFO message group: the collection (its items are added in order, one at a time)."""
        return self.collection

    def deduplication_id(self) -> str:
        """Item id and software version: the same publication queued twice is delivered once."""
        text = f"{self.item_id}#{self.version}"
        if len(text) > MAX_DEDUPLICATION_CHARS:
            return hashlib.sha256(text.encode()).hexdigest()
        return text

    def send(self, sqs: Any, queue_url: str) -> None:
        """Queue this entry on the FIFO queue ``queue_url``."""
        sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=self.to_json(),
            MessageGroupId=self.group_id(),
            MessageDeduplicationId=self.deduplication_id(),
        )

    @classmethod
    def from_json(cls, body: str, *, source: str) -> CatalogEntry:
        """Parse and check a catalog message; raise InputError / UnsafeInputError naming
        ``source``."""
        try:
            message = json.loads(body)
        except json.JSONDecodeError as err:
            raise InputError(f"the body is not JSON ({err})", path=source) from err
        fields = ("item_uri", "item_id", "collection", "version")
        if (
            not isinstance(message, dict)
            or set(message) != set(fields)
            or not all(isinstance(message[f], str) and message[f] for f in fields)
        ):
            raise InputError(f"catalog message must have the string fields {fields}", path=source)
        if not COLLECTION_ID.fullmatch(message["collection"]):
            raise InputError(f"invalid collection id {message['collection'][:80]!r}", path=source)
        _, key = split_uri(message["item_uri"])
        if not message["item_uri"].startswith(S3_PREFIX):
            raise InputError("item_uri is not an s3://bucket/key URI", path=source)
        check_key(key, source)
        return cls(**message)


def add_to_catalog(entry: CatalogEntry, settings: CatalogWriterSettings) -> str:
    """Add the published item of ``entry`` to the static catalog; return the URI written.

    Raises
    ------
    InputError
        The item is not a published item of the output bucket, or is not the item named.
    """
    bucket, key = split_uri(entry.item_uri)
    if bucket != settings.output_bucket or not key.startswith(f"{entry.collection}/"):
        raise InputError(
            f"not a published item of s3://{settings.output_bucket}/{entry.collection}/",
            path=entry.item_uri,
        )
    document = json.loads(storage.read_bytes(entry.item_uri))
    if document.get("id") != entry.item_id or document.get("collection") != entry.collection:
        raise InputError(
            f"the item is not {entry.item_id!r} of collection {entry.collection!r}",
            path=entry.item_uri,
        )
    item = pystac.Item.from_dict(document)
    collection = create_collection(collection_id=entry.collection)
    return add_item(settings.catalog_uri(), item, collection)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """SQS FIFO batch entry point; failed records (the first and all after it) are reported
    back (``ReportBatchItemFailures``)."""
    settings = CatalogWriterSettings.from_env()

    def record_handler(record: SQSRecord) -> None:
        entry = CatalogEntry.from_json(record.body, source=f"SQS message {record.message_id}")
        uri = add_to_catalog(entry, settings)
        metrics.add_metric(name="CatalogItemsWritten", unit=MetricUnit.Count, value=1)
        logger.info("added to the static catalog", extra={"item": entry.item_id, "uri": uri})

    return process_partial_response(
        event=event, record_handler=record_handler, processor=batch, context=context
    )
