"""The Prometheus collector: every family built fresh at each scrape from the ledger and the job health.

Why a custom collector and not module-level ``Gauge`` objects: the truth is in the ledger, which the CLI,
other daemons and migrations change too; a gauge set by this process would only be as current as its last
write. ``collect()`` therefore reads at scrape time (the expensive sums, and what only a poll changes — the
GPUs running jobs hold and their types — come from ``SnapshotCache``, at most one refresh behind, see
``snapshot``), and nothing is registered anywhere until the caller passes a ``CollectorRegistry`` to
``build_registry``. A ledger that cannot be read yields ``quotad_ledger_up 0`` and the daemon's own job
metrics, never a failed scrape, so "quotad is up but its database is not" is visible and alertable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import Connection, Engine

from quotad import __version__
from quotad.config import Settings
from quotad.daemon.health import JobStatus
from quotad.daemon.problems import Problems
from quotad.errors import RefusalReason
from quotad.ledger.collector_state import collector_health
from quotad.metrics.catalogue import CATALOGUE
from quotad.metrics.pool import PoolCache, PoolSnapshot
from quotad.metrics.snapshot import SnapshotCache, UsageSnapshot
from quotad.metrics.sources import DirectiveCounter, IdleReader, idle_jobs, open_directives, outbox_health
from quotad.units import GpuCatalog

__all__ = ["Families", "LedgerCollector", "build_registry"]

log = logging.getLogger("quotad.metrics")

#: Families the ledger feeds; on a failed read none of them is served half-filled.
_DAEMON_FAMILIES = frozenset(
    {s.name for s in CATALOGUE if s.name.startswith("quotad_daemon_")}
    | {"quotad_ledger_up", "quotad_build_info", "quotad_collector_refused_lines_total"}
)
_TFLOP = 1e12


class Families:
    """One scrape's families, by catalogue name; ``add`` appends a sample to a family."""

    def __init__(self) -> None:
        self._by_name: dict[str, GaugeMetricFamily | CounterMetricFamily] = {s.name: s.family() for s in CATALOGUE}

    def add(self, name: str, labels: Sequence[str], value: float) -> None:
        self._by_name[name].add_metric(list(labels), value)

    def merge(self, other: Families) -> None:
        for name, family in other._by_name.items():
            if name not in _DAEMON_FAMILIES:
                self._by_name[name] = family

    def all(self) -> list[Metric]:
        return list(self._by_name.values())


class LedgerCollector(Collector):
    """Reads the ledger (and the daemon's job table, when given) at each scrape."""

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Callable[[], Settings],
        snapshots: SnapshotCache,
        clock: Callable[[], float],
        jobs: Callable[[], Sequence[JobStatus]] | None = None,
        telemetry_stale_s: int = 300,
        directives: DirectiveCounter = open_directives,
        idle: IdleReader = idle_jobs,
        pool: PoolCache | None = None,
        problems: Problems | None = None,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._snapshots = snapshots
        self._clock = clock
        self._jobs = jobs
        self._telemetry_stale_s = telemetry_stale_s
        self._directives = directives
        self._idle = idle
        self._pool = pool
        self._problems = problems

    def describe(self) -> Iterable[Metric]:
        """Names only, from the catalogue: registering the collector reads nothing."""
        return [s.family() for s in CATALOGUE]

    def collect(self) -> Iterable[Metric]:
        now_f = self._clock()
        now = int(now_f)
        out = Families()
        ledger = Families()
        up = 1
        try:
            catalog = GpuCatalog(self._settings().gpu_types)
            with self._engine.connect() as conn:
                self._ledger(ledger, conn, catalog, now)
        except Exception as exc:  # the scrape boundary: report and go on serving the daemon's own metrics
            log.error("scrape: cannot read the ledger: %s: %s", type(exc).__name__, exc, exc_info=True)
            up = 0
        else:
            out.merge(ledger)
        if self._jobs is not None:
            _daemon_jobs(out, self._jobs(), now_f)
        if self._problems is not None:
            self._findings(out, self._problems)
        out.add("quotad_ledger_up", [], up)
        out.add("quotad_build_info", [__version__], 1)
        return out.all()

    def _ledger(self, out: Families, conn: Connection, catalog: GpuCatalog, now: int) -> None:
        snapshot = self._snapshots.get(conn, catalog, now=now)
        _usage(out, snapshot, catalog)
        for (company, cluster, gpu_type), gpus in sorted(snapshot.allocated.items()):
            out.add("quotad_gpus_allocated", [company, cluster, gpu_type], gpus)
        idle = self._idle(conn, now=now, stale_after_s=self._telemetry_stale_s, known_types=snapshot.running_types)
        if idle is not None:
            cells: dict[tuple[str, str, str], int] = {}
            jobs: dict[tuple[str, str, str, str], tuple[int, int]] = {}
            for job in idle:
                cell = (job.company, job.cluster, job.gpu_type)
                cells[cell] = cells.get(cell, 0) + job.gpus
                key = (job.company, job.cluster, str(job.job_id), job.user)
                count, longest = jobs.get(key, (0, 0))
                jobs[key] = (count + job.gpus, max(longest, job.longest_idle_s))
            for cell, count in sorted(cells.items()):
                out.add("quotad_gpus_idle", list(cell), count)
            for key, (count, longest) in sorted(jobs.items()):
                out.add("quotad_slurm_job_gpus_idle", list(key), count)
                out.add("quotad_slurm_job_idle_seconds", list(key), longest)
        if self._pool is not None:
            _pool(out, self._pool.get(conn, self._settings(), now=now))
        for (policy, severity), count in sorted(self._directives(conn).items()):
            out.add("quotad_directives_open", [policy, severity], count)
        for h in collector_health(conn):
            labels = [h.cluster, h.source]
            if h.last_success is not None:
                out.add("quotad_collector_last_success_timestamp_seconds", labels, h.last_success)
            if h.last_duration_ms is not None:
                out.add("quotad_collector_last_duration_seconds", labels, h.last_duration_ms / 1000)
            out.add("quotad_collector_polls_total", labels, h.polls_total)
            out.add("quotad_collector_errors_total", labels, h.errors_total)
        outbox = outbox_health(conn)
        for state, count in sorted(outbox.states.items()):
            out.add("quotad_outbox_messages", [state], count)
        out.add("quotad_outbox_failing_messages", [], outbox.failing)

    def _findings(self, out: Families, problems: Problems) -> None:
        """Refused-line counters (0 for every configured cluster and reason, so the first refusal is an
        increase a rule can see) and the findings that make /healthz degraded."""
        totals = problems.refused_totals()
        clusters = {c.name for c in self._settings().clusters} | {cluster for cluster, _ in totals}
        for cluster in sorted(clusters):
            for reason in RefusalReason:
                lines = totals.get((cluster, reason), 0)
                out.add("quotad_collector_refused_lines_total", [cluster, reason.value], lines)
        for p in problems.standing():
            out.add("quotad_daemon_problems", [p.check, p.subject, p.reason], p.count)


