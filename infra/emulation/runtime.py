"""Start the emulated stack: moto's HTTP server, the template's resources, the functions.

:func:`emulated_stack` starts ``moto.server.ThreadedMotoServer`` on 127.0.0.1 (:func:`moto_server`,
a free port) or uses one already running, resets moto's account, creates what ``template.yaml``
declares, sets the process environment a deployed function sees (the endpoint, test credentials
and the function's ``Environment`` from the template), loads each function's handler as a cold
start would, and wires its SQS events into
:class:`~infra.emulation.event_source.EventSourceMapping` objects. Everything is undone on exit.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import socket
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import boto3
from moto.server import ThreadedMotoServer

from infra.emulation.event_source import EventSourceMapping, Handler
from infra.emulation.provision import provision
from infra.emulation.stack import Stack

log = logging.getLogger(__name__)

LOCAL_PARAMETERS: Final[dict[str, str]] = {
    "ProcessingVisibilityTimeoutSeconds": "2",
    "ArrivalVisibilityTimeoutSeconds": "2",
    "CatalogVisibilityTimeoutSeconds": "2",
    "StripVisibilityTimeoutSeconds": "2",
}
"""Template parameters the emulation overrides: a failed message comes back after 2 s instead of
the deployed 6 or 90 minutes, so a message that keeps failing reaches its dead-letter queue in
seconds (the in-process pollers are the only consumers and run one batch at a time, so a shorter
timeout cannot cause a second delivery while a message is being processed)."""
CLIENT_ENVIRONMENT: Final[dict[str, str]] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_TRACE_DISABLED": "true",
}
"""Fake credentials for moto; no X-Ray daemon runs locally."""


@dataclass(frozen=True, slots=True)
class Emulation:
    """A running emulated stack."""

    stack: Stack
    mappings: dict[str, EventSourceMapping]
    """``<function>.<event>`` -> the event source mapping of that SQS event."""

    def client(self, service: str) -> Any:
        """A boto3 client of the emulated endpoint."""
        return boto3.client(
            service, endpoint_url=self.stack.endpoint, region_name=self.stack.region
        )

    def bucket(self, logical_id: str) -> str:
        return self.stack.physical_name(logical_id)

    def queue_url(self, logical_id: str) -> str:
        return self.stack.ref(logical_id)

    def table(self, logical_id: str) -> str:
        return self.stack.physical_name(logical_id)

    def environment(self, function: str) -> dict[str, str]:
        """The process environment with the ``Environment`` of ``function`` (a logical id)."""
        variables = self.stack.properties(function).get("Environment", {}).get("Variables", {})
        return dict(os.environ) | {k: str(v) for k, v in variables.items()}

    def endpoints(self) -> dict[str, Any]:
        """The S3/SQS/DynamoDB endpoint and the name of every bucket, queue and table."""
        kinds = {
            "buckets": "AWS::S3::Bucket",
            "queues": "AWS::SQS::Queue",
            "tables": "AWS::DynamoDB::Table",
        }
        return {
            "endpoint": self.stack.endpoint,
            "region": self.stack.region,
            **{
                group: {
                    logical_id: self.queue_url(logical_id)
                    if kind == "AWS::SQS::Queue"
                    else self.stack.physical_name(logical_id)
                    for logical_id in self.stack.resources(kind)
                }
                for group, kind in kinds.items()
            },
        }


@contextmanager
def moto_server(port: int | None = None) -> Iterator[str]:
    """moto's HTTP server (S3, SQS, DynamoDB and the rest) on 127.0.0.1:``port`` (default a free
    port) until the block exits; yields its endpoint URL."""
    port = port or _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def client_environment(endpoint: str, region: str = "us-east-1") -> dict[str, str]:
    """The environment that points boto3, s3fs and GDAL at the emulated ``endpoint``.

    GDAL's S3 settings are set process-wide too: ``rasterio.Env`` sets them for its own thread
    only, and the JP2 driver decodes the tiles of a multi-tile window on GDAL's worker threads,
    which would otherwise ask AWS's real endpoint (as they do, correctly, when deployed).
    """
    scheme, _, host = endpoint.partition("://")
    return CLIENT_ENVIRONMENT | {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": region,
        "AWS_S3_ENDPOINT": host,
        "AWS_VIRTUAL_HOSTING": "FALSE",
        "AWS_HTTPS": "NO" if scheme == "http" else "YES",
    }


@contextmanager
def emulated_stack(
    parameters: dict[str, str] | None = None,
    port: int | None = None,
    endpoint: str | None = None,
) -> Iterator[Emulation]:
    """Run the stack of ``template.yaml`` until the block exits, on the moto server at
    ``endpoint`` (its account is reset first) or on a new one listening on ``port``."""
    with contextlib.ExitStack() as resources:
        endpoint = endpoint or resources.enter_context(moto_server(port))
        saved = dict(os.environ)
        resources.callback(_restore_environment, saved)
        # moto keeps its state per process, not per server: start from an empty account.
        reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(reset).close()  # noqa: S310 - a local moto server
        stack = Stack(endpoint=endpoint, parameters=LOCAL_PARAMETERS | (parameters or {}))
        os.environ.update(client_environment(stack.endpoint, stack.region))
        provision(stack)
        log.info("emulated AWS endpoint %s (stack %s)", stack.endpoint, stack.name)
        yield Emulation(stack, _mappings(stack))


def _restore_environment(saved: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(saved)


def _mappings(stack: Stack) -> dict[str, EventSourceMapping]:
    """Load every function and map its SQS events (SAM ``Events`` of ``Type: SQS``).

    Functions run in this process, so every function's ``Environment`` joins the process
    environment (the functions use distinct variable names, or the same value for a shared one).
    """
    mappings = {}
    sqs = boto3.client("sqs", endpoint_url=stack.endpoint, region_name=stack.region)
    for logical_id in stack.resources("AWS::Serverless::Function"):
        props = stack.properties(logical_id)
        if not any(event["Type"] == "SQS" for event in props.get("Events", {}).values()):
            continue  # served otherwise (the catalog: infra.emulation.stac_api)
        os.environ.update(props.get("Environment", {}).get("Variables", {}))
        image_command = props.get("ImageConfig", {}).get("Command")
        handler = cold_start(image_command[0] if image_command else props["Handler"])
        for event_name, event in props.get("Events", {}).items():
            if event["Type"] != "SQS":
                continue
            queue_arn = event["Properties"]["Queue"]
            mappings[f"{logical_id}.{event_name}"] = EventSourceMapping(
                sqs=sqs,
                queue_url=sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[1])["QueueUrl"],
                queue_arn=queue_arn,
                handler=handler,
                function_name=stack.physical_name(logical_id),
                timeout_s=int(props["Timeout"]),
                memory_mb=int(props["MemorySize"]),
                batch_size=int(event["Properties"].get("BatchSize", 10)),
                region=stack.region,
            )
    return mappings


def cold_start(handler_path: str) -> Handler:
    """Import ``module.function`` afresh, so module-level settings read the current environment."""
    module_name, function = handler_path.rsplit(".", 1)
    module = sys.modules.get(module_name)
    module = importlib.reload(module) if module else importlib.import_module(module_name)
    handler: Handler = getattr(module, function)
    return handler


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
