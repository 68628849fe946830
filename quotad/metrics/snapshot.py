"""The usage aggregate behind the grant, company and usage-cell metrics, computed off the scrape path.

Why a cache: those numbers are sums since each grant's start (for 600 company x cluster x GPU-type cells
over six months, three million hourly rows); even from the daily rollup they cost 0.2 s (SQLite) to 1.8 s
(PostgreSQL) at that size (bench/metrics.py), against a scrape budget of 50 ms. The aggregate also holds
what only a poll changes: the GPUs running jobs hold (``quotad_gpus_allocated``) and each running job's GPU
type (the label of its idle GPUs); reading those 5,700 running jobs at every scrape cost a third of a
100,000-GPU scrape (``bench/scale.py``). Everything else the exporter serves (GPUs idle now, collector and
job health, directives, mail) is read live at each scrape.

When it is recomputed: the daemon's ``metrics_refresh`` job calls ``refresh`` every 30 s, which recomputes
only when the ledger changed or time moved enough to matter. "Changed" is a cheap token: count and largest id
of ``ingest_runs`` (every write to ``usage_hourly`` goes through ``load_records``, which adds an ingest run in
the same transaction, and so does every poll that writes jobs; counting catches a transaction that commits
after a later id), plus the grants and
account mappings (small tables, summed). "Time moved": a new UTC hour (the 7-day burn window advances by
whole buckets), or half of ``max_age_s`` (projections depend on the time left). A scrape never waits for the
refresh job; it recomputes itself only when no aggregate younger than ``max_age_s`` exists (the first scrape
of a process, or a refresh job that keeps failing), so the exporter is correct without the daemon too.

How fresh each figure is: as of the last refresh, so at most one refresh interval (30 s by default) behind
the ledger, and never more than ``max_age_s`` (``daemon.metrics_max_age_s``) should the refresh job fail (the
figures also say when with ``quotad_usage_snapshot_timestamp_seconds``); a poll's new running jobs
appear in ``quotad_gpus_allocated`` at the next refresh, as its usage does in ``quotad_gpu_used_seconds``.

The aggregate uses the ledger's read API (``range_cells``, ``list_grants``) and the same grant arithmetic as
``company_status`` (``queries.grant_position``), so the exporter shows the numbers ``quotad status`` prints
(a test holds them equal). ``range_cells`` reads whole days from ``usage_daily``: 13.6 s from the hourly rows
alone, 0.2 s this way, on the benchmark's SQLite.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, func, select

from quotad.amounts import Unit
from quotad.ledger.models import Company, CompanyAccount, Grant, IngestRun
from quotad.ledger.queries import (
    CompanyInfo,
    GrantInfo,
    UsageCells,
    allocated_gpus,
    grant_position,
    list_companies,
    list_grants,
    range_cells,
    running_gpu_types,
    unclaimed_since,
)
from quotad.units import SECONDS_PER_HOUR, GpuCatalog

__all__ = [
    "CompanyUse",
    "GrantUse",
    "SnapshotCache",
    "Token",
    "UsageSnapshot",
    "compute_snapshot",
    "ledger_token",
]

Token = tuple[object, ...]


def ledger_token(conn: Connection, catalog: GpuCatalog) -> Token:
    """Changes whenever anything the aggregate depends on changed (one round trip over small tables)."""
    parts = (
        func.count(IngestRun.id),
        func.coalesce(func.max(IngestRun.id), 0),
        func.count(Grant.id),
        func.coalesce(func.max(Grant.id), 0),
        func.coalesce(func.sum(Grant.amount), 0),
        func.coalesce(func.sum(Grant.period_end - Grant.period_start), 0),
        func.count(CompanyAccount.id),
        func.coalesce(func.max(CompanyAccount.id), 0),
        func.count(Company.id),
    )
    row = conn.execute(select(*(select(part).scalar_subquery() for part in parts))).one()
    return (*(int(v) for v in row), tuple(sorted(catalog.tflops.items())))


@dataclass(frozen=True)
class GrantUse:
    """One active grant with its use and projection, in the grant's unit, and its size in TFLOP."""

    grant: GrantInfo
    used: int
    projected: int
    tflop: int


@dataclass(frozen=True)
class CompanyUse:
    """A company against all its active grants, as ``company_status`` computes it (in ``unit``)."""

    company_id: str
    unit: Unit
    granted: int
    used: int
    projected: int


