"""The one query layer through which every reviewer-scoped read and write about a proposal passes.

Rules, enforced here and nowhere else (the CLI and the sheets only call this module):

- **Conflicts.** A reviewer is conflicted with a proposal when a declared or pinned conflict names the
  proposal or its company, or automatically when the reviewer works for the proposal's company
  (``company_id``) or the reviewer's affiliation contains the company's Japanese or English name (compared
  after NFKC normalisation, case-insensitively, whitespace collapsed; erring towards a conflict is the safe
  side). A conflicted reviewer cannot list, see, read the documents of, be assigned to or score the proposal,
  and the refusal is the very ``NotFoundError`` a non-existent proposal gets, so it reveals nothing; each
  refused attempt is kept in ``ReviewerAccess.refusals`` for the audit log (``record_refusals``).
- **Attestation.** A reviewer who has not attested the call's current conflict-of-interest and
  confidentiality text sees nothing in the call.
- **Committee figures.** Scores given before a conflict became known stay stored but are left out of
  aggregation (``committee_scores``), so a late-discovered conflict cannot weigh on the outcome.
- **Who is asking.** The reviewer is the OS login of the process (``Caller``), never a name typed on the command
  line: ``$USER`` can be set by anyone, the effective uid's passwd entry cannot. Only logins listed in
  ``[review] office`` see the office views and may act for a reviewer (``--as``), and each such act is audited.
  A conflicted proposal is hidden *before* the attestation check, so even a reviewer who has not attested the
  call gets the missing-id answer for it, not a message naming its call.
"""

from __future__ import annotations

import os
import pwd
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, delete, func, insert, select, update

from quotad.errors import UsageError
from quotad.ledger.queries import CompanyInfo
from quotad.plugins.api import LedgerView
from quotad.plugins.review import audit
from quotad.plugins.review.models import ReviewAssignment, ReviewCriterion, ReviewScore
from quotad.plugins.review.people import (
    Reviewer,
    attested_version,
    cap_for,
    get_reviewer,
    list_reviewers,
    stored_conflicts,
)
from quotad.plugins.review.store import (
    Call,
    Criterion,
    Document,
    Proposal,
    RequestSpec,
    criteria,
    document_content,
    documents,
    get_call,
    get_proposal,
    list_proposals,
    proposal_not_found,
    requests_of,
    require_open,
)

__all__ = [
    "AssignmentRow",
    "AttestationRequired",
    "Caller",
    "ConflictReason",
    "Refusal",
    "ReviewerAccess",
    "ScoreRow",
    "assign",
    "assignments",
    "committee_scores",
    "conflict_map",
    "own_conflicts",
    "record_acting",
    "record_refusals",
    "unassign",
]


class AttestationRequired(UsageError):
    """The reviewer has not attested the call's current text (or attested an older version)."""


@dataclass(frozen=True)
class ConflictReason:
    reviewer_id: str
    proposal_id: int
    type: str
    source: str  # declared | pinned | automatic
    note: str


@dataclass(frozen=True)
class Refusal:
    reviewer_id: str
    call_id: str
    proposal_id: int
    action: str


@dataclass(frozen=True)
class ScoreRow:
    reviewer_id: str
    proposal_id: int
    criterion: str
    score: int
    comment: str


@dataclass(frozen=True)
class AssignmentRow:
    id: int
    reviewer_id: str
    proposal_id: int
    company_id: str
    assigned_at: int
    assigned_by: str
    scored: int
    conflicted: bool


