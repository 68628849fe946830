"""One HTTP listener for ``/metrics`` (Prometheus exposition) and ``/healthz`` (JSON), with limits.

Why not ``prometheus_client.start_http_server``: it serves a registry only, and /healthz must share its port
(one address to open in a firewall, one to probe); and, like the standard library's threading server it is
built on, it starts a thread per connection with no read timeout. ``quotad.httpserve`` serves both paths
through waitress with a fixed thread pool, a connection cap and a read timeout (``[daemon.http]``); each
request builds its answer fresh from the registry and the job table.
"""

from __future__ import annotations

from prometheus_client.registry import CollectorRegistry

from quotad.httpserve import HealthAnswer, HttpLimits, LimitedServer, metrics_app

__all__ = ["HealthAnswer", "MetricsServer"]

_INDEX = b"quotad: /metrics (Prometheus), /healthz (job and data health, 503 when stale or degraded)\n"


class MetricsServer(LimitedServer):
    """Binds on ``start`` (port 0 picks a free one; ``address`` tells which) and serves until ``stop``."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        registry: CollectorRegistry,
        health: HealthAnswer,
        limits: HttpLimits | None = None,
    ) -> None:
        super().__init__(
            metrics_app(registry, health, index=_INDEX), host, port, limits=limits or HttpLimits(), name="quotad-http"
        )
