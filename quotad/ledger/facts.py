"""The ledger facts policies judge, read once per tick and shared by every policy.

Why a facts object instead of each policy querying on its own: a tick runs six policies over the same
companies, grants and usage; reading each fact once (memoised on first use, so a disabled policy costs
nothing) keeps a tick to a handful of queries. Policies stay pure functions of these typed facts; this
module, part of the ledger's read API, is where their queries live.

What is read from where:
- companies, grants: ``quotad.ledger.queries`` (``list_companies``, ``list_grants``);
- usage per (company, cluster, GPU type) over a range: ``queries.range_cells`` (full UTC days from
  ``usage_daily``, the partial days from ``usage_hourly``), the reader the exporter's snapshot uses too;
  ``positions`` is ``queries.company_status`` computed on those cells (``status_rows``; a test checks both
  agree);
- idle GPUs, per-job utilisation of finished jobs, one job's GPU states: the NVML agent's
  ``gpu_usage_hourly`` table, filtered and summed in the database;
- jobs on programme partitions and single jobs: the ``jobs`` table (running ones via its partial index,
  recently finished ones via ``ix_jobs_end_time``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Table,
    and_,
    case,
    func,
    or_,
    select,
    true,
    union_all,
)

from quotad.ledger.models import POOL, CompanyAccount, Grant, Job
from quotad.ledger.queries import (
    CompanyInfo,
    GrantInfo,
    StatusRow,
    UsageCells,
    gpus_held_now,
    list_companies,
    list_grants,
    range_cells,
    status_rows,
)
from quotad.ledger.records import JobRef
from quotad.ledger.telemetry import IdleGpu, idle_gpus
from quotad.ledger.telemetry_models import GpuUsageHourly
from quotad.units import GpuCatalog

if TYPE_CHECKING:
    from quotad.config import Settings

__all__ = ["FinishedJob", "GpuNow", "JobRow", "LedgerFacts", "facts_for"]


@dataclass(frozen=True)
class JobRow:
    """One job segment as the ledger holds it (times UTC epoch; ``end_time`` None while running)."""

    cluster: str
    job_id: int
    slurm_id: str  # JobID as sacct prints it (123, 123_4, 123+0)
    account: str
    user_name: str
    partition: str
    state: str
    start_time: int | None
    end_time: int | None
    elapsed_raw: int
    gpu_count: int
    charged_seconds: int

    @property
    def ref(self) -> JobRef:
        return JobRef(self.cluster, self.job_id)

    def interval(self, now: int) -> tuple[int, int] | None:
        """The seconds the segment held its GPUs: [start, start + elapsed), or up to ``now`` while running."""
        if self.start_time is None:
            return None
        if self.state == "RUNNING":
            return self.start_time, max(self.start_time, now)
        return self.start_time, self.start_time + self.elapsed_raw


@dataclass(frozen=True)
class GpuNow:
    """One GPU of one job at its latest sample (for ``policy explain``)."""

    node: str
    gpu_index: int
    allocated: bool
    idle_since: int | None
    last_sample: int
    recent_seconds: int
    recent_util_pct_seconds: int


@dataclass(frozen=True)
class FinishedJob:
    """A job segment that ended in a window, with its telemetry summed over the hours it ran."""

    cluster: str
    job_id: int
    account: str
    user_name: str
    gpu_count: int
    charged_seconds: int
    observed_gpu_seconds: int
    util_pct_seconds: int

    @property
    def util_mean(self) -> float | None:
        return self.util_pct_seconds / self.observed_gpu_seconds if self.observed_gpu_seconds else None


_GPU = cast(Table, GpuUsageHourly.__table__)
_JOBS = cast(Table, Job.__table__)


class LedgerFacts:
    """Facts as of ``now`` on one connection; every accessor reads once and remembers."""

    def __init__(
        self,
        conn: Connection,
        *,
        now: int,
        catalog: GpuCatalog,
        timezone: str,
        programme_partitions: Mapping[str, Sequence[str]],
        clusters: Sequence[str] | None = None,
    ) -> None:
        self.conn = conn
        self.now = now
        self.catalog = catalog
        self.timezone = timezone
        self.programme_partitions = programme_partitions
        #: The configured clusters (lets telemetry queries use their (cluster, last_sample) index); None: all.
        self.clusters = clusters
        self._companies: list[CompanyInfo] | None = None
        self._grants: list[GrantInfo] | None = None
        self._cells: dict[tuple[int, int], UsageCells] = {}
        self._positions: list[StatusRow] | None = None
        self._idle: dict[tuple[int, float, int], list[IdleGpu]] = {}
        self._finished: dict[tuple[int, int], list[FinishedJob]] = {}
        self._programme_jobs: dict[int, list[JobRow]] = {}

    # -- reference data ------------------------------------------------------------------------------------
    def companies(self) -> list[CompanyInfo]:
        if self._companies is None:
            self._companies = list_companies(self.conn)
        return self._companies

    def company(self, company_id: str | None) -> CompanyInfo | None:
        return next((c for c in self.companies() if c.id == company_id), None)

    def owner(self, cluster: str, account: str) -> str | None:
        """The company that claims ``cluster:account``, None when nobody does."""
        for company in self.companies():
            for ref in company.accounts:
                if ref.cluster == cluster and ref.account == account:
                    return company.id
        return None

    def grants(self) -> list[GrantInfo]:
        if self._grants is None:
            self._grants = list_grants(self.conn)
        return self._grants

    def active_grants(self) -> list[GrantInfo]:
        return [g for g in self.grants() if g.active(self.now)]

    # -- usage ---------------------------------------------------------------------------------------------
    def usage_cells(self, start: int, end: int) -> UsageCells:
        """GPU-seconds per (company, cluster, GPU type) in hours [start, end), as ``queries.usage_cells``."""
        key = (start, end)
        if key not in self._cells:
            self._cells[key] = self._read_cells(start, end)
        return self._cells[key]

    def _read_cells(self, start: int, end: int) -> UsageCells:
        owners = {(a.cluster, a.account): c.id for c in self.companies() for a in c.accounts}
        return range_cells(self.conn, start, end, now=self.now, owners=owners)

    def used(self, grant: GrantInfo, *, start: int, end: int) -> int:
        """Usage in [start, end) that ``grant`` covers, in the grant's unit."""
        total = 0
        for (owner, cluster, gpu_type), seconds in self.usage_cells(start, end).items():
            if owner == grant.company_id and grant.covers(cluster, gpu_type):
                total += grant.unit.convert(seconds, gpu_type, self.catalog)
        return total

    def positions(self) -> list[StatusRow]:
        """Each company against its active grants at ``now``: ``queries.company_status``'s rows."""
        if self._positions is None:
            self._positions = self._read_positions()
        return self._positions

    def _read_positions(self) -> list[StatusRow]:
        now = self.now
        return status_rows(
            self.companies(),
            self.active_grants(),
            gpus_held_now(self.conn),
            lambda start: self.usage_cells(start, now),  # hours begun before now, as `quotad status`
            self.catalog,
            now=now,
        )

    # -- telemetry -----------------------------------------------------------------------------------------
    def idle_gpus(self, *, min_idle_s: int, max_util_pct: float, stale_s: int) -> list[IdleGpu]:
        """Allocated GPUs idle for at least ``min_idle_s`` per their latest row (sampled within ``stale_s``).

        Idle means: the agent's idle streak (``idle_since``, at the agent's ``idle_util_pct``) is that long, or
        the trailing window covers that long with a mean utilisation at or below ``max_util_pct``.
        """
        key = (min_idle_s, max_util_pct, stale_s)
        if key not in self._idle:
            self._idle[key] = idle_gpus(
                self.conn, now=self.now, stale_s=stale_s, min_idle_s=min_idle_s, max_util_pct=max_util_pct,
                clusters=self.clusters,
            )
        return self._idle[key]

    def job_gpus_now(self, job: JobRef, *, stale_s: int) -> list[GpuNow]:
        """The latest row of each GPU of ``job`` sampled within ``stale_s`` (empty: no fresh telemetry)."""
        g = _GPU.c
        stmt = select(_GPU).where(g.cluster == job.cluster, g.job_id == job.job_id, g.last_sample >= self.now - stale_s)
        latest: dict[tuple[str, int], GpuNow] = {}
        hours: dict[tuple[str, int], int] = {}
        for r in self.conn.execute(stmt):
            key = (r.node, r.gpu_index)
            if key not in hours or hours[key] < r.hour:
                hours[key] = r.hour
                latest[key] = GpuNow(
                    r.node, r.gpu_index, bool(r.allocated), r.idle_since, r.last_sample, r.recent_seconds,
                    r.recent_util_pct_seconds,
                )
        return [latest[k] for k in sorted(latest)]

    def gpu_counts(self, refs: Iterable[JobRef]) -> dict[JobRef, int]:
        """GPUs each of these running jobs holds (``jobs.gpu_count``), for "3 of 8 GPUs idle"."""
        by_cluster: defaultdict[str, list[int]] = defaultdict(list)
        for ref in refs:
            by_cluster[ref.cluster].append(ref.job_id)
        j = _JOBS.c
        out: dict[JobRef, int] = {}
        for cluster, ids in sorted(by_cluster.items()):
            stmt = select(j.job_id_raw, j.gpu_count).where(
                j.cluster == cluster, j.state == "RUNNING", j.job_id_raw.in_(sorted(set(ids)))
            )
            out.update({JobRef(cluster, int(i)): int(n) for i, n in self.conn.execute(stmt)})
        return out

    def finished_jobs(self, start: int, end: int) -> list[FinishedJob]:
        """GPU job segments that ended in [start, end), each with its telemetry over the hours it ran."""
        key = (start, end)
        if key in self._finished:
            return self._finished[key]
        j, g = _JOBS.c, _GPU.c
        # Each job's telemetry summed over its own hours: a range of the covering index
        # ix_gpu_usage_hourly_job_hour per job, one LATERAL subquery on PostgreSQL, two correlated ones on
        # SQLite (which has no LATERAL). A join and GROUP BY would sort every telemetry row (300k a day) first.
        of_job = and_(
            g.cluster == j.cluster, g.job_id == j.job_id_raw, g.hour > j.start_time - 3600, g.hour < j.end_time
        )
        observed = func.coalesce(func.sum(g.observed_seconds), 0)
        util = func.coalesce(func.sum(g.util_pct_seconds), 0)
        base = (j.cluster, j.job_id_raw, j.account, j.user_name, j.gpu_count, j.charged_seconds)
        window = (j.end_time >= start, j.end_time < end, j.gpu_count > 0, j.state != "RUNNING")
        if self.conn.dialect.name == "postgresql":
            sums = select(observed.label("observed"), util.label("util")).where(of_job).lateral("sums")
            stmt = (
                select(*base, sums.c.observed, sums.c.util)
                .select_from(_JOBS.outerjoin(sums, true()))
                .where(*window)
            )
        else:
            stmt = select(
                *base,
                select(observed).where(of_job).scalar_subquery(),
                select(util).where(of_job).scalar_subquery(),
            ).where(*window)
        out = [
            FinishedJob(c, int(i), a, u, int(n), int(charged), int(obs or 0), int(pct or 0))
            for c, i, a, u, n, charged, obs, pct in self.conn.execute(stmt)
        ]
        self._finished[key] = out
        return out

    # -- jobs ----------------------------------------------------------------------------------------------
    def programme_jobs(self, since: int) -> list[JobRow]:
        """GPU jobs on programme partitions, running now or ended since ``since``, that one grant period of their
        company does not contain: the unclaimed ones and those starting before or running past a period.

        The database drops the (vast) rest: a job inside a period of a grant covering its cluster. What comes
        back may still be covered by two adjoining grants; the policy computes the exact seconds outside.
        """
        if since in self._programme_jobs:
            return self._programme_jobs[since]
        j = _JOBS.c
        scoped = [
            and_(j.cluster == cluster, j.partition.in_(list(parts)))
            for cluster, parts in sorted(self.programme_partitions.items())
            if parts
        ]
        if not scoped:
            self._programme_jobs[since] = []
            return []
        ca, g = CompanyAccount, Grant
        job_end = case((j.state == "RUNNING", self.now), else_=j.start_time + j.elapsed_raw)
        contained = (
            select(g.id)
            .join(ca, ca.company_id == g.company_id)
            .where(
                ca.cluster == j.cluster,
                ca.account == j.account,
                g.cluster.in_([POOL, j.cluster]),
                g.period_start <= j.start_time,
                g.period_end >= job_end,
            )
            .exists()
        )
        columns = _job_columns()
        running = select(*columns).where(j.state == "RUNNING", j.gpu_count > 0, or_(*scoped), ~contained)
        ended = select(*columns).where(
            j.end_time >= since, j.state != "RUNNING", j.gpu_count > 0, or_(*scoped), ~contained
        )
        out = [_job_row(r) for r in self.conn.execute(union_all(running, ended))]
        out.sort(key=lambda r: (r.cluster, r.job_id, r.start_time or 0))
        self._programme_jobs[since] = out
        return out

    def job(self, ref: JobRef) -> JobRow | None:
        """The latest segment of a job (a requeued job has several)."""
        j = _JOBS.c
        stmt = (
            select(*_job_columns())
            .where(j.cluster == ref.cluster, j.job_id_raw == ref.job_id)
            .order_by(j.submit.desc())
            .limit(1)
        )
        found = self.conn.execute(stmt).first()
        return _job_row(found) if found is not None else None


