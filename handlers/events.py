"""Parse and check the S3 notifications that reach the work queue; gate on the product name.

An SQS record body is an S3 event notification (``{"Records": [{"s3": ...}]}``), the one-off
``s3:TestEvent`` S3 sends when a notification is configured, or the same S3 event wrapped in an
SNS envelope (``{"Type": "Notification", "Message": "<json>"}``, S3 -> SNS -> SQS). Object keys
arrive URL-encoded (``+`` for space); they are untrusted and are decoded and checked before any
use. The gate is the name only (cheap, no S3 read): a Level-1C SAFE's ``manifest.safe`` or a
zipped Level-1C SAFE; everything else is skipped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote_to_bytes

from core.errors import InputError, UnsafeInputError
from core.product.naming import CompactProductName

MAX_KEY_BYTES: Final[int] = 1024
"""S3's limit on an object key (UTF-8 bytes)."""
BUCKET_NAME: Final = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
"""S3 bucket naming rule (general purpose buckets)."""
TEST_EVENT: Final[str] = "s3:TestEvent"
MANIFEST: Final[str] = "manifest.safe"


@dataclass(frozen=True, slots=True)
class S3Object:
    """One created object named by a notification (bucket and decoded, checked key)."""

    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True, slots=True)
class L1CArrival:
    """A Level-1C product that arrived: its id (the SAFE name without suffix) and its URI."""

    scene_id: str
    product_uri: str
    """``s3://bucket/prefix/X.SAFE`` for a manifest, ``s3://bucket/prefix/X.zip`` for a zip."""


def parse_notification(body: str, *, source: str = "message") -> list[S3Object]:
    """The created objects of one queue message body; ``[]`` for an ``s3:TestEvent``.

    Raises
    ------
    InputError
        The body is not JSON or not an S3 notification (``source`` names the message).
    UnsafeInputError
        A bucket name or object key is hostile (see :func:`decode_key`).
    """
    message = _json_object(body, source)
    if message.get("Type") == "Notification" and isinstance(message.get("Message"), str):
        message = _json_object(message["Message"], source)
    if message.get("Event") == TEST_EVENT:
        return []
    records = message.get("Records")
    if not isinstance(records, list) or not records:
        raise InputError("not an S3 event notification (no Records)", path=source)
    objects = []
    for record in records:
        try:
            bucket = record["s3"]["bucket"]["name"]
            key = record["s3"]["object"]["key"]
        except (KeyError, TypeError) as err:
            raise InputError(f"S3 record without bucket/object ({err!r})", path=source) from err
        if not isinstance(bucket, str) or not isinstance(key, str):
            raise InputError("S3 record bucket/key are not strings", path=source)
        objects.append(S3Object(check_bucket(bucket, source), decode_key(key, source)))
    return objects


def check_bucket(name: str, source: str) -> str:
    """Return ``name`` if it follows the S3 bucket naming rule, else raise UnsafeInputError."""
    if not BUCKET_NAME.fullmatch(name):
        raise UnsafeInputError(f"invalid bucket name {name[:80]!r}", path=source)
    return name


def decode_key(encoded: str, source: str) -> str:
    """Decode a notification's URL-encoded key and refuse hostile ones.

    Refused: keys that are not UTF-8, longer than S3's 1024 bytes, absolute, with ``.``/``..``
    or empty segments, backslashes or control characters.
    """
    raw = unquote_to_bytes(encoded.replace("+", " "))
    shown = encoded[:80]
    if len(raw) > MAX_KEY_BYTES:
        raise UnsafeInputError(f"object key longer than {MAX_KEY_BYTES} bytes", path=source)
    try:
        key = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UnsafeInputError(f"object key {shown!r} is not valid UTF-8", path=source) from err
    if key.startswith("/") or "\\" in key or any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise UnsafeInputError(
            f"object key {shown!r} is absolute or has bad characters", path=source
        )
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise UnsafeInputError(
            f"object key {shown!r} has an empty, '.' or '..' segment", path=source
        )
    return key


def l1c_arrival(obj: S3Object) -> L1CArrival | None:
    """The Level-1C product ``obj`` announces, or ``None`` when it is not one (skip it).

    ``P/X.SAFE/manifest.safe`` -> ``s3://bucket/P/X.SAFE``; ``P/X.zip`` or ``P/X.SAFE.zip`` ->
    the zip itself; ``X`` must be a compact Level-1C product name.
    """
    parts = obj.key.split("/")
    if parts[-1] == MANIFEST and len(parts) >= 2 and parts[-2].endswith(".SAFE"):
        name, uri = parts[-2], obj.uri.rsplit("/", 1)[0]
    elif parts[-1].endswith(".zip"):
        name, uri = parts[-1].removesuffix(".zip"), obj.uri
    else:
        return None
    scene_id = name.removesuffix(".SAFE")
    try:
        level = CompactProductName.parse(scene_id).level
    except InputError:
        return None
    return L1CArrival(scene_id=scene_id, product_uri=uri) if level == "L1C" else None


def _json_object(text: str, source: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError) as err:
        raise InputError(f"message body is not JSON ({err})", path=source) from err
    if not isinstance(value, dict):
        raise InputError("message body is not a JSON object", path=source)
    return value