@dataclass(frozen=True)
class Caller:
    """The person running the command: their OS login, and whether ``[review] office`` lists it."""

    login: str
    office: bool

    @classmethod
    def of_process(cls, office_logins: Iterable[str]) -> Caller:
        """From the effective uid's passwd entry (not ``$USER``, which anyone can set)."""
        uid = os.geteuid()
        try:
            login = pwd.getpwuid(uid).pw_name
        except KeyError:
            login = f"uid:{uid}"  # no passwd entry (a bare container): matches no reviewer and no office login
        return cls(login, login in set(office_logins))

    def reviewer(self, requested: str | None) -> str | None:
        """The reviewer to act as, or None for the office view.

        Without ``--as`` an office operator gets the office view and anyone else is the reviewer of their
        login; ``--as`` naming someone else is for office operators only.
        """
        if requested is None:
            return None if self.office else self.login
        if requested != self.login and not self.office:
            raise UsageError(
                f"you are logged in as {self.login!r}: only the review office ([review] office in the "
                f"configuration) may act for reviewer {requested!r}"
            )
        return requested

    def require_office(self, what: str) -> None:
        if not self.office:
            raise UsageError(
                f"{what} is for the review office: login {self.login!r} is not listed in [review] office "
                "(reviewers see their own proposals, documents and sheet as themselves)"
            )

    def actor(self, by: str | None = None) -> str:
        """The audit log's actor for an office action: the login, with ``--by`` (whom it was done for) noted."""
        return self.login if not by or by == self.login else f"{self.login} (for {by})"


def record_acting(conn: Connection, caller: Caller, reviewer_id: str, call_id: str, action: str, *, now: int) -> None:
    """Audit an office operator acting as a reviewer (``--as``); nothing is recorded for reviewers themselves."""
    if reviewer_id == caller.login:
        return
    audit.record(
        conn,
        actor=f"office:{caller.login}",
        action="access.as_reviewer",
        entity=f"reviewer:{reviewer_id}",
        now=now,
        after={"call": call_id, "command": action},
    )


def own_conflicts(conn: Connection, reviewer_id: str) -> list[ConflictReason]:
    """A reviewer's own view of their conflicts: what was declared or pinned, with no proposal id.

    The automatic ones are left out and proposal ids blanked (0): both would tell the reviewer which
    companies have proposals in a call, which is what a conflict is meant to keep from them.
    """
    get_reviewer(conn, reviewer_id)
    return [
        ConflictReason(c.reviewer_id, 0, c.type, c.source, f"company {c.company_id}" if c.company_id else c.note)
        for c in stored_conflicts(conn, reviewer_id)
    ]


