"""GPU telemetry in the ledger: the agent's write path and the read API policies and metrics use.

Write: ``upsert_gpu_usage`` stores the agent's rows (absolute values of one hour's running totals) as one
idempotent upsert keyed by (cluster, job, node, GPU, hour). A row is replaced only by one whose
``last_sample`` is not older, so a spool replayed late, or twice, never rolls a row back or counts twice.

Read (typed, integer-valued; ratios are computed by properties at the edge):
- ``current_gpu_states``: the latest row of every (job, node, GPU) of a cluster seen recently: who holds each
  GPU now, whether it was allocated, processes seen, the idle streak and the trailing window;
- ``idle_allocations``: those of them allocated by Slurm and idle for at least N seconds up to their last
  sample (the question an "idle_allocation" policy asks), filtered in the database;
- ``job_gpu_totals``: per-job idle/busy/allocated GPU-seconds, utilisation, memory and energy over hours,
  summed in the database (one row per job comes back, whatever the number of hours);
- ``node_hour_rows``: one node's rows of one hour, so a restarted agent resumes its running totals;
- ``idle_gpus``: allocated GPUs idle at their newest row (the one ``IdleGpu`` reader: idle-allocation policy
  and exporter);
- ``idle_share_by_company``: per company, allocated GPU-seconds measured and the idle ones among them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, Table, and_, case, exists, func, or_, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from quotad.ledger.models import CompanyAccount
from quotad.ledger.telemetry_models import GpuUsageHourly
from quotad.units import SECONDS_PER_HOUR

__all__ = [
    "BusyCells",
    "GpuState",
    "GpuUsageRow",
    "IdleGpu",
    "IdleJob",
    "IdleShare",
    "JobGpuTotals",
    "busy_by_hour",
    "current_gpu_states",
    "idle_allocations",
    "idle_gpus",
    "idle_jobs",
    "idle_share_by_company",
    "job_gpu_totals",
    "node_hour_rows",
    "upsert_gpu_usage",
]

_TABLE = cast(Table, GpuUsageHourly.__table__)
KEY = ("cluster", "job_id", "node", "gpu_index", "hour")
#: How long after its last sample a GPU still counts as "now" (a few missed flushes, not a stopped agent).
DEFAULT_STALE_S = 300


@dataclass(frozen=True, slots=True)
class GpuUsageRow:
    """One ``gpu_usage_hourly`` row as the agent computes it; see ``telemetry_models`` for the columns."""

    cluster: str
    job_id: int
    node: str
    gpu_index: int
    hour: int
    gpu_uuid: str
    account: str
    user_name: str
    samples: int
    observed_seconds: int
    idle_seconds: int
    idle_mem_held_seconds: int
    util_pct_seconds: int
    util_max: int
    mem_used_max: int
    mem_total: int
    energy_mj: int
    allocated: bool
    job_process_seen: bool
    foreign_processes: int
    foreign_job_id: int | None
    idle_since: int | None
    recent_seconds: int
    recent_idle_seconds: int
    recent_util_pct_seconds: int
    throttle_mask: int
    xid_events: int
    last_xid: int | None
    ecc_uncorrected: int
    first_sample: int
    last_sample: int
    updated_at: int

    @property
    def key(self) -> tuple[str, int, str, int, int]:
        return (self.cluster, self.job_id, self.node, self.gpu_index, self.hour)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GpuUsageRow:
        """From ``as_dict`` output (a spool file); unknown or missing keys raise ``TypeError``."""
        return cls(**data)


_COLUMNS = tuple(f.name for f in fields(GpuUsageRow))


def upsert_gpu_usage(conn: Connection, rows: Iterable[GpuUsageRow]) -> int:
    """Store rows in the caller's transaction; a row never replaces a newer one. Returns rows sent."""
    latest: dict[tuple[str, int, str, int, int], GpuUsageRow] = {}
    for row in rows:
        old = latest.get(row.key)
        if old is None or old.last_sample <= row.last_sample:
            latest[row.key] = row
    if not latest:
        return 0
    values = [latest[key].as_dict() for key in sorted(latest)]  # key order: writers lock rows alike
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(_TABLE)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(KEY),
        set_={name: stmt.excluded[name] for name in _COLUMNS if name not in KEY},
        where=_TABLE.c.last_sample <= stmt.excluded.last_sample,
    )
    conn.execute(stmt, values)
    return len(values)


