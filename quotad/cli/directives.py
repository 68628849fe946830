"""``quotad directives``: list, show, acknowledge and resolve directives."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import typer

from quotad.cli.context import FormatOption, JsonOption, NowOption, operator_name, parse_now, pick_format, state
from quotad.directives.codec import DirectiveView
from quotad.directives.models import ACTIVE_STATES
from quotad.directives.store import (
    ActionView,
    EventView,
    acknowledge,
    directive_actions,
    directive_events,
    get_directive,
    list_directives,
    resolve,
)
from quotad.render import Cell, Table, emit
from quotad.timeutil import format_day

__all__ = ["app", "directive_table", "list_table"]

log = logging.getLogger("quotad.directives")

app = typer.Typer(help="Directives: what companies have been told, and where each case stands.", no_args_is_help=True)


def _day(epoch: int | None, tz: str) -> str | None:
    return format_day(epoch, tz) if epoch is not None else None


def list_table(directives: list[DirectiveView], tz: str) -> Table:
    return Table(
        [
            "ID",
            "Policy",
            "Company",
            "Subject",
            "State",
            "Severity",
            "Level",
            "Opened",
            "Notices",
            "Escalation",
            "Summary",
        ],
        [
            [
                d.id,
                d.policy,
                d.company_id,
                d.subject_key,
                d.state,
                d.severity.label,
                d.level,
                _day(d.opened_at, tz),
                d.notices,
                d.escalation,
                d.summary,
            ]
            for d in directives
        ],
        title="Directives",
        keys=[
            "id",
            "policy",
            "company",
            "subject",
            "state",
            "severity",
            "level",
            "opened",
            "notices",
            "escalation",
            "summary",
        ],
    )


def directive_table(d: DirectiveView, events: list[EventView], actions: list[ActionView], tz: str) -> Table:
    f = d.finding
    rows: list[Sequence[Cell]] = [
        ["policy", d.policy],
        ["subject", d.subject_key],
        ["state", d.state],
        ["severity", d.severity.label],
        ["policy severity", d.base_severity.label],
        ["level", d.level],
        ["summary", d.summary],
        ["threshold", f"{f.threshold.key} {f.threshold.comparison} {f.threshold.value} {f.threshold.unit}"],
        ["opened", _day(d.opened_at, tz)],
        ["last seen", _day(d.last_seen_at, tz)],
        ["notices", d.notices],
        ["unchanged notices", d.unchanged_notices],
        ["escalation", d.escalation],
        ["acknowledged by", d.acknowledged_by or None],
        ["closed", _day(d.closed_at, tz)],
        ["close reason", d.close_reason or None],
    ]
    rows += [[f"figure {x.key}", _figure_text(x.value, x.unit)] for x in f.figures]
    rows += [
        [
            f"job {j.cluster}:{j.job_id}",
            f"{j.account} {j.user_name} {j.gpus} GPUs {j.gpu_hours} GPU-h {j.value} {j.unit}",
        ]
        for j in f.jobs
    ]
    rows += [[f"event {format_day(e.at, tz)}", f"{e.kind} ({e.actor}) {e.detail}".strip()] for e in events]
    rows += [
        [f"action {format_day(a.at, tz)}", f"{a.action} {a.target}: {a.outcome}: {a.command} ({a.reason})"]
        for a in actions
    ]
    return Table(
        ["Field", "Value"],
        rows,
        title=f"Directive {d.id}",
        keys=["field", "value"],
        meta={
            "id": d.id,
            "policy": d.policy,
            "state": d.state,
            "company": d.company_id,
            "subject": d.subject_key,
            "severity": d.severity.label,
            "level": d.level,
        },
    )


def _figure_text(value: object, unit: str) -> str:
    """``2026-12-31`` (a date carries no unit word), ``12.5%``, ``1,234.5 GPU-h``."""
    if unit in ("", "date"):
        return str(value)
    return f"{value}%" if unit == "%" else f"{value} {unit}"


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    company: str | None = typer.Option(None, "--company", help="Only this company."),
    policy: str | None = typer.Option(None, "--policy", help="Only this policy."),
    states: list[str] = typer.Option([], "--state", help="open, notified, acknowledged, resolved or expired; repeat."),
    show_all: bool = typer.Option(False, "--all", help="Every state (default: active ones)."),
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Directives, active ones by default, most severe first."""
    app_state = state(ctx)
    chosen = pick_format(fmt, as_json)
    wanted = states or (None if show_all else list(ACTIVE_STATES))
    with app_state.ledger().connect() as conn:
        found = list_directives(conn, company_id=company, policy=policy, states=wanted)
    emit(list_table(found, app_state.settings.programme.timezone), chosen)


@app.command("show")
def show_cmd(
    ctx: typer.Context,
    directive_id: int = typer.Argument(..., help="Directive id."),
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """One directive: its figures, jobs, events and enforcement actions."""
    app_state = state(ctx)
    chosen = pick_format(fmt, as_json)
    with app_state.ledger().connect() as conn:
        d = get_directive(conn, directive_id)
        events, actions = directive_events(conn, directive_id), directive_actions(conn, directive_id)
    emit(directive_table(d, events, actions, app_state.settings.programme.timezone), chosen)


ByOption = typer.Option(None, "--by", help="Who (default: the login name).")
NoteOption = typer.Option("", "--note", help="Free text kept in the directive's events.")


@app.command("ack")
def ack_cmd(
    ctx: typer.Context,
    directive_id: int = typer.Argument(..., help="Directive id."),
    by: str | None = ByOption,
    note: str = NoteOption,
    now_text: str | None = NowOption,
) -> None:
    """Acknowledge: the company knows; no reminders until the condition changes."""
    app_state = state(ctx)
    with app_state.ledger().begin() as conn:
        d = acknowledge(conn, directive_id, by=operator_name(by), note=note, now=parse_now(now_text))
    print(f"directive {d.id}: acknowledged by {d.acknowledged_by}")


@app.command("resolve")
def resolve_cmd(
    ctx: typer.Context,
    directive_id: int = typer.Argument(..., help="Directive id."),
    by: str | None = ByOption,
    note: str = NoteOption,
    now_text: str | None = NowOption,
) -> None:
    """Resolve by hand (if the policy still fires, the next tick opens a new directive)."""
    app_state = state(ctx)
    with app_state.ledger().begin() as conn:
        d = resolve(conn, directive_id, by=operator_name(by), note=note, now=parse_now(now_text))
    print(f"directive {d.id}: {d.state} ({d.close_reason})")
