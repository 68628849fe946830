"""low_efficiency: the GPU-hour weighted utilisation of the jobs that finished in the last day, the worst
jobs by wasted capacity, and the coverage and volume thresholds."""

from __future__ import annotations

from sqlalchemy import Engine

from quotad.config import Settings
from quotad.ledger.facts import LedgerFacts
from quotad.policies.base import Evaluation, Scope, Severity
from quotad.policies.low_efficiency import LowEfficiency, LowEfficiencyConfig
from quotad.units import GpuCatalog
from tests.fixtures.policy.builders import H, Ledger, utc

NOW = utc("2026-11-20T12:00:00")
START = utc("2026-11-19T20:00:00")


def run(engine: Engine, settings: Settings, config: LowEfficiencyConfig | None = None) -> Evaluation:
    with engine.connect() as conn:
        facts = LedgerFacts(conn, now=NOW, catalog=GpuCatalog(settings.gpu_types), timezone="UTC",
                            programme_partitions={})
        return LowEfficiency(config or LowEfficiencyConfig()).evaluate(facts, Scope(explain=True))


def finished(led: Ledger, gpus: int, hours: int, util: int, *, telemetry: bool = True, start: int = START) -> int:
    job = led.job("acme", start=start, elapsed=hours * H, gpus=gpus)
    if telemetry:
        for g in range(gpus):
            for h in range(hours):
                led.gpu(job, g, start + h * H, util_pct_seconds=3600 * util, observed_seconds=3600)
    return job


def test_weighted_mean_and_worst_jobs(engine: Engine, settings: Settings) -> None:
    with engine.begin() as conn:
        led = Ledger(conn, settings).setup()
        led.company("acme", accounts=(("c1", "acme"),))
        big = finished(led, 8, 10, 20)
        small = finished(led, 1, 2, 90)
        finished(led, 8, 10, 5, start=NOW - 40 * H)  # ended 30 h ago: outside the 24 h window
    (finding,) = run(engine, settings).findings
    # (20 % x 80 GPU-h + 90 % x 2 GPU-h) / 82 GPU-h
    assert finding.figure("util_pct").value == round((20 * 80 + 90 * 2) / 82, 1)
    assert finding.figure("gpu_hours").value == 82.0 and finding.figure("jobs").value == 2
    assert finding.severity is Severity.NOTICE and finding.threshold.value == 40.0
    assert [j.job_id for j in finding.jobs] == [big, small]
    assert finding.jobs[0].value == 20.0 and finding.jobs[0].gpu_hours == 80.0
    assert run(engine, settings, LowEfficiencyConfig(min_util_pct=21.71, warning_util_pct=10)).findings  # mean 21.707
    assert not run(engine, settings, LowEfficiencyConfig(min_util_pct=21.70, warning_util_pct=10)).findings


def test_coverage_and_volume_hold_back(engine: Engine, settings: Settings) -> None:
    with engine.begin() as conn:
        led = Ledger(conn, settings).setup()
        led.company("acme", accounts=(("c1", "acme"),))
        finished(led, 8, 10, 10, telemetry=False)
        finished(led, 1, 10, 10)
    check = run(engine, settings).checks[0]
    assert check.missing_data and "covers 11%" in check.reason
    relaxed = run(engine, settings, LowEfficiencyConfig(min_coverage_pct=10))
    assert relaxed.findings[0].severity is Severity.WARNING  # 10 % < warning_util_pct = 20
    volume = run(engine, settings, LowEfficiencyConfig(min_gpu_hours=100))
    assert volume.findings == () and "under min_gpu_hours = 100" in volume.checks[0].reason
