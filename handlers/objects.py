"""S3 object helpers the functions and the local emulation share (boto3 clients passed in)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

S3_PREFIX: Final[str] = "s3://"
DELETE_BATCH: Final[int] = 1000
"""Most keys per S3 ``DeleteObjects`` request."""


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)`` (``key`` may be empty or a prefix)."""
    bucket, _, key = uri.removeprefix(S3_PREFIX).partition("/")
    return bucket, key


def list_keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    """Every object key under ``prefix`` in ``bucket``."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


def delete_keys(s3: Any, bucket: str, keys: Sequence[str]) -> None:
    """Delete ``keys`` from ``bucket``, a thousand per request."""
    for start in range(0, len(keys), DELETE_BATCH):
        chunk = [{"Key": key} for key in keys[start : start + DELETE_BATCH]]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