def _row(record: Any) -> GpuUsageRow:
    return GpuUsageRow(**{name: getattr(record, name) for name in _COLUMNS})


def node_hour_rows(conn: Connection, cluster: str, node: str, hour: int) -> list[GpuUsageRow]:
    """One node's rows of one hour: what a restarted agent resumes from."""
    t = _TABLE.c
    stmt = select(_TABLE).where(t.cluster == cluster, t.node == node, t.hour == hour).order_by(*[t[k] for k in KEY])
    return [_row(r) for r in conn.execute(stmt)]


@dataclass(frozen=True)
class GpuState:
    """What one GPU was doing for one job at its last sample."""

    cluster: str
    node: str
    gpu_index: int
    gpu_uuid: str
    job_id: int
    account: str
    user_name: str
    allocated: bool
    job_process_seen: bool
    foreign_processes: int
    foreign_job_id: int | None
    idle_since: int | None
    last_sample: int
    mem_used_max: int
    mem_total: int
    util_max: int
    recent_seconds: int
    recent_idle_seconds: int
    recent_util_pct_seconds: int

    def idle_for(self, now: int) -> int:
        """Seconds of the current idle streak known at ``now``: up to the last sample, never guessed beyond it
        (0 when the GPU was busy at its last sample)."""
        return 0 if self.idle_since is None else max(0, min(now, self.last_sample) - self.idle_since)

    @property
    def recent_util_mean(self) -> float | None:
        """Mean utilisation (%) over the trailing window, None when nothing was observed in it."""
        return self.recent_util_pct_seconds / self.recent_seconds if self.recent_seconds else None


def _latest_rows(cluster: str, since: int) -> Any:
    """Rows of ``cluster`` sampled since ``since`` that are the newest hour of their (job, node, GPU)."""
    t = _TABLE.c
    newer = _TABLE.alias("newer")
    return select(_TABLE).where(
        t.cluster == cluster,
        t.last_sample >= since,
        ~exists().where(
            newer.c.cluster == t.cluster,
            newer.c.job_id == t.job_id,
            newer.c.node == t.node,
            newer.c.gpu_index == t.gpu_index,
            newer.c.hour > t.hour,
        ),
    )


def _state(r: Any) -> GpuState:
    return GpuState(
        cluster=r.cluster,
        node=r.node,
        gpu_index=r.gpu_index,
        gpu_uuid=r.gpu_uuid,
        job_id=r.job_id,
        account=r.account,
        user_name=r.user_name,
        allocated=bool(r.allocated),
        job_process_seen=bool(r.job_process_seen),
        foreign_processes=r.foreign_processes,
        foreign_job_id=r.foreign_job_id,
        idle_since=r.idle_since,
        last_sample=r.last_sample,
        mem_used_max=r.mem_used_max,
        mem_total=r.mem_total,
        util_max=r.util_max,
        recent_seconds=r.recent_seconds,
        recent_idle_seconds=r.recent_idle_seconds,
        recent_util_pct_seconds=r.recent_util_pct_seconds,
    )


def current_gpu_states(
    conn: Connection, cluster: str, *, now: int, stale_after_s: int = DEFAULT_STALE_S
) -> list[GpuState]:
    """The latest row of every (job, node, GPU) of ``cluster`` sampled within ``stale_after_s`` of ``now``."""
    t = _TABLE.c
    stmt = _latest_rows(cluster, now - stale_after_s).order_by(t.node, t.gpu_index, t.job_id)
    return [_state(r) for r in conn.execute(stmt)]


def idle_allocations(
    conn: Connection, cluster: str, *, now: int, min_idle_s: int, stale_after_s: int = DEFAULT_STALE_S
) -> list[GpuState]:
    """GPUs Slurm allocated to a job that were idle for at least ``min_idle_s`` up to their last sample."""
    t = _TABLE.c
    stmt = (
        _latest_rows(cluster, now - stale_after_s)
        .where(t.allocated == true(), t.idle_since.is_not(None), t.last_sample - t.idle_since >= min_idle_s)
        .order_by(t.node, t.gpu_index, t.job_id)
    )
    return [_state(r) for r in conn.execute(stmt)]


