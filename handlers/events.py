"""Parse and check the messages that reach the queues; gate arrivals on the product name.

An arrival-queue body is an S3 event notification (``{"Records": [{"s3": ...}]}``), the one-off
``s3:TestEvent`` S3 sends when a notification is configured, a message of the public Sentinel-2
L1C topic (``{"name": <product>, "tiles": [{"path": "tiles/..."}]}``, raw SNS delivery), or one
of these wrapped in an SNS envelope (``{"Type": "Notification", "Message": "<json>"}``). Object
keys arrive URL-encoded (``+`` for space); they are untrusted and are decoded and checked before
any use. The gate is the name only (cheap, no S3 read): a Level-1C SAFE's ``manifest.safe``, a
zipped Level-1C SAFE, or a topic tile of a Level-1C product; everything else is skipped.

A processing-queue body is a :class:`WorkMessage` the dispatcher wrote; it is checked again.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any, Final
from urllib.parse import unquote_to_bytes

from core.errors import InputError, UnsafeInputError
from core.product.naming import CompactProductName
from handlers.objects import S3_PREFIX, split_uri

MAX_KEY_BYTES: Final[int] = 1024
"""S3's limit on an object key (UTF-8 bytes)."""
BUCKET_NAME: Final = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
"""S3 bucket naming rule (general purpose buckets)."""
TOPIC_TILE_PATH: Final = re.compile(r"tiles/(\d{1,2})/([A-Z])/([A-Z]{2})/\d{4}/\d{1,2}/\d{1,2}/\d+")
"""An AWS open-data L1C tile folder: ``tiles/<zone>/<band>/<square>/<y>/<m>/<d>/<n>``."""
TEST_EVENT: Final[str] = "s3:TestEvent"
MANIFEST: Final[str] = "manifest.safe"
MAX_VERSION_CHARS: Final[int] = 64


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
    """``s3://bucket/prefix/X.SAFE`` for a manifest, ``s3://bucket/prefix/X.zip`` for a zip,
    ``s3://<topic bucket>/tiles/...`` for a topic tile."""

    @property
    def name(self) -> CompactProductName:
        return CompactProductName.parse(self.scene_id)


@dataclass(frozen=True, slots=True)
class Announced:
    """One object or tile a message announces, and the Level-1C arrival it is (``None``: skip)."""

    uri: str
    arrival: L1CArrival | None


@dataclass(frozen=True, slots=True)
class WorkMessage:
    """The processing-queue message for one scene: what to process, queued by which version."""

    scene_id: str
    input_uri: str
    version: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, body: str, *, source: str = "message") -> WorkMessage:
        """Parse and check a work message; raise InputError / UnsafeInputError naming ``source``."""
        message = _json_object(body, source)
        fields = ("scene_id", "input_uri", "version")
        if set(message) != set(fields) or not all(isinstance(message[f], str) for f in fields):
            raise InputError(
                f"work message must have exactly the string fields {fields}", path=source
            )
        arrival = l1c_arrival_name(message["scene_id"])
        if arrival is None:
            raise InputError(
                f"{message['scene_id'][:80]!r} is not a Level-1C scene id", path=source
            )
        bucket, key = split_uri(message["input_uri"])
        if not message["input_uri"].startswith(S3_PREFIX) or not key:
            raise InputError("input_uri is not an s3://bucket/key URI", path=source)
        if not 0 < len(message["version"]) <= MAX_VERSION_CHARS:
            raise InputError("version is empty or too long", path=source)
        return cls(
            scene_id=message["scene_id"],
            input_uri=S3Object(check_bucket(bucket, source), check_key(key, source)).uri,
            version=message["version"],
        )


