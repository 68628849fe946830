"""Matching a company's request to partners: one hard filter, then the transparent additive score.

Hard filter: the partner offers at least one kind the request seeks; a partner already introduced for this
request is left out too (its introduction has a status of its own).

Score (``quotad.plugins.scoring``: weight x value per term, printed term by term):

- ``offers``: share of the sought kinds the partner offers;
- ``agreement``: the furthest of NDA and MoU: an MoU signed 1, an NDA signed 0.75, negotiating 0.4, none or
  expired 0 (paperwork already done shortens the path to work);
- ``country``: 1 when the request names no country or the partner is in one it names, else 0;
- ``contact``: 1 when the partner has a contact to introduce to, else 0.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from quotad.plugins.partners.config import PartnerWeights
from quotad.plugins.partners.records import PartnerSpec, RequestSpec
from quotad.plugins.scoring import Ranked, Term, rank, term

__all__ = ["AGREEMENT_VALUE", "Exclusion", "RequestMatch", "match_request", "score_terms"]

AGREEMENT_VALUE = {"mou": 1.0, "nda": 0.75, "negotiating": 0.4, "none": 0.0}


@dataclass(frozen=True)
class Exclusion:
    partner: PartnerSpec
    filter: str
    reason: str


@dataclass(frozen=True)
class RequestMatch:
    request_id: int
    request: RequestSpec
    candidates: tuple[Ranked[PartnerSpec], ...]
    excluded: tuple[Exclusion, ...]


def _agreement(p: PartnerSpec) -> tuple[float, str]:
    if p.mou == "signed":
        return AGREEMENT_VALUE["mou"], f"MoU signed {p.mou_on}"
    if p.nda == "signed":
        return AGREEMENT_VALUE["nda"], f"NDA signed {p.nda_on}"
    if "negotiating" in (p.mou, p.nda):
        return AGREEMENT_VALUE["negotiating"], "NDA/MoU under negotiation"
    return AGREEMENT_VALUE["none"], "no NDA or MoU in force"


def score_terms(request: RequestSpec, partner: PartnerSpec, weights: PartnerWeights) -> tuple[Term, ...]:
    wanted = set(request.seeks)
    hit = sorted(wanted & set(partner.offers))
    values = {
        "offers": (len(hit) / len(wanted), f"{len(hit)} of {len(wanted)} ({', '.join(hit) or 'none'})"),
        "agreement": _agreement(partner),
        "country": (
            (1.0, "request names no country")
            if not request.countries
            else (float(partner.country in request.countries), f"{partner.country} vs {', '.join(request.countries)}")
        ),
        "contact": (1.0, "has a contact") if partner.contacts else (0.0, "no contact on record"),
    }
    return tuple(term(name, float(getattr(weights, name)), value, detail) for name, (value, detail) in values.items())


def match_request(
    request_id: int,
    request: RequestSpec,
    partners: Sequence[PartnerSpec],
    weights: PartnerWeights,
    *,
    introduced: Collection[str] = (),
) -> RequestMatch:
    """Every partner either excluded (with its filter) or ranked (score desc, then id) with its terms and why."""
    excluded: list[Exclusion] = []
    passing: list[tuple[str, PartnerSpec, tuple[Term, ...]]] = []
    for p in sorted(partners, key=lambda p: p.id):
        if p.id in introduced:
            excluded.append(Exclusion(p, "introduced", "already introduced for this request"))
        elif not set(request.seeks) & set(p.offers):
            offers = ", ".join(p.offers)
            excluded.append(Exclusion(p, "offers", f"seeks {', '.join(request.seeks)}; partner offers {offers}"))
        else:
            passing.append((p.id, p, score_terms(request, p, weights)))
    return RequestMatch(request_id, request, rank(passing, id_label="partner id"), tuple(excluded))
