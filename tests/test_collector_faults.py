"""Faults around the write path: a poll the ledger refuses, a slow sacct beside other writers, concurrent ingests.

Every test goes through the real CLI (in-process or as separate processes) against SQLite and PostgreSQL.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from quotad.config import Settings
from quotad.ledger.collector_state import collector_health
from quotad.ledger.ingest import WRITE_FAILED, sync_clusters
from quotad.ledger.models import IngestError, Job, UsageHourly
from tests.conftest import CLUSTERS, Cli
from tests.helpers import HEADER, row

GOOD = [row(str(i), i, elapsed=600, gpus="gres/gpu=2") for i in range(1, 6)]
POISON = row("99", 99, elapsed=600, gpus="gres/gpu=2", account="poison")


def fake_sacct(tmp_path: Path, lines: list[str], *, before: str = "") -> Path:
    """An executable that prints ``lines`` after the header, having run ``before`` (Python) first."""
    data = tmp_path / "sacct.out"
    data.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    path = tmp_path / "sacct"
    body = f"import sys\n{textwrap.dedent(before)}\nsys.stdout.write(open({str(data)!r}, encoding='utf-8').read())\n"
    path.write_text(f"#!{sys.executable}\n{body}", encoding="utf-8")
    path.chmod(0o755)
    return path


def collect_config(tmp_path: Path, db_url: str, sacct: Path) -> Path:
    path = tmp_path / "collect.toml"
    clusters = "".join(
        f'\n[[clusters]]\nname = "{c["name"]}"\ndefault_gpu_type = "{c["default_gpu_type"]}"\n'
        f'timezone = "{c["timezone"]}"\n[clusters.sacct]\ncommand = "{sacct}"\n'
        for c in CLUSTERS
    )
    path.write_text(f'[database]\nurl = "{db_url}"\n{clusters}', encoding="utf-8")
    return path


def poison_trigger(engine: Engine) -> None:
    """A refusal the gate cannot know about: the database itself rejects any job of account 'poison'."""
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER poison BEFORE INSERT ON jobs WHEN NEW.account = 'poison' "
                    "BEGIN SELECT RAISE(ABORT, 'poisoned record'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    "IF NEW.account = 'poison' THEN RAISE EXCEPTION 'poisoned record'; END IF; RETURN NEW; END $$"
                )
            )
            conn.execute(text("CREATE TRIGGER poison BEFORE INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION poison()"))


def charged(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.coalesce(func.sum(UsageHourly.gpu_seconds), 0))) or 0)


def test_a_poll_the_ledger_refuses_is_recorded_and_the_next_moves_past_the_record(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    config = collect_config(tmp_path, db_url, fake_sacct(tmp_path, [GOOD[0], POISON, *GOOD[1:]]))
    cli = Cli(config)
    poison_trigger(engine)

    first = cli("collect", "slurm", "--cluster", "c1", "--since", "2026-10-01")
    assert first.exit_code == 1
    assert first.exception is None or isinstance(first.exception, SystemExit), first.exception
    assert "Traceback" not in first.output and "failed" in first.output
    with engine.connect() as conn:
        [health] = collector_health(conn)
        assert conn.scalar(select(func.count()).select_from(Job)) == 0
    assert health.errors_total == 1 and health.last_error.startswith(WRITE_FAILED)
    assert "poisoned record" in health.last_error and health.watermark is None

    second = cli("collect", "slurm", "--cluster", "c1", "--since", "2026-10-01", "--json")
    assert second.exit_code == 1  # a line was refused
    assert "Traceback" not in second.output
    assert charged(engine) == 5 * 600 * 2
    with engine.connect() as conn:
        [health] = collector_health(conn)
        [(reason, line)] = conn.execute(select(IngestError.reason, IngestError.line)).all()
    assert health.last_error == "" and health.watermark is not None and health.errors_total == 1
    assert "poisoned record" in reason and "|poison|" in line

    third = cli("collect", "slurm", "--cluster", "c1", "--since", "2026-10-01")
    assert "Traceback" not in third.output
    assert charged(engine) == 5 * 600 * 2


def test_a_slow_sacct_does_not_hold_the_sqlite_write_lock(engine: Engine, db_url: str, tmp_path: Path) -> None:
    """While sacct runs, another writer gets the ledger at once (busy timeout 0: a held lock fails it)."""
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL has no database-wide write lock")
    database = db_url.removeprefix("sqlite:///")
    marker = tmp_path / "written"
    before = f"""
        import sqlite3
        db = sqlite3.connect({database!r}, timeout=0, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO companies (id, name_ja, name_en, created_at) VALUES ('beside', 'x', 'x', 0)")
        db.execute("COMMIT")
        open({str(marker)!r}, "w").close()
    """
    cli = Cli(collect_config(tmp_path, db_url, fake_sacct(tmp_path, GOOD, before=before)))
    result = cli("collect", "slurm", "--cluster", "c1", "--since", "2026-10-01")
    assert result.exit_code == 0, result.output
    assert marker.exists()
    assert charged(engine) == 5 * 600 * 2


def sacct_rows(raw_ids: range | list[int], *, seconds: int) -> list[str]:
    return [
        row(str(i), i, elapsed=seconds, gpus="gres/gpu=4", account=f"acct{i % 5}", user=f"u{i % 3}") for i in raw_ids
    ]


def _row_lock_holders(engine: Engine) -> int:
    """Processes holding or awaiting row locks on this schema's jobs table (what an insert takes)."""
    with engine.connect() as conn:
        return int(conn.scalar(text("SELECT count(DISTINCT pid) FROM pg_locks WHERE relation = 'jobs'::regclass")) or 0)


def _until(predicate: Callable[[], bool], limit_s: float = 10.0) -> None:
    """Orders the steps below where the ingest streams its input in its transaction; an ingest that reads all
    its input before writing never satisfies it, and the steps go on after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.2)


class Ingest:
    """``quotad ingest sacct -`` in its own process, fed through its stdin step by step.

    Feeding happens in a thread: a process blocked in the database reads no input, and a full pipe would
    otherwise block the test itself.
    """

    def __init__(self, config: Path) -> None:
        argv = [sys.executable, "-m", "quotad", "-c", str(config), "ingest", "sacct", "-"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)  # fmt: skip
        assert self.proc.stdin is not None
        self.stdin = self.proc.stdin
        self.writer: threading.Thread | None = None

    def feed(self, lines: list[str], *, last: bool = False) -> None:
        previous = self.writer

        def write() -> None:
            if previous is not None:
                previous.join()
            try:
                self.stdin.write("\n".join(lines) + "\n")
                self.stdin.flush()
                if last:
                    self.stdin.close()
            except BrokenPipeError:  # the process died; its exit status tells why
                pass

        self.writer = threading.Thread(target=write, daemon=True)
        self.writer.start()

    def result(self) -> tuple[int, str]:
        try:
            self.proc.wait(timeout=300)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        assert self.proc.stderr is not None
        return self.proc.returncode, self.proc.stderr.read()[-3000:]


def test_two_concurrent_ingests_of_the_same_file_give_the_totals_of_one(
    engine: Engine, config_file: Path, db_url: str, settings: Settings
) -> None:
    with engine.begin() as conn:  # as in a running ledger: the clusters are there, committed
        sync_clusters(conn, settings)
    rows = sacct_rows(range(1, 20001), seconds=5400)
    first, second = Ingest(config_file), Ingest(config_file)
    postgres = db_url.startswith("postgresql")
    first.feed([HEADER, *rows])  # four whole batches: all written, uncommitted, while stdin stays open
    if postgres:
        _until(lambda: _row_lock_holders(engine) >= 1)
    second.feed([HEADER, *rows])  # its inserts meet the first one's uncommitted rows
    if postgres:
        _until(lambda: _row_lock_holders(engine) >= 2)
    first.feed([], last=True)
    second.feed([], last=True)
    results = [first.result(), second.result()]
    assert [code for code, _err in results] == [0, 0], results
    assert charged(engine) == 20000 * 5400 * 4


def test_two_concurrent_overlapping_ingests_give_the_totals_of_one_clean_ingest(
    engine: Engine, config_file: Path, db_url: str, settings: Settings
) -> None:
    with engine.begin() as conn:  # as in a running ledger: the clusters are there, committed
        sync_clusters(conn, settings)
    # The same jobs in opposite orders, interleaved: each ingest inserts rows the other one will need.
    ids = list(range(1, 20001))
    forward, backward = sacct_rows(ids, seconds=5400), sacct_rows(ids[::-1], seconds=5400)
    first, second = Ingest(config_file), Ingest(config_file)
    postgres = db_url.startswith("postgresql")
    first.feed([HEADER, *forward[:10000]])
    if postgres:
        _until(lambda: _row_lock_holders(engine) >= 1)
    second.feed([HEADER, *backward[:10000]])
    if postgres:
        _until(lambda: _row_lock_holders(engine) >= 2)
    first.feed(forward[10000:], last=True)
    second.feed(backward[10000:], last=True)
    results = [first.result(), second.result()]
    assert [code for code, _err in results] == [0, 0], results
    assert charged(engine) == 20000 * 5400 * 4
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Job)) == 20000


PBS_END = (
    "04/15/2026 10:30:05;E;{seq}.pbs01;user=alice group=g project={project} queue=gpu start=1776211205 "
    "end=1776216605 Exit_status=0 Resource_List.ngpus=8 resources_used.walltime=01:30:00 run_count=1"
)


def test_a_pbs_poll_the_ledger_refuses_is_recorded_and_the_next_moves_past_the_record(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    logs = tmp_path / "accounting"
    logs.mkdir()
    lines = [PBS_END.format(seq=1, project="good"), PBS_END.format(seq=2, project="poison"), ""]
    (logs / "20260415").write_text("\n".join(lines), encoding="utf-8")
    config = tmp_path / "pbs.toml"
    config.write_text(
        f'[database]\nurl = "{db_url}"\n[[clusters]]\nname = "p1"\nscheduler = "pbs"\ndefault_gpu_type = "h100"\n'
        f'[clusters.pbs]\naccounting_dir = "{logs}"\n',
        encoding="utf-8",
    )
    cli = Cli(config)
    poison_trigger(engine)
    first = cli("collect", "pbs", "--since", "2026-04-15")
    assert first.exit_code == 1 and "Traceback" not in first.output, first.output
    with engine.connect() as conn:
        [health] = collector_health(conn)
    assert health.errors_total == 1 and health.last_error.startswith(WRITE_FAILED)
    second = cli("collect", "pbs", "--since", "2026-04-15")
    assert second.exit_code == 1 and "Traceback" not in second.output  # the poisoned line is refused
    assert charged(engine) == 5400 * 8
    with engine.connect() as conn:
        [health] = collector_health(conn)
        reasons = list(conn.scalars(select(IngestError.reason)))
    assert health.last_error == "" and any("poisoned record" in r for r in reasons)
