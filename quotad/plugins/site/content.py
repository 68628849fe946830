"""Everything the public site shows, gathered into one typed value before any template runs.

Why gather first: the whole disclosure decision is made here, in one place a reviewer can read. Programme-wide
totals are public; a company's own figures only where its ``site_companies.public`` flag is set; other plugins'
content only as they publish it (``PublicContent``), handed the same list of disclosing companies. Templates
then receive nothing they must not print.

No figure by subtraction: a total minus the published companies' figures is what the undisclosed companies
used. When exactly one undisclosed company used compute in a total's period, that difference *is* its private
figure, so the total is withheld (None, printed as a dash with a note). With none, the total is the published
companies' own sum; with two or more, the difference is a sum nobody can split. The rule is
``quotad.plugins.disclosure``, shared with the survey report's public edition so the two cannot drift; the
all-time total is also withheld when the withheld months, taken together, have one undisclosed user (the
total minus the months shown would be their sum).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from quotad.config import Settings
from quotad.errors import QuotadError
from quotad.plugins.api import (
    Bilingual,
    CompanyCompute,
    LedgerView,
    PublicContent,
    PublicEvent,
    Publisher,
    PublishRequest,
)
from quotad.plugins.disclosure import total_reveals
from quotad.plugins.site.store import NewsItem, list_news, public_companies
from quotad.timeutil import add_months, format_day, month_bounds, month_start

__all__ = ["CompanyEntry", "MonthCompute", "SiteData", "gather"]


@dataclass(frozen=True)
class CompanyEntry:
    id: str
    name: Bilingual
    #: None unless the company publishes its figures.
    compute: CompanyCompute | None


@dataclass(frozen=True)
class MonthCompute:
    month: str  # YYYY-MM in the programme time zone
    #: None when publishing it would reveal one undisclosed company's use (see the module docstring).
    compute: CompanyCompute | None
    #: The month's use of each company that publishes its figures (and only those), by company id.
    disclosed: Mapping[str, CompanyCompute] = field(default_factory=dict)


@dataclass(frozen=True)
class Contribution:
    plugin: str
    content: PublicContent


@dataclass(frozen=True)
class SiteData:
    programme: Bilingual
    built_day: str
    period: tuple[str, str] | None  # first and last day of the grants, programme time zone
    companies: tuple[CompanyEntry, ...]
    #: None when publishing it would reveal one undisclosed company's use (see the module docstring).
    total: CompanyCompute | None
    months: tuple[MonthCompute, ...]
    contributions: tuple[Contribution, ...]
    news: tuple[NewsItem, ...]
    events: tuple[PublicEvent, ...]

    @property
    def disclosed(self) -> tuple[CompanyEntry, ...]:
        return tuple(c for c in self.companies if c.compute is not None)

    @property
    def withheld(self) -> bool:
        """Whether any total was withheld, so the page says why it shows a dash."""
        return self.total is None or any(m.compute is None for m in self.months)


class PublishError(QuotadError):
    """A plugin's publisher failed; the site is not built half-way."""


def _safe_total(
    view: LedgerView,
    disclosing: frozenset[str],
    *,
    start: int,
    end: int,
    used: Mapping[str, CompanyCompute] | None = None,
    withheld_parts: Sequence[Mapping[str, CompanyCompute]] = (),
) -> CompanyCompute | None:
    """The programme total of [start, end), or None when publishing it would reveal one undisclosed company's
    use (``quotad.plugins.disclosure.total_reveals``)."""
    if used is None:
        used = view.compute_by_company(start=start, end=end)
    if total_reveals(used, disclosing, withheld_parts=withheld_parts):
        return None
    return view.compute_total(start=start, end=end)


def _months(
    view: LedgerView, tz: str, now: int, disclosing: frozenset[str]
) -> tuple[tuple[str, str] | None, tuple[MonthCompute, ...], list[Mapping[str, CompanyCompute]]]:
    """The grants' span, its months up to now, and each withheld month's use per company (for the total)."""
    grants = view.grants()
    if not grants:
        return None, (), []
    start = min(g.period_start for g in grants)
    end = max(g.period_end for g in grants)
    period = (format_day(start, tz), format_day(end - 1, tz))
    year, month = month_start(start, tz)
    last = month_start(min(now, end - 1), tz)
    months: list[MonthCompute] = []
    withheld: list[Mapping[str, CompanyCompute]] = []
    while (year, month) <= last:
        lo, hi = month_bounds(year, month, tz)
        used = view.compute_by_company(start=lo, end=min(hi, now))
        total = _safe_total(view, disclosing, start=lo, end=min(hi, now), used=used)
        shown = {cid: used.get(cid, CompanyCompute(0, 0)) for cid in sorted(disclosing)}
        months.append(MonthCompute(f"{year:04d}-{month:02d}", total, shown))
        if total is None:
            withheld.append(used)
        year, month = add_months(year, month, 1)
    return period, tuple(months), withheld


def gather(
    conn: Connection,
    view: LedgerView,
    settings: Settings,
    publishers: Sequence[tuple[str, Publisher]],
    *,
    now: int,
) -> SiteData:
    """The site's content as of ``now``: read-only, through the ledger view and the site's own tables."""
    tz = settings.programme.timezone
    disclosing = public_companies(conn)
    compute = view.compute_by_company(start=0, end=now)
    companies = tuple(
        CompanyEntry(
            c.id,
            Bilingual(c.name_ja, c.name_en),
            compute.get(c.id, CompanyCompute(0, 0)) if c.id in disclosing else None,
        )
        for c in view.companies()
    )
    period, months, withheld = _months(view, tz, now, disclosing)
    request = PublishRequest(settings=settings, ledger=view, conn=conn, now=now, compute_public=disclosing)
    contributions: list[Contribution] = []
    for name, publish in publishers:
        try:
            contributions.append(Contribution(name, publish(request)))
        except QuotadError:
            raise
        except Exception as exc:
            raise PublishError(f"plugin {name!r} failed to publish: {type(exc).__name__}: {exc}") from exc
    events = tuple(sorted((e for c in contributions for e in c.content.events), key=lambda e: e.day))
    return SiteData(
        programme=Bilingual(settings.programme.name_ja, settings.programme.name_en),
        built_day=datetime.fromtimestamp(now, ZoneInfo(tz)).date().isoformat(),
        period=period,
        companies=companies,
        total=_safe_total(view, disclosing, start=0, end=now, withheld_parts=withheld),
        months=months,
        contributions=tuple(c for c in contributions if c.content.tables or c.content.events),
        news=tuple(list_news(conn)),
        events=events,
    )
