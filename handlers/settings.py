"""Settings of the dispatcher, processor, strip, assembly and catalog-writer functions, read
from their environment.

``template.yaml`` sets every variable; each function reads its settings once per cold start and
a missing or bad variable stops it with a :class:`ConfigError` naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from core.config.options import ProcessingOptions
from core.errors import ConfigError, ProcessingError
from core.product.metadata import ProcessingBaseline

MODES: Final = ("l2a", "sc_only")
"""``l2a``: classification and atmospheric correction; ``sc_only``: classification only."""
OUTPUT_FORMATS: Final = frozenset({"cog", "safe"})
"""``cog``: the cloud product (COGs, thumbnail, STAC item), always; ``safe``: the Sen2Cor SAFE."""
CATALOG_PREFIX: Final = "catalog"
"""Key prefix of the static catalog tree in the output bucket (``template.yaml`` grants the
catalog writer this prefix only)."""


@dataclass(frozen=True, slots=True)
class DispatcherSettings:
    """Settings of :mod:`handlers.dispatcher`."""

    state_table: str
    processing_queue_url: str
    min_baseline: ProcessingBaseline
    """Level-1C products of an older processing baseline are skipped."""
    topic_bucket: str
    """Bucket of the tiles announced by the public L1C topic."""
    requeue_after_s: int
    """A scene queued this long ago without being published may be queued again: its work
    message has outlived every delivery (visibility timeout x (maxReceiveCount + 1))."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> DispatcherSettings:
        """Read the settings; raise :class:`ConfigError` naming a missing or bad variable."""
        baseline = _required(env, "MIN_L1C_BASELINE")
        try:
            min_baseline = ProcessingBaseline.parse(baseline)
        except ValueError as err:
            raise ConfigError(str(err), key="MIN_L1C_BASELINE") from err
        visibility = _integer(env, "PROCESSING_VISIBILITY_TIMEOUT_SECONDS")
        return cls(
            state_table=_required(env, "STATE_TABLE"),
            processing_queue_url=_required(env, "PROCESSING_QUEUE_URL"),
            min_baseline=min_baseline,
            topic_bucket=_required(env, "L1C_TOPIC_BUCKET"),
            requeue_after_s=visibility * (_integer(env, "MAX_RECEIVE_COUNT") + 1),
        )


@dataclass(frozen=True, slots=True)
class ProcessorSettings:
    """Settings of :mod:`handlers.processor` and :mod:`handlers.assembly`."""

    output_bucket: str
    collection_id: str
    output_formats: frozenset[str]
    state_table: str
    catalog_queue_url: str
    """FIFO queue of :mod:`handlers.catalog_writer`, which adds published items to the static
    catalog."""
    mode: str
    min_remaining_s: int
    """Refuse to start a scene with less time left in the invocation."""
    idempotency_expiry_s: int
    """How long a completed run answers a repeated work message without running again."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ProcessorSettings:
        """Read the settings; raise :class:`ConfigError` naming a missing or bad variable."""
        formats = frozenset(_required(env, "OUTPUT_FORMATS").split(","))
        if "cog" not in formats or not formats <= OUTPUT_FORMATS:
            raise ConfigError(
                f"must list cog and optionally safe, comma-separated, not {sorted(formats)}",
                key="OUTPUT_FORMATS",
            )
        return cls(
            output_bucket=_required(env, "OUTPUT_BUCKET"),
            collection_id=_required(env, "COLLECTION_ID"),
            output_formats=formats,
            state_table=_required(env, "STATE_TABLE"),
            catalog_queue_url=_required(env, "CATALOG_QUEUE_URL"),
            mode=_mode(env),
            min_remaining_s=_integer(env, "MIN_REMAINING_SECONDS"),
            idempotency_expiry_s=_integer(env, "IDEMPOTENCY_EXPIRY_SECONDS"),
        )

    def staging_uri(self, scene_id: str) -> str:
        """:func:`staging_uri` of the output bucket."""
        return staging_uri(self.output_bucket, scene_id)

    def collection_uri(self) -> str:
        """The collection document the items link to, ``s3://<output>/<collection>/collection.json``."""
        return f"s3://{self.output_bucket}/{self.collection_id}/collection.json"

    def publish_uri(self, scene_id: str) -> str:
        """Where a scene is published: ``s3://<output>/<collection>/<scene>/`` (deterministic)."""
        return f"s3://{self.output_bucket}/{self.collection_id}/{scene_id}/"