@dataclass(frozen=True)
class JobGpuTotals:
    """One job's GPU telemetry summed over a range of hours (GPU-seconds: seconds × GPUs)."""

    cluster: str
    job_id: int
    account: str
    user_name: str
    gpus: int
    observed_gpu_seconds: int
    idle_gpu_seconds: int
    idle_mem_held_gpu_seconds: int
    allocated_gpu_seconds: int
    allocated_idle_gpu_seconds: int
    unallocated_gpu_seconds: int
    util_pct_seconds: int
    mem_used_max: int
    energy_mj: int
    foreign_processes_max: int
    xid_events: int
    first_sample: int
    last_sample: int

    @property
    def busy_gpu_seconds(self) -> int:
        return self.observed_gpu_seconds - self.idle_gpu_seconds

    @property
    def util_mean(self) -> float | None:
        """Time-weighted mean utilisation (%), None when nothing was observed."""
        return self.util_pct_seconds / self.observed_gpu_seconds if self.observed_gpu_seconds else None

    @property
    def idle_ratio(self) -> float | None:
        return self.idle_gpu_seconds / self.observed_gpu_seconds if self.observed_gpu_seconds else None


def job_gpu_totals(
    conn: Connection,
    *,
    start: int,
    end: int,
    cluster: str | None = None,
    job_ids: Sequence[int] | None = None,
) -> list[JobGpuTotals]:
    """Per-job totals over the hour buckets in [start, end), summed in the database, ordered by (cluster, job)."""
    t = _TABLE.c
    alloc_observed = case((t.allocated == true(), t.observed_seconds), else_=0)
    alloc_idle = case((t.allocated == true(), t.idle_seconds), else_=0)
    per_gpu = select(
        t.cluster,
        t.job_id,
        func.max(t.account).label("account"),
        func.max(t.user_name).label("user_name"),
        func.sum(t.observed_seconds).label("observed"),
        func.sum(t.idle_seconds).label("idle"),
        func.sum(t.idle_mem_held_seconds).label("held"),
        func.sum(alloc_observed).label("alloc"),
        func.sum(alloc_idle).label("alloc_idle"),
        func.sum(t.util_pct_seconds).label("util"),
        func.max(t.mem_used_max).label("mem"),
        func.sum(t.energy_mj).label("energy"),
        func.max(t.foreign_processes).label("foreign"),
        func.sum(t.xid_events).label("xid"),
        func.min(t.first_sample).label("first"),
        func.max(t.last_sample).label("last"),
    ).where(t.hour >= start, t.hour < end)
    if cluster is not None:
        per_gpu = per_gpu.where(t.cluster == cluster)
    if job_ids is not None:
        per_gpu = per_gpu.where(t.job_id.in_(sorted(set(job_ids))))
    g = per_gpu.group_by(t.cluster, t.job_id, t.node, t.gpu_index).subquery()
    stmt = (
        select(
            g.c.cluster,
            g.c.job_id,
            func.max(g.c.account),
            func.max(g.c.user_name),
            func.count(),
            func.sum(g.c.observed),
            func.sum(g.c.idle),
            func.sum(g.c.held),
            func.sum(g.c.alloc),
            func.sum(g.c.alloc_idle),
            func.sum(g.c.util),
            func.max(g.c.mem),
            func.sum(g.c.energy),
            func.max(g.c.foreign),
            func.sum(g.c.xid),
            func.min(g.c.first),
            func.max(g.c.last),
        )
        .group_by(g.c.cluster, g.c.job_id)
        .order_by(g.c.cluster, g.c.job_id)
    )
    out = []
    for (
        c,
        j,
        account,
        user,
        gpus,
        obs,
        idle,
        held,
        alloc,
        alloc_idle_s,
        util,
        mem,
        energy,
        foreign,
        xid,
        first,
        last,
    ) in conn.execute(stmt):
        out.append(
            JobGpuTotals(
                cluster=c,
                job_id=int(j),
                account=account or "",
                user_name=user or "",
                gpus=int(gpus),
                observed_gpu_seconds=int(obs),
                idle_gpu_seconds=int(idle),
                idle_mem_held_gpu_seconds=int(held),
                allocated_gpu_seconds=int(alloc),
                allocated_idle_gpu_seconds=int(alloc_idle_s),
                unallocated_gpu_seconds=int(obs) - int(alloc),
                util_pct_seconds=int(util),
                mem_used_max=int(mem),
                energy_mj=int(energy),
                foreign_processes_max=int(foreign),
                xid_events=int(xid),
                first_sample=int(first),
                last_sample=int(last),
            )
        )
    return out


