"""The HTTP listener of the daemon and the node agent: /metrics and /healthz served by waitress, with limits.

Why waitress and not the standard library's ``ThreadingHTTPServer`` (nor ``prometheus_client``'s
``start_http_server``, which is the same thing): both start one thread per connection and never time a
read out, so 500 clients that open a connection and send nothing made 507 threads. waitress reads every
connection in one event loop, hands complete requests to a fixed pool of ``threads``, stops accepting at
``connection_limit`` open connections and closes a connection idle (or half-sent) for ``read_timeout_s``.
The limits are ``[daemon.http]`` / ``[agent.http]`` settings (``HttpLimits``).

The socket is bound here (IPv4 or IPv6 by the host's form), so a taken port fails at start with ``OSError``
before any thread exists, and ``port 0`` picks a free one (``address`` says which).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry
from pydantic import BaseModel, ConfigDict, PositiveInt

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["HealthAnswer", "HttpLimits", "LimitedServer", "metrics_app"]

log = logging.getLogger("quotad.http")

#: () -> (HTTP status, JSON body)
HealthAnswer = Callable[[], tuple[int, dict[str, Any]]]

_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class HttpLimits(BaseModel):
    """What one HTTP listener may hold: worker threads, open connections, and how long a read may stall."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Requests served at once (one Prometheus and a probe need two; a few spare for people with curl).
    threads: PositiveInt = 4
    #: Open connections beyond this are not accepted until some close (the kernel's backlog holds them).
    connection_limit: PositiveInt = 64
    #: A connection with no complete request for this long is closed (slow or half-open clients).
    read_timeout_s: PositiveInt = 15
    #: How often idle connections are looked for; a stalled one lives at most read_timeout_s + this.
    cleanup_interval_s: PositiveInt = 5


def metrics_app(registry: CollectorRegistry, health: HealthAnswer | None, *, index: bytes) -> WSGIApplication:
    """``/metrics`` (Prometheus exposition, as the client's Accept asks), ``/healthz`` (JSON), ``/``."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", "/"))
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _send(start_response, 405, "text/plain; charset=utf-8", b"GET only\n")
        if path == "/metrics":
            encoder, content_type = choose_encoder(str(environ.get("HTTP_ACCEPT", "")))
            return _send(start_response, 200, content_type, encoder(registry))
        if path == "/healthz" and health is not None:
            status, body = health()
            return _send(start_response, status, "application/json", json.dumps(body, indent=1).encode() + b"\n")
        if path == "/":
            return _send(start_response, 200, "text/plain; charset=utf-8", index)
        return _send(start_response, 404, "text/plain; charset=utf-8", b"not found\n")

    return app


def _send(start_response: StartResponse, status: int, content_type: str, body: bytes) -> list[bytes]:
    start_response(
        f"{status} {_REASONS.get(status, '')}".rstrip(),
        [("Content-Type", content_type), ("Content-Length", str(len(body)))],
    )
    return [body]


class LimitedServer:
    """Binds on ``start`` and serves ``app`` in a background thread until ``stop``."""

    def __init__(self, app: WSGIApplication, host: str, port: int, *, limits: HttpLimits, name: str) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._limits = limits
        self._name = name
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> tuple[str, int]:
        from waitress.server import create_server

        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host or ("::" if family == socket.AF_INET6 else "0.0.0.0"), self._port))
        except OSError:
            sock.close()
            raise
        limits = self._limits
        self._server = create_server(
            self._app,
            sockets=[sock],
            threads=limits.threads,
            connection_limit=limits.connection_limit,
            channel_timeout=limits.read_timeout_s,
            cleanup_interval=limits.cleanup_interval_s,
            ident="quotad",
            expose_tracebacks=False,
        )
        self._thread = threading.Thread(target=self._server.run, name=self._name, daemon=True)
        self._thread.start()
        return self.address

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("the HTTP server is not started")
        return str(self._server.effective_host), int(self._server.effective_port)

    def stop(self) -> None:
        """Close every connection and the listener from inside the event loop, then stop the workers."""
        server, self._server = self._server, None
        if server is None:
            return
        from waitress import wasyncore

        connections = server._map
        server.trigger.pull_trigger(lambda: wasyncore.close_all(connections))
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        server.task_dispatcher.shutdown()
