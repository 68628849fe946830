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


def timed(argv: list[str], runs: int) -> Timing:
    """Median wall time of ``argv`` over ``runs`` processes after one discarded run; the largest peak RSS."""
    walls: list[float] = []
    cpus: list[float] = []
    peak = 0.0
    for _ in range(runs + 1):
        wall, cpu, rss = spawn(argv)
        walls.append(wall)
        cpus.append(cpu)
        peak = max(peak, rss)
    return Timing(statistics.median(walls[1:]), statistics.median(cpus[1:]), peak)


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


def measure(label: str, config: Path | None, runs: int, floor: float, now_iso: str) -> dict[str, Timing]:
    root = [QUOTAD] if config is None else [QUOTAD, "-c", str(config)]
    commands = {
        "--version": [QUOTAD, "--version"],
        "--help": [QUOTAD, "--help"],
        "status --json": [*root, "status", "--json", "--now", now_iso],
        "report --json": [*root, "report", "--json", "--now", now_iso],
    }
    if config is None:
        commands = {k: v for k, v in commands.items() if k.startswith("--")}
    results: dict[str, Timing] = {}
    for name, argv in commands.items():
        timing = timed(argv, runs)
        results[name] = timing
        print(f"  {label:<9} quotad {name:<14} {timing.median_s * 1000:8.1f} ms {timing.median_s / floor:5.1f}x "
              f"python -c pass  CPU {timing.median_cpu_s * 1000:6.0f} ms  peak RSS {timing.peak_rss_mb:5.1f} MB")
    return results


def sreport_timing(runs: int) -> Timing | None:
    if shutil.which("sreport") is None:
        return None
    argv = ["sreport", "-n", "-P", "cluster", "AccountUtilizationByUser", "-T", "gres/gpu",
            "start=2026-11-01", "end=2026-12-01"]  # fmt: skip
    try:
        return timed(argv, runs)
    except SystemExit as exc:
        print(f"  sreport not usable here: {exc}")
        return None


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

    floor_timing = timed([sys.executable, "-c", "pass"], opts.runs)
    floor = floor_timing.median_s
    print(f"interpreter floor: python -c pass {floor * 1000:.1f} ms wall, {floor_timing.median_cpu_s * 1000:.0f} ms "
          f"CPU (medians of {opts.runs}, first run discarded)")
    sqlite = measure("sqlite", sqlite_config, opts.runs, floor, now_iso)

    postgres: dict[str, Timing] = {}
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
            postgres = measure("postgres", pg_config, opts.runs, floor, now_iso)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

    sreport = sreport_timing(opts.runs)
    status = sqlite["status --json"]
    print("targets:")
    version = sqlite["--version"].median_s / floor
    print(f"  --version {version:.1f}x the interpreter floor (target <= 3x): {'met' if version <= 3 else 'NOT met'}")
    if sreport is not None:
        print(f"  sreport AccountUtilizationByUser -T gres/gpu {sreport.median_s * 1000:.1f} ms wall "
              f"({sreport.median_cpu_s * 1000:.0f} ms CPU) on the test cluster")
        for label, timings in (("sqlite", sqlite), ("postgres", postgres)):
            if timings:
                ratio = timings["status --json"].median_s / sreport.median_s
                verdict = "met" if ratio <= 1 else "NOT met"
                print(f"  status on {label} {ratio:.2f}x sreport (target <= 1.0x): {verdict}")
    else:
        print("  sreport not on PATH: status beside sreport not measured")
    peak = max(status.peak_rss_mb, postgres["status --json"].peak_rss_mb if postgres else 0.0)
    print(f"  peak RSS of status {peak:.1f} MB (target <= 80 MB): {'met' if peak <= 80 else 'NOT met'}")
    if opts.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
