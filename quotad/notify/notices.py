"""Composing what the directive engine decided to send: recipients, wording, the outbox row.

Who hears what (``recipients``):
- a directive notice goes to the company's contacts, both languages in one mail, each contact's preferred
  language first (one message per language group); an escalated one also to the programme office in Cc; a
  directive with no company (an unclaimed account) or a company without contacts goes to the programme office;
- a job-level notice (idle allocation, low efficiency, out-of-programme) also goes to each job's user, mapped
  by ``[notify.users]``, with a per-user cooldown; an unmapped user is logged and noted on the directive;
- the daily digest goes to each company with active directives, on working days;
- the weekly summary goes to the programme office.
Each has an idempotency key, so running ``notify digest`` or ``notify weekly`` twice queues one message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from quotad.directives.codec import DirectiveView
from quotad.directives.engine import Notice
from quotad.directives.models import ACTIVE_STATES
from quotad.directives.store import add_note, count_events, list_directives
from quotad.ledger.queries import CompanyInfo, StatusRow
from quotad.notify.calendar import WorkingCalendar
from quotad.notify.config import NotifyConfig
from quotad.notify.message import build_message, header_text, message_id_for
from quotad.notify.outbox import OutgoingMessage, enqueue
from quotad.notify.recipients import (
    LANGUAGES,
    AddressBook,
    Audience,
    company_audiences,
    job_users,
    plain_addresses,
    user_in_cooldown,
)
from quotad.notify.render import CompanyNames, NoticeInput, Rendered, Renderer
from quotad.units import SECONDS_PER_DAY

__all__ = ["Queued", "queue_digests", "queue_notices", "queue_weekly", "recipients_for"]

log = logging.getLogger("quotad.notify")


@dataclass(frozen=True)
class Queued:
    """One message handed to the outbox (``new`` False: it was there already)."""

    dedup_key: str
    message_id: str
    recipients: tuple[str, ...]
    subject: str
    new: bool


def recipients_for(
    company: CompanyInfo | None, config: NotifyConfig, *, escalated: bool
) -> tuple[list[str], list[str]]:
    """(To, Cc) of a notice about ``company``, all languages together (for listings and previews)."""
    audiences = company_audiences(company, config, escalated=escalated)
    return (plain_addresses(a for x in audiences for a in x.to), plain_addresses(a for x in audiences for a in x.cc))


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
    preview: list[OutgoingMessage] | None = None,
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
    envelope = tuple(plain_addresses([*to, *cc]))
    message = OutgoingMessage(
        dedup_key=key, message_id=message_id, kind=kind, sender=config.sender, recipients=envelope,
        subject=header_text(rendered.subject), raw=msg.as_string(),
        directive_id=directive.id if directive else None, company_id=company_id,
    )
    if preview is not None:  # shown, not sent: nothing goes into the outbox
        preview.append(message)
        new = False
    else:
        new = enqueue(conn, message, now=now)
    return Queued(key, message_id, envelope, header_text(rendered.subject), new)


def queue_notices(
    conn: Connection,
    notices: Sequence[Notice],
    *,
    companies: Sequence[CompanyInfo],
    renderer: Renderer,
    config: NotifyConfig,
    now: int,
    address_book: AddressBook | None = None,
    preview: list[OutgoingMessage] | None = None,
) -> list[Queued]:
    """Queue the messages of each notice, in the caller's transaction (the one that marked it notified):
    one per language group of the company's contacts, and one per job user for a job-level finding."""
    by_id = {c.id: c for c in companies}
    book = address_book or AddressBook(config.users)
    out = []
    for notice in notices:
        d = notice.directive
        company = by_id.get(d.company_id or "")
        audiences = company_audiences(company, config, escalated=notice.escalated)
        if not audiences:
            log.warning("directive #%d (%s): no contact and no programme office configured; nobody to tell", d.id,
                        d.policy)
        names = names_of(company, renderer)
        for audience in audiences:
            rendered = renderer.notice(_notice_input(notice, names, now, config, audience))
            out.append(
                _queue(conn, rendered, key=f"notice:{d.id}:{notice.number}{audience.key_suffix}", kind="notice",
                       to=audience.to, cc=audience.cc, config=config, now=now, directive=d, company_id=d.company_id,
                       preview=preview)
            )
        if d.policy in config.users.policies:
            told = {a.lower() for x in audiences for a in (*x.to, *x.cc)}
            out += _queue_users(conn, notice, names, told, renderer=renderer, config=config, book=book, now=now,
                                preview=preview)
    return out


