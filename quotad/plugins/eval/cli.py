"""``quotad eval``: ingest harness outputs, see coverage and leaderboards, publish runs. Thin, like the core CLI."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

import typer

from quotad.cli.context import JsonOption, NowOption, parse_now, pick_choice, pick_format
from quotad.errors import UsageError
from quotad.plugins.api import Bilingual, PluginContext, plugin_context, plugin_settings
from quotad.plugins.eval.board import AUDIENCE_VISIBILITY, AUDIENCES, LangFilter, build_coverage, build_leaderboard
from quotad.plugins.eval.catalog import TaskCatalog, load_catalog
from quotad.plugins.eval.ingest import ingest_files, read_sources
from quotad.plugins.eval.render import coverage_table, leaderboard_html, leaderboard_table, runs_table
from quotad.plugins.eval.store import RunSpec, load_runs, load_scores, score_counts, set_visibility
from quotad.plugins.eval_config import EvalConfig, Visibility
from quotad.render import FORMATS, Format, Table, emit, render
from quotad.timeutil import epoch_now

__all__ = ["app"]

log = logging.getLogger("quotad.eval")
app = typer.Typer(help="Evaluation results: ingest, coverage, leaderboards.", no_args_is_help=True)

_VISIBILITIES: tuple[Visibility, ...] = get_args(Visibility)
_LANGS: tuple[LangFilter, ...] = ("ja", "en", "all")
FormatOpt = typer.Option("table", "--format", "-f", help="table, csv, md or json.")

def _setup(ctx: typer.Context) -> tuple[PluginContext, EvalConfig, TaskCatalog]:
    pc = plugin_context(ctx)
    config = plugin_settings(pc.settings, "eval", EvalConfig)
    return pc, config, load_catalog(config)


@app.command("ingest")
def ingest_cmd(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(
        ..., help="Result files: lm-eval results_*.json, llm-jp-eval JSON, MT-Bench JSONL."
    ),
    company: str = typer.Option(..., "--company", help="Company id whose model was evaluated."),
    model: str = typer.Option(..., "--model", help="Model name as the programme knows it."),
    checkpoint: int | None = typer.Option(None, "--checkpoint", help="Training step of the evaluated checkpoint."),
    visibility: str | None = typer.Option(
        None, "--visibility", help="private, consortium or public [default: config]."
    ),
) -> None:
    """Store every file that parses (each as one run); refuse the rest with the reason. Exit 1 if any refused."""
    pc, config, catalog = _setup(ctx)
    spec = RunSpec(
        company, model, checkpoint, pick_choice("--visibility", visibility or config.default_visibility, _VISIBILITIES)
    )
    sources, unreadable = read_sources(files)
    with pc.writing() as (conn, view):
        report = ingest_files(conn, view, sources, spec, catalog, now=epoch_now())
    for outcome in report.outcomes:
        limited = " (limited run: not a full evaluation)" if outcome.limited else ""
        if outcome.status == "unchanged":
            print(f"{outcome.source}: already ingested as run {outcome.run_id}, unchanged")
        else:
            print(
                f"{outcome.source}: run {outcome.run_id}, {outcome.scores} scores from {outcome.harness} "
                f"{outcome.harness_version}{limited}"
            )
    refused = [*unreadable, *report.refused]
    for error in refused:
        log.error("refused %s", error)
    if refused:
        raise typer.Exit(1)


@app.command("leaderboard")
def leaderboard_cmd(
    ctx: typer.Context,
    lang: str = typer.Option("all", "--lang", help="ja, en or all."),
    category: str | None = typer.Option(None, "--category", help="Only this category (e.g. QA, MC, HE)."),
    audience: str = typer.Option("consortium", "--audience", help="office, consortium or public."),
    company: str | None = typer.Option(None, "--company", help="Only this company's models."),
    include_limited: bool = typer.Option(False, "--include-limited", help="Include runs with a sample limit."),
    fmt: str = typer.Option("md", "--format", "-f", help="md, csv, html, json or table."),
    now_text: str | None = NowOption,
) -> None:
    """Per model: headline score per task, averages per language and category, the company's compute."""
    as_html = fmt == "html"
    chosen_format: Format = "md" if as_html else pick_choice("--format", fmt, FORMATS)
    which = pick_choice("--lang", lang, _LANGS)
    who = pick_choice("--audience", audience, AUDIENCES)
    pc, _, catalog = _setup(ctx)
    if category is not None and category not in catalog.categories:
        raise UsageError(f"--category {category!r}: expected one of {', '.join(sorted(catalog.categories))}")
    now = parse_now(now_text)
    with pc.reading() as (conn, view):
        scores = load_scores(
            conn, visibilities=AUDIENCE_VISIBILITY[who], include_limited=include_limited, company_id=company
        )
        companies = view.companies()
        # The public board shows no per-company compute: which companies disclose theirs is the site's decision.
        compute = {} if who == "public" else view.compute_by_company(start=0, end=now + 1)
    board = build_leaderboard(
        scores,
        catalog,
        company_names={c.id: Bilingual(c.name_ja, c.name_en) for c in companies},
        compute=compute,
        audience=who,
        lang=which,
        category=category,
        include_limited=include_limited,
    )
    if as_html:
        print(
            leaderboard_html(board, catalog, generated=datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"))
        )
        return
    emit(leaderboard_table(board, catalog), chosen_format)


@app.command("coverage")
def coverage_cmd(
    ctx: typer.Context,
    fmt: str = FormatOpt,
    as_json: bool = JsonOption,
    check: bool = typer.Option(False, "--check", help="Exit 1 if any company or model lacks ja or en results."),
) -> None:
    """Which models have full results in Japanese and in English (the programme requires both)."""
    chosen = pick_format(fmt, as_json)
    pc, _, catalog = _setup(ctx)
    with pc.reading() as (conn, view):
        scores = load_scores(conn, visibilities=None, include_limited=True)
        company_ids = [c.id for c in view.companies()]
    rows = build_coverage(scores, catalog, company_ids)
    emit(coverage_table(rows), chosen)
    if check and any(r.model is None or r.missing for r in rows):
        raise typer.Exit(1)


@app.command("runs")
def runs_cmd(
    ctx: typer.Context,
    company: str | None = typer.Option(None, "--company", help="Only this company."),
    fmt: str = FormatOpt,
    as_json: bool = JsonOption,
) -> None:
    """Every ingested run with its file, harness, visibility and limit flag."""
    chosen = pick_format(fmt, as_json)
    pc, _, _ = _setup(ctx)
    with pc.reading() as (conn, _view):
        runs = load_runs(conn, company_id=company)
        counts = score_counts(conn)
    emit(runs_table(runs, counts, pc.settings.programme.timezone), chosen)


@app.command("publish")
def publish_cmd(
    ctx: typer.Context,
    run_id: int = typer.Argument(..., help="Run id (see `quotad eval runs`)."),
    visibility: str = typer.Option(..., "--visibility", help="private, consortium or public."),
) -> None:
    """Change who may see a run (e.g. make it public once the office has reviewed it)."""
    chosen = pick_choice("--visibility", visibility, _VISIBILITIES)
    pc, _, _ = _setup(ctx)
    with pc.writing() as (conn, _view):
        run = set_visibility(conn, run_id, chosen)
    print(f"run {run.id} ({run.company_id} {run.model}) is now {run.visibility}")


@app.command("tasks")
def tasks_cmd(ctx: typer.Context, fmt: str = FormatOpt, as_json: bool = JsonOption) -> None:
    """The task mapping in effect: built-in tasks.toml with [eval] overrides from the configuration."""
    chosen = pick_format(fmt, as_json)
    _, _, catalog = _setup(ctx)
    table = Table(
        ["Task", "Language", "Category", "Name (en)", "Name (ja)", "Aliases", "Metrics", "Redistributable"],
        [
            [
                t.id,
                t.language,
                t.category,
                t.name.en,
                t.name.ja,
                ", ".join(t.aliases),
                ", ".join(t.metrics),
                "yes" if t.redistributable else "no",
            ]
            for t in sorted(catalog.tasks.values(), key=lambda t: (t.language, t.category, t.id))
        ],
        title="Evaluation tasks",
        keys=["task", "language", "category", "name_en", "name_ja", "aliases", "metrics", "redistributable"],
    )
    print(render(table, chosen))