def facts_for(conn: Connection, settings: Settings, *, now: int) -> LedgerFacts:
    """The facts for a tick or ``policy explain`` at ``now``, scoped by the configured clusters."""
    return LedgerFacts(
        conn,
        now=now,
        catalog=GpuCatalog(settings.gpu_types),
        timezone=settings.programme.timezone,
        programme_partitions={c.name: tuple(c.programme_partitions) for c in settings.clusters},
        clusters=[c.name for c in settings.clusters],
    )


def _job_columns() -> list[ColumnElement[Any]]:
    j = _JOBS.c
    return [
        j.cluster, j.job_id_raw, j.job_id, j.account, j.user_name, j.partition, j.state, j.start_time, j.end_time,
        j.elapsed_raw, j.gpu_count, j.charged_seconds,
    ]


def _job_row(r: Row[Any]) -> JobRow:
    cluster, raw, name, account, user, partition, state, start, end, elapsed, gpus, charged = tuple(r)
    return JobRow(
        cluster=str(cluster),
        job_id=int(cast(int, raw)),
        slurm_id=str(name),
        account=str(account),
        user_name=str(user),
        partition=str(partition),
        state=str(state),
        start_time=cast("int | None", start),
        end_time=cast("int | None", end),
        elapsed_raw=int(cast(int, elapsed)),
        gpu_count=int(cast(int, gpus)),
        charged_seconds=int(cast(int, charged)),
    )
