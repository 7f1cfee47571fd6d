"""``sen2cloud simulate``: write a simulated L1C SAFE product and its truth.

Prints the path of the SAFE written (one line on stdout); progress and errors go to stderr.
"""

from __future__ import annotations

from datetime import datetime

import click

from core.cli.run import configure_logging, reported_errors
from core.errors import InputError
from core.product.metadata import ProcessingBaseline
from core.simulate.l1c_safe import write_l1c_safe
from core.simulate.product import simulate_product
from core.simulate.realforward import simulate_from_l2a
from core.simulate.scene import SceneSpec


def _range(text: str | None, option: str) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise InputError(f"{option} expects MIN,MAX (two numbers), got {text!r}") from None
    if not low <= high:
        raise InputError(f"{option} expects MIN <= MAX, got {text!r}")
    return low, high


def build_spec(
    *,
    size: int,
    seed: int,
    baseline: str | None,
    tile: str | None,
    date: str | None,
    mission: str | None,
    aot: str | None,
    wv: str | None,
    clouds: float | None,
    cirrus: float | None,
    swath_edge: bool,
) -> SceneSpec:
    """A :class:`SceneSpec` from the command-line values; unset options keep the spec defaults."""
    overrides: dict[str, object] = {"size": size, "seed": seed, "swath_edge": swath_edge}
    try:
        if baseline is not None:
            overrides["baseline"] = ProcessingBaseline.parse(baseline)
        if date is not None:
            overrides["sensing_time"] = datetime.fromisoformat(date.removesuffix("Z"))
    except ValueError as err:
        raise InputError(str(err)) from None
    for key, value in (
        ("tile_id", tile.removeprefix("T") if tile else None),
        ("mission_id", mission),
        ("aot550_range", _range(aot, "--aot")),
        ("wv_cm_range", _range(wv, "--wv")),
        ("cloud_fraction", clouds),
        ("cirrus_fraction", cirrus),
    ):
        if value is not None:
            overrides[key] = value
    return SceneSpec(**overrides)  # type: ignore[arg-type]


@click.command(name="simulate")
@click.argument("output_dir", type=click.Path(file_okay=False))
@click.option("--size", default=732, show_default=True, help="Scene width in 10 m pixels (x6).")
@click.option("--seed", default=0, show_default=True, help="Random seed (same seed, same files).")
@click.option("--baseline", help="Processing baseline dd.dd (default 05.10).")
@click.option("--tile", help="MGRS tile id, e.g. 32TQM.")
@click.option("--date", help="Sensing time, ISO 8601 (UTC).")
@click.option("--mission", type=click.Choice(["S2A", "S2B", "S2C"]))
@click.option("--aot", metavar="MIN,MAX", help="AOT at 550 nm range.")
@click.option("--wv", metavar="MIN,MAX", help="Water-vapour column range (cm).")
@click.option("--clouds", type=click.FloatRange(0.0, 1.0), help="Opaque cloud cover fraction.")
@click.option("--cirrus", type=click.FloatRange(0.0, 1.0), help="Cirrus cover fraction.")
@click.option("--swath-edge", is_flag=True, help="Put the swath's eastern edge in the scene.")
@click.option("--with-aux", is_flag=True, help="Write AUX_ECMWFT/AUX_CAMSFO GRIB files.")
@click.option(
    "--from-l2a",
    type=click.Path(exists=True),
    help="Run the upper-left SIZE px of a real L2A product forward (other scene options unused).",
)
@click.option("--debug", is_flag=True, help="Debug logging and full tracebacks.")
def simulate(
    output_dir: str, from_l2a: str | None, with_aux: bool, debug: bool, **values: object
) -> None:
    """Simulate an L1C product with known truth into OUTPUT_DIR."""
    configure_logging(debug)
    with reported_errors(debug):
        spec = build_spec(**values)  # type: ignore[arg-type]
        if from_l2a is None:
            click.echo(f"simulating a {spec.size} px scene of T{spec.tile_id}", err=True)
            safe = simulate_product(output_dir, spec, with_aux=with_aux)
        else:
            click.echo(f"running {spec.size} px of {from_l2a} forward", err=True)
            scene = simulate_from_l2a(from_l2a, size=spec.size)
            safe = write_l1c_safe(scene, output_dir, with_aux=with_aux)
        click.echo(safe)
