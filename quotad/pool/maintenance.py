"""Maintenance windows: entered by hand, from CSV or from Slurm MAINT reservations; read by the pool and policies.

Why it matters for accounting: the programme pays for reserved capacity, but nobody can run jobs while a
provider maintains its hosts, so maintenance is taken out of reserved capacity (and shown separately) rather than
counted as capacity the companies left unused. Policies call ``maintenance_seconds`` so underuse or pacing is not
held against anyone for it. Jobs are never re-charged here: a job segment that overlaps a window is *reported*
(``maintenance_overlaps``) — it is either a job the provider let run (e.g. on nodes outside the window) or a
wrong window, and a person must decide which. A window on named nodes takes only the segments that ran on them
(GPU telemetry, else the scheduler's node list); one whose node nobody knows is reported apart as "node unknown".

Slurm-sourced windows are reconciled (``sync_windows``): the scheduler is the truth for future windows, so a
reservation deleted or moved before it began disappears here too; windows that have begun are history and stay.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from sqlalchemy import ColumnElement, Connection, and_, delete, insert, select, update

from quotad.collectors.hostlist import hostlist_size, hosts_in
from quotad.errors import NotFoundError, UsageError
from quotad.ledger.models import Cluster, Job
from quotad.pool.capacity import Outage, union_seconds
from quotad.pool.models import MaintenanceWindow

log = logging.getLogger("quotad.pool")

__all__ = [
    "MAINTENANCE_SOURCES",
    "MaintenanceInfo",
    "MaintenanceOverlap",
    "MaintenanceSource",
    "MaintenanceSpec",
    "NodeBasis",
    "Overlaps",
    "SyncResult",
    "list_windows",
    "maintenance_overlaps",
    "maintenance_seconds",
    "outages",
    "remove_window",
    "set_window",
    "sync_windows",
]

MaintenanceSource = Literal["manual", "csv", "slurm"]
MAINTENANCE_SOURCES: tuple[MaintenanceSource, ...] = get_args(MaintenanceSource)


@dataclass(frozen=True)
class MaintenanceSpec:
    """A window [start, end) on ``cluster``; ``node_type`` "" and ``node_count`` None mean the whole cluster."""

    cluster: str
    start: int
    end: int
    source: MaintenanceSource = "manual"
    reference: str = ""
    node_type: str = ""
    node_count: int | None = None
    nodes: str = ""
    reason: str = ""

    @property
    def key(self) -> tuple[str, str, str, str, int]:
        return (self.cluster, self.source, self.reference, self.node_type, self.start)


@dataclass(frozen=True)
class MaintenanceInfo:
    id: int
    cluster: str
    start: int
    end: int
    source: MaintenanceSource
    reference: str
    node_type: str
    node_count: int | None
    nodes: str
    reason: str

    @property
    def duration(self) -> int:
        return self.end - self.start

    @property
    def whole_cluster(self) -> bool:
        return not self.node_type and self.node_count is None

    def outage(self) -> Outage:
        return Outage(self.cluster, self.start, self.end, self.node_type, self.node_count)


@dataclass(frozen=True)
class SyncResult:
    cluster: str
    source: MaintenanceSource
    added: int
    updated: int
    unchanged: int
    removed: int


def _validate(conn: Connection, spec: MaintenanceSpec) -> None:
    if conn.scalar(select(Cluster.name).where(Cluster.name == spec.cluster)) is None:
        raise NotFoundError("cluster", spec.cluster, hint="configure it under [[clusters]]")
    if spec.end <= spec.start:
        raise UsageError(f"maintenance on {spec.cluster}: the end must be after the start")
    if spec.node_count is not None and spec.node_count <= 0:
        raise UsageError(f"maintenance on {spec.cluster}: the node count must be positive")
    if spec.nodes:
        try:
            hostlist_size(spec.nodes)
        except ValueError as exc:
            raise UsageError(f"maintenance on {spec.cluster}: nodes: {exc}") from None
    if spec.source not in MAINTENANCE_SOURCES:
        raise UsageError(f"maintenance source {spec.source!r}: expected one of {', '.join(MAINTENANCE_SOURCES)}")


def _key_clause(spec: MaintenanceSpec) -> tuple[ColumnElement[bool], ...]:
    mw = MaintenanceWindow
    return (
        mw.cluster == spec.cluster,
        mw.source == spec.source,
        mw.reference == spec.reference,
        mw.node_type == spec.node_type,
        mw.start_time == spec.start,
    )


def set_window(conn: Connection, spec: MaintenanceSpec, *, now: int) -> tuple[int, str]:
    """Create or update the window keyed by (cluster, source, reference, node type, start).

    Returns (id, "added" | "updated" | "unchanged").
    """
    _validate(conn, spec)
    values = {"end_time": spec.end, "node_count": spec.node_count, "nodes": spec.nodes, "reason": spec.reason}
    found = conn.execute(
        select(
            MaintenanceWindow.id,
            MaintenanceWindow.end_time,
            MaintenanceWindow.node_count,
            MaintenanceWindow.nodes,
            MaintenanceWindow.reason,
        ).where(*_key_clause(spec))
    ).first()
    if found is None:
        result = conn.execute(
            insert(MaintenanceWindow).values(
                cluster=spec.cluster,
                start_time=spec.start,
                source=spec.source,
                reference=spec.reference,
                node_type=spec.node_type,
                created_at=now,
                **values,
            )
        )
        pk = result.inserted_primary_key
        assert pk is not None
        return int(pk[0]), "added"
    if tuple(found[1:]) == (spec.end, spec.node_count, spec.nodes, spec.reason):
        return int(found[0]), "unchanged"
    conn.execute(update(MaintenanceWindow).where(MaintenanceWindow.id == found[0]).values(**values))
    return int(found[0]), "updated"


def remove_window(conn: Connection, window_id: int) -> None:
    result = conn.execute(delete(MaintenanceWindow).where(MaintenanceWindow.id == window_id))
    if result.rowcount == 0:
        raise NotFoundError("maintenance window", str(window_id), hint="see `quotad maintenance list`")


def sync_windows(
    conn: Connection, cluster: str, source: MaintenanceSource, specs: Sequence[MaintenanceSpec], *, now: int
) -> SyncResult:
    """Make ``source``'s future windows on ``cluster`` exactly ``specs``; begun windows are kept as history."""
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    keep: set[int] = set()
    for spec in specs:
        if spec.cluster != cluster or spec.source != source:
            raise UsageError(f"window {spec.reference!r} is not a {source} window of {cluster}")
        window_id, what = set_window(conn, spec, now=now)
        keep.add(window_id)
        counts[what] += 1
    mw = MaintenanceWindow
    stale = [
        int(i)
        for i in conn.scalars(select(mw.id).where(mw.cluster == cluster, mw.source == source, mw.start_time > now))
        if int(i) not in keep
    ]
    if stale:
        conn.execute(delete(mw).where(mw.id.in_(stale)))
    return SyncResult(cluster, source, counts["added"], counts["updated"], counts["unchanged"], len(stale))


