"""The daemon's pluggable job list: named callables, each with a default interval and allowed staleness.

Why a registry and not a hard-wired scheduler: policies, the outbox, digests, spool replay and rollup upkeep
are written elsewhere, on their own timelines. Each joins the daemon with one ``registry.add(...)`` line in
``default_registry``; its schedule can then be tuned (or the job disabled) in ``[daemon.jobs.<name>]``
without code. A job is any ``Callable[[JobContext], object]``: it opens its own transaction from
``ctx.engine`` (so SIGTERM, which waits for running jobs, always lets that transaction finish), reads
``ctx.settings`` (the configuration in force, swapped atomically on SIGHUP) and takes ``ctx.now()`` instead
of reading the clock, so tests pin time. It raises to report failure; the scheduler logs the traceback and
runs it again at its next interval.

Per-cluster jobs (the Slurm poll) declare ``targets``: one scheduled job per returned cluster, named
``<name>:<cluster>`` and given ``ctx.cluster``, so one slow cluster never delays another.
"""

from __future__ import annotations

import glob
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from quotad.collectors.runner import CommandRunner
from quotad.collectors.slurm import poll_cluster
from quotad.config import Settings
from quotad.daemon.config import JobsConfig, daemon_config
from quotad.daemon.problems import Check, Problem, Problems
from quotad.errors import ConfigError, RefusalReason
from quotad.ledger.ingest import IngestSummary
from quotad.metrics.pool import PoolCache
from quotad.metrics.snapshot import SnapshotCache
from quotad.metrics.sources import outbox_health
from quotad.units import SECONDS_PER_DAY, GpuCatalog

__all__ = [
    "JobContext",
    "JobDef",
    "JobFunc",
    "JobRegistry",
    "JobSummary",
    "ScheduledJob",
    "default_registry",
    "metrics_refresh",
    "pbs_clusters",
    "pbs_poll",
    "rollup_upkeep",
    "slurm_clusters",
    "slurm_poll",
    "spool_dirs",
    "spool_replay",
]

log = logging.getLogger("quotad.daemon.jobs")


@dataclass(frozen=True)
class JobContext:
    """What a job is given at each run; ``cluster`` is set only for per-cluster jobs."""

    engine: Engine
    settings: Settings
    clock: Callable[[], float]
    cluster: str | None = None
    #: Where a job reports what it found wrong while succeeding (the daemon's own; a fresh one in tests).
    problems: Problems = field(default_factory=Problems)

    def now(self) -> int:
        """The current time as UTC epoch seconds (the injected clock)."""
        return int(self.clock())


@dataclass(frozen=True)
class JobSummary:
    """What one run did, for its one log line: ``text`` for people, ``fields`` for JSON logs (counts, names).

    Why a value and not a log call in the job: the scheduler logs exactly one line per run, bounded
    (``scheduler.summary_line``), however large a job's own report is (a policy tick's is tens of KB).
    """

    text: str
    fields: Mapping[str, int | float | str | bool] = field(default_factory=dict)


#: A job returns its ``JobSummary`` (or None: the line then says only that it ran).
JobFunc = Callable[[JobContext], "JobSummary | None"]
Targets = Callable[[Settings], Sequence[str]]


@dataclass(frozen=True)
class JobDef:
    """A registered job: its defaults; ``targets`` expands it into one job per cluster."""

    name: str
    func: JobFunc
    interval_s: float
    stale_after_s: float
    targets: Targets | None = None
    run_at_start: bool = True
    #: Scheduled only when this says the configuration asks for it (e.g. spool directories are configured).
    when: Callable[[Settings], bool] | None = None


@dataclass(frozen=True)
class ScheduledJob:
    """A job as scheduled: its id, the cluster it serves, and the interval and staleness in force."""

    id: str
    definition: JobDef
    interval_s: float
    stale_after_s: float
    cluster: str | None = None


