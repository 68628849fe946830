"""The shared ingest path on SQLite and PostgreSQL: idempotent, exact, transactional, with a quarantine."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from quotad.collectors.slurm import ingest_sacct_text
from quotad.config import Settings
from quotad.ledger.ingest import IngestSummary
from quotad.ledger.models import IngestError, Job, UsageHourly
from tests.conftest import make_settings
from tests.helpers import row, sacct_text, utc

NOW = 1_800_000_000



def ingest(engine: Engine, settings: Settings, *rows: str, source: str = "f.txt") -> IngestSummary:
    with engine.begin() as conn:
        return ingest_sacct_text(conn, settings, sacct_text(*rows), source=source, now=NOW)


def rollup(engine: Engine) -> dict[tuple[str, str, str, int], int]:
    """(account, user, gpu_type, hour) -> GPU-seconds, zero rows left out."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                UsageHourly.account,
                UsageHourly.user_name,
                UsageHourly.gpu_type,
                UsageHourly.hour,
                UsageHourly.gpu_seconds,
            )
        ).all()
    return {(a, u, t, h): s for a, u, t, h, s in rows if s}


def by_account(engine: Engine) -> dict[str, int]:
    totals: defaultdict[str, int] = defaultdict(int)
    for (account, _u, _t, _h), seconds in rollup(engine).items():
        totals[account] += seconds
    return dict(totals)


def job_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Job)) or 0)


def test_a_job_spanning_hours_is_split_into_hour_buckets(engine: Engine, settings: Settings) -> None:
    summary = ingest(
        engine,
        settings,
        row(
            "10",
            10,
            start="2026-11-01T00:30:00",
            end="2026-11-01T02:00:00",
            elapsed=5400,
            gpus="gres/gpu:h100=2,gres/gpu=2",
        ),
    )
    assert (summary.inserted, summary.lines_bad) == (1, 0)
    h = utc("2026-11-01T00:00:00")
    assert rollup(engine) == {("acme", "alice", "h100", h): 3600, ("acme", "alice", "h100", h + 3600): 7200}


def test_a_job_across_a_month_boundary_charges_each_month_its_own_seconds(engine: Engine, settings: Settings) -> None:
    ingest(
        engine,
        settings,
        row("1", 1, start="2026-11-30T23:59:00", end="2026-12-01T00:01:00", elapsed=120, gpus="gres/gpu=8"),
    )
    cells = rollup(engine)
    assert cells[("acme", "alice", "h100", utc("2026-11-30T23:00:00"))] == 60 * 8
    assert cells[("acme", "alice", "h100", utc("2026-12-01T00:00:00"))] == 60 * 8


def test_reingesting_the_same_file_changes_nothing(engine: Engine, settings: Settings) -> None:
    rows = [row(str(i), i, elapsed=100 * i, end="2026-11-01T03:00:00") for i in range(1, 30)]
    first = ingest(engine, settings, *rows)
    before = rollup(engine)
    second = ingest(engine, settings, *rows)
    assert (first.inserted, second.inserted, second.updated, second.unchanged) == (29, 0, 0, 29)
    assert rollup(engine) == before
    assert job_count(engine) == 29
    assert sum(before.values()) == sum(100 * i for i in range(1, 30))


def test_overlapping_windows_count_each_segment_once(engine: Engine, settings: Settings) -> None:
    jobs = [row(str(i), i, elapsed=3600, end="2026-11-01T01:00:00", gpus=f"gres/gpu={i % 4 + 1}") for i in range(1, 21)]
    ingest(engine, settings, *jobs[:12], source="window-1")
    ingest(engine, settings, *jobs[8:], source="window-2")
    assert job_count(engine) == 20
    assert by_account(engine) == {"acme": sum(3600 * (i % 4 + 1) for i in range(1, 21))}


def test_a_running_job_is_charged_up_to_now_and_corrected_when_it_completes(engine: Engine, settings: Settings) -> None:
    ingest(engine, settings, row("7", 7, state="RUNNING", start="2026-11-01T00:00:00", elapsed=5400, gpus="gres/gpu=4"))
    assert by_account(engine) == {"acme": 5400 * 4}
    ingest(engine, settings, row("7", 7, state="RUNNING", start="2026-11-01T00:00:00", elapsed=9000, gpus="gres/gpu=4"))
    assert by_account(engine) == {"acme": 9000 * 4}
    done = ingest(
        engine,
        settings,
        row(
            "7",
            7,
            state="COMPLETED",
            start="2026-11-01T00:00:00",
            end="2026-11-01T02:10:00",
            elapsed=7800,
            gpus="gres/gpu=4",
        ),
    )
    assert done.updated == 1
    h = utc("2026-11-01T00:00:00")
    assert rollup(engine) == {
        ("acme", "alice", "h100", h): 14400,
        ("acme", "alice", "h100", h + 3600): 14400,
        ("acme", "alice", "h100", h + 7200): 2400,
    }
    assert job_count(engine) == 1


