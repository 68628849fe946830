"""The partnerships part of the survey's community chapter: partners by kind, introductions by outcome,
outreach events. Partner names reach the office and consortium editions; the public gets counts."""

from __future__ import annotations

from collections import Counter

from quotad.plugins.api import Bilingual, ReportTable, SurveyContent, SurveyRequest
from quotad.plugins.introductions import INTRO_STATUSES, STATUS_LABELS
from quotad.plugins.partners.records import KINDS
from quotad.plugins.partners.store import list_intros, list_outreach, list_partners

__all__ = ["survey"]

_KIND_LABELS = {
    "tech_firm": Bilingual("テック企業", "Technology firms"),
    "research_institute": Bilingual("研究機関", "Research institutes"),
    "university": Bilingual("大学", "Universities"),
    "public_body": Bilingual("公的機関", "Public bodies"),
}


def survey(request: SurveyRequest) -> SurveyContent:
    partners = list_partners(request.conn)
    intros = [i for i in list_intros(request.conn) if request.start <= i.created_at < request.end]
    if not partners and not intros:
        return SurveyContent()
    kinds = Counter(p.kind for p in partners)
    agreed = Counter(p.kind for p in partners if "signed" in (p.nda, p.mou))
    outcome = Counter(i.status for i in intros)
    tables = [
        ReportTable(
            key="partners-by-kind",
            title=Bilingual("連携先（種別）", "Partners by kind"),
            columns=(
                Bilingual("種別", "Kind"),
                Bilingual("連携先", "Partners"),
                Bilingual("NDA/MoU締結", "NDA/MoU signed"),
            ),
            rows=tuple((_KIND_LABELS[k], kinds[k], agreed[k]) for k in KINDS if kinds[k]),
        ),
        ReportTable(
            key="partners-introductions",
            title=Bilingual("企業と連携先の紹介（結果別）", "Introductions of companies to partners, by outcome"),
            columns=(Bilingual("結果", "Outcome"), Bilingual("件数", "Count")),
            rows=tuple((STATUS_LABELS[s], outcome[s]) for s in INTRO_STATUSES if outcome[s]),
        ),
    ]
    if request.audience != "public":
        names = {p.id: p.name for p in partners}
        events = list_outreach(request.conn)
        tables.append(
            ReportTable(
                key="partners-outreach",
                title=Bilingual("海外向けイベントと招待した連携先", "Outreach events and the partners invited"),
                columns=(Bilingual("イベント", "Event"), Bilingual("連携先", "Partner"), Bilingual("国", "Country")),
                rows=tuple((o.event_id, names.get(o.partner_id, o.partner_id), o.country) for o in events),
            )
        )
    return SurveyContent(tables={"community": tuple(tables)})