@dataclass(frozen=True)
class IdleShare:
    """Of the GPU-seconds a company's jobs were allocated and the node agents measured, how many were idle.

    Only what an agent observed counts: GPUs of clusters without agents are neither busy nor idle here, so the
    ratio says "of what we could see", and ``ratio`` is None (not 0) when nothing was measured at all.
    """

    measured_gpu_seconds: int
    idle_gpu_seconds: int

    @property
    def ratio(self) -> float | None:
        return self.idle_gpu_seconds / self.measured_gpu_seconds if self.measured_gpu_seconds else None


def idle_share_by_company(conn: Connection, *, start: int, end: int) -> dict[str, IdleShare]:
    """Allocated GPU-seconds the agents measured, and the idle ones among them, per company, hours [start, end).

    A row belongs to a company through the Slurm account the agent recorded for the job, claimed in
    ``company_accounts`` for the row's cluster: the same (cluster, account) join that charges usage. Rows of
    GPUs the job was not allocated (a foreign process seen on someone else's GPU) and rows of unclaimed accounts
    are left out. Companies without any measured row are absent from the result.
    """
    t, ca = _TABLE.c, CompanyAccount
    stmt = (
        select(ca.company_id, func.sum(t.observed_seconds), func.sum(t.idle_seconds))
        .join(ca, (ca.cluster == t.cluster) & (ca.account == t.account))
        .where(t.hour >= start, t.hour < end, t.allocated == true())
        .group_by(ca.company_id)
        .order_by(ca.company_id)
    )
    return {
        str(company): IdleShare(int(observed or 0), int(idle or 0))
        for company, observed, idle in conn.execute(stmt)
        if int(observed or 0) > 0
    }


@dataclass(frozen=True)
class IdleGpu:
    """An allocated GPU whose latest telemetry row may show it idle (the policy applies its own bounds)."""

    cluster: str
    job_id: int
    node: str
    gpu_index: int
    account: str
    user_name: str
    idle_since: int | None
    recent_seconds: int
    recent_util_pct_seconds: int
    last_sample: int

    def idle_for(self, now: int, max_util_pct: float) -> int:
        """Seconds the GPU has been idle as of its last sample: its idle streak, or the trailing window if
        that averaged at or below ``max_util_pct``, whichever is longer (never counted past the last sample,
        so a stalled agent cannot make a GPU look idler than it was seen to be)."""
        quiet = self.recent_seconds > 0 and self.recent_util_pct_seconds <= max_util_pct * self.recent_seconds
        return max(self.streak_for(now), self.recent_seconds if quiet else 0)

    def streak_for(self, now: int) -> int:
        """Seconds of the idle streak as of the last sample (0 without one), never counted past ``now``."""
        return max(0, min(now, self.last_sample) - self.idle_since) if self.idle_since is not None else 0


