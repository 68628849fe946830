"""The job registry, the guarded runner and the APScheduler wiring: defaults, overrides, failures, overlap."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence

import pytest
from sqlalchemy import Engine

from quotad.config import Settings
from quotad.daemon.config import JobsConfig
from quotad.daemon.health import JobHealth
from quotad.daemon.jobs import JobContext, JobRegistry, ScheduledJob, default_registry, digest_job, slurm_clusters
from quotad.daemon.scheduler import JobScheduler, guarded
from quotad.errors import ConfigError
from quotad.ledger.collector_state import collector_health
from quotad.metrics.snapshot import SnapshotCache

#: A guard against a hung test, never an assertion about speed.
PATIENCE_S = 30.0
SACCT_HEADER = "JobID|JobIDRaw|Cluster|Account|User|Partition|State|Submit|Start|End|ElapsedRaw|AllocTRES|NodeList|JobName"


def wait_until(condition: object, what: str) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting: {what}")
        time.sleep(0.01)


def nothing(ctx: JobContext) -> None:
    return None


def test_per_cluster_jobs_and_config_overrides(settings: Settings) -> None:
    registry = JobRegistry()
    registry.add("slurm_poll", nothing, interval_s=300, stale_after_s=1800, targets=slurm_clusters)
    registry.add("outbox", nothing, interval_s=60, stale_after_s=600)
    registry.add("digest", nothing, interval_s=900, stale_after_s=1000)
    config = JobsConfig.model_validate(
        {"slurm_poll": {"interval_s": 120}, "outbox": {"enabled": False}, "digest": {"interval_s": 1200}}
    )
    jobs = {j.id: j for j in registry.resolve(settings, config)}
    assert sorted(jobs) == ["digest", "slurm_poll:c1", "slurm_poll:c2"]
    assert jobs["slurm_poll:c1"].cluster == "c1" and jobs["slurm_poll:c1"].interval_s == 120
    assert jobs["slurm_poll:c1"].stale_after_s == 1800
    # a longer interval than the default staleness allows stretches the staleness to two intervals
    assert jobs["digest"].stale_after_s == 2400


def test_staleness_below_the_interval_is_a_config_error(settings: Settings) -> None:
    registry = JobRegistry()
    registry.add("outbox", nothing, interval_s=300, stale_after_s=600)
    with pytest.raises(ConfigError, match=r"daemon\.jobs\.outbox"):
        registry.resolve(settings, JobsConfig.model_validate({"outbox": {"stale_after_s": 100}}))


def test_registry_refuses_duplicates_and_reports_unprovided_jobs() -> None:
    registry = JobRegistry()
    registry.add("outbox", nothing, interval_s=60, stale_after_s=600)
    with pytest.raises(ValueError, match="twice"):
        registry.add("outbox", nothing, interval_s=60, stale_after_s=600)
    with pytest.raises(ValueError, match="interval"):
        registry.add("digest", nothing, interval_s=600, stale_after_s=60)
    config = JobsConfig.model_validate({"policy_tick": {"interval_s": 30}, "outbox": {"interval_s": 30}})
    assert registry.unprovided(config) == ["policy_tick"]


def _scheduled(func: object, *, interval_s: float = 60, job_id: str = "j") -> ScheduledJob:
    registry = JobRegistry()
    registry.add(job_id, func, interval_s=interval_s, stale_after_s=max(60, interval_s))  # type: ignore[arg-type]
    return registry.resolve(Settings(), JobsConfig())[0]


def test_guarded_logs_the_traceback_and_records_the_failure(caplog: pytest.LogCaptureFixture, settings: Settings) -> None:
    def explode(ctx: JobContext) -> None:
        raise RuntimeError("boom")

    job = _scheduled(explode)
    health = JobHealth(lambda: 1000.0)
    health.register(job.id, stale_after_s=job.stale_after_s)
    with caplog.at_level(logging.ERROR, logger="quotad.daemon"):
        guarded(job, lambda j: JobContext(None, settings, lambda: 1000.0), health, lambda: 1000.0)  # type: ignore[arg-type]
    (status,) = health.snapshot()
    assert status.errors_total == 1 and status.runs_total == 1 and status.last_success is None
    assert status.last_error == "RuntimeError: boom"
    (record,) = [r for r in caplog.records if r.name == "quotad.daemon"]
    assert record.exc_info is not None and "job j failed" in record.getMessage()
    assert "runs again in 60 s" in record.getMessage()


@contextlib.contextmanager
def running(jobs: list[ScheduledJob], health: JobHealth, settings: Settings) -> Iterator[JobScheduler]:
    scheduler = JobScheduler(
        health=health, context=lambda j: JobContext(None, settings, time.time, j.cluster), clock=time.time, max_workers=4  # type: ignore[arg-type]
    )
    scheduler.start(jobs)
    try:
        yield scheduler
    finally:
        scheduler.shutdown()


def test_a_failing_job_is_retried_at_its_next_interval_and_the_scheduler_lives_on(settings: Settings) -> None:
    calls: list[int] = []
    recovered = threading.Event()

    def flaky(ctx: JobContext) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first run fails")
        recovered.set()

    health = JobHealth(time.time)
    with running([_scheduled(flaky, interval_s=0.05)], health, settings):
        assert recovered.wait(PATIENCE_S)
    (status,) = health.snapshot()
    assert status.errors_total == 1 and status.last_success is not None and status.runs_total >= 2


def test_a_job_never_overlaps_itself(caplog: pytest.LogCaptureFixture, settings: Settings) -> None:
    release = threading.Event()
    lock = threading.Lock()
    active, peak = [0], [0]

    def slow(ctx: JobContext) -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        release.wait(PATIENCE_S)
        with lock:
            active[0] -= 1

    health = JobHealth(time.time)
    with caplog.at_level(logging.WARNING, logger="apscheduler"), running([_scheduled(slow, interval_s=0.02)], health, settings):
        wait_until(lambda: any("maximum number of running instances" in r.getMessage() for r in caplog.records),
                   "APScheduler to skip a run because the previous one is still running")
        release.set()
    assert peak[0] == 1


def test_reapply_reschedules_adds_and_removes(settings: Settings) -> None:
    health = JobHealth(time.time)
    registry = JobRegistry()
    registry.add("a", nothing, interval_s=3600, stale_after_s=7200, run_at_start=False)
    registry.add("b", nothing, interval_s=3600, stale_after_s=7200, run_at_start=False)
    jobs = registry.resolve(settings, JobsConfig())
    with running(jobs[:1], health, settings) as scheduler:
        assert [j.id for j in scheduler.jobs()] == ["a"]
        scheduler.apply(jobs[1:])
        assert [j.id for j in scheduler.jobs()] == ["b"]
        assert [s.job for s in health.snapshot()] == ["b"]


class FakeSacct:
    """Answers every sacct call with a header and the given rows."""

    def __init__(self, *rows: str) -> None:
        self.rows = list(rows)
        self.calls: list[list[str]] = []

    @contextlib.contextmanager
    def _lines(self) -> Iterator[Iterator[str]]:
        yield iter([SACCT_HEADER, *self.rows])

    def stream(self, argv: Sequence[str], *, env: Mapping[str, str], timeout_s: float) -> contextlib.AbstractContextManager[Iterator[str]]:
        self.calls.append(list(argv))
        return self._lines()


def test_default_registry_polls_each_slurm_cluster_through_poll_cluster(engine: Engine, settings: Settings) -> None:
    sacct = FakeSacct()
    registry = default_registry(runner=sacct, snapshots=SnapshotCache(max_age_s=300))
    jobs = {j.id: j for j in registry.resolve(settings, JobsConfig())}
    assert set(jobs) == {
        "slurm_poll:c1", "slurm_poll:c2", "metrics_refresh", "policy_tick", "outbox", "digest", "rollup_upkeep"
    }  # no PBS cluster and no agent spool directory configured: no pbs_poll, no spool_replay
    poll = jobs["slurm_poll:c1"]
    poll.definition.func(JobContext(engine, settings, lambda: 1_800_000_000.0, poll.cluster))
    with engine.connect() as conn:
        (state,) = collector_health(conn)
    assert (state.cluster, state.source, state.last_success) == ("c1", "sacct", 1_800_000_000)
    assert sacct.calls and sacct.calls[0][0] == "sacct"


def test_metrics_refresh_job_fills_the_snapshot(engine: Engine, settings: Settings) -> None:
    snapshots = SnapshotCache(max_age_s=300)
    registry = default_registry(runner=FakeSacct(), snapshots=snapshots)
    (refresh,) = [j for j in registry.resolve(settings, JobsConfig()) if j.id == "metrics_refresh"]
    assert snapshots.current() is None
    refresh.definition.func(JobContext(engine, settings, lambda: 1_800_000_000.0))
    current = snapshots.current()
    assert current is not None and current.computed_at == 1_800_000_000


def test_policy_tick_outbox_and_digest_jobs_run_on_a_ledger(engine: Engine, settings: Settings) -> None:
    from sqlalchemy import func, select

    from quotad.directives.models import Directive

    registry = default_registry(runner=FakeSacct(), snapshots=SnapshotCache(max_age_s=300))
    jobs = {j.id: j for j in registry.resolve(settings, JobsConfig())}
    for name in ("policy_tick", "outbox"):
        jobs[name].definition.func(JobContext(engine, settings, lambda: 1_800_000_000.0))
    digest_job(JobContext(engine, settings, lambda: 1_800_000_000.0))
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Directive)) == 0  # an empty ledger: nothing to say
