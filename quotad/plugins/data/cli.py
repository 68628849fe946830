"""``quotad data``: data holders, datasets, companies' needs, matching, introductions and bulk import. Thin.

``add`` commands upsert by id (running one twice changes nothing) and go through the same validation as the
importers, so a value the CLI accepts an import accepts too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer

from quotad.cli.context import FormatOption, JsonOption, NowOption, parse_now, pick_format
from quotad.errors import UsageError
from quotad.plugins.api import plugin_context, plugin_settings
from quotad.plugins.data.importer import FORMATS, ImportFormat, import_rows, read_rows
from quotad.plugins.data.match import hard_filter, match_need
from quotad.plugins.data.records import (
    HolderRecord,
    dataset_from_raw,
    parse_choice,
    parse_languages,
    parse_list,
    parse_size,
    parse_slug,
)
from quotad.plugins.data.render import (
    dataset_detail,
    datasets_table,
    holders_table,
    intros_table,
    match_json,
    match_table,
    needs_table,
)
from quotad.plugins.data.store import (
    INTRO_STATUSES,
    NeedRecord,
    add_need,
    get_dataset,
    get_need,
    intro_events,
    list_datasets,
    list_holders,
    list_intros,
    list_needs,
    propose_intro,
    set_intro_status,
    upsert_dataset,
    upsert_holder,
)
from quotad.plugins.data.vocab import ACCESS_MODES, MODALITIES, USES, Use
from quotad.plugins.data_config import DataConfig
from quotad.plugins.introductions import intro_events_table
from quotad.render import emit, render

__all__ = ["app"]

log = logging.getLogger("quotad.data")

app = typer.Typer(help="Data holders and datasets, companies' data needs, matching and introductions.",
                  no_args_is_help=True)  # fmt: skip
holder_app = typer.Typer(help="Organisations that hold data.", no_args_is_help=True)
dataset_app = typer.Typer(help="Datasets and their licence, uses, access and risk.", no_args_is_help=True)
need_app = typer.Typer(help="What data a company needs.", no_args_is_help=True)
intro_app = typer.Typer(help="Introductions of a dataset to a company's need, with status history.",
                        no_args_is_help=True)  # fmt: skip
app.add_typer(holder_app, name="holder")
app.add_typer(dataset_app, name="dataset")
app.add_typer(need_app, name="need")
app.add_typer(intro_app, name="intro")

ActorOption = typer.Option("office", "--actor", help="Who makes the change (kept in the history).")
NoteOption = typer.Option("", "--note", help="Why (kept in the history).")


T = TypeVar("T")


def _option(name: str, parse: Callable[[object], T], value: object) -> T:
    """Run a records parser on a CLI value, turning its ValueError into a usage error naming the option."""
    try:
        return parse(value)
    except ValueError as exc:
        raise UsageError(f"{name}: {exc}") from None


# -- holders ---------------------------------------------------------------------------------------------------


@holder_app.command("add")
def holder_add(
    ctx: typer.Context,
    holder_id: str = typer.Argument(..., help="Holder id (slug)."),
    name_ja: str = typer.Option("", "--name-ja"),
    name_en: str = typer.Option("", "--name-en"),
    email: str = typer.Option("", "--email", help="Contact e-mail."),
    url: str = typer.Option("", "--url"),
    now_text: str | None = NowOption,
) -> None:
    """Add a data holder, or update the details given (upsert by id)."""
    slug = _option("holder id", parse_slug, holder_id)
    if not name_ja.strip() and not name_en.strip():
        raise UsageError("a holder needs --name-ja or --name-en")
    if email and "@" not in email:
        raise UsageError(f"--email {email!r} is not an e-mail address")
    pc = plugin_context(ctx)
    with pc.writing() as (conn, _view):
        outcome = upsert_holder(
            conn, HolderRecord(slug, name_ja.strip(), name_en.strip(), email.strip(), url.strip()), source="manual",
            now=parse_now(now_text),
        )  # fmt: skip
    print(f"holder {slug}: {outcome}")


@holder_app.command("list")
def holder_list(ctx: typer.Context, fmt: str = FormatOption, as_json: bool = JsonOption) -> None:
    """Every data holder with its number of datasets."""
    chosen = pick_format(fmt, as_json)
    with plugin_context(ctx).reading() as (conn, _view):
        holders = list_holders(conn)
    emit(holders_table(holders), chosen)


# -- datasets --------------------------------------------------------------------------------------------------


@dataset_app.command("add")
def dataset_add(
    ctx: typer.Context,
    dataset_id: str = typer.Argument(..., help="Dataset id (slug)."),
    holder: str = typer.Option(..., "--holder", help="Holder id (see `data holder add`)."),
    title_ja: str = typer.Option("", "--title-ja"),
    title_en: str = typer.Option("", "--title-en"),
    description_ja: str = typer.Option("", "--description-ja"),
    description_en: str = typer.Option("", "--description-en"),
    publisher: str = typer.Option("", "--publisher"),
    contact: str = typer.Option("", "--contact", help="Contact e-mail for this dataset."),
    url: str = typer.Option("", "--url"),
    domains: list[str] = typer.Option([], "--domain", help="Domain (repeat, or comma-separated)."),
    languages: list[str] = typer.Option([], "--language", help="ISO 639-1 code (repeat, or comma-separated)."),
    modality: str = typer.Option(..., "--modality", help=", ".join(MODALITIES)),
    size_tokens: str = typer.Option("", "--tokens", help="Size in tokens (e.g. 2.5B)."),
    size_bytes: str = typer.Option("", "--bytes", help="Size in bytes (e.g. 12GB, 3GiB)."),
    licence: str = typer.Option("", "--licence", help="SPDX id or LicenseRef-..."),
    licence_name: str = typer.Option("", "--licence-name", help="Licence name when there is no SPDX id."),
    training: str = typer.Option("", "--training", help="yes/no [default: from the licence]."),
    commercial: str = typer.Option("", "--commercial", help="yes/no [default: from the licence]."),
    derivatives: str = typer.Option("", "--derivatives", help="yes/no [default: from the licence]."),
    access: str = typer.Option(..., "--access", help=", ".join(ACCESS_MODES)),
    pii: str = typer.Option("unknown", "--pii", help="none, pseudonymised, contains or unknown."),
    copyright_status: str = typer.Option("unknown", "--copyright", help="cleared, mixed or unknown."),
    price: str = typer.Option("", "--price", help="free, or e.g. '500000 JPY' (minor units) [default: on request]."),
    now_text: str | None = NowOption,
) -> None:
    """Add a dataset, or update it (upsert by id); every problem with the values is listed at once."""
    raw = {
        "id": dataset_id, "holder": holder, "title_ja": title_ja, "title_en": title_en,
        "description_ja": description_ja, "description_en": description_en, "publisher": publisher,
        "contact_email": contact, "url": url, "domains": ",".join(domains), "languages": ",".join(languages),
        "modality": modality, "size_tokens": size_tokens, "size_bytes": size_bytes, "licence": licence,
        "licence_name": licence_name, "training": training, "commercial": commercial, "derivatives": derivatives,
        "access_mode": access, "pii": pii, "copyright": copyright_status, "price": price,
    }  # fmt: skip
    record, problems = dataset_from_raw(raw)
    if record is None:
        raise UsageError(f"dataset {dataset_id!r} refused: " + "; ".join(str(p) for p in problems))
    with plugin_context(ctx).writing() as (conn, _view):
        outcome = upsert_dataset(conn, record, source="manual", now=parse_now(now_text))
    print(f"dataset {record.id}: {outcome}")


@dataset_app.command("list")
def dataset_list(
    ctx: typer.Context,
    holder: str | None = typer.Option(None, "--holder", help="Only this holder's datasets."),
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Every dataset with its languages, modality, size, licence, allowed uses, access and price."""
    chosen = pick_format(fmt, as_json)
    with plugin_context(ctx).reading() as (conn, _view):
        datasets = list_datasets(conn, holder_id=holder)
    emit(datasets_table(datasets), chosen)


