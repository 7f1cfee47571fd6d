"""Settings of the processor function, read from its environment (set by ``template.yaml``)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from core.errors import ConfigError

MODES = ("sc_only", "cr_only")
"""Processing modes the pipeline runs today (atmospheric correction is not available yet)."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Function settings from its environment (set by ``template.yaml``)."""

    output_bucket: str
    output_prefix: str
    idempotency_table: str
    idempotency_expiry_s: int
    mode: str

    @classmethod
    def from_env(cls) -> Settings:
        """Read the settings; raise :class:`ConfigError` naming a missing or bad variable."""
        env = os.environ
        for name in ("OUTPUT_BUCKET", "IDEMPOTENCY_TABLE"):
            if not env.get(name):
                raise ConfigError("environment variable is not set", key=name)
        mode = env.get("PROCESSING_MODE", "sc_only")
        if mode not in MODES:
            raise ConfigError(f"{mode!r} is not one of {MODES}", key="PROCESSING_MODE")
        return cls(
            output_bucket=env["OUTPUT_BUCKET"],
            output_prefix=env.get("OUTPUT_PREFIX", "l2a").strip("/"),
            idempotency_table=env["IDEMPOTENCY_TABLE"],
            idempotency_expiry_s=int(env.get("IDEMPOTENCY_EXPIRY_SECONDS", "2592000")),
            mode=mode,
        )

    @property
    def output_uri(self) -> str:
        return f"s3://{self.output_bucket}/{self.output_prefix}"
