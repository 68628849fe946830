"""Benchmark: one full policy tick over a programme-sized ledger, on SQLite and on PostgreSQL.

The ledger: 10 companies (4 Slurm accounts each on two clusters, 20 users each), one six-month grant each
with a monthly plan, 1,000,000 finished job segments over the period (their hourly rollup written as the
ingest path would: jobs, then ``usage_hourly``, whose triggers keep ``usage_daily``), 10,000 running jobs
with NVML aggregates for their last two hours (3 % of them idle for hours), and aggregates for the jobs that
finished in the last day. Data goes in with bulk inserts (``executemany``; ``COPY`` on PostgreSQL), not
through the sacct parser.

Timed, on each database: the first tick (opens every directive and renders and queues every notice) and a
steady-state tick (the same conditions an hour later: directives updated, no notices in the cooldown), the
median of several. Baseline in the same run: ``SELECT count(*) FROM usage_hourly`` (the rollup a naive tick
would scan). Target: a steady-state tick <= 200 ms on each.

    .venv/bin/python bench/policy.py [--jobs N] [--running N] [--pg URL] [--no-pg]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text

import quotad.tables  # noqa: F401  (every core table, for the schema the bench builds)
from quotad.config import Settings
from quotad.directives.config import DirectivesConfig, Rules
from quotad.ledger.db import create_ledger_engine, upgrade
from quotad.ledger.ingest import sync_clusters
from quotad.ledger.registry import AccountRef, ContactRef, GrantSpec, add_company, set_grant
from quotad.notify.config import NotifyConfig
from quotad.policies.config import PoliciesConfig
from quotad.tick import policy_tick

H, DAY = 3600, 86400
START = 1_780_272_000  # 2026-06-01T00:00:00Z
END = START + 183 * DAY  # 2026-12-01
NOW = START + 177 * DAY + 3 * H + 1800  # 2026-11-25T03:30Z
CLUSTERS = ("yamato", "sora")
GPUS = (1, 1, 2, 4, 8, 8, 8, 16, 32, 64)
JOB_COLUMNS = (
    "cluster", "job_id", "job_id_raw", "submit", "account", "user_name", "partition", "state", "start_time",
    "end_time", "elapsed_raw", "gpu_count", "gpu_alloc", "charged_seconds",
)
GPU_COLUMNS = (
    "cluster", "job_id", "node", "gpu_index", "hour", "gpu_uuid", "account", "user_name", "samples",
    "observed_seconds", "idle_seconds", "idle_mem_held_seconds", "util_pct_seconds", "util_max", "mem_used_max",
    "mem_total", "energy_mj", "allocated", "job_process_seen", "foreign_processes", "foreign_job_id", "idle_since",
    "recent_seconds", "recent_idle_seconds", "recent_util_pct_seconds", "throttle_mask", "xid_events", "last_xid",
    "ecc_uncorrected", "first_sample", "last_sample", "updated_at",
)
COMPANIES = [f"co{i:02d}" for i in range(10)]


def settings_for(url: str) -> Settings:
    return Settings(
        database={"url": url},
        programme={"timezone": "Asia/Tokyo"},
        clusters=[
            {"name": "yamato", "default_gpu_type": "h100", "timezone": "Asia/Tokyo", "programme_partitions": ["gpu"]},
            {"name": "sora", "default_gpu_type": "h200", "programme_partitions": ["gpu"]},
        ],
    )


def accounts(company: str) -> list[tuple[str, str]]:
    return [("yamato", f"{company}-a"), ("yamato", f"{company}-b"), ("yamato", f"{company}-c"), ("sora", company)]


def gpu_type(cluster: str) -> str:
    return "h100" if cluster == "yamato" else "h200"


def finished_jobs(n: int, seed: int) -> Iterator[tuple[Any, ...]]:
    """``n`` finished segments spread over the period up to now; ~1 in 200 on an unclaimed account."""
    rng = random.Random(seed)
    span = NOW - START - DAY
    for i in range(n):
        company = COMPANIES[i % 10]
        cluster, account = rng.choice(accounts(company))
        if rng.random() < 0.005:
            account = "stranger"
        gpus = rng.choice(GPUS)
        elapsed = int(rng.expovariate(1 / 14400)) + 60
        start = START + int(span * i / n) + rng.randrange(0, DAY)
        start = min(start, NOW - elapsed - 60)
        raw = 1_000_000 + i
        yield (cluster, str(raw), raw, start - 30, account, f"{company}-u{rng.randrange(20)}",
               "gpu" if rng.random() < 0.9 else "debug", "COMPLETED", start, start + elapsed, elapsed, gpus,
               f"{gpu_type(cluster)}={gpus}", elapsed * gpus)


def running_jobs(n: int, seed: int) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed)
    for i in range(n):
        company = COMPANIES[i % 10]
        cluster, account = rng.choice(accounts(company))
        gpus = rng.choice((1, 2, 4, 8, 8))
        start = NOW - rng.randrange(2 * H, 48 * H)
        raw = 5_000_000 + i
        elapsed = NOW - 120 - start
        yield (cluster, str(raw), raw, start - 30, account, f"{company}-u{rng.randrange(20)}", "gpu", "RUNNING",
               start, None, elapsed, gpus, f"{gpu_type(cluster)}={gpus}", elapsed * gpus)


def rollup(jobs: list[tuple[Any, ...]]) -> dict[tuple[str, str, str, str, str, int], int]:
    cells: defaultdict[tuple[str, str, str, str, str, int], int] = defaultdict(int)
    for cluster, _jid, _raw, _sub, account, user, partition, _st, start, _end, elapsed, gpus, *_ in jobs:
        t = gpu_type(cluster)
        end = start + elapsed
        hour = start - start % H
        while hour < end:
            nxt = hour + H
            cells[(cluster, account, user, partition, t, hour)] += (min(end, nxt) - max(start, hour)) * gpus
            hour = nxt
    return cells


def gpu_rows(job: tuple[Any, ...], *, idle: bool, util: int, hours: list[int]) -> Iterator[tuple[Any, ...]]:
    cluster, _jid, raw, _sub, account, user, *_rest = job
    gpus = job[11]
    for g in range(gpus):
        for hour in hours:
            last = min(hour + H - 10, NOW - 20)
            observed = last - hour
            idle_since = job[8] + 600 if idle else None
            u = 0 if idle else util
            yield (cluster, raw, f"n{raw % 997}", g, hour, f"GPU-{raw}-{g}", account, user, observed // 10, observed,
                   observed if idle else 0, 0, observed * u, u, 1 << 30, 80 << 30, observed * 700_000, True, True,
                   0, None, idle_since, 1800, 1800 if idle else 0, 1800 * u, 0, 0, None, 0, hour, last, last)


def insert(engine: Engine, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Bulk insert: COPY on PostgreSQL, one executemany on SQLite."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "postgresql":
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
        raw.commit()
    finally:
        raw.close()


def build(engine: Engine, settings: Settings, n_jobs: int, n_running: int) -> dict[str, int]:
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        for i, company in enumerate(COMPANIES):
            add_company(conn, company_id=company, name_ja=f"会社{i}", name_en=f"Company {i}",
                        accounts=[AccountRef(c, a) for c, a in accounts(company)],
                        contacts=[ContactRef(f"ops@{company}.example.jp")], now=START)
            months = {START + m * 30 * DAY: 0 for m in range(6)}
            amount = (6 + i) * 100_000 * H  # some companies will be near or past their grant
            plan = {m: amount // 6 for m in months}
            set_grant(conn, GrantSpec(company, "yamato", "h100", amount, START, END, plan=None if i % 3 else plan),
                      known_gpu_types=list(settings.gpu_types))
            set_grant(conn, GrantSpec(company, "sora", "h200", amount // 4, START, END),
                      known_gpu_types=list(settings.gpu_types))
    counts = {"jobs": 0, "usage_hourly": 0, "gpu_usage_hourly": 0}
    chunk = 200_000
    finished = finished_jobs(n_jobs, seed=1)
    recent: list[tuple[Any, ...]] = []
    while True:
        batch = [row for _, row in zip(range(chunk), finished, strict=False)]
        if not batch:
            break
        insert(engine, "jobs", JOB_COLUMNS, batch)
        recent += [j for j in batch if j[9] >= NOW - 2 * DAY]
        counts["jobs"] += len(batch)
        cells = rollup(batch)
        merge(engine, cells)
        counts["usage_hourly"] += len(cells)
    running = list(running_jobs(n_running, seed=2))
    insert(engine, "jobs", JOB_COLUMNS, running)
    merge(engine, rollup(running))
    counts["jobs"] += len(running)
    rng = random.Random(3)
    now_hour = NOW - NOW % H
    rows: list[tuple[Any, ...]] = []
    for job in running:
        rows += gpu_rows(job, idle=rng.random() < 0.03, util=rng.randrange(40, 100), hours=[now_hour - H, now_hour])
    for job in recent:
        hours = list(range(job[8] - job[8] % H, job[9], H))
        rows += gpu_rows(job, idle=False, util=rng.choice((15, 35, 60, 90)), hours=hours)
    insert(engine, "gpu_usage_hourly", GPU_COLUMNS, rows)
    counts["gpu_usage_hourly"] = len(rows)
    with engine.begin() as conn:
        counts["usage_hourly"] = int(conn.scalar(text("SELECT count(*) FROM usage_hourly")) or 0)
        counts["usage_daily"] = int(conn.scalar(text("SELECT count(*) FROM usage_daily")) or 0)
    # What autovacuum (PostgreSQL) or a periodic ``PRAGMA optimize`` (SQLite) will have done by the time a
    # daemon ticks: statistics, and on PostgreSQL the dead row versions the bulk load left behind.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))
    return counts


def merge(engine: Engine, cells: dict[tuple[str, str, str, str, str, int], int]) -> None:
    """Add rollup cells as the ingest does: insert new keys, add to existing ones (the triggers see both)."""
    rows = [(*k, v) for k, v in cells.items()]
    columns = ("cluster", "account", "user_name", "partition", "gpu_type", "hour", "gpu_seconds")
    insert_temp(engine, f"stage_{uuid.uuid4().hex[:8]}", columns, rows)


def insert_temp(engine: Engine, stage: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cols = ", ".join(columns)
        if engine.dialect.name == "postgresql":
            cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} AS SELECT * FROM usage_hourly WHERE 1 = 0")
            with cursor.copy(f"COPY {stage} ({cols}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} AS SELECT * FROM usage_hourly WHERE 1 = 0")
            cursor.executemany(f"INSERT INTO {stage} ({cols}) VALUES ({', '.join('?' * len(columns))})", rows)
        cursor.execute(
            f"INSERT INTO usage_hourly ({cols}) SELECT {cols} FROM {stage} WHERE true "
            "ON CONFLICT (cluster, account, user_name, partition, gpu_type, hour) "
            "DO UPDATE SET gpu_seconds = usage_hourly.gpu_seconds + excluded.gpu_seconds"
        )
        cursor.execute(f"DROP TABLE {stage}")
        raw.commit()
    finally:
        raw.close()


def rules() -> Rules:
    return Rules(PoliciesConfig(), DirectivesConfig(), NotifyConfig(programme_office=["office@programme.example.jp"]))


def timed_ms(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def run_on(name: str, engine: Engine, settings: Settings, n_jobs: int, n_running: int, repeat: int) -> None:
    started = time.perf_counter()
    counts = build(engine, settings, n_jobs, n_running)
    sizes = ", ".join(f"{k} {v:,}" for k, v in counts.items())
    print(f"{name}: built in {time.perf_counter() - started:.0f} s: {sizes}")
    first = policy_tick(engine, settings, rules(), now=NOW)
    print(f"{name}: first tick   {first.elapsed_ms:7.1f} ms  ({len(first.findings)} findings, "
          f"{len(first.result.opened)} directives opened, {len(first.queued)} notices rendered and queued)")
    steady = []
    for i in range(repeat):
        report = policy_tick(engine, settings, rules(), now=NOW + i + 1)
        steady.append(report.elapsed_ms)
    by_policy = {e.policy: len(e.findings) for e in report.evaluations}
    with engine.connect() as conn:
        count = statistics.median(
            timed_ms(lambda: conn.execute(text("SELECT count(*) FROM usage_hourly")).scalar()) for _ in range(repeat)
        )
        total = statistics.median(
            timed_ms(lambda: conn.execute(text("SELECT sum(gpu_seconds) FROM usage_hourly")).scalar())
            for _ in range(repeat)
        )
    tick = statistics.median(steady)
    print(f"{name}: steady tick  {tick:7.1f} ms median of {repeat} (min {min(steady):.1f}); findings {by_policy}")
    print(f"{name}: baseline SELECT count(*) FROM usage_hourly {count:.1f} ms (tick/baseline {tick / count:.1f}), "
          f"SELECT sum(gpu_seconds) {total:.1f} ms (tick/baseline {tick / total:.2f}); "
          f"target <= 200 ms: {'met' if tick <= 200 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--running", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-pg", action="store_true")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="quotad-bench-policy-") as tmp:
        settings = settings_for(f"sqlite:///{Path(tmp) / 'ledger.sqlite'}")
        engine = create_ledger_engine(settings)
        upgrade(engine)
        run_on("sqlite", engine, settings, opts.jobs, opts.running, opts.repeat)
        engine.dispose()
    if opts.no_pg:
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(opts.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        settings = settings_for(f"{opts.pg}?options=-csearch_path%3D{schema}")
        engine = create_ledger_engine(settings)
        upgrade(engine)
        run_on("postgresql", engine, settings, opts.jobs, opts.running, opts.repeat)
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