def _notice_input(
    notice: Notice, names: CompanyNames, now: int, config: NotifyConfig, audience: Audience
) -> NoticeInput:
    d = notice.directive
    return NoticeInput(
        d.finding, d.id, notice.number, notice.kind, d.severity, notice.escalated, names, now,
        reply_to=config.reply_address, languages=audience.languages,
        user=audience.user.user if audience.user else "",
    )


def _queue_users(
    conn: Connection,
    notice: Notice,
    names: CompanyNames,
    told: set[str],
    *,
    renderer: Renderer,
    config: NotifyConfig,
    book: AddressBook,
    now: int,
    preview: list[OutgoingMessage] | None = None,
) -> list[Queued]:
    """The job users' copies of a job-level notice; an unmapped user is logged and noted on the directive."""
    d = notice.directive
    out = []
    for who in job_users(d.finding):
        address = book.address(who)
        if address is None:
            detail = (f"job user {who.key} has no mail address ([notify.users] table, command and pattern "
                      f"gave none): only the company was told")
            log.warning("directive #%d (%s): %s", d.id, d.policy, detail)
            add_note(conn, d.id, at=now, actor="quotad", detail=detail)
            continue
        if address.lower() in told:
            continue  # a company contact submitted the job: the company's message reached them
        if not d.urgent and user_in_cooldown(conn, who, policy=d.policy, now=now, cooldown_s=config.users.cooldown_s):
            log.info("directive #%d (%s): user %s was told about %s within %g h; not again", d.id, d.policy,
                     who.key, d.policy, config.users.cooldown_hours)
            continue
        audience = Audience(LANGUAGES, (address,), user=who)
        rendered = renderer.notice(_notice_input(notice, names, now, config, audience))
        out.append(
            _queue(conn, rendered, key=f"notice:{d.id}:{notice.number}:user:{who.key}", kind="user-notice",
                   to=(address,), cc=(), config=config, now=now, directive=d, company_id=d.company_id,
                   preview=preview)
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
    preview: list[OutgoingMessage] | None = None,
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
        audiences = company_audiences(company, config, escalated=False)
        if not audiences:
            log.warning("notify: company %s has no contact for its digest", company.id)
        for audience in audiences:
            rendered = renderer.digest(names_of(company, renderer), mine, now=now, reply_to=config.reply_address,
                                       languages=audience.languages)
            out.append(_queue(conn, rendered, key=f"digest:{company.id}:{day}{audience.key_suffix}", kind="digest",
                              to=audience.to, cc=[], config=config, now=now, company_id=company.id,
                              preview=preview))
    return out


def _weekly_chart(positions: Sequence[StatusRow], week: str) -> bytes | None:
    """The share of each company's grant used and projected, as a PNG for the weekly mail (None: no grant,
    or the chart cannot be drawn — the mail goes without it, its table says the same)."""
    rows = [r for r in positions if r.granted]
    if not rows:
        return None
    from quotad.charts import ChartError, Series, stacked_bars

    chart = Series(
        f"Share of grant used, {week} / 割当の使用率", "%", tuple(r.company_id for r in rows),
        {"used / 使用": tuple(100 * r.used / r.granted for r in rows)},
    )
    try:
        return stacked_bars(chart, fmt="png")
    except ChartError as exc:
        log.warning("notify: weekly chart not drawn (%s); the summary goes without it", exc)
        return None


def queue_weekly(
    conn: Connection,
    *,
    positions: Sequence[StatusRow],
    companies: Sequence[CompanyInfo],
    renderer: Renderer,
    config: NotifyConfig,
    calendar: WorkingCalendar,
    now: int,
    preview: list[OutgoingMessage] | None = None,
) -> Queued | None:
    """The programme office's summary of the ISO week containing ``now``: all companies, all active directives."""
    office = plain_addresses(config.programme_office)
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
        chart_png=_weekly_chart(positions, label),
        positions=positions, directives=active, names=names, week=label,
        opened_week=count_events(conn, "opened", since=since, until=now + 1),
        resolved_week=count_events(conn, "resolved", since=since, until=now + 1),
        now=now,
    )
    return _queue(conn, rendered, key=f"weekly:{label}", kind="weekly", to=office, cc=[], config=config, now=now,
                  preview=preview)
