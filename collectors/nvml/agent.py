"""The node agent's steps: ``start`` once, ``sample`` every interval, ``flush`` every minute, ``stop`` at the end.

Why no loop here: each step is a plain method over injected parts (NVML devices, attribution, aggregation,
the ledger sink, the clock), so tests drive it sample by sample with a fake clock and the production process
(``service.serve``) schedules the same methods with APScheduler. ``sample`` and ``flush`` may run in different
threads: the aggregator is touched only under one lock, and the database write happens outside it, so a
slow or unreachable ledger never delays sampling.

The exporter reads ``view()``, an immutable snapshot replaced after every sample, so a scrape needs no lock.

``flush`` first waits a random part of ``[agent] flush_jitter_s`` (``pacing.FlushPacing``), then takes the
totals: agents started together do not reach the ledger together, and the window written is the newest.

Resuming without the ledger: every flush writes absolute totals, and the upsert lets a newer window replace
an older one, so an agent that counted the hour from zero would replace the totals its previous process wrote
(after a restart while the ledger was down and the spool empty) with smaller ones: up to an hour of that
node's telemetry lost. So ``resume`` remembers what it could not read (a ``PendingBase``: node, hour, and the
start time ``since``), and the first flush that reaches the ledger, in one transaction, reads that hour's
rows of the previous process (``first_sample`` before ``since``) BEFORE it replays anything spooled meanwhile,
then writes this process's totals stacked on them (``aggregate.stack``) last (``LedgerSink._rebase``); only
after that commit are the in-memory totals rebased (``Aggregator.rebase``) and the base forgotten, so a failed
attempt leaves it pending. Later flushes write the rebased totals: a repeated flush changes nothing. Windows
spooled before that hold totals without the base and carry the mark (``spool.PendingBase``): replayed in that
transaction they are overwritten by the stacked rows, replayed later they are older and refused, and an agent
restarted from such a window keeps the mark. If the hour ends first, its buckets are kept in memory
(``forget_closed(keep_hour=...)``) until the base is added: the base only concerns the hour the agent started
in.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from quotad.collectors.nvml.aggregate import HOUR, Aggregator, TrackView
from quotad.collectors.nvml.attribution import Attributor, Ownership
from quotad.collectors.nvml.companies import CompanyDirectory
from quotad.collectors.nvml.counters import AgentCounters
from quotad.collectors.nvml.device import GpuIdentity, GpuReading, NvmlDevices
from quotad.collectors.nvml.pacing import FlushPacing
from quotad.collectors.nvml.sink import Delivery, LedgerSink
from quotad.collectors.nvml.spool import PendingBase, SpoolStats

__all__ = ["GpuView", "NodeAgent", "NodeView"]

log = logging.getLogger("quotad.agent")


def _utc(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
        #: The hour whose earlier totals are still to be added at a flush (see the module docstring).
        self.pending_base: PendingBase | None = None

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
            resumed = self.sink.resume_rows(
                cluster=self.cluster, node=self.node, hour=hour, conn=conn, since=int(self.clock())
            )
            if conn is not None:
                self.companies.refresh(conn)
        seeded = self.aggregator.seed(resumed.rows)
        if seeded:
            log.info("resumed %d running total(s) of the current hour", seeded)
        self.pending_base = resumed.pending
        if resumed.pending is not None:
            log.warning(
                "the node's totals of hour %s from before %s are not under the running totals (the ledger could "
                "not be read): they are added at the first flush that reaches the ledger",
                _utc(resumed.pending.hour),
                _utc(resumed.pending.since),
            )

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
        pending = self.pending_base
        delivery = self.sink.deliver(rows, now=now, pending=pending)
        with self._lock:
            if pending is not None and delivery.base is not None:
                added = self.aggregator.rebase(delivery.base)
                self.pending_base = None
                log.warning("added %d running total(s) the previous process wrote this hour", added)
            held = self.pending_base.hour if self.pending_base is not None else None
            self.aggregator.forget_closed(delivered=rows, keep_hour=held)
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
