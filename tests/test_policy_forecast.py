"""forecast_overrun: the run-out date at the trailing 7-day rate, exactly at and one GPU-hour around the
period end; the burn-window and margin thresholds."""

from __future__ import annotations

from sqlalchemy import Engine

from quotad.config import Settings
from quotad.ledger.facts import LedgerFacts
from quotad.policies.base import Evaluation, Scope, Severity
from quotad.policies.forecast_overrun import ForecastOverrun, ForecastOverrunConfig
from quotad.units import GpuCatalog
from tests.fixtures.policy.builders import DAY, H, Ledger, utc

NOV, MAY = utc("2026-11-01T00:00:00"), utc("2027-05-01T00:00:00")
NOW = utc("2026-11-20T00:00:00")  # 162 days before MAY


def run(engine: Engine, settings: Settings, *, now: int = NOW, config: ForecastOverrunConfig | None = None) -> Evaluation:
    with engine.connect() as conn:
        facts = LedgerFacts(conn, now=now, catalog=GpuCatalog(settings.gpu_types), timezone="UTC",
                            programme_partitions={})
        return ForecastOverrun(config or ForecastOverrunConfig()).evaluate(facts, Scope(explain=True))


def build(engine: Engine, settings: Settings, *, used_before_h: int, used_last_week_h: int, start: int = NOV) -> None:
    with engine.begin() as conn:
        led = Ledger(conn, settings).setup()
        led.company("acme", accounts=(("c1", "acme"),))
        led.grant("acme", 1000, start, MAY)
        if used_before_h:
            led.charge("acme", start, used_before_h * H)
        if used_last_week_h:
            led.charge("acme", NOW - 3 * DAY, used_last_week_h * H)


def test_runout_exactly_at_period_end_does_not_fire(engine: Engine, settings: Settings) -> None:
    # 7 GPU-h in the last 7 days; 162 h left last 162 days: exactly to the end of the period
    build(engine, settings, used_before_h=831, used_last_week_h=7)
    result = run(engine, settings)
    assert result.findings == ()
    assert "lasts until 2027-05-01" in result.checks[0].reason


def test_one_hour_less_left_fires_with_the_date(engine: Engine, settings: Settings) -> None:
    build(engine, settings, used_before_h=832, used_last_week_h=7)
    (finding,) = run(engine, settings).findings
    # 161 h at 1 h a day: 161 days from Nov 20, one day before the period ends
    assert finding.figure("runout_day").value == "2027-04-30"
    assert finding.figure("days_early").value == 1.0
    assert finding.figure("burn_per_day").value == 1.0
    assert finding.figure("remaining").value == 161.0
    assert finding.severity is Severity.NOTICE and finding.expires_at == MAY


def test_fast_burn_is_a_warning_and_margin_holds_back(engine: Engine, settings: Settings) -> None:
    build(engine, settings, used_before_h=300, used_last_week_h=300)  # 400 left at 300 a week: 9.3 days
    (finding,) = run(engine, settings).findings
    assert finding.severity is Severity.WARNING  # within warning_days = 14
    assert finding.figure("runout_day").value == "2026-11-29"
    assert "2026-11-29" in finding.summary
    assert run(engine, settings, config=ForecastOverrunConfig(warning_days=9)).findings[0].severity is Severity.NOTICE
    relaxed = ForecastOverrunConfig(margin_days=200)
    assert run(engine, settings, config=relaxed).findings == ()


def test_short_window_and_no_use_are_held_back(engine: Engine, settings: Settings) -> None:
    build(engine, settings, used_before_h=0, used_last_week_h=0, start=NOW - DAY)
    check = run(engine, settings).checks[0]
    assert check.missing_data and "min_window_days" in check.reason
    assert "no use in the last 7 days" in run(engine, settings, now=NOW + 3 * DAY).checks[0].reason
