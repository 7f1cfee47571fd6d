"""End to end on the emulated stack: S3 upload -> notification -> arrival queue -> dispatcher ->
processing queue -> processor -> published COGs + STAC item -> catalog index -> STAC API, and
catalog FIFO queue -> catalog writer -> static STAC catalog tree.

Every resource comes from ``template.yaml`` and lives on moto's HTTP server; the functions run
behind pollers that delete, retry and dead-letter messages as Lambda's SQS mappings do, and the
STAC API is the catalog function behind a local HTTP server.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import boto3
import numpy as np
import pystac
import pystac_client
import pytest
import rasterio
from botocore.exceptions import ClientError

from core import __version__
from core.config.gipp import load_gipp
from core.config.options import ProcessingOptions
from core.pipeline import SceneOutputs, process_scene
from core.simulate.product import simulate_product
from core.simulate.scene import SceneSpec
from core.stac.validate import validate_stac
from handlers.objects import list_keys
from handlers.scene_state import PUBLISHED, state_id
from handlers.stac_index import StacIndex, parse_datetime
from infra.emulation import stac_api
from infra.emulation.demo import (
    CATALOG_WRITER_EVENT,
    PROCESSOR_EVENT,
    published_item_uris,
    read_json,
    summarize_output,
    upload_safe,
)
from infra.emulation.event_source import drain
from infra.emulation.runtime import Emulation, emulated_stack

TIMEOUT_S = 180
DEAD_LETTER_POLLS = 10


@pytest.fixture
def emulation(moto_endpoint):
    with emulated_stack(endpoint=moto_endpoint) as running:
        yield running


@pytest.fixture(scope="module")
def safe(tmp_path_factory) -> Path:
    return Path(simulate_product(str(tmp_path_factory.mktemp("l1c")), SceneSpec(size=60, seed=11)))


@pytest.fixture(scope="module")
def local_run(safe, tmp_path_factory) -> Path:
    """The same scene processed by the core library into a local folder (the reference)."""
    folder = tmp_path_factory.mktemp("local")
    options = ProcessingOptions(input_dir=str(safe))
    process_scene(str(safe), SceneOutputs(cloud_uri=str(folder)), options, load_gipp())
    return folder


def _zip(safe: Path, archive: Path, *, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in safe.rglob("*") if p.is_file()):
            zf.write(path, path.relative_to(safe.parent).as_posix())
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return archive


@pytest.fixture(scope="module")
def later_safe(tmp_path_factory) -> Path:
    """A second scene of the same tile, five days later."""
    folder = str(tmp_path_factory.mktemp("l1c-later"))
    spec = SceneSpec(size=60, seed=12, sensing_time=datetime(2024, 7, 20, 10, 20, 21))
    return Path(simulate_product(folder, spec))


def _publish_prefix(emulation: Emulation, scene: str) -> str:
    return f"{os.environ['COLLECTION_ID']}/{scene}/"


def _dead_letters(emulation: Emulation, queue: str) -> list[dict]:
    """The messages of the dead-letter queue ``queue``, hidden from later receives.

    A message moved there keeps the visibility timeout of the receive that moved it, so the
    queue is polled until its count of messages is received.
    """
    sqs = emulation.client("sqs")
    url = emulation.queue_url(queue)
    count = int(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
    )
    messages: list[dict] = []
    for _ in range(DEAD_LETTER_POLLS):
        if len(messages) >= count:
            break
        messages += sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageSystemAttributeNames=["All"],
            VisibilityTimeout=60,
            WaitTimeSeconds=1,
        ).get("Messages", [])
    return messages


def test_uploaded_l1c_becomes_a_searchable_item_with_cog_assets(emulation, safe, local_run):
    upload_safe(emulation, safe, emulation.bucket("InputBucket"))
    drain(emulation.mappings.values(), TIMEOUT_S)

    summary = summarize_output(emulation)
    assert set(summary.dead_letters.values()) == {0}
    (item_uri,) = summary.items
    bucket = emulation.bucket("OutputBucket")
    prefix = _publish_prefix(emulation, safe.stem)
    assert item_uri.startswith(f"s3://{bucket}/{prefix}")
    s3 = emulation.client("s3")
    published = {k.removeprefix(prefix) for k in list_keys(s3, bucket, prefix)}
    assert published == {p.name for p in local_run.iterdir()}  # the library's files, no more
    assert list_keys(s3, bucket, "staging/") == []

    item = read_json(emulation, item_uri)
    local_item = json.loads((local_run / item_uri.rsplit("/", 1)[1]).read_text())
    assert item["id"] == local_item["id"]
    assert item["properties"]["eo:cloud_cover"] == local_item["properties"]["eo:cloud_cover"]
    scl = item["assets"]["scl"]
    assert scl["href"] == f"s3://{bucket}/{prefix}{Path(local_item['assets']['scl']['href']).name}"
    body = s3.get_object(Bucket=bucket, Key=scl["href"].split("/", 3)[3])["Body"].read()
    with (
        rasterio.MemoryFile(body) as memory,
        memory.open() as published_scl,
        rasterio.open(local_item["assets"]["scl"]["href"]) as reference,
    ):
        assert np.array_equal(published_scl.read(), reference.read())
        assert published_scl.profile["blockxsize"] == reference.profile["blockxsize"]

    index = StacIndex(emulation.table("CatalogIndexTable"), client=emulation.client("dynamodb"))
    assert index.get_item(item["collection"], item["id"]) == item
    state = emulation.client("dynamodb").get_item(
        TableName=emulation.table("SceneStateTable"),
        Key={"id": {"S": state_id(safe.stem, __version__)}},
    )["Item"]
    assert state["status"]["S"] == PUBLISHED and state["item_uri"]["S"] == item_uri

    server, url = stac_api.serve(env=emulation.environment(stac_api.FUNCTION))
    try:
        client = pystac_client.Client.open(url)
        when = parse_datetime(item["properties"]["datetime"], "item")
        window = (
            f"{(when - timedelta(hours=1)).isoformat()}/{(when + timedelta(hours=1)).isoformat()}"
        )
        cloud = item["properties"]["eo:cloud_cover"]
        hits = client.search(
            bbox=item["bbox"], datetime=window, query={"eo:cloud_cover": {"lte": cloud}}
        )
        assert [hit.id for hit in hits.items()] == [item["id"]]
        elsewhere = [-60.0, -10.0, -59.0, -9.0]
        assert list(client.search(bbox=elsewhere, datetime=window).items()) == []
        clearer = client.search(bbox=item["bbox"], query={"eo:cloud_cover": {"lt": cloud}})
        assert list(clearer.items()) == []
    finally:
        server.shutdown()
        server.server_close()


def test_the_sen2cor_safe_is_published_beside_the_item_when_asked(safe, moto_endpoint):
    with emulated_stack(
        parameters={"OutputFormats": "cog,safe"}, endpoint=moto_endpoint
    ) as emulation:
        upload_safe(emulation, safe, emulation.bucket("InputBucket"))
        drain(emulation.mappings.values(), TIMEOUT_S)
        (item_uri,) = published_item_uris(emulation)
        s3, out = emulation.client("s3"), emulation.bucket("OutputBucket")
        prefix = _publish_prefix(emulation, safe.stem)
        keys = [k.removeprefix(prefix) for k in list_keys(s3, out, prefix)]
        manifests = [k for k in keys if k.endswith("/manifest.safe")]
        (manifest,) = manifests
        name = manifest.split("/")[0]
        assert name.startswith(safe.stem[:11].replace("MSIL1C", "MSIL2A"))
        assert f"{name}/MTD_MSIL2A.xml" in keys
        assert any(k.startswith(f"{name}/GRANULE/") and "SCL_20m" in k for k in keys)
        assert item_uri.split("/", 3)[3].removeprefix(prefix) in keys
        assert list_keys(s3, out, "staging/") == []


def test_a_zipped_l1c_arriving_twice_is_processed_once(emulation, safe, tmp_path):
    archive = _zip(safe, tmp_path / f"{safe.stem}.zip")
    s3 = emulation.client("s3")
    for key in (f"a/{archive.name}", f"b/{archive.name}"):  # two arrivals of one scene
        s3.upload_file(str(archive), emulation.bucket("InputBucket"), key)
    handled = drain(emulation.mappings.values(), TIMEOUT_S)
    # Dispatcher: the s3:TestEvent sent when the notification was set, then the two arrivals;
    # processor: one work message; catalog writer: one item.
    assert handled == 5
    summary = summarize_output(emulation)
    assert set(summary.dead_letters.values()) == {0}
    (item_uri,) = summary.items
    assert f"/{safe.stem}/" in item_uri
    assert read_json(emulation, item_uri)["links"]  # derived_from the L1C at least


def test_failing_scenes_are_dead_lettered_and_the_rest_of_the_batch_succeeds(
    emulation, safe, tmp_path
):
    bucket = emulation.bucket("InputBucket")
    s3 = emulation.client("s3")
    # A zip whose name is a valid L1C but which holds a path-traversal member: refused by the
    # dispatcher. A SAFE with truncated metadata: queued, then fails in the processor.
    hostile_name = safe.stem.replace("_R008_", "_R009_")
    hostile = _zip(safe, tmp_path / f"{hostile_name}.zip", extra={"../../evil.txt": b"x"})
    corrupt = tmp_path / "corrupt" / safe.name.replace("_R008_", "_R010_")
    shutil.copytree(safe, corrupt)
    metadata = corrupt / "MTD_MSIL1C.xml"
    metadata.write_bytes(metadata.read_bytes()[: metadata.stat().st_size // 2])
    s3.upload_file(str(hostile), bucket, f"inbox/{hostile.name}")
    upload_safe(emulation, corrupt, bucket)
    upload_safe(emulation, safe, bucket)
    drain(emulation.mappings.values(), TIMEOUT_S)

    (refused,) = _dead_letters(emulation, "ArrivalDeadLetterQueue")
    assert json.loads(refused["Body"])["Records"][0]["s3"]["object"]["key"].endswith(hostile.name)
    receives = int(refused["Attributes"]["ApproximateReceiveCount"])
    max_receive = int(emulation.stack.ref("MaxReceiveCount"))
    assert receives == max_receive + 1  # maxReceiveCount deliveries, plus the receive above
    (failed,) = _dead_letters(emulation, "ProcessingDeadLetterQueue")
    assert json.loads(failed["Body"])["scene_id"] == corrupt.stem
    (item_uri,) = published_item_uris(emulation)
    assert f"/{safe.stem}/" in item_uri
    out = emulation.bucket("OutputBucket")
    for scene in (hostile_name, corrupt.stem):
        assert list_keys(s3, out, _publish_prefix(emulation, scene)) == []
        assert list_keys(s3, out, f"staging/{scene}/") == []


def test_a_crash_before_the_item_is_written_publishes_nothing(safe, moto_endpoint, local_run):
    """An S3 fault on the write of the published STAC item: the assets copied before it are
    removed again, so nothing of the scene stays under its published prefix.

    The fault is raised by the AWS SDK itself (a botocore ``before-call`` hook on the default
    session, which the functions' clients are created from), not by patching sen2cloud code.
    """
    boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    failures: list[str] = []
    faulty = threading.Event()  # clients copy the session's hooks: switch the fault, not the hook
    faulty.set()

    def fail_item_write(params, **_):
        path = params["url_path"]
        is_item = path.endswith(".json") and not path.endswith("/collection.json")
        if faulty.is_set() and is_item and "/staging/" not in path:
            failures.append(params["url_path"])
            error = {"Error": {"Code": "InternalError", "Message": "injected"}}
            raise ClientError(error, "PutObject")

    session.events.register("before-call.s3.PutObject", fail_item_write)
    try:
        with emulated_stack(endpoint=moto_endpoint) as emulation:
            upload_safe(emulation, safe, emulation.bucket("InputBucket"))
            drain(emulation.mappings.values(), TIMEOUT_S)
            faulty.clear()

            max_receive = int(emulation.stack.ref("MaxReceiveCount"))
            assert len(failures) == max_receive
            out, prefix = emulation.bucket("OutputBucket"), _publish_prefix(emulation, safe.stem)
            s3 = emulation.client("s3")
            leftovers = list_keys(s3, out, prefix)
            assert leftovers == []  # the copied assets were removed again
            assert published_item_uris(emulation) == []
            index = StacIndex(emulation.table("CatalogIndexTable"), emulation.client("dynamodb"))
            assert index.collections() == []
            assert emulation.mappings[CATALOG_WRITER_EVENT].is_empty()  # nothing to browse
            assert list_keys(s3, out, "catalog/") == []

            # The runbook's redrive: the dead letter back on the processing queue.
            (dead,) = _dead_letters(emulation, "ProcessingDeadLetterQueue")
            emulation.client("sqs").send_message(
                QueueUrl=emulation.queue_url("ProcessingQueue"), MessageBody=dead["Body"]
            )
            drain([emulation.mappings[PROCESSOR_EVENT]], TIMEOUT_S)
            assert len(published_item_uris(emulation)) == 1
            republished = list_keys(s3, out, prefix)
            assert {k.removeprefix(prefix) for k in republished} == {
                p.name for p in local_run.iterdir()
            }
            assert list_keys(s3, out, "staging/") == []
    finally:
        session.events.unregister("before-call.s3.PutObject", fail_item_write)


@pytest.mark.parametrize("source", ["queue", "s3"])
def test_malformed_events_and_hostile_keys_are_refused(emulation, safe, source):
    sqs, s3 = emulation.client("sqs"), emulation.client("s3")
    bucket = emulation.bucket("InputBucket")
    zip_name = f"{safe.stem}.zip"
    hostile_keys = [
        f"..%2F{zip_name}",  # ../
        f"%2Fabsolute%2F{zip_name}",  # absolute
        "k" * 1021 + ".zip",  # over S3's 1024 bytes
        f"caf%E9%2F{zip_name}",  # not UTF-8
    ]
    if source == "queue":
        bodies = ["{not json", json.dumps({"Records": [{"s3": {}}]})] + [
            json.dumps({"Records": [{"s3": {"bucket": {"name": bucket}, "object": {"key": k}}}]})
            for k in hostile_keys
        ]
        for body in bodies:
            sqs.send_message(QueueUrl=emulation.queue_url("ArrivalQueue"), MessageBody=body)
        expected = len(bodies)
    else:  # keys S3 itself accepts, announced by its own notifications
        for key in (f"inbox/../{zip_name}", f"inbox//{zip_name}", f"inbox/./{zip_name}"):
            s3.put_object(Bucket=bucket, Key=key, Body=b"PK")
        expected = 3
    drain(emulation.mappings.values(), TIMEOUT_S)
    assert len(_dead_letters(emulation, "ArrivalDeadLetterQueue")) == expected
    assert list_keys(s3, emulation.bucket("OutputBucket")) == []
    assert summarize_output(emulation).dead_letters["ProcessingDeadLetterQueue"] == 0


TREE_RELS = ("root", "parent", "child", "item", "collection")


def test_published_scenes_join_the_static_catalog_tree(emulation, safe, later_safe, tmp_path):
    for product in (safe, later_safe):
        upload_safe(emulation, product, emulation.bucket("InputBucket"))
    drain(emulation.mappings.values(), TIMEOUT_S)
    assert set(summarize_output(emulation).dead_letters.values()) == {0}
    published = {
        (item := read_json(emulation, uri))["id"]: item for uri in published_item_uris(emulation)
    }
    assert len(published) == 2

    # the tree as a browser gets it: a copy of s3://<output>/catalog/ read by pystac
    s3, bucket = emulation.client("s3"), emulation.bucket("OutputBucket")
    for key in list_keys(s3, bucket, "catalog/"):
        target = tmp_path / key
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(target))
    documents = sorted(tmp_path.rglob("*.json"))
    assert len(documents) == 4  # catalog, collection, two items
    for path in documents:
        document = json.loads(path.read_text())
        validate_stac(document)
        for link in document["links"]:
            if link["rel"] in TREE_RELS:  # relative, and pointing at a document of the copy
                assert "://" not in link["href"] and not link["href"].startswith("/"), link
                assert (path.parent / link["href"]).resolve().is_file(), link
    catalog = pystac.Catalog.from_file(str(tmp_path / "catalog" / "catalog.json"))
    (collection,) = catalog.get_children()
    assert collection.id == os.environ["COLLECTION_ID"]
    items = {item.id: item for item in collection.get_items()}
    assert items.keys() == published.keys()
    for item_id, item in items.items():
        assert item.get_root() is catalog and item.get_parent() is collection
        assert item.to_dict(transform_hrefs=False)["assets"] == published[item_id]["assets"]
    moments = sorted(item.datetime for item in items.values())
    assert collection.extent.temporal.intervals[0][0] == moments[0]
