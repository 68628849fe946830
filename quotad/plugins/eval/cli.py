"""``quotad eval``: ingest harness outputs, see coverage and leaderboards, publish runs. Thin, like the core CLI."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

import typer

from quotad.cli.context import JsonOption, NowOption, parse_now, pick_choice, pick_format
from quotad.errors import UsageError
from quotad.plugins.api import Bilingual, PluginContext, plugin_context, plugin_settings
from quotad.plugins.eval.board import AUDIENCE_VISIBILITY, AUDIENCES, LangFilter, build_coverage, build_leaderboard
from quotad.plugins.eval.catalog import TaskCatalog, load_catalog
from quotad.plugins.eval.compute import checked, resolve_all
from quotad.plugins.eval.ingest import ingest_files, parse_model_map, read_sources
from quotad.plugins.eval.render import (
    coverage_table,
    fit_to_width,
    leaderboard_html,
    leaderboard_json,
    leaderboard_table,
    runs_table,
)
from quotad.plugins.eval.store import (
    ComputeLink,
    RunSpec,
    clear_link,
    load_links,
    load_runs,
    load_scores,
    score_counts,
    set_link,
    set_visibility,
)
from quotad.plugins.eval_config import EvalConfig, Visibility
from quotad.render import FORMATS, Cell, Format, Table, emit, render
from quotad.timeutil import epoch_now, format_day, parse_day
from quotad.units import gpu_hours

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
        ...,
        help="Result files: lm-eval results_*.json (jp-stable result.json too), llm-jp-eval JSON (1.0-1.2 "
        "score_eval.json with its output_eval.json), MT-Bench JSONL, Nejumi leaderboard CSV.",
    ),
    company: str = typer.Option(..., "--company", help="Company id whose model was evaluated."),
    model: str | None = typer.Option(
        None, "--model", help="Model name as the programme knows it (picks it in a multi-model file)."
    ),
    all_models: bool = typer.Option(
        False, "--all-models", help="Every model of a multi-model file (MT-Bench, Nejumi), each named by --map."
    ),
    mapping: list[str] = typer.Option(
        [], "--map", help="JUDGED_NAME=MODEL: a judged model's programme name (with --all-models; repeatable)."
    ),
    checkpoint: int | None = typer.Option(None, "--checkpoint", help="Training step of the evaluated checkpoint."),
    visibility: str | None = typer.Option(
        None, "--visibility", help="private, consortium or public [default: config]."
    ),
) -> None:
    """Store every file that parses (each as one run); refuse the rest with the reason. Exit 1 if any refused."""
    if all_models == (model is not None):
        raise UsageError("give either --model MODEL or --all-models with --map JUDGED_NAME=MODEL")
    if mapping and not all_models:
        raise UsageError("--map is for --all-models")
    model_map = parse_model_map(mapping) if all_models else None
    if model_map is not None and not model_map.names:
        raise UsageError("--all-models needs a --map JUDGED_NAME=MODEL for every judged model")
    pc, config, catalog = _setup(ctx)
    spec = RunSpec(
        company,
        model or "",
        checkpoint,
        pick_choice("--visibility", visibility or config.default_visibility, _VISIBILITIES),
    )
    sources, unreadable = read_sources(files)
    with pc.writing() as (conn, view):
        report = ingest_files(conn, view, sources, spec, catalog, now=epoch_now(), model_map=model_map)
    for outcome in report.outcomes:
        limited = " (limited run: not a full evaluation)" if outcome.limited else ""
        who = f" ({outcome.model})" if all_models else ""
        if outcome.status == "unchanged":
            print(f"{outcome.source}{who}: already ingested as run {outcome.run_id}, unchanged")
        else:
            print(
                f"{outcome.source}{who}: run {outcome.run_id}, {outcome.scores} scores from {outcome.harness} "
                f"{outcome.harness_version}{limited}"
            )
    for companion, score_file in report.companions:
        print(f"{companion}: read as the outputs of {score_file}")
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
    fmt: str = typer.Option("md", "--format", "-f", help="md, csv, html, json or table (fitted to the terminal)."),
    as_json: bool = typer.Option(False, "--json", help="Everything: raw values, points, rescaled flags, compute."),
    now_text: str | None = NowOption,
) -> None:
    """Per model: headline score per task, averages per language and category, and its compute (the model's
    own where `eval link` names it, else the company's total, said as such). Scores are points on 0-100."""
    as_html = fmt == "html" and not as_json
    chosen_format: Format = "md" if as_html or as_json else pick_choice("--format", fmt, FORMATS)
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
        compute = {} if who == "public" else view.compute_by_company(start=0, end=now)
        linked = resolve_all(view, load_links(conn, company_id=company)) if compute else {}
    board = build_leaderboard(
        scores,
        catalog,
        company_names={c.id: Bilingual(c.name_ja, c.name_en) for c in companies},
        compute=compute,
        audience=who,
        lang=which,
        category=category,
        include_limited=include_limited,
        linked=linked,
    )
    if as_json:
        print(json.dumps(leaderboard_json(board, catalog), ensure_ascii=False, indent=2))
        return
    if as_html:
        print(
            leaderboard_html(board, catalog, generated=datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"))
        )
        return
    table = leaderboard_table(board, catalog)
    if chosen_format == "table":
        # quotad.render draws tables at most 200 characters wide
        table = fit_to_width(table, min(shutil.get_terminal_size((120, 24)).columns, 200))
    emit(table, chosen_format)


@app.command("link")
def link_cmd(
    ctx: typer.Context,
    company: str = typer.Option(..., "--company", help="Company id."),
    model: str = typer.Option(..., "--model", help="Model name as ingested."),
    jobs: list[str] = typer.Option(
        [], "--jobs", help="Slurm job ids that trained the model (comma-separated; repeatable)."
    ),
    account: str | None = typer.Option(None, "--account", help="Or: the company account whose use trained it..."),
    since: str | None = typer.Option(None, "--from", help="...from this day (YYYY-MM-DD, programme timezone)..."),
    until: str | None = typer.Option(None, "--to", help="...to this day, inclusive."),
    clear: bool = typer.Option(False, "--clear", help="Remove the link: boards show the company total again."),
) -> None:
    """Say which compute produced a model, so boards and the committee pack show the model's own compute."""
    pc, _, _ = _setup(ctx)
    job_ids = tuple(dict.fromkeys(j.strip() for part in jobs for j in part.split(",") if j.strip()))
    by_account = account is not None or since is not None or until is not None
    if clear:
        if job_ids or by_account:
            raise UsageError("--clear takes no --jobs/--account")
        with pc.writing() as (conn, view):
            view.company(company)
            removed = clear_link(conn, company, model)
        print(f"{company} {model}: " + ("link removed (compute: company total)" if removed else "had no link"))
        return
    if bool(job_ids) == by_account:
        raise UsageError("give either --jobs ID[,ID...] or --account ACCOUNT --from DAY --to DAY")
    tz = pc.settings.programme.timezone
    if by_account:
        if account is None or since is None or until is None:
            raise UsageError("--account needs --from and --to")
        start, end = parse_day(since, tz), parse_day(until, tz, end_of_day=True)
        if start >= end:
            raise UsageError(f"--from {since} is after --to {until}")
        link = ComputeLink(company, model, account=account, start=start, end=end)
    else:
        link = ComputeLink(company, model, job_ids=job_ids)
    with pc.writing() as (conn, view):
        view.company(company)
        if not any(r.model == model for r in load_runs(conn, company_id=company)):
            raise UsageError(
                f"--model {model!r}: {company} has no evaluation run of that model (see `quotad eval runs`)"
            )
        found = checked(view, link)
        set_link(conn, link, now=epoch_now())
    types = ", ".join(f"{t} {gpu_hours(s):,.1f}" for t, s in found.by_gpu_type.items()) or "none"
    what = f"{found.segments} job segments" if link.account is None else f"account {account} {since}..{until}"
    amount = f"{found.gpu_hours:,.1f} GPU-h ({types}), {found.eflops_hours:,.4f} EFLOPS-h"
    print(f"{company} {model}: linked to {what}: {amount}")


@app.command("links")
def links_cmd(ctx: typer.Context, company: str | None = typer.Option(None, "--company"), fmt: str = FormatOpt) -> None:
    """Every model's linked compute, resolved against the ledger now."""
    chosen = pick_choice("--format", fmt, FORMATS)
    pc, _, _ = _setup(ctx)
    tz = pc.settings.programme.timezone
    with pc.reading() as (conn, view):
        links = load_links(conn, company_id=company)
        resolved = resolve_all(view, links)
    rows: list[Sequence[Cell]] = []
    for link in links:
        found = resolved[(link.company_id, link.model)]
        basis = (
            f"account {link.account} {format_day(link.start or 0, tz)}..{format_day((link.end or 1) - 1, tz)}"
            if link.account is not None
            else f"jobs {', '.join(link.job_ids[:5])}{', ...' if len(link.job_ids) > 5 else ''}"
        )
        by_type = ", ".join(f"{t} {gpu_hours(s):,.1f}" for t, s in found.by_gpu_type.items())
        rows.append(
            [link.company_id, link.model, basis, round(found.gpu_hours, 1), by_type, round(found.eflops_hours, 4)]
        )
    emit(
        Table(
            ["Company", "Model", "Linked compute", "GPU-h", "GPU-h by type", "EFLOPS-h"],
            rows,
            title="Compute linked to models",
            keys=["company", "model", "linked", "gpu_hours", "gpu_hours_by_type", "eflops_hours"],
        ),
        chosen,
    )


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
