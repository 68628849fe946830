"""The command line end to end on both databases: exit codes, messages, JSON and the schema check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.helpers import HEADER, row


@pytest.fixture
def ready(cli: Cli) -> Cli:
    assert cli("db", "upgrade").exit_code == 0
    return cli


def test_help_at_every_level(cli: Cli) -> None:
    for args in (
        [],
        ["db"],
        ["company"],
        ["grant"],
        ["ingest"],
        ["status"],
        ["report"],
        ["demo"],
        ["company", "add"],
        ["grant", "set"],
        ["ingest", "sacct"],
    ):
        result = cli(*args, "--help")
        assert result.exit_code == 0, (args, result.output)
        assert "Usage" in result.output


def test_commands_refuse_a_missing_schema(cli: Cli) -> None:
    result = cli("status")
    assert result.exit_code == 2
    assert "quotad db upgrade" in result.stderr


def test_db_upgrade_twice(cli: Cli) -> None:
    first, second = cli("db", "upgrade"), cli("db", "upgrade")
    assert first.exit_code == second.exit_code == 0
    assert "upgraded from (empty)" in first.stdout and "already at revision" in second.stdout


def test_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[database]\nurl = "sqlite:///x"\n[[clusters]]\nname = "c1"\ndefault_gpu_type = "v100"\n')
    result = Cli(path)("status")
    assert result.exit_code == 2 and "v100" in result.stderr and "[gpu_types]" in result.stderr


def test_company_and_grant_commands(ready: Cli) -> None:
    add = ready(
        "company",
        "add",
        "sakura",
        "--name-ja",
        "さくらAI株式会社",
        "--name-en",
        "Sakura AI",
        "-a",
        "c1:sakura",
        "-a",
        "c2:sakura-llm",
        "--contact",
        "ops@sakura.example.jp",
        "--contact",
        "cto@sakura.example.com:en",
    )
    assert add.exit_code == 0, add.output
    listed = json.loads(ready("company", "list", "--json").stdout)
    assert listed == [
        {
            "id": "sakura",
            "name_ja": "さくらAI株式会社",
            "name_en": "Sakura AI",
            "accounts": "c1:sakura c2:sakura-llm",
            "contacts": "ops@sakura.example.jp:ja cto@sakura.example.com:en",
        }
    ]
    grant = ready(
        "grant",
        "set",
        "sakura",
        "--cluster",
        "c1",
        "--gpu-hours",
        "120000",
        "--start",
        "2026-10-01",
        "--end",
        "2027-03-31",
        "--plan",
        "2026-10=10000",
        "--plan",
        "2026-11=20000",
    )
    assert grant.exit_code == 0, grant.output
    pool = ready(
        "grant", "set", "sakura", "--pool", "--eflops-hours", "12.5", "--start", "2026-10-01", "--end", "2027-03-31"
    )
    assert pool.exit_code == 0, pool.output
    grants = json.loads(ready("grant", "list", "--company", "sakura", "--json").stdout)
    assert [(g["cluster"], g["amount"], g["unit"], g["start"], g["last_day"], g["plan_months"]) for g in grants] == [
        ("pool", 12.5, "EFLOPS-h", "2026-10-01", "2027-03-31", 0),
        ("c1", 120000.0, "GPU-h (H100)", "2026-10-01", "2027-03-31", 2),
    ]
    shown = json.loads(ready("company", "show", "sakura", "--json").stdout)
    assert shown["accounts"] == ["c1:sakura", "c2:sakura-llm"] and len(shown["rows"]) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["company", "add", "Bad Id", "--name-ja", "x", "--name-en", "y"], "company id 'Bad Id'"),
        (["company", "add", "x", "--name-ja", "x", "--name-en", "y", "-a", "nocolon"], "CLUSTER:ACCOUNT"),
        (["company", "add", "x", "--name-ja", "x", "--name-en", "y", "-a", "c9:x"], "no cluster named 'c9'"),
        (["company", "add", "x", "--name-ja", "x", "--name-en", "y", "--contact", "not-mail"], "not an email"),
        (["company", "show", "acne"], "no company named 'acne'"),
        (
            [
                "grant",
                "set",
                "acne",
                "--cluster",
                "c1",
                "--gpu-hours",
                "1",
                "--start",
                "2026-10-01",
                "--end",
                "2026-10-31",
            ],
            "no company named 'acne'",
        ),
        (["grant", "list", "--company", "acne"], "no company named 'acne'"),
        (["report", "--period", "2026-13"], "expected YYYY-MM"),
        (["report", "--by", "colour"], "--by 'colour'"),
        (["status", "--now", "yesterday"], "--now 'yesterday'"),
        (["status", "--format", "xml"], "--format 'xml'"),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(ready: Cli, args: list[str], message: str) -> None:
    result = ready(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_grant_argument_combinations(ready: Cli) -> None:
    ready("company", "add", "a", "--name-ja", "x", "--name-en", "y")
    base = ["grant", "set", "a", "--start", "2026-10-01", "--end", "2026-10-31"]
    assert "exactly one of --cluster" in ready(*base, "--gpu-hours", "1").stderr
    assert "exactly one of --gpu-hours" in ready(*base, "--pool", "--gpu-hours", "1", "--eflops-hours", "1").stderr
    assert "--gpu-type is required" in ready(*base, "--pool", "--gpu-hours", "1").stderr
    assert (
        "after its start"
        in ready(
            "grant", "set", "a", "--cluster", "c1", "--gpu-hours", "1", "--start", "2026-10-02", "--end", "2026-09-30"
        ).stderr
    )


def test_ingest_partial_file_exits_1_and_errors_are_listed(ready: Cli, tmp_path: Path) -> None:
    path = tmp_path / "sacct.txt"
    path.write_text(
        "\n".join(
            [
                HEADER,
                row("1", 1, elapsed=3600, end="2026-11-01T01:00:00"),
                "1|2|3",
                row("3", 3, elapsed=60, cluster="elsewhere"),
            ]
        )
        + "\n"
    )
    result = ready("ingest", "sacct", str(path))
    assert result.exit_code == 1
    assert "1 new" in result.stdout and "2 refused" in result.stdout
    assert f"{path}:3:" in result.stderr and f"{path}:4:" in result.stderr
    errors = json.loads(ready("ingest", "errors", "--json").stdout)
    assert sorted((e["line_no"], e["line"]) for e in errors) == [
        (3, "1|2|3"),
        (4, row("3", 3, elapsed=60, cluster="elsewhere")),
    ]
    again = ready("ingest", "sacct", "-", input=path.read_text())
    assert again.exit_code == 1 and "0 new" in again.stdout and "1 unchanged" in again.stdout


def test_ingest_missing_file_and_bad_header(ready: Cli, tmp_path: Path) -> None:
    missing = ready("ingest", "sacct", str(tmp_path / "nope.txt"))
    assert missing.exit_code == 2 and "cannot read" in missing.stderr
    headless = tmp_path / "noheader.txt"
    headless.write_text(row("1", 1) + "\n")
    result = ready("ingest", "sacct", str(headless))
    assert result.exit_code == 1 and "--noheader" in result.stderr


def test_status_and_report_outputs(ready: Cli, tmp_path: Path) -> None:
    ready("company", "add", "acme", "--name-ja", "アクメ", "--name-en", "Acme", "-a", "c1:acme")
    ready(
        "grant", "set", "acme", "--cluster", "c1", "--gpu-hours", "100", "--start", "2026-11-01", "--end", "2027-04-30"
    )
    path = tmp_path / "s.txt"
    path.write_text(
        "\n".join(
            [
                HEADER,
                row("1", 1, start="2026-11-03T00:00:00", end="2026-11-03T05:00:00", elapsed=18000, gpus="gres/gpu=2"),
            ]
        )
    )
    assert ready("ingest", "sacct", str(path)).exit_code == 0
    status = json.loads(ready("status", "--now", "2026-11-05T00:00:00", "--json").stdout)
    assert status[0]["company"] == "acme" and status[0]["used"] == 10.0 and status[0]["used_pct"] == 10.0
    table = ready("status", "--now", "2026-11-05T00:00:00")
    assert table.exit_code == 0 and "Acme" in table.stdout and "GPU-h (H100)" in table.stdout
    csv_out = ready("report", "--period", "2026-11", "--format", "csv").stdout.splitlines()
    assert csv_out[0].startswith("company,gpu_hours_h100,gpu_hours,gpu_seconds")
    assert csv_out[1].startswith("acme,10.0,10.0,36000,")
    md = ready("report", "--period", "2026-11", "--by", "user", "--format", "md").stdout
    assert "| c1:alice |" in md
    empty = json.loads(ready("report", "--period", "2026-10", "--json").stdout)
    assert empty == []


def test_status_now_on_an_hour_boundary_counts_only_the_hours_before_it(ready: Cli, tmp_path: Path) -> None:
    """``--now 2026-07-01T00:00:00`` counts usage strictly before that instant: the hour starting then is not in
    it; one second later it is (cells are whole hours: the hour begun is counted as far as it was collected)."""
    ready("company", "add", "acme", "--name-ja", "アクメ", "--name-en", "Acme", "-a", "c1:acme")
    ready("grant", "set", "acme", "--cluster", "c1", "--gpu-hours", "100", "--start", "2026-06-01", "--end", "2026-12-31")
    path = tmp_path / "s.txt"
    run = {"start": "2026-06-30T22:00:00", "end": "2026-07-01T02:00:00", "elapsed": 4 * 3600, "gpus": "gres/gpu=2"}
    path.write_text("\n".join([HEADER, row("1", 1, **run), row("2", 2, account="ghost", **run)]))
    assert ready("ingest", "sacct", str(path)).exit_code == 0
    for now, used in (("2026-07-01T00:00:00", 4.0), ("2026-07-01T00:00:01", 6.0), ("2026-06-30T23:59:59", 4.0)):
        [acme] = json.loads(ready("status", "--now", now, "--json").stdout)
        assert acme["used"] == used, now
        table = ready("status", "--now", now).stdout
        assert f"c1:ghost {used:.1f} GPU-h" in table, now
