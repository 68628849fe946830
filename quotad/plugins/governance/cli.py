"""``quotad governance``: AI-guidelines checklists, companies' self-assessments, sign-off, coverage, carry-over."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from quotad.cli.context import FormatOption, JsonOption, operator_name, pick_format
from quotad.errors import UsageError
from quotad.plugins.api import plugin_context
from quotad.plugins.governance.carry import carry_answers
from quotad.plugins.governance.checklist import diff_checklists, load_checklist_file
from quotad.plugins.governance.coverage import build_coverage
from quotad.plugins.governance.importer import import_answers, parse_answer
from quotad.plugins.governance.render import (
    answers_table,
    carry_table,
    checklist_table,
    checklists_table,
    coverage_table,
    diff_table,
)
from quotad.plugins.governance.store import (
    available_checklists,
    current_answers,
    ensure_stored,
    history,
    pick_checklist,
    record_answer,
    sign_off,
    store_checklist,
    stored_versions,
)
from quotad.render import emit
from quotad.timeutil import epoch_now

__all__ = ["app"]

log = logging.getLogger("quotad.governance")
app = typer.Typer(help="AI-guidelines checklist: self-assessments, sign-off, coverage.", no_args_is_help=True)
checklist_app = typer.Typer(help="Checklist versions: list, show, load, diff.", no_args_is_help=True)
app.add_typer(checklist_app, name="checklist")

VersionOpt = typer.Option(None, "--version", help="Checklist version [default: the latest].")


def _who(by: str | None) -> str:
    name = operator_name(by).strip()
    if not name:
        raise UsageError("--by must not be empty")
    return name


@checklist_app.command("list")
def checklist_list(ctx: typer.Context, fmt: str = FormatOption, as_json: bool = JsonOption) -> None:
    """Every checklist version: shipped with quotad or loaded, and whether it is stored in the ledger yet."""
    chosen = pick_format(fmt, as_json)
    pc = plugin_context(ctx)
    with pc.reading() as (conn, _view):
        checklists = available_checklists(conn)
        stored = stored_versions(conn)
    emit(checklists_table(list(checklists.values()), stored), chosen)


@checklist_app.command("show")
def checklist_show(
    ctx: typer.Context, version: str | None = typer.Argument(None), fmt: str = FormatOption, as_json: bool = JsonOption
) -> None:
    """The items of one version (default the latest), with their sections and guideline references."""
    chosen = pick_format(fmt, as_json)
    pc = plugin_context(ctx)
    with pc.reading() as (conn, _view):
        checklist = pick_checklist(available_checklists(conn), version)
    emit(checklist_table(checklist), chosen)


@checklist_app.command("load")
def checklist_load(ctx: typer.Context, file: Path = typer.Argument(..., help="Checklist TOML file.")) -> None:
    """Validate and store a checklist version (the same file again changes nothing)."""
    checklist = load_checklist_file(file)
    pc = plugin_context(ctx)
    with pc.writing() as (conn, _view):
        outcome = store_checklist(conn, checklist, now=epoch_now())
    print(f"checklist {checklist.version} ({len(checklist.items)} items) from {file}: {outcome}")


@checklist_app.command("diff")
def checklist_diff(ctx: typer.Context, old: str, new: str, fmt: str = FormatOption, as_json: bool = JsonOption) -> None:
    """Items added, removed and changed between two versions, and whether answers carry over."""
    chosen = pick_format(fmt, as_json)
    pc = plugin_context(ctx)
    with pc.reading() as (conn, _view):
        checklists = available_checklists(conn)
    a, b = pick_checklist(checklists, old), pick_checklist(checklists, new)
    emit(diff_table(a, b, diff_checklists(a, b)), chosen)


@app.command("assess")
def assess_cmd(
    ctx: typer.Context,
    company: str = typer.Argument(..., help="Company id."),
    item: str = typer.Argument(..., help="Item key (see `governance checklist show`)."),
    answer: str = typer.Option(..., "--answer", help="yes, no, na or in_progress."),
    evidence: str = typer.Option("", "--evidence", help="http(s) link to the evidence."),
    comment: str = typer.Option("", "--comment"),
    by: str | None = typer.Option(None, "--by", help="Who answered [default: your user name]."),
    version: str | None = VersionOpt,
) -> None:
    """Record a company's answer to one item; a changed answer clears the office's sign-off (history is kept)."""
    chosen = parse_answer(answer)
    pc = plugin_context(ctx)
    now = epoch_now()
    with pc.writing() as (conn, view):
        view.company(company)
        checklist = ensure_stored(conn, version, now=now)
        outcome = record_answer(
            conn,
            company_id=company,
            checklist=checklist,
            item_key=item,
            answer=chosen,
            evidence_url=evidence.strip(),
            comment=comment.strip(),
            by=_who(by),
            now=now,
        )
    cleared = " (sign-off cleared)" if outcome == "changed" else ""
    print(f"{company} {checklist.version} {item}: {chosen}, {outcome}{cleared}")


@app.command("import")
def import_cmd(
    ctx: typer.Context,
    company: str = typer.Argument(..., help="Company id."),
    file: Path = typer.Argument(..., help="CSV with columns item,answer,evidence,comment."),
    by: str | None = typer.Option(None, "--by", help="Who answered [default: your user name]."),
    version: str | None = VersionOpt,
) -> None:
    """Import answers from CSV: good rows land, bad rows are reported with line and field (exit 1 if any)."""
    try:
        content = file.read_bytes()
    except OSError as exc:
        raise UsageError(f"{file}: cannot read it ({exc.strerror or exc})") from None
    pc = plugin_context(ctx)
    now = epoch_now()
    with pc.writing() as (conn, view):
        view.company(company)
        checklist = ensure_stored(conn, version, now=now)
        report = import_answers(
            conn, company_id=company, checklist=checklist, content=content, source=str(file), by=_who(by), now=now
        )
    c = report.counts
    print(
        f"{file}: {c['answered']} answered, {c['changed']} changed, {c['unchanged']} unchanged, "
        f"{len(report.errors)} refused (checklist {checklist.version}, {company})"
    )
    for error in report.errors:
        log.error("refused %s", error)
    if report.errors:
        raise typer.Exit(1)


@app.command("signoff")
def signoff_cmd(
    ctx: typer.Context,
    company: str = typer.Argument(..., help="Company id."),
    items: list[str] = typer.Argument(None, help="Item keys [default: every answered item]."),
    by: str = typer.Option(..., "--by", help="Office member signing off."),
    version: str | None = VersionOpt,
) -> None:
    """The office signs off a company's current answers (in-progress ones cannot be signed off)."""
    pc = plugin_context(ctx)
    now = epoch_now()
    with pc.writing() as (conn, view):
        view.company(company)
        checklist = ensure_stored(conn, version, now=now)
        report = sign_off(conn, company_id=company, checklist=checklist, item_keys=items or None, by=_who(by), now=now)
    print(
        f"{company} {checklist.version}: {len(report.signed)} signed off, {len(report.already)} already signed off, "
        f"{len(report.skipped)} in progress skipped, {len(report.unanswered)} unanswered"
    )
    for key in report.skipped:
        print(f"  in progress: {key}")