class JobRegistry:
    """Named jobs in registration order; ``resolve`` applies ``[daemon.jobs]`` to them."""

    def __init__(self) -> None:
        self._defs: dict[str, JobDef] = {}

    def add(
        self,
        name: str,
        func: JobFunc,
        *,
        interval_s: float,
        stale_after_s: float,
        targets: Targets | None = None,
        run_at_start: bool = True,
        when: Callable[[Settings], bool] | None = None,
    ) -> None:
        """Register ``func`` under ``name`` (one line per job); names are unique."""
        if name in self._defs:
            raise ValueError(f"job {name!r} is registered twice")
        if interval_s <= 0 or stale_after_s < interval_s:
            raise ValueError(f"job {name!r}: need 0 < interval_s <= stale_after_s")
        self._defs[name] = JobDef(name, func, interval_s, stale_after_s, targets, run_at_start, when)

    def names(self) -> list[str]:
        return list(self._defs)

    def resolve(self, settings: Settings, config: JobsConfig) -> list[ScheduledJob]:
        """The jobs to schedule under ``settings``; raises ``ConfigError`` for an inconsistent schedule."""
        jobs: list[ScheduledJob] = []
        for definition in self._defs.values():
            schedule = config.schedule(definition.name)
            if not schedule.enabled or (definition.when is not None and not definition.when(settings)):
                continue
            interval = schedule.interval_s or definition.interval_s
            stale = schedule.stale_after_s or max(definition.stale_after_s, 2 * interval)
            if stale < interval:
                raise ConfigError(
                    f"daemon.jobs.{definition.name}: stale_after_s = {stale:g} is shorter than the interval "
                    f"{interval:g}; raise it or set both"
                )
            if definition.targets is None:
                jobs.append(ScheduledJob(definition.name, definition, interval, stale))
                continue
            for cluster in definition.targets(settings):
                jobs.append(ScheduledJob(f"{definition.name}:{cluster}", definition, interval, stale, cluster))
        return jobs

    def unprovided(self, config: JobsConfig) -> list[str]:
        """Jobs configured under ``[daemon.jobs]`` that this build does not provide (yet)."""
        return [
            name
            for name in JobsConfig.names()
            if name not in self._defs and config.schedule(name) != JobsConfig().schedule(name)
        ]


def slurm_clusters(settings: Settings) -> list[str]:
    return [c.name for c in settings.clusters if c.scheduler == "slurm"]


def pbs_clusters(settings: Settings) -> list[str]:
    return [c.name for c in settings.clusters if c.scheduler == "pbs"]


def _refusals(ctx: JobContext, cluster: str, summaries: Sequence[IngestSummary]) -> dict[str, int]:
    """Report a poll's refused lines (counted by reason, standing in /healthz until the next poll)."""
    refused: dict[RefusalReason, int] = {}
    for summary in summaries:
        for reason, lines in summary.refused.items():
            refused[reason] = refused.get(reason, 0) + lines
    ctx.problems.poll_refusals(cluster, refused, (e for s in summaries for e in s.errors))
    return {f"refused_{reason.value}": lines for reason, lines in sorted(refused.items())}


def slurm_poll(runner: CommandRunner) -> JobFunc:
    """One incremental ``sacct`` poll of ``ctx.cluster`` (the same call as ``quotad collect slurm``)."""

    def poll(ctx: JobContext) -> JobSummary:
        if ctx.cluster is None:
            raise ValueError("slurm_poll is a per-cluster job")
        result = poll_cluster(ctx.engine, ctx.settings, ctx.cluster, runner=runner, now=ctx.now())
        by_reason = _refusals(ctx, ctx.cluster, result.summaries)
        return JobSummary(
            f"polled {ctx.cluster}: {result.total('lines_total')} lines, {result.total('inserted')} new, "
            f"{result.total('updated')} updated, {result.lines_bad} refused",
            {
                "cluster": ctx.cluster,
                "lines": result.total("lines_total"),
                "inserted": result.total("inserted"),
                "updated": result.total("updated"),
                "refused": result.lines_bad,
                **by_reason,
            },
        )

    return poll


