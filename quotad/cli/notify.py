"""``quotad notify``: deliver the outbox, send digests and the weekly summary, look at the outbox."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import typer

from quotad.cli.context import FormatOption, JsonOption, NowOption, parse_now, pick_format, state
from quotad.directives.config import rules_from
from quotad.errors import UsageError
from quotad.ledger.queries import company_status
from quotad.notify.outbox import DeliveryReport, OutboxView, OutgoingMessage, list_outbox, requeue
from quotad.notify.preview import format_message, preview_digest, preview_notice, preview_weekly
from quotad.notify.service import Sent, calendar_for, renderer_for, send_digests, send_outbox, send_weekly
from quotad.render import Cell, Table, emit
from quotad.timeutil import format_day

__all__ = ["app", "delivery_table", "outbox_table"]

log = logging.getLogger("quotad.notify")

app = typer.Typer(help="Notifications: the outbox, daily digests and the weekly summary.", no_args_is_help=True)


def delivery_table(report: DeliveryReport | None, sent: Sent | None = None) -> Table:
    rows: list[Sequence[Cell]] = []
    if report is not None:
        rows += [["sent", m] for m in report.sent]
        rows += [["retrying", m] for m in report.retrying]
        rows += [["rejected", m] for m in report.rejected]
    queued = [{"key": q.dedup_key, "new": q.new, "subject": q.subject} for q in sent.queued] if sent else []
    return Table(
        ["Result", "Message-ID"],
        rows,
        title="Delivery",
        keys=["result", "message_id"],
        meta={
            "queued": queued,
            "recovered": report.recovered if report else 0,
            "stopped_early": report.stopped_early if report else False,
        },
    )


def _exit_for(report: DeliveryReport | None) -> None:
    if report is not None and (report.retrying or report.rejected):
        log.error(
            "%d message(s) not delivered (%d will be retried, %d rejected); see `quotad notify outbox`",
            len(report.retrying) + len(report.rejected),
            len(report.retrying),
            len(report.rejected),
        )
        raise typer.Exit(1)


@app.command("send")
def send_cmd(ctx: typer.Context, now_text: str | None = NowOption, as_json: bool = JsonOption) -> None:
    """Deliver every due message in the outbox (retries with backoff; safe to run at any time)."""
    app_state = state(ctx)
    report = send_outbox(app_state.ledger(), rules_from(app_state.settings), now=parse_now(now_text))
    emit(delivery_table(report), "json" if as_json else "table")
    _exit_for(report)


NoSendOption = typer.Option(False, "--no-send", help="Only queue; leave delivery to `quotad notify send`.")


@app.command("digest")
def digest_cmd(
    ctx: typer.Context,
    force: bool = typer.Option(False, "--force", help="Also on a holiday or weekend."),
    no_send: bool = NoSendOption,
    now_text: str | None = NowOption,
    as_json: bool = JsonOption,
) -> None:
    """Queue today's digest for every company with active directives (once a day), then deliver."""
    app_state = state(ctx)
    settings = app_state.settings
    sent = send_digests(
        app_state.ledger(), settings, rules_from(settings), now=parse_now(now_text), force=force, send=not no_send
    )
    emit(delivery_table(sent.delivery, sent), "json" if as_json else "table")
    log.info(
        "%d digest(s) queued now, %d already queued today",
        sum(q.new for q in sent.queued),
        sum(not q.new for q in sent.queued),
    )
    _exit_for(sent.delivery)


@app.command("weekly")
def weekly_cmd(
    ctx: typer.Context, no_send: bool = NoSendOption, now_text: str | None = NowOption, as_json: bool = JsonOption
) -> None:
    """Queue this week's summary for the programme office (once a week), then deliver."""
    app_state = state(ctx)
    settings = app_state.settings
    sent = send_weekly(app_state.ledger(), settings, rules_from(settings), now=parse_now(now_text), send=not no_send)
    emit(delivery_table(sent.delivery, sent), "json" if as_json else "table")
    _exit_for(sent.delivery)


def outbox_table(messages: list[OutboxView], tz: str) -> Table:
    return Table(
        ["ID", "Kind", "State", "Attempts", "Created", "To", "Subject", "Last error", "Message-ID"],
        [
            [
                m.id,
                m.kind,
                m.state,
                m.attempts,
                format_day(m.created_at, tz),
                ", ".join(m.recipients),
                m.subject,
                m.last_error or None,
                m.message_id,
            ]
            for m in messages
        ],
        title="Outbox",
        keys=["id", "kind", "state", "attempts", "created", "to", "subject", "last_error", "message_id"],
    )


@app.command("outbox")
def outbox_cmd(
    ctx: typer.Context,
    state_filter: str | None = typer.Option(None, "--state", help="queued, sending, uncertain, sent or rejected."),
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Messages in the outbox, newest first."""
    app_state = state(ctx)
    chosen = pick_format(fmt, as_json)
    with app_state.ledger().connect() as conn:
        messages = list_outbox(conn, state=state_filter)
    emit(outbox_table(messages, app_state.settings.programme.timezone), chosen)


@app.command("requeue")
def requeue_cmd(
    ctx: typer.Context, message: int = typer.Argument(..., help="Outbox id."), now_text: str | None = NowOption
) -> None:
    """Put a rejected message back in the queue."""
    app_state = state(ctx)
    with app_state.ledger().begin() as conn:
        requeue(conn, message, now=parse_now(now_text))
    print(f"outbox message {message}: queued")


@app.command("preview")
def preview_cmd(
    ctx: typer.Context,
    directive_id: int | None = typer.Argument(None, help="Directive id: its next notice."),
    company: str | None = typer.Option(None, "--company", help="With --kind digest: this company's digest."),
    kind: str | None = typer.Option(None, "--kind", help="digest (needs --company) or weekly."),
    raw: bool = typer.Option(False, "--raw", help="The exact RFC 5322 text as it goes to the server."),
    now_text: str | None = NowOption,
) -> None:
    """Print the exact message(s) — recipients, headers, both languages, text and HTML — without sending.

    quotad notify preview 12 · quotad notify preview --company acme --kind digest · quotad notify preview --kind weekly
    """
    if (directive_id is None) == (kind is None):
        raise UsageError("give a directive id, or --kind digest --company ID, or --kind weekly")
    if kind not in (None, "digest", "weekly"):
        raise UsageError(f"--kind {kind!r}: expected digest or weekly")
    if kind == "digest" and not company:
        raise UsageError("--kind digest needs --company ID")
    app_state = state(ctx)
    settings = app_state.settings
    rules = rules_from(settings)
    now = parse_now(now_text)
    renderer, calendar = renderer_for(settings, rules), calendar_for(settings, rules)
    engine = app_state.ledger()
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            messages: list[OutgoingMessage]
            if directive_id is not None:
                messages = preview_notice(conn, directive_id, renderer=renderer, config=rules.notify, now=now)
            elif kind == "digest":
                assert company is not None
                messages = preview_digest(conn, company, renderer=renderer, config=rules.notify, calendar=calendar,
                                          now=now)
            else:
                positions = company_status(conn, app_state.catalog, now=now)
                messages = preview_weekly(conn, positions, renderer=renderer, config=rules.notify, calendar=calendar,
                                          now=now)
        finally:
            transaction.rollback()  # a preview changes nothing
    if not messages:
        print("nothing would be sent (no recipient: no contact and no [notify] programme_office)")
    for number, message in enumerate(messages, 1):
        print(f"##### message {number} of {len(messages)}: {message.dedup_key} (not sent)")
        print(format_message(message, raw=raw))