@dataclass(frozen=True)
class UsageSnapshot:
    computed_at: int
    token: Token
    companies: tuple[CompanyInfo, ...]
    status: tuple[CompanyUse, ...]
    grants: tuple[GrantUse, ...]
    #: GPU-seconds per (company, cluster, GPU type) since the company's earliest active grant start.
    cells: Mapping[tuple[str, str, str], int]
    #: GPU-seconds per (cluster, account, GPU type) of accounts no company claims, trailing 30 days.
    unclaimed: Mapping[tuple[str, str, str], int] = field(default_factory=dict)
    #: GPUs held by running jobs per (company, cluster, GPU type), as of the last poll before ``computed_at``.
    allocated: Mapping[tuple[str, str, str], int] = field(default_factory=dict)
    #: The single GPU type of each running job, by (cluster, job id): the label of its idle GPUs.
    running_types: Mapping[tuple[str, int], str] = field(default_factory=dict)

    def fresh(self, token: Token, *, now: int, max_age_s: float) -> bool:
        """Still right at ``now``: same ledger state, same UTC hour, younger than half ``max_age_s``."""
        return (
            self.token == token
            and self.computed_at // SECONDS_PER_HOUR == now // SECONDS_PER_HOUR
            and now - self.computed_at < max_age_s / 2
        )


def compute_snapshot(conn: Connection, catalog: GpuCatalog, *, now: int, token: Token) -> UsageSnapshot:
    """The aggregate at ``now``: one range query per distinct start, shared by every grant and company."""
    ranges: dict[int, UsageCells] = {}

    def cells_since(start: int) -> UsageCells:
        if start not in ranges:
            ranges[start] = range_cells(conn, start, now, now=now)  # hours begun before now, as `quotad status`
        return ranges[start]

    by_company: defaultdict[str, list[GrantInfo]] = defaultdict(list)
    for grant in list_grants(conn):
        if grant.active(now):
            by_company[grant.company_id].append(grant)
    grants: list[GrantUse] = []
    status: list[CompanyUse] = []
    cells: defaultdict[tuple[str, str, str], int] = defaultdict(int)
    for company, active in sorted(by_company.items()):
        for grant in active:
            one = grant_position([grant], cells_since, catalog, now=now)
            tflop = grant.amount if grant.unit.normalised else catalog.tflop(grant.amount, grant.unit.gpu_type)
            grants.append(GrantUse(grant, one.used, one.projected, tflop))
        p = grant_position(active, cells_since, catalog, now=now)
        status.append(CompanyUse(company, p.unit, p.granted, p.used, p.projected))
        for key, seconds in cells_since(min(g.period_start for g in active)).items():
            if key[0] == company:
                cells[key] += seconds
    return UsageSnapshot(
        computed_at=now,
        token=token,
        companies=tuple(list_companies(conn)),
        status=tuple(status),
        grants=tuple(grants),
        cells=dict(cells),
        unclaimed=unclaimed_since(conn, now),
        allocated=allocated_gpus(conn),
        running_types=running_gpu_types(conn),
    )



class SnapshotCache:
    """Holds the latest ``UsageSnapshot``; ``refresh`` (the daemon job) and ``get`` (a scrape) share it."""

    def __init__(self, *, max_age_s: float) -> None:
        self._max_age_s = max_age_s
        self._snapshot: UsageSnapshot | None = None
        self._compute = threading.Lock()

    def current(self) -> UsageSnapshot | None:
        return self._snapshot

    def refresh(self, engine: Engine, catalog: GpuCatalog, *, now: int) -> bool:
        """Recompute if the ledger or the hour changed; True when it did. Scrapes go on serving the old one."""
        with self._compute, engine.connect() as conn:
            token = ledger_token(conn, catalog)
            old = self._snapshot
            if old is not None and old.fresh(token, now=now, max_age_s=self._max_age_s):
                return False
            self._snapshot = compute_snapshot(conn, catalog, now=now, token=token)
            return True

    def get(self, conn: Connection, catalog: GpuCatalog, *, now: int) -> UsageSnapshot:
        """The snapshot for a scrape: the cached one unless it is older than ``max_age_s`` (then recompute)."""
        snapshot = self._snapshot
        if snapshot is not None and now - snapshot.computed_at <= self._max_age_s:
            return snapshot
        with self._compute:
            snapshot = self._snapshot
            if snapshot is not None and now - snapshot.computed_at <= self._max_age_s:
                return snapshot
            snapshot = compute_snapshot(conn, catalog, now=now, token=ledger_token(conn, catalog))
            self._snapshot = snapshot
            return snapshot
