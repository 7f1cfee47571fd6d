"""Shared fixtures: the real reference data beside the repository (``../shared/data``) and a
moto server (real HTTP) for the tests of S3, SQS and DynamoDB code."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import core  # noqa: F401  # loads PROJ before any test module imports eccodes (see core/__init__.py)
from infra.emulation.runtime import client_environment, moto_server

# Every test's moto server holds the same bucket names and product keys with different content,
# and GDAL caches /vsis3/ objects (size, first blocks) process-wide by path, not by endpoint: a
# later test would read an earlier test's rasters. `core.io.raster.gdal_env` disables that cache for
# the product code; this covers the tests' own direct reads too.
os.environ["CPL_VSIL_CURL_NON_CACHED"] = "/vsis3/"

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


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One moto HTTP server (S3, SQS, DynamoDB) for the whole session; its URL.

    Its state is shared: each test creates the buckets it needs, and
    ``emulated_stack(endpoint=moto_endpoint)`` resets the account before provisioning.
    """
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws_endpoint(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """:func:`moto_endpoint`, with the environment (endpoint, test credentials, region) that
    boto3, s3fs and GDAL read set for one test."""
    for name, value in client_environment(moto_endpoint).items():
        monkeypatch.setenv(name, value)
    return moto_endpoint
