"""Serve the catalog function on localhost, as API Gateway's HTTP API would invoke it.

Each HTTP request becomes an HTTP API payload 2.0 event for ``handlers.catalog.handler`` (run
in-process, one invocation at a time as in one Lambda instance) and its result becomes the HTTP
response, so STAC clients exercise the real handler.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qs

from infra.emulation.context import EmulatedContext
from infra.emulation.event_source import Handler
from infra.emulation.runtime import cold_start
from infra.emulation.stack import ACCOUNT_ID, Stack

log = logging.getLogger(__name__)

FUNCTION: Final[str] = "CatalogFunction"
"""The catalog function of ``template.yaml``."""
MAX_BODY_BYTES: Final[int] = 10 * 1024 * 1024
"""API Gateway's limit on a request body."""


def serve(
    host: str = "127.0.0.1", port: int = 0, *, env: Mapping[str, str]
) -> tuple[ThreadingHTTPServer, str]:
    """Start the STAC API on ``host:port`` (0: a free port) in a daemon thread.

    ``env`` is the function's environment (``STAC_INDEX_TABLE``, the endpoint and credentials);
    it is set in this process before the handler is loaded, as a cold start would see it.
    Returns the server (``shutdown()`` and ``server_close()`` stop it) and its URL.
    """
    os.environ.update(env)
    stack = Stack(endpoint=env.get("AWS_ENDPOINT_URL", ""))
    function = stack.properties(FUNCTION)
    invoke = _Invoker(
        cold_start(function["ImageConfig"]["Command"][0]),
        name=stack.physical_name(FUNCTION),
        timeout_s=int(function["Timeout"]),
        memory_mb=int(function["MemorySize"]),
    )
    server = ThreadingHTTPServer((host, port), _request_handler(invoke))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="stac-api", daemon=True).start()
    url = f"http://{host}:{server.server_address[1]}"
    log.info("STAC API on %s", url)
    return server, url


class _Invoker:
    """Calls the handler one event at a time, as one Lambda instance does."""

    def __init__(self, handler: Handler, *, name: str, timeout_s: int, memory_mb: int) -> None:
        self._handler = handler
        self._name = name
        self._timeout_s = timeout_s
        self._memory_mb = memory_mb
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            context = EmulatedContext(self._name, self._timeout_s, self._memory_mb)
            result: dict[str, Any] = self._handler(event, context)
            return result


def http_api_event(
    method: str, target: str, headers: Mapping[str, str], body: bytes, source_ip: str
) -> dict[str, Any]:
    """The API Gateway HTTP API (payload 2.0, ``$default`` stage and route) event of a request.

    The path stays percent-encoded (``rawPath``); query parameters are decoded, repeated ones
    joined with commas, as API Gateway does.
    """
    path, _, query = target.partition("?")
    params = parse_qs(query, keep_blank_values=True)
    joined: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    joined.setdefault("x-forwarded-proto", "http")  # API Gateway adds it (https) in front
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": joined,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": "local",
            "domainName": joined.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": encoded,
    }
    if params:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in params.items()}
    if body:
        event["body"] = text
    return event


def _request_handler(invoke: _Invoker) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._invoke()

        def do_POST(self) -> None:
            self._invoke()

        def do_OPTIONS(self) -> None:
            self._invoke()

        def _invoke(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self.send_error(413, "request body larger than API Gateway accepts")
                return
            body = self.rfile.read(length) if length else b""
            event = http_api_event(
                self.command, self.path, dict(self.headers.items()), body, self.client_address[0]
            )
            result = invoke(event)
            payload = result.get("body") or ""
            data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
            self.send_response(int(result.get("statusCode", 200)))
            for name, value in (result.get("headers") or {}).items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            for cookie in result.get("cookies") or []:
                self.send_header("Set-Cookie", cookie)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s %s", self.address_string(), format % args)

    return Handler
