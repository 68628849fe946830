"""Compute per model (#17): ``eval link`` by job ids or an account's time range, resolved against the ledger,
shown on the leaderboard and in the committee pack; "company total" said where nothing is linked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from quotad.collectors.slurm import ingest_sacct_text
from quotad.config import Settings
from quotad.plugins.api import Bilingual, CommitteeRequest, LedgerView
from quotad.plugins.eval.committee import committee
from quotad.units import GpuCatalog
from tests.helpers import row, sacct_text
from tests.test_eval_board import ingest_programme_results
from tests.test_plugin_common import (
    NOW,
    PluginCli,
    ledger,
    plugin_cli,
    plugin_tables,
    registry,
    seed_programme,
    with_builtins,
)

__all__ = ["ledger", "plugin_cli", "plugin_tables", "registry", "with_builtins"]

#: sakura's second job: 4 H100 x 18,000 s = 20 GPU-h on 2026-11-05; the company total becomes 120 GPU-h.
SECOND_JOB = row(
    "3", 3, start="2026-11-05T00:00:00", end="2026-11-05T05:00:00", elapsed=18000, gpus="gres/gpu=4", account="sakura"
)


@pytest.fixture
def cli(plugin_cli: PluginCli, ledger: Engine, settings: Settings, tmp_path: Path) -> PluginCli:
    seed_programme(ledger, settings)
    with ledger.begin() as conn:
        ingest_sacct_text(conn, settings, sacct_text(SECOND_JOB), source="seed2", now=NOW, timezone="UTC")
    ingest_programme_results(ledger, settings, tmp_path)
    return plugin_cli


def board(cli: PluginCli, *args: str) -> dict[str, Any]:
    result = cli("eval", "leaderboard", "--format", "json", "--now", "2026-11-25T00:00:00", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def by_model(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["model"]: r for r in data["rows"]}


def test_unlinked_models_say_company_total(cli: PluginCli) -> None:
    rows = by_model(board(cli))
    for model in ("sakura-13b-v1", "sakura-13b-v1-instruct"):
        assert rows[model]["gpu_hours"] == 120.0 and rows[model]["compute_basis"] == "company total"


def test_link_by_job_ids_and_by_account_range(cli: PluginCli) -> None:
    jobs = cli("eval", "link", "--company", "sakura", "--model", "sakura-13b-v1", "--jobs", "1")
    assert jobs.exit_code == 0, jobs.output
    assert "linked to 1 job segments: 100.0 GPU-h (h100 100.0)" in jobs.stdout
    window = cli(
        "eval", "link", "--company", "sakura", "--model", "sakura-13b-v1-instruct",
        "--account", "sakura", "--from", "2026-11-05", "--to", "2026-11-05",
    )  # fmt: skip
    assert window.exit_code == 0 and "20.0 GPU-h (h100 20.0)" in window.stdout, window.output
    rows = by_model(board(cli))
    base, instruct = rows["sakura-13b-v1"], rows["sakura-13b-v1-instruct"]
    assert (base["gpu_hours"], base["compute_basis"]) == (100.0, "linked")
    assert (instruct["gpu_hours"], instruct["compute_basis"]) == (20.0, "linked")
    assert rows["fuji-7b-chat"]["compute_basis"] == "company total"
    assert base["score_per_eflops_day"] > 0 and instruct["score_per_eflops_day"] is None  # no overall: ja only
    listed = cli("eval", "links", "--format", "csv")
    assert "sakura,sakura-13b-v1,jobs 1,100.0,h100 100.0" in listed.stdout
    assert "account sakura 2026-11-05..2026-11-05,20.0" in listed.stdout
    cleared = cli("eval", "link", "--company", "sakura", "--model", "sakura-13b-v1", "--clear")
    assert cleared.exit_code == 0 and "company total" in cleared.stdout
    assert by_model(board(cli))["sakura-13b-v1"]["compute_basis"] == "company total"


def test_public_board_still_shows_no_compute(cli: PluginCli) -> None:
    cli("eval", "link", "--company", "sakura", "--model", "sakura-13b-v1", "--jobs", "1")
    assert all("gpu_hours" not in r for r in board(cli, "--audience", "public")["rows"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--jobs", "1,999"], "1 job id(s) not in the ledger under sakura's accounts: 999"),
        (["--jobs", "2"], "not in the ledger under sakura's accounts: 2"),  # fuji's job: not sakura's compute
        (["--account", "fuji", "--from", "2026-11-01", "--to", "2026-11-30"], "no account of sakura named 'fuji'"),
        (["--account", "sakura", "--from", "2026-11-05"], "--account needs --from and --to"),
        (["--account", "sakura", "--from", "2026-11-09", "--to", "2026-11-01"], "is after --to"),
        (["--jobs", "1", "--account", "sakura"], "either --jobs"),
        ([], "either --jobs"),
    ],
)
def test_bad_links_are_refused(cli: PluginCli, args: list[str], message: str) -> None:
    result = cli("eval", "link", "--company", "sakura", "--model", "sakura-13b-v1", *args)
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert by_model(board(cli))["sakura-13b-v1"]["compute_basis"] == "company total"


def test_link_needs_a_model_with_results(cli: PluginCli) -> None:
    result = cli("eval", "link", "--company", "sakura", "--model", "no-such-model", "--jobs", "1")
    assert result.exit_code == 2 and "has no evaluation run of that model" in result.stderr


def test_committee_pack_shows_linked_compute(cli: PluginCli, ledger: Engine, settings: Settings) -> None:
    cli("eval", "link", "--company", "sakura", "--model", "sakura-13b-v1", "--jobs", "1")
    with ledger.connect() as conn:
        request = CommitteeRequest(
            conn=conn,
            ledger=LedgerView(conn, GpuCatalog(settings.gpu_types)),
            settings=settings,
            company_ids=("sakura",),
            now=NOW,
            start=NOW - 90 * 86400,
            end=NOW,
        )
        (summary,) = committee(request).tables["sakura"][:1]
    rows = {r[0]: r for r in summary.rows}
    assert rows["sakura-13b-v1"][5:7] == ("100.0", "0.0989")
    basis, instruct_basis = rows["sakura-13b-v1"][7], rows["sakura-13b-v1-instruct"][7]
    assert isinstance(basis, Bilingual) and "own jobs" in basis.en
    assert rows["sakura-13b-v1-instruct"][5] == "120.0"
    assert isinstance(instruct_basis, Bilingual) and "company total" in instruct_basis.en
