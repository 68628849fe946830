"""One HTTP listener for ``/metrics`` (Prometheus exposition) and ``/healthz`` (JSON), in its own threads.

Why not ``prometheus_client.start_http_server``: it serves a registry only, and /healthz must share its port
(one address to open in a firewall, one to probe). The standard library's threading server is enough for
one Prometheus and a health probe; each request builds its answer fresh from the registry and the job table.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

__all__ = ["HealthAnswer", "MetricsServer"]

log = logging.getLogger("quotad.daemon.http")

#: () -> (HTTP status, JSON body)
HealthAnswer = Callable[[], tuple[int, dict[str, Any]]]

_INDEX = b"quotad: /metrics (Prometheus), /healthz (job health, 503 when a job is stale)\n"


def _handler(registry: CollectorRegistry, health: HealthAnswer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "quotad"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                self._send(200, content_type, encoder(registry))
            elif path == "/healthz":
                status, body = health()
                self._send(status, "application/json", json.dumps(body, indent=1).encode() + b"\n")
            elif path == "/":
                self._send(200, "text/plain; charset=utf-8", _INDEX)
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

    return Handler


class _Ipv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class MetricsServer:
    """Binds on ``start`` (port 0 picks a free one; ``address`` tells which) and serves until ``stop``."""

    def __init__(self, host: str, port: int, *, registry: CollectorRegistry, health: HealthAnswer) -> None:
        self._host = host
        self._port = port
        self._registry = registry
        self._health = health
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> tuple[str, int]:
        server_class = _Ipv6Server if ":" in self._host else ThreadingHTTPServer
        server = server_class((self._host, self._port), _handler(self._registry, self._health))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="quotad-http", daemon=True)
        self._thread.start()
        return self.address

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("the HTTP server is not started")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