def list_windows(
    conn: Connection, *, cluster: str | None = None, start: int | None = None, end: int | None = None
) -> list[MaintenanceInfo]:
    """Windows overlapping [start, end) (either bound optional), oldest first."""
    mw = MaintenanceWindow
    stmt = select(mw).order_by(mw.cluster, mw.start_time, mw.id)
    if cluster is not None:
        stmt = stmt.where(mw.cluster == cluster)
    if start is not None:
        stmt = stmt.where(mw.end_time > start)
    if end is not None:
        stmt = stmt.where(mw.start_time < end)
    out = []
    for r in conn.execute(stmt):
        source: MaintenanceSource = r.source if r.source in MAINTENANCE_SOURCES else "manual"
        out.append(
            MaintenanceInfo(
                r.id,
                r.cluster,
                r.start_time,
                r.end_time,
                source,
                r.reference,
                r.node_type,
                r.node_count,
                r.nodes,
                r.reason,
            )
        )
    return out


def outages(conn: Connection, *, start: int, end: int) -> list[Outage]:
    """Every window overlapping [start, end), in the form the capacity arithmetic takes."""
    return [w.outage() for w in list_windows(conn, start=start, end=end)]


def maintenance_seconds(conn: Connection, cluster: str, start: int, end: int) -> int:
    """Seconds of [start, end) during which ``cluster`` had any maintenance window (overlaps counted once).

    For policies: time a company could not have used the cluster as planned. A window on part of the cluster
    counts too (the nodes a company runs on are not known here); ``list_windows`` gives the detail.
    """
    windows = list_windows(conn, cluster=cluster, start=start, end=end)
    return union_seconds(((w.start, w.end) for w in windows), start, end)


#: How a segment was placed relative to a window's nodes: the window takes the whole cluster ("cluster"), the
#: GPU telemetry saw where it ran ("telemetry"), the scheduler's node list says ("node_list"), or nothing says
#: ("unknown": reported apart, never as an overlap).
NodeBasis = Literal["cluster", "telemetry", "node_list", "unknown"]


@dataclass(frozen=True)
class MaintenanceOverlap:
    """A charged job segment that ran while a maintenance window was open: reported, charges left as they are."""

    window_id: int
    window_whole_cluster: bool
    cluster: str
    job_id: str
    job_id_raw: int
    submit: int
    account: str
    user: str
    state: str
    run_start: int
    run_end: int
    gpu_count: int
    overlap_s: int
    nodes_from: NodeBasis = "cluster"

    @property
    def gpu_seconds(self) -> int:
        return self.overlap_s * self.gpu_count


@dataclass(frozen=True)
class Overlaps:
    """What ``maintenance_overlaps`` found: segments on the window's nodes, and those whose nodes nobody knows.

    ``node_unknown`` are segments that ran on the cluster while a window on some of its nodes was open, with
    neither GPU telemetry nor a node list (sacct NodeList, PBS exec_host) to say where: counted apart so they
    are neither flagged as overlapping nor silently dropped.
    """

    found: list[MaintenanceOverlap]
    node_unknown: list[MaintenanceOverlap]

    @property
    def gpu_seconds(self) -> int:
        return sum(o.gpu_seconds for o in self.found)


