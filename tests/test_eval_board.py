"""Leaderboards and coverage on both databases: visibility, redistribution, limits, averages, compute, formats."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from statistics import fmean
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine

from quotad.config import Settings
from quotad.errors import ConfigError
from quotad.plugins.api import Bilingual, CompanyCompute, LedgerView, plugin_settings
from quotad.plugins.eval.board import AUDIENCE_VISIBILITY, build_leaderboard
from quotad.plugins.eval.catalog import MATCH_ALIAS, MATCH_PATTERN, load_catalog
from quotad.plugins.eval.ingest import SourceFile, ingest_files
from quotad.plugins.eval.render import leaderboard_html
from quotad.plugins.eval.store import RunSpec, StoredRun, StoredScore, load_scores
from quotad.plugins.eval_config import EvalConfig, TaskOverride
from quotad.units import GpuCatalog
from tests.test_plugin_common import (
    LLM_JP_EVAL,
    LM_EVAL_EN,
    LM_EVAL_JA,
    LM_EVAL_LIMITED,
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
EN_HEADLINES = [
    0.5699658703071673,
    0.7878787878787878,
    0.3457164518574678,
    0.7913762198765186,
    0.4187291840226913,
    0.7316495659037096,
]
JA_HEADLINES = [0.8418230563002681, 0.5899753492193919, 0.9474708171206226, 0.7799791449426486, 0.212]


def preview_file(tmp_path: Path) -> Path:
    """A private run of an unreleased checkpoint, with values found nowhere else."""
    path = tmp_path / "results_2026-11-22T08-00-00.000000.json"
    data = json.loads(LM_EVAL_EN.read_text(encoding="utf-8"))
    data["results"]["hellaswag"]["acc_norm,none"] = 0.8137911
    data["date"] = 1795334400.0
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def ingest_programme_results(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    """Results of every visibility: what each board may show is known by construction."""
    plan = [
        ([LM_EVAL_EN, LM_EVAL_JA], RunSpec("sakura", "sakura-13b-v1", 120000, "public")),
        ([LLM_JP_EVAL], RunSpec("sakura", "sakura-13b-v1", 120000, "consortium")),
        ([MT_BENCH], RunSpec("sakura", "sakura-13b-v1-instruct", None, "public")),
        ([MT_BENCH], RunSpec("fuji", "fuji-7b-chat", None, "consortium")),
        ([LM_EVAL_LIMITED], RunSpec("fuji", "fuji-7b-base", 3000, "private")),
        ([preview_file(tmp_path)], RunSpec("sakura", "sakura-13b-v2-preview", 20000, "private")),
    ]
    with engine.begin() as conn:
        view = LedgerView(conn, GpuCatalog(settings.gpu_types))
        for paths, spec in plan:
            sources = [SourceFile(p.name, p.read_bytes(), p) for p in paths]
            report = ingest_files(conn, view, sources, spec, CATALOG, now=NOW)
            assert not report.refused, report.refused


@pytest.fixture
def results(ledger: Engine, settings: Settings, tmp_path: Path) -> Engine:
    seed_programme(ledger, settings)
    ingest_programme_results(ledger, settings, tmp_path)
    return ledger


@pytest.fixture
def cli(plugin_cli: PluginCli, results: Engine) -> PluginCli:
    return plugin_cli


def board(cli: PluginCli, *args: str) -> dict[str, Any]:
    result = cli("eval", "leaderboard", "--format", "json", "--now", "2026-11-25T00:00:00", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def models(data: dict[str, Any]) -> list[str]:
    return [r["model"] for r in data["rows"]]


def test_each_audience_sees_only_its_runs(cli: PluginCli) -> None:
    assert models(board(cli)) == ["sakura-13b-v1", "fuji-7b-chat", "sakura-13b-v1-instruct"]
    assert models(board(cli, "--audience", "public")) == ["sakura-13b-v1", "sakura-13b-v1-instruct"]
    office = models(board(cli, "--audience", "office"))
    assert "sakura-13b-v2-preview" in office and "fuji-7b-base" not in office  # a limited run is no evaluation
    limited = board(cli, "--audience", "office", "--include-limited")
    assert "fuji-7b-base" in models(limited)
    assert next(r for r in limited["rows"] if r["model"] == "fuji-7b-base")["limited"] == "yes"


def test_averages_compute_and_score_per_eflops_day(cli: PluginCli) -> None:
    data = board(cli)
    top = data["rows"][0]
    assert top["company"] == "sakura" and top["checkpoint"] == 120000 and top["rank"] == 1
    en, ja = fmean(EN_HEADLINES), fmean(JA_HEADLINES)
    assert top["avg_en"] == pytest.approx(100 * en, abs=0.01)
    assert top["avg_ja"] == pytest.approx(100 * ja, abs=0.01)
    assert top["avg_all"] == pytest.approx(100 * (en + ja) / 2, abs=0.01)
    # every score is printed as points on 0-100 with two decimals (figures): 0.34571645 -> 34.57
    assert top["task_gsm8k"] == 34.57 and top["task_hellaswag"] == 79.14
    assert top["gpu_hours"] == 100.0 and top["eflops_hours"] == pytest.approx(0.0989, abs=1e-4)
    assert top["score_per_eflops_day"] == pytest.approx(100 * (en + ja) / 2 / (0.0989 / 24), rel=1e-3)
    fuji = next(r for r in data["rows"] if r["model"] == "fuji-7b-chat")
    assert fuji["gpu_hours"] == pytest.approx(1536.4, abs=0.1)
    assert fuji["avg_en"] is None and fuji["avg_all"] is None  # one language only: no overall, ranked below
    assert fuji["avg_ja"] == fuji["task_japanese_mt_bench"]  # the 1-10 MT-Bench score on 0-100, its only ja task
    tasks = {t["key"]: t for t in data["tasks"]}
    assert tasks["gsm8k"]["metric"] == "exact_match,strict-match" and tasks["hellaswag"]["metric"] == "acc_norm"


def test_public_board_carries_no_per_company_compute(cli: PluginCli) -> None:
    rows = board(cli, "--audience", "public")["rows"]
    assert all("gpu_hours" not in r for r in rows)


def test_latest_checkpoint_and_limited_runs(cli: PluginCli) -> None:
    rows = board(cli, "--include-limited", "--lang", "ja")["rows"]
    top = next(r for r in rows if r["model"] == "sakura-13b-v1")
    assert top["task_jsquad"] == 88.33 and top["limited"] == "yes"  # llm-jp-eval (limit 10) joins
    assert "task_jsquad" not in board(cli, "--lang", "ja")["rows"][0]


def test_language_and_category_filters(cli: PluginCli) -> None:
    ja = board(cli, "--lang", "ja")
    assert {t["language"] for t in ja["tasks"]} == {"ja"}
    assert [k for k in ja["rows"][0] if k.startswith("avg_")] == [
        "avg_ja",
        "avg_ja_GEN",
        "avg_ja_MC",
        "avg_ja_MR",
        "avg_ja_NLI",
        "avg_ja_TC",
        "avg_all",
    ]
    mc = board(cli, "--category", "MC")
    assert {t["category"] for t in mc["tasks"]} == {"MC"}
    assert cli("eval", "leaderboard", "--category", "XX").exit_code == 2
    assert cli("eval", "leaderboard", "--lang", "fr").exit_code == 2


def test_formats(cli: PluginCli) -> None:
    md = cli("eval", "leaderboard", "--format", "md")
    assert md.exit_code == 0 and md.stdout.startswith("### Leaderboard") and "| Rank | Model |" in md.stdout
    table = cli("eval", "leaderboard", "--format", "csv")
    records = list(csv.DictReader(io.StringIO(table.stdout)))
    assert records[0]["model"] == "sakura-13b-v1" and records[0]["gpu_hours"] == "100.0"
    html = cli("eval", "leaderboard", "--format", "html", "--audience", "public")
    assert html.exit_code == 0 and html.stdout.startswith("<!DOCTYPE html>") and "sakura-13b-v1" in html.stdout
    assert "fuji-7b-chat" not in html.stdout


def test_redistribution_flag_keeps_a_benchmark_off_public_output(results: Engine) -> None:
    catalog = load_catalog(EvalConfig(tasks={"winogrande": TaskOverride(redistributable=False)}))
    with results.connect() as conn:
        public = load_scores(conn, visibilities=AUDIENCE_VISIBILITY["public"], include_limited=False)
        consortium = load_scores(conn, visibilities=AUDIENCE_VISIBILITY["consortium"], include_limited=False)
    names = {"sakura": Bilingual("さくらAI", "Sakura AI")}
    pub = build_leaderboard(public, catalog, company_names=names, compute={}, audience="public")
    con = build_leaderboard(consortium, catalog, company_names=names, compute={}, audience="consortium")
    assert "winogrande" not in {c.key for c in pub.columns} and "winogrande" in {c.key for c in con.columns}
    top = pub.rows[0]
    assert top.averages["en"] == pytest.approx(fmean([v for v in EN_HEADLINES if v != 0.7316495659037096]))


def test_coverage_flags_models_missing_a_language(cli: PluginCli) -> None:
    result = cli("eval", "coverage", "--format", "json")
    assert result.exit_code == 0
    rows = {(r["company"], r["model"]): r for r in json.loads(result.stdout)}
    assert rows[("sakura", "sakura-13b-v1")]["flag"] == "ok"
    assert (rows[("sakura", "sakura-13b-v1")]["ja_count"], rows[("sakura", "sakura-13b-v1")]["en_count"]) == (5, 6)
    assert rows[("sakura", "sakura-13b-v1-instruct")]["flag"] == "missing en"
    base = rows[("fuji", "fuji-7b-base")]
    assert base["flag"] == "missing ja, missing en" and base["limited_only"] == "en"
    assert rows[("kumo", None)]["flag"] == "no results"
    assert cli("eval", "coverage", "--check").exit_code == 1


def test_catalog_is_extendable_from_config() -> None:
    config = EvalConfig(
        tasks={
            "swallow_code": TaskOverride(language="en", category="CG", aliases=["swallow_code_*"]),
            "jsquad": TaskOverride(redistributable=False, aliases=["jsquad_v2"]),
        }
    )
    catalog = load_catalog(config)
    found = catalog.lookup("swallow_code_python")
    assert found is not None and found[0].id == "swallow_code" and found[1] == MATCH_PATTERN
    jsquad = catalog.lookup("jsquad_v2")
    assert jsquad is not None and jsquad[1] == MATCH_ALIAS and not jsquad[0].redistributable
    assert catalog.tasks["jsquad"].category == "RC"
    with pytest.raises(
        ConfigError, match=r"\[eval.tasks.newbench\]: a task not in the built-in mapping needs language"
    ):
        load_catalog(EvalConfig(tasks={"newbench": TaskOverride(category="QA")}))
    with pytest.raises(ValidationError, match="langauge"):
        EvalConfig.model_validate({"tasks": {"x": {"langauge": "ja"}}})


def test_catalog_maps_the_programme_benchmarks() -> None:
    expect = {
        "ja_leaderboard_jcommonsenseqa": ("jcommonsenseqa", "ja"),
        "jcommonsenseqa-1.1-0.2": ("jcommonsenseqa", "ja"),
        "jsquad": ("jsquad", "ja"),
        "jemhopqa": ("jemhopqa", "ja"),
        "niilc": ("niilc", "ja"),
        "jmmlu": ("jmmlu", "ja"),
        "alt-e-to-j": ("alt_e_to_j", "ja"),
        "japanese_mt_bench": ("japanese_mt_bench", "ja"),
        "mmlu_en": ("mmlu", "en"),
        "mmlu_abstract_algebra": ("mmlu", "en"),
        "arc_challenge": ("arc_challenge", "en"),
        "hellaswag": ("hellaswag", "en"),
        "gsm8k": ("gsm8k", "en"),
        "truthfulqa_mc2": ("truthfulqa_mc2", "en"),
        "humaneval": ("humaneval", "en"),
    }
    for raw, (task, lang) in expect.items():
        found = CATALOG.lookup(raw)
        assert found is not None and (found[0].id, found[0].language) == (task, lang), raw
    assert CATALOG.lookup("some_private_bench") is None


def test_plugin_settings_reads_the_section_once_settings_carry_it(db_url: str) -> None:
    class WithEval(Settings):
        eval: EvalConfig = EvalConfig()

    settings = WithEval(database={"url": db_url}, eval={"default_visibility": "consortium"})
    assert plugin_settings(settings, "eval", EvalConfig).default_visibility == "consortium"
    assert plugin_settings(Settings(database={"url": db_url}), "eval", EvalConfig) == EvalConfig()


def _stored(model: str) -> StoredScore:
    run = StoredRun(
        1, "acme", model, None, "public", "lm-evaluation-harness", "0.4.7", False, None, None, 0, "0" * 64, "f"
    )
    return StoredScore(run, "hellaswag", "acc_norm", "none", 10, 0.8, 0.01, 1.0, True, False, "en", "MC", 10042, 10042)


def test_html_is_autoescaped() -> None:
    board_ = build_leaderboard(
        [_stored("<script>alert(1)</script>")],
        CATALOG,
        company_names={"acme": Bilingual("a", "a")},
        compute={"acme": CompanyCompute(3600, 989)},
        audience="public",
    )
    html = leaderboard_html(board_, CATALOG, generated="2026-11-25T00:00:00+00:00")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
