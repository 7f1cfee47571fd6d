"""Publish a staged scene: staging prefix -> published prefix, item last, then index and catalog.

The processor (one invocation) and the assembly function (the end of a fan-out) both end here.
Every staged asset is copied server side to the same relative key under the published prefix
``s3://<output>/<collection>/<scene>/``, then the STAC item is written there, last; then the
item is indexed (:class:`handlers.stac_index.StacIndex`) and queued for the static catalog
(:class:`handlers.catalog_writer.CatalogEntry`), the scene is marked ``PUBLISHED``, objects of
earlier attempts under the published prefix are removed and the scene's staging prefix is
deleted. The item is the commit point: a run that dies earlier leaves no item, and its retry
rewrites the same keys.
"""

from __future__ import annotations

import json
from collections.abc import Set
from dataclasses import dataclass
from typing import Any

import pystac
from aws_lambda_powertools import Logger

from core import __version__
from core.errors import ProcessingError
from core.pipeline import SceneOutputs, SceneResult
from core.stac.collection import create_collection
from handlers import scene_state
from handlers.catalog_writer import CatalogEntry
from handlers.objects import delete_keys, list_keys, split_uri
from handlers.settings import ProcessorSettings
from handlers.stac_index import StacIndex

logger = Logger(child=True)
ITEM_MEDIA_TYPE = pystac.MediaType.GEOJSON


@dataclass(frozen=True, slots=True)
class Publisher:
    """Publishes scenes with the settings and boto3 clients of one function instance."""

    settings: ProcessorSettings
    s3: Any
    dynamodb: Any
    sqs: Any

    def staging_uri(self, scene_id: str, run_id: str) -> str:
        """Where run ``run_id`` writes the scene's product, ``s3://<output>/staging/<scene>/<run>/``."""
        return f"{self.settings.staging_uri(scene_id)}{run_id}/"

    def outputs(self, scene_id: str, staging: str) -> SceneOutputs:
        """The outputs of a scene staged under ``staging``: hrefs point at its published prefix,
        the item links to the collection, the SAFE is written when ``OUTPUT_FORMATS`` asks."""
        return SceneOutputs(
            cloud_uri=staging,
            publish_uri=self.settings.publish_uri(scene_id),
            safe_dir=staging if "safe" in self.settings.output_formats else None,
            collection_id=self.settings.collection_id,
            collection_href=self.settings.collection_uri(),
        )

    def publish(self, scene_id: str, staging: str, result: SceneResult) -> dict[str, str]:
        """Publish the scene ``result`` staged under ``staging``; return its ids and item URI."""
        item = result.cloud.item.to_dict(include_self_link=False, transform_hrefs=False)
        publish = self.settings.publish_uri(scene_id)
        self.put_collection()
        published = self.publish_staged(staging, publish, result.cloud.item_uri, item)
        item_uri = published[-1]
        StacIndex.from_env().put_item(item)
        entry = CatalogEntry(item_uri, item["id"], self.settings.collection_id, __version__)
        entry.send(self.sqs, self.settings.catalog_queue_url)
        scene_state.mark_published(
            self.dynamodb,
            self.settings.state_table,
            scene_id=scene_id,
            version=__version__,
            item_uri=item_uri,
        )
        self.delete_objects(publish, keep=set(published))
        self.delete_objects(self.settings.staging_uri(scene_id))  # every run's staged files
        return {"scene_id": scene_id, "item_id": item["id"], "item_uri": item_uri}

    def put_collection(self) -> None:
        """Write the collection document the items link to (the same document at every call)."""
        collection = create_collection(collection_id=self.settings.collection_id)
        bucket, key = split_uri(self.settings.collection_uri())
        body = json.dumps(collection.to_dict(include_self_link=False, transform_hrefs=False))
        self.s3.put_object(
            Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json"
        )

    def publish_staged(
        self, staging: str, publish: str, staged_item: str, item: dict[str, Any]
    ) -> list[str]:
        """Copy every object under ``staging`` but the item ``staged_item`` to the same relative
        key under ``publish`` (server side), then write ``item`` last; return the published URIs,
        item last.

        If the copy or the item write fails and the scene had no published item before, the
        assets copied so far are removed again (best effort) before the error propagates: a
        scene is never left half-published under its final prefix.
        """
        bucket, staging_key = split_uri(staging)
        _, publish_key = split_uri(publish)
        item_key = split_uri(staged_item)[1]
        keys = list_keys(self.s3, bucket, staging_key)
        if item_key not in keys:
            raise ProcessingError("the STAC item is not under the staging prefix", path=staged_item)
        target = publish_key + item_key.removeprefix(staging_key)
        republish = target in list_keys(self.s3, bucket, publish_key)
        copied: list[str] = []
        try:
            for key in keys:
                if key != item_key:
                    copied.append(publish_key + key.removeprefix(staging_key))
                    self.s3.copy({"Bucket": bucket, "Key": key}, bucket, copied[-1])
            self.s3.put_object(
                Bucket=bucket,
                Key=target,
                Body=json.dumps(item).encode(),
                ContentType=ITEM_MEDIA_TYPE,
            )
        except Exception:
            if not republish:
                logger.warning(
                    "publish failed: removing the copied assets", extra={"scene": publish}
                )
                delete_keys(self.s3, bucket, copied)
            raise
        return [*(f"s3://{bucket}/{key}" for key in copied), f"s3://{bucket}/{target}"]

    def delete_objects(self, prefix: str, *, keep: Set[str] = frozenset()) -> None:
        """Delete every object under the ``s3://`` ``prefix`` whose URI is not in ``keep``.

        Under the published prefix this removes what earlier attempts left (a SAFE named after
        another generation time, assets the product no longer has).
        """
        bucket, key_prefix = split_uri(prefix)
        keys = [
            k for k in list_keys(self.s3, bucket, key_prefix) if f"s3://{bucket}/{k}" not in keep
        ]
        delete_keys(self.s3, bucket, keys)
