"""Working days in the programme's time zone (Japanese public holidays, weekends, the programme's own
closures), and a tick on a holiday: non-urgent notices wait, urgent ones are queued at once."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine

from quotad.config import Settings
from quotad.directives.config import DirectivesConfig, Rules
from quotad.notify.calendar import WorkingCalendar
from quotad.notify.config import NotifyConfig
from quotad.notify.outbox import list_outbox
from quotad.policies.config import PoliciesConfig
from quotad.tick import policy_tick
from tests.fixtures.policy.builders import DAY, H, Ledger, utc


def test_japanese_holidays_weekends_and_extra_days() -> None:
    cal = WorkingCalendar(timezone="Asia/Tokyo", extra_holidays=[date(2026, 12, 29)])
    assert cal.is_working_day(date(2026, 11, 20))  # Friday
    assert not cal.is_working_day(date(2026, 11, 21))  # Saturday
    assert not cal.is_working_day(date(2026, 11, 23))  # 勤労感謝の日
    assert not cal.is_working_day(date(2026, 12, 29))  # the programme's closure
    assert not cal.is_working_day(date(2027, 1, 11))  # 成人の日 (second Monday of January)
    assert cal.holiday_name(date(2026, 11, 3)) == "Culture Day"
    assert cal.next_working_day(date(2026, 11, 20)) == date(2026, 11, 24)
    # the day is the programme's local day: 15:30 UTC on the 22nd is already the 23rd in Tokyo
    assert not cal.is_working_time(utc("2026-11-22T15:30:00"))
    assert cal.is_working_time(utc("2026-11-23T15:30:00"))
    assert WorkingCalendar(timezone="UTC").is_working_time(utc("2026-11-22T15:30:00")) is False  # a Sunday


def test_a_holiday_tick_defers_only_non_urgent_notices(engine: Engine, settings: Settings) -> None:
    nov, may = utc("2026-11-01T00:00:00"), utc("2027-05-01T00:00:00")
    with engine.begin() as conn:
        led = Ledger(conn, settings).setup()
        led.company("acme", accounts=(("c1", "acme"),), contacts=("ops@acme.example.jp",))
        led.company("fuji", accounts=(("c1", "fuji"),), contacts=("ops@fuji.example.jp",))
        led.grant("acme", 1000, nov, may)
        led.grant("fuji", 1000, nov, may)
        led.charge("acme", nov + DAY, 850 * H)  # 85 %: a notice
        led.charge("fuji", nov + DAY, 1000 * H)  # used up: urgent
    rules = Rules(PoliciesConfig(), DirectivesConfig(), NotifyConfig(
        calendar={"timezone": "Asia/Tokyo"}, programme_office=["office@programme.example.jp"]))
    holiday = policy_tick(engine, settings, rules, now=utc("2026-11-23T01:00:00"))
    assert [d.company_id for d in holiday.result.deferred] == ["acme"]
    assert [q.recipients for q in holiday.queued] == [("ops@fuji.example.jp",)]
    workday = policy_tick(engine, settings, rules, now=utc("2026-11-24T00:30:00"))  # fuji: still in cooldown
    assert [q.recipients for q in workday.queued] == [("ops@acme.example.jp",)]
    with engine.connect() as conn:
        assert len(list_outbox(conn)) == 2
