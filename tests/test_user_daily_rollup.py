"""``usage_user_daily``: kept equal to ``usage_hourly`` by triggers on both databases (inserts, additive
upserts, rows moved to another key or day, deletes), back-filled by migration 0010userdaily, checked and
repaired by the rollup upkeep; grouped reports read from it agree exactly with the hourly-only path, in UTC and
in the programme's time zone."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

from alembic import command
from sqlalchemy import Engine, func, select, text

from quotad.config import Settings
from quotad.ledger.db import _alembic_config, upgrade
from quotad.ledger.models import UsageHourly, UsageUserDaily
from quotad.ledger.queries import REPORT_KEYS, usage_report
from quotad.ledger.reports import UsageLine, UsageQuery, usage_lines
from quotad.ledger.upkeep import check_rollups, check_user_daily_rollup
from quotad.units import GpuCatalog
from tests.fixtures.policy.builders import DAY, H, Ledger, utc

NOV = utc("2026-11-01T00:00:00")
TOKYO = ZoneInfo("Asia/Tokyo")


def _sums(engine: Engine) -> tuple[dict[tuple[object, ...], int], dict[tuple[object, ...], int]]:
    """(per-key-and-day sums of the hours, the rollup's non-zero rows)."""
    h, d = UsageHourly, UsageUserDaily
    day = h.hour - h.hour % DAY
    with engine.connect() as conn:
        hourly = conn.execute(
            select(h.cluster, h.account, h.user_name, h.partition, h.gpu_type, day, func.sum(h.gpu_seconds))
            .group_by(h.cluster, h.account, h.user_name, h.partition, h.gpu_type, day)
        )
        daily = conn.execute(select(d.cluster, d.account, d.user_name, d.partition, d.gpu_type, d.day, d.gpu_seconds))
        return ({tuple(k): int(s) for *k, s in hourly if s}, {tuple(k): int(s) for *k, s in daily if s})


def _charge_randomly(engine: Engine, settings: Settings, rng: random.Random, n: int) -> None:
    with engine.begin() as conn:
        led = Ledger(conn, settings).setup()
        led.company("acme", accounts=(("c1", "acme"), ("c2", "acme")))
        led.company("fuji", accounts=(("c1", "fuji"),))
        for _ in range(n):  # repeats hit the same hour: the additive upsert's update path
            account, cluster, gpu_type = rng.choice(
                [("acme", "c1", "h100"), ("acme", "c2", "h200"), ("fuji", "c1", "h100"), ("stranger", "c1", "h100")]
            )
            hour = NOV + rng.randrange(0, 20 * 24) * H
            led.charge(account, hour, rng.randrange(1, 30_000), cluster=cluster, gpu_type=gpu_type,
                       user=rng.choice(["alice", "bob", "chen"]), partition=rng.choice(["gpu", "debug"]))
        # rows moved to another user or day, and rows taken back: the move and delete triggers
        conn.execute(text("UPDATE usage_hourly SET user_name = 'dora' WHERE user_name = 'chen' AND hour % 7200 = 0"))
        conn.execute(text("UPDATE usage_hourly SET hour = hour + 21 * 86400 WHERE user_name = 'bob' AND hour % 10800 = 0"))
        conn.execute(text(
            "UPDATE usage_hourly SET user_name = 'erin', hour = hour + 3600 WHERE user_name = 'alice' AND hour % 18000 = 0"
        ))  # fmt: skip
        conn.execute(text("DELETE FROM usage_hourly WHERE partition = 'debug' AND hour % 14400 = 0"))


def _nonzero(lines: list[UsageLine]) -> list[UsageLine]:
    return [line for line in lines if line.total_gpu_seconds]


def test_triggers_keep_it_equal_and_reports_match_the_hourly_path(engine: Engine, settings: Settings) -> None:
    rng = random.Random(11)
    _charge_randomly(engine, settings, rng, 300)
    hourly, daily = _sums(engine)
    assert daily == hourly and len(daily) > 50
    catalog = GpuCatalog(settings.gpu_types)
    tokyo_month = (int(datetime(2026, 11, 1, tzinfo=TOKYO).timestamp()), int(datetime(2026, 12, 1, tzinfo=TOKYO).timestamp()))
    ranges = [tokyo_month, (NOV, NOV + 30 * DAY), (NOV + 5 * H, NOV + 9 * H)]
    ranges += [(s, s + rng.randrange(0, 12 * DAY)) for s in (NOV - DAY + rng.randrange(0, 20 * DAY) for _ in range(12))]
    with engine.connect() as conn:
        assert check_user_daily_rollup(conn, start=NOV - DAY, end=NOV + 42 * DAY).ok
        for start, end in ranges:
            for by in REPORT_KEYS:
                for company in (None, "acme"):
                    q = UsageQuery(start, end, by, company, "Asia/Tokyo")
                    fast = usage_lines(conn, catalog, q)
                    hourly_lines = _nonzero(usage_lines(conn, catalog, q, daily=False))
                    assert fast == hourly_lines, (start, end, by, company)
                    if company is None:  # the plugins' usage_report reads the same way
                        merged: defaultdict[str, Counter[str]] = defaultdict(Counter)
                        for line in hourly_lines:
                            merged[line.key].update(line.gpu_seconds)
                        report = usage_report(conn, catalog, start=start, end=end, by=by)
                        assert {r.key: r.gpu_seconds for r in report} == {k: dict(v) for k, v in merged.items()}
        by_user = usage_lines(conn, catalog, UsageQuery(*tokyo_month, "user", None, "Asia/Tokyo"))
    assert {line.key.split(":")[1] for line in by_user} >= {"alice", "bob", "dora", "erin"}
    assert any(line.company_id is None for line in by_user)  # the unclaimed account's user


def test_migration_backfills_it_from_the_hours_and_the_downgrade_drops_it(engine: Engine, settings: Settings) -> None:
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0010userdaily-1")
    _charge_randomly(engine, settings, random.Random(3), 60)  # no trigger for the rollup yet
    upgrade(engine)
    hourly, daily = _sums(engine)
    assert daily == hourly and daily
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0010userdaily-1")
        conn.execute(text("UPDATE usage_hourly SET gpu_seconds = gpu_seconds + 1"))  # no trigger left behind
        assert "usage_user_daily" not in {r[0] for r in conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()" if conn.dialect.name == "postgresql"
            else "SELECT name FROM sqlite_master WHERE type = 'table'"
        ))}  # fmt: skip
    upgrade(engine)
    assert _sums(engine)[0] == _sums(engine)[1]