@app.command("coverage")
def coverage_cmd(
    ctx: typer.Context,
    version: str | None = VersionOpt,
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Per company and section: answered/total, share of yes, share signed off. Every company is listed."""
    chosen = pick_format(fmt, as_json)
    pc = plugin_context(ctx)
    with pc.reading() as (conn, view):
        checklist = pick_checklist(available_checklists(conn), version)
        answers = current_answers(conn, version=checklist.version)
        companies = view.companies()
    rows = build_coverage(checklist, [c.id for c in companies], answers)
    emit(coverage_table(checklist, rows, {c.id: c.name_en for c in companies}), chosen)


@app.command("answers")
def answers_cmd(
    ctx: typer.Context,
    company: str = typer.Argument(..., help="Company id."),
    version: str | None = VersionOpt,
    show_history: bool = typer.Option(False, "--history", help="Every answer given, superseded ones too."),
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """A company's answers for one version, or their whole history."""
    chosen = pick_format(fmt, as_json)
    pc = plugin_context(ctx)
    with pc.reading() as (conn, view):
        view.company(company)
        checklist = pick_checklist(available_checklists(conn), version)
        if show_history:
            rows = history(conn, company_id=company, version=checklist.version)
        else:
            current = current_answers(conn, version=checklist.version, company_id=company)
            order = {k: n for n, k in enumerate(checklist.item_keys())}
            rows = sorted(current.values(), key=lambda a: order.get(a.item_key, len(order)))
    title = f"{company}: checklist {checklist.version}" + (" (history)" if show_history else "")
    emit(answers_table(checklist, rows, pc.settings.programme.timezone, title=title), chosen)


@app.command("carry")
def carry_cmd(
    ctx: typer.Context,
    company: str = typer.Argument(..., help="Company id."),
    old: str = typer.Option(..., "--from", help="Version answered so far."),
    new: str = typer.Option(..., "--to", help="Version to carry the answers to."),
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Copy answers of unchanged items to the new version; list the changed and new items that need an answer."""
    chosen = pick_format(fmt, as_json)
    if old == new:
        raise UsageError("--from and --to name the same version")
    pc = plugin_context(ctx)
    now = epoch_now()
    with pc.writing() as (conn, view):
        view.company(company)
        a = ensure_stored(conn, old, now=now)
        b = ensure_stored(conn, new, now=now)
        lines = carry_answers(conn, company_id=company, old=a, new=b, now=now)
    emit(carry_table(lines, a.version, b.version), chosen)
