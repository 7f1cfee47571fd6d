"""End to end on the emulated stack: S3 upload -> notification -> SQS -> processor -> output bucket.

Every resource comes from ``template.yaml`` and lives on moto's HTTP server; the processor runs
behind a poller that deletes, retries and dead-letters messages as Lambda's SQS mapping does.
"""

from __future__ import annotations

import json
import re
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from core.config.gipp import load_gipp
from core.config.options import ProcessingOptions
from core.pipeline import process_product
from core.simulate.product import simulate_product
from core.simulate.scene import SceneSpec
from infra.emulation.demo import PROCESSOR_EVENT, list_keys, summarize_output, upload_safe
from infra.emulation.runtime import emulated_stack


@pytest.fixture
def emulation():
    with emulated_stack() as running:
        yield running


def _simulate(folder: Path, **spec) -> Path:
    return Path(simulate_product(str(folder), SceneSpec(size=60, seed=11, **spec)))


def _without_generation_time(path: str) -> str:
    """The datastrip folder is named after the processing time, which differs between runs."""
    return re.sub(r"^DATASTRIP/DS_(\w{4})_\d{8}T\d{6}_", r"DATASTRIP/DS_\1_<generated>_", path)


def _relative_files(root: Path) -> set[str]:
    files = (p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return {_without_generation_time(f) for f in files}


def test_uploaded_l1c_is_published_complete_as_by_a_local_run(emulation, tmp_path):
    safe = _simulate(tmp_path / "l1c")
    local = Path(
        process_product(
            str(safe),
            ProcessingOptions(
                input_dir=str(safe), output_dir=str(tmp_path / "local"), sc_only=True
            ),
            load_gipp(),
        )
    )
    upload_safe(emulation, safe, emulation.bucket("InputBucket"))
    handled = emulation.mappings[PROCESSOR_EVENT].run_until_drained(timeout_s=120)
    assert handled == 2  # the s3:TestEvent sent when the notification was set, then the arrival

    summary = summarize_output(emulation)
    assert summary.dead_letters == 0
    (product,) = summary.products
    bucket, prefix = product.removeprefix("s3://").split("/", 1)
    keys = list_keys(emulation.client("s3"), bucket)
    published = {_without_generation_time(k.removeprefix(prefix + "/")) for k in keys}
    assert published == _relative_files(local)
    assert product.rsplit("/", 1)[1][:26] == local.name[:26]  # same mission, level and datatake


def test_zipped_l1c_arrival_is_published(emulation, tmp_path):
    safe = _simulate(tmp_path, sensing_time=datetime(2024, 8, 2, 10, 30, 31))
    archive = tmp_path / f"{safe.stem}.zip"
    with zipfile.ZipFile(
        archive, "w", zipfile.ZIP_DEFLATED
    ) as zf:  # files only (no folder entries)
        for path in sorted(p for p in safe.rglob("*") if p.is_file()):
            zf.write(path, path.relative_to(tmp_path).as_posix())
    emulation.client("s3").upload_file(str(archive), emulation.bucket("InputBucket"), archive.name)
    emulation.mappings[PROCESSOR_EVENT].run_until_drained(timeout_s=120)
    summary = summarize_output(emulation)
    assert summary.dead_letters == 0
    (product,) = summary.products
    assert "_MSIL2A_20240802T103031_" in product


def test_corrupt_upload_ends_in_the_dlq_and_publishes_nothing(emulation, tmp_path):
    safe = _simulate(tmp_path)
    metadata = safe / "MTD_MSIL1C.xml"
    metadata.write_bytes(metadata.read_bytes()[: metadata.stat().st_size // 2])
    upload_safe(emulation, safe, emulation.bucket("InputBucket"))
    emulation.mappings[PROCESSOR_EVENT].run_until_drained(timeout_s=120)

    assert list_keys(emulation.client("s3"), emulation.bucket("OutputBucket")) == []
    (dead,) = emulation.client("sqs").receive_message(
        QueueUrl=emulation.queue_url("DeadLetterQueue"), MessageSystemAttributeNames=["All"]
    )["Messages"]
    key = json.loads(dead["Body"])["Records"][0]["s3"]["object"]["key"]
    assert key.endswith("manifest.safe") and safe.name in key
    receives = int(dead["Attributes"]["ApproximateReceiveCount"])
    # maxReceiveCount deliveries to the processor, plus the receive from the DLQ just above
    assert receives == int(emulation.stack.ref("MaxReceiveCount")) + 1
    table = emulation.stack.physical_name("IdempotencyTable")
    assert emulation.client("dynamodb").scan(TableName=table)["Items"] == []
