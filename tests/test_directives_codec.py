"""A finding survives the trip through ``directives.finding`` (JSON) unchanged."""

from __future__ import annotations

from policies.base import Figure, Finding, JobLine, JobRef, Severity, Subject, Threshold
from quotad.directives.codec import dump_finding, load_finding


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
