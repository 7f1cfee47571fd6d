"""Shared fixtures: the real reference data beside the repository (``../shared/data``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import core  # noqa: F401  # loads PROJ before any test module imports eccodes (see core/__init__.py)

SHARED_DATA = Path(
    os.environ.get(
        "SEN2CLOUD_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data``; tests using it skip with a reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real reference data not found at {SHARED_DATA} (set SEN2CLOUD_SHARED_DATA)")
    return SHARED_DATA