@dataclass(frozen=True, slots=True)
class FanOutSettings:
    """How :mod:`handlers.processor` splits a tile across :mod:`handlers.strips` invocations."""

    strips_per_task: int
    """Strips (:func:`core.io.block_reader.strip_windows`) one strip invocation corrects; a
    tile with more strips than this fans out, ``0`` never does."""
    strip_queue_url: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> FanOutSettings:
        """Read the settings; raise :class:`ConfigError` naming a missing or bad variable."""
        return cls(
            strips_per_task=_integer(env, "FAN_OUT_STRIPS"),
            strip_queue_url=_required(env, "STRIP_QUEUE_URL"),
        )

    def fans_out(self, strip_count: int) -> bool:
        """Whether a tile of ``strip_count`` strips is split across strip invocations."""
        return 0 < self.strips_per_task < strip_count


@dataclass(frozen=True, slots=True)
class StripSettings:
    """Settings of :mod:`handlers.strips`."""

    output_bucket: str
    """Holds the staging prefix the plans and parts of a fan-out live under."""
    state_table: str
    assembly_queue_url: str
    mode: str
    min_remaining_s: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> StripSettings:
        """Read the settings; raise :class:`ConfigError` naming a missing or bad variable."""
        return cls(
            output_bucket=_required(env, "OUTPUT_BUCKET"),
            state_table=_required(env, "STATE_TABLE"),
            assembly_queue_url=_required(env, "ASSEMBLY_QUEUE_URL"),
            mode=_mode(env),
            min_remaining_s=_integer(env, "MIN_REMAINING_SECONDS"),
        )


@dataclass(frozen=True, slots=True)
class CatalogWriterSettings:
    """Settings of :mod:`handlers.catalog_writer`."""

    output_bucket: str
    """Holds the published items and the static catalog."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> CatalogWriterSettings:
        """Read the settings; raise :class:`ConfigError` naming a missing or bad variable."""
        return cls(output_bucket=_required(env, "OUTPUT_BUCKET"))

    def catalog_uri(self) -> str:
        """Root of the static catalog tree, ``s3://<output>/catalog`` (:mod:`core.stac.catalog`)."""
        return f"s3://{self.output_bucket}/{CATALOG_PREFIX}"


def staging_uri(output_bucket: str, scene_id: str) -> str:
    """Where the runs of a scene write, ``s3://<output>/staging/<scene>/``, each under its
    run id (expired by the bucket's lifecycle rule when a run dies)."""
    return f"s3://{output_bucket}/staging/{scene_id}/"


def processing_options(mode: str, input_uri: str) -> ProcessingOptions:
    """The run options of ``input_uri`` in ``mode`` (every function of a scene uses the same)."""
    return ProcessingOptions(input_dir=input_uri, sc_only=mode == "sc_only")


def too_little_time(remaining_ms: int, minimum_s: int, *, path: str) -> ProcessingError | None:
    """The error refusing to start a scene with less than ``minimum_s`` of the invocation left
    (``MIN_REMAINING_SECONDS``; the message is retried later instead of being killed half-way),
    or ``None`` when enough time is left."""
    remaining_s = remaining_ms / 1000
    if remaining_s >= minimum_s:
        return None
    return ProcessingError(
        f"only {remaining_s:.0f} s left in the invocation, {minimum_s} s needed to start: "
        "left for a later delivery",
        path=path,
    )


def _mode(env: Mapping[str, str]) -> str:
    mode = _required(env, "PROCESSING_MODE")
    if mode not in MODES:
        raise ConfigError(f"{mode!r} is not one of {MODES}", key="PROCESSING_MODE")
    return mode


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if not value:
        raise ConfigError("environment variable is not set", key=name)
    return value


def _integer(env: Mapping[str, str], name: str) -> int:
    text = _required(env, name)
    try:
        value = int(text)
    except ValueError as err:
        raise ConfigError(f"{text!r} is not an integer", key=name) from err
    if value < 0:
        raise ConfigError(f"{value} is negative", key=name)
    return value
