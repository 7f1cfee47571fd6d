"""``L2A_Process``: Sen2Cor 2.12's command line (same options, same meaning, facts §6.1).

``L2A_Process INPUT.SAFE --output_dir OUT`` writes ``OUT/S2x_MSIL2A_*.SAFE``; without
``--output_dir`` the product is written next to the input, as Sen2Cor does.
"""

from __future__ import annotations

from typing import Any

import click

from core.cli.options import processing_options
from core.cli.run import build_options, configure_logging, reported_errors, run_processing

PROG_NAME = "L2A_Process"


@click.command(
    name=PROG_NAME,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Sentinel-2 Level-2A processor (sen2cloud, Sen2Cor 2.12 compatible command line).",
)
@click.argument("input_dir", required=False, metavar="input_dir")
@processing_options("sen2cor")
@click.version_option(package_name="sen2cloud", prog_name=PROG_NAME)
def main(input_dir: str | None, **values: Any) -> None:
    """Process one L1C product (TOOLBOX mode) and print the path of the L2A product."""
    debug = bool(values.get("debug"))
    configure_logging(debug)
    with reported_errors(debug):
        product = run_processing(build_options(input_dir, values))
    click.echo(product)
