"""What every command does around its work: errors to exit codes, logging, a progress bar.

Exit codes (as Sen2Cor and click): 0 success; 2 usage error, :class:`InputError` or
:class:`ConfigError` (the user must change the request); 1 any other error. The error is one line
``error: <path>: <problem>`` on stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import click

from core.config.gipp import load_gipp
from core.config.options import ProcessingOptions
from core.errors import ConfigError, InputError, Sen2CloudError
from core.pipeline import ProgressCallback, process_product

EXIT_ERROR: Final[int] = 1
EXIT_USAGE: Final[int] = 2
_BAR_STEPS: Final[int] = 1000


@contextmanager
def reported_errors(debug: bool) -> Iterator[None]:
    """Turn an exception of the block into a one-line message and the matching exit code."""
    try:
        yield
    except (click.exceptions.Exit, click.ClickException, click.Abort):
        raise
    except Exception as err:  # the command line's last line of defence: one line, no traceback
        if debug:
            traceback.print_exc(file=sys.stderr)
        message = str(err) if isinstance(err, Sen2CloudError) else f"{type(err).__name__}: {err}"
        click.echo(f"error: {' '.join(message.split())}", err=True)
        code = EXIT_USAGE if isinstance(err, InputError | ConfigError) else EXIT_ERROR
        raise click.exceptions.Exit(code) from err


def configure_logging(debug: bool) -> None:
    """Log to stderr: warnings of ``core`` by default; every logger at DEBUG with ``--debug``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger() if debug else logging.getLogger("core")
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    if not logger.handlers:
        logger.addHandler(handler)


@contextmanager
def progress_bar(label: str) -> Iterator[ProgressCallback]:
    """Yield a :data:`~core.pipeline.ProgressCallback` drawing a click progress bar on stderr."""
    with click.progressbar(length=_BAR_STEPS, label=label, file=sys.stderr) as bar:
        done = 0

        def update(fraction: float, step: str) -> None:
            nonlocal done
            target = round(min(max(fraction, 0.0), 1.0) * _BAR_STEPS)
            bar.label = f"{label}: {step}"
            if target > done:
                bar.update(target - done)
                done = target

        yield update


def build_options(input_dir: str | None, values: dict[str, Any]) -> ProcessingOptions:
    """:class:`ProcessingOptions` from click's parameter values (resolution arrives as text)."""
    resolution = values.pop("resolution", None)
    return ProcessingOptions(
        input_dir=input_dir,
        resolution=int(resolution) if resolution is not None else None,
        **values,
    )


def run_processing(options: ProcessingOptions) -> str:
    """Load the GIPP files the options name, process the product, return the product URI."""
    gipp = load_gipp(
        l2a=options.gip_l2a,
        sc=options.gip_l2a_sc,
        ac=options.gip_l2a_ac,
        pb=options.gip_l2a_pb,
        overrides=options.gipp_overrides(),
    )
    with progress_bar("L2A") as progress:
        return process_product(options.input_dir or "", options, gipp, progress)
