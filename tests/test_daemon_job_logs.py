"""One bounded log line per scheduled job run, over the demo programme (six months, 10 companies, ~200k jobs).

Every job ``quotad run`` schedules is run once through the scheduler's own wrapper (``guarded``) on the demo
ledger, and what reaches the log is formatted by the daemon's real formatters: one INFO line per run, under
300 bytes as text, its facts as JSON fields (a policy tick used to log a ~30 KB ``TickReport(...)`` repr).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from pydantic import Field
from sqlalchemy import Engine

from quotad.config import Settings, load_config
from quotad.daemon.config import DaemonConfig
from quotad.daemon.health import JobHealth
from quotad.daemon.jobs import JobContext, ScheduledJob, default_registry
from quotad.daemon.logs import HumanFormatter, JsonFormatter
from quotad.daemon.problems import Problems
from quotad.daemon.scheduler import MAX_LINE_BYTES, guarded
from quotad.demo.run import run_demo
from quotad.ledger.db import create_ledger_engine
from quotad.metrics.pool import PoolCache
from quotad.metrics.snapshot import SnapshotCache
from tests.helpers import utc

NOW = utc("2026-11-20T00:00:00")
HEADER = "JobID|JobIDRaw|Cluster|Account|User|Partition|State|Submit|Start|End|ElapsedRaw|AllocTRES"


class DaemonSettings(Settings):
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)


class FakeSacct:
    """sacct answering a poll with lines of the asked cluster, a few of them refused (wrong cluster)."""

    @contextlib.contextmanager
    def _lines(self, cluster: str) -> Iterator[Iterator[str]]:
        good = [f"{i}|{i}|{cluster}|acct{i % 7}|u{i}|gpu|COMPLETED|{NOW - 7200}|{NOW - 7200}|{NOW - 3600}|3600|"
                f"gres/gpu=8" for i in range(900_000, 900_050)]
        bad = [f"{i}|{i}|elsewhere|a|u|gpu|COMPLETED|{NOW - 7200}|{NOW - 7200}|{NOW - 3600}|3600|gres/gpu=8"
               for i in range(950_000, 950_040)]
        yield iter([HEADER, *good, *bad])

    def stream(
        self, argv: Sequence[str], *, env: Mapping[str, str], timeout_s: float
    ) -> contextlib.AbstractContextManager[Iterator[str]]:
        return self._lines(argv[argv.index("-M") + 1] if "-M" in argv else "yamato-ai")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_demo(tmp_path_factory.mktemp("demo"), now=NOW, seed=20260401)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_every_job_logs_one_bounded_line_per_run_over_the_demo_ledger(demo: Path, tmp_path: Path) -> None:
    base = load_config(demo / "quotad.toml")
    spool = tmp_path / "spool"
    spool.mkdir()
    settings = DaemonSettings(
        **{name: getattr(base, name) for name in ("database", "clusters", "gpu_types", "programme")},
        daemon=DaemonConfig(agent_spool_dirs=[spool]),
        notify={"smtp": {"host": "127.0.0.1", "port": 9, "security": "none", "timeout_s": 2},
                "programme_office": ["office@programme.example.jp"]},
    )
    for cluster in settings.clusters:  # the demo's clusters polled with sacct -M, answered by the fake
        object.__setattr__(cluster.sacct, "use_cluster_flag", True)
    engine: Engine = create_ledger_engine(settings)
    registry = default_registry(
        runner=FakeSacct(), snapshots=SnapshotCache(max_age_s=300), pool=PoolCache(max_age_s=300)
    )
    jobs = registry.resolve(settings, DaemonConfig().jobs)
    assert {j.definition.name for j in jobs} >= {
        "slurm_poll", "metrics_refresh", "policy_tick", "outbox", "digest", "spool_replay", "rollup_upkeep"
    }
    health = JobHealth(lambda: float(NOW))
    problems = Problems()
    handler = Records()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    human, as_json = HumanFormatter(), JsonFormatter()
    try:
        # digest before outbox, so the outbox has mail to (fail to) deliver; the tick twice (opens, then updates)
        order = sorted(jobs, key=lambda j: ["slurm_poll", "digest", "policy_tick"].index(j.definition.name)
                       if j.definition.name in ("slurm_poll", "digest", "policy_tick") else 9)
        for job in [*order, *(j for j in jobs if j.definition.name == "policy_tick")]:
            health.register(job.id, stale_after_s=job.stale_after_s)
            handler.records.clear()

            def context(j: ScheduledJob) -> JobContext:
                return JobContext(engine, settings, lambda: float(NOW), j.cluster, problems)

            guarded(job, context, health, lambda: float(NOW))
            routine = [r for r in handler.records if r.levelno == logging.INFO]
            assert [r.name for r in routine] == ["quotad.daemon"], (job.id, [human.format(r)[:200] for r in routine])
            # A real problem met on the way (the closed SMTP port) is a warning of its own, short too.
            for warning in (r for r in handler.records if r.levelno >= logging.WARNING):
                assert len(human.format(warning).encode()) < MAX_LINE_BYTES and not warning.exc_info, warning
            (record,) = routine
            text = human.format(record)
            assert len(text.encode()) < MAX_LINE_BYTES, text
            assert "\n" not in text
            fields = json.loads(as_json.format(record))
            assert fields["job"] == job.id and fields["msg"].startswith(f"job {job.id} ok")
            assert len(fields) <= 24 and len(fields["msg"].encode()) < MAX_LINE_BYTES, fields
            assert all(len(str(v)) <= 100 for k, v in fields.items() if k != "msg"), fields
            assert isinstance(fields["duration_s"], float) and fields["logger"] == "quotad.daemon"
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        engine.dispose()
    statuses = {s.job: s for s in health.snapshot()}
    assert all(s.errors_total == 0 for s in statuses.values()), {k: s.last_error for k, s in statuses.items()}
    # the fake's wrong-cluster lines were refused and counted, the outbox kept failing to a closed port
    assert {c for c, _ in problems.refused_totals()} == {c.name for c in settings.clusters}
