"""The node agent's steps: ``start`` once, ``sample`` every interval, ``flush`` every minute, ``stop`` at the end.

Why no loop here: each step is a plain method over injected parts (NVML devices, attribution, aggregation,
the ledger sink, the clock), so tests drive it sample by sample with a fake clock and the production process
(``service.serve``) schedules the same methods with APScheduler. ``sample`` and ``flush`` may run in different
threads: the aggregator is touched only under one lock, and the database write happens outside it, so a
slow or unreachable ledger never delays sampling.

The exporter reads ``view()``, an immutable snapshot replaced after every sample, so a scrape needs no lock.

``flush`` first waits a random part of ``[agent] flush_jitter_s`` (``pacing.FlushPacing``), then takes the
totals: agents started together do not reach the ledger together, and the window written is the newest.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from quotad.collectors.nvml.aggregate import HOUR, Aggregator, TrackView
from quotad.collectors.nvml.attribution import Attributor, Ownership
from quotad.collectors.nvml.companies import CompanyDirectory
from quotad.collectors.nvml.counters import AgentCounters
from quotad.collectors.nvml.device import GpuIdentity, GpuReading, NvmlDevices
from quotad.collectors.nvml.pacing import FlushPacing
from quotad.collectors.nvml.sink import Delivery, LedgerSink
from quotad.collectors.nvml.spool import SpoolStats

__all__ = ["GpuView", "NodeAgent", "NodeView"]

log = logging.getLogger("quotad.agent")


@dataclass(frozen=True, slots=True)
class GpuView:
    """One GPU at the last sample: identity, reading, who holds it, idle streak and trailing window."""

    identity: GpuIdentity
    reading: GpuReading | None
    ownership: Ownership
    track: TrackView
    unsupported: frozenset[str]
    last_xid: int | None = None


@dataclass(frozen=True, slots=True)
class NodeView:
    """The whole node at the last sample (what ``/metrics`` and ``--once`` show)."""

    cluster: str
    node: str
    at: float
    nvml_up: bool
    driver_version: str
    gpus: tuple[GpuView, ...]
    last_flush: int | None
    spool: SpoolStats


class NodeAgent:
    """Sampling, attribution, aggregation and delivery of one node."""

    def __init__(
        self,
        *,
        cluster: str,
        node: str,
        devices: NvmlDevices,
        attributor: Attributor,
        aggregator: Aggregator,
        sink: LedgerSink,
        companies: CompanyDirectory,
        counters: AgentCounters,
        clock: Callable[[], float],
        pacing: FlushPacing | None = None,
    ) -> None:
        self.cluster = cluster
        self.node = node
        self.devices = devices
        self.attributor = attributor
        self.aggregator = aggregator
        self.sink = sink
        self.companies = companies
        self.counters = counters
        self.clock = clock
        self.pacing = pacing if pacing is not None else FlushPacing.single()
        self._lock = threading.Lock()
        self._view = NodeView(cluster, node, 0.0, False, "", (), None, SpoolStats(0, 0))
        self._last_flush: int | None = None
        self._spool_stats = SpoolStats(0, 0)
        self._last_xid: dict[int, int] = {}

    def start(self) -> tuple[GpuIdentity, ...]:
        """``open`` then ``resume``: NVML, then this hour's totals and the companies from the ledger."""
        identities = self.open()
        self.resume()
        return identities

    def open(self) -> tuple[GpuIdentity, ...]:
        """Open NVML (``NvmlUnavailableError`` if it cannot be used); the view lists the GPUs from here on."""
        now = self.clock()
        identities = self.devices.open(now)
        self._spool_stats = self.sink.spool.stats()
        self._view = self._build_view(now, (), {})
        return identities

    def resume(self) -> None:
        """Resume this hour's totals (spool, else ledger) and load companies; call before the first sample.

        The ledger is read after the jitter delay, like a flush (nodes booted together would otherwise all
        connect in the same second), through one connection closed afterwards."""
        self.pacing.spread()
        hour = int(self.clock()) // HOUR * HOUR
        with self.sink.session() as conn:
            rows = self.sink.resume_rows(cluster=self.cluster, node=self.node, hour=hour, conn=conn)
            if conn is not None:
                self.companies.refresh(conn)
        seeded = self.aggregator.seed(rows)
        if seeded:
            log.info("resumed %d running total(s) of the current hour", seeded)

    def sample(self) -> NodeView:
        """Read every GPU, attribute it, add it to the running totals; returns the new view."""
        now = self.clock()
        readings = self.devices.read_all(now)
        owners = self.attributor.ownership(self.devices.identities, readings, now)
        with self._lock:
            for reading in readings:
                if reading.xids:
                    self._last_xid[reading.index] = reading.xids[-1]
                self.aggregator.add(reading, owners.get(reading.index, Ownership(reading.index)))
            view = self._build_view(now, readings, owners)
        self._view = view
        self.counters.inc("samples")
        return view

    def flush(self) -> Delivery:
        """After the jitter delay, write the running totals' absolute values (or spool them); forget hours that
        ended."""
        self.pacing.spread()
        now = int(self.clock())
        with self._lock:
            rows = self.aggregator.rows(updated_at=now)
        delivery = self.sink.deliver(rows, now=now)
        with self._lock:
            self.aggregator.forget_closed(delivered=rows)
        self._last_flush = now
        self._spool_stats = self.sink.spool.stats()
        return delivery

    def refresh_companies(self) -> None:
        self.companies.refresh()

    def stop(self) -> None:
        """Final flush (at once: no jitter delay; refused connections still back off) and NVML shutdown; a
        failing flush is logged, not raised (the spool keeps it, and the next start replays it)."""
        self.pacing.hurry()
        try:
            self.flush()
        except OSError as exc:
            log.error("final flush could not be spooled: %s", exc)
        self.devices.close()

    def view(self) -> NodeView:
        """The last sample's view, with the latest flush time and spool size."""
        return replace(self._view, last_flush=self._last_flush, spool=self._spool_stats)

    def _build_view(self, now: float, readings: Sequence[GpuReading], owners: dict[int, Ownership]) -> NodeView:
        by_index = {r.index: r for r in readings}
        gpus = tuple(
            GpuView(
                identity=g,
                reading=by_index.get(g.index),
                ownership=owners.get(g.index, Ownership(g.index)),
                track=self.aggregator.track_view(g.index),
                unsupported=self.devices.unsupported(g.index),
                last_xid=self._last_xid.get(g.index),
            )
            for g in self.devices.identities
        )
        return NodeView(
            cluster=self.cluster,
            node=self.node,
            at=now,
            nvml_up=True,
            driver_version=self.devices.driver_version,
            gpus=gpus,
            last_flush=self._last_flush,
            spool=self._spool_stats,
        )
