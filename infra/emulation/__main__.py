"""``python -m infra.emulation demo``: one simulated L1C through the emulated serverless stack."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import click

from core.simulate.product import simulate_product
from core.simulate.scene import SceneSpec
from infra.emulation.demo import PROCESSOR_EVENT, summarize_output, upload_safe
from infra.emulation.runtime import emulated_stack

log = logging.getLogger("infra.emulation")


@click.group()
def cli() -> None:
    """Local emulation of the sen2cloud stack on moto's HTTP endpoints."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("werkzeug", "botocore"):  # moto's access log, boto's credential notices
        logging.getLogger(noisy).setLevel(logging.WARNING)


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
    help="Seconds to wait for the work queue to drain.",
)
def demo(size: int, seed: int, workdir: Path | None, timeout: float) -> None:
    """Simulate an L1C, upload it to the input bucket and let the processor publish the L2A."""
    with tempfile.TemporaryDirectory(prefix="sen2cloud-demo-") as tmp:
        folder = workdir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        log.info("simulating a %d x %d px L1C scene (seed %d)", size, size, seed)
        safe = Path(simulate_product(str(folder), SceneSpec(size=size, seed=seed)))
        with emulated_stack() as emulation:
            upload_safe(emulation, safe, emulation.bucket("InputBucket"))
            handled = emulation.mappings[PROCESSOR_EVENT].run_until_drained(timeout)
            summary = summarize_output(emulation)
    log.info("work queue drained after %d deliveries", handled)
    click.echo("output bucket, objects per folder:")
    for prefix, count in summary.files.items():
        click.echo(f"  {count:4d}  {prefix}")
    result = {
        "products": summary.products,
        "objects": sum(summary.files.values()),
        "dead_letters": summary.dead_letters,
    }
    click.echo(json.dumps(result))
    if not summary.products or summary.dead_letters:
        raise click.ClickException("the scene was not published (see the log above)")


if __name__ == "__main__":
    cli()
