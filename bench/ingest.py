"""Benchmark: ingest 1,000,000 sacct lines into a fresh SQLite ledger.

Prints quotad's jobs/s and peak RSS, and ratios against two baselines run in the same process on the same
parsed rows (the machine is noisy, so only ratios are comparable between runs):
- ``plain``: raw ``sqlite3.executemany`` into one plain table with no keys (the issue's baseline);
- ``ledger-table``: raw ``sqlite3.executemany`` into a table shaped like the ledger's ``jobs`` (its unique
  segment key and foreign key), i.e. the floor any implementation of this schema pays.
Targets: >= 100,000 jobs/s, ratio to plain >= 0.4, peak RSS < 300 MB.

    .venv/bin/python bench/ingest.py [--lines N]
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import sqlite3
import tempfile
import time
from pathlib import Path

from quotad.collectors.sacct import SacctParser, cluster_views
from quotad.collectors.slurm import ingest_sacct_text
from quotad.config import Settings
from quotad.demo.synthetic import demo_programme, sacct_lines
from quotad.ledger.db import create_ledger_engine, upgrade
from quotad.ledger.records import JobRecord

CHUNK = 100_000


def generate(path: Path, lines: int, now: int) -> Settings:
    """Write ``lines`` data lines (streamed, never held) from the demo clusters; returns matching settings."""
    programme = demo_programme(now)
    written = 0
    with path.open("w", encoding="utf-8") as out:
        header_done = False
        for seed in itertools.count(1):
            for cluster in programme.clusters:
                stream = sacct_lines(programme, cluster.name, seed=seed, scale=4.0)
                header = next(stream)
                if not header_done:
                    out.write(header + "\n")
                    header_done = True
                for line in stream:
                    # Each round gets its own id range so rounds are distinct segments, not re-ingests.
                    job_id, raw, rest = line.split("|", 2)
                    out.write(f"{job_id}|{int(raw) + seed * 100_000_000}|{rest}\n")
                    written += 1
                    if written == lines:
                        break
                if written == lines:
                    break
            if written == lines:
                break
    clusters = [{"name": c.name, "default_gpu_type": c.gpu_type, "timezone": c.timezone} for c in programme.clusters]
    return Settings(database={"url": f"sqlite:///{path.parent / 'ledger.sqlite'}"}, clusters=clusters)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baseline(path: Path, settings: Settings, ddl: list[str], db: Path) -> tuple[int, float]:
    """Seconds spent in executemany alone for the same parsed rows, in chunks (parsing is not timed)."""
    conn = sqlite3.connect(db)
    for statement in ddl:
        conn.execute(statement)
    parser = SacctParser(clusters=cluster_views(settings), source=str(path))
    spent, count = 0.0, 0
    insert = f"INSERT INTO jobs ({COLUMNS}) VALUES (" + ",".join("?" * 14) + ")"
    with path.open(encoding="utf-8") as handle:
        records = (r for r in parser.parse(handle) if isinstance(r, JobRecord))
        while chunk := list(itertools.islice(records, CHUNK)):
            rows = [
                (r.cluster, r.job_id_raw, r.submit, r.job_id, r.account, r.user, r.partition, r.state, r.start, r.end,
                 r.elapsed, r.gpu_count, ",".join(f"{t}={n}" for t, n in r.gpus), r.elapsed * r.gpu_count)
                for r in chunk
            ]
            started = time.perf_counter()
            conn.executemany(insert, rows)
            spent += time.perf_counter() - started
            count += len(rows)
    started = time.perf_counter()
    conn.commit()
    spent += time.perf_counter() - started
    conn.close()
    return count, spent


COLUMNS = "cluster, job_id_raw, submit, job_id, account, user_name, partition, state, start_time, end_time, " \
          "elapsed_raw, gpu_count, gpu_alloc, charged_seconds"
LEDGER_SHAPED = [
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "CREATE TABLE clusters (name TEXT PRIMARY KEY)",
    "INSERT INTO clusters VALUES ('yamato-ai'), ('sora-cloud')",
    "CREATE TABLE jobs (cluster TEXT REFERENCES clusters(name), job_id_raw INT, submit INT, job_id TEXT, "
    "account TEXT, user_name TEXT, partition TEXT, state TEXT, start_time INT, end_time INT, elapsed_raw INT, "
    "gpu_count INT, gpu_alloc TEXT, charged_seconds INT, id INTEGER PRIMARY KEY)",
    "CREATE UNIQUE INDEX uq ON jobs (cluster, job_id_raw, submit)",
]


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--lines", type=int, default=1_000_000)
    opts = args.parse_args()
    with tempfile.TemporaryDirectory(prefix="quotad-bench-") as tmp:
        work = Path(tmp)
        sacct = work / "sacct.txt"
        started = time.perf_counter()
        settings = generate(sacct, opts.lines, now=1_796_000_000)
        print(f"generated {opts.lines:,} lines ({sacct.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - started:.1f} s; RSS so far {rss_mb():.0f} MB")

        engine = create_ledger_engine(settings)
        upgrade(engine)
        started = time.perf_counter()
        with sacct.open(encoding="utf-8") as handle, engine.begin() as conn:
            summary = ingest_sacct_text(conn, settings, handle, source=str(sacct), now=1_796_000_000)
        took = time.perf_counter() - started
        peak = rss_mb()
        rate = summary.records_ok / took
        print(f"quotad ingest: {summary.records_ok:,} segments ({summary.lines_bad} refused) in {took:.2f} s = "
              f"{rate:,.0f} jobs/s; peak RSS {peak:.0f} MB")

        started = time.perf_counter()
        with sacct.open(encoding="utf-8") as handle, engine.begin() as conn:
            again = ingest_sacct_text(conn, settings, handle, source=str(sacct), now=1_796_000_000)
        retook = time.perf_counter() - started
        print(f"re-ingest of the same file: {again.unchanged:,} unchanged, {again.inserted} new in {retook:.2f} s = "
              f"{again.records_ok / retook:,.0f} lines/s")
        engine.dispose()

        plain_n, plain_s = baseline(sacct, settings, [f"CREATE TABLE jobs ({COLUMNS})"], work / "plain.sqlite")
        shaped_n, shaped_s = baseline(sacct, settings, LEDGER_SHAPED, work / "shaped.sqlite")
        plain_rate, shaped_rate = plain_n / plain_s, shaped_n / shaped_s
        print(f"baseline plain table executemany:  {plain_rate:,.0f} rows/s -> ratio {rate / plain_rate:.2f} "
              "(target >= 0.4)")
        print(f"baseline ledger-shaped executemany: {shaped_rate:,.0f} rows/s -> ratio {rate / shaped_rate:.2f}")
        print(f"targets: jobs/s >= 100,000: {'met' if rate >= 100_000 else 'NOT met'}; "
              f"peak RSS < 300 MB: {'met' if peak < 300 else 'NOT met'}; "
              f"ratio >= 0.4: {'met' if rate / plain_rate >= 0.4 else 'NOT met'}")
        for leftover in work.glob("*"):
            os.remove(leftover)


if __name__ == "__main__":
    main()