def idle_gpus(
    conn: Connection,
    *,
    now: int,
    stale_s: int,
    min_idle_s: int | None = None,
    max_util_pct: float | None = None,
    clusters: Sequence[str] | None = None,
) -> list[IdleGpu]:
    """Allocated GPUs sampled within ``stale_s`` whose newest row shows them idle, in the database's order.

    Idle means the agent's idle streak (``idle_since``, at the agent's ``idle_util_pct``) has begun (and is at
    least ``min_idle_s`` long when given), or, with ``max_util_pct``, the trailing window covers ``min_idle_s``
    with a mean utilisation at or below it. ``clusters`` lets the query use the (cluster, last_sample) index;
    None: every cluster.
    """
    g = _TABLE.c
    newer = aliased(GpuUsageHourly)
    idle: ColumnElement[bool] = g.idle_since.is_not(None)
    if min_idle_s is not None:
        idle = and_(idle, g.last_sample - g.idle_since >= min_idle_s)
    if max_util_pct is not None:
        quiet = g.recent_util_pct_seconds <= max_util_pct * g.recent_seconds
        window = and_(g.recent_seconds >= (min_idle_s or 0), quiet)
        idle = or_(idle, window)
    in_clusters = g.cluster.in_(list(clusters)) if clusters is not None else true()
    stmt = select(
        g.cluster, g.job_id, g.node, g.gpu_index, g.account, g.user_name, g.idle_since, g.recent_seconds,
        g.recent_util_pct_seconds, g.last_sample,
    ).where(
        in_clusters,
        g.allocated == true(),
        g.last_sample >= now - stale_s,
        idle,
        ~exists().where(
            newer.cluster == g.cluster,
            newer.job_id == g.job_id,
            newer.node == g.node,
            newer.gpu_index == g.gpu_index,
            newer.hour > g.hour,
        ),
    )
    return [
        IdleGpu(r.cluster, r.job_id, r.node, r.gpu_index, r.account, r.user_name, r.idle_since,
                r.recent_seconds, r.recent_util_pct_seconds, r.last_sample)
        for r in conn.execute(stmt)
    ]


@dataclass(frozen=True)
class IdleJob:
    """A job's GPUs idle at their latest sample, counted, with the longest idle streak among them."""

    cluster: str
    job_id: int
    account: str
    user_name: str
    gpus: int
    longest_streak_s: int


def idle_jobs(conn: Connection, *, now: int, stale_s: int, clusters: Sequence[str]) -> list[IdleJob]:
    """``idle_gpus`` with no bounds, counted per job by the database: what the exporter serves at each scrape.

    Why a second read: at 100,000 GPUs a scrape saw 2,400 idle GPUs, and fetching them one row each cost more
    than the rest of the scrape's reads together (``bench/scale.py``); a job's count and longest streak are
    all its series need. The streak is ``IdleGpu.streak_for(now)`` (idle since to the last sample, never past
    ``now``), its largest per job; a test holds the two reads equal.
    """
    g = _TABLE.c
    newer = aliased(GpuUsageHourly)
    seen_until = case((g.last_sample < now, g.last_sample), else_=now)
    stmt = (
        select(g.cluster, g.job_id, g.account, g.user_name, func.count(), func.max(seen_until - g.idle_since))
        .where(
            g.cluster.in_(list(clusters)),
            g.allocated == true(),
            g.last_sample >= now - stale_s,
            g.idle_since.is_not(None),
            ~exists().where(
                newer.cluster == g.cluster,
                newer.job_id == g.job_id,
                newer.node == g.node,
                newer.gpu_index == g.gpu_index,
                newer.hour > g.hour,
            ),
        )
        .group_by(g.cluster, g.job_id, g.account, g.user_name)
    )
    return [
        IdleJob(cluster, int(job_id), account, user_name, int(gpus), max(0, int(longest)))
        for cluster, job_id, account, user_name, gpus, longest in conn.execute(stmt)
    ]


#: Busy GPU-seconds per (cluster, hour start).
BusyCells = dict[tuple[str, int], int]


def busy_by_hour(conn: Connection, clusters: Sequence[str], start: int, end: int) -> BusyCells:
    """Busy GPU-seconds (observed − idle) per (cluster, hour) from the NVML agent's table.

    A cluster with no rows in the window (no agent there) is absent from the result.
    """
    g = GpuUsageHourly
    stmt = (
        select(g.cluster, g.hour, func.sum(g.observed_seconds - g.idle_seconds))
        .where(g.cluster.in_(list(clusters)), g.hour >= start - start % SECONDS_PER_HOUR, g.hour < end)
        .group_by(g.cluster, g.hour)
    )
    return {(c, int(h)): max(0, int(s or 0)) for c, h, s in conn.execute(stmt)}
