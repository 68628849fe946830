"""Ingest into the ledger on SQLite and PostgreSQL: the long table, idempotence by sha256, refusals, the CLI."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from quotad.config import Settings
from quotad.errors import NotFoundError, UsageError
from quotad.plugins.api import LedgerView
from quotad.plugins.eval.catalog import load_catalog
from quotad.plugins.eval.ingest import IngestReport, SourceFile, ingest_files
from quotad.plugins.eval.models import EvalFile, EvalRun, EvalScore
from quotad.plugins.eval.store import RunSpec, load_scores
from quotad.units import GpuCatalog
from tests.test_plugin_common import (
    FIXTURES,
    LLM_JP_EVAL,
    LM_EVAL_EN,
    LM_EVAL_JA,
    MT_BENCH,
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

CATALOG = load_catalog()
SPEC = RunSpec("sakura", "sakura-13b-v1", 120000, "consortium")


@pytest.fixture
def programme(ledger: Engine, settings: Settings) -> Engine:
    seed_programme(ledger, settings)
    return ledger


def _source(path: Path, name: str | None = None) -> SourceFile:
    return SourceFile(name or path.name, path.read_bytes(), path)


def _ingest(engine: Engine, settings: Settings, *paths: Path, spec: RunSpec = SPEC) -> IngestReport:
    with engine.begin() as conn:
        return ingest_files(
            conn, LedgerView(conn, GpuCatalog(settings.gpu_types)), [_source(p) for p in paths], spec, CATALOG, now=NOW
        )


def _counts(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [int(conn.scalar(select(func.count()).select_from(t)) or 0) for t in (EvalFile, EvalRun, EvalScore)]


def test_long_table_with_language_category_and_the_raw_file(programme: Engine, settings: Settings) -> None:
    report = _ingest(programme, settings, LM_EVAL_EN, LLM_JP_EVAL)
    assert [o.status for o in report.outcomes] == ["ingested", "ingested"] and not report.refused
    with programme.connect() as conn:
        scores = load_scores(conn, visibilities=None, include_limited=True)
        stored = conn.execute(select(EvalFile.sha256, EvalFile.content, EvalFile.format)).all()
    raw = LM_EVAL_EN.read_bytes()
    assert (hashlib.sha256(raw).hexdigest(), raw, "lm-evaluation-harness") in [tuple(r) for r in stored]
    gsm = next(s for s in scores if (s.task, s.filter) == ("gsm8k", "strict-match"))
    assert (gsm.language, gsm.category, gsm.n_shot, gsm.samples_original) == ("en", "MR", 5, 1319)
    assert gsm.run.checkpoint == 120000 and gsm.run.harness_version == "0.4.7" and not gsm.run.limited
    jsquad = next(s for s in scores if s.task == "jsquad")
    assert (jsquad.language, jsquad.category, jsquad.run.limited, jsquad.run.limit_value) == ("ja", "RC", True, 10.0)
    unmapped = next(s for s in scores if s.task == "NLI")
    assert unmapped.language is None and unmapped.aggregate


def test_re_ingesting_the_same_bytes_changes_nothing(programme: Engine, settings: Settings, tmp_path: Path) -> None:
    _ingest(programme, settings, LM_EVAL_EN)
    before = _counts(programme)
    renamed = tmp_path / "renamed.json"
    shutil.copy(LM_EVAL_EN, renamed)
    report = _ingest(programme, settings, LM_EVAL_EN, renamed)
    assert [o.status for o in report.outcomes] == ["unchanged", "unchanged"]
    assert _counts(programme) == before


def test_one_file_is_one_model_unless_it_judges_several(programme: Engine, settings: Settings) -> None:
    _ingest(programme, settings, LM_EVAL_EN)
    report = _ingest(programme, settings, LM_EVAL_EN, spec=RunSpec("fuji", "fuji-7b-base", None, "private"))
    assert "already ingested as model 'sakura-13b-v1' of 'sakura'" in str(report.refused[0])
    _ingest(programme, settings, MT_BENCH, spec=RunSpec("sakura", "sakura-13b-v1-instruct", None, "public"))
    _ingest(programme, settings, MT_BENCH, spec=RunSpec("fuji", "fuji-7b-chat", None, "consortium"))
    files, runs, _ = _counts(programme)
    assert [files, runs] == [2, 3]


def test_a_refused_file_leaves_nothing_and_the_good_ones_land(
    programme: Engine, settings: Settings, tmp_path: Path
) -> None:
    broken = tmp_path / "results_broken.json"
    broken.write_text(LM_EVAL_JA.read_text(encoding="utf-8").replace('"acc,none": 0.212', '"acc,none": NaN'))
    report = _ingest(programme, settings, broken, LM_EVAL_EN)
    refused = report.refused
    assert len(refused) == 1 and refused[0].key == "results.ja_leaderboard_mgsm.acc,none"
    files, runs, scores = _counts(programme)
    assert [files, runs] == [1, 1]
    with programme.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(EvalScore).where(EvalScore.task.like("ja_%"))) == 0
    assert scores == 12


def test_unknown_company_and_bad_options(programme: Engine, settings: Settings) -> None:
    with pytest.raises(NotFoundError, match="no company named 'nobody'"):
        _ingest(programme, settings, LM_EVAL_EN, spec=RunSpec("nobody", "m", None, "private"))
    with pytest.raises(UsageError, match="--checkpoint -1"):
        _ingest(programme, settings, LM_EVAL_EN, spec=RunSpec("sakura", "m", -1, "private"))


@pytest.fixture
def cli(plugin_cli: PluginCli, programme: Engine) -> PluginCli:
    return plugin_cli


def test_cli_ingest_reports_each_file_and_exits_1_on_refusal(cli: PluginCli) -> None:
    ok = cli(
        "eval",
        "ingest",
        str(LM_EVAL_EN),
        str(LM_EVAL_JA),
        "--company",
        "sakura",
        "--model",
        "sakura-13b-v1",
        "--checkpoint",
        "120000",
        "--visibility",
        "public",
    )
    assert ok.exit_code == 0, ok.output
    assert "run 1, 12 scores from lm-evaluation-harness 0.4.7" in ok.stdout
    again = cli("eval", "ingest", str(LM_EVAL_EN), "--company", "sakura", "--model", "sakura-13b-v1")
    assert again.exit_code == 0 and "already ingested as run 1, unchanged" in again.stdout
    bad = cli(
        "eval",
        "ingest",
        str(FIXTURES / "broken" / "config.json"),
        str(LLM_JP_EVAL),
        str(FIXTURES / "nope.json"),
        "--company",
        "sakura",
        "--model",
        "sakura-13b-v1",
    )
    assert bad.exit_code == 1
    assert "config.json: not a known result format" in bad.stderr and "nope.json: cannot read" in bad.stderr
    assert "limited run: not a full evaluation" in bad.stdout  # the good llm-jp-eval file still landed
    runs = cli("eval", "runs", "--format", "csv")
    assert runs.stdout.count("\n") == 4 and "llm-jp-eval" in runs.stdout


def test_cli_refuses_unknown_company_and_visibility(cli: PluginCli) -> None:
    result = cli("eval", "ingest", str(LM_EVAL_EN), "--company", "nobody", "--model", "m")
    assert result.exit_code == 2 and "no company named 'nobody'" in result.stderr
    result = cli("eval", "ingest", str(LM_EVAL_EN), "--company", "sakura", "--model", "m", "--visibility", "secret")
    assert result.exit_code == 2 and "--visibility 'secret'" in result.stderr


def test_cli_publish_changes_visibility(cli: PluginCli) -> None:
    cli("eval", "ingest", str(LM_EVAL_EN), "--company", "sakura", "--model", "sakura-13b-v1")
    assert "private" in cli("eval", "runs").stdout
    result = cli("eval", "publish", "1", "--visibility", "public")
    assert result.exit_code == 0 and "is now public" in result.stdout
    assert cli("eval", "publish", "99", "--visibility", "public").exit_code == 2


def test_cli_commands_have_help(cli: PluginCli) -> None:
    for args in (
        ["eval"],
        ["eval", "ingest"],
        ["eval", "leaderboard"],
        ["eval", "coverage"],
        ["site"],
        ["site", "build"],
        ["plugins", "list"],
    ):
        result = cli(*args, "--help")
        assert result.exit_code == 0 and "Usage" in result.output, args
