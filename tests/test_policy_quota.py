"""quota_threshold on a constructed ledger, walked up through 50 / 80 / 90 / 100 % one GPU-second at a time
around each step, plus a per-company override."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from quotad.config import Settings
from quotad.ledger.facts import LedgerFacts
from quotad.policies.base import Scope, Severity
from quotad.policies.quota_threshold import QuotaThreshold, QuotaThresholdConfig
from quotad.units import GpuCatalog
from tests.fixtures.policy.builders import DAY, H, Ledger, utc

NOV, MAY = utc("2026-11-01T00:00:00"), utc("2027-05-01T00:00:00")
NOW = utc("2026-11-20T00:00:00")
GRANT_S = 1000 * H


def facts(conn: object, settings: Settings, now: int = NOW) -> LedgerFacts:
    return LedgerFacts(conn, now=now, catalog=GpuCatalog(settings.gpu_types), timezone="UTC",  # type: ignore[arg-type]
                       programme_partitions={})


@pytest.fixture
def ledger(engine: Engine, settings: Settings) -> Engine:
    with engine.begin() as conn:
        led = Ledger(conn, settings).setup()
        led.company("acme", accounts=(("c1", "acme"),))
        led.company("fuji", accounts=(("c1", "fuji"),))
        led.grant("acme", 1000, NOV, MAY)
        led.grant("fuji", 1000, NOV, MAY)
    return engine


def add(engine: Engine, settings: Settings, account: str, seconds: int, at: int) -> None:
    with engine.begin() as conn:
        Ledger(conn, settings).charge(account, at, seconds)


def evaluate(engine: Engine, settings: Settings, config: QuotaThresholdConfig | None = None, scope: Scope | None = None):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return QuotaThreshold(config or QuotaThresholdConfig()).evaluate(facts(conn, settings), scope or Scope(explain=True))


def test_steps_fire_exactly_at_their_percentages(ledger: Engine, settings: Settings) -> None:
    expected = [
        (GRANT_S // 2 - 1, None, None),
        (1, 50, Severity.INFO),  # exactly 50 %
        (GRANT_S * 30 // 100 - 1, 50, Severity.INFO),  # one second short of 80 %
        (1, 80, Severity.NOTICE),
        (GRANT_S // 10, 90, Severity.WARNING),
        (GRANT_S // 10 - 1, 90, Severity.WARNING),
        (1, 100, Severity.CRITICAL),
    ]
    at = NOV + DAY
    for seconds, step, severity in expected:
        add(ledger, settings, "acme", seconds, at)
        at += 7200
        result = evaluate(ledger, settings)
        acme = [f for f in result.findings if f.subject.company_id == "acme"]
        if step is None:
            assert acme == []
            check = next(c for c in result.checks if c.subject.company_id == "acme")
            assert not check.fired and "below the first step 50%" in check.reason
            continue
        (finding,) = acme
        assert finding.level == f"step-{step}" and finding.severity is severity
        assert finding.threshold.value == step
        assert finding.urgent is (step == 100) and finding.enforceable is (step == 100)
        assert finding.figure("granted").value == 1000.0
        assert finding.expires_at == MAY
    assert finding.figure("used").value == 1000.0 and finding.figure("remaining").value == 0.0
    assert finding.figure("used_pct").value == 100.0 and finding.figure("period_last_day").value == "2027-04-30"
    # fuji has nothing used: held back, with the reason
    fuji = next(c for c in result.checks if c.subject.company_id == "fuji")
    assert not fuji.fired and "used 0.0%" in fuji.reason


def test_company_override_and_no_grant(ledger: Engine, settings: Settings) -> None:
    add(ledger, settings, "acme", 600 * H, NOV + DAY)
    add(ledger, settings, "fuji", 600 * H, NOV + DAY)
    config = QuotaThresholdConfig.model_validate({"overrides": {"acme": {"steps": [80, 100]}}})
    result = evaluate(ledger, settings, config)
    assert [f.subject.company_id for f in result.findings] == ["fuji"]
    assert result.findings[0].level == "step-50"
    with ledger.begin() as conn:
        Ledger(conn, settings).company("idle")
    result = evaluate(ledger, settings, config, Scope(company_id="idle", explain=True))
    assert result.findings == () and result.checks[0].missing_data and "no active grant" in result.checks[0].reason


def test_bad_steps_are_refused() -> None:
    with pytest.raises(ValueError, match="increasing order"):
        QuotaThresholdConfig.model_validate({"steps": [80, 50]})
    with pytest.raises(ValueError, match=r"overrides\.acme"):
        QuotaThresholdConfig.model_validate({"overrides": {"acme": {"steps": []}}})
    with pytest.raises(ValueError, match="Extra inputs"):
        QuotaThresholdConfig.model_validate({"overrides": {"acme": {"stepz": [1]}}})
