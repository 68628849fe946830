"""Health that tells the truth: jobs that succeed while losing usage or mail make /healthz degraded and move
metrics, seen through the daemon's real HTTP endpoints."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field
from sqlalchemy import Engine, update

from quotad.config import Settings
from quotad.daemon.config import DaemonConfig
from quotad.daemon.jobs import JobContext, default_registry, outbox_job
from quotad.daemon.service import Daemon
from quotad.errors import RefusalReason
from quotad.metrics.snapshot import SnapshotCache
from quotad.notify.outbox import OutgoingMessage, enqueue
from quotad.notify.outbox_models import OutboxMessage
from tests.conftest import Cli
from tests.helpers import row
from tests.test_daemon_service import PATIENCE_S, Clock, get

SACCT_HEADER = "JobID|JobIDRaw|Cluster|Account|User|Partition|State|Submit|Start|End|ElapsedRaw|AllocTRES"
NOW = 1_800_000_000.0
PBS_FIXTURES = Path(__file__).parent / "fixtures" / "pbs" / "accounting"
#: Every job but the Slurm poll switched off: the test is about what one poll tells.
ONLY_POLL = {
    name: {"enabled": False}
    for name in ("pbs_poll", "metrics_refresh", "policy_tick", "outbox", "digest", "spool_replay", "rollup_upkeep")
}


class DaemonSettings(Settings):
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)


class FakeSacct:
    """sacct as the collector runs it, answering with a header and the rows it currently holds."""

    def __init__(self, rows: list[str]) -> None:
        self.rows = rows

    @contextlib.contextmanager
    def _lines(self) -> Iterator[Iterator[str]]:
        yield iter([SACCT_HEADER, *self.rows])

    def stream(
        self, argv: Sequence[str], *, env: Mapping[str, str], timeout_s: float
    ) -> contextlib.AbstractContextManager[Iterator[str]]:
        return self._lines()


def settings_for(db_url: str, *, jobs: Mapping[str, Any], **extra: Any) -> DaemonSettings:
    return DaemonSettings(
        database={"url": db_url},
        clusters=[{"name": "c1", "default_gpu_type": "h100", "timezone": "UTC"}],
        daemon=DaemonConfig.model_validate({"listen": "127.0.0.1:0", "jobs": jobs}),
        **extra,
    )


def metric(body: bytes, name: str, **labels: str) -> float | None:
    """The value of one sample of the exposition text, or None when absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in body.decode().splitlines():
        match = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if match and match.group(1) == name:
            found = ",".join(sorted((match.group(2) or "").split(","))) if match.group(2) else ""
            if found == wanted:
                return float(match.group(3))
    return None


def wait_for_run(daemon: Daemon, job: str) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        if any(s.job == job and s.runs_total >= 1 for s in daemon.health.snapshot()):
            return
        time.sleep(0.05)
    raise AssertionError(f"{job} did not run within {PATIENCE_S} s")


@contextlib.contextmanager
def running(
    settings: Settings, engine: Engine, sacct: FakeSacct, *, now: float = NOW, files: list[Settings] | None = None
) -> Iterator[tuple[Daemon, int]]:
    """The daemon in-process; a reload reads the last of ``files`` (the configuration file's successive texts)."""
    registry = default_registry(runner=sacct, snapshots=SnapshotCache(max_age_s=300))
    versions = files if files is not None else [settings]
    daemon = Daemon(settings=settings, load=lambda: versions[-1], engine=engine, registry=registry,
                    snapshots=SnapshotCache(max_age_s=300), clock=Clock(now))
    try:
        _, port = daemon.start()
        yield daemon, port
    finally:
        daemon.stop()