@dataset_app.command("show")
def dataset_show(
    ctx: typer.Context, dataset_id: str = typer.Argument(...), fmt: str = FormatOption, as_json: bool = JsonOption
) -> None:
    """Every field of one dataset."""
    chosen = pick_format(fmt, as_json)
    pc = plugin_context(ctx)
    with pc.reading() as (conn, _view):
        stored = get_dataset(conn, dataset_id)
    emit(dataset_detail(stored, pc.settings.programme.timezone), chosen)


@app.command("import")
def import_cmd(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="CSV, JSON or CKAN package JSON files."),
    fmt: str = typer.Option(..., "--format", help="csv, json or ckan."),
    now_text: str | None = NowOption,
) -> None:
    """Import datasets (upsert by id): good rows land, bad rows are reported by file, row and field (exit 1).

    A file that cannot be read as a whole is refused before anything is written.
    """
    kind: ImportFormat | None = next((f for f in FORMATS if f == fmt), None)
    if kind is None:
        raise UsageError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    parsed = [(path, read_rows(path, kind)) for path in files]  # every file checked before any is written
    now = parse_now(now_text)
    failed = 0
    with plugin_context(ctx).writing() as (conn, _view):
        reports = [import_rows(conn, rows, source=str(path), kind=kind, now=now) for path, rows in parsed]
    for report in reports:
        for error in report.errors:
            log.error("%s", error)
        print(
            f"{report.source}: {len(report.created)} created, {len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged, {report.failed_rows} row(s) failed"
        )
        failed += report.failed_rows
    if failed:
        raise typer.Exit(1)


