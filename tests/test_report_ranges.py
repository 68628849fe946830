"""``quotad report`` over any range through the real CLI, on both databases: months, quarters, ``--since/--until``
and a grant's period in the programme's time zone (Asia/Tokyo), ``--company``, a totals row equal to the sum of
the rows, ``--by user`` with the company, ``--by day|week|month`` series with empty days as zeros, the same
figures in table/csv/md/json (exact GPU-seconds in csv/json), a "nothing found" line; and ``status --now``
evaluated at that instant (GPUs held then, "as of" in the title)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.helpers import HEADER, row

H = 3600


@pytest.fixture
def ready(cli: Cli, tmp_path: Path) -> Cli:
    with cli.config.open("a", encoding="utf-8") as f:
        f.write('\n[programme]\ntimezone = "Asia/Tokyo"\n')
    assert cli("db", "upgrade").exit_code == 0
    cli("company", "add", "acme", "--name-ja", "アクメ", "--name-en", "Acme", "-a", "c1:acme")
    cli("company", "add", "beta", "--name-ja", "ベータ", "--name-en", "Beta", "-a", "c1:beta")
    grant = cli("grant", "set", "acme", "--cluster", "c1", "--gpu-hours", "1000", "--start", "2026-11-01",
                "--end", "2026-12-31")
    assert grant.exit_code == 0, grant.output
    # times are UTC (cluster c1); Tokyo is UTC+9, so 2026-10-31T16:00Z is 2026-11-01 01:00 JST
    jobs = [
        row("1", 1, start="2026-10-31T10:00:00", end="2026-10-31T12:00:00", elapsed=2 * H, gpus="gres/gpu=4"),  # Oct JST
        row("2", 2, start="2026-10-31T16:00:00", end="2026-10-31T19:00:00", elapsed=3 * H, gpus="gres/gpu=2"),  # 11-01 JST
        row("3", 3, start="2026-11-10T00:00:00", end="2026-11-10T05:00:00", elapsed=5 * H, gpus="gres/gpu=1",
            account="beta", user="bob"),
        row("4", 4, start="2026-12-02T00:00:00", end="2026-12-02T01:00:00", elapsed=H, gpus="gres/gpu=8"),
        row("5", 5, start="2026-12-01T00:00:00", end="Unknown", elapsed=0, state="RUNNING", gpus="gres/gpu=16"),
    ]
    path = tmp_path / "sacct.txt"
    path.write_text("\n".join([HEADER, *jobs]) + "\n", encoding="utf-8")
    assert cli("ingest", "sacct", str(path)).exit_code in (0, 1)
    return cli


def records(cli: Cli, *args: str) -> list[dict[str, object]]:
    result = cli("report", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def by_key(rows: list[dict[str, object]], key: str = "company") -> dict[object, dict[str, object]]:
    return {r[key]: r for r in rows}


def test_months_follow_the_programme_time_zone_and_totals_add_up(ready: Cli) -> None:
    october = by_key(records(ready, "--period", "2026-10"))
    assert october["acme"]["gpu_seconds"] == 4 * 2 * H and october["total"]["gpu_seconds"] == 8 * H
    november = by_key(records(ready, "--period", "2026-11"))
    assert november["acme"]["gpu_seconds"] == 2 * 3 * H and november["beta"]["gpu_seconds"] == 5 * H
    assert november["total"]["gpu_seconds"] == 11 * H and november["total"]["share_pct"] == 100.0
    quarter = by_key(records(ready, "--period", "2026-Q4", "--now", "2026-12-03T00:00:00"))
    # Q4 covers all: 8 + 6 + 5 + 8 GPU-h, plus the running job's charged hours up to its last collection
    assert quarter["total"]["gpu_seconds"] == sum(r["gpu_seconds"] for k, r in quarter.items() if k != "total")
    assert quarter["acme"]["gpu_seconds"] >= (8 + 6 + 8) * H


def test_since_until_grant_and_company_filters(ready: Cli) -> None:
    days = by_key(records(ready, "--since", "2026-11-01", "--until", "2026-11-10"))
    assert days["acme"]["gpu_seconds"] == 6 * H and days["beta"]["gpu_seconds"] == 5 * H
    only = records(ready, "--since", "2026-11-01", "--until", "2026-11-10", "--company", "beta")
    assert [r["company"] for r in only] == ["beta", "total"] and only[-1]["gpu_seconds"] == 5 * H
    grant = by_key(records(ready, "--grant", "1", "--now", "2026-12-03T00:00:00"))
    assert set(grant) == {"acme", "total"}  # the grant's company, its whole period
    assert grant["acme"]["gpu_seconds"] >= (6 + 8) * H
    assert ready("report", "--grant", "1", "--period", "2026-11").exit_code == 2
    assert ready("report", "--until", "2026-11-10").exit_code == 2
    assert ready("report", "--company", "nope").exit_code == 2
    assert ready("report", "--period", "2026-Q5").exit_code == 2


def test_by_user_carries_the_company_and_series_show_every_day(ready: Cli) -> None:
    users = records(ready, "--period", "2026-11", "--by", "user")
    assert {(r["user"], r["company"]) for r in users} == {("c1:alice", "acme"), ("c1:bob", "beta"), ("total", None)}
    series = records(ready, "--since", "2026-11-01", "--until", "2026-11-10", "--by", "day")
    assert [r["day"] for r in series][:2] == ["2026-11-01", "2026-11-02"] and len(series) == 11  # 10 days + total
    day = by_key(series, "day")
    assert day["2026-11-01"]["gpu_seconds"] == 6 * H and day["2026-11-02"]["gpu_seconds"] == 0
    assert day["2026-11-10"]["gpu_seconds"] == 5 * H
    weeks = [r["week"] for r in records(ready, "--period", "2026-11", "--by", "week")]
    assert weeks[0] == "2026-W44" and len(weeks) == 7 and weeks[-2] == "2026-W49" and weeks[-1] == "total"
    months = by_key(records(ready, "--period", "2026-Q4", "--by", "month", "--now", "2026-12-03T00:00:00"), "month")
    assert months["2026-10"]["gpu_seconds"] == 8 * H and months["2026-11"]["gpu_seconds"] == 11 * H


def test_every_format_carries_the_same_figures(ready: Cli) -> None:
    args = ("report", "--period", "2026-11")
    as_json = by_key(records(ready, "--period", "2026-11"))
    as_csv = {r["company"]: r for r in csv.DictReader(io.StringIO(ready(*args, "--format", "csv").stdout))}
    assert {k: int(r["gpu_seconds"]) for k, r in as_csv.items()} == {k: r["gpu_seconds"] for k, r in as_json.items()}
    md = ready(*args, "--format", "md").stdout
    table = ready(*args).stdout
    for text in (md, table):
        assert "39,600" in text and "18,000" in text and "total" in text  # GPU-seconds: total and beta
        assert "11.00" in text  # GPU-h of the total


def test_empty_range_says_nothing_found(ready: Cli) -> None:
    empty = ready("report", "--period", "2025-01")
    assert empty.exit_code == 0 and "nothing found" in empty.stdout
    assert "nothing found" in ready("report", "--period", "2025-01", "--format", "md").stdout
    assert json.loads(ready("report", "--period", "2025-01", "--json").stdout) == []


def test_status_now_evaluates_at_that_instant(ready: Cli) -> None:
    before = ready("status", "--now", "2026-11-15T00:00:00")
    assert before.exit_code == 0 and "as of 2026-11-15 09:00 JST" in before.stdout
    then = by_key(json.loads(ready("status", "--now", "2026-11-15T00:00:00", "--json").stdout))
    assert then["acme"]["gpus_held"] == 0  # job 5 (16 GPUs) started on 12-01
    assert then["acme"]["used"] == 6.0  # used up to that instant: job 2 only (job 1 is before the grant)
    later = by_key(json.loads(ready("status", "--now", "2026-12-02T00:30:00", "--json").stdout))
    assert later["acme"]["gpus_held"] == 16 + 8  # job 5 running, job 4 running at 00:30


@pytest.mark.parametrize(
    "args",
    [
        ["report", "--period", "9999-12"],
        ["report", "--period", "0001-01"],
        ["report", "--period", "9999"],
        ["report", "--period", "0001-Q1"],
        ["report", "--since", "0001-01-01"],
        ["report", "--now", "9999-12-31T00:00:00"],
        ["status", "--now", "0001-01-01T00:00:00"],
    ],
)
def test_dates_outside_the_counted_years_are_refused_plainly(ready: Cli, args: list[str]) -> None:
    result = ready(*args)
    assert result.exit_code == 2, result.output
    assert "outside the years quotad counts" in result.output and "Traceback" not in result.output