def parse_arrivals(body: str, *, source: str, topic_bucket: str) -> list[Announced]:
    """Everything an arrival-queue message announces; ``[]`` for an ``s3:TestEvent``.

    Raises
    ------
    InputError
        The body is not JSON, not an S3 notification and not a topic message (``source`` names
        the message).
    UnsafeInputError
        A bucket name, object key or tile path is hostile (see :func:`check_key`).
    """
    message = _json_object(body, source)
    if message.get("Type") == "Notification" and isinstance(message.get("Message"), str):
        message = _json_object(message["Message"], source)
    if "tiles" in message and "name" in message:
        return _topic_tiles(message, topic_bucket, source)
    return [Announced(obj.uri, l1c_arrival(obj)) for obj in _s3_objects(message, source)]


def _s3_objects(message: dict[str, Any], source: str) -> list[S3Object]:
    """The created objects of an S3 event notification; ``[]`` for an ``s3:TestEvent``."""
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


def _topic_tiles(message: dict[str, Any], bucket: str, source: str) -> list[Announced]:
    """The tiles of a public L1C topic message; those of a non-L1C product are skipped.

    The product name gives the scene id; a tile whose path is not the name's MGRS tile (the
    pre-2017 multi-tile products, whose names are not compact anyway) is skipped.
    """
    name, tiles = message["name"], message["tiles"]
    if not isinstance(name, str) or not isinstance(tiles, list) or not tiles:
        raise InputError("topic message without a product name or tiles", path=source)
    scene_id = name.removesuffix(".SAFE")
    arrival_name = l1c_arrival_name(scene_id)
    announced = []
    for tile in tiles:
        path = tile.get("path") if isinstance(tile, dict) else None
        if not isinstance(path, str):
            raise InputError("topic tile without a path", path=source)
        obj = S3Object(bucket, check_key(path.strip("/"), source))
        match = TOPIC_TILE_PATH.fullmatch(obj.key)
        if match is None:
            raise InputError(
                f"topic tile path {path[:80]!r} is not a tiles/... folder", path=source
            )
        tile_id = f"{int(match[1]):02d}{match[2]}{match[3]}"
        same_tile = arrival_name is not None and arrival_name.tile_id == tile_id
        announced.append(Announced(obj.uri, L1CArrival(scene_id, obj.uri) if same_tile else None))
    return announced


def check_bucket(name: str, source: str) -> str:
    """Return ``name`` if it follows the S3 bucket naming rule, else raise UnsafeInputError."""
    if not BUCKET_NAME.fullmatch(name):
        raise UnsafeInputError(f"invalid bucket name {name[:80]!r}", path=source)
    return name


def decode_key(encoded: str, source: str) -> str:
    """Decode a notification's URL-encoded key and refuse hostile ones (see :func:`check_key`)."""
    raw = unquote_to_bytes(encoded.replace("+", " "))
    if len(raw) > MAX_KEY_BYTES:
        raise UnsafeInputError(f"object key longer than {MAX_KEY_BYTES} bytes", path=source)
    try:
        key = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UnsafeInputError(
            f"object key {encoded[:80]!r} is not valid UTF-8", path=source
        ) from err
    return check_key(key, source)


def check_key(key: str, source: str) -> str:
    """Return the decoded object key ``key`` unless it is hostile.

    Refused: keys longer than S3's 1024 bytes, absolute, with ``.``/``..`` or empty segments,
    backslashes or control characters.
    """
    shown = key[:80]
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise UnsafeInputError(f"object key longer than {MAX_KEY_BYTES} bytes", path=source)
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
    return L1CArrival(scene_id, uri) if l1c_arrival_name(scene_id) else None


def l1c_arrival_name(scene_id: str) -> CompactProductName | None:
    """The parsed name when ``scene_id`` is a compact Level-1C product name (no ``.SAFE``, no
    folder), else ``None``."""
    if "/" in scene_id or scene_id.endswith(".SAFE"):
        return None
    try:
        name = CompactProductName.parse(scene_id)
    except InputError:
        return None
    return name if name.level == "L1C" else None


def _json_object(text: str, source: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError) as err:
        raise InputError(f"message body is not JSON ({err})", path=source) from err
    if not isinstance(value, dict):
        raise InputError("message body is not a JSON object", path=source)
    return value