# -- needs -----------------------------------------------------------------------------------------------------


def _uses(values: list[str]) -> tuple[Use, ...]:
    wanted = set(parse_list(",".join(values)))
    unknown = wanted - set(USES)
    if unknown:
        raise UsageError(f"--require {', '.join(sorted(unknown))}: expected {', '.join(USES)}")
    return tuple(u for u in USES if u in wanted)


def _choices(name: str, values: list[str], allowed: tuple[str, ...]) -> tuple[str, ...]:
    items = parse_list(",".join(values))
    for item in items:
        _option(name, lambda v: parse_choice(v, allowed), item)
    return items


@need_app.command("add")
def need_add(
    ctx: typer.Context,
    company: str = typer.Option(..., "--company", help="Company id."),
    domains: list[str] = typer.Option([], "--domain", help="Wanted domain (repeat, or comma-separated)."),
    languages: list[str] = typer.Option([], "--language", help="ISO 639-1 code (repeat) [default: any]."),
    modalities: list[str] = typer.Option([], "--modality", help="Accepted modality (repeat) [default: any]."),
    min_tokens: str = typer.Option("", "--min-tokens", help="Tokens wanted (e.g. 10B)."),
    require: list[str] = typer.Option(
        [], "--require", help="Use that must be allowed: training, commercial, derivatives (repeat)."
    ),
    access: list[str] = typer.Option([], "--access", help="Acceptable access mode (repeat) [default: any]."),
    priority: int = typer.Option(3, "--priority", min=1, max=5, help="1 (most urgent) to 5."),
    note: str = typer.Option("", "--note"),
    now_text: str | None = NowOption,
) -> None:
    """Record what data a company needs; `data match` filters and ranks datasets against it."""
    need = NeedRecord(
        company_id=company,
        domains=parse_list(",".join(domains)),
        languages=_option("--language", parse_languages, ",".join(languages)),
        modalities=_choices("--modality", modalities, MODALITIES),
        min_tokens=_option("--min-tokens", lambda v: parse_size(v, unit="tokens"), min_tokens),
        required_uses=_uses(require),
        access_modes=_choices("--access", access, ACCESS_MODES),
        priority=priority,
        note=note,
    )
    with plugin_context(ctx).writing() as (conn, view):
        view.company(company)
        need_id = add_need(conn, need, now=parse_now(now_text))
    print(f"need {need_id} added for {company}")


