"""``governance carry``: move a company's answers to a new checklist version without asking again what has not
changed.

An answer is copied when the item exists in both versions with the same section and text (a changed reference
alone still carries, see ``MEANING_FIELDS``), the company answered it in the old version, and has not answered
it in the new one yet (an answer already given for the new version is never overwritten). The copy records
where it came from and starts without sign-off: the office signs off against the version it reviews.
Everything else in the new version that has no answer is listed as needing one, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection

from quotad.plugins.governance.checklist import Checklist, diff_checklists
from quotad.plugins.governance.store import current_answers, parse_stored_answer, record_answer

__all__ = ["CarryLine", "carry_answers"]

CarryAction = Literal["carried", "kept", "new", "changed", "unanswered"]


@dataclass(frozen=True)
class CarryLine:
    key: str
    section: str
    action: CarryAction

    @property
    def needs_answer(self) -> bool:
        return self.action in ("new", "changed", "unanswered")


def carry_answers(conn: Connection, *, company_id: str, old: Checklist, new: Checklist, now: int) -> list[CarryLine]:
    """Copy what still applies from ``old`` to ``new`` in the caller's transaction; one line per new item."""
    changes = {d.key: d for d in diff_checklists(old, new)}
    before = current_answers(conn, version=old.version, company_id=company_id)
    after = current_answers(conn, version=new.version, company_id=company_id)
    lines: list[CarryLine] = []
    for item in new.items:
        change = changes.get(item.key)
        previous = before.get((company_id, item.key))
        action: CarryAction
        if (company_id, item.key) in after:
            action = "kept"
        elif change is not None and change.kind == "added":
            action = "new"
        elif change is not None and not change.answers_carry:
            action = "changed"
        elif previous is None:
            action = "unanswered"
        else:
            record_answer(
                conn,
                company_id=company_id,
                checklist=new,
                item_key=item.key,
                answer=parse_stored_answer(previous.answer),
                evidence_url=previous.evidence_url,
                comment=previous.comment,
                by=previous.answered_by,
                now=now,
                carried_from=old.version,
            )
            action = "carried"
        lines.append(CarryLine(item.key, item.section, action))
    return lines
