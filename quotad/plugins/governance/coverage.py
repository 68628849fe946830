"""Coverage across companies: per company and section, how far the self-assessment has got.

- ``answered``: items with any current answer (``in_progress`` included: the company has looked at it).
- ``yes_share``: yes / (answered - na); "not applicable" items neither help nor hurt. None with nothing to count.
- ``signed_off_share``: signed-off answers / answered. None when nothing is answered.
A company with no answers at all is shown with 0 answered, not left out: not having started is the news.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from quotad.plugins.governance.checklist import SECTIONS, Checklist
from quotad.plugins.governance.store import Assessment

__all__ = ["ALL_SECTIONS", "CoverageRow", "build_coverage"]

ALL_SECTIONS = "(all)"


@dataclass(frozen=True)
class CoverageRow:
    company_id: str
    section: str
    total: int
    answered: int
    yes: int
    na: int
    in_progress: int
    signed_off: int

    @property
    def yes_share(self) -> float | None:
        applicable = self.answered - self.na
        return round(self.yes / applicable, 4) if applicable > 0 else None

    @property
    def signed_off_share(self) -> float | None:
        return round(self.signed_off / self.answered, 4) if self.answered else None


def _row(company_id: str, section: str, keys: Sequence[str], answers: Mapping[str, Assessment]) -> CoverageRow:
    given = [answers[k] for k in keys if k in answers]
    return CoverageRow(
        company_id,
        section,
        total=len(keys),
        answered=len(given),
        yes=sum(a.answer == "yes" for a in given),
        na=sum(a.answer == "na" for a in given),
        in_progress=sum(a.answer == "in_progress" for a in given),
        signed_off=sum(a.signed_off for a in given),
    )


def build_coverage(
    checklist: Checklist, company_ids: Sequence[str], answers: Mapping[tuple[str, str], Assessment]
) -> list[CoverageRow]:
    """One row per company and section (in guideline order), then the company's total."""
    rows: list[CoverageRow] = []
    for company in company_ids:
        own = {key: a for (c, key), a in answers.items() if c == company}
        for section in SECTIONS:
            keys = [i.key for i in checklist.items if i.section == section.key]
            rows.append(_row(company, section.key, keys, own))
        rows.append(_row(company, ALL_SECTIONS, checklist.item_keys(), own))
    return rows
