"""``python -m infra.emulation serve|demo``: the emulated serverless stack on localhost.

``serve`` (``make local``) runs the stack until Ctrl-C and prints one JSON line on stdout with
the S3/SQS/DynamoDB endpoint, the bucket, queue and table names and the STAC API URL (the
functions' logs go to stderr). ``demo`` (``make demo``) uploads one simulated L1C and shows it
become a searchable STAC item.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import click
import pystac_client

from core.simulate.product import simulate_product
from core.simulate.scene import SceneSpec
from handlers.settings import CATALOG_PREFIX
from infra.emulation import stac_api
from infra.emulation.demo import published_item_uris, read_json, summarize_output, upload_safe
from infra.emulation.event_source import drain, run_forever
from infra.emulation.runtime import Emulation, emulated_stack

log = logging.getLogger("infra.emulation")
HOST = "127.0.0.1"


@click.group()
def cli() -> None:
    """Local emulation of the sen2cloud stack on moto's HTTP endpoints."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("werkzeug", "botocore"):  # moto's access log, boto's credential notices
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.contextmanager
def _running(port: int | None, stac_port: int) -> Iterator[tuple[Emulation, str]]:
    """The emulated stack and its STAC API URL; function logs (powertools writes to the stdout
    of their cold start) go to stderr."""
    with contextlib.redirect_stdout(sys.stderr), emulated_stack(port=port) as emulation:
        server, url = stac_api.serve(HOST, stac_port, env=emulation.environment(stac_api.FUNCTION))
        try:
            yield emulation, url
        finally:
            server.shutdown()


@cli.command()
@click.option("--port", default=0, show_default=True, help="Port of moto's server (0: any).")
@click.option("--stac-port", default=0, show_default=True, help="Port of the STAC API (0: any).")
def serve(port: int, stac_port: int) -> None:
    """Run the stack until Ctrl-C: S3, SQS, DynamoDB, the functions and the STAC API."""
    stdout = sys.stdout
    with _running(port or None, stac_port) as (emulation, url):
        print(json.dumps({**emulation.endpoints(), "stac_api": url}), file=stdout, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            run_forever(emulation.mappings.values(), threading.Event())


@cli.command()
@click.option(
    "--size",
    default=120,
    show_default=True,
    type=click.IntRange(6, 10980),
    help="Scene width and height in 10 m pixels (a multiple of 6).",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed of the scene.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the simulated L1C (default: a temporary folder).",
)
@click.option(
    "--timeout",
    default=300,
    show_default=True,
    type=float,
    help="Seconds to wait for the queues to drain.",
)
def demo(size: int, seed: int, workdir: Path | None, timeout: float) -> None:
    """Simulate an L1C, upload it and show it become a searchable STAC item with COG assets."""
    with tempfile.TemporaryDirectory(prefix="sen2cloud-demo-") as tmp:
        folder = workdir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        log.info("simulating a %d x %d px L1C scene (seed %d)", size, size, seed)
        safe = Path(simulate_product(str(folder), SceneSpec(size=size, seed=seed)))
        with _running(None, 0) as (emulation, url):
            upload_safe(emulation, safe, emulation.bucket("InputBucket"))
            handled = drain(emulation.mappings.values(), timeout)
            summary = summarize_output(emulation)
            static_catalog = (
                f"s3://{emulation.bucket('OutputBucket')}/{CATALOG_PREFIX}/catalog.json"
            )
            items = [read_json(emulation, uri) for uri in published_item_uris(emulation)]
            found = [
                [hit.id for hit in pystac_client.Client.open(url).search(bbox=item["bbox"]).items()]
                for item in items
            ]
    log.info("queues drained after %d deliveries", handled)
    click.echo("output bucket, objects per folder:")
    for prefix, count in summary.files.items():
        click.echo(f"  {count:4d}  {prefix}")
    for item, hits in zip(items, found, strict=True):
        click.echo(f"item {item['id']} ({item.get('collection')}), assets:")
        for key, asset in sorted(item["assets"].items()):
            click.echo(f"  {key:12s} {asset.get('type', '')}  {asset['href']}")
        click.echo(f"STAC API search by bbox {item['bbox']}: {hits}")
    documents = sum(n for folder, n in summary.files.items() if folder.startswith(CATALOG_PREFIX))
    click.echo(f"static catalog for browsing: {static_catalog} ({documents} documents)")
    click.echo(
        json.dumps({"items": [i["id"] for i in items], "dead_letters": summary.dead_letters})
    )
    searchable = all(item["id"] in hits for item, hits in zip(items, found, strict=True))
    if not items or not searchable or any(summary.dead_letters.values()):
        raise click.ClickException("the scene was not published (see the log above)")


if __name__ == "__main__":
    cli()