def test_requeued_job_keeps_and_charges_every_segment(engine: Engine, settings: Settings) -> None:
    ingest(
        engine,
        settings,
        row(
            "55",
            55,
            state="REQUEUED",
            submit="2026-11-01T00:00:00",
            start="2026-11-01T00:00:10",
            end="2026-11-01T00:10:10",
            elapsed=600,
            gpus="gres/gpu=8",
        ),
        row(
            "55",
            55,
            state="COMPLETED",
            submit="2026-11-01T00:10:11",
            start="2026-11-01T00:11:00",
            end="2026-11-01T00:31:00",
            elapsed=1200,
            gpus="gres/gpu=8",
        ),
    )
    with engine.connect() as conn:
        states = conn.execute(
            select(Job.state, Job.charged_seconds).where(Job.job_id_raw == 55).order_by(Job.submit)
        ).all()
    assert [tuple(s) for s in states] == [("REQUEUED", 4800), ("COMPLETED", 9600)]
    assert by_account(engine) == {"acme": (600 + 1200) * 8}


def test_array_tasks_are_separate_segments(engine: Engine, settings: Settings) -> None:
    tasks = [row(f"100_{t}", 101 + t, elapsed=60, end="2026-11-01T00:01:00") for t in range(5)]
    tasks.append(row("100_[5-9]", 100, state="PENDING", start="Unknown", gpus=""))
    ingest(engine, settings, *tasks)
    with engine.connect() as conn:
        ids = sorted(conn.scalars(select(Job.job_id)))
    assert ids == ["100_0", "100_1", "100_2", "100_3", "100_4", "100_[5-9]"]
    assert by_account(engine) == {"acme": 5 * 60}


def test_pending_array_record_becoming_its_last_task_replaces_the_row(engine: Engine, settings: Settings) -> None:
    ingest(engine, settings, row("100_[1-2]", 100, state="PENDING", start="Unknown", gpus=""))
    ingest(engine, settings, row("100_2", 100, state="COMPLETED", end="2026-11-01T00:01:40", elapsed=100))
    with engine.connect() as conn:
        assert list(conn.scalars(select(Job.job_id))) == ["100_2"]
    assert by_account(engine) == {"acme": 100}


def test_multi_type_job_charges_each_type(engine: Engine, settings: Settings) -> None:
    ingest(
        engine,
        settings,
        row("9", 9, elapsed=100, end="2026-11-01T00:01:40", gpus="gres/gpu=6,gres/gpu:a100=2,gres/gpu:h100=4"),
    )
    types = {t: s for (_a, _u, t, _h), s in rollup(engine).items()}
    assert types == {"a100": 200, "h100": 400}


def test_an_account_change_moves_the_charge(engine: Engine, settings: Settings) -> None:
    ingest(engine, settings, row("9", 9, elapsed=100, end="2026-11-01T00:01:40", account="old"))
    ingest(engine, settings, row("9", 9, elapsed=100, end="2026-11-01T00:01:40", account="new"))
    assert by_account(engine) == {"new": 100}


def test_the_same_key_twice_in_one_file_keeps_the_last(engine: Engine, settings: Settings) -> None:
    ingest(
        engine,
        settings,
        row("3", 3, state="RUNNING", elapsed=50),
        row("3", 3, state="COMPLETED", elapsed=70, end="2026-11-01T00:01:10"),
    )
    assert by_account(engine) == {"acme": 70}
    assert job_count(engine) == 1


def test_ledger_total_equals_sum_of_elapsed_times_gpus(engine: Engine, settings: Settings) -> None:
    rows = []
    expected = 0
    for i in range(1, 200):
        gpus = (i * 7) % 9
        elapsed = (i * 977) % 20000
        tres = f"gres/gpu:h100={gpus},gres/gpu={gpus}" if gpus else "cpu=1"
        rows.append(
            row(
                str(i),
                i,
                start=f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:07",
                elapsed=elapsed,
                gpus=tres,
                user=f"u{i % 5}",
            )
        )
        expected += elapsed * gpus
    ingest(engine, settings, *rows)
    with engine.connect() as conn:
        charged = conn.scalar(select(func.sum(Job.charged_seconds)))
    assert sum(rollup(engine).values()) == expected == charged