@need_app.command("list")
def need_list(
    ctx: typer.Context,
    company: str | None = typer.Option(None, "--company", help="Only this company."),
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Every need, most urgent first."""
    chosen = pick_format(fmt, as_json)
    with plugin_context(ctx).reading() as (conn, view):
        if company is not None:
            view.company(company)
        needs = list_needs(conn, company_id=company)
    emit(needs_table(needs), chosen)


# -- matching --------------------------------------------------------------------------------------------------


@app.command("match")
def match_cmd(
    ctx: typer.Context,
    company: str | None = typer.Option(None, "--company", help="Only this company's needs [default: every need]."),
    need_id: int | None = typer.Option(None, "--need", help="Only this need."),
    show_all: bool = typer.Option(False, "--all", "--explain", help="Also list excluded datasets and why."),
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Hard filters (uses, language, modality, access) then a weighted score, explained term by term."""
    chosen = pick_format(fmt, as_json)
    pc = plugin_context(ctx)
    weights = plugin_settings(pc.settings, "data", DataConfig).weights
    with pc.reading() as (conn, view):
        if company is not None:
            view.company(company)
        needs = [get_need(conn, need_id)] if need_id is not None else list_needs(conn, company_id=company)
        if company is not None:
            needs = [n for n in needs if n.company_id == company]
        datasets = [d.record for d in list_datasets(conn)]
    matches = [match_need(n, datasets, weights) for n in needs]
    if chosen == "json":
        print(match_json(matches, include_excluded=show_all))
        return
    if not needs:
        print("no data needs recorded" + (f" for {company}" if company else ""))
        return
    print(render(match_table(matches, include_excluded=show_all), chosen))


# -- introductions ---------------------------------------------------------------------------------------------


@intro_app.command("propose")
def intro_propose(
    ctx: typer.Context,
    need_id: int = typer.Argument(..., help="Need id (see `data need list`)."),
    dataset_id: str = typer.Argument(..., help="Dataset id."),
    force: bool = typer.Option(False, "--force", help="Propose even though a hard filter excludes the dataset."),
    actor: str = ActorOption,
    note: str = NoteOption,
    now_text: str | None = NowOption,
) -> None:
    """Propose introducing a dataset's holder to the company with the need (status: proposed)."""
    with plugin_context(ctx).writing() as (conn, _view):
        exclusion = hard_filter(get_need(conn, need_id), get_dataset(conn, dataset_id).record)
        if exclusion is not None and not force:
            raise UsageError(
                f"dataset {dataset_id!r} fails the {exclusion.filter} filter of need {need_id}: {exclusion.reason} "
                "(--force to propose anyway)"
            )
        if exclusion is not None:
            note = f"{note} [forced past the {exclusion.filter} filter: {exclusion.reason}]".strip()
        intro = propose_intro(conn, need_id, dataset_id, actor=actor, note=note, now=parse_now(now_text))
    print(f"introduction {intro.id}: need {need_id} ({intro.company_id}) <- {dataset_id}: proposed")


@intro_app.command("set")
def intro_set(
    ctx: typer.Context,
    intro_id: int = typer.Argument(..., help="Introduction id."),
    status: str = typer.Argument(..., help="introduced, agreed or declined."),
    actor: str = ActorOption,
    note: str = NoteOption,
    now_text: str | None = NowOption,
) -> None:
    """Move an introduction on (proposed -> introduced -> agreed, or declined); illegal moves are refused."""
    with plugin_context(ctx).writing() as (conn, _view):
        intro = set_intro_status(conn, intro_id, status, actor=actor, note=note, now=parse_now(now_text))
    print(f"introduction {intro.id}: {intro.status}")


@intro_app.command("list")
def intro_list(
    ctx: typer.Context,
    company: str | None = typer.Option(None, "--company", help="Only this company."),
    status: str | None = typer.Option(None, "--status", help="Only this status."),
    history: bool = typer.Option(False, "--history", help="Every status change instead of the current status."),
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Introductions and their current status, or (--history) every change with actor, time and note."""
    chosen = pick_format(fmt, as_json)
    if status is not None and status not in INTRO_STATUSES:
        raise UsageError(f"--status {status!r}: expected one of {', '.join(INTRO_STATUSES)}")
    pc = plugin_context(ctx)
    with pc.reading() as (conn, view):
        if company is not None:
            view.company(company)
        intros = list_intros(conn, company_id=company, status=status)
        events = intro_events(conn, [i.id for i in intros]) if history else []
    emit(intro_events_table(events) if history else intros_table(intros, pc.settings.programme.timezone), chosen)
