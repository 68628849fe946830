"""Benchmark: /metrics scrape time at programme scale, against plain prometheus-client gauges.

Ledger: 50 companies x 4 clusters x 3 GPU types (600 usage cells, 600 grants), 1,000,000 jobs over a
six-month period (bulk-inserted into ``jobs``), their hourly rollup in ``usage_hourly`` (the table the
exporter's aggregate reads), the running jobs' NVML rows for 2,000 GPUs, collector state, open directives
and a reserved block per cluster (the ``quotad_pool_*`` figures). Then, in the same process:

- ``cold``: one scrape that must compute the usage aggregate itself (what the daemon's ``metrics_refresh``
  job does off the scrape path when the ledger changed), and the pool figures' computation (the same job);
- ``warm``: scrapes with the aggregate cached (every scrape while the refresh job keeps up): the live reads
  (running jobs, NVML rows, directives, collector state) plus rendering;
- ``plain``: ``generate_latest`` over a registry of plain ``Gauge`` objects holding the same families,
  label sets and number of series (the floor prometheus-client itself costs);
- ``http``: GET /metrics through the daemon's HTTP server (warm).

Targets: warm <= 50 ms and <= 3x plain. Medians of ``--scrapes`` runs (the machine is noisy).

    .venv/bin/python bench/metrics.py [--jobs N] [--db-url postgresql+psycopg://...] [--scrapes N] [--no-build]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, insert, inspect, text

from quotad.config import Settings
from quotad.daemon.server import MetricsServer
from quotad.ledger.collector_models import CollectorState
from quotad.ledger.db import create_ledger_engine, upgrade
from quotad.ledger.ingest import sync_clusters
from quotad.ledger.models import Company, CompanyAccount, Grant, Job, UsageHourly
from quotad.ledger.telemetry_models import GpuUsageHourly
from quotad.metrics.collector import LedgerCollector, build_registry
from quotad.metrics.pool import PoolCache, compute_pool
from quotad.metrics.snapshot import SnapshotCache, compute_snapshot, ledger_token
from quotad.pool.registry import ProviderSpec, ReservationSpec, set_provider, set_reservation
from quotad.units import GpuCatalog

NOW = 1_796_000_000 - 1_796_000_000 % 3600 + 1800
PERIOD_START = NOW - 150 * 86400
PERIOD_END = PERIOD_START + 182 * 86400
CLUSTERS = [("c0", "h100"), ("c1", "h200"), ("c2", "b200"), ("c3", "h100")]
TYPES = ("h100", "h200", "b200")
COMPANIES = [f"co{i:02d}" for i in range(50)]
USERS = 2
CHUNK = 50_000
GPU_CHOICES = (1, 2, 4, 8, 8, 16, 32, 64)


def chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def bulk(engine: Engine, table: Any, rows: Iterator[dict[str, Any]]) -> int:
    count = 0
    with engine.begin() as conn:
        for batch in chunks(rows):
            conn.execute(insert(table), batch)
            count += len(batch)
    return count


def build(engine: Engine, settings: Settings, jobs: int) -> dict[str, int]:
    """The ledger, written with bulk inserts into the real tables; returns row counts."""
    rng = random.Random(7)
    with engine.begin() as conn:
        sync_clusters(conn, settings)
    bulk(engine, Company, (
        {"id": c, "name_ja": c, "name_en": c.upper(), "created_at": PERIOD_START} for c in COMPANIES
    ))
    bulk(engine, CompanyAccount, (
        {"company_id": c, "cluster": cl, "account": f"{c}-{cl}"} for c in COMPANIES for cl, _ in CLUSTERS
    ))
    bulk(engine, Grant, (
        {"company_id": c, "cluster": cl, "gpu_type": t, "unit": "gpu_seconds", "amount": 200_000 * 3600,
         "period_start": PERIOD_START, "period_end": PERIOD_END, "note": "bench"}
        for c in COMPANIES for cl, _ in CLUSTERS for t in TYPES
    ))
    usage: defaultdict[tuple[str, str, str, str, str, int], int] = defaultdict(int)
    running: list[tuple[str, int, str, str, str, int]] = []

    def job_rows() -> Iterator[dict[str, Any]]:
        for i in range(jobs):
            company = rng.choice(COMPANIES)
            cluster, _ = rng.choice(CLUSTERS)
            gpu_type = rng.choice(TYPES)
            user = f"{company}-u{rng.randrange(USERS)}"
            account = f"{company}-{cluster}"
            gpus = rng.choice(GPU_CHOICES)
            start = rng.randrange(PERIOD_START, NOW)
            length = min(int(rng.expovariate(1 / 14_400)) + 60, 72 * 3600)
            state = "RUNNING" if start + length > NOW else "COMPLETED"
            elapsed = min(length, NOW - start)
            t = start
            while t < start + elapsed:
                hour = t - t % 3600
                step = min(hour + 3600, start + elapsed) - t
                usage[(cluster, account, user, "gpu", gpu_type, hour)] += step * gpus
                t += step
            if state == "RUNNING":
                running.append((cluster, i + 1, account, user, gpu_type, gpus))
            yield {
                "cluster": cluster, "job_id": str(i + 1), "job_id_raw": i + 1, "submit": start - 60,
                "account": account, "user_name": user, "partition": "gpu", "state": state, "start_time": start,
                "end_time": None if state == "RUNNING" else start + elapsed, "elapsed_raw": elapsed,
                "gpu_count": gpus, "gpu_alloc": f"{gpu_type}={gpus}", "charged_seconds": elapsed * gpus,
            }

    counts = {"jobs": bulk(engine, Job, job_rows())}
    counts["usage_hourly"] = bulk(engine, UsageHourly, (
        {"cluster": k[0], "account": k[1], "user_name": k[2], "partition": k[3], "gpu_type": k[4], "hour": k[5],
         "gpu_seconds": v}
        for k, v in usage.items()
    ))
    counts["running"] = len(running)

    def gpu_rows() -> Iterator[dict[str, Any]]:
        n = 0
        hour = NOW - NOW % 3600
        for cluster, job_id, account, user, _type, gpus in running:
            for g in range(gpus):
                if n == 2000:
                    return
                n += 1
                idle = rng.random() < 0.1
                yield {
                    "cluster": cluster, "job_id": job_id, "node": f"n{job_id}-{g // 8}", "gpu_index": g % 8,
                    "hour": hour, "gpu_uuid": f"GPU-{job_id}-{g}", "account": account, "user_name": user,
                    "samples": 180, "observed_seconds": 1800, "idle_seconds": 1800 if idle else 0,
                    "idle_mem_held_seconds": 0, "util_pct_seconds": 0 if idle else 1800 * 90, "util_max": 95,
                    "mem_used_max": 1 << 30, "mem_total": 80 << 30, "energy_mj": 0, "allocated": True,
                    "job_process_seen": True, "foreign_processes": 0, "foreign_job_id": None,
                    "idle_since": NOW - 1800 if idle else None, "recent_seconds": 1800,
                    "recent_idle_seconds": 1800 if idle else 0, "recent_util_pct_seconds": 0, "throttle_mask": 0,
                    "xid_events": 0, "last_xid": None, "ecc_uncorrected": 0, "first_sample": hour,
                    "last_sample": NOW - 10, "updated_at": NOW - 10,
                }

    counts["gpu_usage_hourly"] = bulk(engine, GpuUsageHourly, gpu_rows())
    bulk(engine, CollectorState, (
        {"cluster": cl, "source": "sacct", "watermark": NOW, "last_attempt": NOW, "last_success": NOW,
         "last_duration_ms": 1200, "last_error": "", "polls_total": 100, "errors_total": 1}
        for cl, _ in CLUSTERS
    ))
    with engine.begin() as conn:
        if inspect(conn).has_table("directives"):
            for i in range(50):
                conn.execute(text(
                    "INSERT INTO directives (policy, subject_key, company_id, state, base_severity, severity, level, "
                    "summary, finding, urgent, enforceable, opened_at, last_seen_at, changed_at, notices, "
                    "unchanged_notices, escalation, acknowledged_by, close_reason) VALUES (:p, :s, :c, 'open', 30, "
                    "30, 'warn', '', '{}', false, false, :n, :n, :n, 0, 0, 0, '', '')"
                ), {"p": ("idle_allocation", "underuse")[i % 2], "s": f"s{i}", "c": COMPANIES[i], "n": NOW})
    return counts


def reserve(engine: Engine, settings: Settings) -> None:
    """A provider's block of 64 nodes x 8 GPUs on every cluster over the period (what the pool figures read)."""
    with engine.begin() as conn:
        set_provider(conn, ProviderSpec("dc", "データセンター", "Data centre", "cloud"), now=PERIOD_START)
        for cluster, gpu_type in CLUSTERS:
            spec = ReservationSpec("dc", cluster, f"{gpu_type}x8", gpu_type, 8, 64, PERIOD_START, PERIOD_END)
            set_reservation(conn, spec, known_gpu_types=list(settings.gpu_types))


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """(median, p95) seconds of ``runs`` calls."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))]


def plain_registry(exposition: str) -> tuple[CollectorRegistry, int]:
    """Plain Gauges with the same families, label sets and values as a quotad scrape."""
    registry = CollectorRegistry(auto_describe=False)
    series = 0
    for family in text_string_to_metric_families(exposition):
        samples = [s for s in family.samples if not s.name.endswith("_created")]
        if not samples:
            continue
        labels = sorted(samples[0].labels)
        gauge = Gauge(family.name + ("_total" if family.type == "counter" else ""), family.documentation or "x",
                      labels, registry=registry)
        for s in samples:
            (gauge.labels(**s.labels) if labels else gauge).set(s.value)
            series += 1
    return registry, series


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--jobs", type=int, default=1_000_000)
    args.add_argument("--scrapes", type=int, default=50)
    args.add_argument("--db-url", default=None, help="an empty database (default: a temporary SQLite file)")
    args.add_argument("--no-build", action="store_true", help="measure a --db-url this benchmark already built")
    opts = args.parse_args()
    with tempfile.TemporaryDirectory(prefix="quotad-bench-metrics-") as tmp:
        url = opts.db_url or f"sqlite:///{Path(tmp) / 'ledger.sqlite'}"
        settings = Settings(
            database={"url": url},
            clusters=[{"name": n, "default_gpu_type": t} for n, t in CLUSTERS],
        )
        engine = create_ledger_engine(settings)
        if not opts.no_build:
            upgrade(engine)
            started = time.perf_counter()
            counts = build(engine, settings, opts.jobs)
            print(f"built ledger on {engine.dialect.name} in {time.perf_counter() - started:.0f} s: "
                  + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        catalog = GpuCatalog(settings.gpu_types)

        if not opts.no_build:
            reserve(engine, settings)
        with engine.connect() as conn:
            cold, _ = timed(lambda: compute_snapshot(conn, catalog, now=NOW, token=ledger_token(conn, catalog)), 3)
            token, _ = timed(lambda: ledger_token(conn, catalog), 20)
            pool_cold, _ = timed(lambda: compute_pool(conn, settings, now=NOW), 3)
        cache = SnapshotCache(max_age_s=300)
        pool = PoolCache(max_age_s=300)
        collector = LedgerCollector(
            engine=engine, settings=lambda: settings, snapshots=cache, clock=lambda: NOW, pool=pool
        )
        registry = build_registry(collector)
        first_started = time.perf_counter()
        exposition = generate_latest(registry).decode()
        first = time.perf_counter() - first_started
        warm, warm_p95 = timed(lambda: generate_latest(registry), opts.scrapes)
        plain, series = plain_registry(exposition)
        base, base_p95 = timed(lambda: generate_latest(plain), opts.scrapes)
        server = MetricsServer("127.0.0.1", 0, registry=registry, health=lambda: (200, {}))
        _, port = server.start()

        def fetch() -> bytes:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as response:
                return bytes(response.read())

        http, http_p95 = timed(fetch, opts.scrapes)
        server.stop()
        engine.dispose()
        print(f"series per scrape: {series:,} ({len(exposition) / 1024:.0f} KiB)")
        print(f"cold aggregate (metrics_refresh job, off the scrape path): {cold * 1000:,.0f} ms median of 3; "
              f"first scrape computing it: {first * 1000:,.0f} ms; change token: {token * 1000:.2f} ms; "
              f"pool figures (same job): {pool_cold * 1000:,.0f} ms")
        print(f"warm scrape (generate_latest): {warm * 1000:.1f} ms median, {warm_p95 * 1000:.1f} ms p95")
        print(f"plain gauges, same series:     {base * 1000:.1f} ms median, {base_p95 * 1000:.1f} ms p95")
        print(f"GET /metrics over HTTP (warm): {http * 1000:.1f} ms median, {http_p95 * 1000:.1f} ms p95")
        ratio = warm / base
        print(f"targets: warm <= 50 ms: {'met' if warm <= 0.05 else 'NOT met'} ({warm * 1000:.1f} ms); "
              f"<= 3x plain: {'met' if ratio <= 3 else 'NOT met'} ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
