"""Schema of migration 0004directives on both databases: it matches the models, and ``usage_daily`` stays
equal to ``usage_hourly`` summed per UTC day through every ingest write (insert, re-charge, delete)."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, delete, func, inspect, select, update

from quotad.collectors.slurm import ingest_sacct_text
from quotad.config import Settings
from quotad.ledger.db import _alembic_config, upgrade
from quotad.ledger.ingest import sync_clusters
from quotad.ledger.models import UsageDaily, UsageHourly
from quotad.tables import Base
from tests.helpers import row, sacct_text


def test_migrated_schema_matches_the_models_with_directive_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    names = set(inspect(engine).get_table_names())
    assert {"directives", "directive_events", "directive_actions", "outbox", "usage_daily"} <= names


def daily_vs_hourly(engine: Engine) -> tuple[dict[tuple[str, str, str, int], int], dict[tuple[str, str, str, int], int]]:
    uh, ud = UsageHourly, UsageDaily
    day = uh.hour - uh.hour % 86400
    with engine.connect() as conn:
        hourly = {
            (c, a, t, int(d)): int(s)
            for c, a, t, d, s in conn.execute(
                select(uh.cluster, uh.account, uh.gpu_type, day, func.sum(uh.gpu_seconds)).group_by(
                    uh.cluster, uh.account, uh.gpu_type, day
                )
            )
        }
        daily = {
            (c, a, t, d): s
            for c, a, t, d, s in conn.execute(select(ud.cluster, ud.account, ud.gpu_type, ud.day, ud.gpu_seconds))
            if s
        }
    return hourly, daily


def test_daily_rollup_follows_every_hourly_write(engine: Engine, settings: Settings) -> None:
    lines = sacct_text(
        row("1", 1, start="2026-11-01T22:00:00", end="2026-11-02T03:00:00", elapsed=18000, gpus="gres/gpu=8"),
        row("2", 2, state="RUNNING", start="2026-11-02T23:30:00", elapsed=3600, gpus="gres/gpu=2", user="bob"),
    )
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        ingest_sacct_text(conn, settings, lines, source="t", now=1_793_000_000)
    hourly, daily = daily_vs_hourly(engine)
    assert hourly == daily and sum(daily.values()) == 8 * 18000 + 2 * 3600
    # the running job is seen again, longer: its contribution is replaced (UPDATE path)
    again = sacct_text(
        row("2", 2, state="COMPLETED", start="2026-11-02T23:30:00", end="2026-11-03T01:30:00", elapsed=7200,
            gpus="gres/gpu=2", user="bob"),
    )
    with engine.begin() as conn:
        ingest_sacct_text(conn, settings, again, source="t2", now=1_793_000_000)
    hourly, daily = daily_vs_hourly(engine)
    assert hourly == daily and sum(daily.values()) == 8 * 18000 + 2 * 7200
    with engine.begin() as conn:
        conn.execute(update(UsageHourly).where(UsageHourly.user_name == "bob").values(account="moved"))
        conn.execute(delete(UsageHourly).where(UsageHourly.user_name == "alice"))
    hourly, daily = daily_vs_hourly(engine)
    assert hourly == daily and set(k[1] for k in daily) == {"moved"}


def test_downgrade_removes_the_triggers_and_upgrade_backfills(engine: Engine, settings: Settings) -> None:
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        ingest_sacct_text(
            conn, settings, sacct_text(row("1", 1, end="2026-11-01T05:00:00", elapsed=18000)), source="t", now=0
        )
        command.downgrade(_alembic_config(conn), "0003gpu")
    assert "usage_daily" not in inspect(engine).get_table_names()
    with engine.begin() as conn:  # writes to usage_hourly still work without the triggers
        conn.execute(update(UsageHourly).values(gpu_seconds=UsageHourly.gpu_seconds + 1))
    upgrade(engine)
    hourly, daily = daily_vs_hourly(engine)
    assert hourly == daily and sum(daily.values()) == 18000 + 5  # five hourly rows, one second added to each


@pytest.mark.parametrize("direction", ["base"])
def test_full_downgrade_and_back(engine: Engine, direction: str) -> None:
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), direction)
    upgrade(engine)
    assert "directives" in inspect(engine).get_table_names()
