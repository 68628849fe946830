"""The pool figures behind the ``quotad_pool_*`` metrics, computed off the scrape path like the usage snapshot.

Why a cache of its own: ``pool_gauges`` builds the pool view twice (today and this month, from the hourly
rollup, reservations, maintenance windows and the agents' busy time), which costs far more than a scrape's
budget on a programme-sized ledger. The daemon's ``metrics_refresh`` job recomputes it when it is older than
half of ``max_age_s`` (reservations, maintenance and usage all change slowly against that, and "today" is
at most that much behind); a scrape recomputes it itself only when nothing younger than ``max_age_s`` is
held, so the exporter stays correct without the daemon.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from quotad.config import Settings
from quotad.pool.view import PoolGauge, pool_gauges
from quotad.units import GpuCatalog

__all__ = ["PoolCache", "PoolSnapshot", "compute_pool"]


@dataclass(frozen=True)
class PoolSnapshot:
    computed_at: int
    gauges: tuple[PoolGauge, ...]


def compute_pool(conn: Connection, settings: Settings, *, now: int) -> PoolSnapshot:
    partitions = {c.name: c.programme_partitions for c in settings.clusters}
    gauges = pool_gauges(
        conn, GpuCatalog(settings.gpu_types), now=now, tz=settings.programme.timezone, partitions=partitions
    )
    return PoolSnapshot(now, tuple(gauges))


class PoolCache:
    """Holds the latest ``PoolSnapshot``; ``refresh`` (the daemon job) and ``get`` (a scrape) share it."""

    def __init__(self, *, max_age_s: float) -> None:
        self._max_age_s = max_age_s
        self._snapshot: PoolSnapshot | None = None
        self._compute = threading.Lock()

    def refresh(self, engine: Engine, settings: Settings, *, now: int) -> bool:
        """Recompute when older than half ``max_age_s``; True when it did."""
        with self._compute:
            old = self._snapshot
            if old is not None and now - old.computed_at < self._max_age_s / 2:
                return False
            with engine.connect() as conn:
                self._snapshot = compute_pool(conn, settings, now=now)
            return True

    def get(self, conn: Connection, settings: Settings, *, now: int) -> PoolSnapshot:
        """The snapshot for a scrape: the cached one unless it is older than ``max_age_s`` (then recompute)."""
        with self._compute:
            snapshot = self._snapshot
            if snapshot is None or now - snapshot.computed_at > self._max_age_s:
                snapshot = self._snapshot = compute_pool(conn, settings, now=now)
            return snapshot
