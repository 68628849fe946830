"""The companies' formats through ``quotad eval ingest`` on SQLite and PostgreSQL: runs, refusals, re-ingest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import Result

from quotad.config import Settings
from quotad.plugins.eval.models import EvalFile, EvalRun, EvalScore
from tests.test_plugin_common import (
    FIXTURES,
    LM_EVAL_EN,
    MT_BENCH,
    PluginCli,
    ledger,
    plugin_cli,
    plugin_tables,
    registry,
    seed_programme,
    with_builtins,
)

__all__ = ["ledger", "plugin_cli", "plugin_tables", "registry", "with_builtins"]

FLAT_DIR = FIXTURES / "llm_jp_eval_flat"
JP_STABLE = FIXTURES / "jp_stable" / "result.json"
NEJUMI = FIXTURES / "nejumi" / "leaderboard.csv"


@pytest.fixture
def cli(plugin_cli: PluginCli, ledger: Engine, settings: Settings) -> PluginCli:
    seed_programme(ledger, settings)
    return plugin_cli


def counts(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [int(conn.scalar(select(func.count()).select_from(t)) or 0) for t in (EvalFile, EvalRun, EvalScore)]


def ingest(cli: PluginCli, *args: str, company: str = "sakura") -> Result:
    result: Result = cli("eval", "ingest", *args, "--company", company)
    return result


def test_flat_llm_jp_eval_with_its_companion(cli: PluginCli, ledger: Engine) -> None:
    score, outputs = FLAT_DIR / "score_eval.json", FLAT_DIR / "output_eval.json"
    result = cli("eval", "ingest", str(score), str(outputs), "--company", "sakura", "--model", "sakura-13b-v1")
    assert result.exit_code == 0, result.output
    assert "score_eval.json: run 1, 17 scores from llm-jp-eval 1.0-1.2" in result.stdout
    assert f"{outputs}: read as the outputs of {score}" in result.stdout
    with ledger.connect() as conn:
        effective = conn.scalar(select(EvalScore.samples_effective).where(EvalScore.task == "jsquad"))
    assert effective == 10 and counts(ledger) == [1, 1, 17]
    again = cli("eval", "ingest", str(score), str(outputs), "--company", "sakura", "--model", "sakura-13b-v1")
    assert again.exit_code == 0 and "already ingested as run 1, unchanged" in again.stdout
    assert counts(ledger) == [1, 1, 17]


def test_companion_alone_is_refused(cli: PluginCli, ledger: Engine, tmp_path: Path) -> None:
    lonely = tmp_path / "output_eval.json"
    shutil.copy(FLAT_DIR / "output_eval.json", lonely)
    result = cli("eval", "ingest", str(lonely), "--company", "sakura", "--model", "m")
    assert result.exit_code == 1 and "output_eval.json (samples, no scores)" in result.stderr
    assert counts(ledger) == [0, 0, 0]


def test_jp_stable_result_lands_raw(cli: PluginCli, ledger: Engine) -> None:
    result = cli("eval", "ingest", str(JP_STABLE), "--company", "sakura", "--model", "sakura-13b-v1")
    assert result.exit_code == 0 and "lm-evaluation-harness 0.3 (jp-stable)" in result.stdout, result.output
    with ledger.connect() as conn:
        row = conn.execute(
            select(EvalScore.value, EvalScore.scale_max, EvalScore.category).where(
                EvalScore.task == "jsquad-1.1-0.2", EvalScore.metric == "exact_match"
            )
        ).one()
    assert row.value == pytest.approx(63.23728050427735) and row.scale_max == 100 and row.category == "RC"


def test_nejumi_all_models_needs_every_name_mapped(cli: PluginCli, ledger: Engine) -> None:
    partial = ingest(
        cli, str(NEJUMI), "--all-models", "--map", "sakura-ai/sakura-13b-v1-instruct=sakura-13b-v1-instruct"
    )
    assert partial.exit_code == 1
    assert "no --map for 'fuji-ai/fuji-7b-chat', 'gpt-4o-2024-05-13'" in partial.stderr
    assert counts(ledger) == [0, 0, 0]
    maps = [
        "--map", "sakura-ai/sakura-13b-v1-instruct=sakura-13b-v1-instruct",
        "--map", "fuji-ai/fuji-7b-chat=fuji-7b-chat",
        "--map", "gpt-4o-2024-05-13=reference-gpt-4o",
    ]  # fmt: skip
    full = ingest(cli, str(NEJUMI), "--all-models", *maps)
    assert full.exit_code == 0, full.output
    assert "leaderboard.csv (fuji-7b-chat): run" in full.stdout
    assert counts(ledger) == [1, 3, 19 * 3]
    again = ingest(cli, str(NEJUMI), "--all-models", *maps)
    assert again.stdout.count("unchanged") == 3 and counts(ledger) == [1, 3, 57]


def test_mt_bench_all_models(cli: PluginCli, ledger: Engine) -> None:
    result = ingest(
        cli, str(MT_BENCH), "--all-models", "--map", "fuji-7b-chat=fuji-7b-chat", "--map", "sakura-13b-v1-instruct=s"
    )
    assert result.exit_code == 0, result.output
    with ledger.connect() as conn:
        assert sorted(conn.scalars(select(EvalRun.model))) == ["fuji-7b-chat", "s"]
    clash = ingest(cli, str(MT_BENCH), "--all-models", "--map", "fuji-7b-chat=x", "--map", "sakura-13b-v1-instruct=x")
    assert clash.exit_code == 1 and "both map to 'x'" in clash.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--all-models", "--model", "m"],
        [],
        ["--model", "m", "--map", "a=b"],
        ["--all-models"],
        ["--all-models", "--map", "novalue"],
    ],
)
def test_model_options_are_checked(cli: PluginCli, args: list[str]) -> None:
    result = ingest(cli, str(MT_BENCH), *args)
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_hostile_file_does_not_stop_the_good_one(cli: PluginCli, ledger: Engine, tmp_path: Path) -> None:
    """#15: deep nesting, an unconvertible number and a truncated file beside a good file in one command."""
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 200_000 + b"]" * 200_000)
    digits = tmp_path / "digits.json"
    digits.write_bytes(b'{"results": {"x": {"acc": ' + b"7" * 6000 + b'}}, "versions": {}}')
    cut = tmp_path / "cut.json"
    cut.write_bytes(LM_EVAL_EN.read_bytes()[:500])
    result = cli(
        "eval", "ingest", str(deep), str(digits), str(cut), str(LM_EVAL_EN), "--company", "sakura", "--model", "m"
    )
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert f"{deep}: nested too deeply" in result.stderr
    assert f"{digits}: unreadable value" in result.stderr
    assert f"{cut}: invalid JSON at line " in result.stderr
    assert "run 1, 12 scores" in result.stdout and counts(ledger) == [1, 1, 12]