def pbs_poll(ctx: JobContext) -> JobSummary:
    """Read what ``ctx.cluster``'s PBS accounting directory gained (the same call as ``quotad collect pbs``)."""
    from quotad.collectors.pbs import pbs_cluster, poll_pbs

    if ctx.cluster is None:
        raise ValueError("pbs_poll is a per-cluster job")
    result = poll_pbs(ctx.engine, ctx.settings, pbs_cluster(ctx.settings, ctx.cluster), now=ctx.now())
    by_reason = _refusals(ctx, ctx.cluster, result.summaries)
    return JobSummary(
        f"polled {ctx.cluster}: {len(result.files)} file(s), {result.total('inserted')} new, "
        f"{result.total('updated')} updated, {result.lines_bad} refused",
        {
            "cluster": ctx.cluster,
            "files": len(result.files),
            "inserted": result.total("inserted"),
            "updated": result.total("updated"),
            "refused": result.lines_bad,
            **by_reason,
        },
    )


def metrics_refresh(cache: SnapshotCache, pool: PoolCache | None = None) -> JobFunc:
    """Recompute the exporter's usage (and pool) aggregates when needed, so scrapes never pay for them."""

    def refresh(ctx: JobContext) -> JobSummary:
        now = ctx.now()
        usage = cache.refresh(ctx.engine, GpuCatalog(ctx.settings.gpu_types), now=now)
        pooled = pool.refresh(ctx.engine, ctx.settings, now=now) if pool is not None else False
        return JobSummary(
            f"usage {'recomputed' if usage else 'unchanged'}, pool {'recomputed' if pooled else 'unchanged'}",
            {"usage_recomputed": usage, "pool_recomputed": bool(pooled)},
        )

    return refresh


def policy_tick_job(ctx: JobContext) -> JobSummary:
    """Evaluate the policies into directives (notices queued in the outbox, enforcement where enabled)."""
    from quotad.directives.config import rules_from
    from quotad.tick import policy_tick

    report = policy_tick(ctx.engine, ctx.settings, rules_from(ctx.settings), now=ctx.now())
    counts = {
        "findings": len(report.findings),
        "opened": len(report.result.opened),
        "updated": len(report.result.updated),
        "closed": len(report.result.closed),
        "queued": len(report.queued),
        "actions": len(report.actions),
        "policy_failures": len(report.failures),
    }
    failed = ",".join(sorted({f.policy for f in report.failures}))
    text = "policy tick: " + ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items())
    return JobSummary(text + (f" ({failed})" if failed else ""), {**counts, "failed_policies": failed})


def outbox_job(ctx: JobContext) -> JobSummary:
    """Deliver due outbox messages; SMTP failures stay queued with backoff and are reported, never lost.

    Then reads what keeps failing (``outbox_health``): messages still undelivered after
    ``FAILING_ATTEMPTS`` tries stand in /healthz until they go out or are rejected for good.
    """
    from quotad.directives.config import rules_from
    from quotad.notify.service import send_outbox

    report = send_outbox(ctx.engine, rules_from(ctx.settings), now=ctx.now())
    with ctx.engine.connect() as conn:
        health = outbox_health(conn)
    ctx.problems.set(
        Check.OUTBOX_FAILING,
        "outbox",
        [Problem(Check.OUTBOX_FAILING, "outbox", "delivery_failing", health.failing, health.last_error[:300])]
        if health.failing
        else [],
    )
    counts = {
        "sent": len(report.sent),
        "retrying": len(report.retrying),
        "rejected": len(report.rejected),
        "recovered": report.recovered,
        "failing": health.failing,
    }
    return JobSummary("outbox: " + ", ".join(f"{n} {what}" for what, n in counts.items()), counts)


def digest_job(ctx: JobContext) -> JobSummary:
    """Queue the daily company digests and the weekly office summary; each is queued once per day/week."""
    from quotad.directives.config import rules_from
    from quotad.notify.service import send_digests, send_weekly

    rules = rules_from(ctx.settings)
    digests = send_digests(ctx.engine, ctx.settings, rules, now=ctx.now(), send=False)
    weekly = 0
    if ctx.settings.notify.programme_office:  # no office address configured: no weekly summary to queue
        weekly = len(send_weekly(ctx.engine, ctx.settings, rules, now=ctx.now(), send=False).queued)
    counts = {"digests_queued": len(digests.queued), "weekly_queued": weekly}
    return JobSummary(f"digest: {counts['digests_queued']} digest(s), {weekly} weekly summary queued", counts)


