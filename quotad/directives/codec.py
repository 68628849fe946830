"""A finding as stored in ``directives.finding`` (JSON) and back, and the typed view of a directive row.

Why JSON of the whole finding: the digest, the weekly summary and ``directives show`` word a directive
from what the policy measured when it last saw it, without re-running the policy; the typed round trip
keeps raw dicts inside this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from quotad.errors import LedgerError
from quotad.ledger.records import JobRef
from quotad.policies.base import Figure, Finding, JobLine, Severity, Subject, Threshold

__all__ = ["DirectiveView", "dump_finding", "load_finding"]


def dump_finding(finding: Finding) -> str:
    """JSON of every field (built by hand: ``dataclasses.asdict`` deep-copies, which shows on a 10k-job tick)."""
    f, s = finding, finding.subject
    data = {
        "policy": f.policy,
        "subject": {
            "company_id": s.company_id, "cluster": s.cluster, "account": s.account, "grant_id": s.grant_id,
            "job": {"cluster": s.job.cluster, "job_id": s.job.job_id} if s.job else None,
        },
        "severity": int(f.severity),
        "level": f.level,
        "summary": f.summary,
        "threshold": {"key": f.threshold.key, "value": f.threshold.value, "unit": f.threshold.unit,
                      "comparison": f.threshold.comparison},
        "figures": [{"key": x.key, "value": x.value, "unit": x.unit} for x in f.figures],
        "jobs": [
            {"cluster": j.cluster, "job_id": j.job_id, "account": j.account, "user_name": j.user_name, "gpus": j.gpus,
             "gpu_hours": j.gpu_hours, "value": j.value, "unit": j.unit}
            for j in f.jobs
        ],
        "urgent": f.urgent,
        "enforceable": f.enforceable,
        "expires_at": f.expires_at,
    }
    return json.dumps(data, ensure_ascii=False)


def _subject(data: dict[str, Any]) -> Subject:
    job = data.get("job")
    return Subject(
        company_id=data.get("company_id"),
        cluster=data.get("cluster"),
        account=data.get("account"),
        job=JobRef(job["cluster"], int(job["job_id"])) if job else None,
        grant_id=data.get("grant_id"),
    )


def load_finding(text: str) -> Finding:
    data = json.loads(text)
    return Finding(
        policy=data["policy"],
        subject=_subject(data["subject"]),
        severity=Severity(int(data["severity"])),
        level=data["level"],
        summary=data["summary"],
        threshold=Threshold(**data["threshold"]),
        figures=tuple(Figure(**f) for f in data["figures"]),
        jobs=tuple(JobLine(**j) for j in data.get("jobs", ())),
        urgent=bool(data.get("urgent", False)),
        enforceable=bool(data.get("enforceable", False)),
        expires_at=data.get("expires_at"),
    )


@dataclass(frozen=True)
class DirectiveView:
    """A directive row, typed; ``finding`` is the latest one its policy returned."""

    id: int
    policy: str
    subject_key: str
    company_id: str | None
    cluster: str | None
    account: str | None
    job_id: int | None
    grant_id: int | None
    state: str
    base_severity: Severity
    severity: Severity
    level: str
    summary: str
    #: The latest finding as stored (JSON); ``finding`` parses it. Kept as text so a tick that only updates
    #: a few hundred directives does not parse each one's previous finding.
    finding_json: str
    urgent: bool
    enforceable: bool
    expires_at: int | None
    opened_at: int
    last_seen_at: int
    changed_at: int
    notices: int
    unchanged_notices: int
    escalation: int
    last_notified_at: int | None
    notified_level: str | None
    notified_severity: Severity | None
    acknowledged_at: int | None
    acknowledged_by: str
    closed_at: int | None
    close_reason: str

    @property
    def finding(self) -> Finding:
        """The stored finding; a row whose JSON is not a finding (written by hand, or by a newer quotad) is a
        ``LedgerError`` naming the directive, not a bare ``KeyError`` from deep inside a digest."""
        try:
            return load_finding(self.finding_json)
        except (ValueError, KeyError, TypeError) as exc:
            raise LedgerError(
                f"directive {self.id} ({self.policy}, {self.subject_key}): stored finding is unreadable: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    @property
    def active(self) -> bool:
        return self.state in ("open", "notified", "acknowledged")

    @property
    def changed_since_notice(self) -> bool:
        """Whether the policy's level or severity moved since the last notice (always true before the first)."""
        return self.notices == 0 or self.notified_level != self.level or self.notified_severity != self.base_severity

    @classmethod
    def from_row(cls, row: Any) -> DirectiveView:
        return cls(
            id=int(row.id),
            policy=row.policy,
            subject_key=row.subject_key,
            company_id=row.company_id,
            cluster=row.cluster,
            account=row.account,
            job_id=row.job_id,
            grant_id=row.grant_id,
            state=row.state,
            base_severity=Severity(row.base_severity),
            severity=Severity(row.severity),
            level=row.level,
            summary=row.summary,
            finding_json=row.finding,
            urgent=bool(row.urgent),
            enforceable=bool(row.enforceable),
            expires_at=row.expires_at,
            opened_at=row.opened_at,
            last_seen_at=row.last_seen_at,
            changed_at=row.changed_at,
            notices=row.notices,
            unchanged_notices=row.unchanged_notices,
            escalation=row.escalation,
            last_notified_at=row.last_notified_at,
            notified_level=row.notified_level,
            notified_severity=Severity(row.notified_severity) if row.notified_severity is not None else None,
            acknowledged_at=row.acknowledged_at,
            acknowledged_by=row.acknowledged_by,
            closed_at=row.closed_at,
            close_reason=row.close_reason,
        )
