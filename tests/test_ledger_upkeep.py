"""Rollup upkeep: usage_daily checked against usage_hourly and repaired; the daemon's upkeep and spool jobs."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from quotad.collectors.nvml.counters import AgentCounters
from quotad.collectors.nvml.spool import Spool
from quotad.collectors.runner import SubprocessRunner
from quotad.collectors.slurm import ingest_sacct_text
from quotad.config import Settings
from quotad.daemon.config import JobsConfig
from quotad.daemon.jobs import JobContext, default_registry, rollup_upkeep, spool_dirs, spool_replay
from quotad.ledger.ingest import sync_clusters
from quotad.ledger.models import UsageDaily
from quotad.ledger.telemetry import GpuUsageRow, node_hour_rows
from quotad.ledger.upkeep import check_daily_rollup
from quotad.metrics.snapshot import SnapshotCache
from tests.conftest import make_settings
from tests.helpers import row, sacct_text, utc

DAY = 86400
NOV20 = utc("2026-11-20T00:00:00")
NOW = NOV20 + 3 * DAY


@pytest.fixture
def charged(engine: Engine, settings: Settings) -> Engine:
    """acme: 8 GPUs for 30 h from Nov 20 06:00 (18 h on the 20th, 12 h on the 21st); fuji: 2 GPUs 1 h on the 22nd."""
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        lines = sacct_text(
            row("1", 1, start="2026-11-20T06:00:00", end="2026-11-21T12:00:00", elapsed=30 * 3600, gpus="gres/gpu=8"),
            row("2", 2, account="fuji", start="2026-11-22T10:00:00", end="2026-11-22T11:00:00", elapsed=3600,
                gpus="gres/gpu=2"),
        )
        ingest_sacct_text(conn, settings, lines, source="test", now=NOW)
    return engine


def daily(engine: Engine) -> dict[tuple[str, int], int]:
    with engine.connect() as conn:
        rows = conn.execute(select(UsageDaily.account, UsageDaily.day, UsageDaily.gpu_seconds))
        return {(a, int(d)): int(s) for a, d, s in rows if s}


EXPECTED = {("acme", NOV20): 8 * 18 * 3600, ("acme", NOV20 + DAY): 8 * 12 * 3600, ("fuji", NOV20 + 2 * DAY): 7200}


def test_a_ledger_kept_by_its_triggers_has_no_drift(charged: Engine) -> None:
    assert daily(charged) == EXPECTED
    with charged.connect() as conn:
        check = check_daily_rollup(conn, start=NOV20, end=NOW)
    assert check.ok and check.cells == 3 and (check.start, check.end) == (NOV20, NOW)


def test_drift_is_found_per_cell_and_repaired_from_the_hours(charged: Engine) -> None:
    with charged.begin() as conn:  # what a restore that skipped triggers leaves behind
        conn.execute(text("UPDATE usage_daily SET gpu_seconds = gpu_seconds + 100 WHERE account = 'acme'"))
        conn.execute(text("DELETE FROM usage_daily WHERE account = 'fuji'"))
        conn.execute(
            text("INSERT INTO usage_daily (cluster, account, gpu_type, day, gpu_seconds) "
                 "VALUES ('c1', 'ghost', 'h100', :d, 50)"),
            {"d": NOV20},
        )
    with charged.connect() as conn:
        found = check_daily_rollup(conn, start=NOV20 + 3600, end=NOW - 1)  # widened to whole days
    assert not found.ok and not found.repaired
    drift = {(d.account, d.day): (d.daily, d.hourly, d.difference) for d in found.drift}
    assert drift == {
        ("acme", NOV20): (8 * 18 * 3600 + 100, 8 * 18 * 3600, 100),
        ("acme", NOV20 + DAY): (8 * 12 * 3600 + 100, 8 * 12 * 3600, 100),
        ("fuji", NOV20 + 2 * DAY): (None, 7200, -7200),
        ("ghost", NOV20): (50, 0, 50),
    }
    with charged.begin() as conn:
        assert check_daily_rollup(conn, start=NOV20, end=NOW, repair=True).repaired
    assert daily(charged) == EXPECTED
    with charged.connect() as conn:
        assert check_daily_rollup(conn, start=NOV20, end=NOW).ok


def test_a_window_outside_the_drift_does_not_see_it(charged: Engine) -> None:
    with charged.begin() as conn:
        conn.execute(text("UPDATE usage_daily SET gpu_seconds = 1 WHERE account = 'acme'"))
    with charged.connect() as conn:
        assert check_daily_rollup(conn, start=NOV20 + 2 * DAY, end=NOW).ok


def test_the_upkeep_job_repairs_the_trailing_days_and_logs_each_cell(
    charged: Engine, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with charged.begin() as conn:
        conn.execute(text("UPDATE usage_daily SET gpu_seconds = 1 WHERE account = 'fuji'"))
    with caplog.at_level(logging.ERROR, logger="quotad.daemon.jobs"):
        rollup_upkeep(JobContext(charged, settings, lambda: float(NOW)))
    assert daily(charged) == EXPECTED
    assert any("fuji" in r.getMessage() and "daily 1, hourly 7200" in r.getMessage() for r in caplog.records)
    caplog.clear()
    rollup_upkeep(JobContext(charged, settings, lambda: float(NOW)))
    assert not caplog.records


def _window(hour: int, *, observed: int, sample: int) -> GpuUsageRow:
    return GpuUsageRow(
        cluster="c1", job_id=1, node="gone-07", gpu_index=0, hour=hour, gpu_uuid="GPU-0", account="acme",
        user_name="alice", samples=observed // 10, observed_seconds=observed, idle_seconds=0, idle_mem_held_seconds=0,
        util_pct_seconds=observed * 90, util_max=100, mem_used_max=1 << 30, mem_total=80 << 30, energy_mj=0,
        allocated=True, job_process_seen=True, foreign_processes=0, foreign_job_id=None, idle_since=None,
        recent_seconds=observed, recent_idle_seconds=0, recent_util_pct_seconds=observed * 90, throttle_mask=0,
        xid_events=0, last_xid=None, ecc_uncorrected=0, first_sample=hour, last_sample=sample, updated_at=sample,
    )


def test_spool_replay_is_scheduled_only_for_configured_directories(db_url: str, tmp_path: Path) -> None:
    registry = default_registry(runner=SubprocessRunner(), snapshots=SnapshotCache(max_age_s=300))
    assert "spool_replay" not in {j.id for j in registry.resolve(make_settings(db_url), JobsConfig())}
    configured = make_settings(db_url, daemon={"agent_spool_dirs": [str(tmp_path / "spool" / "*")]})
    # scheduled as soon as it is configured, before any node has spooled anything: matches are found per run
    assert "spool_replay" in {j.id for j in registry.resolve(configured, JobsConfig())}
    assert spool_dirs(configured) == []
    (tmp_path / "spool" / "n1").mkdir(parents=True)
    (tmp_path / "spool" / "n2").mkdir()
    assert spool_dirs(configured) == [tmp_path / "spool" / "n1", tmp_path / "spool" / "n2"]


def test_spool_replay_writes_a_dead_nodes_windows_once(engine: Engine, db_url: str, tmp_path: Path) -> None:
    hour = NOV20
    spool = Spool(tmp_path / "spool" / "gone-07", max_bytes=1 << 20, counters=AgentCounters())
    spool.write([_window(hour, observed=600, sample=hour + 600)], created=hour + 600)
    spool.write([_window(hour, observed=1200, sample=hour + 1200)], created=hour + 1200)
    (tmp_path / "spool" / "gone-07" / "notes.txt").write_text("not a window")
    settings = make_settings(db_url, daemon={"agent_spool_dirs": [str(tmp_path / "spool" / "*")]})
    spool_replay(JobContext(engine, settings, lambda: float(NOW)))
    with engine.connect() as conn:
        (stored,) = node_hour_rows(conn, "c1", "gone-07", hour)
    assert stored.observed_seconds == 1200 and stored.last_sample == hour + 1200
    assert spool.pending() == []
    # A window the node's agent left behind again later (or a copy replayed twice) changes nothing older.
    spool.write([_window(hour, observed=600, sample=hour + 600)], created=hour + 1300)
    spool_replay(JobContext(engine, settings, lambda: float(NOW)))
    with engine.connect() as conn:
        assert node_hour_rows(conn, "c1", "gone-07", hour)[0].observed_seconds == 1200
        assert conn.scalar(select(func.count()).select_from(UsageDaily)) == 0  # telemetry charges nothing


def test_check_rollups_command_reports_then_repairs(charged: Engine, cli: Any) -> None:
    clean = cli("db", "check-rollups", "--since", "2026-11-19", "--until", "2026-11-23", "--json")
    assert clean.exit_code == 0, clean.output
    assert json.loads(clean.stdout) == []
    with charged.begin() as conn:
        conn.execute(text("UPDATE usage_daily SET gpu_seconds = 5 WHERE account = 'fuji'"))
        conn.execute(text("UPDATE usage_user_daily SET gpu_seconds = 9 WHERE account = 'fuji'"))
    found = cli("db", "check-rollups", "--since", "2026-11-19", "--until", "2026-11-23", "--json")
    assert found.exit_code == 1
    assert json.loads(found.stdout) == [
        {"rollup": "usage_daily", "cluster": "c1", "account": "fuji", "user": None, "partition": None,
         "gpu_type": "h100", "day": "2026-11-22", "daily_gpu_seconds": 5, "hourly_gpu_seconds": 7200,
         "difference": -7195},
        {"rollup": "usage_user_daily", "cluster": "c1", "account": "fuji", "user": "alice", "partition": "gpu",
         "gpu_type": "h100", "day": "2026-11-22", "daily_gpu_seconds": 9, "hourly_gpu_seconds": 7200,
         "difference": -7191},
    ]
    fixed = cli("db", "check-rollups", "--since", "2026-11-19", "--until", "2026-11-23", "--repair")
    assert fixed.exit_code == 0 and "2 differ (repaired)" in fixed.stdout
    assert daily(charged) == EXPECTED
    assert cli("db", "check-rollups", "--since", "2026-11-19", "--until", "2026-11-23").exit_code == 0
    backwards = cli("db", "check-rollups", "--since", "2026-11-23", "--until", "2026-11-19")
    assert backwards.exit_code == 2 and "before --since" in backwards.output


def test_a_window_another_process_replayed_first_is_skipped(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hour = NOV20
    spool = Spool(tmp_path / "spool" / "gone-07", max_bytes=1 << 20, counters=AgentCounters())
    kept = spool.write([_window(hour, observed=900, sample=hour + 900)], created=hour + 900)
    gone = kept.with_name(f"{hour + 600:012d}-00000000.json")  # listed, then removed by the node's agent
    monkeypatch.setattr(Spool, "pending", lambda self: [gone, kept] if kept.exists() else [])
    settings = make_settings(db_url, daemon={"agent_spool_dirs": [str(tmp_path / "spool" / "gone-07")]})
    spool_replay(JobContext(engine, settings, lambda: float(NOW)))
    with engine.connect() as conn:
        assert node_hour_rows(conn, "c1", "gone-07", hour)[0].observed_seconds == 900
    assert not kept.exists()
