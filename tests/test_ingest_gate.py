"""The parsers are the gate: a record the ledger cannot hold or no cluster could produce is quarantined with its
line number and reason, and the rest of the file lands — on SQLite and PostgreSQL, through the real write path.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from quotad.cli.main import app
from quotad.collectors.pbs import ARRAY_SPAN, ingest_pbs_lines, pbs_cluster
from quotad.collectors.slurm import ingest_sacct_text
from quotad.config import Settings
from quotad.ledger.ingest import IngestSummary, sync_clusters
from quotad.ledger.models import IngestError, Job, UsageHourly
from tests.conftest import Cli, make_settings
from tests.helpers import HEADER, row, sacct_text

NOW = 1_800_000_000
GOOD = row("1", 1, elapsed=3600, gpus="gres/gpu:h100=2,gres/gpu=2")
GOOD_SECONDS = 7200


def ingest(engine: Engine, settings: Settings, *lines: str, header: str = HEADER) -> IngestSummary:
    with engine.begin() as conn:
        return ingest_sacct_text(conn, settings, sacct_text(*lines, header=header), source="f.txt", now=NOW)


def charged(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.coalesce(func.sum(UsageHourly.gpu_seconds), 0))) or 0)


def quarantined(engine: Engine) -> list[tuple[int, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(IngestError.line_no, IngestError.reason, IngestError.line).order_by("line_no"))
        return [(int(n), r, t) for n, r, t in rows]


BAD_SACCT = {
    "elapsed_10^12": (row("2", 2, elapsed=10**12, gpus="gres/gpu=1"), "implausible_elapsed"),
    "raw_id_25_digits": (row("3", 10**24, elapsed=60), "integer_range"),
    "elapsed_25_digits": (row("4", 4, elapsed=10**24), "implausible_elapsed"),
    "gpus_25_digits": (row("5", 5, elapsed=60, gpus=f"gres/gpu={10**24}"), "implausible_gpus"),
    "gpus_over_int32": (row("6", 6, elapsed=60, gpus=f"gres/gpu:h100={2**31}"), "implausible_gpus"),
    "gpus_999999999": (row("7", 7, elapsed=3600, gpus="gres/gpu:h100=999999999"), "implausible_gpus"),
    "nul_in_account": (row("8", 8, elapsed=60, account="ac\x00me"), "nul_byte"),
    "nul_in_job_id": (row("9\x00", 9, elapsed=60), "nul_byte"),
    "account_300": (row("10", 10, elapsed=60, account="a" * 300), "too_long"),
    "user_300": (row("11", 11, elapsed=60, user="u" * 300), "too_long"),
    "year_0001": (row("12", 12, submit="0001-01-01T00:00:00", start="0001-01-01T00:00:00"), "implausible_time"),
    "year_9999": (row("13", 13, submit="9999-12-31T00:00:00", start="9999-12-31T00:00:00"), "implausible_time"),
    "epoch_17_digits": (row("14", 14, submit="10000000000000000", start="10000000000000000"), "implausible_time"),
    "state_too_long": (row("15", 15, state="A" * 40), "too_long"),
}


@pytest.mark.parametrize("case", sorted(BAD_SACCT))
def test_a_bad_sacct_line_is_quarantined_and_the_rest_lands(engine: Engine, settings: Settings, case: str) -> None:
    bad, code = BAD_SACCT[case]
    summary = ingest(engine, settings, GOOD, bad, GOOD.replace("1|1|", "16|16|", 1))
    assert (summary.records_ok, summary.lines_bad, summary.inserted) == (2, 1, 2)
    assert dict(summary.refused) == {code: 1}
    assert charged(engine) == 2 * GOOD_SECONDS
    [(line_no, reason, text)] = quarantined(engine)
    assert line_no == 3  # header is line 1
    assert reason
    assert "\x00" not in text and text.replace("\\x00", "\x00") == bad
    with engine.connect() as conn:
        assert conn.scalar(select(IngestError.code)) == code


def test_a_bad_node_list_is_quarantined_by_its_kind(engine: Engine, settings: Settings) -> None:
    """NodeList only says where a job ran, but a NUL (PostgreSQL refuses it) or a garbled hostlist is bad input."""
    lines = (f"{GOOD}|gpu[01-02]", row("2", 2, elapsed=60) + "|gp\x00u01", row("3", 3, elapsed=60) + "|gpu[3-1]")
    summary = ingest(engine, settings, *lines, header=f"{HEADER}|NodeList")
    assert (summary.records_ok, dict(summary.refused)) == (1, {"nul_byte": 1, "invalid": 1})
    assert [(n, r) for n, r, _ in quarantined(engine)][1] == (4, "NodeList: hostlist 'gpu[3-1]': range '3-1' runs backwards")


def test_a_quarantined_line_with_a_nul_byte_anywhere_is_stored_escaped(engine: Engine, settings: Settings) -> None:
    header = HEADER + "|JobName"
    bad = row("2", 2, elapsed=-5) + "|name\x00with nul"
    summary = ingest(engine, settings, GOOD + "|ok", bad, header=header)
    assert (summary.records_ok, summary.lines_bad) == (1, 1)
    [(line_no, _reason, text)] = quarantined(engine)
    assert (line_no, text) == (3, bad.replace("\x00", "\\x00"))


def test_a_pending_array_job_id_of_ninety_characters_lands(engine: Engine, settings: Settings) -> None:
    job_id = "900_[" + ",".join(str(i) for i in range(1, 60, 2)) + "]"
    assert len(job_id) >= 90
    summary = ingest(engine, settings, row(job_id, 900, state="PENDING", start="Unknown", gpus="gres/gpu=8"))
    assert (summary.inserted, summary.lines_bad) == (1, 0)
    with engine.connect() as conn:
        assert conn.scalar(select(Job.job_id)) == job_id


def test_long_account_user_and_partition_names_land(engine: Engine, settings: Settings) -> None:
    names = {"account": "a" * 100, "user": "u" * 100, "partition": "p" * 100}
    summary = ingest(engine, settings, row("1", 1, elapsed=60, gpus="gres/gpu=1", **names))
    assert (summary.inserted, summary.lines_bad) == (1, 0)
    assert charged(engine) == 60


def test_configured_bounds_refuse_what_the_cluster_cannot_run(db_url: str, engine: Engine) -> None:
    clusters = [
        {"name": "c1", "default_gpu_type": "h100", "timezone": "UTC", "max_job_seconds": 86400, "gpu_count": 16}
    ]
    settings = make_settings(db_url, clusters=clusters, programme={"first_year": 2025, "last_year": 2027})
    summary = ingest(
        engine,
        settings,
        GOOD,
        row("2", 2, elapsed=86401, gpus="gres/gpu=1"),
        row("3", 3, elapsed=60, gpus="gres/gpu=17"),
        row("4", 4, elapsed=60, submit="2024-12-31T23:59:59", start="2025-01-01T00:00:00"),
        row("5", 5, elapsed=86400, gpus="gres/gpu=16"),
    )
    assert dict(summary.refused) == {"implausible_elapsed": 1, "implausible_gpus": 1, "implausible_time": 1}
    assert charged(engine) == GOOD_SECONDS + 86400 * 16


def test_a_byte_order_mark_before_the_header_is_not_part_of_it(engine: Engine, settings: Settings) -> None:
    summary = ingest(engine, settings, GOOD, header="\ufeff" + HEADER)
    assert (summary.inserted, summary.lines_bad) == (1, 0)


def test_a_file_with_a_bom_through_the_cli(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(("\ufeff" + "\n".join(sacct_text(GOOD)) + "\n").encode("utf-8"))
    assert cli("db", "upgrade").exit_code == 0
    result = cli("ingest", "sacct", str(path))
    assert result.exit_code == 0, result.output
    assert "1 new" in result.output


def test_invalid_utf8_on_stdin_is_refused_like_in_a_file(cli: Cli, engine: Engine) -> None:
    bad = row("2", 2, elapsed=60, account="x").encode().replace(b"|x|", b"|\xff\xfe|")
    data = b"\n".join([HEADER.encode(), GOOD.encode(), bad, b"\xc3"]) + b"\n"
    result = cli.runner.invoke(app, ["-c", str(cli.config), "ingest", "sacct", "-"], input=data)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1
    # As from a named file: the undecodable bytes become U+FFFD (that account lands), the stray byte line is refused.
    assert "2 new" in result.output and "1 refused" in result.output
    assert charged(engine) == GOOD_SECONDS + 60


PBS_CLUSTERS = [{"name": "p1", "scheduler": "pbs", "default_gpu_type": "h100", "timezone": "Asia/Tokyo"}]
PBS_END = (
    "04/15/2026 10:30:05;E;{seq}.pbs01;user=alice group=sakura project=sakura-llm queue=gpu start=1776211205 "
    "end=1776216605 Exit_status=0 Resource_List.ngpus={gpus} resources_used.walltime={walltime} run_count=1"
)


@pytest.mark.parametrize(
    ("seq", "gpus", "walltime", "code"),
    [
        ("1002", "8", "99999999999", "implausible_elapsed"),
        ("1" * 25, "8", "01:00:00", "integer_range"),
        ("1003", str(10**24), "01:00:00", "implausible_gpus"),
        ("1004", str(2**31), "01:00:00", "implausible_gpus"),
    ],
)
def test_a_bad_pbs_record_is_quarantined_and_the_rest_lands(
    db_url: str, engine: Engine, seq: str, gpus: str, walltime: str, code: str
) -> None:
    settings = make_settings(db_url, clusters=PBS_CLUSTERS)
    cluster = pbs_cluster(settings, "p1", accounting_dir=Path("/nonexistent"))
    good = PBS_END.format(seq="1001", gpus="8", walltime="01:30:00")
    bad = PBS_END.format(seq=seq, gpus=gpus, walltime=walltime)
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        written = ingest_pbs_lines(conn, cluster, [(1, good), (2, bad)], source="acct", now=NOW)
    assert (written.summary.inserted, written.summary.lines_bad) == (1, 1)
    assert dict(written.summary.refused) == {code: 1}
    assert charged(engine) == 5400 * 8
    assert [n for n, _r, _t in quarantined(engine)] == [2]
    with engine.connect() as conn:
        assert conn.scalar(select(Job.job_id_raw)) == 1001 * ARRAY_SPAN


def test_an_open_pbs_run_with_an_absurd_walltime_limit_is_stored(db_url: str, engine: Engine) -> None:
    settings = make_settings(db_url, clusters=PBS_CLUSTERS)
    cluster = pbs_cluster(settings, "p1", accounting_dir=Path("/nonexistent"))
    start = (
        "04/15/2026 09:00:05;S;1001.pbs01;user=alice group=sakura project=p queue=gpu start=1776211205 "
        "Resource_List.ngpus=8 Resource_List.walltime=" + "9" * 25
    )
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        written = ingest_pbs_lines(conn, cluster, [(1, start)], source="acct", now=1776211205 + 600)
    assert (written.summary.inserted, written.summary.lines_bad) == (1, 0)
    assert charged(engine) == 600 * 8