def test_a_poll_whose_lines_name_another_cluster_degrades_health_and_counts_by_reason(
    engine: Engine, db_url: str
) -> None:
    settings = settings_for(db_url, jobs=ONLY_POLL)
    # slurmdbd's ClusterName is "yamato" while quotad is configured for "c1": every line names the wrong cluster.
    wrong = [row(str(100 + i), 100 + i, cluster="yamato", elapsed=3600, end="2026-11-01T01:00:00") for i in range(21)]
    sacct = FakeSacct(wrong)
    with running(settings, engine, sacct) as (daemon, port):
        wait_for_run(daemon, "slurm_poll:c1")
        status, body = get(port, "/healthz")
        health = json.loads(body)
        assert status == 503 and health["status"] == "degraded"
        assert health["stale_jobs"] == []
        (problem,) = health["problems"]
        assert problem["check"] == "refused_lines" and problem["subject"] == "c1"
        assert problem["reason"] == "unknown_cluster" and problem["count"] == 21
        assert "'yamato' is not configured" in problem["detail"]

        status, text = get(port, "/metrics")
        assert status == 200
        assert metric(text, "quotad_collector_refused_lines_total", cluster="c1", reason="unknown_cluster") == 21
        assert metric(text, "quotad_collector_refused_lines_total", cluster="c1", reason="invalid") == 0
        # The poll itself succeeded: the old signals stayed silent, which is why the new ones exist.
        assert metric(text, "quotad_collector_errors_total", cluster="c1", source="sacct") == 0
        assert metric(text, "quotad_daemon_problems", check="refused_lines", subject="c1", reason="unknown_cluster") == 21

        # The configuration is fixed (slurmdbd's lines now name c1): the next poll clears the finding.
        sacct.rows = [row(str(200 + i), 200 + i, elapsed=3600, end="2026-11-01T01:00:00") for i in range(3)]
        poll = next(j for j in daemon.scheduled() if j.id == "slurm_poll:c1")
        poll.definition.func(JobContext(engine, settings, Clock(NOW + 300), "c1", daemon.problems))
        status, body = get(port, "/healthz")
        assert status == 200 and json.loads(body)["problems"] == []
        _, text = get(port, "/metrics")
        assert metric(text, "quotad_collector_refused_lines_total", cluster="c1", reason="unknown_cluster") == 21
        assert metric(text, "quotad_daemon_problems", check="refused_lines", subject="c1", reason="unknown_cluster") is None


def test_a_reload_that_removes_a_cluster_drops_its_refusals_from_health(engine: Engine, db_url: str) -> None:
    settings = settings_for(db_url, jobs=ONLY_POLL)
    wrong = [row("100", 100, cluster="yamato", elapsed=3600, end="2026-11-01T01:00:00")]
    files: list[Settings] = [settings]
    with running(settings, engine, FakeSacct(wrong), files=files) as (daemon, port):
        wait_for_run(daemon, "slurm_poll:c1")
        assert get(port, "/healthz")[0] == 503
        # The operator names the cluster as slurmdbd does and sends SIGHUP: c1 and its refusals are gone.
        files.append(DaemonSettings(database={"url": db_url},
                                    clusters=[{"name": "yamato", "default_gpu_type": "h100", "timezone": "UTC"}],
                                    daemon=settings.daemon))
        assert daemon.reload() is True
        status, body = get(port, "/healthz")
        assert status == 200 and json.loads(body)["problems"] == []


