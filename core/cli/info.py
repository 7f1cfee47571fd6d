"""``sen2cloud info INPUT``: the parsed L1C metadata summary as JSON."""

from __future__ import annotations

import json
import math
from dataclasses import fields
from datetime import datetime
from typing import Any

import click

from core.cli.run import reported_errors
from core.product.l1c import open_l1c
from core.product.metadata import L1CMetadata, ProcessingBaseline

_SKIPPED = {"sun_angles", "viewing_angles", "grids"}
"""Angle grids are too long for a summary; grids are shown as resolution -> size."""


@click.command(name="info")
@click.argument("input_uri", metavar="INPUT")
@click.option("--debug", is_flag=True, help="Full tracebacks.")
def info(input_uri: str, debug: bool) -> None:
    """Print the metadata summary of the L1C product INPUT as JSON."""
    with reported_errors(debug):
        product = open_l1c(input_uri)
        click.echo(json.dumps(summary(product.metadata), indent=2, sort_keys=True))


def summary(metadata: L1CMetadata) -> dict[str, Any]:
    """The metadata as JSON-ready values (times in ISO 8601, baseline as ``dd.dd``)."""
    result = {f.name: _plain(getattr(metadata, f.name)) for f in fields(metadata)}
    for name in _SKIPPED:
        result.pop(name)
    result["grids"] = {
        str(res): {"width": g.width, "height": g.height, "crs_epsg": g.crs_epsg}
        for res, g in sorted(metadata.grids.items())
    }
    return result


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, ProcessingBaseline):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isnan(value):  # NaN is not JSON
        return None
    return value
