"""idle_allocation from NVML aggregates: idle streaks and quiet trailing windows at and around the minute
threshold, the hold threshold (urgent), stale telemetry, unallocated GPUs and a newer busy hour."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from quotad.config import Settings
from quotad.ledger.facts import LedgerFacts
from quotad.ledger.records import JobRef
from quotad.policies.base import Evaluation, Scope, Severity
from quotad.policies.idle_allocation import IdleAllocation, IdleAllocationConfig
from quotad.units import GpuCatalog
from tests.fixtures.policy.builders import H, Ledger, utc

NOW = utc("2026-11-20T10:20:00")
HOUR = utc("2026-11-20T10:00:00")
JOB = 4242


def run(engine: Engine, settings: Settings, config: IdleAllocationConfig | None = None,
        scope: Scope | None = None) -> Evaluation:
    with engine.connect() as conn:
        facts = LedgerFacts(conn, now=NOW, catalog=GpuCatalog(settings.gpu_types), timezone="UTC",
                            programme_partitions={})
        return IdleAllocation(config or IdleAllocationConfig()).evaluate(facts, scope or Scope(explain=True))


@pytest.fixture
def running(engine: Engine, settings: Settings) -> Engine:
    with engine.begin() as conn:
        led = Ledger(conn, settings).setup()
        led.company("acme", accounts=(("c1", "acme"),))
        led.job("acme", start=HOUR - 5 * H, elapsed=5 * H, gpus=4, state="RUNNING", job_id=JOB)
    return engine


def gpu(engine: Engine, settings: Settings, index: int, *, hour: int = HOUR, **values: object) -> None:
    defaults: dict[str, object] = {"first_sample": hour, "last_sample": NOW - 30, "observed_seconds": NOW - 30 - hour}
    with engine.begin() as conn:
        Ledger(conn, settings).gpu(JOB, index, hour, **{**defaults, **values})


def test_idle_gpus_at_and_around_the_threshold(running: Engine, settings: Settings) -> None:
    gpu(running, settings, 0, idle_since=NOW - 30 - 30 * 60)  # exactly 30 min idle at its last sample
    gpu(running, settings, 1, idle_since=NOW - 30 - 45 * 60)
    gpu(running, settings, 2, idle_since=NOW - 30 - 30 * 60 + 1)  # one second short
    gpu(running, settings, 3)  # busy
    (finding,) = run(running, settings).findings
    assert finding.subject.job == JobRef("c1", JOB) and finding.subject.company_id == "acme"
    assert finding.figure("idle_gpus").value == 2 and finding.figure("job_gpus").value == 4
    assert finding.figure("idle_minutes").value == 30 and finding.figure("longest_idle_minutes").value == 45
    assert finding.figure("wasted_gpu_hours").value == round(75 / 60, 1)
    assert finding.severity is Severity.WARNING and not finding.urgent and not finding.enforceable
    assert finding.level == "idle:2" and finding.jobs[0].job_id == JOB


def test_past_the_hold_threshold_is_urgent(running: Engine, settings: Settings) -> None:
    gpu(running, settings, 0, idle_since=NOW - 30 - 120 * 60)
    (finding,) = run(running, settings).findings
    assert finding.severity is Severity.CRITICAL and finding.urgent and finding.enforceable
    assert finding.level == "hold:1"
    strict = IdleAllocationConfig.model_validate({"overrides": {"acme": {"hold_after_minutes": 180}}})
    assert not run(running, settings, strict).findings[0].urgent


def test_quiet_trailing_window_counts_as_idle(running: Engine, settings: Settings) -> None:
    # no idle streak at the agent's 0 %, but the last 30 minutes averaged 3 %
    gpu(running, settings, 0, recent_seconds=1800, recent_util_pct_seconds=1800 * 3)
    (finding,) = run(running, settings).findings
    assert finding.figure("idle_minutes").value == 30
    assert run(running, settings, IdleAllocationConfig(max_util_pct=2)).findings == ()


def test_stale_unallocated_and_superseded_rows_do_not_fire(running: Engine, settings: Settings) -> None:
    gpu(running, settings, 0, idle_since=NOW - 90 * 60, last_sample=NOW - 6 * 60)  # stale: agent silent 6 min
    gpu(running, settings, 1, idle_since=NOW - 90 * 60, allocated=False)
    gpu(running, settings, 2, hour=HOUR - H, idle_since=HOUR - 2 * H, last_sample=NOW - 60)  # old hour row
    gpu(running, settings, 2, hour=HOUR, idle_since=None)  # ... superseded by a busy one
    assert run(running, settings).findings == ()


def test_explain_a_job(running: Engine, settings: Settings) -> None:
    scope = Scope(company_id="acme", job=JobRef("c1", JOB), explain=True)
    check = run(running, settings, scope=scope).checks[0]
    assert check.missing_data and "no GPU telemetry" in check.reason
    gpu(running, settings, 0, idle_since=NOW - 30 - 10 * 60)
    check = run(running, settings, scope=scope).checks[0]
    assert not check.fired and "longest idle GPU: 10 min" in check.reason and "idle_minutes = 30" in check.reason
