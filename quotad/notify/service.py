"""What ``quotad notify`` runs: deliver the outbox, queue-and-deliver digests and the weekly summary.

Why a module of its own: each CLI command (and the daemon's scheduled job) calls one function here, which
opens the transactions it needs, so the command stays a thin parse-call-render.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from quotad.config import Settings
from quotad.directives.config import Rules
from quotad.ledger.queries import company_status, list_companies
from quotad.notify.calendar import WorkingCalendar
from quotad.notify.notices import Queued, queue_digests, queue_weekly
from quotad.notify.outbox import DeliveryReport, deliver
from quotad.notify.render import Renderer
from quotad.notify.smtp import SmtpTransport
from quotad.units import GpuCatalog

__all__ = ["Sent", "calendar_for", "renderer_for", "send_digests", "send_outbox", "send_weekly"]


def renderer_for(settings: Settings, rules: Rules) -> Renderer:
    return Renderer(
        programme_ja=settings.programme.name_ja,
        programme_en=settings.programme.name_en,
        timezone=settings.programme.timezone,
        subject_prefix=rules.notify.subject_prefix,
        templates_dir=rules.notify.templates_dir,
    )


def calendar_for(settings: Settings, rules: Rules) -> WorkingCalendar:
    cal = rules.notify.calendar
    return WorkingCalendar(
        timezone=cal.timezone or settings.programme.timezone,
        country=cal.country,
        extra_holidays=cal.extra_holidays,
        working_weekdays=cal.working_weekdays,
    )


@dataclass(frozen=True)
class Sent:
    queued: tuple[Queued, ...]
    delivery: DeliveryReport | None


def send_outbox(engine: Engine, rules: Rules, *, now: int) -> DeliveryReport:
    """Deliver every due message of the outbox over the configured SMTP server."""
    transport = SmtpTransport(rules.notify.smtp, password=rules.notify.smtp.secret())
    return deliver(engine, transport, now=now, config=rules.notify.outbox)


def send_digests(
    engine: Engine, settings: Settings, rules: Rules, *, now: int, force: bool = False, send: bool = True
) -> Sent:
    """Queue today's digest for each company with active directives (once a day), then deliver."""
    with engine.begin() as conn:
        queued = queue_digests(
            conn, companies=list_companies(conn), renderer=renderer_for(settings, rules), config=rules.notify,
            calendar=calendar_for(settings, rules), now=now, force=force,
        )
    return Sent(tuple(queued), send_outbox(engine, rules, now=now) if send else None)


def send_weekly(engine: Engine, settings: Settings, rules: Rules, *, now: int, send: bool = True) -> Sent:
    """Queue this ISO week's summary to the programme office (once a week), then deliver."""
    with engine.begin() as conn:
        one = queue_weekly(
            conn, positions=company_status(conn, GpuCatalog(settings.gpu_types), now=now),
            companies=list_companies(conn), renderer=renderer_for(settings, rules), config=rules.notify,
            calendar=calendar_for(settings, rules), now=now,
        )
    return Sent((one,) if one else (), send_outbox(engine, rules, now=now) if send else None)
