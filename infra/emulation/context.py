"""The ``context`` object Lambda passes to a handler, for in-process invocations."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from infra.emulation.stack import ACCOUNT_ID


@dataclass(frozen=True, slots=True)
class EmulatedContext:
    """The attributes and method of Lambda's Python context that powertools reads.

    The deadline starts when the object is created, as an invocation's does.
    """

    function_name: str
    timeout_s: int
    memory_limit_in_mb: int
    region: str = "us-east-1"
    account_id: str = ACCOUNT_ID
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    deadline: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "deadline", time.monotonic() + self.timeout_s)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"emulated/{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout."""
        return max(0, int((self.deadline - time.monotonic()) * 1000))
