"""underuse: planned-to-date from the monthly plan curve (or a straight line), the 70 % boundary to the
GPU-second, the shortfall in GPU-hours, and the thresholds that hold it back."""

from __future__ import annotations

from sqlalchemy import Engine

from quotad.amounts import Unit
from quotad.config import Settings
from quotad.ledger.facts import LedgerFacts
from quotad.ledger.queries import GrantInfo
from quotad.policies.base import Evaluation, Scope, Severity
from quotad.policies.underuse import Underuse, UnderuseConfig, planned_to_date
from quotad.units import GpuCatalog
from tests.fixtures.policy.builders import DAY, H, Ledger, utc

NOV, DEC, MAY = utc("2026-11-01T00:00:00"), utc("2026-12-01T00:00:00"), utc("2027-05-01T00:00:00")
NOW = utc("2026-11-20T00:00:00")
PLAN = {NOV: 300.0, DEC: 300.0, utc("2027-01-01T00:00:00"): 400.0}
EXACT = UnderuseConfig(min_shortfall_gpu_hours=0)


def run(engine: Engine, settings: Settings, config: UnderuseConfig = EXACT, now: int = NOW) -> Evaluation:
    with engine.connect() as conn:
        facts = LedgerFacts(conn, now=now, catalog=GpuCatalog(settings.gpu_types), timezone="UTC",
                            programme_partitions={})
        return Underuse(config).evaluate(facts, Scope(explain=True))


def build(engine: Engine, settings: Settings, used_s: int, *, plan: dict[int, float] | None = PLAN) -> None:
    with engine.begin() as conn:
        led = Ledger(conn, settings).setup()
        led.company("acme", accounts=(("c1", "acme"),))
        led.grant("acme", 1800, NOV, MAY, plan=plan)
        if used_s:
            led.charge("acme", NOV + DAY, used_s)


def test_planned_to_date_from_the_plan_curve() -> None:
    grant = GrantInfo(1, "acme", "c1", Unit("h100"), 1800 * H, NOV, MAY,
                      tuple((m, round(v * H)) for m, v in PLAN.items()), "")
    assert planned_to_date(grant, NOW, "UTC") == 190 * H  # 19 of November's 30 days
    assert planned_to_date(grant, DEC + 15 * DAY, "UTC") == 300 * H + 300 * H * 15 // 31  # December has 31
    assert planned_to_date(grant, MAY, "UTC") == 1000 * H  # the plan covers three months only
    linear = GrantInfo(2, "acme", "c1", Unit("h100"), 1810 * H, NOV, NOV + 181 * DAY, (), "")
    assert planned_to_date(linear, NOV + 19 * DAY, "UTC") == 190 * H
    assert planned_to_date(linear, NOW, "UTC", linear=False) is None


def test_exactly_seventy_percent_does_not_fire(engine: Engine, settings: Settings) -> None:
    build(engine, settings, 133 * H)
    result = run(engine, settings)
    assert result.findings == () and "is 70.0% of the plan to date" in result.checks[0].reason


def test_one_second_less_fires_with_the_shortfall(engine: Engine, settings: Settings) -> None:
    build(engine, settings, 133 * H - 1)
    (finding,) = run(engine, settings).findings
    assert finding.severity is Severity.NOTICE and finding.level == "notice"
    assert finding.figure("planned_to_date").value == 190.0
    assert finding.figure("shortfall_gpu_hours").value == 57.0
    assert finding.subject.grant_id is not None and finding.subject.cluster == "c1"
    assert finding.threshold.value == 70.0


def test_large_shortfall_is_a_warning_and_small_one_is_held_back(engine: Engine, settings: Settings) -> None:
    build(engine, settings, 80 * H)
    (finding,) = run(engine, settings, UnderuseConfig()).findings
    assert finding.severity is Severity.WARNING and finding.figure("shortfall_gpu_hours").value == 110.0
    held = run(engine, settings, UnderuseConfig(min_shortfall_gpu_hours=120))
    assert held.findings == () and "min_shortfall_gpu_hours = 120" in held.checks[0].reason
    override = UnderuseConfig.model_validate({"overrides": {"acme": {"min_plan_pct": 40, "warning_plan_pct": 30}}})
    assert run(engine, settings, override).findings == ()


def test_early_period_and_missing_plan(engine: Engine, settings: Settings) -> None:
    build(engine, settings, 0, plan=None)
    early = run(engine, settings, now=NOV + 5 * DAY)
    assert early.findings == () and "min_elapsed_days" in early.checks[0].reason
    linear = run(engine, settings)  # 1800 h over 181 days, 19 days gone: 188.95 h planned
    assert linear.findings[0].figure("planned_to_date").value == 188.9  # 1800 h x 19 / 181 days
    skipped = run(engine, settings, UnderuseConfig(without_plan="skip"))
    assert skipped.findings == () and skipped.checks[0].missing_data


def test_now_on_an_hour_boundary_counts_only_the_hours_before_it(engine: Engine, settings: Settings) -> None:
    """At exactly 00:00 the hour bucket starting then is not "used so far" (as ``quotad status``); one second
    later it is: 133 h - 1 s before now is under 70 % of the 190 h planned, the hour at now lifts it above."""
    build(engine, settings, 133 * H - 1)
    with engine.begin() as conn:
        Ledger(conn, settings).charge("acme", NOW, H)
    (finding,) = run(engine, settings, now=NOW).findings
    assert finding.figure("shortfall_gpu_hours").value == 57.0
    after = run(engine, settings, now=NOW + 1)
    assert after.findings == () and "is 70.5% of the plan to date" in after.checks[0].reason
