"""Nothing half-written: build a product in a staging folder, publish it when complete.

Local destinations: the staging folder is a sibling of the destination
(``OUT/.staging-<uuid>/<name>``), so the final :func:`os.rename` stays on one file system and is
atomic: readers see either no product or the complete one.

S3 destinations (``s3://bucket/prefix/<name>``): S3 has no rename, so the product is built in a
local temporary folder and uploaded with its commit marker, ``manifest.safe``, last; readers
that open a SAFE product through its manifest never see a partial one. A failed upload deletes
what it wrote.

On any error the staging folder is removed and the error propagates; an :class:`OSError` of the
build itself (file system full, file too large, permission denied) becomes :class:`OutputError`
naming the file, or the product when the error names none.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from core.errors import OutputError
from core.io import storage

STAGING_PREFIX: Final[str] = ".staging-"
COMMIT_MARKER: Final[str] = "manifest.safe"
"""Uploaded last to S3: its presence means the product is complete."""


@contextmanager
def _write_errors(product: Path | str) -> Iterator[None]:
    """Re-raise an :class:`OSError` of the block as :class:`OutputError` naming its file."""
    try:
        yield
    except OutputError:
        raise
    except OSError as err:
        reason = err.strerror or " ".join(str(err).split()) or type(err).__name__
        path = err.filename if isinstance(err.filename, str) else str(product)
        raise OutputError(f"could not write ({reason})", path=path) from err


@contextmanager
def staged_product(destination: str, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a local folder to build ``destination`` (a local path or ``s3://`` URI) in.

    See :func:`staged_directory` (local) and :func:`staged_upload` (S3).
    """
    stage = staged_upload if storage.is_s3(destination) else staged_directory
    with stage(destination, overwrite=overwrite) as work:
        yield work


@contextmanager
def staged_upload(destination: str, *, overwrite: bool = False) -> Iterator[Path]:
    """Build in a local temporary folder, then upload to the ``s3://`` ``destination``.

    Raises
    ------
    OutputError
        ``destination`` exists (and ``overwrite`` is false), building the product in the
        temporary folder fails, or the upload fails.
    """
    fs = storage.s3_filesystem(storage.s3_endpoint_url())
    target = destination.rstrip("/")
    if fs.exists(target) and not overwrite:
        raise OutputError("already exists; refusing to overwrite it", path=target)
    with tempfile.TemporaryDirectory(prefix=STAGING_PREFIX) as tmp:
        work = Path(tmp) / target.rsplit("/", 1)[-1]
        work.mkdir()
        with _write_errors(work):
            yield work
        files = sorted(p for p in work.rglob("*") if p.is_file())
        files.sort(key=lambda p: p.name == COMMIT_MARKER)  # stable: the marker goes last
        try:
            if fs.exists(target):
                fs.rm(target, recursive=True)
            for path in files:
                fs.put_file(str(path), f"{target}/{path.relative_to(work).as_posix()}")
        except OSError as err:
            if fs.exists(target):
                fs.rm(target, recursive=True)
            raise OutputError(f"upload failed ({err})", path=target) from err


@contextmanager
def staged_directory(destination: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty folder to build ``destination`` in; publish it when the block succeeds.

    Parameters
    ----------
    destination
        Final local path of the folder (e.g. ``OUT/S2A_MSIL2A_....SAFE``).
    overwrite
        Replace an existing ``destination``; without it an existing one is an error.

    Raises
    ------
    OutputError
        ``destination`` exists (and ``overwrite`` is false), or the staging (writing the
        product included) or publishing fails.
    """
    final = Path(destination)
    if final.exists() and not overwrite:
        raise OutputError("already exists; refusing to overwrite it", path=str(final))
    staging_root = final.parent / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    try:
        staging_root.mkdir(parents=True)
        work = staging_root / final.name
        work.mkdir()
    except OSError as err:
        raise OutputError(f"cannot create the staging folder ({err})", path=str(final)) from err
    try:
        with _write_errors(final):
            yield work
        _publish(work, final, staging_root, overwrite=overwrite)
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)


def _publish(work: Path, final: Path, staging_root: Path, *, overwrite: bool) -> None:
    previous = staging_root / f"{final.name}.previous"
    try:
        if overwrite and final.exists():
            os.rename(final, previous)
        # os.rename refuses a non-empty target directory, so a product that appeared since the
        # start is never clobbered.
        os.rename(work, final)
    except OSError as err:
        if previous.exists() and not final.exists():
            os.rename(previous, final)
        raise OutputError(f"cannot publish the product ({err})", path=str(final)) from err