def test_drift_in_it_is_found_and_repaired(engine: Engine, settings: Settings) -> None:
    _charge_randomly(engine, settings, random.Random(5), 40)
    with engine.begin() as conn:  # what a restore that skipped triggers leaves behind
        conn.execute(text("UPDATE usage_user_daily SET gpu_seconds = gpu_seconds + 7 WHERE user_name = 'alice'"))
        conn.execute(text("DELETE FROM usage_user_daily WHERE user_name = 'bob'"))
        conn.execute(text(
            "INSERT INTO usage_user_daily (cluster, account, user_name, partition, gpu_type, day, gpu_seconds) "
            "VALUES ('c1', 'ghost', 'eve', 'gpu', 'h100', :d, 50)"
        ), {"d": NOV})  # fmt: skip
    hourly = _sums(engine)[0]
    with engine.connect() as conn:
        found = check_rollups(conn, start=NOV, end=NOV + 42 * DAY)
    assert not found.ok and {d.rollup for d in found.drift} == {"usage_user_daily"}
    assert {d.user_name for d in found.drift} == {"alice", "bob", "eve"}
    assert all(d.difference == 7 for d in found.drift if d.user_name == "alice")
    assert all(d.daily is None and d.difference < 0 for d in found.drift if d.user_name == "bob")
    assert [(d.account, d.day, d.daily, d.hourly) for d in found.drift if d.user_name == "eve"] == [("ghost", NOV, 50, 0)]
    with engine.begin() as conn:
        assert check_rollups(conn, start=NOV, end=NOV + 42 * DAY, repair=True).repaired
    assert _sums(engine)[1] == hourly
    with engine.connect() as conn:
        assert check_rollups(conn, start=NOV, end=NOV + 42 * DAY).ok
