"""``sen2cloud preview OUTPUT.png INPUT...``: true-colour TOA pictures of L1C products."""

from __future__ import annotations

import click

from core.cli.run import reported_errors
from core.product.l1c import open_l1c
from core.simulate.preview import rgb_image, side_by_side, write_png


@click.command(name="preview")
@click.argument("output", type=click.Path(dir_okay=False))
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True)
@click.option(
    "--resolution",
    type=click.Choice(["10", "20", "60"]),
    default="60",
    show_default=True,
    help="Resolution at which B04/B03/B02 are read.",
)
@click.option("--debug", is_flag=True, help="Full tracebacks.")
def preview(output: str, inputs: tuple[str, ...], resolution: str, debug: bool) -> None:
    """Write a PNG with the true colour (B04/B03/B02 TOA) of each L1C INPUT, left to right.

    Use it to put a simulated scene beside a real product.
    """
    with reported_errors(debug):
        pictures = []
        for uri in inputs:
            product = open_l1c(uri)
            red, green, blue = (
                product.read_toa(band, int(resolution)).reflectance
                for band in ("B04", "B03", "B02")
            )
            pictures.append(rgb_image(red, green, blue))
        write_png(output, side_by_side(*pictures))
    click.echo(output)