def test_jp_stable_scores_are_normalised_and_flagged_on_the_leaderboard(cli: PluginCli) -> None:
    ingest(cli, str(JP_STABLE), "--model", "sakura-13b-v1", "--visibility", "consortium")
    ingest(cli, str(NEJUMI), "--model", "sakura-ai/sakura-13b-v1-instruct", "--visibility", "consortium")
    board = cli("eval", "leaderboard", "--format", "json", "--lang", "ja", "--now", "2026-11-25T00:00:00")
    assert board.exit_code == 0, board.output
    rows = {r["model"]: r for r in json.loads(board.stdout)["rows"]}
    jp = rows["sakura-13b-v1"]
    assert jp["task_jsquad"] == 63.24 and jp["task_xlsum_ja"] == 12.68  # 0-100 raw: points unchanged
    assert jp["task_jcommonsenseqa"] == 75.25  # acc 0.7524575 on 0-1
    assert jp["rescaled"] == "JAQKET v2, JSQuAD, XL-Sum (Japanese)"
    assert 0 < jp["avg_ja"] < 100  # averaged as fractions, not 63.24 next to 0.75
    nejumi = rows["sakura-ai/sakura-13b-v1-instruct"]
    assert nejumi["task_nejumi_glp"] == 56.33 and nejumi["task_nejumi_alt"] == 59.91
    assert nejumi["rescaled"] is None
    full = json.loads(cli("eval", "leaderboard", "--json", "--lang", "ja").stdout)
    jsquad = next(r for r in full["rows"] if r["model"] == "sakura-13b-v1")["tasks"]["jsquad"]
    assert jsquad["value"] == pytest.approx(63.23728050427735) and jsquad["rescaled"] is True
    assert jsquad["normalised"] == pytest.approx(0.6323728050427735)