def _telemetry_nodes(conn: Connection, cluster: str, lo: int, hi: int) -> dict[int, list[tuple[int, str]]]:
    """(hour, node) pairs the GPU telemetry saw each job on, in hours overlapping [lo, hi)."""
    from quotad.ledger.telemetry_models import GpuUsageHourly

    t = GpuUsageHourly
    stmt = select(t.job_id, t.hour, t.node).distinct().where(t.cluster == cluster, t.hour < hi, t.hour + 3600 > lo)
    seen: defaultdict[int, list[tuple[int, str]]] = defaultdict(list)
    for job, hour, node in conn.execute(stmt):
        seen[int(job)].append((int(hour), str(node)))
    return seen


def _window_hosts(window: MaintenanceInfo) -> frozenset[str] | None:
    """The window's nodes as a set; None (logged) when it names none or names them in a form no hostlist has."""
    if window.nodes:
        try:
            return hosts_in(window.nodes)
        except ValueError as exc:
            log.warning("maintenance window #%d on %s: %s; its overlaps cannot be told per node", window.id,
                        window.cluster, exc)  # fmt: skip
            return None
    log.info("maintenance window #%d on %s names no nodes (%s of them%s): its overlaps cannot be told per node; "
             "give the node names", window.id, window.cluster, window.node_count,
             f", {window.node_type}" if window.node_type else "")  # fmt: skip
    return None


def _placed(
    job_id_raw: int, node_list: str | None, begin: int, finish: int, hosts: frozenset[str], seen: list[tuple[int, str]]
) -> tuple[NodeBasis, bool]:
    """Where a segment ran while [begin, finish) was under the window, and whether that was on its ``hosts``.

    Telemetry wins (it saw the job on a node in those hours); else the segment's node list; else unknown.
    """
    nodes = {node for hour, node in seen if hour < finish and hour + 3600 > begin}
    if nodes:
        return "telemetry", not nodes.isdisjoint(hosts)
    if node_list is not None:
        try:
            return "node_list", not hosts_in(node_list).isdisjoint(hosts)
        except ValueError:
            log.warning("job %s: stored node list %r is not a hostlist; its node is taken as unknown", job_id_raw,
                        node_list)  # fmt: skip
    return "unknown", False


def maintenance_overlaps(conn: Connection, *, start: int, end: int, cluster: str | None = None) -> Overlaps:
    """Charged segments whose run [start, start + elapsed) overlaps a window that overlaps [start, end).

    Per node: a window on the whole cluster takes every segment running then; a window naming its nodes takes
    the segments that ran on one of them, as the GPU telemetry saw (in the hours of the overlap), else as the
    segment's node list says (sacct NodeList, PBS exec_host). A segment with neither is ``node_unknown``: 10 of
    80 nodes down must not flag every job on the cluster, nor hide the jobs nobody can place. A window on part
    of the cluster without node names cannot be attributed and is logged, not counted.
    """
    found: list[MaintenanceOverlap] = []
    unknown: list[MaintenanceOverlap] = []
    run_end = Job.start_time + Job.elapsed_raw
    for window in list_windows(conn, cluster=cluster, start=start, end=end):
        lo, hi = max(window.start, start), min(window.end, end)
        if hi <= lo:
            continue
        hosts: frozenset[str] | None = None
        if not window.whole_cluster or window.nodes:
            hosts = _window_hosts(window)
            if hosts is None:
                continue
        conditions = [
            Job.cluster == window.cluster,
            Job.start_time.is_not(None),
            Job.start_time < hi,
            run_end > lo,
            Job.charged_seconds > 0,
        ]
        seen = _telemetry_nodes(conn, window.cluster, lo, hi) if hosts is not None else {}
        stmt = select(Job).where(and_(*conditions)).order_by(Job.start_time, Job.id)
        for j in conn.execute(stmt):
            begin, finish = int(j.start_time), int(j.start_time) + int(j.elapsed_raw)
            clipped = (max(begin, lo), min(finish, hi))
            basis: NodeBasis = "cluster"
            if hosts is not None:
                basis, on_window = _placed(j.job_id_raw, j.node_list, *clipped, hosts, seen.get(int(j.job_id_raw), []))
                if basis != "unknown" and not on_window:
                    continue
            (unknown if basis == "unknown" else found).append(
                MaintenanceOverlap(
                    window_id=window.id,
                    window_whole_cluster=window.whole_cluster,
                    cluster=j.cluster,
                    job_id=j.job_id,
                    job_id_raw=j.job_id_raw,
                    submit=j.submit,
                    account=j.account,
                    user=j.user_name,
                    state=j.state,
                    run_start=begin,
                    run_end=finish,
                    gpu_count=j.gpu_count,
                    overlap_s=clipped[1] - clipped[0],
                    nodes_from=basis,
                )
            )
    return Overlaps(found, unknown)
