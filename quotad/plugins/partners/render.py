"""Partners output as ``quotad.render`` tables (table, csv, md, json)."""

from __future__ import annotations

from collections.abc import Sequence

from quotad.plugins.partners.match import RequestMatch
from quotad.plugins.partners.records import PartnerSpec
from quotad.plugins.partners.store import IntroRow, OutreachRow, StoredRequest
from quotad.plugins.scoring import term_text
from quotad.render import Cell, Table
from quotad.timeutil import format_day

__all__ = ["intros_table", "match_table", "outreach_table", "partner_table", "partners_table", "requests_table"]


def _agreement(state: str, on: str) -> str:
    return f"{state} {on}".strip()


def partners_table(partners: Sequence[PartnerSpec]) -> Table:
    rows: list[Sequence[Cell]] = [
        [p.id, p.name, p.country, p.kind, ", ".join(p.offers), _agreement(p.nda, p.nda_on), _agreement(p.mou, p.mou_on)]
        for p in partners
    ]
    return Table(
        ["Partner", "Name", "Country", "Kind", "Offers", "NDA", "MoU"],
        rows,
        title="Partners",
        keys=["id", "name", "country", "kind", "offers", "nda", "mou"],
    )


def partner_table(p: PartnerSpec) -> Table:
    pairs: list[Sequence[Cell]] = [
        ["id", p.id], ["name", p.name], ["name_ja", p.name_ja], ["country", p.country], ["kind", p.kind],
        ["offers", ", ".join(p.offers)], ["contacts", ", ".join(p.contacts)], ["nda", _agreement(p.nda, p.nda_on)],
        ["mou", _agreement(p.mou, p.mou_on)], ["note", p.note],
    ]  # fmt: skip
    return Table(["Field", "Value"], pairs, title=f"Partner {p.id}", keys=["field", "value"])


def requests_table(requests: Sequence[StoredRequest], tz: str) -> Table:
    rows: list[Sequence[Cell]] = [
        [r.id, r.spec.company_id, ", ".join(r.spec.seeks), ", ".join(r.spec.countries), r.spec.needed_by or None,
         r.spec.description, format_day(r.created_at, tz)]
        for r in requests
    ]  # fmt: skip
    return Table(
        ["Request", "Company", "Seeks", "Countries", "Needed by", "Description", "Recorded"],
        rows,
        title="Partner requests",
        keys=["id", "company", "seeks", "countries", "needed_by", "description", "recorded"],
    )


def match_table(matches: Sequence[RequestMatch], *, include_excluded: bool) -> Table:
    rows: list[Sequence[Cell]] = []
    for m in matches:
        for c in m.candidates:
            terms = "; ".join(term_text(t) for t in c.terms)
            rows.append([m.request_id, m.request.company_id, c.rank, c.item_id, c.score, terms, c.why])
        if include_excluded:
            for e in m.excluded:
                rows.append([m.request_id, m.request.company_id, None, e.partner.id, None, "",
                             f"excluded by {e.filter}: {e.reason}"])  # fmt: skip
        if not m.candidates and not include_excluded:
            why = f"no partner passes the filters ({len(m.excluded)} excluded; --all shows why)"
            rows.append([m.request_id, m.request.company_id, None, None, None, "", why])
    return Table(
        ["Request", "Company", "Rank", "Partner", "Score", "Terms (weight x value = points)", "Why"],
        rows,
        title="Partner matches",
        keys=["request", "company", "rank", "partner", "score", "terms", "why"],
    )


def intros_table(intros: Sequence[IntroRow], tz: str) -> Table:
    rows: list[Sequence[Cell]] = [
        [i.id, i.request_id, i.company_id, i.partner_id, i.status, format_day(i.created_at, tz),
         format_day(i.updated_at, tz)]
        for i in intros
    ]  # fmt: skip
    return Table(
        ["Intro", "Request", "Company", "Partner", "Status", "Proposed", "Updated"],
        rows,
        title="Partner introductions",
        keys=["id", "request", "company", "partner", "status", "proposed", "updated"],
    )


def outreach_table(rows: Sequence[OutreachRow]) -> Table:
    return Table(
        ["Event", "Partner", "Name", "Country", "Note"],
        [[r.event_id, r.partner_id, r.partner_name, r.country, r.note] for r in rows],
        title="Outreach events and invited partners",
        keys=["event", "partner", "name", "country", "note"],
    )
