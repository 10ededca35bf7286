"""A fault-injecting HTTP proxy in front of the GCS emulator, written with the standard library.

Every request the google-cloud-storage client sends is numbered; a `FaultPlan` decides, per request,
to pass it through, to answer 503/429 without forwarding it (a transient error), to forward it and
then answer 503 (the write happened, the reply was lost), to cut the connection before or after
forwarding, or to delay it. The campaign points STORAGE_EMULATOR_HOST of the runs at the proxy and
checks the bucket directly at the emulator."""

from __future__ import annotations

import contextlib
import http.client
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

PASS, ERROR_503, ERROR_429, LOST_REPLY, CUT_BEFORE, CUT_AFTER = (
    "pass",
    "503",
    "429",
    "lost-reply",
    "cut-before",
    "cut-after",
)
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
}


@dataclass
class FaultPlan:
    """What happens to request number n (1-based, in arrival order)."""

    error_rate: float = 0.0  # share of requests answered 503 or 429 unforwarded
    lost_reply_rate: float = 0.0  # share of writes forwarded, then answered 503
    cut_at: dict[int, str] = field(default_factory=dict)  # request number -> CUT_BEFORE / CUT_AFTER
    # (method or "*", what the request line or body must contain, seconds): a slow writer
    delay: list[tuple[str, bytes, float]] = field(default_factory=list)
    seed: int = 0

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def decide(self, number: int, method: str, path: str) -> str:
        if number in self.cut_at:
            return self.cut_at[number]
        roll = self._random.random()
        if roll < self.error_rate:
            return ERROR_503 if self._random.random() < 0.5 else ERROR_429
        if method in ("POST", "PUT", "PATCH", "DELETE") and self._random.random() < self.lost_reply_rate:
            return LOST_REPLY
        return PASS

    def delay_for(self, method: str, path: str, body: bytes) -> float:
        return sum(
            seconds
            for verb, needle, seconds in self.delay
            if verb in (method, "*") and (needle in path.encode() or needle in body)
        )


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that closes a kept-alive connection is not an error worth a traceback.
        pass


class FaultProxy:
    """`with FaultProxy(emulator_url) as proxy:` then `proxy.url`, `proxy.plan = FaultPlan(...)`,
    `proxy.counts` (decisions taken), `proxy.requests` (requests seen), `proxy.connections` (TCP
    connections clients opened to it)."""

    def __init__(self, upstream: str, plan: FaultPlan | None = None):
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname or "127.0.0.1", parts.port or 80
        self.plan = plan or FaultPlan()
        self.requests = 0
        self.connections = 0
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def reset(self, plan: FaultPlan | None = None) -> None:
        with self._lock:
            self.plan = plan or FaultPlan()
            self.requests = 0
            self.connections = 0
            self.counts = {}

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self, method: str, path: str, body: bytes) -> tuple[int, str, float]:
        with self._lock:
            self.requests += 1
            number = self.requests
            decision = self.plan.decide(number, method, path)
            self.counts[decision] = self.counts.get(decision, 0) + 1
            delay = self.plan.delay_for(method, path, body)
            if delay:
                self.counts["delayed"] = self.counts.get("delayed", 0) + 1
            return number, decision, delay

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=120)
        try:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.reason, response.getheaders(), response.read()
        finally:
            connection.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy.connections += 1

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
                pass

            def _cut(self) -> None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

            def _reply(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status, reason)
                for name, value in headers:
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                _, decision, delay = proxy._next(self.command, self.path, body)
                if delay:
                    time.sleep(delay)
                if decision == CUT_BEFORE:
                    return self._cut()
                if decision in (ERROR_503, ERROR_429):
                    status = int(decision)
                    payload = b'{"error": {"code": %d, "message": "injected by the fault proxy"}}' % status
                    return self._reply(status, "Injected", [("Content-Type", "application/json")], payload)
                headers = {name: value for name, value in self.headers.items() if name.lower() not in _HOP_BY_HOP}
                status, reason, response_headers, response_body = proxy._forward(self.command, self.path, headers, body)
                if decision == CUT_AFTER:
                    return self._cut()
                if decision == LOST_REPLY:
                    payload = b'{"error": {"code": 503, "message": "reply lost (injected)"}}'
                    return self._reply(503, "Injected", [("Content-Type", "application/json")], payload)
                return self._reply(status, reason, response_headers, response_body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        return Handler


def count_requests(action: Callable[[str], object], upstream: str) -> int:
    """How many requests `action(proxy_url)` sends (a clean run through a passing proxy)."""
    with FaultProxy(upstream) as proxy:
        action(proxy.url)
        return proxy.requests
