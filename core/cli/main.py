"""``sen2cloud``: the project's command group (process, simulate, demo, info, preview, ...)."""

from __future__ import annotations

import click

from core.cli.demo import demo
from core.cli.info import info
from core.cli.lut import build_lut
from core.cli.preview import preview, scl_preview
from core.cli.process import process
from core.cli.simulate import simulate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sen2cloud", prog_name="sen2cloud")
def cli() -> None:
    """Cloud-native Sentinel-2 Level-2A processing (Sen2Cor compatible)."""


cli.add_command(process)
cli.add_command(demo)
cli.add_command(info)
cli.add_command(simulate)
cli.add_command(build_lut)
cli.add_command(preview)
cli.add_command(scl_preview)