def test_a_pbs_poll_with_unreadable_records_degrades_health_and_counts_them(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    logs = tmp_path / "accounting"
    logs.mkdir()
    shutil.copy(PBS_FIXTURES / "20260415", logs / "20260415")  # 7 records quotad cannot read (lines 23-29)
    settings = DaemonSettings(
        database={"url": db_url},
        clusters=[{"name": "p1", "scheduler": "pbs", "default_gpu_type": "h100", "timezone": "Asia/Tokyo",
                   "pbs": {"accounting_dir": str(logs)}}],
        daemon=DaemonConfig.model_validate(
            {"listen": "127.0.0.1:0", "jobs": {**ONLY_POLL, "pbs_poll": {"enabled": True}}}
        ),
    )
    with running(settings, engine, FakeSacct([]), now=1776308400.0) as (daemon, port):
        wait_for_run(daemon, "pbs_poll:p1")
        status, body = get(port, "/healthz")
        health = json.loads(body)
        assert status == 503 and health["status"] == "degraded"
        assert [(p["check"], p["subject"], p["count"]) for p in health["problems"]] == [("refused_lines", "p1", 7)]
        _, text = get(port, "/metrics")
        total = sum(
            metric(text, "quotad_collector_refused_lines_total", cluster="p1", reason=r.value) or 0
            for r in RefusalReason
        )
        assert total == 7


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_mail_that_keeps_failing_degrades_health_after_three_attempts(engine: Engine, db_url: str) -> None:
    smtp = {"host": "127.0.0.1", "port": closed_port(), "security": "none", "timeout_s": 2}
    settings = settings_for(
        db_url,
        jobs={**ONLY_POLL, "slurm_poll": {"enabled": False}},
        notify={"smtp": smtp, "outbox": {"retry_base_s": 60, "retry_max_s": 600}},
    )
    with engine.begin() as conn:
        enqueue(conn, OutgoingMessage("notice:1:1", "<m1@x>", "notice", "q@x.jp", ("ops@acme.jp",), "s", "raw"),
                now=int(NOW))
    with running(settings, engine, FakeSacct([])) as (daemon, port):
        now = NOW
        for attempt in (1, 2):
            outbox_job(JobContext(engine, settings, Clock(now), None, daemon.problems))
            assert get(port, "/healthz")[0] == 200, f"healthy after {attempt} failed attempt(s)"
            now += 600
        outbox_job(JobContext(engine, settings, Clock(now), None, daemon.problems))
        status, body = get(port, "/healthz")
        health = json.loads(body)
        assert status == 503 and health["status"] == "degraded"
        (problem,) = health["problems"]
        assert (problem["check"], problem["subject"], problem["count"]) == ("outbox_failing", "outbox", 1)
        assert problem["detail"]  # the SMTP error, so the operator knows where to look
        _, text = get(port, "/metrics")
        assert metric(text, "quotad_outbox_failing_messages") == 1
        assert metric(text, "quotad_outbox_messages", state="queued") == 1

        # Delivered or given up for good: it no longer "keeps failing".
        with engine.begin() as conn:
            conn.execute(update(OutboxMessage).values(state="rejected"))
        outbox_job(JobContext(engine, settings, Clock(now + 600), None, daemon.problems))
        assert get(port, "/healthz")[0] == 200



def test_status_names_accounts_no_company_claims(cli: Cli, tmp_path: Path) -> None:
    assert cli("db", "upgrade").exit_code == 0
    assert cli("company", "add", "acme", "--name-ja", "アクメ", "--name-en", "Acme", "-a", "c1:acme").exit_code == 0
    path = tmp_path / "s.txt"
    path.write_text("\n".join([
        SACCT_HEADER,
        row("1", 1, start="2026-11-03T00:00:00", end="2026-11-03T05:00:00", elapsed=18000, gpus="gres/gpu=2"),
        row("2", 2, account="ghost", start="2026-11-03T00:00:00", end="2026-11-03T03:00:00", elapsed=10800,
            gpus="gres/gpu=4"),
    ]) + "\n")
    assert cli("ingest", "sacct", str(path)).exit_code == 0
    table = cli("status", "--now", "2026-11-05T00:00:00")
    assert table.exit_code == 0
    (line,) = [x for x in table.stdout.splitlines() if x.startswith("unclaimed accounts")]
    assert "c1:ghost 12.0 GPU-h" in line and "acme" not in line
    # JSON keeps one record per company; a month later the account is outside the window and unnamed.
    assert all("company" in r for r in json.loads(cli("status", "--now", "2026-11-05T00:00:00", "--json").stdout))
    later = cli("status", "--now", "2026-12-20T00:00:00")
    assert later.exit_code == 0 and "unclaimed accounts" not in later.stdout