def _usage(out: Families, snapshot: UsageSnapshot, catalog: GpuCatalog) -> None:
    """The snapshot's grants, companies and usage cells, plus the peak-FLOPS table to normalise them."""
    for use in snapshot.grants:
        g = use.grant
        labels = [g.company_id, g.cluster, g.unit.gpu_type, str(g.id)]
        if not g.unit.normalised:
            out.add("quotad_grant_gpu_seconds", labels, g.amount)
        out.add("quotad_grant_flop", labels, use.tflop * _TFLOP)
        out.add("quotad_grant_used_ratio", labels, use.used / g.amount)
        out.add("quotad_grant_projected_ratio", labels, use.projected / g.amount)
        out.add("quotad_grant_start_timestamp_seconds", labels, g.period_start)
        out.add("quotad_grant_end_timestamp_seconds", labels, g.period_end)
    for info in snapshot.companies:
        out.add("quotad_company_info", [info.id, info.name_en, info.name_ja], 1)
    for row in snapshot.status:
        if row.granted > 0:
            out.add("quotad_company_used_ratio", [row.company_id], row.used / row.granted)
            out.add("quotad_company_projected_ratio", [row.company_id], row.projected / row.granted)
    for (company, cluster, gpu_type), seconds in sorted(snapshot.cells.items()):
        out.add("quotad_gpu_used_seconds", [company, cluster, gpu_type], seconds)
    for (cluster, account, gpu_type), seconds in sorted(snapshot.unclaimed.items()):
        out.add("quotad_unclaimed_gpu_seconds", [cluster, account, gpu_type], seconds)
    for gpu_type, tflops in sorted(catalog.tflops.items()):
        out.add("quotad_gpu_type_peak_flops", [gpu_type], tflops * _TFLOP)
    out.add("quotad_usage_snapshot_timestamp_seconds", [], snapshot.computed_at)


def _pool(out: Families, snapshot: PoolSnapshot) -> None:
    for g in snapshot.gauges:
        cell = [g.cluster, g.gpu_type]
        out.add("quotad_pool_gpus_reserved", cell, g.reserved_gpus_now)
        out.add("quotad_pool_gpus_in_maintenance", cell, g.maintenance_gpus_now)
        for window, f in (("today", g.today), ("month", g.month)):
            labels = [*cell, window]
            out.add("quotad_pool_reserved_gpu_seconds", labels, f.reserved)
            out.add("quotad_pool_maintenance_gpu_seconds", labels, f.maintenance)
            out.add("quotad_pool_allocated_gpu_seconds", labels, f.allocated)
            out.add("quotad_pool_unallocated_gpu_seconds", labels, f.unallocated)
            if f.busy is not None:
                out.add("quotad_pool_busy_gpu_seconds", labels, f.busy)
    out.add("quotad_pool_snapshot_timestamp_seconds", [], snapshot.computed_at)


def _daemon_jobs(out: Families, statuses: Sequence[JobStatus], now: float) -> None:
    for s in statuses:
        labels = [s.job]
        if s.last_success is not None:
            out.add("quotad_daemon_job_last_success_timestamp_seconds", labels, s.last_success)
        if s.last_duration_s is not None:
            out.add("quotad_daemon_job_last_duration_seconds", labels, s.last_duration_s)
        out.add("quotad_daemon_job_success_age_seconds", labels, s.duty_age(now))
        out.add("quotad_daemon_job_stale_after_seconds", labels, s.stale_after_s)
        out.add("quotad_daemon_job_runs_total", labels, s.runs_total)
        out.add("quotad_daemon_job_errors_total", labels, s.errors_total)
        out.add("quotad_daemon_job_skipped_total", labels, s.skipped_total)


def build_registry(collector: LedgerCollector) -> CollectorRegistry:
    """A registry of its own holding only ``collector`` (no process or platform collectors, no globals)."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(collector)
    return registry
