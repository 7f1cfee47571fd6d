"""``sen2cloud process``: ``L2A_Process`` with dash-separated option names."""

from __future__ import annotations

from typing import Any

import click

from core.cli.options import processing_options
from core.cli.run import build_options, configure_logging, reported_errors, run_processing


@click.command(name="process")
@click.argument("input_dir", required=False, metavar="INPUT")
@processing_options("friendly")
def process(input_dir: str | None, **values: Any) -> None:
    """Process one L1C product (SAFE folder, zip or s3:// prefix) to Level-2A."""
    debug = bool(values.get("debug"))
    configure_logging(debug)
    with reported_errors(debug):
        product = run_processing(build_options(input_dir, values))
    click.echo(product)
