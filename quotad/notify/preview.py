"""Showing a message before it is sent: a directive's next notice, a company's digest, the weekly summary.

Why through the queueing code and not a second renderer: the preview must be the exact message — the same
recipients (language groups, job users), headers, subject folding and both bodies — so it runs the very
functions that queue mail, with ``preview`` collecting the messages instead of the outbox, inside a
transaction that is rolled back (a note about an unmapped user is not kept either).
"""

from __future__ import annotations

from collections.abc import Sequence
from email import message_from_string
from email.message import EmailMessage
from email.policy import default

from sqlalchemy import Connection

from quotad.directives.engine import Notice
from quotad.directives.store import get_directive
from quotad.errors import NotFoundError, UsageError
from quotad.ledger.queries import CompanyInfo, StatusRow, list_companies
from quotad.notify.calendar import WorkingCalendar
from quotad.notify.config import NotifyConfig
from quotad.notify.notices import queue_digests, queue_notices, queue_weekly
from quotad.notify.outbox import OutgoingMessage
from quotad.notify.render import Renderer

__all__ = ["format_message", "preview_digest", "preview_notice", "preview_weekly"]

RULE = "=" * 72


def preview_notice(
    conn: Connection, directive_id: int, *, renderer: Renderer, config: NotifyConfig, now: int
) -> list[OutgoingMessage]:
    """The messages the directive's next notice would be (a reminder once it has been notified)."""
    d = get_directive(conn, directive_id)
    notice = Notice(d, d.notices + 1, "reminder" if d.notices else "first", "preview")
    shown: list[OutgoingMessage] = []
    queue_notices(conn, [notice], companies=list_companies(conn), renderer=renderer, config=config, now=now,
                  preview=shown)
    return shown


def _company(conn: Connection, company_id: str) -> CompanyInfo:
    for company in list_companies(conn):
        if company.id == company_id:
            return company
    raise NotFoundError("company", company_id, hint="see `quotad company list`")


def preview_digest(
    conn: Connection, company_id: str, *, renderer: Renderer, config: NotifyConfig, calendar: WorkingCalendar,
    now: int,
) -> list[OutgoingMessage]:
    """Today's digest for one company (also on a holiday: a preview is not a send)."""
    shown: list[OutgoingMessage] = []
    queue_digests(conn, companies=[_company(conn, company_id)], renderer=renderer, config=config,
                  calendar=calendar, now=now, force=True, preview=shown)
    if not shown:
        raise UsageError(f"company {company_id!r} has no active directive: no digest would be sent")
    return shown


def preview_weekly(
    conn: Connection, positions: Sequence[StatusRow], *, renderer: Renderer, config: NotifyConfig,
    calendar: WorkingCalendar, now: int,
) -> list[OutgoingMessage]:
    shown: list[OutgoingMessage] = []
    queue_weekly(conn, positions=positions, companies=list_companies(conn), renderer=renderer, config=config,
                 calendar=calendar, now=now, preview=shown)
    if not shown:
        raise UsageError("[notify] programme_office is empty: no weekly summary would be sent")
    return shown


def format_message(message: OutgoingMessage, *, raw: bool = False) -> str:
    """Headers (decoded), then the plain text and the HTML alternative; ``raw``: the exact RFC 5322 text."""
    if raw:
        return message.raw
    parsed = message_from_string(message.raw, policy=default)
    assert isinstance(parsed, EmailMessage)
    skipped = ("content-type", "mime-version")
    lines = [f"{name}: {value}" for name, value in parsed.items() if name.lower() not in skipped]
    for kind in ("plain", "html"):
        part = parsed.get_body((kind,))
        if part is not None:
            lines += ["", RULE, f"--- text/{kind} ---", str(part.get_content()).replace("\r\n", "\n").rstrip()]
    return "\n".join(lines) + "\n"