def test_bad_lines_are_quarantined_with_line_numbers_and_good_lines_land(engine: Engine, settings: Settings) -> None:
    summary = ingest(
        engine,
        settings,
        row("1", 1, elapsed=10, end="2026-11-01T00:00:10"),
        "garbage without separators",
        row("3", 3, elapsed=10, end="2026-11-01T00:00:10", cluster="nowhere"),
        row("4", 4, elapsed=10, end="2026-11-01T00:00:10"),
        source="broken.txt",
    )
    assert (summary.records_ok, summary.lines_bad, summary.inserted) == (2, 2, 2)
    with engine.connect() as conn:
        errors = conn.execute(
            select(IngestError.line_no, IngestError.reason, IngestError.line, IngestError.source).order_by(
                IngestError.line_no
            )
        ).all()
    assert [e.line_no for e in errors] == [3, 4]
    assert errors[0].line == "garbage without separators" and errors[0].source == "broken.txt"
    assert "nowhere" in errors[1].reason
    # Re-ingesting the same broken file quarantines the same lines once, and charges nothing twice.
    again = ingest(
        engine,
        settings,
        row("1", 1, elapsed=10, end="2026-11-01T00:00:10"),
        "garbage without separators",
        source="broken.txt",
    )
    assert again.lines_bad == 1
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(IngestError)) == 2
    assert by_account(engine) == {"acme": 20}


def test_a_failed_ingest_writes_nothing(engine: Engine, settings: Settings) -> None:
    from quotad.errors import InputError

    with pytest.raises(InputError), engine.begin() as conn:
        ingest_sacct_text(conn, settings, ["no|header|here", row("1", 1, elapsed=10)], source="x", now=NOW)
    assert job_count(engine) == 0
    assert rollup(engine) == {}


REAL = Path(__file__).parent / "fixtures" / "sacct" / "real-22.05.txt"


def test_real_slurm_22_05_output_is_charged_exactly(engine: Engine, db_url: str) -> None:
    """Output captured from the project's Slurm 22.05 test cluster: requeue, array, het, pending, running."""
    settings = make_settings(db_url, clusters=[{"name": "quotad-test", "default_gpu_type": "h100"}])
    lines = REAL.read_text(encoding="utf-8").splitlines()
    with engine.begin() as conn:
        summary = ingest_sacct_text(conn, settings, lines, source=str(REAL), now=NOW)
    assert summary.lines_bad == 0 and summary.records_ok == len(lines) - 1
    # Independent of the parser: sum ElapsedRaw x the untyped gres/gpu count of every record, per account.
    header = lines[0].split("|")
    expected: defaultdict[str, int] = defaultdict(int)
    for line in lines[1:]:
        rec = dict(zip(header, line.split("|"), strict=True))
        gpus = next((int(t.split("=")[1]) for t in rec["AllocTRES"].split(",") if t.startswith("gres/gpu=")), 0)
        expected[rec["Account"]] += int(rec["ElapsedRaw"]) * gpus
    assert by_account(engine) == {a: s for a, s in expected.items() if s} == {"acme": 41, "sakura": 25, "fuji": 47}
    with engine.connect() as conn:
        segments = conn.execute(select(Job.state, Job.elapsed_raw).where(Job.job_id == "3").order_by(Job.submit)).all()
    assert [tuple(s) for s in segments] == [("REQUEUED", 4), ("COMPLETED", 20)]
    with engine.connect() as conn:
        nodes = {(r.job_id_raw, r.submit): r.node_list for r in conn.execute(select(Job.job_id_raw, Job.submit, Job.node_list))}
    assert sorted(set(nodes.values()), key=str) == [None, "vm"]  # the test cluster is one node, "vm"
    assert sum(n is None for n in nodes.values()) == sum(line.split("|")[header.index("NodeList")] == "None assigned" for line in lines[1:])
    with engine.begin() as conn:
        again = ingest_sacct_text(conn, settings, lines, source=str(REAL), now=NOW)
    assert (again.inserted, again.updated) == (0, 0)


def test_node_list_is_updated_by_re_ingest_and_kept_when_a_source_does_not_say(engine: Engine, settings: Settings) -> None:
    """Nodes arriving later (a file with NodeList after one without) update the row and charge nothing again."""
    line = row("5", 5, elapsed=7200, gpus="gres/gpu:h100=2")
    header = "JobID|JobIDRaw|Cluster|Account|User|Partition|State|Submit|Start|End|ElapsedRaw|AllocTRES|NodeList"

    def load(*rows: str, head: str | None = None) -> tuple[int, int, int]:
        with engine.begin() as conn:
            text = sacct_text(*rows, header=head) if head else sacct_text(*rows)
            s = ingest_sacct_text(conn, settings, text, source="f.txt", now=NOW)
        return s.inserted, s.updated, s.unchanged

    def stored() -> str | None:
        with engine.connect() as conn:
            return conn.scalar(select(Job.node_list))

    assert load(line) == (1, 0, 0) and stored() is None
    charged = rollup(engine)
    assert load(f"{line}|gpu[01-02]", head=header) == (0, 1, 0) and stored() == "gpu[01-02]"
    assert load(line) == (0, 0, 1) and stored() == "gpu[01-02]"  # an old-format file does not erase them
    assert load(f"{line}|gpu[01-02]", head=header) == (0, 0, 1)
    assert load(f"{line}|gpu07", head=header) == (0, 1, 0) and stored() == "gpu07"
    assert rollup(engine) == charged and sum(charged.values()) == 2 * 7200
