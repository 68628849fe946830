"""``quotad challenges``: the office's log of what holds the companies back. Thin, like the core CLI.

Every write validates the whole entry (``records.check_spec``) with its links resolved on the same
connection: the company through the ledger view, a directive through the ledger view, an event or a review
call through the owning plugin's reference check (``Host.reference_checks``), never through its tables.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import typer
from sqlalchemy import Connection

from quotad.cli.context import FormatOption, JsonOption, operator_name, pick_format
from quotad.errors import NotFoundError, UsageError
from quotad.plugins.api import Host, LedgerView, PluginContext, plugin_context, plugin_settings
from quotad.plugins.challenges.config import ChallengesConfig
from quotad.plugins.challenges.importer import DEFAULTS, import_csv
from quotad.plugins.challenges.records import (
    SEVERITIES,
    SOURCE_KINDS,
    STATUSES,
    VISIBILITIES,
    ChallengeSpec,
    FieldProblem,
    Links,
    check_spec,
)
from quotad.plugins.challenges.render import categories_table, entries_table, entry_table, history_table
from quotad.plugins.challenges.store import find_entry, history, list_entries, save
from quotad.render import emit, render
from quotad.timeutil import epoch_now

__all__ = ["make_app"]

_BY = typer.Option(None, "--by", help="Who records this (default: your login name).")


def _config(pc: PluginContext) -> ChallengesConfig:
    return plugin_settings(pc.settings, "challenges", ChallengesConfig)


def _links(host: Host, conn: Connection, view: LedgerView) -> Links:
    known = {c.id for c in view.companies()}
    checks = host.reference_checks()

    def bound(kind: str) -> Callable[[str], bool] | None:
        check = checks.get(kind)
        if check is None:
            return None
        return lambda ref: check(conn, ref)

    return Links(
        company=known.__contains__,
        sources={
            "directive": lambda ref: view.directive_exists(int(ref)),
            "event": bound("event"),
            "review": bound("review_call"),
        },
    )


def _refuse(what: str, problems: list[FieldProblem]) -> None:
    if problems:
        raise UsageError(f"{what}: " + "; ".join(str(p) for p in problems))


def make_app(host: Host) -> typer.Typer:
    """The ``challenges`` command group; ``host`` resolves links to other plugins' records at command time."""
    app = typer.Typer(help="Challenges log: what holds the companies back, for the survey.", no_args_is_help=True)

    @app.command("add")
    def add(
        ctx: typer.Context,
        key: str = typer.Argument(..., help="Your stable reference, e.g. 2026-11-acme-interview-1."),
        noted_on: str = typer.Option(..., "--noted-on", help="When the office heard of it (YYYY-MM-DD)."),
        category: str = typer.Option(..., "--category", help="A category key (see `challenges categories`)."),
        description_ja: str = typer.Option("", "--description-ja", help="What holds them back (Japanese)."),
        description_en: str = typer.Option("", "--description-en", help="The same in English."),
        company: str | None = typer.Option(None, "--company", help="Company id; leave out if programme-wide."),
        severity: str = typer.Option(DEFAULTS["severity"], "--severity", help=", ".join(SEVERITIES)),
        source_kind: str = typer.Option(DEFAULTS["source_kind"], "--source", help=", ".join(SOURCE_KINDS)),
        source_ref: str = typer.Option("", "--source-ref", help="Event id, directive id or review call id."),
        status: str = typer.Option(DEFAULTS["status"], "--status", help=", ".join(STATUSES)),
        response: str = typer.Option("", "--response", help="The office's response so far."),
        visibility: str = typer.Option(DEFAULTS["visibility"], "--visibility", help=", ".join(VISIBILITIES)),
        by: str | None = _BY,
    ) -> None:
        """Record a challenge (refused if the key exists: use `update`)."""
        pc = plugin_context(ctx)
        spec = ChallengeSpec(
            key=key,
            company_id=company,
            noted_on=noted_on,
            category=category,
            severity=severity,
            description_ja=description_ja,
            description_en=description_en,
            source_kind=source_kind,
            source_ref=source_ref,
            status=status,
            response=response,
            visibility=visibility,
        )
        with pc.writing() as (conn, view):
            try:
                find_entry(conn, key)
            except NotFoundError:
                pass
            else:
                raise UsageError(f"challenge {key!r} already exists: change it with `quotad challenges update`")
            _refuse(f"challenge {key!r}", check_spec(spec, _config(pc), _links(host, conn, view)))
            entry, _ = save(conn, spec, actor=operator_name(by), now=epoch_now())
        print(f"challenge {entry.spec.key} recorded (id {entry.id}, {spec.category}, {spec.visibility})")

    @app.command("update")
    def update_cmd(
        ctx: typer.Context,
        ref: str = typer.Argument(..., help="Key or id."),
        noted_on: str | None = typer.Option(None, "--noted-on"),
        category: str | None = typer.Option(None, "--category"),
        description_ja: str | None = typer.Option(None, "--description-ja"),
        description_en: str | None = typer.Option(None, "--description-en"),
        company: str | None = typer.Option(None, "--company", help="Company id; '-' for programme-wide."),
        severity: str | None = typer.Option(None, "--severity"),
        source_kind: str | None = typer.Option(None, "--source"),
        source_ref: str | None = typer.Option(None, "--source-ref"),
        status: str | None = typer.Option(None, "--status"),
        response: str | None = typer.Option(None, "--response"),
        visibility: str | None = typer.Option(None, "--visibility"),
        by: str | None = _BY,
    ) -> None:
        """Change fields of a challenge (its status and response, typically); every change goes to its history."""
        pc = plugin_context(ctx)
        given = {
            "noted_on": noted_on,
            "category": category,
            "description_ja": description_ja,
            "description_en": description_en,
            "severity": severity,
            "source_kind": source_kind,
            "source_ref": source_ref,
            "status": status,
            "response": response,
            "visibility": visibility,
        }
        changes: dict[str, str | None] = {k: v for k, v in given.items() if v is not None}
        if company is not None:
            changes["company_id"] = None if company == "-" else company
        if not changes:
            raise UsageError("nothing to change: give at least one option (see --help)")
        with pc.writing() as (conn, view):
            entry = find_entry(conn, ref)
            spec = replace(entry.spec, **changes)  # type: ignore[arg-type]
            _refuse(f"challenge {entry.spec.key!r}", check_spec(spec, _config(pc), _links(host, conn, view)))
            _, outcome = save(conn, spec, actor=operator_name(by), now=epoch_now())
        print(f"challenge {entry.spec.key} {outcome}")

    @app.command("list")
    def list_cmd(
        ctx: typer.Context,
        company: str | None = typer.Option(None, "--company"),
        category: str | None = typer.Option(None, "--category"),
        status: str | None = typer.Option(None, "--status"),
        visibility: str | None = typer.Option(None, "--visibility"),
        since: str | None = typer.Option(None, "--since", help="Noted on or after (YYYY-MM-DD)."),
        until: str | None = typer.Option(None, "--until", help="Noted on or before (YYYY-MM-DD)."),
        fmt: str = FormatOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Challenges matching every filter given, oldest first."""
        chosen = pick_format(fmt, as_json)
        pc = plugin_context(ctx)
        with pc.reading() as (conn, _view):
            entries = list_entries(
                conn,
                company_id=company,
                category=category,
                status=status,
                visibilities=None if visibility is None else (visibility,),
                since=since,
                until=until,
            )
        table = entries_table(entries)
        emit(table, chosen)
        if not entries and chosen == "table":
            print("No challenges match.")

    @app.command("show")
    def show(
        ctx: typer.Context,
        ref: str = typer.Argument(..., help="Key or id."),
        fmt: str = FormatOption,
        as_json: bool = JsonOption,
    ) -> None:
        """One challenge, every field whole, and its history."""
        chosen = pick_format(fmt, as_json)
        pc = plugin_context(ctx)
        tz = pc.settings.programme.timezone
        with pc.reading() as (conn, _view):
            entry = find_entry(conn, ref)
            changes = history(conn, entry.id)
        if chosen == "json":
            payload = {"entry": {r["field"]: r["value"] for r in entry_table(entry, tz).records()}}
            payload["history"] = history_table(entry, changes, tz).records()  # type: ignore[assignment]
            print(json.dumps(payload, ensure_ascii=False, indent=2))
            return
        print(render(entry_table(entry, tz), chosen))
        print()
        print(render(history_table(entry, changes, tz), chosen))

    @app.command("import")
    def import_cmd(
        ctx: typer.Context,
        path: Path = typer.Argument(..., help="CSV (UTF-8) with a header naming the fields; see the README."),
        by: str | None = _BY,
        as_json: bool = JsonOption,
    ) -> None:
        """Import challenges from CSV: good rows land, bad rows are reported by line and field (exit 1)."""
        pc = plugin_context(ctx)
        actor, now = operator_name(by), epoch_now()
        with pc.writing() as (conn, view):
            links, config = _links(host, conn, view), _config(pc)
            report = import_csv(
                path,
                check=lambda spec: check_spec(spec, config, links),
                save=lambda spec: save(conn, spec, actor=actor, now=now)[1],
            )
        if as_json:
            print(
                json.dumps(
                    {
                        "source": report.source,
                        "created": report.created,
                        "updated": report.updated,
                        "unchanged": report.unchanged,
                        "errors": [e.__dict__ for e in report.errors],
                    },
                    ensure_ascii=False,
                    indent=2,
                )
            )
        else:
            for error in report.errors:
                typer.echo(f"error: {error}", err=True)
            print(
                f"{report.source}: {len(report.created)} created, {len(report.updated)} updated, "
                f"{len(report.unchanged)} unchanged, {report.failed_rows} row(s) refused"
            )
        if report.errors:
            raise typer.Exit(1)

    @app.command("categories")
    def categories(ctx: typer.Context, fmt: str = FormatOption, as_json: bool = JsonOption) -> None:
        """The configured categories with their ja/en labels."""
        emit(categories_table(_config(plugin_context(ctx))), pick_format(fmt, as_json))

    return app
