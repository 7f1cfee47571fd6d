"""``sen2cloud build-lut``: build (or continue building) the 6S radiative-transfer table.

Finished chunks are kept in the work directory, so the command can be stopped at any time and rerun
to continue; slices already complete in the output table (a previous session's build) count as
finished. Each run rewrites the table from every finished chunk.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from core.atmosphere.lut import default_lut_path
from core.atmosphere.lut_build import assemble, default_work_dir, run_chunks, seed_work_dir
from core.atmosphere.lut_grid import DEFAULT_GRID
from core.cli.run import configure_logging, reported_errors


@click.command(name="build-lut")
@click.option("--output", type=click.Path(dir_okay=False), help="Table file (default: cfg/lut).")
@click.option("--work-dir", type=click.Path(file_okay=False), help="Folder of finished chunks.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1), help="Processes.")
@click.option("--limit-seconds", type=click.FloatRange(0.0), help="Start no chunk after this.")
@click.option("--debug", is_flag=True, help="Debug logging and full tracebacks.")
def build_lut(
    output: str | None,
    work_dir: str | None,
    workers: int,
    limit_seconds: float | None,
    debug: bool,
) -> None:
    """Run the missing 6S chunks, then write the table from all finished chunks."""
    configure_logging(debug)
    with reported_errors(debug):
        chunk_dir = Path(work_dir) if work_dir else default_work_dir(DEFAULT_GRID)
        target = Path(output) if output else default_lut_path()
        seeded = seed_work_dir(DEFAULT_GRID, target, chunk_dir)
        if seeded:
            click.echo(f"{seeded} finished chunks taken from {target}", err=True)
        start = time.monotonic()
        left = run_chunks(
            DEFAULT_GRID,
            chunk_dir,
            workers=workers,
            limit_seconds=limit_seconds,
            progress=lambda line: click.echo(line, err=True),
        )
        header = assemble(DEFAULT_GRID, chunk_dir, target)
        click.echo(
            f"{target}: {header['chunks_done']}/{header['chunks_total']} chunks "
            f"({left} left, {time.monotonic() - start:.0f} s this run)"
        )
