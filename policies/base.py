"""What every policy shares: the finding it returns, the severity scale, the scope it is asked about.

Why these shapes:
- A ``Finding`` carries everything a person needs to act on it — the subject, the measured numbers, the
  threshold that was crossed — as typed values, so the directive engine can store it, the notifier can word
  it in two languages and ``policy explain`` can show it, none of them re-querying the ledger.
- ``level`` is the policy's own notion of "the same condition": a persisting condition whose level is
  unchanged updates its directive (new numbers) without counting as a change, so reminders and escalation
  depend on whether the situation got better or worse, not on a GPU-hour ticking by.
- A ``Check`` is a finding's negative: which threshold or which missing data kept a policy from firing for a
  subject. Policies return checks only when asked (``Scope.explain``) so a full tick stays cheap.

Policies are pure: ledger facts in (``quotad.ledger.facts.LedgerFacts``), findings out. Nothing here imports SMTP,
subprocess or Prometheus code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Protocol

from quotad.ledger.records import JobRef

if TYPE_CHECKING:
    from collections.abc import Iterator

    from quotad.amounts import Unit
    from quotad.ledger.facts import LedgerFacts
    from quotad.ledger.queries import StatusRow

__all__ = [
    "Check",
    "Evaluation",
    "Figure",
    "Finding",
    "JobLine",
    "Outcomes",
    "Policy",
    "Scope",
    "Severity",
    "Subject",
    "Threshold",
]


class Severity(IntEnum):
    """How much a finding matters; escalation moves a directive one step up, never past ``CRITICAL``."""

    INFO = 10
    NOTICE = 20
    WARNING = 30
    CRITICAL = 40

    @property
    def label(self) -> str:
        return self.name.lower()

    def raised(self, steps: int = 1) -> Severity:
        order = list(Severity)
        return order[min(len(order) - 1, order.index(self) + steps)]

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.upper()]
        except KeyError:
            raise ValueError(f"severity {text!r}: expected one of {', '.join(s.label for s in cls)}") from None


@dataclass(frozen=True)
class Subject:
    """What a finding is about. ``key`` identifies it across ticks: one directive per (policy, key)."""

    company_id: str | None
    cluster: str | None = None
    account: str | None = None
    job: JobRef | None = None
    grant_id: int | None = None

    @property
    def key(self) -> str:
        parts = []
        if self.company_id is not None:
            parts.append(f"company={self.company_id}")
        if self.cluster is not None:
            parts.append(f"cluster={self.cluster}")
        if self.account is not None:
            parts.append(f"account={self.account}")
        if self.job is not None:
            parts.append(f"job={self.job.job_id}")
        if self.grant_id is not None:
            parts.append(f"grant={self.grant_id}")
        return ";".join(parts) or "programme"

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True)
class Figure:
    """One measured number, in the unit it is shown in (GPU-h, %, min, date ...). ``key`` names it for
    templates, which own the wording in each language."""

    key: str
    value: int | float | str
    unit: str = ""


@dataclass(frozen=True)
class Threshold:
    """The configured limit that was crossed (or not): ``measured <comparison> value`` fires the policy."""

    key: str
    value: int | float
    unit: str
    comparison: str  # ">=", "<=", "<", ">"


@dataclass(frozen=True)
class JobLine:
    """A job named in a finding (the idle one, the worst ones), with the number that put it there."""

    cluster: str
    job_id: int
    account: str
    user_name: str
    gpus: int
    gpu_hours: float
    value: float  # the policy's per-job number (utilisation %, idle minutes ...)
    unit: str


@dataclass(frozen=True)
class Finding:
    """A policy fired for one subject. Amounts are display values (hours, %): the ledger stays integer."""

    policy: str
    subject: Subject
    severity: Severity
    level: str
    summary: str
    threshold: Threshold
    figures: tuple[Figure, ...]
    jobs: tuple[JobLine, ...] = ()
    #: Sent at once, even on a holiday (quota exhausted, idle GPUs past the hold threshold).
    urgent: bool = False
    #: The configured enforcement (hold, cancel, sync-limits) may act on this finding.
    enforceable: bool = False
    #: After this time the condition is moot (the grant period ended): the directive expires.
    expires_at: int | None = None

    def figure(self, key: str) -> Figure:
        for item in self.figures:
            if item.key == key:
                return item
        raise KeyError(f"{self.policy}: finding has no figure {key!r}")

    @property
    def job_refs(self) -> tuple[JobRef, ...]:
        refs = [JobRef(j.cluster, j.job_id) for j in self.jobs]
        if self.subject.job is not None and self.subject.job not in refs:
            refs.insert(0, self.subject.job)
        return tuple(refs)


@dataclass(frozen=True)
class Scope:
    """Which subjects to evaluate: all (a tick), one company or one job (``policy explain``)."""

    company_id: str | None = None
    job: JobRef | None = None
    #: Also return a ``Check`` for every subject that did not fire, saying why.
    explain: bool = False

    def wants_company(self, company_id: str | None) -> bool:
        return self.company_id is None or company_id == self.company_id

    def wants_job(self, job: JobRef) -> bool:
        return self.job is None or self.job == job


@dataclass(frozen=True)
class Check:
    """The outcome for one subject: fired (with its finding) or not, and the reason in one line."""

    policy: str
    subject: Subject
    fired: bool
    reason: str
    missing_data: bool = False
    finding: Finding | None = None


@dataclass(frozen=True)
class Evaluation:
    """What one policy returned for one scope."""

    policy: str
    findings: tuple[Finding, ...] = ()
    checks: tuple[Check, ...] = field(default=())


class Policy(Protocol):
    """A policy: a name (its config section and directive key) and an evaluation over ledger facts."""

    @property
    def name(self) -> str: ...

    def evaluate(self, facts: LedgerFacts, scope: Scope) -> Evaluation: ...


class Outcomes:
    """Collects one policy's findings and, when the scope explains, the reasons it held back elsewhere."""

    def __init__(self, policy: str, scope: Scope) -> None:
        self.policy = policy
        self.scope = scope
        self._findings: list[Finding] = []
        self._checks: list[Check] = []


    def granted_positions(self, facts: LedgerFacts) -> Iterator[tuple[Subject, StatusRow, Unit, int]]:
        """The opening every grant policy shares: each company in scope with its position against its active
        grants, the grants' unit and period end; a company with no active grant is held back (missing data)."""
        for row in facts.positions():
            if not self.scope.wants_company(row.company_id):
                continue
            subject = Subject(row.company_id)
            if row.unit is None or not row.granted or row.period_end is None:
                self.held_back(subject, "no active grant at this time", missing_data=True)
                continue
            yield subject, row, row.unit, row.period_end
    def fired(self, finding: Finding) -> None:
        self._findings.append(finding)
        if self.scope.explain:
            self._checks.append(Check(self.policy, finding.subject, True, finding.summary, finding=finding))

    def held_back(self, subject: Subject, reason: str, *, missing_data: bool = False) -> None:
        if self.scope.explain:
            self._checks.append(Check(self.policy, subject, False, reason, missing_data=missing_data))

    def result(self) -> Evaluation:
        return Evaluation(self.policy, tuple(self._findings), tuple(self._checks))
