"""Benchmark: how fast the ``quotad`` command line answers, as whole processes, on a 1,000,000-segment ledger.

Each command runs as its own process (``--runs`` times, the first run discarded as a cold start) and the
median wall time is printed with its ratio to ``python -c pass`` in the same venv, measured in the same run (the
machine is noisy and shared, so only ratios compare between runs). The ledger is built from the demo
programme's deterministic sacct generator, the same path ``bench/ingest.py`` uses, on SQLite and on a fresh
PostgreSQL schema. Peak RSS is each ``status`` process's own (``os.wait4``). When ``sreport`` is on PATH,
``status`` is set beside ``sreport ... AccountUtilizationByUser -T gres/gpu`` on the Slurm test cluster.
Targets: ``--version`` <= 3x the interpreter floor; ``status`` on 1M segments <= 1.0x sreport; peak RSS of
``status`` <= 80 MB.

    .venv/bin/python bench/cli.py [--segments N] [--runs N] [--work DIR] [--no-postgres]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ingest import generate  # bench/ingest.py: the 1M-line sacct generator (bench/ is on sys.path)
from sqlalchemy import create_engine, text

from quotad.collectors.slurm import ingest_sacct_text
from quotad.config import Settings, load_config
from quotad.demo.run import write_demo_config
from quotad.demo.synthetic import demo_programme
from quotad.ledger.db import create_ledger_engine, upgrade
from quotad.ledger.ingest import sync_clusters
from quotad.ledger.registry import AccountRef, ContactRef, GrantSpec, add_company, set_grant
from quotad.units import SECONDS_PER_HOUR

NOW = 1_796_000_000  # the generator's clock (bench/ingest.py)
PG_URL = os.environ.get("QUOTAD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BIN = Path(sys.executable).parent
QUOTAD = str(BIN / "quotad")
TIME = "/usr/bin/time"  # GNU time, for each command's own peak RSS


@dataclass(frozen=True)
class Timing:
    median_s: float  # wall
    median_cpu_s: float  # user + system: steadier than wall on a shared machine
    peak_rss_mb: float


def spawn(argv: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MB) of one process running ``argv``, output discarded.

    The peak is GNU time's ``%M`` for the command: ``ru_maxrss`` of a child forked (or vforked) straight from
    this process would start from the benchmark's own resident size, which a small launcher does not carry.
    """
    with tempfile.NamedTemporaryFile(mode="r", suffix=".rss") as rss:
        started = time.perf_counter()
        done = subprocess.run([TIME, "-f", "%M %U %S", "-o", rss.name, *argv], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, check=False)  # fmt: skip
        wall = time.perf_counter() - started
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip()[-500:]
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {message}")
        kilobytes, user, system = rss.read().strip().splitlines()[-1].split()
    return wall, float(user) + float(system), int(kilobytes) / 1024


def timed_beside(argv: list[str], baseline: list[str], runs: int) -> tuple[Timing, Timing]:
    """``argv`` and ``baseline`` run alternately, ``runs`` times each after one discarded run of each.

    Alternating puts both under the same load at the same moment, so their ratio means something on a shared
    machine even when the wall times themselves swing by several times within a minute.
    """
    samples: dict[int, list[tuple[float, float, float]]] = {0: [], 1: []}
    for _ in range(runs + 1):
        for which, command in enumerate((argv, baseline)):
            samples[which].append(spawn(command))

    def timing(runs_of: list[tuple[float, float, float]]) -> Timing:
        kept = runs_of[1:]
        return Timing(statistics.median(w for w, _, _ in kept), statistics.median(c for _, c, _ in kept),
                      max(r for _, _, r in kept))  # fmt: skip

    return timing(samples[0]), timing(samples[1])


def register(settings: Settings) -> None:
    """The demo programme's companies and grants, through the registry functions the CLI uses."""
    programme = demo_programme(NOW)
    engine = create_ledger_engine(settings)
    upgrade(engine)
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        for company in programme.companies:
            add_company(
                conn,
                company_id=company.id,
                name_ja=company.name_ja,
                name_en=company.name_en,
                accounts=[AccountRef(cluster, account) for cluster, account in company.accounts.items()],
                contacts=[ContactRef(company.contact_email, company.language)],
                now=NOW,
            )
            for cluster, hours in company.grant_gpu_hours.items():
                spec = GrantSpec(
                    company.id, cluster, programme.cluster(cluster).gpu_type, hours * SECONDS_PER_HOUR,
                    programme.period_start, programme.period_end, note="bench grant",
                )  # fmt: skip
                set_grant(conn, spec, known_gpu_types=list(settings.gpu_types))
    engine.dispose()


def fill(config: Path, sacct: Path) -> int:
    """Register and ingest ``sacct`` into the ledger ``config`` names; returns the segments stored."""
    settings = load_config(config)
    register(settings)
    engine = create_ledger_engine(settings)
    started = time.perf_counter()
    with sacct.open(encoding="utf-8") as handle, engine.begin() as conn:
        summary = ingest_sacct_text(conn, settings, handle, source=str(sacct), now=NOW)
    with engine.connect() as conn:
        segments = int(conn.execute(text("SELECT count(*) FROM jobs")).scalar_one())
        hourly = int(conn.execute(text("SELECT count(*) FROM usage_hourly")).scalar_one())
    engine.dispose()
    print(f"  {settings.database.url.split('?')[0]}: {segments:,} segments, {hourly:,} usage_hourly rows "
          f"(ingested in {time.perf_counter() - started:.0f} s, {summary.lines_bad} refused)")
    return segments


