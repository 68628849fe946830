"""The exporter's live reads: which GPUs idle (and whose), which directives are open, how the outbox fares.

Why separate from the collector: each is a small function with a typed result that the collector is given
(and tests or later code can swap). Unclaimed accounts are left out everywhere, as in
``gpus_held_now``: the metrics are per company.

``open_directives`` reads the ``directives`` table by name rather than through ``quotad.directives`` (being
written alongside); swap in that package's own count through ``LedgerCollector(directives=...)``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection, inspect, select, text

from quotad.ledger.models import Cluster, CompanyAccount
from quotad.ledger.queries import running_job_gpu_types
from quotad.ledger.telemetry import idle_gpus as ledger_idle_gpus
from quotad.ledger.telemetry import idle_jobs as ledger_idle_jobs

__all__ = [
    "FAILING_ATTEMPTS",
    "DirectiveCounter",
    "IdleGpuSeries",
    "IdleJobSeries",
    "IdleReader",
    "JobTypes",
    "OutboxHealth",
    "idle_gpus",
    "idle_jobs",
    "open_directives",
    "outbox_health",
    "severity_label",
]

#: Directive states that count as open (``quotad.directives.models.ACTIVE_STATES``).
_ACTIVE = ("open", "notified", "acknowledged")
#: ``quotad.policies.base.Severity``: the integers the directives table stores, and their names.
_SEVERITIES = {10: "info", 20: "notice", 30: "warning", 40: "critical"}


@dataclass(frozen=True)
class IdleGpuSeries:
    """One idle GPU as the exporter labels it: whose it is, its GPU type, and how long it has been idle."""

    company: str
    cluster: str
    gpu_type: str
    job_id: int
    user: str
    idle_for_s: int


#: The single GPU type of running jobs, by (cluster, job id), as the usage aggregate keeps it.
JobTypes = Mapping[tuple[str, int], str]


@dataclass(frozen=True)
class IdleJobSeries:
    """One job's idle GPUs as the exporter labels them: how many, and the longest idle streak among them."""

    company: str
    cluster: str
    gpu_type: str
    job_id: int
    user: str
    gpus: int
    longest_idle_s: int


class IdleReader(Protocol):
    def __call__(
        self, conn: Connection, *, now: int, stale_after_s: int, known_types: JobTypes | None = None
    ) -> Sequence[IdleJobSeries] | None: ...


def idle_jobs(
    conn: Connection, *, now: int, stale_after_s: int, known_types: JobTypes | None = None
) -> list[IdleJobSeries]:
    """What the scrape serves of ``idle_gpus``, counted per job by the database (``telemetry.idle_jobs``).

    The same GPUs, owners and types as ``idle_gpus`` (a test holds them equal), read as one row per job
    instead of one per GPU: fetching 2,400 idle GPUs one row each was the largest part of a 100,000-GPU scrape.
    """
    defaults = {name: gpu_type for name, gpu_type in conn.execute(select(Cluster.name, Cluster.default_gpu_type))}
    idle = ledger_idle_jobs(conn, now=now, stale_s=stale_after_s, clusters=sorted(defaults))
    if not idle:
        return []
    owners = {(a.cluster, a.account): a.company_id for a in conn.execute(select(CompanyAccount))}
    types = _job_types(conn, {(j.cluster, j.job_id) for j in idle}, known_types)
    return [
        IdleJobSeries(
            owners[(j.cluster, j.account)],
            j.cluster,
            types.get((j.cluster, j.job_id), defaults.get(j.cluster, "")),
            j.job_id,
            j.user_name,
            j.gpus,
            j.longest_streak_s,
        )
        for j in sorted(idle, key=lambda j: (j.cluster, j.job_id, j.user_name))
        if (j.cluster, j.account) in owners
    ]


def _job_types(conn: Connection, jobs: set[tuple[str, int]], known: JobTypes | None) -> JobTypes:
    """The GPU type of each of ``jobs`` that has one: from ``known`` (the aggregate's, refreshed after each
    poll), reading live only the jobs it lacks (those a poll brought in since), so a new job is never labelled
    with a cluster's default type while it waits for the next refresh."""
    have = known if known is not None else {}
    missing = jobs - have.keys()
    return {**have, **running_job_gpu_types(conn, missing)} if missing else have