def _normal(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _automatic(reviewer: Reviewer, proposal: Proposal, company: CompanyInfo | None) -> list[ConflictReason]:
    reasons = []
    if reviewer.company_id is not None and reviewer.company_id == proposal.company_id:
        reasons.append(ConflictReason(reviewer.id, proposal.id, "employment", "automatic", "reviewer's company"))
    affiliation = _normal(reviewer.affiliation)
    if company is not None and affiliation:
        for name in (company.name_ja, company.name_en):
            if _normal(name) and _normal(name) in affiliation:
                note = f"affiliation {reviewer.affiliation!r} matches {name!r}"
                reasons.append(ConflictReason(reviewer.id, proposal.id, "affiliation", "automatic", note))
                break
    return reasons


def conflict_map(
    conn: Connection, view: LedgerView, reviewers: Sequence[Reviewer], proposals: Sequence[Proposal]
) -> dict[tuple[str, int], list[ConflictReason]]:
    """Every conflict between the given reviewers and proposals, keyed by (reviewer id, proposal id)."""
    companies = {c.id: c for c in view.companies()}
    wanted = {r.id for r in reviewers}
    stored = [c for c in stored_conflicts(conn) if c.reviewer_id in wanted]
    out: defaultdict[tuple[str, int], list[ConflictReason]] = defaultdict(list)
    for reviewer in reviewers:
        for proposal in proposals:
            key = (reviewer.id, proposal.id)
            for c in stored:
                if c.reviewer_id == reviewer.id and (
                    c.proposal_id == proposal.id or c.company_id == proposal.company_id
                ):
                    out[key].append(ConflictReason(reviewer.id, proposal.id, c.type, c.source, c.note))
            out[key] += _automatic(reviewer, proposal, companies.get(proposal.company_id))
    return {k: v for k, v in out.items() if v}


def record_refusals(conn: Connection, refusals: Iterable[Refusal], *, now: int) -> None:
    """Audit refused attempts (in their own transaction: the refused command's own one is rolled back)."""
    for r in refusals:
        audit.record(
            conn,
            actor=f"reviewer:{r.reviewer_id}",
            action="access.refused",
            entity=f"proposal:{r.proposal_id}",
            now=now,
            after={"call": r.call_id, "attempted": r.action, "reason": "conflict of interest"},
        )


def _assignment_id(conn: Connection, reviewer_id: str, proposal_id: int) -> int | None:
    a = ReviewAssignment
    return conn.scalar(select(a.id).where(a.reviewer_id == reviewer_id, a.proposal_id == proposal_id))


def _load(conn: Connection, call_id: str, reviewer_id: str) -> int:
    a = ReviewAssignment
    return int(
        conn.scalar(select(func.count()).select_from(a).where(a.call_id == call_id, a.reviewer_id == reviewer_id)) or 0
    )


def assign(
    conn: Connection,
    view: LedgerView,
    call_id: str,
    reviewer_id: str,
    proposal_ids: Sequence[int],
    *,
    actor: str,
    now: int,
) -> list[int]:
    """Assign proposals to a reviewer (office action); all or nothing. Returns the newly assigned ids.

    Refused: a proposal outside the call, a conflicted pair (the office is told which conflict), a reviewer who
    would go over the load cap. Already assigned proposals are left as they are.
    """
    call = get_call(conn, call_id)
    require_open(call, "assigning")
    reviewer = get_reviewer(conn, reviewer_id)
    proposals = []
    for pid in proposal_ids:
        proposal = get_proposal(conn, pid)
        if proposal.call_id != call_id:
            raise UsageError(f"proposal {pid} belongs to call {proposal.call_id!r}, not {call_id!r}")
        proposals.append(proposal)
    conflicts = conflict_map(conn, view, [reviewer], proposals)
    for proposal in proposals:
        found = conflicts.get((reviewer.id, proposal.id))
        if found:
            what = "; ".join(f"{c.type} ({c.source}{': ' + c.note if c.note else ''})" for c in found)
            raise UsageError(f"reviewer {reviewer.id!r} has a conflict with proposal {proposal.id}: {what}")
    new = [p for p in dict.fromkeys(p.id for p in proposals) if _assignment_id(conn, reviewer.id, p) is None]
    cap, load = cap_for(conn, call_id, reviewer.id), _load(conn, call_id, reviewer.id)
    if load + len(new) > cap:
        raise UsageError(
            f"reviewer {reviewer.id!r} has {load} of {cap} proposals in call {call_id!r}; "
            f"{len(new)} more would exceed the load cap (raise it with `quotad review cap set`)"
        )
    for pid in new:
        conn.execute(
            insert(ReviewAssignment).values(
                call_id=call_id, reviewer_id=reviewer.id, proposal_id=pid, assigned_at=now, assigned_by=actor[:64]
            )
        )
        audit.record(
            conn,
            actor=actor,
            action="assignment.add",
            entity=f"proposal:{pid}",
            now=now,
            after={"reviewer": reviewer.id},
        )
    return new


def unassign(conn: Connection, call_id: str, reviewer_id: str, proposal_id: int, *, actor: str, now: int) -> None:
    """Withdraw an assignment and the scores given under it (kept in the audit log)."""
    get_call(conn, call_id)
    aid = _assignment_id(conn, reviewer_id, proposal_id)
    if aid is None:
        raise UsageError(f"proposal {proposal_id} is not assigned to reviewer {reviewer_id!r}")
    scores = _scores_of(conn, aid)
    conn.execute(delete(ReviewAssignment).where(ReviewAssignment.id == aid))
    audit.record(
        conn,
        actor=actor,
        action="assignment.remove",
        entity=f"proposal:{proposal_id}",
        now=now,
        before={"reviewer": reviewer_id, "scores": {k: list(v) for k, v in scores.items()}},
    )


def assignments(conn: Connection, view: LedgerView, call_id: str) -> list[AssignmentRow]:
    """The office's view of a call's assignments, flagging those a conflict has since made void."""
    get_call(conn, call_id)
    a = ReviewAssignment
    rows = conn.execute(select(a).where(a.call_id == call_id).order_by(a.reviewer_id, a.proposal_id)).all()
    proposals = {p.id: p for p in list_proposals(conn, call_id)}
    conflicts = conflict_map(conn, view, list_reviewers(conn), list(proposals.values()))
    count_stmt = (
        select(ReviewScore.assignment_id, func.count())
        .join(a, a.id == ReviewScore.assignment_id)
        .where(a.call_id == call_id)
        .group_by(ReviewScore.assignment_id)
    )
    counts = {int(aid): int(n) for aid, n in conn.execute(count_stmt)}
    return [
        AssignmentRow(
            r.id,
            r.reviewer_id,
            r.proposal_id,
            proposals[r.proposal_id].company_id,
            r.assigned_at,
            r.assigned_by,
            int(counts.get(r.id, 0)),
            (r.reviewer_id, r.proposal_id) in conflicts,
        )
        for r in rows
    ]


def _scores_of(conn: Connection, assignment_id: int) -> dict[str, tuple[int, str]]:
    stmt = (
        select(ReviewCriterion.key, ReviewScore.score, ReviewScore.comment)
        .join(ReviewCriterion, ReviewCriterion.id == ReviewScore.criterion_id)
        .where(ReviewScore.assignment_id == assignment_id)
    )
    return {key: (score, comment) for key, score, comment in conn.execute(stmt)}


def committee_scores(conn: Connection, view: LedgerView, call_id: str) -> list[ScoreRow]:
    """Every score in the call that may count: conflicted reviewers' scores are left out."""
    get_call(conn, call_id)
    a = ReviewAssignment
    stmt = (
        select(a.reviewer_id, a.proposal_id, ReviewCriterion.key, ReviewScore.score, ReviewScore.comment)
        .join(ReviewScore, ReviewScore.assignment_id == a.id)
        .join(ReviewCriterion, ReviewCriterion.id == ReviewScore.criterion_id)
        .where(a.call_id == call_id)
        .order_by(a.reviewer_id, a.proposal_id, ReviewCriterion.position)
    )
    rows = [ScoreRow(*row) for row in conn.execute(stmt)]
    reviewers = [r for r in list_reviewers(conn) if r.id in {s.reviewer_id for s in rows}]
    conflicts = conflict_map(conn, view, reviewers, list_proposals(conn, call_id))
    return [s for s in rows if (s.reviewer_id, s.proposal_id) not in conflicts]


@dataclass
class ReviewerAccess:
    """One reviewer's window on one call. Construct it with ``ReviewerAccess.open``."""

    conn: Connection
    view: LedgerView
    reviewer: Reviewer
    call: Call
    refusals: list[Refusal] = field(default_factory=list)

    @classmethod
    def for_proposal(
        cls,
        conn: Connection,
        view: LedgerView,
        reviewer_id: str,
        proposal_id: int,
        action: str,
        refusals: list[Refusal] | None = None,
    ) -> ReviewerAccess:
        """The reviewer's access to the call of ``proposal_id``; a missing or conflicted proposal is the same
        ``NotFoundError``, decided before the attestation check (whose message names the call)."""
        reviewer = get_reviewer(conn, reviewer_id)
        try:
            proposal = get_proposal(conn, proposal_id)
        except UsageError:
            raise proposal_not_found(proposal_id) from None
        if conflict_map(conn, view, [reviewer], [proposal]):
            if refusals is not None:
                refusals.append(Refusal(reviewer.id, proposal.call_id, proposal_id, action))
            raise proposal_not_found(proposal_id)
        return cls.open(conn, view, reviewer.id, proposal.call_id, refusals)

    @classmethod
    def open(
        cls, conn: Connection, view: LedgerView, reviewer_id: str, call_id: str, refusals: list[Refusal] | None = None
    ) -> ReviewerAccess:
        """The reviewer's access, or ``AttestationRequired`` until the call's current text is attested."""
        reviewer = get_reviewer(conn, reviewer_id)
        call = get_call(conn, call_id)
        given = attested_version(conn, reviewer.id, call.id)
        if given != call.attestation_version:
            state = "has not attested" if given is None else f"attested version {given}, not the current"
            raise AttestationRequired(
                f"reviewer {reviewer.id!r} {state} conflict-of-interest and confidentiality text "
                f"(v{call.attestation_version}) of call {call.id!r}: nothing in the call is visible until "
                f"`quotad review attest {call.id} --reviewer {reviewer.id}`"
            )
        return cls(conn, view, reviewer, call, refusals if refusals is not None else [])

    def _conflicted(self, proposals: Sequence[Proposal]) -> set[int]:
        return {pid for _, pid in conflict_map(self.conn, self.view, [self.reviewer], proposals)}

    def proposals(self) -> list[Proposal]:
        """The call's proposals this reviewer may know of (conflicted ones are simply absent)."""
        everything = list_proposals(self.conn, self.call.id)
        hidden = self._conflicted(everything)
        return [p for p in everything if p.id not in hidden]

    def proposal(self, proposal_id: int, *, action: str = "show") -> Proposal:
        """The proposal, or the same ``NotFoundError`` whether it does not exist, is in another call or is
        conflicted (the last one also recorded as a refusal)."""
        try:
            proposal = get_proposal(self.conn, proposal_id)
        except UsageError:
            raise proposal_not_found(proposal_id) from None
        if proposal.call_id != self.call.id:
            raise proposal_not_found(proposal_id)
        if self._conflicted([proposal]):
            self.refusals.append(Refusal(self.reviewer.id, self.call.id, proposal_id, action))
            raise proposal_not_found(proposal_id)
        return proposal

    def requests(self, proposal_id: int) -> list[RequestSpec]:
        return requests_of(self.conn, [self.proposal(proposal_id).id])[proposal_id]

    def documents(self, proposal_id: int) -> list[Document]:
        return documents(self.conn, self.proposal(proposal_id, action="documents").id)

    def document(self, proposal_id: int, name: str, version: int | None = None) -> tuple[Document, bytes]:
        return document_content(self.conn, self.proposal(proposal_id, action="document").id, name, version)

    def criteria(self) -> list[Criterion]:
        return criteria(self.conn, self.call.id)

    def assigned(self) -> list[Proposal]:
        """Proposals assigned to this reviewer, less any a conflict has since made void."""
        a = ReviewAssignment
        ids = set(
            self.conn.scalars(select(a.proposal_id).where(a.call_id == self.call.id, a.reviewer_id == self.reviewer.id))
        )
        return [p for p in self.proposals() if p.id in ids]

    def own_scores(self, proposal_id: int) -> dict[str, tuple[int, str]]:
        """This reviewer's scores on one proposal by criterion key: (score, comment)."""
        self.proposal(proposal_id, action="scores")
        aid = _assignment_id(self.conn, self.reviewer.id, proposal_id)
        return {} if aid is None else _scores_of(self.conn, aid)

    def score(self, proposal_id: int, criterion_key: str, score: int, comment: str, *, now: int) -> bool:
        """Score one criterion (again: the new score replaces the old, audited). Returns True when it changed."""
        proposal = self.proposal(proposal_id, action="score")
        require_open(self.call, "scoring")
        aid = _assignment_id(self.conn, self.reviewer.id, proposal.id)
        if aid is None:
            raise UsageError(f"proposal {proposal.id} is not assigned to reviewer {self.reviewer.id!r}")
        rubric = {c.key: c for c in self.criteria()}
        criterion = rubric.get(criterion_key)
        if criterion is None:
            known = ", ".join(rubric) or "none yet"
            raise UsageError(f"--criterion {criterion_key!r}: call {self.call.id!r} has {known}")
        if not criterion.scale_min <= score <= criterion.scale_max:
            raise UsageError(
                f"--score {score} for {criterion.key!r}: expected {criterion.scale_min} to {criterion.scale_max}"
            )
        comment = comment.strip()
        if criterion.comment_required and not comment:
            raise UsageError(f"criterion {criterion.key!r} requires a --comment with the score")
        before = _scores_of(self.conn, aid).get(criterion.key)
        if before == (score, comment):
            return False
        where = (ReviewScore.assignment_id == aid, ReviewScore.criterion_id == criterion.id)
        if before is None:
            self.conn.execute(
                insert(ReviewScore).values(
                    assignment_id=aid, criterion_id=criterion.id, score=score, comment=comment, scored_at=now
                )
            )
        else:
            self.conn.execute(update(ReviewScore).where(*where).values(score=score, comment=comment, scored_at=now))
        audit.record(
            self.conn,
            actor=f"reviewer:{self.reviewer.id}",
            action="score.set",
            entity=f"proposal:{proposal.id}",
            now=now,
            before=None if before is None else {"criterion": criterion.key, "score": before[0], "comment": before[1]},
            after={"criterion": criterion.key, "score": score, "comment": comment},
        )
        return True
