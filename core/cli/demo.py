"""``sen2cloud demo``: simulate a small L1C product, process it, and summarise the L2A product.

The scene comes from the simulator (:func:`core.simulate.product.simulate_product`, which also
writes the ``truth/`` the scene was made from); the processing is the same
:func:`core.pipeline.process_product` the other commands run, in ``--sc_only`` mode until the
atmospheric correction exists. The demo ends by comparing the 20 m SCL with the true classes.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Final

import click
import numpy as np
import rasterio

from core.cli.run import configure_logging, progress_bar, reported_errors
from core.config.gipp import load_gipp
from core.config.options import ProcessingOptions
from core.errors import OutputError
from core.pipeline import process_product
from core.simulate.product import simulate_product
from core.simulate.scene import SceneSpec

DEMO_ENTRY: Final = re.compile(r"S2[A-D]_MSIL(1C|2A)_\w+\.SAFE|truth")
"""What a demo run writes: the simulated L1C, its truth folder and the L2A product."""


@click.command(name="demo")
@click.option(
    "--output-dir",
    default="demo-output",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the simulated L1C, its truth and the L2A product (earlier demo "
    "results in it are replaced).",
)
@click.option(
    "--size",
    default=240,
    show_default=True,
    type=click.IntRange(6, 10980),
    help="Scene width and height in 10 m pixels (a multiple of 6).",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed of the scene.")
@click.option("--debug", is_flag=True, help="Debug logging and full tracebacks.")
def demo(output_dir: str, size: int, seed: int, debug: bool) -> None:
    """Simulate a small L1C scene and process it end to end."""
    configure_logging(debug)
    with reported_errors(debug):
        folder = Path(output_dir)
        clear_previous_demo(folder)
        folder.mkdir(parents=True, exist_ok=True)
        click.echo(f"simulating a {size} x {size} px L1C scene (seed {seed}) ...", err=True)
        l1c = simulate_product(str(folder), SceneSpec(size=size, seed=seed))
        options = ProcessingOptions(input_dir=l1c, output_dir=str(folder), sc_only=True)
        with progress_bar("L2A") as progress:
            product = process_product(l1c, options, load_gipp(), progress)
    click.echo(f"L1C input:   {l1c}")
    click.echo(f"L2A product: {product}")
    click.echo("files per folder:")
    for name, count in folder_summary(Path(product)).items():
        click.echo(f"  {count:4d}  {name}")
    scl_20m = next(Path(product).glob("GRANULE/*/IMG_DATA/R20m/*_SCL_20m.*"))
    click.echo("SCL 20 m against the simulated truth (per true class: pixels, share labelled so):")
    for line in truth_agreement(scl_20m, folder / "truth" / "CLASS_20m.tif"):
        click.echo(f"  {line}")


def truth_agreement(scl_path: Path, truth_path: Path) -> list[str]:
    """Per true SCL class, its pixel count and the share of them the product labels the same."""
    with rasterio.open(scl_path) as scl_file, rasterio.open(truth_path) as truth_file:
        scl, truth = scl_file.read(1), truth_file.read(1)
    lines = []
    for code in np.unique(truth):
        mine = truth == code
        share = float((scl[mine] == code).mean())
        lines.append(f"class {int(code):2d}: {int(mine.sum()):7d} px, {100 * share:5.1f} % agree")
    return lines


def clear_previous_demo(folder: Path) -> None:
    """Remove what an earlier demo wrote in ``folder``; refuse a folder holding anything else.

    Raises
    ------
    OutputError
        ``folder`` holds files that no demo wrote (they are left untouched).
    """
    if not folder.exists():
        return
    entries = list(folder.iterdir())
    foreign = [e.name for e in entries if not DEMO_ENTRY.fullmatch(e.name) or not e.is_dir()]
    if foreign:
        raise OutputError(
            f"output folder holds files the demo did not write ({', '.join(sorted(foreign))}); "
            "choose another --output-dir",
            path=str(folder),
        )
    for entry in entries:
        shutil.rmtree(entry)


def folder_summary(product: Path) -> dict[str, int]:
    """Number of files per folder of ``product`` (relative folder -> count)."""
    counts = Counter(str(p.parent.relative_to(product)) for p in product.rglob("*") if p.is_file())
    return dict(sorted(counts.items()))