def idle_gpus(conn: Connection, *, now: int, stale_after_s: int) -> list[IdleGpuSeries]:
    """Allocated GPUs idle at their latest sample, from the node agents' rows.

    The ledger's ``telemetry.idle_gpus`` (the reader the idle-allocation policy uses) with no minimum:
    the same answer as ``telemetry.idle_allocations(min_idle_s=0)`` for every cluster (a test holds them
    equal), read as one narrow query instead of one per cluster, since this runs at every scrape. The GPU
    type is the running job's when its allocation has one type, else the cluster's default. The scrape serves
    ``idle_jobs``, the same GPUs counted per job.
    """
    defaults = {name: gpu_type for name, gpu_type in conn.execute(select(Cluster.name, Cluster.default_gpu_type))}
    # Every cluster named: the (cluster, last_sample) index then reads only the fresh rows of each; without
    # them the scrape walked the whole index, every row the agents ever wrote (``bench/scale.py``).
    idle = ledger_idle_gpus(conn, now=now, stale_s=stale_after_s, clusters=sorted(defaults))
    if not idle:
        return []
    owners = {(a.cluster, a.account): a.company_id for a in conn.execute(select(CompanyAccount))}
    types = running_job_gpu_types(conn, {(r.cluster, r.job_id) for r in idle})
    return [
        IdleGpuSeries(
            owners[(r.cluster, r.account)],
            r.cluster,
            types.get((r.cluster, r.job_id), defaults.get(r.cluster, "")),
            int(r.job_id),
            r.user_name,
            r.streak_for(now),
        )
        for r in sorted(idle, key=lambda r: (r.cluster, r.node, r.gpu_index, r.job_id))
        if (r.cluster, r.account) in owners
    ]


class DirectiveCounter(Protocol):
    def __call__(self, conn: Connection) -> Mapping[tuple[str, str], int]: ...


def severity_label(value: object) -> str:
    """The directives table stores severity as policies' integer scale; the metric label is its name."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _SEVERITIES.get(value, str(value))
    return str(value).lower()


def open_directives(conn: Connection) -> dict[tuple[str, str], int]:
    """Active directives per (policy, severity label); empty while the ledger has no ``directives`` table.

    A stand-in until ``quotad.directives`` offers its own count: it reads the table of migration
    0004directives by name (``policy``, integer ``severity``, ``state`` active while open, notified or
    acknowledged), so the exporter works on a ledger with or without it.
    """
    inspector = inspect(conn)
    if not inspector.has_table("directives"):
        return {}
    columns = {c["name"] for c in inspector.get_columns("directives")}
    if not {"policy", "severity", "state"} <= columns:
        return {}
    active = ", ".join(f"'{s}'" for s in _ACTIVE)
    rows = conn.execute(
        text(f"SELECT policy, severity, count(*) FROM directives WHERE state IN ({active}) GROUP BY policy, severity")
    )
    counts: defaultdict[tuple[str, str], int] = defaultdict(int)
    for policy, severity, n in rows:
        counts[(str(policy), severity_label(severity))] += int(n)
    return dict(counts)


#: A message still undelivered after this many attempts "keeps failing" (about 7 minutes at the default
#: backoff of 60 s doubling): one refused try is weather, three in a row is a broken SMTP path.
FAILING_ATTEMPTS = 3
#: Outbox states undelivered mail can be in (anything not sent or rejected, e.g. an "uncertain" state).
_DONE = ("sent", "rejected")


@dataclass(frozen=True)
class OutboxHealth:
    """Messages per state, how many keep failing, and the newest failing one's error."""

    states: Mapping[str, int]
    failing: int
    last_error: str


def outbox_health(conn: Connection) -> OutboxHealth:
    """The outbox read by table name (like ``open_directives``), so a ledger without it reads as empty."""
    if not inspect(conn).has_table("outbox"):
        return OutboxHealth({}, 0, "")
    rows = conn.execute(text("SELECT state, count(*) FROM outbox GROUP BY state"))
    states = {str(state): int(n) for state, n in rows}
    done = ", ".join(f"'{s}'" for s in _DONE)
    failing = conn.execute(
        text(f"SELECT count(*) FROM outbox WHERE state NOT IN ({done}) AND attempts >= :n"), {"n": FAILING_ATTEMPTS}
    ).scalar_one()
    last_error = conn.execute(
        text(
            f"SELECT last_error FROM outbox WHERE state NOT IN ({done}) AND attempts >= :n "
            "ORDER BY next_attempt_at DESC, id DESC LIMIT 1"
        ),
        {"n": FAILING_ATTEMPTS},
    ).scalar()
    return OutboxHealth(states, int(failing), str(last_error or ""))

