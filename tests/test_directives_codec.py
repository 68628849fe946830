"""A finding survives the trip through ``directives.finding`` (JSON) unchanged."""

from __future__ import annotations

import pytest

from quotad.directives.codec import DirectiveView, dump_finding, load_finding
from quotad.errors import LedgerError
from quotad.ledger.records import JobRef
from quotad.policies.base import Figure, Finding, JobLine, Severity, Subject, Threshold


def test_round_trip() -> None:
    finding = Finding(
        policy="idle_allocation",
        subject=Subject("acme", cluster="c1", account="acme", job=JobRef("c1", 42), grant_id=None),
        severity=Severity.CRITICAL, level="hold:2", summary="job c1:42 idle 「アイドル」",
        threshold=Threshold("idle_minutes", 30, "min", ">="),
        figures=(Figure("idle_gpus", 2, "GPUs"), Figure("wasted_gpu_hours", 4.5, "GPU-h"), Figure("day", "x", "")),
        jobs=(JobLine("c1", 42, "acme", "u", 8, 12.5, 30.0, "min idle"),),
        urgent=True, enforceable=True, expires_at=None,
    )
    assert load_finding(dump_finding(finding)) == finding


def test_an_unreadable_stored_finding_names_its_directive() -> None:
    view = DirectiveView(
        id=7, policy="quota_threshold", subject_key="company=acme", company_id="acme", cluster=None, account=None,
        job_id=None, grant_id=None, state="open", base_severity=Severity.WARNING, severity=Severity.WARNING,
        level="step-90", summary="", finding_json="{}", urgent=False, enforceable=False, expires_at=None,
        opened_at=0, last_seen_at=0, changed_at=0, notices=0, unchanged_notices=0, escalation=0,
        last_notified_at=None, notified_level=None, notified_severity=None, acknowledged_at=None,
        acknowledged_by="", closed_at=None, close_reason="",
    )
    with pytest.raises(LedgerError, match=r"directive 7 \(quota_threshold, company=acme\): stored finding is unreadable"):
        _ = view.finding
