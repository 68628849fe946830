"""Benchmark: the daemon's periodic work and the daily commands as the ledger grows toward 100,000 GPUs.

One fresh PostgreSQL schema per size, built and dropped in turn. A size is GPUs, clusters, companies and days
of history at the programme's density of 100 job segments per GPU-year (the issue's 10,000,000 segments a year
for 100,000 GPUs): ``programme`` (2,000 GPUs, 2 clusters, 10 companies, 182 days: 100,000 segments), ``x10``
(20,000 GPUs, 10 clusters, 25 companies, 182 days: 1,000,000 segments) and ``large`` (100,000 GPUs,
20 clusters, 50 companies; ``--large-days`` of history, see below).

How the history goes in: companies, accounts, contacts and grants through the ledger's registry
(``add_company``, ``set_grant``); job segments as the ledger would store them (``encode_gpus``,
``charged_seconds``) by ``COPY`` into ``jobs``; their hourly rollup summed by the ledger's own
``HourlyDeltas`` and ``COPY``-ed into ``usage_hourly`` with the daily triggers held off, after which
``usage_daily`` and ``usage_user_daily`` are filled from the hours by one ``INSERT ... SELECT`` each, the
triggers are re-enabled and the ledger's own ``check_rollups`` confirms over the whole history that every day
equals its hours (what a restore with triggers off must do too; see ``quotad/ledger/upkeep.py``). NVML rows
(``gpu_usage_hourly``) cover the running jobs' last two hours and the jobs that ended in the last day
(telemetry retention is a separate plan: deploy/README.md, "Growth and retention").

What is timed at each size, in this order, each against the live ledger:
- ``poll``: one incremental poll of one cluster through the real collector (``collectors/slurm.py``
  ``poll_cluster`` with a runner that prints sacct text): 10,000 new finished segments plus the cluster's
  running jobs re-reported with their longer ElapsedRaw, parsed, written by ``ledger/ingest.py``;
- ``tick``: ``quotad.tick.policy_tick`` (first tick, then the median of three steady ones);
- ``scrape``: the exporter's ``collect`` with its aggregate cached (warm, median of 20) and the refresh job's
  cold aggregate and pool figures;
- ``status``: the ``quotad status`` command's reads and table; ``report``: ``quotad report --by user`` for
  the last whole month in the programme's time zone (Asia/Tokyo: 15:00 UTC to 15:00 UTC, so whole UTC days
  from the daily rollup and partial ones from the hours), reads and table; ``report hourly``: the same from the
  hourly rows throughout (``usage_lines(daily=False)``, the path before migration 0010userdaily), for the
  before/after comparison on the same ledger; ``report reads``: ``report`` without drawing the table;
- ``baseline``: ``executemany`` of 10,000 rows into an unindexed temporary table on the same connection pool,
  measured at each size beside the rest: the machine is shared and noisy, so growth is read from ratios to it.

Then per size: bytes on disk per table (``pg_total_relation_size``) and rows per table; and at the end the
growth of each figure between sizes beside the growth of history. A figure that grows with history where it
should grow only with the poll is a defect (``--top N`` prints each step's slowest statements to find it).
Targets at the largest size: poll <= 2 s, tick <= 1 s, scrape <= 100 ms, status <= 1 s, report <= 2 s.

``large`` at the full target (365 days: 10,000,000 segments, ~21,000,000 hourly rows) takes far longer than
ten minutes to build on a shared 2-core machine; ``--large-days`` (default 182, half of it: about ten minutes
there) picks how much of it to build.

    .venv/bin/python bench/scale.py [--sizes programme,x10,large] [--large-days 182] [--pg URL] [--top N] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import random
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from prometheus_client import generate_latest
from sqlalchemy import Engine, create_engine, event, text

import quotad.tables  # noqa: F401  (every core table, for the schema the bench builds)
from quotad.collectors.sacct import SACCT_FORMAT
from quotad.collectors.slurm import SOURCE, poll_cluster
from quotad.config import Settings
from quotad.directives.config import DirectivesConfig, Rules
from quotad.ledger.charge import HourlyDeltas, charged_seconds
from quotad.ledger.collector_state import record_success
from quotad.ledger.db import create_ledger_engine, upgrade
from quotad.ledger.ingest import sync_clusters
from quotad.ledger.queries import list_companies, list_grants, memoised_cells, status_rows, unclaimed_since
from quotad.ledger.records import encode_gpus
from quotad.ledger.registry import AccountRef, ContactRef, GrantSpec, add_company, set_grant
from quotad.ledger.reports import UsageQuery, gpus_held_at, usage_lines
from quotad.ledger.upkeep import check_rollups
from quotad.metrics.collector import LedgerCollector, build_registry
from quotad.metrics.pool import PoolCache, compute_pool
from quotad.metrics.snapshot import SnapshotCache, compute_snapshot, ledger_token
from quotad.notify.config import NotifyConfig
from quotad.policies.config import PoliciesConfig
from quotad.render import render
from quotad.tick import policy_tick
from quotad.units import GpuCatalog

H, DAY = 3600, 86400
#: 2026-12-01T00:00Z + 10 days and a half hour: the poll, tick and commands run at this instant.
NOW = 1_796_083_200 + 10 * DAY + 1800
SEGMENTS_PER_GPU_YEAR = 100
GPUS_PER_JOB = (1, 1, 2, 4, 8, 8, 8, 16, 32, 64)
TYPES = ("h100", "h200", "b200")
USERS_PER_ACCOUNT = 10
CLUSTERS_PER_COMPANY = 4
POLL_SEGMENTS = 10_000
#: Mean job length: with 100 segments per GPU-year and the GPU mix above, the GPUs are ~80 % busy.
MEAN_LENGTH = 17_600
JOB_COLUMNS = (
    "cluster", "job_id", "job_id_raw", "submit", "account", "user_name", "partition", "state", "start_time",
    "end_time", "elapsed_raw", "gpu_count", "gpu_alloc", "charged_seconds",
)
ROLLUP_COLUMNS = ("cluster", "account", "user_name", "partition", "gpu_type", "hour", "gpu_seconds")
GPU_COLUMNS = (
    "cluster", "job_id", "node", "gpu_index", "hour", "gpu_uuid", "account", "user_name", "samples",
    "observed_seconds", "idle_seconds", "idle_mem_held_seconds", "util_pct_seconds", "util_max", "mem_used_max",
    "mem_total", "energy_mj", "allocated", "job_process_seen", "foreign_processes", "foreign_job_id", "idle_since",
    "recent_seconds", "recent_idle_seconds", "recent_util_pct_seconds", "throttle_mask", "xid_events", "last_xid",
    "ecc_uncorrected", "first_sample", "last_sample", "updated_at",
)
TABLES = ("jobs", "usage_hourly", "usage_daily", "usage_user_daily", "gpu_usage_hourly", "ingest_runs", "directives",
          "directive_events", "outbox", "grants", "company_accounts")  # fmt: skip
#: The triggers on usage_hourly that keep the daily rollups (migrations 0004directives, 0010userdaily).
DAILY_TRIGGERS = ("trg_usage_hourly_daily", "trg_usage_hourly_user_daily")
TARGETS_MS = {"poll": 2000.0, "tick": 1000.0, "scrape": 100.0, "status": 1000.0, "report": 2000.0}


@dataclass(frozen=True)
class Size:
    name: str
    gpus: int
    clusters: int
    companies: int
    days: int

    @property
    def segments(self) -> int:
        return self.gpus * self.days * SEGMENTS_PER_GPU_YEAR // 365

    def cluster_names(self) -> list[str]:
        return [f"c{i:02d}" for i in range(self.clusters)]

    def company_ids(self) -> list[str]:
        return [f"co{i:02d}" for i in range(self.companies)]

    def accounts(self) -> dict[str, list[tuple[str, str]]]:
        """cluster -> [(company, account)]: each company on ``CLUSTERS_PER_COMPANY`` clusters (or all)."""
        names = self.cluster_names()
        per = min(CLUSTERS_PER_COMPANY, self.clusters)
        out: dict[str, list[tuple[str, str]]] = {c: [] for c in names}
        for i, company in enumerate(self.company_ids()):
            for k in range(per):
                cluster = names[(i + k) % self.clusters]
                out[cluster].append((company, f"{company}-{cluster}"))
        return out


def gpu_type(cluster: str) -> str:
    return TYPES[int(cluster[1:]) % len(TYPES)]


def settings_for(url: str, size: Size) -> Settings:
    return Settings(
        database={"url": url},
        programme={"timezone": "Asia/Tokyo"},
        clusters=[
            {"name": c, "default_gpu_type": gpu_type(c), "programme_partitions": ["gpu"]} for c in size.cluster_names()
        ],
    )


def rules() -> Rules:
    return Rules(PoliciesConfig(), DirectivesConfig(), NotifyConfig(programme_office=["office@programme.example.jp"]))


# --- building ---------------------------------------------------------------------------------------------------


def copy_rows(engine: Engine, table: str, columns: Sequence[str], rows: Iterator[tuple[Any, ...]]) -> int:
    raw = engine.raw_connection()
    count = 0
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in rows:
                copy.write_row(row)
                count += 1
        raw.commit()
    finally:
        raw.close()
    return count


def register(engine: Engine, settings: Settings, size: Size) -> None:
    """Companies, accounts, contacts and grants through the ledger's registry: one grant per six-month period
    and cluster, sized around each company's expected use so that some are ahead of plan and some behind."""
    accounts = size.accounts()
    per_company: defaultdict[str, list[tuple[str, str]]] = defaultdict(list)
    for cluster, pairs in accounts.items():
        for company, account in pairs:
            per_company[company].append((cluster, account))
    rng = random.Random(11)
    period_end = NOW + 20 * DAY
    periods = [(period_end - (k + 1) * 182 * DAY, period_end - k * 182 * DAY)
               for k in range(-(-(size.days + 20) // 182))]  # fmt: skip
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        for i, company in enumerate(size.company_ids()):
            add_company(conn, company_id=company, name_ja=f"会社{i}", name_en=f"Company {i}",
                        accounts=[AccountRef(c, a) for c, a in per_company[company]],
                        contacts=[ContactRef(f"ops@{company}.example.jp")], now=NOW - size.days * DAY)  # fmt: skip
            for cluster, _account in per_company[company]:
                share = size.gpus / size.clusters / len(accounts[cluster])
                for start, end in periods:
                    amount = int(share * 0.8 * (end - start) * rng.uniform(0.7, 1.4))
                    set_grant(conn, GrantSpec(company, cluster, gpu_type(cluster), amount, start, end),
                              known_gpu_types=list(settings.gpu_types))  # fmt: skip


def cluster_jobs(size: Size, cluster: str, rng: random.Random) -> list[tuple[Any, ...]]:
    """One cluster's history as ``jobs`` rows, in start (and id) order; running at ``NOW`` when not ended."""
    accounts = size.accounts()[cluster]
    n = size.segments // size.clusters
    span = size.days * DAY
    first = NOW - span
    kind = gpu_type(cluster)
    rows: list[tuple[Any, ...]] = []
    for i in range(n):
        company, account = accounts[rng.randrange(len(accounts))]
        gpus = GPUS_PER_JOB[rng.randrange(len(GPUS_PER_JOB))]
        length = min(int(rng.expovariate(1 / MEAN_LENGTH)) + 60, 7 * DAY)
        start = first + span * i // n + rng.randrange(0, 600)
        start = min(start, NOW - 120)
        raw = 1_000_000 + i
        user = f"{company}-u{rng.randrange(USERS_PER_ACCOUNT)}"
        partition = "gpu" if rng.random() < 0.9 else "debug"
        alloc = ((kind, gpus),)
        if start + length <= NOW:
            state, end, elapsed = "COMPLETED", start + length, length
        else:
            state, end, elapsed = "RUNNING", None, NOW - start
        rows.append((cluster, str(raw), raw, start - rng.randrange(0, 900), account, user, partition, state, start,
                     end, elapsed, gpus, encode_gpus(alloc), charged_seconds(start, elapsed, alloc)))  # fmt: skip
    return rows


def rollup_rows(jobs: list[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """The hourly cells the ledger's ingest would write for these segments (``HourlyDeltas``, as ingest sums)."""
    deltas = HourlyDeltas()
    for cluster, _jid, _raw, _sub, account, user, partition, _st, start, _end, elapsed, gpus, *_ in jobs:
        deltas.add((cluster, account, user, partition, gpu_type(cluster)), start, elapsed, gpus, 1)
    for (cluster, account, user, partition, kind), hour, seconds in deltas.items():
        yield cluster, account, user, partition, kind, hour, seconds


def telemetry_rows(jobs: list[tuple[Any, ...]], rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """NVML rows as the agents' flushes leave them: every running job's last two hours, 3 % of them idle, and
    every hour of the jobs that ended in the last day."""
    now_hour = NOW - NOW % H
    for cluster, _jid, raw, _sub, account, user, _p, state, start, end, _el, gpus, *_ in jobs:
        if state == "RUNNING":
            hours = [h for h in (now_hour - H, now_hour) if h + H > start]
            idle = rng.random() < 0.03
        elif end >= NOW - DAY:
            hours = list(range(start - start % H, end, H))
            idle = False
        else:
            continue
        util = 0 if idle else rng.randrange(20, 100)
        for g in range(gpus):
            for hour in hours:
                first = max(hour, start)
                last = min(hour + H - 10, NOW + 580) if end is None else min(hour + H - 10, end)
                observed = max(last - first, 0)
                yield (cluster, raw, f"n{raw % 9973}-{g // 8}", g % 8, hour, f"GPU-{cluster}-{raw}-{g}", account,
                       user, observed // 10, observed, observed if idle else 0, 0, observed * util, util, 1 << 30,
                       80 << 30, observed * 700_000, state == "RUNNING", True, 0, None,
                       start + 600 if idle else None, 1800, 1800 if idle else 0, 1800 * util, 0, 0, None, 0, first,
                       last, last)  # fmt: skip


def build(engine: Engine, settings: Settings, size: Size) -> dict[str, float]:
    """The whole history, cluster by cluster (memory stays at one cluster's jobs); returns phase seconds."""
    phases: dict[str, float] = defaultdict(float)
    started = time.perf_counter()
    register(engine, settings, size)
    phases["registry"] = time.perf_counter() - started
    with engine.begin() as conn:
        for trigger in DAILY_TRIGGERS:
            conn.execute(text(f"ALTER TABLE usage_hourly DISABLE TRIGGER {trigger}"))
    for index, cluster in enumerate(size.cluster_names()):
        rng = random.Random(1000 + index)
        t = time.perf_counter()
        jobs = cluster_jobs(size, cluster, rng)
        phases["generate"] += time.perf_counter() - t
        t = time.perf_counter()
        copy_rows(engine, "jobs", JOB_COLUMNS, iter(jobs))
        phases["copy jobs"] += time.perf_counter() - t
        t = time.perf_counter()
        copy_rows(engine, "usage_hourly", ROLLUP_COLUMNS, rollup_rows(jobs))
        phases["rollup"] += time.perf_counter() - t
        t = time.perf_counter()
        copy_rows(engine, "gpu_usage_hourly", GPU_COLUMNS, telemetry_rows(jobs, rng))
        phases["telemetry"] += time.perf_counter() - t
    t = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO usage_daily (cluster, account, gpu_type, day, gpu_seconds) "
            "SELECT cluster, account, gpu_type, hour - hour % 86400, sum(gpu_seconds) FROM usage_hourly "
            "GROUP BY cluster, account, gpu_type, hour - hour % 86400"
        ))
        conn.execute(text(
            "INSERT INTO usage_user_daily (cluster, account, user_name, partition, gpu_type, day, gpu_seconds) "
            "SELECT cluster, account, user_name, partition, gpu_type, hour - hour % 86400, sum(gpu_seconds) "
            "FROM usage_hourly GROUP BY cluster, account, user_name, partition, gpu_type, hour - hour % 86400"
        ))
        for trigger in DAILY_TRIGGERS:
            conn.execute(text(f"ALTER TABLE usage_hourly ENABLE TRIGGER {trigger}"))
        for cluster in size.cluster_names():
            record_success(conn, cluster, SOURCE, new_watermark=NOW, now=NOW, duration_ms=1000)
    phases["daily"] = time.perf_counter() - t
    t = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # Ingest writes each hour's cells as the hour passes, so one hour's rows lie together on disk; the
        # bulk load wrote them cluster by cluster. Put them in the order a live ledger has them.
        conn.execute(text("CLUSTER usage_hourly USING ix_usage_hourly_hour"))
        conn.execute(text("VACUUM ANALYZE"))  # what autovacuum will have done by the time the daemon runs
    phases["cluster+vacuum"] = time.perf_counter() - t
    t = time.perf_counter()
    with engine.connect() as conn:
        check = check_rollups(conn, start=NOW - size.days * DAY - 8 * DAY, end=NOW + DAY)
    if not check.ok:
        raise SystemExit(f"the daily rollups differ from its hours in {len(check.drift)} cells: the build is wrong")
    phases["check"] = time.perf_counter() - t
    return dict(phases)


# --- the poll's sacct ------------------------------------------------------------------------------------------


def sacct_line(values: dict[str, str]) -> str:
    return "|".join(values.get(column, "") for column in SACCT_FORMAT.split(","))


def tres(kind: str, gpus: int) -> str:
    return f"billing={8 * gpus},cpu={8 * gpus},gres/gpu:{kind}={gpus},gres/gpu={gpus},mem={64000 * gpus}M,node=1"


class PollSacct:
    """A ``CommandRunner`` printing what ``sacct`` would for the poll's window: new segments and running jobs."""

    def __init__(self, engine: Engine, size: Size, cluster: str, poll_now: int) -> None:
        self.lines = [sacct_line({c: c for c in SACCT_FORMAT.split(",")})]
        kind = gpu_type(cluster)
        with engine.connect() as conn:
            top = int(conn.scalar(text("SELECT max(job_id_raw) FROM jobs WHERE cluster = :c"), {"c": cluster}) or 0)
            running = conn.execute(text(
                "SELECT job_id_raw, submit, account, user_name, partition, start_time, gpu_count FROM jobs "
                "WHERE cluster = :c AND state = 'RUNNING'"
            ), {"c": cluster}).all()
        for raw, submit, account, user, partition, start, gpus in running:
            self.lines.append(sacct_line({
                "JobID": str(raw), "JobIDRaw": str(raw), "Cluster": cluster, "Account": account, "User": user,
                "Partition": partition, "State": "RUNNING", "Submit": str(submit), "Start": str(start),
                "End": "Unknown", "ElapsedRaw": str(poll_now - start), "AllocTRES": tres(kind, gpus),
                "NodeList": "n1", "JobName": "train",
            }))
        accounts = size.accounts()[cluster]
        rng = random.Random(99)
        for i in range(POLL_SEGMENTS):
            raw = top + 1 + i
            _company, account = accounts[rng.randrange(len(accounts))]
            gpus = GPUS_PER_JOB[rng.randrange(len(GPUS_PER_JOB))]
            start = NOW - 6 * H + i * 6 * H // POLL_SEGMENTS
            elapsed = rng.randrange(60, poll_now - start)
            self.lines.append(sacct_line({
                "JobID": str(raw), "JobIDRaw": str(raw), "Cluster": cluster, "Account": account,
                "User": f"{_company}-u{rng.randrange(USERS_PER_ACCOUNT)}", "Partition": "gpu", "State": "COMPLETED",
                "Submit": str(start - 30), "Start": str(start), "End": str(start + elapsed),
                "ElapsedRaw": str(elapsed), "AllocTRES": tres(kind, gpus), "NodeList": "n1", "JobName": "eval",
            }))
        self.running = len(running)

    def stream(self, argv: Sequence[str], *, env: Any, timeout_s: float) -> AbstractContextManager[Iterator[str]]:
        if any(a.startswith("--jobs=") for a in argv):  # a re-read of open segments the window did not return
            return contextlib.nullcontext(iter(self.lines[:1]))
        return contextlib.nullcontext(iter(self.lines))


# --- measuring -------------------------------------------------------------------------------------------------


class Statements:
    """Per-statement time of the step being measured, to find the query that grows with history (``--top``)."""

    def __init__(self, engine: Engine) -> None:
        self.totals: defaultdict[str, list[float]] = defaultdict(lambda: [0.0, 0])
        self._started: list[float] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_args: Any) -> None:
        self._started.append(time.perf_counter())

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self._started:
            entry = self.totals[" ".join(statement.split())[:300]]
            entry[0] += time.perf_counter() - self._started.pop()
            entry[1] += 1

    def top(self, n: int) -> list[tuple[float, int, str]]:
        ranked = sorted(((v[0], int(v[1]), k) for k, v in self.totals.items()), reverse=True)
        self.totals.clear()
        return ranked[:n]


def ms(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def median_ms(fn: Callable[[], object], runs: int) -> float:
    return statistics.median(ms(fn) for _ in range(runs))


def baseline_ms(engine: Engine) -> float:
    """10,000 rows by executemany into an unindexed temporary table: the floor under a 10,000-segment poll."""
    rows = [(i, f"acct{i % 97}", i * 7) for i in range(POLL_SEGMENTS)]

    def once() -> None:
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("CREATE TEMPORARY TABLE IF NOT EXISTS bench_floor (a bigint, b text, c bigint)")
            cursor.executemany("INSERT INTO bench_floor VALUES (%s, %s, %s)", rows)
            cursor.execute("DROP TABLE bench_floor")
            raw.commit()
        finally:
            raw.close()

    return median_ms(once, 3)


def measure(engine: Engine, settings: Settings, size: Size, top: int) -> dict[str, float]:
    """Every timed step once on the built ledger; returns milliseconds by step."""
    from quotad.cli.report import report_table
    from quotad.cli.status import status_table

    statements = Statements(engine)
    out: dict[str, float] = {"baseline": baseline_ms(engine)}
    catalog = GpuCatalog(settings.gpu_types)
    cluster = size.cluster_names()[0]
    poll_now = NOW + 600
    sacct = PollSacct(engine, size, cluster, poll_now)
    statements.top(0)
    out["poll"] = ms(lambda: poll_cluster(engine, settings, cluster, runner=sacct, now=poll_now))
    show = {"poll": statements.top(top)}
    first = policy_tick(engine, settings, rules(), now=poll_now)
    out["tick first"] = first.elapsed_ms
    statements.top(0)
    out["tick"] = statistics.median(
        policy_tick(engine, settings, rules(), now=poll_now + 60 * (i + 1)).elapsed_ms for i in range(3)
    )
    show["tick"] = statements.top(top)
    with engine.connect() as conn:
        out["scrape cold"] = ms(lambda: compute_snapshot(conn, catalog, now=poll_now,
                                                          token=ledger_token(conn, catalog)))  # fmt: skip
        out["pool cold"] = ms(lambda: compute_pool(conn, settings, now=poll_now))
    cache, pool = SnapshotCache(max_age_s=3600), PoolCache(max_age_s=3600)
    collector = LedgerCollector(engine=engine, settings=lambda: settings, snapshots=cache,
                                clock=lambda: poll_now + 240, pool=pool)  # fmt: skip
    registry = build_registry(collector)
    generate_latest(registry)  # the first scrape fills the caches (the daemon's refresh job does this)
    idle = sum(1 for line in generate_latest(registry).decode().splitlines()
               if line.startswith("quotad_slurm_job_gpus_idle{"))  # fmt: skip
    statements.top(0)
    out["scrape"] = median_ms(lambda: generate_latest(registry), 20)
    show["scrape"] = statements.top(top)

    tz = settings.programme.timezone
    status_now = poll_now + 300

    def status() -> str:
        with engine.connect() as conn:
            grants = [g for g in list_grants(conn) if g.active(status_now)]
            cells = memoised_cells(conn, now=status_now)
            rows = status_rows(list_companies(conn), grants, gpus_held_at(conn, status_now), cells, catalog,
                               now=status_now)  # fmt: skip
            unclaimed_since(conn, status_now)
        return render(status_table(rows, tz, now=status_now), "table")

    out["status"] = median_ms(status, 3)
    show["status"] = statements.top(top)
    month_end = NOW - NOW % DAY - 10 * DAY - 9 * 3600  # 2026-12-01T00:00+09:00
    month_start = month_end - 30 * DAY  # November in Tokyo

    def report(daily: bool) -> str:
        with engine.connect() as conn:
            query = UsageQuery(month_start, month_end, "user", None, "Asia/Tokyo")
            lines = usage_lines(conn, catalog, query, daily=daily)
        return render(report_table(lines, "user", "Usage 2026-11 by user"), "table")

    out["report"] = median_ms(lambda: report(True), 3)
    show["report"] = statements.top(top)

    def report_reads() -> object:
        with engine.connect() as conn:
            return usage_lines(conn, catalog, UsageQuery(month_start, month_end, "user", None, "Asia/Tokyo"))

    out["report reads"] = median_ms(report_reads, 3)  # the rest of ``report`` is drawing the table
    show["report reads"] = statements.top(top)
    out["report hourly"] = median_ms(lambda: report(False), 3)
    show["report hourly"] = statements.top(top)
    print(f"  poll: {POLL_SEGMENTS:,} new segments + {sacct.running:,} running re-reported on {cluster}; "
          f"tick: {len(first.findings)} findings; scrape: {idle} idle jobs")
    if top:
        for step, ranked in show.items():
            for seconds, calls, statement in ranked:
                print(f"    {step:<7} {seconds * 1000:8.1f} ms in {calls:4d} call(s): {statement}")
    event.remove(engine, "before_cursor_execute", statements._before)
    event.remove(engine, "after_cursor_execute", statements._after)
    return out


def sizes_on_disk(engine: Engine) -> tuple[dict[str, int], dict[str, int], int]:
    with engine.connect() as conn:
        names = [r[0] for r in conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ))]
        total = {n: int(conn.scalar(text("SELECT pg_total_relation_size(:t)"), {"t": n}) or 0) for n in names}
        rows = {n: int(conn.scalar(text(f'SELECT count(*) FROM "{n}"')) or 0) for n in TABLES if n in names}
    return total, rows, sum(total.values())


def run_size(admin: Engine, pg: str, size: Size, top: int, keep: bool) -> dict[str, float]:
    schema = f"bench_scale_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        settings = settings_for(f"{pg}?options=-csearch_path%3D{schema}", size)
        engine = create_ledger_engine(settings)
        upgrade(engine)
        print(f"{size.name}: {size.gpus:,} GPUs, {size.clusters} clusters, {size.companies} companies, "
              f"{size.days} days: {size.segments:,} segments (schema {schema})")
        started = time.perf_counter()
        phases = build(engine, settings, size)
        took = time.perf_counter() - started
        print(f"  built in {took:.0f} s (" + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items()) + ")")
        figures = measure(engine, settings, size, top)
        total, rows, whole = sizes_on_disk(engine)
        figures["bytes"] = whole
        figures["segments"] = rows["jobs"]
        figures["hourly"] = rows["usage_hourly"]
        print("  " + "  ".join(f"{k} {v:,.1f} ms" for k, v in figures.items() if k not in ("bytes", "segments",
                                                                                           "hourly")))
        ratios = ", ".join(f"{k} {figures[k] / figures['baseline']:.1f}x" for k in TARGETS_MS)
        print(f"  over the baseline: {ratios}")
        print(f"  ledger on disk {whole / 2**20:,.0f} MiB: " + ", ".join(
            f"{n} {total[n] / 2**20:,.0f} MiB" for n in sorted(total, key=lambda n: -total[n])[:6]))
        print("  rows: " + ", ".join(f"{n} {v:,}" for n, v in rows.items()))
        engine.dispose()
        return figures
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="programme,x10,large")
    parser.add_argument("--large-days", type=int, default=182)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--top", type=int, default=0, help="print each step's N slowest statements")
    parser.add_argument("--keep", action="store_true", help="leave the schemas behind (for EXPLAIN ANALYZE)")
    opts = parser.parse_args()
    # The first tick's notices to job users without a mail address are warnings a real site would act on;
    # here they are noise between the figures.
    logging.basicConfig(level=logging.ERROR)
    known = {
        "programme": Size("programme", 2_000, 2, 10, 182),
        "x10": Size("x10", 20_000, 10, 25, 182),
        "large": Size("large", 100_000, 20, 50, opts.large_days),
    }
    chosen = [known[name] for name in opts.sizes.split(",")]
    admin = create_engine(opts.pg, isolation_level="AUTOCOMMIT")
    results = [(size, run_size(admin, opts.pg, size, opts.top, opts.keep)) for size in chosen]
    admin.dispose()
    if len(results) > 1:
        print("growth against the first size (history = segments; each figure also over its size's baseline):")
        base_size, base = results[0]
        for size, fig in results[1:]:
            history = fig["segments"] / base["segments"]
            parts = [f"{k} {fig[k] / base[k]:.2f}x ({fig[k] / fig['baseline'] / (base[k] / base['baseline']):.2f}x)"
                     for k in TARGETS_MS]  # fmt: skip
            hourly, disk = fig["hourly"] / base["hourly"], fig["bytes"] / base["bytes"]
            print(f"  {size.name} / {base_size.name}: history {history:.1f}x, hourly rows {hourly:.1f}x, "
                  f"disk {disk:.1f}x; " + ", ".join(parts))
    size, fig = results[-1]
    print(f"targets at {size.name}: " + ", ".join(
        f"{k} {fig[k]:,.0f} ms <= {limit:,.0f}: {'met' if fig[k] <= limit else 'NOT met'}"
        for k, limit in TARGETS_MS.items()))


if __name__ == "__main__":
    main()
