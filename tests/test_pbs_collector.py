"""The PBS collector on both databases: exact charges from the fixtures, idempotent re-reads, rotation and
truncation, open runs, and the two commands.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from quotad.cli.context import AppState
from quotad.cli.main import QuotadGroup
from quotad.cli.pbs import collect_pbs, ingest_pbs
from quotad.collectors.pbs import ARRAY_SPAN, PbsLogError, pbs_cluster, poll_pbs
from quotad.collectors.pbs_state import load_cursor, open_run_limits
from quotad.collectors.runner import SubprocessRunner
from quotad.config import Settings
from quotad.daemon.config import JobsConfig
from quotad.daemon.jobs import JobContext, default_registry
from quotad.ledger.collector_state import collector_health
from quotad.ledger.models import IngestError, Job, UsageHourly
from quotad.metrics.snapshot import SnapshotCache
from tests.conftest import make_settings

FIXTURES = Path(__file__).parent / "fixtures" / "pbs" / "accounting"
CLUSTERS = [
    {"name": "p1", "scheduler": "pbs", "default_gpu_type": "h100", "timezone": "Asia/Tokyo"},
    {"name": "c1", "default_gpu_type": "h100", "timezone": "UTC"},
]
#: 2026-04-16 12:00 JST: after every fixture record; the open run (limit 2 h) is charged its limit.
NOW = 1776308400
SINCE = 1776178800  # 2026-04-15 00:00 JST
H100 = 86400 + 2 * 600 * 4 + 1200 * 8 + 2400 * 8 + 1802 * 8 + 600 * 4 + 7200 * 8 + 14400 * 8
H200 = 1800 * 2
RAW = ARRAY_SPAN


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, clusters=CLUSTERS)


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    directory = tmp_path / "accounting"
    directory.mkdir()
    return directory


def usage(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(UsageHourly.gpu_type, func.sum(UsageHourly.gpu_seconds))
            .where(UsageHourly.cluster == "p1")
            .group_by(UsageHourly.gpu_type)
        )
        return {t: int(s) for t, s in rows}


def segments(engine: Engine) -> dict[tuple[int, int], tuple[str, int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(select(Job.job_id_raw, Job.submit, Job.state, Job.elapsed_raw, Job.charged_seconds))
        return {(r, s): (st, e, c) for r, s, st, e, c in rows}


def poll(engine: Engine, settings: Settings, logs: Path, *, now: int = NOW, since: int | None = SINCE) -> int:
    result = poll_pbs(engine, settings, pbs_cluster(settings, "p1", accounting_dir=logs), now=now, since=since)
    return result.lines_bad


def test_a_full_read_charges_every_segment_exactly(engine: Engine, settings: Settings, logs: Path) -> None:
    for name in ("20260415", "20260416"):
        shutil.copy(FIXTURES / name, logs / name)
    assert poll(engine, settings, logs) == 7
    assert usage(engine) == {"h100": H100, "h200": H200}
    segs = segments(engine)
    assert segs[(1003 * RAW, 1776222000)] == ("REQUEUED", 1200, 9600)
    assert segs[(1003 * RAW, 1776223800)] == ("COMPLETED", 2400, 19200)
    assert segs[(1005 * RAW, 1776232800)] == ("CANCELLED", 600, 2400)  # closed at the A record
    assert segs[(1006 * RAW, 1776250800)] == ("RUNNING", 7200, 57600)  # never past its walltime limit
    assert segs[(1007 * RAW, 1776258000)] == ("COMPLETED", 14400, 115200)  # S in one file, E in the next
    assert segs[(1004 * RAW, 1776229200)][0] == "CANCELLED"
    assert (1002 * RAW + 2, 1776218400) in segs and (1002 * RAW + 3, 1776218400) in segs
    with engine.connect() as conn:
        errors = conn.execute(select(IngestError.source, IngestError.line_no).order_by(IngestError.line_no)).all()
        assert open_run_limits(conn, "p1") == {(1006 * RAW, 1776250800): 7200}
        cursor = load_cursor(conn, "p1")
        health = {h.source: h for h in collector_health(conn)}
    assert [n for _, n in errors] == list(range(23, 30))
    assert {s for s, _ in errors} == {f"pbs:p1:{logs / '20260415'}"}
    assert cursor is not None and cursor.name == "20260416" and cursor.offset == (logs / "20260416").stat().st_size
    assert health["pbs"].last_error == "" and health["pbs"].watermark == NOW


def test_reading_again_changes_nothing(engine: Engine, settings: Settings, logs: Path) -> None:
    for name in ("20260415", "20260416"):
        shutil.copy(FIXTURES / name, logs / name)
    poll(engine, settings, logs)
    before = (usage(engine), segments(engine))
    poll(engine, settings, logs, since=None)  # from the stored position: nothing new
    poll(engine, settings, logs)  # everything again from the first day: replaces, never adds
    assert (usage(engine), segments(engine)) == before
    with engine.connect() as conn:
        nodes = dict(conn.execute(select(Job.job_id, Job.node_list).where(Job.job_id.in_(["1001.pbs01", "1006.pbs01"]))).all())
    # from exec_host; the open run 1006, charged on from the ledger with no record in hand, keeps its host
    assert nodes == {"1001.pbs01": "g001,g002", "1006.pbs01": "g009"}
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(IngestError)) == 7


def test_an_older_file_read_again_never_reopens_an_ended_run(engine: Engine, settings: Settings, logs: Path) -> None:
    for name in ("20260415", "20260416"):
        shutil.copy(FIXTURES / name, logs / name)
    poll(engine, settings, logs)
    (logs / "20260416").unlink()  # archived: only the day with 1007's S record is left
    poll(engine, settings, logs)
    assert segments(engine)[(1007 * RAW, 1776258000)] == ("COMPLETED", 14400, 115200)
    assert usage(engine) == {"h100": H100, "h200": H200}


def test_incremental_reads_with_partial_lines_and_a_new_day(engine: Engine, settings: Settings, logs: Path) -> None:
    day1 = (FIXTURES / "20260415").read_bytes()
    day2 = (FIXTURES / "20260416").read_bytes()
    cut = day1.index(b"\n", len(day1) // 2) + 1
    path = logs / "20260415"
    path.write_bytes(day1[:cut] + day1[cut : cut + 40])  # ends inside a record PBS is still writing
    poll(engine, settings, logs, now=NOW)
    with engine.connect() as conn:
        cursor = load_cursor(conn, "p1")
    assert cursor is not None and cursor.offset == cut
    with path.open("ab") as handle:
        handle.write(day1[cut + 40 :])
    poll(engine, settings, logs, since=None)
    (logs / "20260416").write_bytes(day2)
    poll(engine, settings, logs, since=None)
    assert usage(engine) == {"h100": H100, "h200": H200}
    with engine.connect() as conn:
        lines = sorted(n for (n,) in conn.execute(select(IngestError.line_no)))
    assert lines == list(range(23, 30))  # line numbers continue across resumed reads


def test_replaced_and_truncated_files_are_read_again_without_double_counting(
    engine: Engine, settings: Settings, logs: Path
) -> None:
    shutil.copy(FIXTURES / "20260415", logs / "20260415")
    shutil.copy(FIXTURES / "20260416", logs / "20260416")
    poll(engine, settings, logs)
    # Replaced: a new file (new inode) at the same name, one record longer.
    replacement = logs / "20260416.new"
    extra = (
        "04/16/2026 03:00:00;E;1030.pbs01;user=gina group=sakura project=sakura-llm queue=gpu start=1776272400 "
        "end=1776276000 Resource_List.ngpus=1 resources_used.walltime=01:00:00 Exit_status=0 run_count=1\n"
    )
    replacement.write_text((FIXTURES / "20260416").read_text() + extra)
    os.replace(replacement, logs / "20260416")
    result = poll_pbs(engine, settings, pbs_cluster(settings, "p1", accounting_dir=logs), now=NOW)
    assert [f.restarted for f in result.files] == ["replaced (new inode)"]
    assert usage(engine) == {"h100": H100 + 3600, "h200": H200}
    # Truncated in place (same inode, shorter than the position): read from the start, nothing doubles.
    with (logs / "20260416").open("r+b") as handle:
        handle.truncate(10)
    result = poll_pbs(engine, settings, pbs_cluster(settings, "p1", accounting_dir=logs), now=NOW)
    assert [f.restarted for f in result.files] == ["truncated"]
    assert usage(engine) == {"h100": H100 + 3600, "h200": H200}


def test_open_runs_are_charged_on_and_a_failed_start_is_closed(engine: Engine, settings: Settings, logs: Path) -> None:
    s1, s2 = 1776211200, 1776214800  # 09:00 and 10:00 JST
    first = (
        f"04/15/2026 09:00:00;S;2001.pbs01;user=ann group=g project=sakura-llm queue=gpu start={s1} "
        "Resource_List.ngpus=2 Resource_List.walltime=48:00:00\n"
    )
    (logs / "20260415").write_text(first)
    poll(engine, settings, logs, now=s1 + 600)
    assert segments(engine)[(2001 * RAW, s1)] == ("RUNNING", 600, 1200)
    poll(engine, settings, logs, now=s1 + 1800, since=None)  # no new line: the open run is charged on
    assert segments(engine)[(2001 * RAW, s1)] == ("RUNNING", 1800, 3600)
    with (logs / "20260415").open("a") as handle:
        handle.write(first.replace("09:00:00", "10:00:00").replace(f"start={s1}", f"start={s2}"))
    poll(engine, settings, logs, now=s2 + 60, since=None)
    segs = segments(engine)
    assert segs[(2001 * RAW, s1)] == ("START_FAILED", 0, 0)  # started again without an R: the first never ran
    assert segs[(2001 * RAW, s2)] == ("RUNNING", 60, 120)
    assert usage(engine) == {"h100": 120}


def test_an_unreadable_directory_is_recorded_and_writes_nothing(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    with pytest.raises(PbsLogError, match="cannot list"):
        poll(engine, settings, tmp_path / "missing")
    with engine.connect() as conn:
        health = {h.source: h for h in collector_health(conn)}
        assert conn.scalar(select(func.count()).select_from(Job)) == 0
    assert health["pbs"].errors_total == 1 and "missing" in health["pbs"].last_error


# -- the commands ----------------------------------------------------------------------------------------------

_app = typer.Typer(cls=QuotadGroup)


@_app.callback()
def _main(ctx: typer.Context, config: Path = typer.Option(..., "-c")) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s", force=True)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    ctx.obj = AppState(config_path=config)


_app.command("collect-pbs")(collect_pbs)
_app.command("ingest-pbs")(ingest_pbs)


@pytest.fixture
def config(tmp_path: Path, db_url: str, engine: Engine) -> Iterator[Path]:
    path = tmp_path / "quotad.toml"
    path.write_text(
        f'[database]\nurl = "{db_url}"\n'
        '[[clusters]]\nname = "p1"\nscheduler = "pbs"\ndefault_gpu_type = "h100"\ntimezone = "Asia/Tokyo"\n',
        encoding="utf-8",
    )
    yield path


def test_ingest_command_lands_good_lines_and_exits_1(engine: Engine, config: Path) -> None:
    result = CliRunner().invoke(
        _app, ["-c", str(config), "ingest-pbs", str(FIXTURES / "20260415"), str(FIXTURES / "20260416")]
    )
    assert result.exit_code == 1, result.output
    assert "7 refused" in result.output and "0 refused" in result.output
    assert usage(engine)["h200"] == H200
    again = CliRunner().invoke(_app, ["-c", str(config), "ingest-pbs", str(FIXTURES / "20260416")])
    assert again.exit_code == 0 and "1 unchanged" in again.output


def test_collect_command(engine: Engine, config: Path, logs: Path) -> None:
    shutil.copy(FIXTURES / "20260416", logs / "20260416")
    args = ["-c", str(config), "collect-pbs", "--accounting-dir", str(logs), "--since", "2026-04-16", "--json"]
    result = CliRunner().invoke(_app, args)
    assert result.exit_code == 0, result.output
    assert '"result": "ok"' in result.output
    missing = CliRunner().invoke(_app, ["-c", str(config), "collect-pbs"])
    assert missing.exit_code == 2  # no accounting_dir configured and none given


def test_the_daemon_schedules_a_poll_per_pbs_cluster_that_reads_like_collect_pbs(
    engine: Engine, db_url: str, logs: Path
) -> None:
    for name in ("20260415", "20260416"):
        shutil.copy(FIXTURES / name, logs / name)
    settings = make_settings(db_url, clusters=[{**CLUSTERS[0], "pbs": {"accounting_dir": str(logs)}}, CLUSTERS[1]])
    registry = default_registry(runner=SubprocessRunner(), snapshots=SnapshotCache(max_age_s=300))
    jobs = {j.id: j for j in registry.resolve(settings, JobsConfig())}
    assert {"pbs_poll:p1", "slurm_poll:c1"} <= set(jobs) and not {"pbs_poll:c1", "slurm_poll:p1"} & set(jobs)
    poll_job = jobs["pbs_poll:p1"]
    poll_job.definition.func(JobContext(engine, settings, lambda: float(NOW), poll_job.cluster))
    assert usage(engine) == {"h100": H100, "h200": H200}
    poll_job.definition.func(JobContext(engine, settings, lambda: float(NOW + 60), poll_job.cluster))
    assert usage(engine) == {"h100": H100, "h200": H200}  # the next poll reads on from the stored position
