"""The exporter's live reads: what runs now, which GPUs idle, which directives are open.

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

__all__ = [
    "FAILING_ATTEMPTS",
    "DirectiveCounter",
    "IdleGpuSeries",
    "IdleReader",
    "OutboxHealth",
    "idle_gpus",
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


class IdleReader(Protocol):
    def __call__(self, conn: Connection, *, now: int, stale_after_s: int) -> Sequence[IdleGpuSeries] | None: ...


def idle_gpus(conn: Connection, *, now: int, stale_after_s: int) -> list[IdleGpuSeries]:
    """Allocated GPUs idle at their latest sample, from the node agents' rows.

    The ledger's ``telemetry.idle_gpus`` (the reader the idle-allocation policy uses) with no minimum:
    the same answer as ``telemetry.idle_allocations(min_idle_s=0)`` for every cluster (a test holds them
    equal), read as one narrow query instead of one per cluster, since this runs at every scrape. The GPU
    type is the running job's when its allocation has one type, else the cluster's default.
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

