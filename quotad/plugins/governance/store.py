"""Reads and writes of the governance tables: checklists, and companies' answers with their sign-offs.

Checklists come from two places: the files shipped in this package and those loaded with ``checklist load``.
Reading commands see both (a shipped version not yet stored is read from its file: read-only transactions
cannot store it); the first write that needs a version stores it, so every answer refers to stored items.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from sqlalchemy import Connection, Row, insert, select, update

from quotad.errors import NotFoundError, UsageError
from quotad.plugins.api import Bilingual
from quotad.plugins.governance.checklist import Checklist, ChecklistItem, shipped_checklists, version_key
from quotad.plugins.governance.models import GovernanceAssessment, GovernanceChecklist, GovernanceItem

__all__ = [
    "ANSWERS",
    "Answer",
    "AssessOutcome",
    "Assessment",
    "SignOffReport",
    "available_checklists",
    "check_evidence_url",
    "current_answers",
    "ensure_stored",
    "history",
    "parse_stored_answer",
    "pick_checklist",
    "record_answer",
    "sign_off",
    "store_checklist",
    "stored_versions",
]

Answer = Literal["yes", "no", "na", "in_progress"]
ANSWERS: tuple[Answer, ...] = get_args(Answer)
AssessOutcome = Literal["answered", "changed", "unchanged"]


@dataclass(frozen=True)
class Assessment:
    id: int
    company_id: str
    version: str
    item_key: str
    answer: str
    evidence_url: str
    comment: str
    answered_by: str
    answered_at: int
    carried_from: str | None
    signed_off_by: str | None
    signed_off_at: int | None
    superseded_at: int | None

    @property
    def signed_off(self) -> bool:
        return self.signed_off_at is not None


def _assessment(row: Row[Any]) -> Assessment:
    return Assessment(
        row.id,
        row.company_id,
        row.version,
        row.item_key,
        row.answer,
        row.evidence_url,
        row.comment,
        row.answered_by,
        row.answered_at,
        row.carried_from,
        row.signed_off_by,
        row.signed_off_at,
        row.superseded_at,
    )


def check_evidence_url(url: str) -> str:
    """Evidence is a link the office can open: http(s) only (no file paths on someone's laptop)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"evidence {url!r}: expected an http(s) URL")
    return url


def parse_stored_answer(value: str) -> Answer:
    """A stored answer as its literal (the column holds only these; anything else is a damaged row)."""
    for answer in ANSWERS:
        if answer == value:
            return answer
    raise ValueError(f"unknown stored answer {value!r}")


def _stored(conn: Connection) -> dict[str, Checklist]:
    items: dict[str, list[ChecklistItem]] = {}
    stmt = select(GovernanceItem).order_by(GovernanceItem.version, GovernanceItem.position)
    for r in conn.execute(stmt):
        items.setdefault(r.version, []).append(
            ChecklistItem(r.key, r.section, Bilingual(r.text_ja, r.text_en), r.reference, r.position)
        )
    return {
        c.version: Checklist(
            version=c.version,
            title=Bilingual(c.title_ja, c.title_en),
            guideline=Bilingual(c.guideline_ja, c.guideline_en),
            guideline_version=c.guideline_version,
            guideline_published=c.guideline_published,
            items=tuple(items.get(c.version, ())),
            source=c.source,
            sha256=c.sha256,
        )
        for c in conn.execute(select(GovernanceChecklist))
    }


def stored_versions(conn: Connection) -> set[str]:
    return set(conn.scalars(select(GovernanceChecklist.version)))


def available_checklists(conn: Connection) -> dict[str, Checklist]:
    """Stored checklists, and shipped ones not stored yet, ordered by version."""
    merged = {**shipped_checklists(), **_stored(conn)}
    return {v: merged[v] for v in sorted(merged, key=version_key)}


def pick_checklist(checklists: dict[str, Checklist], version: str | None) -> Checklist:
    """The named version, or the latest one when ``version`` is None."""
    if not checklists:
        raise NotFoundError("checklist", version or "(any)", hint="see `quotad governance checklist load`")
    if version is None:
        return checklists[max(checklists, key=version_key)]
    if version not in checklists:
        raise NotFoundError("checklist version", version, hint=f"known: {', '.join(checklists)}")
    return checklists[version]


def store_checklist(conn: Connection, checklist: Checklist, *, now: int) -> Literal["stored", "unchanged"]:
    """Store a version; the same file again is a no-op, a different file under a stored version is refused."""
    existing = conn.execute(
        select(GovernanceChecklist.sha256, GovernanceChecklist.source).where(
            GovernanceChecklist.version == checklist.version
        )
    ).one_or_none()
    if existing is not None:
        if existing.sha256 == checklist.sha256:
            return "unchanged"
        raise UsageError(
            f"checklist version {checklist.version} is already loaded from {existing.source} with other content; "
            "a changed checklist needs a new version number"
        )
    conn.execute(
        insert(GovernanceChecklist).values(
            version=checklist.version,
            title_ja=checklist.title.ja,
            title_en=checklist.title.en,
            guideline_ja=checklist.guideline.ja,
            guideline_en=checklist.guideline.en,
            guideline_version=checklist.guideline_version,
            guideline_published=checklist.guideline_published,
            source=checklist.source,
            sha256=checklist.sha256,
            loaded_at=now,
        )
    )
    conn.execute(
        insert(GovernanceItem),
        [
            {
                "version": checklist.version,
                "key": i.key,
                "section": i.section,
                "text_ja": i.text.ja,
                "text_en": i.text.en,
                "reference": i.reference,
                "position": i.position,
            }
            for i in checklist.items
        ],
    )
    return "stored"


def ensure_stored(conn: Connection, version: str | None, *, now: int) -> Checklist:
    """The checklist a write refers to, stored first if it is a shipped one not stored yet."""
    checklist = pick_checklist(available_checklists(conn), version)
    if checklist.version not in stored_versions(conn):
        store_checklist(conn, checklist, now=now)
    return checklist


def current_answers(
    conn: Connection, *, version: str, company_id: str | None = None
) -> dict[tuple[str, str], Assessment]:
    """The answer in force per (company, item key) for one checklist version."""
    a = GovernanceAssessment
    stmt = select(a).where(a.version == version, a.superseded_at.is_(None))
    if company_id is not None:
        stmt = stmt.where(a.company_id == company_id)
    return {(r.company_id, r.item_key): _assessment(r) for r in conn.execute(stmt)}


def history(conn: Connection, *, company_id: str, version: str | None = None) -> list[Assessment]:
    """Every answer a company gave (oldest first), superseded ones included."""
    a = GovernanceAssessment
    stmt = select(a).where(a.company_id == company_id).order_by(a.id)
    if version is not None:
        stmt = stmt.where(a.version == version)
    return [_assessment(r) for r in conn.execute(stmt)]


def record_answer(
    conn: Connection,
    *,
    company_id: str,
    checklist: Checklist,
    item_key: str,
    answer: Answer,
    evidence_url: str,
    comment: str,
    by: str,
    now: int,
    carried_from: str | None = None,
) -> AssessOutcome:
    """Record an answer; a different answer, evidence or comment supersedes the current one and its sign-off."""
    if evidence_url:
        check_evidence_url(evidence_url)
    if checklist.item(item_key) is None:
        raise NotFoundError(
            f"item in checklist {checklist.version}", item_key, hint="see `quotad governance checklist show`"
        )
    current = current_answers(conn, version=checklist.version, company_id=company_id).get((company_id, item_key))
    if current is not None:
        if (current.answer, current.evidence_url, current.comment) == (answer, evidence_url, comment):
            return "unchanged"
        a = GovernanceAssessment
        conn.execute(update(a).where(a.id == current.id).values(superseded_at=now))
    conn.execute(
        insert(GovernanceAssessment).values(
            company_id=company_id,
            version=checklist.version,
            item_key=item_key,
            answer=answer,
            evidence_url=evidence_url,
            comment=comment,
            answered_by=by,
            answered_at=now,
            carried_from=carried_from,
            signed_off_by=None,
            signed_off_at=None,
            superseded_at=None,
        )
    )
    return "answered" if current is None else "changed"


@dataclass(frozen=True)
class SignOffReport:
    signed: tuple[str, ...]
    already: tuple[str, ...]
    #: In progress: nothing to sign off yet (skipped when signing everything).
    skipped: tuple[str, ...]
    unanswered: tuple[str, ...]


def sign_off(
    conn: Connection,
    *,
    company_id: str,
    checklist: Checklist,
    item_keys: Sequence[str] | None,
    by: str,
    now: int,
) -> SignOffReport:
    """Sign off the current answers named (all of them when None); named items that cannot be signed are refused
    before anything is written."""
    answers = current_answers(conn, version=checklist.version, company_id=company_id)
    if item_keys:
        unknown = [k for k in item_keys if checklist.item(k) is None]
        if unknown:
            raise NotFoundError(f"item in checklist {checklist.version}", ", ".join(unknown))
        unanswered = [k for k in item_keys if (company_id, k) not in answers]
        in_progress = [k for k in item_keys if k not in unanswered and answers[(company_id, k)].answer == "in_progress"]
        if unanswered or in_progress:
            problems = [f"{k}: not answered" for k in unanswered] + [f"{k}: still in progress" for k in in_progress]
            raise UsageError(f"cannot sign off for {company_id}: " + "; ".join(problems))
        keys: Collection[str] = list(dict.fromkeys(item_keys))
    else:
        keys = [k for k in checklist.item_keys() if (company_id, k) in answers]
    signed, already, skipped = [], [], []
    a = GovernanceAssessment
    for key in keys:
        current = answers[(company_id, key)]
        if current.answer == "in_progress":
            skipped.append(key)
        elif current.signed_off:
            already.append(key)
        else:
            conn.execute(update(a).where(a.id == current.id).values(signed_off_by=by, signed_off_at=now))
            signed.append(key)
    unanswered_all = tuple(k for k in checklist.item_keys() if (company_id, k) not in answers) if not item_keys else ()
    return SignOffReport(tuple(signed), tuple(already), tuple(skipped), unanswered_all)
