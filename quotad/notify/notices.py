"""Composing what the directive engine decided to send: recipients, wording, the outbox row.

Who hears what:
- a directive notice goes to the company's contacts (every one, both languages in one mail); an escalated
  one also to the programme office in Cc; a directive with no company (an unclaimed account) or a company
  without contacts goes to the programme office;
- the daily digest goes to each company with active directives, on working days;
- the weekly summary goes to the programme office.
Each has an idempotency key, so running ``notify digest`` or ``notify weekly`` twice queues one message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from quotad.directives.codec import DirectiveView
from quotad.directives.engine import Notice
from quotad.directives.models import ACTIVE_STATES
from quotad.directives.store import count_events, list_directives
from quotad.ledger.queries import CompanyInfo, StatusRow
from quotad.notify.calendar import WorkingCalendar
from quotad.notify.config import NotifyConfig
from quotad.notify.message import build_message, header_text, message_id_for
from quotad.notify.outbox import OutgoingMessage, enqueue
from quotad.notify.render import CompanyNames, NoticeInput, Rendered, Renderer
from quotad.units import SECONDS_PER_DAY

__all__ = ["Queued", "queue_digests", "queue_notices", "queue_weekly", "recipients_for"]

log = logging.getLogger("quotad.notify")
_PLAIN_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Queued:
    """One message handed to the outbox (``new`` False: it was there already)."""

    dedup_key: str
    message_id: str
    recipients: tuple[str, ...]
    subject: str
    new: bool


def _unique(addresses: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for address in addresses:
        if not _PLAIN_ADDRESS.match(address):
            log.warning("notify: skipping %r: not a plain email address", address)
            continue
        if address.lower() not in {s.lower() for s in seen}:
            seen.append(address)
    return seen


def recipients_for(
    company: CompanyInfo | None, config: NotifyConfig, *, escalated: bool
) -> tuple[list[str], list[str]]:
    """(To, Cc) for a notice about ``company``."""
    office = _unique(config.programme_office)
    to = _unique(c.email for c in company.contacts) if company is not None else []
    if not to:
        return office, []
    cc = [a for a in office if a.lower() not in {t.lower() for t in to}] if escalated else []
    return to, cc


def names_of(company: CompanyInfo | None, renderer: Renderer) -> CompanyNames:
    if company is None:
        return renderer.office()
    return CompanyNames(company.id, company.name_ja, company.name_en)


def _queue(
    conn: Connection,
    rendered: Rendered,
    *,
    key: str,
    kind: str,
    to: Sequence[str],
    cc: Sequence[str],
    config: NotifyConfig,
    now: int,
    directive: DirectiveView | None = None,
    company_id: str | None = None,
) -> Queued:
    message_id = message_id_for(key, config.domain)
    extra = [("X-Quotad-Kind", kind)]
    if directive is not None:
        extra += [("X-Quotad-Directive", str(directive.id)), ("X-Quotad-Policy", directive.policy)]
    msg = build_message(
        rendered, sender=config.sender, sender_name=config.sender_name, to=to, cc=cc,
        reply_to=config.reply_address or None,
        message_id=message_id, now=now, extra=extra,
    )
    envelope = tuple(_unique([*to, *cc]))
    new = enqueue(
        conn,
        OutgoingMessage(
            dedup_key=key, message_id=message_id, kind=kind, sender=config.sender, recipients=envelope,
            subject=header_text(rendered.subject), raw=msg.as_string(),
            directive_id=directive.id if directive else None, company_id=company_id,
        ),
        now=now,
    )
    return Queued(key, message_id, envelope, header_text(rendered.subject), new)


def queue_notices(
    conn: Connection,
    notices: Sequence[Notice],
    *,
    companies: Sequence[CompanyInfo],
    renderer: Renderer,
    config: NotifyConfig,
    now: int,
) -> list[Queued]:
    """Queue one message per notice, in the caller's transaction (the one that marked it notified)."""
    by_id = {c.id: c for c in companies}
    out = []
    for notice in notices:
        d = notice.directive
        company = by_id.get(d.company_id or "")
        to, cc = recipients_for(company, config, escalated=notice.escalated)
        if not to:
            log.warning("directive #%d (%s): no contact and no programme office configured; nobody to tell", d.id,
                        d.policy)
            continue
        names = names_of(company, renderer)
        rendered = renderer.notice(
            NoticeInput(d.finding, d.id, notice.number, notice.kind, d.severity, notice.escalated, names, now,
                        reply_to=config.reply_address)
        )
        out.append(
            _queue(conn, rendered, key=f"notice:{d.id}:{notice.number}", kind="notice", to=to, cc=cc, config=config,
                   now=now, directive=d, company_id=d.company_id)
        )
    return out


def queue_digests(
    conn: Connection,
    *,
    companies: Sequence[CompanyInfo],
    renderer: Renderer,
    config: NotifyConfig,
    calendar: WorkingCalendar,
    now: int,
    force: bool = False,
) -> list[Queued]:
    """One digest per company with active directives, once per local day; working days only unless ``force``."""
    if not force and not calendar.is_working_time(now):
        log.info("notify: %s is not a working day; no digests", calendar.local_day(now))
        return []
    day = calendar.local_day(now).isoformat()
    active = list_directives(conn, states=ACTIVE_STATES)
    out = []
    for company in companies:
        mine = [d for d in active if d.company_id == company.id]
        if not mine:
            continue
        to, _cc = recipients_for(company, config, escalated=False)
        if not to:
            log.warning("notify: company %s has no contact for its digest", company.id)
            continue
        rendered = renderer.digest(names_of(company, renderer), mine, now=now, reply_to=config.reply_address)
        out.append(_queue(conn, rendered, key=f"digest:{company.id}:{day}", kind="digest", to=to, cc=[],
                          config=config, now=now, company_id=company.id))
    return out


def queue_weekly(
    conn: Connection,
    *,
    positions: Sequence[StatusRow],
    companies: Sequence[CompanyInfo],
    renderer: Renderer,
    config: NotifyConfig,
    calendar: WorkingCalendar,
    now: int,
) -> Queued | None:
    """The programme office's summary of the ISO week containing ``now``: all companies, all active directives."""
    office = _unique(config.programme_office)
    if not office:
        log.warning("notify: [notify] programme_office is empty; no weekly summary")
        return None
    local = calendar.local_day(now)
    year, week, _ = local.isocalendar()
    label = f"{year}-W{week:02d}"
    names = {c.id: names_of(c, renderer) for c in companies}
    active = list_directives(conn, states=ACTIVE_STATES)
    since = now - 7 * SECONDS_PER_DAY
    rendered = renderer.weekly(
        positions=positions, directives=active, names=names, week=label,
        opened_week=count_events(conn, "opened", since=since, until=now + 1),
        resolved_week=count_events(conn, "resolved", since=since, until=now + 1),
        now=now,
    )
    return _queue(conn, rendered, key=f"weekly:{label}", kind="weekly", to=office, cc=[], config=config, now=now)
