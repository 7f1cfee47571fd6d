"""Container-job entry point: one whole tile in one process, for AWS Batch or ECS (issue #7).

A tile, or a setting, that does not fit a function (15 minutes, 10 GB) runs as a container job
of the same image: ``python -m handlers.batch <l1c uri> <output uri>`` (the image's entry point
is Lambda's runtime client, so ``docker run --entrypoint python3.11 <image> -m handlers.batch
...``). It writes the scene's cloud product (COGs, thumbnail, STAC item last) under the output
folder or ``s3://`` prefix exactly as :func:`core.pipeline.process_scene` does, with ``--safe``
the Sen2Cor SAFE beside it, and prints the item's URI. No time limit, no queue: retries are the
job queue's. Errors are one line on stderr, exit status 2 for bad input and 1 otherwise.
"""

from __future__ import annotations

import click

from core.cli.run import configure_logging, reported_errors
from core.config.gipp import load_gipp
from core.pipeline import SceneOutputs, process_scene
from handlers.settings import MODES, processing_options


@click.command()
@click.argument("l1c_uri")
@click.argument("output_uri")
@click.option("--safe", is_flag=True, help="Also write the Sen2Cor SAFE product.")
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="l2a",
    show_default=True,
    help="l2a: classification and atmospheric correction; sc_only: classification only.",
)
@click.option("--debug", is_flag=True, help="Log everything, with tracebacks.")
def main(l1c_uri: str, output_uri: str, safe: bool, mode: str, debug: bool) -> None:
    """Process the L1C product L1C_URI into a cloud product under OUTPUT_URI."""
    configure_logging(debug)
    with reported_errors(debug):
        outputs = SceneOutputs(cloud_uri=output_uri, safe_dir=output_uri if safe else None)
        result = process_scene(l1c_uri, outputs, processing_options(mode, l1c_uri), load_gipp())
        click.echo(result.cloud.item_uri)


if __name__ == "__main__":
    main()