def spool_dirs(settings: Settings) -> list[Path]:
    """Agent spool directories the daemon replays: each configured path, globs expanded, in name order."""
    found: list[Path] = []
    for pattern in daemon_config(settings).agent_spool_dirs:
        text = str(pattern)
        matches = sorted(Path(p) for p in glob.glob(text)) if glob.has_magic(text) else [pattern]
        found.extend(p for p in matches if p not in found)
    return found


def spool_replay(ctx: JobContext) -> JobSummary:
    """Write the windows agents left in shared spool directories (a node that died or was drained while the
    ledger was unreachable never replays its own spool). Safe beside a live agent replaying the same
    directory: windows hold absolute totals and the ledger refuses an older row, so a window written twice
    changes nothing, and one the agent removed first is skipped."""
    from quotad.collectors.nvml.counters import AgentCounters
    from quotad.collectors.nvml.sink import LedgerSink
    from quotad.collectors.nvml.spool import Spool

    windows = 0
    for directory in spool_dirs(ctx.settings):
        counters = AgentCounters()
        windows += LedgerSink(ctx.engine, Spool(directory, max_bytes=1 << 62, counters=counters),
                              counters=counters).replay()
    if windows:
        log.warning("spool replay: %d window(s) written from agent spools", windows)
    return JobSummary(f"spool replay: {windows} window(s) written", {"windows": windows})


def rollup_upkeep(ctx: JobContext) -> JobSummary:
    """Check the daily rollups against the hourly one over the trailing window and repair drift, loudly."""
    from quotad.ledger.upkeep import check_rollups

    now = ctx.now()
    days = daemon_config(ctx.settings).rollup_check_days
    with ctx.engine.begin() as conn:
        check = check_rollups(conn, start=now - days * SECONDS_PER_DAY, end=now, repair=True)
    for cell in check.drift[:20]:
        who = "" if cell.user_name is None else f"/{cell.user_name}/{cell.partition}"
        log.error(
            "%s drifted from usage_hourly: %s/%s%s/%s day %d: daily %s, hourly %d (repaired)",
            cell.rollup, cell.cluster, cell.account, who, cell.gpu_type, cell.day, cell.daily, cell.hourly,
        )
    if check.drift:
        log.error("rollup upkeep repaired %d of %d daily cell(s)", len(check.drift), check.cells)
    return JobSummary(
        f"rollup upkeep: {check.cells} daily cell(s) checked, {len(check.drift)} repaired",
        {"cells": check.cells, "repaired": len(check.drift)},
    )


def default_registry(
    *, runner: CommandRunner, snapshots: SnapshotCache, pool: PoolCache | None = None
) -> JobRegistry:
    """Every job ``quotad run`` schedules. Add a job with one line; its config table is ``[daemon.jobs.NAME]``."""
    registry = JobRegistry()
    registry.add("slurm_poll", slurm_poll(runner), interval_s=300, stale_after_s=1800, targets=slurm_clusters)
    registry.add("pbs_poll", pbs_poll, interval_s=300, stale_after_s=1800, targets=pbs_clusters)
    registry.add("metrics_refresh", metrics_refresh(snapshots, pool), interval_s=30, stale_after_s=600)
    registry.add("policy_tick", policy_tick_job, interval_s=300, stale_after_s=1800)
    registry.add("outbox", outbox_job, interval_s=60, stale_after_s=900)
    registry.add("digest", digest_job, interval_s=900, stale_after_s=7200)
    registry.add(
        "spool_replay", spool_replay, interval_s=300, stale_after_s=3600,
        when=lambda s: bool(daemon_config(s).agent_spool_dirs),  # configured; matches are found at each run
    )
    registry.add("rollup_upkeep", rollup_upkeep, interval_s=3600, stale_after_s=14400)
    return registry
