"""out_of_programme: GPU jobs on programme partitions under unclaimed accounts, and a company's jobs that
ran (partly) outside every grant period covering their cluster."""

from __future__ import annotations

from sqlalchemy import Engine

from quotad.config import Settings
from quotad.ledger.facts import LedgerFacts
from quotad.ledger.records import JobRef
from quotad.policies.base import Evaluation, Scope
from quotad.policies.out_of_programme import OutOfProgramme, OutOfProgrammeConfig, outside_seconds
from quotad.units import GpuCatalog
from tests.fixtures.policy.builders import DAY, H, Ledger, utc

GRANT_START, MAY = utc("2026-11-15T00:00:00"), utc("2027-05-01T00:00:00")
NOW = utc("2026-11-15T12:00:00")


def run(engine: Engine, settings: Settings, scope: Scope | None = None,
        config: OutOfProgrammeConfig | None = None) -> Evaluation:
    with engine.connect() as conn:
        facts = LedgerFacts(conn, now=NOW, catalog=GpuCatalog(settings.gpu_types), timezone="UTC",
                            programme_partitions={"c1": ("gpu",)})
        return OutOfProgramme(config or OutOfProgrammeConfig()).evaluate(facts, scope or Scope(explain=True))


def test_outside_seconds() -> None:
    assert outside_seconds((0, 100), [(10, 20), (15, 30), (90, 200)]) == 100 - 20 - 10
    assert outside_seconds((0, 100), []) == 100


def test_unclaimed_and_outside_grant(engine: Engine, settings: Settings) -> None:
    with engine.begin() as conn:
        led = Ledger(conn, settings).setup()
        led.company("acme", accounts=(("c1", "acme"),))
        led.grant("acme", 1000, GRANT_START, MAY)
        stranger = led.job("stranger", start=NOW - 3 * H, elapsed=3 * H, gpus=2, state="RUNNING")
        led.job("stranger", start=NOW - 3 * H, elapsed=H, gpus=2, partition="debug")  # not a programme partition
        early = led.job("acme", start=GRANT_START - 2 * H, elapsed=4 * H, gpus=8)  # 2 h before the grant
        inside = led.job("acme", start=GRANT_START + H, elapsed=H, gpus=8)
        led.job("acme", start=GRANT_START - 3 * DAY, elapsed=H, gpus=8)  # ended long ago: out of view
    findings = {f.level: f for f in run(engine, settings).findings}
    unclaimed, outside = findings["unclaimed"], findings["outside_grant"]
    assert unclaimed.subject.company_id is None and unclaimed.subject.account == "stranger"
    assert unclaimed.figure("gpu_hours").value == 6.0 and [j.job_id for j in unclaimed.jobs] == [stranger]
    assert outside.subject.company_id == "acme" and outside.figure("gpu_hours").value == 16.0
    assert [j.job_id for j in outside.jobs] == [early] and outside.jobs[0].gpu_hours == 32.0
    quiet = run(engine, settings, config=OutOfProgrammeConfig.model_validate({"min_gpu_hours": 20}))
    assert quiet.findings == ()
    check = run(engine, settings, Scope(company_id="acme", job=JobRef("c1", inside), explain=True)).checks[0]
    assert not check.fired and "inside its grant period" in check.reason
