"""``quotad demo``: a synthetic programme on a fresh SQLite ledger, through exactly the production paths.

The generated history is written as sacct text files and ingested with the same parser and write path as
``quotad ingest sacct``; companies and grants go through the same registry functions as the CLI. What the demo
prints is therefore what an operator would see on real data of that shape.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from quotad.config import Settings, load_config
from quotad.demo.synthetic import DemoProgramme, demo_programme, sacct_lines
from quotad.ledger.db import create_ledger_engine, upgrade
from quotad.ledger.ingest import sync_clusters
from quotad.ledger.queries import company_status
from quotad.ledger.registry import AccountRef, ContactRef, GrantSpec, add_company, set_grant
from quotad.ledger.reports import UsageQuery, usage_lines
from quotad.render import emit
from quotad.timeutil import month_bounds, month_start
from quotad.units import SECONDS_PER_HOUR, GpuCatalog

__all__ = ["run_demo", "write_demo_config"]


def write_demo_config(directory: Path, programme: DemoProgramme, *, extra: str = "") -> Path:
    """A real quotad.toml for the demo, so every other command can be pointed at the demo ledger."""
    clusters = "".join(
        f'\n[[clusters]]\nname = "{c.name}"\ndefault_gpu_type = "{c.gpu_type}"\ntimezone = "{c.timezone}"\n'
        f"programme_partitions = [{', '.join(repr(p).replace(chr(39), chr(34)) for p in c.partitions)}]\n"
        for c in programme.clusters
    )
    path = directory / "quotad.toml"
    path.write_text(
        "# Written by `quotad demo`: a synthetic programme on a local SQLite ledger.\n"
        f'[database]\nurl = "sqlite:///{directory / "ledger.sqlite"}"\n{clusters}{extra}',
        encoding="utf-8",
    )
    return path


def _register(settings: Settings, programme: DemoProgramme, *, seed_time: int) -> None:
    engine = create_ledger_engine(settings)
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        tz = settings.programme.timezone
        period = _local_period(programme, tz)
        months = _period_months(period, tz)
        for company in programme.companies:
            add_company(
                conn,
                company_id=company.id,
                name_ja=company.name_ja,
                name_en=company.name_en,
                accounts=[AccountRef(cluster, account) for cluster, account in company.accounts.items()],
                contacts=[ContactRef(company.contact_email, company.language)],
                now=seed_time,
            )
            for cluster, hours in company.grant_gpu_hours.items():
                amount = hours * SECONDS_PER_HOUR
                plan = {m: amount // len(months) for m in months}
                gpu_type = programme.cluster(cluster).gpu_type
                spec = GrantSpec(
                    company.id,
                    cluster,
                    gpu_type,
                    amount,
                    *period,
                    plan=plan,
                    note="demo grant",
                )
                set_grant(conn, spec, known_gpu_types=list(settings.gpu_types))
    engine.dispose()


def _local_period(programme: DemoProgramme, tz: str) -> tuple[int, int]:
    """The generator's period (whole UTC months) as the same calendar days in the programme's time zone, so a
    Tokyo programme's grant runs from local midnight to local midnight."""
    def local(epoch: int) -> int:
        year, month = month_start(epoch, "UTC")
        return month_bounds(year, month, tz)[0]

    return local(programme.period_start), local(programme.period_end)


def _period_months(period: tuple[int, int], tz: str) -> list[int]:
    year, month = month_start(period[0], tz)
    starts: list[int] = []
    while True:
        start, end = month_bounds(year, month, tz)
        if start >= period[1]:
            return starts
        starts.append(start)
        year, month = month_start(end, tz)


def run_demo(directory: Path | None, *, now: int, seed: int, loop: bool = False) -> Path:
    """Generate, ingest and report the demo programme; returns the directory holding ledger and config.

    ``loop`` (what ``quotad demo`` does): the programme in Asia/Tokyo, then GPU telemetry, providers and
    reserved capacity, one policy tick, its directives, a rendered notice and charts (``quotad.demo.loop``).
    """
    where = directory or Path(tempfile.mkdtemp(prefix="quotad-demo-"))
    where.mkdir(parents=True, exist_ok=True)
    for stale in where.glob("ledger.sqlite*"):
        stale.unlink()
    programme = demo_programme(now)
    from quotad.demo.loop import loop_config, quotad_command, run_loop

    settings = load_config(write_demo_config(where, programme, extra=loop_config() if loop else ""))
    engine = create_ledger_engine(settings)
    upgrade(engine)
    _register(settings, programme, seed_time=now)
    gpus = sum(c.nodes * c.gpus_per_node for c in programme.clusters)
    print(
        f"quotad demo: {len(programme.companies)} companies, {len(programme.clusters)} clusters, {gpus:,} GPUs; "
        f"ledger in {where}"
    )
    from quotad.collectors.slurm import ingest_sacct_text

    for cluster in programme.clusters:
        path = where / f"sacct-{cluster.name}.txt"
        with path.open("w", encoding="utf-8") as out:
            for line in sacct_lines(programme, cluster.name, seed=seed):
                out.write(line + "\n")
        started = time.perf_counter()
        with path.open(encoding="utf-8") as handle, engine.begin() as conn:
            summary = ingest_sacct_text(conn, settings, handle, source=str(path), now=now)
        took = time.perf_counter() - started
        print(
            f"  ingested {path.name}: {summary.records_ok:,} segments in {took:.1f} s "
            f"({summary.records_ok / took:,.0f}/s), {summary.lines_bad} refused"
        )
    catalog = GpuCatalog(settings.gpu_types)
    tz = settings.programme.timezone
    from quotad.cli.report import report_table
    from quotad.cli.status import status_table

    done = run_loop(engine, settings, programme, where, now=now) if loop else None
    if loop:
        from quotad.demo.office import seed_office

        seed_office(engine, now=now, tz=tz)

    with engine.connect() as conn:
        rows = company_status(conn, catalog, now=now)
        year, month = month_start(now, tz)
        start, end = month_bounds(year, month, tz)
        report = usage_lines(conn, catalog, UsageQuery(start, end, "company", timezone=tz))
    engine.dispose()
    print()
    emit(status_table(rows, tz, now=now), "table")
    print()
    emit(report_table(report, "company", f"Usage {year:04d}-{month:02d} by company (so far)"), "table")
    config = where / "quotad.toml"
    if done is None:
        print(f"\nExplore it: quotad -c {config} status | report --by user | company list | grant list")
        return where
    print(f"\nGPU telemetry: {done.telemetry_rows:,} hourly rows written through the agent's upsert "
          f"({done.idle_jobs} job allocated and idle, {done.busy_jobs} busy)")
    if done.maintenance:
        print(f"\nPer-node maintenance: {done.maintenance}")
    print(f"\nOne policy tick opened {len(done.opened)} directive(s):")
    for line in done.opened:
        print(f"  {line}")
    if done.notice:
        print("\nThe idle-GPU notice, as its readers get it (Japanese, then English):\n")
        print("\n".join(f"  | {line}" for line in done.notice.splitlines()))
    print("\nCharts:")
    for drawn in done.charts:
        print(f"  {drawn}")
    quotad = quotad_command()
    print("\nTry next:")
    print(f"  {quotad} -c {config} directives list")
    print(f"  {quotad} -c {config} notify preview --company unkai-systems --kind digest")
    survey = where / "survey-ja.pdf"
    print(f"  {quotad} -c {config} programme report --lang ja --format pdf --edition public --out {survey}")
    return where
