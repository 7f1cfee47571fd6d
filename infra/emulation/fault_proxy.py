"""A fault-injecting HTTP proxy on loopback in front of the emulated S3 endpoint.

The functions' S3 clients (boto3, s3fs and GDAL's ``/vsis3/``) are pointed at the proxy through
``AWS_ENDPOINT_URL_S3``; every request is forwarded unchanged to moto's server unless a
:class:`Fault` matches it (HTTP method and a regular expression on the request path, which holds
``/<bucket>/<key>`` in the path-style addressing a loopback endpoint gets). A fault answers the
request itself, as S3 or the network would:

* ``slowdown``: ``503 SlowDown`` with S3's XML error body (S3 throttling);
* ``reset``: the request is read, then the TCP connection is reset (RST) without an answer;
* ``delay``: the request is forwarded after ``delay_s`` seconds.

Each fault hits its first ``times`` matching requests (``None``: every one). Every request is
logged (:attr:`FaultProxy.log`), so tests can count the writes of a key.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final, Literal
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

FaultKind = Literal["slowdown", "reset", "delay"]
HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "expect",
    }
)
"""Headers that describe one connection (RFC 9110 §7.6.1) and are not forwarded."""
SLOWDOWN_BODY: Final[bytes] = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message>"
    b"<RequestId>fault-proxy</RequestId></Error>"
)
"""S3's answer when it throttles a prefix (HTTP 503)."""
UPSTREAM_TIMEOUT_S: Final[float] = 120.0
READS: Final[tuple[str, ...]] = ("GET", "HEAD")
WRITES: Final[tuple[str, ...]] = ("PUT", "POST", "DELETE")


@dataclass
class Fault:
    """A fault for the requests whose method is in ``methods`` and whose decoded path (query
    string included) matches ``path`` (``re.search``)."""

    kind: FaultKind
    path: str
    methods: tuple[str, ...] = READS + WRITES
    times: int | None = 1
    """Matching requests that get the fault; later ones pass (``None``: all of them)."""
    delay_s: float = 0.0
    hits: list[str] = field(default_factory=list)
    """``METHOD path`` of every request the fault hit."""

    def matches(self, method: str, path: str) -> bool:
        spent = self.times is not None and len(self.hits) >= self.times
        return not spent and method in self.methods and re.search(self.path, path) is not None


@dataclass(frozen=True, slots=True)
class Request:
    """One request the proxy received: method, decoded path and what it got (an HTTP status or
    the kind of fault)."""

    method: str
    path: str
    outcome: str


class FaultProxy:
    """The proxy: ``with FaultProxy("http://127.0.0.1:5000") as proxy: proxy.url ...``."""

    def __init__(self, upstream: str, host: str = "127.0.0.1", port: int = 0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be http://host:port, not {upstream!r}")
        self.upstream: tuple[str, int] = (parts.hostname, parts.port)
        self.faults: list[Fault] = []
        self.log: list[Request] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler_class(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fault-proxy", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        log.info("fault proxy %s -> %s:%d", self.url, *self.upstream)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def inject(self, fault: Fault) -> Fault:
        """Add ``fault`` (checked before the earlier ones); return it to read its hits later."""
        with self._lock:
            self.faults.insert(0, fault)
        return fault

    def clear(self) -> None:
        """Remove every fault and forget the request log."""
        with self._lock:
            self.faults.clear()
            self.log.clear()

    def requests(self, method: str, path: str) -> list[Request]:
        """Logged requests of ``method`` whose path matches ``path`` (``re.search``)."""
        with self._lock:
            return [r for r in self.log if r.method == method and re.search(path, r.path)]

    def _claim(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.hits.append(f"{method} {path}")
                    return fault
        return None

    def _record(self, method: str, path: str, outcome: str) -> None:
        with self._lock:
            self.log.append(Request(method, path, outcome))


def _handler_class(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._proxy()

        do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

        def _proxy(self) -> None:
            body = self._read_body()
            path = unquote(self.path)
            fault = proxy._claim(self.command, path)
            if fault is not None and fault.kind == "reset":
                proxy._record(self.command, path, "reset")
                self._reset()
                return
            if fault is not None and fault.kind == "slowdown":
                proxy._record(self.command, path, "slowdown")
                self._answer(503, [("Content-Type", "application/xml")], SLOWDOWN_BODY)
                return
            if fault is not None:
                time.sleep(fault.delay_s)
            status, headers, data = self._forward(body)
            proxy._record(self.command, path, str(status))
            self._answer(status, headers, data)

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                while self.rfile.readline().strip():  # trailer fields
                    pass
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
            connection = http.client.HTTPConnection(*proxy.upstream, timeout=UPSTREAM_TIMEOUT_S)
            try:
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
                }
                if body or self.command in ("PUT", "POST"):
                    headers["Content-Length"] = str(len(body))
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                kept = [
                    (k, v)
                    for k, v in response.getheaders()
                    if k.lower() not in HOP_BY_HOP
                    and (k.lower() != "content-length" or self.command == "HEAD")
                ]
                return response.status, kept, data
            finally:
                connection.close()

        def _answer(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            if self.command != "HEAD":
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _reset(self) -> None:
            """Close the connection with a TCP RST (SO_LINGER 0), as a dropped link would."""
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

        def finish(self) -> None:
            with contextlib.suppress(OSError, ValueError):  # the connection was reset on purpose
                super().finish()

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s %s", self.address_string(), format % args)

    return Handler