FLOOR = [sys.executable, "-c", "pass"]
SREPORT = ["sreport", "-n", "-P", "cluster", "AccountUtilizationByUser", "-T", "gres/gpu",
           "start=2026-11-01", "end=2026-12-01"]  # fmt: skip


@dataclass(frozen=True)
class Measured:
    timing: Timing
    floor_ratio: float  # wall time over ``python -c pass`` run alternately with it
    sreport_ratio: float | None = None  # wall time over sreport run alternately with it (status only)


def sreport_usable() -> bool:
    if shutil.which("sreport") is None:
        return False
    try:
        spawn(SREPORT)
    except SystemExit as exc:
        print(f"  sreport not usable here: {exc}")
        return False
    return True


def measure(label: str, config: Path, runs: int, now_iso: str, with_sreport: bool) -> dict[str, Measured]:
    root = [QUOTAD, "-c", str(config)]
    commands = {
        "--version": [QUOTAD, "--version"],
        "--help": [QUOTAD, "--help"],
        "status --json": [*root, "status", "--json", "--now", now_iso],
        "report --json": [*root, "report", "--json", "--now", now_iso],
    }
    results: dict[str, Measured] = {}
    for name, argv in commands.items():
        timing, floor = timed_beside(argv, FLOOR, runs)
        ratio = timing.median_s / floor.median_s
        print(f"  {label:<9} quotad {name:<14} {timing.median_s * 1000:8.1f} ms = {ratio:5.1f}x python -c pass "
              f"({floor.median_s * 1000:.0f} ms)  CPU {timing.median_cpu_s * 1000:5.0f} ms  "
              f"peak RSS {timing.peak_rss_mb:5.1f} MB")
        results[name] = Measured(timing, ratio)
    if with_sreport:
        status, sreport = timed_beside(commands["status --json"], SREPORT, runs)
        ratio = status.median_s / sreport.median_s
        print(f"  {label:<9} quotad status --json {status.median_s * 1000:8.1f} ms = {ratio:5.2f}x sreport "
              f"AccountUtilizationByUser -T gres/gpu ({sreport.median_s * 1000:.0f} ms, "
              f"{sreport.median_cpu_s * 1000:.0f} ms CPU) on the test cluster")
        before = results["status --json"]
        results["status --json"] = Measured(before.timing, before.floor_ratio, ratio)
    return results


def main() -> None:
    args = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    args.add_argument("--segments", type=int, default=1_000_000, help="sacct lines to generate (default 1M)")
    args.add_argument("--runs", type=int, default=7, help="timed runs per command after the discarded one (>= 5)")
    args.add_argument("--work", type=Path, help="keep the ledgers here and reuse the SQLite one when present")
    args.add_argument("--no-postgres", action="store_true", help="SQLite only")
    opts = args.parse_args()
    work = opts.work or Path(tempfile.mkdtemp(prefix="quotad-bench-cli-"))
    work.mkdir(parents=True, exist_ok=True)
    now_iso = datetime.fromtimestamp(NOW, UTC).strftime("%Y-%m-%dT%H:%M:%S")

    sqlite_config = write_demo_config(work, demo_programme(NOW))
    marker = work / f"built-{opts.segments}"
    sacct = work / "sacct.txt"
    if not marker.exists():
        print(f"building the ledgers from {opts.segments:,} generated sacct lines in {work}")
        for stale in work.glob("ledger.sqlite*"):
            stale.unlink()
        generate(sacct, opts.segments, now=NOW)
        fill(sqlite_config, sacct)
        marker.touch()

    with_sreport = sreport_usable()
    print(f"medians of {opts.runs} runs after a discarded one; each command alternates with its baseline")
    measured = {"sqlite": measure("sqlite", sqlite_config, opts.runs, now_iso, with_sreport)}

    if not opts.no_postgres:
        if not sacct.exists():
            generate(sacct, opts.segments, now=NOW)
        schema = f"bench_cli_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            pg_config = work / "quotad-pg.toml"
            url = f"{PG_URL}?options=-csearch_path%3D{schema}"
            body = sqlite_config.read_text(encoding="utf-8")
            pg_config.write_text(body.replace(body.split('url = "')[1].split('"')[0], url), encoding="utf-8")
            fill(pg_config, sacct)
            measured["postgres"] = measure("postgres", pg_config, opts.runs, now_iso, with_sreport)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

    print("targets:")
    version = max(m["--version"].floor_ratio for m in measured.values())
    print(f"  --version {version:.1f}x the interpreter floor (target <= 3x): {'met' if version <= 3 else 'NOT met'}")
    for label, results in measured.items():
        ratio = results["status --json"].sreport_ratio
        if ratio is None:
            print("  sreport not on PATH: status beside sreport not measured")
            break
        print(f"  status on {label} {ratio:.2f}x sreport (target <= 1.0x): {'met' if ratio <= 1 else 'NOT met'}")
    peak = max(m["status --json"].timing.peak_rss_mb for m in measured.values())
    print(f"  peak RSS of status {peak:.1f} MB (target <= 80 MB): {'met' if peak <= 80 else 'NOT met'}")
    if opts.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
